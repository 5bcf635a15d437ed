//! `trial-ledger bench --generate N --out DIR`: writes a large, fully valid ledger of a
//! generated trial with the template generator ([`tl_sim::template`]) and reports how fast,
//! and how much disk it took. The folder is a data folder like `init`'s: `DIR/trust.json`
//! (pinning the generated root key) and `DIR/ledger/`, so `verify --data DIR`, `project
//! --data DIR` and `view ... --data DIR` work on it.

use super::bench::{load_average, print_machine};
use crate::cli::BenchArgs;
use anyhow::{ensure, Context, Result};
use std::path::Path;
use std::process::ExitCode;
use tl_ledger::trust::TrustFile;

/// Runs `bench --generate`.
pub fn run(a: &BenchArgs, records: u64) -> Result<ExitCode> {
    let out = a
        .out
        .as_deref()
        .context("--generate needs --out DIR (a new data folder)")?;
    ensure!(records > 0, "--generate must be at least 1");
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    print_machine(
        &format!(
            "trial-ledger bench --generate: {records} records into {}",
            out.display()
        ),
        cores,
    );
    let report = generate_data(out, records)?;
    let secs = report.elapsed.as_secs_f64();
    let bytes = dir_bytes(&super::ledger_dir(out))?;
    println!("  records                        {}", report.records);
    println!("  patients                       {}", report.patients);
    println!("  keys enrolled                  {}", report.keys);
    println!("  time                           {secs:.1} s");
    println!(
        "  rate                           {:.0} records/s",
        report.records as f64 / secs.max(1e-9)
    );
    println!(
        "  disk (ledger folder)           {:.1} MiB ({:.0} bytes/record)",
        bytes as f64 / (1 << 20) as f64,
        bytes as f64 / report.records.max(1) as f64
    );
    println!("  load average (1 min) after     {}", load_average());
    Ok(ExitCode::SUCCESS)
}

/// Generates a data folder of about `records` records in `out` (which must not hold a trust
/// file or a ledger): the trust file and the ledger.
pub fn generate_data(out: &Path, records: u64) -> Result<tl_sim::template::GenReport> {
    let trust = super::trust_path(out);
    let ledger = super::ledger_dir(out);
    ensure!(
        !trust.exists() && !ledger.exists(),
        "{} already holds a trust file or a ledger",
        out.display()
    );
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let (report, keys) = tl_sim::template::generate(&ledger, records)?;
    TrustFile::new(
        &report.trial,
        keys.root.key.public_key(),
        tl_sim::template::PARTITIONS,
    )
    .write(&trust)?;
    Ok(report)
}

/// Bytes of the files under `dir`.
fn dir_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}
