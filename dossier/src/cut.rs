//! The clinical data cut-off: a model limited to what was known clinically by a date.
//!
//! A patient record dated after the cut-off (its dose, assessment, adverse-event awareness,
//! end of treatment, survival contact or death date) is left out, so events after the cut-off
//! are ignored and each patient is censored at their last record on or before it. Records that
//! carry no clinical date (match proposals, corrections themselves) are kept; cohort records
//! (slots, stage decisions) carry none and are all kept.

use tl_projections::model::{SubjectRecord, TrialModel};
use tl_schemas::clinical::{clinical_type as ct, *};
use tl_schemas::{decode, Date};

/// The clinical date of a patient record, when its type has one.
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
        ct::ADVERSE_EVENT_REPORTED => decode::<AdverseEventReported>(p).ok().map(|e| e.awareness),
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

/// The model as known clinically on `cutoff`: every patient record dated after it left out.
pub fn clinical_cut(model: &TrialModel, cutoff: Date) -> TrialModel {
    let mut m = TrialModel::new();
    m.patients = model
        .patients
        .iter()
        .map(|(name, records)| {
            let kept = records
                .iter()
                .filter(|r| record_date(r).is_none_or(|d| d <= cutoff))
                .cloned()
                .collect();
            (name.clone(), kept)
        })
        .collect();
    m.cohorts = model.cohorts.clone();
    m.slot_records = model.slot_records.clone();
    m.catalogue = model.catalogue.clone();
    m.definitions = model.definitions;
    m.corrections = model.corrections.clone();
    m
}
