//! The clinical data cut-off: the trial model limited to what had happened clinically by a
//! date. One rule, applied once, feeds the figures, the CDISC datasets and `verify-dossier`'s
//! recomputation of both, so `dossier.json` and ADSL/ADTTE always describe the same records.
//!
//! [`CUTOFF_RULE`] states the rule in words (verbatim in `dossier.json`'s conventions, the
//! report, `define.xml` and schemas/FORMAT.md §20). In short, with `C` the cut-off date:
//!
//! 1. **A patient record's date** is the date its content in force (corrections applied)
//!    gives, per event type ([`record_date`]); an adverse event's first report is dated by its
//!    onset (the first day a partial onset can mean), a follow-up by its `awareness`.
//! 2. **A patient record with no date of its own** (a match proposal, a type this version does
//!    not know) takes the date of the nearest earlier record, in ledger order, of the same
//!    patient that has one; with none before it, it has no date.
//! 3. A record dated after `C` (strictly later) is left out.
//! 4. A record, patient or cohort, that cites a record left out is left out, repeatedly until
//!    nothing changes. Cohort records (slots, stage decisions) have no date: only this rule
//!    removes them.
//! 5. Corrections stay applied, whenever they were recorded: a correction fixes what a record
//!    always said.
//!
//! Survival is then censored by tl-clinical at the last record kept that shows the patient
//! alive, so no event or follow-up after `C` counts.

use std::collections::{HashMap, HashSet};
use tl_projections::model::{SubjectRecord, TrialModel};
use tl_schemas::clinical::{clinical_type as ct, *};
use tl_schemas::ids::Name;
use tl_schemas::{decode, Date, PartialDate};

/// The clinical cut-off rule in words, as the dossier states it (`dossier.json`'s conventions,
/// the report, `define.xml`).
pub const CUTOFF_RULE: &str = "Clinical data cut-off C: (1) a patient record is dated by its content in force (corrections applied): PatientRegistered registered_on, ConsentRecorded consented_on, ConsentWithdrawn withdrawn_on, SequencingResultReported reported_on, MatchDecided decided_on, PatientEnrolled enrolled_on, DoseAdministered administered_on, DoseModified modified_on, AdverseEventReported onset (a partial onset by its first possible day: 1 January of the year, or the 1st of the month), AdverseEventUpdated awareness, ResponseAssessed assessed_on, TreatmentEnded ended_on, SurvivalStatusRecorded last_known_alive, DeathRecorded died_on; (2) a patient record without a date of its own (MatchProposed, or a type not listed) takes the date of the nearest earlier record of the same patient in ledger order that has one, and has none if no earlier record has one; (3) a record dated after C is left out; (4) a patient or cohort record citing a record left out is left out, repeated until nothing changes (slots and stage decisions have no date; only this removes them); (5) corrections stay applied whenever they were recorded. Each patient is then censored at the last record kept that shows them alive.";

/// The clinical date of a patient record, when its type has one (rule 1 of [`CUTOFF_RULE`]):
/// read from the payload in force (corrections applied). A payload that does not decode has
/// none (the verifier has already checked every record it reads).
pub fn record_date(r: &SubjectRecord) -> Option<Date> {
    let p = r.payload.as_slice();
    match r.event_type {
        ct::PATIENT_REGISTERED => decode::<PatientRegistered>(p).ok().map(|e| e.registered_on),
        ct::CONSENT_RECORDED => decode::<ConsentRecorded>(p).ok().map(|e| e.consented_on),
        ct::CONSENT_WITHDRAWN => decode::<ConsentWithdrawn>(p).ok().map(|e| e.withdrawn_on),
        ct::SEQUENCING_RESULT_REPORTED => decode::<SequencingResultReported>(p)
            .ok()
            .map(|e| e.reported_on),
        ct::MATCH_DECIDED => decode::<MatchDecided>(p).ok().map(|e| e.decided_on),
        ct::PATIENT_ENROLLED => decode::<PatientEnrolled>(p).ok().map(|e| e.enrolled_on),
        ct::DOSE_ADMINISTERED => decode::<DoseAdministered>(p)
            .ok()
            .map(|e| e.administered_on),
        ct::DOSE_MODIFIED => decode::<DoseModified>(p).ok().map(|e| e.modified_on),
        // When it happened, not when the sponsor heard of it: an event with onset before the
        // cut-off happened before it, however late it was reported.
        ct::ADVERSE_EVENT_REPORTED => decode::<AdverseEventReported>(p)
            .ok()
            .and_then(|e| earliest(&e.onset)),
        ct::ADVERSE_EVENT_UPDATED => decode::<AdverseEventUpdated>(p).ok().map(|e| e.awareness),
        ct::RESPONSE_ASSESSED => decode::<ResponseAssessed>(p).ok().map(|e| e.assessed_on),
        ct::TREATMENT_ENDED => decode::<TreatmentEnded>(p).ok().map(|e| e.ended_on),
        ct::SURVIVAL_STATUS_RECORDED => decode::<SurvivalStatusRecorded>(p)
            .ok()
            .map(|e| e.last_known_alive),
        ct::DEATH_RECORDED => decode::<DeathRecorded>(p).ok().map(|e| e.died_on),
        _ => None,
    }
}

