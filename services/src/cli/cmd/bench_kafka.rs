//! `trial-ledger bench --kafka BOOTSTRAP | --kafka-local`: ledger append throughput through the
//! sequencer on Kafka, beside a reference measured in the same run on the same submissions:
//!
//! * **raw Kafka work**: the submissions' bytes sent to an intake topic of the same shape by the
//!   same pipelined writer, and copied, as they are, to a ledger topic by
//!   [`tl_kafka::sequencer::raw_copy`]: the sequencer's consumer (its group, read_committed)
//!   and its transactional producer (idempotent, acks=all, the same batches and commit
//!   interval), without crypto or rules; from the first send until every copy is committed;
//! * **the 2-core crypto limit** of exactly the records sequenced ([`super::bench_reference`],
//!   shared with `bench --grouped`): their author signatures batch-verified on every core, and
//!   their seals signed on every core, each the best of several runs;
//! * **sequencer**: the same submissions begun on a pipelined writer, while the sequencer (in
//!   this process, the code of `trial-ledger sequencer`) validates, seals and produces them to
//!   the ledger in transactions: from the first send until the writer has every receipt.
//!
//! The submissions are signed by many author keys ([`AUTHORS`]), as a trial's are: the batch
//! equation is faster when keys repeat, so one key would flatter the reference.
//!
//! The sequencer does all of the raw work and all of the crypto on the same cores, so its time
//! per record is at least the sum of theirs when each saturates the cores: the reference
//! `1 / (1/raw + 1/verify + 1/sign)` bounds its rate. (The raw work is partly waiting on the
//! broker rather than computing; a sequencer that overlapped crypto with that wait could beat
//! the bound, which is why it is a reference and the target is 0.8 of it.)
//!
//! Then **load**: 1, 16 and 128 concurrent writers (clients, each waiting for its receipt
//! before it sends its next submission) on one pipelined writer connection, with their
//! throughput and receipt latency (first send to receipt read) p50 and p99.

