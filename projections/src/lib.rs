#![forbid(unsafe_code)]
#![warn(missing_docs)]
//! # tl-projections: the verifying reader and the trial's read models
//!
//! One [`reader::VerifyingReader`] reads the ledger from a [`source::LogSource`] (the embedded
//! store here; the `trial-ledger` binary implements it for Kafka, so this crate builds without
//! librdkafka), verifies every record once (chains,
//! back-links, signatures in batches, registry and roles, domain rules, references) and feeds
//! every view. A record that fails verification stops the projection with an error naming it
//! (partition, sequence number, reason); nothing after it is applied.
//!
//! The verified records update an in-memory [`model::TrialModel`] (corrections applied, the
//! originals kept); each view ([`views::ViewKind`]: enrollment, safety, dossier) is its own
//! SQLite database and rewrites the rows of the subjects a batch touched, computed with
//! tl-clinical ([`facts`]), in the same transaction as its consumed positions
//! ([`views::ViewDb::apply`]). A crash therefore never applies a record twice nor skips one,
//! and a rebuild from position 0 gives the same rows.
//!
//! On start the reader verifies the ledger from position 0 again, to rebuild the verifier's
//! and the model's state; each view only writes what lies beyond its own positions.
//! [`report`] reads the views back for people and scripts.
//!
//! | module | what |
//! |---|---|
//! | [`source`] | the `LogSource` trait and the embedded store's implementation |
//! | [`reader`] | the one verifying reader |
//! | [`model`] | the trial in memory, corrections applied |
//! | [`facts`] | per-patient and per-cohort facts, with tl-clinical |
//! | [`views`] | the three SQLite read models and the exactly-once rule |
//! | [`report`] | what `trial-ledger view` prints |
//! | [`tables`] | the safety board's tables (overview, by term, rates, deaths, clocks), every cell resolvable to its records |
//! | [`cells`] | the patients and records behind every count of the enrollment and dossier views |

pub mod cells;
pub mod facts;
pub mod model;
pub mod reader;
pub mod report;
pub mod source;
pub mod tables;
pub mod views;

use std::path::{Path, PathBuf};
use tl_ledger::stream_verify::VerifiedRecord;
use tl_ledger::verify::Failure;
use tl_schemas::TrialId;

pub use reader::VerifyingReader;
pub use source::{EmbeddedSource, LogSource};
pub use views::{ViewDb, ViewKind};

/// Why the projection stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A record failed verification: the projection stopped before it. Investigate the ledger
    /// (`trial-ledger verify`); do not run the projection past it.
    #[error("the projection stopped at record {0} (nothing from it on was applied)")]
    Verification(Failure),
    /// A record failed verification after others in the same poll verified (those are
    /// applied first by [`Projector`], then this becomes [`Error::Verification`]).
    #[error("the projection stopped at record {failure}")]
    VerificationAfter {
        /// The failing record.
        failure: Failure,
        /// The records verified before it.
        verified: Vec<VerifiedRecord>,
    },
    /// The ledger could not be read: check the folder and its permissions.
    #[error("cannot read the ledger: {detail}")]
    Source {
        /// What failed.
        detail: String,
    },
    /// The ledger cannot be reached for now (a broker outage, a leader election): nothing was
    /// read, so a service may retry later ([`Error::is_retriable`]); a one-shot command
    /// reports it.
    #[error("the ledger is unreachable for now: {detail}")]
    Unavailable {
        /// What failed.
        detail: String,
    },
    /// A view database failed: check the file (disk full, permissions, another program).
    #[error("view database {path}: {detail}")]
    Sql {
        /// The database (or view name).
        path: PathBuf,
        /// SQLite's error.
        detail: String,
    },
    /// A view was built from records the ledger no longer holds at that position (a rewritten
    /// or truncated ledger, or another ledger of the same trial): delete the views folder to
    /// rebuild it from this ledger.
    #[error("the {view} view was built from another history: the ledger's record partition {partition} seq {seq} is not the one it consumed (or the ledger is shorter); delete the views folder to rebuild")]
    ViewMismatch {
        /// The view.
        view: &'static str,
        /// The partition.
        partition: u32,
        /// The position.
        seq: u64,
    },
    /// A file or folder could not be created or read.
    #[error("{path}: {detail}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
    /// A view database belongs to another trial or root key: use another `--db` folder, or
    /// delete it to rebuild.
    #[error("view database {path} belongs to {found}, not {expected}: use another --db folder or rebuild")]
    OtherTrial {
        /// The database.
        path: PathBuf,
        /// The trial and root it holds.
        found: String,
        /// The trial and root expected.
        expected: String,
    },
}

