//! Offline audit bundles: what `trial-ledger export` writes and `trial-ledger verify-bundle`
//! checks without the ledger. `schemas/BUNDLE.md` specifies the bytes and the verification
//! algorithm step by step; this module is its reference implementation.
//!
//! # What a bundle carries
//!
//! * the trust anchor: the trial id, the partition count and the trial's first root key (what
//!   the trust file pins);
//! * per partition it touches, the sequencer's signed checkpoints (oldest first; the last is
//!   the *anchor*), each earlier one with a consistency proof to the anchor;
//! * records, either as a *prefix* (every record `0 .. n` of the partition, whose root is tied
//!   to the anchor by one consistency proof) or *sparse* (chosen records, each with an
//!   inclusion proof to the anchor).
//!
//! Partition 0 is always a prefix: it is the registry, and a registry state at position `r`
//! is only known from every partition-0 record before `r` (a left-out revocation would
//! otherwise go unseen). For a subject (`export --subject`/`--cohort`), the other partitions
//! are sparse: the subject's records, which the verifier follows by their back-links
//! (`subject_prev`), and the records they cite. `export --all` carries every partition as a
//! prefix up to its anchor, and the verifier then also runs full verification
//! ([`crate::verify_ledger`]) over it.
//!
//! # What it cannot show
//!
//! Back-links prove that no record of the subject *before its latest carried record* was left
//! out. A record of the subject ordered after that one (say a later death) cannot be shown
//! absent without the whole partition: an `--all` bundle, or `trail` on the ledger, shows it.
//! Domain rules (the clinical state machine) need every subject's state and are only run on
//! `--all` bundles; role authority is checked for every carried record.

use crate::audit::{self, leaf_hashes, signers_among, SequencerKey};
use crate::checkpoint::{partition_origin, SignedCheckpoint};
use crate::codec::decode_record;
use crate::crypto::{verify_many, SigCheck};
use crate::merkle::{root_of, verify_consistency, verify_inclusion, MerkleTree};
use crate::publish::sequencer_key_name;
use crate::reason::{Reason, Refusal};
use crate::registry::{Author, Registry};
use crate::rules::DomainRules;
use crate::verify::{verify_ledger, PartitionInput};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use tl_schemas::events::{event_type, KeyEnrolled, RootKeyRotated};
use tl_schemas::record::{genesis_hash, seal_message};
use tl_schemas::roles::core_authority;
use tl_schemas::{
    decode, encode, partition_of, Hash32, KeyId, Link, Record, Role, Subject, SubmissionId, TrialId,
};

/// The first 8 bytes of every bundle file: `TLBUNDLE`.
pub const BUNDLE_MAGIC: [u8; 8] = *b"TLBUNDLE";

/// The bundle format version this software writes and reads.
pub const BUNDLE_VERSION: u16 = 1;

/// Why a bundle could not be read or written. Reading: the file is not a bundle this version
/// reads (exit 2). Writing: the request does not fit the ledger.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// The file does not start with [`BUNDLE_MAGIC`]: it is not a trial-ledger bundle.
    #[error("not a trial-ledger audit bundle (the file does not start with \"TLBUNDLE\")")]
    NotABundle,
    /// A bundle of a version this software does not read: use a newer verifier.
    #[error(
        "bundle format version {0} is unknown to this software (it reads version {BUNDLE_VERSION})"
    )]
    UnsupportedVersion(u16),
    /// The bytes after the magic are not the canonical encoding of a bundle (truncated,
    /// trailing bytes, a bad tag or length): the file is damaged.
    #[error("malformed bundle: {0}")]
    Malformed(String),
    /// The export request does not fit the ledger (an unknown subject, a ledger that does not
    /// extend its checkpoints): fix the request or run `verify`.
    #[error("{0}")]
    Export(String),
    /// Records the bundle needs are newer than the last published checkpoint of their
    /// partition: run `trial-ledger checkpoint --fresh` (it needs the sequencer key) and export
    /// again.
    #[error("{0}; run `trial-ledger checkpoint --data DIR --fresh` first, then export again")]
    Stale(String),
}

/// What a bundle is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    /// The whole ledger up to each partition's anchor checkpoint (`export --all`).
    All,
    /// One patient or cohort: its records, complete by back-links, and what they cite.
    Subject(Subject),
    /// Several patients and cohorts (a dossier's evidence, `trial-ledger dossier`): each one's
    /// records inside the cut (its partition's anchor), complete by back-links, what they cite,
    /// and partition 0 as a prefix up to its anchor (the whole registry of the cut).
    Subjects(Vec<Subject>),
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::All => f.write_str("all"),
            Scope::Subject(s) => write!(f, "{s}"),
            Scope::Subjects(list) => write!(f, "{} subjects", list.len()),
        }
    }
}

/// A signed checkpoint in a bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleCheckpoint {
    /// The signed note (FORMAT.md §17a), as the sequencer published it.
    pub note: String,
    /// The consistency proof from this checkpoint's tree to the anchor's (the section's last
    /// checkpoint); empty for the anchor itself. It shows the sequencer's checkpoints are one
    /// growing history, not a split view.
    pub to_anchor: Vec<Hash32>,
}

/// How a section's records are tied to its anchor checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Coverage {
    /// The records are exactly `seq 0 .. n`; `to_anchor` is the consistency proof from the
    /// tree of those `n` records to the anchor's tree. Needed where completeness matters: the
    /// registry (partition 0), and every partition of an `--all` bundle.
    Prefix {
        /// Consistency path from size `n` to the anchor's size.
        to_anchor: Vec<Hash32>,
    },
    /// Chosen records, each with its inclusion proof in the anchor's tree.
    Sparse,
}

/// A record in a bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleRecord {
    /// Its sequence number (the Merkle leaf index); must equal the record's own `seq`.
    pub seq: u64,
    /// The record's wire bytes, `canonical(body) || seal` (FORMAT.md §6.1).
    pub record: Vec<u8>,
    /// Its inclusion proof (audit path, bottom up) in the anchor's tree; empty in a prefix.
    pub path: Vec<Hash32>,
}

/// One partition's part of a bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// The partition.
    pub partition: u32,
    /// Its signed checkpoints, by strictly increasing size; the last is the anchor every
    /// proof of the section leads to. Empty only for an empty partition (nothing published).
    pub checkpoints: Vec<BundleCheckpoint>,
    /// How the records are tied to the anchor.
    pub coverage: Coverage,
    /// The records, by strictly increasing `seq`.
    pub records: Vec<BundleRecord>,
}

/// An offline audit bundle (the decoded form of a bundle file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// [`BUNDLE_VERSION`]; the first field, so a reader can dispatch on it.
    pub version: u16,
    /// The trial: every record and checkpoint must be of it.
    pub trial_id: TrialId,
    /// The trial's partition count N (as in the trust file and `TrialRegistered`).
    pub partition_count: u32,
    /// The trust anchor: the trial's first root public key, as the trust file pins it. A
    /// verifier compares it with its own pinned copy (`--trust`).
    pub root_public_key: [u8; 32],
    /// What the bundle is about.
    pub scope: Scope,
    /// The partitions it touches, by strictly increasing partition; partition 0 always.
    pub sections: Vec<Section>,
}

/// The bytes of a bundle file: [`BUNDLE_MAGIC`] followed by the canonical postcard encoding
/// of the [`Bundle`].
pub fn encode_bundle(bundle: &Bundle) -> Vec<u8> {
    let mut out = BUNDLE_MAGIC.to_vec();
    out.extend_from_slice(&encode(bundle));
    out
}

