#![forbid(unsafe_code)]
//! # tl-kafka: trial-ledger on Apache Kafka
//!
//! DESIGN.md §4. The trial's four topics ([`Topics`]) and the safety check of the ledger topic
//! ([`topics`]); the transactional sequencer service ([`sequencer`]); writers that produce signed
//! submissions to intake on the subject's partition and learn their receipts from the ledger
//! ([`writer`]); committed reads of the ledger for verification and rebuilds ([`read`]); and a
//! follower of the ledger by sequence number for the projections ([`follow`]).
//!
//! The backend is a crate of its own so that the ledger core, the projections and the tools
//! that never talk to Kafka build without librdkafka.
//!
//! Record bytes are those of FORMAT.md: a ledger topic message's value is `canonical(body) ||
//! seal`, exactly as in an embedded segment frame. Because the sequencer writes in
//! transactions, Kafka offsets are not sequence numbers (commit markers take offsets too);
//! verification names both.

pub mod bootstrap;
pub mod config;
pub mod follow;
pub mod lag;
pub mod read;
pub mod rejection;
pub mod retry;
pub mod sequencer;
pub mod topics;
pub mod writer;

pub use config::{load_properties, KafkaConfig, TopicSafety, Topics};
pub use rejection::Rejection;
pub use sequencer::{SequencerConfig, SequencerStats};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// What the caller should do about a failed Kafka operation inside a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureClass {
    /// Try the same call again (a transient broker or network condition).
    Retriable,
    /// Abort the transaction, throw away uncommitted state, rewind to the committed offsets and
    /// go on.
    Abort,
    /// Another instance took over (a newer producer epoch or consumer generation): stop; a
    /// supervisor may restart this instance as a standby.
    Fenced,
    /// The client cannot go on (bad configuration, authorisation, an unrecoverable producer):
    /// stop with the message.
    Fatal,
}

/// Whether `code` means another instance took over: a newer producer epoch or consumer
/// generation.
pub(crate) fn is_fencing_code(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::ProducerFenced
            | RDKafkaErrorCode::InvalidProducerEpoch
            | RDKafkaErrorCode::FencedInstanceId
            | RDKafkaErrorCode::IllegalGeneration
            | RDKafkaErrorCode::UnknownMemberId
            | RDKafkaErrorCode::InvalidProducerIdMapping
            | RDKafkaErrorCode::Fenced
    )
}

/// Classifies a Kafka error met during a transaction (vector's `is_retriable` / `is_fatal` /
/// `txn_requires_abort`, made one enum).
pub fn classify(e: &KafkaError) -> FailureClass {
    let code = e.rdkafka_error_code();
    // Fencing first: these mean another sequencer owns the partitions now, whatever librdkafka
    // says about retrying.
    if code.is_some_and(is_fencing_code) {
        return FailureClass::Fenced;
    }
    if let KafkaError::Transaction(t) = e {
        if t.is_fatal() {
            return FailureClass::Fatal;
        }
        if t.txn_requires_abort() {
            return FailureClass::Abort;
        }
        if t.is_retriable() {
            return FailureClass::Retriable;
        }
        return FailureClass::Abort;
    }
    match code {
        Some(
            RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed
            | RDKafkaErrorCode::TransactionalIdAuthorizationFailed
            | RDKafkaErrorCode::GroupAuthorizationFailed
            | RDKafkaErrorCode::InvalidConfig
            | RDKafkaErrorCode::InvalidArgument
            | RDKafkaErrorCode::UnknownTopicOrPartition
            | RDKafkaErrorCode::Fatal,
        ) => FailureClass::Fatal,
        Some(c) if retry::is_transient(c) => FailureClass::Retriable,
        _ => FailureClass::Abort,
    }
}

/// Everything that can go wrong on Kafka, by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kafka client call failed; `class` says whether to retry, abort and rewind, or stop.
    #[error("kafka {op}: {source}")]
    Kafka {
        /// The operation (for example `commit_transaction`).
        op: &'static str,
        /// The client's error.
        source: KafkaError,
        /// What to do about it.
        class: FailureClass,
    },
    /// The broker could not be reached or did not answer in time: check the bootstrap servers
    /// and that the broker is up.
    #[error("{what}: no answer from Kafka within {secs} s; is the broker at {bootstrap} up?")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        secs: u64,
        /// The bootstrap servers.
        bootstrap: String,
    },
    /// The ledger topic's settings could lose or rewrite records: fix the topic (or use the
    /// explicit dev mode on a single-node broker).
    #[error("refusing to run on topic {topic}: {}", problems.join("; "))]
    UnsafeTopic {
        /// The topic.
        topic: String,
        /// Each unsafe setting, with its value.
        problems: Vec<String>,
    },
    /// The trial's topics do not exist, or the ledger has no bootstrap records: run
    /// `trial-ledger init --kafka` (or the demo) first.
    #[error("{0}")]
    NotInitialised(String),
    /// The ledger topic holds bytes that are not a valid continuation of the ledger: run
    /// `trial-ledger verify --kafka` to locate the damage.
    #[error("ledger partition {partition} offset {offset}: {detail}; run `trial-ledger verify --kafka` to locate the damage")]
    CorruptLedger {
        /// Partition.
        partition: u32,
        /// Kafka offset of the bad message.
        offset: i64,
        /// What was wrong.
        detail: String,
    },
    /// This instance was fenced: another sequencer took over its partitions. It stopped without
    /// committing anything more; restart it to rejoin.
    #[error("fenced: {0}")]
    Fenced(String),
    /// The ledger core refused or failed (key files, sealing key not enrolled, ...).
    #[error(transparent)]
    Ledger(#[from] tl_ledger::Error),
    /// A caller-supplied value is wrong (a partition out of range, an empty id): fix the call.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub(crate) fn kafka(op: &'static str, source: KafkaError) -> Self {
        let class = classify(&source);
        Error::Kafka { op, source, class }
    }

    /// True when the service should stop rather than retry.
    pub fn is_fatal(&self) -> bool {
        match self {
            Error::Kafka { class, .. } => {
                matches!(class, FailureClass::Fatal | FailureClass::Fenced)
            }
            Error::Timeout { .. } => false,
            _ => true,
        }
    }
}
