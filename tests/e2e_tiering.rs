//! Tiering end to end: the real `stratum` binary with a hot, a warm and a cold tier — the
//! cold tier a real, independent S3 server (moto) — driven by awscli and the `stratum tier`
//! commands over the admin API.
//!
//! One server, steps in order: pinned hints at PUT and CopyObject demote to warm and to
//! cold; cold objects read back byte-identical, whole and ranged; a spike of GETs promotes
//! an object out of cold; a write burst is held under the hot tier's high watermark;
//! `tier explain|decisions|summary` answer what happened; the mover killed mid-pack
//! (a failpoint between the upload and the flips) loses nothing and its orphan volume is
//! reclaimed at restart; deletes reclaim remote space.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use stratum_workspace_tests::fs::{random_bytes, text_bytes, write};
use stratum_workspace_tests::moto::Moto;
use stratum_workspace_tests::{aws, http, stratum_binary, Server};

const COLD_BUCKET: &str = "stratum-cold";
const HOT_CAPACITY: u64 = 3_000_000;
const WARM_CAPACITY: u64 = 3_000_000;

fn config(moto: &Moto, creds: &Path) -> String {
    format!(
        r#"
[storage.warm]
dirs = ["{{dir}}/warm0", "{{dir}}/warm1", "{{dir}}/warm2"]
data_pieces = 2
parity_pieces = 1

[storage.cold]
endpoint = "{endpoint}"
bucket = "{COLD_BUCKET}"
prefix = "e2e/"
credentials_file = "{creds}"
max_requests_per_sec = 1000
retry_backoff_ms = 10
volume_bytes = 1048576
zstd_level = 9

[tiering]
hot_capacity_bytes = {HOT_CAPACITY}
warm_capacity_bytes = {WARM_CAPACITY}
tick_secs = 1
cold_maintenance_secs = 0

[tiering.policy]
warmup_s = 0
min_residency_s = 0
pass_interval_s = 86400
"#,
        endpoint = moto.endpoint(),
        creds = creds.display(),
    )
}

