//! Batch recompression: re-encoding many frames in one call, for the tier mover's cold path.
//!
//! [`BatchRecompressor::recompress_batch`] gives, for every input frame, what
//! [`crate::recompress`] gives for it alone: the input is verified first (a bad frame is an
//! error for its own entry only), the output is a valid S4F2 frame that [`crate::decode`]
//! reads, and it is never longer than the input (a copy of the input when re-encoding would
//! not shrink it).
//!
//! Two backends do the compressing:
//! - **CPU**: the frames are shared among `threads` scoped worker threads, each taking the next
//!   unclaimed frame, so one large frame does not leave the others idle. Every frame is
//!   encoded exactly as [`crate::recompress`] encodes it, so the bytes do not depend on the
//!   thread count. The workers are joined before the call returns: nothing outlives a batch.
//! - **GPU** (cargo feature `gpu`, [`GpuMode::Auto`]): nvCOMP's batched zstd compressor on an
//!   NVIDIA GPU, with the CUDA driver and nvCOMP both loaded at run time (`batch/gpu.rs`).
//!   Verification of the inputs stays on the CPU. nvCOMP has no compression levels, so
//!   `level` applies to the CPU path only. Each GPU output is wrapped in an S4F2 header as the
//!   CPU encoder writes it and then decoded on the CPU and compared with the original before
//!   it is used; a frame that fails that check is re-encoded on the CPU.
//!
//! Fallback rules: a GPU that cannot be used at construction (no driver, no device, no
//! nvCOMP 5, a failed self-test) makes the backend [`Backend::Cpu`] for the recompressor's
//! life, with the reason in [`BatchRecompressor::gpu_unavailable_reason`]. An error at any
//! step of a GPU batch sends the whole batch to the CPU, with the reason in
//! [`BatchStats::fallback_reason`]; the next batch tries the GPU again.

#[cfg(feature = "gpu")]
mod gpu;

use crate::decode::{reencode, verified_original};
use crate::encode::Encoder;
#[cfg(feature = "gpu")]
use crate::frame::FrameHeader;
use crate::frame::{read_header, CodecError};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Whether a [`BatchRecompressor`] may use a GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GpuMode {
    /// CPU only; no GPU library is looked for.
    #[default]
    Off,
    /// Use a GPU when the build has the `gpu` feature and the machine has the CUDA driver, a
    /// device and nvCOMP 5; otherwise the CPU, with the reason recorded.
    Auto,
}

/// Where a [`BatchRecompressor`] compresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// zstd on CPU worker threads.
    Cpu,
    /// nvCOMP zstd on a GPU (CPU for verification and for fallbacks).
    Gpu,
}

/// How a [`BatchRecompressor`] works.
#[derive(Debug, Clone)]
pub struct BatchConfig {
    /// zstd level of the CPU path, clamped to zstd's range as [`Encoder::with_level`] does.
    /// The GPU path ignores it: nvCOMP's zstd compressor has no levels.
    pub level: i32,
    /// CPU worker threads per batch; 0 means one per available core. They verify inputs and
    /// check GPU outputs on the GPU path too.
    pub threads: usize,
    /// Whether to look for a GPU.
    pub gpu: GpuMode,
    /// The nvCOMP shared library to load; `None` tries `libnvcomp.so.6`, `libnvcomp.so.5`,
    /// then `libnvcomp.so` on the loader's search path.
    pub nvcomp_path: Option<PathBuf>,
}

impl Default for BatchConfig {
    /// Level 19 (cold frames are read rarely, so decode speed matters less than size), one
    /// thread per core, CPU only.
    fn default() -> Self {
        Self {
            level: 19,
            threads: 0,
            gpu: GpuMode::Off,
            nvcomp_path: None,
        }
    }
}

