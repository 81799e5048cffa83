//! Stop-string matcher for streamed text.
//!
//! Feed the text pieces of a generation as they arrive; the matcher returns the part that is safe to emit
//! and holds back any suffix that could still grow into a stop string. When a stop string completes, it
//! returns the text before it and reports which stop string matched; the stop string itself is never
//! emitted (OpenAI `stop` semantics).
//!
//! Semantics: the stop is the first point in the text at which any stop string is complete (earliest end;
//! among stop strings ending there, the one starting earliest). This is independent of how the text is split
//! into pieces, so streaming a string character by character or all at once gives the same output.
//! Held-back text is always cut on a `char` boundary. Empty stop strings are ignored.
//!
//! Reference: OpenAI API `stop` parameter; llama.cpp `tools/server` (`find_stopping_strings`, partial
//! matches held back while streaming).

/// What [`StopMatcher::push`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopEvent {
    /// Text that can be emitted now (possibly empty); generation continues.
    Continue(String),
    /// A stop string completed: emit `text` (everything before the stop string) and stop generating.
    Stop {
        /// Text before the stop string, not yet emitted.
        text: String,
        /// Index of the matched stop string in the list given to [`StopMatcher::new`].
        stop_index: usize,
    },
}

/// Streaming stop-string matcher.
#[derive(Debug, Clone, Default)]
pub struct StopMatcher {
    /// `(index in the caller's list, stop string)`, empty strings dropped.
    stops: Vec<(usize, String)>,
    /// Longest stop string in bytes.
    max_len: usize,
    /// Text received but not yet emitted (a possible stop-string prefix).
    pending: String,
    /// Set once a stop string matched.
    stopped: Option<usize>,
}

impl StopMatcher {
    /// A matcher for the given stop strings (empty ones are ignored).
    pub fn new<I, S>(stops: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let stops: Vec<(usize, String)> = stops
            .into_iter()
            .map(Into::into)
            .enumerate()
            .filter(|(_, s)| !s.is_empty())
            .collect();
        let max_len = stops.iter().map(|(_, s)| s.len()).max().unwrap_or(0);
        Self {
            stops,
            max_len,
            pending: String::new(),
            stopped: None,
        }
    }

    /// Whether any (non-empty) stop string is configured.
    pub fn is_active(&self) -> bool {
        !self.stops.is_empty()
    }

    /// Index of the stop string that matched, once one has.
    pub fn stopped(&self) -> Option<usize> {
        self.stopped
    }

    /// Text currently held back.
    pub fn pending(&self) -> &str {
        &self.pending
    }

    /// Feeds the next piece of generated text. After a stop, further pieces are ignored and the same
    /// `Stop` (with empty text) is returned.
    pub fn push(&mut self, piece: &str) -> StopEvent {
        if let Some(stop_index) = self.stopped {
            return StopEvent::Stop {
                text: String::new(),
                stop_index,
            };
        }
        if self.stops.is_empty() {
            return StopEvent::Continue(piece.to_owned());
        }
        self.pending.push_str(piece);

        // Earliest end, then earliest start. Because no complete stop string was pending before this piece,
        // any match ends inside the new piece.
        let mut best: Option<(usize, usize, usize)> = None; // (end, start, stop_index)
        for (idx, s) in &self.stops {
            // For one stop string, its first occurrence is also the one that ends first.
            if let Some(start) = self.pending.find(s.as_str()) {
                let cand = (start + s.len(), start, *idx);
                if best.is_none_or(|b| (cand.0, cand.1) < (b.0, b.1)) {
                    best = Some(cand);
                }
            }
        }
        if let Some((_, start, stop_index)) = best {
            let mut text = std::mem::take(&mut self.pending);
            text.truncate(start);
            self.stopped = Some(stop_index);
            return StopEvent::Stop { text, stop_index };
        }

        let hold = self.held_suffix_start();
        let rest = self.pending.split_off(hold);
        let out = std::mem::replace(&mut self.pending, rest);
        StopEvent::Continue(out)
    }

    /// Ends the stream: returns the held-back text (it did not become a stop string). Empty after a stop.
    pub fn flush(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }

