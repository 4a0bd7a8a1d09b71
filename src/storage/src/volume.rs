//! The open shard files of one volume, and the file operations on them.
//!
//! A `VolumeFiles` is shared (`Arc`) by readers, the writer, repair and scrub. Reads and
//! writes are positional (`pread`/`pwrite`), so no operation moves a shared file cursor and
//! readers never wait for the writer: readers only read below `end`, which the writer raises
//! after the bytes below it are written (and fdatasync'd, for shared volumes).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use stratum_core::{Tier, VolumeId};

use crate::error::StorageError;
use crate::layout::{shard_path, VolumeHeader, VOLUME_HEADER_BYTES};
use crate::workers::{IoWorkers, Job};
use crate::{VolumeInfo, VolumeKind};

/// Runs `f` on every item, each on its own scoped thread (the first on the caller's), and
/// returns the results in order. Used for the per-shard-file work that runs once per volume
/// (creation, a dedicated volume's final flush), which would otherwise queue one disk flush
/// behind another. The group-commit hot path uses the writer's long-lived `IoWorkers`.
pub(crate) fn parallel<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    if items.len() <= 1 {
        return items.into_iter().map(f).collect();
    }
    std::thread::scope(|s| {
        let f = &f;
        let mut iter = items.into_iter();
        let first = iter.next();
        let handles: Vec<_> = iter.map(|item| s.spawn(move || f(item))).collect();
        let mut out = Vec::with_capacity(handles.len() + 1);
        if let Some(item) = first {
            out.push(f(item));
        }
        for h in handles {
            match h.join() {
                Ok(r) => out.push(r),
                // A panic in a file call is a bug, not an I/O error: propagate it.
                Err(p) => std::panic::resume_unwind(p),
            }
        }
        out
    })
}

/// Runs `jobs` in parallel — on `workers` when given, else on scoped threads — and returns
/// the first error in job order, once every job has finished.
fn run_jobs(jobs: Vec<Job>, workers: Option<&IoWorkers>) -> Result<(), StorageError> {
    let results = match workers {
        Some(w) => w.run(jobs),
        None => parallel(jobs, |job| job()),
    };
    results.into_iter().collect()
}

/// fsyncs a directory so that files created or removed in it stay so after a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::io(dir, e))
}

/// Mutable state of a volume, behind one small lock.
#[derive(Debug)]
struct State {
    /// A writer appends to it (the active shared volume, or a live dedicated writer).
    writing: bool,
    /// `(end, stripes)` once the seal has been written to the volume headers.
    sealed: Option<(u64, u64)>,
}

/// The shard files of one volume.
#[derive(Debug)]
pub(crate) struct VolumeFiles {
    pub(crate) id: VolumeId,
    pub(crate) tier: Tier,
    pub(crate) kind: VolumeKind,
    pub(crate) k: u8,
    pub(crate) m: u8,
    /// Where each shard file is (or would be recreated).
    pub(crate) paths: Vec<PathBuf>,
    /// Open handles; `None` for a shard file that is missing or whose header is damaged.
    shards: RwLock<Vec<Option<Arc<File>>>>,
    /// Offset just past the last stripe readers may read, in every shard file.
    end: AtomicU64,
    /// Stripes below `end`.
    stripes: AtomicU64,
    state: Mutex<State>,
    /// Serializes repairs of this volume, so two never recreate one shard file at once.
    repair: Mutex<()>,
}

