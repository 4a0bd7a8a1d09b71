//! Crash tests: a writer killed at each step of the commit sequence (a named failpoint that
//! aborts the process) or by SIGKILL at a random moment never loses an acknowledged object,
//! never exposes a torn one, and its orphan bytes are reclaimed on restart.
//!
//! The test binary re-executes itself as the child writer (`crash_child`, active only when
//! `STRATUM_CRASH_DIR` is set). The child prints `BEGIN <op> <key> <version>` before and
//! `ACK <op> <key> <version>` after each operation; the parent replays that log into the
//! set of states each key may legally be in.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use stratum_core::Tier;
use stratum_engine::{CompletedPart, Engine, EngineError, PutOptions};
use stratum_metadata::PutCondition;
use stratum_storage::VolumeKind;

const KEYS: u64 = 4;

/// Body of `version` of a key: self-describing, so a torn body is recognisable.
fn versioned(version: u64) -> Vec<u8> {
    // Versions 1 mod 4 (puts) and 7 mod 8 (multipart parts) are large: dedicated volumes.
    let large = version % 4 == 1 || version % 8 == 7;
    let len = if large {
        100_000
    } else {
        2_000 + version as usize
    };
    let mut out = format!("{version:08}|").into_bytes();
    out.extend(data(len, version, version % 3 != 0));
    out
}

fn parse_version(body: &[u8]) -> u64 {
    let v: u64 = std::str::from_utf8(&body[..8]).unwrap().parse().unwrap();
    assert_eq!(body, versioned(v).as_slice(), "torn body for version {v}");
    v
}

/// The child: an endless sequence of puts, deletes and multipart uploads.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("STRATUM_CRASH_DIR") else {
        return;
    };
    let start: u64 = std::env::var("STRATUM_CRASH_START")
        .unwrap()
        .parse()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let engine = open(Path::new(&dir)).await;
        let b = bucket("crash");
        match engine.create_bucket(&b).await {
            Ok(()) | Err(EngineError::BucketAlreadyOwnedByYou) => {}
            Err(e) => panic!("{e}"),
        }
        let compact_after: Option<u64> = std::env::var("STRATUM_CRASH_COMPACT_AFTER")
            .ok()
            .map(|v| v.parse().unwrap());
        for version in start.. {
            if Some(version) == compact_after {
                // Every operation so far is acknowledged; the compaction must not change
                // what any key holds, however it is cut short.
                println!("COMPACT");
                engine.storage().seal_active(Tier::Hot).unwrap();
                let report = engine.compact(Tier::Hot).await.unwrap();
                println!("COMPACTED {report:?}");
                return;
            }
            let op = match version % 8 {
                2 | 6 => "DEL",
                7 => "MPU",
                _ => "PUT",
            };
            // A delete removes what the previous operation wrote, so it is never a no-op.
            let k = match op {
                "DEL" => format!("k{}", (version - 1) % KEYS),
                _ => format!("k{}", version % KEYS),
            };
            println!("BEGIN {op} {k} {version}");
            match op {
                "DEL" => {
                    engine
                        .delete_object(&b, &key(&k), PutCondition::None)
                        .await
                        .unwrap();
                }
                "MPU" => {
                    let up = engine
                        .create_multipart_upload(&b, &key(&k), PutOptions::default())
                        .await
                        .unwrap();
                    let body_bytes = versioned(version);
                    let (head, tail) = body_bytes.split_at(1000);
                    // Parts must be 5 MiB except the last: one part only keeps it quick.
                    let p1 = engine
                        .upload_part(
                            &b,
                            &key(&k),
                            &up.upload_id,
                            1,
                            body(&[head, tail].concat(), 4096),
                            PutOptions::default(),
                        )
                        .await
                        .unwrap();
                    engine
                        .complete_multipart_upload(
                            &b,
                            &key(&k),
                            &up.upload_id,
                            vec![CompletedPart {
                                part_number: 1,
                                etag: p1.etag,
                            }],
                            PutCondition::None,
                        )
                        .await
                        .unwrap();
                }
                _ => {
                    engine
                        .put_object(
                            &b,
                            &key(&k),
                            body(&versioned(version), 4096),
                            PutOptions::default(),
                        )
                        .await
                        .unwrap();
                }
            }
            println!("ACK {op} {k} {version}");
        }
    });
}

/// Possible states of each key after the crash: `None` is "absent".
type Allowed = BTreeMap<String, Vec<Option<u64>>>;

/// The state each key is known to be in before a child runs.
type Known = BTreeMap<String, Option<u64>>;

fn run_child(
    dir: &Path,
    known: &Known,
    start: u64,
    failpoint: Option<&str>,
    kill_after: Option<Duration>,
) -> (Allowed, u64) {
    run_child_with(dir, known, start, failpoint, kill_after, None)
}