/// What one batch did, returned by [`BatchRecompressor::recompress_batch_stats`]. Counters are
/// per call; a caller that wants totals adds them up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Entries in the batch.
    pub frames: usize,
    /// Entries that are errors (input frames that did not verify).
    pub errors: usize,
    /// Bytes of all input frames, headers included.
    pub bytes_in: u64,
    /// Bytes of the output frames of the entries that are not errors, headers included.
    pub bytes_out: u64,
    /// Decoded bytes of the entries that are not errors: the figure throughput is quoted in.
    pub original_bytes: u64,
    /// Frames compressed on the GPU whose output passed the CPU check and was used.
    pub gpu_frames: usize,
    /// Frames meant for the GPU that the CPU compressed instead: the whole batch after a GPU
    /// error, a frame whose GPU output failed the check, or one over the GPU's frame limit.
    /// Always 0 on [`Backend::Cpu`].
    pub cpu_fallback_frames: usize,
    /// Why frames fell back, when some did (the last reason when there were several).
    pub fallback_reason: Option<String>,
}

/// Recompresses batches of frames on the CPU or a GPU; see the module documentation.
///
/// It is `Send + Sync`: batches may come from several threads (GPU batches then take turns).
#[derive(Debug)]
pub struct BatchRecompressor {
    level: i32,
    threads: usize,
    #[cfg(feature = "gpu")]
    gpu: Option<gpu::Gpu>,
    gpu_unavailable: Option<String>,
}

impl BatchRecompressor {
    /// A recompressor for `config`. With [`GpuMode::Auto`] this looks for the GPU now (loading
    /// the CUDA driver and nvCOMP and running a small self-test); any failure leaves the
    /// recompressor on the CPU, with the reason in [`Self::gpu_unavailable_reason`].
    pub fn new(config: BatchConfig) -> Self {
        let threads = match config.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let level = Encoder::with_level(config.level, false).level();
        let mut recompressor = Self {
            level,
            threads,
            #[cfg(feature = "gpu")]
            gpu: None,
            gpu_unavailable: None,
        };
        if config.gpu == GpuMode::Auto {
            #[cfg(feature = "gpu")]
            match gpu::Gpu::probe(config.nvcomp_path.as_deref()) {
                Ok(gpu) => recompressor.gpu = Some(gpu),
                Err(reason) => recompressor.gpu_unavailable = Some(reason),
            }
            #[cfg(not(feature = "gpu"))]
            {
                let _ = &config.nvcomp_path;
                recompressor.gpu_unavailable =
                    Some("stratum-codec was built without the `gpu` feature".to_string());
            }
        }
        recompressor
    }

    /// Where batches are compressed.
    pub fn backend(&self) -> Backend {
        #[cfg(feature = "gpu")]
        if self.gpu.is_some() {
            return Backend::Gpu;
        }
        Backend::Cpu
    }

    /// Why a GPU was asked for ([`GpuMode::Auto`]) but is not used; `None` when the GPU is in
    /// use or was not asked for.
    pub fn gpu_unavailable_reason(&self) -> Option<&str> {
        self.gpu_unavailable.as_deref()
    }

    /// The GPU in use (device and nvCOMP version), for reports; `None` on the CPU backend.
    pub fn gpu_description(&self) -> Option<String> {
        #[cfg(feature = "gpu")]
        if let Some(gpu) = &self.gpu {
            return Some(gpu.description());
        }
        None
    }

    /// The zstd level of the CPU path (after clamping).
    pub fn level(&self) -> i32 {
        self.level
    }

    /// CPU worker threads per batch (after resolving 0 to the core count).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Recompresses every frame of `frames`; entry `i` of the result is frame `i`'s, as
    /// [`crate::recompress`] would give it.
    pub fn recompress_batch(&self, frames: &[&[u8]]) -> Vec<Result<Vec<u8>, CodecError>> {
        self.recompress_batch_stats(frames).0
    }

    /// [`Self::recompress_batch`], with what the batch did.
    pub fn recompress_batch_stats(
        &self,
        frames: &[&[u8]],
    ) -> (Vec<Result<Vec<u8>, CodecError>>, BatchStats) {
        let mut stats = BatchStats::default();
        #[cfg(feature = "gpu")]
        if let Some(gpu) = &self.gpu {
            let results = self.gpu_batch(gpu, frames, &mut stats);
            stats.tally(frames, &results);
            return (results, stats);
        }
        let results = parallel_map(frames, self.threads, |frame| {
            let header = read_header(frame)?;
            let original = verified_original(frame, &header)?;
            Ok(reencode(frame, &header, &original, self.level))
        });
        stats.tally(frames, &results);
        (results, stats)
    }

