//! Property tests of the canonical rule (FORMAT.md §1) over every frozen structure.
//!
//! Values come from the golden vectors with random bytes overwritten: whenever plain postcard
//! (which is lenient) decodes such bytes, the value is an arbitrary valid value of that type,
//! and its encoding must decode canonically back to the same value and the same bytes. Every
//! canonical encoding must be refused with any trailing byte and with its leading varint
//! spelled overlong (where that field is a varint: all but the three whose first field is a
//! fixed byte array).

use proptest::prelude::*;
use serde::{de::DeserializeOwned, Serialize};
use std::fmt::Debug;
use tl_schemas::{clinical::*, events::*, *};

/// The golden vector bytes of `name`.
fn golden(name: &str) -> Vec<u8> {
    let text = include_str!("../golden/vectors.txt");
    let hex = text
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no golden vector {name}"));
    hex::decode(hex).unwrap()
}

/// One mutation: overwrite the byte at `at` (mod len) with `byte`, possibly cut the end.
#[derive(Debug, Clone)]
struct Mutation {
    edits: Vec<(usize, u8)>,
    cut: usize,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    (
        prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        0usize..4,
    )
        .prop_map(|(edits, cut)| Mutation { edits, cut })
}

fn mutate(base: &[u8], m: &Mutation) -> Vec<u8> {
    let mut b = base.to_vec();
    for (at, byte) in &m.edits {
        if !b.is_empty() {
            let i = at % b.len();
            b[i] = *byte;
        }
    }
    b.truncate(b.len().saturating_sub(m.cut));
    b
}

/// The canonical rule for one type, on bytes derived from its golden vector.
fn check<T: Serialize + DeserializeOwned + PartialEq + Debug>(
    base: &[u8],
    m: &Mutation,
    trailing: &[u8],
    varint_first: bool,
) -> Result<(), TestCaseError> {
    let bytes = mutate(base, m);
    if let Ok((value, _)) = postcard::take_from_bytes::<T>(&bytes) {
        let canonical = encode(&value);
        let again = decode::<T>(&canonical);
        prop_assert_eq!(again.as_ref(), Ok(&value));
        let mut longer = canonical.clone();
        longer.extend_from_slice(trailing);
        if !trailing.is_empty() {
            prop_assert!(decode::<T>(&longer).is_err(), "trailing bytes accepted");
        }
        // Where the first field is a varint (a version, a length, a tag, an integer), spell it
        // one byte longer.
        let mut overlong = canonical.clone();
        if varint_first && overlong[0] < 0x80 {
            overlong.splice(0..1, [overlong[0] | 0x80, 0x00]);
            prop_assert!(decode::<T>(&overlong).is_err(), "overlong varint accepted");
        }
    }
    Ok(())
}

macro_rules! canonical_props {
    ($($test:ident: $t:ty = $name:expr, $varint_first:expr;)+) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            $(
                #[test]
                fn $test(m in mutation(), trailing in prop::collection::vec(any::<u8>(), 0..3)) {
                    check::<$t>(&golden($name), &m, &trailing, $varint_first)?;
                }
            )+
        }
    };
}

canonical_props! {
    record: Record = "record.v1", true;
    signed_submission: SignedSubmission = "signed_submission.v1", true;
    submission: Submission = "submission.v1", true;
    envelope: Envelope = "envelope.personal_data", true;
    trial_registered: TrialRegistered = "event.TrialRegistered.v1", true;
    key_enrolled: KeyEnrolled = "event.KeyEnrolled.v1", false;
    key_revoked: KeyRevoked = "event.KeyRevoked.v1", false;
    root_key_rotated: RootKeyRotated = "event.RootKeyRotated.v1", false;
    protocol_amended: ProtocolAmended = "event.ProtocolAmended.v1", true;
    cohort_catalogue: CohortCatalogue = "clinical.CohortCatalogue.v1", true;
    patient_registered: PatientRegistered = "clinical.PatientRegistered.v1", true;
    consent_recorded: ConsentRecorded = "clinical.ConsentRecorded.v1", true;
    consent_withdrawn: ConsentWithdrawn = "clinical.ConsentWithdrawn.v1", true;
    sequencing_result: SequencingResultReported = "clinical.SequencingResultReported.v1", true;
    match_proposed: MatchProposed = "clinical.MatchProposed.v1", true;
    match_decided: MatchDecided = "clinical.MatchDecided.v1", true;
    slot_assigned: SlotAssigned = "clinical.SlotAssigned.v1", true;
    slot_refused: SlotRefused = "clinical.SlotRefused.v1", true;
    patient_enrolled: PatientEnrolled = "clinical.PatientEnrolled.v1", true;
    dose_administered: DoseAdministered = "clinical.DoseAdministered.v1", true;
    dose_modified: DoseModified = "clinical.DoseModified.v1", true;
    adverse_event_reported: AdverseEventReported = "clinical.AdverseEventReported.v1", true;
    adverse_event_updated: AdverseEventUpdated = "clinical.AdverseEventUpdated.v1", true;
    response_assessed: ResponseAssessed = "clinical.ResponseAssessed.v1", true;
    treatment_ended: TreatmentEnded = "clinical.TreatmentEnded.v1", true;
    survival_status: SurvivalStatusRecorded = "clinical.SurvivalStatusRecorded.v1", true;
    death_recorded: DeathRecorded = "clinical.DeathRecorded.v1", true;
    cohort_stage_decided: CohortStageDecided = "clinical.CohortStageDecided.v1", true;
    corrected: Corrected = "clinical.Corrected.v1", true;
}

proptest! {
    /// Every integer has one spelling: any overlong varint of it is refused.
    #[test]
    fn overlong_varints_are_refused(v in any::<u64>(), extra in 1usize..3) {
        let mut b = encode(&v);
        let last = b.len() - 1;
        b[last] |= 0x80;
        b.extend(std::iter::repeat_n(0x80, extra - 1));
        b.push(0x00);
        prop_assert!(decode::<u64>(&b).is_err());
        prop_assert_eq!(decode::<u64>(&encode(&v)), Ok(v));
    }
}
