//! Configuration structs with every default in one place.
//!
//! `Config::default()`-style constructors here are the embedded defaults; the binary layers
//! a config file over them. Every field says what it controls and why its default is what it is.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const MIB: u64 = 1024 * 1024;

/// One tier's disk set: its directories and erasure-coding geometry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskSetConfig {
    /// One directory per disk. A volume's `data_pieces + parity_pieces` shard files go to
    /// that many distinct directories.
    pub dirs: Vec<PathBuf>,
    /// Reed-Solomon data pieces per stripe (k). Default 4.
    #[serde(default = "default_data_pieces")]
    pub data_pieces: u8,
    /// Reed-Solomon parity pieces per stripe (m): this many pieces of any stripe may be lost
    /// or corrupt and reads still succeed. Default 2.
    #[serde(default = "default_parity_pieces")]
    pub parity_pieces: u8,
    /// Start even with fewer directories than `data_pieces + parity_pieces` (several pieces
    /// of a stripe then share a disk, so one lost disk can lose more than one piece).
    /// Default false: refuse to start.
    #[serde(default)]
    pub allow_fewer_dirs: bool,
}

fn default_data_pieces() -> u8 {
    4
}
fn default_parity_pieces() -> u8 {
    2
}

impl DiskSetConfig {
    /// `count` directories `root/d0 .. root/d{count-1}` with the default 4+2 geometry.
    pub fn under(root: &Path, count: usize) -> Self {
        Self {
            dirs: (0..count).map(|i| root.join(format!("d{i}"))).collect(),
            data_pieces: default_data_pieces(),
            parity_pieces: default_parity_pieces(),
            allow_fewer_dirs: false,
        }
    }

    /// Pieces per stripe, `k + m`.
    pub fn width(&self) -> usize {
        usize::from(self.data_pieces) + usize::from(self.parity_pieces)
    }
}

/// The storage layer: disk sets per tier and how volumes are written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// The hot disk set (always present).
    pub hot: DiskSetConfig,
    /// The warm disk set, if any.
    #[serde(default)]
    pub warm: Option<DiskSetConfig>,
    /// fdatasync shard files before acknowledging a write. Default true; turning it off
    /// forfeits the durability contract and exists for benchmarks of the rest of the path.
    #[serde(default = "yes")]
    pub fsync: bool,
    /// A shared volume is sealed and a new one opened once its shard files reach this size.
    /// Default 256 MiB: small enough that compaction of a mostly-dead volume is cheap.
    #[serde(default = "default_shared_volume_bytes_max")]
    pub shared_volume_bytes_max: u64,
    /// Most records one group-commit round writes before its fdatasync. Default 4096.
    #[serde(default = "default_group_commit_records_max")]
    pub group_commit_records_max: usize,
    /// Most payload bytes one group-commit round writes before its fdatasync. Default 32 MiB.
    #[serde(default = "default_group_commit_bytes_max")]
    pub group_commit_bytes_max: u64,
}

fn yes() -> bool {
    true
}
fn default_shared_volume_bytes_max() -> u64 {
    256 * MIB
}
fn default_group_commit_records_max() -> usize {
    4096
}
fn default_group_commit_bytes_max() -> u64 {
    32 * MIB
}

impl StorageConfig {
    /// A hot-only store with `dirs` directories under `root/hot`.
    pub fn hot_only(root: &Path, dirs: usize) -> Self {
        Self {
            hot: DiskSetConfig::under(&root.join("hot"), dirs),
            warm: None,
            fsync: true,
            shared_volume_bytes_max: default_shared_volume_bytes_max(),
            group_commit_records_max: default_group_commit_records_max(),
            group_commit_bytes_max: default_group_commit_bytes_max(),
        }
    }
}

/// How bodies are cut into frames: frame size grows with the offset in the object, so small
/// objects are one small frame and large ones pay little per-frame overhead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FramePolicy {
    /// Frame size for the first `medium_from_bytes` of an object. Default 1 MiB.
    #[serde(default = "default_small_frame_bytes")]
    pub small_frame_bytes: u32,
    /// Frame size from `medium_from_bytes` on. Default 4 MiB.
    #[serde(default = "default_medium_frame_bytes")]
    pub medium_frame_bytes: u32,
    /// Frame size from `large_from_bytes` on. Default 16 MiB.
    #[serde(default = "default_large_frame_bytes")]
    pub large_frame_bytes: u32,
    /// Offset at which frames grow to `medium_frame_bytes`. Default 64 MiB.
    #[serde(default = "default_medium_from_bytes")]
    pub medium_from_bytes: u64,
    /// Offset at which frames grow to `large_frame_bytes`. Default 1 GiB.
    #[serde(default = "default_large_from_bytes")]
    pub large_from_bytes: u64,
}

fn default_small_frame_bytes() -> u32 {
    MIB as u32
}
fn default_medium_frame_bytes() -> u32 {
    4 * MIB as u32
}
fn default_large_frame_bytes() -> u32 {
    16 * MIB as u32
}
fn default_medium_from_bytes() -> u64 {
    64 * MIB
}
fn default_large_from_bytes() -> u64 {
    1024 * MIB
}

