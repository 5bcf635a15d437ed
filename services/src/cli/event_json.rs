//! The JSON form of events for `submit`: strict (unknown fields are errors), with hex for
//! keys and hashes. Each event type maps to its canonical payload struct.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use tl_ledger::writer::Draft;
use tl_schemas::clinical::*;
use tl_schemas::events::{envelope_of, KeyEnrolled, KeyRevoked, ProtocolAmended};
use tl_schemas::{Hash32, KeyId, Meaning, Reference, Role, Subject, SubmissionId, UtcMicros};

/// An event file as `submit` reads it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFile {
    /// Event type name, e.g. `ProtocolAmended`.
    pub event: String,
    /// `trial`, `patient:ID` or `cohort:ID`.
    pub subject: String,
    /// The payload, whose fields depend on `event`.
    pub payload: serde_json::Value,
    /// `authored` (default), `reviewed` or `approved`.
    #[serde(default)]
    pub meaning: Option<String>,
    /// Cited records: `{"partition":P,"seq":N,"hash":"hex"}`.
    #[serde(default)]
    pub cites: Vec<CiteJson>,
    /// 32 hex digits; reuse it to retry idempotently. Random if absent.
    #[serde(default)]
    pub submission_id: Option<String>,
    /// Registry position the author relies on.
    #[serde(default)]
    pub min_registry_seq: u64,
    /// Personal data of the patient, encrypted under the patient's key before signing.
    #[serde(default)]
    pub personal_data: Option<tl_domain::personal::PersonalData>,
}

/// A parsed event file: the draft to sign, and personal data to seal into it.
#[derive(Debug)]
pub struct ParsedEvent {
    /// The unsigned submission.
    pub draft: Draft,
    /// Whether the file gave its `submission_id` (a retry is looked up before it is signed).
    pub explicit_id: bool,
    /// Personal data for the envelope, still in clear.
    pub personal: Option<tl_domain::personal::PersonalData>,
}

/// A citation in JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CiteJson {
    /// Partition.
    pub partition: u32,
    /// Sequence number.
    pub seq: u64,
    /// Record hash, hex.
    pub hash: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEnrolledJson {
    public_key: String,
    name: String,
    role: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRevokedJson {
    key_id: String,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProtocolAmendedJson {
    protocol_version: u32,
    #[serde(default)]
    document_format: u16,
    /// The document as text (UTF-8).
    #[serde(default)]
    document: Option<String>,
    /// The document as hex, for binary formats.
    #[serde(default)]
    document_hex: Option<String>,
}

/// A correction in JSON: the reason, and the corrected content as an event of its own type.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CorrectedJson {
    reason: String,
    corrects: InnerEvent,
}

/// The corrected content: an event type name and its payload.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InnerEvent {
    event: String,
    payload: serde_json::Value,
}

macro_rules! clinical_events {
    ($($t:ident),* $(,)?) => {
        /// Names of the clinical event types `submit` accepts.
        pub const CLINICAL_NAMES: &[&str] = &[$(stringify!($t)),*];

        /// The envelope of a clinical event given by name and JSON payload; `None` if the
        /// name is not a clinical type.
        fn clinical_envelope(name: &str, v: serde_json::Value) -> Result<Option<tl_schemas::Envelope>> {
            Ok(match name {
                $(stringify!($t) => Some(envelope_of(&payload::<$t>(name, v)?)),)*
                _ => None,
            })
        }
    };
}

