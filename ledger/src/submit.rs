//! The submit handle: many writers, one sequencer, and an answer only once the record is durable.
//!
//! An [`EmbeddedLedger`] is one writer: `&mut self` for every submission, and with
//! [`Durability::Grouped`] its receipts are promises until the next flush. A long-running
//! process (the server, a bulk load) instead moves the ledger onto a sequencer thread with
//! [`spawn`], and hands a cloneable [`SubmitHandle`] to every task that submits.
//!
//! The thread group-commits. It takes the first waiting submission, then every other already
//! waiting (up to [`HandleConfig::max_batch`]), and runs them through the multi-core pipeline
//! ([`EmbeddedLedger::order_batch`]: author signatures batch-verified on every core, ordering
//! and validation one after the other in arrival order, seals signed on every core). It then
//! appends the sealed records, each partition's with one fsync and the partitions in parallel,
//! publishes checkpoints as the ledger's [`crate::PublishPolicy`] asks
//! ([`EmbeddedLedger::commit`]), and only then answers each submitter. So:
//! - a [`Submitted::Recorded`] receipt is never handed out before its record is durable;
//! - a refusal or a duplicate is answered after the same flush, because it may have been judged
//!   against a record of the same batch;
//! - if the flush fails, every submitter of the batch gets [`Error::SequencerStopped`], the
//!   thread stops, and the ledger must be reopened (its state may be ahead of the disk).
//!
//! The answers are those the ledger's own [`EmbeddedLedger::submit`] gives for the same
//! submissions in the same order at the same times, and the records the same bytes.
//! [`SubmitHandle::submit_many`] keeps a caller's submissions together and in its order (a
//! bulk load, a replay).

use crate::log::{Durability, EmbeddedLedger};
pub use crate::pipeline::BatchProfile;
use crate::rules::DomainRules;
use crate::{Error, Outcome, Receipt, Refusal};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;
use tl_schemas::UtcMicros;
use tokio::sync::{mpsc, oneshot};

/// What became of one submission, once the ledger has made it durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Submitted {
    /// A new record, sealed and durable.
    Recorded(Receipt),
    /// The submission id was already in the ledger with the same content: the original
    /// record's receipt (a retry after a lost answer gets this).
    Duplicate(Receipt),
    /// Refused, with the reason; nothing was recorded.
    Refused(Refusal),
}

/// Tuning of the sequencer thread behind a [`SubmitHandle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandleConfig {
    /// Most submissions ordered between two flushes. Bounds the latency a submitter waits for
    /// the others of its batch, and the records held in memory before the fsync.
    pub max_batch: usize,
    /// Submissions that may wait for the thread before [`SubmitHandle::submit`] itself waits:
    /// back pressure, so a flood of writers cannot grow memory without bound.
    pub queue: usize,
    /// Before answering a batch while no other submission waits, publish a checkpoint of
    /// every partition that grew (whatever the ledger's publish policy says). `serve` sets it
    /// with a time-based policy: an idle server's answers are covered by a checkpoint when
    /// they leave, as with a checkpoint after every batch, while under load one checkpoint
    /// (signed, appended, synced) covers the batches of a policy period.
    pub publish_when_idle: bool,
}

impl Default for HandleConfig {
    fn default() -> Self {
        HandleConfig {
            max_batch: 1024,
            queue: 4096,
            publish_when_idle: false,
        }
    }
}

/// One submission waiting for the sequencer thread.
struct Job {
    /// The signed submission's canonical bytes.
    bytes: Vec<u8>,
    /// Where its answer goes; a submitter that gave up has dropped the receiver.
    reply: oneshot::Sender<Result<Submitted, Error>>,
}

/// A message to the sequencer thread.
enum Msg {
    /// Order this submission.
    Submit(Job),
    /// Order these submissions, in this order, one after the other.
    SubmitMany(Vec<Job>),
    /// Finish what came before, flush, close the ledger and stop.
    Stop,
}

/// A cloneable way to submit to a ledger owned by a sequencer thread ([`spawn`]). Each call
/// returns only after the record it reports is durable.
#[derive(Clone)]
pub struct SubmitHandle {
    /// The queue into the sequencer thread (bounded: see [`HandleConfig::queue`]).
    tx: mpsc::Sender<Msg>,
}

