//! The read side the protected routes share: a verified snapshot of the ledger (for trails and
//! audit bundles) and the projector's three views, each brought up to date on demand, and how
//! far behind the log an answer is.
//!
//! Both are refreshed only when the log grew: the snapshot is re-read and re-verified in full
//! when a partition's segment bytes changed (a trail is only ever given from a ledger that
//! verifies), and the views catch up incrementally. Requests wait for each other here (one
//! lock each), never for the sequencer.

use super::error::ApiError;
use crate::cli::cmd::trail::VerifiedLedger;
use crate::hosts::kafka_source::{KafkaSource, Source};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tl_ledger::embedded::EmbeddedReader;
use tl_ledger::log::read_embedded_for_verify;
use tl_ledger::publish::read_published;
use tl_projections::{EmbeddedSource, LogState, Projector};
use tl_schemas::TrialId;

/// A verified, decoded copy of the ledger, with its records' bytes.
pub struct Snapshot {
    /// Each partition's segment bytes when it was read (what tells that the log grew).
    bytes: Vec<u64>,
    /// The verified ledger (trails and their proofs).
    pub ledger: VerifiedLedger,
    /// Each partition's records, as stored (audit bundles).
    pub records: Vec<Vec<Vec<u8>>>,
}

/// How far behind the log an answer is.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Freshness {
    /// Records per partition the answer reflects.
    pub as_of: Vec<u64>,
    /// Records per partition covered by the latest published checkpoint when answering.
    pub log: Vec<u64>,
    /// Records in the log that the answer does not reflect yet (summed over partitions).
    pub behind: u64,
}

/// A patient's site and cohort, as far as the ledger says.
pub type Place = (Option<String>, Option<String>);

/// Where the read side reads the ledger.
enum Log {
    /// The embedded store's folder.
    Embedded(PathBuf),
    /// The trial's committed ledger on Kafka.
    Kafka(tl_kafka::KafkaConfig),
}

/// The shared read side.
pub struct Reads {
    log: Log,
    views_dir: PathBuf,
    trial: TrialId,
    root: [u8; 32],
    snapshot: Mutex<Option<Snapshot>>,
    projector: Mutex<Option<Projector<Source>>>,
    /// On Kafka: the client asking for the ledger's committed ends, and its partition count.
    kafka_ends: Mutex<Option<(tl_kafka::read::CommittedEnds, u32)>>,
}

/// How long a read of the whole ledger on Kafka waits for open transactions to resolve.
const KAFKA_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

fn failed(what: &str, e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "{what}");
    ApiError::unavailable(format!("{what}: {e}"))
}

impl Reads {
    /// The read side of the data folder `data`, pinned to `root`.
    pub fn new(data: &Path, trial: TrialId, root: [u8; 32]) -> Self {
        Reads {
            log: Log::Embedded(crate::cli::cmd::ledger_dir(data)),
            views_dir: crate::cli::cmd::view::db_dir(data, None),
            trial,
            root,
            snapshot: Mutex::new(None),
            projector: Mutex::new(None),
            kafka_ends: Mutex::new(None),
        }
    }

    /// The read side of a trial on Kafka: the views (in `views_dir`) follow its committed
    /// ledger; trails and bundles come from it read whole and verified.
    pub fn kafka(cfg: &tl_kafka::KafkaConfig, views_dir: &Path, root: [u8; 32]) -> Self {
        Reads {
            log: Log::Kafka(cfg.clone()),
            views_dir: views_dir.to_path_buf(),
            trial: cfg.trial.clone(),
            root,
            snapshot: Mutex::new(None),
            projector: Mutex::new(None),
            kafka_ends: Mutex::new(None),
        }
    }

    /// Each partition's size as of its latest published checkpoint (none on Kafka).
    fn log_sizes(&self, partitions: usize) -> Vec<u64> {
        let Log::Embedded(dir) = &self.log else {
            return vec![0; partitions];
        };
        (0..partitions as u32)
            .map(|p| {
                read_published(dir, p)
                    .ok()
                    .and_then(|c| c.last().map(|c| c.unverified().size))
                    .unwrap_or(0)
            })
            .collect()
    }

    /// How far `as_of` (records per partition) is behind the latest checkpoints.
    pub fn freshness(&self, as_of: Vec<u64>) -> Freshness {
        let log = self.log_sizes(as_of.len());
        let behind = log
            .iter()
            .zip(&as_of)
            .map(|(l, a)| l.saturating_sub(*a))
            .sum();
        Freshness { as_of, log, behind }
    }

    /// Runs `f` on the verified snapshot, re-read first if the log grew (on the embedded log:
    /// a partition's segment bytes changed; on Kafka: a partition's committed end moved).
    /// Blocking.
    pub fn with_snapshot<T>(
        &self,
        f: impl FnOnce(&Snapshot) -> Result<T, ApiError>,
    ) -> Result<(T, Freshness), ApiError> {
        let mut held = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        let bytes = self.log_marks()?;
        if held.as_ref().is_none_or(|s| s.bytes != bytes) {
            *held = Some(self.load(bytes)?);
        }
        let snap = held.as_ref().expect("loaded above");
        let as_of = snap.records.iter().map(|r| r.len() as u64).collect();
        let out = f(snap)?;
        Ok((out, self.freshness(as_of)))
    }