/// The first day a partial date can mean.
pub fn earliest(d: &PartialDate) -> Option<Date> {
    match *d {
        PartialDate::Year(y) => Date::from_ymd(i32::from(y), 1, 1),
        PartialDate::YearMonth(y, m) => Date::from_ymd(i32::from(y), m, 1),
        PartialDate::Full(d) => Some(d),
    }
}

/// Where a record is: (partition, seq).
fn key(r: &SubjectRecord) -> (u32, u64) {
    (r.at.partition, r.at.seq)
}

/// The records [`CUTOFF_RULE`] leaves out of `model` at `cutoff`, by (partition, seq).
pub fn left_out(model: &TrialModel, cutoff: Date) -> HashSet<(u32, u64)> {
    let mut out = HashSet::new();
    // Rules 1-3: each patient's records by their own date, else the one before them.
    for records in model.patients.values() {
        let mut date: Option<Date> = None;
        for r in records {
            date = record_date(r).or(date);
            if date.is_some_and(|d| d > cutoff) {
                out.insert(key(r));
            }
        }
    }
    // Rule 4, to a fixed point: citations run from patients to cohorts (a slot cites the MTB
    // approval) and back (an enrolment cites its slot), so one pass in any order may not do.
    let all: Vec<&SubjectRecord> = model
        .patients
        .values()
        .chain(model.cohorts.values())
        .flatten()
        .collect();
    while !out.is_empty() {
        let before = out.len();
        for r in &all {
            if !out.contains(&key(r)) && r.cites.iter().any(|c| out.contains(&(c.partition, c.seq)))
            {
                out.insert(key(r));
            }
        }
        if out.len() == before {
            break;
        }
    }
    out
}

