//! The GPU FFI module: nvCOMP's batched zstd compressor (the 5.x API; nvCOMP 6 is called the
//! same way), driven through the CUDA driver API.
//!
//! Both libraries are loaded at run time — the driver (`libcuda`) by cudarc's dynamic
//! loading, nvCOMP by `libloading` — so a build needs no CUDA toolkit and a machine without a
//! GPU only loses this path. [`Gpu::probe`] checks everything once (driver, a device, every
//! nvCOMP symbol, and a small self-test whose output must decode on the CPU); after that every
//! call still returns an error instead of trusting the GPU, and the caller falls back to the
//! CPU on any error.
//!
//! The nvCOMP API used is 5.x's (`nvcomp/zstd.h` of nvCOMP 5.0): `nvcompBatchedZstdCompressOpts_t`
//! is 64 reserved bytes, temporary space is sized by `nvcompBatchedZstdCompressGetTempSizeAsync`,
//! and `nvcompBatchedZstdCompressAsync` takes a per-chunk status array. nvCOMP 4.x exports the
//! same compress symbol with a different signature (no status array, a 4-byte options struct),
//! so a library without the 5.x-only `nvcompBatchedZstdCompressGetTempSizeAsync` is refused
//! rather than called with the wrong arguments.
//!
//! This is the only module of the crate allowed `unsafe` code; every block says why it holds.

#![allow(unsafe_code)]

use cudarc::driver::{CudaContext, CudaSlice, CudaStream, DevicePtr, DevicePtrMut};
use std::ffi::c_void;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Largest frame (original bytes) sent to the GPU. nvCOMP documents 16 MiB as the largest
/// zstd chunk it compresses; larger frames (none under the default frame policy) are
/// compressed on the CPU.
pub(crate) const FRAME_BYTES_MAX: usize = 16 << 20;
/// Most original bytes in one nvCOMP call. A larger batch is compressed in several calls, so
/// the device memory one call holds (inputs, outputs at their worst-case size, scratch) stays
/// near 2.2 times this.
const CALL_BYTES_MAX: usize = 256 << 20;
/// Alignment of every chunk inside the packed input and output buffers. CUDA allocations are
/// at least 256-byte aligned and nvCOMP's zstd asks for 4 to 8 bytes; a larger requirement
/// from a future nvCOMP is refused at probe time.
const CHUNK_ALIGN_BYTES: usize = 256;
/// Bytes of the self-test run by [`Gpu::probe`]: big enough to exercise real compression.
const SELF_TEST_BYTES: usize = 64 << 10;
/// Library names tried, in order, when no nvCOMP path is configured. `libnvcomp.so.6`
/// (nvCOMP 6, e.g. from the `nvidia-libnvcomp-cu13` wheel) is used through the same 5.x
/// entry points: its release notes change no zstd call, and the 5.x-only symbol check and
/// the self-test still guard it. `libnvcomp.so.4` is tried last only so that its presence
/// is reported as "nvCOMP 4 is not supported".
const NVCOMP_NAMES: [&str; 4] = [
    "libnvcomp.so.6",
    "libnvcomp.so.5",
    "libnvcomp.so",
    "libnvcomp.so.4",
];
/// `nvcompSuccess` in `nvcompStatus_t`.
const NVCOMP_SUCCESS: i32 = 0;

/// `nvcompBatchedZstdCompressOpts_t` (nvCOMP 5): reserved bytes that must be zero.
#[repr(C)]
#[derive(Clone, Copy)]
struct ZstdCompressOpts {
    reserved: [u8; 64],
}

const DEFAULT_OPTS: ZstdCompressOpts = ZstdCompressOpts { reserved: [0; 64] };

/// `nvcompAlignmentRequirements_t`.
#[repr(C)]
#[derive(Default)]
struct AlignmentRequirements {
    input: usize,
    output: usize,
    temp: usize,
}

/// `nvcompProperties_t`.
#[repr(C)]
#[derive(Default)]
struct Properties {
    version: u32,
    cudart_version: u32,
}

type GetPropertiesFn = unsafe extern "C" fn(*mut Properties) -> i32;
type GetRequiredAlignmentsFn =
    unsafe extern "C" fn(ZstdCompressOpts, *mut AlignmentRequirements) -> i32;
type GetTempSizeAsyncFn =
    unsafe extern "C" fn(usize, usize, ZstdCompressOpts, *mut usize, usize) -> i32;