impl Error {
    fn sql(path: &Path, e: rusqlite::Error) -> Self {
        Error::Sql {
            path: path.to_path_buf(),
            detail: e.to_string(),
        }
    }
    fn sql_view(kind: ViewKind, e: rusqlite::Error) -> Self {
        Error::Sql {
            path: PathBuf::from(format!("{}.sqlite", kind.name())),
            detail: e.to_string(),
        }
    }
    /// True when retrying later may succeed and loses nothing: the ledger was unreachable and
    /// the projector's state (verified prefix, model, committed views) is as before the poll.
    pub fn is_retriable(&self) -> bool {
        matches!(self, Error::Unavailable { .. })
    }

    /// The failing record, if verification stopped the projection.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Error::Verification(f) | Error::VerificationAfter { failure: f, .. } => Some(f),
            _ => None,
        }
    }
}

/// One view's lag in one partition.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Lag {
    /// The view.
    pub view: &'static str,
    /// The partition.
    pub partition: u32,
    /// Records in the log.
    pub log: u64,
    /// Records the view consumed.
    pub consumed: u64,
    /// `log - consumed`.
    pub behind: u64,
}

/// What a catch-up did.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// Records verified.
    pub verified: u64,
    /// Records applied per view (enrollment, safety, dossier).
    pub applied: [u64; 3],
    /// Polls made.
    pub polls: u64,
}

/// Whether the log may still grow while it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogState {
    /// A writer may be appending: records held for a citation are waited for.
    Live,
    /// The log is complete: a record whose citation never appears is a failure.
    Complete,
}

/// The projector: the verifying reader, the model and the three views.
pub struct Projector<S: LogSource> {
    /// The one verifying reader.
    reader: VerifyingReader<S>,
    /// The trial in memory.
    model: TrialModel,
    /// The views, in [`ViewKind::ALL`] order.
    views: Vec<ViewDb>,
}

use model::{Touched, TrialModel};

/// Verified records handed from the reading thread to the applying one per message: enough
/// to keep the channel's cost per record small, few enough that the model follows the
/// verification closely.
const STREAM_CHUNK: usize = 256;
/// Messages the reading thread may run ahead of the applying one (about 260,000 records,
/// a few polls at the default poll size) before it waits.
const STREAM_DEPTH: usize = 1024;

/// What the reading thread hands to the applying one.
enum Streamed {
    /// Verified records of the poll in progress, in order.
    Records(Vec<VerifiedRecord>),
    /// The poll ended: `Ok` after records, or the error that stopped it (a verification
    /// failure comes after the records verified before it).
    End(Result<(), Error>),
}
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Applies verified records to the model, then writes the views ([`write_views`]).
fn apply_batch(
    model: &mut TrialModel,
    views: &mut [ViewDb],
    verified: Vec<VerifiedRecord>,
) -> Result<[u64; 3], Error> {
    let batch: Vec<(VerifiedRecord, Touched)> = verified
        .into_iter()
        .map(|v| {
            let t = model.apply(&v);
            (v, t)
        })
        .collect();
    let mut merged = Touched::default();
    for (v, t) in &batch {
        merge_if_unapplied(views, &mut merged, v, t);
    }
    write_views(model, views, &batch, merged)
}

/// Adds a record's touched subjects to `merged` if some view has not consumed it yet: the
/// subjects some view will rewrite. When the views stand at the same positions (always, but
/// after a crash between their commits), this is exactly what each of them would merge, so it
/// is merged once, as the records arrive.
fn merge_if_unapplied(views: &[ViewDb], merged: &mut Touched, v: &VerifiedRecord, t: &Touched) {
    if views.iter().any(|view| v.seq >= view.position(v.partition)) {
        merged.merge_from(t);
    }
}

