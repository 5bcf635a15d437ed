//! Where the API's trial lives: the embedded log `serve --data` holds the writer of, or a
//! trial on Kafka that `serve --kafka` writes to through intake and reads back committed.
//! Handlers submit through [`Submitter`] and ask [`Backend::ledger_dir`] for the store the
//! routes reading stored records, proofs and tiles answer from; on Kafka proofs, tiles and
//! checkpoints come from [`super::kafka_tiles`], fed from the ledger and checkpoints topics.

use super::error::ApiError;
use crate::hosts::kafka_api::KafkaSubmitter;
use std::path::{Path, PathBuf};
use tl_ledger::{SubmitHandle, Submitted};

/// How submissions reach the sequencer.
#[derive(Clone)]
pub enum Submitter {
    /// The embedded sequencer thread (group commit); answers once the record is durable.
    Embedded(SubmitHandle),
    /// Produced to `<trial>.intake` after the pre-checks; answers once the record is committed.
    Kafka(KafkaSubmitter),
}

impl Submitter {
    /// Submits a signed submission's bytes; the sequencer's answer, or why there is none.
    pub async fn submit(&self, bytes: Vec<u8>) -> Result<Submitted, String> {
        match self {
            Submitter::Embedded(h) => h.submit(bytes).await.map_err(|e| e.to_string()),
            Submitter::Kafka(k) => k.submit(bytes).await,
        }
    }

    /// Whether submissions are taken.
    pub fn is_running(&self) -> bool {
        match self {
            Submitter::Embedded(h) => h.is_running(),
            Submitter::Kafka(k) => k.is_running(),
        }
    }
}

/// The ledger the read routes answer from.
pub enum Backend {
    /// The embedded store's folder (read without the writer lock).
    Embedded(PathBuf),
    /// A trial on Kafka, the consumer lag the metrics report, and the tile cache proofs,
    /// tiles and checkpoints are answered from.
    Kafka(
        tl_kafka::KafkaConfig,
        std::sync::Arc<crate::hosts::kafka_lag::KafkaLag>,
        Box<super::kafka_tiles::KafkaTiles>,
    ),
}

impl Backend {
    /// The embedded store, or 404 on Kafka ([`not_on_kafka`]) for what is read from the
    /// store's files only.
    pub fn ledger_dir(&self, what: &str) -> Result<&Path, ApiError> {
        match self {
            Backend::Embedded(d) => Ok(d),
            Backend::Kafka(cfg, ..) => Err(not_on_kafka(what, &cfg.bootstrap)),
        }
    }

    /// On Kafka, the tile cache proofs, tiles and per-partition checkpoints are answered from.
    pub fn kafka_tiles(&self) -> Option<&super::kafka_tiles::KafkaTiles> {
        match self {
            Backend::Embedded(_) => None,
            Backend::Kafka(_, _, tiles) => Some(tiles),
        }
    }
}

/// 404 for a read served by `serve --data` only.
pub fn not_on_kafka(what: &str, bootstrap: &str) -> ApiError {
    ApiError::not_found(format!(
        "{what} is served by `serve --data` only; this server is in front of a trial on \
         Kafka ({bootstrap}), where it serves submissions, checkpoints, records, proofs, tiles, \
         trails, audit bundles, the views (as of now or of a cut of checkpoints) and the safety stream (`verify --kafka` \
         reads the rest from the brokers)"
    ))
}
