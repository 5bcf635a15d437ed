//! Phases 4 and 5 of verification: the in-order replay and the validity of cited records,
//! and the report.
//!
//! # Damage stays local
//!
//! Each partition reports its own first failure, and its valid prefix ends there. Partition 0
//! also holds the registry, which every other partition's `registry_seq` refers to; so that
//! a failing patient record in partition 0 (one citing a damaged record elsewhere, say) does
//! not invalidate the registry positions after it, partition 0's replay goes on past a record
//! that [`leaves_registry_valid`]: such a record is linked into the chain without effects and
//! the replay continues, up to the first failure that ends the registry.

use super::{fail, DecodedLedger, DecodedSource, Failure, PartitionInput, Report, Signatures};
use crate::reason::{Reason, Refusal};
use crate::rules::DomainRules;
use crate::state::{LedgerState, ReferenceCheck, UnknownTypes};
use std::collections::HashSet;
use std::time::Instant;
use tl_schemas::events::event_type;
use tl_schemas::roles::core_authority;
use tl_schemas::TrialId;

use super::record::{check_record, Place};
use super::Decoded;

/// The state of one verification between phases.
pub(super) struct Verification<'a, R: DomainRules> {
    pub(super) trial: &'a TrialId,
    pinned_root: [u8; 32],
    pub(super) inputs: &'a [PartitionInput],
    pub(super) decoded: &'a DecodedLedger,
    signatures: &'a Signatures,
    pub(super) state: LedgerState<R>,
    /// Each stored partition's first failure.
    first: Vec<Option<Failure>>,
    /// A failure at a partition that is not stored (too few partitions).
    missing: Option<Failure>,
    /// Each stored partition's valid prefix: its records before its first failure.
    pub(super) valid_len: Vec<u64>,
    /// Partition-0 records up to which the registry is valid.
    pub(super) registry_len: u64,
    unknown_type_records: u64,
    warnings: Vec<String>,
}

impl<'a, R: DomainRules> Verification<'a, R> {
    pub(super) fn new(
        trial: &'a TrialId,
        pinned_root: [u8; 32],
        inputs: &'a [PartitionInput],
        decoded: &'a DecodedLedger,
        signatures: &'a Signatures,
        rules: R,
    ) -> Self {
        let mut state = LedgerState::new(trial.clone(), pinned_root, rules);
        state.set_unknown_types(UnknownTypes::AcceptUnchecked);
        Verification {
            trial,
            pinned_root,
            inputs,
            decoded,
            signatures,
            state,
            first: vec![None; inputs.len()],
            missing: None,
            // Lowered by each failure, and to the records replayed (phase 4).
            valid_len: vec![u64::MAX; inputs.len()],
            registry_len: 0,
            unknown_type_records: 0,
            warnings: Vec::new(),
        }
    }

    /// Records a failure of partition `p` at `seq`, unless it already failed earlier.
    pub(super) fn note(&mut self, p: u32, seq: u64, r: Refusal) {
        let slot = &mut self.first[p as usize];
        if slot.as_ref().is_none_or(|f| f.seq > seq) {
            *slot = Some(fail(&self.inputs[p as usize], p, seq, r));
        }
        let v = &mut self.valid_len[p as usize];
        *v = (*v).min(seq);
    }

    /// Phase 4: partition 0, then every other partition, in order.
    pub(super) fn replay(&mut self) {
        for p in 0..self.inputs.len() as u32 {
            if p > 0 && p >= self.state.partition_count() {
                self.beyond_the_trial(p);
                continue;
            }
            self.replay_partition(p);
            if p == 0 {
                self.registry_len = self.state.len(0);
                self.require_registration();
            }
        }
        self.compare_partition_counts();
    }

    fn replay_partition(&mut self, p: u32) {
        let decoded = self.decoded;
        let source = DecodedSource(decoded);
        for (i, d) in decoded[p as usize].iter().enumerate() {
            let seq = i as u64;
            let d = match d {
                Ok(d) => d,
                Err(r) => {
                    self.note(p, seq, r.clone());
                    break;
                }
            };
            let at = Place {
                p,
                seq,
                pinned_root: self.pinned_root,
                registry_len: self.registry_len,
            };
            let verdicts = self.signatures.at(p as usize, i);
            let refs = ReferenceCheck::Stored(&source);
            match check_record(&self.state, &at, d, verdicts, refs, &source) {
                Ok(author) => {
                    let t = d.record.body.submission.submission.envelope.event_type;
                    if core_authority(t).is_none() && self.state.rules().authority(t).is_none() {
                        self.unknown_type_records += 1;
                    }
                    self.state.apply(&d.record, d.hash, author, &source);
                }
                Err(r) => {
                    let go_on = p == 0 && leaves_registry_valid(d, &r);
                    self.note(p, seq, r);
                    if !go_on {
                        break;
                    }
                    self.state.link_only(&d.record, d.hash);
                }
            }
        }
        // Before its first failure (partition 0 may have replayed further).
        let v = &mut self.valid_len[p as usize];
        *v = (*v).min(self.state.len(p));
        if self.first[p as usize].is_none() {
            self.check_storage_end(p);
        }
    }

    /// How the storage of a partition whose records all passed ended.
    fn check_storage_end(&mut self, p: u32) {
        let inp = &self.inputs[p as usize];
        let n = inp.records.len() as u64;
        match &inp.end {
            super::InputEnd::Clean => {}
            super::InputEnd::TornTail { seq, writer_cuts } => self.note(
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
            ),
            super::InputEnd::Corrupt { seq, reason } => self.note(
                p,
                (*seq).max(n),
                Refusal::new(Reason::FrameCorrupt, reason.clone()),
            ),
        }
    }

