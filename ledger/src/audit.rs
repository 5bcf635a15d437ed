//! Proof files and held checkpoints: what `trial-ledger prove` writes, what `check-proof`
//! verifies offline, and how `verify --against` checks that a ledger still extends the
//! checkpoints an auditor holds. FORMAT.md §17a specifies the files.
//!
//! # Which key signed a checkpoint
//!
//! A trust file pins only the trial's root key. A proof names a signed checkpoint and carries
//! the sequencer keys that may have signed it, each with its `KeyEnrolled` record (partition 0)
//! as stored: that record's submission is signed by the root key, so with the root pinned a
//! verifier knows the root enrolled the key as a sequencer key ([`KeyPin::Root`]). A verifier
//! may instead pin the sequencer key itself ([`KeyPin::Sequencer`]). Without either, the key
//! is the one the proof carries ([`KeyPin::Unpinned`]), which proves nothing about who signed:
//! the caller must say so. Revocation is not visible in a proof; `verify` on the ledger sees it.

use crate::checkpoint::{key_hash, partition_origin, SignedCheckpoint};
use crate::codec::decode_record;
use crate::crypto::verify_one;
use crate::merkle::{verify_consistency, verify_inclusion, MerkleTree};
use crate::publish::sequencer_key_name;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tl_schemas::events::{event_type, KeyEnrolled};
use tl_schemas::{decode, record_hash, Hash32, KeyId, Role, TrialId};

/// The value of `format` in every proof file.
pub const PROOF_FORMAT: &str = "trial-ledger-proof/v1";

/// The record hash (the Merkle leaf) of stored record bytes: `SHA-256(0x00 || body)`, the
/// body being all but the last 64 bytes (the seal). `None` for bytes too short to be a record.
pub fn leaf_hash(record: &[u8]) -> Option<Hash32> {
    (record.len() > 64).then(|| record_hash(&record[..record.len() - 64]))
}

/// The record hashes of a partition's stored records, up to the first that is too short to
/// be a record.
pub fn leaf_hashes(records: &[Vec<u8>]) -> Vec<Hash32> {
    records.iter().map_while(|r| leaf_hash(r)).collect()
}

/// Fixed-size and variable byte strings as lowercase hex in JSON.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer, T: AsRef<[u8]>>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: TryFrom<Vec<u8>>>(
        d: D,
    ) -> Result<T, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = hex::decode(&text).map_err(serde::de::Error::custom)?;
        let len = bytes.len();
        T::try_from(bytes)
            .map_err(|_| serde::de::Error::custom(format!("{len} bytes is the wrong length")))
    }
}

/// A sequencer key as a proof carries it: the key and its enrolment record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequencerKey {
    /// The Ed25519 public key (hex).
    #[serde(with = "hex_bytes")]
    pub public_key: [u8; 32],
    /// Its key id (hex).
    pub key_id: KeyId,
    /// The `KeyEnrolled` record that enrolled it.
    pub enrolment: Enrolment,
}

/// A `KeyEnrolled` record, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enrolment {
    /// Always 0: the registry lives in partition 0.
    pub partition: u32,
    /// Its sequence number.
    pub seq: u64,
    /// Its record hash.
    pub record_hash: Hash32,
    /// The record's wire bytes (hex): `canonical(body) || seal`.
    #[serde(with = "hex_bytes")]
    pub record: Vec<u8>,
}

impl SequencerKey {
    /// The key of a stored record, if it is a `KeyEnrolled` of a sequencer-role key of `trial`.
    pub fn from_record(trial: &TrialId, seq: u64, bytes: &[u8]) -> Option<SequencerKey> {
        let (record, body_len) = decode_record(bytes).ok()?;
        let sub = &record.body.submission.submission;
        if sub.trial_id != *trial || sub.envelope.event_type != event_type::KEY_ENROLLED {
            return None;
        }
        let ev: KeyEnrolled = decode(&sub.envelope.payload).ok()?;
        (ev.role == Role::Sequencer).then(|| SequencerKey {
            public_key: ev.public_key,
            key_id: KeyId::of_ed25519(&ev.public_key),
            enrolment: Enrolment {
                partition: 0,
                seq,
                record_hash: record_hash(&bytes[..body_len]),
                record: bytes.to_vec(),
            },
        })
    }