fn run_child_with(
    dir: &Path,
    known: &Known,
    start: u64,
    failpoint: Option<&str>,
    kill_after: Option<Duration>,
    compact_after: Option<u64>,
) -> (Allowed, u64) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env("STRATUM_CRASH_DIR", dir)
        .env("STRATUM_CRASH_START", start.to_string())
        .env_remove("STRATUM_FAILPOINT")
        .env_remove("STRATUM_CRASH_COMPACT_AFTER")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(fp) = failpoint {
        cmd.env("STRATUM_FAILPOINT", fp);
    }
    if let Some(n) = compact_after {
        cmd.env("STRATUM_CRASH_COMPACT_AFTER", n.to_string());
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    // A child that never reaches its failpoint would run forever: it gets a deadline.
    let deadline = std::time::Instant::now() + kill_after.unwrap_or(Duration::from_secs(60));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill(); // SIGKILL
            assert!(
                kill_after.is_some(),
                "failpoint {failpoint:?} was never reached"
            );
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(!status.success(), "the child must die, not finish");
    let lines = reader.join().unwrap();
    (allowed_states(known, &lines), lines.len() as u64)
}

fn allowed_states(known: &Known, lines: &[String]) -> Allowed {
    // Each key's last acknowledged state, and the one in-flight operation.
    let mut acked = known.clone();
    let mut inflight: Option<(String, Option<u64>)> = None;
    for line in lines {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() != 4 {
            continue;
        }
        let (op, k, v) = (
            parts[1],
            parts[2].to_string(),
            parts[3].parse::<u64>().unwrap(),
        );
        let state = if op == "DEL" { None } else { Some(v) };
        match parts[0] {
            "BEGIN" => inflight = Some((k, state)),
            "ACK" => {
                acked.insert(k, state);
                inflight = None;
            }
            _ => {}
        }
    }
    let mut allowed: Allowed = BTreeMap::new();
    for i in 0..KEYS {
        let k = format!("k{i}");
        let mut states = vec![acked.get(&k).copied().flatten()];
        if let Some((ik, s)) = &inflight {
            if *ik == k {
                states.push(*s);
            }
        }
        allowed.insert(k, states);
    }
    allowed
}

async fn prepare(dir: &Path) {
    let engine = open(dir).await;
    engine.create_bucket(&bucket("crash")).await.unwrap();
}

/// Reopens and checks every key is in an allowed state and whole; returns the engine and
/// the state observed.
async fn verify(dir: &Path, allowed: &Allowed, expect_orphans: bool) -> (Engine, Known) {
    let (engine, report) = Engine::open(small_config(dir)).await.unwrap();
    let b = bucket("crash");
    let mut observed = Known::new();
    for (k, states) in allowed {
        let got = match engine.get_object(&b, &key(k), None).await {
            Ok(g) => Some(parse_version(&read_all(g).await)),
            Err(EngineError::NoSuchKey) => None,
            Err(e) => panic!("{k}: {e}"),
        };
        assert!(states.contains(&got), "{k} is {got:?}, allowed {states:?}");
        observed.insert(k.clone(), got);
    }
    // No dedicated volume is left that nothing references.
    for v in engine.storage().volumes(Tier::Hot).unwrap() {
        if v.kind == VolumeKind::Dedicated {
            assert!(
                engine.metadata().volume_live_bytes(v.id).unwrap() > 0,
                "orphan {v:?} left"
            );
        }
    }
    if expect_orphans {
        assert!(!report.orphan_volumes_deleted.is_empty(), "{report:?}");
    }
    (engine, observed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_killed_at_each_failpoint_loses_nothing_acknowledged() {
    // (failpoint, whether the killed operation leaves an orphan dedicated volume)
    let cases = [
        ("put.data_written@2", true),
        ("put.data_durable@2", true),
        ("put.meta_committed@3", false),
        ("delete.tombstone_durable@2", false),
        ("multipart.part_durable@1", true),
        ("multipart.complete_header_durable@1", false),
    ];
    for (fp, orphans) in cases {
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path()).await;
        let (allowed, lines) = run_child(dir.path(), &Known::new(), 0, Some(fp), None);
        assert!(
            lines > 2,
            "{fp}: the child acknowledged writes before dying"
        );
        let (engine, _) = verify(dir.path(), &allowed, orphans).await;
        // The store keeps working after recovery.
        put(&engine, &bucket("crash"), "after", b"fine").await;
        assert_eq!(get(&engine, &bucket("crash"), "after").await, b"fine");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_killed_at_random_moments_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path()).await;
    let mut start = 0;
    let mut known = Known::new();
    let mut total_lines = 0;
    for delay_ms in [350u64, 600, 900] {
        let (allowed, lines) = run_child(
            dir.path(),
            &known,
            start,
            None,
            Some(Duration::from_millis(delay_ms)),
        );
        let (engine, observed) = verify(dir.path(), &allowed, false).await;
        drop(engine);
        known = observed;
        total_lines += lines;
        // Versions of the next round never collide with this round's.
        start += lines + 1000;
    }
    assert!(
        total_lines > 20,
        "the children were killed before doing any work"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compaction_killed_mid_move_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path()).await;
    let (allowed, _) = run_child_with(
        dir.path(),
        &Known::new(),
        0,
        Some("compact.relocated@1"),
        None,
        Some(48),
    );
    // The compaction began after every operation was acknowledged: one state per key.
    assert!(
        allowed.values().all(|states| states.len() == 1),
        "{allowed:?}"
    );
    let (engine, _) = verify(dir.path(), &allowed, false).await;
    // A second compaction, uninterrupted, finishes the job; nothing changes.
    engine.storage().seal_active(Tier::Hot).unwrap();
    let report = engine.compact(Tier::Hot).await.unwrap();
    assert!(report.volumes_compacted > 0, "{report:?}");
    drop(engine);
    let (engine, _) = verify(dir.path(), &allowed, false).await;
    // The index rebuilt from the compacted volumes agrees: tombstones were carried.
    engine.rebuild_index().await.unwrap();
    drop(engine);
    verify(dir.path(), &allowed, false).await;
}

/// The config of the tier-move crash tests: the shrunk knobs plus a warm disk set.
fn with_warm(dir: &Path) -> stratum_core::config::EngineConfig {
    let mut c = small_config(dir);
    let mut warm = stratum_core::config::DiskSetConfig::under(&dir.join("warm"), 3);
    warm.data_pieces = 2;
    warm.parity_pieces = 1;
    c.storage.warm = Some(warm);
    c
}

/// The child of the move crash tests: moves `big` (a dedicated volume) to warm, which a
/// failpoint cuts short.
#[test]
fn move_child() {
    let Ok(dir) = std::env::var("STRATUM_MOVE_CRASH_DIR") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let (engine, _) = Engine::open(with_warm(Path::new(&dir))).await.unwrap();
        let info = engine
            .head_object(&bucket("moves"), &key("big"))
            .await
            .unwrap();
        engine
            .move_object(&bucket("moves"), &key("big"), info.seq, Tier::Warm)
            .await
            .unwrap();
    });
}