type GetMaxOutputChunkSizeFn = unsafe extern "C" fn(usize, ZstdCompressOpts, *mut usize) -> i32;
type CompressAsyncFn = unsafe extern "C" fn(
    *const *const c_void, // device_uncompressed_chunk_ptrs
    *const usize,         // device_uncompressed_chunk_bytes
    usize,                // max_uncompressed_chunk_bytes
    usize,                // num_chunks
    *mut c_void,          // device_temp_ptr
    usize,                // temp_bytes
    *const *mut c_void,   // device_compressed_chunk_ptrs
    *mut usize,           // device_compressed_chunk_bytes
    ZstdCompressOpts,     // compress_opts
    *mut i32,             // device_statuses
    *mut c_void,          // stream (cudaStream_t, the same handle as a CUstream)
) -> i32;

/// The nvCOMP entry points this module calls, and the library that keeps them valid.
struct Nvcomp {
    name: String,
    version: Option<u32>,
    get_required_alignments: GetRequiredAlignmentsFn,
    get_temp_size_async: GetTempSizeAsyncFn,
    get_max_output_chunk_size: GetMaxOutputChunkSizeFn,
    compress_async: CompressAsyncFn,
    // Never unloaded: the function pointers above are copies that must stay valid, and
    // unloading a library that registered kernels with the CUDA runtime is a known source of
    // crashes at exit. A second `Gpu::probe` reopens the same handle, so nothing accumulates
    // but a reference count (cudarc keeps `libcuda` loaded the same way).
    _library: &'static libloading::Library,
}

impl Nvcomp {
    fn load(path: Option<&Path>) -> Result<Self, String> {
        let candidates: Vec<String> = match path {
            Some(p) => vec![p.display().to_string()],
            None => NVCOMP_NAMES.iter().map(|n| n.to_string()).collect(),
        };
        let mut errors = Vec::new();
        for name in &candidates {
            // SAFETY: loading nvCOMP runs its initialisers, which only set up its own state;
            // the library is NVIDIA's, named by the operator or by its standard soname.
            match unsafe { libloading::Library::new(name) } {
                Ok(library) => return Self::bind(name.clone(), library),
                Err(e) => errors.push(format!("{name}: {e}")),
            }
        }
        Err(format!("nvCOMP not found ({})", errors.join("; ")))
    }

    fn bind(name: String, library: libloading::Library) -> Result<Self, String> {
        let library: &'static libloading::Library = Box::leak(Box::new(library));
        const TEMP_SIZE: &[u8] = b"nvcompBatchedZstdCompressGetTempSizeAsync";
        // SAFETY: the symbol's type is `GetTempSizeAsyncFn`, transcribed from nvCOMP 5's
        // `zstd.h`; it is only looked up here, and called after the other checks.
        let get_temp_size_async = match unsafe { library.get::<GetTempSizeAsyncFn>(TEMP_SIZE) } {
            Ok(f) => *f,
            Err(_) => {
                return Err(format!(
                    "{name} lacks nvcompBatchedZstdCompressGetTempSizeAsync: only the nvCOMP 5 \
                     API is supported (nvCOMP 4 is not)"
                ))
            }
        };
        let symbol = |s: &str| format!("{name}: missing {s}");
        // SAFETY (all four lookups): each type is transcribed from nvCOMP 5's `nvcomp.h` and
        // `zstd.h` (see the type aliases); the pointers stay valid while `library` is held,
        // which `Nvcomp` does for as long as it holds them.
        let get_required_alignments = unsafe {
            *library
                .get::<GetRequiredAlignmentsFn>(b"nvcompBatchedZstdCompressGetRequiredAlignments")
                .map_err(|_| symbol("nvcompBatchedZstdCompressGetRequiredAlignments"))?
        };
        // SAFETY: as above.
        let get_max_output_chunk_size = unsafe {
            *library
                .get::<GetMaxOutputChunkSizeFn>(b"nvcompBatchedZstdCompressGetMaxOutputChunkSize")
                .map_err(|_| symbol("nvcompBatchedZstdCompressGetMaxOutputChunkSize"))?
        };
        // SAFETY: as above.
        let compress_async = unsafe {
            *library
                .get::<CompressAsyncFn>(b"nvcompBatchedZstdCompressAsync")
                .map_err(|_| symbol("nvcompBatchedZstdCompressAsync"))?
        };
        // SAFETY: as above; the version is informational, so a missing symbol is no error.
        let get_properties = unsafe { library.get::<GetPropertiesFn>(b"nvcompGetProperties") }
            .ok()
            .map(|f| *f);
        let version = get_properties.and_then(|f| {
            let mut p = Properties::default();
            // SAFETY: `p` is a live `nvcompProperties_t` that nvCOMP fills; nothing else.
            (unsafe { f(&mut p) } == NVCOMP_SUCCESS).then_some(p.version)
        });
        Ok(Self {
            name,
            version,
            get_required_alignments,
            get_temp_size_async,
            get_max_output_chunk_size,
            compress_async,
            _library: library,
        })
    }

