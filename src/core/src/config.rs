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
    /// The cold tier: a remote S3 bucket (B2, R2, any S3). Default none: a hot-only (or
    /// hot+warm) store with no remote tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold: Option<ColdTierConfig>,
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
            cold: None,
        }
    }
}

/// The smallest part S3 accepts in a multipart upload, except the last (5 MiB).
pub const COLD_PART_BYTES_MIN: u64 = 5 * MIB;
/// The largest part S3 accepts (5 GiB).
pub const COLD_PART_BYTES_MAX: u64 = 5 * 1024 * MIB;
/// The most requests in flight to the cold tier that a config may ask for.
pub const COLD_CONCURRENCY_MAX: usize = 1024;
/// The most retries of one request that a config may ask for.
pub const COLD_RETRIES_MAX: u32 = 20;
/// Smallest `volume_bytes` of the cold tier (tests shrink it to exercise packing).
pub const COLD_VOLUME_BYTES_MIN: u64 = 64 * 1024;
/// Largest `volume_bytes` of the cold tier (S3's object size limit).
pub const COLD_VOLUME_BYTES_MAX: u64 = 5 * 1024 * 1024 * MIB;
/// The longest key prefix accepted (S3 keys are at most 1024 bytes; the rest is ours).
pub const COLD_PREFIX_BYTES_MAX: usize = 512;