    /// The GPU path: verify on the CPU, compress the frames worth it on the GPU, check each
    /// GPU output on the CPU, and re-encode on the CPU whatever the GPU did not deliver.
    #[cfg(feature = "gpu")]
    fn gpu_batch(
        &self,
        gpu: &gpu::Gpu,
        frames: &[&[u8]],
        stats: &mut BatchStats,
    ) -> Vec<Result<Vec<u8>, CodecError>> {
        use crate::decode::shorter_or_input;
        use crate::encode::worth_compressing;
        use crate::frame::CodecId;

        // 1. Verify every input (and decode the zstd ones) on the CPU workers. A frame that
        // does not verify has its answer now.
        let verified = parallel_map(frames, self.threads, |frame| {
            let header = read_header(frame)?;
            let original = verified_original(frame, &header)?;
            Ok(Verified { header, original })
        });
        let mut results: Vec<Option<Result<Vec<u8>, CodecError>>> =
            (0..frames.len()).map(|_| None).collect();
        let mut sound: Vec<(usize, Verified<'_>)> = Vec::with_capacity(frames.len());
        for (i, v) in verified.into_iter().enumerate() {
            match v {
                Ok(v) => sound.push((i, v)),
                Err(e) => results[i] = Some(Err(e)),
            }
        }

        // 2. Choose the frames for the GPU: as the CPU encoder does, an empty frame is not
        // compressed and a passthrough one only when sampling says it will shrink. Frames over
        // the GPU's limit stay on the CPU.
        let mut to_gpu = Vec::new();
        let mut over_limit = 0usize;
        for (k, (_, v)) in sound.iter().enumerate() {
            let wanted = !v.original.is_empty()
                && (v.header.codec == CodecId::Zstd || worth_compressing(&v.original));
            if !wanted {
                continue;
            }
            if v.original.len() > gpu::FRAME_BYTES_MAX {
                over_limit += 1;
                continue;
            }
            to_gpu.push(k);
        }
        if over_limit > 0 {
            stats.cpu_fallback_frames += over_limit;
            stats.fallback_reason = Some(format!(
                "{over_limit} frames over the GPU frame limit of {} bytes",
                gpu::FRAME_BYTES_MAX
            ));
        }

        // 3. Compress on the GPU; any error sends every chosen frame to the CPU.
        let originals: Vec<&[u8]> = to_gpu.iter().map(|&k| &sound[k].1.original[..]).collect();
        let mut gpu_outputs: Vec<Option<Vec<u8>>> = (0..sound.len()).map(|_| None).collect();
        match gpu.compress(&originals) {
            Ok(raws) => {
                for (&k, raw) in to_gpu.iter().zip(raws) {
                    gpu_outputs[k] = Some(raw);
                }
            }
            Err(reason) => {
                stats.cpu_fallback_frames += to_gpu.len();
                stats.fallback_reason = Some(reason);
            }
        }

        // 4. Wrap and check each GPU output; re-encode on the CPU where there is none or it
        // fails the check.
        let jobs: Vec<_> = sound.iter().zip(gpu_outputs).collect();
        let outcomes = parallel_map(&jobs, self.threads, |((i, v), raw)| {
            let frame = frames[*i];
            let cpu = || reencode(frame, &v.header, &v.original, self.level);
            match raw {
                Some(raw) => match checked_gpu_frame(frame, v, raw) {
                    Some(candidate) => (shorter_or_input(frame, candidate), Source::Gpu),
                    None => (cpu(), Source::CheckFailed),
                },
                None => (cpu(), Source::Cpu),
            }
        });
        let mut check_failed = 0usize;
        for ((i, _), (bytes, source)) in sound.iter().zip(outcomes) {
            match source {
                Source::Gpu => stats.gpu_frames += 1,
                Source::CheckFailed => check_failed += 1,
                Source::Cpu => {}
            }
            results[*i] = Some(Ok(bytes));
        }
        if check_failed > 0 {
            stats.cpu_fallback_frames += check_failed;
            stats.fallback_reason = Some(format!(
                "{check_failed} GPU outputs failed the CPU decode check"
            ));
        }
        results
            .into_iter()
            .map(|r| r.expect("every entry is an error or has an output"))
            .collect()
    }
}

impl BatchStats {
    /// Fills the counters that depend only on the inputs and the results.
    fn tally(&mut self, frames: &[&[u8]], results: &[Result<Vec<u8>, CodecError>]) {
        self.frames = frames.len();
        self.bytes_in = frames.iter().map(|f| f.len() as u64).sum();
        for (frame, result) in frames.iter().zip(results) {
            match result {
                Ok(out) => {
                    self.bytes_out += out.len() as u64;
                    // The output verified (or is a copy of a verified input): its header is
                    // sound, and the original length is the same in both.
                    if let Ok(header) = read_header(frame) {
                        self.original_bytes += u64::from(header.original_bytes);
                    }
                }
                Err(_) => self.errors += 1,
            }
        }
    }
}

/// A verified input frame: its header and original bytes.
#[cfg(feature = "gpu")]
struct Verified<'a> {
    header: FrameHeader,
    original: std::borrow::Cow<'a, [u8]>,
}

