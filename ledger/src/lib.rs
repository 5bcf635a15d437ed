#![forbid(unsafe_code)]
//! # tl-ledger: the ledger core
//!
//! * [`crypto`]: signing and the one signature-validity rule (ZIP-215, single and batch);
//! * [`registry`]: keys, roles and protocol versions over registry positions;
//! * [`state`] and [`sequencer`]: validation in FORMAT.md's order, linking and sealing;
//! * [`verify`]: full verification from the ledger bytes and the pinned root key;
//! * [`rules`]: the plug for a trial's domain rules;
//! * [`log`], [`embedded`]: the `EventLog` trait and the embedded segment-file backend;
//! * [`merkle`], [`checkpoint`], [`publish`], [`audit`]: RFC 9162 trees, signed checkpoints,
//!   their publication in the embedded store, and proof files and held checkpoints;
//! * [`bundle`]: offline audit bundles (`export`, `verify-bundle`);
//! * [`keyfile`], [`trust`]: encrypted key files and the trust file;
//! * [`limits`]: caps on what intake accepts and on the files the tools read.

pub mod audit;
pub mod bundle;
pub mod checkpoint;
pub mod codec;
pub mod compromise;
pub mod crypto;
pub mod embedded;
pub mod keyfile;
pub mod limits;
pub mod log;
pub mod merkle;
mod pipeline;
pub mod publish;
pub mod reason;
pub mod registry;
pub mod rules;
pub mod sequencer;
pub mod snapshot;
pub mod state;
pub mod stream_verify;
pub mod submit;
pub mod tilestore;
pub mod trust;
pub mod verify;
pub mod writer;

pub use crypto::SigningKey;
pub use log::{Durability, EmbeddedLedger, EventLog};
pub use publish::PublishPolicy;
pub use reason::{Reason, Refusal};
pub use rules::{CoreOnly, DomainRules};
pub use sequencer::{Outcome, Receipt, Sequencer};
pub use submit::{SubmitHandle, Submitted};
pub use verify::{verify_ledger, Report};

use std::path::PathBuf;

/// Everything that can go wrong in the ledger core, by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The embedded store failed (I/O, lock held, corruption): see the inner error.
    #[error(transparent)]
    Store(#[from] embedded::StoreError),
    /// A key file could not be used (missing, wrong passphrase, corrupt).
    #[error(transparent)]
    KeyFile(#[from] keyfile::KeyFileError),
    /// The stored log does not continue the state rebuilt from it: run `verify` to locate it.
    #[error("the ledger's stored records are inconsistent ({0}); run `trial-ledger verify` to locate the damage")]
    CorruptLog(Refusal),
    /// The configured sealing key may not seal at this registry position: enrol it as a
    /// sequencer key (or use the right key file).
    #[error("sealing key {key_id} is not an active sequencer key at registry position {position}")]
    SealerNotAuthorized {
        /// The key id.
        key_id: String,
        /// The registry position.
        position: u64,
    },
    /// The trust file is missing or invalid: pass `--trust FILE` or re-create it from the
    /// trial's root public key.
    #[error("trust file {path}: {detail}")]
    Trust {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// The submission was refused; nothing was recorded. Fix the submission.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// A checkpoint file is damaged, or the ledger no longer extends the checkpoints it
    /// published (truncated or rewritten): run `trial-ledger verify --against` with the
    /// checkpoints an auditor holds.
    #[error("checkpoints {path}: {detail}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// An audit bundle could not be read (not a bundle, unknown version, damaged) or
    /// written (see the inner error for what to do).
    #[error(transparent)]
    Bundle(#[from] bundle::BundleError),
    /// The sequencer thread behind a [`SubmitHandle`] has stopped (asked to, or after a
    /// failed flush): nothing more is accepted through it; reopen the ledger and start a
    /// new one. Whether the submission was recorded is unknown only if the reason says the
    /// flush failed: resubmit the same bytes, and the submission id makes that idempotent.
    #[error("sequencer stopped: {0}")]
    SequencerStopped(String),
    /// An input file is larger than the cap for its kind ([`limits`]): it is not the file
    /// meant, or it was made to exhaust memory.
    #[error("{} is larger than {limit} bytes, the cap for {what}; refused unread", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// What kind of file it should have been.
        what: &'static str,
        /// The cap, in bytes.
        limit: u64,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn corrupt_log(r: Refusal) -> Self {
        Error::CorruptLog(r)
    }
}
