//! Per-patient and per-cohort facts, derived from the model with tl-clinical: what every view
//! writes its rows from. Pure functions of the model.

use crate::model::{SubjectRecord, TrialModel};
use tl_clinical::patient::{derive_with, PatientHistory, PatientOutcome};
use tl_clinical::records as convert;
use tl_clinical::safety_tables::DoseEvent;
use tl_clinical::SusarClock;
use tl_schemas::clinical::{clinical_type as ct, *};
use tl_schemas::ids::Name;
use tl_schemas::{decode, Date, PartialDate, Reference};

/// A dated fact and the record it comes from.
pub type At<T> = Option<(T, Reference)>;

/// One dose as recorded (corrected content, original kept).
#[derive(Clone, Debug)]
pub struct Dose {
    /// The dose's record.
    pub at: Reference,
    /// Drug.
    pub drug: String,
    /// Dose in thousandths of the unit (corrected).
    pub dose_milli: u64,
    /// Unit.
    pub unit: DoseUnit,
    /// Cycle.
    pub cycle: u16,
    /// Day in the cycle.
    pub day: u16,
    /// Date.
    pub administered_on: Date,
    /// The original dose when a correction replaced it.
    pub original_dose_milli: Option<u64>,
    /// The correction in force.
    pub corrected_by: Option<Reference>,
}

/// One adverse event as last reported.
#[derive(Clone, Debug)]
pub struct AeFacts {
    /// CTCAE term.
    pub term: String,
    /// Grade at the first report.
    pub first_grade: u8,
    /// Worst grade reported.
    pub worst_grade: u8,
    /// Seriousness criteria as last reported.
    pub serious: Vec<SeriousnessCriterion>,
    /// Expected, as last reported.
    pub expected: bool,
    /// Attribution, as last reported.
    pub attribution: Attribution,
    /// Outcome, as last reported.
    pub outcome: AeOutcome,
    /// Onset.
    pub onset: PartialDate,
    /// When the sponsor first became aware of it.
    pub awareness: Date,
    /// When it resolved.
    pub resolved_on: Option<Date>,
    /// The SUSAR clock, from the first report or follow-up that made it a SUSAR, if it is one
    /// as last reported.
    pub susar: Option<SusarClock>,
    /// Grade >= 3 and suspected.
    pub grade3_related: bool,
    /// The report and its follow-ups.
    pub refs: Vec<Reference>,
    /// What the report and each follow-up said, in ledger order (for the reporting clocks).
    pub reports: Vec<AeReport>,
}

/// What one report or follow-up of an adverse event said.
#[derive(Clone, Debug)]
pub struct AeReport {
    /// The record.
    pub at: Reference,
    /// The record's time (the sequencer's clock).
    pub time: tl_schemas::UtcMicros,
    /// The sponsor's awareness date of this information.
    pub awareness: Date,
    /// The grade now.
    pub grade: u8,
    /// The seriousness criteria now.
    pub serious: Vec<SeriousnessCriterion>,
    /// Expected, as the investigator now judges it.
    pub expected: bool,
    /// Attribution now.
    pub attribution: Attribution,
}

/// A `DoseModified` or `TreatmentEnded` record.
#[derive(Clone, Debug)]
pub struct DoseChange {
    /// The record.
    pub at: Reference,
    /// The dosing event.
    pub action: tl_clinical::safety_tables::DoseEvent,
    /// The reason: the free text of a `DoseModified`, the `EndReason` of a `TreatmentEnded`.
    pub reason: String,
    /// Date.
    pub on: Date,
    /// The records it cites.
    pub cites: Vec<Reference>,
}