    /// Checks that the enrolment record enrols this key as a sequencer key of `trial`, and that
    /// its submission is signed by the root key `root`.
    pub fn check_enrolment(&self, trial: &TrialId, root: &[u8; 32]) -> Result<(), String> {
        let e = &self.enrolment;
        let (record, body_len) = decode_record(&e.record)
            .map_err(|r| format!("the enrolment record does not decode: {}", r.detail))?;
        if record_hash(&e.record[..body_len]) != e.record_hash {
            return Err("the enrolment record does not have the record hash given".into());
        }
        if e.partition != 0 || record.body.partition != 0 || record.body.seq != e.seq {
            return Err(format!(
                "the enrolment record is {}/{}, not the registry record 0/{} given",
                record.body.partition, record.body.seq, e.seq
            ));
        }
        let signed = &record.body.submission;
        let sub = &signed.submission;
        if sub.trial_id != *trial {
            return Err(format!(
                "the enrolment record is of trial {:?}",
                sub.trial_id.as_str()
            ));
        }
        if sub.author != KeyId::of_ed25519(root)
            || !verify_one(root, &sub.signing_message(), &signed.signature)
        {
            return Err("the enrolment record is not signed by the pinned root key".into());
        }
        match (SequencerKey::from_record(trial, e.seq, &e.record), self) {
            (Some(k), me) if k.public_key == me.public_key && k.key_id == me.key_id => Ok(()),
            _ => Err("the enrolment record does not enrol this key as a sequencer key".into()),
        }
    }
}

/// Every sequencer-role key enrolled in partition 0's records (all records given: pass the
/// verified prefix).
pub fn sequencer_keys(trial: &TrialId, partition0: &[Vec<u8>]) -> Vec<SequencerKey> {
    partition0
        .iter()
        .enumerate()
        .filter_map(|(seq, bytes)| SequencerKey::from_record(trial, seq as u64, bytes))
        .collect()
}

/// The keys among `keys` with a signature line on `note` under the trial's sequencer key
/// name (matched by signed-note key hash; not yet verified).
pub fn signers_among(
    trial: &TrialId,
    note: &SignedCheckpoint,
    keys: &[SequencerKey],
) -> Vec<SequencerKey> {
    let name = sequencer_key_name(trial);
    let lines = note.signers();
    keys.iter()
        .filter(|k| {
            let h = key_hash(&name, &k.public_key);
            lines.iter().any(|(n, kh)| *n == name && *kh == h)
        })
        .cloned()
        .collect()
}

/// What a proof is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Against {
    /// A checkpoint the sequencer signed and published.
    Checkpoint,
    /// The root computed from the ledger now, unsigned: no published checkpoint was asked for
    /// or covers the record.
    UnsignedRoot,
}

/// An inclusion proof file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProofFile {
    /// [`PROOF_FORMAT`].
    pub format: String,
    /// The trial id.
    pub trial: String,
    /// The partition.
    pub partition: u32,
    /// The record's sequence number (the leaf index).
    pub seq: u64,
    /// The record hash (the leaf).
    pub record_hash: Hash32,
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// The root of that tree.
    pub root: Hash32,
    /// The audit path, bottom up (RFC 9162 §2.1.3).
    pub path: Vec<Hash32>,
    /// What the root is.
    pub against: Against,
    /// The signed checkpoint of `tree_size` (a signed note), when `against` is `checkpoint`.
    pub checkpoint: Option<String>,
    /// The sequencer keys that signed the checkpoint, with their enrolment records.
    pub sequencer_keys: Vec<SequencerKey>,
}

/// A consistency proof file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProofFile {
    /// [`PROOF_FORMAT`].
    pub format: String,
    /// The trial id.
    pub trial: String,
    /// The partition.
    pub partition: u32,
    /// The earlier tree size.
    pub first_size: u64,
    /// Its root.
    pub first_root: Hash32,
    /// The later tree size.
    pub second_size: u64,
    /// Its root.
    pub second_root: Hash32,
    /// The consistency path (RFC 9162 §2.1.4).
    pub path: Vec<Hash32>,
    /// The signed checkpoint of `first_size`, if one was published.
    pub first_checkpoint: Option<String>,
    /// The signed checkpoint of `second_size`, if one was published.
    pub second_checkpoint: Option<String>,
    /// The sequencer keys that signed the checkpoints, with their enrolment records.
    pub sequencer_keys: Vec<SequencerKey>,
}

