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
use crate::{write_quorum, VolumeInfo, VolumeKind};

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
    /// Open handles; `None` for a shard file that is missing or whose header is damaged, that
    /// could not be created with the volume, or that failed a write or flush (dropped).
    shards: RwLock<Vec<Option<Arc<File>>>>,
    /// Offset just past the last stripe readers may read, in every shard file.
    end: AtomicU64,
    /// Stripes below `end`.
    stripes: AtomicU64,
    state: Mutex<State>,
    /// Serializes repairs of this volume, so two never recreate one shard file at once.
    repair: Mutex<()>,
    /// Serializes header writes (`seal`) with shard file recreation (`ensure_shard`).
    headers: Mutex<()>,
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
            headers: Mutex::new(()),
        }
    }

    /// Creates a new, empty volume: `k + m` shard files, each with its header, fsync'd, and
    /// their directories fsync'd, so the volume's existence is durable before any stripe
    /// is acknowledged in it. The volume starts in the writing state.
    ///
    /// A shard file that cannot be created (its disk is gone, unwritable or failing) is left
    /// absent, with a warning: its pieces are lost pieces from the start, which reads
    /// reconstruct and scrub rebuilds once the directory is usable again. Fewer than
    /// [`write_quorum`] created files is `WriteQuorum`, and nothing is left behind.
    pub(crate) fn create(
        dirs: &[PathBuf],
        id: VolumeId,
        tier: Tier,
        kind: VolumeKind,
        (k, m): (u8, u8),
    ) -> Result<Self, StorageError> {
        let width = usize::from(k) + usize::from(m);
        let quorum = write_quorum(k, m);
        let paths: Vec<PathBuf> = (0..width).map(|i| shard_path(dirs, id, i)).collect();
        // A disk directory replaced while running (a lost disk swapped for an empty one)
        // gets its `volumes/` back; creating what exists is a cheap no-op. A directory that
        // cannot be made only makes its shards absent.
        let mut bad_dirs: Vec<(PathBuf, String)> = Vec::new();
        for dir in distinct_parents(&paths) {
            if let Err(e) = std::fs::create_dir_all(&dir) {
                bad_dirs.push((dir, e.to_string()));
            }
        }
        let headers: Vec<(usize, &PathBuf)> = paths.iter().enumerate().collect();
        let created = parallel(headers, |(i, path)| {
            if let Some((dir, why)) = bad_dirs
                .iter()
                .find(|(d, _)| Some(d.as_path()) == path.parent())
            {
                let e = std::io::Error::other(format!("directory unusable: {why}"));
                return Err((false, StorageError::io(dir, e)));
            }
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
        // Why each absent shard file is absent, for its warning.
        let mut why: Vec<String> = vec![String::new(); width];
        let mut first_err = None;
        for (i, r) in created.into_iter().enumerate() {
            match r {
                Ok(f) => shards.push(Some(f)),
                Err((made, e)) => {
                    // `made` is false when the file could not be created: it may be
                    // someone else's, so it is never removed. A file made but not written
                    // whole is removed: left there, it would look like a damaged shard.
                    if made {
                        let _ = std::fs::remove_file(&paths[i]);
                    }
                    shards.push(None);
                    why[i] = e.to_string();
                    first_err.get_or_insert(e);
                }
            }
        }
        // The directory entries of the files that exist must be durable; a directory that
        // cannot be fsync'd makes its shards absent like a failed creation.
        for dir in distinct_parents(&paths) {
            let holds: Vec<usize> = (0..width)
                .filter(|&i| shards[i].is_some() && paths[i].parent() == Some(dir.as_path()))
                .collect();
            if holds.is_empty() {
                continue;
            }
            if let Err(e) = sync_dir(&dir) {
                for i in holds {
                    shards[i] = None;
                    why[i] = e.to_string();
                    let _ = std::fs::remove_file(&paths[i]);
                }
                first_err.get_or_insert(e);
            }
        }
        let present = shards.iter().filter(|s| s.is_some()).count();
        if present < quorum {
            // Leave nothing half-created behind: a volume exists with a quorum or not at all.
            for (i, f) in shards.iter().enumerate() {
                if f.is_some() {
                    let _ = std::fs::remove_file(&paths[i]);
                }
            }
            return Err(StorageError::WriteQuorum {
                volume: id,
                written: present,
                width,
                needed: quorum,
                source: first_err.map(Box::new),
            });
        }
        for (i, f) in shards.iter().enumerate() {
            if f.is_none() {
                let dir = paths[i].parent().unwrap_or(&paths[i]);
                tracing::warn!(
                    volume = %id,
                    index = i,
                    dir = %dir.display(),
                    error = %why[i],
                    "volume created degraded: shard file could not be created; its pieces are lost until scrub rebuilds them"
                );
            }
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

    /// The write quorum of this volume's geometry.
    pub(crate) fn quorum(&self) -> usize {
        write_quorum(self.k, self.m)
    }

    /// Drops the handle of shard `index` after `file` failed a write or flush, so no later
    /// write counts on it; its pieces are lost until repair recreates the file. Only the
    /// failing handle is dropped: a repair may have reopened the slot meanwhile.
    fn drop_shard(&self, index: usize, file: &Arc<File>, error: &StorageError) {
        let mut shards = self.shards.write().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = shards.get_mut(index) {
            if slot.as_ref().is_some_and(|f| Arc::ptr_eq(f, file)) {
                *slot = None;
            }
        }
        tracing::warn!(volume = %self.id, index, path = %self.paths[index].display(), error = %error, "shard file failed; dropped from the volume, its pieces count as lost");
    }

    /// Runs one job per `(index, file)` (on `workers`, or on scoped threads), drops every
    /// shard whose job failed, and returns which shards succeeded and the first error.
    fn run_per_shard(
        &self,
        files: Vec<(usize, Arc<File>)>,
        workers: Option<&IoWorkers>,
        op: impl Fn(usize, &File) -> std::io::Result<()> + Clone + Send + 'static,
    ) -> (Vec<bool>, Option<StorageError>) {
        let jobs: Vec<Job> = files
            .iter()
            .map(|(i, file)| {
                let (i, file, op) = (*i, Arc::clone(file), op.clone());
                let path = self.paths[i].clone();
                Box::new(move || op(i, &file).map_err(|e| StorageError::io(path, e))) as Job
            })
            .collect();
        let results = match workers {
            Some(w) => w.run(jobs),
            None => parallel(jobs, |job| job()),
        };
        let mut ok = vec![false; self.width()];
        let mut first_err = None;
        for ((i, file), r) in files.iter().zip(results) {
            match r {
                Ok(()) => ok[*i] = true,
                Err(e) => {
                    self.drop_shard(*i, file, &e);
                    first_err.get_or_insert(e);
                }
            }
        }
        (ok, first_err)
    }

    /// `WriteQuorum` for this volume.
    fn quorum_error(&self, written: usize, source: Option<StorageError>) -> StorageError {
        StorageError::WriteQuorum {
            volume: self.id,
            written,
            width: self.width(),
            needed: self.quorum(),
            source: source.map(Box::new),
        }
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

    /// Writes `bufs[i]` at `offset` of every present shard file `i` (one `pwrite` each, on
    /// the caller's thread: they only copy into the page cache), then, with `sync`, fdatasyncs
    /// those same files in parallel on its workers, one flush per file. Absent shard files are
    /// skipped, and a file whose write or flush fails is dropped from the volume (warned):
    /// those pieces are lost, as on a lost disk. `Ok` means at least the write quorum of
    /// files holds the bytes (and, with `sync`, flushed them), and says which; below the
    /// quorum it is `WriteQuorum` and the caller must not acknowledge anything written here.
    pub(crate) fn write_all_shards(
        &self,
        offset: u64,
        bufs: &[Vec<u8>],
        sync: Option<&IoWorkers>,
    ) -> Result<Vec<bool>, StorageError> {
        let quorum = self.quorum();
        let mut written = Vec::with_capacity(bufs.len());
        let mut first_err = None;
        for (i, buf) in bufs.iter().enumerate() {
            // An absent file's piece is simply lost; readers reconstruct it.
            let Some(file) = self.shard(i) else { continue };
            if !buf.is_empty() {
                if let Err(e) = file.write_all_at(buf, offset) {
                    let e = StorageError::io(&self.paths[i], e);
                    self.drop_shard(i, &file, &e);
                    first_err.get_or_insert(e);
                    continue;
                }
            }
            written.push((i, file));
        }
        if written.len() < quorum {
            return Err(self.quorum_error(written.len(), first_err));
        }
        let Some(workers) = sync else {
            let mut ok = vec![false; self.width()];
            for (i, _) in &written {
                ok[*i] = true;
            }
            return Ok(ok);
        };
        // Flush the very handles written above, even if a shard slot changed meanwhile.
        let (ok, sync_err) = self.run_per_shard(written, Some(workers), |_, f| f.sync_data());
        let durable = ok.iter().filter(|&&b| b).count();
        if durable < quorum {
            return Err(self.quorum_error(durable, sync_err.or(first_err)));
        }
        Ok(ok)
    }

    /// fdatasyncs every present shard file in parallel (on `workers`, or on scoped threads
    /// spawned for the call). A file whose flush fails is dropped from the volume; returns
    /// which shard files were flushed (the caller judges the quorum: it knows which files
    /// hold every stripe).
    pub(crate) fn sync_all_shards(
        &self,
        workers: Option<&IoWorkers>,
    ) -> (Vec<bool>, Option<StorageError>) {
        let files: Vec<(usize, Arc<File>)> = (0..self.width())
            .filter_map(|i| Some((i, self.shard(i)?)))
            .collect();
        self.run_per_shard(files, workers, |_, f| f.sync_data())
    }

    /// Writes the seal — the end offset and stripe count — into every present shard file's
    /// header and fdatasyncs. The caller has already made the stripes below `end` durable,
    /// so a sealed header never vouches for bytes that could still be torn. With `fsync`,
    /// the files are flushed in parallel (on `workers`, or on scoped threads spawned for the
    /// call); without it, the header writes run on the caller's thread. A file that fails is
    /// dropped (recovery trusts any sealed header, all that are sealed agreeing); the seal
    /// fails only if a file failed and fewer than the write quorum were sealed.
    pub(crate) fn seal(
        &self,
        fsync: bool,
        workers: Option<&IoWorkers>,
    ) -> Result<(), StorageError> {
        // A shard file being recreated meanwhile gets the seal too (see `ensure_shard`).
        let _headers = lock(&self.headers);
        let sealed = Some((self.end(), self.stripes()));
        let files: Vec<(usize, Arc<File>)> = (0..self.width())
            .filter_map(|i| Some((i, self.shard(i)?)))
            .collect();
        let headers: Vec<[u8; VOLUME_HEADER_BYTES as usize]> = (0..self.width())
            .map(|i| self.header(i, sealed).encode())
            .collect();
        let headers = Arc::new(headers);
        let op = move |i: usize, f: &File| {
            f.write_all_at(&headers[i], 0)?;
            if fsync {
                f.sync_data()?;
            }
            Ok(())
        };
        let (ok, err) = if fsync {
            self.run_per_shard(files, workers, op)
        } else {
            let mut ok = vec![false; self.width()];
            let mut first_err = None;
            for (i, file) in files {
                match op(i, &file) {
                    Ok(()) => ok[i] = true,
                    Err(e) => {
                        let e = StorageError::io(&self.paths[i], e);
                        self.drop_shard(i, &file, &e);
                        first_err.get_or_insert(e);
                    }
                }
            }
            (ok, first_err)
        };
        if let Some(e) = err {
            let done = ok.iter().filter(|&&b| b).count();
            if done < self.quorum() {
                return Err(self.quorum_error(done, Some(e)));
            }
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
        // Serialized with `seal`: the header written here must be the one the other shard
        // files carry, sealed or not, even when the writer seals the volume meanwhile.
        let _headers = lock(&self.headers);
        if let Some(f) = self.shard(index) {
            return Ok(f);
        }
        let path = &self.paths[index];
        if let Some(dir) = path.parent() {
            let fresh = !dir.is_dir();
            std::fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
            // A disk directory brought back empty gets `volumes/` anew: make that entry
            // durable too, not only the file's.
            if let Some(disk) = dir.parent().filter(|_| fresh) {
                sync_dir(disk)?;
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2+2 volume in `dir` whose shard files in `read_only` are opened read-only, so every
    /// `pwrite` to them fails (EBADF) the way a failing disk's would.
    fn volume(dir: &Path, read_only: &[usize]) -> VolumeFiles {
        let dirs = vec![dir.to_path_buf()];
        let id = VolumeId(7);
        let v = VolumeFiles::create(&dirs, id, Tier::Hot, VolumeKind::Shared, (2, 2)).unwrap();
        let shards = (0..4)
            .map(|i| {
                let f = OpenOptions::new()
                    .read(true)
                    .write(!read_only.contains(&i))
                    .open(&v.paths[i])
                    .unwrap();
                Some(Arc::new(f))
            })
            .collect();
        let paths = v.paths.clone();
        VolumeFiles::from_parts(
            id,
            Tier::Hot,
            VolumeKind::Shared,
            (2, 2),
            paths,
            shards,
            (VOLUME_HEADER_BYTES, 0),
            None,
        )
    }

    #[test]
    fn a_failing_shard_is_dropped_while_the_quorum_holds() {
        let dir = tempfile::tempdir().unwrap();
        let v = volume(dir.path(), &[2]);
        let workers = IoWorkers::start("test-io", 3).unwrap();
        let bufs = vec![vec![1u8; 100]; 4];
        let ok = v
            .write_all_shards(VOLUME_HEADER_BYTES, &bufs, Some(&workers))
            .unwrap();
        assert_eq!(ok, vec![true, true, false, true]);
        assert!(v.shard(2).is_none(), "the failing shard is dropped");
        // The next write skips it and still has its quorum of three.
        let ok = v.write_all_shards(164, &bufs, Some(&workers)).unwrap();
        assert_eq!(ok, vec![true, true, false, true]);
        // Sealing skips it too; recreating it brings it back with the seal.
        v.publish(264, 2);
        v.seal(true, Some(&workers)).unwrap();
        std::fs::remove_file(&v.paths[2]).unwrap();
        let f = v.ensure_shard(2).unwrap();
        let mut h = [0u8; VOLUME_HEADER_BYTES as usize];
        f.read_exact_at(&mut h, 0).unwrap();
        assert_eq!(VolumeHeader::decode(&h).unwrap().sealed, Some((264, 2)));
    }

    #[test]
    fn below_the_quorum_a_write_fails_typed() {
        let dir = tempfile::tempdir().unwrap();
        let v = volume(dir.path(), &[1, 3]);
        let bufs = vec![vec![1u8; 100]; 4];
        match v.write_all_shards(VOLUME_HEADER_BYTES, &bufs, None) {
            Err(StorageError::WriteQuorum {
                written: 2,
                width: 4,
                needed: 3,
                source: Some(_),
                ..
            }) => {}
            other => panic!("expected WriteQuorum, got {other:?}"),
        }
    }
}
