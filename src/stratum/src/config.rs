//! The config file: a TOML document read into [`Config`] (every table denies unknown keys),
//! overridden by command-line flags, then checked once into [`Settings`], the validated form
//! the server runs on.
//!
//! Defaults live in one place: the engine's come from `stratum_core::config`
//! (`EngineConfig::under(data_dir, 6)`), the server's are the `default_*` functions here. A
//! file holding only `data_dir` is valid: the hot disk set (`<data_dir>/hot/d0..d5`) and the
//! metadata directory (`<data_dir>/meta`) derive from it unless set explicitly. Relative paths
//! are relative to the working directory of the process.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use stratum_core::config::{
    CodecConfig, ColdTierConfig, DiskSetConfig, EngineConfig, MetadataConfig, StorageConfig,
};

use crate::keys;

/// The address `stratum serve` listens on by default (loopback only: exposing the store is
/// a deliberate act).
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:9000";
/// The data directory by default.
pub const DEFAULT_DATA_DIR: &str = "./data";
/// Directories of the hot disk set in the embedded default layout (4+2 erasure coding).
pub const DEFAULT_HOT_DIRS: usize = 6;
/// The longest shutdown grace period accepted.
pub const SHUTDOWN_GRACE_SECS_MAX: u64 = 3600;
/// The most pieces a stripe may have (Reed-Solomon over GF(2^8)).
const STRIPE_PIECES_MAX: usize = 256;

/// Why a config could not be loaded or is not valid. Every message names the file or key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for [`Config`] (syntax, a wrong type, or an unknown key;
    /// the parser's message names the key and its line).
    #[error("config file {path}: {message}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A value is out of range or inconsistent with another.
    #[error("config key `{key}`: {reason}")]
    Invalid {
        /// The dotted key path, e.g. `storage.hot.data_pieces`.
        key: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// The config file as written. `Config::default()` is the embedded default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Root of everything the server stores; the default disks and metadata live under it,
    /// and so does the key file `keys.json`. Default `./data`.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The HTTP server.
    #[serde(default)]
    pub server: ServerConfig,
    /// Root credentials held in memory (never written to the key file). Without them the
    /// root key comes from `STRATUM_ACCESS_KEY`/`STRATUM_SECRET_KEY` or the key file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialsConfig>,
    /// Disk sets and volume writing.
    #[serde(default)]
    pub storage: StorageSection,
    /// The metadata store (sled).
    #[serde(default)]
    pub metadata: MetadataSection,
    /// Compression and framing (`stratum_core::config::CodecConfig`).
    #[serde(default)]
    pub codec: CodecConfig,
    /// Object-layer knobs.
    #[serde(default)]
    pub engine: EngineSection,
    /// Background compaction and scrubbing.
    #[serde(default)]
    pub maintenance: MaintenanceConfig,
    /// Access statistics for the tiering policy.
    #[serde(default)]
    pub tiering: TieringSection,
}

/// The `[server]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// `HOST:PORT` to listen on; port 0 picks a free port. Default `127.0.0.1:9000`.
    #[serde(default = "default_address")]
    pub address: String,
    /// The region clients sign requests for. Default `us-east-1`.
    #[serde(default = "default_region")]
    pub region: String,
    /// Base domains for virtual-hosted-style requests (`Host: <bucket>.<domain>`).
    /// Default `["localhost"]`.
    #[serde(default = "default_domains")]
    pub domains: Vec<String>,
    /// After SIGTERM/SIGINT, how long in-flight requests may take to finish. Default 30.
    #[serde(default = "default_shutdown_grace_secs")]
    pub shutdown_grace_secs: u64,
    /// Log line format on stderr. Default `text`.
    #[serde(default)]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The `[credentials]` table: a root key pair. Its `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsConfig {
    /// Root access key id.
    pub access_key: String,
    /// Root secret access key.
    pub secret_key: String,
}

impl fmt::Debug for CredentialsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialsConfig")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