use super::bench_reference::CryptoWork;
use crate::cli::BenchArgs;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
use tl_schemas::{Date, KeyId, Role, SignedSubmission, Subject, SubmissionId, TrialId, UtcMicros};

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
            Some(crate::hosts::local_kafka::LocalBroker::start(true)?)
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
        Some(crate::hosts::local_kafka::LocalBroker::start(
            a.dev_plaintext,
        )?)
    } else {
        None
    };
    let bootstrap = match (&a.kafka, &local) {
        (Some(b), _) => b.clone(),
        (None, Some(l)) => l.bootstrap.clone(),
        (None, None) => unreachable!("dispatched on --kafka or --kafka-local"),
    };
    let id = format!("bench.{:08x}", rand::random::<u32>());
    let mut cfg = KafkaConfig::new(bootstrap.clone(), TrialId::new(&id)?);
    cfg.properties = match &local {
        None => super::client_properties(a.kafka_config.as_deref())?,
        Some(l) => l.client_properties("admin")?,
    };
    let brokers = tl_kafka::topics::broker_count(&cfg)?;
    cfg.safety = if brokers >= 3 {
        TopicSafety::Production
    } else {
        TopicSafety::Dev
    };
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    super::bench::print_machine(
        &format!("trial-ledger bench (Kafka): {n} submissions by {AUTHORS} authors, trial {id}"),
        cores,
    );
    println!(
        "  broker(s)                      {bootstrap} ({brokers} node(s), {:?} topic settings)",
        cfg.safety
    );
    let keys = Keys::new();
    let subs = sign_all(&cfg.trial, &keys.authors, drafts(n, "bench"));
    let load_subs = sign_all(&cfg.trial, &keys.authors, drafts(LOAD_POOL, "load"));
    let roles = Roles::of(&cfg, local.as_ref())?;
    println!("  clients                        {}", roles.describe());
    let raw = raw_rate(&roles, &keys, &subs)?;
    println!("  raw Kafka work (produce + transactional copy) {raw:>8.0} msg/s");
    let run = sequence(&roles, &keys, &subs, &load_subs)?;
    let limit = run.crypto.measure(&keys.sealer)?;
    println!(
        "  batch verification, {cores} cores     {:>12.0} sig/s",
        limit.verify_rate()
    );
    println!(
        "  signing, {cores} cores                {:>12.0} sig/s",
        limit.sign_rate()
    );
    println!(
        "  sequencer, end to end          {:>12.0} records/s ({} transactions, {} checkpoints)",
        run.rate, run.stats.transactions, run.stats.checkpoints
    );
    let reference = 1.0 / (1.0 / raw + 1.0 / limit.verify_rate() + 1.0 / limit.sign_rate());
    let ratio = run.rate / reference;
    println!();
    println!("  reference 1/(1/raw + 1/verify + 1/sign) {reference:>8.0} records/s");
    println!(
        "  ratio                          {ratio:>12.2} (target {TARGET:.1}): {}",
        if ratio >= TARGET { "met" } else { "NOT met" }
    );
    println!();
    println!("  concurrent writers (each waits for its receipt; one writer connection):");
    for l in &run.load {
        println!(
            "    {:>4} writers  {:>8.0} receipts/s   latency p50 {:>7.1} ms   p99 {:>7.1} ms   ({} submissions)",
            l.writers, l.rate, l.p50_ms, l.p99_ms, l.count
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Author keys of the benchmark's submissions.
pub const AUTHORS: usize = 64;
/// Submissions signed for the load runs (each level takes fresh ones).
const LOAD_POOL: usize = 12_000;
/// The concurrent writers of the load runs.
const WRITERS: [usize; 3] = [1, 16, 128];
/// How long each load level runs (at most; it also stops when its share of the pool is used).
const LOAD_TIME: Duration = Duration::from_secs(8);
/// How long the writer waits for verdicts.
const PATIENCE: Duration = Duration::from_secs(600);

/// The benchmark trial's fixed keys.
struct Keys {
    root: SigningKey,
    sealer: SigningKey,
    authors: Vec<SigningKey>,
}

impl Keys {
    fn new() -> Self {
        Keys {
            root: SigningKey::from_seed([1; 32]),
            sealer: SigningKey::from_seed([2; 32]),
            authors: (0..AUTHORS)
                .map(|i| {
                    let mut seed = [4u8; 32];
                    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
                    SigningKey::from_seed(seed)
                })
                .collect(),
        }
    }
}

/// Signs draft i with author i mod [`AUTHORS`], on every core.
fn sign_all(trial: &TrialId, authors: &[SigningKey], drafts: Vec<Draft>) -> Vec<SignedSubmission> {
    use rayon::prelude::*;
    drafts
        .into_par_iter()
        .enumerate()
        .map(|(i, d)| d.sign(trial, &authors[i % authors.len()]))
        .collect()
}

/// The benchmark's clients: on a secured local broker the admin creates the topics and the
/// trial's ACLs, the sequencer (and the raw copy) and the writers are principals of their own;
/// otherwise all are the one `--kafka-config` client.
struct Roles {
    /// Creates topics (as `admin` on a secured local broker).
    admin: KafkaConfig,
    /// The admin's properties file when the benchmark creates the trials' ACLs.
    acl_admin: Option<std::path::PathBuf>,
    /// The sequencer and the raw copy.
    sequencer: KafkaConfig,
    /// Every writer (`site-1` on a secured local broker).
    writer: KafkaConfig,
}

impl Roles {
    fn of(
        admin: &KafkaConfig,
        local: Option<&crate::hosts::local_kafka::LocalBroker>,
    ) -> Result<Self> {
        let role = |principal: &str| -> Result<KafkaConfig> {
            let mut cfg = admin.clone();
            if let Some(l) = local {
                cfg.properties = l.client_properties(principal)?;
            }
            Ok(cfg)
        };
        Ok(Roles {
            acl_admin: local.and_then(|l| l.properties("admin")),
            sequencer: role("sequencer")?,
            writer: role("site-1")?,
            admin: admin.clone(),
        })
    }

    fn describe(&self) -> &'static str {
        if self.acl_admin.is_some() {
            "SASL_SSL, as principals admin, sequencer and site-1 under the trial's ACLs"
        } else if self.writer.properties.is_empty() {
            "PLAINTEXT, one anonymous client for every role"
        } else {
            "the one --kafka-config principal for every role"
        }
    }

    /// The same clients for trial `trial`.
    fn for_trial(&self, trial: &TrialId) -> Self {
        let on = |cfg: &KafkaConfig| KafkaConfig {
            trial: trial.clone(),
            topics: tl_kafka::Topics::of(trial),
            ..cfg.clone()
        };
        Roles {
            admin: on(&self.admin),
            acl_admin: self.acl_admin.clone(),
            sequencer: on(&self.sequencer),
            writer: on(&self.writer),
        }
    }

    /// Creates the trial's topics, and its ACLs on a secured local broker.
    fn create_topics(&self) -> Result<()> {
        tl_kafka::topics::create_topics(&self.admin, PARTITIONS)?;
        if let Some(admin) = &self.acl_admin {
            let acls = crate::hosts::local_kafka::local_acls(vec!["site-1".into()]);
            crate::hosts::kafka_acl::apply(&self.admin, Some(admin), &acls)?;
        }
        Ok(())
    }
}

/// The raw Kafka work's rate: the submissions sent to a raw intake topic and copied to a raw
/// ledger topic with the sequencer's clients and settings, from the first send until the last
/// copy is committed.
fn raw_rate(roles: &Roles, keys: &Keys, subs: &[SignedSubmission]) -> Result<f64> {
    // A trial of its own, so that its ACLs (the sequencer's group and transactional-id
    // prefix, `<trial>.sequencer`) cover the copier.
    let raw_trial = TrialId::new(format!("{}-raw", roles.admin.trial.as_str()))?;
    let raw = roles.for_trial(&raw_trial);
    raw.create_topics()?;
    let mut scfg = SequencerConfig::new(
        raw.sequencer.clone(),
        keys.sealer.clone(),
        keys.root.public_key(),
    );
    scfg.transactional_id = format!("{raw_trial}.sequencer.copy");
    let n = subs.len();
    let writer = Writer::connect(&raw.writer)?;
    let copied = Arc::new(AtomicUsize::new(0));
    let copier = {
        let copied = Arc::clone(&copied);
        std::thread::spawn(move || tl_kafka::sequencer::raw_copy(&scfg, n + 1, PATIENCE, &copied))
    };
    // One message first: the clock starts once the copier has joined its group and copied
    // it, as the sequencer is running before its own clock starts.
    writer.send(&subs[0])?;
    writer.flush()?;
    let deadline = Instant::now() + PATIENCE;
    while copied.load(Ordering::SeqCst) == 0 && !copier.is_finished() {
        anyhow::ensure!(Instant::now() < deadline, "the raw copy did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    let t0 = Instant::now();
    for s in subs {
        writer.send(s)?;
    }
    writer.flush()?;
    copier
        .join()
        .map_err(|_| anyhow::anyhow!("the raw copy thread panicked"))??;
    Ok(n as f64 / t0.elapsed().as_secs_f64())
}

/// What the sequencer run measured.
struct SequencerRun {
    rate: f64,
    stats: tl_kafka::SequencerStats,
    /// The crypto of exactly the records sequenced.
    crypto: CryptoWork,
    load: Vec<Load>,
}

/// Initialises the trial, runs the sequencer in this process, enrols the authors, sequences
/// `subs` through one pipelined writer, then runs the load levels on `load_subs`.
fn sequence(
    roles: &Roles,
    keys: &Keys,
    subs: &[SignedSubmission],
    load_subs: &[SignedSubmission],
) -> Result<SequencerRun> {
    roles.create_topics()?;
    let cfg = &roles.writer;
    tl_kafka::bootstrap::write_bootstrap(
        &roles.sequencer,
        PARTITIONS,
        "benchmark trial",
        &keys.root,
        keys.sealer.public_key(),
        UtcMicros::now(),
    )?;
    let shutdown = Arc::new(AtomicBool::new(false));
    let scfg = SequencerConfig::new(
        roles.sequencer.clone(),
        keys.sealer.clone(),
        keys.root.public_key(),
    );
    let service = {
        let shutdown = Arc::clone(&shutdown);
        std::thread::spawn(move || tl_kafka::sequencer::run(&scfg, || TrialRules, &shutdown))
    };
    let measured = (|| -> Result<(f64, CryptoWork, Vec<Load>)> {
        let mut w = Writer::connect(cfg)?;
        enrol(&mut w, &cfg.trial, keys)?;
        w.set_window(4096);
        let t0 = Instant::now();
        for s in subs {
            w.begin(s)?;
        }
        let verdicts = w.finish(PATIENCE).context("waiting for every receipt")?;
        let rate = subs.len() as f64 / t0.elapsed().as_secs_f64();
        let mut records = Vec::with_capacity(verdicts.len());
        for (_, v) in verdicts {
            match v {
                Verdict::Recorded { bytes, .. } => records.push(bytes),
                Verdict::Refused(r) => {
                    anyhow::bail!("a benchmark submission was refused: {}", r.detail)
                }
            }
        }
        let mut known = HashMap::new();
        for k in std::iter::once(&keys.root).chain(&keys.authors) {
            known.insert(KeyId::of_ed25519(&k.public_key()), k.public_key());
        }
        let crypto = CryptoWork::of_records(&cfg.trial, &records, &known)?;
        let load = load_levels(&mut w, load_subs)?;
        Ok((rate, crypto, load))
    })();
    shutdown.store(true, Ordering::SeqCst);
    let stats = service
        .join()
        .map_err(|_| anyhow::anyhow!("the sequencer thread panicked"))??;
    let (rate, crypto, load) = measured?;
    Ok(SequencerRun {
        rate,
        stats,
        crypto,
        load,
    })
}

/// Enrols every author key (pipelined), signed by the root.
fn enrol(w: &mut Writer, trial: &TrialId, keys: &Keys) -> Result<()> {
    for (i, k) in keys.authors.iter().enumerate() {
        let enrol = KeyEnrolled {
            public_key: k.public_key(),
            name: format!("Benchmark investigator {i}"),
            role: Role::Investigator,
        };
        w.begin(&Draft::new(Subject::Trial, envelope_of(&enrol)).sign(trial, &keys.root))?;
    }
    for (_, v) in w.finish(PATIENCE)? {
        if let Verdict::Refused(r) = v {
            anyhow::bail!("enrolment refused: {}", r.detail);
        }
    }
    Ok(())
}

/// One load level's figures.
struct Load {
    writers: usize,
    count: usize,
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Runs each level of [`WRITERS`] on its share of `pool`.
fn load_levels(w: &mut Writer, pool: &[SignedSubmission]) -> Result<Vec<Load>> {
    let share = pool.len() / WRITERS.len();
    WRITERS
        .iter()
        .zip(pool.chunks(share))
        .map(|(&n, subs)| load(w, n, subs))
        .collect()
}

/// `writers` clients, each sending its next submission once it has its last receipt, until
/// `subs` are used or [`LOAD_TIME`] has passed.
fn load(w: &mut Writer, writers: usize, subs: &[SignedSubmission]) -> Result<Load> {
    w.set_window(writers);
    let mut next = subs.iter();
    let mut latencies = Vec::new();
    let t0 = Instant::now();
    let mut in_flight = 0;
    loop {
        let open = t0.elapsed() < LOAD_TIME;
        while open && in_flight < writers {
            let Some(s) = next.next() else { break };
            w.begin(s)?;
            in_flight += 1;
        }
        if in_flight == 0 {
            break;
        }
        for (t, v) in w.ready(Duration::from_millis(20))? {
            if let Verdict::Refused(r) = v {
                anyhow::bail!("a load submission was refused: {}", r.detail);
            }
            latencies.push(t.begun.elapsed());
            in_flight -= 1;
        }
    }
    let took = t0.elapsed();
    latencies.sort();
    let pct = |q: f64| {
        let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1e3
    };
    Ok(Load {
        writers,
        count: latencies.len(),
        rate: latencies.len() as f64 / took.as_secs_f64(),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    })
}

/// `n` investigator submissions (`tag` names their patients): patients registered, then
/// consenting.
fn drafts(n: usize, tag: &str) -> Vec<Draft> {
    let day = Date::from_ymd(2025, 3, 1).expect("a valid date");
    let mut out = Vec::with_capacity(n);
    let mut i = 0u64;
    while out.len() < n {
        let patient = Subject::Patient(Name::new(format!("{tag}-{i}")).expect("a valid name"));
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
