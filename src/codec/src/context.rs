//! Per-thread zstd contexts, reused across frames.
//!
//! Creating a zstd context allocates and initialises several hundred KiB of tables; doing it
//! per frame would cost more than compressing a small frame. Each thread keeps one
//! compressor (re-levelled when a caller asks for another level), one level-1 compressor for
//! sampling, and one decompressor. They are caches of scratch memory only: no state carries
//! from one frame to the next, so two stores in one process (or one test) cannot observe
//! each other through them.

use std::cell::RefCell;
use std::io;
use zstd::bulk::{Compressor, Decompressor};

thread_local! {
    static COMPRESSOR: RefCell<Option<(i32, Compressor<'static>)>> = const { RefCell::new(None) };
    static SAMPLER: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

/// Level of the sampling compressor: the cheapest positive level is enough to tell data that
/// shrinks from data that does not.
pub(crate) const SAMPLE_LEVEL: i32 = 1;

/// Runs `f` with this thread's compressor set to `level`.
pub(crate) fn with_compressor<R>(
    level: i32,
    f: impl FnOnce(&mut Compressor<'static>) -> io::Result<R>,
) -> io::Result<R> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        match slot.as_mut() {
            Some((current, compressor)) => {
                if *current != level {
                    compressor.set_compression_level(level)?;
                    *current = level;
                }
            }
            None => *slot = Some((level, Compressor::new(level)?)),
        }
        let (_, compressor) = slot.as_mut().expect("slot filled above");
        f(compressor)
    })
}

/// Runs `f` with this thread's sampling compressor (level [`SAMPLE_LEVEL`]).
pub(crate) fn with_sampler<R>(
    f: impl FnOnce(&mut Compressor<'static>) -> io::Result<R>,
) -> io::Result<R> {
    SAMPLER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(Compressor::new(SAMPLE_LEVEL)?);
        }
        f(slot.as_mut().expect("slot filled above"))
    })
}

/// Runs `f` with this thread's decompressor.
pub(crate) fn with_decompressor<R>(
    f: impl FnOnce(&mut Decompressor<'static>) -> io::Result<R>,
) -> io::Result<R> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(Decompressor::new()?);
        }
        f(slot.as_mut().expect("slot filled above"))
    })
}
