//! `trial-ledger bench --open`: what a one-shot writer command such as `keys enrol` pays,
//! measured in one run on this machine: opening the embedded writer, submitting one event
//! (a key enrolment signed by the root key, one fsync) and closing it (checkpoint
//! publication), on the default demo ledger made in the benchmark's folder, beside the same
//! on a fresh trial (the reference).
//!
//! The demo is measured with its writer snapshot (FORMAT.md §17, "Writer snapshot": the state
//! is loaded and only the records after it replayed) and without it (the snapshot removed
//! first: every record replayed, and a new snapshot saved). Rounds alternate the three, and
//! the median of each counts. Key derivation (decrypting a key file with scrypt at the work
//! factor of `TRIAL_LEDGER_SCRYPT_LOG_N`, or the default) is measured on its own: a command
//! pays it once per key file it opens, whatever the ledger.

use super::bench::{print_machine, Table, WorkDir};
use crate::cli::BenchArgs;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tl_domain::TrialRules;
use tl_ledger::keyfile::{self, KeyMaterial, WorkFactor};
use tl_ledger::snapshot::{snapshot_path, SnapshotUse};
use tl_ledger::trust::TrustFile;
use tl_ledger::writer::Draft;
use tl_ledger::{EmbeddedLedger, Outcome, SigningKey};
use tl_schemas::events::{envelope_of, KeyEnrolled};
use tl_schemas::{Role, Subject, TrialId, UtcMicros};

/// Rounds of the three measurements.
const ROUNDS: usize = 9;
/// The target: opening and submitting on the demo at most this many times the same
/// on a fresh trial.
const TARGET_RATIO: f64 = 3.0;

/// One open, submit and close.
#[derive(Clone, Copy, Default)]
struct Phases {
    open: Duration,
    submit: Duration,
    close: Duration,
}

impl Phases {
    fn total(&self) -> Duration {
        self.open + self.submit + self.close
    }
}

/// A ledger measured: its folder, trust file and keys.
struct Target<'a> {
    ledger: &'a Path,
    trust: &'a TrustFile,
    root: &'a SigningKey,
    sealer: &'a SigningKey,
}

impl<'a> Target<'a> {
    /// A ledger made for the benchmark, with the demo's keys (both ledgers have them).
    fn of(m: &'a Made) -> Self {
        Target {
            ledger: &m.ledger,
            trust: &m.trust,
            root: &m.keys.root.key,
            sealer: &m.keys.sequencer.key,
        }
    }
}

