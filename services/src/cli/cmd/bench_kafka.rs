//! `trial-ledger bench --kafka BOOTSTRAP | --kafka-local`: ledger append throughput through the
//! sequencer on Kafka, beside what it is compared with, all measured in one run on one broker:
//!
//! * **signing**: one core signing the submissions' messages (the sequencer seals each record
//!   with one signature);
//! * **verification**: one core verifying each author signature once (what the sequencer
//!   does before it seals);
//! * **raw produce**: the same submission bytes produced with rdkafka, idempotent, acks=all,
//!   to a topic of the same shape, until the broker has acknowledged all of them;
//! * **sequencer**: the same submissions sent to intake by a writer, while the sequencer (in
//!   this process, same code as `trial-ledger sequencer`) validates, seals and produces them
//!   to the ledger in transactions: from the first send until every record is committed.
//!
//! The broker and the crypto share the cores, so their costs add: the reference is
//! `1 / (2/raw + 1/verify + 1/sign)` (each event is written twice, verified once and signed
//! once). The target is 0.8 of it.

use crate::cli::BenchArgs;
use anyhow::{Context, Result};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tl_domain::TrialRules;
use tl_kafka::writer::{Verdict, Writer};
use tl_kafka::{KafkaConfig, SequencerConfig, TopicSafety};
use tl_ledger::writer::Draft;
use tl_ledger::SigningKey;
use tl_schemas::clinical::{ConsentRecorded, PatientRegistered};
use tl_schemas::events::{envelope_of, KeyEnrolled};
use tl_schemas::ids::Name;
use tl_schemas::{Date, Role, SignedSubmission, Subject, SubmissionId, TrialId, UtcMicros};

/// Partitions of the benchmark trial.
const PARTITIONS: u32 = 8;
/// The target share of the reference rate.
const TARGET: f64 = 0.8;

