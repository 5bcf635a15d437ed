//! Hosts a deciding service (tl-domain's matcher or cohort engine) on a trial on Kafka: it
//! follows the committed ledger (`read_committed`, from the beginning), lets the service decide
//! on each record, signs what it decides with the service's key and produces it to intake
//! through a [`Writer`]'s window, then takes their verdicts.
//!
//! **Reading in the merged order.** On the embedded log a poll sees every partition as far as
//! it is written. On Kafka each partition is fetched on its own, so a poll may see one
//! partition up to its committed end and another one behind; and records of different
//! partitions become visible in commit order. The host therefore reads in rounds: it reads
//! every partition up to its committed end (the broker's last stable offset), notes what it
//! has read, reads up to the committed ends once more, and hands the service only the records
//! whose place in the merged order is settled ([`Follower::poll_settled`]); the others wait
//! for the next round. This rests on one assumption, true of our deployment (one active
//! sequencer instance for the trial, a newer one fencing the older): ordering times follow
//! commits, because one sequencer stamps every partition from one clock and commits its
//! transactions one after another. Independently of it, a record is never handed out before
//! the records it cites and the registry records it was sealed after. So a live service sees
//! the records in the order a replay sees them, and makes the decisions a replay makes.
//!
//! **Writing.** The decisions due are begun together in the writer's window (each on its
//! subject's intake partition; those of one cohort keep their order), then the host takes
//! each verdict: the record, the original record of an id already recorded, or the
//! sequencer's refusal of these very bytes (a refusal of an earlier submission of the id does
//! not count). Submission ids are
//! derived from the triggers, so a decision submitted twice is one record.
//!
//! **Restart.** As on the embedded log, the service keeps no state: it replays the ledger
//! from the beginning and submits only what is missing.

use crate::hosts::decider_embedded::{sleep_unless_stopped, KeyStatus, RunMode, RunSummary};
use crate::hosts::kafka_sim::WatcherFeed;
use anyhow::{bail, Context, Result};
use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use tl_domain::deciders::{DecidingService, Decision, Follower};
use tl_kafka::writer::{Ticket, Verdict as WriterVerdict, Writer};
use tl_kafka::KafkaConfig;
use tl_ledger::SigningKey;
use tl_schemas::{SignedSubmission, SubmissionId, TrialId, UtcMicros};

/// A deciding service on a trial's Kafka topics.
pub struct KafkaHost<S: DecidingService> {
    /// The service's core.
    service: S,
    /// Topics and cluster (the trial id for signing, the bootstrap for messages).
    cfg: KafkaConfig,
    /// The service's signing key.
    key: SigningKey,
    /// Produces the decisions to intake and follows the ledger and the rejections.
    writer: Writer,
    /// What the service was handed so far, and the records held back.
    follower: Follower,
    /// Decisions this process already submitted and got a record for, awaiting read-back:
    /// not submitted again.
    submitted: HashSet<SubmissionId>,
    /// The key's registry status.
    key_status: KeyStatus,
    /// What the run did.
    summary: RunSummary,
    /// How long a decision may wait for its verdict (the sequencer may be restarting).
    verdict_timeout: Duration,
}

impl<S: DecidingService> KafkaHost<S> {
    /// Connects to the trial's topics (they must exist: `init --kafka`).
    pub fn connect(cfg: &KafkaConfig, service: S, key: SigningKey) -> Result<Self> {
        let writer = Writer::connect(cfg)
            .with_context(|| format!("connecting to trial {} on Kafka", cfg.trial))?;
        Ok(KafkaHost {
            service,
            cfg: cfg.clone(),
            key,
            writer,
            follower: Follower::new(),
            submitted: HashSet::new(),
            key_status: KeyStatus::default(),
            summary: RunSummary::default(),
            verdict_timeout: Duration::from_secs(120),
        })
    }

    fn trial(&self) -> &TrialId {
        &self.cfg.trial
    }

