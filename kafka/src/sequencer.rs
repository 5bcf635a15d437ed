//! The sequencer service on Kafka (DESIGN.md §4 "The sequencer").
//!
//! It is the single writer of the ledger partitions it is assigned. Its work is
//! consume-transform-produce inside Kafka transactions: it consumes signed submissions from
//! intake, validates them (a submission on the wrong intake partition is refused), chains and
//! seals them with the core [`Sequencer`], and produces the records to the ledger topic. In
//! the same transaction it writes the batch's rejections and any due checkpoints, and commits
//! the intake offsets with `send_offsets_to_transaction` and the consumer's group metadata, so
//! records, rejections, checkpoints and consumed positions become visible together or not at
//! all. A writer learns its receipt by reading the ledger, so receipts exist only after the
//! commit.
//!
//! **Assignment.** When the group hands it partitions, the consumer starts from the stable
//! committed intake offsets (librdkafka asks the broker for stable offsets under
//! `read_committed`), and the sequencer rebuilds its state from the committed ledger: chain
//! heads, subjects' back-links and state machines, the registry position, seen submission ids
//! and the Merkle frontiers. It waits for open transactions on the ledger to resolve first, so
//! the records of a predecessor that is still mid-transaction are either committed into the
//! rebuilt state or aborted, never overwritten.
//!
//! **Failures** are classified ([`crate::classify`]): a retriable commit is retried; an abort
//! throws away all uncommitted state (the state is rebuilt from the committed ledger) and
//! rewinds the consumer to the committed offsets; being fenced (a newer producer epoch with
//! the same `transactional.id`, or a newer consumer-group generation) or a fatal error stops
//! the service with a clear message, having committed nothing more. A supervisor restarts it.
//! librdkafka's `send_offsets_to_transaction` can block for ever once the group coordinator is
//! gone (librdkafka issues 5456 and 5511, open as of 2026); a watchdog turns such a stall into
//! a process exit ([`StallAction`]), and the restarted instance fences the stuck transaction.
//!
//! **Scale.** Instances that share the group split the intake partitions. Every instance
//! rebuilds the state of all partitions (the registry in partition 0 and cited records
//! elsewhere are needed to validate any partition), then follows the committed ledger of the
//! partitions it does not sequence. A submission that relies on a registry position or cites
//! a record it has not seen yet waits up to two seconds for it (`FOLLOW_WAIT`), then is judged
//! (and refused if it is still missing).

use crate::read::{self, Stored};
use crate::{classify, Error, FailureClass, KafkaConfig, Rejection};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tl_ledger::checkpoint::Checkpoint;
use tl_ledger::merkle::Frontier;
use tl_ledger::publish::{sequencer_key_name, PublishPolicy};
use tl_ledger::state::{LedgerState, RecordSource};
use tl_ledger::{DomainRules, Outcome, Sequencer, SigningKey};
use tl_schemas::{Record, UtcMicros};

/// How one sequencer instance runs.
#[derive(Clone)]
pub struct SequencerConfig {
    /// The trial's cluster and topics.
    pub kafka: KafkaConfig,
    /// Stable per instance, so a restarted instance fences its predecessor's open transaction
    /// at once instead of waiting for the transaction timeout.
    pub transactional_id: String,
    /// The consumer group of the trial's sequencer instances; the group splits intake
    /// partitions between them, and its generation fences a zombie's offset commits.
    pub group_id: String,
    /// Seals records and signs checkpoints: a key enrolled with the sequencer role.
    pub sealer: SigningKey,
    /// The trial's first root public key (from the trust file); the registry is rebuilt from it.
    pub pinned_root: [u8; 32],
    /// At most this many submissions per transaction.
    pub max_batch: usize,
    /// A transaction stays open at most this long collecting submissions; it commits sooner
    /// when intake runs dry or the batch is full.
    pub commit_interval: Duration,
    /// The broker aborts a transaction left open this long (a stopped or dead sequencer).
    pub transaction_timeout: Duration,
    /// The group drops a member silent this long and gives its partitions to another.
    pub session_timeout: Duration,
    /// When checkpoints are published (every N records per partition, or after a time).
    pub checkpoints: PublishPolicy,
    /// What to do when a transactional call into librdkafka has not returned well past its
    /// timeout (see the module documentation).
    pub on_stall: StallAction,
}

/// What the sequencer does when librdkafka does not return from a transactional call long
/// after the call's own timeout. The call cannot be cancelled, and the thread that made it
/// holds the producer, so nothing in the process can continue the work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StallAction {
    /// Log it and exit the process with this code at once (destructors would wait on the
    /// stuck client). A supervisor restarts the sequencer; the new instance, with the same
    /// transactional id, fences the stuck transaction, which commits nothing.
    ExitProcess(i32),
    /// Only log it (for callers that watch the sequencer's thread themselves).
    LogOnly,
}

/// The exit code of [`StallAction::ExitProcess`] in [`SequencerConfig::new`]'s default.
pub const EXIT_STALLED: i32 = 4;

/// Extra time, beyond the call's own timeout, before a call counts as stalled.
const STALL_GRACE: Duration = Duration::from_secs(30);

/// Watches one blocking librdkafka call: unless dropped (the call returned) within `limit`,
/// it acts per its [`StallAction`]. A thread per guarded call: the calls are one per
/// transaction, far rarer than the cost of a thread.
struct StallGuard {
    /// Dropped to disarm: the watchdog's `recv_timeout` then returns at once.
    disarm: Option<std::sync::mpsc::Sender<()>>,
    /// The watchdog, joined on drop.
    watchdog: Option<std::thread::JoinHandle<()>>,
}

