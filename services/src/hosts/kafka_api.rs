//! The Kafka side of `serve --kafka`: the writer behind `POST /v1/submissions`
//! ([`KafkaSubmitter`]) and the safety stream's follower ([`follow_stream`]).
//!
//! **Writing.** One thread owns a [`Writer`]: it decodes each submission, answers a known
//! submission id with its original receipt (or 409 when the id is recorded with other
//! content), then checks the author's signature, the key's enrolment and its role against the
//! registry as read from the committed ledger ([`precheck`]), and only then produces it to
//! `<trial>.intake`. So junk never reaches intake, and `<trial>.rejections` holds only what
//! the sequencer itself refused (references, domain rules). A refusal by the pre-check is
//! checked again after reading partition 0 to its committed end, so a key enrolled a moment
//! ago is not refused. The answer is sent once the record is read back from the committed
//! ledger (`read_committed`), with the embedded server's receipt; the sequencer's refusal is
//! read from the rejections topic. Submissions from many clients are produced together and
//! awaited together.
//!
//! **The stream** follows the committed ledger in rounds, as the deciding services on Kafka
//! do ([`crate::hosts::decider_kafka`]): every partition to its committed end, note the
//! lengths, to the ends again, and hand out what [`tl_domain::deciders::Follower::poll_settled`]
//! finds settled up to the noted lengths (each round's read is the next round's "again"). An
//! aborted transaction is never read.

use crate::hosts::kafka_lag::FollowerPositions;
use crate::hosts::kafka_sim::WatcherFeed;
use anyhow::{Context, Result};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tl_domain::deciders::Follower;
use tl_kafka::writer::{Verdict, Watcher, Writer};
use tl_kafka::KafkaConfig;
use tl_ledger::registry::Registry;
use tl_ledger::rules::DomainRules;
use tl_ledger::{Reason, Refusal, Submitted};
use tl_schemas::SignedSubmission;

/// How long a submission waits for its verdict before the client gets 503.
pub const VERDICT_TIMEOUT: Duration = Duration::from_secs(30);

/// Checks 4 to 6 of FORMAT.md §12 against `registry` at its current position: the author's
/// key is known, its signature verifies (ZIP-215), the key is enrolled and not revoked, and
/// its role may author the event type (an event type no table knows is left to the
/// sequencer). Pure: the sequencer repeats every check.
pub fn precheck(registry: &Registry, signed: &SignedSubmission) -> Result<(), Refusal> {
    let sub = &signed.submission;
    let Some(public_key) = registry.public_key(&sub.author) else {
        return Err(Refusal::new(
            Reason::UnknownKey,
            format!("author key {} is not in the registry", sub.author),
        ));
    };
    if !tl_ledger::crypto::verify_one(&public_key, &sub.signing_message(), &signed.signature) {
        return Err(Refusal::new(
            Reason::BadAuthorSignature,
            format!("author signature by key {} does not verify", sub.author),
        ));
    }
    let author = registry.author_at(&sub.author, registry.position())?;
    let t = sub.envelope.event_type;
    let authority =
        tl_schemas::roles::core_authority(t).or_else(|| tl_domain::TrialRules.authority(t));
    if let Some(a) = authority {
        if !a.permits(author.role()) {
            let who = author
                .role()
                .map_or("the root key".to_string(), |r| format!("role {r}"));
            return Err(Refusal::new(
                Reason::RoleNotPermitted,
                format!("{who} may not author {}", crate::trail::type_name(t)),
            ));
        }
    }
    Ok(())
}

/// The registry, replayed from partition 0 as far as the watcher read it.
struct Followed {
    registry: Registry,
}

impl Followed {
    fn update(&mut self, w: &Watcher) {
        let from = self.registry.position();
        for bytes in w.partition_read(0, from, usize::MAX) {
            match tl_ledger::codec::decode_record(&bytes) {
                Ok((r, _)) => self.registry.apply(&r.body.submission.submission),
                // A record the sequencer sealed always decodes; keep the positions right.
                Err(_) => self.registry.advance(),
            }
        }
    }
}

/// A submission awaiting an answer.
struct Job {
    bytes: Vec<u8>,
    reply: tokio::sync::oneshot::Sender<Result<Submitted, String>>,
}

/// A produced submission awaiting its verdict.
struct Pending {
    signed: SignedSubmission,
    partition: u32,
    reply: tokio::sync::oneshot::Sender<Result<Submitted, String>>,
    deadline: Instant,
}

/// Submits to a trial on Kafka from async handlers; the writer runs on its own thread.
#[derive(Clone)]
pub struct KafkaSubmitter {
    tx: mpsc::Sender<Job>,
    running: Arc<AtomicBool>,
}

