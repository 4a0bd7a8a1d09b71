//! Degraded writes: a tier keeps accepting writes while up to `m - 1` of its disks are
//! unusable (write quorum `k + 1`), refuses them typed below that, and scrub rebuilds the
//! missing pieces once the disks are back.
//!
//! A disk is made unusable by replacing its directory with a regular file: creating
//! anything under it then fails with ENOTDIR, even as root (which ignores permissions).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use stratum_core::config::StorageConfig;
use stratum_core::{StripeRef, Tier};
use stratum_storage::layout::{VolumeHeader, VOLUME_HEADER_BYTES};
use stratum_storage::{write_quorum, RecordKind, Storage, StorageError};

const HOT: Tier = Tier::Hot;

/// Six hot directories, 4+2, 64 KiB shared volumes.
fn config(root: &Path) -> StorageConfig {
    let mut c = StorageConfig::hot_only(root, 6);
    c.shared_volume_bytes_max = 64 * 1024;
    c.group_commit_records_max = 64;
    c.group_commit_bytes_max = 1 << 20;
    c
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Replaces a disk directory by a regular file.
fn kill_dir(dir: &Path) {
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::write(dir, b"not a directory").unwrap();
}

/// Brings a killed disk back, empty.
fn restore_dir(dir: &Path) {
    std::fs::remove_file(dir).unwrap();
    std::fs::create_dir_all(dir).unwrap();
}

fn record(i: usize) -> Vec<u8> {
    (0..2000 + i * 31).map(|j| (i * 7 + j) as u8).collect()
}

/// `CALLS` concurrent `append_shared` calls of `record(base + i)`, each read back at once.
fn append_concurrently(
    rt: &tokio::runtime::Runtime,
    s: &Arc<Storage>,
    base: usize,
) -> Vec<(StripeRef, Vec<u8>)> {
    const CALLS: usize = 64;
    rt.block_on(async {
        let mut tasks = Vec::new();
        for i in base..base + CALLS {
            let s = Arc::clone(s);
            tasks.push(tokio::spawn(async move {
                let data = record(i);
                let e = s.encode(HOT, RecordKind::Frame, &data).unwrap();
                let r = s.append_shared(HOT, vec![e]).await.unwrap().remove(0);
                let st = Arc::clone(&s);
                let rr = r.clone();
                let read = tokio::task::spawn_blocking(move || st.read_stripe(HOT, &rr))
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(read.payload, data);
                (r, data)
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    })
}

fn read_all(s: &Storage, written: &[(StripeRef, Vec<u8>)]) -> usize {
    let mut reconstructed = 0;
    for (r, d) in written {
        let got = s.read_stripe(HOT, r).unwrap();
        assert_eq!(&got.payload, d);
        reconstructed += usize::from(got.reconstructed);
    }
    reconstructed
}

fn volume_header(path: &Path) -> VolumeHeader {
    let f = File::open(path).unwrap();
    let mut b = [0u8; VOLUME_HEADER_BYTES as usize];
    f.read_exact_at(&mut b, 0).unwrap();
    VolumeHeader::decode(&b).unwrap()
}

/// Every shard file of every volume exists and carries the same seal.
fn assert_shard_headers_agree(s: &Storage) {
    for v in s.volumes(HOT).unwrap() {
        let seals: Vec<_> = (0..6)
            .map(|i| volume_header(&s.shard_path(HOT, v.id, i).unwrap()).sealed)
            .collect();
        assert!(
            seals.iter().all(|x| *x == seals[0]),
            "volume {}: shard headers disagree on the seal: {seals:?}",
            v.id
        );
        assert_eq!(seals[0].is_some(), v.sealed, "volume {}", v.id);
    }
}

#[test]
fn one_lost_disk_keeps_writes_going_and_scrub_rebuilds_it() {
    let root = tempfile::tempdir().unwrap();
    let cfg = config(root.path());
    let dead = cfg.hot.dirs[2].clone();
    let rt = runtime();
    let mut written;
    {
        let (s, _) = Storage::open(&cfg).unwrap();
        let s = Arc::new(s);
        // One healthy volume first, so a volume made before the loss is in the mix.
        written = append_concurrently(&rt, &s, 0);
        kill_dir(&dead);
        // 64 concurrent appends while degraded: every one succeeds and reads back. They
        // overflow the 64 KiB volume, so the writer rotates into a volume created degraded.
        let before = s.volumes(HOT).unwrap().len();
        written.extend(append_concurrently(&rt, &s, 64));
        written.extend(append_concurrently(&rt, &s, 128));
        assert!(s.volumes(HOT).unwrap().len() > before, "no rotation");
        // A dedicated volume: created, appended, finished and read while degraded.
        let mut w = s.create_dedicated(HOT).unwrap();
        for i in 1000..1005 {
            let d = record(i);
            let r = w
                .append(s.encode(HOT, RecordKind::Frame, &d).unwrap())
                .unwrap();
            written.push((r, d));
        }
        let id = w.finish().unwrap();
        assert!(!s
            .shard_path(HOT, id, (8 - id.0 as usize % 6) % 6)
            .unwrap()
            .exists());
        let reconstructed = read_all(&s, &written);
        assert!(reconstructed > 0, "no read needed the lost disk");
    }
    // Reopen while the disk is still gone: every volume opens, one shard file short.
    let volumes = {
        let (s, report) = Storage::open(&cfg).unwrap();
        let volumes = s.volumes(HOT).unwrap().len();
        assert!(volumes >= 3);
        assert_eq!(
            (report.volumes, report.shard_files_missing),
            (volumes, volumes)
        );
        assert!(report.warnings.iter().any(|w| w.contains("unusable")));
        read_all(&s, &written);
        // Writes go on after the reopen too, in a volume created degraded (left active).
        let s = Arc::new(s);
        written.extend(append_concurrently(&rt, &s, 192));
        volumes
    };
    let (s, report) = Storage::open(&cfg).unwrap();
    assert!(report.volumes > volumes);
    let s = Arc::new(s);
    written.extend(append_concurrently(&rt, &s, 256));
    // The disk comes back empty: scrub rebuilds every missing piece, in sealed volumes and
    // in the active one alike.
    restore_dir(&dead);
    let first = s.scrub(HOT).unwrap();
    assert_eq!(first.stripes, written.len() as u64);
    assert_eq!(first.pieces_lost, written.len() as u64);
    assert_eq!(first.pieces_repaired, first.pieces_lost);
    assert!(first.stripes_unrecoverable.is_empty());
    let second = s.scrub(HOT).unwrap();
    assert_eq!((second.pieces_lost, second.pieces_repaired), (0, 0));
    assert_eq!(read_all(&s, &written), 0);
    // The recreated shard files carry their volume's header: sealed where it is sealed,
    // and the active volume's recreated file gets the seal when the volume is sealed.
    assert_shard_headers_agree(&s);
    s.seal_active(HOT).unwrap();
    assert_shard_headers_agree(&s);
    drop(s);
    let (s, report) = Storage::open(&cfg).unwrap();
    assert_eq!(
        (report.shard_files_missing, report.torn_bytes_truncated),
        (0, 0)
    );
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(read_all(&s, &written), 0);
}

#[test]
fn below_the_write_quorum_writes_fail_typed_and_reads_go_on() {
    let root = tempfile::tempdir().unwrap();
    let cfg = config(root.path());
    let (k, m) = (cfg.hot.data_pieces, cfg.hot.parity_pieces);
    assert_eq!((k, m), (4, 2));
    assert_eq!(write_quorum(k, m), 5);
    let rt = runtime();
    let before = {
        let (s, _) = Storage::open(&cfg).unwrap();
        append_concurrently(&rt, &Arc::new(s), 0)
    };
    kill_dir(&cfg.hot.dirs[1]);
    kill_dir(&cfg.hot.dirs[4]);
    // Two of six disks lost: open and reads work (m = 2 pieces may be lost)...
    let (s, report) = Storage::open(&cfg).unwrap();
    assert_eq!(report.shard_files_missing, 2 * report.volumes);
    read_all(&s, &before);
    // ... but only four shard files can be made, below the quorum of five.
    let quorum = |r: Result<_, StorageError>| match r {
        Err(StorageError::WriteQuorum {
            written: 4,
            width: 6,
            needed: 5,
            source: Some(_),
            ..
        }) => {}
        Err(e) => panic!("expected WriteQuorum, got {e:?}"),
        Ok(_) => panic!("expected WriteQuorum, got Ok"),
    };
    quorum(s.create_dedicated(HOT).map(|_| ()));
    let e = s.encode(HOT, RecordKind::Frame, b"refused").unwrap();
    quorum(rt.block_on(s.append_shared(HOT, vec![e])).map(|_| ()));
    // A failed creation leaves no shard file behind.
    let volumes = s.volumes(HOT).unwrap();
    for dir in [0, 2, 3, 5] {
        let left = std::fs::read_dir(cfg.hot.dirs[dir].join("volumes"))
            .unwrap()
            .count();
        assert_eq!(left, volumes.len(), "dir {dir}");
    }
    drop(s);
    // One disk back: writes resume.
    restore_dir(&cfg.hot.dirs[4]);
    let (s, _) = Storage::open(&cfg).unwrap();
    let s = Arc::new(s);
    let after = append_concurrently(&rt, &s, 64);
    read_all(&s, &before);
    read_all(&s, &after);
    // Three disks lost is more than m: the open fails with the directory's I/O error.
    drop(s);
    kill_dir(&cfg.hot.dirs[4]);
    kill_dir(&cfg.hot.dirs[0]);
    assert!(matches!(Storage::open(&cfg), Err(StorageError::Io { .. })));
}
