//! Writers: produce signed submissions to intake, on the subject's partition (FORMAT.md §6,
//! set explicitly, never by a client partitioner), and learn their receipts by reading the
//! ledger for their submission id, or their refusal from the rejections topic.
//!
//! Resubmitting an id that is already in the ledger returns its original record: the
//! sequencer writes nothing for it, and the writer finds the original when it reads the
//! ledger.
//!
//! **Pipelining.** [`Writer::begin`] sends a submission and returns a [`Ticket`] at once; up
//! to [`Writer::window`] submissions are in flight, and `begin` waits for verdicts only when
//! the window is full. Verdicts are matched as the ledger and rejections topics are read, in
//! whatever order they arrive; a caller awaits one ([`Writer::verdict`]), takes those that
//! have arrived ([`Writer::ready`]) or awaits all ([`Writer::finish`]). Each submission is
//! judged on its own merits by the sequencer: a refusal in the middle of a window does not
//! hold back or fail the submissions after it, even of the same subject, and each gets its
//! own verdict. The producer is idempotent (acks=all, at most five requests in flight per
//! partition), so submissions reach each intake partition once each and in the order they
//! were begun, and the sequencer records them in that order.

use crate::read;
use crate::{Error, KafkaConfig, Rejection};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use tl_ledger::Receipt;
use tl_schemas::{encode, partition_of, Hash32, Record, SignedSubmission, SubmissionId};

/// What became of a submission.
#[derive(Clone, Debug)]
pub enum Verdict {
    /// It is (or already was) in the ledger.
    Recorded {
        /// The receipt.
        receipt: Receipt,
        /// The record.
        record: Box<Record>,
        /// The record's bytes as stored.
        bytes: Vec<u8>,
        /// Its hash.
        hash: Hash32,
    },
    /// The sequencer refused it.
    Refused(Rejection),
}

/// Produces submissions to intake and waits for their verdicts.
pub struct Writer {
    /// Topics and cluster.
    cfg: KafkaConfig,
    /// Idempotent, acks=all. A `BaseProducer`, polled by `send` and `flush` themselves, so a
    /// flush returns as soon as the broker acknowledged (a threaded producer's poll interval
    /// would add up to 100 ms to every receipt).
    producer: BaseProducer,
    /// The trial's partition count (from the ledger topic).
    partitions: u32,
    /// Follows the ledger and rejections.
    watcher: Watcher,
    /// How many submissions may be in flight (sent, verdict not yet read).
    window: usize,
    /// How long `begin` waits for room in a full window, and `submit` for its verdict.
    patience: Duration,
    /// Submissions in flight, by id (an id may be in flight more than once).
    in_flight: HashMap<SubmissionId, Vec<Pending>>,
    /// How many are in flight in all.
    in_flight_count: usize,
    /// Verdicts read and not yet taken, by ticket number.
    done: BTreeMap<u64, (Ticket, Verdict)>,
    /// The next ticket's number.
    next_ticket: u64,
}

/// A submission begun with [`Writer::begin`]: what to await its verdict with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    /// Numbered from 0 in the order submissions were begun on this writer.
    pub number: u64,
    /// The submission's id.
    pub id: SubmissionId,
    /// The intake partition it was sent to (the subject's).
    pub partition: u32,
    /// When it was begun.
    pub begun: Instant,
}

/// A submission in flight: its ticket and its bytes (a refusal is matched by its bytes, so an
/// earlier refusal of a differently signed copy of the same id is not taken for this one's).
struct Pending {
    /// The ticket handed out.
    ticket: Ticket,
    /// `hex(encode(signed))`, as a rejection carries it.
    bytes_hex: String,
}

/// The default window of a writer: enough to keep the sequencer's batches full.
pub const DEFAULT_WINDOW: usize = 1024;

