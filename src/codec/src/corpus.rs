//! Deterministic test corpora shared by benches and tests across the workspace.
//!
//! `text_like` imitates what object stores mostly hold when data compresses at all — service
//! logs, JSON events and prose — and lands near a 5:1 ratio at zstd level 3, like real logs
//! and JSON. `random` is incompressible, standing in for JPEG, ZIP and MP4. Both are pure
//! functions of `(len, seed)` so a benchmark or a failing test replays exactly.

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "had",
    "they",
    "you",
    "were",
    "their",
    "one",
    "all",
    "we",
    "can",
    "her",
    "has",
    "there",
    "been",
    "if",
    "more",
    "when",
    "will",
    "would",
    "who",
    "so",
    "no",
    "storage",
    "object",
    "bucket",
    "request",
    "frame",
    "volume",
    "disk",
    "latency",
    "server",
    "client",
    "upload",
    "download",
    "replica",
    "shard",
    "cluster",
    "node",
    "timeout",
    "retry",
    "cache",
    "index",
    "commit",
    "flush",
    "write",
    "read",
    "range",
    "checksum",
    "stream",
    "buffer",
    "queue",
    "worker",
    "session",
    "token",
    "account",
    "policy",
    "region",
    "tier",
    "cold",
    "warm",
    "hot",
    "archive",
    "backup",
    "snapshot",
    "restore",
    "migrate",
    "compact",
    "segment",
    "partition",
    "leader",
    "follower",
    "heartbeat",
    "election",
    "quorum",
    "consensus",
    "network",
    "packet",
    "socket",
    "connection",
    "handshake",
    "certificate",
    "signature",
    "payload",
    "header",
    "metadata",
    "version",
    "schema",
    "record",
    "field",
    "value",
    "error",
    "warning",
    "failure",
    "success",
    "pending",
    "complete",
    "aborted",
    "started",
    "finished",
    "scheduled",
    "between",
    "through",
    "during",
    "before",
    "after",
    "under",
    "again",
    "further",
    "then",
    "once",
    "here",
    "where",
    "why",
    "how",
    "both",
    "each",
    "few",
    "most",
    "other",
    "some",
    "such",
    "only",
    "own",
    "same",
    "than",
    "too",
    "very",
    "just",
    "should",
    "now",
    "time",
    "people",
    "year",
    "way",
    "day",
    "thing",
    "world",
    "life",
    "hand",
    "part",
    "child",
    "eye",
    "place",
    "work",
    "week",
    "case",
    "point",
    "number",
    "group",
    "problem",
    "fact",
];

/// Distinct log and event messages in one corpus.
const MESSAGE_TEMPLATES: usize = 64;
const LEVELS: &[&str] = &["INFO", "INFO", "INFO", "DEBUG", "DEBUG", "WARN", "ERROR"];
const METHODS: &[&str] = &["GET", "GET", "GET", "PUT", "HEAD", "DELETE", "POST"];
const STATUSES: &[u16] = &[200, 200, 200, 200, 206, 204, 304, 404, 403, 500, 503];

/// SplitMix64: tiny, fast, and good enough for corpus generation (not for cryptography).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// An index skewed towards the front (roughly Zipf-like), as word use is.
    fn skewed(&mut self, n: usize) -> usize {
        let a = self.below(n);
        let b = self.below(n);
        let c = self.below(n);
        a.min(b).min(c)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// `len` bytes of English-like structured text: log lines, JSON events and prose.
pub fn text_like(len: usize, seed: u64) -> Vec<u8> {
    use std::fmt::Write;
    let mut rng = Rng(seed ^ 0x5354_5241_5455_4d31);
    let mut out = String::with_capacity(len + 512);
    // Log and event messages come from a fixed set of templates, as they do in real
    // services: that repetition is what makes logs compress well.
    let messages: Vec<String> = (0..MESSAGE_TEMPLATES)
        .map(|_| {
            let mut m = String::new();
            sentence(&mut rng, &mut m, 4, 8);
            m
        })
        .collect();
    // Timestamps advance slowly, as in a real log, so consecutive lines share prefixes.
    let mut millis: u64 = 1_715_000_000_000 + rng.below(1_000_000) as u64;
    while out.len() < len {
        millis += rng.below(40) as u64;
        let (secs, ms) = (millis / 1000, millis % 1000);
        let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
        match rng.below(10) {
            0..=5 => {
                let _ = write!(
                    out,
                    "2024-05-17T{h:02}:{m:02}:{s:02}.{ms:03}Z {:<5} [worker-{}] method={} path=/{}/{}/{} status={} bytes={} duration_ms={} msg=\"",
                    rng.pick(LEVELS),
                    rng.below(16),
                    rng.pick(METHODS),
                    WORDS[48 + rng.skewed(40)],
                    WORDS[48 + rng.skewed(60)],
                    rng.skewed(2000),
                    rng.pick(STATUSES),
                    rng.skewed(1 << 16),
                    rng.skewed(500),
                );
                out.push_str(&messages[rng.skewed(MESSAGE_TEMPLATES)]);
                out.push_str("\"\n");
            }
            6..=8 => {
                let _ = write!(
                    out,
                    "{{\"ts\":{millis},\"level\":\"{}\",\"event\":\"{}_{}\",\"user_id\":{},\"bucket\":\"{}-{}\",\"ok\":{},\"tags\":[\"{}\",\"{}\"],\"note\":\"",
                    rng.pick(LEVELS).to_lowercase(),
                    WORDS[48 + rng.skewed(50)],
                    WORDS[48 + rng.skewed(50)],
                    rng.skewed(5000),
                    WORDS[48 + rng.skewed(30)],
                    rng.below(100),
                    rng.below(8) != 0,
                    WORDS[rng.skewed(WORDS.len())],
                    WORDS[rng.skewed(WORDS.len())],
                );
                out.push_str(&messages[rng.skewed(MESSAGE_TEMPLATES)]);
                out.push_str("\"}\n");
            }
            _ => {
                sentence(&mut rng, &mut out, 12, 20);
                out.push_str(".\n");
            }
        }
    }
    let mut bytes = out.into_bytes();
    bytes.truncate(len);
    bytes
}

/// Appends `min_words` plus up to `spread` more words, separated by spaces.
fn sentence(rng: &mut Rng, out: &mut String, min_words: usize, spread: usize) {
    let words = min_words + rng.below(spread);
    for i in 0..words {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(WORDS[rng.skewed(WORDS.len())]);
    }
}

/// `len` uniformly random bytes (incompressible).
pub fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed ^ 0x7261_6e64_6f6d_2121);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&rng.next().to_le_bytes());
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpora_are_deterministic_and_sized() {
        for len in [0, 1, 7, 1000, 65_537] {
            assert_eq!(text_like(len, 9).len(), len);
            assert_eq!(random(len, 9).len(), len);
        }
        assert_eq!(text_like(5000, 1), text_like(5000, 1));
        assert_ne!(text_like(5000, 1), text_like(5000, 2));
        assert_eq!(random(5000, 1), random(5000, 1));
    }
}
