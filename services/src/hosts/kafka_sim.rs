//! The simulated trial on Kafka (`demo --kafka`): the simulator's submissions go to intake
//! through a [`Writer`], a sequencer seals them, and the simulation waits for each record
//! (its next events cite it), except for the deciding services' answers of one step, which
//! are in flight together ([`SimLedger::submit_many`]). The deciding services read the records back from the same
//! writer's view of the ledger.

use std::time::Duration;
use tl_domain::deciders::RecordFeed;
use tl_kafka::writer::{Verdict, Watcher, Writer};
use tl_ledger::sequencer::Sealed;
use tl_ledger::{Outcome, Reason, Refusal};
use tl_schemas::{SignedSubmission, UtcMicros};
use tl_sim::{SimError, SimLedger};

/// A trial on Kafka as the simulator's ledger.
pub struct KafkaSimLedger {
    /// Produces submissions and follows the ledger.
    writer: Writer,
    /// How long one submission may wait for its record.
    timeout: Duration,
}

impl KafkaSimLedger {
    /// Connects to a trial's topics (created, with a sequencer running).
    pub fn connect(cfg: &tl_kafka::KafkaConfig) -> Result<Self, tl_kafka::Error> {
        Ok(KafkaSimLedger {
            writer: Writer::connect(cfg)?,
            timeout: Duration::from_secs(120),
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
    fn flush(&mut self) -> Result<(), SimError> {
        self.writer.flush().map_err(kafka_error)
    }
}