/// Reads a bundle file's bytes: the magic, the version (first field), then the canonical rule
/// (FORMAT.md §1) over the rest.
pub fn decode_bundle(bytes: &[u8]) -> Result<Bundle, BundleError> {
    let rest = bytes
        .strip_prefix(&BUNDLE_MAGIC[..])
        .ok_or(BundleError::NotABundle)?;
    match tl_schemas::canonical::peek_version(rest) {
        Some(BUNDLE_VERSION) => {}
        Some(v) => return Err(BundleError::UnsupportedVersion(v)),
        None => return Err(BundleError::Malformed("no version after the magic".into())),
    }
    decode::<Bundle>(rest).map_err(|e| BundleError::Malformed(e.to_string()))
}

// ---- export ------------------------------------------------------------------------------

/// What [`export`] reads: a ledger that has been verified, and its published checkpoints.
pub struct ExportSource<'a> {
    /// The trial.
    pub trial: &'a TrialId,
    /// The pinned first root key (the trust anchor written into the bundle).
    pub root: [u8; 32],
    /// The partition count N.
    pub partition_count: u32,
    /// Each partition's records (wire bytes), index = seq; only a verified ledger.
    pub records: &'a [Vec<Vec<u8>>],
    /// Each partition's published checkpoints, oldest first.
    pub published: &'a [Vec<SignedCheckpoint>],
}

/// A partition's tree and anchor while exporting.
struct Anchored {
    /// The partition's tree over all its records, for proofs.
    tree: MerkleTree,
    /// The checkpoints carried (strictly increasing sizes; the last is the anchor).
    checkpoints: Vec<SignedCheckpoint>,
}

impl Anchored {
    fn anchor_size(&self) -> u64 {
        self.checkpoints.last().map_or(0, |c| c.unverified().size)
    }
}

fn anchored(src: &ExportSource<'_>, p: u32) -> Result<Anchored, BundleError> {
    let records = &src.records[p as usize];
    let tree = MerkleTree::from_leaves(leaf_hashes(records));
    let mut checkpoints: Vec<SignedCheckpoint> = Vec::new();
    for c in &src.published[p as usize] {
        let cp = c.unverified();
        if cp.origin != partition_origin(src.trial, p)
            || tree.root_at(cp.size).ok() != Some(cp.root)
        {
            return Err(BundleError::Export(format!(
                "partition {p} no longer extends the checkpoint of size {} it published (the ledger has {} records): truncated or rewritten; run `trial-ledger verify --against`",
                cp.size,
                tree.size()
            )));
        }
        // One checkpoint per size, in increasing order (the writer publishes only on growth;
        // a re-published size is the same tree head).
        match checkpoints.last() {
            Some(last) if last.unverified().size >= cp.size => {}
            _ => checkpoints.push(c.clone()),
        }
    }
    Ok(Anchored { tree, checkpoints })
}

fn section_checkpoints(a: &Anchored) -> Vec<BundleCheckpoint> {
    let anchor = a.anchor_size();
    a.checkpoints
        .iter()
        .map(|c| BundleCheckpoint {
            note: c.text().to_string(),
            to_anchor: a
                .tree
                .consistency_proof(c.unverified().size, anchor)
                .expect("sizes within the tree")
                .path,
        })
        .collect()
}

fn stale(p: u32, seq: u64, a: &Anchored) -> BundleError {
    BundleError::Stale(format!(
        "record {p}/{seq} is newer than the last published checkpoint of partition {p} (size {})",
        a.anchor_size()
    ))
}

/// Builds the bundle of `scope` from a verified ledger (see the module documentation for what
/// goes in). Fails on an unknown subject, on a ledger that no longer extends its published
/// checkpoints, and when a record the bundle needs is not covered by a published checkpoint.
pub fn export(src: &ExportSource<'_>, scope: &Scope) -> Result<Bundle, BundleError> {
    let n = src.partition_count;
    if n == 0 || src.records.len() != n as usize || src.published.len() != n as usize {
        return Err(BundleError::Export(format!(
            "the ledger has {} partitions and {} checkpoint lists, the trust file says {n}",
            src.records.len(),
            src.published.len()
        )));
    }
    let mut anchors: BTreeMap<u32, Anchored> = BTreeMap::new();
    fn anchor_of(
        anchors: &mut BTreeMap<u32, Anchored>,
        src: &ExportSource<'_>,
        p: u32,
    ) -> Result<(), BundleError> {
        if let std::collections::btree_map::Entry::Vacant(v) = anchors.entry(p) {
            v.insert(anchored(src, p)?);
        }
        Ok(())
    }
    // Which records each partition section carries (partition 0 is decided last).
    let mut wanted: BTreeMap<u32, BTreeSet<u64>> = BTreeMap::new();
    match scope {
        Scope::All => {
            for p in 0..n {
                anchor_of(&mut anchors, src, p)?;
                let len = src.records[p as usize].len() as u64;
                let a = &anchors[&p];
                if len > a.anchor_size() {
                    return Err(stale(p, a.anchor_size(), a));
                }
                wanted.insert(p, (0..len).collect());
            }
        }
        Scope::Subject(subject) => {
            if *subject == Subject::Trial {
                return Err(BundleError::Export(
                    "a bundle is of a patient (patient:ID), a cohort (cohort:ID) or everything (--all), not of the trial subject".into(),
                ));
            }
            let sp = partition_of(src.trial, subject, n);
            let mut own = BTreeSet::new();
            let mut cites = Vec::new();
            for (seq, bytes) in src.records[sp as usize].iter().enumerate() {
                let (r, _) = decode_record(bytes)
                    .map_err(|e| BundleError::Export(format!("record {sp}/{seq}: {}", e.detail)))?;
                let sub = &r.body.submission.submission;
                if sub.subject == *subject {
                    own.insert(seq as u64);
                    cites.extend(sub.cites.iter().map(|c| (c.partition, c.seq)));
                }
            }
            let Some(&last) = own.last() else {
                return Err(BundleError::Export(format!(
                    "no records of {subject} in the ledger (partition {sp})"
                )));
            };
            anchor_of(&mut anchors, src, sp)?;
            if last >= anchors[&sp].anchor_size() {
                return Err(stale(sp, last, &anchors[&sp]));
            }
            wanted.insert(sp, own);
            for (p, seq) in cites {
                if p >= n || seq >= src.records[p as usize].len() as u64 {
                    return Err(BundleError::Export(format!(
                        "a record of {subject} cites {p}/{seq}, which is not in the ledger"
                    )));
                }
                anchor_of(&mut anchors, src, p)?;
                if seq >= anchors[&p].anchor_size() {
                    return Err(stale(p, seq, &anchors[&p]));
                }
                wanted.entry(p).or_default().insert(seq);
            }
        }
        Scope::Subjects(subjects) => {
            subjects_in_cut(src, subjects, &mut anchors, &mut wanted)?;
        }
    }

    // Partition 0: the prefix that establishes every key, role and protocol version a
    // carried record (or checkpoint signature) relies on.
    anchor_of(&mut anchors, src, 0)?;
    let keys = audit::sequencer_keys(src.trial, &src.records[0]);
    let mut prefix = 1u64; // TrialRegistered at least: it fixes N.
    for (&p, seqs) in &wanted {
        for &seq in seqs {
            let (r, _) = decode_record(&src.records[p as usize][seq as usize])
                .map_err(|e| BundleError::Export(format!("record {p}/{seq}: {}", e.detail)))?;
            prefix = prefix.max(r.body.registry_seq);
            if p == 0 {
                prefix = prefix.max(seq + 1);
            }
        }
    }
    let touched: Vec<u32> = wanted.keys().copied().chain([0]).collect();
    for p in &touched {
        for c in &anchors[p].checkpoints {
            for k in signers_among(src.trial, c, &keys) {
                prefix = prefix.max(k.enrolment.seq + 1);
            }
        }
    }
    if matches!(scope, Scope::Subjects(_)) {
        // The whole registry of the cut: a dossier's manifest signer is judged at its end.
        prefix = prefix.max(anchors[&0].anchor_size());
    }
    let a0 = &anchors[&0];
    if prefix > a0.anchor_size() {
        return Err(BundleError::Stale(format!(
            "the registry prefix the bundle needs (partition 0 up to seq {}) is beyond partition 0's last published checkpoint (size {})",
            prefix - 1,
            a0.anchor_size()
        )));
    }
    let p0 = wanted.entry(0).or_default();
    p0.extend(0..prefix);

    let mut sections = Vec::new();
    for p in 0..n {
        let Some(seqs) = wanted.get(&p) else {
            continue;
        };
        let a = &anchors[&p];
        let anchor = a.anchor_size();
        let is_prefix = p == 0 || *scope == Scope::All;
        let records = seqs
            .iter()
            .map(|&seq| BundleRecord {
                seq,
                record: src.records[p as usize][seq as usize].clone(),
                path: if is_prefix {
                    Vec::new()
                } else {
                    a.tree
                        .inclusion_proof(seq, anchor)
                        .expect("seq below the anchor")
                        .path
                },
            })
            .collect();
        let coverage = if is_prefix {
            Coverage::Prefix {
                to_anchor: a
                    .tree
                    .consistency_proof(seqs.len() as u64, anchor)
                    .expect("prefix within the anchor")
                    .path,
            }
        } else {
            Coverage::Sparse
        };
        sections.push(Section {
            partition: p,
            checkpoints: section_checkpoints(a),
            coverage,
            records,
        });
    }
    Ok(Bundle {
        version: BUNDLE_VERSION,
        trial_id: src.trial.clone(),
        partition_count: n,
        root_public_key: src.root,
        scope: scope.clone(),
        sections,
    })
}