impl StallGuard {
    fn arm(op: &'static str, limit: Duration, action: StallAction) -> Self {
        let (disarm, armed) = std::sync::mpsc::channel::<()>();
        let watchdog = std::thread::Builder::new()
            .name("stall-guard".into())
            .spawn(move || {
                if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = armed.recv_timeout(limit)
                {
                    tracing::error!(
                        op,
                        secs = limit.as_secs(),
                        "librdkafka has not returned from {op} within {} s (librdkafka issues 5456/5511); the open transaction will be fenced by the restarted sequencer",
                        limit.as_secs()
                    );
                    if let StallAction::ExitProcess(code) = action {
                        eprintln!(
                            "error: the Kafka client is stuck in {op} for {} s; exiting (code {code}) so that a supervisor restarts the sequencer",
                            limit.as_secs()
                        );
                        std::process::exit(code);
                    }
                }
            })
            .ok();
        StallGuard {
            disarm: Some(disarm),
            watchdog,
        }
    }
}

impl Drop for StallGuard {
    fn drop(&mut self) {
        drop(self.disarm.take());
        if let Some(w) = self.watchdog.take() {
            let _ = w.join();
        }
    }
}

/// The sequencers' consumer group on intake unless configured otherwise: `<trial>.sequencer`.
pub fn default_group_id(trial: &str) -> String {
    format!("{trial}.sequencer")
}

impl SequencerConfig {
    /// Defaults for `kafka`: transactional id `<trial>.sequencer.0`, group `<trial>.sequencer`,
    /// batches of up to 5,000 submissions or 100 ms, 60 s transaction timeout, 10 s session
    /// timeout, checkpoints every 1,000 records or 60 s.
    pub fn new(kafka: KafkaConfig, sealer: SigningKey, pinned_root: [u8; 32]) -> Self {
        let trial = kafka.trial.as_str().to_string();
        SequencerConfig {
            kafka,
            transactional_id: format!("{trial}.sequencer.0"),
            group_id: default_group_id(&trial),
            sealer,
            pinned_root,
            max_batch: 5_000,
            commit_interval: Duration::from_millis(100),
            transaction_timeout: Duration::from_secs(60),
            session_timeout: Duration::from_secs(10),
            checkpoints: PublishPolicy::default(),
            on_stall: StallAction::ExitProcess(EXIT_STALLED),
        }
    }
}

/// What a run did, for logs and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SequencerStats {
    /// Transactions committed.
    pub transactions: u64,
    /// Records sealed and committed.
    pub records: u64,
    /// Submissions refused (written to rejections) and committed.
    pub rejections: u64,
    /// Resubmissions of recorded ids (nothing written; the writer finds the original).
    pub duplicates: u64,
    /// Transactions aborted and rewound.
    pub aborts: u64,
    /// Checkpoints committed.
    pub checkpoints: u64,
    /// State rebuilds from the committed ledger.
    pub rebuilds: u64,
}

/// The ledger's records held in memory: the record source for duplicates and cited records,
/// and what a rebuild replays. Index = sequence number.
#[derive(Default)]
pub struct MemoryLedger {
    /// Record bytes per partition.
    pub parts: Vec<Vec<Vec<u8>>>,
}

impl RecordSource for MemoryLedger {
    fn record(&self, partition: u32, seq: u64) -> Option<std::sync::Arc<Record>> {
        let bytes = self.parts.get(partition as usize)?.get(seq as usize)?;
        tl_ledger::codec::decode_record(bytes)
            .ok()
            .map(|(r, _)| r.into())
    }
}

/// Records rebalances, so the loop knows its state no longer matches its assignment.
struct RebalanceFlag {
    /// Set by the consumer's rebalance callback (inside `poll`), cleared by the loop.
    changed: AtomicBool,
}

impl ClientContext for RebalanceFlag {}

impl ConsumerContext for RebalanceFlag {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                tracing::info!(partitions = tpl.count(), "intake partitions assigned")
            }
            Rebalance::Revoke(tpl) => {
                tracing::info!(partitions = tpl.count(), "intake partitions revoked")
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
        self.changed.store(true, Ordering::SeqCst);
    }
}

/// The sequencer's state that must match the committed ledger plus the open transaction.
struct Live<R: DomainRules> {
    /// Chains, registry, subjects, seen ids; seals.
    seq: Sequencer<R>,
    /// Every record, committed or in the open transaction.
    store: MemoryLedger,
    /// Merkle frontier per partition over the same records.
    frontiers: Vec<Frontier>,
    /// Size of each partition's last committed checkpoint.
    published: Vec<u64>,
    /// When checkpoints were last published.
    last_round: Instant,
    /// Which partitions this instance sequences (its intake assignment when it rebuilt).
    owned: Vec<bool>,
    /// Follows the committed ledger from where the rebuild ended, for the partitions other
    /// instances sequence: their records (the registry in partition 0, cited records) are
    /// applied before a submission that needs them is judged.
    follower: BaseConsumer,
}

/// The open transaction's bookkeeping.
#[derive(Default)]
struct Txn {
    /// Next intake offset per intake partition consumed in this transaction.
    offsets: BTreeMap<i32, i64>,
    /// Submissions handled.
    handled: usize,
    /// Records sealed.
    records: u64,
    /// Rejections written.
    rejections: u64,
    /// Duplicates seen.
    duplicates: u64,
    /// Checkpoints written: (partition, size).
    checkpoints: Vec<(u32, u64)>,
}

type Producer_ = ThreadedProducer<DefaultProducerContext>;

/// Runs the sequencer until `shutdown` is set (then it commits what it holds, publishes final
/// checkpoints and returns) or a fatal error. `rules` makes a fresh domain-rule state for each
/// rebuild.
pub fn run<R: DomainRules>(
    cfg: &SequencerConfig,
    rules: impl Fn() -> R,
    shutdown: &AtomicBool,
) -> Result<SequencerStats, Error> {
    let k = &cfg.kafka;
    let n = checked_partition_count(k)?;
    let producer = transactional_producer(cfg)?;
    let consumer = intake_consumer(cfg)?;
    tracing::info!(
        trial = k.trial.as_str(),
        transactional_id = %cfg.transactional_id,
        partitions = n,
        "sequencer started"
    );
    let mut session = Session {
        cfg,
        n,
        producer,
        consumer,
        stats: SequencerStats::default(),
        live: None,
        rewind_needed: false,
    };
    while !shutdown.load(Ordering::SeqCst) {
        session.turn(&rules, shutdown)?;
    }
    session.stop()
}