    /// A stored partition the trial does not have: it must be empty.
    fn beyond_the_trial(&mut self, p: u32) {
        let n = self.state.partition_count();
        self.valid_len[p as usize] = 0;
        if !self.inputs[p as usize].records.is_empty() {
            self.note(
                p,
                0,
                Refusal::new(
                    Reason::WrongPartition,
                    format!("partition {p} is beyond the trial's {n} partitions"),
                ),
            );
        }
    }

    /// A ledger without `TrialRegistered` fails at 0/0, if nothing else failed there.
    fn require_registration(&mut self) {
        if self.state.registry().partition_count().is_none() && self.first[0].is_none() {
            self.note(
                0,
                0,
                Refusal::new(
                    Reason::RegistryRule,
                    "the ledger has no TrialRegistered record",
                ),
            );
        }
    }

    /// The trial's partition count (from `TrialRegistered`, which wins) against the storage's:
    /// too few stored partitions fail; empty extra ones are a warning.
    fn compare_partition_counts(&mut self) {
        let Some(n) = self.state.registry().partition_count() else {
            return;
        };
        let stored = self.inputs.len() as u32;
        if stored < n && self.first.iter().all(Option::is_none) {
            self.missing = Some(Failure {
                partition: stored,
                seq: 0,
                offset: None,
                reason: Reason::WrongPartition.code(),
                detail: format!("the trial has {n} partitions, storage holds {stored}"),
            });
        } else if stored > n {
            self.warnings.push(format!(
                "the storage holds {stored} partitions, the trial's TrialRegistered says {n}: partitions {n} to {} are not the trial's{}",
                stored - 1,
                if (n..stored).all(|p| self.inputs[p as usize].records.is_empty()) {
                    " (they are empty)"
                } else {
                    ""
                }
            ));
        }
    }

    /// Phase 5: a record that cites an *invalid* record is invalid (`reference-invalid`). The
    /// invalid records are each partition's record that failed the replay, and, repeatedly,
    /// every record before its partition's replay failure that cites an invalid one. A record
    /// stored after its partition's first failure is not judged, so citing it is not reported
    /// here (that partition's failure covers it). Each partition then reports the lowest of
    /// its failures.
    pub(super) fn check_references(&mut self) {
        let replayed = self.valid_len.clone();
        let mut invalid: HashSet<(u32, u64)> = self
            .first
            .iter()
            .flatten()
            .filter(|f| f.seq < self.inputs[f.partition as usize].records.len() as u64)
            .map(|f| (f.partition, f.seq))
            .collect();
        loop {
            let found: Vec<(u32, u64, Refusal)> = (0..self.decoded.len())
                .flat_map(|p| self.cites_of_invalid(p, replayed[p], &invalid))
                .collect();
            if found.is_empty() {
                return;
            }
            for (p, seq, r) in found {
                invalid.insert((p, seq));
                self.note(p, seq, r);
            }
        }
    }

    /// The records of partition `p` before `end` that cite an invalid record and are not
    /// known invalid yet.
    fn cites_of_invalid(
        &self,
        p: usize,
        end: u64,
        invalid: &HashSet<(u32, u64)>,
    ) -> Vec<(u32, u64, Refusal)> {
        let mut out = Vec::new();
        for (i, d) in self.decoded[p].iter().enumerate().take(end as usize) {
            let Ok(Decoded { record, .. }) = d else { break };
            if invalid.contains(&(p as u32, i as u64)) {
                continue;
            }
            let cites = &record.body.submission.submission.cites;
            if let Some(r) = cites
                .iter()
                .find(|r| invalid.contains(&(r.partition, r.seq)))
            {
                out.push((
                    p as u32,
                    i as u64,
                    Refusal::new(
                        Reason::ReferenceInvalid,
                        format!(
                            "cited record {}/{} is invalid: it fails verification",
                            r.partition, r.seq
                        ),
                    ),
                ));
            }
        }
        out
    }

    /// The report, with failures in (partition, seq) order.
    pub(super) fn report(self, started: Instant) -> Report {
        let mut failures: Vec<Failure> = self.first.into_iter().flatten().collect();
        failures.extend(self.missing);
        failures.sort_by_key(|f| (f.partition, f.seq));
        let records_total = self.inputs.iter().map(|i| i.records.len() as u64).sum();
        Report {
            trial: self.trial.to_string(),
            ok: failures.is_empty(),
            records_verified: self.valid_len.iter().sum(),
            records_total,
            partitions: self
                .state
                .registry()
                .partition_count()
                .unwrap_or(self.inputs.len() as u32),
            signatures_verified: self.signatures.count(),
            failures,
            unknown_type_records: self.unknown_type_records,
            warnings: self.warnings,
            elapsed: started.elapsed(),
        }
    }
}

/// Whether a partition-0 record that failed with `r` leaves the registry valid past it
/// (FORMAT.md §16.2, step 4): it is not a core (registry) event, and it failed a check that
/// runs after its placement, chain, seal and position checks passed (duplicate id, author
/// signature, key status, role, references, domain rules). Its sealed bytes then show that
/// it changes nothing in the registry.
fn leaves_registry_valid(d: &Decoded, r: &Refusal) -> bool {
    let t = d.record.body.submission.submission.envelope.event_type;
    event_type::core_name(t).is_none()
        && matches!(
            r.reason,
            Reason::DuplicateSubmission
                | Reason::UnknownKey
                | Reason::BadAuthorSignature
                | Reason::KeyRevoked
                | Reason::KeyNotYetEnrolled
                | Reason::RoleNotPermitted
                | Reason::ReferenceMissing
                | Reason::ReferenceMismatch
                | Reason::ReferenceInvalid
                | Reason::Malformed
                | Reason::NonCanonical
                | Reason::UnsupportedFormat
                | Reason::DomainRule
        )
}
