//! The submission: what an author signs.

use crate::ids::{KeyId, Reference, Sig64, Subject, SubmissionId, TrialId};
use crate::{encode, tags, Envelope, UtcMicros};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// The only submission struct version defined so far.
pub const SUBMISSION_VERSION: u16 = 1;

/// The meaning of a signature (21 CFR 11.50). Variant order frozen: authored 0, reviewed 1,
/// approved 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Meaning {
    /// The signer wrote the content.
    Authored,
    /// The signer reviewed content written by others.
    Reviewed,
    /// The signer approves the content (for example an MTB decision).
    Approved,
}

impl Meaning {
    /// The name used in JSON and printed manifestations.
    pub fn as_str(self) -> &'static str {
        match self {
            Meaning::Authored => "authored",
            Meaning::Reviewed => "reviewed",
            Meaning::Approved => "approved",
        }
    }
}
impl fmt::Display for Meaning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A submission: an event about a subject, as its author signs it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Submission {
    /// Struct version, [`SUBMISSION_VERSION`].
    pub version: u16,
    /// The trial. Also in the signing prefix, so a signature never crosses trials.
    pub trial_id: TrialId,
    /// Unique per partition; a resubmission of the same id returns the original record.
    pub submission_id: SubmissionId,
    /// Whom the event is about; decides the partition.
    pub subject: Subject,
    /// The event.
    pub envelope: Envelope,
    /// Key id of the author's key.
    pub author: KeyId,
    /// What the signature means.
    pub meaning: Meaning,
    /// The author's clock when signing. Informational: ordering uses the sequencer's time.
    pub client_time: UtcMicros,
    /// The lowest registry position the author relies on (for example the protocol version
    /// they read). The sequencer waits briefly for it, then refuses.
    pub min_registry_seq: u64,
    /// Records this event cites, in any partition.
    pub cites: Vec<Reference>,
}

impl Submission {
    /// The message an author signs: `tags::SUBMISSION_SIG || trial_id || 0x00 || canonical bytes`.
    pub fn signing_message(&self) -> Vec<u8> {
        signing_message(&self.trial_id, &encode(self))
    }
}

/// The author's signing message for already-encoded submission bytes.
pub fn signing_message(trial: &TrialId, submission_bytes: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(
        tags::SUBMISSION_SIG.len() + trial.as_str().len() + 1 + submission_bytes.len(),
    );
    m.extend_from_slice(tags::SUBMISSION_SIG);
    m.extend_from_slice(trial.as_str().as_bytes());
    m.push(0);
    m.extend_from_slice(submission_bytes);
    m
}

/// A submission with its author's signature: what writers put on the intake.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignedSubmission {
    /// The signed content.
    pub submission: Submission,
    /// Ed25519 signature over [`Submission::signing_message`].
    pub signature: Sig64,
}

/// The partition of a subject (FORMAT.md, "Partitions").
///
/// The trial subject is always partition 0. Any other subject goes to
/// `u64_be(SHA-256(tags::PARTITION || trial_id || 0x00 || canonical(subject))[0..8]) mod N`.
pub fn partition_of(trial: &TrialId, subject: &Subject, partition_count: u32) -> u32 {
    if *subject == Subject::Trial || partition_count <= 1 {
        return 0;
    }
    let mut h = Sha256::new();
    h.update(tags::PARTITION);
    h.update(trial.as_str().as_bytes());
    h.update([0u8]);
    h.update(encode(subject));
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    (u64::from_be_bytes(first) % u64::from(partition_count)) as u32
}