/// Kills a move at `failpoint`; returns the engine reopened after it, and the body.
async fn move_killed_at(failpoint: &str) -> (tempfile::TempDir, Engine, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let body = versioned(1);
    {
        let (engine, _) = Engine::open(with_warm(dir.path())).await.unwrap();
        engine.create_bucket(&bucket("moves")).await.unwrap();
        put(&engine, &bucket("moves"), "big", &body).await;
    }
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "move_child", "--nocapture", "--test-threads=1"])
        .env("STRATUM_MOVE_CRASH_DIR", dir.path())
        .env("STRATUM_FAILPOINT", failpoint)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the move died at {failpoint}");
    let (engine, _) = Engine::open(with_warm(dir.path())).await.unwrap();
    (dir, engine, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_killed_before_its_flip_leaves_the_object_where_it_was() {
    for failpoint in ["move.data_written", "move.header_durable"] {
        let (_dir, engine, body) = move_killed_at(failpoint).await;
        let info = engine
            .head_object(&bucket("moves"), &key("big"))
            .await
            .unwrap();
        assert_eq!(info.tier, Tier::Hot, "{failpoint}");
        assert_eq!(
            get(&engine, &bucket("moves"), "big").await,
            body,
            "{failpoint}"
        );
        // The half-written copy in warm was an orphan, reclaimed at open.
        let warm = engine.storage().volumes(Tier::Warm).unwrap();
        assert!(
            warm.iter().all(|v| v.kind != VolumeKind::Dedicated),
            "{failpoint}: {warm:?}"
        );
        // The move, run again, completes.
        let r = engine
            .move_object(&bucket("moves"), &key("big"), info.seq, Tier::Warm)
            .await
            .unwrap();
        assert!(r.moved, "{failpoint}");
        assert_eq!(
            get(&engine, &bucket("moves"), "big").await,
            body,
            "{failpoint}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_killed_after_its_flip_is_done_and_frees_the_old_copy() {
    let (_dir, engine, body) = move_killed_at("move.flipped").await;
    let info = engine
        .head_object(&bucket("moves"), &key("big"))
        .await
        .unwrap();
    assert_eq!(info.tier, Tier::Warm);
    assert_eq!(get(&engine, &bucket("moves"), "big").await, body);
    // The hot dedicated volume the flip left unreferenced was reclaimed at open.
    let hot = engine.storage().volumes(Tier::Hot).unwrap();
    assert!(
        hot.iter().all(|v| v.kind != VolumeKind::Dedicated),
        "{hot:?}"
    );
}
