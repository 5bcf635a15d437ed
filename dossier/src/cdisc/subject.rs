//! The study as the datasets see it: the scope's patients, each with their records (as of the
//! cut-off), their facts (tl-projections) and their cohort.

use crate::Scope;
use tl_projections::facts::{self, PatientFacts};
use tl_projections::model::{SubjectRecord, TrialModel};
use tl_schemas::clinical::CohortDefinition;
use tl_schemas::ids::Name;
use tl_schemas::{Date, Reference, TrialId};

/// One patient of the scope.
pub(crate) struct Subject<'a> {
    /// Pseudonym (`SUBJID`).
    pub name: &'a Name,
    /// `STUDYID-pseudonym`.
    pub usubjid: String,
    /// The patient's records as of the cut-off, in ledger order (corrections applied).
    pub records: &'a [SubjectRecord],
    /// Facts derived by tl-projections (and tl-clinical).
    pub facts: PatientFacts,
    /// The cohort enrolled in (else slotted in).
    pub cohort: &'a CohortDefinition,
}

impl Subject<'_> {
    /// The record at `r`, if it is one of the patient's.
    pub fn record(&self, r: &Reference) -> Option<&SubjectRecord> {
        self.records.iter().find(|x| x.at == *r)
    }
    /// The records of one event type, in ledger order.
    pub fn of_type(&self, t: u16) -> impl Iterator<Item = &SubjectRecord> {
        self.records.iter().filter(move |r| r.event_type == t)
    }
    /// The first dose date (treated patients).
    pub fn first_dose(&self) -> Option<Date> {
        self.facts.outcome.as_ref().map(|o| o.first_dose)
    }
    /// The enrolment record, else the slot record: where the patient's cohort comes from.
    pub fn cohort_ref(&self) -> Option<Reference> {
        self.facts
            .enrolled
            .as_ref()
            .map(|(_, r)| *r)
            .or(self.facts.slot.as_ref().map(|(_, r)| *r))
    }
}

/// The study: the model as of the cut-off and the scope's patients.
pub(crate) struct Study<'a> {
    /// The trial id (`STUDYID`).
    pub studyid: String,
    /// The model as of the cut-off.
    pub model: &'a TrialModel,
    /// The scope's cohorts, in id order.
    pub cohorts: Vec<&'a CohortDefinition>,
    /// The scope's patients, in pseudonym order.
    pub subjects: Vec<Subject<'a>>,
    /// The clinical cut-off.
    pub cutoff: Date,
}

impl<'a> Study<'a> {
    /// The scope's patients in `model` (already cut).
    pub fn new(model: &'a TrialModel, scope: &Scope, trial: &TrialId) -> Self {
        let studyid = trial.as_str().to_string();
        let cohorts = scope
            .cohorts
            .iter()
            .filter_map(|c| model.definition(c))
            .collect();
        let mut subjects = Vec::new();
        for (name, records) in &model.patients {
            let facts = facts::patient(model, name);
            let Some(cohort) = facts.cohort().filter(|c| scope.cohorts.contains(*c)) else {
                continue;
            };
            let Some(cohort) = model.definition(cohort) else {
                continue;
            };
            subjects.push(Subject {
                name,
                usubjid: format!("{studyid}-{name}"),
                records,
                facts,
                cohort,
            });
        }
        Study {
            studyid,
            model,
            cohorts,
            subjects,
            cutoff: scope.cutoff,
        }
    }

    /// `studyOID` (Define-XML `Study/@OID`).
    pub fn study_oid(&self) -> String {
        format!("TL.{}", self.studyid)
    }

    /// `metaDataVersionOID`.
    pub fn mdv_oid(&self) -> String {
        "MDV.TL.SDTMIG3.4.ADAMIG1.3".to_string()
    }

    /// The protocol record that carries the catalogue in force.
    pub fn protocol(&self) -> Option<(u32, Reference)> {
        self.model.catalogue.as_ref().map(|(v, _, r)| (*v, *r))
    }
}