impl SubmitHandle {
    /// Submits the canonical bytes of a signed submission and waits (asynchronously) until it
    /// is durable, refused or found to be a duplicate. Fails with
    /// [`Error::SequencerStopped`] when the sequencer thread is gone.
    pub async fn submit(&self, bytes: Vec<u8>) -> Result<Submitted, Error> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::Submit(Job { bytes, reply }))
            .await
            .map_err(|_| stopped("the sequencer has stopped"))?;
        answer
            .await
            .map_err(|_| stopped("the sequencer stopped before answering"))?
    }

    /// Submits many submissions that are ordered one after the other, in the given order
    /// (no other writer's submission comes between them), and waits until all are durable,
    /// refused or found to be duplicates: one answer per submission, in order. For bulk
    /// loads and replays, where the order is the caller's.
    pub async fn submit_many(
        &self,
        batch: Vec<Vec<u8>>,
    ) -> Result<Vec<Result<Submitted, Error>>, Error> {
        let (jobs, answers) = many_jobs(batch);
        self.tx
            .send(Msg::SubmitMany(jobs))
            .await
            .map_err(|_| stopped("the sequencer has stopped"))?;
        let mut out = Vec::with_capacity(answers.len());
        for answer in answers {
            out.push(
                answer
                    .await
                    .map_err(|_| stopped("the sequencer stopped before answering"))?,
            );
        }
        Ok(out)
    }

    /// [`SubmitHandle::submit_many`] for callers outside an async runtime.
    pub fn submit_many_blocking(
        &self,
        batch: Vec<Vec<u8>>,
    ) -> Result<Vec<Result<Submitted, Error>>, Error> {
        let (jobs, answers) = many_jobs(batch);
        self.tx
            .blocking_send(Msg::SubmitMany(jobs))
            .map_err(|_| stopped("the sequencer has stopped"))?;
        answers
            .into_iter()
            .map(|a| {
                a.blocking_recv()
                    .map_err(|_| stopped("the sequencer stopped before answering"))
            })
            .collect()
    }

    /// True while the sequencer thread takes submissions (false once it stopped or failed).
    pub fn is_running(&self) -> bool {
        !self.tx.is_closed()
    }

    /// [`SubmitHandle::submit`] for callers outside an async runtime (a CLI, a thread of a
    /// bulk load). Must not be called from inside an async task.
    pub fn submit_blocking(&self, bytes: Vec<u8>) -> Result<Submitted, Error> {
        self.enqueue_blocking(bytes)?.wait()
    }

    /// Hands a submission to the sequencer thread and returns as soon as it is queued, with
    /// the answer still to come ([`Queued::wait`]). Submissions queued one after another (by
    /// one caller, or by callers that take turns) are ordered in that order: a writer that
    /// must keep its order, yet not wait for each receipt, queues and waits separately.
    /// Outside an async runtime only, like [`SubmitHandle::submit_blocking`].
    pub fn enqueue_blocking(&self, bytes: Vec<u8>) -> Result<Queued, Error> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .blocking_send(Msg::Submit(Job { bytes, reply }))
            .map_err(|_| stopped("the sequencer has stopped"))?;
        Ok(Queued(answer))
    }

    /// [`SubmitHandle::enqueue_blocking`] for async tasks: returns once the submission is
    /// queued, its answer to be awaited with [`Queued::answer`].
    pub async fn enqueue(&self, bytes: Vec<u8>) -> Result<Queued, Error> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::Submit(Job { bytes, reply }))
            .await
            .map_err(|_| stopped("the sequencer has stopped"))?;
        Ok(Queued(answer))
    }
}

type AnswerRx = oneshot::Receiver<Result<Submitted, Error>>;

/// One job per submission of a [`SubmitHandle::submit_many`], and where their answers come.
fn many_jobs(batch: Vec<Vec<u8>>) -> (Vec<Job>, Vec<AnswerRx>) {
    batch
        .into_iter()
        .map(|bytes| {
            let (reply, answer) = oneshot::channel();
            (Job { bytes, reply }, answer)
        })
        .unzip()
}

/// A submission queued with [`SubmitHandle::enqueue_blocking`], its answer still to come.
pub struct Queued(AnswerRx);