/// The `[storage]` table (`stratum_core::config::StorageConfig` with the hot directories
/// optional).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// The hot disk set.
    #[serde(default)]
    pub hot: HotDiskSet,
    /// The warm disk set, if any (`dirs` required there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm: Option<DiskSetConfig>,
    /// fdatasync shard files before acknowledging a write.
    #[serde(default = "d::fsync")]
    pub fsync: bool,
    /// A shared volume is sealed at this size.
    #[serde(default = "d::shared_volume_bytes_max")]
    pub shared_volume_bytes_max: u64,
    /// Most records one group-commit round writes.
    #[serde(default = "d::group_commit_records_max")]
    pub group_commit_records_max: usize,
    /// Most payload bytes one group-commit round writes.
    #[serde(default = "d::group_commit_bytes_max")]
    pub group_commit_bytes_max: u64,
    /// The cold tier (a remote S3 bucket), if any (`endpoint` and `bucket` required there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold: Option<ColdTierConfig>,
}

/// The `[storage.hot]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotDiskSet {
    /// One directory per disk; default `<data_dir>/hot/d0` .. `d5`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dirs: Option<Vec<PathBuf>>,
    /// Reed-Solomon data pieces per stripe (k).
    #[serde(default = "d::data_pieces")]
    pub data_pieces: u8,
    /// Reed-Solomon parity pieces per stripe (m).
    #[serde(default = "d::parity_pieces")]
    pub parity_pieces: u8,
    /// Start with fewer directories than k+m.
    #[serde(default = "d::allow_fewer_dirs")]
    pub allow_fewer_dirs: bool,
}

/// The `[metadata]` table (`stratum_core::config::MetadataConfig` with the path optional).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataSection {
    /// The sled directory; default `<data_dir>/meta`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Flush sled as part of every commit.
    #[serde(default = "d::flush")]
    pub flush: bool,
    /// sled's page cache.
    #[serde(default = "d::cache_capacity_bytes")]
    pub cache_capacity_bytes: u64,
}

/// The `[engine]` table: the object layer's own knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    /// Bodies up to this size go to a shared volume, larger ones to a dedicated one.
    #[serde(default = "d::shared_object_bytes_max")]
    pub shared_object_bytes_max: u64,
    /// Frames of one PUT compressed and erasure-coded at once.
    #[serde(default = "d::pipeline_frames")]
    pub pipeline_frames: usize,
    /// Compact a sealed shared volume once this fraction of it is dead.
    #[serde(default = "d::compaction_dead_ratio")]
    pub compaction_dead_ratio: f64,
}

/// The `[maintenance]` table: background work intervals; 0 turns a task off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceConfig {
    /// Seconds between compaction passes over each disk set. Default 600.
    #[serde(default = "default_compaction_interval_secs")]
    pub compaction_interval_secs: u64,
    /// Seconds between scrubs (read and verify every piece) of each disk set. Default 86400.
    #[serde(default = "default_scrub_interval_secs")]
    pub scrub_interval_secs: u64,
}

/// The `[tiering]` table. Tiering runs when a warm or a cold tier is configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TieringSection {
    /// Seconds between writes of the access statistics that changed (one batch each; also
    /// written at graceful shutdown). A crash loses at most this much of them. Default 10;
    /// 1 to 3600.
    #[serde(default = "default_access_flush_secs")]
    pub access_flush_secs: u64,
    /// Original (logical) bytes the policy may keep in hot; its watermarks are fractions of
    /// this. Default: the size of the filesystems holding the hot directories x k/(k+m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hot_capacity_bytes: Option<u64>,
    /// The same for warm. Default: computed like hot's from the warm directories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_capacity_bytes: Option<u64>,
    /// Seconds between the mover's checks: promotions of objects read since the last check,
    /// and the capacity check (demotions when a tier is above its high watermark).
    /// Default 5; 1 to 3600.
    #[serde(default = "default_tick_secs")]
    pub tick_secs: u64,
    /// Bytes per second the mover copies at most (local writes plus cold uploads). Default
    /// 64 MiB/s: a fraction of one disk's bandwidth, so moves never starve clients.
    #[serde(default = "default_move_bytes_per_sec")]
    pub move_bytes_per_sec: u64,
    /// Hot/warm moves in flight at once. Default 2; 1 to 64.
    #[serde(default = "default_move_concurrency")]
    pub move_concurrency: usize,
    /// Seconds between cold-tier maintenance runs (remote compaction of mostly-dead cold
    /// volumes, deletion of unreferenced ones). Default 3600; 0 turns it off.
    #[serde(default = "default_cold_maintenance_secs")]
    pub cold_maintenance_secs: u64,
    /// The cost model (JSON, the format of `config/cost_model.json`): storage prices per
    /// tier, cold request and egress prices, latency per tier. Default: that file's
    /// content, embedded (B2 cold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_model: Option<PathBuf>,
    /// The cold provider priced from the cost model: `b2`, `r2` or `r2_ia`. Default: the
    /// model's `cold_provider`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_provider: Option<String>,
    /// Decisions kept in the decision log (the newest). Default 100000.
    #[serde(default = "default_decisions_keep")]
    pub decisions_keep: usize,
    /// The policy's thresholds (`[tiering.policy]`; every key and default in
    /// docs/tiering.md).
    #[serde(default)]
    pub policy: stratum_tiering::PolicyConfig,
}