/// Everything the views know about one patient.
#[derive(Clone, Debug, Default)]
pub struct PatientFacts {
    /// Tumour type and site at registration.
    pub registered: At<(Date, String, String)>,
    /// Consent.
    pub consented: At<Date>,
    /// Consent withdrawn.
    pub withdrawn: At<Date>,
    /// First sequencing result.
    pub sequenced: At<Date>,
    /// Latest match proposal: number of candidate cohorts.
    pub proposal: At<u32>,
    /// Latest MTB decision: the approved cohort, or `None` for a rejection; date.
    pub decision: At<(Option<Name>, Date)>,
    /// Slot assigned: cohort, stage, slot number.
    pub slot: At<(Name, u8, u32)>,
    /// Slot refused: cohort and reason.
    pub slot_refused: At<(Name, String)>,
    /// Enrolment: cohort and date.
    pub enrolled: At<(Name, Date)>,
    /// Doses.
    pub doses: Vec<Dose>,
    /// Adverse events by id.
    pub adverse_events: std::collections::BTreeMap<u32, AeFacts>,
    /// Death: date, cause, treatment related.
    pub death: At<(Date, String, bool)>,
    /// Dose modifications and the end of treatment, in ledger order.
    pub dose_actions: Vec<DoseChange>,
    /// The end of treatment (the latest `TreatmentEnded`): date and reason.
    pub ended: At<(Date, EndReason)>,
    /// The derived outcome (treated patients only).
    pub outcome: Option<PatientOutcome<Reference>>,
}

impl PatientFacts {
    /// The cohort the patient is enrolled in (else slotted in).
    pub fn cohort(&self) -> Option<&Name> {
        self.enrolled
            .as_ref()
            .map(|((c, _), _)| c)
            .or(self.slot.as_ref().map(|((c, _, _), _)| c))
    }
    /// The drug: the first dose's, else the cohort's.
    pub fn drug(&self, model: &TrialModel) -> Option<String> {
        self.doses.first().map(|d| d.drug.clone()).or_else(|| {
            self.cohort()
                .and_then(|c| model.definition(c))
                .map(|d| d.drug.clone())
        })
    }
    /// Days from the first sequencing result to the first dose.
    pub fn days_sequencing_to_first_dose(&self) -> Option<i32> {
        let (s, _) = self.sequenced.as_ref()?;
        let (d, _) = self.outcome.as_ref().map(|o| (o.first_dose, ()))?;
        Some(s.days_until(d))
    }
}

/// Derives a patient's facts from the model.
pub fn patient(model: &TrialModel, name: &Name) -> PatientFacts {
    let mut fold = PatientFold::default();
    fold.catch_up(model.patients.get(name).map(Vec::as_slice).unwrap_or(&[]));
    fold.finish(model, name)
}

/// A patient's facts folded one record at a time, so that a reader that sees a patient's
/// records arrive one by one (the safety stream's follower) pays for each record once instead
/// of re-deriving the patient from all of their records every time. [`patient`] is this fold
/// over all of the patient's records, then [`PatientFold::finish`], so the two cannot differ.
///
/// The fold holds the facts of the patient's own records only: the slot (recorded in cohort
/// partitions) and the outcome are added by `finish`. It stays valid while the records it
/// folded keep their content: a correction rewrites an earlier record in place
/// ([`TrialModel::apply`] touches its patient), after which the fold must start again.
#[derive(Clone, Debug, Default)]
pub struct PatientFold {
    facts: PatientFacts,
    history: PatientHistory<Reference>,
    folded: usize,
}

impl PatientFold {
    /// Folds `records[self.folded()..]`, where `records` is the patient's record list of which
    /// the first `folded()` are folded already; the range of those it folded now.
    pub fn catch_up(&mut self, records: &[SubjectRecord]) -> std::ops::Range<usize> {
        let from = self.folded.min(records.len());
        for r in &records[from..] {
            apply(&mut self.facts, &mut self.history, r);
        }
        self.folded = records.len().max(self.folded);
        from..records.len()
    }

    /// How many of the patient's records are folded.
    pub fn folded(&self) -> usize {
        self.folded
    }