/// The ledger topic's partition count, once the ledger topic is checked for safe settings
/// and intake has as many partitions (intake partition p feeds ledger partition p).
fn checked_partition_count(k: &KafkaConfig) -> Result<u32, Error> {
    let n = crate::topics::partition_count(k, &k.topics.ledger)?.ok_or_else(|| {
        Error::NotInitialised(format!(
            "no ledger topic {} on {}; run `trial-ledger init --kafka` or the demo first",
            k.topics.ledger, k.bootstrap
        ))
    })?;
    crate::topics::check_ledger_topic(k, n)?;
    match crate::topics::partition_count(k, &k.topics.intake)? {
        Some(m) if m == n => Ok(n),
        other => Err(Error::UnsafeTopic {
            topic: k.topics.intake.clone(),
            problems: vec![format!(
                "intake has {} partitions, the ledger {n}: intake partition p must feed ledger partition p",
                other.map_or("no".into(), |m| m.to_string())
            )],
        }),
    }
}

/// The transactional producer (its transactions initialised: an older instance with the same
/// transactional id is fenced).
fn transactional_producer(cfg: &SequencerConfig) -> Result<Producer_, Error> {
    let k = &cfg.kafka;
    let tx_ms = cfg.transaction_timeout.as_millis().to_string();
    let producer: Producer_ = k
        .client()
        .set("transactional.id", &cfg.transactional_id)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        // The broker verifies each transaction's writes (KIP-890): a request sent while the
        // previous transaction's markers are still being written is refused with
        // CONCURRENT_TRANSACTIONS and retried after `retry.backoff.ms`, doubled per retry up
        // to `retry.backoff.max.ms` (librdkafka: 100 and 1,000 ms). The sequencer begins its
        // next transaction right after a commit, so under load it meets this often; retry
        // sooner (librdkafka itself retries AddPartitionsToTxn after 20 ms). Retries stay
        // idempotent: acks, idempotence and the transaction are unchanged.
        .set("retry.backoff.ms", "20")
        .set("retry.backoff.max.ms", "200")
        .set("transaction.timeout.ms", &tx_ms)
        .set("message.timeout.ms", &tx_ms)
        .create()
        .map_err(|e| Error::kafka("producer", e))?;
    init_transactions(&producer, k)?;
    Ok(producer)
}

/// The intake consumer, subscribed, in the sequencers' group (read_committed; offsets are
/// committed only inside transactions).
fn intake_consumer(cfg: &SequencerConfig) -> Result<BaseConsumer<RebalanceFlag>, Error> {
    let k = &cfg.kafka;
    let consumer: BaseConsumer<RebalanceFlag> = k
        .client()
        .set("group.id", &cfg.group_id)
        // Static membership: a restarted instance takes its predecessor's place in the group
        // at once (no wait for the session timeout), and a zombie with the same id is fenced.
        .set("group.instance.id", &cfg.transactional_id)
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set(
            "session.timeout.ms",
            cfg.session_timeout.as_millis().to_string(),
        )
        .set(
            "heartbeat.interval.ms",
            (cfg.session_timeout.as_millis() / 4).max(100).to_string(),
        )
        .set("fetch.wait.max.ms", "20")
        .create_with_context(RebalanceFlag {
            changed: AtomicBool::new(false),
        })
        .map_err(|e| Error::kafka("consumer", e))?;
    consumer
        .subscribe(&[&k.topics.intake])
        .map_err(|e| Error::kafka("subscribe", e))?;
    Ok(consumer)
}

/// A running sequencer: its clients, its state (rebuilt when it is lost) and its counts.
struct Session<'a, R: DomainRules> {
    cfg: &'a SequencerConfig,
    n: u32,
    producer: Producer_,
    consumer: BaseConsumer<RebalanceFlag>,
    stats: SequencerStats,
    /// `None` until rebuilt from the committed ledger (at start, after a rebalance or an
    /// abort).
    live: Option<Live<R>>,
    /// After an abort: rewind intake to the committed offsets once the state is rebuilt.
    rewind_needed: bool,
}

/// A filled transaction, not yet committed.
struct Filled {
    txn: Txn,
    /// How producing went.
    outcome: Result<(), Error>,
    /// The group took partitions away while the transaction was open.
    revoked: bool,
}