    /// Reads a round (see the module) and lets the service decide on what is settled; returns
    /// how many records it was handed.
    fn read(&mut self) -> Result<usize> {
        let read_timeout = self.cfg.timeout.max(Duration::from_secs(30));
        let watcher = self.writer.watcher();
        watcher.read_to_committed_end(read_timeout)?;
        let settled: Vec<u64> = (0..watcher.partitions())
            .map(|p| watcher.partition_len(p))
            .collect();
        watcher.read_to_committed_end(read_timeout)?;
        let records = self
            .follower
            .poll_settled(&WatcherFeed(self.writer.watcher_ref()), &settled)
            .map_err(|e| anyhow::anyhow!(e))?;
        let me = self.key.key_id();
        for r in &records {
            self.key_status.read(r, &me);
            self.service.apply(r);
        }
        // Decisions read back are no longer awaited.
        let pending: HashSet<SubmissionId> = self
            .service
            .pending()
            .iter()
            .map(|d| d.submission_id)
            .collect();
        self.submitted.retain(|id| pending.contains(id));
        self.summary.records += records.len() as u64;
        self.summary.decided = self.service.decided();
        Ok(records.len())
    }

    /// The decisions due: pending and not submitted by this process yet.
    fn due(&self) -> Vec<Decision> {
        self.service
            .pending()
            .iter()
            .filter(|d| !self.submitted.contains(&d.submission_id))
            .cloned()
            .collect()
    }

    /// Begins every decision due in the writer's window (waiting for room only when it is
    /// full), then takes each verdict.
    fn submit_due(&mut self, due: Vec<Decision>) -> Result<()> {
        let mut begun = Vec::with_capacity(due.len());
        for d in due {
            let signed = d.sign(self.trial(), &self.key, UtcMicros::now());
            let ticket = self.writer.begin(&signed)?;
            begun.push((d, signed, ticket));
        }
        self.writer.flush()?;
        let mut refused = Vec::new();
        for (d, signed, ticket) in begun {
            match self.verdict(&signed, &ticket)? {
                Verdict::Recorded { partition, seq } => {
                    self.summary.recorded += 1;
                    println!(
                        "recorded {} for {} at {partition}/{seq} (cites {})",
                        d.event_name,
                        d.subject,
                        d.cites.len()
                    );
                    self.submitted.insert(d.submission_id);
                }
                Verdict::Already { partition, seq } => {
                    self.summary.already += 1;
                    tracing::info!(partition, seq, "decision already recorded");
                    self.submitted.insert(d.submission_id);
                }
                Verdict::Refused { reason, detail } => {
                    self.summary.refused += 1;
                    eprintln!(
                        "refused: {} for {}: {reason}: {detail}",
                        d.event_name, d.subject
                    );
                    refused.push(d.submission_id);
                }
            }
        }
        for id in refused {
            self.service.forget(&id);
        }
        Ok(())
    }

    /// Awaits the writer's verdict on a decision begun: the record (sealed from these bytes,
    /// or the original of an id recorded before, by another run's signing with its own
    /// client time), or the sequencer's refusal of these very bytes.
    fn verdict(&mut self, signed: &SignedSubmission, ticket: &Ticket) -> Result<Verdict> {
        let v = match self.writer.verdict(ticket, self.verdict_timeout) {
            Ok(v) => v,
            Err(tl_kafka::Error::Timeout { .. }) => {
                return Err(NoVerdict(format!(
                    "no verdict on submission {} within {} s from {}: is `trial-ledger sequencer` running for trial {}?",
                    ticket.id.to_hex(),
                    self.verdict_timeout.as_secs(),
                    self.cfg.bootstrap,
                    self.cfg.trial
                ))
                .into())
            }
            Err(e) => return Err(e.into()),
        };
        Ok(match v {
            WriterVerdict::Recorded { record, .. } => {
                let (partition, seq) = (record.body.partition, record.body.seq);
                if record.body.submission == *signed {
                    Verdict::Recorded { partition, seq }
                } else {
                    Verdict::Already { partition, seq }
                }
            }
            WriterVerdict::Refused(r) => Verdict::Refused {
                reason: r.reason,
                detail: r.detail,
            },
        })
    }