/// Locks a mutex, recovering it if a panicking thread poisoned it: the guarded data are
/// counters and flags that stay consistent at every await-free step.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl VolumeFiles {
    /// Wraps files found on disk (recovery decides `end`, `stripes` and `sealed`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        id: VolumeId,
        tier: Tier,
        kind: VolumeKind,
        (k, m): (u8, u8),
        paths: Vec<PathBuf>,
        shards: Vec<Option<Arc<File>>>,
        (end, stripes): (u64, u64),
        sealed: Option<(u64, u64)>,
    ) -> Self {
        Self {
            id,
            tier,
            kind,
            k,
            m,
            paths,
            shards: RwLock::new(shards),
            end: AtomicU64::new(end),
            stripes: AtomicU64::new(stripes),
            state: Mutex::new(State {
                writing: false,
                sealed,
            }),
            repair: Mutex::new(()),
        }
    }

    /// Creates a new, empty volume: `k + m` shard files, each with its header, fsync'd, and
    /// their directories fsync'd, so the volume's existence is durable before any stripe
    /// is acknowledged in it. The volume starts in the writing state.
    pub(crate) fn create(
        dirs: &[PathBuf],
        id: VolumeId,
        tier: Tier,
        kind: VolumeKind,
        (k, m): (u8, u8),
    ) -> Result<Self, StorageError> {
        let width = usize::from(k) + usize::from(m);
        let paths: Vec<PathBuf> = (0..width).map(|i| shard_path(dirs, id, i)).collect();
        // A disk directory replaced while running (a lost disk swapped for an empty one)
        // gets its `volumes/` back; creating what exists is a cheap no-op.
        for dir in distinct_parents(&paths) {
            std::fs::create_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
        }
        let headers: Vec<(usize, &PathBuf)> = paths.iter().enumerate().collect();
        let created = parallel(headers, |(i, path)| {
            let header = VolumeHeader {
                id,
                kind,
                tier,
                k,
                m,
                shard_index: i as u8,
                sealed: None,
            };
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(|e| (false, StorageError::io(path, e)))?;
            file.write_all_at(&header.encode(), 0)
                .and_then(|()| file.sync_all())
                .map_err(|e| (true, StorageError::io(path, e)))?;
            Ok(Arc::new(file))
        });
        let mut shards = Vec::with_capacity(width);
        let mut first_err = None;
        for (i, r) in created.into_iter().enumerate() {
            match r {
                Ok(f) => shards.push(Some(f)),
                Err((made, e)) => {
                    // `made` is false when the file could not be created: it may be
                    // someone else's, so it is never removed below.
                    if made {
                        let _ = std::fs::remove_file(&paths[i]);
                    }
                    shards.push(None);
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_err {
            // Leave nothing half-created behind: a volume exists whole or not at all.
            for (i, f) in shards.iter().enumerate() {
                if f.is_some() {
                    let _ = std::fs::remove_file(&paths[i]);
                }
            }
            return Err(e);
        }
        for dir in distinct_parents(&paths) {
            sync_dir(&dir)?;
        }
        let v = Self::from_parts(
            id,
            tier,
            kind,
            (k, m),
            paths,
            shards,
            (VOLUME_HEADER_BYTES, 0),
            None,
        );
        lock(&v.state).writing = true;
        Ok(v)
    }

    /// Pieces per stripe.
    pub(crate) fn width(&self) -> usize {
        usize::from(self.k) + usize::from(self.m)
    }

    /// The handle of shard `index`, if the file is usable.
    pub(crate) fn shard(&self, index: usize) -> Option<Arc<File>> {
        let shards = self.shards.read().unwrap_or_else(|p| p.into_inner());
        shards.get(index).cloned().flatten()
    }

    /// Offset just past the last readable stripe.
    pub(crate) fn end(&self) -> u64 {
        self.end.load(Ordering::Acquire)
    }

    /// Stripes below `end`.
    pub(crate) fn stripes(&self) -> u64 {
        self.stripes.load(Ordering::Acquire)
    }

    /// Publishes stripes written below `end` to readers.
    pub(crate) fn publish(&self, end: u64, added_stripes: u64) {
        self.stripes.fetch_add(added_stripes, Ordering::AcqRel);
        self.end.store(end, Ordering::Release);
    }

    /// Whether a writer appends to this volume.
    pub(crate) fn is_writing(&self) -> bool {
        lock(&self.state).writing
    }

    /// Marks the volume as written to (or no longer).
    pub(crate) fn set_writing(&self, writing: bool) {
        lock(&self.state).writing = writing;
    }

    /// What `volumes()` reports.
    pub(crate) fn info(&self) -> VolumeInfo {
        VolumeInfo {
            id: self.id,
            tier: self.tier,
            kind: self.kind,
            sealed: !self.is_writing(),
            stripe_bytes: (self.end() - VOLUME_HEADER_BYTES) * self.width() as u64,
        }
    }

    /// The header shard `index` should carry now.
    fn header(&self, index: usize, sealed: Option<(u64, u64)>) -> VolumeHeader {
        VolumeHeader {
            id: self.id,
            kind: self.kind,
            tier: self.tier,
            k: self.k,
            m: self.m,
            shard_index: index as u8,
            sealed,
        }
    }

    /// Reads `len` bytes of shard `index` at `offset`. `None` when the file is missing, short
    /// or fails to read: for a reader all three mean the piece is lost.
    pub(crate) fn read_at(&self, index: usize, offset: u64, len: usize) -> Option<Vec<u8>> {
        let file = self.shard(index)?;
        let mut buf = vec![0u8; len];
        match file.read_exact_at(&mut buf, offset) {
            Ok(()) => Some(buf),
            Err(e) => {
                if e.kind() != std::io::ErrorKind::UnexpectedEof {
                    tracing::warn!(volume = %self.id, index, offset, error = %e, "shard read failed");
                }
                None
            }
        }
    }

    /// Writes `bufs[i]` at `offset` of every shard file `i` (one `pwrite` each, on the
    /// caller's thread: they only copy into the page cache), then, with `sync`, fdatasyncs
    /// those same files in parallel on its workers, one flush per file. Every shard must be
    /// present: a writer never acknowledges a stripe with a piece it knows it did not write.
    /// `Ok` means every file is written (and, with `sync`, flushed).
    pub(crate) fn write_all_shards(
        &self,
        offset: u64,
        bufs: &[Vec<u8>],
        sync: Option<&IoWorkers>,
    ) -> Result<(), StorageError> {
        let mut written = Vec::with_capacity(bufs.len());
        for (i, buf) in bufs.iter().enumerate() {
            let path = &self.paths[i];
            let file = self.shard(i).ok_or_else(|| {
                StorageError::io(path, std::io::Error::from(std::io::ErrorKind::NotFound))
            })?;
            if !buf.is_empty() {
                file.write_all_at(buf, offset)
                    .map_err(|e| StorageError::io(path, e))?;
            }
            written.push((i, file));
        }
        let Some(workers) = sync else {
            return Ok(());
        };
        // Flush the very handles written above, even if a shard slot changed meanwhile.
        let jobs: Vec<Job> = written
            .into_iter()
            .map(|(i, file)| {
                let path = self.paths[i].clone();
                Box::new(move || file.sync_data().map_err(|e| StorageError::io(path, e))) as Job
            })
            .collect();
        workers.run(jobs).into_iter().collect()
    }

    /// fdatasyncs every present shard file in parallel (on `workers`, or on scoped threads
    /// spawned for the call).
    pub(crate) fn sync_all_shards(&self, workers: Option<&IoWorkers>) -> Result<(), StorageError> {
        let jobs: Vec<Job> = (0..self.width())
            .filter_map(|i| {
                let file = self.shard(i)?;
                let path = self.paths[i].clone();
                Some(
                    Box::new(move || file.sync_data().map_err(|e| StorageError::io(path, e)))
                        as Job,
                )
            })
            .collect();
        run_jobs(jobs, workers)
    }

    /// Writes the seal — the end offset and stripe count — into every present shard file's
    /// header and fdatasyncs. The caller has already made the stripes below `end` durable,
    /// so a sealed header never vouches for bytes that could still be torn. With `fsync`,
    /// the files are flushed in parallel (on `workers`, or on scoped threads spawned for the
    /// call); without it, the header writes run on the caller's thread.
    pub(crate) fn seal(
        &self,
        fsync: bool,
        workers: Option<&IoWorkers>,
    ) -> Result<(), StorageError> {
        let sealed = Some((self.end(), self.stripes()));
        let jobs: Vec<Job> = (0..self.width())
            .filter_map(|i| {
                let file = self.shard(i)?;
                let path = self.paths[i].clone();
                let header = self.header(i, sealed).encode();
                Some(Box::new(move || {
                    file.write_all_at(&header, 0)
                        .map_err(|e| StorageError::io(&path, e))?;
                    if fsync {
                        file.sync_data().map_err(|e| StorageError::io(&path, e))?;
                    }
                    Ok(())
                }) as Job)
            })
            .collect();
        if fsync {
            run_jobs(jobs, workers)?;
        } else {
            jobs.into_iter().try_for_each(|job| job())?;
        }
        let mut state = lock(&self.state);
        state.sealed = sealed;
        state.writing = false;
        Ok(())
    }

    /// Drops cached handles whose file is no longer the one at its path (deleted, or the
    /// disk replaced by an empty one): an unlinked inode still reads its old bytes through
    /// an open handle, which would hide a lost disk from scrub until the next restart.
    /// Returns how many handles were dropped; those pieces now count as lost.
    pub(crate) fn revalidate_shards(&self) -> usize {
        use std::os::unix::fs::MetadataExt;
        let mut shards = self.shards.write().unwrap_or_else(|p| p.into_inner());
        let mut dropped = 0;
        for (slot, path) in shards.iter_mut().zip(&self.paths) {
            let Some(file) = slot else { continue };
            let same = match (file.metadata(), std::fs::metadata(path)) {
                (Ok(open), Ok(on_disk)) => {
                    open.dev() == on_disk.dev() && open.ino() == on_disk.ino()
                }
                _ => false,
            };
            if !same {
                tracing::warn!(volume = %self.id, path = %path.display(), "shard file vanished or was replaced; its pieces count as lost");
                *slot = None;
                dropped += 1;
            }
        }
        dropped
    }

    /// Takes the repair lock of this volume.
    pub(crate) fn repair_guard(&self) -> MutexGuard<'_, ()> {
        lock(&self.repair)
    }

    /// The handle of shard `index`, recreating the file (with its volume header, fsync'd,
    /// directory fsync'd) when it is missing or its header was refused. An existing file is
    /// opened without truncation: its other pieces may still be good.
    pub(crate) fn ensure_shard(&self, index: usize) -> Result<Arc<File>, StorageError> {
        if let Some(f) = self.shard(index) {
            return Ok(f);
        }
        let path = &self.paths[index];
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| StorageError::io(path, e))?;
        let sealed = lock(&self.state).sealed;
        file.write_all_at(&self.header(index, sealed).encode(), 0)
            .and_then(|()| file.sync_all())
            .map_err(|e| StorageError::io(path, e))?;
        if let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
        let file = Arc::new(file);
        let mut shards = self.shards.write().unwrap_or_else(|p| p.into_inner());
        shards[index] = Some(Arc::clone(&file));
        Ok(file)
    }

    /// Removes every shard file and fsyncs their directories. Missing files are fine: the
    /// goal is that none remain.
    pub(crate) fn delete_files(&self) -> Result<(), StorageError> {
        for p in &self.paths {
            match std::fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io(p, e)),
            }
        }
        for dir in distinct_parents(&self.paths) {
            if dir.exists() {
                sync_dir(&dir)?;
            }
        }
        Ok(())
    }
}

/// The distinct parent directories of `paths`, in first-seen order.
pub(crate) fn distinct_parents(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for p in paths {
        if let Some(d) = p.parent() {
            if !out.iter().any(|x| x == d) {
                out.push(d.to_path_buf());
            }
        }
    }
    out
}