impl<R: DomainRules> Session<'_, R> {
    /// One turn: waits briefly for intake (publishing due checkpoints while idle); when a
    /// submission arrives, handles what is fetched in one transaction and commits it, or
    /// aborts and rewinds.
    fn turn(&mut self, rules: &impl Fn() -> R, shutdown: &AtomicBool) -> Result<(), Error> {
        let cfg = self.cfg;
        let polled = self.consumer.poll(Duration::from_millis(100));
        if self
            .consumer
            .context()
            .changed
            .swap(false, Ordering::SeqCst)
        {
            // A new assignment starts from the committed offsets by itself.
            self.live = None;
            self.rewind_needed = false;
        }
        let first = match polled {
            None => {
                if let Some(l) = self.live.as_mut() {
                    if checkpoints_due(cfg, l, false) {
                        commit_checkpoints_only(cfg, &self.producer, l, &mut self.stats)?;
                    }
                }
                return Ok(());
            }
            Some(Err(e)) => {
                if let Some(stop) = consumer_stop(&e) {
                    return Err(stop);
                }
                tracing::warn!(error = %e, "intake poll failed; retrying");
                return Ok(());
            }
            Some(Ok(m)) => m.detach(),
        };
        if self.live.is_none() {
            let owned = owned_partitions(&self.consumer, self.n);
            self.live = Some(rebuild(cfg, self.n, rules, owned)?);
            self.stats.rebuilds += 1;
            if self.rewind_needed {
                rewind(&self.consumer, &cfg.kafka)?;
                self.rewind_needed = false;
                // `first` came from before the rewind; it is fetched again.
                return Ok(());
            }
        }
        self.producer
            .begin_transaction()
            .map_err(|e| Error::kafka("begin_transaction", e))?;
        let filled = self.fill(first, shutdown)?;
        self.settle(filled)
    }

    /// Handles submissions in the open transaction, chunk by chunk, until the batch is full,
    /// intake runs dry, the commit interval passes, shutdown is asked for, or the group
    /// rebalances; then adds the checkpoints that are due.
    fn fill(&mut self, first: OwnedMessage, shutdown: &AtomicBool) -> Result<Filled, Error> {
        let cfg = self.cfg;
        let l = self.live.as_mut().expect("rebuilt before the transaction");
        let (producer, consumer) = (&self.producer, &self.consumer);
        let mut txn = Txn::default();
        let mut chunk: Vec<OwnedMessage> = vec![first];
        let deadline = Instant::now() + cfg.commit_interval;
        let mut revoked = false;
        let mut outcome = Ok(());
        loop {
            // Take what is already fetched, without waiting, into this chunk.
            while chunk.len() < CHUNK && txn.handled + chunk.len() < cfg.max_batch {
                match poll_in_transaction(consumer, producer, Duration::ZERO)? {
                    Some(m) => chunk.push(m),
                    None => break,
                }
            }
            if consumer.context().changed.load(Ordering::SeqCst) {
                if consumer.assignment_lost() {
                    // The group gave our partitions away while we held a transaction open
                    // (we were stopped or cut off past the session timeout): another instance
                    // owns them now. Stop rather than rejoin and write after it.
                    let _ = producer.abort_transaction(Duration::from_secs(5));
                    return Err(Error::Fenced(
                        "this instance lost its intake partitions to the group while a transaction was open; another sequencer instance took over. It committed nothing more and stops; restart it to rejoin".into(),
                    ));
                }
                revoked = true;
                break;
            }
            outcome = handle_chunk(cfg, producer, l, &mut txn, &chunk);
            chunk.clear();
            if outcome.is_err() || txn.handled >= cfg.max_batch || shutdown.load(Ordering::SeqCst) {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            // Intake ran dry for 2 ms: commit now rather than wait out the interval.
            match poll_in_transaction(consumer, producer, left.min(Duration::from_millis(2)))? {
                Some(m) => chunk.push(m),
                None => break,
            }
        }
        if outcome.is_ok() && !revoked && checkpoints_due(cfg, l, false) {
            outcome = write_checkpoints(cfg, producer, l, &mut txn);
        }
        Ok(Filled {
            txn,
            outcome,
            revoked,
        })
    }

    /// Commits a filled transaction and counts it; on failure aborts it and, when that is
    /// recoverable, drops the state so the next turn rebuilds it and rewinds intake.
    fn settle(&mut self, filled: Filled) -> Result<(), Error> {
        let Filled {
            txn,
            outcome,
            revoked,
        } = filled;
        let collected = Instant::now();
        let result = match outcome {
            Err(e) => Err(e),
            Ok(()) if revoked => Err(Error::Kafka {
                op: "rebalance",
                source: rdkafka::error::KafkaError::Canceled,
                class: FailureClass::Abort,
            }),
            Ok(()) => commit(
                &self.producer,
                &self.consumer,
                &self.cfg.kafka,
                &txn,
                self.cfg.on_stall,
            ),
        };
        match result {
            Ok(()) => {
                self.committed(&txn);
                tracing::debug!(
                    records = txn.records,
                    rejections = txn.rejections,
                    commit_ms = collected.elapsed().as_secs_f64() * 1e3,
                    "transaction committed"
                );
                Ok(())
            }
            Err(e) => self.abort(e),
        }
    }

    /// Counts a committed transaction and notes the checkpoints it published.
    fn committed(&mut self, txn: &Txn) {
        let stats = &mut self.stats;
        stats.transactions += 1;
        stats.records += txn.records;
        stats.rejections += txn.rejections;
        stats.duplicates += txn.duplicates;
        stats.checkpoints += txn.checkpoints.len() as u64;
        let l = self.live.as_mut().expect("a transaction was open");
        for (p, size) in &txn.checkpoints {
            l.published[*p as usize] = *size;
        }
        if !txn.checkpoints.is_empty() {
            l.last_round = Instant::now();
        }
    }

    /// Aborts the open transaction after `e`: a recoverable failure rewinds to the committed
    /// state (`Ok`); a fenced or fatal one is returned.
    fn abort(&mut self, e: Error) -> Result<(), Error> {
        let class = match &e {
            Error::Kafka { class, .. } => fatal_cause(&self.producer, *class),
            Error::Fenced(_) => FailureClass::Fenced,
            _ => FailureClass::Fatal,
        };
        match class {
            FailureClass::Abort | FailureClass::Retriable => {
                tracing::warn!(error = %e, "transaction aborted; rewinding to the committed state");
                if let Err(a) = self.producer.abort_transaction(self.cfg.kafka.timeout) {
                    let class = classify(&a);
                    if matches!(class, FailureClass::Fatal | FailureClass::Fenced) {
                        return Err(fenced_or(class, "abort_transaction", a));
                    }
                }
                self.stats.aborts += 1;
                self.live = None;
                self.rewind_needed = true;
                if self
                    .consumer
                    .context()
                    .changed
                    .swap(false, Ordering::SeqCst)
                {
                    self.rewind_needed = false;
                }
                Ok(())
            }
            FailureClass::Fenced | FailureClass::Fatal => {
                let _ = self.producer.abort_transaction(Duration::from_secs(5));
                Err(match e {
                    Error::Kafka { op, source, .. } => {
                        match (
                            fenced_or(class, op, source),
                            self.producer.client().fatal_error(),
                        ) {
                            // Name the cause librdkafka recorded: `source` may only say "Fatal".
                            (Error::Fenced(m), Some((_, why))) => {
                                Error::Fenced(format!("{m} (librdkafka: {why})"))
                            }
                            (e, _) => e,
                        }
                    }
                    other => other,
                })
            }
        }
    }

    /// Shutdown: publishes final checkpoints of partitions that grew, then leaves the group.
    fn stop(mut self) -> Result<SequencerStats, Error> {
        if let Some(l) = self.live.as_mut() {
            if checkpoints_due(self.cfg, l, true) {
                commit_checkpoints_only(self.cfg, &self.producer, l, &mut self.stats)?;
            }
        }
        self.consumer.unsubscribe();
        let _ = self.producer.flush(self.cfg.kafka.timeout);
        tracing::info!(stats = ?self.stats, "sequencer stopped");
        Ok(self.stats)
    }
}

