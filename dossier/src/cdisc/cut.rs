//! The trial model as of the clinical data cut-off.
//!
//! Rules (stated in `define.xml` too):
//! - a patient record whose clinical date is after the cut-off is left out: registration,
//!   consent, withdrawal, sequencing, MTB decision, enrolment, dose, dose change, scan, end of
//!   treatment, survival follow-up and death by their own date; an adverse event report by its
//!   onset (the first day a partial onset can mean); an adverse event follow-up by the date its
//!   information was known (`awareness`);
//! - a record with no clinical date of its own (a match proposal, a correction) goes with the
//!   dated record before it in the patient's trail;
//! - a cohort record (slot, stage decision) is left out when it cites a record that is;
//! - corrections stay applied: a correction fixes what a record always said.
//!
//! Survival is then censored at the last record on or before the cut-off that shows the
//! patient alive (tl-clinical's rule), so no event or follow-up after it counts.

use std::collections::HashSet;
use tl_projections::model::{SubjectRecord, TrialModel};
use tl_schemas::clinical::{clinical_type as ct, *};
use tl_schemas::{decode, Date, PartialDate};

/// The clinical date of a patient record, if it has one.
pub(crate) fn record_date(r: &SubjectRecord) -> Option<Date> {
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
pub(crate) fn earliest(d: &PartialDate) -> Option<Date> {
    match *d {
        PartialDate::Year(y) => Date::from_ymd(i32::from(y), 1, 1),
        PartialDate::YearMonth(y, m) => Date::from_ymd(i32::from(y), m, 1),
        PartialDate::Full(d) => Some(d),
    }
}

/// The model with every record after `cutoff` left out (see the module's rules).
pub fn at_cutoff(model: &TrialModel, cutoff: Date) -> TrialModel {
    let mut out = TrialModel::new();
    out.catalogue = model.catalogue.clone();
    out.definitions = model.definitions;
    out.corrections = model.corrections.clone();
    let mut dropped = HashSet::new();
    for (name, records) in &model.patients {
        let mut kept = Vec::with_capacity(records.len());
        let mut last_date: Option<Date> = None;
        for r in records {
            let own = record_date(r);
            let date = own.or(last_date);
            last_date = own.or(last_date);
            let cites_dropped = r
                .cites
                .iter()
                .any(|c| dropped.contains(&(c.partition, c.seq)));
            if date.is_some_and(|d| d > cutoff) || cites_dropped {
                dropped.insert((r.at.partition, r.at.seq));
            } else {
                kept.push(r.clone());
            }
        }
        out.patients.insert(name.clone(), kept);
    }
    for (name, records) in &model.cohorts {
        let mut kept: Vec<SubjectRecord> = Vec::with_capacity(records.len());
        for r in records {
            if r.cites
                .iter()
                .any(|c| dropped.contains(&(c.partition, c.seq)))
            {
                dropped.insert((r.at.partition, r.at.seq));
                continue;
            }
            if let Some(p) = slot_patient(r) {
                out.slot_records
                    .entry(p)
                    .or_default()
                    .push((name.clone(), kept.len()));
            }
            kept.push(r.clone());
        }
        out.cohorts.insert(name.clone(), kept);
    }
    // Patients whose every record is after the cut-off are not in the model at all.
    out.patients.retain(|_, v| !v.is_empty());
    out
}

/// The patient a slot record is about.
fn slot_patient(r: &SubjectRecord) -> Option<tl_schemas::ids::Name> {
    match r.event_type {
        ct::SLOT_ASSIGNED => decode::<SlotAssigned>(&r.payload).ok().map(|s| s.patient),
        ct::SLOT_REFUSED => decode::<SlotRefused>(&r.payload).ok().map(|s| s.patient),
        _ => None,
    }
}
