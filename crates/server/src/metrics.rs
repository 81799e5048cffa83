//! Counters, gauges and histograms for `GET /metrics`, written out in the Prometheus text
//! exposition format (version 0.0.4) by hand.
//!
//! Names (all prefixed `allmende_`): see docs/SERVER.md. Label values are escaped as the format
//! requires (`\\`, `\"`, `\n`). API keys never appear: per-key series use the key's name from the
//! keys file.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use crate::backend::Stats;

/// Bucket bounds of the time-to-first-token histogram, in seconds.
const TTFT_BOUNDS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// Bucket bounds of the inter-token latency histogram, in seconds.
const ITL_BOUNDS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
/// Bucket bounds of the request duration histogram, in seconds.
const DURATION_BOUNDS: &[f64] = &[0.01, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    /// Per bucket (not cumulative); the last entry is +Inf.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram { bounds, counts: vec![0; bounds.len() + 1], sum: 0.0, count: 0 }
    }

    fn observe(&mut self, v: f64, times: u64) {
        let i = self.bounds.iter().position(|&b| v <= b).unwrap_or(self.bounds.len());
        self.counts[i] += times;
        self.sum += v * times as f64;
        self.count += times;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cum = 0;
        for (i, b) in self.bounds.iter().enumerate() {
            cum += self.counts[i];
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cum}");
        }
        cum += self.counts[self.bounds.len()];
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cum}");
        let _ = writeln!(out, "{name}_sum {}", self.sum);
        let _ = writeln!(out, "{name}_count {}", self.count);
    }
}