clinical_events!(
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

fn payload<T: serde::de::DeserializeOwned>(event: &str, v: serde_json::Value) -> Result<T> {
    serde_json::from_value(v).with_context(|| format!("payload of {event}"))
}

/// Parses an event file into a draft submission.
pub fn parse(text: &str) -> Result<ParsedEvent> {
    // Some editors on Windows start UTF-8 files with a byte-order mark; JSON has no use for it.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let f: EventFile = serde_json::from_str(text).context("event JSON")?;
    let subject = Subject::parse(&f.subject)?;
    let envelope = match f.event.as_str() {
        "KeyEnrolled" => {
            let p: KeyEnrolledJson = payload(&f.event, f.payload)?;
            let mut pk = [0u8; 32];
            hex::decode_to_slice(&p.public_key, &mut pk)
                .context("public_key must be 64 hex digits")?;
            let role =
                Role::parse(&p.role).with_context(|| format!("unknown role {:?}", p.role))?;
            envelope_of(&KeyEnrolled {
                public_key: pk,
                name: p.name,
                role,
            })
        }
        "KeyRevoked" => {
            let p: KeyRevokedJson = payload(&f.event, f.payload)?;
            envelope_of(&KeyRevoked {
                key: KeyId::from_hex(&p.key_id)?,
                reason: p.reason,
            })
        }
        "ProtocolAmended" => {
            let p: ProtocolAmendedJson = payload(&f.event, f.payload)?;
            let document = match (p.document, p.document_hex) {
                (Some(t), None) => t.into_bytes(),
                (None, Some(h)) => hex::decode(h).context("document_hex")?,
                _ => bail!("ProtocolAmended needs exactly one of `document` and `document_hex`"),
            };
            envelope_of(&ProtocolAmended {
                protocol_version: p.protocol_version,
                document_format: p.document_format,
                document,
            })
        }
        "TrialRegistered" => {
            bail!("TrialRegistered is written by `trial-ledger init`, not submitted")
        }
        "Corrected" => {
            let p: CorrectedJson = payload(&f.event, f.payload)?;
            let inner =
                clinical_envelope(&p.corrects.event, p.corrects.payload)?.with_context(|| {
                    format!(
                        "{:?} is not a clinical event type that can be corrected",
                        p.corrects.event
                    )
                })?;
            envelope_of(&Corrected {
                reason: p.reason,
                event_type: inner.event_type,
                event_version: inner.event_version,
                payload: inner.payload,
            })
        }
        other => match clinical_envelope(other, f.payload)? {
            Some(env) => env,
            None => bail!(
                "unknown event type {other:?}; known: KeyEnrolled, KeyRevoked, ProtocolAmended, {}",
                CLINICAL_NAMES.join(", ")
            ),
        },
    };
    let mut draft = Draft::new(subject, envelope);
    draft.meaning = match f.meaning.as_deref() {
        None | Some("authored") => Meaning::Authored,
        Some("reviewed") => Meaning::Reviewed,
        Some("approved") => Meaning::Approved,
        Some(m) => bail!("unknown meaning {m:?}: use authored, reviewed or approved"),
    };
    draft.cites = f
        .cites
        .iter()
        .map(|c| {
            Ok(Reference {
                partition: c.partition,
                seq: c.seq,
                hash: Hash32::from_hex(&c.hash)?,
            })
        })
        .collect::<Result<_>>()?;
    let explicit_id = f.submission_id.is_some();
    if let Some(id) = f.submission_id {
        draft.submission_id = SubmissionId::from_hex(&id)?;
    }
    draft.min_registry_seq = f.min_registry_seq;
    draft.client_time = UtcMicros::now();
    if f.personal_data.is_some() && !matches!(draft.subject, Subject::Patient(_)) {
        bail!(
            "personal_data belongs to a patient; the subject is {}",
            draft.subject
        );
    }
    Ok(ParsedEvent {
        draft,
        explicit_id,
        personal: f.personal_data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_draft(text: &str) -> Result<Draft> {
        parse(text).map(|p| p.draft)
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = parse(
            r#"{"event":"ProtocolAmended","subject":"trial","payload":{"protocol_version":1,"document":"x"},"colour":"red"}"#,
        );
        assert!(format!("{:#}", e.unwrap_err()).contains("unknown field"));
        let e = parse(
            r#"{"event":"ProtocolAmended","subject":"trial","payload":{"protocol_version":1,"document":"x","extra":1}}"#,
        );
        assert!(format!("{:#}", e.unwrap_err()).contains("unknown field"));
    }

    #[test]
    fn clinical_events_parse_with_dates_and_enums_in_plain_json() {
        let d = parse_draft(r#"{"event":"AdverseEventReported","subject":"patient:P-1","payload":{
            "ae_id":1,"ctcae_term":"Colitis","grade":3,"serious":["Hospitalisation"],"expected":false,
            "attribution":"Probable","onset":{"Full":"2025-02-27"},"awareness":"2025-03-01","outcome":"Ongoing"}}"#)
        .unwrap();
        let ae: AdverseEventReported = tl_schemas::decode(&d.envelope.payload).unwrap();
        assert_eq!(ae.awareness.to_string(), "2025-03-01");
        assert_eq!(ae.serious, vec![SeriousnessCriterion::Hospitalisation]);
        let e = parse(
            r#"{"event":"DeathRecorded","subject":"patient:P-1","payload":{"died_on":"2025-02-30","cause":"x","treatment_related":false}}"#,
        );
        assert!(format!("{:#}", e.unwrap_err()).contains("not a date"));
        let e = parse(
            r#"{"event":"DeathRecorded","subject":"patient:P-1","payload":{"died_on":"2025-02-03","cause":"x","treatment_related":false,"age":3}}"#,
        );
        assert!(format!("{:#}", e.unwrap_err()).contains("unknown field"));
    }

    #[test]
    fn a_correction_carries_the_corrected_content_as_its_own_type() {
        let d = parse_draft(r#"{"event":"Corrected","subject":"patient:P-1","cites":[{"partition":1,"seq":4,"hash":"0000000000000000000000000000000000000000000000000000000000000000"}],
            "payload":{"reason":"typo","corrects":{"event":"DeathRecorded","payload":{"died_on":"2025-02-03","cause":"x","treatment_related":false}}}}"#)
        .unwrap();
        let c: Corrected = tl_schemas::decode(&d.envelope.payload).unwrap();
        assert_eq!(c.event_type, clinical_type::DEATH_RECORDED);
        let _: DeathRecorded = tl_schemas::decode(&c.payload).unwrap();
        assert_eq!(d.cites.len(), 1);
    }

    #[test]
    fn the_readme_forms_of_doses_enums_and_partial_dates_parse() {
        // The README's dose example: dose_milli in thousandths of the unit.
        let d = parse_draft(
            r#"{"event": "DoseAdministered", "subject": "patient:P-0042",
 "payload": {"drug": "nivolumab", "dose_milli": 240000, "unit": "Mg", "route": "Intravenous",
             "cycle": 1, "day": 1, "administered_on": "2025-02-03"}}"#,
        )
        .unwrap();
        let dose: DoseAdministered = tl_schemas::decode(&d.envelope.payload).unwrap();
        assert_eq!((dose.dose_milli, dose.unit), (240_000, DoseUnit::Mg));
        let d = parse_draft(
            r#"{"event": "DoseModified", "subject": "patient:P-0042",
 "payload": {"action": {"Reduced": {"new_dose_milli": 180000}}, "reason": "grade 2 diarrhoea",
             "modified_on": "2025-03-03"}}"#,
        )
        .unwrap();
        let m: DoseModified = tl_schemas::decode(&d.envelope.payload).unwrap();
        assert_eq!(
            m.action,
            DoseAction::Reduced {
                new_dose_milli: 180_000
            }
        );
        for (onset, want) in [
            (r#"{"Full": "2019-07-14"}"#, "2019-07-14"),
            (r#"{"YearMonth": [2019, 7]}"#, "2019-07"),
            (r#"{"Year": 2019}"#, "2019"),
        ] {
            let d = parse_draft(&format!(
                r#"{{"event":"AdverseEventReported","subject":"patient:P-1","payload":{{
            "ae_id":1,"ctcae_term":"Colitis","grade":2,"serious":[],"expected":true,
            "attribution":"Possible","onset":{onset},"awareness":"2025-03-01","outcome":"Ongoing"}}}}"#
            ))
            .unwrap();
            let ae: AdverseEventReported = tl_schemas::decode(&d.envelope.payload).unwrap();
            let got = match ae.onset {
                tl_schemas::PartialDate::Full(d) => d.to_string(),
                tl_schemas::PartialDate::YearMonth(y, m) => format!("{y}-{m:02}"),
                tl_schemas::PartialDate::Year(y) => y.to_string(),
            };
            assert_eq!(got, want);
        }
    }

    #[test]
    fn a_byte_order_mark_before_the_json_is_accepted() {
        let d = parse_draft("\u{feff}{\"event\":\"ProtocolAmended\",\"subject\":\"trial\",\"payload\":{\"protocol_version\":1,\"document\":\"x\"}}")
            .unwrap();
        assert_eq!(
            d.envelope.event_type,
            tl_schemas::event_type::PROTOCOL_AMENDED
        );
    }

    /// Replays the event_json fuzz target's seeds and minimised findings
    /// (`fuzz/seeds/event_json`, `fuzz/regressions/event_json`, FUZZING.md): the same verdict
    /// twice, and a parsed payload that re-encodes to its own bytes.
    #[test]
    fn the_fuzz_corpus_parses_consistently() {
        let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let mut parsed = 0;
        for kind in ["seeds", "regressions"] {
            let Ok(dir) = std::fs::read_dir(fuzz.join(kind).join("event_json")) else {
                continue;
            };
            for entry in dir {
                let path = entry.unwrap().path();
                let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
                let verdict = || {
                    parse(&text)
                        .map(|p| (p.draft.envelope, p.draft.cites, p.explicit_id))
                        .map_err(|e| format!("{e:#}"))
                };
                let first = verdict();
                assert_eq!(first, verdict(), "{}", path.display());
                parsed += first.is_ok() as usize;
            }
        }
        assert!(parsed >= 5, "the seeds parse: {parsed}");
    }

    #[test]
    fn a_good_event_parses() {
        let d = parse_draft(r#"{"event":"ProtocolAmended","subject":"trial","payload":{"protocol_version":1,"document":"x"},"submission_id":"000102030405060708090a0b0c0d0e0f"}"#).unwrap();
        assert_eq!(
            d.envelope.event_type,
            tl_schemas::event_type::PROTOCOL_AMENDED
        );
        assert_eq!(d.submission_id.0[15], 15);
    }
}