    fn check(what: &str, status: i32) -> Result<(), String> {
        if status == NVCOMP_SUCCESS {
            Ok(())
        } else {
            Err(format!("{what} returned nvcompStatus_t {status}"))
        }
    }

    fn alignments(&self) -> Result<AlignmentRequirements, String> {
        let mut a = AlignmentRequirements::default();
        // SAFETY: `a` is a live `nvcompAlignmentRequirements_t` nvCOMP writes to; the options
        // are the documented all-zero defaults. Host-only call.
        let status = unsafe { (self.get_required_alignments)(DEFAULT_OPTS, &mut a) };
        Self::check("nvcompBatchedZstdCompressGetRequiredAlignments", status)?;
        Ok(a)
    }

    fn temp_bytes(&self, chunks: usize, chunk_max: usize, total: usize) -> Result<usize, String> {
        let mut bytes = 0usize;
        // SAFETY: host-only sizing call writing one `size_t` to `bytes`.
        let status = unsafe {
            (self.get_temp_size_async)(chunks, chunk_max, DEFAULT_OPTS, &mut bytes, total)
        };
        Self::check("nvcompBatchedZstdCompressGetTempSizeAsync", status)?;
        Ok(bytes)
    }

    fn max_output_bytes(&self, chunk_max: usize) -> Result<usize, String> {
        let mut bytes = 0usize;
        // SAFETY: host-only sizing call writing one `size_t` to `bytes`.
        let status =
            unsafe { (self.get_max_output_chunk_size)(chunk_max, DEFAULT_OPTS, &mut bytes) };
        Self::check("nvcompBatchedZstdCompressGetMaxOutputChunkSize", status)?;
        Ok(bytes)
    }
}

/// A CUDA device with nvCOMP, checked by [`Gpu::probe`]. Batches take turns on its stream.
pub(crate) struct Gpu {
    device: String,
    nvcomp: Nvcomp,
    ctx: Arc<CudaContext>,
    stream: Mutex<Arc<CudaStream>>,
}

impl fmt::Debug for Gpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gpu")
            .field("description", &self.description())
            .finish_non_exhaustive()
    }
}

impl Gpu {
    /// Finds device 0 and nvCOMP, or says why not. Panics inside the CUDA bindings (cudarc
    /// panics on a missing driver symbol) are caught and reported like errors.
    pub(crate) fn probe(nvcomp_path: Option<&Path>) -> Result<Self, String> {
        catch_unwind(AssertUnwindSafe(|| Self::probe_inner(nvcomp_path)))
            .unwrap_or_else(|panic| Err(format!("CUDA bindings panicked: {}", panic_text(&panic))))
    }