/// The cold tier: a remote S3-compatible bucket that cold volumes are written to.
///
/// TLS follows the endpoint's scheme: `https://` (every real provider) or `http://` (a local
/// test server). Credentials are never in this struct, only where to find them: the
/// environment variables named by `access_key_env`/`secret_key_env`, or `credentials_file`
/// when set — a small file of `access_key = "..."` and `secret_key = "..."` lines (a TOML
/// subset; `#` comments), which should be mode 0600.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColdTierConfig {
    /// The provider's S3 endpoint URL, `https://host[:port]` or `http://host[:port]`, no
    /// path. B2: `https://s3.<region>.backblazeb2.com`; R2:
    /// `https://<account id>.r2.cloudflarestorage.com`.
    pub endpoint: String,
    /// The region requests are signed for. Default `us-east-1`; R2 uses `auto`, B2 the
    /// region in its endpoint (e.g. `us-west-004`).
    #[serde(default = "default_cold_region")]
    pub region: String,
    /// The bucket (created beforehand by the operator).
    pub bucket: String,
    /// Prepended to every key Stratum writes, so one bucket can hold other data or several
    /// stores. Default `stratum/`.
    #[serde(default = "default_cold_prefix")]
    pub prefix: String,
    /// The environment variable holding the access key id. Default `AWS_ACCESS_KEY_ID`.
    #[serde(default = "default_access_key_env")]
    pub access_key_env: String,
    /// The environment variable holding the secret key. Default `AWS_SECRET_ACCESS_KEY`.
    #[serde(default = "default_secret_key_env")]
    pub secret_key_env: String,
    /// A file with `access_key = "..."` and `secret_key = "..."` lines; when set it is used
    /// instead of the environment. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
    /// Path-style addressing (`endpoint/bucket/key`) rather than virtual-hosted
    /// (`bucket.endpoint/key`). Default true: B2, R2 and local servers all accept it.
    #[serde(default = "yes")]
    pub path_style: bool,
    /// Requests started per second at most (a token bucket with one second of burst).
    /// Default 50: well under the providers' per-bucket limits, and B2 and R2 bill per
    /// request.
    #[serde(default = "default_cold_max_requests_per_sec")]
    pub max_requests_per_sec: u32,
    /// Requests in flight at most. Default 8.
    #[serde(default = "default_cold_max_concurrency")]
    pub max_concurrency: usize,
    /// Size of every part of a multipart upload but the last (which may be shorter). All
    /// non-last parts are equal, as R2 requires. 5 MiB to 5 GiB; default 16 MiB. Objects up
    /// to this size are written with a single PUT.
    #[serde(default = "default_cold_part_bytes")]
    pub part_bytes: u64,
    /// One attempt of one request may take this long, body included. Default 60.
    #[serde(default = "default_cold_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Retries after a failed attempt (5xx, 429/503 SlowDown, connection errors and
    /// timeouts; never other 4xx). Default 5.
    #[serde(default = "default_cold_retries")]
    pub retries: u32,
    /// The first retry waits up to this long; each further retry doubles it (capped at
    /// 30 s), with full jitter. Default 200.
    #[serde(default = "default_cold_retry_backoff_ms")]
    pub retry_backoff_ms: u64,
    /// Send `x-amz-checksum-*` / `x-amz-sdk-checksum-algorithm` headers (CRC32 of each
    /// body). Default false: B2 rejects them, and TLS plus the frames' own BLAKE3 already
    /// guard the bytes.
    #[serde(default)]
    pub send_checksums: bool,
    /// Target size of a cold volume, the one remote object that packs many objects' frames
    /// (a volume closes at the first object that reaches it; one larger object makes one
    /// larger volume). Fewer, larger objects cut per-request costs, which dominate B2/R2
    /// bills for small objects. 64 KiB to 5 TiB; default 64 MiB.
    #[serde(default = "default_cold_volume_bytes")]
    pub volume_bytes: u64,
    /// The zstd level frames are recompressed at on their way to cold (1 to 22). Default 12,
    /// between the measured 9 (38 MB/s per core, ratio 6.5 on 4 MiB text frames) and 19
    /// (1.4 MB/s, ratio 7.9; docs/performance.md): denser than the inline level 1 at a CPU
    /// cost the background path can pay.
    #[serde(default = "default_cold_zstd_level")]
    pub zstd_level: i32,
    /// A cold volume whose dead share (bytes of deleted or moved objects), in percent,
    /// reaches this is rewritten by remote compaction: its live frames are packed anew and
    /// the old remote object deleted. 5 to 100; default 50 (B2/R2 store dead bytes at full
    /// price, but a rewrite downloads and uploads the live ones).
    #[serde(default = "default_cold_compaction_dead_percent")]
    pub compaction_dead_percent: u8,
    /// Threads recompressing a batch of frames for cold (0: one per core). Default 0.
    #[serde(default)]
    pub recompress_threads: usize,
    /// Recompress on an NVIDIA GPU through nvCOMP when the binary is built with the `gpu`
    /// feature and a GPU, its driver and nvCOMP 5 or 6 are found at run time; anything missing
    /// or failing falls back to the CPU. Default false.
    #[serde(default)]
    pub gpu: bool,
    /// Where nvCOMP is (`libnvcomp.so.6` or `.so.5`); default: the loader's search path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvcomp_path: Option<PathBuf>,
}

fn default_cold_region() -> String {
    "us-east-1".to_owned()
}
fn default_cold_prefix() -> String {
    "stratum/".to_owned()
}
fn default_access_key_env() -> String {
    "AWS_ACCESS_KEY_ID".to_owned()
}
fn default_secret_key_env() -> String {
    "AWS_SECRET_ACCESS_KEY".to_owned()
}
fn default_cold_max_requests_per_sec() -> u32 {
    50
}
fn default_cold_max_concurrency() -> usize {
    8
}
fn default_cold_part_bytes() -> u64 {
    16 * MIB
}
fn default_cold_request_timeout_secs() -> u64 {
    60
}
fn default_cold_retries() -> u32 {
    5
}
fn default_cold_retry_backoff_ms() -> u64 {
    200
}
fn default_cold_volume_bytes() -> u64 {
    64 * MIB
}
fn default_cold_zstd_level() -> i32 {
    12
}
fn default_cold_compaction_dead_percent() -> u8 {
    50
}

/// A config value out of range: the key (relative to its table) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}`: {reason}")]
pub struct InvalidKey {
    /// The key within its table, e.g. `endpoint`.
    pub key: &'static str,
    /// What is wrong and what is accepted.
    pub reason: String,
}