impl Default for FramePolicy {
    fn default() -> Self {
        Self {
            small_frame_bytes: default_small_frame_bytes(),
            medium_frame_bytes: default_medium_frame_bytes(),
            large_frame_bytes: default_large_frame_bytes(),
            medium_from_bytes: default_medium_from_bytes(),
            large_from_bytes: default_large_from_bytes(),
        }
    }
}

impl FramePolicy {
    /// The size of the frame that starts at `offset` within an object.
    pub fn frame_bytes_at(&self, offset: u64) -> u32 {
        if offset >= self.large_from_bytes {
            self.large_frame_bytes
        } else if offset >= self.medium_from_bytes {
            self.medium_frame_bytes
        } else {
            self.small_frame_bytes
        }
    }
}

/// The codec: compression level and framing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodecConfig {
    /// zstd level for frames written on the PUT path. Default 3 (~470 MB/s per core on
    /// text); dense recompression belongs to the background path.
    #[serde(default = "default_zstd_level")]
    pub zstd_level: i32,
    /// Sample each frame and store it uncompressed when it will not shrink (JPEG, ZIP, MP4,
    /// random bytes), so such data costs no compression CPU. Default true.
    #[serde(default = "yes")]
    pub sample_passthrough: bool,
    /// Frame sizes.
    #[serde(default)]
    pub frames: FramePolicy,
}

fn default_zstd_level() -> i32 {
    3
}

impl Default for CodecConfig {
    fn default() -> Self {
        Self {
            zstd_level: default_zstd_level(),
            sample_passthrough: true,
            frames: FramePolicy::default(),
        }
    }
}

/// The metadata store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataConfig {
    /// Directory of the sled database.
    pub path: PathBuf,
    /// Flush sled to disk as part of every commit (batched across concurrent committers).
    /// Default true; off forfeits durability of acknowledged writes.
    #[serde(default = "yes")]
    pub flush: bool,
    /// sled page cache size. Default 64 MiB.
    #[serde(default = "default_cache_capacity_bytes")]
    pub cache_capacity_bytes: u64,
}

fn default_cache_capacity_bytes() -> u64 {
    64 * MIB
}

/// The object layer: everything the engine needs to open a store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Disk sets and volume writing.
    pub storage: StorageConfig,
    /// The metadata store.
    pub metadata: MetadataConfig,
    /// Compression and framing.
    #[serde(default)]
    pub codec: CodecConfig,
    /// Bodies up to this size are buffered and written to a shared volume in one
    /// group-committed append; larger or streaming bodies get a dedicated volume, so a slow
    /// client never holds up others and deleting them frees space at once. Default 4 MiB.
    #[serde(default = "default_shared_object_bytes_max")]
    pub shared_object_bytes_max: u64,
    /// Frames of one PUT being compressed and erasure-coded at once; bounds a PUT's memory
    /// to about this many frames. Default 4.
    #[serde(default = "default_pipeline_frames")]
    pub pipeline_frames: usize,
    /// A shared volume whose dead bytes exceed this fraction of its size is compacted.
    /// Default 0.5.
    #[serde(default = "default_compaction_dead_ratio")]
    pub compaction_dead_ratio: f64,
}

fn default_shared_object_bytes_max() -> u64 {
    4 * MIB
}
fn default_pipeline_frames() -> usize {
    4
}
fn default_compaction_dead_ratio() -> f64 {
    0.5
}

impl EngineConfig {
    /// The embedded default layout: metadata in `root/meta`, a hot tier of `dirs`
    /// directories in `root/hot/d0..`, 4+2 erasure coding, zstd level 3.
    pub fn under(root: &Path, dirs: usize) -> Self {
        Self {
            storage: StorageConfig::hot_only(root, dirs),
            metadata: MetadataConfig {
                path: root.join("meta"),
                flush: true,
                cache_capacity_bytes: default_cache_capacity_bytes(),
            },
            codec: CodecConfig::default(),
            shared_object_bytes_max: default_shared_object_bytes_max(),
            pipeline_frames: default_pipeline_frames(),
            compaction_dead_ratio: default_compaction_dead_ratio(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_grow_with_offset() {
        let p = FramePolicy::default();
        assert_eq!(p.frame_bytes_at(0), 1 << 20);
        assert_eq!(p.frame_bytes_at((64 << 20) - 1), 1 << 20);
        assert_eq!(p.frame_bytes_at(64 << 20), 4 << 20);
        assert_eq!(p.frame_bytes_at(1 << 30), 16 << 20);
    }

    #[test]
    fn default_layout_is_six_hot_dirs_4_plus_2() {
        let c = EngineConfig::under(Path::new("/data"), 6);
        assert_eq!(c.storage.hot.dirs.len(), 6);
        assert_eq!(c.storage.hot.width(), 6);
        assert!(c.storage.warm.is_none());
        assert!(c.storage.fsync && c.metadata.flush);
    }
}
