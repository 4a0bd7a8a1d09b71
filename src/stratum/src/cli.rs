//! The command line: `stratum serve`, `stratum admin key create|list|delete` and
//! `stratum tier replay` (clap derive). Flags override the config file; the config file overrides the defaults.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, ConfigError};

/// Stratum: an S3-compatible object store that owns its bytes.
#[derive(Debug, Parser)]
#[command(
    name = "stratum",
    version,
    about = "Stratum: an S3-compatible object store that owns its bytes",
    propagate_version = true
)]
pub struct Cli {
    /// What to do; without a command, `serve` with its defaults.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the S3 server.
    Serve(ServeArgs),
    /// Administer a data directory (works while the server runs).
    Admin {
        /// What to administer.
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Tiering tools that run offline.
    Tier {
        /// The tiering command.
        #[command(subcommand)]
        command: TierCommand,
    },
}

/// `stratum tier ...`.
#[derive(Debug, Subcommand)]
pub enum TierCommand {
    /// Run the tiering policy over an access trace in virtual time and write its decision
    /// log (formats in docs/tiering.md).
    Replay(TierReplayArgs),
}

/// `stratum tier replay`.
#[derive(Debug, Clone, Args)]
pub struct TierReplayArgs {
    /// The access trace (CSV: ts,op,bucket,key,size,range_len).
    #[arg(long, value_name = "FILE")]
    pub trace: PathBuf,
    /// The cost model (JSON, the format of tiering/cost_model.json).
    #[arg(long, value_name = "FILE")]
    pub cost_model: PathBuf,
    /// Hot tier capacity in bytes.
    #[arg(long, value_name = "BYTES")]
    pub hot_capacity: u64,
    /// Warm tier capacity in bytes.
    #[arg(long, value_name = "BYTES")]
    pub warm_capacity: u64,
    /// Where to write the decision log (CSV: ts,bucket,key,from_tier,to_tier,reason).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// The cold provider in the cost model (default: its `cold_provider`).
    #[arg(long, value_name = "NAME")]
    pub cold: Option<String>,
    /// Policy thresholds (JSON with fields of the policy config; defaults in
    /// docs/tiering.md).
    #[arg(long, value_name = "FILE")]
    pub policy_config: Option<PathBuf>,
}

/// Where the data directory is: `--data-dir`, else the config file's `data_dir`, else
/// `./data`.
#[derive(Debug, Clone, Default, Args)]
pub struct Location {
    /// The config file (TOML; see config/stratum.example.toml). Without it, the embedded
    /// default layout is used.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The data directory (overrides `data_dir` in the config file) [default: ./data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl Location {
    /// The config file with the `--data-dir` override applied.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        Ok(config)
    }
}

/// `stratum serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// HOST:PORT to listen on (overrides `server.address`; port 0 picks a free port)
    /// [default: 127.0.0.1:9000].
    #[arg(long, value_name = "ADDR")]
    pub address: Option<String>,
    /// The config file and data directory.
    #[command(flatten)]
    pub location: Location,
}

impl ServeArgs {
    /// The config file with every flag applied.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut config = self.location.load()?;
        if let Some(address) = &self.address {
            config.server.address = address.clone();
        }
        Ok(config)
    }
}

/// `stratum admin ...`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Manage access keys (stored in <data_dir>/keys.json).
    Key {
        /// The key operation.
        #[command(subcommand)]
        command: KeyCommand,
    },
}

/// `stratum admin key ...`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an access key: the given pair, or a generated one. Prints the pair.
    Create {
        /// The access key id (3-128 characters of A-Z a-z 0-9 _ - .).
        #[arg(long, requires = "secret_key", value_name = "AK")]
        access_key: Option<String>,
        /// The secret (8-128 printable characters). Note that command lines are visible to
        /// other local users; prefer a generated key.
        #[arg(long, requires = "access_key", value_name = "SK")]
        secret_key: Option<String>,
        /// The config file and data directory.
        #[command(flatten)]
        location: Location,
    },
    /// List access keys with their creation time (never their secrets).
    List {
        /// The config file and data directory.
        #[command(flatten)]
        location: Location,
    },
    /// Delete an access key; requests signed with it fail within a second.
    Delete {
        /// The access key id.
        access_key: String,
        /// The config file and data directory.
        #[command(flatten)]
        location: Location,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_override_the_config_file() {
        let cli = Cli::try_parse_from([
            "stratum",
            "serve",
            "--address",
            "127.0.0.1:0",
            "--data-dir",
            "/tmp/x",
        ])
        .unwrap();
        let Some(Command::Serve(args)) = cli.command else {
            panic!("not serve");
        };
        let c = args.load().unwrap();
        assert_eq!(c.server.address, "127.0.0.1:0");
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        let s = c.validate().unwrap();
        assert_eq!(s.engine.metadata.path, PathBuf::from("/tmp/x/meta"));
    }

    #[test]
    fn a_key_pair_needs_both_halves() {
        assert!(
            Cli::try_parse_from(["stratum", "admin", "key", "create", "--access-key", "AK1"])
                .is_err()
        );
        assert!(Cli::try_parse_from([
            "stratum",
            "admin",
            "key",
            "create",
            "--access-key",
            "AK1",
            "--secret-key",
            "12345678"
        ])
        .is_ok());
        assert!(Cli::try_parse_from(["stratum", "admin", "key", "create"]).is_ok());
    }

    #[test]
    fn tier_replay_needs_every_input() {
        let full = [
            "stratum",
            "tier",
            "replay",
            "--trace",
            "t.csv",
            "--cost-model",
            "m.json",
            "--hot-capacity",
            "100",
            "--warm-capacity",
            "400",
            "--out",
            "d.csv",
        ];
        let cli = Cli::try_parse_from(full).unwrap();
        let Some(Command::Tier {
            command: TierCommand::Replay(args),
        }) = cli.command
        else {
            panic!("not tier replay");
        };
        assert_eq!(args.hot_capacity, 100);
        assert_eq!(args.warm_capacity, 400);
        assert!(Cli::try_parse_from(&full[..11]).is_err());
    }
}
