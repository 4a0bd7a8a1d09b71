//! Codec throughput per core: encode and decode of 1 MiB frames on a text-like corpus
//! (logs, JSON, prose; about 5:1 at zstd 3) and on random bytes (passthrough), plus the cost
//! of the sampling heuristic. Each run prints the compression ratio it measured.
//!
//! `cargo bench -p stratum-codec -- --warm-up-time 1 --measurement-time 3`; under
//! `cargo test --benches` every bench runs once, so this file cannot rot.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use stratum_codec::{corpus, decode_into, worth_compressing, Encoder, FRAME_HEADER_BYTES};

const FRAME_BYTES: usize = 1 << 20;
/// Frames per iteration: several distinct frames, so one hot frame in cache does not flatter
/// the figures.
const FRAMES: usize = 4;

fn corpora() -> [(&'static str, Vec<Vec<u8>>); 2] {
    [
        (
            "text",
            (0..FRAMES)
                .map(|i| corpus::text_like(FRAME_BYTES, i as u64))
                .collect(),
        ),
        (
            "random",
            (0..FRAMES)
                .map(|i| corpus::random(FRAME_BYTES, i as u64))
                .collect(),
        ),
    ]
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode_1MiB");
    group.throughput(Throughput::Bytes((FRAME_BYTES * FRAMES) as u64));
    for (name, frames) in corpora() {
        for level in [1, 3, 9] {
            let encoder = Encoder::with_level(level, true);
            let stored: usize = frames
                .iter()
                .map(|f| encoder.encode(f).len() - FRAME_HEADER_BYTES)
                .sum();
            println!(
                "ratio {name} zstd-{level}: {:.2} ({} -> {stored} bytes)",
                (FRAME_BYTES * FRAMES) as f64 / stored as f64,
                FRAME_BYTES * FRAMES,
            );
            group.bench_with_input(
                BenchmarkId::new(format!("level{level}"), name),
                &frames,
                |b, frames| {
                    b.iter(|| {
                        for f in frames {
                            black_box(encoder.encode(f));
                        }
                    })
                },
            );
        }
        // Peer in the same run: zstd with a fresh context per frame and no sampling, as a
        // naive codec would do it.
        group.bench_with_input(
            BenchmarkId::new("peer_zstd_bulk_level3", name),
            &frames,
            |b, frames| {
                b.iter(|| {
                    for f in frames {
                        black_box(zstd::bulk::compress(f, 3).expect("compress"));
                    }
                })
            },
        );
    }
    group.finish();
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_1MiB");
    group.throughput(Throughput::Bytes((FRAME_BYTES * FRAMES) as u64));
    for (name, frames) in corpora() {
        let encoder = Encoder::with_level(3, true);
        let encoded: Vec<Vec<u8>> = frames.iter().map(|f| encoder.encode(f)).collect();
        group.bench_with_input(BenchmarkId::new("level3", name), &encoded, |b, encoded| {
            // Reuse one output buffer, as a GET does.
            let mut out = Vec::with_capacity(FRAME_BYTES);
            b.iter(|| {
                for f in encoded {
                    out.clear();
                    decode_into(f, &mut out).expect("decode");
                    black_box(&out);
                }
            })
        });
    }
    group.finish();
}

fn sample(c: &mut Criterion) {
    let mut group = c.benchmark_group("sample_1MiB");
    group.throughput(Throughput::Bytes((FRAME_BYTES * FRAMES) as u64));
    for (name, frames) in corpora() {
        group.bench_with_input(
            BenchmarkId::new("worth_compressing", name),
            &frames,
            |b, frames| {
                b.iter(|| {
                    for f in frames {
                        black_box(worth_compressing(f));
                    }
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, encode, decode, sample);
criterion_main!(benches);