/// Runs `stratum tier ARGS --json` against the server; returns the parsed JSON.
fn tier(server: &Server, args: &[&str]) -> serde_json::Value {
    let out = tier_raw(server, args, true);
    assert!(
        out.status.success(),
        "stratum tier {args:?} failed: {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- server ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log_tail(30)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stratum tier {args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn tier_raw(server: &Server, args: &[&str], json: bool) -> std::process::Output {
    let mut cmd = Command::new(stratum_binary());
    cmd.arg("tier")
        .args(args)
        .arg("--endpoint")
        .arg(server.endpoint())
        .arg("--access-key")
        .arg(server.access_key())
        .arg("--secret-key")
        .arg(server.secret_key());
    if json {
        cmd.arg("--json");
    }
    cmd.output().expect("run stratum tier")
}

/// HeadObject's answer, as awscli prints it.
fn head(server: &Server, bucket: &str, key: &str) -> serde_json::Value {
    let out = aws(
        server,
        &["s3api", "head-object", "--bucket", bucket, "--key", key],
    )
    .ok()
    .to_owned();
    serde_json::from_str(&out).expect("head-object JSON")
}

/// The storage class HEAD reports for an object.
fn storage_class(server: &Server, bucket: &str, key: &str) -> String {
    head(server, bucket, key)["StorageClass"]
        .as_str()
        .unwrap_or("STANDARD")
        .to_owned()
}

fn tier_of(server: &Server, bucket: &str, key: &str) -> String {
    match storage_class(server, bucket, key).as_str() {
        "STANDARD" => "hot",
        "STANDARD_IA" => "warm",
        "GLACIER_IR" => "cold",
        other => panic!("unexpected storage class {other}"),
    }
    .to_owned()
}

fn put(server: &Server, bucket: &str, key: &str, file: &Path, pin: Option<&str>) {
    let body = file.display().to_string();
    let mut args = vec![
        "s3api",
        "put-object",
        "--bucket",
        bucket,
        "--key",
        key,
        "--body",
        &body,
    ];
    let meta;
    if let Some(p) = pin {
        meta = format!("stratum-tier={p}");
        args.extend(["--metadata", &meta]);
    }
    aws(server, &args).ok();
}

fn get(server: &Server, bucket: &str, key: &str, out: &Path, range: Option<&str>) -> Vec<u8> {
    let target = out.display().to_string();
    let mut args = vec!["s3api", "get-object", "--bucket", bucket, "--key", key];
    if let Some(r) = range {
        args.extend(["--range", r]);
    }
    args.push(&target);
    aws(server, &args).ok();
    std::fs::read(out).expect("downloaded file")
}

/// CopyObject `bucket/src` to `bucket/dst` with its metadata replaced by the tier hint
/// `hint`.
fn copy_with_hint(server: &Server, bucket: &str, src: &str, dst: &str, hint: &str) {
    let source = format!("{bucket}/{src}");
    let metadata = format!("stratum-tier={hint}");
    aws(
        server,
        &[
            "s3api",
            "copy-object",
            "--bucket",
            bucket,
            "--key",
            dst,
            "--copy-source",
            &source,
            "--metadata-directive",
            "REPLACE",
            "--metadata",
            &metadata,
        ],
    )
    .ok();
}

/// Uploads `file` to `bucket/key` as a one-part multipart upload with awscli's s3api;
/// returns the size HEAD reports.
fn multipart_put(server: &Server, bucket: &str, key: &str, file: &Path) -> usize {
    let created = aws(
        server,
        &[
            "s3api",
            "create-multipart-upload",
            "--bucket",
            bucket,
            "--key",
            key,
        ],
    )
    .ok()
    .to_owned();
    let created: serde_json::Value = serde_json::from_str(&created).expect("JSON");
    let id = created["UploadId"].as_str().expect("UploadId").to_owned();
    let upload = |op: &str, rest: &[&str]| {
        let mut args = vec![
            "s3api",
            op,
            "--bucket",
            bucket,
            "--key",
            key,
            "--upload-id",
            &id,
        ];
        args.extend_from_slice(rest);
        aws(server, &args).ok().to_owned()
    };
    let body = file.display().to_string();
    let part = upload("upload-part", &["--part-number", "1", "--body", &body]);
    let part: serde_json::Value = serde_json::from_str(&part).expect("JSON");
    let parts = serde_json::json!({"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]});
    upload(
        "complete-multipart-upload",
        &["--multipart-upload", &parts.to_string()],
    );
    head(server, bucket, key)["ContentLength"]
        .as_u64()
        .expect("ContentLength") as usize
}

/// Asserts that a whole GET of `bucket/key` returns `expected` (downloaded under `scratch`).
fn assert_reads_back(server: &Server, bucket: &str, key: &str, expected: &[u8], scratch: &Path) {
    let out = scratch.join(format!("read-back-{key}"));
    assert!(
        get(server, bucket, key, &out, None) == expected,
        "{bucket}/{key} differs"
    );
}

/// Polls `check` every 200 ms for up to `secs`; panics with `what` if it never holds.
fn eventually(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{what}: not true after {secs} s");
}

fn cold_volumes(moto: &Moto) -> Vec<(String, u64)> {
    moto.list(COLD_BUCKET, "e2e/volumes/")
}

#[test]
fn tiering_end_to_end() {
    let moto = Moto::start();
    moto.create_bucket(COLD_BUCKET);
    let creds: PathBuf =
        std::env::temp_dir().join(format!("stratum-e2e-cold-{}.creds", moto.addr.port()));
    moto.write_credentials(&creds);
    let mut server = Server::start_with_config(Some(&config(&moto, &creds)));
    let scratch = server.scratch("tiering");
    aws(&server, &["s3", "mb", "s3://media"]).ok();

    // 1. Pinned hints at PUT: warm is written to warm at once; cold is written locally and
    // packed by the mover's next tick (1 s here), without waiting for a pass.
    let text = text_bytes(1, 400_000);
    let noise = random_bytes(2, 300_000);
    let (text_file, noise_file) = (scratch.join("text"), scratch.join("noise"));
    write(&text_file, &text);
    write(&noise_file, &noise);
    put(&server, "media", "pin-warm", &text_file, Some("warm"));
    assert_eq!(tier_of(&server, "media", "pin-warm"), "warm");
    put(&server, "media", "pin-cold", &text_file, Some("cold"));
    put(&server, "media", "noise-cold", &noise_file, Some("cold"));
    eventually(
        15,
        "the next tick packed the versions pinned to cold",
        || {
            tier_of(&server, "media", "pin-cold") == "cold"
                && tier_of(&server, "media", "noise-cold") == "cold"
        },
    );
    let run = tier(&server, &["run"]);
    assert_eq!(run["failed"].as_u64(), Some(0), "{run}");
    assert!(
        !cold_volumes(&moto).is_empty(),
        "a cold volume was uploaded"
    );
    // A typo in a hint is refused, not ignored.
    let bad = aws(
        &server,
        &[
            "s3api",
            "put-object",
            "--bucket",
            "media",
            "--key",
            "typo",
            "--body",
            &text_file.display().to_string(),
            "--metadata",
            "stratum-tier=colder",
        ],
    );
    assert!(
        bad.fails().contains("InvalidArgument"),
        "{}",
        bad.describe()
    );

    // An unpinned version bigger than hot's budget (0.85 of its capacity) is placed by the
    // policy at its PUT (or copy): it never lands in hot, and the placement is logged.
    let big = text_bytes(5, (HOT_CAPACITY as f64 * 0.87) as usize);
    let big_file = scratch.join("big");
    write(&big_file, &big);
    put(&server, "media", "big", &big_file, None);
    assert_ne!(tier_of(&server, "media", "big"), "hot");
    let explain = tier(&server, &["explain", "media/big"]);
    let placement = explain["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["reason"] == "placement")
        .unwrap_or_else(|| panic!("no placement decision: {explain}"))
        .clone();
    assert!(placement["from"].is_null(), "{explain}");
    assert_ne!(placement["to"], "hot", "{explain}");
    assert_reads_back(&server, "media", "big", &big, &scratch);
    // A copy's new version is placed the same way: a copy of a hot object pinned to warm
    // by its new metadata is written to warm at once (not copied into hot for a pass to
    // move), and the placement is logged.
    put(&server, "media", "plain", &text_file, None);
    assert_eq!(tier_of(&server, "media", "plain"), "hot");
    copy_with_hint(&server, "media", "plain", "plain-warm", "warm");
    assert_eq!(tier_of(&server, "media", "plain-warm"), "warm");
    let explain = tier(&server, &["explain", "media/plain-warm"]);
    assert_eq!(
        explain["decisions"][0]["reason"], "pinned_hint",
        "{explain}"
    );
    assert!(explain["decisions"][0]["from"].is_null(), "{explain}");
    assert_reads_back(&server, "media", "plain-warm", &text, &scratch);
    aws(&server, &["s3", "rm", "s3://media/plain"]).ok();
    aws(&server, &["s3", "rm", "s3://media/plain-warm"]).ok();
    aws(&server, &["s3", "rm", "s3://media/big"]).ok();
    // A multipart upload's size is known only at its completion: its parts go to hot, and
    // the policy's placement (warm: it is over hot's budget) moves it at the next tick.
    let upload = multipart_put(&server, "media", "big-multipart", &big_file);
    assert_eq!(upload, big.len());
    eventually(
        15,
        "the next tick moved the multipart upload to its placement",
        || {
            let explain = tier(&server, &["explain", "media/big-multipart"]);
            explain["decisions"].as_array().is_some_and(|d| {
                d.iter().any(|d| {
                    d["reason"] == "placement"
                        && d["from"] == "hot"
                        && d["to"] == "warm"
                        && d["outcome"]["kind"] == "done"
                })
            })
        },
    );
    assert_reads_back(&server, "media", "big-multipart", &big, &scratch);
    aws(&server, &["s3", "rm", "s3://media/big-multipart"]).ok();

    // 2. Cold objects read back byte-identical, whole and ranged.
    assert_eq!(
        get(&server, "media", "pin-cold", &scratch.join("o1"), None),
        text
    );
    assert_eq!(
        get(&server, "media", "noise-cold", &scratch.join("o2"), None),
        noise
    );
    assert_eq!(
        get(
            &server,
            "media",
            "pin-cold",
            &scratch.join("o3"),
            Some("bytes=100000-250000")
        ),
        &text[100_000..=250_000]
    );
    assert_eq!(
        get(
            &server,
            "media",
            "noise-cold",
            &scratch.join("o4"),
            Some("bytes=-1000")
        ),
        &noise[noise.len() - 1000..]
    );
    // The listing reports the tier too.
    let listing = aws(&server, &["s3api", "list-objects-v2", "--bucket", "media"])
        .ok()
        .to_owned();
    assert!(
        listing.contains("GLACIER_IR") && listing.contains("STANDARD_IA"),
        "{listing}"
    );

    // 3. Transparency: explain, decisions, summary match what happened.
    let explain = tier(&server, &["explain", "media/pin-cold"]);
    assert_eq!(explain["tier"], "cold", "{explain}");
    assert_eq!(explain["hint"], "cold", "{explain}");
    let first = &explain["decisions"][0];
    assert_eq!(first["reason"], "pinned_hint", "{explain}");
    assert_eq!(first["to"], "cold", "{explain}");
    assert_eq!(first["outcome"]["kind"], "done", "{explain}");
    assert!(
        explain["location"]["volumes"][0]
            .as_str()
            .unwrap_or("")
            .starts_with("cold:"),
        "{explain}"
    );
    let decisions = tier(&server, &["decisions", "--bucket", "media"]);
    let list = decisions["decisions"].as_array().expect("decisions array");
    assert!(
        list.iter()
            .any(|d| d["key"] == "noise-cold" && d["to"] == "cold"),
        "{decisions}"
    );
    let none = tier(&server, &["decisions", "--bucket", "other-bucket"]);
    assert_eq!(
        none["decisions"].as_array().map(Vec::len),
        Some(0),
        "{none}"
    );
    let summary = tier(&server, &["summary"]);
    let cold = &summary["tiers"][2];
    assert_eq!(cold["tier"], "cold", "{summary}");
    assert!(cold["objects"].as_u64().unwrap() >= 2, "{summary}");
    assert!(cold["stored_bytes"].as_u64().unwrap() > 0, "{summary}");
    // The human-readable forms work too.
    let human = tier_raw(&server, &["summary"], false);
    assert!(human.status.success() && !human.stdout.is_empty());

    // 4. CopyObject onto itself with the hint set to auto unpins it (it stays cold); a
    // spike of GETs then promotes it out of cold within a few ticks.
    copy_with_hint(&server, "media", "pin-cold", "pin-cold", "auto");
    assert_eq!(tier_of(&server, "media", "pin-cold"), "cold");
    for i in 0..5 {
        assert_eq!(
            get(
                &server,
                "media",
                "pin-cold",
                &scratch.join(format!("s{i}")),
                None
            ),
            text
        );
    }
    eventually(15, "the spike promoted pin-cold out of cold", || {
        tier_of(&server, "media", "pin-cold") != "cold"
    });
    let explain = tier(&server, &["explain", "media/pin-cold"]);
    let reasons: Vec<String> = explain["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["reason"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r == "spike" || r == "promote_on_access"),
        "{explain}"
    );

    // 5. A write burst over hot's capacity: the capacity check holds hot under its high
    // watermark (0.85 of capacity) within a few ticks, demoting to warm and then cold.
    let chunk = text_bytes(3, 250_000);
    let chunk_file = scratch.join("chunk");
    write(&chunk_file, &chunk);
    let burst = scratch.join("burst");
    std::fs::create_dir_all(&burst).unwrap();
    for i in 0..24 {
        std::fs::copy(&chunk_file, burst.join(format!("c{i:02}"))).unwrap();
    }
    aws(&server, &["s3", "mb", "s3://logs"]).ok();
    aws(
        &server,
        &[
            "s3",
            "cp",
            "--recursive",
            &burst.display().to_string(),
            "s3://logs/burst/",
        ],
    )
    .ok();
    let high = (HOT_CAPACITY as f64 * 0.85) as u64;
    eventually(30, "hot back under its high watermark", || {
        let s = tier(&server, &["summary"]);
        s["tiers"][0]["logical_bytes"].as_u64().unwrap_or(u64::MAX) <= high
            && s["tiers"][1]["logical_bytes"].as_u64().unwrap_or(u64::MAX)
                <= (WARM_CAPACITY as f64 * 0.99) as u64
    });
    let logs = tier(&server, &["decisions", "--bucket", "logs"]);
    assert!(
        logs["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["reason"] == "capacity_pressure"),
        "{logs}"
    );
    let back = scratch.join("back");
    aws(
        &server,
        &[
            "s3",
            "cp",
            "--recursive",
            "s3://logs/burst/",
            &back.display().to_string(),
        ],
    )
    .ok();
    for i in 0..24 {
        assert_eq!(
            std::fs::read(back.join(format!("c{i:02}"))).unwrap(),
            chunk,
            "c{i:02}"
        );
    }

    // 6. Metrics report the moves.
    eventually(20, "tier metrics in /metrics", || {
        http::request(server.address(), "GET", "/metrics", &[], b"")
            .map(|r| {
                let t = r.body_text();
                t.contains("stratum_tier_moves_total{") && t.contains("stratum_tier_logical_bytes{")
            })
            .unwrap_or(false)
    });

    // 7. The mover killed between a cold volume's upload and the flips (a failpoint that
    // aborts the process like kill -9): nothing is lost, and the orphan volume is deleted
    // when the server starts again.
    server.set_env("STRATUM_FAILPOINT", Some("cold.volume_uploaded"));
    server.restart();
    let before = cold_volumes(&moto).len();
    let victim = text_bytes(4, 200_000);
    let victim_file = scratch.join("victim");
    write(&victim_file, &victim);
    put(&server, "media", "victim", &victim_file, Some("cold"));
    let _ = tier_raw(&server, &["run"], true);
    let status = server.wait_exit(Duration::from_secs(60));
    assert!(
        status.is_some_and(|s| !s.success()),
        "the failpoint aborted the server: {status:?}"
    );
    assert!(
        cold_volumes(&moto).len() > before,
        "the orphan volume reached the cold tier"
    );
    server.set_env("STRATUM_FAILPOINT", None);
    server.start_again();
    eventually(20, "the orphan cold volume was deleted", || {
        cold_volumes(&moto).len() == before
    });
    assert_eq!(
        get(&server, "media", "victim", &scratch.join("v1"), None),
        victim
    );
    tier(&server, &["run"]);
    assert_eq!(tier_of(&server, "media", "victim"), "cold");
    assert_eq!(
        get(&server, "media", "victim", &scratch.join("v2"), None),
        victim
    );

    // 8. Deleting every object deletes every cold volume (remote space reclaimed).
    aws(&server, &["s3", "rm", "--recursive", "s3://media"]).ok();
    aws(&server, &["s3", "rm", "--recursive", "s3://logs"]).ok();
    eventually(20, "every cold volume deleted", || {
        cold_volumes(&moto).is_empty()
    });
    server.stop();
    let _ = std::fs::remove_file(&creds);
}