    fn probe_inner(nvcomp_path: Option<&Path>) -> Result<Self, String> {
        // SAFETY: tries to open `libcuda` by its standard names and closes it again; opening
        // the NVIDIA driver library runs only its own initialisers.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err("the CUDA driver library (libcuda) was not found".to_string());
        }
        let devices = CudaContext::device_count().map_err(|e| format!("CUDA driver: {e}"))?;
        if devices < 1 {
            return Err("the CUDA driver reports no device".to_string());
        }
        let ctx = CudaContext::new(0).map_err(|e| format!("CUDA context on device 0: {e}"))?;
        let device = ctx.name().unwrap_or_else(|_| "CUDA device 0".to_string());
        let stream = ctx
            .new_stream()
            .map_err(|e| format!("CUDA stream on device 0: {e}"))?;
        let nvcomp = Nvcomp::load(nvcomp_path)?;
        let align = nvcomp.alignments()?;
        if [align.input, align.output, align.temp]
            .iter()
            .any(|&a| a == 0 || CHUNK_ALIGN_BYTES % a != 0)
        {
            return Err(format!(
                "{}: alignment requirements {}/{}/{} do not divide {CHUNK_ALIGN_BYTES}",
                nvcomp.name, align.input, align.output, align.temp
            ));
        }
        let gpu = Self {
            device,
            nvcomp,
            ctx,
            stream: Mutex::new(stream),
        };
        gpu.self_test()?;
        Ok(gpu)
    }

    /// Compresses a repetitive buffer and checks the output decodes back on the CPU: catches
    /// a library whose ABI differs from the one transcribed here before any frame depends on it.
    fn self_test(&self) -> Result<(), String> {
        let text: Vec<u8> = b"stratum gpu self-test: cold frames, recompressed in batches. "
            .iter()
            .copied()
            .cycle()
            .take(SELF_TEST_BYTES)
            .collect();
        let outputs = self.compress(&[&text, &text[..1000]])?;
        for (out, want) in outputs.iter().zip([&text[..], &text[..1000]]) {
            let mut decoded = Vec::with_capacity(want.len());
            zstd::bulk::Decompressor::new()
                .and_then(|mut d| d.decompress_to_buffer(out.as_slice(), &mut decoded))
                .map_err(|e| format!("GPU self-test output does not decode: {e}"))?;
            if decoded != want {
                return Err("GPU self-test output decodes to other bytes".to_string());
            }
        }
        Ok(())
    }

    /// Device name and nvCOMP library, for reports.
    pub(crate) fn description(&self) -> String {
        let version = self
            .nvcomp
            .version
            .map_or_else(|| "version unknown".to_string(), |v| format!("version {v}"));
        format!("{} with {} ({version})", self.device, self.nvcomp.name)
    }

    /// One standard zstd frame per chunk, in order; each chunk at most [`FRAME_BYTES_MAX`].
    /// Any error (or a panic in the CUDA bindings) is returned as its reason.
    pub(crate) fn compress(&self, chunks: &[&[u8]]) -> Result<Vec<Vec<u8>>, String> {
        let stream = self
            .stream
            .lock()
            .map_err(|_| "GPU stream lock poisoned by an earlier panic".to_string())?;
        catch_unwind(AssertUnwindSafe(|| {
            let mut out = Vec::with_capacity(chunks.len());
            let mut start = 0;
            while start < chunks.len() {
                // At least one chunk per call; then as many as fit under the call limit.
                let mut end = start + 1;
                let mut bytes = chunks[start].len();
                while end < chunks.len() && bytes + chunks[end].len() <= CALL_BYTES_MAX {
                    bytes += chunks[end].len();
                    end += 1;
                }
                out.extend(self.compress_call(&stream, &chunks[start..end])?);
                start = end;
            }
            Ok(out)
        }))
        .unwrap_or_else(|panic| Err(format!("CUDA bindings panicked: {}", panic_text(&panic))))
    }

    /// One nvCOMP call: pack the chunks into one device buffer, compress into fixed-size output
    /// slots, copy back and cut out each chunk's frame.
    fn compress_call(
        &self,
        stream: &Arc<CudaStream>,
        chunks: &[&[u8]],
    ) -> Result<Vec<Vec<u8>>, String> {
        if chunks.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(c) = chunks
            .iter()
            .find(|c| c.is_empty() || c.len() > FRAME_BYTES_MAX)
        {
            return Err(format!(
                "chunk of {} bytes outside 1..={FRAME_BYTES_MAX}",
                c.len()
            ));
        }
        self.ctx.bind_to_thread().map_err(cuda("bind context"))?;
        let n = chunks.len();
        let chunk_max = chunks.iter().map(|c| c.len()).max().unwrap_or(0);
        let total: usize = chunks.iter().map(|c| c.len()).sum();
        let temp_bytes = self.nvcomp.temp_bytes(n, chunk_max, total)?;
        let out_max = self.nvcomp.max_output_bytes(chunk_max)?;
        let out_stride = out_max.next_multiple_of(CHUNK_ALIGN_BYTES);

        // Inputs, packed at aligned offsets into one host buffer and one device copy.
        let mut offsets = Vec::with_capacity(n);
        let mut packed = Vec::with_capacity(total + n * CHUNK_ALIGN_BYTES);
        for c in chunks {
            offsets.push(packed.len());
            packed.extend_from_slice(c);
            packed.resize(packed.len().next_multiple_of(CHUNK_ALIGN_BYTES), 0);
        }
        let sizes: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
        let d_in: CudaSlice<u8> = stream.clone_htod(&packed).map_err(cuda("copy inputs"))?;
        let d_in_sizes = stream.clone_htod(&sizes).map_err(cuda("copy sizes"))?;
        let mut d_out = stream
            .alloc_zeros::<u8>(n * out_stride)
            .map_err(cuda("allocate outputs"))?;
        let mut d_out_sizes = stream
            .alloc_zeros::<usize>(n)
            .map_err(cuda("allocate sizes"))?;
        let mut d_statuses = stream
            .alloc_zeros::<i32>(n)
            .map_err(cuda("allocate statuses"))?;
        let mut d_temp = stream
            .alloc_zeros::<u8>(temp_bytes.max(1))
            .map_err(cuda("allocate scratch"))?;

        {
            let (in_base, _in_guard) = d_in.device_ptr(stream);
            let (out_base, _out_guard) = d_out.device_ptr_mut(stream);
            if in_base % CHUNK_ALIGN_BYTES as u64 != 0 || out_base % CHUNK_ALIGN_BYTES as u64 != 0 {
                return Err("device buffers are not 256-byte aligned".to_string());
            }
            let in_ptrs: Vec<u64> = offsets.iter().map(|&o| in_base + o as u64).collect();
            let out_ptrs: Vec<u64> = (0..n).map(|i| out_base + (i * out_stride) as u64).collect();
            let d_in_ptrs = stream.clone_htod(&in_ptrs).map_err(cuda("copy pointers"))?;
            let d_out_ptrs = stream
                .clone_htod(&out_ptrs)
                .map_err(cuda("copy pointers"))?;
            let (in_ptrs_at, _g1) = d_in_ptrs.device_ptr(stream);
            let (in_sizes_at, _g2) = d_in_sizes.device_ptr(stream);
            let (out_ptrs_at, _g3) = d_out_ptrs.device_ptr(stream);
            let (out_sizes_at, _g4) = d_out_sizes.device_ptr_mut(stream);
            let (statuses_at, _g5) = d_statuses.device_ptr_mut(stream);
            let (temp_at, _g6) = d_temp.device_ptr_mut(stream);
            // SAFETY: every pointer is a live device allocation of this context, enqueued on
            // `stream` after the copies that fill it and kept alive (with its guard) until the
            // call is enqueued; the stream is synchronised below before any of them is freed
            // or read. Sizes match nvCOMP's contract: `n` input pointers to chunks of
            // `sizes[i] <= chunk_max` bytes at 256-byte-aligned addresses, `n` output slots of
            // `out_stride >= GetMaxOutputChunkSize(chunk_max)` bytes, `n` size and status
            // slots, and `temp_bytes` of scratch as GetTempSizeAsync asked for.
            let status = unsafe {
                (self.nvcomp.compress_async)(
                    in_ptrs_at as usize as *const *const c_void,
                    in_sizes_at as usize as *const usize,
                    chunk_max,
                    n,
                    temp_at as usize as *mut c_void,
                    temp_bytes,
                    out_ptrs_at as usize as *const *mut c_void,
                    out_sizes_at as usize as *mut usize,
                    DEFAULT_OPTS,
                    statuses_at as usize as *mut i32,
                    stream.cu_stream() as *mut c_void,
                )
            };
            Nvcomp::check("nvcompBatchedZstdCompressAsync", status)?;
        }

        let out_sizes = stream
            .clone_dtoh(&d_out_sizes)
            .map_err(cuda("copy sizes back"))?;
        let statuses = stream
            .clone_dtoh(&d_statuses)
            .map_err(cuda("copy statuses back"))?;
        let out = stream
            .clone_dtoh(&d_out)
            .map_err(cuda("copy outputs back"))?;
        stream.synchronize().map_err(cuda("synchronize"))?;
        // The scratch buffer is only written by nvCOMP; release it after the stream is idle.
        drop(d_temp);

        let mut frames = Vec::with_capacity(n);
        for i in 0..n {
            if statuses[i] != NVCOMP_SUCCESS {
                return Err(format!(
                    "nvCOMP chunk {i} failed with nvcompStatus_t {}",
                    statuses[i]
                ));
            }
            if out_sizes[i] == 0 || out_sizes[i] > out_stride {
                return Err(format!("nvCOMP chunk {i} reported {} bytes", out_sizes[i]));
            }
            let at = i * out_stride;
            frames.push(out[at..at + out_sizes[i]].to_vec());
        }
        Ok(frames)
    }
}

/// Turns a CUDA driver error into a fallback reason naming the step that failed.
fn cuda(what: &'static str) -> impl Fn(cudarc::driver::DriverError) -> String {
    move |e| format!("CUDA {what}: {e}")
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".to_string())
}