    /// The facts of the records folded so far, without the slot and the outcome.
    pub fn partial(&self) -> &PatientFacts {
        &self.facts
    }

    /// The patient's facts as [`patient`] derives them: the slot decisions and the outcome
    /// added.
    pub fn finish(self, model: &TrialModel, name: &Name) -> PatientFacts {
        let PatientFold {
            facts: mut f,
            history: mut h,
            ..
        } = self;
        (f.slot, f.slot_refused) = slots(model, name);
        if let Some(((d, _, _), r)) = &f.death {
            h.death = Some((*d, *r));
        }
        f.outcome = derive_with(&h, &model.definitions);
        f
    }
}

/// The patient's latest slot assignment and refusal, from the cohorts' records.
#[allow(clippy::type_complexity)]
pub fn slots(model: &TrialModel, name: &Name) -> (At<(Name, u8, u32)>, At<(Name, String)>) {
    let (mut slot, mut refused) = (None, None);
    for (cohort, r) in model.slots_of(name) {
        match r.event_type {
            ct::SLOT_ASSIGNED => {
                if let Ok(s) = decode::<SlotAssigned>(&r.payload) {
                    slot = Some(((cohort.clone(), s.stage, s.slot), r.at));
                }
            }
            ct::SLOT_REFUSED => {
                if let Ok(s) = decode::<SlotRefused>(&r.payload) {
                    refused = Some(((cohort.clone(), s.reason), r.at));
                }
            }
            _ => {}
        }
    }
    (slot, refused)
}