/// The model as known clinically on `cutoff`: every record [`CUTOFF_RULE`] leaves out is
/// removed (patients left with no record are absent), the slot index is rebuilt, corrections
/// and the protocol's catalogue are kept.
pub fn clinical_cut(model: &TrialModel, cutoff: Date) -> TrialModel {
    let gone = left_out(model, cutoff);
    let keep = |records: &Vec<SubjectRecord>| -> Vec<SubjectRecord> {
        records
            .iter()
            .filter(|r| !gone.contains(&key(r)))
            .cloned()
            .collect()
    };
    let mut out = TrialModel::new();
    out.catalogue = model.catalogue.clone();
    out.definitions = model.definitions;
    out.corrections = model.corrections.clone();
    out.patients = model
        .patients
        .iter()
        .map(|(name, records)| (name.clone(), keep(records)))
        .filter(|(_, kept)| !kept.is_empty())
        .collect();
    // Each cohort record's index among the records kept, so the slot index keeps its order
    // (the latest slot record about a patient is the one in force).
    let mut moved: HashMap<&Name, Vec<Option<usize>>> = HashMap::new();
    for (name, records) in &model.cohorts {
        let mut kept = Vec::with_capacity(records.len());
        let mut index = Vec::with_capacity(records.len());
        for r in records {
            if gone.contains(&key(r)) {
                index.push(None);
            } else {
                index.push(Some(kept.len()));
                kept.push(r.clone());
            }
        }
        moved.insert(name, index);
        out.cohorts.insert(name.clone(), kept);
    }
    for (patient, slots) in &model.slot_records {
        let kept: Vec<(Name, usize)> = slots
            .iter()
            .filter_map(|(c, i)| Some((c.clone(), (*moved.get(c)?.get(*i)?)?)))
            .collect();
        if !kept.is_empty() {
            out.slot_records.insert(patient.clone(), kept);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tl_schemas::{encode, Hash32, Reference};

    fn day(y: i32, m: u8, d: u8) -> Date {
        Date::from_ymd(y, m, d).unwrap()
    }

    fn at(partition: u32, seq: u64) -> Reference {
        Reference {
            partition,
            seq,
            hash: Hash32([seq as u8; 32]),
        }
    }

    fn rec(partition: u32, seq: u64, event_type: u16, payload: Vec<u8>) -> SubjectRecord {
        SubjectRecord {
            at: at(partition, seq),
            event_type,
            payload,
            original: None,
            corrected_by: None,
            cites: vec![],
            time: tl_schemas::UtcMicros(0),
        }
    }

    fn ae(id: u32, onset: PartialDate, awareness: Date) -> Vec<u8> {
        encode(&AdverseEventReported {
            ae_id: id,
            ctcae_term: "Fatigue".into(),
            grade: 2,
            serious: vec![],
            expected: true,
            attribution: Attribution::Possible,
            onset,
            awareness,
            outcome: AeOutcome::Ongoing,
        })
    }

    fn name(s: &str) -> Name {
        Name::new(s).unwrap()
    }

    /// Patient P in partition 1, cohort C in partition 2, patient Q (all after) in partition 3.
    fn model() -> TrialModel {
        let mut m = TrialModel::new();
        let registered = |on| {
            encode(&PatientRegistered {
                tumour_type: "COAD".into(),
                site: "S".into(),
                registered_on: on,
            })
        };
        let decided = encode(&MatchDecided {
            decision: MtbDecision::Approved {
                cohort_id: name("C"),
            },
            rationale: "r".into(),
            decided_on: day(2020, 3, 10),
        });
        let enrolled = encode(&PatientEnrolled {
            cohort_id: name("C"),
            enrolled_on: day(2020, 2, 1),
        });
        let mut p = vec![
            rec(1, 0, ct::PATIENT_REGISTERED, registered(day(2020, 1, 1))),
            rec(1, 1, ct::MATCH_PROPOSED, vec![]),
            rec(1, 2, ct::MATCH_DECIDED, decided),
            rec(1, 3, ct::MATCH_PROPOSED, vec![]),
            rec(
                1,
                4,
                ct::ADVERSE_EVENT_REPORTED,
                ae(1, PartialDate::Full(day(2020, 2, 20)), day(2020, 3, 5)),
            ),
            rec(
                1,
                5,
                ct::ADVERSE_EVENT_REPORTED,
                ae(2, PartialDate::YearMonth(2020, 2), day(2020, 3, 20)),
            ),
            rec(
                1,
                6,
                ct::ADVERSE_EVENT_REPORTED,
                ae(3, PartialDate::Full(day(2020, 3, 1)), day(2020, 2, 25)),
            ),
            rec(1, 7, ct::PATIENT_ENROLLED, enrolled),
        ];
        p[7].cites = vec![at(2, 0)];
        let slot = encode(&SlotAssigned {
            patient: name("P"),
            stage: 1,
            slot: 1,
        });
        let mut c = vec![
            rec(2, 0, ct::SLOT_ASSIGNED, slot),
            rec(2, 1, ct::COHORT_STAGE_DECIDED, vec![]),
        ];
        c[0].cites = vec![at(1, 2)];
        c[1].cites = vec![at(1, 0)];
        m.patients.insert(name("P"), p);
        m.patients.insert(
            name("Q"),
            vec![rec(
                3,
                0,
                ct::PATIENT_REGISTERED,
                registered(day(2021, 1, 1)),
            )],
        );
        m.cohorts.insert(name("C"), c);
        m.slot_records.insert(name("P"), vec![(name("C"), 0)]);
        m
    }

    #[test]
    fn given_records_around_the_cutoff_when_cut_then_each_rule_decides() {
        // given a cut-off of 2020-02-29
        let cut = clinical_cut(&model(), day(2020, 2, 29));
        let kept: Vec<u64> = cut.patients[&name("P")].iter().map(|r| r.at.seq).collect();
        // then the registration and the proposal after it stay (rule 2: it takes 2020-01-01);
        // the MTB decision of 2020-03-10 goes (rule 3) and takes the proposal after it (rule
        // 2); an AE with onset before and awareness after stays (rule 1, onset), as does one
        // with a partial onset in February (its first day); one with onset after goes even
        // though the sponsor knew of it before; the enrolment, dated before, cites the slot,
        // which cites the decision left out (rule 4, across partitions both ways)
        assert_eq!(kept, vec![0, 1, 4, 5]);
        let cohort: Vec<u64> = cut.cohorts[&name("C")].iter().map(|r| r.at.seq).collect();
        assert_eq!(cohort, vec![1]);
        assert!(!cut.slot_records.contains_key(&name("P")));
        // and a patient with nothing on or before the cut-off is absent
        assert!(!cut.patients.contains_key(&name("Q")));
    }

    #[test]
    fn given_a_cutoff_after_everything_when_cut_then_nothing_is_left_out() {
        let m = model();
        assert!(left_out(&m, day(2030, 1, 1)).is_empty());
        let cut = clinical_cut(&m, day(2030, 1, 1));
        assert_eq!(cut.patients[&name("P")].len(), 8);
        assert_eq!(cut.slot_records[&name("P")], vec![(name("C"), 0)]);
        // the cut-off day itself is inside: the MTB decision on 2020-03-10 stays
        let cut = clinical_cut(&m, day(2020, 3, 10));
        assert!(cut.patients[&name("P")].iter().any(|r| r.at.seq == 2));
    }
}
