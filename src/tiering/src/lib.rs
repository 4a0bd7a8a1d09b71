//! Stratum tiering: per-object access statistics, the placement policy that decides which
//! tier (hot, warm, cold) each object lives in, the cost model it weighs moves with, and
//! replay mode, which runs the same policy over an access trace in virtual time and writes
//! its decision log.
//!
//! Invariants: the policy ([`policy`], [`stats`], [`cost`]) does no I/O and never reads a
//! clock — time is an argument — so the code that decides live is the code that replays;
//! every decision carries a machine-readable [`policy::Reason`] and the numbers it compared
//! ([`policy::Inputs`]). The replay never looks at a trace row later than the one it is
//! processing and never leaves a local tier over its capacity.
//!
//! [`tracker`] keeps the live statistics in memory, updated by the S3 API on every GET and
//! HEAD, and persists them in batches to the metadata store (never a write per request).
//!
//! This crate never serves HTTP. The mover and the cold-tier client build on these parts.
//!
//! ```
//! use stratum_tiering::{cost::CostModel, policy::{Policy, PolicyConfig}, replay::replay};
//! let model = CostModel::from_json(include_str!("../tests/data/cost_model.json"), None)?;
//! let trace = "ts,op,bucket,key,size,range_len\n1.000,PUT,b,k,1000,\n2.000,GET,b,k,1000,\n";
//! let mut log = Vec::new();
//! let summary = replay(trace.as_bytes(), Policy::new(PolicyConfig::default(), model), 1 << 20, 1 << 22, &mut log)?;
//! assert_eq!(summary.events, 2);
//! assert!(String::from_utf8(log)?.starts_with("ts,bucket,key,from_tier,to_tier,reason\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cost;
pub mod log;
pub mod mover;
pub mod policy;
pub mod replay;
pub mod stats;
pub mod trace;
pub mod tracker;

pub use cost::CostModel;
pub use log::{DecisionEntry, DecisionFilter, DecisionLog, LogError, LogStats, Outcome};
pub use mover::{Mover, MoverConfig, NewPlacement, RunReport};
pub use policy::{Decision, Inputs, Outlook, Policy, PolicyConfig, Reason, TierUsage};
pub use replay::{replay, ReplaySummary};
pub use stats::{AccessStats, Hint};
pub use tracker::{AccessKind, AccessTracker};
