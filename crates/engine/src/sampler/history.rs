//! Token history for the penalty stages: the last `window` accepted tokens and how often each id occurs in
//! that window.
//!
//! Reference: llama.cpp `llama_sampler_penalties` (`src/llama-sampling.cpp`: a ring buffer of the last
//! `penalty_last_n` tokens plus a per-token count). Here the counts are a dense `Vec<u32>` of `n_vocab`
//! entries and the ring is a fixed `Vec<u32>`, both allocated once, so `push` never allocates.

/// How many past tokens the penalties look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// No history is kept; penalties are off.
    Off,
    /// The last `n` accepted tokens (`n > 0`).
    Last(usize),
    /// Every accepted token since the last reset (llama.cpp `repeat_last_n = -1`, "whole context").
    All,
}

/// Accepted-token history with per-id counts over the window.
#[derive(Debug, Clone)]
pub struct History {
    window: Window,
    /// Ring of the last `n` tokens when `window` is `Last(n)`; empty otherwise. `[n]`
    ring: Vec<u32>,
    /// Index in `ring` of the oldest token.
    head: usize,
    /// Tokens in the window (≤ ring capacity for `Last`).
    len: usize,
    /// `counts[id]` = occurrences of `id` in the window. `[n_vocab]`, empty when `Off`.
    counts: Vec<u32>,
    /// Total tokens ever pushed since reset (including ones that left the window).
    n_total: usize,
}

impl History {
    /// An empty history for a vocabulary of `n_vocab` tokens.
    /// `Window::Last(0)` is treated as `Window::Off`.
    pub fn new(n_vocab: usize, window: Window) -> Self {
        let window = if window == Window::Last(0) {
            Window::Off
        } else {
            window
        };
        let (ring, counts) = match window {
            Window::Off => (Vec::new(), Vec::new()),
            Window::Last(n) => (Vec::with_capacity(n), vec![0; n_vocab]),
            Window::All => (Vec::new(), vec![0; n_vocab]),
        };
        Self {
            window,
            ring,
            head: 0,
            len: 0,
            counts,
            n_total: 0,
        }
    }

    /// The window this history keeps.
    pub fn window(&self) -> Window {
        self.window
    }

    /// Records an accepted token. Ids outside the vocabulary are ignored here (the sampler checks them).
    pub fn push(&mut self, id: u32) {
        self.n_total += 1;
        let idx = id as usize;
        if idx >= self.counts.len() {
            return;
        }
        match self.window {
            Window::Off => {}
            Window::All => {
                self.counts[idx] += 1;
                self.len += 1;
            }
            Window::Last(n) => {
                if self.ring.len() < n {
                    self.ring.push(id);
                    self.len += 1;
                } else {
                    // Full: overwrite the oldest slot.
                    let old = self.ring[self.head] as usize;
                    self.counts[old] -= 1;
                    self.ring[self.head] = id;
                    self.head = (self.head + 1) % n;
                }
                self.counts[idx] += 1;
            }
        }
    }

    /// Occurrences of `id` in the window (0 for unknown ids or when the history is off).
    pub fn count(&self, id: u32) -> u32 {
        self.counts.get(id as usize).copied().unwrap_or(0)
    }

    /// Number of tokens currently in the window.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Total tokens pushed since the last reset, whether or not they are still in the window.
    pub fn n_total(&self) -> usize {
        self.n_total
    }

    /// Forgets every token; keeps the allocations.
    pub fn clear(&mut self) {
        match self.window {
            Window::Last(_) => {
                for &t in &self.ring {
                    self.counts[t as usize] = 0;
                }
            }
            Window::All => self.counts.iter_mut().for_each(|c| *c = 0),
            Window::Off => {}
        }
        self.ring.clear();
        self.head = 0;
        self.len = 0;
        self.n_total = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_evicts_oldest() {
        let mut h = History::new(10, Window::Last(3));
        for t in [1, 2, 1, 3] {
            h.push(t);
        }
        // window = [2, 1, 3]
        assert_eq!((h.count(1), h.count(2), h.count(3)), (1, 1, 1));
        h.push(3); // window = [1, 3, 3]
        assert_eq!((h.count(1), h.count(2), h.count(3)), (1, 0, 2));
        h.push(7); // window = [3, 3, 7]
        assert_eq!((h.count(1), h.count(3), h.count(7)), (0, 2, 1));
        assert_eq!(h.len(), 3);
        assert_eq!(h.n_total(), 6);
    }

    #[test]
    fn all_window_counts_everything_and_off_counts_nothing() {
        let mut all = History::new(4, Window::All);
        let mut off = History::new(4, Window::Off);
        for t in [0, 0, 0, 2] {
            all.push(t);
            off.push(t);
        }
        assert_eq!((all.count(0), all.count(2), all.len()), (3, 1, 4));
        assert_eq!((off.count(0), off.len()), (0, 0));
    }

    #[test]
    fn clear_resets_counts_and_out_of_range_is_ignored() {
        let mut h = History::new(4, Window::Last(2));
        h.push(1);
        h.push(99);
        h.push(1);
        assert_eq!(h.count(1), 2);
        assert_eq!(h.count(99), 0);
        h.clear();
        assert_eq!(h.count(1), 0);
        assert!(h.is_empty());
        h.push(2);
        assert_eq!(h.count(2), 1);
    }
}
