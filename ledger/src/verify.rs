//! Full verification of a ledger from its bytes and the pinned root public key alone.
//!
//! Phases (FORMAT.md, "Verification"):
//! 1. decode every record (in parallel) and hash it;
//! 2. collect the public keys partition 0 names, to know what to verify signatures with;
//! 3. verify every seal and author signature in batches on every core, falling back to single
//!    checks inside a failing batch to name the bad record;
//! 4. replay partition 0, then every other partition, in order, with the checks of FORMAT.md;
//!    a partition stops at its first failure;
//! 5. check every reference against the valid prefixes of the cited partitions.
//!
//! The report names the first failing record by (partition, sequence number).

use crate::codec::decode_record;
use crate::crypto::{verify_many, SigCheck};
use crate::reason::{Reason, Refusal};
use crate::registry::Author;
use crate::rules::DomainRules;
use crate::state::{AuthorSignature, LedgerState, RecordSource, ReferenceCheck, UnknownTypes};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tl_schemas::events::{event_type, KeyEnrolled, RootKeyRotated};
use tl_schemas::record::seal_message;
use tl_schemas::roles::core_authority;
use tl_schemas::{decode, partition_of, record_hash, Hash32, KeyId, Record, TrialId};

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

/// One partition's records as stored.
#[derive(Clone, Debug)]
pub struct PartitionInput {
    /// Record bytes in storage order.
    pub records: Vec<Vec<u8>>,
    /// Storage positions (Kafka offsets) of the records, if they differ from their index.
    pub offsets: Option<Vec<u64>>,
    /// How storage ended.
    pub end: InputEnd,
}

