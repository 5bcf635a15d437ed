//! The simulated trial on Kafka (`demo --kafka`): the simulator's submissions go to intake
//! through a [`Writer`] and a sequencer seals them. Patient events stay in flight in the
//! writer's window ([`SimLedger::begin`]) until an event cites one of them or the deciding
//! services may answer one; the services' answers of one step are in flight together
//! ([`SimLedger::submit_many`]). The deciding services read the records back from the same
//! writer's view of the ledger.

use std::collections::HashMap;
use std::time::Duration;
use tl_domain::deciders::RecordFeed;
use tl_kafka::writer::{Ticket, Verdict, Watcher, Writer};
use tl_ledger::sequencer::Sealed;
use tl_ledger::{Outcome, Reason, Refusal};
use tl_schemas::{SignedSubmission, UtcMicros};
use tl_sim::{Begun, SimError, SimLedger};

/// A trial on Kafka as the simulator's ledger.
pub struct KafkaSimLedger {
    /// Produces submissions and follows the ledger.
    writer: Writer,
    /// How long one submission may wait for its record.
    timeout: Duration,
    /// Submissions begun and not settled yet, by ticket number.
    tickets: HashMap<u64, Ticket>,
}

impl KafkaSimLedger {
    /// Connects to a trial's topics (created, with a sequencer running).
    pub fn connect(cfg: &tl_kafka::KafkaConfig) -> Result<Self, tl_kafka::Error> {
        Ok(KafkaSimLedger {
            writer: Writer::connect(cfg)?,
            timeout: Duration::from_secs(120),
            tickets: HashMap::new(),
        })
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
    fn submit(&mut self, signed: SignedSubmission, _now: UtcMicros) -> Result<Outcome, SimError> {
        let v = self
            .writer
            .submit(&signed, self.timeout)
            .map_err(kafka_error)?;
        Ok(outcome(v))
    }
    /// In flight together through the writer's window; the verdicts are taken in order.
    fn submit_many(
        &mut self,
        batch: Vec<(SignedSubmission, UtcMicros)>,
    ) -> Result<Vec<Outcome>, SimError> {
        let tickets = batch
            .iter()
            .map(|(signed, _)| self.writer.begin(signed))
            .collect::<Result<Vec<_>, _>>()
            .map_err(kafka_error)?;
        self.writer.flush().map_err(kafka_error)?;
        tickets
            .iter()
            .map(|t| {
                self.writer
                    .verdict(t, self.timeout)
                    .map(outcome)
                    .map_err(kafka_error)
            })
            .collect()
    }
    /// Produced at once (the producer lingers 1 ms), verdict taken by [`SimLedger::settle`].
    fn begin(&mut self, signed: SignedSubmission, _now: UtcMicros) -> Result<Begun, SimError> {
        let ticket = self.writer.begin(&signed).map_err(kafka_error)?;
        let number = ticket.number;
        self.tickets.insert(number, ticket);
        Ok(Begun::InFlight(number))
    }
    fn settle(&mut self, token: u64) -> Result<Outcome, SimError> {
        let ticket = self.tickets.remove(&token).ok_or_else(|| {
            SimError::Invalid(format!(
                "submission {token} is not in flight on this writer"
            ))
        })?;
        self.writer
            .verdict(&ticket, self.timeout)
            .map(outcome)
            .map_err(kafka_error)
    }
    fn flush(&mut self) -> Result<(), SimError> {
        self.writer.flush().map_err(kafka_error)
    }
}