#[derive(Debug)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    prompt_tokens: BTreeMap<String, u64>,
    generated_tokens: BTreeMap<String, u64>,
    key_requests: BTreeMap<String, u64>,
    key_tokens: BTreeMap<String, u64>,
    rejected_quota: BTreeMap<String, u64>,
    ttft: Histogram,
    itl: Histogram,
    duration: Histogram,
    in_flight: i64,
}

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            inner: Mutex::new(Inner {
                requests: BTreeMap::new(),
                prompt_tokens: BTreeMap::new(),
                generated_tokens: BTreeMap::new(),
                key_requests: BTreeMap::new(),
                key_tokens: BTreeMap::new(),
                rejected_quota: BTreeMap::new(),
                ttft: Histogram::new(TTFT_BOUNDS),
                itl: Histogram::new(ITL_BOUNDS),
                duration: Histogram::new(DURATION_BOUNDS),
                in_flight: 0,
            }),
        }
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        // A panic while holding the lock leaves plain counters behind: still usable.
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    /// A request started.
    pub fn request_started(&self) {
        self.with(|m| m.in_flight += 1);
    }

    /// A request finished with `status` after `seconds` (for streams: when the response head
    /// was sent).
    pub fn request_finished(&self, endpoint: &str, status: u16, seconds: f64) {
        self.with(|m| {
            m.in_flight -= 1;
            *m.requests.entry((endpoint.to_string(), status)).or_default() += 1;
            m.duration.observe(seconds, 1);
        });
    }

    /// A request authenticated with the key named `key`.
    pub fn key_request(&self, key: &str) {
        self.with(|m| *m.key_requests.entry(key.to_string()).or_default() += 1);
    }

    /// A request refused because the key's quota was spent.
    pub fn key_quota_rejected(&self, key: &str) {
        self.with(|m| *m.rejected_quota.entry(key.to_string()).or_default() += 1);
    }

    /// Tokens (prompt + generated) used by the key named `key`.
    pub fn key_tokens(&self, key: &str, tokens: u64) {
        self.with(|m| *m.key_tokens.entry(key.to_string()).or_default() += tokens);
    }

    /// Prompt tokens of `model` evaluated.
    pub fn prompt_tokens(&self, model: &str, tokens: u64) {
        self.with(|m| *m.prompt_tokens.entry(model.to_string()).or_default() += tokens);
    }

    /// Tokens of `model` generated.
    pub fn generated_tokens(&self, model: &str, tokens: u64) {
        self.with(|m| *m.generated_tokens.entry(model.to_string()).or_default() += tokens);
    }

    /// Time to the first generated token of one choice.
    pub fn ttft(&self, seconds: f64) {
        self.with(|m| m.ttft.observe(seconds, 1));
    }

    /// `tokens` tokens arrived `seconds` apart on average.
    pub fn inter_token(&self, seconds: f64, tokens: u64) {
        self.with(|m| m.itl.observe(seconds, tokens));
    }

    /// Requests counted so far with this endpoint and status (for tests).
    pub fn requests(&self, endpoint: &str, status: u16) -> u64 {
        self.with(|m| m.requests.get(&(endpoint.to_string(), status)).copied().unwrap_or(0))
    }

    /// The exposition text.
    pub fn render(&self, stats: Stats, shutting_down: bool) -> String {
        let mut out = String::new();
        self.with(|m| {
            let _ = writeln!(out, "# HELP allmende_requests_total HTTP requests by endpoint and status.\n# TYPE allmende_requests_total counter");
            for ((ep, status), n) in &m.requests {
                let _ = writeln!(out, "allmende_requests_total{{endpoint=\"{}\",status=\"{status}\"}} {n}", escape(ep));
            }
            let _ = writeln!(out, "# HELP allmende_requests_in_flight HTTP requests being handled.\n# TYPE allmende_requests_in_flight gauge\nallmende_requests_in_flight {}", m.in_flight);
            counter_by(&mut out, "allmende_prompt_tokens_total", "Prompt tokens evaluated, by model.", "model", &m.prompt_tokens);
            counter_by(&mut out, "allmende_generated_tokens_total", "Tokens generated, by model.", "model", &m.generated_tokens);
            m.ttft.render(&mut out, "allmende_time_to_first_token_seconds", "Time from the request to its first generated token.");
            m.itl.render(&mut out, "allmende_inter_token_latency_seconds", "Time between consecutive generated tokens of one choice.");
            m.duration.render(&mut out, "allmende_request_duration_seconds", "Time to handle a request (streams: to the response head).");
            counter_by(&mut out, "allmende_key_requests_total", "Authenticated requests, by key name.", "key", &m.key_requests);
            counter_by(&mut out, "allmende_key_tokens_total", "Prompt plus generated tokens, by key name.", "key", &m.key_tokens);
            counter_by(&mut out, "allmende_key_quota_rejections_total", "Requests refused by a key's quota, by key name.", "key", &m.rejected_quota);
        });
        let kv_ratio = if stats.kv_capacity > 0 { stats.kv_used as f64 / stats.kv_capacity as f64 } else { 0.0 };
        let gauges = [
            ("allmende_queue_depth", "Generation jobs waiting to start.", stats.queued as f64),
            ("allmende_active_sequences", "Generation jobs running.", stats.active as f64),
            ("allmende_kv_cache_used_tokens", "KV-cache positions in use.", stats.kv_used as f64),
            ("allmende_kv_cache_capacity_tokens", "KV-cache positions in total.", stats.kv_capacity as f64),
            ("allmende_kv_cache_usage_ratio", "KV-cache positions in use / in total.", kv_ratio),
            ("allmende_prefix_cache_tokens", "Prompt tokens held by the shared prefix cache.", stats.prefix_cached as f64),
            (
                "allmende_shutting_down",
                "1 while the server drains before exiting.",
                if shutting_down { 1.0 } else { 0.0 },
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let name = "allmende_prefix_reused_tokens_total";
        let _ = writeln!(
            out,
            "# HELP {name} Prompt tokens taken from a KV cache instead of computed.\n# TYPE {name} counter\n{name} {}",
            stats.prefix_reused
        );
        out
    }
}

fn counter_by(out: &mut String, name: &str, help: &str, label: &str, map: &BTreeMap<String, u64>) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (k, n) in map {
        let _ = writeln!(out, "{name}{{{label}=\"{}\"}} {n}", escape(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.ttft(0.07);
        m.ttft(0.3);
        m.ttft(100.0);
        let text = m.render(Stats::default(), false);
        assert!(text.contains("allmende_time_to_first_token_seconds_bucket{le=\"0.05\"} 0\n"), "{text}");
        assert!(text.contains("allmende_time_to_first_token_seconds_bucket{le=\"0.1\"} 1\n"), "{text}");
        assert!(text.contains("allmende_time_to_first_token_seconds_bucket{le=\"0.5\"} 2\n"), "{text}");
        assert!(text.contains("allmende_time_to_first_token_seconds_bucket{le=\"60\"} 2\n"), "{text}");
        assert!(text.contains("allmende_time_to_first_token_seconds_bucket{le=\"+Inf\"} 3\n"), "{text}");
        assert!(text.contains("allmende_time_to_first_token_seconds_count 3\n"), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::default();
        m.prompt_tokens("a\"b\\c\nd", 5);
        let text = m.render(Stats::default(), false);
        assert!(text.contains("allmende_prompt_tokens_total{model=\"a\\\"b\\\\c\\nd\"} 5\n"), "{text}");
    }

    #[test]
    fn gauges_come_from_stats() {
        let m = Metrics::default();
        let s = Stats { queued: 3, active: 1, kv_used: 256, kv_capacity: 1024, ..Stats::default() };
        let text = m.render(s, true);
        assert!(text.contains("allmende_queue_depth 3\n"));
        assert!(text.contains("allmende_active_sequences 1\n"));
        assert!(text.contains("allmende_kv_cache_usage_ratio 0.25\n"));
        assert!(text.contains("allmende_shutting_down 1\n"));
    }
}