impl PartitionInput {
    /// Records that ended cleanly, stored at offsets equal to their index.
    pub fn clean(records: Vec<Vec<u8>>) -> Self {
        PartitionInput {
            records,
            offsets: None,
            end: InputEnd::Clean,
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
    /// Records that passed every check.
    pub records_verified: u64,
    /// Records stored.
    pub records_total: u64,
    /// Partitions.
    pub partitions: u32,
    /// Signatures verified (two per record).
    pub signatures_verified: u64,
    /// The first failure of each failing partition, in (partition, seq) order.
    pub failures: Vec<Failure>,
    /// Records of event types this verifier does not know (authority unchecked).
    pub unknown_type_records: u64,
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
}

pub(crate) struct Decoded {
    /// Shared: cited records are handed to the domain rules without copying them.
    pub(crate) record: std::sync::Arc<Record>,
    pub(crate) hash: Hash32,
}

/// Decoded records, as a [`RecordSource`] for cited content.
struct DecodedSource<'a>(&'a [Vec<Result<Decoded, Refusal>>]);

impl RecordSource for DecodedSource<'_> {
    fn record(&self, partition: u32, seq: u64) -> Option<std::sync::Arc<Record>> {
        match self.0.get(partition as usize)?.get(seq as usize)? {
            Ok(d) => Some(std::sync::Arc::clone(&d.record)),
            Err(_) => None,
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
    // Phase 1: decode and hash, in parallel.
    let decoded: Vec<Vec<Result<Decoded, Refusal>>> = inputs
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
        .collect();

    // Phase 2: public keys named by partition 0: enrolled keys and the new roots of rotations,
    // followed from the pinned first root (status and co-signatures are judged later, in
    // order).
    let mut keys: HashMap<KeyId, [u8; 32]> = HashMap::new();
    keys.insert(KeyId::of_ed25519(&pinned_root), pinned_root);
    if let Some(p0) = decoded.first() {
        for d in p0.iter().flatten() {
            let env = &d.record.body.submission.submission.envelope;
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
    }

    // Phase 3: every signature, batched on every core. For each record: the index of its
    // seal check and of its author-signature check, `None` where the key is unknown (that is
    // reported, in order, in phase 4).
    let mut checks = Vec::new();
    let slots: Vec<Vec<[Option<usize>; 2]>> = decoded
        .iter()
        .map(|part| {
            part.iter()
                .map(|d| {
                    let Ok(d) = d else { return [None, None] };
                    let b = &d.record.body;
                    let sub = &b.submission.submission;
                    let mut slot = [None, None];
                    if let Some(pk) = keys.get(&b.sequencer) {
                        slot[0] = Some(checks.len());
                        checks.push(SigCheck {
                            public_key: *pk,
                            signature: d.record.seal,
                            message: seal_message(trial, &d.hash),
                        });
                    }
                    if let Some(pk) = keys.get(&sub.author) {
                        slot[1] = Some(checks.len());
                        checks.push(SigCheck {
                            public_key: *pk,
                            signature: b.submission.signature,
                            message: sub.signing_message(),
                        });
                    }
                    slot
                })
                .collect()
        })
        .collect();
    let verdicts = verify_many(&checks);
    let signatures_verified = checks.len() as u64;
    let verdict_at = |p: usize, i: usize| -> [Option<bool>; 2] {
        let s = slots[p][i];
        [s[0].map(|k| verdicts[k]), s[1].map(|k| verdicts[k])]
    };

    // Phase 4: replay in order.
    let source = DecodedSource(&decoded);
    let mut state = LedgerState::new(trial.clone(), pinned_root, rules);
    state.set_unknown_types(UnknownTypes::AcceptUnchecked);
    let mut failures = Vec::new();
    let mut valid_len = vec![0u64; inputs.len()];
    let mut unknown_type_records = 0u64;
    for (p, inp) in inputs.iter().enumerate() {
        let p = p as u32;
        if p > 0 && p >= state.partition_count() {
            if !inp.records.is_empty() {
                failures.push(fail(
                    inp,
                    p,
                    0,
                    Refusal::new(
                        Reason::WrongPartition,
                        format!(
                            "partition {p} is beyond the trial's {} partitions",
                            state.partition_count()
                        ),
                    ),
                ));
            }
            continue;
        }
        let mut failed = false;
        for (i, d) in decoded[p as usize].iter().enumerate() {
            let seq = i as u64;
            let d = match d {
                Ok(d) => d,
                Err(r) => {
                    failures.push(fail(inp, p, seq, r.clone()));
                    failed = true;
                    break;
                }
            };
            let v = verdict_at(p as usize, i);
            match check_record(&state, p, seq, d, v, pinned_root, valid_len[0], &source) {
                Ok(author) => {
                    let t = d.record.body.submission.submission.envelope.event_type;
                    if core_authority(t).is_none() && state.rules().authority(t).is_none() {
                        unknown_type_records += 1;
                    }
                    state.apply(&d.record, d.hash, author, &source);
                    if p == 0 {
                        valid_len[0] = state.len(0);
                    }
                }
                Err(r) => {
                    failures.push(fail(inp, p, seq, r));
                    failed = true;
                    break;
                }
            }
        }
        valid_len[p as usize] = state.len(p);
        if !failed {
            let n = inp.records.len() as u64;
            match &inp.end {
                InputEnd::Clean => {}
                InputEnd::TornTail { seq, writer_cuts } => failures.push(fail(
                    inp,
                    p,
                    *seq,
                    Refusal::new(
                        Reason::TornTail,
                        if *writer_cuts {
                            "incomplete final frame: an interrupted append (or one in progress, if a writer is running); the next writer cuts it"
                        } else {
                            "incomplete final frame where a stored checkpoint shows a complete record (or the checkpoints cannot be read): the writer refuses to open; restore the partition from a replica or backup"
                        },
                    ),
                )),
                InputEnd::Corrupt { seq, reason } => failures.push(fail(
                    inp,
                    p,
                    (*seq).max(n),
                    Refusal::new(Reason::FrameCorrupt, reason.clone()),
                )),
            }
        }
        if p == 0 && state.registry().partition_count().is_none() && failures.is_empty() {
            failures.push(fail(
                inp,
                0,
                0,
                Refusal::new(
                    Reason::RegistryRule,
                    "the ledger has no TrialRegistered record",
                ),
            ));
        }
    }
    if let Some(n) = state.registry().partition_count() {
        if (inputs.len() as u32) < n && failures.is_empty() {
            failures.push(Failure {
                partition: inputs.len() as u32,
                seq: 0,
                offset: None,
                reason: Reason::WrongPartition.code(),
                detail: format!(
                    "the trial has {n} partitions, storage holds {}",
                    inputs.len()
                ),
            });
        }
    }

    // Phase 5: references, against the valid prefixes.
    let mut shortened = Vec::new();
    for (p, part) in decoded.iter().enumerate() {
        let already = failures.iter().any(|f| f.partition == p as u32);
        for (i, d) in part.iter().enumerate().take(valid_len[p] as usize) {
            let Ok(d) = d else { break };
            let mut bad = None;
            for r in &d.record.body.submission.submission.cites {
                let target = decoded
                    .get(r.partition as usize)
                    .and_then(|v| v.get(r.seq as usize));
                let within = valid_len
                    .get(r.partition as usize)
                    .is_some_and(|&n| r.seq < n);
                bad = match target {
                    None => Some(Refusal::new(
                        Reason::ReferenceMissing,
                        format!("cited record {}/{} does not exist", r.partition, r.seq),
                    )),
                    Some(Ok(t)) if within && t.hash != r.hash => Some(Refusal::new(
                        Reason::ReferenceMismatch,
                        format!(
                            "cited record {}/{} has hash {}, not {}",
                            r.partition, r.seq, t.hash, r.hash
                        ),
                    )),
                    _ if r.partition == p as u32 && r.seq >= i as u64 => Some(Refusal::new(
                        Reason::ReferenceMissing,
                        format!("reference {r} points at or after the citing record"),
                    )),
                    // A cited record that itself fails is reported there, not here.
                    _ => None,
                };
                if bad.is_some() {
                    break;
                }
            }
            if let Some(r) = bad {
                let f = fail(&inputs[p], p as u32, i as u64, r);
                shortened.push((p, i as u64));
                if already {
                    if let Some(existing) = failures.iter_mut().find(|x| x.partition == p as u32) {
                        if existing.seq > f.seq {
                            *existing = f;
                        }
                    }
                } else {
                    failures.push(f);
                }
                break;
            }
        }
    }
    for (p, len) in shortened {
        valid_len[p] = valid_len[p].min(len);
    }
    failures.sort_by_key(|f| (f.partition, f.seq));

    let records_total = inputs.iter().map(|i| i.records.len() as u64).sum();
    let records_verified = if failures.is_empty() {
        records_total
    } else {
        valid_len.iter().sum()
    };
    Report {
        trial: trial.to_string(),
        ok: failures.is_empty(),
        records_verified,
        records_total,
        partitions: state
            .registry()
            .partition_count()
            .unwrap_or(inputs.len() as u32),
        signatures_verified,
        failures,
        unknown_type_records,
        elapsed: started.elapsed(),
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

/// The per-record checks of phase 4, in FORMAT.md's order (references are phase 5).
#[allow(clippy::too_many_arguments)]
pub(crate) fn check_record<R: DomainRules>(
    state: &LedgerState<R>,
    p: u32,
    seq: u64,
    d: &Decoded,
    verdicts: [Option<bool>; 2],
    pinned_root: [u8; 32],
    registry_len: u64,
    source: &dyn RecordSource,
) -> Result<Author, Refusal> {
    let b = &d.record.body;
    let signed = &b.submission;
    let sub = &signed.submission;
    // Placement: trial, partition, position.
    if sub.trial_id != *state.trial() {
        return Err(Refusal::new(
            Reason::WrongTrial,
            format!(
                "record of trial {:?} in the ledger of {:?}",
                sub.trial_id.as_str(),
                state.trial().as_str()
            ),
        ));
    }
    if b.partition != p {
        return Err(Refusal::new(
            Reason::WrongPartition,
            format!(
                "record of partition {} stored in partition {p}",
                b.partition
            ),
        ));
    }
    let want = partition_of(state.trial(), &sub.subject, state.partition_count());
    if want != p {
        return Err(Refusal::new(
            Reason::WrongPartition,
            format!(
                "subject {} belongs to partition {want}, not {p}",
                sub.subject
            ),
        ));
    }
    if b.seq != seq {
        return Err(Refusal::new(
            Reason::SeqGap,
            format!("expected sequence number {seq}, found {}", b.seq),
        ));
    }
    if p == 0 && seq == 0 {
        let root_id = KeyId::of_ed25519(&pinned_root);
        if sub.author != root_id || b.sequencer != root_id {
            return Err(Refusal::new(Reason::RootMismatch, format!(
                "the trial's first record is signed by {} and sealed by {}, the pinned root is {root_id}",
                sub.author, b.sequencer
            )));
        }
    }
    // Chain and back-link.
    if b.prev_hash != state.head_hash(p) {
        return Err(Refusal::new(
            Reason::PrevHash,
            format!(
                "prev_hash {} does not match the previous record {}",
                b.prev_hash,
                state.head_hash(p)
            ),
        ));
    }
    let expected_prev = state
        .partition(p)
        .and_then(|s| s.subjects.get(&sub.subject))
        .map(|h| h.last);
    if b.subject_prev != expected_prev {
        let show = |l: Option<tl_schemas::Link>| {
            l.map_or("none".to_string(), |l| {
                format!("{}#{}", l.seq, &l.hash.to_hex()[..16])
            })
        };
        return Err(Refusal::new(
            Reason::SubjectPrev,
            format!(
                "subject_prev of {} is {}, its previous record is {}",
                sub.subject,
                show(b.subject_prev),
                show(expected_prev)
            ),
        ));
    }
    // Seal.
    match verdicts[0] {
        None => {
            return Err(Refusal::new(
                Reason::UnknownSequencer,
                format!("sealing key {} is not in the registry", b.sequencer),
            ))
        }
        Some(false) => {
            return Err(Refusal::new(
                Reason::BadSeal,
                format!("seal by key {} does not verify", b.sequencer),
            ))
        }
        Some(true) => {}
    }
    match state.registry().author_at(&b.sequencer, b.registry_seq) {
        Ok(Author::Root) | Ok(Author::Key(tl_schemas::Role::Sequencer)) => {}
        Ok(Author::Key(role)) => {
            return Err(Refusal::new(
                Reason::SequencerNotAuthorized,
                format!("sealing key {} has role {role}, not sequencer", b.sequencer),
            ))
        }
        Err(r) => {
            return Err(Refusal::new(
                Reason::SequencerNotAuthorized,
                format!("sealing key: {}", r.detail),
            ))
        }
    }
    // Registry position and time.
    let ps = state.partition(p).expect("p is below the partition count");
    if p == 0 {
        if b.registry_seq != seq {
            return Err(Refusal::new(
                Reason::RegistrySeq,
                format!(
                    "partition-0 record {seq} claims registry position {}",
                    b.registry_seq
                ),
            ));
        }
    } else if b.registry_seq < ps.last_registry_seq || b.registry_seq > registry_len {
        return Err(Refusal::new(Reason::RegistrySeq, format!(
            "registry position {} is below the previous {} or beyond partition 0's {registry_len} records",
            b.registry_seq, ps.last_registry_seq
        )));
    }
    if b.registry_seq < sub.min_registry_seq {
        return Err(Refusal::new(
            Reason::RegistrySeq,
            format!(
                "registry position {} is below the author's minimum {}",
                b.registry_seq, sub.min_registry_seq
            ),
        ));
    }
    if b.ordering_time < ps.last_time {
        return Err(Refusal::new(
            Reason::TimeRegressed,
            format!(
                "ordering time {} is before the previous {}",
                b.ordering_time, ps.last_time
            ),
        ));
    }
    // Submission id.
    if let Some(first) = ps.seen.get(&sub.submission_id) {
        return Err(Refusal::new(
            Reason::DuplicateSubmission,
            format!(
                "submission {} is already recorded at {p}/{first}",
                sub.submission_id
            ),
        ));
    }
    // Author signature, key status, role, registry and domain rules.
    let sig = match verdicts[1] {
        None => {
            return Err(Refusal::new(
                Reason::UnknownKey,
                format!("author key {} is not in the registry", sub.author),
            ))
        }
        Some(v) => AuthorSignature::Verdict(v),
    };
    state.check_submission(
        p,
        seq,
        signed,
        b.registry_seq,
        b.ordering_time,
        sig,
        ReferenceCheck::Deferred,
        source,
    )
}
