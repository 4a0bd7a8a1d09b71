//! The real clients, run against a [`Server`]: awscli, rclone and Python scripts (boto3) from
//! the virtualenv that `scripts/e2e-deps.sh` fills.
//!
//! Each runs isolated from the machine's configuration: every `AWS_*` and `RCLONE_*`
//! variable of the test process is dropped (a set `AWS_CA_BUNDLE` breaks rclone), `HOME`
//! and the AWS config files point into the server's directory, and only the endpoint,
//! the keys and region `us-east-1` are given. Everything else stays at the client's
//! defaults (checksums, chunked encoding, multipart thresholds), which is the point.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::server::{empty_file, Server};

/// How long one client command may run.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(300);

/// The e2e virtualenv: `$STRATUM_E2E_VENV`, else `target/e2e-venv` in the workspace.
pub fn venv_dir() -> PathBuf {
    std::env::var_os("STRATUM_E2E_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target/e2e-venv"))
}

fn venv_tool(name: &str) -> PathBuf {
    let path = venv_dir().join("bin").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run ./scripts/e2e-deps.sh (it installs awscli, boto3 and rclone \
         into target/e2e-venv; scripts/test.sh runs it)",
        path.display()
    );
    path
}

/// One finished client command.
#[derive(Debug)]
pub struct Run {
    /// The command line, for messages.
    pub command: String,
    /// The exit status (`None`: killed after the timeout).
    pub status: Option<ExitStatus>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The tail of the server's log when the command ended.
    pub server_log: String,
}

impl Run {
    /// Whether the command exited 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// The command, its status, its output and the server's recent log lines.
    pub fn describe(&self) -> String {
        format!(
            "$ {}\nexit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- server log (tail) ---\n{}",
            self.command,
            match self.status {
                Some(s) => s.to_string(),
                None => format!("killed after {CLIENT_TIMEOUT:?}"),
            },
            clip(&self.stdout),
            clip(&self.stderr),
            self.server_log
        )
    }

