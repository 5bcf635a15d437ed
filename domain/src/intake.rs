//! What intake refuses in a new submission that a clinical system would refuse too
//! (FORMAT.md, "Intake limits"): overlong text, implausible dates, an adverse event aware of
//! itself before it began or after it was recorded, an empty CTCAE term.
//!
//! These checks run only in the sequencer, for new submissions ([`DomainRules::check_intake`]
//! of [`crate::TrialRules`]); records already in a ledger are never held to them, so ledgers
//! that verified keep verifying.
//!
//! [`DomainRules::check_intake`]: tl_ledger::rules::DomainRules::check_intake

use serde_json::Value;
use tl_ledger::reason::{Reason, Refusal};
use tl_schemas::clinical::{clinical_type as ct, *};
use tl_schemas::events::{event_type as et, KeyEnrolled, KeyRevoked, TrialRegistered};
use tl_schemas::{decode, Date, PartialDate, Submission, UtcMicros};

/// Longest term (a CTCAE term, a drug, a gene, a tumour type, a name), in characters: the
/// E2B(R3) limit for a reaction term.
pub const MAX_TERM_CHARS: usize = 250;
/// Longest free text (a reason, a rationale, a detail), in bytes. A longer document, such as
/// a case narrative, is referenced by its SHA-256 digest, as sequencing reports are.
pub const MAX_TEXT_BYTES: usize = 16 << 10;
/// The earliest plausible clinical date.
pub const EARLIEST_YEAR: i32 = 1900;

/// Payload fields held to [`MAX_TERM_CHARS`]; every other text field is held to
/// [`MAX_TEXT_BYTES`].
pub const TERM_FIELDS: &[&str] = &[
    "ctcae_term",
    "drug",
    "gene",
    "protein_change",
    "fusion_partner",
    "partner",
    "tumour_type",
    "site",
    "sample_id",
    "form_version",
    "cause",
    "name",
    "title",
];

/// Judges a new submission at `ordering_time`.
pub fn check(sub: &Submission, ordering_time: UtcMicros) -> Result<(), Refusal> {
    let env = &sub.envelope;
    check_payload(env.event_type, &env.payload, ordering_time)?;
    if env.event_type == ct::CORRECTED {
        if let Ok(c) = decode::<Corrected>(&env.payload) {
            check_payload(c.event_type, &c.payload, ordering_time)?;
        }
    }
    Ok(())
}

/// One payload: its text fields, its dates, and the adverse-event rules.
fn check_payload(event_type: u16, bytes: &[u8], ordering_time: UtcMicros) -> Result<(), Refusal> {
    let Some(value) = payload_json(event_type, bytes) else {
        // Unknown or undecodable: the domain rules have already judged it.
        return Ok(());
    };
    check_text("payload", &value)?;
    let latest = latest_date(ordering_time);
    match event_type {
        ct::ADVERSE_EVENT_REPORTED => {
            if let Ok(ae) = decode::<AdverseEventReported>(bytes) {
                check_adverse_event(&ae, latest)?;
            }
        }
        ct::ADVERSE_EVENT_UPDATED => {
            if let Ok(ae) = decode::<AdverseEventUpdated>(bytes) {
                check_awareness(ae.awareness, latest)?;
            }
        }
        _ => {}
    }
    check_dates(&value, latest)
}

/// The latest plausible date: the ordering time's UTC date plus a day (a site ahead of UTC).
fn latest_date(ordering_time: UtcMicros) -> Date {
    let days = ordering_time.0.div_euclid(86_400_000_000);
    Date(i32::try_from(days).unwrap_or(i32::MAX).saturating_add(1))
}

