//! Model-based test: random put / get(range) / delete / copy / restart / lose-a-disk /
//! corrupt-a-piece sequences against a `BTreeMap` model. A failing seed replays exactly:
//! run with `STRATUM_MODEL_SEED=<seed>`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use stratum_core::Tier;
use stratum_engine::{CopyOptions, Engine, EngineError, RangeSpec};
use stratum_metadata::PutCondition;

const KEYS: usize = 10;
const STEPS: usize = 120;

async fn reopen(root: &Path) -> Engine {
    // The previous instance's last background tasks may still hold the sled lock briefly.
    for _ in 0..100 {
        match Engine::open(small_config(root)).await {
            Ok((e, _)) => return e,
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
    Engine::open(small_config(root)).await.unwrap().0
}

async fn check_all(engine: &Engine, model: &BTreeMap<String, Vec<u8>>, seed: u64, step: usize) {
    let b = bucket("model");
    for i in 0..KEYS {
        let k = format!("k{i}");
        match (model.get(&k), engine.get_object(&b, &key(&k), None).await) {
            (Some(want), Ok(g)) => {
                assert_eq!(&read_all(g).await, want, "seed {seed} step {step} key {k}")
            }
            (None, Err(EngineError::NoSuchKey)) => {}
            (want, got) => panic!(
                "seed {seed} step {step} key {k}: model has {:?}, engine {:?}",
                want.map(Vec::len),
                got.map(|g| g.info.size)
            ),
        }
    }
}

async fn run(seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut engine = open(root).await;
    let b = bucket("model");
    engine.create_bucket(&b).await.unwrap();
    let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for step in 0..STEPS {
        let k = format!("k{}", rng.gen_range(0..KEYS));
        match rng.gen_range(0..100) {
            0..=34 => {
                let len = match rng.gen_range(0..4) {
                    0 => rng.gen_range(0..64),
                    1 => rng.gen_range(64..8192),
                    2 => rng.gen_range(8192..40_000),
                    _ => rng.gen_range(40_000..150_000),
                };
                let d = data(len, rng.gen(), rng.gen_bool(0.6));
                put(&engine, &b, &k, &d).await;
                model.insert(k, d);
            }
            35..=59 => {
                let Some(want) = model.get(&k) else {
                    assert!(matches!(
                        engine.get_object(&b, &key(&k), None).await,
                        Err(EngineError::NoSuchKey)
                    ));
                    continue;
                };
                if want.is_empty() {
                    continue;
                }
                let first = rng.gen_range(0..want.len() as u64);
                let last = rng.gen_range(first..want.len() as u64 + 10);
                let got = read_all(
                    engine
                        .get_object(&b, &key(&k), Some(RangeSpec::FromTo(first, last)))
                        .await
                        .unwrap(),
                )
                .await;
                let end = (last as usize + 1).min(want.len());
                assert_eq!(got, want[first as usize..end], "seed {seed} step {step}");
            }
            60..=74 => {
                let removed = engine
                    .delete_object(&b, &key(&k), PutCondition::None)
                    .await
                    .unwrap();
                assert_eq!(
                    removed,
                    model.remove(&k).is_some(),
                    "seed {seed} step {step}"
                );
            }
            75..=84 => {
                let dst = format!("k{}", rng.gen_range(0..KEYS));
                let result = engine
                    .copy_object(&b, &key(&k), &b, &key(&dst), CopyOptions::default())
                    .await;
                match model.get(&k).cloned() {
                    Some(d) => {
                        result.unwrap();
                        model.insert(dst, d);
                    }
                    None => assert!(matches!(result, Err(EngineError::NoSuchKey))),
                }
            }
            85..=90 => {
                drop(engine);
                engine = reopen(root).await;
                check_all(&engine, &model, seed, step).await;
            }
            91..=95 => {
                let d = rng.gen_range(0..6);
                let _ = std::fs::remove_dir_all(root.join(format!("hot/d{d}")));
                check_all(&engine, &model, seed, step).await;
                engine.storage().seal_active(Tier::Hot).unwrap();
                let report = engine.scrub(Tier::Hot).await.unwrap();
                assert!(
                    report.stripes_unrecoverable.is_empty(),
                    "seed {seed}: {report:?}"
                );
            }
            _ => {
                let files = shard_files(root);
                if files.is_empty() {
                    continue;
                }
                let f = &files[rng.gen_range(0..files.len())];
                let mut bytes = std::fs::read(f).unwrap();
                if !bytes.is_empty() {
                    let at = rng.gen_range(0..bytes.len());
                    bytes[at] ^= 1 << rng.gen_range(0..8);
                    std::fs::write(f, bytes).unwrap();
                }
                check_all(&engine, &model, seed, step).await;
                let report = engine.scrub(Tier::Hot).await.unwrap();
                assert!(
                    report.stripes_unrecoverable.is_empty(),
                    "seed {seed}: {report:?}"
                );
            }
        }
    }
    check_all(&engine, &model, seed, STEPS).await;
    drop(engine);
    let engine = reopen(root).await;
    check_all(&engine, &model, seed, STEPS + 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_operation_sequences_match_the_model() {
    let seeds: Vec<u64> = match std::env::var("STRATUM_MODEL_SEED") {
        Ok(s) => vec![s.parse().expect("a numeric seed")],
        Err(_) => vec![1, 2, 3],
    };
    for seed in seeds {
        run(seed).await;
    }
}
