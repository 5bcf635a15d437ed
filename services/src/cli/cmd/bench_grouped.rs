//! `trial-ledger bench --grouped`: grouped appends through the submit handle by many
//! concurrent writers, beside the 2-core crypto limit measured in the same run on exactly the
//! records being sequenced ([`super::bench_reference`]).
//!
//! The records are the demo's (many author keys, the demo's proportions of event types and
//! sizes): the demo is simulated first, then its submissions after the two bootstrap records
//! are sequenced again into a new ledger of the same trial, through one
//! [`tl_ledger::SubmitHandle`] (the multi-core pipeline, one fsync per batch and partition),
//! by `--writers` threads. Each writer waits for its receipt before it takes the next
//! submission; writers take submissions in the demo's order and queue them in turns, so the
//! new ledger is the demo ledger again, byte for byte, which the benchmark checks. Runs
//! alternate with the reference, so that load from other processes affects both alike, and
//! the best of each counts.

use super::bench::{load_average, print_machine, WorkDir};
use super::bench_reference::{enrolled_keys, CryptoLimit, CryptoWork};
use crate::cli::BenchArgs;
use anyhow::{bail, ensure, Context, Result};
use std::collections::VecDeque;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tl_domain::TrialRules;
use tl_ledger::log::read_embedded_for_verify;
use tl_ledger::submit::{spawn, HandleConfig, SubmitHandle};
use tl_ledger::{EmbeddedLedger, Submitted};
use tl_schemas::{encode, TrialId, UtcMicros};

/// Grouped runs (and reference runs between them).
const RUNS: usize = 3;
/// The target, as a share of the crypto limit; and the stretch goal.
const TARGET: f64 = 0.5;
/// See [`TARGET`].
const STRETCH: f64 = 0.75;

/// The demo ledger whose submissions are sequenced.
struct Demo {
    config: tl_sim::SimConfig,
    keys: tl_sim::SimKeys,
    /// Every record's bytes, per partition.
    parts: Vec<Vec<Vec<u8>>>,
    /// (ordering time, partition, seq) of every record, in the order they were sequenced.
    order: Vec<(UtcMicros, u32, u64)>,
}

impl Demo {
    fn simulate(dir: &Path, patients: u32) -> Result<Demo> {
        let config =
            tl_sim::SimConfig::new(TrialId::new("drup-demo")?, tl_sim::DEFAULT_SEED, patients);
        eprintln!("simulating the demo ({patients} treated patients) ...");
        let (_, keys) = tl_sim::simulate(dir, &config)?;
        let parts: Vec<Vec<Vec<u8>>> = read_embedded_for_verify(dir)?
            .into_iter()
            .map(|p| p.records)
            .collect();
        let mut order = Vec::new();
        for bytes in parts.iter().flatten() {
            let (r, _) = tl_ledger::codec::decode_record(bytes)
                .map_err(|r| anyhow::anyhow!("{}: {}", r.reason.code(), r.detail))?;
            order.push((r.body.ordering_time, r.body.partition, r.body.seq));
        }
        // The simulated clock moves on at least a second per submission: ordering time is
        // the order the demo sequenced them in (the two bootstrap records share one).
        order.sort();
        ensure!(order.len() > 2, "the demo made no records");
        Ok(Demo {
            config,
            keys,
            parts,
            order,
        })
    }

    fn record(&self, at: &(UtcMicros, u32, u64)) -> &Vec<u8> {
        &self.parts[at.1 as usize][at.2 as usize]
    }

    /// The submissions after the bootstrap, in order, with their ordering times.
    fn submissions(&self) -> Result<Vec<(UtcMicros, Vec<u8>)>> {
        self.order[2..]
            .iter()
            .map(|at| {
                let (r, _) = tl_ledger::codec::decode_record(self.record(at))
                    .map_err(|r| anyhow::anyhow!("{}: {}", r.reason.code(), r.detail))?;
                Ok((at.0, encode(&r.body.submission)))
            })
            .collect()
    }
}

