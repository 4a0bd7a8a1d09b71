//! The command line: `stratum serve`, `stratum admin key create|list|delete`,
//! `stratum tier replay` (offline) and `stratum tier explain|decisions|summary|run` (calls
//! to a running server's admin API) (clap derive). Flags override the config file; the
//! config file overrides the defaults.

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
    /// Tiering: offline replay, and the running server's placement decisions.
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
    /// Where an object is, why, what the policy sees and what the mover will do next
    /// (asks the running server).
    Explain(TierExplainArgs),
    /// The mover's recent decisions, newest first (asks the running server).
    Decisions(TierDecisionsArgs),
    /// Objects, bytes, capacity and monthly cost per tier (asks the running server).
    Summary(AdminEndpoint),
    /// Runs a policy pass now and waits for its moves (asks the running server).
    Run(AdminEndpoint),
}

/// How `stratum tier explain|decisions|summary|run` reach the server's admin API and sign
/// for it.
#[derive(Debug, Clone, Default, Args)]
pub struct AdminEndpoint {
    /// The server, `http://HOST:PORT` [default: http:// + the config's `server.address`].
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// A root access key [default: STRATUM_ACCESS_KEY, else the config's `[credentials]`,
    /// else the root key in <data_dir>/keys.json].
    #[arg(long, requires = "secret_key", value_name = "AK")]
    pub access_key: Option<String>,
    /// Its secret. Note that command lines are visible to other local users; prefer the
    /// environment or the key file.
    #[arg(long, requires = "access_key", value_name = "SK")]
    pub secret_key: Option<String>,
    /// The region to sign for [default: the config's `server.region`, us-east-1].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Print the server's JSON answer as it came.
    #[arg(long)]
    pub json: bool,
    /// The config file and data directory (for the defaults above).
    #[command(flatten)]
    pub location: Location,
}

/// `stratum tier explain`.
#[derive(Debug, Clone, Args)]
pub struct TierExplainArgs {
    /// The object, `BUCKET/KEY` (the key may contain `/`).
    #[arg(value_name = "BUCKET/KEY")]
    pub object: String,
    /// The server and credentials.
    #[command(flatten)]
    pub server: AdminEndpoint,
}

/// `stratum tier decisions`.
#[derive(Debug, Clone, Args)]
pub struct TierDecisionsArgs {
    /// Only this bucket's objects.
    #[arg(long, value_name = "BUCKET")]
    pub bucket: Option<String>,
    /// Only objects with this key.
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// Only decisions since then: an age (`90s`, `30m`, `1h`, `2d`, `1w`) or an RFC 3339
    /// time.
    #[arg(long, value_name = "AGE|TIME")]
    pub since: Option<String>,
    /// Only decisions before then (same forms as `--since`).
    #[arg(long, value_name = "AGE|TIME")]
    pub until: Option<String>,
    /// At most this many decisions (1-10000).
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub limit: u32,
    /// The server and credentials.
    #[command(flatten)]
    pub server: AdminEndpoint,
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

    #[test]
    fn tier_admin_commands_parse() {
        let cli = Cli::try_parse_from([
            "stratum",
            "tier",
            "explain",
            "photos/2024/cat.jpg",
            "--endpoint",
            "http://127.0.0.1:9100",
            "--json",
        ])
        .unwrap();
        let Some(Command::Tier {
            command: TierCommand::Explain(args),
        }) = cli.command
        else {
            panic!("not tier explain");
        };
        assert_eq!(args.object, "photos/2024/cat.jpg");
        assert_eq!(
            args.server.endpoint.as_deref(),
            Some("http://127.0.0.1:9100")
        );
        assert!(args.server.json);

        let cli = Cli::try_parse_from([
            "stratum",
            "tier",
            "decisions",
            "--bucket",
            "photos",
            "--since",
            "2d",
            "--limit",
            "5",
            "--access-key",
            "AK",
            "--secret-key",
            "SK123456",
        ])
        .unwrap();
        let Some(Command::Tier {
            command: TierCommand::Decisions(args),
        }) = cli.command
        else {
            panic!("not tier decisions");
        };
        assert_eq!(args.bucket.as_deref(), Some("photos"));
        assert_eq!(args.since.as_deref(), Some("2d"));
        assert_eq!(args.limit, 5);
        assert_eq!(args.server.access_key.as_deref(), Some("AK"));

        let parse = |args: &[&str]| Cli::try_parse_from(args);
        assert!(parse(&["stratum", "tier", "summary"]).is_ok());
        assert!(parse(&["stratum", "tier", "run", "--data-dir", "/tmp/x"]).is_ok());
        assert!(parse(&["stratum", "tier", "explain"]).is_err());
        assert!(parse(&["stratum", "tier", "decisions", "--limit", "0"]).is_err());
        assert!(parse(&["stratum", "tier", "decisions", "--limit", "10001"]).is_err());
        assert!(parse(&["stratum", "tier", "summary", "--access-key", "AK"]).is_err());
        let cli = parse(&["stratum", "tier", "decisions"]).unwrap();
        let Some(Command::Tier {
            command: TierCommand::Decisions(args),
        }) = cli.command
        else {
            panic!("not tier decisions");
        };
        assert_eq!(args.limit, 100);
    }
}
