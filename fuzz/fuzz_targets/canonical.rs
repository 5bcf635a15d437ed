//! Canonical decoding (FORMAT.md §1) of every frozen structure: the first input byte picks the
//! type, the rest are the bytes. Whatever decodes must re-encode to the same bytes, and the
//! verdict must not depend on anything but the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::{de::DeserializeOwned, Serialize};
use tl_schemas::{clinical::*, events::*, Envelope, Record, SignedSubmission, Submission};

fn round_trip<T: Serialize + DeserializeOwned>(bytes: &[u8]) {
    let first = tl_schemas::decode::<T>(bytes);
    let again = tl_schemas::decode::<T>(bytes);
    match (&first, &again) {
        (Ok(v), Ok(_)) => assert_eq!(
            tl_schemas::encode(v),
            bytes,
            "decoded but re-encodes differently"
        ),
        (Err(a), Err(b)) => assert_eq!(a, b, "the same bytes gave two different errors"),
        _ => panic!("the same bytes decoded once and failed once"),
    }
}

/// The ledger's own decoders (version dispatch and algorithm checks on top of the canonical
/// rule): same verdict twice, and a record's body length never exceeds its bytes.
fn ledger_decoders(bytes: &[u8]) {
    let r1 = tl_ledger::codec::decode_record(bytes)
        .map(|(_, n)| n)
        .map_err(|e| e.reason);
    let r2 = tl_ledger::codec::decode_record(bytes)
        .map(|(_, n)| n)
        .map_err(|e| e.reason);
    assert_eq!(r1, r2);
    if let Ok(n) = r1 {
        assert_eq!(n + 64, bytes.len());
    }
    let s1 = tl_ledger::codec::decode_submission(bytes)
        .map(|_| ())
        .map_err(|e| e.reason);
    let s2 = tl_ledger::codec::decode_submission(bytes)
        .map(|_| ())
        .map_err(|e| e.reason);
    assert_eq!(s1, s2);
}

macro_rules! dispatch {
    ($sel:expr, $bytes:expr, $($t:ty),+ $(,)?) => {{
        let table: &[fn(&[u8])] = &[$(round_trip::<$t>),+];
        table[$sel as usize % table.len()]($bytes)
    }};
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    ledger_decoders(bytes);
    dispatch!(
        sel,
        bytes,
        Record,
        SignedSubmission,
        Submission,
        Envelope,
        TrialRegistered,
        KeyEnrolled,
        KeyRevoked,
        RootKeyRotated,
        ProtocolAmended,
        CohortCatalogue,
        PatientRegistered,
        ConsentRecorded,
        ConsentWithdrawn,
        SequencingResultReported,
        MatchProposed,
        MatchDecided,
        SlotAssigned,
        SlotRefused,
        PatientEnrolled,
        DoseAdministered,
        DoseModified,
        AdverseEventReported,
        AdverseEventUpdated,
        ResponseAssessed,
        TreatmentEnded,
        SurvivalStatusRecorded,
        DeathRecorded,
        CohortStageDecided,
        Corrected,
    );
});
