//! The `stratum` binary as a process: it starts, prints where it listens, answers health,
//! metrics and S3 requests over plain HTTP/1.1, manages keys beside a running server,
//! exits 0 on SIGTERM, and writes the access statistics of its reads before it does.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_stratum");
const ROOT_AK: &str = "TESTROOTKEY";
const ROOT_SK: &str = "test-root-secret";

/// A running `stratum serve`, killed if the test fails before it stops it.
struct Server {
    child: Child,
    addr: String,
    /// Lines printed before the listening line.
    preamble: Vec<String>,
    /// The rest of stdout, read in the background.
    rest: mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data_dir: &Path, env_keys: bool) -> Server {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--address", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("STRATUM_ACCESS_KEY")
        .env_remove("STRATUM_SECRET_KEY")
        .env("STRATUM_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if env_keys {
        cmd.env("STRATUM_ACCESS_KEY", ROOT_AK)
            .env("STRATUM_SECRET_KEY", ROOT_SK);
    }
    let mut child = cmd.spawn().expect("stratum starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || forward_lines(stdout, tx));
    // From here the guard kills and reaps the child if the test fails.
    let mut server = Server {
        child,
        addr: String::new(),
        preamble: Vec::new(),
        rest: rx,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = server
            .rest
            .recv_timeout(left)
            .expect("stratum printed its listening line in time");
        if let Some(url) = line.strip_prefix("stratum listening on http://") {
            server.addr = url.trim().to_owned();
            return server;
        }
        server.preamble.push(line);
    }
}

fn forward_lines(stdout: ChildStdout, tx: mpsc::Sender<String>) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { return };
        if tx.send(line).is_err() {
            return;
        }
    }
}

/// One HTTP/1.1 request with `Connection: close`; the status and the body.
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM failed");
}

fn wait_exit(child: &mut Child, within: Duration) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "stratum did not exit in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn admin(data_dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(["admin", "key"])
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn serves_health_metrics_and_s3_then_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), true);
    assert!(server.preamble.is_empty(), "{:?}", server.preamble);

    assert_eq!(
        http(&server.addr, "GET", "/health/live", &[]),
        (200, "ok".into())
    );
    assert_eq!(http(&server.addr, "GET", "/health/ready", &[]).0, 200);

    // An anonymous S3 request is refused, and counted.
    let (status, body) = http(&server.addr, "GET", "/", &[]);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");

    let (status, metrics) = http(&server.addr, "GET", "/metrics", &[]);
    assert_eq!(status, 200);
    assert!(metrics.contains("stratum_up 1"), "{metrics}");
    assert!(metrics.contains("stratum_logical_bytes"), "{metrics}");
    assert!(metrics.contains("stratum_s3_requests_total"), "{metrics}");
    assert!(
        metrics.contains("stratum_s3_request_duration_seconds_bucket"),
        "the duration renders as a histogram: {metrics}"
    );

    // A signed request for a bucket named `metrics` is S3's, not ours.
    let (status, body) = http(
        &server.addr,
        "GET",
        "/metrics",
        &[("Authorization", "AWS4-HMAC-SHA256 Credential=NOPE/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00")],
    );
    assert_ne!(status, 200, "{body}");
    assert!(body.contains("<Code>"), "{body}");

    // The env root key is never written to the key file.
    assert!(!dir.path().join("keys.json").exists());

    sigterm(&server.child);
    let status = wait_exit(&mut server.child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
}

#[test]
fn generates_the_root_key_once_and_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = start(dir.path(), false);
    let printed = first.preamble.join("\n");
    let ak = printed
        .lines()
        .find_map(|l| l.strip_prefix("root access key: "))
        .unwrap_or_else(|| panic!("no root key printed: {printed}"))
        .to_owned();
    let sk = printed
        .lines()
        .find_map(|l| l.strip_prefix("root secret key: "))
        .unwrap()
        .to_owned();
    assert!(ak.starts_with("STR") && ak.len() == 20, "{ak}");
    assert_eq!(sk.len(), 40);
    let stored = std::fs::read_to_string(dir.path().join("keys.json")).unwrap();
    assert!(stored.contains(&ak) && stored.contains(&sk));

    let (ok, list, _) = admin(dir.path(), &["list"]);
    assert!(ok);
    assert!(list.contains(&ak) && list.contains("yes"), "{list}");
    assert!(!list.contains(&sk), "list printed a secret");

    sigterm(&first.child);
    assert!(wait_exit(&mut first.child, Duration::from_secs(10)).success());
    let late: Vec<String> = first.rest.try_iter().collect();
    assert!(!late.iter().any(|l| l.contains(&sk)), "{late:?}");

    let mut second = start(dir.path(), false);
    assert!(
        !second.preamble.iter().any(|l| l.contains("root")),
        "a second start printed a key: {:?}",
        second.preamble
    );
    sigterm(&second.child);
    assert!(wait_exit(&mut second.child, Duration::from_secs(10)).success());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("keys.json")).unwrap(),
        stored
    );
}