fn default_tick_secs() -> u64 {
    5
}
fn default_move_bytes_per_sec() -> u64 {
    64 * 1024 * 1024
}
fn default_move_concurrency() -> usize {
    2
}
fn default_cold_maintenance_secs() -> u64 {
    3600
}
fn default_decisions_keep() -> usize {
    100_000
}

/// Upper bound of `tiering.access_flush_secs`: beyond an hour a crash loses too much.
const ACCESS_FLUSH_SECS_MAX: u64 = 3600;

fn default_access_flush_secs() -> u64 {
    10
}

impl Default for TieringSection {
    fn default() -> Self {
        TieringSection {
            access_flush_secs: default_access_flush_secs(),
            hot_capacity_bytes: None,
            warm_capacity_bytes: None,
            tick_secs: default_tick_secs(),
            move_bytes_per_sec: default_move_bytes_per_sec(),
            move_concurrency: default_move_concurrency(),
            cold_maintenance_secs: default_cold_maintenance_secs(),
            cost_model: None,
            cold_provider: None,
            decisions_keep: default_decisions_keep(),
            policy: stratum_tiering::PolicyConfig::default(),
        }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(DEFAULT_DATA_DIR)
}
fn default_address() -> String {
    DEFAULT_ADDRESS.to_owned()
}
fn default_region() -> String {
    "us-east-1".to_owned()
}
fn default_domains() -> Vec<String> {
    vec!["localhost".to_owned()]
}
fn default_shutdown_grace_secs() -> u64 {
    30
}
fn default_compaction_interval_secs() -> u64 {
    600
}
fn default_scrub_interval_secs() -> u64 {
    86_400
}

/// Engine defaults, read from `stratum_core`'s embedded layout so they are defined once.
mod d {
    use super::*;

    fn base() -> EngineConfig {
        EngineConfig::under(Path::new(DEFAULT_DATA_DIR), DEFAULT_HOT_DIRS)
    }
    pub fn fsync() -> bool {
        base().storage.fsync
    }
    pub fn shared_volume_bytes_max() -> u64 {
        base().storage.shared_volume_bytes_max
    }
    pub fn group_commit_records_max() -> usize {
        base().storage.group_commit_records_max
    }
    pub fn group_commit_bytes_max() -> u64 {
        base().storage.group_commit_bytes_max
    }
    pub fn data_pieces() -> u8 {
        base().storage.hot.data_pieces
    }
    pub fn parity_pieces() -> u8 {
        base().storage.hot.parity_pieces
    }
    pub fn allow_fewer_dirs() -> bool {
        base().storage.hot.allow_fewer_dirs
    }
    pub fn flush() -> bool {
        base().metadata.flush
    }
    pub fn cache_capacity_bytes() -> u64 {
        base().metadata.cache_capacity_bytes
    }
    pub fn shared_object_bytes_max() -> u64 {
        base().shared_object_bytes_max
    }
    pub fn pipeline_frames() -> usize {
        base().pipeline_frames
    }
    pub fn compaction_dead_ratio() -> f64 {
        base().compaction_dead_ratio
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            address: default_address(),
            region: default_region(),
            domains: default_domains(),
            shutdown_grace_secs: default_shutdown_grace_secs(),
            log_format: LogFormat::default(),
        }
    }
}

impl Default for HotDiskSet {
    fn default() -> Self {
        HotDiskSet {
            dirs: None,
            data_pieces: d::data_pieces(),
            parity_pieces: d::parity_pieces(),
            allow_fewer_dirs: d::allow_fewer_dirs(),
        }
    }
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            hot: HotDiskSet::default(),
            warm: None,
            fsync: d::fsync(),
            shared_volume_bytes_max: d::shared_volume_bytes_max(),
            group_commit_records_max: d::group_commit_records_max(),
            group_commit_bytes_max: d::group_commit_bytes_max(),
            cold: None,
        }
    }
}