fn bad(key: &'static str, reason: impl Into<String>) -> InvalidKey {
    InvalidKey {
        key,
        reason: reason.into(),
    }
}

impl ColdTierConfig {
    /// A config for `endpoint` and `bucket` with every other key at its default.
    pub fn new(endpoint: impl Into<String>, bucket: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            region: default_cold_region(),
            bucket: bucket.into(),
            prefix: default_cold_prefix(),
            access_key_env: default_access_key_env(),
            secret_key_env: default_secret_key_env(),
            credentials_file: None,
            path_style: true,
            max_requests_per_sec: default_cold_max_requests_per_sec(),
            max_concurrency: default_cold_max_concurrency(),
            part_bytes: default_cold_part_bytes(),
            request_timeout_secs: default_cold_request_timeout_secs(),
            retries: default_cold_retries(),
            retry_backoff_ms: default_cold_retry_backoff_ms(),
            send_checksums: false,
            volume_bytes: default_cold_volume_bytes(),
            zstd_level: default_cold_zstd_level(),
            compaction_dead_percent: default_cold_compaction_dead_percent(),
            recompress_threads: 0,
            gpu: false,
            nvcomp_path: None,
        }
    }

    /// Whether the endpoint is `https://`.
    pub fn tls(&self) -> bool {
        self.endpoint.starts_with("https://")
    }

    /// The endpoint's `host[:port]`, if the endpoint is well formed.
    pub fn endpoint_authority(&self) -> Option<&str> {
        let rest = self
            .endpoint
            .strip_prefix("https://")
            .or_else(|| self.endpoint.strip_prefix("http://"))?;
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        let ok = !authority.is_empty()
            && authority
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
        ok.then_some(authority)
    }

    /// Checks every value; the error names the key within `[storage.cold]`.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        if self.endpoint_authority().is_none() {
            return Err(bad(
                "endpoint",
                format!(
                    "`{}` is not http(s)://HOST[:PORT] with no path (e.g. https://s3.us-west-004.backblazeb2.com)",
                    self.endpoint
                ),
            ));
        }
        let region_ok = !self.region.is_empty()
            && self.region.len() <= 64
            && self
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            return Err(bad(
                "region",
                "must be 1-64 characters of a-z, 0-9 and '-' (R2: auto)",
            ));
        }
        let b = self.bucket.as_bytes();
        let bucket_ok = (3..=63).contains(&b.len())
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'.')
            && b.first().is_some_and(u8::is_ascii_alphanumeric)
            && b.last().is_some_and(u8::is_ascii_alphanumeric);
        if !bucket_ok {
            return Err(bad(
                "bucket",
                "must be 3-63 characters of a-z, 0-9, '-' and '.', starting and ending with a letter or digit",
            ));
        }
        if self.prefix.len() > COLD_PREFIX_BYTES_MAX
            || self.prefix.starts_with('/')
            || self.prefix.chars().any(char::is_control)
        {
            return Err(bad(
                "prefix",
                format!("must not start with '/', hold control characters or exceed {COLD_PREFIX_BYTES_MAX} bytes"),
            ));
        }
        match &self.credentials_file {
            Some(path) if path.as_os_str().is_empty() => {
                return Err(bad("credentials_file", "must not be empty"));
            }
            Some(_) => {}
            None => {
                for (key, name) in [
                    ("access_key_env", &self.access_key_env),
                    ("secret_key_env", &self.secret_key_env),
                ] {
                    if name.is_empty() || name.contains('=') || name.contains('\0') {
                        return Err(bad(key, "must name an environment variable"));
                    }
                }
            }
        }
        if self.max_requests_per_sec == 0 {
            return Err(bad("max_requests_per_sec", "must be at least 1"));
        }
        if !(1..=COLD_CONCURRENCY_MAX).contains(&self.max_concurrency) {
            return Err(bad(
                "max_concurrency",
                format!("must be between 1 and {COLD_CONCURRENCY_MAX}"),
            ));
        }
        if !(COLD_PART_BYTES_MIN..=COLD_PART_BYTES_MAX).contains(&self.part_bytes) {
            return Err(bad(
                "part_bytes",
                format!("must be between {COLD_PART_BYTES_MIN} (5 MiB) and {COLD_PART_BYTES_MAX} (5 GiB)"),
            ));
        }
        if self.request_timeout_secs == 0 {
            return Err(bad("request_timeout_secs", "must be at least 1"));
        }
        if !(COLD_VOLUME_BYTES_MIN..=COLD_VOLUME_BYTES_MAX).contains(&self.volume_bytes) {
            return Err(bad(
                "volume_bytes",
                format!("must be between {COLD_VOLUME_BYTES_MIN} (64 KiB) and {COLD_VOLUME_BYTES_MAX} (5 TiB)"),
            ));
        }
        if !(1..=22).contains(&self.zstd_level) {
            return Err(bad("zstd_level", "must be between 1 and 22"));
        }
        if !(5..=100).contains(&self.compaction_dead_percent) {
            return Err(bad("compaction_dead_percent", "must be between 5 and 100"));
        }
        if self.retries > COLD_RETRIES_MAX {
            return Err(bad(
                "retries",
                format!("must be at most {COLD_RETRIES_MAX}"),
            ));
        }
        Ok(())
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
    /// zstd level for frames written on the PUT path. Default 1: 27% more throughput than
    /// level 3 for 6% more bytes on text (docs/performance.md); dense recompression belongs
    /// to the background path that moves data to the warm and cold tiers.
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
    1
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
    /// directories in `root/hot/d0..`, 4+2 erasure coding, zstd level 1.
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
        assert!(c.storage.cold.is_none());
    }

    #[test]
    fn cold_defaults_validate_and_r2_region_auto_is_accepted() {
        let mut c = ColdTierConfig::new("https://acct.r2.cloudflarestorage.com", "cold-bucket");
        c.validate().unwrap();
        assert!(c.tls() && c.path_style && !c.send_checksums);
        assert_eq!(c.part_bytes, 16 << 20);
        c.region = "auto".into();
        c.validate().unwrap();
        c.endpoint = "http://127.0.0.1:9000/".into();
        c.validate().unwrap();
        assert_eq!(c.endpoint_authority(), Some("127.0.0.1:9000"));
        assert!(!c.tls());
    }

    #[test]
    fn cold_validation_names_the_key() {
        let ok = ColdTierConfig::new("https://s3.us-west-004.backblazeb2.com", "bkt");
        type Change = Box<dyn Fn(&mut ColdTierConfig)>;
        let cases: Vec<(&str, Change)> = vec![
            (
                "endpoint",
                Box::new(|c| c.endpoint = "s3.example.com".into()),
            ),
            (
                "endpoint",
                Box::new(|c| c.endpoint = "https://h/path".into()),
            ),
            ("region", Box::new(|c| c.region = "US".into())),
            ("bucket", Box::new(|c| c.bucket = "B".into())),
            ("prefix", Box::new(|c| c.prefix = "/abs".into())),
            (
                "access_key_env",
                Box::new(|c| c.access_key_env = String::new()),
            ),
            (
                "credentials_file",
                Box::new(|c| c.credentials_file = Some(PathBuf::new())),
            ),
            (
                "max_requests_per_sec",
                Box::new(|c| c.max_requests_per_sec = 0),
            ),
            ("max_concurrency", Box::new(|c| c.max_concurrency = 0)),
            ("part_bytes", Box::new(|c| c.part_bytes = 1 << 20)),
            (
                "request_timeout_secs",
                Box::new(|c| c.request_timeout_secs = 0),
            ),
            ("retries", Box::new(|c| c.retries = 1000)),
        ];
        for (key, change) in cases {
            let mut c = ok.clone();
            change(&mut c);
            assert_eq!(c.validate().unwrap_err().key, key);
        }
    }
}