    /// Stdout; panics with [`Run::describe`] unless the command succeeded.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert!(
            self.success(),
            "client command failed:\n{}",
            self.describe()
        );
        &self.stdout
    }

    /// Stdout and stderr together; panics unless the command failed.
    #[track_caller]
    pub fn fails(&self) -> String {
        assert!(
            !self.success(),
            "client command was expected to fail:\n{}",
            self.describe()
        );
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Keeps assertion messages readable when a client prints a lot.
fn clip(text: &str) -> String {
    const MAX: usize = 8000;
    if text.len() <= MAX {
        return text.to_string();
    }
    let tail: String = text
        .chars()
        .rev()
        .take(MAX)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("[… {} bytes cut …]\n{tail}", text.len() - tail.len())
}

/// The client's private home: empty AWS config and credentials files, an empty rclone
/// config.
fn client_home(server: &Server) -> PathBuf {
    let home = server.log_path().parent().unwrap().join("client-home");
    if !home.exists() {
        std::fs::create_dir_all(&home).unwrap();
        empty_file(&home.join("aws-config"));
        empty_file(&home.join("aws-credentials"));
        empty_file(&home.join("rclone.conf"));
    }
    home
}

/// A command with the test process's `AWS_*`/`RCLONE_*` variables removed and `HOME` and the
/// config files pointed at the server's client home.
fn isolated(program: &Path, server: &Server) -> Command {
    let home = client_home(server);
    let mut cmd = Command::new(program);
    for (name, _) in std::env::vars_os() {
        let n = name.to_string_lossy();
        if n.starts_with("AWS_") || n.starts_with("RCLONE_") {
            cmd.env_remove(&name);
        }
    }
    cmd.env("HOME", &home)
        .env("AWS_CONFIG_FILE", home.join("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("aws-credentials"))
        .env("RCLONE_CONFIG", home.join("rclone.conf"))
        .stdin(Stdio::null());
    cmd
}

fn aws_env(cmd: &mut Command, server: &Server) {
    cmd.env("AWS_ACCESS_KEY_ID", server.access_key())
        .env("AWS_SECRET_ACCESS_KEY", server.secret_key())
        .env("AWS_DEFAULT_REGION", "us-east-1");
}

/// Runs `aws --endpoint-url ENDPOINT ARGS…` with the server's root keys.
pub fn aws<S: AsRef<OsStr>>(server: &Server, args: &[S]) -> Run {
    aws_with_env(server, args, &[])
}

/// [`aws`] with extra environment variables (e.g. another `AWS_SECRET_ACCESS_KEY`).
pub fn aws_with_env<S: AsRef<OsStr>>(server: &Server, args: &[S], env: &[(&str, &str)]) -> Run {
    let mut cmd = isolated(&venv_tool("aws"), server);
    aws_env(&mut cmd, server);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.arg("--endpoint-url").arg(server.endpoint()).args(args);
    run(cmd, server)
}

/// Runs `rclone ARGS…` with an env-configured remote `stratum:` (type s3, provider Other, the
/// server's endpoint and root keys, region us-east-1, everything else at rclone's defaults).
pub fn rclone<S: AsRef<OsStr>>(server: &Server, args: &[S]) -> Run {
    let mut cmd = isolated(&venv_tool("rclone"), server);
    cmd.env("RCLONE_CONFIG_STRATUM_TYPE", "s3")
        .env("RCLONE_CONFIG_STRATUM_PROVIDER", "Other")
        .env("RCLONE_CONFIG_STRATUM_ENDPOINT", server.endpoint())
        .env("RCLONE_CONFIG_STRATUM_ACCESS_KEY_ID", server.access_key())
        .env(
            "RCLONE_CONFIG_STRATUM_SECRET_ACCESS_KEY",
            server.secret_key(),
        )
        .env("RCLONE_CONFIG_STRATUM_REGION", "us-east-1")
        .args(args);
    run(cmd, server)
}

/// Runs `python tests/e2e/SCRIPT ARGS…` with the venv's python; the script finds the server
/// in `STRATUM_ENDPOINT`, `STRATUM_ACCESS_KEY`, `STRATUM_SECRET_KEY` (and the usual `AWS_*`
/// variables, region us-east-1).
pub fn python<S: AsRef<OsStr>>(server: &Server, script: &str, args: &[S]) -> Run {
    python_with_env(server, script, args, &[])
}

/// [`python`] with extra environment variables.
pub fn python_with_env<S: AsRef<OsStr>>(
    server: &Server,
    script: &str,
    args: &[S],
    env: &[(&str, &OsStr)],
) -> Run {
    let path = crate::workspace_root().join("tests/e2e").join(script);
    assert!(path.is_file(), "{} is missing", path.display());
    let mut cmd = isolated(&venv_tool("python"), server);
    aws_env(&mut cmd, server);
    cmd.env("STRATUM_ENDPOINT", server.endpoint())
        .env("STRATUM_ACCESS_KEY", server.access_key())
        .env("STRATUM_SECRET_KEY", server.secret_key())
        .env("PYTHONUNBUFFERED", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.arg(&path).args(args);
    run(cmd, server)
}

fn command_line(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| {
        let a = a.to_string_lossy();
        if a.contains(' ') || a.is_empty() {
            format!("{a:?}")
        } else {
            a.into_owned()
        }
    }));
    parts.join(" ")
}

/// Runs `cmd` to completion (or [`CLIENT_TIMEOUT`]), collecting its output.
fn run(mut cmd: Command, server: &Server) -> Run {
    let command = command_line(&cmd);
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {command}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = String::from_utf8_lossy(&out_thread.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_thread.join().unwrap_or_default()).into_owned();
    Run {
        command,
        status,
        stdout,
        stderr,
        server_log: server.log_tail(30),
    }
}