/// A proof file: `{"type": "inclusion" | "consistency", "format": ..., ...}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ProofFile {
    /// An inclusion proof.
    Inclusion(InclusionProofFile),
    /// A consistency proof.
    Consistency(ConsistencyProofFile),
}

/// Why a proof could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    /// The request does not fit the ledger (a sequence number or size beyond it, sizes out of
    /// order): fix the arguments.
    #[error("{0}")]
    Request(String),
    /// The ledger no longer has the root of a checkpoint it published: truncated or rewritten.
    #[error("{0}")]
    Diverged(String),
    /// The hashes could not be read (a [`ProofTree`] kept outside memory): try again later.
    #[error("{0}")]
    Unreadable(String),
}

/// The tree a [`Prover`] proves from: a [`MerkleTree`] in memory, or the same hashes kept
/// elsewhere (the API's tile cache of a partition on Kafka keeps them in a file), whose reads
/// can fail ([`ProveError::Unreadable`]).
pub trait ProofTree {
    /// The number of leaves.
    fn size(&self) -> u64;
    /// The leaf at `index`, below [`ProofTree::size`].
    fn leaf(&self, index: u64) -> Result<Hash32, ProveError>;
    /// The root of the tree of the first `size` leaves.
    fn root_at(&self, size: u64) -> Result<Hash32, ProveError>;
    /// The audit path of the leaf at `index` in the tree of the first `size` leaves.
    fn inclusion_path(&self, index: u64, size: u64) -> Result<Vec<Hash32>, ProveError>;
    /// The consistency path from the tree of `first` leaves to that of `second`.
    fn consistency_path(&self, first: u64, second: u64) -> Result<Vec<Hash32>, ProveError>;
}

impl ProofTree for MerkleTree {
    fn size(&self) -> u64 {
        MerkleTree::size(self)
    }

    fn leaf(&self, index: u64) -> Result<Hash32, ProveError> {
        MerkleTree::leaf(self, index).ok_or_else(|| {
            ProveError::Request(format!(
                "leaf {index} is not in the tree of {} leaves",
                MerkleTree::size(self)
            ))
        })
    }

    fn root_at(&self, size: u64) -> Result<Hash32, ProveError> {
        MerkleTree::root_at(self, size).map_err(|e| ProveError::Request(e.to_string()))
    }

    fn inclusion_path(&self, index: u64, size: u64) -> Result<Vec<Hash32>, ProveError> {
        self.inclusion_proof(index, size)
            .map(|p| p.path)
            .map_err(|e| ProveError::Request(e.to_string()))
    }

    fn consistency_path(&self, first: u64, second: u64) -> Result<Vec<Hash32>, ProveError> {
        self.consistency_proof(first, second)
            .map(|p| p.path)
            .map_err(|e| ProveError::Request(e.to_string()))
    }
}

/// A partition's tree with its published checkpoints, to make proofs from.
pub struct Prover<'a> {
    /// The trial.
    pub trial: &'a TrialId,
    /// The partition.
    pub partition: u32,
    /// The tree over the partition's records.
    pub tree: &'a dyn ProofTree,
    /// The checkpoints published for it, oldest first.
    pub published: &'a [SignedCheckpoint],
    /// The registry's sequencer keys.
    pub keys: &'a [SequencerKey],
}

