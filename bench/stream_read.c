// bench/stream_read.c: STREAM-like memory read bandwidth: T threads each sum their slice of one
// 1 GiB buffer (64-bit adds, 8 independent accumulators, so loads are the bottleneck), repeated;
// prints best and median GB/s (10^9 bytes/s) as one JSON line per thread count.
//
// Reference: McCalpin's STREAM (https://www.cs.virginia.edu/stream/), reduced to the "read" kernel,
// which is what LLM token generation does with the weights.
//
// The buffer is advised for transparent huge pages (as allmende's repacked weights are), so the
// figure is the best the memory system gives a streaming reader, not a TLB-bound one.
//
// Build: cc -O3 -march=native -pthread bench/stream_read.c -o stream_read
// Usage: stream_read [MiB=1024] [reps=10] [threads=1,2]
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

typedef struct {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
    pthread_barrier_t *start, *stop;
    int reps;
} job_t;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t read_slice(const uint64_t *p, size_t n) {
    uint64_t a[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) a[k] += p[i + k];
    for (; i < n; i++) a[0] += p[i];
    return a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
}

static void *worker(void *arg) {
    job_t *j = arg;
    for (int r = 0; r < j->reps; r++) {
        pthread_barrier_wait(j->start);
        j->sum += read_slice(j->p, j->n);
        pthread_barrier_wait(j->stop);
    }
    return NULL;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void run(uint64_t *buf, size_t n, int threads, int reps) {
    pthread_barrier_t start, stop;
    pthread_barrier_init(&start, NULL, threads + 1);
    pthread_barrier_init(&stop, NULL, threads + 1);
    pthread_t tid[64];
    job_t jobs[64];
    size_t per = n / threads;
    for (int t = 0; t < threads; t++) {
        jobs[t] = (job_t){buf + t * per, t == threads - 1 ? n - t * per : per, 0, &start, &stop, reps + 1};
        pthread_create(&tid[t], NULL, worker, &jobs[t]);
    }
    double gbs[256];
    for (int r = 0; r < reps + 1; r++) {  // first pass is a warm-up
        pthread_barrier_wait(&start);
        double t0 = now();
        pthread_barrier_wait(&stop);
        double dt = now() - t0;
        if (r > 0) gbs[r - 1] = n * sizeof(uint64_t) / dt / 1e9;
    }
    uint64_t sum = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        sum += jobs[t].sum;
    }
    qsort(gbs, reps, sizeof(double), cmp);
    printf("{\"test\":\"stream_read\",\"bytes\":%zu,\"threads\":%d,\"reps\":%d,\"best_gbs\":%.2f,"
           "\"median_gbs\":%.2f,\"worst_gbs\":%.2f,\"checksum\":%llu}\n",
           n * sizeof(uint64_t), threads, reps, gbs[reps - 1], gbs[reps / 2], gbs[0],
           (unsigned long long)(sum & 0xffff));
    fflush(stdout);
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&stop);
}

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
    int reps = argc > 2 ? atoi(argv[2]) : 10;
    const char *tlist = argc > 3 ? argv[3] : "1,2";
    if (reps < 1 || reps > 256 || mib < 1) {
        fprintf(stderr, "usage: stream_read [MiB>=1] [reps 1..256] [threads=1,2]\n");
        return 2;
    }
    size_t n = mib * 1024 * 1024 / sizeof(uint64_t);
    size_t huge = 2u << 20, bytes = (n * sizeof(uint64_t) + huge - 1) / huge * huge;
    uint64_t *buf = aligned_alloc(huge, bytes);
    if (!buf) {
        fprintf(stderr, "cannot allocate %zu MiB\n", mib);
        return 1;
    }
    madvise(buf, bytes, MADV_HUGEPAGE);  // a hint; ordinary pages where refused
    for (size_t i = 0; i < n; i++) buf[i] = i * 0x9e3779b97f4a7c15ull;
    char list[256];
    snprintf(list, sizeof list, "%s", tlist);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        int t = atoi(tok);
        if (t < 1 || t > 64) {
            fprintf(stderr, "bad thread count %s\n", tok);
            return 2;
        }
        run(buf, n, t, reps);
    }
    free(buf);
    return 0;
}