/// Derives the touched patients' facts once (in parallel) for records already applied to the
/// model, and writes the three views (each in its own transaction, on its own thread).
/// `merged`: the batch's subjects that some view will rewrite ([`merge_if_unapplied`]).
fn write_views(
    model: &TrialModel,
    views: &mut [ViewDb],
    batch: &[(VerifiedRecord, Touched)],
    merged: Touched,
) -> Result<[u64; 3], Error> {
    if batch.is_empty() {
        return Ok([0; 3]);
    }
    let same_positions = views
        .windows(2)
        .all(|w| w[0].positions() == w[1].positions());
    let known = views::PatientFactsMap::new(merged.patients.iter().cloned());
    let merged = same_positions.then_some(&merged);
    // The facts are derived on the rayon pool in the order the views write them, while the
    // views write: a view that catches up derives the patient it needs itself.
    let next = AtomicUsize::new(0);
    let (known, next) = (&known, &next);
    let results: Vec<Result<usize, Error>> = std::thread::scope(|scope| {
        scope.spawn(move || {
            rayon::scope(|helpers| {
                for _ in 0..rayon::current_num_threads() {
                    helpers.spawn(move |_| {
                        while known
                            .derive(model, next.fetch_add(1, Ordering::Relaxed))
                            .is_some()
                        {}
                    });
                }
            })
        });
        let handles: Vec<_> = views
            .iter_mut()
            .map(|view| scope.spawn(move || view.apply_merged(model, batch, known, merged)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(Error::Sql {
                        path: PathBuf::from("view"),
                        detail: "a view writer panicked".into(),
                    })
                })
            })
            .collect()
    });
    let mut applied = [0u64; 3];
    for (i, r) in results.into_iter().enumerate() {
        applied[i] = r? as u64;
    }
    Ok(applied)
}