/// Polls intake inside an open transaction: a message, or `None` when none came within
/// `wait` or the poll failed (logged; the transaction goes on). A poll error that means this
/// instance must stop aborts the transaction and is returned.
fn poll_in_transaction(
    consumer: &BaseConsumer<RebalanceFlag>,
    producer: &Producer_,
    wait: Duration,
) -> Result<Option<OwnedMessage>, Error> {
    match consumer.poll(wait) {
        None => Ok(None),
        Some(Ok(m)) => Ok(Some(m.detach())),
        Some(Err(e)) => {
            if let Some(stop) = consumer_stop(&e) {
                let _ = producer.abort_transaction(Duration::from_secs(5));
                return Err(stop);
            }
            tracing::warn!(error = %e, "intake poll failed inside a transaction");
            Ok(None)
        }
    }
}

/// Refines a `Fatal` class with the producer's recorded fatal error. Once librdkafka has
/// raised a fatal error, every later call (a `send`, say) fails with the generic
/// `Local: Fatal error`; only `fatal_error()` still says why. When the cause is fencing (a
/// newer instance bumped the producer epoch), the instance must stop as fenced, not as broken:
/// a supervisor treats the two differently.
fn fatal_cause(producer: &Producer_, class: FailureClass) -> FailureClass {
    if class != FailureClass::Fatal {
        return class;
    }
    match producer.client().fatal_error() {
        Some((code, _)) if crate::is_fencing_code(code) => FailureClass::Fenced,
        _ => class,
    }
}

fn fenced_or(class: FailureClass, op: &'static str, source: rdkafka::error::KafkaError) -> Error {
    if class == FailureClass::Fenced {
        Error::Fenced(format!(
            "{op}: {source}; another sequencer instance took over this trial's partitions. \
             This instance committed nothing more and stops; restart it to rejoin"
        ))
    } else {
        Error::Kafka { op, source, class }
    }
}

/// A consumer error the service cannot go on from: librdkafka's fatal consumer errors (a
/// static member fenced by another with the same `group.instance.id`, seen when a group
/// coordinator fails over) and fencing. Other consumer errors are reports the client recovers
/// from by itself. The service stops, committing nothing more; a supervisor restarts it.
fn consumer_stop(e: &rdkafka::error::KafkaError) -> Option<Error> {
    let fatal = matches!(e, rdkafka::error::KafkaError::MessageConsumptionFatal(_));
    if fatal || classify(e) == FailureClass::Fenced {
        Some(Error::Fenced(format!(
            "the consumer cannot go on ({e}); this instance committed nothing more and stops; restart it to rejoin"
        )))
    } else {
        None
    }
}

