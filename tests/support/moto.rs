//! A real, independent S3 server for the cold tier's tests: moto's `moto_server` (from the
//! `moto[server]` PyPI package that `scripts/e2e-deps.sh` installs into `target/e2e-venv`),
//! with SigV4 verification on (an IAM user with an `s3:*` policy), so every request's
//! signature is checked by code that is not ours.
//!
//! The binary is `$STRATUM_MOTO_SERVER`, else `$STRATUM_E2E_VENV/bin/moto_server`, else
//! `target/e2e-venv/bin/moto_server`; a missing one fails the test with the command that
//! installs it (never a silent skip). Shared by path (`#[path]`) with crate tests that
//! cannot depend on the workspace test crate; it uses only std.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `moto_server`, killed on drop.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The access key of an IAM user allowed `s3:*`.
    pub access_key: String,
    /// Its secret key.
    pub secret_key: String,
    log: PathBuf,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The `moto_server` binary the tests use.
pub fn moto_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("STRATUM_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let venv = std::env::var_os("STRATUM_E2E_VENV").map_or_else(
        || {
            // This file is compiled into crates at different depths: find the workspace's
            // target/ from the manifest dir upwards.
            let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            while !dir.join("Cargo.lock").is_file() && dir.pop() {}
            dir.join("target/e2e-venv")
        },
        PathBuf::from,
    );
    venv.join("bin/moto_server")
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// Creates an IAM user allowed `s3:*` and prints its key pair, through moto's IAM API with
/// boto3 from the same virtualenv (the server admits exactly these three requests unsigned).
const IAM_SETUP: &str = r#"
import boto3, json, sys
iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="setup", aws_secret_access_key="setup")
iam.create_user(UserName="stratum")
iam.put_user_policy(UserName="stratum", PolicyName="s3", PolicyDocument=json.dumps(
    {"Version": "2012-10-17",
     "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
key = iam.create_access_key(UserName="stratum")["AccessKey"]
print(key["AccessKeyId"], key["SecretAccessKey"])
"#;

/// Creates a bucket with boto3 (signed with the IAM user's key).
const CREATE_BUCKET: &str = r#"
import boto3, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
s3.create_bucket(Bucket=sys.argv[4])
"#;

/// Lists a bucket under a prefix with boto3: one `key size` line per object.
const LIST: &str = r#"
import boto3, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[4], Prefix=sys.argv[5]):
    for o in page.get("Contents", []):
        print(o["Key"], o["Size"])
"#;

impl Moto {
    /// Starts a server on a free loopback port and creates the IAM user.
    pub fn start() -> Moto {
        let bin = moto_binary();
        assert!(
            bin.is_file(),
            "moto_server not found at {}: run scripts/e2e-deps.sh (installs moto[server] into \
             target/e2e-venv) or set STRATUM_MOTO_SERVER to a moto_server binary",
            bin.display()
        );
        let port = free_port();
        let log = std::env::temp_dir().join(format!("stratum-moto-{port}.log"));
        let file = std::fs::File::create(&log).expect("moto log file");
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "3")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("moto log"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut moto = Moto {
            child,
            addr,
            access_key: String::new(),
            secret_key: String::new(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                let log = std::fs::read_to_string(&moto.log).unwrap_or_default();
                panic!("moto_server exited ({status}) before listening:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen in 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = moto.python(IAM_SETUP, &[]);
        let (ak, sk) = out
            .trim()
            .split_once(' ')
            .expect("access key and secret from the IAM setup");
        moto.access_key = ak.to_owned();
        moto.secret_key = sk.to_owned();
        moto
    }

    fn python(&self, script: &str, args: &[&str]) -> String {
        let python = moto_binary().with_file_name("python");
        let endpoint = self.endpoint();
        let out = Command::new(&python)
            .arg("-c")
            .arg(script)
            .arg(&endpoint)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
        assert!(
            out.status.success(),
            "moto setup script failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates `bucket`.
    pub fn create_bucket(&self, bucket: &str) {
        self.python(CREATE_BUCKET, &[&self.access_key, &self.secret_key, bucket]);
    }

    /// The keys in `bucket` under `prefix`, with their sizes.
    pub fn list(&self, bucket: &str, prefix: &str) -> Vec<(String, u64)> {
        let out = self.python(LIST, &[&self.access_key, &self.secret_key, bucket, prefix]);
        out.lines()
            .filter_map(|l| l.rsplit_once(' '))
            .map(|(k, s)| (k.to_owned(), s.parse().unwrap_or(0)))
            .collect()
    }

    /// Writes a credentials file (`access_key = ...`, `secret_key = ...`, mode 0600) for a
    /// `[storage.cold]` table's `credentials_file`.
    pub fn write_credentials(&self, path: &Path) {
        std::fs::write(
            path,
            format!(
                "access_key = \"{}\"\nsecret_key = \"{}\"\n",
                self.access_key, self.secret_key
            ),
        )
        .expect("write the credentials file");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
    }
}