    /// Start of the longest suffix of `pending` that is a proper prefix of some stop string (the whole
    /// length if none). Only `char` boundaries are considered.
    fn held_suffix_start(&self) -> usize {
        let len = self.pending.len();
        let from = len.saturating_sub(self.max_len.saturating_sub(1));
        (from..len)
            .filter(|&i| self.pending.is_char_boundary(i))
            .find(|&i| {
                let tail = &self.pending.as_bytes()[i..];
                self.stops
                    .iter()
                    .any(|(_, s)| s.len() > tail.len() && s.as_bytes().starts_with(tail))
            })
            .unwrap_or(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Streams `pieces` and returns (emitted text, matched stop index).
    fn stream(stops: &[&str], pieces: &[&str]) -> (String, Option<usize>) {
        let mut m = StopMatcher::new(stops.iter().copied());
        let mut out = String::new();
        for p in pieces {
            match m.push(p) {
                StopEvent::Continue(t) => out.push_str(&t),
                StopEvent::Stop { text, stop_index } => {
                    out.push_str(&text);
                    return (out, Some(stop_index));
                }
            }
        }
        out.push_str(&m.flush());
        (out, None)
    }

    fn chars(s: &str) -> Vec<String> {
        s.chars().map(|c| c.to_string()).collect()
    }

    #[test]
    fn no_stops_passes_through() {
        let mut m = StopMatcher::new(Vec::<String>::new());
        assert!(!m.is_active());
        assert_eq!(m.push("abc"), StopEvent::Continue("abc".into()));
        let mut m = StopMatcher::new([""]);
        assert!(!m.is_active());
        assert_eq!(m.push("abc"), StopEvent::Continue("abc".into()));
    }

    #[test]
    fn holds_back_possible_prefix_and_releases_it() {
        let mut m = StopMatcher::new(["</s>"]);
        assert_eq!(m.push("hello <"), StopEvent::Continue("hello ".into()));
        assert_eq!(m.pending(), "<");
        assert_eq!(m.push("/"), StopEvent::Continue(String::new()));
        assert_eq!(m.push("x"), StopEvent::Continue("</x".into()));
        assert_eq!(m.flush(), "");
        assert_eq!(m.push("a</"), StopEvent::Continue("a".into()));
        assert_eq!(m.flush(), "</");
    }

    #[test]
    fn stop_spanning_pieces() {
        assert_eq!(
            stream(&["STOP"], &["abc S", "T", "OP and more"]),
            ("abc ".into(), Some(0))
        );
        assert_eq!(
            stream(&["\n\n"], &["line\n", "\nnext"]),
            ("line".into(), Some(0))
        );
    }

    #[test]
    fn stop_inside_one_piece_and_at_start() {
        assert_eq!(stream(&["xy"], &["abxycd"]), ("ab".into(), Some(0)));
        assert_eq!(stream(&["xy"], &["xy"]), ("".into(), Some(0)));
    }

    #[test]
    fn multiple_stops_report_the_right_index() {
        assert_eq!(
            stream(&["foo", "bar"], &["a bar foo"]),
            ("a ".into(), Some(1))
        );
        assert_eq!(
            stream(&["foo", "bar"], &["a fo", "o bar"]),
            ("a ".into(), Some(0))
        );
    }

    #[test]
    fn overlapping_prefixes() {
        // "aab": after "aa" the held suffix must be "aa" (not just "a"), then "b" completes it.
        assert_eq!(
            stream(&["aab"], &["x", "a", "a", "a", "b", "z"]),
            ("xa".into(), Some(0))
        );
        // Partial match fails but a later offset of it succeeds: "abab" then "c" for stop "abc".
        assert_eq!(stream(&["abc"], &["ab", "ab", "c"]), ("ab".into(), Some(0)));
        // One stop is a prefix of another: the shorter completes first.
        assert_eq!(stream(&["ab", "abc"], &["xabc"]), ("x".into(), Some(0)));
        assert_eq!(
            stream(&["abc", "ab"], &["x", "a", "b", "c"]),
            ("x".into(), Some(1))
        );
    }

    #[test]
    fn earliest_end_wins_and_is_chunking_invariant() {
        let stops = ["bc", "abcd"];
        // Whole: "bc" ends at 3, "abcd" ends at 4 -> stop at "bc", emit "a".
        assert_eq!(stream(&stops, &["abcd"]), ("a".into(), Some(0)));
        assert_eq!(
            stream(
                &stops,
                &chars("abcd").iter().map(|s| s.as_str()).collect::<Vec<_>>()
            ),
            ("a".into(), Some(0))
        );
        // Same end: the earlier start (the longer stop) wins.
        assert_eq!(stream(&["cd", "bcd"], &["abcd"]), ("a".into(), Some(1)));
    }

    #[test]
    fn every_split_gives_the_same_result() {
        let text = "Hello wörld, 日本語 END here <|im_end|> tail";
        let stops = ["<|im_end|>", "END!", "日本X"];
        let whole = stream(&stops, &[text]);
        assert_eq!(whole, ("Hello wörld, 日本語 END here ".into(), Some(0)));
        let idx: Vec<usize> = text
            .char_indices()
            .map(|(i, _)| i)
            .chain([text.len()])
            .collect();
        for a in 0..idx.len() {
            for b in a..idx.len() {
                let pieces = [&text[..idx[a]], &text[idx[a]..idx[b]], &text[idx[b]..]];
                assert_eq!(stream(&stops, &pieces), whole, "split at {a},{b}");
            }
        }
        assert_eq!(
            stream(
                &stops,
                &chars(text).iter().map(|s| s.as_str()).collect::<Vec<_>>()
            ),
            whole
        );
    }

    #[test]
    fn utf8_boundaries_are_respected() {
        // Stop string starting with a multi-byte char: the held suffix starts on a char boundary.
        let mut m = StopMatcher::new(["éé"]);
        assert_eq!(m.push("caé"), StopEvent::Continue("ca".into()));
        assert_eq!(m.pending(), "é");
        assert_eq!(m.push("è"), StopEvent::Continue("éè".into()));
        // Emoji stop split across pieces.
        assert_eq!(
            stream(&["🛑"], &["go ", "🛑", " no"]),
            ("go ".into(), Some(0))
        );
        assert_eq!(stream(&["a🛑"], &["xa", "🛑"]), ("x".into(), Some(0)));
    }

    #[test]
    fn after_stop_everything_is_ignored() {
        let mut m = StopMatcher::new(["x"]);
        assert_eq!(
            m.push("ax"),
            StopEvent::Stop {
                text: "a".into(),
                stop_index: 0
            }
        );
        assert_eq!(m.stopped(), Some(0));
        assert_eq!(
            m.push("more"),
            StopEvent::Stop {
                text: String::new(),
                stop_index: 0
            }
        );
        assert_eq!(m.flush(), "");
    }
}