impl Default for MetadataSection {
    fn default() -> Self {
        MetadataSection {
            path: None,
            flush: d::flush(),
            cache_capacity_bytes: d::cache_capacity_bytes(),
        }
    }
}

impl Default for EngineSection {
    fn default() -> Self {
        EngineSection {
            shared_object_bytes_max: d::shared_object_bytes_max(),
            pipeline_frames: d::pipeline_frames(),
            compaction_dead_ratio: d::compaction_dead_ratio(),
        }
    }
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        MaintenanceConfig {
            compaction_interval_secs: default_compaction_interval_secs(),
            scrub_interval_secs: default_scrub_interval_secs(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: default_data_dir(),
            server: ServerConfig::default(),
            credentials: None,
            storage: StorageSection::default(),
            metadata: MetadataSection::default(),
            codec: CodecConfig::default(),
            engine: EngineSection::default(),
            maintenance: MaintenanceConfig::default(),
            tiering: TieringSection::default(),
        }
    }
}

/// The validated configuration the server runs on.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `HOST:PORT` to listen on.
    pub address: String,
    /// The data directory (key file, default disks and metadata).
    pub data_dir: PathBuf,
    /// Everything the engine needs, with derived paths filled in.
    pub engine: EngineConfig,
    /// The region clients sign for.
    pub region: String,
    /// Base domains for virtual-hosted-style addressing.
    pub domains: Vec<String>,
    /// How long in-flight requests may take after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Log line format.
    pub log_format: LogFormat,
    /// Root credentials from the config file.
    pub credentials: Option<CredentialsConfig>,
    /// Time between compaction passes, or `None` when off.
    pub compaction_interval: Option<Duration>,
    /// Time between scrubs, or `None` when off.
    pub scrub_interval: Option<Duration>,
    /// Time between flushes of the access statistics.
    pub access_flush_interval: Duration,
    /// The `[tiering]` table as written (validated).
    pub tiering: TieringSection,
}

impl Config {
    /// Reads and parses a config file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses a config document; the error is the parser's message (it names the key) with
    /// the line and column. The offending line itself is not quoted, as it may hold a secret.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| {
            let message = e.message().trim_end();
            match e.span() {
                Some(span) => {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!("line {line}, column {column}: {message}")
                }
                None => message.to_owned(),
            }
        })
    }

    /// The file at `path`, or the embedded default without one.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        match path {
            Some(p) => Config::from_file(p),
            None => Ok(Config::default()),
        }
    }

    /// The config with every derived value written out (hot directories, metadata path):
    /// what a file stating every key would hold.
    pub fn explicit(&self) -> Config {
        let engine = self.engine_config();
        let mut c = self.clone();
        c.storage.hot.dirs = Some(engine.storage.hot.dirs);
        c.metadata.path = Some(engine.metadata.path);
        c
    }

    /// The engine configuration: the embedded layout under `data_dir`, with every key the
    /// file sets laid over it.
    pub fn engine_config(&self) -> EngineConfig {
        let base = EngineConfig::under(&self.data_dir, DEFAULT_HOT_DIRS);
        let s = &self.storage;
        let hot = DiskSetConfig {
            dirs: s.hot.dirs.clone().unwrap_or(base.storage.hot.dirs),
            data_pieces: s.hot.data_pieces,
            parity_pieces: s.hot.parity_pieces,
            allow_fewer_dirs: s.hot.allow_fewer_dirs,
        };
        EngineConfig {
            storage: StorageConfig {
                hot,
                warm: s.warm.clone(),
                fsync: s.fsync,
                shared_volume_bytes_max: s.shared_volume_bytes_max,
                group_commit_records_max: s.group_commit_records_max,
                group_commit_bytes_max: s.group_commit_bytes_max,
                cold: s.cold.clone(),
            },
            metadata: MetadataConfig {
                path: self.metadata.path.clone().unwrap_or(base.metadata.path),
                flush: self.metadata.flush,
                cache_capacity_bytes: self.metadata.cache_capacity_bytes,
            },
            codec: self.codec.clone(),
            shared_object_bytes_max: self.engine.shared_object_bytes_max,
            pipeline_frames: self.engine.pipeline_frames,
            compaction_dead_ratio: self.engine.compaction_dead_ratio,
        }
    }

    /// Checks every value and returns the settings the server runs on.
    pub fn validate(&self) -> Result<Settings, ConfigError> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "must not be empty"));
        }
        validate_server(&self.server)?;
        if let Some(c) = &self.credentials {
            keys::validate_access_key(&c.access_key)
                .map_err(|r| invalid("credentials.access_key", r))?;
            keys::validate_secret_key(&c.secret_key)
                .map_err(|r| invalid("credentials.secret_key", r))?;
        }
        let engine = self.engine_config();
        validate_engine(&engine)?;
        let interval = |secs: u64| (secs > 0).then(|| Duration::from_secs(secs));
        let flush_secs = self.tiering.access_flush_secs;
        if !(1..=ACCESS_FLUSH_SECS_MAX).contains(&flush_secs) {
            return Err(invalid(
                "tiering.access_flush_secs",
                format!("must be between 1 and {ACCESS_FLUSH_SECS_MAX}"),
            ));
        }
        validate_tiering(&self.tiering)?;
        Ok(Settings {
            address: self.server.address.clone(),
            data_dir: self.data_dir.clone(),
            engine,
            region: self.server.region.clone(),
            domains: self.server.domains.clone(),
            shutdown_grace: Duration::from_secs(self.server.shutdown_grace_secs),
            log_format: self.server.log_format,
            credentials: self.credentials.clone(),
            compaction_interval: interval(self.maintenance.compaction_interval_secs),
            scrub_interval: interval(self.maintenance.scrub_interval_secs),
            access_flush_interval: Duration::from_secs(flush_secs),
            tiering: self.tiering.clone(),
        })
    }
}

