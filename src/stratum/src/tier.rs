//! `stratum tier ...`: the tiering commands. `tier replay` runs offline: it runs the tiering
//! policy over an access trace in virtual time and writes its decision log; the work is
//! `stratum_tiering::replay`, this module only opens the files and reports. `tier explain`,
//! `decisions`, `summary` and `run` ask a running server ([`crate::tier_client`]).

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use stratum_tiering::{replay, CostModel, Policy, PolicyConfig};

use crate::cli::{TierCommand, TierReplayArgs};
use crate::tier_client;

/// Runs one `stratum tier` command, writing its report to `out`.
pub fn command(command: &TierCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    match command {
        TierCommand::Replay(args) => replay_command(args, out),
        TierCommand::Explain(args) => tier_client::explain_command(args, out),
        TierCommand::Decisions(args) => tier_client::decisions_command(args, out),
        TierCommand::Summary(args) => tier_client::summary_command(args, out),
        TierCommand::Run(args) => tier_client::run_command(args, out),
    }
}

/// Runs `stratum tier replay`, printing a one-line summary to `report`.
pub fn replay_command(args: &TierReplayArgs, report: &mut dyn Write) -> anyhow::Result<()> {
    let model_text = std::fs::read_to_string(&args.cost_model)
        .with_context(|| format!("reading {}", args.cost_model.display()))?;
    let model = CostModel::from_json(&model_text, args.cold.as_deref())?;
    let config = match &args.policy_config {
        Some(path) => load_policy_config(path)?,
        None => PolicyConfig::default(),
    };
    config.validate()?;
    let trace =
        File::open(&args.trace).with_context(|| format!("opening {}", args.trace.display()))?;
    let out =
        File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut out = BufWriter::new(out);
    let summary = replay(
        BufReader::new(trace),
        Policy::new(config, model),
        args.hot_capacity,
        args.warm_capacity,
        &mut out,
    )
    .with_context(|| format!("replaying {}", args.trace.display()))?;
    out.flush()
        .with_context(|| format!("writing {}", args.out.display()))?;
    writeln!(
        report,
        "replayed {} events ({} skipped) to {:.3} s: {} placements, {} moves ({} promotions, \
         {} demotions), {} passes; peak hot {} of {} bytes, warm {} of {} bytes",
        summary.events,
        summary.skipped_events,
        summary.end_ts,
        summary.placements,
        summary.moves,
        summary.promotions,
        summary.demotions,
        summary.passes,
        summary.max_used[0],
        args.hot_capacity,
        summary.max_used[1],
        args.warm_capacity,
    )?;
    Ok(())
}

/// Reads a policy config (JSON, the fields of `PolicyConfig`; unknown keys are errors).
fn load_policy_config(path: &Path) -> anyhow::Result<PolicyConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn replay_writes_a_decision_log() {
        let dir = tempfile::tempdir().unwrap();
        let trace = dir.path().join("t.csv");
        std::fs::write(
            &trace,
            "ts,op,bucket,key,size,range_len\n1.000,PUT,b,k,1000,\n2.000,GET,b,k,1000,\n",
        )
        .unwrap();
        let model = dir.path().join("m.json");
        std::fs::write(
            &model,
            include_str!("../../tiering/tests/data/cost_model.json"),
        )
        .unwrap();
        let args = TierReplayArgs {
            trace,
            cost_model: model,
            hot_capacity: 1 << 20,
            warm_capacity: 1 << 22,
            out: dir.path().join("d.csv"),
            cold: None,
            policy_config: None::<PathBuf>,
        };
        let mut report = Vec::new();
        replay_command(&args, &mut report).unwrap();
        let log = std::fs::read_to_string(&args.out).unwrap();
        assert!(log.starts_with("ts,bucket,key,from_tier,to_tier,reason\n"));
        assert!(String::from_utf8(report)
            .unwrap()
            .contains("replayed 2 events"));
    }
}
