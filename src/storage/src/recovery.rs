//! Opening a tier's disk set: finding its volumes, checking their headers, cutting torn tails.
//!
//! Rules (see `docs/format/volume.md`, "Recovery"):
//! - A directory that cannot be created or listed (a dead disk) is skipped with a warning,
//!   its shard files counted as missing, as long as no volume loses more than `m` shard
//!   files to skipped directories; otherwise the open fails with its I/O error.
//! - A shard file whose volume header is damaged counts as missing; its pieces are lost
//!   until scrub rewrites them. A header with another geometry than the tier's refuses the
//!   open (`GeometryMismatch`): reading it with the wrong code would return garbage.
//! - A **sealed** volume trusts its header: the seal is written only after the stripes
//!   below `end` were fdatasync'd. Bytes past `end` are torn and truncated.
//! - An **unsealed** volume (the shared volume active at a crash, or a dedicated volume whose
//!   writer never finished) is walked stripe by stripe from the first; every piece is read
//!   and hashed. The first stripe with fewer than `k` good pieces is torn: every shard file
//!   is truncated to the end of the stripe before it. The volume is then sealed.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use stratum_core::config::DiskSetConfig;
use stratum_core::{Tier, VolumeId};

use crate::error::StorageError;
use crate::layout::{
    parse_shard_file_name, shard_path, VolumeHeader, VOLUMES_DIR, VOLUME_HEADER_BYTES,
};
use crate::stripe::{next_offset, probe, read_pieces};
use crate::volume::{sync_dir, VolumeFiles};
use crate::RecoveryReport;

/// Records a warning both in the log and in the report.
fn warn(report: &mut RecoveryReport, msg: String) {
    tracing::warn!("{msg}");
    report.warnings.push(msg);
}

/// Checks the directory count and creates missing directories (fsyncing their parents, so
/// a new directory survives a crash). Returns, per directory, the error that makes it
/// unusable (a dead disk, or something that is not a directory at its path), if any: the
/// caller decides whether the tier can open without it.
pub(crate) fn prepare_dirs(
    tier: Tier,
    cfg: &DiskSetConfig,
    report: &mut RecoveryReport,
) -> Result<Vec<Option<StorageError>>, StorageError> {
    let need = cfg.width();
    if cfg.dirs.is_empty() || (cfg.dirs.len() < need && !cfg.allow_fewer_dirs) {
        return Err(StorageError::TooFewDirs {
            tier,
            have: cfg.dirs.len(),
            need,
        });
    }
    if cfg.dirs.len() < need {
        warn(
            report,
            format!(
                "tier {tier}: {} directories for {need} pieces per stripe; one lost disk can lose \
                 several pieces of a stripe (allow_fewer_dirs is set)",
                cfg.dirs.len()
            ),
        );
    }
    let mut unusable = Vec::with_capacity(cfg.dirs.len());
    for dir in &cfg.dirs {
        unusable.push(prepare_dir(dir).err());
    }
    Ok(unusable)
}

/// Creates `dir/volumes` if missing, durably.
fn prepare_dir(dir: &Path) -> Result<(), StorageError> {
    let volumes = dir.join(VOLUMES_DIR);
    if volumes.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(&volumes).map_err(|e| StorageError::io(&volumes, e))?;
    sync_dir(dir)?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    Ok(())
}

/// The most shards of one volume that the directories marked in `unusable` hold, over
/// every placement (`shard i of volume id` is in `dirs[(id + i) % dirs.len()]`).
fn worst_loss(unusable: &[bool], width: usize) -> usize {
    let n = unusable.len();
    (0..n)
        .map(|rot| (0..width).filter(|i| unusable[(rot + i) % n]).count())
        .max()
        .unwrap_or(0)
}

/// Lets the tier open without its unusable directories (their shard files count as
/// missing, warned) as long as every volume keeps `k` shard files — so all stay readable
/// and the highest volume id is still seen — else fails with the first directory's error,
/// as a tier that cannot be read whole is an operator's problem, not a degraded mode.
fn accept_unusable(
    tier: Tier,
    cfg: &DiskSetConfig,
    unusable: Vec<Option<StorageError>>,
    report: &mut RecoveryReport,
) -> Result<(), StorageError> {
    let flags: Vec<bool> = unusable.iter().map(Option::is_some).collect();
    if worst_loss(&flags, cfg.width()) > usize::from(cfg.parity_pieces) {
        return match unusable.into_iter().flatten().next() {
            Some(e) => Err(e),
            None => Ok(()),
        };
    }
    for (dir, e) in cfg.dirs.iter().zip(unusable) {
        if let Some(e) = e {
            warn(
                report,
                format!(
                    "tier {tier}: directory {} unusable ({e}); its shard files count as missing \
                     and new volumes are created without them",
                    dir.display()
                ),
            );
        }
    }
    Ok(())
}