fn apply(f: &mut PatientFacts, h: &mut PatientHistory<Reference>, r: &SubjectRecord) {
    let at = r.at;
    let p = r.payload.as_slice();
    match r.event_type {
        ct::PATIENT_REGISTERED => {
            if let Ok(e) = decode::<PatientRegistered>(p) {
                f.registered = Some(((e.registered_on, e.tumour_type, e.site), at));
            }
        }
        ct::CONSENT_RECORDED => {
            if let Ok(e) = decode::<ConsentRecorded>(p) {
                f.consented = Some((e.consented_on, at));
            }
        }
        ct::CONSENT_WITHDRAWN => {
            if let Ok(e) = decode::<ConsentWithdrawn>(p) {
                f.withdrawn = Some((e.withdrawn_on, at));
            }
        }
        ct::SEQUENCING_RESULT_REPORTED => {
            if let Ok(e) = decode::<SequencingResultReported>(p) {
                if f.sequenced.is_none() {
                    f.sequenced = Some((e.reported_on, at));
                }
            }
        }
        ct::MATCH_PROPOSED => {
            if let Ok(e) = decode::<MatchProposed>(p) {
                f.proposal = Some((e.candidates.len() as u32, at));
            }
        }
        ct::MATCH_DECIDED => {
            if let Ok(e) = decode::<MatchDecided>(p) {
                let cohort = match e.decision {
                    MtbDecision::Approved { cohort_id } => Some(cohort_id),
                    MtbDecision::Rejected => None,
                };
                f.decision = Some(((cohort, e.decided_on), at));
            }
        }
        ct::PATIENT_ENROLLED => {
            if let Ok(e) = decode::<PatientEnrolled>(p) {
                f.enrolled = Some(((e.cohort_id, e.enrolled_on), at));
            }
        }
        ct::DOSE_ADMINISTERED => {
            if let Ok(e) = decode::<DoseAdministered>(p) {
                h.dose(e.administered_on, at);
                let original_dose_milli = r
                    .original
                    .as_ref()
                    .and_then(|o| decode::<DoseAdministered>(o).ok())
                    .map(|o| o.dose_milli);
                f.doses.push(Dose {
                    at,
                    drug: e.drug,
                    dose_milli: e.dose_milli,
                    unit: e.unit,
                    cycle: e.cycle,
                    day: e.day,
                    administered_on: e.administered_on,
                    original_dose_milli,
                    corrected_by: r.corrected_by,
                });
            }
        }
        ct::RESPONSE_ASSESSED => {
            if let Ok(e) = decode::<ResponseAssessed>(p) {
                h.assessment(e, at);
            }
        }
        ct::ADVERSE_EVENT_REPORTED => {
            if let Ok(e) = decode::<AdverseEventReported>(p) {
                h.ae_reported(
                    e.ae_id,
                    e.grade,
                    e.attribution,
                    !e.serious.is_empty(),
                    e.expected,
                    at,
                );
                let mut ae = AeFacts {
                    term: e.ctcae_term,
                    first_grade: e.grade,
                    worst_grade: e.grade,
                    serious: e.serious.clone(),
                    expected: e.expected,
                    attribution: e.attribution,
                    outcome: e.outcome,
                    onset: e.onset,
                    awareness: e.awareness,
                    resolved_on: None,
                    susar: None,
                    grade3_related: false,
                    refs: vec![at],
                    reports: vec![AeReport {
                        at,
                        time: r.time,
                        awareness: e.awareness,
                        grade: e.grade,
                        serious: e.serious.clone(),
                        expected: e.expected,
                        attribution: e.attribution,
                    }],
                };
                susar_check(&mut ae, e.awareness);
                f.adverse_events.insert(e.ae_id, ae);
            }
        }
        ct::ADVERSE_EVENT_UPDATED => {
            if let Ok(e) = decode::<AdverseEventUpdated>(p) {
                h.ae_updated(
                    e.ae_id,
                    e.grade,
                    e.attribution,
                    !e.serious.is_empty(),
                    e.expected,
                    at,
                );
                if let Some(ae) = f.adverse_events.get_mut(&e.ae_id) {
                    ae.worst_grade = ae.worst_grade.max(e.grade);
                    ae.serious = e.serious;
                    ae.expected = e.expected;
                    ae.attribution = e.attribution;
                    ae.outcome = e.outcome;
                    ae.resolved_on = e.resolved_on;
                    ae.refs.push(at);
                    ae.reports.push(AeReport {
                        at,
                        time: r.time,
                        awareness: e.awareness,
                        grade: e.grade,
                        serious: ae.serious.clone(),
                        expected: e.expected,
                        attribution: e.attribution,
                    });
                    susar_check(ae, e.awareness);
                }
            }
        }
        ct::TREATMENT_ENDED => {
            if let Ok(e) = decode::<TreatmentEnded>(p) {
                h.treatment_ended(e.ended_on, e.reason == EndReason::Progression, at);
                f.dose_actions.push(DoseChange {
                    at,
                    action: DoseEvent::TreatmentEnded {
                        toxicity: e.reason == EndReason::Toxicity,
                    },
                    reason: format!("{:?}", e.reason),
                    on: e.ended_on,
                    cites: r.cites.clone(),
                });
                f.ended = Some(((e.ended_on, e.reason), at));
            }
        }
        ct::DOSE_MODIFIED => {
            if let Ok(e) = decode::<DoseModified>(p) {
                let action = match e.action {
                    DoseAction::Reduced { .. } => DoseEvent::Reduced,
                    DoseAction::Interrupted => DoseEvent::Interrupted,
                    DoseAction::Resumed => DoseEvent::Resumed,
                    DoseAction::Discontinued => DoseEvent::Discontinued,
                };
                f.dose_actions.push(DoseChange {
                    at,
                    action,
                    reason: e.reason,
                    on: e.modified_on,
                    cites: r.cites.clone(),
                });
            }
        }
        ct::SURVIVAL_STATUS_RECORDED => {
            if let Ok(e) = decode::<SurvivalStatusRecorded>(p) {
                h.seen_alive(e.last_known_alive, at);
            }
        }
        ct::DEATH_RECORDED => {
            if let Ok(e) = decode::<DeathRecorded>(p) {
                f.death = Some(((e.died_on, e.cause, e.treatment_related), at));
            }
        }
        _ => {}
    }
}