/// The payload as JSON (dates as `YYYY-MM-DD`), for the event types intake knows.
fn payload_json(event_type: u16, bytes: &[u8]) -> Option<Value> {
    fn j<T: serde::Serialize + serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<Value> {
        serde_json::to_value(decode::<T>(bytes).ok()?).ok()
    }
    match event_type {
        et::TRIAL_REGISTERED => j::<TrialRegistered>(bytes),
        et::KEY_ENROLLED => j::<KeyEnrolled>(bytes),
        et::KEY_REVOKED => j::<KeyRevoked>(bytes),
        ct::PATIENT_REGISTERED => j::<PatientRegistered>(bytes),
        ct::CONSENT_RECORDED => j::<ConsentRecorded>(bytes),
        ct::CONSENT_WITHDRAWN => j::<ConsentWithdrawn>(bytes),
        ct::SEQUENCING_RESULT_REPORTED => j::<SequencingResultReported>(bytes),
        ct::MATCH_PROPOSED => j::<MatchProposed>(bytes),
        ct::MATCH_DECIDED => j::<MatchDecided>(bytes),
        ct::SLOT_ASSIGNED => j::<SlotAssigned>(bytes),
        ct::SLOT_REFUSED => j::<SlotRefused>(bytes),
        ct::PATIENT_ENROLLED => j::<PatientEnrolled>(bytes),
        ct::DOSE_ADMINISTERED => j::<DoseAdministered>(bytes),
        ct::DOSE_MODIFIED => j::<DoseModified>(bytes),
        ct::ADVERSE_EVENT_REPORTED => j::<AdverseEventReported>(bytes),
        ct::ADVERSE_EVENT_UPDATED => j::<AdverseEventUpdated>(bytes),
        ct::RESPONSE_ASSESSED => j::<ResponseAssessed>(bytes),
        ct::TREATMENT_ENDED => j::<TreatmentEnded>(bytes),
        ct::SURVIVAL_STATUS_RECORDED => j::<SurvivalStatusRecorded>(bytes),
        ct::DEATH_RECORDED => j::<DeathRecorded>(bytes),
        ct::COHORT_STAGE_DECIDED => j::<CohortStageDecided>(bytes),
        ct::CORRECTED => j::<Corrected>(bytes),
        _ => None,
    }
}

/// Every text field within its cap; the cap of a field is that of the nearest named field
/// above it (so the items of a list of terms are terms).
fn check_text(field: &str, v: &Value) -> Result<(), Refusal> {
    match v {
        Value::String(s) => {
            let too_long = if TERM_FIELDS.contains(&field) {
                (s.chars().count() > MAX_TERM_CHARS).then(|| format!("{MAX_TERM_CHARS} characters"))
            } else {
                (s.len() > MAX_TEXT_BYTES).then(|| format!("{MAX_TEXT_BYTES} bytes"))
            };
            match too_long {
                Some(cap) => Err(Refusal::new(
                    Reason::FieldTooLong,
                    format!(
                        "`{field}` is longer than {cap}; reference a longer document by its SHA-256 digest"
                    ),
                )),
                None => Ok(()),
            }
        }
        Value::Array(items) => items.iter().try_for_each(|i| check_text(field, i)),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| check_text(k, v)),
        _ => Ok(()),
    }
}

/// The payload fields that hold dates (a [`Date`], `Option<Date>` or [`PartialDate`]).
const DATE_FIELDS: &[&str] = &[
    "registered_on",
    "consented_on",
    "withdrawn_on",
    "reported_on",
    "decided_on",
    "enrolled_on",
    "administered_on",
    "modified_on",
    "onset",
    "awareness",
    "resolved_on",
    "assessed_on",
    "ended_on",
    "last_known_alive",
    "died_on",
];

/// Every date field between 1900-01-01 and `latest`.
fn check_dates(v: &Value, latest: Date) -> Result<(), Refusal> {
    match v {
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            if DATE_FIELDS.contains(&k.as_str()) {
                check_date_value(k, v, latest)
            } else {
                check_dates(v, latest)
            }
        }),
        Value::Array(items) => items.iter().try_for_each(|i| check_dates(i, latest)),
        _ => Ok(()),
    }
}

