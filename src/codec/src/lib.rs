//! The S4F2 frame format: Stratum's unit of compression and checksumming.
//!
//! This crate owns the frame format (`docs/format/s4f2.md`): a 24-byte header followed by
//! the stored bytes, either passthrough or one standard zstd frame. It owns the choice of
//! codec per frame (zstd at a configured level, or passthrough when cheap sampling says the
//! data will not shrink), the [`FrameCutter`] that cuts a body into frames following the
//! [`FramePolicy`](stratum_core::config::FramePolicy), and the recompression of frames at
//! another level for the background path, one frame at a time ([`recompress`]) or in batches
//! on CPU threads or a GPU ([`BatchRecompressor`]).
//!
//! Invariants:
//! - every frame decodes alone: no frame refers to another, and a zstd frame's stored bytes
//!   are a complete standard zstd frame that any zstd decoder reads;
//! - a frame's stored bytes are never longer than its original bytes, so a frame is never
//!   longer than `original + FRAME_HEADER_BYTES`;
//! - no decoded byte reaches a caller before the header checksum, the lengths and the CRC32C
//!   of the original bytes have been verified: corruption is an error, never wrong data;
//! - frame boundaries depend only on offsets and the policy, never on how a body arrived.
//!
//! It never does I/O, never reads a clock and never spawns tasks or threads that outlive a
//! call: the one exception to "no threads" is [`BatchRecompressor`], whose CPU path runs a
//! batch on scoped worker threads that are joined before the call returns. Callers run its
//! CPU work wherever they like (off the reactor). Per-thread zstd contexts are its only
//! state, and they carry nothing from one frame to the next. Its only `unsafe` code is the
//! GPU FFI module behind the `gpu` feature, which loads the CUDA driver and nvCOMP at run
//! time (loading a shared library is not file I/O of stored data).
//!
//! ```
//! use stratum_codec::{decode, CodecId, Encoder, read_header};
//!
//! let text = b"to be or not to be, that is the question; to be or not to be".repeat(100);
//! let frame = Encoder::with_level(3, true).encode(&text);
//! assert_eq!(read_header(&frame)?.codec, CodecId::Zstd);
//! assert_eq!(decode(&frame)?, text);
//! # Ok::<(), stratum_codec::CodecError>(())
//! ```

mod batch;
mod context;
#[doc(hidden)]
pub mod corpus;
mod cutter;
mod decode;
mod encode;
mod frame;

pub use batch::{Backend, BatchConfig, BatchRecompressor, BatchStats, GpuMode};
pub use cutter::FrameCutter;
pub use decode::{decode, decode_into, recompress};
pub use encode::{worth_compressing, Encoder};
pub use frame::{
    read_header, CodecError, CodecId, FrameHeader, FRAME_HEADER_BYTES, FRAME_MAGIC, FRAME_VERSION,
};
