// bench/golden_noise/llamacpp_logprobs.cpp: teacher-forced log-probabilities from a llama.cpp build, made the
// way the goldens were (llama-cpp-python 0.3.36: ctx 512, batch 512, f16 KV cache, flash attention off; the
// prompt as one batch, then each forced token one at a time). Built and driven by golden_noise.py.
// usage: llamacpp_logprobs MODEL.gguf PROMPT_IDS NEW_IDS [QUERY] [NTHREADS]
//   PROMPT_IDS, NEW_IDS: comma lists. One output line per entry of NEW_IDS (step s predicts NEW_IDS[s]).
//   QUERY: optional per-step id lists, ';' between steps, ',' within ("1,2,3;4,5;..."); their logprobs are printed too.
// output line: "step S argmax A gold G gold_lp X top5 id:lp id:lp ... q id:lp ..."  (lp = log-softmax in double)
#include "llama.h"
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

static std::vector<int> parse(const std::string & s, char sep = ',') {
    std::vector<int> v; std::stringstream ss(s); std::string x;
    while (std::getline(ss, x, sep)) if (!x.empty()) v.push_back(std::stoi(x));
    return v;
}

static void log_cb(enum ggml_log_level, const char *, void *) {}

int main(int argc, char ** argv) {
    if (argc < 4) { fprintf(stderr, "usage: tf MODEL PROMPT_IDS NEW_IDS [QUERY] [NTHREADS]\n"); return 1; }
    std::vector<std::vector<int>> query;
    if (argc > 4) { std::stringstream ss(argv[4]); std::string part; while (std::getline(ss, part, ';')) query.push_back(parse(part)); }
    int nthreads = argc > 5 ? std::stoi(argv[5]) : 2;
    llama_log_set(log_cb, nullptr);
    llama_backend_init();
    auto mp = llama_model_default_params();
    llama_model * m = llama_model_load_from_file(argv[1], mp);
    if (!m) { fprintf(stderr, "load failed\n"); return 2; }
    auto cp = llama_context_default_params();
    cp.n_ctx = 512; cp.n_batch = 512; cp.n_ubatch = 512;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.type_k = GGML_TYPE_F16; cp.type_v = GGML_TYPE_F16;
    cp.n_threads = nthreads; cp.n_threads_batch = nthreads;
    llama_context * ctx = llama_init_from_model(m, cp);
    if (!ctx) { fprintf(stderr, "ctx failed\n"); return 2; }
    const int nv = llama_vocab_n_tokens(llama_model_get_vocab(m));
    auto prompt = parse(argv[2]);
    auto fresh = parse(argv[3]);
    if (llama_decode(ctx, llama_batch_get_one(prompt.data(), (int32_t)prompt.size()))) return 3;
    std::vector<double> lp(nv);
    for (size_t s = 0; s < fresh.size(); s++) {
        if (s > 0) {
            llama_token t = fresh[s - 1];
            if (llama_decode(ctx, llama_batch_get_one(&t, 1))) return 3;
        }
        const float * row = llama_get_logits_ith(ctx, -1);
        double mx = -INFINITY;
        for (int i = 0; i < nv; i++) mx = std::max(mx, (double)row[i]);
        double sum = 0;
        for (int i = 0; i < nv; i++) sum += std::exp((double)row[i] - mx);
        double lse = mx + std::log(sum);
        for (int i = 0; i < nv; i++) lp[i] = (double)row[i] - lse;
        std::vector<int> idx(nv);
        for (int i = 0; i < nv; i++) idx[i] = i;
        // ties broken by lower id, as argmax over the array would
        std::partial_sort(idx.begin(), idx.begin() + 5, idx.end(), [&](int a, int b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
        printf("step %zu argmax %d gold %d gold_lp %.9g top5", s, idx[0], fresh[s], lp[fresh[s]]);
        for (int k = 0; k < 5; k++) printf(" %d:%.9g", idx[k], lp[idx[k]]);
        printf(" q");
        if (s < query.size()) for (int id : query[s]) printf(" %d:%.9g", id, lp[id]);
        printf("\n");
    }
    llama_free(ctx); llama_model_free(m);
    return 0;
}
