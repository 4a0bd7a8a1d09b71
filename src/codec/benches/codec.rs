//! Codec throughput per core: encode and decode of 1 MiB frames on a text-like corpus
//! (logs, JSON, prose; about 5:1 at zstd 3) and on random bytes (passthrough), plus the cost
//! of the sampling heuristic. Each run prints the compression ratio it measured.
//!
//! `recompress_batch` measures batch recompression (the tier mover's cold path) in bytes of
//! original data per second: 256 × 16 KiB and 8 × 4 MiB text frames written at level 1 and
//! recompressed at level 9, on the CPU with one thread and with every core, and on the GPU
//! when the build has the `gpu` feature and the machine a GPU with nvCOMP 5. Level 19 takes
//! too long per iteration for criterion on few cores; `examples/recompress_bench.rs` measures
//! it. Under `cargo test --benches` this group runs toy sizes at level 3.
//!
//! `cargo bench -p stratum-codec -- --warm-up-time 1 --measurement-time 3`; under
//! `cargo test --benches` every bench runs once, so this file cannot rot.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use stratum_codec::{
    corpus, decode_into, worth_compressing, Backend, BatchConfig, BatchRecompressor, Encoder,
    GpuMode, FRAME_HEADER_BYTES,
};

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

fn recompress_batch(c: &mut Criterion) {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and runs each bench
    // once, so it gets toy shapes that keep the test suite quick.
    let full = std::env::args().any(|a| a == "--bench");
    let (shapes, level) = if full {
        ([("256x16KiB", 256, 16 << 10), ("8x4MiB", 8, 4 << 20)], 9)
    } else {
        ([("16x16KiB", 16, 16 << 10), ("2x256KiB", 2, 256 << 10)], 3)
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut backends = vec![(format!("cpu_threads1_level{level}"), GpuMode::Off, 1)];
    if cores > 1 {
        backends.push((
            format!("cpu_threads{cores}_level{level}"),
            GpuMode::Off,
            cores,
        ));
    }
    let gpu = BatchRecompressor::new(BatchConfig {
        level,
        threads: cores,
        gpu: GpuMode::Auto,
        nvcomp_path: None,
    });
    match gpu.backend() {
        Backend::Gpu => backends.push(("gpu".to_string(), GpuMode::Auto, cores)),
        Backend::Cpu => println!(
            "recompress_batch gpu: unavailable: {}",
            gpu.gpu_unavailable_reason().unwrap_or("GPU off")
        ),
    }
    drop(gpu);

    let mut group = c.benchmark_group("recompress_batch");
    // One iteration of the large shape takes seconds on the CPU: the fewest samples criterion
    // allows, each one iteration.
    group.sample_size(10);
    group.sampling_mode(criterion::SamplingMode::Flat);
    let hot = Encoder::with_level(1, true);
    for (shape, count, frame_bytes) in shapes {
        let frames: Vec<Vec<u8>> = (0..count)
            .map(|i| hot.encode(&corpus::text_like(frame_bytes, i as u64)))
            .collect();
        let refs: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
        group.throughput(Throughput::Bytes((count * frame_bytes) as u64));
        for (name, gpu, threads) in &backends {
            let r = BatchRecompressor::new(BatchConfig {
                level,
                threads: *threads,
                gpu: *gpu,
                nvcomp_path: None,
            });
            let (_, stats) = r.recompress_batch_stats(&refs);
            println!(
                "ratio recompress {shape} {name}: {:.2} (fallback: {:?})",
                stats.original_bytes as f64 / stats.bytes_out as f64,
                stats.fallback_reason
            );
            group.bench_with_input(BenchmarkId::new(name, shape), &refs, |b, refs| {
                b.iter(|| black_box(r.recompress_batch(refs)))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, encode, decode, sample, recompress_batch);
criterion_main!(benches);