fn validate_tiering(t: &TieringSection) -> Result<(), ConfigError> {
    if !(1..=3600).contains(&t.tick_secs) {
        return Err(invalid("tiering.tick_secs", "must be between 1 and 3600"));
    }
    if t.move_bytes_per_sec == 0 {
        return Err(invalid("tiering.move_bytes_per_sec", "must be at least 1"));
    }
    if !(1..=64).contains(&t.move_concurrency) {
        return Err(invalid(
            "tiering.move_concurrency",
            "must be between 1 and 64",
        ));
    }
    if t.decisions_keep == 0 {
        return Err(invalid("tiering.decisions_keep", "must be at least 1"));
    }
    if let Some(p) = &t.cold_provider {
        if !["b2", "r2", "r2_ia"].contains(&p.as_str()) {
            return Err(invalid("tiering.cold_provider", "must be b2, r2 or r2_ia"));
        }
    }
    t.policy
        .validate()
        .map_err(|e| invalid("tiering.policy", e.to_string()))
}

fn validate_server(s: &ServerConfig) -> Result<(), ConfigError> {
    let port_ok = s
        .address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !port_ok {
        return Err(invalid(
            "server.address",
            format!(
                "`{}` is not HOST:PORT (e.g. 127.0.0.1:9000, [::]:9000)",
                s.address
            ),
        ));
    }
    let region_ok = !s.region.is_empty()
        && s.region.len() <= 64
        && s.region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !region_ok {
        return Err(invalid(
            "server.region",
            "must be 1-64 characters of a-z, 0-9 and '-'",
        ));
    }
    for d in &s.domains {
        let ok = !d.is_empty()
            && d.len() <= 253
            && !d.starts_with('.')
            && !d.ends_with('.')
            && d.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !ok {
            return Err(invalid(
                "server.domains",
                format!("`{d}` is not a domain name (no scheme, no port, e.g. s3.example.com)"),
            ));
        }
    }
    if s.shutdown_grace_secs > SHUTDOWN_GRACE_SECS_MAX {
        return Err(invalid(
            "server.shutdown_grace_secs",
            format!("must be at most {SHUTDOWN_GRACE_SECS_MAX}"),
        ));
    }
    Ok(())
}