impl Queued {
    /// Waits until the submission is durable, refused or found to be a duplicate, as
    /// [`SubmitHandle::submit_blocking`] does. Must not be called from inside an async task.
    pub fn wait(self) -> Result<Submitted, Error> {
        self.0
            .blocking_recv()
            .map_err(|_| stopped("the sequencer stopped before answering"))?
    }

    /// [`Queued::wait`] for async tasks.
    pub async fn answer(self) -> Result<Submitted, Error> {
        self.0
            .await
            .map_err(|_| stopped("the sequencer stopped before answering"))?
    }
}

fn stopped(why: &str) -> Error {
    Error::SequencerStopped(why.to_string())
}

/// The sequencer thread behind the handles; [`SequencerThread::stop`] ends it.
pub struct SequencerThread<R: DomainRules> {
    /// To send the stop message in order behind the submissions already queued.
    tx: mpsc::Sender<Msg>,
    /// The thread; it gives the ledger back (or the failure that stopped it).
    join: JoinHandle<Result<EmbeddedLedger<R>, Error>>,
    /// Where the thread's time went so far, updated after each batch.
    profile: Arc<Mutex<BatchProfile>>,
}

impl<R: DomainRules> SequencerThread<R> {
    /// Where the sequencer thread's time went since it started, per stage, summed over the
    /// batches it finished.
    pub fn profile(&self) -> BatchProfile {
        *self.profile.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lets the submissions already queued finish, flushes, and returns the ledger (still
    /// holding the writer lock; [`EmbeddedLedger::close`] it or keep using it). Handles still
    /// held by others fail with [`Error::SequencerStopped`] from then on.
    pub fn stop(self) -> Result<EmbeddedLedger<R>, Error> {
        // If the thread already ended (a failed flush), the send fails and join reports why.
        let _ = self.tx.blocking_send(Msg::Stop);
        self.join
            .join()
            .map_err(|_| stopped("the sequencer thread panicked"))?
    }
}

/// Moves `ledger` onto a sequencer thread and returns the handle to submit through, and the
/// thread to stop. `clock` gives each submission's ordering time (the sequencer keeps ordering
/// times monotonic whatever it returns); use [`UtcMicros::now`] outside tests.
pub fn spawn<R>(
    mut ledger: EmbeddedLedger<R>,
    mut clock: impl FnMut() -> UtcMicros + Send + 'static,
    config: HandleConfig,
) -> Result<(SubmitHandle, SequencerThread<R>), Error>
where
    R: DomainRules + Send + 'static,
{
    // Receipts are answered after an explicit flush per batch, so the ledger itself must
    // never flush on its own in the middle of one.
    ledger.set_durability(Durability::Grouped {
        max_pending: usize::MAX,
    })?;
    let (tx, rx) = mpsc::channel(config.queue.max(1));
    let profile = Arc::new(Mutex::new(BatchProfile::default()));
    let shared = profile.clone();
    let join = std::thread::Builder::new()
        .name("tl-sequencer".into())
        .spawn(move || run(ledger, rx, &mut clock, config, &shared))
        .map_err(|e| stopped(&format!("cannot start the sequencer thread: {e}")))?;
    let handle = SubmitHandle { tx: tx.clone() };
    Ok((handle, SequencerThread { tx, join, profile }))
}

/// The sequencer thread's loop: batch, order, flush, answer.
fn run<R: DomainRules>(
    mut ledger: EmbeddedLedger<R>,
    mut rx: mpsc::Receiver<Msg>,
    clock: &mut dyn FnMut() -> UtcMicros,
    config: HandleConfig,
    shared: &Mutex<BatchProfile>,
) -> Result<EmbeddedLedger<R>, Error> {
    let max_batch = config.max_batch.max(1);
    // Submitters answered by the last batch: most come straight back with their next one.
    let mut answered = 0;
    loop {
        let mut p = BatchProfile::default();
        let waiting = Instant::now();
        // `None`: every handle is gone; stop as if asked to.
        let first = rx.blocking_recv().unwrap_or(Msg::Stop);
        let gathering = Instant::now();
        p.idle = gathering - waiting;
        let (batch, stop) = gather(first, &mut rx, max_batch, answered);
        p.gather = gathering.elapsed();
        answered = batch.len();
        (p.batches, p.submissions) = (1, batch.len() as u64);
        // Metrics (a no-op unless a recorder is installed, as `serve` does).
        metrics::histogram!("tl_group_commit_batch_size").record(batch.len() as f64);
        let answers = order_batch(&mut ledger, batch, clock, &mut p);
        let committed = ledger.commit_timed(&mut p);
        metrics::histogram!("tl_group_commit_order_seconds")
            .record((p.verify + p.order + p.seal + p.finish).as_secs_f64());
        metrics::histogram!("tl_group_commit_fsync_seconds")
            .record((p.store + p.publish).as_secs_f64());
        if let Err(e) = committed {
            let why = format!("storing a batch failed ({e}); reopen the ledger");
            for (reply, _) in answers {
                let _ = reply.send(Err(stopped(&why)));
            }
            return Err(e);
        }
        if config.publish_when_idle && rx.is_empty() {
            publish_idle(&mut ledger);
        }
        let answering = Instant::now();
        for (reply, answer) in answers {
            // A submitter that gave up has dropped its receiver: nothing to tell it.
            let _ = reply.send(answer);
        }
        p.answer = answering.elapsed();
        shared.lock().unwrap_or_else(|e| e.into_inner()).add(&p);
        if stop {
            return Ok(ledger);
        }
    }
}

/// Publishes a checkpoint of every partition that grew ([`HandleConfig::publish_when_idle`]).
/// A failure is logged, as the publish policy's are: the records are durable, and the next
/// publication tries again.
fn publish_idle<R: DomainRules>(ledger: &mut EmbeddedLedger<R>) {
    // Nothing is buffered after a commit: `flush` only publishes.
    if let Err(e) = ledger.flush() {
        tracing::error!("publishing checkpoints failed (retried at the next trigger): {e}");
    }
}

/// How long a batch waits for the submitters the last batch answered to come back, at most.
/// They wake up one by one after their answers; without the wait, the first of them makes a
/// batch of its own and costs a whole fsync. Small beside an fsync (milliseconds).
const REGATHER: std::time::Duration = std::time::Duration::from_micros(250);

/// The jobs of one batch: `first` and those already waiting, up to `max` (a
/// [`Msg::SubmitMany`] is never split, so a batch may be larger), waiting up to [`REGATHER`]
/// while fewer than `expected` (those the last batch answered) have come; and whether a stop
/// message came (jobs behind it stay queued and fail when the thread ends).
fn gather(
    first: Msg,
    rx: &mut mpsc::Receiver<Msg>,
    max: usize,
    expected: usize,
) -> (Vec<Job>, bool) {
    let deadline = std::time::Instant::now() + REGATHER;
    let mut jobs = Vec::new();
    let mut next = Some(first);
    while let Some(msg) = next {
        match msg {
            Msg::Stop => return (jobs, true),
            Msg::Submit(job) => jobs.push(job),
            Msg::SubmitMany(many) => jobs.extend(many),
        }
        next = None;
        while jobs.len() < max {
            if let Ok(msg) = rx.try_recv() {
                next = Some(msg);
                break;
            }
            if jobs.len() >= expected || std::time::Instant::now() >= deadline {
                break;
            }
            std::thread::yield_now();
        }
    }
    (jobs, false)
}

type Answer = (
    oneshot::Sender<Result<Submitted, Error>>,
    Result<Submitted, Error>,
);

/// Orders the jobs of a batch through the pipeline (nothing durable yet).
fn order_batch<R: DomainRules>(
    ledger: &mut EmbeddedLedger<R>,
    batch: Vec<Job>,
    clock: &mut dyn FnMut() -> UtcMicros,
    profile: &mut BatchProfile,
) -> Vec<Answer> {
    let (bytes, replies): (Vec<Vec<u8>>, Vec<_>) =
        batch.into_iter().map(|j| (j.bytes, j.reply)).unzip();
    let outcomes = ledger.order_batch_timed(&bytes, clock, profile);
    replies
        .into_iter()
        .zip(outcomes)
        .map(|(reply, outcome)| {
            let answer = outcome.map(|o| match o {
                Outcome::Sealed(s) => Submitted::Recorded(s.receipt()),
                Outcome::Duplicate(r) => Submitted::Duplicate(r),
                Outcome::Refused(r) => Submitted::Refused(r),
            });
            (reply, answer)
        })
        .collect()
}
