//! Batch recompression throughput, CPU against GPU: prints one table row per batch shape,
//! level and backend, in MB/s of original bytes (decoding the input frames included).
//!
//! The inputs are text-like frames written at zstd level 1, as the hot tier writes them, in
//! two batch shapes: many small frames (256 × 16 KiB) and few large ones (8 × 4 MiB). The CPU
//! runs with one thread and with every core; the GPU row says why when there is no GPU.
//!
//! The GPU gets each whole batch in one call (after a one-frame warm-up call), since the batch
//! shape is what decides how well it is used. The CPU compresses each frame alone whatever the
//! call, so to keep level 19 on two cores within a minute its rows go through the batch in
//! calls of at least `threads` frames and [`CALL_BYTES_MIN`] (the whole small batch; one
//! large frame per worker) and stop after the call that passes [`ROW_SECONDS_MAX`]; the
//! `frames` column says how many were timed.
//!
//! `cargo run --release -p stratum-codec --features gpu --example recompress_bench`
//! (about 20 s on 2 cores; set `RECOMPRESS_BENCH_NVCOMP` to an nvCOMP 5 library path if it is
//! not on the loader's path).

use std::time::Instant;
use stratum_codec::{corpus, Backend, BatchConfig, BatchRecompressor, Encoder, GpuMode};

/// (label, frames, original bytes per frame).
const SHAPES: [(&str, usize, usize); 2] =
    [("256 x 16 KiB", 256, 16 << 10), ("8 x 4 MiB", 8, 4 << 20)];
const LEVELS: [i32; 2] = [19, 9];
/// Time after which a CPU row stops taking more frames.
const ROW_SECONDS_MAX: f64 = 3.0;
/// Fewest original bytes in one CPU call, so that per-call costs (spawning the workers, their
/// fresh zstd contexts) weigh as little as in a real batch.
const CALL_BYTES_MIN: usize = 4 << 20;

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let nvcomp_path = std::env::var_os("RECOMPRESS_BENCH_NVCOMP").map(Into::into);
    println!("cores: {cores}");
    println!(
        "{:<14} {:>5} {:<9} {:>7} {:>6} {:>9} {:>6} {:>7}",
        "batch", "level", "backend", "threads", "frames", "MB/s", "ratio", "seconds"
    );
    for (label, count, frame_bytes) in SHAPES {
        let hot = Encoder::with_level(1, true);
        let originals: Vec<Vec<u8>> = (0..count)
            .map(|i| corpus::text_like(frame_bytes, i as u64))
            .collect();
        let frames: Vec<Vec<u8>> = originals.iter().map(|o| hot.encode(o)).collect();
        let refs: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
        for level in LEVELS {
            for threads in [1, cores] {
                let r = BatchRecompressor::new(BatchConfig {
                    level,
                    threads,
                    gpu: GpuMode::Off,
                    nvcomp_path: None,
                });
                let rows = Row {
                    label,
                    level,
                    backend: "cpu",
                    threads: threads.to_string(),
                };
                rows.cpu(&r, &refs, frame_bytes);
            }
            let gpu = BatchRecompressor::new(BatchConfig {
                level,
                threads: cores,
                gpu: GpuMode::Auto,
                nvcomp_path: nvcomp_path.clone(),
            });
            match gpu.backend() {
                Backend::Gpu => {
                    let rows = Row {
                        label,
                        level,
                        backend: "gpu",
                        threads: "-".to_string(),
                    };
                    rows.gpu(&gpu, &refs);
                }
                Backend::Cpu => println!(
                    "{label:<14} {level:>5} {:<9} unavailable: {}",
                    "gpu",
                    gpu.gpu_unavailable_reason().unwrap_or("GPU off")
                ),
            }
        }
    }
}

/// One line of the table.
struct Row<'a> {
    label: &'a str,
    level: i32,
    backend: &'a str,
    threads: String,
}

/// What a row measured.
#[derive(Default)]
struct Tally {
    frames: usize,
    original_bytes: u64,
    bytes_out: u64,
    seconds: f64,
    notes: Vec<String>,
}

impl Tally {
    fn add(&mut self, frames: &[&[u8]], r: &BatchRecompressor, started: Instant) {
        let (_, stats) = r.recompress_batch_stats(frames);
        self.seconds += started.elapsed().as_secs_f64();
        assert_eq!(stats.errors, 0, "every bench frame is sound");
        self.frames += stats.frames;
        self.original_bytes += stats.original_bytes;
        self.bytes_out += stats.bytes_out;
        if let Some(reason) = stats.fallback_reason {
            self.notes.push(format!(
                "{} frames fell back: {reason}",
                stats.cpu_fallback_frames
            ));
        }
    }
}

impl Row<'_> {
    /// Calls of at least `threads` frames and [`CALL_BYTES_MIN`] until [`ROW_SECONDS_MAX`]
    /// has passed.
    fn cpu(&self, r: &BatchRecompressor, frames: &[&[u8]], frame_bytes: usize) {
        let per_call = r.threads().max(CALL_BYTES_MIN.div_ceil(frame_bytes));
        let mut tally = Tally::default();
        for slice in frames.chunks(per_call) {
            tally.add(slice, r, Instant::now());
            if tally.seconds > ROW_SECONDS_MAX {
                break;
            }
        }
        self.print(&tally);
    }

    /// The whole batch in one call, after a one-frame warm-up call (CUDA memory pools, nvCOMP
    /// setup).
    fn gpu(&self, r: &BatchRecompressor, frames: &[&[u8]]) {
        let _ = r.recompress_batch(&frames[..1]);
        let mut tally = Tally::default();
        tally.add(frames, r, Instant::now());
        self.print(&tally);
    }

    fn print(&self, t: &Tally) {
        let mb_s = t.original_bytes as f64 / t.seconds.max(1e-9) / 1e6;
        let ratio = t.original_bytes as f64 / t.bytes_out.max(1) as f64;
        println!(
            "{:<14} {:>5} {:<9} {:>7} {:>6} {mb_s:>9.1} {ratio:>6.2} {:>7.2}{}",
            self.label,
            self.level,
            self.backend,
            self.threads,
            t.frames,
            t.seconds,
            t.notes
                .iter()
                .map(|n| format!("  ({n})"))
                .collect::<String>()
        );
    }
}
