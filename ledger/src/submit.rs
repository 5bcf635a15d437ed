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
//! writes the sealed records and hands them to a sync thread (each partition's fsync, the
//! partitions in parallel) while it orders the next batch; once the sync returned it publishes
//! checkpoints as the ledger's [`crate::PublishPolicy`] asks ([`EmbeddedLedger::settle`]), and
//! only then answers each submitter (see `run` for why, and how large batches are split).
//! So:
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

use crate::embedded::SyncFailed;
use crate::log::{Durability, EmbeddedLedger};
use crate::pipeline::{StageTimes, Written};
use crate::rules::DomainRules;
use crate::{Error, Outcome, Receipt, Refusal};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
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
}

impl Default for HandleConfig {
    fn default() -> Self {
        HandleConfig {
            max_batch: 1024,
            queue: 4096,
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
}

impl<R: DomainRules> SequencerThread<R> {
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
    let max_batch = config.max_batch.max(1);
    let join = std::thread::Builder::new()
        .name("tl-sequencer".into())
        .spawn(move || run(ledger, rx, &mut clock, max_batch))
        .map_err(|e| stopped(&format!("cannot start the sequencer thread: {e}")))?;
    let handle = SubmitHandle { tx: tx.clone() };
    Ok((handle, SequencerThread { tx, join }))
}

/// The sequencer thread's loop: batch, order, write, and hand the batch to a sync thread;
/// order the next batch while that one syncs; settle it (checkpoints), then answer.
///
/// Why two threads: with one, the cores idle during every fsync (about half a batch's time
/// when 64 writers wait for their receipts). A batch whose CPU work takes longer than an
/// fsync is ordered in pieces ([`Pace`]), each written and synced while the next is ordered,
/// so that its first submitters are answered, and come back, while the rest is still being
/// ordered. One batch syncs at a time, and the next is written only after it settled, so the
/// store's length is the durable length whenever a checkpoint is published.
fn run<R: DomainRules>(
    mut ledger: EmbeddedLedger<R>,
    mut rx: mpsc::Receiver<Msg>,
    clock: &mut dyn FnMut() -> UtcMicros,
    max_batch: usize,
) -> Result<EmbeddedLedger<R>, Error> {
    let mut profile = Profile::from_env();
    let mut pace = Pace::default();
    let mut syncing: Option<InFlight> = None;
    // Submitters answered by the last batch: most come straight back with their next one.
    let mut answered = 0;
    loop {
        let waited = Instant::now();
        let first = match rx.try_recv() {
            Ok(msg) => msg,
            Err(_) => {
                // Nothing to order meanwhile: settle the batch syncing, then wait for work.
                if let Some(flight) = syncing.take() {
                    answered = settle(&mut ledger, flight, &mut pace, &mut profile)?;
                }
                // `None`: every handle is gone; stop as if asked to.
                rx.blocking_recv().unwrap_or(Msg::Stop)
            }
        };
        let (batch, stop) = gather(first, &mut rx, max_batch, answered);
        profile.gather += waited.elapsed();
        // Metrics (a no-op unless a recorder is installed, as `serve` does).
        metrics::histogram!("tl_group_commit_batch_size").record(batch.len() as f64);
        let pieces = pace.pieces(batch.len());
        profile.batches += 1;
        let mut jobs = batch.into_iter();
        for piece in 0..pieces {
            let n = piece_len(jobs.len(), pieces - piece);
            let piece: Vec<Job> = jobs.by_ref().take(n).collect();
            profile.pieces += 1;
            profile.records += piece.len();
            // Stages 1-4, while the previous batch's fsync runs on its sync thread.
            let started = Instant::now();
            let answers = order_batch(&mut ledger, piece, clock, &mut profile.stages);
            pace.cpu(started.elapsed(), answers.len());
            metrics::histogram!("tl_group_commit_order_seconds")
                .record(started.elapsed().as_secs_f64());
            if let Some(flight) = syncing.take() {
                answered = settle(&mut ledger, flight, &mut pace, &mut profile)?;
            }
            let written = Instant::now();
            let flight = write(&mut ledger, answers)?;
            profile.write += written.elapsed();
            syncing = Some(flight);
        }
        if stop {
            if let Some(flight) = syncing.take() {
                settle(&mut ledger, flight, &mut pace, &mut profile)?;
            }
            profile.print();
            return Ok(ledger);
        }
    }
}

/// How many of `left` jobs the next of `pieces` pieces takes (they differ by one at most).
fn piece_len(left: usize, pieces: usize) -> usize {
    left.div_ceil(pieces.max(1))
}

/// A batch written and syncing on its sync thread; its submitters wait for its settling.
struct InFlight {
    /// The sync thread: gives back the batch, its sync's result and how long the sync took.
    sync: JoinHandle<(Written, Result<(), SyncFailed>, Duration)>,
    /// The batch's answers, handed out once it is durable.
    answers: Vec<Answer>,
}

/// Stage 5, first half: writes the ordered batch (no fsync) and starts its sync thread. If
/// the write fails, every submitter of the batch learns that the sequencer stopped.
fn write<R: DomainRules>(
    ledger: &mut EmbeddedLedger<R>,
    answers: Vec<Answer>,
) -> Result<InFlight, Error> {
    let written = match ledger.write_pending() {
        Ok(w) => w,
        Err(e) => return Err(fail(answers, e)),
    };
    let sync = std::thread::Builder::new()
        .name("tl-sync".into())
        .spawn(move || {
            let started = Instant::now();
            let result = written.sync();
            (written, result, started.elapsed())
        });
    match sync {
        Ok(sync) => Ok(InFlight { sync, answers }),
        Err(e) => Err(fail(
            answers,
            stopped(&format!("cannot start the sync thread: {e}")),
        )),
    }
}

/// Stage 5, second half: waits for the batch's sync, settles it (checkpoints over durable
/// records only), and only then answers its submitters; returns how many. If the sync
/// failed, they learn that the sequencer stopped, and so does the caller.
fn settle<R: DomainRules>(
    ledger: &mut EmbeddedLedger<R>,
    flight: InFlight,
    pace: &mut Pace,
    profile: &mut Profile,
) -> Result<usize, Error> {
    let waited = Instant::now();
    let (written, result, took) = match flight.sync.join() {
        Ok(joined) => joined,
        // A panic while syncing is a bug: pass it on as the sequencer thread's own.
        Err(panic) => std::panic::resume_unwind(panic),
    };
    profile.sync_wait += waited.elapsed();
    profile.sync += took;
    pace.sync(took);
    metrics::histogram!("tl_group_commit_fsync_seconds").record(took.as_secs_f64());
    let published = Instant::now();
    if let Err(e) = ledger.settle(written, result) {
        return Err(fail(flight.answers, e));
    }
    profile.publish += published.elapsed();
    let n = flight.answers.len();
    for (reply, answer) in flight.answers {
        // A submitter that gave up has dropped its receiver: nothing to tell it.
        let _ = reply.send(answer);
    }
    Ok(n)
}

/// Tells every submitter of a batch that storing it failed, and gives back the failure.
fn fail(answers: Vec<Answer>, e: Error) -> Error {
    let why = format!("storing a batch failed ({e}); reopen the ledger");
    for (reply, _) in answers {
        let _ = reply.send(Err(stopped(&why)));
    }
    e
}

/// Running averages of the CPU time per submission and of an fsync, which size the pieces a
/// batch is ordered in: each piece about one fsync's worth of CPU work, so that ordering one
/// piece takes about as long as syncing the one before. A batch whose CPU work is under about
/// 1.5 fsyncs, or of fewer than twice [`Pace::MIN_PIECE`] submissions, is not split.
#[derive(Default)]
struct Pace {
    /// Seconds of stages 1-4 per submission.
    cpu_per_job: f64,
    /// Seconds per batch sync.
    sync: f64,
}

impl Pace {
    /// The weight of the newest observation in the running averages.
    const NEW: f64 = 0.2;

    fn cpu(&mut self, took: Duration, jobs: usize) {
        if jobs > 0 {
            let per_job = took.as_secs_f64() / jobs as f64;
            self.cpu_per_job = average(self.cpu_per_job, per_job);
        }
    }

    fn sync(&mut self, took: Duration) {
        self.sync = average(self.sync, took.as_secs_f64());
    }

    /// The fewest submissions in a piece. Why: each piece pays an fsync, and batch
    /// verification and the fan-out to the cores cost more per submission in small pieces;
    /// under load the CPU time per submission grows, and without a floor the pieces shrank to
    /// a few records each, each paying a whole fsync (BENCHMARKS.md).
    const MIN_PIECE: usize = 256;

    /// How many pieces to order a batch of `jobs` in.
    fn pieces(&self, jobs: usize) -> usize {
        if self.sync <= 0.0 {
            return 1;
        }
        let fsyncs = jobs as f64 * self.cpu_per_job / self.sync;
        let most = (jobs / Self::MIN_PIECE).max(1);
        (fsyncs.round() as usize).clamp(1, most)
    }
}

/// The running average of `old` with `new` (the first observation stands alone).
fn average(old: f64, new: f64) -> f64 {
    if old == 0.0 {
        new
    } else {
        old + Pace::NEW * (new - old)
    }
}

/// Where the sequencer's time went, printed to stderr when it stops if the environment
/// variable `TRIAL_LEDGER_PIPELINE_PROFILE` is set (the timing costs a few clock reads per
/// batch, so it is always taken).
#[derive(Default)]
struct Profile {
    /// Print at the end.
    enabled: bool,
    batches: usize,
    pieces: usize,
    records: usize,
    /// Waiting for and gathering submissions.
    gather: Duration,
    /// Stages 1-4.
    stages: StageTimes,
    /// Writing batches (no fsync).
    write: Duration,
    /// Waiting for a batch's sync thread after ordering (the part of the fsync not overlapped).
    sync_wait: Duration,
    /// The fsyncs themselves, on the sync threads.
    sync: Duration,
    /// Publishing checkpoints after the syncs.
    publish: Duration,
}

impl Profile {
    fn from_env() -> Profile {
        Profile {
            enabled: std::env::var_os("TRIAL_LEDGER_PIPELINE_PROFILE").is_some(),
            ..Profile::default()
        }
    }

    fn print(&self) {
        if !self.enabled {
            return;
        }
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let per = |d: Duration| ms(d) / self.pieces.max(1) as f64;
        eprintln!(
            "pipeline profile: {} records in {} batches, {} pieces ({:.1} records a piece)",
            self.records,
            self.batches,
            self.pieces,
            self.records as f64 / self.pieces.max(1) as f64
        );
        let rows = [
            ("sequencer: gathering submissions", self.gather),
            ("sequencer: 1 decode + batch-verify", self.stages.verify),
            ("sequencer: 2-3 order, validate, hash", self.stages.order),
            ("sequencer: 4 sign seals", self.stages.seal),
            ("sequencer: 5 write (no fsync)", self.write),
            ("sequencer: waiting for the sync", self.sync_wait),
            ("sequencer: checkpoints", self.publish),
            ("sync thread: fdatasync", self.sync),
        ];
        for (what, d) in rows {
            eprintln!("  {what:<40} {:>9.1} ms  {:>7.3} ms a piece", ms(d), per(d));
        }
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
    times: &mut StageTimes,
) -> Vec<Answer> {
    let (bytes, replies): (Vec<Vec<u8>>, Vec<_>) =
        batch.into_iter().map(|j| (j.bytes, j.reply)).unzip();
    let outcomes = ledger.order_batch_timed(&bytes, clock, times);
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
