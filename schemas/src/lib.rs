#![forbid(unsafe_code)]
//! # tl-schemas: the frozen wire format of trial-ledger
//!
//! This crate is the leaf of the workspace: every other crate speaks in its types. It defines
//!
//! * the identifiers ([`TrialId`], [`Subject`], [`KeyId`], [`SubmissionId`], [`Reference`]);
//! * the generic [`Envelope`] (event type, event version, algorithm ids, opaque payload);
//! * the [`Submission`] an author signs and the [`Record`] the sequencer seals;
//! * the trial-level events ([`events`]) and the role table ([`roles`]);
//! * canonical encoding ([`canonical`]), the partition function ([`partition_of`]), genesis,
//!   record hashes and the domain-separated signing messages.
//!
//! `schemas/FORMAT.md` is the byte-level specification of everything here, and the golden
//! vectors in `schemas/golden/` freeze it: `cargo test -p tl-schemas` fails if any byte drifts.
//! No cryptographic *verification* lives here, only the bytes that are signed and hashed; the
//! signature rule is in `tl-ledger`.

/// Implements `events::EventPayload` (version 1) for a payload struct: its type number and name.
macro_rules! payload {
    ($t:ty, $code:expr, $name:expr) => {
        impl $crate::events::EventPayload for $t {
            const TYPE: u16 = $code;
            const VERSION: u16 = 1;
            const NAME: &'static str = $name;
        }
    };
}

pub mod canonical;
pub mod clinical;
pub mod envelope;
pub mod events;
pub mod ids;
pub mod record;
pub mod roles;
pub mod submission;
pub mod time;

pub use canonical::{decode, encode, CanonicalError};
pub use envelope::{Envelope, HASH_ALG_SHA256, SIG_ALG_ED25519_ZIP215};
pub use events::event_type;
pub use ids::{Hash32, KeyId, Link, Reference, Sig64, Subject, SubmissionId, TrialId};
pub use record::{genesis_hash, record_hash, Record, RecordBody, RECORD_VERSION};
pub use roles::Role;
pub use submission::{partition_of, Meaning, SignedSubmission, Submission, SUBMISSION_VERSION};
pub use time::{Date, PartialDate, UtcMicros};

/// Domain-separation tags. Every hash and signature in the format starts with one of these,
/// followed (where the trial is known) by the trial id and a NUL byte, so that bytes made for
/// one purpose or one trial can never be accepted for another.
pub mod tags {
    /// Prefix of an author's signature message over a submission.
    pub const SUBMISSION_SIG: &[u8] = b"trial-ledger/v1/submission\0";
    /// Prefix of the sequencer's signature message over a record hash.
    pub const RECORD_SIG: &[u8] = b"trial-ledger/v1/record\0";
    /// Prefix of the new root key's co-signature in `RootKeyRotated`.
    pub const ROOT_ROTATION_SIG: &[u8] = b"trial-ledger/v1/root-rotation\0";
    /// Prefix of the genesis hash of a partition.
    pub const GENESIS: &[u8] = b"trial-ledger/v1/genesis\0";
    /// Prefix of the partition function's hash.
    pub const PARTITION: &[u8] = b"trial-ledger/v1/partition\0";
    /// Prefix of the key-id hash.
    pub const KEY_ID: &[u8] = b"trial-ledger/v1/key-id\0";
    /// Prefix of an admin's signature over a reimbursement dossier's `manifest.json`
    /// (`trial-ledger dossier`; FORMAT.md §8 and §20).
    pub const DOSSIER_MANIFEST_SIG: &[u8] = b"trial-ledger/v1/dossier-manifest\0";
    /// Prefix of the sequencer key's signature over an embedded writer's snapshot of its state
    /// (a cache, never an authority: FORMAT.md §8 and §17, "Writer snapshot").
    pub const WRITER_SNAPSHOT_SIG: &[u8] = b"trial-ledger/v1/writer-snapshot\0";
}
