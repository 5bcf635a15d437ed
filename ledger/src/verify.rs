//! Full verification of a ledger from its bytes and the pinned root public key alone.
//!
//! Phases (FORMAT.md §16.2):
//! 1. decode every record (in parallel) and hash it;
//! 2. collect the public keys partition 0 names, to know what to verify signatures with;
//! 3. verify every seal and author signature in batches on every core, falling back to single
//!    checks inside a failing batch to name the bad record;
//! 4. replay partition 0, then every other partition, in order, with the checks of FORMAT.md
//!    (cited records must be stored with the cited hash before the registry and domain rules
//!    see them); a partition stops at its first failure, except that partition 0 goes on past
//!    a non-registry record that failed only checks which leave the registry valid
//!    ([`replay`]);
//! 5. fail every record that cites an invalid record (one that failed the replay, or cites
//!    an invalid record in turn);
//! 6. check every checkpoint the ledger stores against the valid prefixes ([`checkpoints`]).
//!
//! The report names each failing partition's first failing record by (partition, seq).

mod checkpoints;
mod record;
mod replay;

pub(crate) use record::{check_record, Place};

use crate::checkpoint::SignedCheckpoint;
use crate::codec::decode_record;
use crate::crypto::{verify_many, SigCheck};
use crate::reason::{Reason, Refusal};
use crate::rules::DomainRules;
use crate::state::{CiteCheck, RecordSource};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tl_schemas::events::{event_type, KeyEnrolled, RootKeyRotated};
use tl_schemas::record::seal_message;
use tl_schemas::{decode, record_hash, Hash32, KeyId, Record, Reference, TrialId};

/// How one partition's storage ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputEnd {
    /// After the last complete record.
    Clean,
    /// With an incomplete frame where record `seq` would be.
    TornTail {
        /// Position of the torn frame.
        seq: u64,
        /// Whether the next writer cuts it: false when a stored checkpoint shows that a
        /// complete record was there (FORMAT.md §17).
        writer_cuts: bool,
    },
    /// With a complete but corrupt frame at `seq`.
    Corrupt {
        /// Position of the corrupt frame.
        seq: u64,
        /// What was wrong.
        reason: String,
    },
}

/// One checkpoint the ledger stores for a partition (FORMAT.md §17a): an entry of the
/// embedded checkpoint file, or a message of the checkpoints topic.
#[derive(Clone, Debug)]
pub struct StoredCheckpoint {
    /// Where it is kept, for messages (the file, or the topic offset).
    pub at: String,
    /// The signed checkpoint, or why the entry is not one.
    pub note: Result<SignedCheckpoint, String>,
}

/// One partition's records as stored.
#[derive(Clone, Debug)]
pub struct PartitionInput {
    /// Record bytes in storage order.
    pub records: Vec<Vec<u8>>,
    /// Storage positions (Kafka offsets) of the records, if they differ from their index.
    pub offsets: Option<Vec<u64>>,
    /// How storage ended.
    pub end: InputEnd,
    /// The checkpoints the ledger stores for this partition, oldest first (a torn final
    /// entry of a checkpoint file is not among them).
    pub checkpoints: Vec<StoredCheckpoint>,
}

impl PartitionInput {
    /// Records that ended cleanly, stored at offsets equal to their index, with no stored
    /// checkpoints.
    pub fn clean(records: Vec<Vec<u8>>) -> Self {
        PartitionInput {
            records,
            offsets: None,
            end: InputEnd::Clean,
            checkpoints: Vec::new(),
        }
    }
}

/// A failing record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// Partition of the failing record.
    pub partition: u32,
    /// Its position in the partition (its expected sequence number).
    pub seq: u64,
    /// Its storage offset, where that differs from `seq` (Kafka).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Stable reason code.
    pub reason: &'static str,
    /// Explanation.
    pub detail: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "partition {} seq {}", self.partition, self.seq)?;
        if let Some(o) = self.offset {
            write!(f, " (offset {o})")?;
        }
        write!(f, ": {}: {}", self.reason, self.detail)
    }
}

