//! The simulated trial on Kafka (`demo --kafka`): the simulator's submissions go to intake
//! through a [`Writer`] and a sequencer seals them. Patient events stay in flight in the
//! writer's window ([`SimLedger::begin`]) until an event cites one of them or the deciding
//! services may answer one; the services' answers of one step are in flight together
//! ([`SimLedger::submit_many`]). The deciding services read the records back from the sites'
//! writer's view of the ledger.
//!
//! On a secured cluster each role submits as its own principal: the deciding services'
//! submissions (by their keys) go through writers of their own ([`KafkaSimLedger::with_roles`]),
//! everything else through the sites' writer. The sites' view is then brought up to each
//! decision's record before its verdict is handed over, so the services read exactly what they
//! would through one writer.

use std::collections::HashMap;
use std::time::{Duration, Instant};
use tl_domain::deciders::RecordFeed;
use tl_kafka::writer::{Ticket, Verdict, Watcher, Writer};
use tl_ledger::sequencer::Sealed;
use tl_ledger::{Outcome, Reason, Refusal};
use tl_schemas::{KeyId, SignedSubmission, UtcMicros};
use tl_sim::{Begun, SimError, SimLedger};

/// A trial on Kafka as the simulator's ledger.
pub struct KafkaSimLedger {
    /// Produces the sites' submissions and follows the ledger (what the services read).
    writer: Writer,
    /// The writers of other principals, by the author keys whose submissions they carry.
    roles: Vec<(KeyId, Writer)>,
    /// How long one submission may wait for its record.
    timeout: Duration,
    /// Submissions begun and not settled yet, by token: the writer (0 the sites', `i + 1`
    /// `roles[i]`) and its ticket.
    tickets: HashMap<u64, (usize, Ticket)>,
    /// The next token.
    next_token: u64,
}

impl KafkaSimLedger {
    /// Connects to a trial's topics (created, with a sequencer running); one writer for all.
    pub fn connect(cfg: &tl_kafka::KafkaConfig) -> Result<Self, tl_kafka::Error> {
        Self::with_roles(cfg, &[])
    }

    /// Connects the sites' writer with `sites` and one writer per `(author key, config)` of
    /// `roles` (the deciding services, each as its own principal).
    pub fn with_roles(
        sites: &tl_kafka::KafkaConfig,
        roles: &[(KeyId, tl_kafka::KafkaConfig)],
    ) -> Result<Self, tl_kafka::Error> {
        Ok(KafkaSimLedger {
            writer: Writer::connect(sites)?,
            roles: roles
                .iter()
                .map(|(key, cfg)| Ok((*key, Writer::connect(cfg)?)))
                .collect::<Result<_, tl_kafka::Error>>()?,
            timeout: Duration::from_secs(120),
            tickets: HashMap::new(),
            next_token: 0,
        })
    }

    /// The writer that carries `signed`: 0 the sites', `i + 1` that of `roles[i]`.
    fn writer_of(&self, signed: &SignedSubmission) -> usize {
        self.roles
            .iter()
            .position(|(key, _)| *key == signed.submission.author)
            .map_or(0, |i| i + 1)
    }

    fn writer_at(&mut self, w: usize) -> &mut Writer {
        match w {
            0 => &mut self.writer,
            i => &mut self.roles[i - 1].1,
        }
    }

    /// The verdict of `ticket` on writer `w`; a record another principal's writer produced is
    /// first read by the sites' writer too, which the deciding services read from.
    fn verdict_on(&mut self, w: usize, ticket: &Ticket) -> Result<Verdict, SimError> {
        let timeout = self.timeout;
        let v = self
            .writer_at(w)
            .verdict(ticket, timeout)
            .map_err(kafka_error)?;
        if let (true, Verdict::Recorded { receipt, .. }) = (w > 0, &v) {
            let deadline = Instant::now() + timeout;
            let watcher = self.writer.watcher();
            while watcher.partition_len(receipt.partition) <= receipt.seq {
                if Instant::now() > deadline {
                    return Err(SimError::Invalid(format!(
                        "kafka: the sites' writer did not read record {} of partition {} within {timeout:?}",
                        receipt.seq, receipt.partition
                    )));
                }
                watcher
                    .pump(Duration::from_millis(20))
                    .map_err(kafka_error)?;
            }
        }
        Ok(v)
    }