/// Every shard file in the tier's usable directories, by volume then shard index. A
/// directory that cannot be listed is marked unusable in `unusable` and skipped.
fn discover(
    dirs: &[PathBuf],
    unusable: &mut [Option<StorageError>],
    report: &mut RecoveryReport,
) -> BTreeMap<VolumeId, BTreeMap<usize, PathBuf>> {
    let mut found: BTreeMap<VolumeId, BTreeMap<usize, PathBuf>> = BTreeMap::new();
    for (dir, bad) in dirs.iter().zip(unusable.iter_mut()) {
        if bad.is_some() {
            continue;
        }
        let listed = match list_shards(dir) {
            Ok(l) => l,
            Err(e) => {
                *bad = Some(e);
                continue;
            }
        };
        for (id, index, path) in listed {
            let slot = found.entry(id).or_default();
            match slot.get(&index) {
                // Two copies of one shard: keep the one where the layout puts it.
                Some(prev) if *prev == shard_path(dirs, id, index) => {
                    warn(
                        report,
                        format!(
                            "{}: duplicate of {}; ignored",
                            path.display(),
                            prev.display()
                        ),
                    );
                }
                Some(prev) => {
                    warn(
                        report,
                        format!(
                            "{}: duplicate of {}; ignored",
                            prev.display(),
                            path.display()
                        ),
                    );
                    slot.insert(index, path);
                }
                None => {
                    slot.insert(index, path);
                }
            }
        }
    }
    found
}

/// The shard files in one directory's `volumes/` (all or an error: a listing cut short by
/// an I/O error would silently miss files).
fn list_shards(dir: &Path) -> Result<Vec<(VolumeId, usize, PathBuf)>, StorageError> {
    let volumes = dir.join(VOLUMES_DIR);
    let entries = std::fs::read_dir(&volumes).map_err(|e| StorageError::io(&volumes, e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io(&volumes, e))?;
        let name = entry.file_name();
        if let Some((id, index)) = name.to_str().and_then(parse_shard_file_name) {
            out.push((id, index, entry.path()));
        }
    }
    Ok(out)
}

/// Opens a found shard file and reads its header.
fn open_shard(path: &Path) -> Result<(File, Result<VolumeHeader, &'static str>), StorageError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| StorageError::io(path, e))?;
    let mut buf = [0u8; VOLUME_HEADER_BYTES as usize];
    let header = match std::os::unix::fs::FileExt::read_exact_at(&file, &mut buf, 0) {
        Ok(()) => VolumeHeader::decode(&buf).map_err(|f| f.describe()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err("file shorter than a volume header")
        }
        Err(e) => return Err(StorageError::io(path, e)),
    };
    Ok((file, header))
}

/// Opens and recovers every volume of one tier. Returns the volumes and the highest volume
/// id seen in a file name (even of a volume left closed), so no id is ever reused.
pub(crate) fn open_tier(
    tier: Tier,
    cfg: &DiskSetConfig,
    fsync: bool,
    report: &mut RecoveryReport,
) -> Result<(Vec<VolumeFiles>, u64), StorageError> {
    let mut unusable = prepare_dirs(tier, cfg, report)?;
    let found = discover(&cfg.dirs, &mut unusable, report);
    accept_unusable(tier, cfg, unusable, report)?;
    let max_id = found.keys().next_back().map_or(0, |v| v.0);
    let mut out = Vec::with_capacity(found.len());
    for (id, files) in found {
        if let Some(v) = open_volume(tier, cfg, fsync, id, &files, report)? {
            out.push(v);
        }
    }
    Ok((out, max_id))
}