impl Prover<'_> {
    /// The last published checkpoint of `size`, checked against the tree.
    fn checkpoint_of(&self, size: u64) -> Result<Option<&SignedCheckpoint>, ProveError> {
        let Some(c) = self
            .published
            .iter()
            .rev()
            .find(|c| c.unverified().size == size)
        else {
            return Ok(None);
        };
        self.check_extends(c)?;
        Ok(Some(c))
    }

    fn check_extends(&self, c: &SignedCheckpoint) -> Result<(), ProveError> {
        let cp = c.unverified();
        let root = match self.tree.root_at(cp.size) {
            Err(ProveError::Unreadable(m)) => return Err(ProveError::Unreadable(m)),
            r => r.ok(),
        };
        let ok = cp.origin == partition_origin(self.trial, self.partition) && root == Some(cp.root);
        if ok {
            Ok(())
        } else {
            Err(ProveError::Diverged(format!(
                "partition {} no longer extends the checkpoint of size {} it published (the ledger has {} records): truncated or rewritten; run `trial-ledger verify --against`",
                self.partition,
                cp.size,
                self.tree.size()
            )))
        }
    }

    fn keys_for<'c>(
        &self,
        notes: impl IntoIterator<Item = &'c SignedCheckpoint>,
    ) -> Vec<SequencerKey> {
        let mut out: Vec<SequencerKey> = Vec::new();
        for n in notes {
            for k in signers_among(self.trial, n, self.keys) {
                if !out.contains(&k) {
                    out.push(k);
                }
            }
        }
        out
    }

    /// An inclusion proof of record `seq`: in the tree of `size` records when given (against
    /// the checkpoint of that size if one was published, else the unsigned root); otherwise
    /// against the last published checkpoint if it covers `seq`, else the unsigned root of
    /// the whole partition.
    pub fn inclusion(&self, seq: u64, size: Option<u64>) -> Result<InclusionProofFile, ProveError> {
        let n = self.tree.size();
        let p = self.partition;
        if seq >= n {
            return Err(ProveError::Request(format!(
                "seq {seq} is beyond partition {p}, which has {n} records"
            )));
        }
        let (tree_size, checkpoint) = match size {
            Some(s) if s > n => {
                return Err(ProveError::Request(format!(
                    "size {s} is beyond partition {p}, which has {n} records"
                )))
            }
            Some(s) if seq >= s => {
                return Err(ProveError::Request(format!(
                    "record {seq} is not in the tree of the first {s} records"
                )))
            }
            Some(s) => (s, self.checkpoint_of(s)?),
            None => match self.published.last() {
                Some(c) if c.unverified().size > seq => {
                    self.check_extends(c)?;
                    (c.unverified().size, Some(c))
                }
                _ => (n, None),
            },
        };
        let path = self.tree.inclusion_path(seq, tree_size)?;
        Ok(InclusionProofFile {
            format: PROOF_FORMAT.into(),
            trial: self.trial.to_string(),
            partition: p,
            seq,
            record_hash: self.tree.leaf(seq)?,
            tree_size,
            root: self.tree.root_at(tree_size)?,
            path,
            against: if checkpoint.is_some() {
                Against::Checkpoint
            } else {
                Against::UnsignedRoot
            },
            checkpoint: checkpoint.map(|c| c.text().to_string()),
            sequencer_keys: self.keys_for(checkpoint),
        })
    }

    /// A consistency proof from the tree of `first` records to that of `second`.
    pub fn consistency(&self, first: u64, second: u64) -> Result<ConsistencyProofFile, ProveError> {
        let n = self.tree.size();
        let p = self.partition;
        if first > second {
            return Err(ProveError::Request(format!(
                "--from {first} is larger than --to {second}: a consistency proof goes from an earlier (smaller) tree to a later one"
            )));
        }
        if second > n {
            return Err(ProveError::Request(format!(
                "size {second} is beyond partition {p}, which has {n} records"
            )));
        }
        let c1 = self.checkpoint_of(first)?;
        let c2 = self.checkpoint_of(second)?;
        let path = self.tree.consistency_path(first, second)?;
        Ok(ConsistencyProofFile {
            format: PROOF_FORMAT.into(),
            trial: self.trial.to_string(),
            partition: p,
            first_size: first,
            first_root: self.tree.root_at(first)?,
            second_size: second,
            second_root: self.tree.root_at(second)?,
            path,
            first_checkpoint: c1.map(|c| c.text().to_string()),
            second_checkpoint: c2.map(|c| c.text().to_string()),
            sequencer_keys: self.keys_for(c1.into_iter().chain(c2)),
        })
    }
}

/// How `check-proof` trusts a sequencer key.
#[derive(Clone, Debug)]
pub enum KeyPin {
    /// This sequencer public key, given by the verifier.
    Sequencer([u8; 32]),
    /// The trial's root key from a trust file: a key the proof carries counts when its
    /// enrolment record is signed by this root.
    Root {
        /// The trial the trust file is for.
        trial: TrialId,
        /// The root public key.
        root: [u8; 32],
    },
    /// Nothing pinned: the keys the proof carries are taken as they are.
    Unpinned,
}