fn validate_disk_set(prefix: &str, d: &DiskSetConfig) -> Result<(), ConfigError> {
    if d.data_pieces == 0 {
        return Err(invalid(
            format!("{prefix}.data_pieces"),
            "must be at least 1",
        ));
    }
    if d.width() > STRIPE_PIECES_MAX {
        return Err(invalid(
            format!("{prefix}.parity_pieces"),
            format!("data_pieces + parity_pieces must be at most {STRIPE_PIECES_MAX}"),
        ));
    }
    if d.dirs.is_empty() {
        return Err(invalid(format!("{prefix}.dirs"), "must not be empty"));
    }
    if d.dirs.len() < d.width() && !d.allow_fewer_dirs {
        return Err(invalid(
            format!("{prefix}.dirs"),
            format!(
                "{} directories for {}+{} stripes: give at least {} or set allow_fewer_dirs",
                d.dirs.len(),
                d.data_pieces,
                d.parity_pieces,
                d.width()
            ),
        ));
    }
    for (i, dir) in d.dirs.iter().enumerate() {
        if dir.as_os_str().is_empty() {
            return Err(invalid(format!("{prefix}.dirs"), "an entry is empty"));
        }
        if d.dirs[..i].contains(dir) {
            return Err(invalid(
                format!("{prefix}.dirs"),
                format!("{} is listed twice", dir.display()),
            ));
        }
    }
    Ok(())
}