impl<S: LogSource> Projector<S> {
    /// Opens the views in `db_dir` (creating them) and a reader over `source`.
    /// `max_per_partition` bounds the records read per partition per poll (and so the size of
    /// the views' transactions).
    pub fn open(
        source: S,
        trial: TrialId,
        pinned_root: [u8; 32],
        db_dir: &Path,
        max_per_partition: usize,
    ) -> Result<Self, Error> {
        let views = ViewKind::ALL
            .iter()
            .map(|k| ViewDb::open(*k, db_dir, &trial, &pinned_root))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Projector {
            reader: VerifyingReader::new(source, trial, pinned_root, max_per_partition),
            model: TrialModel::new(),
            views,
        })
    }

    /// One poll: read, verify, apply to the model and to every view. Returns (records
    /// verified, records held, records applied per view).
    pub fn step(&mut self) -> Result<(usize, usize, [u64; 3]), Error> {
        let (verified, held, failure) = match self.reader.poll() {
            Ok(p) => (p.verified, p.held, None),
            Err(Error::VerificationAfter { failure, verified }) => (verified, 0, Some(failure)),
            Err(e) => return Err(e),
        };
        let n = verified.len();
        let applied = apply_batch(&mut self.model, &mut self.views, verified)?;
        if let Some(f) = failure {
            return Err(Error::Verification(f));
        }
        Ok((n, held, applied))
    }

    /// Polls until nothing new verifies. With [`LogState::Complete`], records still held then
    /// (citing what the log does not hold) are a failure.
    pub fn catch_up(&mut self, log: LogState) -> Result<Progress, Error>
    where
        S: Send,
    {
        self.catch_up_until(log, &AtomicBool::new(false))
    }

    /// [`Projector::catch_up`], stopping early (after the batch in progress) once `stop` is
    /// set. Reading and verifying run on one thread, the model and the views on this one:
    /// each verified record is handed over (in chunks of [`STREAM_CHUNK`]) and applied to the
    /// model while the rest of its poll is still being verified, and a poll's views are
    /// written while the next poll is read and verified.
    pub fn catch_up_until(&mut self, log: LogState, stop: &AtomicBool) -> Result<Progress, Error>
    where
        S: Send,
    {
        let Projector {
            reader,
            model,
            views,
        } = self;
        let mut progress = Progress::default();
        let reading = &mut *reader;
        std::thread::scope(|scope| -> Result<(), Error> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Streamed>(STREAM_DEPTH);
            scope.spawn(move || {
                let mut idle_with_held = 0;
                while !stop.load(Ordering::SeqCst) {
                    let mut chunk = Vec::with_capacity(STREAM_CHUNK);
                    let mut n = 0usize;
                    let mut receiver_gone = false;
                    let polled = reading.poll_into(&mut |v| {
                        chunk.push(v);
                        n += 1;
                        if chunk.len() == STREAM_CHUNK {
                            let full =
                                std::mem::replace(&mut chunk, Vec::with_capacity(STREAM_CHUNK));
                            receiver_gone |= tx.send(Streamed::Records(full)).is_err();
                        }
                    });
                    if !chunk.is_empty() {
                        receiver_gone |= tx.send(Streamed::Records(chunk)).is_err();
                    }
                    if receiver_gone {
                        return; // the applying side stopped
                    }
                    let held = match polled {
                        Ok(p) => p.held,
                        Err(e) => {
                            let _ = tx.send(Streamed::End(Err(e)));
                            return;
                        }
                    };
                    if n > 0 {
                        idle_with_held = 0;
                        if tx.send(Streamed::End(Ok(()))).is_err() {
                            return;
                        }
                        continue;
                    }
                    if held == 0 {
                        return;
                    }
                    idle_with_held += 1;
                    if idle_with_held >= 2 {
                        if log == LogState::Complete {
                            if let Err(e) = reading.finish_held() {
                                let _ = tx.send(Streamed::End(Err(e)));
                            }
                        }
                        return;
                    }
                }
            });
            // The poll in progress: its records, applied to the model as they arrive.
            let mut batch: Vec<(VerifiedRecord, Touched)> = Vec::new();
            let mut merged = Touched::default();
            for msg in rx {
                let end = match msg {
                    Streamed::Records(records) => {
                        for v in records {
                            let t = model.apply(&v);
                            merge_if_unapplied(views, &mut merged, &v, &t);
                            batch.push((v, t));
                        }
                        continue;
                    }
                    Streamed::End(end) => end,
                };
                progress.polls += 1;
                progress.verified += batch.len() as u64;
                // Whatever ended the poll, the records verified before it are written.
                let applied = write_views(model, views, &batch, std::mem::take(&mut merged))?;
                batch.clear();
                for (total, a) in progress.applied.iter_mut().zip(applied) {
                    *total += a;
                }
                match end {
                    Ok(()) => {}
                    Err(Error::VerificationAfter { failure, .. }) => {
                        return Err(Error::Verification(failure))
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })?;
        // A view that consumed more than the log holds was built from another ledger.
        let n = reader.partition_count()?;
        for view in views.iter() {
            for p in 0..n {
                let log = reader.log_len(p)?;
                if view.position(p) > log && log == reader.verified_len(p) {
                    return Err(Error::ViewMismatch {
                        view: view.kind.name(),
                        partition: p,
                        seq: log,
                    });
                }
            }
        }
        Ok(progress)
    }

    /// Each view's lag per partition, against the log as of the last poll.
    pub fn lag(&mut self) -> Result<Vec<Lag>, Error> {
        let n = self.reader.partition_count()?;
        let mut out = Vec::new();
        for v in &self.views {
            for p in 0..n {
                let log = self.reader.log_len(p)?;
                let consumed = v.position(p);
                out.push(Lag {
                    view: v.kind.name(),
                    partition: p,
                    log,
                    consumed,
                    behind: log.saturating_sub(consumed),
                });
            }
        }
        Ok(out)
    }

    /// A view's database.
    pub fn view(&self, kind: ViewKind) -> &ViewDb {
        &self.views[ViewKind::ALL
            .iter()
            .position(|k| *k == kind)
            .expect("every kind is open")]
    }

    /// Records verified so far in partition `p`.
    pub fn verified_len(&self, p: u32) -> u64 {
        self.reader.verified_len(p)
    }
}

/// Opens the projector over the embedded ledger in `ledger_dir`.
pub fn embedded(
    ledger_dir: &Path,
    trial: TrialId,
    pinned_root: [u8; 32],
    db_dir: &Path,
    max_per_partition: usize,
) -> Result<Projector<EmbeddedSource>, Error> {
    let source = EmbeddedSource::open(ledger_dir)?;
    Projector::open(source, trial, pinned_root, db_dir, max_per_partition)
}