impl Writer {
    /// Connects to the trial's topics; the watcher starts reading the ledger from the
    /// beginning, so any earlier record of a resubmitted id is found.
    pub fn connect(cfg: &KafkaConfig) -> Result<Self, Error> {
        let partitions =
            crate::topics::partition_count(cfg, &cfg.topics.intake)?.ok_or_else(|| {
                Error::NotInitialised(format!(
                    "no intake topic {} on {}; run `trial-ledger init --kafka` or the demo first",
                    cfg.topics.intake, cfg.bootstrap
                ))
            })?;
        let producer = cfg
            .idempotent_producer()
            .create()
            .map_err(|e| Error::kafka("producer", e))?;
        let watcher = Watcher::new(cfg, partitions)?;
        Ok(Writer {
            cfg: cfg.clone(),
            producer,
            partitions,
            watcher,
            window: DEFAULT_WINDOW,
            patience: Duration::from_secs(120),
            in_flight: HashMap::new(),
            in_flight_count: 0,
            done: BTreeMap::new(),
            next_ticket: 0,
        })
    }

    /// Sets how many submissions may be in flight at once (at least 1).
    pub fn set_window(&mut self, window: usize) {
        self.window = window.max(1);
    }

    /// How many submissions may be in flight at once.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Sets how long [`Writer::begin`] waits for room in a full window and
    /// [`Writer::submit`]-style waits without their own timeout give up (default 120 s).
    pub fn set_patience(&mut self, patience: Duration) {
        self.patience = patience;
    }

    /// How many submissions are in flight (begun, verdict not yet read).
    pub fn in_flight(&self) -> usize {
        self.in_flight_count
    }

    /// Sends a submission without waiting for its verdict and returns its ticket. When the
    /// window is full, first reads verdicts until there is room (they are kept for
    /// [`Writer::verdict`], [`Writer::ready`] and [`Writer::finish`]). An id already read in
    /// the ledger is not sent again: its verdict is the original record, ready at once.
    pub fn begin(&mut self, signed: &SignedSubmission) -> Result<Ticket, Error> {
        let deadline = Instant::now() + self.patience;
        while self.in_flight_count >= self.window {
            if Instant::now() > deadline {
                return Err(self.timeout("room in the writer's window", self.patience));
            }
            self.pump_verdicts(Duration::from_millis(50))?;
        }
        let id = signed.submission.submission_id;
        let partition = partition_of(
            &signed.submission.trial_id,
            &signed.submission.subject,
            self.partitions,
        );
        let ticket = Ticket {
            number: self.next_ticket,
            id,
            partition,
            begun: Instant::now(),
        };
        self.next_ticket += 1;
        if let Some(v) = self.watcher.recorded(&id) {
            self.done.insert(ticket.number, (ticket.clone(), v));
            return Ok(ticket);
        }
        self.send(signed)?;
        self.in_flight.entry(id).or_default().push(Pending {
            ticket: ticket.clone(),
            bytes_hex: hex::encode(encode(signed)),
        });
        self.in_flight_count += 1;
        Ok(ticket)
    }