fn validate_engine(e: &EngineConfig) -> Result<(), ConfigError> {
    validate_disk_set("storage.hot", &e.storage.hot)?;
    if let Some(warm) = &e.storage.warm {
        validate_disk_set("storage.warm", warm)?;
        if let Some(shared) = warm.dirs.iter().find(|d| e.storage.hot.dirs.contains(d)) {
            return Err(invalid(
                "storage.warm.dirs",
                format!("{} is also a hot directory", shared.display()),
            ));
        }
    }
    if let Some(cold) = &e.storage.cold {
        cold.validate()
            .map_err(|e| invalid(format!("storage.cold.{}", e.key), e.reason))?;
    }
    let s = &e.storage;
    if s.shared_volume_bytes_max == 0 {
        return Err(invalid(
            "storage.shared_volume_bytes_max",
            "must be greater than 0",
        ));
    }
    if s.group_commit_records_max == 0 {
        return Err(invalid(
            "storage.group_commit_records_max",
            "must be at least 1",
        ));
    }
    if s.group_commit_bytes_max == 0 {
        return Err(invalid(
            "storage.group_commit_bytes_max",
            "must be greater than 0",
        ));
    }
    if e.metadata.path.as_os_str().is_empty() {
        return Err(invalid("metadata.path", "must not be empty"));
    }
    if !(1..=22).contains(&e.codec.zstd_level) {
        return Err(invalid("codec.zstd_level", "must be between 1 and 22"));
    }
    let f = &e.codec.frames;
    for (key, v) in [
        ("codec.frames.small_frame_bytes", f.small_frame_bytes),
        ("codec.frames.medium_frame_bytes", f.medium_frame_bytes),
        ("codec.frames.large_frame_bytes", f.large_frame_bytes),
    ] {
        if v == 0 {
            return Err(invalid(key, "must be greater than 0"));
        }
    }
    if f.small_frame_bytes > f.medium_frame_bytes || f.medium_frame_bytes > f.large_frame_bytes {
        return Err(invalid(
            "codec.frames.medium_frame_bytes",
            "frame sizes must not shrink: small <= medium <= large",
        ));
    }
    if f.medium_from_bytes > f.large_from_bytes {
        return Err(invalid(
            "codec.frames.large_from_bytes",
            "must not be below medium_from_bytes",
        ));
    }
    if e.shared_object_bytes_max > s.shared_volume_bytes_max {
        return Err(invalid(
            "engine.shared_object_bytes_max",
            "must not exceed storage.shared_volume_bytes_max",
        ));
    }
    if e.pipeline_frames == 0 {
        return Err(invalid("engine.pipeline_frames", "must be at least 1"));
    }
    if !(e.compaction_dead_ratio > 0.0 && e.compaction_dead_ratio <= 1.0) {
        return Err(invalid(
            "engine.compaction_dead_ratio",
            "must be greater than 0 and at most 1",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_default_is_the_core_layout_under_data() {
        let settings = Config::default().validate().unwrap();
        assert_eq!(
            settings.engine,
            EngineConfig::under(Path::new("./data"), DEFAULT_HOT_DIRS)
        );
        assert_eq!(settings.address, "127.0.0.1:9000");
        assert_eq!(settings.region, "us-east-1");
        assert_eq!(settings.domains, vec!["localhost".to_owned()]);
        assert_eq!(settings.shutdown_grace, Duration::from_secs(30));
        assert_eq!(settings.compaction_interval, Some(Duration::from_secs(600)));
        assert_eq!(settings.scrub_interval, Some(Duration::from_secs(86_400)));
        assert!(settings.credentials.is_none());
    }

    #[test]
    fn a_file_with_only_data_dir_derives_the_disks_from_it() {
        let c = Config::from_toml("data_dir = \"/srv/stratum\"\n").unwrap();
        let s = c.validate().unwrap();
        assert_eq!(
            s.engine,
            EngineConfig::under(Path::new("/srv/stratum"), DEFAULT_HOT_DIRS)
        );
        assert_eq!(s.data_dir, Path::new("/srv/stratum"));
    }

    #[test]
    fn an_empty_file_is_the_default() {
        assert_eq!(Config::from_toml("").unwrap(), Config::default());
    }

    #[test]
    fn unknown_keys_are_rejected_with_the_key_named() {
        for (doc, key) in [
            ("datadir = \"x\"\n", "datadir"),
            ("[server]\nadress = \"x\"\n", "adress"),
            ("[storage.hot]\nparity = 1\n", "parity"),
            ("[storage.warm]\ndirs = [\"a\"]\nfast = true\n", "fast"),
            ("[codec.frames]\nsmall = 1\n", "small"),
            ("[maintenance]\nscrub_every = 1\n", "scrub_every"),
            (
                "[storage.cold]\nendpoint = \"https://h\"\nbucket = \"bkt\"\nsecret_key = \"x\"\n",
                "secret_key",
            ),
            ("[nope]\n", "nope"),
        ] {
            let err = Config::from_toml(doc).unwrap_err();
            assert!(err.contains(key), "{doc:?} -> {err}");
        }
    }

    #[test]
    fn validation_errors_name_the_key() {
        for (doc, key) in [
            (
                "[storage.hot]\ndata_pieces = 0\n",
                "storage.hot.data_pieces",
            ),
            ("[storage.hot]\ndirs = [\"a\", \"b\"]\n", "storage.hot.dirs"),
            ("[server]\naddress = \"localhost\"\n", "server.address"),
            ("[server]\nregion = \"US East\"\n", "server.region"),
            ("[server]\ndomains = [\"http://x\"]\n", "server.domains"),
            ("[codec]\nzstd_level = 99\n", "codec.zstd_level"),
            (
                "[engine]\ncompaction_dead_ratio = 0.0\n",
                "engine.compaction_dead_ratio",
            ),
            (
                "[credentials]\naccess_key = \"AKIA\"\nsecret_key = \"short\"\n",
                "credentials.secret_key",
            ),
            (
                "[storage.warm]\ndirs = [\"./data/hot/d0\",\"w1\",\"w2\",\"w3\",\"w4\",\"w5\"]\n",
                "storage.warm.dirs",
            ),
            (
                "[storage.cold]\nendpoint = \"ftp://h\"\nbucket = \"bkt\"\n",
                "storage.cold.endpoint",
            ),
            (
                "[storage.cold]\nendpoint = \"https://h\"\nbucket = \"bkt\"\npart_bytes = 1024\n",
                "storage.cold.part_bytes",
            ),
            (
                "[tiering]\naccess_flush_secs = 0\n",
                "tiering.access_flush_secs",
            ),
            (
                "[tiering]\naccess_flush_secs = 3601\n",
                "tiering.access_flush_secs",
            ),
        ] {
            let c = Config::from_toml(doc).unwrap();
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}`")), "{doc:?} -> {err}");
        }
    }

    #[test]
    fn parse_errors_give_the_place_but_never_quote_the_line() {
        let doc =
            "data_dir = \"d\"\n[credentials]\naccess_key = \"AK\"\nsecret = \"hunter2hunter2\"\n";
        let err = Config::from_toml(doc).unwrap_err();
        assert!(err.starts_with("line 4, column 1:"), "{err}");
        assert!(err.contains("secret"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn credentials_debug_hides_the_secret() {
        let c = CredentialsConfig {
            access_key: "ROOTKEY".into(),
            secret_key: "hunter2hunter2".into(),
        };
        let text = format!(
            "{:?}",
            Config {
                credentials: Some(c),
                ..Config::default()
            }
        );
        assert!(text.contains("ROOTKEY") && !text.contains("hunter2"));
    }

    #[test]
    fn zero_intervals_turn_maintenance_off() {
        let c = Config::from_toml(
            "[maintenance]\ncompaction_interval_secs = 0\nscrub_interval_secs = 0\n",
        )
        .unwrap();
        let s = c.validate().unwrap();
        assert!(s.compaction_interval.is_none() && s.scrub_interval.is_none());
    }
    const EXAMPLE: &str = include_str!("../../../config/stratum.example.toml");

    /// The example with its commented-out keys and tables (`# key = ...`, `# [table]`)
    /// switched on; prose comments never start with either form.
    fn example_uncommented() -> String {
        EXAMPLE
            .lines()
            .map(|line| {
                let Some(rest) = line.strip_prefix("# ") else {
                    return line.to_owned();
                };
                let is_table = rest.starts_with('[') && rest.trim_end().ends_with(']');
                let is_key = rest.split_once(" = ").is_some_and(|(k, _)| {
                    !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                });
                if is_table || is_key {
                    rest.to_owned()
                } else {
                    line.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn key_paths(prefix: &str, v: &toml::Value, out: &mut Vec<String>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    key_paths(&path, v, out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }

    #[test]
    fn the_example_parses_validates_and_states_the_defaults() {
        let c = Config::from_toml(EXAMPLE).unwrap();
        c.validate().unwrap();
        assert_eq!(
            c,
            Config::default(),
            "a value in the example is not the default"
        );
    }

    #[test]
    fn the_example_with_its_optional_keys_on_is_valid_and_matches_the_defaults() {
        let mut c = Config::from_toml(&example_uncommented()).unwrap();
        c.validate().unwrap();
        assert!(c.credentials.is_some() && c.storage.warm.is_some());
        assert_eq!(c.storage.warm.as_ref().map(|w| w.width()), Some(6));
        let cold = c.storage.cold.take().expect("the example's [storage.cold]");
        let mut defaults = ColdTierConfig::new(&cold.endpoint, &cold.bucket);
        defaults.credentials_file = cold.credentials_file.clone();
        assert_eq!(cold, defaults, "a [storage.cold] value is not the default");
        c.credentials = None;
        c.storage.warm = None;
        assert_eq!(c, Config::default().explicit());
    }

    #[test]
    fn the_example_names_every_key_of_the_config() {
        let mut full = Config::default().explicit();
        full.credentials = Some(CredentialsConfig {
            access_key: "AK".into(),
            secret_key: "SK".into(),
        });
        full.storage.warm = Some(DiskSetConfig::under(Path::new("w"), 6));
        let mut cold = ColdTierConfig::new("https://h", "bkt");
        cold.credentials_file = Some(PathBuf::from("f"));
        full.storage.cold = Some(cold);
        let mut wanted = Vec::new();
        key_paths("", &toml::Value::try_from(&full).unwrap(), &mut wanted);
        let example: toml::Value = toml::from_str(&example_uncommented()).unwrap();
        let mut documented = Vec::new();
        key_paths("", &example, &mut documented);
        let missing: Vec<_> = wanted.iter().filter(|k| !documented.contains(k)).collect();
        assert!(
            missing.is_empty(),
            "keys missing from the example: {missing:?}"
        );
        assert!(wanted.len() > 30, "too few keys found: {wanted:?}");
    }

    const B2: &str = include_str!("../../../config/stratum.b2.example.toml");
    const R2: &str = include_str!("../../../config/stratum.r2.example.toml");

    #[test]
    fn the_b2_and_r2_examples_parse_and_validate() {
        let b2 = Config::from_toml(B2).unwrap().validate().unwrap();
        let cold = b2
            .engine
            .storage
            .cold
            .expect("B2 example has [storage.cold]");
        assert!(cold.endpoint.ends_with(".backblazeb2.com") && cold.tls());
        assert!(cold.region.starts_with("us-west-") && !cold.send_checksums);
        let r2 = Config::from_toml(R2).unwrap().validate().unwrap();
        let cold = r2
            .engine
            .storage
            .cold
            .expect("R2 example has [storage.cold]");
        assert!(cold.endpoint.ends_with(".r2.cloudflarestorage.com") && cold.tls());
        assert_eq!(cold.region, "auto");
    }

    #[test]
    fn a_hot_only_config_has_no_cold_tier() {
        let s = Config::from_toml("data_dir = \"d\"\n")
            .unwrap()
            .validate()
            .unwrap();
        assert!(s.engine.storage.cold.is_none());
    }
}