/// Why a proof file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ProofFailure {
    /// The file is not a proof file this version reads (exit 2).
    #[error("{0}")]
    Malformed(String),
    /// The proof does not prove what it claims (exit 1).
    #[error("{0}")]
    Failed(String),
}

/// What a proof that passed proved.
#[derive(Clone, Debug, Default)]
pub struct ProofCheck {
    /// One line per fact established.
    pub lines: Vec<String>,
    /// Whether a signed checkpoint was checked with an unpinned key (the caller must warn).
    pub unpinned: bool,
    /// Whether no root in the proof is signed (the caller should say so).
    pub unsigned: bool,
}

fn failed(s: impl Into<String>) -> ProofFailure {
    ProofFailure::Failed(s.into())
}

fn short(h: &Hash32) -> String {
    h.to_hex()[..16].to_string()
}

/// Parses a proof file (JSON).
pub fn parse_proof(text: &str) -> Result<ProofFile, ProofFailure> {
    let proof: ProofFile = serde_json::from_str(text)
        .map_err(|e| ProofFailure::Malformed(format!("not a trial-ledger proof file: {e}")))?;
    let format = match &proof {
        ProofFile::Inclusion(p) => &p.format,
        ProofFile::Consistency(p) => &p.format,
    };
    if format != PROOF_FORMAT {
        return Err(ProofFailure::Malformed(format!(
            "proof format {format:?} is unknown (this version reads {PROOF_FORMAT:?})"
        )));
    }
    Ok(proof)
}

/// Verifies that the signed checkpoint `text` is the checkpoint of `trial`/`partition` of
/// `size` with `root`, signed by a key `pin` accepts; adds a line describing the signer.
// The proof's facts and the caller's pin; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
fn check_signed(
    trial: &TrialId,
    partition: u32,
    size: u64,
    root: &Hash32,
    text: &str,
    keys: &[SequencerKey],
    pin: &KeyPin,
    out: &mut ProofCheck,
) -> Result<(), ProofFailure> {
    let note = SignedCheckpoint::parse(text)
        .map_err(|e| failed(format!("the checkpoint of size {size}: {e}")))?;
    let c = note.unverified();
    let origin = partition_origin(trial, partition);
    if c.origin != origin {
        return Err(failed(format!(
            "the checkpoint is of log {:?}, the proof is about {origin:?}",
            c.origin
        )));
    }
    if c.size != size || c.root != *root {
        return Err(failed(format!(
            "the checkpoint says size {} root {}, the proof says size {size} root {}",
            c.size,
            short(&c.root),
            short(root)
        )));
    }
    let name = sequencer_key_name(trial);
    let signer = match pin {
        KeyPin::Sequencer(pk) => {
            note.verify(&name, pk).map_err(|e| failed(e.to_string()))?;
            format!(
                "signed by the pinned sequencer key {}",
                KeyId::of_ed25519(pk)
            )
        }
        KeyPin::Root { .. } | KeyPin::Unpinned => {
            let candidates = signers_among(trial, &note, keys);
            if candidates.is_empty() {
                return Err(failed(format!(
                    "the checkpoint of size {size} has no signature by a sequencer key the proof carries (key name {name})"
                )));
            }
            let mut last_err = None;
            let mut good = None;
            for k in &candidates {
                if k.key_id != KeyId::of_ed25519(&k.public_key) {
                    last_err = Some(failed(
                        "a sequencer key's key_id does not match its public key",
                    ));
                    continue;
                }
                if let KeyPin::Root { root: r, .. } = pin {
                    if let Err(e) = k.check_enrolment(trial, r) {
                        last_err = Some(failed(format!("sequencer key {}: {e}", k.key_id)));
                        continue;
                    }
                }
                match note.verify(&name, &k.public_key) {
                    Ok(_) => {
                        good = Some(k);
                        break;
                    }
                    Err(e) => last_err = Some(failed(e.to_string())),
                }
            }
            let Some(k) = good else {
                return Err(last_err.expect("at least one candidate"));
            };
            if matches!(pin, KeyPin::Unpinned) {
                out.unpinned = true;
                format!(
                    "signed by sequencer key {} as carried by the proof (NOT pinned)",
                    k.key_id
                )
            } else {
                format!(
                    "signed by sequencer key {}, enrolled by the pinned root key in record 0/{}",
                    k.key_id, k.enrolment.seq
                )
            }
        }
    };
    out.lines.push(format!(
        "checkpoint {} size {size}: signature valid, {signer}",
        c.origin
    ));
    Ok(())
}