    /// Awaits one begun submission's verdict (up to `timeout`), and takes it: a ticket's
    /// verdict is handed out once, by this, [`Writer::ready`] or [`Writer::finish`].
    pub fn verdict(&mut self, ticket: &Ticket, timeout: Duration) -> Result<Verdict, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((_, v)) = self.done.remove(&ticket.number) {
                return Ok(v);
            }
            if !self.is_in_flight(ticket) {
                return Err(Error::Invalid(format!(
                    "ticket {} (submission {}) is not in flight on this writer, or its verdict was taken already",
                    ticket.number,
                    ticket.id.to_hex()
                )));
            }
            if Instant::now() > deadline {
                return Err(self.timeout(
                    &format!(
                        "waiting for the sequencer's verdict on submission {} (is `trial-ledger sequencer` running?)",
                        ticket.id.to_hex()
                    ),
                    timeout,
                ));
            }
            self.pump_verdicts(Duration::from_millis(50))?;
        }
    }

    /// The verdicts that have arrived and were not taken yet, in ticket order, waiting up to
    /// `wait` for one when none has.
    pub fn ready(&mut self, wait: Duration) -> Result<Vec<(Ticket, Verdict)>, Error> {
        if self.done.is_empty() && self.in_flight_count > 0 {
            self.pump_verdicts(wait)?;
        }
        Ok(std::mem::take(&mut self.done).into_values().collect())
    }

    /// Awaits every submission in flight (up to `timeout` in all) and returns every verdict
    /// not taken yet, in ticket order (the order the submissions were begun).
    pub fn finish(&mut self, timeout: Duration) -> Result<Vec<(Ticket, Verdict)>, Error> {
        self.flush()?;
        let deadline = Instant::now() + timeout;
        while self.in_flight_count > 0 {
            if Instant::now() > deadline {
                return Err(self.timeout(
                    &format!(
                        "waiting for the sequencer's verdicts on {} submissions (is `trial-ledger sequencer` running?)",
                        self.in_flight_count
                    ),
                    timeout,
                ));
            }
            self.pump_verdicts(Duration::from_millis(50))?;
        }
        Ok(std::mem::take(&mut self.done).into_values().collect())
    }

    fn is_in_flight(&self, ticket: &Ticket) -> bool {
        self.in_flight
            .get(&ticket.id)
            .is_some_and(|v| v.iter().any(|p| p.ticket.number == ticket.number))
    }

    /// Reads the ledger and rejections (waiting up to `wait` for the first message) and moves
    /// every submission in flight whose verdict has been read to the verdicts ready.
    fn pump_verdicts(&mut self, wait: Duration) -> Result<(), Error> {
        self.producer.poll(Duration::ZERO);
        self.watcher.pump(wait)?;
        self.match_verdicts();
        Ok(())
    }

    /// Matches the submissions in flight against what the watcher has read (also what a
    /// caller read through [`Writer::watcher`]). A scan of the window: it is bounded by the
    /// window, and costs a hash look-up per submission.
    fn match_verdicts(&mut self) {
        let w = &self.watcher;
        let done = &mut self.done;
        let mut settled = 0;
        self.in_flight.retain(|id, pending| {
            if w.records.contains_key(id) {
                if let Some(v) = w.recorded(id) {
                    for p in pending.drain(..) {
                        done.insert(p.ticket.number, (p.ticket, v.clone()));
                        settled += 1;
                    }
                }
            } else if w.rejections.contains_key(id) {
                pending.retain(
                    |p| match w.rejection_with(id, p.ticket.partition, &p.bytes_hex) {
                        Some(r) => {
                            done.insert(p.ticket.number, (p.ticket.clone(), Verdict::Refused(r)));
                            settled += 1;
                            false
                        }
                        None => true,
                    },
                );
            }
            !pending.is_empty()
        });
        self.in_flight_count -= settled;
    }

    fn timeout(&self, what: &str, after: Duration) -> Error {
        Error::Timeout {
            what: what.to_string(),
            secs: after.as_secs(),
            bootstrap: self.cfg.bootstrap.clone(),
        }
    }

    /// The trial's partition count.
    pub fn partitions(&self) -> u32 {
        self.partitions
    }

    /// Produces raw bytes to an intake partition and waits until the broker has them (for
    /// tools and tests that must send what a correct writer would not).
    pub fn send_raw(&self, partition: u32, key: &[u8], bytes: &[u8]) -> Result<(), Error> {
        if partition >= self.partitions {
            return Err(Error::Invalid(format!(
                "intake partition {partition} does not exist ({} partitions)",
                self.partitions
            )));
        }
        self.producer
            .send(
                BaseRecord::<[u8], [u8]>::to(&self.cfg.topics.intake)
                    .partition(partition as i32)
                    .key(key)
                    .payload(bytes),
            )
            .map_err(|(e, _)| Error::kafka("send", e))?;
        self.producer.poll(Duration::ZERO);
        Ok(())
    }

    /// Produces a signed submission to intake partition(subject) without waiting for it.
    pub fn send(&self, signed: &SignedSubmission) -> Result<u32, Error> {
        let sub = &signed.submission;
        let p = partition_of(&sub.trial_id, &sub.subject, self.partitions);
        let mut r = BaseRecord::<[u8], [u8]>::to(&self.cfg.topics.intake)
            .partition(p as i32)
            .key(&sub.submission_id.0[..]);
        let bytes = encode(signed);
        r = r.payload(&bytes);
        let mut r = r;
        loop {
            match self.producer.send(r) {
                Ok(()) => {
                    self.producer.poll(Duration::ZERO);
                    return Ok(p);
                }
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    back,
                )) => {
                    r = back;
                    self.producer.poll(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(Error::kafka("send", e)),
            }
        }
    }

    /// Waits until everything sent is on the broker.
    pub fn flush(&self) -> Result<(), Error> {
        self.producer
            .flush(self.cfg.timeout)
            .map_err(|e| Error::kafka("flush", e))
    }

    /// Submits and waits (up to `timeout`) for the verdict: the record, the original record
    /// of a resubmitted id, or the rejection. Other submissions in flight stay in flight.
    pub fn submit(
        &mut self,
        signed: &SignedSubmission,
        timeout: Duration,
    ) -> Result<Verdict, Error> {
        let started = Instant::now();
        let ticket = self.begin(signed)?;
        self.flush()?;
        let sent = started.elapsed();
        let v = self.verdict(&ticket, timeout);
        tracing::debug!(
            send_ms = sent.as_secs_f64() * 1e3,
            total_ms = started.elapsed().as_secs_f64() * 1e3,
            "submitted"
        );
        v
    }

    /// Waits for the verdict on a submission sent with [`Writer::send`]: its record, or the
    /// latest refusal of its id on `partition` read so far (which, for an id refused before
    /// and sent again, may be the earlier refusal: [`Writer::begin`] tells them apart by
    /// their bytes).
    pub fn wait(
        &mut self,
        id: &SubmissionId,
        partition: u32,
        timeout: Duration,
    ) -> Result<Verdict, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = self.watcher.recorded(id) {
                return Ok(v);
            }
            if let Some(r) = self.watcher.rejected(id, partition) {
                return Ok(Verdict::Refused(r));
            }
            if Instant::now() > deadline {
                return Err(self.timeout(
                    &format!(
                        "waiting for the sequencer's verdict on submission {} (is `trial-ledger sequencer` running?)",
                        id.to_hex()
                    ),
                    timeout,
                ));
            }
            self.pump_verdicts(Duration::from_millis(50))?;
        }
    }

    /// The watcher, read-only.
    pub fn watcher_ref(&self) -> &Watcher {
        &self.watcher
    }

    /// The watcher, for callers that read receipts of many submissions.
    pub fn watcher(&mut self) -> &mut Watcher {
        &mut self.watcher
    }
}

