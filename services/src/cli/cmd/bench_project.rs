//! `trial-ledger bench-project`: replays a ledger (by default the default demo, simulated into
//! a temporary folder first) into all three views with verification on, and prints the rate
//! beside the batch-verification limit measured in the same run on exactly the signature
//! checks the replay makes (`bench`'s reference: [`tl_ledger::crypto::verify_many`] on every
//! core).
//!
//! Each replay starts from empty view databases in a fresh folder: the verifying reader checks
//! every record (chains, both signatures in batches, registry, roles, domain rules,
//! references), the model applies it, and each view writes its rows and positions in SQLite
//! transactions (one per poll of up to `--batch` records per partition, default 10,000; each
//! record reaches the model as soon as it is verified, and reading and verifying run ahead of the
//! views). Replays alternate with the limit, and the best of each counts.

use super::bench::{load_average, signature_checks, time_verify_many};
use crate::cli::BenchProjectArgs;
use anyhow::{ensure, Context, Result};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tl_ledger::log::read_embedded_for_verify;
use tl_ledger::trust::TrustFile;
use tl_projections::LogState;

/// The target: replay signatures per second as a share of the batch limit.
const TARGET_PERCENT: f64 = 60.0;
/// Replays and limit runs: at least this many, and more while under [`PHASE`].
const MIN_RUNS: usize = 3;
/// See [`MIN_RUNS`].
const PHASE: Duration = Duration::from_secs(4);

/// Runs `bench-project`.
pub fn run(a: BenchProjectArgs) -> Result<ExitCode> {
    let tmp = tempdir()?;
    let (ledger, trial, root) = match &a.data {
        Some(data) => {
            let trust = TrustFile::read(&super::trust_path(data))
                .with_context(|| format!("{} is not a trial data folder", data.display()))?;
            let root = trust.root_key().map_err(anyhow::Error::msg)?;
            (super::ledger_dir(data), trust.trial(), root)
        }
        None => {
            let ledger = tmp.join("ledger");
            let config = tl_sim::SimConfig::new(
                tl_schemas::TrialId::new("drup-demo")?,
                tl_sim::DEFAULT_SEED,
                tl_sim::DEFAULT_TREATED,
            );
            eprintln!("simulating the default demo (seed {}) ...", config.seed);
            let (report, _) = tl_sim::simulate(&ledger, &config)?;
            (ledger, config.trial, report.root_public_key)
        }
    };

    // The signature checks a full verification makes: the reference's input.
    let inputs = read_embedded_for_verify(&ledger)?;
    let keys = super::bench_reference::enrolled_keys(&inputs, root);
    let checks = signature_checks(&trial, &inputs, &keys)?;
    let records: u64 = inputs.iter().map(|p| p.records.len() as u64).sum();
    drop(inputs);

    let mut replay = Duration::MAX;
    let mut limit = Duration::MAX;
    // CPU time (all threads) of the fastest replay and limit run: on a shared machine the
    // wall times move with the load, the work each does much less.
    let (mut replay_cpu, mut limit_cpu) = (None, None);
    let mut runs = 0;
    let phase = Instant::now();
    while runs < MIN_RUNS || phase.elapsed() < PHASE {
        runs += 1;
        let db = tmp.join(format!("views-{runs}"));
        let (t, c) = (Instant::now(), process_cpu());
        let mut p = tl_projections::embedded(&ledger, trial.clone(), root, &db, a.batch as usize)?;
        let progress = p.catch_up(LogState::Complete)?;
        let took = t.elapsed();
        let cpu = cpu_since(c);
        drop(p);
        ensure!(
            progress.verified == records && progress.applied == [records; 3],
            "the replay verified {} and applied {:?} of {records} records",
            progress.verified,
            progress.applied
        );
        if took < replay {
            (replay, replay_cpu) = (took, cpu);
        }
        std::fs::remove_dir_all(&db).ok();
        let c = process_cpu();
        let took = time_verify_many(&checks)?;
        let cpu = cpu_since(c);
        if took < limit {
            (limit, limit_cpu) = (took, cpu);
        }
    }
    let sigs = checks.len() as f64;
    let rec_rate = records as f64 / replay.as_secs_f64();
    let sig_rate = sigs / replay.as_secs_f64();
    let limit_rate = sigs / limit.as_secs_f64();
    let percent = 100.0 * sig_rate / limit_rate;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("projection replay: {records} records, {} signatures, into enrollment, safety and dossier (SQLite), verification on", checks.len());
    println!(
        "  replay, best of {runs}          {:>10.0} records/s   {:>10.0} signatures/s   ({} ms)",
        rec_rate,
        sig_rate,
        replay.as_millis()
    );
    println!("  batch limit, {cores} cores        {:>10} {:>10.0} signatures/s   (verify_many on the same checks, {} ms)", "", limit_rate, limit.as_millis());
    println!(
        "  replay / limit (signatures/s)  {percent:.1} %   target >= {TARGET_PERCENT:.0} %: {}",
        if percent >= TARGET_PERCENT {
            "met"
        } else {
            "NOT met"
        }
    );
    if let (Some(r), Some(l)) = (replay_cpu, limit_cpu) {
        println!(
            "  CPU time (all threads)         replay {} ms, limit {} ms: a perfect 2-core overlap would reach {:.1} %",
            r.as_millis(),
            l.as_millis(),
            100.0 * l.as_secs_f64() / r.as_secs_f64()
        );
    }
    println!("  load average {}", load_average());
    std::fs::remove_dir_all(&tmp).ok();
    Ok(ExitCode::SUCCESS)
}

/// This process's CPU time so far, user and system, all threads (Linux `/proc/self/stat`, in
/// clock ticks of 10 ms); `None` elsewhere.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at state, field 3;
    // utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut f = rest.split_whitespace().skip(11);
    let utime: u64 = f.next()?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

fn cpu_since(start: Option<Duration>) -> Option<Duration> {
    Some(process_cpu()?.saturating_sub(start?))
}

fn tempdir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "trial-ledger-bench-project-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}