/// Opens one volume from its found shard files; `None` when it belongs to another tier or
/// no shard header can be read (it is then left untouched on disk, with a warning).
fn open_volume(
    tier: Tier,
    cfg: &DiskSetConfig,
    fsync: bool,
    id: VolumeId,
    files: &BTreeMap<usize, PathBuf>,
    report: &mut RecoveryReport,
) -> Result<Option<VolumeFiles>, StorageError> {
    let expected = (cfg.data_pieces, cfg.parity_pieces);
    let width = cfg.width();
    let mut shards: Vec<Option<Arc<File>>> = vec![None; width];
    let mut headers: Vec<Option<VolumeHeader>> = vec![None; width];
    let mut paths: Vec<PathBuf> = (0..width).map(|i| shard_path(&cfg.dirs, id, i)).collect();
    let mut foreign = 0;
    for (&index, path) in files {
        let (file, header) = open_shard(path)?;
        let h = match header {
            Ok(h) => h,
            Err(why) => {
                warn(
                    report,
                    format!("{}: {why}; its pieces count as lost", path.display()),
                );
                if index < width {
                    paths[index] = path.clone();
                }
                continue;
            }
        };
        if h.tier != tier {
            // Another tier's file in a shared directory: not ours to open or count.
            foreign += 1;
            continue;
        }
        if (h.k, h.m) != expected {
            return Err(StorageError::GeometryMismatch {
                path: path.clone(),
                found: (h.k, h.m),
                expected,
            });
        }
        if h.id != id || usize::from(h.shard_index) != index || index >= width {
            warn(
                report,
                format!(
                    "{}: header names another volume or shard; ignored",
                    path.display()
                ),
            );
            continue;
        }
        paths[index] = path.clone();
        shards[index] = Some(Arc::new(file));
        headers[index] = Some(h);
    }
    let Some(first) = headers.iter().flatten().next().copied() else {
        if foreign < files.len() {
            warn(
                report,
                format!("volume {id}: no readable shard header; left closed"),
            );
        }
        return Ok(None);
    };
    if headers.iter().flatten().any(|h| h.kind != first.kind) {
        warn(
            report,
            format!(
                "volume {id}: shard headers disagree on the volume kind; using {:?}",
                first.kind
            ),
        );
    }
    let missing = shards.iter().filter(|s| s.is_none()).count();
    if missing > 0 {
        report.shard_files_missing += missing;
        warn(
            report,
            format!("volume {id}: {missing} of {width} shard files missing or unreadable"),
        );
    }
    let seals: Vec<(u64, u64)> = headers.iter().flatten().filter_map(|h| h.sealed).collect();
    let seal = match seals.first() {
        Some(&s) if seals.iter().all(|&x| x == s) => Some(s),
        Some(_) => {
            warn(
                report,
                format!("volume {id}: shard headers disagree on the seal; verifying every stripe"),
            );
            None
        }
        None => None,
    };
    let lens: Vec<Option<u64>> = shards
        .iter()
        .map(|s| s.as_ref().and_then(|f| f.metadata().ok()).map(|m| m.len()))
        .collect();
    let longest = lens
        .iter()
        .flatten()
        .copied()
        .max()
        .unwrap_or(VOLUME_HEADER_BYTES);
    let vf = VolumeFiles::from_parts(
        id,
        tier,
        first.kind,
        expected,
        paths,
        shards,
        (longest.max(VOLUME_HEADER_BYTES), 0),
        seal,
    );
    let (end, stripes) = match seal {
        Some(s) => s,
        None => walk(&vf),
    };
    vf.publish(end, stripes);
    let torn = truncate_tail(&vf, &lens, end)?;
    if torn > 0 {
        report.torn_bytes_truncated += torn;
        warn(
            report,
            format!("volume {id}: {torn} torn bytes past offset {end} truncated"),
        );
    }
    // Seal unsealed volumes (nothing appends to a volume from before the open) and rewrite
    // headers that missed a seal interrupted by a crash.
    let want = Some((end, stripes));
    if headers.iter().flatten().any(|h| h.sealed != want) {
        vf.seal(fsync, None)?;
    }
    report.volumes += 1;
    report.stripes += stripes;
    Ok(Some(vf))
}

/// Walks an unsealed volume from its first stripe, reading and hashing every piece, and
/// returns `(end, stripes)` of the intact prefix: it stops at the first stripe with fewer
/// than `k` good pieces.
fn walk(vf: &VolumeFiles) -> (u64, u64) {
    let k = usize::from(vf.k);
    let longest = vf.end();
    let mut offset = VOLUME_HEADER_BYTES;
    let mut stripes = 0;
    while offset < longest {
        let Some(p) = probe(vf, offset) else { break };
        if p.headers < k {
            break;
        }
        if read_pieces(vf, offset, p.shape, 0..vf.width()).good() < k {
            break;
        }
        offset = next_offset(offset, p.shape.piece_bytes);
        stripes += 1;
    }
    (offset, stripes)
}

/// Truncates every shard file longer than `end` to `end` and makes the new length durable;
/// returns the bytes removed, summed over the files.
fn truncate_tail(vf: &VolumeFiles, lens: &[Option<u64>], end: u64) -> Result<u64, StorageError> {
    let mut torn = 0;
    for (index, len) in lens.iter().enumerate() {
        let Some(len) = *len else { continue };
        if len <= end {
            continue;
        }
        let Some(file) = vf.shard(index) else {
            continue;
        };
        let path = &vf.paths[index];
        file.set_len(end)
            .and_then(|()| file.sync_all())
            .map_err(|e| StorageError::io(path, e))?;
        torn += len - end;
    }
    Ok(torn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_loss_counts_shards_of_the_worst_placed_volume() {
        // Six dirs, six pieces: each dir holds one shard of every volume.
        assert_eq!(worst_loss(&[false, false, true, false, false, false], 6), 1);
        assert_eq!(worst_loss(&[true, false, true, false, false, false], 6), 2);
        // Eight dirs, six pieces: two adjacent bad dirs can both hold shards of one volume.
        let mut bad = [false; 8];
        bad[0] = true;
        bad[7] = true;
        assert_eq!(worst_loss(&bad, 6), 2);
        // Four dirs, six pieces: one dir holds up to two shards of a volume.
        assert_eq!(worst_loss(&[true, false, false, false], 6), 2);
        assert_eq!(worst_loss(&[false; 4], 6), 0);
    }
}