/// `init_transactions`, retried while the transaction coordinator is still being elected.
fn init_transactions(producer: &Producer_, k: &KafkaConfig) -> Result<(), Error> {
    let deadline = Instant::now() + k.timeout;
    loop {
        match producer.init_transactions(k.timeout) {
            Ok(()) => return Ok(()),
            Err(e) => {
                let class = classify(&e);
                if class == FailureClass::Fenced
                    || class == FailureClass::Fatal
                    || Instant::now() > deadline
                {
                    return Err(fenced_or(class, "init_transactions", e));
                }
                tracing::warn!(error = %e, "init_transactions failed; retrying");
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
}

/// Rebuilds the state of every partition from the committed ledger (and the checkpoint sizes
/// from the checkpoints topic), after waiting for open transactions to resolve.
fn rebuild<R: DomainRules>(
    cfg: &SequencerConfig,
    n: u32,
    rules: &impl Fn() -> R,
    owned: Vec<bool>,
) -> Result<Live<R>, Error> {
    let k = &cfg.kafka;
    let started = Instant::now();
    let wait = cfg.transaction_timeout * 2 + Duration::from_secs(10);
    let ends = read::stable_ends(k, &k.topics.ledger, n, wait)?;
    let parts = read::read_range(k, &k.topics.ledger, &vec![0; n as usize], &ends)?;
    if parts.first().is_none_or(|p| p.is_empty()) {
        return Err(Error::NotInitialised(format!(
            "the ledger topic {} has no bootstrap records; run `trial-ledger init --kafka` first",
            k.topics.ledger
        )));
    }
    let offsets: Vec<Vec<i64>> = parts
        .iter()
        .map(|p| p.iter().map(|m| m.offset).collect())
        .collect();
    let store = MemoryLedger {
        parts: parts
            .into_iter()
            .map(|p| p.into_iter().map(|m| m.value).collect())
            .collect(),
    };
    let state = LedgerState::new(k.trial.clone(), cfg.pinned_root, rules());
    let mut seq = Sequencer::new(state, cfg.sealer.clone());
    // Partition 0 first: it fixes the partition count and the registry the others rely on.
    for (p, records) in store.parts.iter().enumerate() {
        for (i, bytes) in records.iter().enumerate() {
            seq.replay(bytes, &store)
                .map_err(|e| Error::CorruptLedger {
                    partition: p as u32,
                    offset: offsets[p][i],
                    detail: e.to_string(),
                })?;
        }
    }
    if seq.state().partition_count() != n {
        return Err(Error::UnsafeTopic {
            topic: k.topics.ledger.clone(),
            problems: vec![format!(
                "{n} partitions, the trial has {}",
                seq.state().partition_count()
            )],
        });
    }
    let frontiers = (0..n)
        .map(|p| {
            Frontier::from_leaves(
                seq.state()
                    .partition(p)
                    .map(|s| s.hashes.clone())
                    .unwrap_or_default(),
            )
        })
        .collect();
    let published = published_sizes(k, n, wait)?;
    let records: usize = store.parts.iter().map(Vec::len).sum();
    tracing::info!(
        records,
        ms = started.elapsed().as_millis() as u64,
        "state rebuilt from the committed ledger"
    );
    let follower: BaseConsumer = k
        .committed_reader()
        .set("fetch.wait.max.ms", "10")
        .create()
        .map_err(|e| Error::kafka("follower", e))?;
    let mut tpl = TopicPartitionList::new();
    for (p, &end) in ends.iter().enumerate() {
        if !owned.get(p).copied().unwrap_or(false) {
            tpl.add_partition_offset(&k.topics.ledger, p as i32, Offset::Offset(end))
                .map_err(|e| Error::kafka("follower", e))?;
        }
    }
    follower
        .assign(&tpl)
        .map_err(|e| Error::kafka("follower", e))?;
    Ok(Live {
        seq,
        store,
        frontiers,
        published,
        last_round: Instant::now(),
        owned,
        follower,
    })
}

/// How long a submission waits for a record it needs from a partition another instance
/// sequences (a cited record, or the registry position it relies on) before it is judged
/// without it (and refused).
const FOLLOW_WAIT: Duration = Duration::from_secs(2);

/// Applies the committed records of partitions other instances sequence, as far as the
/// follower has them, waiting up to `wait` while `needed` says something is still missing.
fn follow<R: DomainRules>(
    l: &mut Live<R>,
    wait: Duration,
    needed: &dyn Fn(&Live<R>) -> bool,
) -> Result<(), Error> {
    let deadline = Instant::now() + wait;
    loop {
        let missing = needed(l);
        let timeout = if missing {
            deadline.saturating_duration_since(Instant::now())
        } else {
            Duration::ZERO
        };
        let Some(m) = l.follower.poll(timeout.min(Duration::from_millis(20))) else {
            if !missing || Instant::now() >= deadline {
                return Ok(());
            }
            continue;
        };
        let m = match m {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "ledger follower: consumer error");
                continue;
            }
        };
        let p = m.partition() as usize;
        let bytes = m.payload().unwrap_or_default().to_vec();
        let offset = m.offset();
        drop(m);
        if l.owned.get(p).copied().unwrap_or(true) {
            continue;
        }
        let Ok((record, body_len)) = tl_ledger::codec::decode_record(&bytes) else {
            return Err(Error::CorruptLedger {
                partition: p as u32,
                offset,
                detail: "a record that does not decode".into(),
            });
        };
        let have = l.store.parts[p].len() as u64;
        if record.body.seq < have {
            continue;
        }
        l.seq
            .replay(&bytes, &l.store)
            .map_err(|e| Error::CorruptLedger {
                partition: p as u32,
                offset,
                detail: e.to_string(),
            })?;
        l.frontiers[p].push(tl_schemas::record_hash(&bytes[..body_len]));
        l.store.parts[p].push(bytes);
    }
}

/// True while a submission needs a record of a partition this instance does not sequence
/// that it has not seen yet: a cited record, or registry positions it relies on.
fn needs_followed<R: DomainRules>(l: &Live<R>, s: &tl_schemas::SignedSubmission) -> bool {
    let sub = &s.submission;
    let not_owned = |p: u32| !l.owned.get(p as usize).copied().unwrap_or(true);
    if sub.min_registry_seq > l.seq.state().registry().position() && not_owned(0) {
        return true;
    }
    sub.cites
        .iter()
        .any(|c| not_owned(c.partition) && c.seq >= l.seq.state().len(c.partition))
}

/// The size of each partition's last committed checkpoint.
fn published_sizes(k: &KafkaConfig, n: u32, wait: Duration) -> Result<Vec<u64>, Error> {
    let mut sizes = vec![0u64; n as usize];
    let Some(m) = crate::topics::partition_count(k, &k.topics.checkpoints)? else {
        return Ok(sizes);
    };
    let parts = read::read_all(k, &k.topics.checkpoints, m.min(n), wait)?;
    for (p, msgs) in parts.iter().enumerate() {
        if let Some(last) = msgs.last() {
            sizes[p] = checkpoint_size(last).unwrap_or(0);
        }
    }
    Ok(sizes)
}

fn checkpoint_size(m: &Stored) -> Option<u64> {
    let text = std::str::from_utf8(&m.value).ok()?;
    let signed = tl_ledger::checkpoint::SignedCheckpoint::parse(text).ok()?;
    Some(signed.unverified().size)
}

/// The ledger partitions this instance sequences: its intake assignment.
fn owned_partitions(consumer: &BaseConsumer<RebalanceFlag>, n: u32) -> Vec<bool> {
    let mut owned = vec![false; n as usize];
    if let Ok(a) = consumer.assignment() {
        for e in a.elements() {
            if let Some(o) = owned.get_mut(e.partition() as usize) {
                *o = true;
            }
        }
    }
    owned
}

/// Seeks every assigned intake partition back to its committed offset.
fn rewind(consumer: &BaseConsumer<RebalanceFlag>, k: &KafkaConfig) -> Result<(), Error> {
    let assignment = consumer
        .assignment()
        .map_err(|e| Error::kafka("assignment", e))?;
    let committed = consumer
        .committed_offsets(assignment, k.timeout)
        .map_err(|e| Error::kafka("committed_offsets", e))?;
    for e in committed.elements() {
        let to = match e.offset() {
            Offset::Offset(o) => Offset::Offset(o),
            _ => Offset::Beginning,
        };
        consumer
            .seek(e.topic(), e.partition(), to, k.timeout)
            .map_err(|e| Error::kafka("seek", e))?;
    }
    Ok(())
}

/// Sends one message inside the open transaction, waiting while the local queue is full.
fn send(
    producer: &Producer_,
    topic: &str,
    partition: u32,
    key: &[u8],
    value: &[u8],
) -> Result<(), Error> {
    let mut record = BaseRecord::<[u8], [u8]>::to(topic)
        .partition(partition as i32)
        .key(key)
        .payload(value);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::QueueFull,
                ),
                r,
            )) => {
                record = r;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((e, _)) => return Err(Error::kafka("send", e)),
        }
    }
}