/// Runs the Kafka benchmark (with `--stream`, the stream latency benchmark,
/// [`super::bench_stream_kafka`]).
pub fn run(a: BenchArgs) -> Result<ExitCode> {
    anyhow::ensure!(a.records > 0, "--records must be at least 1");
    if a.stream {
        let n = if a.records == 20_000 {
            1_000
        } else {
            a.records as usize
        };
        let local = if a.kafka_local {
            Some(crate::hosts::local_kafka::LocalBroker::start()?)
        } else {
            None
        };
        let bootstrap = match (&a.kafka, &local) {
            (Some(b), _) => b.clone(),
            (None, Some(l)) => l.bootstrap.clone(),
            (None, None) => unreachable!("dispatched on --kafka or --kafka-local"),
        };
        return super::bench_stream_kafka::run(&bootstrap, n);
    }
    let n = a.records as usize;
    let local = if a.kafka_local {
        Some(crate::hosts::local_kafka::LocalBroker::start()?)
    } else {
        None
    };
    let bootstrap = match (&a.kafka, &local) {
        (Some(b), _) => b.clone(),
        (None, Some(l)) => l.bootstrap.clone(),
        (None, None) => unreachable!("dispatched on --kafka or --kafka-local"),
    };
    let id = format!("bench.{:08x}", rand::random::<u32>());
    let trial = TrialId::new(&id)?;
    let mut cfg = KafkaConfig::new(bootstrap.clone(), trial.clone());
    if local.is_none() {
        cfg.properties = super::client_properties(a.kafka_config.as_deref())?;
    }
    let brokers = tl_kafka::topics::broker_count(&cfg)?;
    cfg.safety = if brokers >= 3 {
        TopicSafety::Production
    } else {
        TopicSafety::Dev
    };
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!("trial-ledger bench (Kafka): {n} submissions, trial {id}");
    println!(
        "  broker(s)                      {bootstrap} ({brokers} node(s), {:?} topic settings)",
        cfg.safety
    );
    println!("  cores (available_parallelism)  {cores}");
    println!(
        "  build profile                  {}",
        if cfg!(debug_assertions) {
            "debug (numbers are not representative: use --release)"
        } else {
            "release"
        }
    );
    println!(
        "  load average (1 min)           {}",
        std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next().map(str::to_string))
            .unwrap_or_else(|| "unknown".into())
    );
    println!();

    let root = SigningKey::from_seed([1; 32]);
    let sealer = SigningKey::from_seed([2; 32]);
    let investigator = SigningKey::from_seed([4; 32]);

    // Signing: the submissions themselves, signed on one core.
    let drafts = drafts(n);
    let t0 = Instant::now();
    let subs: Vec<SignedSubmission> = drafts
        .into_iter()
        .map(|d| d.sign(&trial, &investigator))
        .collect();
    let sign_rate = n as f64 / t0.elapsed().as_secs_f64();
    // Verification: each author signature once, on one core.
    let messages: Vec<Vec<u8>> = subs
        .iter()
        .map(|s| s.submission.signing_message())
        .collect();
    let pk = investigator.public_key();
    let t0 = Instant::now();
    let valid = subs
        .iter()
        .zip(&messages)
        .filter(|(s, m)| tl_ledger::crypto::verify_one(&pk, m, &s.signature))
        .count();
    let verify_rate = n as f64 / t0.elapsed().as_secs_f64();
    anyhow::ensure!(valid == n, "benchmark signatures do not verify");
    println!("  signing, one core              {sign_rate:>12.0} sig/s");
    println!("  verification, one core         {verify_rate:>12.0} sig/s");

    // Raw produce of the same bytes, to topics of the same shape.
    let raw_cfg = KafkaConfig {
        topics: tl_kafka::Topics::of(&TrialId::new(format!("{id}-raw"))?),
        ..cfg.clone()
    };
    tl_kafka::topics::create_topics(&raw_cfg, PARTITIONS)?;
    let raw_writer = Writer::connect(&raw_cfg)?;
    let t0 = Instant::now();
    for s in &subs {
        raw_writer.send(s)?;
    }
    raw_writer.flush()?;
    let raw_rate = n as f64 / t0.elapsed().as_secs_f64();
    println!("  raw produce (idempotent, acks=all) {raw_rate:>8.0} msg/s");

    // The sequencer, in this process.
    tl_kafka::bootstrap::init_trial(
        &cfg,
        PARTITIONS,
        "benchmark trial",
        &root,
        sealer.public_key(),
        UtcMicros::now(),
    )?;
    let shutdown = Arc::new(AtomicBool::new(false));
    let scfg = SequencerConfig::new(cfg.clone(), sealer, root.public_key());
    let service = {
        let shutdown = Arc::clone(&shutdown);
        std::thread::spawn(move || tl_kafka::sequencer::run(&scfg, || TrialRules, &shutdown))
    };
    let result = (|| -> Result<f64> {
        let mut w = Writer::connect(&cfg)?;
        let enrol = KeyEnrolled {
            public_key: investigator.public_key(),
            name: "Benchmark investigator".into(),
            role: Role::Investigator,
        };
        let signed = Draft::new(Subject::Trial, envelope_of(&enrol)).sign(&trial, &root);
        match w.submit(&signed, Duration::from_secs(120))? {
            Verdict::Recorded { .. } => {}
            Verdict::Refused(r) => anyhow::bail!("enrolment refused: {}", r.detail),
        }
        let before = w.watcher().record_count();
        let t0 = Instant::now();
        for s in &subs {
            w.send(s)?;
        }
        w.flush()?;
        w.watcher()
            .wait_records(before + n, Duration::from_secs(600))
            .context("waiting for the sequencer to commit every record")?;
        Ok(n as f64 / t0.elapsed().as_secs_f64())
    })();
    shutdown.store(true, Ordering::SeqCst);
    let stats = service
        .join()
        .map_err(|_| anyhow::anyhow!("the sequencer thread panicked"))??;
    let seq_rate = result?;
    let reference = 1.0 / (2.0 / raw_rate + 1.0 / verify_rate + 1.0 / sign_rate);
    let ratio = seq_rate / reference;
    println!(
        "  sequencer, end to end          {seq_rate:>12.0} records/s ({} transactions, {} checkpoints)",
        stats.transactions, stats.checkpoints
    );
    println!();
    println!("  reference 1/(2/raw + 1/verify + 1/sign) {reference:>8.0} records/s");
    println!(
        "  ratio                          {ratio:>12.2} (target {TARGET:.1}): {}",
        if ratio >= TARGET { "met" } else { "NOT met" }
    );
    Ok(ExitCode::SUCCESS)
}

/// `n` investigator submissions: patients registered, then consenting.
fn drafts(n: usize) -> Vec<Draft> {
    let day = Date::from_ymd(2025, 3, 1).expect("a valid date");
    let mut out = Vec::with_capacity(n);
    let mut i = 0u64;
    while out.len() < n {
        let patient = Subject::Patient(Name::new(format!("bench-{i}")).expect("a valid name"));
        let mut d = Draft::new(
            patient.clone(),
            envelope_of(&PatientRegistered {
                tumour_type: "COAD".into(),
                site: "NKI".into(),
                registered_on: day,
            }),
        );
        d.submission_id = SubmissionId(rand::random());
        out.push(d);
        if out.len() < n {
            let mut d = Draft::new(
                patient,
                envelope_of(&ConsentRecorded {
                    form_version: "v1".into(),
                    consented_on: day,
                }),
            );
            d.submission_id = SubmissionId(rand::random());
            out.push(d);
        }
        i += 1;
    }
    out
}
