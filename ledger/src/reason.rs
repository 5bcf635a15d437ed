//! Reason codes: why a submission is refused or a record fails verification.
//!
//! The codes are stable strings (FORMAT.md, "Reason codes"): rejections on the rejections
//! topic, `verify --json` and receipts all use them, so scripts can match on them.

use std::fmt;

/// A reason code. FORMAT.md gives the order in which the sequencer and the verifier run the
/// checks that produce them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// An incomplete final frame: an interrupted append. The next writer cuts it.
    TornTail,
    /// A complete frame with a bad checksum or length: storage corruption.
    FrameCorrupt,
    /// The bytes do not decode as the structure.
    Malformed,
    /// The bytes decode but are not the canonical encoding.
    NonCanonical,
    /// A struct version or algorithm id this software does not know.
    UnsupportedFormat,
    /// The submission belongs to another trial.
    WrongTrial,
    /// The record or submission is in a partition other than its subject's.
    WrongPartition,
    /// The record's sequence number is not the next one (a deletion, swap or insertion).
    SeqGap,
    /// `prev_hash` does not match the previous record (or genesis).
    PrevHash,
    /// `subject_prev` does not point at the subject's previous record.
    SubjectPrev,
    /// The sealing key is not known in the registry.
    UnknownSequencer,
    /// The sealing key is neither the root nor a sequencer key active at this position.
    SequencerNotAuthorized,
    /// The sequencer's signature over the record hash is invalid.
    BadSeal,
    /// `registry_seq` is impossible (decreasing, ahead of partition 0, or below the author's minimum).
    RegistrySeq,
    /// The author relies on a registry position the ledger has not reached.
    RegistryAhead,
    /// `ordering_time` decreased within the partition.
    TimeRegressed,
    /// A submission id already recorded in this partition (a replay).
    DuplicateSubmission,
    /// A known submission id with different content.
    SubmissionIdConflict,
    /// The author's key id is not in the registry.
    UnknownKey,
    /// The author's signature is invalid.
    BadAuthorSignature,
    /// The author's key was revoked at or before this record's registry position.
    KeyRevoked,
    /// The author's key was not yet enrolled at this record's registry position.
    KeyNotYetEnrolled,
    /// The author's role may not author this event type.
    RoleNotPermitted,
    /// No authority table knows this event type.
    UnknownEventType,
    /// A cited record does not exist.
    ReferenceMissing,
    /// A cited record exists but its hash differs.
    ReferenceMismatch,
    /// A cited record is stored but is not valid: it does not decode, it failed the replay, or
    /// it cites an invalid record (verification only).
    ReferenceInvalid,
    /// The pinned root key does not match the trial's root.
    RootMismatch,
    /// A registry rule is broken (bad enrolment, revoking an unknown key, misplaced trial event, ...).
    RegistryRule,
    /// The trial's domain rules refuse the event (an impossible clinical sequence).
    DomainRule,
    /// Intake only: the record would exceed [`crate::limits::MAX_INTAKE_RECORD_BYTES`].
    RecordTooLarge,
    /// Intake only: a text field is longer than its cap (FORMAT.md, "Intake limits").
    FieldTooLong,
    /// Intake only: a date before 1900, after the record's ordering time plus a day, or out of
    /// order (an adverse event's awareness before its onset).
    ImplausibleDate,
    /// Intake only: a required value is empty (a CTCAE term).
    MissingValue,
    /// A checkpoint the ledger stores is not a valid signed checkpoint of its partition by a
    /// sequencer key the registry enrols (verification only).
    CheckpointInvalid,
    /// A partition does not extend a checkpoint the ledger stores: it holds fewer records than
    /// the checkpoint covers (truncated), or another root at its size (rewritten).
    CheckpointNotExtended,
}

impl Reason {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Reason::TornTail => "torn-tail",
            Reason::FrameCorrupt => "frame-corrupt",
            Reason::Malformed => "malformed",
            Reason::NonCanonical => "non-canonical",
            Reason::UnsupportedFormat => "unsupported-format",
            Reason::WrongTrial => "wrong-trial",
            Reason::WrongPartition => "wrong-partition",
            Reason::SeqGap => "seq-gap",
            Reason::PrevHash => "prev-hash",
            Reason::SubjectPrev => "subject-prev",
            Reason::UnknownSequencer => "unknown-sequencer",
            Reason::SequencerNotAuthorized => "sequencer-not-authorized",
            Reason::BadSeal => "bad-seal",
            Reason::RegistrySeq => "registry-seq",
            Reason::RegistryAhead => "registry-ahead",
            Reason::TimeRegressed => "time-regressed",
            Reason::DuplicateSubmission => "duplicate-submission",
            Reason::SubmissionIdConflict => "submission-id-conflict",
            Reason::UnknownKey => "unknown-key",
            Reason::BadAuthorSignature => "bad-author-signature",
            Reason::KeyRevoked => "key-revoked",
            Reason::KeyNotYetEnrolled => "key-not-yet-enrolled",
            Reason::RoleNotPermitted => "role-not-permitted",
            Reason::UnknownEventType => "unknown-event-type",
            Reason::ReferenceMissing => "reference-missing",
            Reason::ReferenceMismatch => "reference-mismatch",
            Reason::ReferenceInvalid => "reference-invalid",
            Reason::RootMismatch => "root-mismatch",
            Reason::RegistryRule => "registry-rule",
            Reason::DomainRule => "domain-rule",
            Reason::RecordTooLarge => "record-too-large",
            Reason::FieldTooLong => "field-too-long",
            Reason::ImplausibleDate => "implausible-date",
            Reason::MissingValue => "missing-value",
            Reason::CheckpointInvalid => "checkpoint-invalid",
            Reason::CheckpointNotExtended => "checkpoint-not-extended",
        }
    }

    /// Every reason.
    pub const ALL: [Reason; 36] = [
        Reason::TornTail,
        Reason::FrameCorrupt,
        Reason::Malformed,
        Reason::NonCanonical,
        Reason::UnsupportedFormat,
        Reason::WrongTrial,
        Reason::WrongPartition,
        Reason::SeqGap,
        Reason::PrevHash,
        Reason::SubjectPrev,
        Reason::UnknownSequencer,
        Reason::SequencerNotAuthorized,
        Reason::BadSeal,
        Reason::RegistrySeq,
        Reason::RegistryAhead,
        Reason::TimeRegressed,
        Reason::DuplicateSubmission,
        Reason::SubmissionIdConflict,
        Reason::UnknownKey,
        Reason::BadAuthorSignature,
        Reason::KeyRevoked,
        Reason::KeyNotYetEnrolled,
        Reason::RoleNotPermitted,
        Reason::UnknownEventType,
        Reason::ReferenceMissing,
        Reason::ReferenceMismatch,
        Reason::ReferenceInvalid,
        Reason::RootMismatch,
        Reason::RegistryRule,
        Reason::DomainRule,
        Reason::RecordTooLarge,
        Reason::FieldTooLong,
        Reason::ImplausibleDate,
        Reason::MissingValue,
        Reason::CheckpointInvalid,
        Reason::CheckpointNotExtended,
    ];

    /// Parses a code.
    pub fn from_code(code: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.code() == code)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A refusal or failure: a reason code plus a human explanation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The stable code.
    pub reason: Reason,
    /// What exactly was wrong, for people.
    pub detail: String,
}

impl Refusal {
    /// A refusal with a reason and detail.
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Refusal {
            reason,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

impl std::error::Error for Refusal {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in Reason::ALL {
            assert!(seen.insert(r.code()));
            assert_eq!(Reason::from_code(r.code()), Some(r));
        }
    }
}