#[test]
fn admin_key_commands_work_beside_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), true);

    let (ok, out, err) = admin(dir.path(), &["create"]);
    assert!(ok, "{err}");
    let ak = out
        .lines()
        .find_map(|l| l.strip_prefix("access key: "))
        .unwrap()
        .to_owned();
    assert!(out.lines().any(|l| l.starts_with("secret key: ")));

    let (ok, _, err) = admin(
        dir.path(),
        &[
            "create",
            "--access-key",
            "MYKEY",
            "--secret-key",
            "my-secret-key",
        ],
    );
    assert!(ok, "{err}");
    let (ok, _, err) = admin(dir.path(), &["create", "--access-key", "MYKEY"]);
    assert!(!ok, "a half pair was accepted");
    assert!(err.contains("secret"), "{err}");
    let (ok, _, err) = admin(
        dir.path(),
        &[
            "create",
            "--access-key",
            "MYKEY",
            "--secret-key",
            "my-secret-key",
        ],
    );
    assert!(!ok && err.contains("already exists"), "{err}");

    let (ok, list, _) = admin(dir.path(), &["list"]);
    assert!(ok && list.contains(&ak) && list.contains("MYKEY"), "{list}");
    assert!(!list.contains("my-secret-key"));

    let (ok, out, _) = admin(dir.path(), &["delete", "MYKEY"]);
    assert!(ok && out.contains("deleted"), "{out}");
    let (ok, _, err) = admin(dir.path(), &["delete", "MYKEY"]);
    assert!(!ok && err.contains("no access key"), "{err}");

    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(dir.path().join("keys.json"))
            .unwrap()
            .permissions()
            .mode()
    };
    assert_eq!(mode & 0o777, 0o600);

    // The server is still healthy.
    assert_eq!(http(&server.addr, "GET", "/health/live", &[]).0, 200);
    sigterm(&server.child);
    assert!(wait_exit(&mut server.child, Duration::from_secs(10)).success());
}

#[test]
fn a_bad_config_fails_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("stratum.toml");
    std::fs::write(&config, "[server]\nadress = \"127.0.0.1:0\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("adress"), "{err}");

    std::fs::write(&config, "[storage.hot]\ndata_pieces = 0\n").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("storage.hot.data_pieces"), "{err}");
}