impl KafkaSubmitter {
    /// Connects to the trial's topics (they must exist), reads the registry, and starts the
    /// writer thread, which runs until `stop` is set.
    pub fn spawn(
        cfg: &KafkaConfig,
        root: [u8; 32],
        stop: Arc<AtomicBool>,
        positions: Arc<FollowerPositions>,
    ) -> Result<(Self, JoinHandle<()>)> {
        let mut writer = Writer::connect(cfg)
            .with_context(|| format!("connecting to trial {} on Kafka", cfg.trial))?;
        let wait = cfg.timeout.max(Duration::from_secs(30));
        writer
            .watcher()
            .read_to_committed_end(wait)
            .context("reading the trial's ledger")?;
        let mut followed = Followed {
            registry: Registry::new(cfg.trial.clone(), root),
        };
        followed.update(writer.watcher_ref());
        let (tx, rx) = mpsc::channel();
        let running = Arc::new(AtomicBool::new(true));
        let mut w = WriterLoop {
            cfg: cfg.clone(),
            writer,
            followed,
            pending: Vec::new(),
            answered: HashSet::new(),
            positions,
        };
        let flag = running.clone();
        let join = std::thread::Builder::new()
            .name("tl-kafka-writer".into())
            .spawn(move || {
                if let Err(e) = w.run(&rx, &stop) {
                    tracing::error!(error = %e, "the Kafka writer stopped");
                }
                flag.store(false, Ordering::SeqCst);
                for p in w.pending.drain(..) {
                    let _ = p.reply.send(Err("the server is stopping".into()));
                }
            })
            .context("starting the Kafka writer")?;
        Ok((KafkaSubmitter { tx, running }, join))
    }

    /// Submits the bytes; the answer comes once the record is committed (or refused).
    pub async fn submit(&self, bytes: Vec<u8>) -> Result<Submitted, String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.tx
            .send(Job { bytes, reply })
            .map_err(|_| "the Kafka writer has stopped".to_string())?;
        answer
            .await
            .map_err(|_| "the Kafka writer stopped before answering".to_string())?
    }

    /// Whether the writer thread still takes submissions.
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }
}

/// The writer thread's state.
struct WriterLoop {
    cfg: KafkaConfig,
    writer: Writer,
    followed: Followed,
    pending: Vec<Pending>,
    /// Submission ids answered `recorded` by this server: a second copy is `already-recorded`.
    answered: HashSet<tl_schemas::SubmissionId>,
    /// Where the metrics learn how far the writer has read.
    positions: Arc<FollowerPositions>,
}

impl WriterLoop {
    fn run(&mut self, rx: &mpsc::Receiver<Job>, stop: &AtomicBool) -> Result<()> {
        while !stop.load(Ordering::SeqCst) {
            let first = if self.pending.is_empty() {
                match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(j) => Some(j),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
                }
            } else {
                None
            };
            let mut sent = false;
            for job in first.into_iter().chain(rx.try_iter()) {
                sent |= self.take(job)?;
            }
            if sent {
                self.writer.flush()?;
            }
            let wait = if self.pending.is_empty() { 0 } else { 5 };
            self.writer.watcher().pump(Duration::from_millis(wait))?;
            self.positions
                .set("writer", self.writer.watcher_ref().ledger_positions());
            self.resolve();
        }
        Ok(())
    }

    /// Answers at once what needs no sequencer, else produces it; true when produced.
    fn take(&mut self, job: Job) -> Result<bool> {
        let signed = match self.check(&job.bytes) {
            Ok(Ok(s)) => s,
            Ok(Err(answer)) => {
                let _ = job.reply.send(Ok(answer));
                return Ok(false);
            }
            Err(e) => {
                let _ = job.reply.send(Err(format!("{e:#}")));
                return Ok(false);
            }
        };
        let partition = self.writer.send(&signed)?;
        self.pending.push(Pending {
            signed,
            partition,
            reply: job.reply,
            deadline: Instant::now() + VERDICT_TIMEOUT,
        });
        Ok(true)
    }

    /// The submission to produce, or the answer without producing.
    fn check(&mut self, bytes: &[u8]) -> Result<Result<SignedSubmission, Submitted>> {
        let refused = |r: Refusal| Ok(Err(Submitted::Refused(r)));
        let signed = match tl_ledger::codec::decode_submission(bytes) {
            Ok(s) => s,
            Err(r) => return refused(r),
        };
        if tl_schemas::encode(&signed) != bytes {
            return refused(Refusal::new(
                Reason::NonCanonical,
                "the bytes are not the canonical encoding of the submission".to_string(),
            ));
        }
        if signed.submission.trial_id != self.cfg.trial {
            return refused(Refusal::new(
                Reason::WrongTrial,
                format!(
                    "submission is for trial {:?}, this ledger is {:?}",
                    signed.submission.trial_id.as_str(),
                    self.cfg.trial.as_str()
                ),
            ));
        }
        if let Some(answer) = self.known(&signed) {
            return Ok(Err(answer));
        }
        if precheck(&self.followed.registry, &signed).is_err() {
            // The registry may have moved on since it was read: read it to its end once.
            let wait = self.cfg.timeout.max(Duration::from_secs(30));
            self.writer.watcher().read_to_committed_end(wait)?;
            self.followed.update(self.writer.watcher_ref());
            if let Some(answer) = self.known(&signed) {
                return Ok(Err(answer));
            }
            if let Err(r) = precheck(&self.followed.registry, &signed) {
                return refused(r);
            }
        }
        Ok(Ok(signed))
    }

    /// The answer to a submission id already in the ledger as read.
    fn known(&mut self, signed: &SignedSubmission) -> Option<Submitted> {
        let id = signed.submission.submission_id;
        match self.writer.watcher_ref().recorded(&id)? {
            Verdict::Recorded {
                receipt, record, ..
            } if record.body.submission == *signed => Some(Submitted::Duplicate(receipt)),
            Verdict::Recorded { record, .. } => Some(Submitted::Refused(Refusal::new(
                Reason::SubmissionIdConflict,
                format!(
                    "submission id {} is already recorded at {}/{} with other content",
                    id, record.body.partition, record.body.seq
                ),
            ))),
            Verdict::Refused(_) => None,
        }
    }

    /// Answers every pending submission whose verdict was read, or whose time is up.
    fn resolve(&mut self) {
        let now = Instant::now();
        let mut still = Vec::with_capacity(self.pending.len());
        for p in std::mem::take(&mut self.pending) {
            let id = p.signed.submission.submission_id;
            let w = self.writer.watcher_ref();
            let answer = if let Some(Verdict::Recorded {
                receipt, record, ..
            }) = w.recorded(&id)
            {
                if record.body.submission != p.signed {
                    Ok(Submitted::Refused(Refusal::new(
                        Reason::SubmissionIdConflict,
                        format!("submission id {id} is already recorded with other content"),
                    )))
                } else if self.answered.insert(id) {
                    Ok(Submitted::Recorded(receipt))
                } else {
                    Ok(Submitted::Duplicate(receipt))
                }
            } else if let Some(r) = w.rejection_of_on(&p.signed, p.partition) {
                Ok(Submitted::Refused(rejection_refusal(&r)))
            } else if now > p.deadline {
                Err(format!(
                    "no verdict on submission {id} within {} s from {}: is `trial-ledger sequencer` running for trial {}?",
                    VERDICT_TIMEOUT.as_secs(),
                    self.cfg.bootstrap,
                    self.cfg.trial
                ))
            } else {
                still.push(p);
                continue;
            };
            let _ = p.reply.send(answer);
        }
        self.pending = still;
    }
}