/// Most submissions handed to one batch signature verification.
const CHUNK: usize = 1024;

/// Validates, seals and produces a chunk of submissions (or their rejections) in the open
/// transaction, in order. The author signatures of the chunk are verified together first
/// (`Sequencer::preverify`, batch verification on every core), then each submission is
/// ordered with its verdict.
fn handle_chunk<R: DomainRules>(
    cfg: &SequencerConfig,
    producer: &Producer_,
    l: &mut Live<R>,
    txn: &mut Txn,
    chunk: &[OwnedMessage],
) -> Result<(), Error> {
    let decoded: Vec<Option<tl_schemas::SignedSubmission>> = chunk
        .iter()
        .map(|m| tl_ledger::codec::decode_submission(m.payload().unwrap_or_default()).ok())
        .collect();
    let batch: Vec<tl_schemas::SignedSubmission> = decoded.iter().flatten().cloned().collect();
    // Other instances' partitions: apply what they committed, waiting briefly for what a
    // submission of this chunk needs.
    follow(l, FOLLOW_WAIT, &|l: &Live<R>| {
        batch.iter().any(|s| needs_followed(l, s))
    })?;
    let mut verdicts = l.seq.preverify(&batch).into_iter();
    drop(batch);
    for (m, signed) in chunk.iter().zip(decoded) {
        let ip = m.partition();
        let bytes = m.payload().unwrap_or_default();
        let now = UtcMicros::now();
        txn.handled += 1;
        txn.offsets.insert(ip, m.offset() + 1);
        let outcome = match signed {
            // Undecodable bytes: `order` refuses them with the decoder's reason.
            None => l.seq.order(bytes, Some(ip as u32), now, &l.store),
            Some(signed) => {
                let verdict = verdicts
                    .next()
                    .unwrap_or(tl_ledger::state::AuthorSignature::VerifyNow);
                l.seq
                    .order_decoded_with(signed, Some(ip as u32), now, &l.store, verdict)
            }
        }
        .map_err(Error::Ledger)?;
        emit(cfg, producer, l, txn, m, now, outcome)?;
    }
    Ok(())
}

/// Produces what ordering one submission gave: its record, or its rejection.
fn emit<R: DomainRules>(
    cfg: &SequencerConfig,
    producer: &Producer_,
    l: &mut Live<R>,
    txn: &mut Txn,
    m: &OwnedMessage,
    now: UtcMicros,
    outcome: Outcome,
) -> Result<(), Error> {
    let k = &cfg.kafka;
    let ip = m.partition();
    let bytes = m.payload().unwrap_or_default();
    match outcome {
        Outcome::Sealed(s) => {
            let p = s.record.body.partition;
            let id = s.record.body.submission.submission.submission_id;
            send(producer, &k.topics.ledger, p, &id.0, &s.bytes)?;
            l.frontiers[p as usize].push(s.hash);
            l.store.parts[p as usize].push(s.bytes);
            txn.records += 1;
        }
        Outcome::Duplicate(_) => txn.duplicates += 1,
        Outcome::Refused(r) => {
            let submission_id = tl_ledger::codec::decode_submission(bytes)
                .ok()
                .map(|s| s.submission.submission_id.to_hex());
            let rejection = Rejection {
                version: 1,
                submission_id,
                reason: r.reason.code().to_string(),
                detail: r.detail.clone(),
                intake_partition: ip as u32,
                intake_offset: m.offset(),
                refused_at_micros: now.0,
                bytes_hex: hex::encode(bytes),
            };
            tracing::info!(reason = %rejection.reason, detail = %rejection.detail, "submission refused");
            let key = rejection.submission_id.clone().unwrap_or_default();
            send(
                producer,
                &k.topics.rejections,
                ip as u32,
                key.as_bytes(),
                &rejection.to_json(),
            )?;
            txn.rejections += 1;
        }
    }
    Ok(())
}

/// True when some partition grew since its last checkpoint and the policy (or `closing`)
/// says publish.
fn checkpoints_due<R: DomainRules>(cfg: &SequencerConfig, l: &Live<R>, closing: bool) -> bool {
    let grown = l
        .frontiers
        .iter()
        .zip(&l.published)
        .map(|(f, &p)| f.size().saturating_sub(p));
    let max = grown.clone().max().unwrap_or(0);
    let any = max > 0;
    any && (closing
        || max >= cfg.checkpoints.every_records
        || l.last_round.elapsed() >= cfg.checkpoints.every)
}

/// Writes a signed checkpoint of every partition that grew, in the open transaction.
fn write_checkpoints<R: DomainRules>(
    cfg: &SequencerConfig,
    producer: &Producer_,
    l: &mut Live<R>,
    txn: &mut Txn,
) -> Result<(), Error> {
    let k = &cfg.kafka;
    let key_name = sequencer_key_name(&k.trial);
    for (p, f) in l.frontiers.iter().enumerate() {
        if f.size() <= l.published[p] {
            continue;
        }
        let note = Checkpoint::for_partition(&k.trial, p as u32, f.size(), f.root())
            .sign(&key_name, &cfg.sealer)
            .map_err(|e| Error::Invalid(format!("cannot sign a checkpoint: {e}")))?;
        send(
            producer,
            &k.topics.checkpoints,
            p as u32,
            &f.size().to_be_bytes(),
            note.as_bytes(),
        )?;
        txn.checkpoints.push((p as u32, f.size()));
    }
    Ok(())
}