/// The outcome of a verification.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The trial.
    pub trial: String,
    /// Whether every check passed.
    pub ok: bool,
    /// Records in the valid prefixes: each partition's records before its own first failure
    /// (every stored record when nothing failed).
    pub records_verified: u64,
    /// Records stored.
    pub records_total: u64,
    /// Partitions: the count `TrialRegistered` fixes (the stored count without one).
    pub partitions: u32,
    /// Signatures checked, valid or not: the seal and the author signature of every record
    /// that decodes, each counted when partition 0 names its key (two per record of an
    /// honest ledger).
    pub signatures_verified: u64,
    /// The first failure of each failing partition, in (partition, seq) order.
    pub failures: Vec<Failure>,
    /// Records of event types this verifier does not know (authority unchecked).
    pub unknown_type_records: u64,
    /// Disagreements that do not make the ledger fail (an empty partition the trial does not
    /// have); the caller may add its own (a trust file's partition count).
    pub warnings: Vec<String>,
    /// Wall time.
    #[serde(serialize_with = "ser_secs")]
    pub elapsed: Duration,
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Report {
    /// The first failing record, if any.
    pub fn first_failure(&self) -> Option<&Failure> {
        self.failures.first()
    }

    /// The first failure of one partition, if it failed.
    pub fn failure_of(&self, partition: u32) -> Option<&Failure> {
        self.failures.iter().find(|f| f.partition == partition)
    }
}

pub(crate) struct Decoded {
    /// Shared: cited records are handed to the domain rules without copying them.
    pub(crate) record: std::sync::Arc<Record>,
    pub(crate) hash: Hash32,
}

type DecodedLedger = [Vec<Result<Decoded, Refusal>>];

/// Decoded records, as a [`RecordSource`] for cited content and a [`CiteCheck`] for cites.
struct DecodedSource<'a>(&'a DecodedLedger);

impl RecordSource for DecodedSource<'_> {
    fn record(&self, partition: u32, seq: u64) -> Option<std::sync::Arc<Record>> {
        match self.0.get(partition as usize)?.get(seq as usize)? {
            Ok(d) => Some(std::sync::Arc::clone(&d.record)),
            Err(_) => None,
        }
    }
}

impl CiteCheck for DecodedSource<'_> {
    /// FORMAT.md §14, at verification, rules 1 to 4.
    fn check_cite(&self, p: u32, seq: u64, r: &Reference) -> Result<(), Refusal> {
        if r.partition == p && r.seq >= seq {
            return Err(Refusal::new(
                Reason::ReferenceMissing,
                format!("reference {r} points at or after the citing record"),
            ));
        }
        let at = format!("{}/{}", r.partition, r.seq);
        match self
            .0
            .get(r.partition as usize)
            .and_then(|v| v.get(r.seq as usize))
        {
            None => Err(Refusal::new(
                Reason::ReferenceMissing,
                format!("cited record {at} does not exist"),
            )),
            Some(Err(e)) => Err(Refusal::new(
                Reason::ReferenceInvalid,
                format!("cited record {at} does not decode ({})", e.reason),
            )),
            Some(Ok(t)) if t.hash != r.hash => Err(Refusal::new(
                Reason::ReferenceMismatch,
                format!("cited record {at} has hash {}, not {}", t.hash, r.hash),
            )),
            Some(Ok(_)) => Ok(()),
        }
    }
}

/// Verifies a whole ledger. `pinned_root` is the trial's root public key from a trust file.
pub fn verify_ledger<R: DomainRules>(
    trial: &TrialId,
    pinned_root: [u8; 32],
    inputs: &[PartitionInput],
    rules: R,
) -> Report {
    let started = Instant::now();
    let decoded = decode_all(inputs);
    let keys = named_keys(&decoded, pinned_root);
    let signatures = Signatures::verify(trial, &decoded, &keys);
    let mut v = replay::Verification::new(trial, pinned_root, inputs, &decoded, &signatures, rules);
    v.replay();
    v.check_references();
    v.check_checkpoints();
    v.report(started)
}

