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
use tl_ledger::submit::{spawn, BatchProfile, HandleConfig, SubmitHandle};
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

    let mut best: Option<Run> = None;
    let mut limit: Option<CryptoLimit> = None;
    for run in 0..RUNS {
        let dir = workdir.path.join(format!("grouped-{run}"));
        let this = grouped_run(&dir, &demo, &subs, a.writers, a.writer_tasks)?;
        if best.as_ref().is_none_or(|b| this.took < b.took) {
            best = Some(this);
        }
        if run + 1 == RUNS {
            same_as_demo(&dir, &demo)?;
        }
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        let l = work.measure(sealer)?;
        limit = Some(limit.map_or(l, |b| b.best(l)));
    }
    let limit = limit.context("no reference run")?;
    let best = best.context("no grouped run")?;
    let kind = if a.writer_tasks {
        "async tasks"
    } else {
        "OS threads"
    };
    print_figures(a.writers, kind, subs.len(), best.took, &limit);
    print_profile(&best);
    workdir.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// One grouped run: how long it took and where the time went.
struct Run {
    /// From the first submission to the last receipt.
    took: Duration,
    /// The sequencer thread's stages.
    profile: BatchProfile,
    /// The writers' side, summed over all writers.
    writers: WriterTimes,
}

/// Where the writers' time went, summed over all of them.
#[derive(Default)]
struct WriterTimes {
    /// Waiting for their turn to queue (the lock that keeps the demo's order).
    turn: Duration,
    /// Queueing (the channel into the sequencer thread).
    enqueue: Duration,
    /// From queued to the answer in hand: the round trip through the pipeline.
    receipt: Duration,
}

impl WriterTimes {
    fn add(&mut self, other: &WriterTimes) {
        self.turn += other.turn;
        self.enqueue += other.enqueue;
        self.receipt += other.receipt;
    }
}

/// Sequences `subs` into a new ledger in `dir` through one submit handle, `writers` at a time.
fn grouped_run(
    dir: &Path,
    demo: &Demo,
    subs: &[(UtcMicros, Vec<u8>)],
    writers: usize,
    tasks: bool,
) -> Result<Run> {
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
    let started = Instant::now();
    let results = if tasks {
        task_writers(&handle, subs, writers)?
    } else {
        thread_writers(&handle, subs, writers)
    };
    let took = started.elapsed();
    drop(handle);
    let profile = thread.profile();
    thread.stop()?.close()?;
    let mut times = WriterTimes::default();
    for r in results {
        times.add(&r?);
    }
    Ok(Run {
        took,
        profile,
        writers: times,
    })
}

/// Runs `writers` OS threads, each a [`writer`].
fn thread_writers(
    handle: &SubmitHandle,
    subs: &[(UtcMicros, Vec<u8>)],
    writers: usize,
) -> Vec<Result<WriterTimes>> {
    let next = Mutex::new(0usize);
    std::thread::scope(|s| {
        let running: Vec<_> = (0..writers)
            .map(|_| s.spawn(|| writer(handle, &next, subs)))
            .collect();
        running
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|_| bail!("a writer panicked")))
            .collect()
    })
}

/// Runs `writers` async tasks, each a [`task_writer`], on a runtime with a worker thread per
/// core.
fn task_writers(
    handle: &SubmitHandle,
    subs: &[(UtcMicros, Vec<u8>)],
    writers: usize,
) -> Result<Vec<Result<WriterTimes>>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the writers' runtime")?;
    let subs: Arc<Vec<Vec<u8>>> = Arc::new(subs.iter().map(|s| s.1.clone()).collect());
    let next = Arc::new(tokio::sync::Mutex::new(0usize));
    Ok(runtime.block_on(async {
        let running: Vec<_> = (0..writers)
            .map(|_| tokio::spawn(task_writer(handle.clone(), next.clone(), subs.clone())))
            .collect();
        let mut results = Vec::with_capacity(running.len());
        for r in running {
            results.push(r.await.unwrap_or_else(|_| bail!("a writer task panicked")));
        }
        results
    }))
}

/// [`writer`] as an async task.
async fn task_writer(
    handle: SubmitHandle,
    next: Arc<tokio::sync::Mutex<usize>>,
    subs: Arc<Vec<Vec<u8>>>,
) -> Result<WriterTimes> {
    let mut times = WriterTimes::default();
    loop {
        let asking = Instant::now();
        let (i, queued) = {
            let mut k = next.lock().await;
            let Some(bytes) = subs.get(*k) else {
                return Ok(times);
            };
            let queueing = Instant::now();
            times.turn += queueing - asking;
            // Queued while holding the turn: the queue's order is the demo's.
            let queued = handle.enqueue(bytes.clone()).await?;
            times.enqueue += queueing.elapsed();
            *k += 1;
            (*k - 1, queued)
        };
        let waiting = Instant::now();
        let answer = queued.answer().await?;
        times.receipt += waiting.elapsed();
        match answer {
            Submitted::Recorded(_) => {}
            other => bail!("demo submission {i} was not recorded again: {other:?}"),
        }
    }
}

/// One writer: takes the next submission in turn, queues it, and waits for its receipt.
fn writer(
    handle: &SubmitHandle,
    next: &Mutex<usize>,
    subs: &[(UtcMicros, Vec<u8>)],
) -> Result<WriterTimes> {
    let mut times = WriterTimes::default();
    loop {
        let asking = Instant::now();
        let (i, queued) = {
            let mut k = next.lock().unwrap_or_else(|e| e.into_inner());
            let Some((_, bytes)) = subs.get(*k) else {
                return Ok(times);
            };
            let queueing = Instant::now();
            times.turn += queueing - asking;
            // Queued while holding the turn: the queue's order is the demo's.
            let queued = handle.enqueue_blocking(bytes.clone())?;
            times.enqueue += queueing.elapsed();
            *k += 1;
            (*k - 1, queued)
        };
        let waiting = Instant::now();
        let answer = queued.wait()?;
        times.receipt += waiting.elapsed();
        match answer {
            Submitted::Recorded(_) => {}
            other => bail!("demo submission {i} was not recorded again: {other:?}"),
        }
    }
}

/// Prints where the best run's time went: the sequencer thread's stages per batch, and the
/// writers' round trip.
fn print_profile(run: &Run) {
    let p = &run.profile;
    let batches = p.batches.max(1) as f64;
    let wall = run.took.as_secs_f64().max(1e-9);
    println!(
        "profile of the best run: {} batches, {:.1} submissions a batch; sequencer thread, per batch and share of the run:",
        p.batches,
        p.submissions as f64 / batches
    );
    for (name, d) in p.stages() {
        println!(
            "  {name:<40} {:>7.3} ms  {:>5.1} %",
            d.as_secs_f64() * 1e3 / batches,
            d.as_secs_f64() * 1e2 / wall
        );
    }
    let n = p.submissions.max(1) as f64;
    let w = &run.writers;
    println!(
        "  writers, per submission: turn {:.3} ms, queue {:.3} ms, queued to answer {:.3} ms",
        w.turn.as_secs_f64() * 1e3 / n,
        w.enqueue.as_secs_f64() * 1e3 / n,
        w.receipt.as_secs_f64() * 1e3 / n
    );
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

fn print_figures(writers: usize, kind: &str, n: usize, best: Duration, limit: &CryptoLimit) {
    let rate = n as f64 / best.as_secs_f64().max(1e-9);
    let share = rate / limit.rate();
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!("grouped appends: {n} demo records (the demo ledger again, byte for byte); writers are {kind}");
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