/// One date field's value: `"YYYY-MM-DD"`, `null`, or a partial date.
fn check_date_value(field: &str, v: &Value, latest: Date) -> Result<(), Refusal> {
    let partial: Option<PartialDate> = match v {
        Value::Null => None,
        Value::String(s) => Date::parse(s).map(PartialDate::Full),
        other => serde_json::from_value(other.clone()).ok(),
    };
    let Some(d) = partial else { return Ok(()) };
    let (earliest, latest_of) = bounds(d);
    let first = Date::from_ymd(EARLIEST_YEAR, 1, 1).expect("a real day");
    if latest_of < first || earliest > latest {
        return Err(Refusal::new(
            Reason::ImplausibleDate,
            format!(
                "`{field}` is {}, outside {first} to {latest} (the record's ordering date plus a day)",
                show(d)
            ),
        ));
    }
    Ok(())
}

/// The first and last day a partial date may stand for.
fn bounds(d: PartialDate) -> (Date, Date) {
    let day = |y: i32, m: u8, last: bool| {
        if !last {
            return Date::from_ymd(y, m, 1);
        }
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        Date::from_ymd(ny, nm, 1).map(|d| Date(d.0 - 1))
    };
    let or = |d: Option<Date>, fallback: i32| d.unwrap_or(Date(fallback));
    match d {
        PartialDate::Full(d) => (d, d),
        PartialDate::YearMonth(y, m) => (
            or(day(y.into(), m, false), i32::MAX),
            or(day(y.into(), m, true), i32::MIN),
        ),
        PartialDate::Year(y) => (
            or(day(y.into(), 1, false), i32::MAX),
            or(day(y.into(), 12, true), i32::MIN),
        ),
    }
}

fn show(d: PartialDate) -> String {
    match d {
        PartialDate::Full(d) => d.to_string(),
        PartialDate::YearMonth(y, m) => format!("{y:04}-{m:02}"),
        PartialDate::Year(y) => format!("{y:04}"),
    }
}

/// A first report: a CTCAE term, and awareness neither before the onset nor after the record.
fn check_adverse_event(ae: &AdverseEventReported, latest: Date) -> Result<(), Refusal> {
    if ae.ctcae_term.trim().is_empty() {
        return Err(Refusal::new(
            Reason::MissingValue,
            "`ctcae_term` is empty: an adverse event needs its CTCAE term",
        ));
    }
    let (onset_earliest, _) = bounds(ae.onset);
    if ae.awareness < onset_earliest {
        return Err(Refusal::new(
            Reason::ImplausibleDate,
            format!(
                "`awareness` {} is before the onset {}",
                ae.awareness,
                show(ae.onset)
            ),
        ));
    }
    check_awareness(ae.awareness, latest)
}

