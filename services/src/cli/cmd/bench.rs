//! `trial-ledger bench`: signing, appends, full verification and the batch-verification limit,
//! all measured in one run on this machine.
//!
//! The figures:
//! * **signing**: `SigningKey::sign` over real submission signing messages, one core;
//! * **submits**: end to end through [`EmbeddedLedger::submit_decoded`] (author signature
//!   check, validation, sealing and one fsync per record), stopped after `SUBMIT_BUDGET`
//!   because the fsync dominates and the rate is steady long before that; beside it, the same
//!   submissions through the [`Sequencer`] alone, in memory, which also makes the records of
//!   the next phases;
//! * **raw appends**: those record bytes appended to a fresh [`EmbeddedLog`] in batches of
//!   1000, one fsync per batch: what the store alone can take. The store is a complete ledger;
//! * **full verification**: [`verify_ledger`] over that ledger as read back from disk;
//! * **batch limit**: [`verify_many`] on exactly the signature checks full verification makes,
//!   on every core (the reference) and on one core;
//! * **ratio**: full verification's signatures per second over the all-core batch limit.

use crate::cli::BenchArgs;
use anyhow::{bail, ensure, Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tl_ledger::codec::decode_record;
use tl_ledger::crypto::{verify_many, SigCheck, BATCH_SIZE};
use tl_ledger::embedded::{EmbeddedLog, StoreOptions};
use tl_ledger::log::{bootstrap_submission_id, read_embedded_for_verify};
use tl_ledger::state::{LedgerState, RecordSource};
use tl_ledger::verify::PartitionInput;
use tl_ledger::writer::Draft;
use tl_ledger::{verify_ledger, CoreOnly, EmbeddedLedger, Outcome, Sequencer, SigningKey};
use tl_schemas::events::{envelope_of, KeyEnrolled, ProtocolAmended, TrialRegistered};
use tl_schemas::record::seal_message;
use tl_schemas::{
    record_hash, KeyId, Meaning, Record, Role, SignedSubmission, Subject, Submission, SubmissionId,
    TrialId, UtcMicros, SUBMISSION_VERSION,
};

/// Partitions of the benchmark trial.
const PARTITIONS: u32 = 8;
/// Records per append in the raw-store measurement (one fsync each).
const RAW_BATCH: usize = 1000;
/// Each CPU-bound phase runs at least this many times, and on until it has taken
/// [`PHASE_TIME`] (at most [`MAX_RUNS`] times); the best run counts.
const MIN_RUNS: usize = 3;
/// See [`MIN_RUNS`].
const MAX_RUNS: usize = 25;
/// See [`MIN_RUNS`].
const PHASE_TIME: Duration = Duration::from_secs(2);
/// The full-verification target, as a share of the all-core batch limit.
const TARGET_PERCENT: f64 = 70.0;
/// End-to-end submits stop after this long: each costs an fsync, which on some disks takes
/// milliseconds, and the rate is steady long before `--records` of them.
const SUBMIT_BUDGET: Duration = Duration::from_secs(10);

/// Runs `bench`.
pub fn run(a: BenchArgs) -> Result<ExitCode> {
    if a.audit {
        return super::bench_audit::run(&a);
    }
    ensure!(
        a.patients.is_none(),
        "--patients goes with --grouped or --http"
    );
    ensure!(a.records > 0, "--records must be at least 1");
    let n = usize::try_from(a.records).context("--records is too large for this machine")?;
    let workdir = WorkDir::new(a.dir.as_deref())?;
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    print_machine(
        &format!(
            "trial-ledger bench: {n} records, folder {}",
            workdir.path.display()
        ),
        cores,
    );
    let keys = BenchKeys::new()?;

    // a. Signing, one core, over the signing messages of the submissions submitted below.
    let (signed, signing) = measure_signing(&keys, n);
    // b0. The same submissions through the sequencer alone, in memory (no I/O): the records
    //     the raw-append and verification phases use.
    let (records, sequencer_time) = sequence_in_memory(&keys, &signed)?;
    let records_total = records.len();
    // b1. End-to-end submits through the embedded ledger, one fsync each (time-boxed).
    let submits = measure_submits(&keys, &signed, &workdir.path.join("e2e-ledger"))?;
    // b2. Raw appends of all the sequenced record bytes into a fresh store, RAW_BATCH per
    //     fsync. The result is a complete ledger: the one verified below.
    let ledger_dir = workdir.path.join("ledger");
    let raw_time = measure_raw_appends(&records, &ledger_dir)?;
    drop(records);
    // c. Full verification of the ledger as read back from disk.
    let t = Instant::now();
    let inputs = read_embedded_for_verify(&ledger_dir)?;
    let read_time = t.elapsed();
    let stored: usize = inputs.iter().map(|p| p.records.len()).sum();
    ensure!(
        stored == records_total,
        "read back {stored} records, {records_total} were appended"
    );
    // d. The batch-verification limit on exactly the checks full verification makes.
    let verification = measure_verification(&keys, &inputs)?;

    // e. The ratio.
    let figures = Figures {
        n,
        cores,
        signing,
        submits,
        sequencer_time,
        records_total,
        raw_time,
        read_time,
        verification,
    };
    figures.table().print();
    figures.print_warnings();
    workdir.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the heading and what the figures depend on: the machine, the build and the load.
pub(crate) fn print_machine(heading: &str, cores: usize) {
    let profile = if cfg!(debug_assertions) {
        "debug (numbers are not representative: use --release)"
    } else {
        "release"
    };
    println!("{heading}");
    println!("  cores (available_parallelism)  {cores}");
    println!("  build profile                  {profile}");
    println!("  load average (1 min)           {}", load_average());
    println!();
}

/// The benchmark trial and its fixed keys.
struct BenchKeys {
    trial: TrialId,
    root: SigningKey,
    sequencer: SigningKey,
    admin: SigningKey,
}

impl BenchKeys {
    fn new() -> Result<Self> {
        Ok(BenchKeys {
            trial: TrialId::new("bench-trial")?,
            root: SigningKey::from_seed([1; 32]),
            sequencer: SigningKey::from_seed([2; 32]),
            admin: SigningKey::from_seed([3; 32]),
        })
    }
}

/// Signing, best of several runs.
struct Signing {
    time: Duration,
    runs: usize,
    /// Mean signing-message size in bytes.
    mean_message: usize,
}

/// Signs `n` protocol amendments with the admin key, timing the signatures alone.
fn measure_signing(keys: &BenchKeys, n: usize) -> (Vec<SignedSubmission>, Signing) {
    let submissions: Vec<Submission> = (0..n)
        .map(|i| protocol_amendment(&keys.trial, &keys.admin, i))
        .collect();
    let messages: Vec<Vec<u8>> = submissions.iter().map(|s| s.signing_message()).collect();
    let mean_message = messages.iter().map(Vec::len).sum::<usize>() / n;
    let mut signatures = Vec::new();
    let (time, runs) = best_of(|| {
        let t = Instant::now();
        signatures = messages.iter().map(|m| keys.admin.sign(m)).collect();
        t.elapsed()
    });
    let signed = submissions
        .into_iter()
        .zip(signatures)
        .map(|(submission, signature)| SignedSubmission {
            submission,
            signature,
        })
        .collect();
    (
        signed,
        Signing {
            time,
            runs,
            mean_message,
        },
    )
}

/// End-to-end submits: how many were made before [`SUBMIT_BUDGET`] ran out, in what time.
struct Submits {
    submitted: usize,
    time: Duration,
}

/// Submits `signed` through a new embedded ledger in `dir`, one fsync each, until they are
/// all in or [`SUBMIT_BUDGET`] has passed; the ledger must then verify.
fn measure_submits(keys: &BenchKeys, signed: &[SignedSubmission], dir: &Path) -> Result<Submits> {
    let BenchKeys {
        trial, root, admin, ..
    } = keys;
    let mut ledger = EmbeddedLedger::create(
        dir,
        trial,
        PARTITIONS,
        "trial-ledger bench",
        root,
        keys.sequencer.clone(),
        CoreOnly,
        UtcMicros::now(),
    )?;
    let draft = Draft::new(Subject::Trial, envelope_of(&admin_enrolment(admin)));
    expect_sealed(
        ledger.submit_decoded(draft.sign(trial, root), UtcMicros::now())?,
        "enrolling the admin key",
    )?;
    let mut submitted = 0usize;
    let t = Instant::now();
    for s in signed {
        expect_sealed(
            ledger.submit_decoded(s.clone(), UtcMicros::now())?,
            &format!("ProtocolAmended #{submitted}"),
        )?;
        submitted += 1;
        if t.elapsed() >= SUBMIT_BUDGET {
            break;
        }
    }
    let time = t.elapsed();
    drop(ledger);
    let inputs = read_embedded_for_verify(dir)?;
    let report = verify_ledger(trial, root.public_key(), &inputs, CoreOnly);
    ensure!(
        report.ok,
        "the end-to-end ledger failed verification: {:?}",
        report.first_failure()
    );
    Ok(Submits { submitted, time })
}

/// Appends `records` to a fresh store in `dir`, [`RAW_BATCH`] per fsync; returns the time.
fn measure_raw_appends(records: &[Vec<u8>], dir: &Path) -> Result<Duration> {
    let mut raw = EmbeddedLog::create(dir, PARTITIONS, StoreOptions::default())?;
    let t = Instant::now();
    for batch in records.chunks(RAW_BATCH) {
        raw.append(0, batch)?;
    }
    Ok(t.elapsed())
}

/// Full verification beside the batch-verification limit, best runs.
struct Verification {
    /// Signature checks full verification makes.
    sigs: usize,
    verify_time: Duration,
    verify_runs: usize,
    /// The limit on every core.
    limit_all: Duration,
    /// The limit on one core.
    limit_one: Duration,
    one_runs: usize,
}

/// Times full verification of `inputs` and [`verify_many`] on exactly its signature checks,
/// on every core and on one.
fn measure_verification(keys: &BenchKeys, inputs: &[PartitionInput]) -> Result<Verification> {
    let BenchKeys {
        trial,
        root,
        sequencer,
        admin,
    } = keys;
    let key_map: HashMap<KeyId, [u8; 32]> = [root, sequencer, admin]
        .map(|k| (k.key_id(), k.public_key()))
        .into_iter()
        .collect();
    let checks = signature_checks(trial, inputs, &key_map)?;
    // Verification and the all-core limit alternate, so that load from other processes
    // affects both alike; the best run of each counts.
    let mut verify_time = Duration::MAX;
    let mut limit_all = Duration::MAX;
    let mut verify_runs = 0;
    let phase = Instant::now();
    while verify_runs < MIN_RUNS || (verify_runs < MAX_RUNS && phase.elapsed() < PHASE_TIME) {
        verify_runs += 1;
        let t = Instant::now();
        let report = verify_ledger(trial, root.public_key(), inputs, CoreOnly);
        verify_time = verify_time.min(t.elapsed());
        ensure!(
            report.ok,
            "the benchmark ledger failed verification: {:?}",
            report.first_failure()
        );
        ensure!(
            report.signatures_verified == checks.len() as u64,
            "built {} signature checks, full verification made {}",
            checks.len(),
            report.signatures_verified
        );
        limit_all = limit_all.min(time_verify_many(&checks)?);
    }
    let one_core = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let mut limit_one = Duration::MAX;
    let mut one_runs = 0;
    let phase = Instant::now();
    while one_runs < MIN_RUNS || (one_runs < MAX_RUNS && phase.elapsed() < PHASE_TIME) {
        one_runs += 1;
        limit_one = limit_one.min(one_core.install(|| time_verify_many(&checks))?);
    }
    Ok(Verification {
        sigs: checks.len(),
        verify_time,
        verify_runs,
        limit_all,
        limit_one,
        one_runs,
    })
}

/// Everything measured, for the table.
struct Figures {
    n: usize,
    cores: usize,
    signing: Signing,
    submits: Submits,
    sequencer_time: Duration,
    records_total: usize,
    raw_time: Duration,
    read_time: Duration,
    verification: Verification,
}

impl Figures {
    /// Signatures per second: full verification, the all-core limit, the one-core limit.
    fn rates(&self) -> (f64, f64, f64) {
        let v = &self.verification;
        let sigs = v.sigs as f64;
        (
            sigs / secs(v.verify_time),
            sigs / secs(v.limit_all),
            sigs / secs(v.limit_one),
        )
    }

    /// Full verification as a percentage of the all-core limit.
    fn percent(&self) -> f64 {
        let (verify, limit, _) = self.rates();
        100.0 * verify / limit
    }

    fn table(&self) -> Table {
        let mut t = Table::default();
        self.write_signing_and_appends(&mut t);
        self.write_verification(&mut t);
        t
    }

    /// Rows a and b.
    fn write_signing_and_appends(&self, t: &mut Table) {
        let (n, records_total) = (self.n, self.records_total);
        let Submits { submitted, time } = self.submits;
        t.row(
            "a. signing, 1 core",
            rate(n, self.signing.time),
            "signatures/s",
            format!(
                "SigningKey::sign, {}-byte submission messages, best of {}",
                self.signing.mean_message, self.signing.runs
            ),
        );
        t.row(
            "b. submits, end to end",
            rate(submitted, time),
            "records/s",
            format!(
                "submit_decoded (author sig, validate, seal, 1 fsync/record): {submitted} of {n}{}",
                if submitted < n {
                    format!(", stopped after {} s", SUBMIT_BUDGET.as_secs())
                } else {
                    String::new()
                }
            ),
        );
        t.row(
            "   sequencer, in memory",
            rate(n, self.sequencer_time),
            "records/s",
            "Sequencer::order_decoded, same submissions, no I/O".into(),
        );
        t.row(
            "b. raw store appends",
            rate(records_total, self.raw_time),
            "records/s",
            format!(
                "EmbeddedLog::append of those {records_total} records, {RAW_BATCH}/batch, 1 fsync/batch"
            ),
        );
    }

    /// Rows c, d and e.
    fn write_verification(&self, t: &mut Table) {
        let v = &self.verification;
        let (cores, records_total) = (self.cores, self.records_total);
        let (verify_sig_rate, limit_rate, limit_one_rate) = self.rates();
        let percent = self.percent();
        t.row(
            "c. full verification",
            rate(records_total, v.verify_time),
            "records/s",
            format!(
                "verify_ledger, {records_total} records, best of {} ({} ms)",
                v.verify_runs,
                v.verify_time.as_millis()
            ),
        );
        t.row(
            "c. full verification",
            format!("{verify_sig_rate:.0}"),
            "signatures/s",
            format!("{} signatures (seal + author per record)", v.sigs),
        );
        t.row(
            "   read back from disk",
            rate(records_total, self.read_time),
            "records/s",
            format!(
                "read_embedded_for_verify, not in the figure above ({} ms)",
                self.read_time.as_millis()
            ),
        );
        t.row(
            &format!("d. batch limit, {cores} cores"),
            format!("{limit_rate:.0}"),
            "signatures/s",
            format!(
                "verify_many on the same checks, best of {} ({} ms)",
                v.verify_runs,
                v.limit_all.as_millis()
            ),
        );
        t.row(
            "d. batch limit, 1 core",
            format!("{limit_one_rate:.0}"),
            "signatures/s",
            format!(
                "the same in a 1-thread rayon pool, best of {} ({} ms); all cores {:.2}x",
                v.one_runs,
                v.limit_one.as_millis(),
                limit_rate / limit_one_rate
            ),
        );
        t.row(
            "e. verification / limit",
            format!("{percent:.1}"),
            "%",
            format!(
                "target >= {TARGET_PERCENT:.0} %: {}",
                if percent >= TARGET_PERCENT {
                    "met"
                } else {
                    "NOT met"
                }
            ),
        );
    }

    /// Says when the figures cannot be trusted: too few batches, or busy cores.
    fn print_warnings(&self) {
        let cores = self.cores;
        let sigs = self.verification.sigs;
        let (_, limit_rate, limit_one_rate) = self.rates();
        let speedup = limit_rate / limit_one_rate;
        if sigs < 4 * BATCH_SIZE * cores {
            println!();
            println!(
                "note: {sigs} signatures make too few batches of {BATCH_SIZE} to keep {cores} cores busy; \
                 the limit and the ratio need more --records",
            );
        } else if cores > 1 && speedup < 0.75 * cores as f64 {
            println!();
            println!(
                "warning: {cores} cores verify only {speedup:.2}x as fast as one: other processes \
                 were probably using the cores (load average {}); rerun on an idle machine",
                load_average()
            );
        }
    }
}

/// Orders the benchmark's bootstrap (as [`EmbeddedLedger::create`] does), the admin key's
/// enrolment and then `signed` through a [`Sequencer`] alone, in memory. Returns every
/// record's bytes (all in partition 0) and the time `signed` took.
fn sequence_in_memory(
    keys: &BenchKeys,
    signed: &[SignedSubmission],
) -> Result<(Vec<Vec<u8>>, Duration)> {
    let BenchKeys {
        trial,
        root,
        sequencer,
        admin,
    } = keys;
    let state = LedgerState::new(trial.clone(), root.public_key(), CoreOnly);
    let mut seq = Sequencer::new(state, root.clone());
    let mut records = Vec::with_capacity(signed.len() + 3);
    let mut order = |seq: &mut Sequencer<CoreOnly>, s: SignedSubmission, what: &str| {
        let outcome = seq.order_decoded(s, None, UtcMicros::now(), &NoRecords)?;
        match outcome {
            Outcome::Sealed(s) if s.record.body.partition == 0 => {
                records.push(s.bytes);
                Ok(())
            }
            other => expect_sealed(other, what).and_then(|_| bail!("{what}: not in partition 0")),
        }
    };
    let registered = TrialRegistered {
        partition_count: PARTITIONS,
        root_public_key: root.public_key(),
        title: "trial-ledger bench".into(),
    };
    let enrol_sequencer = KeyEnrolled {
        public_key: sequencer.public_key(),
        name: "sequencer".into(),
        role: Role::Sequencer,
    };
    for (index, envelope, what) in [
        (0, envelope_of(&registered), "TrialRegistered"),
        (
            1,
            envelope_of(&enrol_sequencer),
            "enrolling the sequencer key",
        ),
    ] {
        let mut draft = Draft::new(Subject::Trial, envelope);
        draft.submission_id = bootstrap_submission_id(trial, index);
        order(&mut seq, draft.sign(trial, root), what)?;
    }
    seq.set_sealer(sequencer.clone());
    let s = Draft::new(Subject::Trial, envelope_of(&admin_enrolment(admin))).sign(trial, root);
    order(&mut seq, s, "enrolling the admin key")?;
    let t = Instant::now();
    for (i, s) in signed.iter().enumerate() {
        order(&mut seq, s.clone(), &format!("ProtocolAmended #{i}"))?;
    }
    let elapsed = t.elapsed();
    Ok((records, elapsed))
}

/// No stored records: the benchmark's submissions cite nothing.
struct NoRecords;

impl RecordSource for NoRecords {
    fn record(&self, _partition: u32, _seq: u64) -> Option<std::sync::Arc<Record>> {
        None
    }
}

/// The enrolment of the admin key that authors the protocol amendments.
fn admin_enrolment(admin: &SigningKey) -> KeyEnrolled {
    KeyEnrolled {
        public_key: admin.public_key(),
        name: "bench admin".into(),
        role: Role::Admin,
    }
}

/// Times one [`verify_many`] over `checks` on the current rayon pool; every check must pass.
pub(crate) fn time_verify_many(checks: &[SigCheck]) -> Result<Duration> {
    let t = Instant::now();
    let verdicts = verify_many(checks);
    let elapsed = t.elapsed();
    ensure!(
        verdicts.iter().all(|&v| v),
        "a benchmark signature failed to verify"
    );
    Ok(elapsed)
}

/// The 1-minute load average, where the system reports it.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// The `i`-th benchmark submission: a protocol amendment by the admin key, with a document
/// the size of a short amendment summary (the full protocol lives elsewhere, by hash).
fn protocol_amendment(trial: &TrialId, admin: &SigningKey, i: usize) -> Submission {
    let version = u32::try_from(i + 1).expect("--records fits in u32 protocol versions");
    let document = format!(
        "{{\"amendment\":{version},\"title\":\"Protocol amendment {version}: eligibility \
         criteria and biomarker panel update\",\"sha256\":\"{:064x}\",\"effective\":\
         \"2026-11-24\",\"approved_by\":\"Trial steering committee\"}}",
        i
    );
    let amendment = ProtocolAmended {
        protocol_version: version,
        document_format: 0,
        document: document.into_bytes(),
    };
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&(i as u64).to_be_bytes());
    id[8..].copy_from_slice(b"benchmrk");
    Submission {
        version: SUBMISSION_VERSION,
        trial_id: trial.clone(),
        submission_id: SubmissionId(id),
        subject: Subject::Trial,
        envelope: envelope_of(&amendment),
        author: admin.key_id(),
        meaning: Meaning::Authored,
        client_time: UtcMicros::now(),
        min_registry_seq: 0,
        cites: Vec::new(),
    }
}

/// The bytes of a sealed record, or an error naming what was not sealed.
fn expect_sealed(outcome: Outcome, what: &str) -> Result<Vec<u8>> {
    match outcome {
        Outcome::Sealed(s) => Ok(s.bytes),
        Outcome::Duplicate(r) => bail!("{what}: unexpectedly a duplicate of {r:?}"),
        Outcome::Refused(r) => bail!("{what}: refused: {}: {}", r.reason.code(), r.detail),
    }
}

/// The signature checks of full verification, in its order: per record, the seal over
/// `seal_message(trial, record_hash)` with the sealing key, then the author signature over the
/// submission's signing message with the author key.
pub(crate) fn signature_checks(
    trial: &TrialId,
    inputs: &[PartitionInput],
    keys: &HashMap<KeyId, [u8; 32]>,
) -> Result<Vec<SigCheck>> {
    let key = |id: &KeyId| {
        keys.get(id)
            .copied()
            .with_context(|| format!("record signed by unknown key {id}"))
    };
    let mut checks = Vec::new();
    for bytes in inputs.iter().flat_map(|p| &p.records) {
        let (record, body_len) = decode_record(bytes)
            .map_err(|r| anyhow::anyhow!("{}: {}", r.reason.code(), r.detail))?;
        let hash = record_hash(&bytes[..body_len]);
        let b = &record.body;
        checks.push(SigCheck {
            public_key: key(&b.sequencer)?,
            signature: record.seal,
            message: seal_message(trial, &hash),
        });
        checks.push(SigCheck {
            public_key: key(&b.submission.submission.author)?,
            signature: b.submission.signature,
            message: b.submission.submission.signing_message(),
        });
    }
    Ok(checks)
}

/// The shortest run of `f` and how many runs there were (see [`MIN_RUNS`]).
pub(crate) fn best_of(mut f: impl FnMut() -> Duration) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut runs = 0;
    let phase = Instant::now();
    while runs < MIN_RUNS || (runs < MAX_RUNS && phase.elapsed() < PHASE_TIME) {
        runs += 1;
        best = best.min(f());
    }
    (best, runs)
}

