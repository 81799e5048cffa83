//! Decoding does not allocate: a counting global allocator sees zero allocations (in any thread,
//! the pool's workers included) during decode steps once a first prefill and decode step have
//! sized the scratch buffers. Covers both KV cache types, the attention's split partition
//! (decode) on a GQA model and on a sliding-window model with post-norms (Gemma 3).
//!
//! This file holds a single test so that no other test allocates while it counts.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use allmende_models::{KvType, Logits, Model, ModelOptions};
use common::fixture;

/// The system allocator, counting the allocations made while `COUNTING` is set.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is `System`'s; the counters are plain atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; `ptr` came from `System` through this allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged; `ptr` came from `System` through this allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `steps` decode steps after a prefill of `prompt` and one decode step.
fn decode_allocations(file: &str, kv: KvType, threads: usize, prompt: &[u32], steps: usize) -> usize {
    let opts = ModelOptions { n_threads: threads, n_batch: 16, kv_type: Some(kv) };
    let mut model = Model::load(fixture(&format!("gguf/{file}")), &opts).unwrap();
    // Every worker thread must have started (std allocates its name at thread start, whenever
    // the OS first runs it): `run` returns only after each worker has taken the job.
    model.pool().run(&|_| {});
    let mut cache = model.new_cache(prompt.len() + steps + 1);
    model.forward(prompt, &mut cache, Logits::Last).unwrap();
    let mut next = 1u32;
    model.forward(&[next], &mut cache, Logits::Last).unwrap();
    ALLOCS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    for _ in 0..steps {
        let logits = model.forward(&[next], &mut cache, Logits::Last).unwrap();
        next = (logits.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0 % 100) as u32;
    }
    COUNTING.store(false, Ordering::SeqCst);
    ALLOCS.load(Ordering::SeqCst)
}

#[test]
fn decode_steps_do_not_allocate() {
    // 40 prompt tokens in chunks of 16 (rows partition), then decode up to 200 positions, so
    // the keys span several attention tiles and splits.
    let prompt: Vec<u32> = (0..40).map(|i| (i * 7 + 3) % 100).collect();
    for (file, kv, threads) in [
        ("tiny-llama-gqa-q8_0.gguf", KvType::F16, 2),
        ("tiny-llama-gqa-q8_0.gguf", KvType::F32, 3),
        ("tiny-gemma3-f32.gguf", KvType::F16, 2),
        ("tiny-gemma3-f32.gguf", KvType::F32, 1),
    ] {
        let n = decode_allocations(file, kv, threads, &prompt, 160);
        assert_eq!(n, 0, "{file} {kv} {threads} threads: {n} allocations in 160 decode steps");
    }
}