/// Adds the subjects of a [`Scope::Subjects`] bundle: each one's records below its partition's
/// anchor (the cut), up to its first record that cites a record outside the cut (so the
/// carried trail stays a complete prefix of the subject's back-links), and the records they
/// cite. Each touched partition is decoded once.
fn subjects_in_cut(
    src: &ExportSource<'_>,
    subjects: &[Subject],
    anchors: &mut BTreeMap<u32, Anchored>,
    wanted: &mut BTreeMap<u32, BTreeSet<u64>>,
) -> Result<(), BundleError> {
    let n = src.partition_count;
    // Per subject: its records kept, what they cite, and whether its trail left the cut.
    type Trail = (Vec<u64>, Vec<(u32, u64)>, bool);
    let mut by_partition: BTreeMap<u32, HashMap<&Subject, Trail>> = BTreeMap::new();
    for subject in subjects {
        if *subject == Subject::Trial {
            return Err(BundleError::Export(
                "a dossier's evidence names patients and cohorts, not the trial subject".into(),
            ));
        }
        let sp = partition_of(src.trial, subject, n);
        by_partition
            .entry(sp)
            .or_default()
            .insert(subject, (Vec::new(), Vec::new(), false));
    }
    for (&sp, trails) in &mut by_partition {
        if let std::collections::btree_map::Entry::Vacant(v) = anchors.entry(sp) {
            v.insert(anchored(src, sp)?);
        }
        let cut = anchors[&sp].anchor_size() as usize;
        for (seq, bytes) in src.records[sp as usize].iter().enumerate().take(cut) {
            let (r, _) = decode_record(bytes)
                .map_err(|e| BundleError::Export(format!("record {sp}/{seq}: {}", e.detail)))?;
            let sub = &r.body.submission.submission;
            let Some((own, cites, left)) = trails.get_mut(&sub.subject) else {
                continue;
            };
            if *left {
                continue;
            }
            for c in &sub.cites {
                if c.partition >= n || c.seq >= src.records[c.partition as usize].len() as u64 {
                    return Err(BundleError::Export(format!(
                        "a record of {} cites {}/{}, which is not in the ledger",
                        sub.subject, c.partition, c.seq
                    )));
                }
                if let std::collections::btree_map::Entry::Vacant(v) = anchors.entry(c.partition) {
                    v.insert(anchored(src, c.partition)?);
                }
                if c.seq >= anchors[&c.partition].anchor_size() {
                    *left = true;
                }
            }
            if !*left {
                own.push(seq as u64);
                cites.extend(sub.cites.iter().map(|c| (c.partition, c.seq)));
            }
        }
    }
    for subject in subjects {
        let sp = partition_of(src.trial, subject, n);
        let (own, cites, _) = &by_partition[&sp][subject];
        if own.is_empty() {
            return Err(BundleError::Export(format!(
                "no records of {subject} inside the cut (partition {sp}, {} records)",
                anchors[&sp].anchor_size()
            )));
        }
        wanted.entry(sp).or_default().extend(own);
        for &(p, seq) in cites {
            wanted.entry(p).or_default().insert(seq);
        }
    }
    Ok(())
}

// ---- verification ------------------------------------------------------------------------

/// What a verifier pins: its own copy of the trust file's facts.
#[derive(Clone, Debug)]
pub struct Pinned {
    /// The trial id.
    pub trial: TrialId,
    /// The trial's first root public key.
    pub root: [u8; 32],
    /// The partition count.
    pub partitions: u32,
}

/// Why a bundle's verdict is negative: the item that failed and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BundleFailure {
    /// What failed: `record P/S`, `checkpoint K of partition P`, `partition P`, `trust anchor`,
    /// `scope`, ...
    pub item: String,
    /// Stable reason code (BUNDLE.md, "Reason codes"; record codes are FORMAT.md §16.3's).
    pub reason: &'static str,
    /// Explanation.
    pub detail: String,
}

impl std::fmt::Display for BundleFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.item, self.reason, self.detail)
    }
}

/// The outcome of checking one held checkpoint against a bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeldStatus {
    /// The bundle's checkpoints extend it (same root at its size).
    Consistent,
    /// The bundle does not cover its partition or size: nothing is shown either way.
    NotCovered,
    /// The bundle's partition ends before it: the ledger was truncated, or the bundle predates
    /// the held checkpoint.
    Truncated,
    /// The bundle has another root at its size: a rewritten history or a split view.
    Rewritten,
    /// Not validly signed by a sequencer key of the bundle's registry.
    BadSignature,
}

/// One held checkpoint, checked against the bundle.
#[derive(Clone, Debug, Serialize)]
pub struct HeldBundleCheck {
    /// The checkpoint's origin.
    pub origin: String,
    /// Its size.
    pub size: u64,
    /// Its root.
    pub root: Hash32,
    /// The verdict.
    pub status: HeldStatus,
    /// What was found.
    pub detail: String,
}

