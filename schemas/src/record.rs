//! The record: a submission ordered, linked and sealed by the sequencer.

use crate::ids::{Hash32, KeyId, Link, Sig64, TrialId};
use crate::submission::SignedSubmission;
use crate::{encode, tags, UtcMicros};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The only record struct version defined so far.
pub const RECORD_VERSION: u16 = 1;

/// The part of a record that is hashed. Its hash is the chain link, the Merkle leaf and what
/// the sequencer signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordBody {
    /// Struct version, [`RECORD_VERSION`].
    pub version: u16,
    /// The partition this record belongs to; must be `partition_of(subject)`.
    pub partition: u32,
    /// Position in the partition, from 0, without gaps.
    pub seq: u64,
    /// Hash of the previous record of the partition, or the partition's genesis hash at seq 0.
    pub prev_hash: Hash32,
    /// The subject's previous record in this partition, `None` for its first. Following these
    /// proves a subject's trail is complete.
    pub subject_prev: Option<Link>,
    /// The sequencer's clock; never decreases within a partition.
    pub ordering_time: UtcMicros,
    /// The registry position this record was validated under: the number of partition-0
    /// records whose effects it saw. Never decreases within a partition. In partition 0 it
    /// equals `seq`.
    pub registry_seq: u64,
    /// The author's signed submission.
    pub submission: SignedSubmission,
    /// Key id of the sealing key (a sequencer-role key, or the root key).
    pub sequencer: KeyId,
    /// Algorithm of the seal; only `SIG_ALG_ED25519_ZIP215`.
    pub seal_alg: u8,
}

/// A sealed record. On the wire (Kafka value, embedded frame) it is `canonical(body) || seal`,
/// the seal being the last 64 bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The hashed part.
    pub body: RecordBody,
    /// The sequencer's Ed25519 signature over [`seal_message`] of the record hash.
    pub seal: Sig64,
}

impl Record {
    /// The record hash: the RFC 9162 leaf hash `SHA-256(0x00 || canonical(body))`.
    pub fn hash(&self) -> Hash32 {
        record_hash(&encode(&self.body))
    }
}

impl RecordBody {
    /// The canonical bytes of the signed submission inside `body_bytes`, the canonical
    /// encoding of this body (as a record that decoded canonically holds): the author's
    /// signing message is built from them without encoding the submission again. `None` if
    /// `body_bytes` is too short to be this body's encoding.
    pub fn submission_bytes<'a>(&self, body_bytes: &'a [u8]) -> Option<&'a [u8]> {
        // postcard encodes a struct as its fields in order, so the submission sits between
        // the fields before it and the signature, sealing key and seal algorithm after it.
        let before = postcard::experimental::serialized_size(&(
            self.version,
            self.partition,
            self.seq,
            self.prev_hash,
            &self.subject_prev,
            self.ordering_time,
            self.registry_seq,
        ))
        .ok()?;
        let after = postcard::experimental::serialized_size(&(
            self.submission.signature,
            self.sequencer,
            self.seal_alg,
        ))
        .ok()?;
        body_bytes.get(before..body_bytes.len().checked_sub(after)?)
    }
}

/// The RFC 9162 leaf hash of encoded record-body bytes.
pub fn record_hash(body_bytes: &[u8]) -> Hash32 {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(body_bytes);
    Hash32(h.finalize().into())
}

/// The sequencer's signing message: `tags::RECORD_SIG || trial_id || 0x00 || record_hash`.
pub fn seal_message(trial: &TrialId, record_hash: &Hash32) -> Vec<u8> {
    let mut m = Vec::with_capacity(tags::RECORD_SIG.len() + trial.as_str().len() + 33);
    m.extend_from_slice(tags::RECORD_SIG);
    m.extend_from_slice(trial.as_str().as_bytes());
    m.push(0);
    m.extend_from_slice(&record_hash.0);
    m
}

/// The `prev_hash` of a partition's first record:
/// `SHA-256(tags::GENESIS || trial_id || 0x00 || u32_be(partition))`.
pub fn genesis_hash(trial: &TrialId, partition: u32) -> Hash32 {
    let mut h = Sha256::new();
    h.update(tags::GENESIS);
    h.update(trial.as_str().as_bytes());
    h.update([0u8]);
    h.update(partition.to_be_bytes());
    Hash32(h.finalize().into())
}