/// A transaction with checkpoints only (idle time or shutdown).
fn commit_checkpoints_only<R: DomainRules>(
    cfg: &SequencerConfig,
    producer: &Producer_,
    l: &mut Live<R>,
    stats: &mut SequencerStats,
) -> Result<(), Error> {
    let k = &cfg.kafka;
    producer
        .begin_transaction()
        .map_err(|e| Error::kafka("begin_transaction", e))?;
    let mut txn = Txn::default();
    let written = write_checkpoints(cfg, producer, l, &mut txn).and_then(|()| {
        drain(producer, k.timeout);
        producer
            .commit_transaction(k.timeout)
            .map_err(|e| Error::kafka("commit_transaction", e))
    });
    match written {
        Ok(()) => {
            for (p, size) in &txn.checkpoints {
                l.published[*p as usize] = *size;
            }
            stats.checkpoints += txn.checkpoints.len() as u64;
            stats.transactions += 1;
            l.last_round = Instant::now();
            Ok(())
        }
        Err(e) => {
            let _ = producer.abort_transaction(k.timeout);
            if e.is_fatal() {
                Err(e)
            } else {
                // Checkpoints are retried at the next round.
                tracing::warn!(error = %e, "checkpoint transaction aborted");
                l.last_round = Instant::now();
                Ok(())
            }
        }
    }
}

/// Waits (up to `timeout`) until the producer's background thread has seen every message of
/// the transaction acknowledged. `commit_transaction` flushes too, but its flush polls for
/// events that the background thread usually takes first, and then sleeps a full 100 ms poll
/// interval: draining here first makes a small transaction commit in milliseconds.
fn drain(producer: &Producer_, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while producer.in_flight_count() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Commits the intake offsets and the transaction; a retriable commit failure is retried.
fn commit(
    producer: &Producer_,
    consumer: &BaseConsumer<RebalanceFlag>,
    k: &KafkaConfig,
    txn: &Txn,
    on_stall: StallAction,
) -> Result<(), Error> {
    if !txn.offsets.is_empty() {
        let mut tpl = TopicPartitionList::new();
        for (&p, &o) in &txn.offsets {
            tpl.add_partition_offset(&k.topics.intake, p, Offset::Offset(o))
                .map_err(|e| Error::kafka("offsets", e))?;
        }
        let meta = consumer.group_metadata().ok_or_else(|| Error::Kafka {
            op: "group_metadata",
            source: rdkafka::error::KafkaError::Canceled,
            class: FailureClass::Abort,
        })?;
        let guard = StallGuard::arm(
            "send_offsets_to_transaction",
            k.timeout + STALL_GRACE,
            on_stall,
        );
        let sent = producer.send_offsets_to_transaction(&tpl, &meta, k.timeout);
        drop(guard);
        sent.map_err(|e| Error::kafka("send_offsets_to_transaction", e))?;
    }
    drain(producer, k.timeout);
    let mut tries = 0;
    loop {
        match producer.commit_transaction(k.timeout) {
            Ok(()) => return Ok(()),
            Err(e) if classify(&e) == FailureClass::Retriable && tries < 5 => {
                tries += 1;
                tracing::warn!(error = %e, "commit failed; retrying");
            }
            Err(e) => return Err(Error::kafka("commit_transaction", e)),
        }
    }
}

/// The sequencer's Kafka work without its crypto and rules, for benchmarks: reads intake in
/// the sequencer's consumer group with its settings (read_committed, static membership) and
/// copies each message, as it is, to the ledger topic's same partition with the sequencer's
/// transactional producer (idempotent, acks=all, the same linger), committing the consumed
/// offsets in each transaction and each transaction when `max_batch` messages are in or
/// `commit_interval` has passed, as the sequencer does. Returns once `n` messages are
/// committed, with the time from the first message read; `copied` counts the messages
/// committed so far (a caller can send one first and wait for it, so that the group has been
/// joined before it starts a clock).
pub fn raw_copy(
    cfg: &SequencerConfig,
    n: usize,
    timeout: Duration,
    copied_so_far: &std::sync::atomic::AtomicUsize,
) -> Result<Duration, Error> {
    let k = &cfg.kafka;
    let producer = transactional_producer(cfg)?;
    let consumer = intake_consumer(cfg)?;
    let deadline = Instant::now() + timeout;
    let mut copied = 0;
    let mut started = None;
    while copied < n {
        if Instant::now() > deadline {
            return Err(Error::Timeout {
                what: format!("copying {n} messages ({copied} copied)"),
                secs: timeout.as_secs(),
                bootstrap: k.bootstrap.clone(),
            });
        }
        let Some(first) = poll_in_transaction(&consumer, &producer, Duration::from_millis(100))?
        else {
            continue;
        };
        started.get_or_insert_with(Instant::now);
        producer
            .begin_transaction()
            .map_err(|e| Error::kafka("begin_transaction", e))?;
        let mut txn = Txn::default();
        let batch_end = Instant::now() + cfg.commit_interval;
        let mut next = Some(first);
        while let Some(m) = next {
            let mut r = BaseRecord::<[u8], [u8]>::to(&k.topics.ledger)
                .partition(m.partition())
                .payload(m.payload().unwrap_or_default());
            if let Some(key) = m.key() {
                r = r.key(key);
            }
            producer.send(r).map_err(|(e, _)| Error::kafka("send", e))?;
            txn.offsets.insert(m.partition(), m.offset() + 1);
            txn.handled += 1;
            if txn.handled >= cfg.max_batch || Instant::now() > batch_end {
                break;
            }
            let wait = if copied + txn.handled >= n {
                Duration::ZERO
            } else {
                Duration::from_millis(1)
            };
            next = poll_in_transaction(&consumer, &producer, wait)?;
        }
        commit(&producer, &consumer, k, &txn, cfg.on_stall)?;
        copied += txn.handled;
        copied_so_far.store(copied, Ordering::SeqCst);
    }
    Ok(started.map_or(Duration::ZERO, |s| s.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_guard_dropped_in_time_disarms_at_once() {
        // Were dropping not to disarm it, the drop would wait out the 10 s limit and then
        // exit the test process with code 4.
        let started = std::time::Instant::now();
        let guard = StallGuard::arm(
            "test",
            Duration::from_secs(10),
            StallAction::ExitProcess(EXIT_STALLED),
        );
        drop(guard);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_stall_guard_that_only_logs_lets_the_call_finish() {
        let guard = StallGuard::arm("test", Duration::from_millis(20), StallAction::LogOnly);
        std::thread::sleep(Duration::from_millis(100));
        drop(guard);
    }
}