/// Runs `bench --open`.
pub fn run(a: &BenchArgs) -> Result<ExitCode> {
    let workdir = WorkDir::new(a.dir.as_deref())?;
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    print_machine(
        &format!(
            "trial-ledger bench --open: folder {}",
            workdir.path.display()
        ),
        cores,
    );
    let (derive, log_n) = key_derivation(&workdir.path)?;
    let demo = make_demo(&workdir.path)?;
    let fresh = make_fresh(&workdir.path, &demo.keys)?;
    let snapshot_bytes = std::fs::metadata(snapshot_path(&demo.ledger))
        .context("the demo's writer left no snapshot")?
        .len();
    let (on_demo, on_fresh) = (Target::of(&demo), Target::of(&fresh));
    let (mut with, mut without, mut fresh_runs) = (Vec::new(), Vec::new(), Vec::new());
    let mut replayed = 0;
    for round in 0..ROUNDS {
        std::fs::remove_file(snapshot_path(&demo.ledger))?;
        let (p, used) = open_submit_close(&on_demo, round * 3)?;
        ensure_use(&used, false)?;
        without.push(p);
        let (p, used) = open_submit_close(&on_demo, round * 3 + 1)?;
        if let SnapshotUse::Loaded { replayed: r, .. } = used {
            replayed = r;
        }
        ensure_use(&used, true)?;
        with.push(p);
        let (p, _) = open_submit_close(&on_fresh, round * 3 + 2)?;
        fresh_runs.push(p);
    }
    let figures = Figures {
        with: median(&with),
        without: median(&without),
        fresh: median(&fresh_runs),
        fresh_records: fresh.records,
        demo_records: demo.records,
        replayed,
        snapshot_bytes,
        derive,
        log_n,
    };
    figures.print();
    workdir.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// What `bench --open` measured.
struct Figures {
    with: Phases,
    without: Phases,
    fresh: Phases,
    fresh_records: u64,
    demo_records: u64,
    replayed: u64,
    snapshot_bytes: u64,
    derive: Duration,
    log_n: u8,
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

impl Figures {
    fn ratio(&self, p: &Phases) -> f64 {
        p.total().as_secs_f64() / self.fresh.total().as_secs_f64().max(1e-9)
    }

    fn print(&self) {
        let mut t = Table::default();
        let row = |t: &mut Table, label: &str, p: &Phases, what: String| {
            let phases = format!(
                "open {} + submit {} + close {} ms, median of {ROUNDS}",
                ms(p.open),
                ms(p.submit),
                ms(p.close)
            );
            t.row(label, ms(p.total()), "ms", format!("{what}; {phases}"));
        };
        let f = &self.fresh;
        row(
            &mut t,
            "fresh trial (reference)",
            f,
            format!("{} records", self.fresh_records),
        );
        let what = format!(
            "{} records, snapshot of {} KiB, {} replayed after it",
            self.demo_records,
            self.snapshot_bytes / 1024,
            self.replayed
        );
        row(&mut t, "demo, with its snapshot", &self.with, what);
        let what = "every record replayed, then a new snapshot saved".to_string();
        row(&mut t, "demo, without a snapshot", &self.without, what);
        let with = self.ratio(&self.with);
        t.row(
            "demo with snapshot / fresh",
            format!("{with:.2}"),
            "x",
            format!("target at most {TARGET_RATIO}x"),
        );
        t.row(
            "demo without snapshot / fresh",
            format!("{:.2}", self.ratio(&self.without)),
            "x",
            "what the snapshot saves".into(),
        );
        t.row(
            "key derivation, per key file",
            ms(self.derive),
            "ms",
            format!(
                "scrypt log2(N) = {}: decrypting one key file, best of 3; paid per key file opened, on any ledger",
                self.log_n
            ),
        );
        t.print();
        println!();
        let verdict = if with <= TARGET_RATIO {
            "met"
        } else {
            "NOT met"
        };
        println!(
            "target: opening a writer and submitting one event on the demo at most {TARGET_RATIO}x the same on a fresh trial, key derivation apart: {verdict} ({with:.2}x)"
        );
    }
}

fn ensure_use(used: &SnapshotUse, loaded: bool) -> Result<()> {
    match (used, loaded) {
        (SnapshotUse::Loaded { .. }, true) | (SnapshotUse::Absent, false) => Ok(()),
        _ => bail!("the writer's snapshot was not used as expected: {used:?}"),
    }
}

/// The median of each phase's totals: the run whose total is the median.
fn median(runs: &[Phases]) -> Phases {
    let mut v = runs.to_vec();
    v.sort_by_key(Phases::total);
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Opens the writer, enrols a new key (`i` names it) signed by the root key, and closes.
fn open_submit_close(l: &Target<'_>, i: usize) -> Result<(Phases, SnapshotUse)> {
    let t = Instant::now();
    let (mut ledger, _) = EmbeddedLedger::open(l.ledger, l.trust, TrialRules, l.sealer.clone())?;
    let open = t.elapsed();
    let used = ledger.snapshot_use().clone();
    let trial = ledger.state().trial().clone();
    let draft = Draft::new(
        Subject::Trial,
        envelope_of(&KeyEnrolled {
            public_key: SigningKey::generate().public_key(),
            name: format!("bench key {i}"),
            role: Role::Lab,
        }),
    );
    let signed = draft.sign(&trial, l.root);
    let t = Instant::now();
    match ledger.submit_decoded(signed, UtcMicros::now())? {
        Outcome::Sealed(_) => {}
        other => bail!("the enrolment was not sealed: {other:?}"),
    }
    let submit = t.elapsed();
    let t = Instant::now();
    ledger.close()?;
    let close = t.elapsed();
    Ok((
        Phases {
            open,
            submit,
            close,
        },
        used,
    ))
}

/// Writes a key file at the work factor of the environment and times decrypting it.
fn key_derivation(dir: &Path) -> Result<(Duration, u8)> {
    let work = WorkFactor::from_env()?;
    let path = dir.join("derive.key");
    let km = KeyMaterial::generate("bench", "lab");
    let pass = "bench passphrase";
    keyfile::write_key_file(&path, &km, pass, work)?;
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        keyfile::read_key_file(&path, pass)?;
        best = best.min(t.elapsed());
    }
    Ok((best, work.log_n()?))
}

/// A ledger made for the benchmark.
struct Made {
    ledger: std::path::PathBuf,
    trust: TrustFile,
    keys: tl_sim::SimKeys,
    records: u64,
}

/// The default demo ledger in the benchmark's folder; its writer saves a snapshot on closing.
fn make_demo(dir: &Path) -> Result<Made> {
    let trial = TrialId::new("drup-demo")?;
    let config =
        tl_sim::SimConfig::new(trial.clone(), tl_sim::DEFAULT_SEED, tl_sim::DEFAULT_TREATED);
    println!(
        "making the default demo ledger ({} treated patients, seed {}) ...",
        tl_sim::DEFAULT_TREATED,
        tl_sim::DEFAULT_SEED
    );
    let ledger = dir.join("demo").join("ledger");
    let (report, keys) = tl_sim::simulate(&ledger, &config)?;
    let trust = TrustFile::new(&trial, report.root_public_key, config.partitions);
    let records = report.records;
    Ok(Made {
        ledger,
        trust,
        keys,
        records,
    })
}

/// A fresh trial (the two bootstrap records) with the demo's keys and partition count.
fn make_fresh(dir: &Path, keys: &tl_sim::SimKeys) -> Result<Made> {
    let trial = TrialId::new("drup-fresh")?;
    let ledger = dir.join("fresh").join("ledger");
    let partitions = 8;
    EmbeddedLedger::create(
        &ledger,
        &trial,
        partitions,
        "a fresh trial",
        &keys.root.key,
        keys.sequencer.key.clone(),
        TrialRules,
        UtcMicros::now(),
    )?
    .close()?;
    let trust = TrustFile::new(&trial, keys.root.key.public_key(), partitions);
    Ok(Made {
        ledger,
        trust,
        keys: keys.clone(),
        records: 2,
    })
}