    /// What tells that the log grew: each partition's segment bytes, or on Kafka its
    /// committed end (last stable offset).
    fn log_marks(&self) -> Result<Vec<u64>, ApiError> {
        match &self.log {
            Log::Embedded(dir) => {
                let reader =
                    EmbeddedReader::open(dir).map_err(|e| failed("cannot read the store", e))?;
                (0..reader.partition_count())
                    .map(|p| reader.stored_bytes(p))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| failed("cannot read the store", e))
            }
            Log::Kafka(cfg) => {
                let mut ends = self.kafka_ends.lock().unwrap_or_else(|p| p.into_inner());
                if ends.is_none() {
                    let n = tl_kafka::topics::partition_count(cfg, &cfg.topics.ledger)
                        .map_err(|e| failed("cannot read the ledger topic", e))?
                        .ok_or_else(|| failed("cannot read the ledger", "no ledger topic"))?;
                    let client = tl_kafka::read::CommittedEnds::new(cfg)
                        .map_err(|e| failed("cannot reach the brokers", e))?;
                    *ends = Some((client, n));
                }
                let (client, n) = ends.as_ref().expect("made above");
                let got = client
                    .fetch(&cfg.topics.ledger, *n)
                    .map_err(|e| failed("cannot read the ledger's committed ends", e))?;
                Ok(got.into_iter().map(|o| o.max(0) as u64).collect())
            }
        }
    }

    /// Reads the whole ledger (the store, or the committed ledger and checkpoints topics)
    /// and verifies it; nothing is served from a ledger that does not verify.
    fn load(&self, bytes: Vec<u64>) -> Result<Snapshot, ApiError> {
        let (inputs, ledger) = match &self.log {
            Log::Embedded(dir) => {
                let inputs = read_embedded_for_verify(dir)
                    .map_err(|e| failed("cannot read the ledger", e))?;
                let ledger = VerifiedLedger::from_inputs(&inputs, &self.trial, self.root, &|p| {
                    Ok(read_published(dir, p)?)
                });
                (inputs, ledger)
            }
            Log::Kafka(cfg) => {
                let inputs = tl_kafka::read::ledger_for_verify(cfg, bytes.len() as u32, KAFKA_WAIT)
                    .map_err(|e| failed("cannot read the ledger", e))?;
                let ledger = VerifiedLedger::from_inputs(&inputs, &self.trial, self.root, &|p| {
                    Ok(tl_kafka::read::checkpoints(cfg, p, KAFKA_WAIT)?)
                });
                (inputs, ledger)
            }
        };
        let ledger = ledger
            .map_err(|e| failed("cannot load the ledger", e))?
            .map_err(|report| {
                let f = report
                    .first_failure()
                    .map_or_else(|| "unknown".to_string(), |f| f.to_string());
                failed(
                    "the ledger does not verify, so nothing is served from it",
                    f,
                )
            })?;
        let records = inputs.into_iter().map(|i| i.records).collect();
        Ok(Snapshot {
            bytes,
            ledger,
            records,
        })
    }

    /// Runs `f` on the projector's views, caught up with the log first. Blocking.
    pub fn with_views<T>(
        &self,
        f: impl FnOnce(&mut Projector<Source>) -> Result<T, ApiError>,
    ) -> Result<(T, Freshness), ApiError> {
        let mut held = self.projector.lock().unwrap_or_else(|p| p.into_inner());
        if held.is_none() {
            let source = match &self.log {
                Log::Embedded(dir) => EmbeddedSource::open(dir).map(Source::Embedded),
                Log::Kafka(cfg) => KafkaSource::open(cfg).map(|s| Source::Kafka(Box::new(s))),
            }
            .map_err(|e| failed("cannot read the ledger", e))?;
            let p = Projector::open(source, self.trial.clone(), self.root, &self.views_dir, 4096)
                .map_err(|e| failed("cannot open the views", e))?;
            *held = Some(p);
        }
        let p = held.as_mut().expect("opened above");
        p.catch_up(LogState::Live)
            .map_err(|e| failed("the views cannot catch up with the log", e))?;
        let n = p.lag().map_err(|e| failed("the views' lag", e))?;
        let partitions = n.iter().map(|l| l.partition + 1).max().unwrap_or(0);
        // Every view is applied from the same verified records: the least advanced is what
        // all of them reflect.
        let as_of: Vec<u64> = (0..partitions)
            .map(|part| {
                n.iter()
                    .filter(|l| l.partition == part)
                    .map(|l| l.consumed)
                    .min()
                    .unwrap_or(0)
            })
            .collect();
        let out = f(p)?;
        if let Log::Kafka(_) = self.log {
            // No checkpoint files: the log's size is what the source read of the brokers.
            let log: Vec<u64> = (0..partitions)
                .map(|part| {
                    n.iter()
                        .filter(|l| l.partition == part)
                        .map(|l| l.log)
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let behind = log
                .iter()
                .zip(&as_of)
                .map(|(l, a): (&u64, &u64)| l.saturating_sub(*a))
                .sum();
            return Ok((out, Freshness { as_of, log, behind }));
        }
        Ok((out, self.freshness(as_of)))
    }

    /// The views' lag behind the log per view and partition, without catching up (for the
    /// metrics); empty until the views were first read. Blocking.
    pub fn lag(&self) -> Vec<tl_projections::Lag> {
        let mut held = self.projector.lock().unwrap_or_else(|p| p.into_inner());
        held.as_mut().and_then(|p| p.lag().ok()).unwrap_or_default()
    }

    /// Where a patient is, from the enrollment view: (site, cohort). `None`: not registered.
    pub fn patient_place(p: &Projector<Source>, patient: &str) -> Result<Option<Place>, ApiError> {
        use rusqlite::OptionalExtension;
        p.view(tl_projections::ViewKind::Enrollment)
            .conn()
            .query_row(
                "SELECT site, COALESCE(enrolled_cohort, slot_cohort, mtb_cohort) FROM patients WHERE patient = ?1",
                [patient],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| failed("reading the enrollment view", e))
    }
}
