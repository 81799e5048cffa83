//! The shared-prefix KV cache: the keys and values of prompts, kept in blocks of
//! [`PrefixCache::block`] tokens and reused by later requests that start with the same tokens
//! (the same system prompt, the same few-shot examples, a conversation's earlier turns) in any
//! slot, also while the request that computed them is still running.
//!
//! A block is found by its whole prefix: its key is a hash chained over every token from the
//! start of the prompt to the block's end, and the entry keeps the block's own tokens and its
//! parent's key, which a lookup compares, so a hash collision cannot hand out another prompt's
//! keys and values. Reuse is bit-for-bit: a prompt token's keys and values depend only on the
//! tokens before it (prompt tokens never take the decode path, and a batched pass equals a
//! single one), so copying them into a slot equals computing them there.
//!
//! Blocks are copies ([`KvCache::copy_out`] / [`KvCache::copy_in`]), bounded by a token budget
//! and evicted least-recently-used first. Memory: budget × the model's KV bytes per token.
//!
//! ref: vLLM's automatic prefix caching (block hashes chained over the prefix); llama.cpp's
//! server prompt cache.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use allmende_models::KvCache;

/// Key of the empty prefix (the parent of a prompt's first block).
const ROOT: u64 = 0x9e37_79b9_7f4a_7c15;

struct Entry {
    parent: u64,
    /// Block index in its prompt: children are evicted before their parents.
    depth: usize,
    tokens: Vec<u32>,
    kv: Vec<u8>,
    last_used: u64,
}

/// Prompt KV blocks shared across requests; see the module docs.
pub struct PrefixCache {
    block: usize,
    max_blocks: usize,
    entries: HashMap<u64, Entry>,
    clock: u64,
}

impl std::fmt::Debug for PrefixCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrefixCache").field("block", &self.block).field("blocks", &self.entries.len()).finish()
    }
}

/// The key of the block `tokens` that follows the prefix whose key is `parent`.
fn chain(parent: u64, tokens: &[u32]) -> u64 {
    let mut h = DefaultHasher::new();
    parent.hash(&mut h);
    tokens.hash(&mut h);
    h.finish()
}

impl PrefixCache {
    /// A cache of blocks of `block` tokens holding at most `max_tokens` tokens (0 disables it).
    pub fn new(block: usize, max_tokens: usize) -> PrefixCache {
        let block = block.max(1);
        PrefixCache { block, max_blocks: max_tokens / block, entries: HashMap::new(), clock: 0 }
    }

    /// Tokens per block.
    pub fn block(&self) -> usize {
        self.block
    }

    /// Tokens held.
    pub fn tokens(&self) -> usize {
        self.entries.len() * self.block
    }

    /// The keys of the longest run of cached blocks that `prompt` starts with (whole blocks
    /// only), marking them used.
    pub fn lookup(&mut self, prompt: &[u32]) -> Vec<u64> {
        let mut keys = Vec::new();
        let mut parent = ROOT;
        self.clock += 1;
        for toks in prompt.chunks_exact(self.block) {
            let key = chain(parent, toks);
            match self.entries.get_mut(&key) {
                Some(e) if e.parent == parent && e.tokens == toks => {
                    e.last_used = self.clock;
                    keys.push(key);
                    parent = key;
                }
                _ => break,
            }
        }
        keys
    }

    /// Copies the blocks `keys` (from [`PrefixCache::lookup`]), skipping the first `skip`, into
    /// `cache` at their positions; the cache then holds `keys.len()` blocks of the prompt.
    pub fn restore(&self, keys: &[u64], skip: usize, cache: &mut KvCache) {
        let b = self.block;
        cache.truncate(skip * b);
        for (k, key) in keys.iter().enumerate().skip(skip) {
            if let Some(e) = self.entries.get(key) {
                cache.copy_in(k * b, b, &e.kv);
            }
        }
    }

    /// Offers the blocks of `prompt` that `cache` holds (its first `cache.len()` positions),
    /// from block `from` on; returns how many of the prompt's blocks are now published (the
    /// caller passes that as `from` next time). Blocks already cached are not copied again.
    pub fn publish(&mut self, prompt: &[u32], cache: &KvCache, from: usize) -> usize {
        let b = self.block;
        let full = cache.len().min(prompt.len()) / b;
        if self.max_blocks == 0 || full <= from {
            return from.max(full);
        }
        // Blocks this call touches are stamped at or after `start` and never evicted by it: a
        // prompt's run of blocks must stay whole from its start to be found again.
        self.clock += 1;
        let start = self.clock;
        let mut parent = ROOT;
        for (k, toks) in prompt.chunks_exact(b).take(full).enumerate() {
            let key = chain(parent, toks);
            if let Some(e) = self.entries.get_mut(&key) {
                e.last_used = self.clock;
            } else if k >= from {
                if self.entries.len() >= self.max_blocks && !self.evict_one(start) {
                    return k; // full of this prompt's own blocks: keep its head
                }
                let mut kv = Vec::new();
                cache.copy_out(k * b, b, &mut kv);
                self.entries.insert(key, Entry { parent, depth: k, tokens: toks.to_vec(), kv, last_used: self.clock });
            } else {
                return k; // an earlier block was evicted meanwhile: the chain ends here
            }
            parent = key;
        }
        full
    }

    /// Evicts the least recently used block stamped before `keep_from`; false if none is.
    fn evict_one(&mut self, keep_from: u64) -> bool {
        // Least recently used first; among blocks used together, the deepest, so that a
        // prompt's cached run shrinks from its end and stays reachable.
        let victim = self
            .entries
            .iter()
            .filter(|(_, e)| e.last_used < keep_from)
            .min_by_key(|(_, e)| (e.last_used, std::cmp::Reverse(e.depth)))
            .map(|(&k, _)| k);
        match victim {
            Some(key) => self.entries.remove(&key).is_some(),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chained_keys_depend_on_the_whole_prefix() {
        assert_ne!(chain(ROOT, &[1, 2]), chain(chain(ROOT, &[9, 9]), &[1, 2]));
        assert_eq!(chain(ROOT, &[1, 2]), chain(ROOT, &[1, 2]));
    }
}