/// Phase 1: decode and hash every record, in parallel.
fn decode_all(inputs: &[PartitionInput]) -> Vec<Vec<Result<Decoded, Refusal>>> {
    inputs
        .iter()
        .map(|inp| {
            inp.records
                .par_iter()
                .map(|bytes| {
                    decode_record(bytes).map(|(record, body_len)| Decoded {
                        hash: record_hash(&bytes[..body_len]),
                        record: record.into(),
                    })
                })
                .collect()
        })
        .collect()
}

/// Phase 2: the public keys partition 0 names: enrolled keys and the new roots of rotations,
/// followed from the pinned first root. A `KeyEnrolled` or `RootKeyRotated` counts here when
/// its payload decodes as the v1 struct, whatever its `event_version` and position: status,
/// version and co-signatures are judged later, in order.
fn named_keys(decoded: &DecodedLedger, pinned_root: [u8; 32]) -> HashMap<KeyId, [u8; 32]> {
    let mut keys: HashMap<KeyId, [u8; 32]> = HashMap::new();
    keys.insert(KeyId::of_ed25519(&pinned_root), pinned_root);
    for d in decoded.first().into_iter().flatten().flatten() {
        let env = &d.record.body.submission.submission.envelope;
        let named = match env.event_type {
            event_type::KEY_ENROLLED => decode::<KeyEnrolled>(&env.payload)
                .ok()
                .map(|e| e.public_key),
            event_type::ROOT_KEY_ROTATED => decode::<RootKeyRotated>(&env.payload)
                .ok()
                .map(|e| e.new_root_public_key),
            _ => None,
        };
        if let Some(pk) = named {
            keys.entry(KeyId::of_ed25519(&pk)).or_insert(pk);
        }
    }
    keys
}

/// Phase 3: every seal and author signature, batched on every core.
struct Signatures {
    /// For each record: the index of its seal check and of its author-signature check,
    /// `None` where the key is unknown (reported, in order, in phase 4).
    slots: Vec<Vec<[Option<usize>; 2]>>,
    /// The verdict of each check.
    verdicts: Vec<bool>,
}

impl Signatures {
    fn verify(trial: &TrialId, decoded: &DecodedLedger, keys: &HashMap<KeyId, [u8; 32]>) -> Self {
        let mut checks = Vec::new();
        let mut check = |key: &KeyId, signature, message| {
            keys.get(key).map(|pk| {
                checks.push(SigCheck {
                    public_key: *pk,
                    signature,
                    message,
                });
                checks.len() - 1
            })
        };
        let slots = decoded
            .iter()
            .map(|part| {
                part.iter()
                    .map(|d| {
                        let Ok(d) = d else { return [None, None] };
                        let b = &d.record.body;
                        let sub = &b.submission.submission;
                        [
                            check(&b.sequencer, d.record.seal, seal_message(trial, &d.hash)),
                            check(&sub.author, b.submission.signature, sub.signing_message()),
                        ]
                    })
                    .collect()
            })
            .collect();
        Signatures {
            slots,
            verdicts: verify_many(&checks),
        }
    }

    /// The verdicts of record `i` of partition `p`: seal, author signature.
    fn at(&self, p: usize, i: usize) -> [Option<bool>; 2] {
        self.slots[p][i].map(|k| k.map(|k| self.verdicts[k]))
    }

    /// How many signatures were checked.
    fn count(&self) -> u64 {
        self.verdicts.len() as u64
    }
}

fn fail(inp: &PartitionInput, p: u32, seq: u64, r: Refusal) -> Failure {
    Failure {
        partition: p,
        seq,
        offset: inp
            .offsets
            .as_ref()
            .and_then(|o| o.get(seq as usize).copied()),
        reason: r.reason.code(),
        detail: r.detail,
    }
}