/// Runs `bench --grouped`.
pub fn run(a: &BenchArgs) -> Result<ExitCode> {
    ensure!(a.writers > 0, "--writers must be at least 1");
    let workdir = WorkDir::new(a.dir.as_deref())?;
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    print_machine(
        &format!(
            "trial-ledger bench --grouped: {} writers, folder {}",
            a.writers,
            workdir.path.display()
        ),
        cores,
    );
    let demo = Demo::simulate(
        &workdir.path.join("demo"),
        a.patients.unwrap_or(tl_sim::DEFAULT_TREATED),
    )?;
    let subs = demo.submissions()?;
    let trial = &demo.config.trial;
    let inputs = read_embedded_for_verify(&workdir.path.join("demo"))?;
    let keys = enrolled_keys(&inputs, demo.keys.root.key.public_key());
    drop(inputs);
    let work = CryptoWork::of_records(
        trial,
        demo.order[2..].iter().map(|at| demo.record(at)),
        &keys,
    )?;
    let sealer = &demo.keys.sequencer.key;

    let mut best = Duration::MAX;
    let mut limit: Option<CryptoLimit> = None;
    for run in 0..RUNS {
        let dir = workdir.path.join(format!("grouped-{run}"));
        best = best.min(grouped_run(&dir, &demo, &subs, a.writers)?);
        if run + 1 == RUNS {
            same_as_demo(&dir, &demo)?;
        }
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        let l = work.measure(sealer)?;
        limit = Some(limit.map_or(l, |b| b.best(l)));
    }
    let limit = limit.context("no reference run")?;
    print_figures(a.writers, subs.len(), best, &limit);
    workdir.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// Sequences `subs` into a new ledger in `dir` through one submit handle, `writers` at a time;
/// returns the time from the first submission to the last receipt.
fn grouped_run(
    dir: &Path,
    demo: &Demo,
    subs: &[(UtcMicros, Vec<u8>)],
    writers: usize,
) -> Result<Duration> {
    let (config, keys) = (&demo.config, &demo.keys);
    let ledger = EmbeddedLedger::create(
        dir,
        &config.trial,
        config.partitions,
        &config.title,
        &keys.root.key,
        keys.sequencer.key.clone(),
        TrialRules,
        demo.order[0].0,
    )?;
    // The sequencer takes each submission's ordering time in the order they were queued.
    let times = Arc::new(Mutex::new(
        subs.iter().map(|s| s.0).collect::<VecDeque<_>>(),
    ));
    let clock = {
        let times = times.clone();
        move || {
            let mut t = times.lock().unwrap_or_else(|e| e.into_inner());
            t.pop_front().unwrap_or(UtcMicros(i64::MAX))
        }
    };
    let (handle, thread) = spawn(ledger, clock, HandleConfig::default())?;
    let next = Mutex::new(0usize);
    let started = Instant::now();
    let results: Vec<Result<()>> = std::thread::scope(|s| {
        let running: Vec<_> = (0..writers)
            .map(|_| s.spawn(|| writer(&handle, &next, subs)))
            .collect();
        running
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|_| bail!("a writer panicked")))
            .collect()
    });
    let took = started.elapsed();
    drop(handle);
    thread.stop()?.close()?;
    results.into_iter().collect::<Result<()>>()?;
    Ok(took)
}

/// One writer: takes the next submission in turn, queues it, and waits for its receipt.
fn writer(handle: &SubmitHandle, next: &Mutex<usize>, subs: &[(UtcMicros, Vec<u8>)]) -> Result<()> {
    loop {
        let (i, queued) = {
            let mut k = next.lock().unwrap_or_else(|e| e.into_inner());
            let Some((_, bytes)) = subs.get(*k) else {
                return Ok(());
            };
            // Queued while holding the turn: the queue's order is the demo's.
            let queued = handle.enqueue_blocking(bytes.clone())?;
            *k += 1;
            (*k - 1, queued)
        };
        match queued.wait()? {
            Submitted::Recorded(_) => {}
            other => bail!("demo submission {i} was not recorded again: {other:?}"),
        }
    }
}

/// Checks that the benchmark's ledger in `dir` holds exactly the demo's records.
fn same_as_demo(dir: &Path, demo: &Demo) -> Result<()> {
    let again = read_embedded_for_verify(dir)?;
    for (p, (a, b)) in demo.parts.iter().zip(&again).enumerate() {
        ensure!(
            *a == b.records,
            "partition {p}: the re-sequenced records differ from the demo's"
        );
    }
    Ok(())
}

fn print_figures(writers: usize, n: usize, best: Duration, limit: &CryptoLimit) {
    let rate = n as f64 / best.as_secs_f64().max(1e-9);
    let share = rate / limit.rate();
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!("grouped appends: {n} demo records (the demo ledger again, byte for byte)");
    println!(
        "  through the handle, {writers} writers   {rate:>9.0} records/s   best of {RUNS} ({} ms; one fsync per batch and partition)",
        best.as_millis()
    );
    println!(
        "  author signatures, batch, {cores} cores  {:>9.0} /s          (verify_many, {} ms)",
        limit.verify_rate(),
        limit.verify.as_millis()
    );
    println!(
        "  seals signed, {cores} cores              {:>9.0} /s          ({} ms)",
        limit.sign_rate(),
        limit.sign.as_millis()
    );
    println!(
        "  crypto limit 1/(1/verify + 1/sign)  {:>9.0} records/s",
        limit.rate()
    );
    let verdict = if share >= STRETCH {
        "met, and the stretch goal"
    } else if share >= TARGET {
        "met"
    } else {
        "NOT met"
    };
    println!("  grouped / limit                     {share:>9.2}   target >= {TARGET} (stretch {STRETCH}): {verdict}");
    println!("  load average {}", load_average());
}