/// The verdict on a bundle.
#[derive(Clone, Debug, Serialize)]
pub struct BundleReport {
    /// The trial the bundle says it is of.
    pub trial: String,
    /// Its scope.
    pub scope: String,
    /// Whether every check passed (and no held checkpoint is contradicted).
    pub ok: bool,
    /// The first failure, if any.
    pub failure: Option<BundleFailure>,
    /// Whether the trust anchor was compared with a pinned trust file.
    pub anchor_pinned: bool,
    /// Records carried.
    pub records: u64,
    /// Records that passed every check (all of them when `ok`).
    pub records_verified: u64,
    /// The partitions the bundle touches.
    pub partitions: Vec<u32>,
    /// Signed checkpoints verified.
    pub checkpoints_verified: u64,
    /// Record signatures (seals and author signatures) verified.
    pub signatures_verified: u64,
    /// The length of the partition-0 prefix (the registry position established).
    pub registry_prefix: u64,
    /// The subject's records, complete by back-links (subject bundles).
    pub subject_records: Vec<String>,
    /// Records of event types this verifier does not know (authority unchecked).
    pub unknown_type_records: u64,
    /// Citations of carried records that point at records the bundle does not carry
    /// (unchecked; never those of the subject's own records, which must be carried).
    pub uncarried_cites: u64,
    /// Held checkpoints (`--against`), when given.
    pub held: Vec<HeldBundleCheck>,
    /// What was established, one line per fact.
    pub lines: Vec<String>,
}

fn fail(item: impl Into<String>, reason: &'static str, detail: impl Into<String>) -> BundleFailure {
    BundleFailure {
        item: item.into(),
        reason,
        detail: detail.into(),
    }
}

fn rec_fail(p: u32, seq: u64, r: Refusal) -> BundleFailure {
    fail(format!("record {p}/{seq}"), r.reason.code(), r.detail)
}

fn rec(p: u32, seq: u64, reason: Reason, detail: impl Into<String>) -> BundleFailure {
    fail(format!("record {p}/{seq}"), reason.code(), detail)
}

fn short(h: &Hash32) -> String {
    h.to_hex()[..16].to_string()
}

/// A carried record, decoded.
struct Carried {
    /// The decoded record.
    record: Record,
    /// Its record hash (the Merkle leaf).
    hash: Hash32,
    /// Its wire bytes (for the sequencer keys of the registry and `--all` verification).
    bytes: Vec<u8>,
    /// Index of its seal check and author-signature check in the batch (`None`: key unknown).
    sigs: [Option<usize>; 2],
}

/// Verifies a bundle without the ledger (BUNDLE.md, "Verification"): trust anchor, layout,
/// records, the registry prefix, checkpoints and their consistency, inclusion, every record's
/// seal, author, key status and role, chains and references, the subject's back-links (or, for
/// `--all`, full verification with `rules`), then the held checkpoints. Stops at the first
/// failure.
pub fn verify_bundle<R: DomainRules>(
    bundle: &Bundle,
    pinned: Option<&Pinned>,
    held: &[SignedCheckpoint],
    rules: R,
) -> BundleReport {
    let mut report = BundleReport {
        trial: bundle.trial_id.to_string(),
        scope: bundle.scope.to_string(),
        ok: false,
        failure: None,
        anchor_pinned: pinned.is_some(),
        records: bundle.sections.iter().map(|s| s.records.len() as u64).sum(),
        records_verified: 0,
        partitions: bundle.sections.iter().map(|s| s.partition).collect(),
        checkpoints_verified: 0,
        signatures_verified: 0,
        registry_prefix: 0,
        subject_records: Vec::new(),
        unknown_type_records: 0,
        uncarried_cites: 0,
        held: Vec::new(),
        lines: Vec::new(),
    };
    let outcome = Verifier {
        b: bundle,
        rules: Some(rules),
        report: &mut report,
        verdicts: Vec::new(),
    }
    .run(pinned, held);
    match outcome {
        Ok(()) => {
            report.records_verified = report.records;
            report.ok = !report.held.iter().any(|h| {
                matches!(
                    h.status,
                    HeldStatus::Truncated | HeldStatus::Rewritten | HeldStatus::BadSignature
                )
            });
        }
        Err(f) => report.failure = Some(f),
    }
    report
}

struct Verifier<'a, R: DomainRules> {
    /// The bundle under verification.
    b: &'a Bundle,
    /// The domain rules: their authority table for every record, and their state machine for
    /// `--all` bundles (taken there).
    rules: Option<R>,
    /// The report being filled in.
    report: &'a mut BundleReport,
    /// Signature verdicts, indexed by [`Carried::sigs`].
    verdicts: Vec<bool>,
}