/// Keeps an AE's SUSAR clock: started by the first report or follow-up that makes it a SUSAR
/// (counted from that record's awareness date), dropped when it no longer is one.
fn susar_check(ae: &mut AeFacts, awareness: Date) {
    let criteria = tl_clinical::SeriousnessCriteria {
        death: ae.serious.contains(&SeriousnessCriterion::Death),
        life_threatening: ae.serious.contains(&SeriousnessCriterion::LifeThreatening),
        hospitalisation: ae.serious.contains(&SeriousnessCriterion::Hospitalisation),
        disability: ae.serious.contains(&SeriousnessCriterion::Disability),
        congenital_anomaly: ae
            .serious
            .contains(&SeriousnessCriterion::CongenitalAnomaly),
        medically_important: ae
            .serious
            .contains(&SeriousnessCriterion::MedicallyImportant),
    };
    let attribution = convert::attribution(ae.attribution);
    match tl_clinical::susar_decision(attribution, &criteria, ae.expected, awareness) {
        Some(clock) => {
            if ae.susar.is_none() {
                ae.susar = Some(clock);
            }
        }
        None => ae.susar = None,
    }
    ae.grade3_related = tl_clinical::CtcaeGrade::try_from(ae.worst_grade)
        .is_ok_and(|g| tl_clinical::is_grade3_or_worse_treatment_related(g, attribution));
}

/// A cohort's facts from its own partition's records and the catalogue.
#[derive(Clone, Debug, Default)]
pub struct CohortFacts {
    /// Drug (catalogue).
    pub drug: Option<String>,
    /// Tumour type (catalogue; `None`: tumour-agnostic).
    pub tumour_type: Option<String>,
    /// The latest stage decision.
    pub status: At<CohortStageDecided>,
    /// Every stage decision, in order.
    pub decisions: Vec<(CohortStageDecided, Reference, Vec<Reference>)>,
    /// Slots assigned.
    pub slots: u32,
    /// Slots refused.
    pub refused: u32,
    /// The records behind `slots` and `refused`, in the cohort's order: each record, the
    /// patient its payload names (`None` if it does not decode) and whether it is a refusal.
    pub slot_records: Vec<(Reference, Option<Name>, bool)>,
}

/// Derives a cohort's facts.
pub fn cohort(model: &TrialModel, name: &Name) -> CohortFacts {
    let mut f = CohortFacts::default();
    if let Some(d) = model.definition(name) {
        f.drug = Some(d.drug.clone());
        f.tumour_type = d.tumour_type.clone();
    }
    for r in model.cohorts.get(name).map(Vec::as_slice).unwrap_or(&[]) {
        match r.event_type {
            ct::SLOT_ASSIGNED => {
                f.slots += 1;
                let patient = decode::<SlotAssigned>(&r.payload).ok().map(|s| s.patient);
                f.slot_records.push((r.at, patient, false));
            }
            ct::SLOT_REFUSED => {
                f.refused += 1;
                let patient = decode::<SlotRefused>(&r.payload).ok().map(|s| s.patient);
                f.slot_records.push((r.at, patient, true));
            }
            ct::COHORT_STAGE_DECIDED => {
                if let Ok(d) = decode::<CohortStageDecided>(&r.payload) {
                    f.status = Some((d.clone(), r.at));
                    f.decisions.push((d, r.at, r.cites.clone()));
                }
            }
            _ => {}
        }
    }
    f
}

/// The schema name of a cohort status, as the views store it.
pub fn status_name(s: CohortStatus) -> &'static str {
    match s {
        CohortStatus::Stage1 => "stage_1",
        CohortStatus::Stage2 => "stage_2",
        CohortStatus::ClosedForFutility => "closed_for_futility",
        CohortStatus::CompletedNegative => "completed_negative",
        CohortStatus::Positive => "positive",
        CohortStatus::Expansion => "expansion",
        CohortStatus::ExpansionComplete => "expansion_complete",
    }
}

