//! The projections' [`LogSource`] on Kafka, and the one source type `view` and `project` use.
//!
//! The Kafka side ([`tl_kafka::follow::LedgerFollower`]) reads the ledger topic with
//! `read_committed` and numbers each partition's committed records itself (offsets are not
//! sequence numbers there: commit markers take offsets); this adapter only maps its errors
//! and its offsets onto the trait. It lives here rather than in either library so that
//! tl-projections builds without librdkafka and tl-kafka without SQLite.

use tl_kafka::follow::LedgerFollower;
use tl_projections::source::Chunk;
use tl_projections::source::ChunkEnd;
use tl_projections::{EmbeddedSource, Error, LogSource};

/// The ledger topic of a trial on Kafka, read by sequence number.
pub struct KafkaSource {
    /// Numbers the committed records and remembers their offsets.
    follower: LedgerFollower,
}

impl KafkaSource {
    /// Follows `cfg`'s ledger topic from the beginning.
    pub fn open(cfg: &tl_kafka::KafkaConfig) -> Result<Self, Error> {
        let follower = LedgerFollower::open(cfg).map_err(source_error)?;
        Ok(KafkaSource { follower })
    }

    /// Follows `cfg`'s ledger topic from the beginning, each partition `p` only before offset
    /// `until[p]` (a frozen cut; [`LedgerFollower::open_until`]).
    pub fn open_until(cfg: &tl_kafka::KafkaConfig, until: Vec<i64>) -> Result<Self, Error> {
        let follower = LedgerFollower::open_until(cfg, until).map_err(source_error)?;
        Ok(KafkaSource { follower })
    }

    /// The ledger topic's partition count.
    pub fn partitions(&self) -> u32 {
        self.follower.partition_count()
    }
}

/// A Kafka failure as the projections' error: what a retry may cure (the broker did not
/// answer in time, a retriable client error) is [`Error::Unavailable`]; the rest (a rewritten
/// topic, missing topics, authorisation) stops the projection.
fn source_error(e: tl_kafka::Error) -> Error {
    if e.is_fatal() {
        Error::Source {
            detail: e.to_string(),
        }
    } else {
        Error::Unavailable {
            detail: e.to_string(),
        }
    }
}

impl LogSource for KafkaSource {
    fn partition_count(&mut self) -> Result<u32, Error> {
        Ok(self.follower.partition_count())
    }

    fn len(&mut self, partition: u32) -> Result<u64, Error> {
        if partition >= self.follower.partition_count() {
            return Err(Error::Source {
                detail: format!("no partition {partition}"),
            });
        }
        Ok(self.follower.len(partition))
    }

    fn read(&mut self, partition: u32, from: u64, max: usize) -> Result<Chunk, Error> {
        let records = self
            .follower
            .read(partition, from, max)
            .map_err(source_error)?;
        Ok(Chunk {
            records,
            end: ChunkEnd::Clean,
        })
    }

    fn refresh(&mut self) -> Result<(), Error> {
        // While records already read wait to be handed out, the reader has work: fetch more
        // only once it has taken them (as the embedded source rescans only consumed caches).
        if self.follower.has_unread() {
            return Ok(());
        }
        self.follower.catch_up().map_err(source_error)
    }

    fn offset(&mut self, partition: u32, seq: u64) -> Option<u64> {
        self.follower
            .offset_of(partition, seq)
            .and_then(|o| u64::try_from(o).ok())
    }
}

/// Where `view` and `project` read: the embedded store or a trial on Kafka.
pub enum Source {
    /// `--data DIR`.
    Embedded(EmbeddedSource),
    /// `--kafka BOOTSTRAP --trial ID`.
    Kafka(Box<KafkaSource>),
}

impl LogSource for Source {
    fn partition_count(&mut self) -> Result<u32, Error> {
        match self {
            Source::Embedded(s) => s.partition_count(),
            Source::Kafka(s) => s.partition_count(),
        }
    }

    fn len(&mut self, partition: u32) -> Result<u64, Error> {
        match self {
            Source::Embedded(s) => s.len(partition),
            Source::Kafka(s) => s.len(partition),
        }
    }

    fn read(&mut self, partition: u32, from: u64, max: usize) -> Result<Chunk, Error> {
        match self {
            Source::Embedded(s) => s.read(partition, from, max),
            Source::Kafka(s) => s.read(partition, from, max),
        }
    }

    fn refresh(&mut self) -> Result<(), Error> {
        match self {
            Source::Embedded(s) => s.refresh(),
            Source::Kafka(s) => s.refresh(),
        }
    }

    fn offset(&mut self, partition: u32, seq: u64) -> Option<u64> {
        match self {
            Source::Embedded(s) => s.offset(partition, seq),
            Source::Kafka(s) => s.offset(partition, seq),
        }
    }
}