/// Checks a proof offline: the Merkle proof with [`crate::merkle`]'s verification, and each
/// signed checkpoint it names against the keys `pin` accepts.
pub fn check_proof(proof: &ProofFile, pin: &KeyPin) -> Result<ProofCheck, ProofFailure> {
    let (trial, partition, keys) = match proof {
        ProofFile::Inclusion(p) => (&p.trial, p.partition, &p.sequencer_keys),
        ProofFile::Consistency(p) => (&p.trial, p.partition, &p.sequencer_keys),
    };
    let trial = TrialId::new(trial)
        .map_err(|e| ProofFailure::Malformed(format!("the proof's trial id: {e}")))?;
    if let KeyPin::Root { trial: pinned, .. } = pin {
        if *pinned != trial {
            return Err(failed(format!(
                "the proof is about trial {trial}, the trust file pins trial {pinned}"
            )));
        }
    }
    let mut out = ProofCheck::default();
    match proof {
        ProofFile::Inclusion(p) => {
            verify_inclusion(&p.record_hash, p.seq, p.tree_size, &p.path, &p.root).map_err(|e| {
                failed(format!(
                    "inclusion of record {partition}/{} (hash {}) in the tree of size {} with root {}: {e}",
                    p.seq,
                    short(&p.record_hash),
                    p.tree_size,
                    short(&p.root)
                ))
            })?;
            out.lines.push(format!(
                "record {partition}/{} with hash {} is leaf {} of the tree of size {} with root {}",
                p.seq, p.record_hash, p.seq, p.tree_size, p.root
            ));
            match (p.against, &p.checkpoint) {
                (Against::Checkpoint, Some(text)) => check_signed(
                    &trial,
                    partition,
                    p.tree_size,
                    &p.root,
                    text,
                    keys,
                    pin,
                    &mut out,
                )?,
                (Against::Checkpoint, None) => {
                    return Err(failed(
                        "the proof says it is against a checkpoint but carries none",
                    ))
                }
                (Against::UnsignedRoot, None) => out.unsigned = true,
                (Against::UnsignedRoot, Some(_)) => {
                    return Err(ProofFailure::Malformed(
                        "an unsigned-root proof carries a checkpoint".into(),
                    ))
                }
            }
        }
        ProofFile::Consistency(p) => {
            verify_consistency(
                p.first_size,
                p.second_size,
                &p.first_root,
                &p.second_root,
                &p.path,
            )
            .map_err(|e| {
                failed(format!(
                    "consistency from size {} (root {}) to size {} (root {}): {e}",
                    p.first_size,
                    short(&p.first_root),
                    p.second_size,
                    short(&p.second_root)
                ))
            })?;
            out.lines.push(format!(
                "the tree of size {} (root {}) is a prefix of the tree of size {} (root {}) of partition {partition}",
                p.first_size, p.first_root, p.second_size, p.second_root
            ));
            for (size, root, text) in [
                (p.first_size, &p.first_root, &p.first_checkpoint),
                (p.second_size, &p.second_root, &p.second_checkpoint),
            ] {
                if let Some(text) = text {
                    check_signed(&trial, partition, size, root, text, keys, pin, &mut out)?;
                }
            }
            if p.first_checkpoint.is_none() && p.second_checkpoint.is_none() {
                out.unsigned = true;
            }
        }
    }
    Ok(out)
}

/// The outcome of checking one held checkpoint against a ledger.
#[derive(Clone, Debug, Serialize)]
pub struct HeldCheck {
    /// The checkpoint's origin.
    pub origin: String,
    /// Its partition, when the origin names one of this trial.
    pub partition: Option<u32>,
    /// Its size.
    pub size: u64,
    /// Its root.
    pub root: Hash32,
    /// Whether the ledger extends it.
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// The verdict, for callers that name the reason.
    #[serde(skip)]
    pub outcome: HeldOutcome,
}