/// The stage a status belongs to (1, 2 or 3 for the expansion).
pub fn stage_of(s: CohortStatus) -> u8 {
    match s {
        CohortStatus::Stage1 | CohortStatus::ClosedForFutility => 1,
        CohortStatus::Stage2 | CohortStatus::CompletedNegative | CohortStatus::Positive => 2,
        CohortStatus::Expansion | CohortStatus::ExpansionComplete => 3,
    }
}

/// A partial date as text: `2025`, `2025-03` or `2025-03-01`.
pub fn partial_date(d: &PartialDate) -> String {
    match d {
        PartialDate::Year(y) => format!("{y:04}"),
        PartialDate::YearMonth(y, m) => format!("{y:04}-{m:02}"),
        PartialDate::Full(d) => d.to_string(),
    }
}

/// A treated patient's exposure and the records it rests on.
#[derive(Clone, Debug)]
pub struct ExposureFacts {
    /// The exposure.
    pub exposure: tl_clinical::exposure::Exposure,
    /// The last dose.
    pub last_dose: Date,
    /// Whether the cycle length was read from the doses (else the default).
    pub cycle_from_doses: bool,
    /// The first and last dose records, and the end of treatment's.
    pub refs: Vec<Reference>,
}

/// A patient's exposure ([`tl_clinical::exposure`]), if they had a dose.
pub fn exposure(f: &PatientFacts) -> Option<ExposureFacts> {
    use tl_clinical::exposure::{cycle_days, Exposure, DEFAULT_CYCLE_DAYS};
    let first = f
        .doses
        .iter()
        .min_by_key(|d| (d.administered_on, d.at.seq))?;
    let last = f
        .doses
        .iter()
        .max_by_key(|d| (d.administered_on, d.at.seq))?;
    let by_cycle: Vec<(Date, u16)> = f
        .doses
        .iter()
        .map(|d| (d.administered_on, d.cycle))
        .collect();
    let cycle = cycle_days(&by_cycle);
    let x = Exposure::new(
        first.administered_on,
        last.administered_on,
        f.ended.as_ref().map(|((d, _), _)| *d),
        f.death.as_ref().map(|((d, _, _), _)| *d),
        cycle.unwrap_or(DEFAULT_CYCLE_DAYS),
    );
    let mut refs = vec![first.at];
    if last.at != first.at {
        refs.push(last.at);
    }
    refs.extend(f.ended.as_ref().map(|(_, r)| *r));
    Some(ExposureFacts {
        exposure: x,
        last_dose: last.administered_on,
        cycle_from_doses: cycle.is_some(),
        refs,
    })
}

/// A dosing event's name as the views store it.
pub fn dose_event_name(e: DoseEvent) -> &'static str {
    match e {
        DoseEvent::Reduced => "Reduced",
        DoseEvent::Interrupted => "Interrupted",
        DoseEvent::Resumed => "Resumed",
        DoseEvent::Discontinued => "Discontinued",
        DoseEvent::TreatmentEnded { .. } => "TreatmentEnded",
    }
}

/// A toxicity action's name as the views store it.
pub fn toxicity_name(a: tl_clinical::safety_tables::ToxicityAction) -> &'static str {
    use tl_clinical::safety_tables::ToxicityAction::*;
    match a {
        DoseModification => "dose_modification",
        Discontinuation => "discontinuation",
    }
}

/// Seriousness criteria as a JSON array of their names (`["Death","Hospitalisation"]`).
pub fn criteria_json(c: &[SeriousnessCriterion]) -> String {
    let names: Vec<String> = c.iter().map(|x| format!("{x:?}")).collect();
    serde_json::to_string(&names).unwrap_or_else(|_| "[]".into())
}
