//! [`Server`]: the real `stratum` binary on a temporary data directory, as the tests run it.
//!
//! Each server gets its own [`TempDir`] holding `data/` (the `--data-dir`), `server.log` (the
//! server's stderr, appended across restarts; the access lines of every request are there)
//! and scratch space for the test. It listens on `127.0.0.1:0`; the port is read from the
//! one line the binary prints once bound.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::http;

/// How long the binary may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a SIGTERM'd server may take to drain and exit.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// The prefix of the one line `stratum serve` prints once bound.
const LISTENING_PREFIX: &str = "stratum listening on ";

/// A directory removed on drop (kept when `STRATUM_E2E_KEEP` is set, or when the thread is
/// panicking, so a failure can be looked at).
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A fresh, empty directory under the system temporary directory.
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "stratum-e2e-{label}-{}-{n}-{:08x}",
            std::process::id(),
            random_u64() as u32
        ));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("STRATUM_E2E_KEEP").is_some() {
            eprintln!("e2e: kept {}", self.path.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A random `u64` from std's per-process random hasher keys and the clock.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// `len` random characters from `alphabet`.
fn random_string(alphabet: &[u8], len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut word = random_u64();
    for i in 0..len {
        if i % 8 == 0 {
            word = random_u64();
        }
        out.push(alphabet[(word % alphabet.len() as u64) as usize] as char);
        word /= alphabet.len() as u64;
    }
    out
}

/// The `stratum` binary: `$STRATUM_BIN`, else `stratum` in the cargo target directory this
/// test binary was built into (`target/debug/deps/<test>` → `target/debug/stratum`), else in
/// `$CARGO_TARGET_DIR/debug`, else in the workspace's `target/debug`.
pub fn stratum_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("STRATUM_BIN") {
        let bin = PathBuf::from(bin);
        assert!(bin.is_file(), "STRATUM_BIN={} is not a file", bin.display());
        return bin;
    }
    let name = format!("stratum{}", std::env::consts::EXE_SUFFIX);
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(deps) = exe.parent() {
            if deps.file_name().is_some_and(|n| n == "deps") {
                if let Some(profile) = deps.parent() {
                    candidates.push(profile.join(&name));
                }
            } else {
                candidates.push(deps.join(&name));
            }
        }
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(dir).join("debug").join(&name));
    }
    candidates.push(crate::workspace_root().join("target/debug").join(&name));
    for c in &candidates {
        if c.is_file() {
            return c.clone();
        }
    }
    panic!(
        "the stratum binary was not found (looked at {candidates:?}); \
         run `cargo build -p stratum` first, or set STRATUM_BIN"
    );
}

/// A running (or stopped) `stratum serve` process on its own data directory.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    endpoint: String,
    access_key: String,
    secret_key: String,
    data_dir: PathBuf,
    log_path: PathBuf,
    binary: PathBuf,
    /// `--config`, when the test gave one.
    config: Option<PathBuf>,
    /// Extra environment of the process (e.g. `STRATUM_FAILPOINT`).
    env: Vec<(String, String)>,
    // Last, so the directory goes after the process is gone.
    dir: TempDir,
}

impl Server {
    /// Starts a server on a fresh temporary data directory with random root keys, and waits
    /// until it is ready.
    pub fn start() -> Server {
        Server::start_with_config(None)
    }

    /// [`Server::start`] with a config file: `config_toml` is written to the server's
    /// directory with every `{dir}` replaced by that directory's path (for disk sets and
    /// credential files under it). `--data-dir` still overrides its `data_dir`.
    pub fn start_with_config(config_toml: Option<&str>) -> Server {
        let dir = TempDir::new("server");
        let config = config_toml.map(|text| {
            let path = dir.path().join("config.toml");
            let text = text.replace("{dir}", &dir.path().display().to_string());
            std::fs::write(&path, text).expect("write the config file");
            path
        });
        let data_dir = dir.path().join("data");
        let alnum = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let secret_alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut server = Server {
            child: None,
            endpoint: String::new(),
            access_key: format!("E2E{}", random_string(alnum, 17)),
            secret_key: random_string(secret_alphabet, 40),
            log_path: dir.path().join("server.log"),
            data_dir,
            binary: stratum_binary(),
            config,
            env: Vec::new(),
            dir,
        };
        server.spawn();
        server
    }

    /// The server's own temporary directory (`{dir}` in its config).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Sets an environment variable for the next start (`None` removes it).
    pub fn set_env(&mut self, name: &str, value: Option<&str>) {
        self.env.retain(|(n, _)| n != name);
        if let Some(v) = value {
            self.env.push((name.to_owned(), v.to_owned()));
        }
    }