/// Follows the ledger and the rejections topic (read_committed) and indexes what it reads by
/// submission id.
pub struct Watcher {
    /// The topics.
    cfg: KafkaConfig,
    /// Assigned to every partition of both topics.
    consumer: BaseConsumer,
    /// Asks for the ledger's committed ends off the fetching connection.
    ends: crate::read::CommittedEnds,
    /// Records by submission id: (partition, seq).
    records: HashMap<SubmissionId, (u32, u64)>,
    /// Every record read, per ledger partition, in order (index = seq).
    parts: Vec<Vec<Vec<u8>>>,
    /// Rejections by submission id (newest last), with their intake partition.
    rejections: HashMap<SubmissionId, Vec<Rejection>>,
    /// Rejections without a decodable id, in order (malformed bytes).
    anonymous: Vec<Rejection>,
}

impl Watcher {
    /// Starts reading both topics from the beginning.
    pub fn new(cfg: &KafkaConfig, partitions: u32) -> Result<Self, Error> {
        let consumer: BaseConsumer = cfg
            .committed_reader()
            .create()
            .map_err(|e| Error::kafka("consumer", e))?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions as i32 {
            for t in [&cfg.topics.ledger, &cfg.topics.rejections] {
                tpl.add_partition_offset(t, p, Offset::Beginning)
                    .map_err(|e| Error::kafka("assign", e))?;
            }
        }
        consumer
            .assign(&tpl)
            .map_err(|e| Error::kafka("assign", e))?;
        Ok(Watcher {
            cfg: cfg.clone(),
            consumer,
            ends: crate::read::CommittedEnds::new(cfg)?,
            records: HashMap::new(),
            parts: vec![Vec::new(); partitions as usize],
            rejections: HashMap::new(),
            anonymous: Vec::new(),
        })
    }

    /// The trial's partition count.
    pub fn partitions(&self) -> u32 {
        self.parts.len() as u32
    }