impl<R: DomainRules> Verifier<'_, R> {
    fn run(
        &mut self,
        pinned: Option<&Pinned>,
        held: &[SignedCheckpoint],
    ) -> Result<(), BundleFailure> {
        let b = self.b;
        let trial = &b.trial_id;
        let n = b.partition_count;

        // 1. The trust anchor.
        if let Some(pin) = pinned {
            if pin.trial != *trial || pin.root != b.root_public_key || pin.partitions != n {
                return Err(fail(
                    "trust anchor",
                    "trust-anchor",
                    format!(
                        "the bundle is of trial {trial} with root key {} and {n} partitions; the pinned trust file says trial {} with root key {} and {} partitions",
                        KeyId::of_ed25519(&b.root_public_key),
                        pin.trial,
                        KeyId::of_ed25519(&pin.root),
                        pin.partitions
                    ),
                ));
            }
            self.report.lines.push(format!(
                "trust anchor: root key {} pinned by the trust file",
                KeyId::of_ed25519(&pin.root)
            ));
        } else {
            self.report.lines.push(format!(
                "trust anchor: root key {} as the bundle carries it (NOT pinned: pass --trust)",
                KeyId::of_ed25519(&b.root_public_key)
            ));
        }
        if !(1..=65536).contains(&n) {
            return Err(fail(
                "trust anchor",
                "layout",
                format!("partition count {n} is not in 1..=65536"),
            ));
        }

        // 2. Layout.
        self.layout()?;

        // 3. Decode every record; collect the keys partition 0 names; batch the signatures.
        let carried = self.decode_all()?;

        // 4. Partition 0's prefix: chain, registry replay.
        let registry = self.replay_registry(&carried)?;

        // 5. Checkpoints: signatures, split views, consistency.
        let anchors = self.checkpoints(&carried[0])?;

        // 6. Inclusion of every record in its anchor.
        self.inclusion(&carried, &anchors)?;

        // 7. The records outside partition 0.
        self.records(&carried, &registry)?;

        // 8. A subject's back-links, 9. references, 10. an --all bundle's full verification.
        match &b.scope {
            Scope::Subject(s) => self.subject_chain(&carried, s)?,
            Scope::Subjects(list) => {
                for s in list {
                    self.subject_chain(&carried, s)?;
                }
            }
            Scope::All => {}
        }
        self.references(&carried)?;
        if b.scope == Scope::All {
            self.whole(&carried, &anchors)?;
        }

        // 11. Held checkpoints.
        self.held(held, &carried, &anchors);
        Ok(())
    }

    fn layout(&mut self) -> Result<(), BundleFailure> {
        let b = self.b;
        let n = b.partition_count;
        let mut last: Option<u32> = None;
        for s in &b.sections {
            let p = s.partition;
            let item = format!("partition {p}");
            if p >= n {
                return Err(fail(
                    item,
                    "layout",
                    format!("the trial has {n} partitions"),
                ));
            }
            if last.is_some_and(|l| l >= p) {
                return Err(fail(
                    item,
                    "layout",
                    "sections are not in increasing partition order",
                ));
            }
            last = Some(p);
            if s.checkpoints.is_empty() && !s.records.is_empty() {
                return Err(fail(
                    item,
                    "layout",
                    "records without a checkpoint to prove them against",
                ));
            }
            let mut prev: Option<u64> = None;
            for r in &s.records {
                if prev.is_some_and(|q| q >= r.seq) {
                    return Err(fail(
                        format!("record {p}/{}", r.seq),
                        "out-of-order",
                        format!("carried after record {p}/{}: records must be in increasing seq order (reordered records)", prev.unwrap_or(0)),
                    ));
                }
                prev = Some(r.seq);
            }
            for (i, r) in s.records.iter().enumerate() {
                if let Coverage::Prefix { .. } = s.coverage {
                    if r.seq != i as u64 {
                        return Err(fail(
                            format!("partition {p}"),
                            Reason::SeqGap.code(),
                            format!("the prefix must carry every record from seq 0; record {p}/{i} is missing (the next carried is {})", r.seq),
                        ));
                    }
                    if !r.path.is_empty() {
                        return Err(fail(
                            format!("record {p}/{}", r.seq),
                            "layout",
                            "a record of a prefix carries an inclusion path",
                        ));
                    }
                }
            }
        }
        match b.sections.first() {
            Some(Section {
                partition: 0,
                coverage: Coverage::Prefix { .. },
                records,
                ..
            }) if !records.is_empty() => Ok(()),
            _ => Err(fail(
                "partition 0",
                "registry-prefix",
                "a bundle must carry partition 0 as a prefix from seq 0 (the registry)",
            )),
        }
    }

    fn decode_all(&mut self) -> Result<Vec<BTreeMap<u64, Carried>>, BundleFailure> {
        let b = self.b;
        let mut out: Vec<BTreeMap<u64, Carried>> = (0..b.partition_count.min(65536))
            .map(|_| BTreeMap::new())
            .collect();
        for s in &b.sections {
            let p = s.partition;
            for r in &s.records {
                let (record, body_len) =
                    decode_record(&r.record).map_err(|e| rec_fail(p, r.seq, e))?;
                if record.body.seq != r.seq {
                    return Err(rec(
                        p,
                        r.seq,
                        Reason::SeqGap,
                        format!(
                            "the bundle lists it as seq {}, the record says seq {}",
                            r.seq, record.body.seq
                        ),
                    ));
                }
                let hash = tl_schemas::record_hash(&r.record[..body_len]);
                out[p as usize].insert(
                    r.seq,
                    Carried {
                        record,
                        hash,
                        bytes: r.record.clone(),
                        sigs: [None, None],
                    },
                );
            }
        }
        // Public keys named by the registry prefix (status is judged in the replay).
        let root = b.root_public_key;
        let mut keys: HashMap<KeyId, [u8; 32]> = HashMap::new();
        keys.insert(KeyId::of_ed25519(&root), root);
        for c in out[0].values() {
            let env = &c.record.body.submission.submission.envelope;
            if env.event_type == event_type::KEY_ENROLLED {
                if let Ok(ev) = decode::<KeyEnrolled>(&env.payload) {
                    keys.entry(KeyId::of_ed25519(&ev.public_key))
                        .or_insert(ev.public_key);
                }
            } else if env.event_type == event_type::ROOT_KEY_ROTATED {
                if let Ok(ev) = decode::<RootKeyRotated>(&env.payload) {
                    keys.entry(KeyId::of_ed25519(&ev.new_root_public_key))
                        .or_insert(ev.new_root_public_key);
                }
            }
        }
        let mut checks = Vec::new();
        for part in &mut out {
            for c in part.values_mut() {
                let body = &c.record.body;
                if let Some(pk) = keys.get(&body.sequencer) {
                    c.sigs[0] = Some(checks.len());
                    checks.push(SigCheck {
                        public_key: *pk,
                        signature: c.record.seal,
                        message: seal_message(&b.trial_id, &c.hash),
                    });
                }
                let sub = &body.submission;
                if let Some(pk) = keys.get(&sub.submission.author) {
                    c.sigs[1] = Some(checks.len());
                    checks.push(SigCheck {
                        public_key: *pk,
                        signature: sub.signature,
                        message: sub.submission.signing_message(),
                    });
                }
            }
        }
        self.verdicts = verify_many(&checks);
        self.report.signatures_verified = checks.len() as u64;
        Ok(out)
    }

    fn placement(&self, p: u32, seq: u64, c: &Carried) -> Result<(), BundleFailure> {
        let b = self.b;
        let sub = &c.record.body.submission.submission;
        if sub.trial_id != b.trial_id {
            return Err(rec(
                p,
                seq,
                Reason::WrongTrial,
                format!(
                    "the record is of trial {:?}, the bundle of {:?}",
                    sub.trial_id.as_str(),
                    b.trial_id.as_str()
                ),
            ));
        }
        if c.record.body.partition != p {
            return Err(rec(
                p,
                seq,
                Reason::WrongPartition,
                format!(
                    "carried in partition {p}, the record says partition {}",
                    c.record.body.partition
                ),
            ));
        }
        let want = partition_of(&b.trial_id, &sub.subject, b.partition_count);
        if want != p {
            return Err(rec(
                p,
                seq,
                Reason::WrongPartition,
                format!("subject {} belongs to partition {want}", sub.subject),
            ));
        }
        Ok(())
    }

    fn seal(
        &self,
        p: u32,
        seq: u64,
        c: &Carried,
        registry: &Registry,
    ) -> Result<(), BundleFailure> {
        let body = &c.record.body;
        let Some(i) = c.sigs[0] else {
            return Err(rec(
                p,
                seq,
                Reason::UnknownSequencer,
                format!(
                    "sealing key {} is neither the root nor a key the registry prefix enrols",
                    body.sequencer
                ),
            ));
        };
        if !self.verdicts[i] {
            return Err(rec(
                p,
                seq,
                Reason::BadSeal,
                format!("the seal by key {} does not verify", body.sequencer),
            ));
        }
        match registry.author_at(&body.sequencer, body.registry_seq) {
            Ok(Author::Root) | Ok(Author::Key(Role::Sequencer)) => Ok(()),
            Ok(Author::Key(role)) => Err(rec(
                p,
                seq,
                Reason::SequencerNotAuthorized,
                format!(
                    "sealing key {} has role {role}, not sequencer",
                    body.sequencer
                ),
            )),
            Err(r) => Err(rec(p, seq, Reason::SequencerNotAuthorized, r.detail)),
        }
    }

    fn author(
        &mut self,
        p: u32,
        seq: u64,
        c: &Carried,
        registry: &Registry,
    ) -> Result<(), BundleFailure> {
        let body = &c.record.body;
        let sub = &body.submission.submission;
        let known = registry.public_key(&sub.author).is_some();
        let Some(i) = c.sigs[1].filter(|_| known) else {
            return Err(rec(
                p,
                seq,
                Reason::UnknownKey,
                format!("author key {} is not in the registry", sub.author),
            ));
        };
        if !self.verdicts[i] {
            return Err(rec(
                p,
                seq,
                Reason::BadAuthorSignature,
                format!("the author signature by key {} does not verify", sub.author),
            ));
        }
        let author = registry
            .author_at(&sub.author, body.registry_seq)
            .map_err(|r| rec_fail(p, seq, r))?;
        let t = sub.envelope.event_type;
        let authority =
            core_authority(t).or_else(|| self.rules.as_ref().and_then(|r| r.authority(t)));
        match authority {
            None => self.report.unknown_type_records += 1,
            Some(a) if !a.permits(author.role()) => {
                let who = author
                    .role()
                    .map_or("the root key".to_string(), |r| format!("role {r}"));
                return Err(rec(
                    p,
                    seq,
                    Reason::RoleNotPermitted,
                    format!("{who} may not author event type {t}"),
                ));
            }
            Some(_) => {}
        }
        Ok(())
    }

    fn replay_registry(
        &mut self,
        carried: &[BTreeMap<u64, Carried>],
    ) -> Result<Registry, BundleFailure> {
        let b = self.b;
        let trial = &b.trial_id;
        let root_id = KeyId::of_ed25519(&b.root_public_key);
        let mut registry = Registry::new(trial.clone(), b.root_public_key);
        let mut prev = genesis_hash(trial, 0);
        let mut last_time = None;
        let mut heads: HashMap<Subject, Link> = HashMap::new();
        let mut seen: HashSet<SubmissionId> = HashSet::new();
        for (&seq, c) in &carried[0] {
            let body = &c.record.body;
            let sub = &body.submission.submission;
            self.placement(0, seq, c)?;
            if seq == 0 && (sub.author != root_id || body.sequencer != root_id) {
                return Err(rec(
                    0,
                    0,
                    Reason::RootMismatch,
                    format!(
                        "record 0/0 must be authored and sealed by the anchor's root key {root_id}"
                    ),
                ));
            }
            if body.prev_hash != prev {
                return Err(rec(
                    0,
                    seq,
                    Reason::PrevHash,
                    format!(
                        "prev_hash {} is not the previous record's hash {}",
                        short(&body.prev_hash),
                        short(&prev)
                    ),
                ));
            }
            let want = heads.get(&sub.subject).copied();
            if body.subject_prev != want {
                return Err(rec(
                    0,
                    seq,
                    Reason::SubjectPrev,
                    format!(
                        "subject_prev is not {}'s previous record in partition 0",
                        sub.subject
                    ),
                ));
            }
            if body.registry_seq != seq || body.registry_seq < sub.min_registry_seq {
                return Err(rec(
                    0,
                    seq,
                    Reason::RegistrySeq,
                    format!(
                        "registry_seq {} (it must be the seq, and at least min_registry_seq {})",
                        body.registry_seq, sub.min_registry_seq
                    ),
                ));
            }
            if last_time.is_some_and(|t| body.ordering_time < t) {
                return Err(rec(
                    0,
                    seq,
                    Reason::TimeRegressed,
                    "ordering_time is earlier than the previous record's",
                ));
            }
            if !seen.insert(sub.submission_id) {
                return Err(rec(
                    0,
                    seq,
                    Reason::DuplicateSubmission,
                    format!(
                        "submission id {} is already recorded in partition 0",
                        sub.submission_id
                    ),
                ));
            }
            self.seal(0, seq, c, &registry)?;
            self.author(0, seq, c, &registry)?;
            registry.check(sub).map_err(|r| rec_fail(0, seq, r))?;
            registry.apply(sub);
            if seq == 0 && registry.partition_count() != Some(b.partition_count) {
                return Err(fail(
                    "trust anchor",
                    "trust-anchor",
                    format!(
                        "TrialRegistered says {:?} partitions, the bundle {}",
                        registry.partition_count(),
                        b.partition_count
                    ),
                ));
            }
            prev = c.hash;
            last_time = Some(body.ordering_time);
            heads.insert(sub.subject.clone(), Link { seq, hash: c.hash });
        }
        self.report.registry_prefix = registry.position();
        self.report.lines.push(format!(
            "registry: partition 0 records 0..{} chained from genesis, sealed, signed, and replayed under the registry rules ({} keys, {} protocol versions)",
            registry.position(),
            registry.keys().len(),
            registry.protocols().len()
        ));
        Ok(registry)
    }

    fn checkpoints(
        &mut self,
        p0: &BTreeMap<u64, Carried>,
    ) -> Result<BTreeMap<u32, Vec<(u64, Hash32)>>, BundleFailure> {
        let b = self.b;
        let trial = &b.trial_id;
        let p0_bytes: Vec<Vec<u8>> = p0.values().map(|c| c.bytes.clone()).collect();
        let keys: Vec<SequencerKey> = audit::sequencer_keys(trial, &p0_bytes);
        let name = sequencer_key_name(trial);
        let mut out = BTreeMap::new();
        for s in &b.sections {
            let p = s.partition;
            if s.checkpoints.is_empty() {
                self.report
                    .lines
                    .push(format!("partition {p}: no records, no checkpoint"));
                continue;
            }
            let mut heads: Vec<(u64, Hash32)> = Vec::new();
            let mut signer_ids = BTreeSet::new();
            for (k, bc) in s.checkpoints.iter().enumerate() {
                let item = format!("checkpoint {k} of partition {p}");
                let note = SignedCheckpoint::parse(&bc.note)
                    .map_err(|e| fail(&item, "checkpoint-malformed", e.to_string()))?;
                let c = note.unverified();
                let origin = partition_origin(trial, p);
                if c.origin != origin {
                    return Err(fail(
                        item,
                        "checkpoint-origin",
                        format!("the checkpoint is of log {:?}, not {origin:?}", c.origin),
                    ));
                }
                let signers = signers_among(trial, &note, &keys);
                let Some(k) = signers
                    .iter()
                    .find(|k| note.verify(&name, &k.public_key).is_ok())
                else {
                    let why = if signers.is_empty() {
                        format!("no signature by a sequencer key the registry prefix enrols (key name {name})")
                    } else {
                        "the sequencer's signature is invalid".to_string()
                    };
                    return Err(fail(item, "checkpoint-signature", why));
                };
                signer_ids.insert(k.key_id.to_hex());
                heads.push((c.size, c.root));
                self.report.checkpoints_verified += 1;
            }
            for (i, (size, root)) in heads.iter().enumerate() {
                if let Some((_, other)) =
                    heads[..i].iter().find(|(s2, r2)| s2 == size && r2 != root)
                {
                    return Err(fail(
                        format!("checkpoints of partition {p}"),
                        "split-view",
                        format!("two signed checkpoints of size {size} with different roots ({} and {}): the sequencer showed two histories", short(other), short(root)),
                    ));
                }
                if i > 0 && heads[i - 1].0 >= *size {
                    return Err(fail(
                        format!("checkpoint {i} of partition {p}"),
                        "layout",
                        "checkpoints must be in strictly increasing size order",
                    ));
                }
            }
            let (asz, aroot) = *heads.last().expect("not empty");
            for (k, ((size, root), bc)) in heads.iter().zip(&s.checkpoints).enumerate() {
                let item = format!("checkpoint {k} of partition {p}");
                if k + 1 == heads.len() {
                    if !bc.to_anchor.is_empty() {
                        return Err(fail(
                            item,
                            "layout",
                            "the anchor carries a consistency path to itself",
                        ));
                    }
                    continue;
                }
                verify_consistency(*size, asz, root, &aroot, &bc.to_anchor).map_err(|e| {
                    fail(
                        item,
                        "inconsistent-checkpoints",
                        format!("size {size} (root {}) is not a prefix of the anchor, size {asz} (root {}): {e}", short(root), short(&aroot)),
                    )
                })?;
            }
            self.report.lines.push(format!(
                "partition {p}: {} signed checkpoint(s) by sequencer key {}, one growing history up to the anchor of size {asz} (root {})",
                heads.len(),
                signer_ids.into_iter().collect::<Vec<_>>().join(", "),
                short(&aroot)
            ));
            out.insert(p, heads);
        }
        Ok(out)
    }

    fn inclusion(
        &mut self,
        carried: &[BTreeMap<u64, Carried>],
        anchors: &BTreeMap<u32, Vec<(u64, Hash32)>>,
    ) -> Result<(), BundleFailure> {
        for s in &self.b.sections {
            let p = s.partition;
            let Some(&(asz, aroot)) = anchors.get(&p).and_then(|h| h.last()) else {
                continue;
            };
            match &s.coverage {
                Coverage::Prefix { to_anchor } => {
                    let hashes: Vec<Hash32> =
                        carried[p as usize].values().map(|c| c.hash).collect();
                    let m = hashes.len() as u64;
                    if m > asz {
                        return Err(fail(
                            format!("record {p}/{asz}"),
                            "not-in-checkpoint",
                            format!("the prefix carries {m} records, the anchor checkpoint covers {asz}"),
                        ));
                    }
                    let root = root_of(&hashes);
                    verify_consistency(m, asz, &root, &aroot, to_anchor).map_err(|e| {
                        fail(
                            format!("partition {p}"),
                            "not-in-checkpoint",
                            format!("records 0..{m} (root {}) are not the first {m} leaves of the anchor's tree (size {asz}, root {}): {e}", short(&root), short(&aroot)),
                        )
                    })?;
                }
                Coverage::Sparse => {
                    for r in &s.records {
                        let c = &carried[p as usize][&r.seq];
                        verify_inclusion(&c.hash, r.seq, asz, &r.path, &aroot).map_err(|e| {
                            fail(
                                format!("record {p}/{}", r.seq),
                                "not-in-checkpoint",
                                format!("hash {} is not leaf {} of the anchor's tree (size {asz}, root {}): {e}", short(&c.hash), r.seq, short(&aroot)),
                            )
                        })?;
                    }
                }
            }
        }
        self.report.lines.push(
            "inclusion: every carried record is a leaf of its partition's anchor checkpoint".into(),
        );
        Ok(())
    }

    fn records(
        &mut self,
        carried: &[BTreeMap<u64, Carried>],
        registry: &Registry,
    ) -> Result<(), BundleFailure> {
        let b = self.b;
        let registry_len = registry.position();
        for s in b.sections.iter().filter(|s| s.partition != 0) {
            let p = s.partition;
            let prefix = matches!(s.coverage, Coverage::Prefix { .. });
            let part = &carried[p as usize];
            let mut prev: Option<(u64, &Carried)> = None;
            let mut heads: HashMap<Subject, Link> = HashMap::new();
            let mut seen: HashSet<SubmissionId> = HashSet::new();
            for (&seq, c) in part {
                let body = &c.record.body;
                let sub = &body.submission.submission;
                self.placement(p, seq, c)?;
                let want_prev = match prev {
                    _ if seq == 0 => Some(genesis_hash(&b.trial_id, p)),
                    Some((ps, pc)) if ps + 1 == seq => Some(pc.hash),
                    _ => None,
                };
                if want_prev.is_some_and(|h| h != body.prev_hash) {
                    return Err(rec(
                        p,
                        seq,
                        Reason::PrevHash,
                        "prev_hash is not the previous record's hash",
                    ));
                }
                if let Some(link) = body.subject_prev {
                    let bad = link.seq >= seq
                        || part.get(&link.seq).is_some_and(|t| {
                            t.hash != link.hash
                                || t.record.body.submission.submission.subject != sub.subject
                        });
                    if bad {
                        return Err(rec(
                            p,
                            seq,
                            Reason::SubjectPrev,
                            format!(
                                "subject_prev {p}/{} is not an earlier record of {} with that hash",
                                link.seq, sub.subject
                            ),
                        ));
                    }
                }
                if prefix && body.subject_prev != heads.get(&sub.subject).copied() {
                    return Err(rec(
                        p,
                        seq,
                        Reason::SubjectPrev,
                        format!(
                            "subject_prev is not {}'s previous record in partition {p}",
                            sub.subject
                        ),
                    ));
                }
                let last_reg = prev.map_or(0, |(_, pc)| pc.record.body.registry_seq);
                if body.registry_seq > registry_len
                    || body.registry_seq < sub.min_registry_seq
                    || body.registry_seq < last_reg
                {
                    return Err(rec(
                        p,
                        seq,
                        Reason::RegistrySeq,
                        format!(
                            "registry_seq {} (the bundle's registry prefix has {registry_len} records; min_registry_seq {}; the previous carried record's {last_reg})",
                            body.registry_seq, sub.min_registry_seq
                        ),
                    ));
                }
                if prev.is_some_and(|(_, pc)| pc.record.body.ordering_time > body.ordering_time) {
                    return Err(rec(
                        p,
                        seq,
                        Reason::TimeRegressed,
                        "ordering_time is earlier than the previous carried record's",
                    ));
                }
                if !seen.insert(sub.submission_id) {
                    return Err(rec(
                        p,
                        seq,
                        Reason::DuplicateSubmission,
                        format!(
                            "submission id {} is already carried in partition {p}",
                            sub.submission_id
                        ),
                    ));
                }
                self.seal(p, seq, c, registry)?;
                self.author(p, seq, c, registry)?;
                heads.insert(sub.subject.clone(), Link { seq, hash: c.hash });
                prev = Some((seq, c));
            }
        }
        self.report.lines.push(format!(
            "records: every carried record decodes canonically, is placed in its subject's partition, sealed by an active sequencer key and signed by its author, whose key was active and whose role may author the type at the record's registry position ({} signatures, ZIP-215)",
            self.report.signatures_verified
        ));
        Ok(())
    }

    fn references(&mut self, carried: &[BTreeMap<u64, Carried>]) -> Result<(), BundleFailure> {
        let scoped: HashSet<&Subject> = match &self.b.scope {
            Scope::Subject(s) => HashSet::from([s]),
            Scope::Subjects(list) => list.iter().collect(),
            Scope::All => HashSet::new(),
        };
        for (p, part) in carried.iter().enumerate() {
            let p = p as u32;
            for (&seq, c) in part {
                let sub = &c.record.body.submission.submission;
                for r in &sub.cites {
                    if r.partition == p && r.seq >= seq {
                        return Err(rec(
                            p,
                            seq,
                            Reason::ReferenceMissing,
                            format!("reference {r} points at or after the citing record"),
                        ));
                    }
                    match carried
                        .get(r.partition as usize)
                        .and_then(|m| m.get(&r.seq))
                    {
                        Some(t) if t.hash != r.hash => {
                            return Err(rec(
                                p,
                                seq,
                                Reason::ReferenceMismatch,
                                format!(
                                    "cited record {}/{} has hash {}, not {}",
                                    r.partition,
                                    r.seq,
                                    short(&t.hash),
                                    short(&r.hash)
                                ),
                            ))
                        }
                        Some(_) => {}
                        None if scoped.contains(&sub.subject) => {
                            return Err(rec(
                                p,
                                seq,
                                Reason::ReferenceMissing,
                                format!(
                                    "a record of {} cites {}/{}, which the bundle does not carry",
                                    sub.subject, r.partition, r.seq
                                ),
                            ))
                        }
                        None => self.report.uncarried_cites += 1,
                    }
                }
            }
        }
        Ok(())
    }

    fn subject_chain(
        &mut self,
        carried: &[BTreeMap<u64, Carried>],
        s: &Subject,
    ) -> Result<(), BundleFailure> {
        let b = self.b;
        if *s == Subject::Trial {
            return Err(fail(
                "scope",
                "scope",
                "a subject bundle is of a patient or a cohort",
            ));
        }
        let sp = partition_of(&b.trial_id, s, b.partition_count);
        let part = &carried[sp as usize];
        let own: Vec<u64> = part
            .iter()
            .filter(|(_, c)| c.record.body.submission.submission.subject == *s)
            .map(|(&seq, _)| seq)
            .collect();
        let Some(&latest) = own.last() else {
            return Err(fail(
                "scope",
                "scope",
                format!("the bundle carries no record of {s} (partition {sp})"),
            ));
        };
        let mut reached = vec![latest];
        let mut at = latest;
        while let Some(link) = part[&at].record.body.subject_prev {
            if !part.contains_key(&link.seq) {
                return Err(fail(
                    format!("record {sp}/{at}"),
                    "incomplete-trail",
                    format!("this record of {s} links back (subject_prev) to {sp}/{}, which the bundle does not carry: a record of the subject was left out", link.seq),
                ));
            }
            reached.push(link.seq);
            at = link.seq;
        }
        reached.reverse();
        if reached != own {
            let extra: Vec<String> = own
                .iter()
                .filter(|q| !reached.contains(q))
                .map(|q| format!("{sp}/{q}"))
                .collect();
            return Err(fail(
                "scope",
                "incomplete-trail",
                format!(
                    "records of {s} not on its chain of back-links: {}",
                    extra.join(", ")
                ),
            ));
        }
        self.report
            .subject_records
            .extend(reached.iter().map(|q| format!("{sp}/{q}")));
        self.report.lines.push(format!(
            "{s}: {} records in partition {sp}, complete by back-links from {sp}/{latest} to its first record; a record ordered after {sp}/{latest} cannot be shown absent by a subject bundle (an --all bundle, or `trail` on the ledger, can)",
            reached.len()
        ));
        Ok(())
    }

    fn whole(
        &mut self,
        carried: &[BTreeMap<u64, Carried>],
        anchors: &BTreeMap<u32, Vec<(u64, Hash32)>>,
    ) -> Result<(), BundleFailure> {
        let b = self.b;
        for p in 0..b.partition_count {
            let Some(s) = b.sections.iter().find(|s| s.partition == p) else {
                return Err(fail(
                    format!("partition {p}"),
                    "scope",
                    "an --all bundle carries every partition",
                ));
            };
            let asz = anchors.get(&p).and_then(|h| h.last()).map_or(0, |h| h.0);
            if !matches!(s.coverage, Coverage::Prefix { .. }) || s.records.len() as u64 != asz {
                return Err(fail(
                    format!("partition {p}"),
                    "scope",
                    format!("an --all bundle carries each partition whole up to its anchor ({asz} records), as a prefix; it carries {}", s.records.len()),
                ));
            }
        }
        let inputs: Vec<PartitionInput> = carried
            .iter()
            .map(|part| PartitionInput::clean(part.values().map(|c| c.bytes.clone()).collect()))
            .collect();
        let rules = self.rules.take().expect("whole runs once");
        let report = verify_ledger(&b.trial_id, b.root_public_key, &inputs, rules);
        if let Some(f) = report.first_failure() {
            return Err(fail(
                format!("record {}/{}", f.partition, f.seq),
                f.reason,
                f.detail.clone(),
            ));
        }
        self.report.lines.push(format!(
            "full verification of the {} records (chains, back-links, references, registry and domain rules): OK",
            report.records_total
        ));
        Ok(())
    }

    fn held(
        &mut self,
        held: &[SignedCheckpoint],
        carried: &[BTreeMap<u64, Carried>],
        anchors: &BTreeMap<u32, Vec<(u64, Hash32)>>,
    ) {
        let b = self.b;
        let trial = &b.trial_id;
        let p0_bytes: Vec<Vec<u8>> = carried[0].values().map(|c| c.bytes.clone()).collect();
        let keys = audit::sequencer_keys(trial, &p0_bytes);
        let name = sequencer_key_name(trial);
        for note in held {
            let c = note.unverified();
            let mut h = HeldBundleCheck {
                origin: c.origin.clone(),
                size: c.size,
                root: c.root,
                status: HeldStatus::NotCovered,
                detail: String::new(),
            };
            let p = match c.partition() {
                Some((t, p)) if t == *trial && p < b.partition_count => p,
                _ => {
                    h.detail = format!("not a partition of trial {trial}");
                    self.report.held.push(h);
                    continue;
                }
            };
            let signed = signers_among(trial, note, &keys)
                .iter()
                .any(|k| note.verify(&name, &k.public_key).is_ok());
            if !signed {
                h.status = HeldStatus::BadSignature;
                h.detail = format!("not validly signed by a sequencer key of the bundle's registry (key name {name})");
                self.report.held.push(h);
                continue;
            }
            let Some(heads) = anchors.get(&p) else {
                h.detail = format!("the bundle does not carry partition {p}");
                self.report.held.push(h);
                continue;
            };
            let (asz, _) = *heads.last().expect("not empty");
            let prefix_len = b
                .sections
                .iter()
                .find(|s| s.partition == p && matches!(s.coverage, Coverage::Prefix { .. }))
                .map(|_| carried[p as usize].len() as u64);
            if c.size > asz {
                h.status = HeldStatus::Truncated;
                h.detail = format!(
                    "the bundle's partition {p} ends at its anchor of size {asz}, before this checkpoint of size {}: the ledger it was made from was truncated, or the bundle predates the checkpoint",
                    c.size
                );
            } else if let Some((_, root)) = heads.iter().find(|(s, _)| *s == c.size) {
                if *root == c.root {
                    h.status = HeldStatus::Consistent;
                    h.detail = format!(
                        "the bundle has this checkpoint, consistent with its anchor of size {asz}"
                    );
                } else {
                    h.status = HeldStatus::Rewritten;
                    h.detail = format!("the bundle's checkpoint of size {} has root {}, the held one {}: history was rewritten (split view)", c.size, short(root), short(&c.root));
                }
            } else if prefix_len.is_some_and(|m| m >= c.size) {
                let hashes: Vec<Hash32> = carried[p as usize]
                    .values()
                    .take(c.size as usize)
                    .map(|x| x.hash)
                    .collect();
                let root = root_of(&hashes);
                if root == c.root {
                    h.status = HeldStatus::Consistent;
                    h.detail = format!(
                        "the bundle's first {} records of partition {p} have this root",
                        c.size
                    );
                } else {
                    h.status = HeldStatus::Rewritten;
                    h.detail = format!("the bundle's first {} records of partition {p} have root {}, the held checkpoint {}: history was rewritten", c.size, short(&root), short(&c.root));
                }
            } else {
                h.detail = format!(
                    "the bundle carries no checkpoint of size {} for partition {p}",
                    c.size
                );
            }
            self.report.held.push(h);
        }
    }
}