    /// Waits up to `timeout` for the process to exit on its own (a failpoint abort);
    /// returns its status, or `None` if it still runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let status = wait_timeout(self.child.as_mut()?, timeout);
        if status.is_some() {
            self.child = None;
        }
        status
    }

    /// Starts the process again after it exited on its own (no graceful stop first).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the server still runs");
        self.spawn();
    }

    /// `http://127.0.0.1:PORT`, as printed by the server (it changes on restart).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> &str {
        self.endpoint
            .strip_prefix("http://")
            .unwrap_or(&self.endpoint)
    }

    /// The root access key.
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// The root secret key.
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// The `--data-dir`.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// A fresh scratch directory for the test, removed with the server's directory.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join("scratch").join(name);
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// The server's log (its stderr, across restarts).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last `lines` lines of the server's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Whether the process is running (spawned and not reaped).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            None => false,
            Some(c) => c.try_wait().ok().flatten().is_none(),
        }
    }

    fn spawn(&mut self) {
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .unwrap();
        writeln!(log, "=== e2e: spawning {} serve", self.binary.display()).unwrap();
        let mut cmd = Command::new(&self.binary);
        cmd.arg("serve");
        if let Some(config) = &self.config {
            cmd.arg("--config").arg(config);
        }
        cmd.arg("--address")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env("STRATUM_ACCESS_KEY", &self.access_key)
            .env("STRATUM_SECRET_KEY", &self.secret_key)
            .envs(self.env.iter().map(|(n, v)| (n, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log.try_clone().unwrap()));
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.binary.display()));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let mut log_for_thread = log;
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            // Keep draining stdout (into the log) so the server never blocks on a full pipe.
            for line in lines.map_while(Result::ok) {
                let _ = writeln!(log_for_thread, "[stdout] {line}");
            }
        });
        self.child = Some(child);
        let first = match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(e) => {
                let status = self
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten());
                if status.is_none() {
                    self.kill();
                }
                panic!(
                    "stratum serve printed no listening line ({e:?}; exit status {status:?}).\n\
                     --- server log ---\n{}",
                    self.log_tail(60)
                );
            }
        };
        let Some(endpoint) = first.strip_prefix(LISTENING_PREFIX) else {
            self.kill();
            panic!(
                "stratum serve's first stdout line is {first:?}, expected \
                 `{LISTENING_PREFIX}http://127.0.0.1:PORT`.\n--- server log ---\n{}",
                self.log_tail(60)
            );
        };
        assert!(
            endpoint.starts_with("http://127.0.0.1:")
                && endpoint["http://127.0.0.1:".len()..]
                    .parse::<u16>()
                    .is_ok_and(|p| p != 0),
            "bad listening line {first:?}"
        );
        self.endpoint = endpoint.to_string();
        self.wait_ready();
    }

    /// Polls `GET /health/ready` until it answers 200.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last = String::new();
        while Instant::now() < deadline {
            match http::request(self.address(), "GET", "/health/ready", &[], b"") {
                Ok(resp) if resp.status == 200 => return,
                Ok(resp) => last = format!("{} {}", resp.status, resp.body_text()),
                Err(e) => last = e.to_string(),
            }
            if !self.is_running() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "GET /health/ready never answered 200 (last: {last}).\n--- server log ---\n{}",
            self.log_tail(60)
        );
    }

    /// Graceful shutdown: SIGTERM, then asserts the server exits 0 in time.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let status = wait_timeout(&mut child, STOP_TIMEOUT);
        match status {
            Some(status) if status.success() => {}
            Some(status) => panic!(
                "stratum exited with {status} after SIGTERM (expected 0).\n--- server log ---\n{}",
                self.log_tail(60)
            ),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "stratum did not exit within {STOP_TIMEOUT:?} of SIGTERM.\n\
                     --- server log ---\n{}",
                    self.log_tail(60)
                );
            }
        }
    }

    /// A crash: SIGKILL, and reap the process.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same data directory and keys (gracefully stopping it
    /// first if it still runs). The port changes.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        self.spawn();
    }

    /// `stratum admin key create --access-key AK --secret-key SK --data-dir DIR`; returns
    /// its stdout (panics with its output if it fails).
    pub fn admin_key_create(&self, access_key: &str, secret_key: &str) -> String {
        let out = Command::new(&self.binary)
            .args(["admin", "key", "create", "--access-key", access_key])
            .args(["--secret-key", secret_key, "--data-dir"])
            .arg(&self.data_dir)
            .output()
            .expect("run stratum admin key create");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "stratum admin key create failed: {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "e2e: server {} log ({}), last lines:\n{}",
                self.endpoint,
                self.log_path.display(),
                self.log_tail(40)
            );
        }
    }
}

/// Waits for `child` up to `timeout`; `None` if it still runs.
fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Opens (creating) an empty file, for the clients' isolated config files.
pub(crate) fn empty_file(path: &Path) {
    File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
}