/// A config file in `dir` with the given grace period, listening on a free port.
fn config_with_grace(dir: &Path, grace_secs: u64) -> std::path::PathBuf {
    let path = dir.join("stratum.toml");
    let text = format!(
        "data_dir = {:?}\n[server]\naddress = \"127.0.0.1:0\"\nshutdown_grace_secs = {grace_secs}\nlog_format = \"json\"\n",
        dir.join("data")
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn start_with_config(config: &Path) -> Server {
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(config)
        .env("STRATUM_ACCESS_KEY", ROOT_AK)
        .env("STRATUM_SECRET_KEY", ROOT_SK)
        .env("STRATUM_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || forward_lines(stdout, tx));
    let mut server = Server {
        child,
        addr: String::new(),
        preamble: Vec::new(),
        rest: rx,
    };
    let line = server.rest.recv_timeout(Duration::from_secs(60)).unwrap();
    server.addr = line
        .strip_prefix("stratum listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    server
}

/// A connection that has sent half a request head: in flight until the grace ends.
fn half_request(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    s
}

#[test]
fn the_grace_period_bounds_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_with_config(&config_with_grace(dir.path(), 1));
    let _stuck = half_request(&server.addr);
    let started = Instant::now();
    sigterm(&server.child);
    let status = wait_exit(&mut server.child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[test]
fn a_second_signal_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_with_config(&config_with_grace(dir.path(), 60));
    let _stuck = half_request(&server.addr);
    sigterm(&server.child);
    std::thread::sleep(Duration::from_millis(300));
    sigterm(&server.child);
    let status = wait_exit(&mut server.child, Duration::from_secs(5));
    assert_eq!(status.code(), Some(130));
}

/// Headers of a SigV4-signed `GET /` (ListBuckets) from `addr` with the given key pair.
fn signed_list_buckets(addr: &str, access_key: &str, secret: &str) -> Vec<(String, String)> {
    signed_headers(addr, "GET", "/", access_key, secret)
}

/// SigV4 headers for a request without a body or query (`path` needs no encoding).
fn signed_headers(
    addr: &str,
    method: &str,
    path: &str,
    access_key: &str,
    secret: &str,
) -> Vec<(String, String)> {
    use stratum_auth::signing::{sha256_hex, string_to_sign, AmzDate, Scope, SigningKey};
    use stratum_auth::SecretKey;
    let now = time::OffsetDateTime::now_utc();
    let date = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let empty = sha256_hex(b"");
    let canonical = format!(
        "{method}\n{path}\n\nhost:{addr}\nx-amz-content-sha256:{empty}\nx-amz-date:{date}\n\n\
         host;x-amz-content-sha256;x-amz-date\n{empty}"
    );
    let scope = Scope {
        date: date[..8].to_owned(),
        region: "us-east-1".to_owned(),
        service: "s3".to_owned(),
    };
    let sts = string_to_sign(&canonical, &AmzDate::parse(&date).unwrap(), &scope);
    let signature = SigningKey::derive(&SecretKey::new(secret), &scope).sign(&sts);
    vec![
        ("x-amz-content-sha256".into(), empty),
        ("x-amz-date".into(), date),
        (
            "Authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={access_key}/{scope}, \
                 SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={signature}"
            ),
        ),
    ]
}

fn list_buckets(addr: &str, access_key: &str, secret: &str) -> (u16, String) {
    let headers = signed_list_buckets(addr, access_key, secret);
    let refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    http(addr, "GET", "/", &refs)
}

#[test]
fn a_created_key_works_at_once_and_a_deleted_one_stops_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), true);
    let (status, body) = list_buckets(&server.addr, ROOT_AK, ROOT_SK);
    assert_eq!(status, 200, "the env root key signs: {body}");

    // A key the server has never seen is refused (and the miss re-reads the empty file).
    let (status, body) = list_buckets(&server.addr, "NEWKEY01", "new-key-secret");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<Code>InvalidAccessKeyId</Code>"), "{body}");

    let (ok, _, err) = admin(
        dir.path(),
        &[
            "create",
            "--access-key",
            "NEWKEY01",
            "--secret-key",
            "new-key-secret",
        ],
    );
    assert!(ok, "{err}");
    let (status, body) = list_buckets(&server.addr, "NEWKEY01", "new-key-secret");
    assert_eq!(status, 200, "a new key works at once: {body}");

    let (ok, _, err) = admin(dir.path(), &["delete", "NEWKEY01"]);
    assert!(ok, "{err}");
    std::thread::sleep(Duration::from_millis(1000));
    let (status, body) = list_buckets(&server.addr, "NEWKEY01", "new-key-secret");
    assert_eq!(status, 403, "a deleted key stops working: {body}");

    sigterm(&server.child);
    assert!(wait_exit(&mut server.child, Duration::from_secs(10)).success());
}

fn root_call(addr: &str, method: &str, path: &str) -> (u16, String) {
    let headers = signed_headers(addr, method, path, ROOT_AK, ROOT_SK);
    let mut refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    if method == "PUT" {
        // An empty body, stated (S3 answers 411 to a PUT without a length).
        refs.push(("content-length", "0"));
    }
    http(addr, method, path, &refs)
}

#[test]
fn access_statistics_survive_a_graceful_restart() {
    use stratum_core::{BucketName, ObjectKey};
    use stratum_metadata::{MetadataStore, SledStore};

    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), true);
    let addr = server.addr.clone();
    assert_eq!(root_call(&addr, "PUT", "/stats-bkt").0, 200);
    assert_eq!(root_call(&addr, "PUT", "/stats-bkt/obj").0, 200);
    assert_eq!(root_call(&addr, "GET", "/stats-bkt/obj").0, 200);
    assert_eq!(root_call(&addr, "GET", "/stats-bkt/obj").0, 200);
    assert_eq!(root_call(&addr, "HEAD", "/stats-bkt/obj").0, 200);
    // The periodic flush runs every 10 s by default: the statistics reach the store
    // through the final flush at shutdown.
    sigterm(&server.child);
    assert!(wait_exit(&mut server.child, Duration::from_secs(10)).success());

    let meta = stratum_core::config::EngineConfig::under(dir.path(), 1).metadata;
    let store = SledStore::open(&meta).unwrap();
    let raw = store
        .get_access(
            &BucketName::new("stats-bkt").unwrap(),
            &ObjectKey::new("obj").unwrap(),
        )
        .unwrap()
        .expect("statistics written at shutdown");
    let stats = stratum_tiering::tracker::decode(&raw).unwrap();
    assert_eq!((stats.gets, stats.heads), (2, 1));
}