    /// Runs until the mode says stop or `stop` is set (SIGTERM, Ctrl-C); the stop is checked
    /// between rounds, never while decisions await their verdicts.
    ///
    /// When following, a broker outage or a sequencer that gives no verdict ([`is_outage`])
    /// does not end the service: it says so and tries again, backing off up to
    /// [`crate::hosts::outage::MAX_BACKOFF`]. Nothing is lost: decisions carry submission ids derived from their
    /// triggers, so one sent before the outage and sent again is recorded once.
    pub fn run(&mut self, mode: RunMode, stop: &AtomicBool) -> Result<RunSummary> {
        let mut checked = false;
        let mut read_back_by = Instant::now();
        let mut outage = crate::hosts::outage::Outage::new(Duration::from_secs(1));
        loop {
            let round = self.read().and_then(|_| {
                if !checked {
                    self.key_status
                        .check(&self.key.key_id(), self.trial(), &self.service)?;
                    checked = true;
                }
                let due = self.due();
                if due.is_empty() {
                    return Ok(false);
                }
                self.submit_due(due)?;
                Ok(true)
            });
            match round {
                Ok(submitted) => {
                    if let Some(lasted) = outage.recovered() {
                        eprintln!(
                            "the ledger is reachable again after {:.0} s",
                            lasted.as_secs_f64()
                        );
                    }
                    if submitted {
                        read_back_by = Instant::now() + self.verdict_timeout;
                        // Read the decisions back (and anything they trigger) at once.
                        continue;
                    }
                }
                Err(e) if matches!(mode, RunMode::Follow { .. }) && is_outage(&e) => {
                    let (lasted, backoff) = outage.failed();
                    eprintln!(
                        "{e:#}; for {:.0} s now; retrying in {:.0} s",
                        lasted.as_secs_f64(),
                        backoff.as_secs_f64()
                    );
                    if sleep_unless_stopped(backoff, stop) {
                        return Ok(self.summary.clone());
                    }
                    continue;
                }
                Err(e) => return Err(e),
            }
            // `--once` is done when what it recorded has been read back.
            if mode == RunMode::Once {
                if self.submitted.is_empty() {
                    return Ok(self.summary.clone());
                }
                if Instant::now() > read_back_by {
                    bail!(
                        "{} recorded decisions were not read back from the ledger within {} s",
                        self.submitted.len(),
                        self.verdict_timeout.as_secs()
                    );
                }
            }
            let pause = match mode {
                RunMode::Once => Duration::from_millis(100),
                RunMode::Follow { poll } => poll,
            };
            if sleep_unless_stopped(pause, stop) {
                return Ok(self.summary.clone());
            }
        }
    }
}

/// The sequencer gave no verdict on a decision in time (it is down, or the broker is).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct NoVerdict(String);

/// Whether a following service should wait and try again rather than stop: the broker did
/// not answer (a timeout or a retriable client error, [`tl_kafka::Error::is_fatal`] false) or
/// the sequencer gave no verdict in time. Anything else (a fatal client error, a corrupt
/// ledger, a revoked key) stops it.
fn is_outage(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<NoVerdict>().is_some()
            || c.downcast_ref::<tl_kafka::Error>()
                .is_some_and(|k| !k.is_fatal())
    })
}

/// What became of a decision produced to intake.
enum Verdict {
    /// Sealed from the bytes just sent.
    Recorded {
        /// Its partition.
        partition: u32,
        /// Its sequence number.
        seq: u64,
    },
    /// The id was recorded before (an earlier run's submission).
    Already {
        /// Its partition.
        partition: u32,
        /// Its sequence number.
        seq: u64,
    },
    /// The sequencer refused these bytes.
    Refused {
        /// The reason code.
        reason: String,
        /// What was wrong.
        detail: String,
    },
}
