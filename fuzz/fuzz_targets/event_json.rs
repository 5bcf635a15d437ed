//! Event JSON as `trial-ledger submit` parses it (`services/src/cli/event_json.rs`, compiled
//! from its own file). The verdict must be deterministic (the same draft, or the same error
//! chain; a draft's random submission id and its clock time are left out when the file gives
//! no id). Round trip: a parsed event's payload decodes as its type and re-encodes to the same
//! bytes, and a clinical payload written back as JSON parses to the same envelope.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::{de::DeserializeOwned, Serialize};
use tl_fuzz::event_json::{parse, ParsedEvent};
use tl_schemas::clinical::*;
use tl_schemas::events::{EventPayload, KeyEnrolled, KeyRevoked, ProtocolAmended};
use tl_schemas::Envelope;

/// What a parse decided, without what is random or the clock's.
fn verdict(text: &str) -> Result<String, String> {
    parse(text)
        .map(|p: ParsedEvent| {
            let d = &p.draft;
            let id = p.explicit_id.then_some(d.submission_id);
            format!(
                "{:?} {:?} {:?} {:?} {} {:?} {:?}",
                d.subject, d.envelope, d.meaning, d.cites, d.min_registry_seq, id, p.personal
            )
        })
        .map_err(|e| format!("{e:#}"))
}

/// Decodes the payload as `T`: it must re-encode byte for byte. Returns it as JSON.
fn canonical<T: EventPayload + Serialize + DeserializeOwned>(
    env: &Envelope,
) -> Option<serde_json::Value> {
    if env.event_type != T::TYPE {
        return None;
    }
    let v: T = tl_schemas::decode(&env.payload).expect("a parsed payload decodes as its type");
    assert_eq!(tl_schemas::encode(&v), env.payload, "{}", T::NAME);
    Some(serde_json::to_value(&v).expect("a payload serialises"))
}

/// The clinical payload as JSON (checking every payload's canonical round trip on the way).
fn payload_json(env: &Envelope) -> Option<(&'static str, serde_json::Value)> {
    macro_rules! each {
        ($($t:ty),* $(,)?) => {
            $(if let Some(v) = canonical::<$t>(env) { return Some((<$t>::NAME, v)); })*
        };
    }
    for other in [
        canonical::<KeyEnrolled>(env),
        canonical::<KeyRevoked>(env),
        canonical::<ProtocolAmended>(env),
        canonical::<Corrected>(env),
    ] {
        if other.is_some() {
            return None;
        }
    }
    each!(
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
    );
    panic!("a parsed event of unknown type {}", env.event_type)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let first = verdict(text);
    assert_eq!(first, verdict(text), "two parses of the same text differ");
    let Ok(parsed) = parse(text) else { return };
    let env = &parsed.draft.envelope;
    if let Some((name, payload)) = payload_json(env) {
        let again = serde_json::json!({
            "event": name,
            "subject": parsed.draft.subject.to_string(),
            "payload": payload,
        });
        let back = parse(&again.to_string()).expect("a clinical event written back parses");
        assert_eq!(&back.draft.envelope, env, "JSON round trip of {name}");
    }
});