/// Awareness after the record's ordering date (plus a day) would move a SUSAR deadline later.
fn check_awareness(awareness: Date, latest: Date) -> Result<(), Refusal> {
    if awareness > latest {
        return Err(Refusal::new(
            Reason::ImplausibleDate,
            format!(
                "`awareness` {awareness} is after the record's ordering date (a forward-dated awareness would extend the SUSAR deadline)"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tl_ledger::writer::Draft;
    use tl_ledger::SigningKey;
    use tl_schemas::events::{envelope_of, EventPayload};
    use tl_schemas::Subject;

    /// 2025-03-01T12:00Z.
    const NOW: UtcMicros = UtcMicros(1_740_830_400_000_000);

    fn sub<E: EventPayload>(e: &E) -> Submission {
        let draft = Draft::new(Subject::parse("patient:P-1").unwrap(), envelope_of(e));
        let trial = tl_schemas::TrialId::new("t").unwrap();
        draft
            .sign(&trial, &SigningKey::from_seed([1; 32]))
            .submission
    }

    fn date(y: i32, m: u8, d: u8) -> Date {
        Date::from_ymd(y, m, d).unwrap()
    }

    fn ae(term: &str, onset: PartialDate, awareness: Date) -> AdverseEventReported {
        AdverseEventReported {
            ae_id: 1,
            ctcae_term: term.into(),
            grade: 3,
            serious: vec![],
            expected: false,
            attribution: Attribution::Probable,
            onset,
            awareness,
            outcome: AeOutcome::Ongoing,
        }
    }

    fn code(r: Result<(), Refusal>) -> Option<&'static str> {
        r.err().map(|r| r.reason.code())
    }

    fn registered(on: Date, tumour: &str) -> PatientRegistered {
        PatientRegistered {
            tumour_type: tumour.into(),
            site: "NKI".into(),
            registered_on: on,
        }
    }

    #[test]
    fn dates_before_1900_or_after_the_ordering_date_plus_a_day_are_refused() {
        let ok = |d| check(&sub(&registered(d, "COAD")), NOW);
        assert_eq!(code(ok(date(1900, 1, 1))), None);
        assert_eq!(code(ok(date(2025, 3, 2))), None, "a site ahead of UTC");
        assert_eq!(code(ok(date(1899, 12, 31))), Some("implausible-date"));
        assert_eq!(code(ok(date(2025, 3, 3))), Some("implausible-date"));
        // A partial onset is judged by the days it may stand for.
        let a = |onset| check(&sub(&ae("Colitis", onset, date(2025, 2, 1))), NOW);
        assert_eq!(code(a(PartialDate::Year(1899))), Some("implausible-date"));
        assert_eq!(code(a(PartialDate::YearMonth(2025, 1))), None);
    }

    #[test]
    fn an_adverse_event_is_aware_neither_before_its_onset_nor_after_its_record() {
        let a = |onset, aware| code(check(&sub(&ae("Colitis", onset, aware)), NOW));
        let full = |d| PartialDate::Full(d);
        assert_eq!(a(full(date(2025, 2, 10)), date(2025, 2, 12)), None);
        assert_eq!(
            a(full(date(2025, 2, 10)), date(2025, 2, 9)),
            Some("implausible-date")
        );
        // Same month: it may have begun on the first.
        assert_eq!(a(PartialDate::YearMonth(2025, 2), date(2025, 2, 1)), None);
        assert_eq!(
            a(PartialDate::YearMonth(2025, 2), date(2025, 1, 31)),
            Some("implausible-date")
        );
        // Forward-dated awareness would push the SUSAR deadline out.
        let r = check(
            &sub(&ae("Colitis", full(date(2025, 2, 10)), date(2025, 3, 20))),
            NOW,
        )
        .unwrap_err();
        assert_eq!(r.reason.code(), "implausible-date");
        assert!(r.detail.contains("SUSAR"), "{}", r.detail);
    }

    #[test]
    fn an_empty_ctcae_term_is_refused() {
        let on = PartialDate::Full(date(2025, 2, 10));
        assert_eq!(
            code(check(&sub(&ae("  ", on, date(2025, 2, 11))), NOW)),
            Some("missing-value")
        );
    }

    #[test]
    fn terms_and_texts_are_capped() {
        let on = PartialDate::Full(date(2025, 2, 10));
        let term = |n: usize| check(&sub(&ae(&"é".repeat(n), on, date(2025, 2, 11))), NOW);
        assert_eq!(code(term(MAX_TERM_CHARS)), None, "characters, not bytes");
        assert_eq!(code(term(MAX_TERM_CHARS + 1)), Some("field-too-long"));
        let ended = |n: usize| {
            let e = TreatmentEnded {
                ended_on: date(2025, 2, 1),
                reason: EndReason::Other,
                detail: "x".repeat(n),
            };
            check(&sub(&e), NOW)
        };
        assert_eq!(code(ended(MAX_TEXT_BYTES)), None);
        assert_eq!(code(ended(MAX_TEXT_BYTES + 1)), Some("field-too-long"));
        // Inside a correction too.
        let bad = ae(&"x".repeat(MAX_TERM_CHARS + 1), on, date(2025, 2, 11));
        let c = Corrected {
            reason: "typo".into(),
            event_type: AdverseEventReported::TYPE,
            event_version: AdverseEventReported::VERSION,
            payload: tl_schemas::encode(&bad),
        };
        assert_eq!(code(check(&sub(&c), NOW)), Some("field-too-long"));
    }
}
