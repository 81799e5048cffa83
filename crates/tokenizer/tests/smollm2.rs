//! SmolLM2-135M-Instruct (GGUF, `gpt2` model with the `smollm` pre-tokenizer) against llama.cpp:
//! prompt ids and greedy continuations recorded with llama-cpp-python
//! (`fixtures/vocab/smollm2-goldens.json`, made by `tests/extract_goldens.py`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::Value;

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn prompts_and_continuations_match_llama_cpp() {
    let tok = common::load_tokenizer("smollm2");
    let path = common::fixture_dir().join("vocab/smollm2-goldens.json");
    let goldens: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let goldens = goldens.as_array().unwrap();
    assert_eq!(goldens.len(), 5);
    for g in goldens {
        let prompt = g["prompt"].as_str().unwrap();
        assert_eq!(
            tok.encode(prompt, true, true).unwrap(),
            ids(&g["prompt_ids"]),
            "{prompt:?}"
        );
        let new_ids = ids(&g["new_ids"]);
        let new_text = g["new_text"].as_str().unwrap();
        assert_eq!(tok.decode(&new_ids, true).unwrap(), new_text);
        assert_eq!(
            tok.encode(new_text, false, false).unwrap(),
            new_ids,
            "{new_text:?}"
        );
        let mut dec = tok.stream_decoder(true);
        let mut streamed = String::new();
        for &id in &new_ids {
            streamed += &dec.push(id).unwrap();
        }
        streamed += &dec.finish();
        assert_eq!(streamed, new_text);
    }
}

#[test]
fn chat_tokens() {
    let tok = common::load_tokenizer("smollm2");
    assert!(!tok.add_bos());
    let im_start = tok.token_to_id("<|im_start|>").unwrap();
    let im_end = tok.token_to_id("<|im_end|>").unwrap();
    assert_eq!((im_start, im_end), (1, 2));
    assert_eq!(tok.eos_id(), Some(im_end));
    assert!(tok.is_eog(im_end) && tok.is_eog(0));
    let ids = tok
        .encode("<|im_start|>user\nHi<|im_end|>\n", false, true)
        .unwrap();
    assert_eq!(ids.first(), Some(&im_start));
    assert!(ids.contains(&im_end));
    assert_eq!(
        tok.decode(&ids, false).unwrap(),
        "<|im_start|>user\nHi<|im_end|>\n"
    );
    assert_eq!(tok.decode(&ids, true).unwrap(), "user\nHi\n");
}