/// The sequencer's rejection as the refusal the embedded sequencer gives.
fn rejection_refusal(r: &tl_kafka::Rejection) -> Refusal {
    let reason = Reason::ALL
        .iter()
        .copied()
        .find(|x| x.code() == r.reason)
        .unwrap_or(Reason::Malformed);
    Refusal::new(reason, r.detail.clone())
}

/// Follows the trial's committed ledger for the safety stream until `hub` stops: each round
/// reads every partition to its committed end twice and hands out what is settled in the
/// merged order. A broker that does not answer is waited for (the stream just pauses).
pub fn follow_stream(
    hub: &Arc<crate::api::stream::SafetyHub>,
    cfg: &KafkaConfig,
    partitions: u32,
    positions: &FollowerPositions,
) {
    let mut watcher = match Watcher::new(cfg, partitions) {
        Ok(w) => w,
        Err(e) => {
            hub.fail(format!("cannot follow the ledger: {e}"));
            return;
        }
    };
    let wait = cfg.timeout.max(Duration::from_secs(30));
    // The lengths noted at the previous round: a read to the committed ends has happened
    // since, so what they cover is settled (one read per round instead of two, as
    // `decider_kafka` reads them, halves the round trips and the latency).
    let mut noted: Option<Vec<u64>> = None;
    hub.follow_rounds(partitions as usize, |follower: &mut Follower| {
        let lengths =
            |w: &Watcher| -> Vec<u64> { (0..partitions).map(|p| w.partition_len(p)).collect() };
        let read = |w: &mut Watcher| match w.read_to_committed_end(wait) {
            Ok(()) => Ok(true),
            Err(e) if !e.is_fatal() => {
                tracing::warn!(error = %e, "safety stream: the broker did not answer; retrying");
                std::thread::sleep(Duration::from_millis(500));
                Ok(false)
            }
            Err(e) => Err(e.to_string()),
        };
        if !read(&mut watcher)? {
            return Ok(Vec::new());
        }
        positions.set("stream", watcher.ledger_positions());
        let settled = match noted.replace(lengths(&watcher)) {
            Some(s) => s,
            // The first round reads twice, so the history comes out before `caught-up`.
            None => {
                if !read(&mut watcher)? {
                    noted = None;
                    return Ok(Vec::new());
                }
                noted.replace(lengths(&watcher)).unwrap_or_default()
            }
        };
        follower
            .poll_settled(&WatcherFeed(&watcher), &settled)
            .map_err(|e| e.to_string())
    });
}