pub(crate) fn secs(d: Duration) -> f64 {
    d.as_secs_f64().max(1e-9)
}

pub(crate) fn rate(count: usize, d: Duration) -> String {
    format!("{:.0}", count as f64 / secs(d))
}

/// The results table: label, value (right-aligned), unit, note.
#[derive(Default)]
pub(crate) struct Table {
    rows: Vec<[String; 4]>,
}

impl Table {
    pub(crate) fn row(&mut self, label: &str, value: String, unit: &str, note: String) {
        self.rows.push([label.into(), value, unit.into(), note]);
    }

    pub(crate) fn print(&self) {
        let header = ["figure", "value", "unit", "what"].map(String::from);
        let all = std::iter::once(&header).chain(&self.rows);
        let mut w = [0usize; 4];
        for r in all.clone() {
            for (w, c) in w.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        for (i, r) in all.enumerate() {
            println!(
                "{:<w0$}  {:>w1$}  {:<w2$}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2]
            );
            if i == 0 {
                println!("{}", "-".repeat(w.iter().sum::<usize>() + 6));
            }
        }
    }
}

/// The benchmark's folder: the one given with `--dir`, or a fresh folder under the system's
/// temporary folder that is removed when the benchmark ends (also on error).
pub(crate) struct WorkDir {
    pub(crate) path: PathBuf,
    remove: bool,
}

impl WorkDir {
    pub(crate) fn new(dir: Option<&Path>) -> Result<WorkDir> {
        if let Some(d) = dir {
            for sub in ["ledger", "e2e-ledger"] {
                ensure!(
                    !d.join(sub).exists(),
                    "{} already holds a benchmark's ledgers; choose a new or empty folder",
                    d.display()
                );
            }
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            return Ok(WorkDir {
                path: d.to_path_buf(),
                remove: false,
            });
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path =
            std::env::temp_dir().join(format!("trial-ledger-bench-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(WorkDir { path, remove: true })
    }

    /// Removes a temporary folder now, reporting failure.
    pub(crate) fn finish(mut self) -> Result<()> {
        if self.remove {
            self.remove = false;
            std::fs::remove_dir_all(&self.path)
                .with_context(|| format!("removing {}", self.path.display()))?;
        }
        Ok(())
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