    fn flush_all(&mut self) -> Result<(), SimError> {
        self.writer.flush().map_err(kafka_error)?;
        for (_, w) in &self.roles {
            w.flush().map_err(kafka_error)?;
        }
        Ok(())
    }
}

fn kafka_error(e: tl_kafka::Error) -> SimError {
    SimError::Invalid(format!("kafka: {e}"))
}

/// The ledger records a Kafka [`Watcher`] has read, as the deciding services read a log: what
/// the simulation's services and the `matcher` / `cohort-engine` services on Kafka follow.
pub struct WatcherFeed<'a>(pub &'a Watcher);

impl RecordFeed for WatcherFeed<'_> {
    fn partition_count(&self) -> u32 {
        self.0.partitions()
    }
    fn len(&self, partition: u32) -> u64 {
        self.0.partition_len(partition)
    }
    fn read(
        &self,
        partition: u32,
        from: u64,
        max: usize,
    ) -> Result<Vec<Vec<u8>>, tl_ledger::Error> {
        Ok(self.0.partition_read(partition, from, max))
    }
}

impl RecordFeed for KafkaSimLedger {
    fn partition_count(&self) -> u32 {
        WatcherFeed(self.writer.watcher_ref()).partition_count()
    }
    fn len(&self, partition: u32) -> u64 {
        WatcherFeed(self.writer.watcher_ref()).len(partition)
    }
    fn read(
        &self,
        partition: u32,
        from: u64,
        max: usize,
    ) -> Result<Vec<Vec<u8>>, tl_ledger::Error> {
        WatcherFeed(self.writer.watcher_ref()).read(partition, from, max)
    }
}

/// A writer's verdict as the simulator's outcome.
fn outcome(v: Verdict) -> Outcome {
    match v {
        Verdict::Recorded {
            record,
            bytes,
            hash,
            ..
        } => Outcome::Sealed(Box::new(Sealed {
            record: *record,
            bytes,
            hash,
        })),
        Verdict::Refused(r) => Outcome::Refused(Refusal::new(
            Reason::from_code(&r.reason).unwrap_or(Reason::Malformed),
            r.detail,
        )),
    }
}

impl SimLedger for KafkaSimLedger {
    fn submit(&mut self, signed: SignedSubmission, now: UtcMicros) -> Result<Outcome, SimError> {
        match self.begin(signed, now)? {
            Begun::Done(outcome) => Ok(outcome),
            Begun::InFlight(token) => {
                self.flush()?;
                self.settle(token)
            }
        }
    }
    /// In flight together through the writers' windows; the verdicts are taken in order.
    fn submit_many(
        &mut self,
        batch: Vec<(SignedSubmission, UtcMicros)>,
    ) -> Result<Vec<Outcome>, SimError> {
        let tokens = batch
            .into_iter()
            .map(|(signed, now)| self.begin(signed, now))
            .collect::<Result<Vec<_>, _>>()?;
        self.flush_all()?;
        tokens
            .into_iter()
            .map(|b| match b {
                Begun::Done(outcome) => Ok(outcome),
                Begun::InFlight(token) => self.settle(token),
            })
            .collect()
    }
    /// Produced at once (the producer lingers 1 ms), verdict taken by [`SimLedger::settle`].
    fn begin(&mut self, signed: SignedSubmission, _now: UtcMicros) -> Result<Begun, SimError> {
        let w = self.writer_of(&signed);
        let ticket = self.writer_at(w).begin(&signed).map_err(kafka_error)?;
        let token = self.next_token;
        self.next_token += 1;
        self.tickets.insert(token, (w, ticket));
        Ok(Begun::InFlight(token))
    }
    fn settle(&mut self, token: u64) -> Result<Outcome, SimError> {
        let (w, ticket) = self.tickets.remove(&token).ok_or_else(|| {
            SimError::Invalid(format!(
                "submission {token} is not in flight on this writer"
            ))
        })?;
        self.verdict_on(w, &ticket).map(outcome)
    }
    fn flush(&mut self) -> Result<(), SimError> {
        self.flush_all()
    }
}