/// Where a frame's output came from on the GPU path.
#[cfg(feature = "gpu")]
enum Source {
    Gpu,
    CheckFailed,
    Cpu,
}

/// The frame for a GPU output `raw` (one zstd frame of `v.original`), or `None` when it is
/// not exactly one zstd frame or does not decode back to the original on the CPU. Stored
/// bytes that are not shorter than the original give the input frame back, as the CPU
/// encoder's passthrough rule would.
#[cfg(feature = "gpu")]
fn checked_gpu_frame(frame: &[u8], v: &Verified<'_>, raw: &[u8]) -> Option<Vec<u8>> {
    if raw.len() >= v.original.len() {
        // A passthrough frame of the original is never shorter than the input frame.
        return Some(frame.to_vec());
    }
    // Exactly one standard zstd frame, as the format requires: no trailing frames or bytes.
    if zstd::zstd_safe::find_frame_compressed_size(raw) != Ok(raw.len()) {
        return None;
    }
    let header = FrameHeader {
        codec: crate::frame::CodecId::Zstd,
        original_bytes: v.header.original_bytes,
        // Cannot truncate: shorter than the original, whose length is a u32.
        stored_bytes: raw.len() as u32,
        crc32c: v.header.crc32c,
    };
    let mut candidate = Vec::with_capacity(header.frame_bytes());
    candidate.extend_from_slice(&header.to_bytes());
    candidate.extend_from_slice(raw);
    match crate::decode(&candidate) {
        Ok(decoded) if decoded[..] == v.original[..] => Some(candidate),
        _ => None,
    }
}

/// `f` applied to every item, on up to `threads` scoped threads that each take the next
/// unclaimed item; results in input order. With one thread, or one item, it runs on the
/// caller's thread and spawns nothing.
fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = threads.min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            done.push((i, f(item)));
        }
        done
    };
    let mut slots: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads).map(|_| scope.spawn(work)).collect();
        for worker in workers {
            // A worker panics only if `f` does; pass the panic on, as the one-thread path would.
            let done = worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            for (i, r) in done {
                slots[i] = Some(r);
            }
        }
    });
    slots
        .into_iter()
        .map(|r| r.expect("every item is claimed by exactly one worker"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_map_keeps_order_for_any_thread_count() {
        let items: Vec<u32> = (0..97).collect();
        for threads in [0, 1, 2, 3, 8, 200] {
            let out = parallel_map(&items, threads, |x| x * 2);
            assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        }
        assert!(parallel_map(&[] as &[u32], 4, |x| *x).is_empty());
    }

    #[test]
    fn recompressor_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<BatchRecompressor>();
    }

    #[test]
    fn zero_threads_means_every_core_and_levels_are_clamped() {
        let r = BatchRecompressor::new(BatchConfig {
            level: 1000,
            ..BatchConfig::default()
        });
        assert!(r.threads() >= 1);
        assert_eq!(r.level(), *zstd::compression_level_range().end());
        assert_eq!(r.backend(), Backend::Cpu);
        assert_eq!(r.gpu_unavailable_reason(), None);
    }
}