/// The verdict on one held checkpoint (FORMAT.md §17a, checks 1 to 4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HeldOutcome {
    /// Not a checkpoint of a partition of this trial, or not validly signed by a sequencer
    /// key the registry enrols (checks 1 and 2).
    #[default]
    Invalid,
    /// The partition has fewer verified records than the checkpoint covers (check 3).
    Truncated,
    /// The partition's first `size` records have another root (check 4).
    Rewritten,
    /// The partition extends it.
    Extended,
}

/// Checks checkpoints a ledger published before they are handed out (`checkpoint`): the
/// held-checkpoint checks of FORMAT.md §17a against the partition's stored `records`, with the
/// sequencer keys `partition0` (partition 0's stored records) enrols; when `root` is given (the
/// trust file's root key), only keys whose enrolment record that root signed.
pub fn check_published(
    trial: &TrialId,
    root: Option<&[u8; 32]>,
    partition: u32,
    partition0: &[Vec<u8>],
    records: &[Vec<u8>],
    notes: &[SignedCheckpoint],
) -> Vec<HeldCheck> {
    let keys: Vec<SequencerKey> = sequencer_keys(trial, partition0)
        .into_iter()
        .filter(|k| root.is_none_or(|r| k.check_enrolment(trial, r).is_ok()))
        .collect();
    let mut leaves = vec![Vec::new(); partition as usize + 1];
    leaves[partition as usize] = leaf_hashes(records);
    check_held(trial, &leaves, &keys, notes)
}

/// Checks that a ledger still extends every held checkpoint: for each, that its origin is a
/// partition of `trial`, that it is signed by one of the registry's sequencer keys `keys`,
/// and that a consistency proof from its size to the partition's current size, computed from
/// `leaves` (the verified record hashes of each partition), verifies between its root and the
/// current root. Truncation (fewer records than the checkpoint) and a rewritten history (a
/// different root) both fail.
pub fn check_held(
    trial: &TrialId,
    leaves: &[Vec<Hash32>],
    keys: &[SequencerKey],
    held: &[SignedCheckpoint],
) -> Vec<HeldCheck> {
    let mut trees: BTreeMap<u32, MerkleTree> = BTreeMap::new();
    let name = sequencer_key_name(trial);
    held.iter()
        .map(|note| {
            let c = note.unverified();
            let mut check = HeldCheck {
                origin: c.origin.clone(),
                partition: None,
                size: c.size,
                root: c.root,
                ok: false,
                detail: String::new(),
                outcome: HeldOutcome::Invalid,
            };
            let partition = match c.partition() {
                Some((t, p)) if t == *trial && (p as usize) < leaves.len() => p,
                _ => {
                    check.detail = format!(
                        "the checkpoint is of log {:?}, not of a partition of trial {trial}",
                        c.origin
                    );
                    return check;
                }
            };
            check.partition = Some(partition);
            let signers = signers_among(trial, note, keys);
            let Some(signer) = signers.iter().find(|k| note.verify(&name, &k.public_key).is_ok())
            else {
                check.detail = if signers.is_empty() {
                    format!("not signed by any sequencer key the registry knows (key name {name})")
                } else {
                    "the sequencer's signature is invalid".into()
                };
                return check;
            };
            let tree = trees
                .entry(partition)
                .or_insert_with(|| MerkleTree::from_leaves(leaves[partition as usize].iter().copied()));
            let n = tree.size();
            if c.size > n {
                check.detail = format!(
                    "the ledger's partition {partition} has {n} verified records, fewer than the {} this checkpoint covers: truncated",
                    c.size
                );
                check.outcome = HeldOutcome::Truncated;
                return check;
            }
            let proof = tree
                .consistency_proof(c.size, n)
                .expect("size within the tree");
            match proof.verify(&c.root, &tree.root()) {
                Ok(()) => {
                    check.ok = true;
                    check.outcome = HeldOutcome::Extended;
                    check.detail = format!(
                        "signed by sequencer key {}; consistent with the ledger's {n} records ({} proof hashes)",
                        signer.key_id,
                        proof.path.len()
                    );
                }
                Err(e) => {
                    check.outcome = HeldOutcome::Rewritten;
                    let now = tree.root_at(c.size).expect("size within the tree");
                    check.detail = format!(
                        "the ledger's first {} records have root {}, the checkpoint says {}: history was rewritten ({e})",
                        c.size,
                        short(&now),
                        short(&c.root)
                    );
                }
            }
            check
        })
        .collect()
}