    /// The consumer's position (the next offset it reads) in each ledger partition; `-1`
    /// for a partition it has no position in yet. For the consumer lag in the metrics.
    pub fn ledger_positions(&self) -> Vec<i64> {
        let mut at = vec![-1; self.parts.len()];
        if let Ok(pos) = self.consumer.position() {
            for e in pos.elements_for_topic(&self.cfg.topics.ledger) {
                if let (Offset::Offset(o), Ok(p)) = (e.offset(), usize::try_from(e.partition())) {
                    if let Some(a) = at.get_mut(p) {
                        *a = o;
                    }
                }
            }
        }
        at
    }

    /// Reads what is available, waiting up to `wait` for the first message.
    pub fn pump(&mut self, wait: Duration) -> Result<usize, Error> {
        let mut n = 0;
        let mut timeout = wait;
        while let Some(m) = self.consumer.poll(timeout) {
            // Consumer errors are reports (a broker went away, a leader moved); the client
            // reconnects by itself, and a reader that never progresses times out upstream.
            let m = match m {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "ledger watcher: consumer error");
                    break;
                }
            };
            timeout = Duration::ZERO;
            n += 1;
            let value = m.payload().unwrap_or_default();
            let p = m.partition() as u32;
            if m.topic() == self.cfg.topics.ledger {
                let Some(part) = self.parts.get_mut(p as usize) else {
                    continue;
                };
                let seq = part.len() as u64;
                part.push(value.to_vec());
                // The sequencer keys each record by its submission id, which spares decoding
                // every record here; `recorded` checks the id against the record itself.
                let keyed = m
                    .key()
                    .and_then(|k| <[u8; 16]>::try_from(k).ok())
                    .map(SubmissionId);
                let id = match keyed {
                    Some(id) => Ok(id),
                    None => tl_ledger::codec::decode_record(value)
                        .map(|(r, _)| r.body.submission.submission.submission_id),
                };
                match id {
                    Ok(id) => {
                        self.records.entry(id).or_insert((p, seq));
                    }
                    Err(e) => {
                        tracing::warn!(partition = p, offset = m.offset(), error = %e, "undecodable ledger record")
                    }
                }
            } else {
                match Rejection::from_json(value) {
                    Ok(r) => match r
                        .submission_id
                        .as_deref()
                        .and_then(|h| SubmissionId::from_hex(h).ok())
                    {
                        Some(id) => self.rejections.entry(id).or_default().push(r),
                        None => self.anonymous.push(r),
                    },
                    Err(e) => {
                        tracing::warn!(partition = p, offset = m.offset(), error = %e, "unreadable rejection")
                    }
                }
            }
        }
        Ok(n)
    }

    /// The record of `id`, if read.
    pub fn recorded(&self, id: &SubmissionId) -> Option<Verdict> {
        let (p, seq) = self.records.get(id)?;
        let bytes = self.parts.get(*p as usize)?.get(*seq as usize)?;
        let (record, body_len) = tl_ledger::codec::decode_record(bytes).ok()?;
        if record.body.submission.submission.submission_id != *id {
            return None;
        }
        let hash = tl_schemas::record_hash(&bytes[..body_len]);
        Some(Verdict::Recorded {
            receipt: Receipt::of(&record, hash),
            record: Box::new(record),
            bytes: bytes.clone(),
            hash,
        })
    }

    /// The latest rejection of `id` from intake partition `partition`, if read.
    pub fn rejected(&self, id: &SubmissionId, partition: u32) -> Option<Rejection> {
        self.rejections
            .get(id)?
            .iter()
            .rev()
            .find(|r| r.intake_partition == partition)
            .cloned()
    }

    /// Rejections read so far, by id and without one.
    pub fn rejection_count(&self) -> usize {
        self.rejections.values().map(Vec::len).sum::<usize>() + self.anonymous.len()
    }

    /// Rejections whose bytes did not decode to a submission.
    pub fn anonymous_rejections(&self) -> &[Rejection] {
        &self.anonymous
    }

    /// Records read so far.
    pub fn record_count(&self) -> usize {
        self.records.len()
    }

    /// Records read so far from ledger partition `p`.
    pub fn partition_len(&self, p: u32) -> u64 {
        self.parts.get(p as usize).map_or(0, |v| v.len() as u64)
    }

    /// Up to `max` records of ledger partition `p` read so far, from `from` on.
    pub fn partition_read(&self, p: u32, from: u64, max: usize) -> Vec<Vec<u8>> {
        self.parts.get(p as usize).map_or_else(Vec::new, |v| {
            v.iter().skip(from as usize).take(max).cloned().collect()
        })
    }

    /// The rejections read so far of exactly these submission bytes (a resubmission of an id
    /// that was refused before is told apart from the earlier refusal by its bytes: each
    /// signing stamps its own client time).
    pub fn rejection_of(&self, signed: &SignedSubmission) -> Option<Rejection> {
        let id = signed.submission.submission_id;
        let hex = hex::encode(encode(signed));
        self.rejections
            .get(&id)?
            .iter()
            .rev()
            .find(|r| r.bytes_hex == hex)
            .cloned()
    }

    /// The latest rejection of `id` from intake `partition` whose bytes are `bytes_hex`.
    fn rejection_with(
        &self,
        id: &SubmissionId,
        partition: u32,
        bytes_hex: &str,
    ) -> Option<Rejection> {
        self.rejections
            .get(id)?
            .iter()
            .rev()
            .find(|r| r.intake_partition == partition && r.bytes_hex == bytes_hex)
            .cloned()
    }

    /// [`Watcher::rejection_of`], of the copy sent to intake partition `partition` only (the
    /// same bytes sent to the wrong partition earlier were refused there, for that reason).
    pub fn rejection_of_on(&self, signed: &SignedSubmission, partition: u32) -> Option<Rejection> {
        let id = signed.submission.submission_id;
        let hex = hex::encode(encode(signed));
        self.rejections
            .get(&id)?
            .iter()
            .rev()
            .find(|r| r.intake_partition == partition && r.bytes_hex == hex)
            .cloned()
    }

    /// Reads every ledger partition up to its committed end as the broker states it now (its
    /// last stable offset, asked with `read_committed`), or fails after `timeout`. Records
    /// committed after the ends were asked for may be read too.
    ///
    /// Commit markers take offsets, so "read up to" is the consumer's position (which moves
    /// past markers), not the offset of the last record.
    pub fn read_to_committed_end(&mut self, timeout: Duration) -> Result<(), Error> {
        let topic = self.cfg.topics.ledger.clone();
        let n = self.parts.len();
        let ends = self.ends.fetch(&topic, n as u32)?;
        let deadline = Instant::now() + timeout;
        loop {
            let pos = self
                .consumer
                .position()
                .map_err(|e| Error::kafka("position", e))?;
            let mut at = vec![0i64; n];
            for e in pos.elements_for_topic(&topic) {
                if let (Offset::Offset(o), Ok(p)) = (e.offset(), usize::try_from(e.partition())) {
                    if let Some(a) = at.get_mut(p) {
                        *a = o;
                    }
                }
            }
            let behind: Vec<String> = (0..n)
                .filter(|&p| at[p] < ends[p])
                .map(|p| format!("partition {p} at offset {} of {}", at[p], ends[p]))
                .collect();
            if behind.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout {
                    what: format!(
                        "reading {topic} to its committed end ({})",
                        behind.join(", ")
                    ),
                    secs: timeout.as_secs(),
                    bootstrap: self.cfg.bootstrap.clone(),
                });
            }
            self.pump(Duration::from_millis(20))?;
        }
    }

    /// Waits until at least `n` records have been read, or `timeout`.
    pub fn wait_records(&mut self, n: usize, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        while self.records.len() < n {
            if Instant::now() > deadline {
                return Err(Error::Timeout {
                    what: format!("waiting for {n} records (have {})", self.records.len()),
                    secs: timeout.as_secs(),
                    bootstrap: self.cfg.bootstrap.clone(),
                });
            }
            self.pump(Duration::from_millis(100))?;
        }
        Ok(())
    }
}

/// Reads the whole committed ledger of a trial (for tools): partition count from the topic.
pub fn read_ledger(cfg: &KafkaConfig, wait: Duration) -> Result<Vec<Vec<read::Stored>>, Error> {
    let n = crate::topics::partition_count(cfg, &cfg.topics.ledger)?.ok_or_else(|| {
        Error::NotInitialised(format!(
            "no ledger topic {} on {}",
            cfg.topics.ledger, cfg.bootstrap
        ))
    })?;
    read::read_all(cfg, &cfg.topics.ledger, n, wait)
}
