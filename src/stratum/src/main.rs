//! `stratum`: parses the command line and runs the command. See the library crate for the
//! parts.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use stratum::cli::{AdminCommand, Cli, Command, ServeArgs};
use stratum::{admin, serve, telemetry, tier};

/// Exit status for a config that does not load or validate (as sysexits' EX_CONFIG).
const EXIT_CONFIG: u8 = 78;
/// How long the runtime waits for stray blocking tasks after the server returns.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli
        .command
        .unwrap_or_else(|| Command::Serve(ServeArgs::default()))
    {
        Command::Serve(args) => {
            let settings = match args.load().and_then(|c| c.validate()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("stratum: {e}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            telemetry::init_logging(settings.log_format);
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("stratum: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let result = runtime.block_on(serve::run(settings));
            runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "stratum serve failed");
                    eprintln!("stratum: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Tier { command } => {
            let mut out = std::io::stdout().lock();
            match tier::command(&command, &mut out) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("stratum: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Admin {
            command: AdminCommand::Key { command },
        } => {
            let mut out = std::io::stdout().lock();
            match admin::key_command(&command, &mut out) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("stratum: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
