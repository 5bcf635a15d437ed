//! The per-record checks of phase 4 (FORMAT.md §16.2, 4a to 4i), one function per group, in
//! the order they run. The streaming verifier uses the same checks.

use super::Decoded;
use crate::reason::{Reason, Refusal};
use crate::registry::Author;
use crate::rules::DomainRules;
use crate::state::{AuthorSignature, LedgerState, RecordSource, ReferenceCheck};
use tl_schemas::{partition_of, KeyId, Link, RecordBody};

/// Where a record is judged: its partition and position, and what the verifier knows.
pub(crate) struct Place {
    /// The storage partition.
    pub(crate) p: u32,
    /// The storage index.
    pub(crate) seq: u64,
    /// The pinned root key.
    pub(crate) pinned_root: [u8; 32],
    /// Partition-0 records up to which the registry is valid.
    pub(crate) registry_len: u64,
}

/// The per-record checks of phase 4, in FORMAT.md's order: placement, chain, seal, registry
/// position and time, duplicate id, then (in [`LedgerState::check_submission`]) the author
/// signature, key status, role, cites as `references` says, registry and domain rules.
pub(crate) fn check_record<R: DomainRules>(
    state: &LedgerState<R>,
    at: &Place,
    d: &Decoded,
    verdicts: [Option<bool>; 2],
    references: ReferenceCheck<'_>,
    source: &dyn RecordSource,
) -> Result<Author, Refusal> {
    let b = &d.record.body;
    check_placement(state, at, b)?;
    check_chain(state, at.p, b)?;
    check_seal(state, b, verdicts[0])?;
    check_position(state, at, b)?;
    let sub = &b.submission.submission;
    let ps = state
        .partition(at.p)
        .expect("placement checked the partition");
    if let Some(first) = ps.seen.get(&sub.submission_id) {
        return Err(Refusal::new(
            Reason::DuplicateSubmission,
            format!(
                "submission {} is already recorded at {}/{first}",
                sub.submission_id, at.p
            ),
        ));
    }
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
        at.p,
        at.seq,
        &b.submission,
        b.registry_seq,
        b.ordering_time,
        sig,
        references,
        source,
    )
}

/// 4a: trial, partition, position, and the pinned root at 0/0.
fn check_placement<R: DomainRules>(
    state: &LedgerState<R>,
    at: &Place,
    b: &RecordBody,
) -> Result<(), Refusal> {
    let sub = &b.submission.submission;
    let p = at.p;
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
    if b.seq != at.seq {
        return Err(Refusal::new(
            Reason::SeqGap,
            format!("expected sequence number {}, found {}", at.seq, b.seq),
        ));
    }
    let root_id = KeyId::of_ed25519(&at.pinned_root);
    if p == 0 && at.seq == 0 && (sub.author != root_id || b.sequencer != root_id) {
        return Err(Refusal::new(
            Reason::RootMismatch,
            format!(
                "the trial's first record is signed by {} and sealed by {}, the pinned root is {root_id}",
                sub.author, b.sequencer
            ),
        ));
    }
    Ok(())
}

/// 4b: `prev_hash`, then `subject_prev`.
fn check_chain<R: DomainRules>(
    state: &LedgerState<R>,
    p: u32,
    b: &RecordBody,
) -> Result<(), Refusal> {
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
    let subject = &b.submission.submission.subject;
    let expected = state
        .partition(p)
        .and_then(|s| s.subjects.get(subject))
        .map(|h| h.last);
    if b.subject_prev == expected {
        return Ok(());
    }
    let show = |l: Option<Link>| {
        l.map_or("none".to_string(), |l| {
            format!("{}#{}", l.seq, &l.hash.to_hex()[..16])
        })
    };
    Err(Refusal::new(
        Reason::SubjectPrev,
        format!(
            "subject_prev of {subject} is {}, its previous record is {}",
            show(b.subject_prev),
            show(expected)
        ),
    ))
}

/// 4c: the sealing key is known, the seal verifies, and the key may seal at `registry_seq`.
fn check_seal<R: DomainRules>(
    state: &LedgerState<R>,
    b: &RecordBody,
    verdict: Option<bool>,
) -> Result<(), Refusal> {
    match verdict {
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
        Ok(Author::Root) | Ok(Author::Key(tl_schemas::Role::Sequencer)) => Ok(()),
        Ok(Author::Key(role)) => Err(Refusal::new(
            Reason::SequencerNotAuthorized,
            format!("sealing key {} has role {role}, not sequencer", b.sequencer),
        )),
        Err(r) => Err(Refusal::new(
            Reason::SequencerNotAuthorized,
            format!("sealing key: {}", r.detail),
        )),
    }
}

/// 4d: `registry_seq` (against partition 0's valid registry prefix), then ordering time.
fn check_position<R: DomainRules>(
    state: &LedgerState<R>,
    at: &Place,
    b: &RecordBody,
) -> Result<(), Refusal> {
    let ps = state
        .partition(at.p)
        .expect("placement checked the partition");
    let (seq, registry_len) = (at.seq, at.registry_len);
    if at.p == 0 {
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
            "registry position {} is below the previous {} or beyond partition 0's {registry_len} valid registry records",
            b.registry_seq, ps.last_registry_seq
        )));
    }
    let min = b.submission.submission.min_registry_seq;
    if b.registry_seq < min {
        return Err(Refusal::new(
            Reason::RegistrySeq,
            format!(
                "registry position {} is below the author's minimum {min}",
                b.registry_seq
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
    Ok(())
}
