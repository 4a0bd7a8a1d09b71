//! A small driver for tuning: `cargo run --release -p stratum-tiering --example replay --
//! TRACE COST_MODEL HOT_BYTES WARM_BYTES OUT [POLICY_JSON]` (the `stratum tier replay`
//! command without building the server). POLICY_JSON overrides `PolicyConfig` fields.

use std::error::Error;
use std::fs::File;
use std::io::{BufReader, BufWriter};

use stratum_tiering::{replay, CostModel, Policy, PolicyConfig};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        return Err("usage: replay TRACE COST_MODEL HOT_BYTES WARM_BYTES OUT [POLICY_JSON]".into());
    }
    let model = CostModel::from_json(&std::fs::read_to_string(&args[2])?, None)?;
    let config: PolicyConfig = match args.get(6) {
        Some(j) => serde_json::from_str(j)?,
        None => PolicyConfig::default(),
    };
    config.validate()?;
    let trace = BufReader::new(File::open(&args[1])?);
    let out = BufWriter::new(File::create(&args[5])?);
    let t0 = std::time::Instant::now();
    let s = replay(
        trace,
        Policy::new(config, model),
        args[3].parse()?,
        args[4].parse()?,
        out,
    )?;
    eprintln!("{s:?} in {:.2?}", t0.elapsed());
    Ok(())
}
