//! The trial's state machine: which clinical event may follow which, per patient and per
//! cohort. Pure functions of the subject's state, the event and the records it cites, so the
//! sequencer (when ordering) and every verifier (when replaying) reach the same verdict.
//!
//! The rules, at least (DESIGN.md section 6, the domain issue):
//! * no enrolment without consent, an approved match and an assigned slot;
//! * no dose before enrolment;
//! * no slot in a closed or full cohort;
//! * nothing after death but corrections and follow-ups.

use std::collections::BTreeSet;
use tl_ledger::reason::{Reason, Refusal};
use tl_ledger::registry::Registry;
use tl_ledger::rules::{DomainRules, RuleContext};
use tl_schemas::clinical::{clinical_type as ct, *};
use tl_schemas::ids::Name;
use tl_schemas::roles::{clinical_authority, Authority};
use tl_schemas::{decode, Record, Subject};

/// The DRUP-like trial's domain rules.
#[derive(Clone, Copy, Debug, Default)]
pub struct TrialRules;

/// Where a patient is in the pathway.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PatientState {
    /// `PatientRegistered` seen.
    pub registered: bool,
    /// Consent given and not withdrawn.
    pub consented: bool,
    /// Consent was withdrawn at some point.
    pub withdrew: bool,
    /// A sequencing result is recorded.
    pub sequenced: bool,
    /// A match proposal is recorded.
    pub proposed: bool,
    /// The cohort the MTB approved, if any.
    pub approved_cohort: Option<Name>,
    /// The cohort the patient is enrolled in.
    pub enrolled_in: Option<Name>,
    /// `TreatmentEnded` seen.
    pub treatment_ended: bool,
    /// `DeathRecorded` seen.
    pub dead: bool,
    /// Adverse-event ids reported.
    pub ae_ids: BTreeSet<u32>,
}

/// A cohort's enrolment state, as far as slots are concerned.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CohortState {
    /// Status from the latest `CohortStageDecided` (Stage1 at the start).
    pub status: CohortStatus,
    /// Slots assigned so far.
    pub slots: u32,
    /// Patients found not evaluable (each frees a slot).
    pub not_evaluable: u32,
    /// Patients holding a slot.
    pub patients: BTreeSet<Name>,
}

impl Default for CohortState {
    fn default() -> Self {
        CohortState {
            status: CohortStatus::Stage1,
            slots: 0,
            not_evaluable: 0,
            patients: BTreeSet::new(),
        }
    }
}

/// Per-subject state of the trial's rules (stored in a writer's snapshot, canonical postcard).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SubjectState {
    /// Nothing recorded yet (or the trial subject).
    #[default]
    New,
    /// A patient.
    Patient(PatientState),
    /// A cohort.
    Cohort(CohortState),
}

fn refuse(detail: impl Into<String>) -> Result<(), Refusal> {
    Err(Refusal::new(Reason::DomainRule, detail))
}

fn payload<T: serde::Serialize + serde::de::DeserializeOwned>(
    ctx: &RuleContext<'_>,
) -> Result<T, Refusal> {
    decode(&ctx.submission.envelope.payload).map_err(|e| {
        Refusal::new(
            Reason::Malformed,
            format!(
                "payload of {}: {e}",
                type_name(ctx.submission.envelope.event_type)
            ),
        )
    })
}

fn type_name(t: u16) -> String {
    ct::name(t)
        .or_else(|| tl_schemas::events::event_type::core_name(t))
        .map_or_else(|| format!("type {t}"), str::to_string)
}

/// The protocol's cohort catalogue in force at a registry position.
/// A format-1 or format-2 document (§10a.4) holds a catalogue; any other format holds none.
pub fn catalogue_at(registry: &Registry, position: u64) -> Option<CohortCatalogue> {
    let p = registry.protocol_at(position)?;
    protocol_catalogue(p.amendment.document_format, &p.amendment.document)
        .ok()
        .flatten()
        .map(|(c, _)| c)
}

/// The catalogue in force at a registry position, decoded once per document and thread: the
/// rules look it up for nearly every patient and cohort record, and decoding the whole
/// catalogue each time was a tenth of a replay's domain checks. Keyed by the document's bytes
/// themselves, so a cached catalogue is exactly what decoding those bytes gives.
/// A decoded catalogue and the document format and bytes it was decoded from.
type CachedCatalogue = (u16, Vec<u8>, std::sync::Arc<CohortCatalogue>);

fn catalogue_cached(registry: &Registry, position: u64) -> Option<std::sync::Arc<CohortCatalogue>> {
    use std::cell::RefCell;
    use std::sync::Arc;
    thread_local! {
        /// The last catalogue document decoded on this thread, and its decoding.
        static LAST: RefCell<Option<CachedCatalogue>> = const { RefCell::new(None) };
    }
    let p = registry.protocol_at(position)?;
    let format = p.amendment.document_format;
    if format != DOCUMENT_FORMAT_COHORT_CATALOGUE && format != DOCUMENT_FORMAT_COHORT_CATALOGUE_2 {
        return None;
    }
    let doc = &p.amendment.document;
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((f, bytes, cat)) = last.as_ref() {
            if *f == format && bytes == doc {
                return Some(Arc::clone(cat));
            }
        }
        let (cat, _) = protocol_catalogue(format, doc).ok().flatten()?;
        let cat = Arc::new(cat);
        *last = Some((format, doc.clone(), Arc::clone(&cat)));
        Some(cat)
    })
}

fn cohort_definition(ctx: &RuleContext<'_>, cohort: &Name) -> Result<CohortDefinition, Refusal> {
    let Some(cat) = catalogue_cached(ctx.registry, ctx.registry_seq) else {
        return Err(Refusal::new(
            Reason::DomainRule,
            "no cohort catalogue is in force (submit a ProtocolAmended with format 1 or 2)",
        ));
    };
    cat.cohorts
        .iter()
        .find(|c| &c.cohort_id == cohort)
        .cloned()
        .ok_or_else(|| {
            Refusal::new(
                Reason::DomainRule,
                format!("cohort {cohort} is not in the protocol's catalogue"),
            )
        })
}

/// The cited record of a type, if any.
fn cited<'a>(ctx: &'a RuleContext<'_>, event_type: u16) -> Option<&'a Record> {
    ctx.cited
        .iter()
        .map(|(_, r)| &**r)
        .find(|r| r.body.submission.submission.envelope.event_type == event_type)
}

/// How many slots a cohort may hold in its current status; `None` if it is closed.
pub fn slot_capacity(def: &CohortDefinition, state: &CohortState) -> Option<u32> {
    let base = match state.status {
        CohortStatus::Stage1 => u32::from(def.stage1_size),
        CohortStatus::Stage2 => u32::from(def.stage2_size),
        CohortStatus::Expansion => def.expansion_cap,
        CohortStatus::ClosedForFutility
        | CohortStatus::CompletedNegative
        | CohortStatus::Positive
        | CohortStatus::ExpansionComplete => return None,
    };
    Some(base + state.not_evaluable)
}

/// Applies a cohort event's effect on the cohort's slot state (FORMAT.md §15a): a slot
/// counts, a stage decision sets the status and the not-evaluable count. One function, so
/// that the sequencer, every verifier and the matcher (which reads cohort availability from
/// the ledger) count alike.
pub fn apply_cohort_event(c: &mut CohortState, event_type: u16, payload: &[u8]) {
    match event_type {
        ct::SLOT_ASSIGNED => {
            if let Ok(ev) = decode::<SlotAssigned>(payload) {
                c.slots += 1;
                c.patients.insert(ev.patient);
            }
        }
        ct::COHORT_STAGE_DECIDED => {
            if let Ok(ev) = decode::<CohortStageDecided>(payload) {
                c.status = ev.status;
                c.not_evaluable = ev.not_evaluable;
            }
        }
        _ => {}
    }
}

/// Whether a cohort may move from one status to another.
pub fn transition_allowed(from: CohortStatus, to: CohortStatus) -> bool {
    use CohortStatus::*;
    from == to
        || matches!(
            (from, to),
            (Stage1, Stage2)
                | (Stage1, ClosedForFutility)
                | (Stage2, Positive)
                | (Stage2, CompletedNegative)
                | (Positive, Expansion)
                | (Expansion, ExpansionComplete)
        )
}

impl TrialRules {
    fn check_patient(&self, st: &PatientState, ctx: &RuleContext<'_>) -> Result<(), Refusal> {
        let t = ctx.submission.envelope.event_type;
        let who = &ctx.submission.subject;
        if t == ct::PATIENT_REGISTERED {
            return if st.registered {
                refuse(format!("{who} is already registered"))
            } else {
                Ok(())
            };
        }
        if !st.registered {
            return refuse(format!(
                "{who} is not registered: PatientRegistered comes first"
            ));
        }
        if st.dead && !matches!(t, ct::ADVERSE_EVENT_UPDATED | ct::CORRECTED) {
            return refuse(format!(
                "{who} has died: only corrections and adverse-event follow-ups may follow, not {}",
                type_name(t)
            ));
        }
        match t {
            ct::CONSENT_RECORDED => Ok(()),
            ct::CONSENT_WITHDRAWN if !st.consented => {
                refuse(format!("{who} has no consent to withdraw"))
            }
            ct::SEQUENCING_RESULT_REPORTED if !st.consented => refuse(format!(
                "{who} has not consented: no sequencing result without consent"
            )),
            ct::MATCH_PROPOSED if !st.sequenced => {
                refuse(format!("{who} has no sequencing result to match"))
            }
            ct::MATCH_DECIDED if !st.proposed => {
                refuse(format!("{who} has no match proposal to decide on"))
            }
            ct::MATCH_DECIDED => {
                let ev: MatchDecided = payload(ctx)?;
                if ctx.submission.meaning != tl_schemas::Meaning::Approved {
                    return refuse(
                        "an MTB decision is signed with the meaning `approved` (21 CFR 11.50)",
                    );
                }
                if let MtbDecision::Approved { cohort_id } = &ev.decision {
                    cohort_definition(ctx, cohort_id)?;
                }
                Ok(())
            }
            ct::PATIENT_ENROLLED => {
                let ev: PatientEnrolled = payload(ctx)?;
                if st.enrolled_in.is_some() {
                    return refuse(format!("{who} is already enrolled"));
                }
                if !st.consented {
                    return refuse(format!(
                        "{who} has no consent in force: no enrolment without consent"
                    ));
                }
                if st.approved_cohort.as_ref() != Some(&ev.cohort_id) {
                    return refuse(format!(
                        "{who} has no MTB approval for cohort {}: no enrolment without an approved match",
                        ev.cohort_id
                    ));
                }
                let Some(slot) = cited(ctx, ct::SLOT_ASSIGNED) else {
                    return refuse(format!("enrolment of {who} must cite its SlotAssigned: no enrolment without a slot"));
                };
                let s: SlotAssigned = decode(&slot.body.submission.submission.envelope.payload)
                    .map_err(|e| {
                        Refusal::new(
                            Reason::DomainRule,
                            format!("cited slot does not decode: {e}"),
                        )
                    })?;
                let Subject::Patient(me) = who else {
                    unreachable!("patient state implies a patient subject")
                };
                if s.patient != *me
                    || slot.body.submission.submission.subject
                        != Subject::Cohort(ev.cohort_id.clone())
                {
                    return refuse(format!(
                        "the cited slot is not {who}'s slot in cohort {}",
                        ev.cohort_id
                    ));
                }
                Ok(())
            }
            ct::DOSE_ADMINISTERED
            | ct::DOSE_MODIFIED
            | ct::RESPONSE_ASSESSED
            | ct::TREATMENT_ENDED
                if st.enrolled_in.is_none() =>
            {
                refuse(format!(
                    "{who} is not enrolled: no {} before enrolment",
                    type_name(t)
                ))
            }
            ct::DOSE_ADMINISTERED if !st.consented => refuse(format!(
                "{who} has withdrawn consent: no dose without consent"
            )),
            ct::DOSE_ADMINISTERED | ct::DOSE_MODIFIED if st.treatment_ended => refuse(format!(
                "{who}'s treatment has ended: no {} after it",
                type_name(t)
            )),
            ct::TREATMENT_ENDED if st.treatment_ended => {
                refuse(format!("{who}'s treatment has already ended"))
            }
            ct::ADVERSE_EVENT_REPORTED => {
                let ev: AdverseEventReported = payload(ctx)?;
                check_grade(ev.grade)?;
                check_partial_date(&ev.onset)?;
                if st.ae_ids.contains(&ev.ae_id) {
                    return refuse(format!(
                        "adverse event {} of {who} is already reported; use AdverseEventUpdated",
                        ev.ae_id
                    ));
                }
                Ok(())
            }
            ct::ADVERSE_EVENT_UPDATED => {
                let ev: AdverseEventUpdated = payload(ctx)?;
                check_grade(ev.grade)?;
                if !st.ae_ids.contains(&ev.ae_id) {
                    return refuse(format!(
                        "adverse event {} of {who} was never reported",
                        ev.ae_id
                    ));
                }
                Ok(())
            }
            ct::CORRECTED => check_correction(ctx),
            ct::SLOT_ASSIGNED | ct::SLOT_REFUSED | ct::COHORT_STAGE_DECIDED => {
                refuse(format!("{} is about a cohort, not {who}", type_name(t)))
            }
            _ => Ok(()),
        }
    }

    fn check_cohort(&self, st: &CohortState, ctx: &RuleContext<'_>) -> Result<(), Refusal> {
        let t = ctx.submission.envelope.event_type;
        let Subject::Cohort(cohort) = &ctx.submission.subject else {
            unreachable!("cohort state implies a cohort subject")
        };
        match t {
            ct::SLOT_ASSIGNED => {
                let ev: SlotAssigned = payload(ctx)?;
                let def = cohort_definition(ctx, cohort)?;
                let Some(cap) = slot_capacity(&def, st) else {
                    return refuse(format!(
                        "cohort {cohort} is closed ({:?}): no slot in a closed cohort",
                        st.status
                    ));
                };
                if st.slots >= cap {
                    return refuse(format!(
                        "cohort {cohort} is full ({} of {cap} slots): no slot in a full cohort",
                        st.slots
                    ));
                }
                if st.patients.contains(&ev.patient) {
                    return refuse(format!(
                        "patient {} already holds a slot in {cohort}",
                        ev.patient
                    ));
                }
                check_cites_approval(ctx, cohort, &ev.patient)
            }
            ct::SLOT_REFUSED => {
                let ev: SlotRefused = payload(ctx)?;
                check_cites_approval(ctx, cohort, &ev.patient)
            }
            ct::COHORT_STAGE_DECIDED => {
                let ev: CohortStageDecided = payload(ctx)?;
                cohort_definition(ctx, cohort)?;
                if !transition_allowed(st.status, ev.status) {
                    return refuse(format!(
                        "cohort {cohort} cannot go from {:?} to {:?}",
                        st.status, ev.status
                    ));
                }
                Ok(())
            }
            ct::CORRECTED => check_correction(ctx),
            _ => refuse(format!(
                "{} is about a patient, not cohort {cohort}",
                type_name(t)
            )),
        }
    }
}

fn check_partial_date(d: &tl_schemas::PartialDate) -> Result<(), Refusal> {
    match d {
        tl_schemas::PartialDate::YearMonth(_, m) if !(1..=12).contains(m) => {
            refuse(format!("month {m} is outside 1-12"))
        }
        _ => Ok(()),
    }
}

fn check_grade(grade: u8) -> Result<(), Refusal> {
    if (1..=5).contains(&grade) {
        Ok(())
    } else {
        refuse(format!("CTCAE grade {grade} is outside 1-5"))
    }
}

/// A slot decision must cite the MTB's approval of this patient for this cohort.
fn check_cites_approval(
    ctx: &RuleContext<'_>,
    cohort: &Name,
    patient: &Name,
) -> Result<(), Refusal> {
    let Some(rec) = cited(ctx, ct::MATCH_DECIDED) else {
        return refuse(format!(
            "a slot decision for {patient} must cite the MTB's MatchDecided"
        ));
    };
    let sub = &rec.body.submission.submission;
    let ev: MatchDecided = decode(&sub.envelope.payload).map_err(|e| {
        Refusal::new(
            Reason::DomainRule,
            format!("cited MatchDecided does not decode: {e}"),
        )
    })?;
    let approved =
        matches!(&ev.decision, MtbDecision::Approved { cohort_id } if cohort_id == cohort);
    if sub.subject != Subject::Patient(patient.clone()) || !approved {
        return refuse(format!(
            "the cited MatchDecided does not approve {patient} for cohort {cohort}"
        ));
    }
    Ok(())
}

/// A correction cites the corrected record first; it must be the same subject's, of the same
/// event type, the new payload must decode as that type, and the corrector's role must be
/// one that may author it.
fn check_correction(ctx: &RuleContext<'_>) -> Result<(), Refusal> {
    let ev: Corrected = payload(ctx)?;
    if ev.reason.trim().is_empty() {
        return refuse("a correction needs a reason");
    }
    let Some((_, original)) = ctx.cited.first() else {
        return refuse("a correction must cite the record it corrects as its first citation");
    };
    let osub = &original.body.submission.submission;
    if osub.subject != ctx.submission.subject {
        return refuse(format!(
            "a correction of {} cannot be filed under {}",
            osub.subject, ctx.submission.subject
        ));
    }
    if osub.envelope.event_type != ev.event_type || ev.event_type == ct::CORRECTED {
        return refuse(format!(
            "the correction's content is {}, the corrected record is {}",
            type_name(ev.event_type),
            type_name(osub.envelope.event_type)
        ));
    }
    if !clinical_authority(ev.event_type).is_some_and(|a| a.permits(ctx.author.role())) {
        return refuse(format!(
            "this key's role may not author {}, so it may not correct one",
            type_name(ev.event_type)
        ));
    }
    if ev.event_version != 1 {
        return Err(Refusal::new(
            Reason::UnsupportedFormat,
            format!(
                "{} version {} is unknown",
                type_name(ev.event_type),
                ev.event_version
            ),
        ));
    }
    if !payload_decodes(ev.event_type, &ev.payload) {
        return Err(Refusal::new(
            Reason::Malformed,
            format!(
                "the corrected content is not a valid {} v1",
                type_name(ev.event_type)
            ),
        ));
    }
    Ok(())
}

/// Whether bytes are a canonical v1 payload of a clinical type.
pub fn payload_decodes(t: u16, bytes: &[u8]) -> bool {
    fn ok<T: serde::Serialize + serde::de::DeserializeOwned>(b: &[u8]) -> bool {
        decode::<T>(b).is_ok()
    }
    match t {
        ct::PATIENT_REGISTERED => ok::<PatientRegistered>(bytes),
        ct::CONSENT_RECORDED => ok::<ConsentRecorded>(bytes),
        ct::CONSENT_WITHDRAWN => ok::<ConsentWithdrawn>(bytes),
        ct::SEQUENCING_RESULT_REPORTED => ok::<SequencingResultReported>(bytes),
        ct::MATCH_PROPOSED => ok::<MatchProposed>(bytes),
        ct::MATCH_DECIDED => ok::<MatchDecided>(bytes),
        ct::SLOT_ASSIGNED => ok::<SlotAssigned>(bytes),
        ct::SLOT_REFUSED => ok::<SlotRefused>(bytes),
        ct::PATIENT_ENROLLED => ok::<PatientEnrolled>(bytes),
        ct::DOSE_ADMINISTERED => ok::<DoseAdministered>(bytes),
        ct::DOSE_MODIFIED => ok::<DoseModified>(bytes),
        ct::ADVERSE_EVENT_REPORTED => ok::<AdverseEventReported>(bytes),
        ct::ADVERSE_EVENT_UPDATED => ok::<AdverseEventUpdated>(bytes),
        ct::RESPONSE_ASSESSED => ok::<ResponseAssessed>(bytes),
        ct::TREATMENT_ENDED => ok::<TreatmentEnded>(bytes),
        ct::SURVIVAL_STATUS_RECORDED => ok::<SurvivalStatusRecorded>(bytes),
        ct::DEATH_RECORDED => ok::<DeathRecorded>(bytes),
        ct::COHORT_STAGE_DECIDED => ok::<CohortStageDecided>(bytes),
        ct::CORRECTED => ok::<Corrected>(bytes),
        _ => false,
    }
}

impl DomainRules for TrialRules {
    type SubjectState = SubjectState;

    fn authority(&self, event_type: u16) -> Option<Authority> {
        clinical_authority(event_type)
    }

    fn check(&self, state: &SubjectState, ctx: &RuleContext<'_>) -> Result<(), Refusal> {
        let t = ctx.submission.envelope.event_type;
        if ct::name(t).is_none() {
            // Trial-level events are the registry's business; a protocol document, if it
            // claims to be a catalogue, must be one.
            if t == tl_schemas::event_type::PROTOCOL_AMENDED {
                let ev: tl_schemas::events::ProtocolAmended = payload(ctx)?;
                if protocol_catalogue(ev.document_format, &ev.document).is_err() {
                    return Err(Refusal::new(
                        Reason::Malformed,
                        "the protocol document is not a valid cohort catalogue",
                    ));
                }
            }
            return Ok(());
        }
        if ctx.submission.envelope.event_version != 1 {
            return Err(Refusal::new(
                Reason::UnsupportedFormat,
                format!(
                    "{} version {} is unknown",
                    type_name(t),
                    ctx.submission.envelope.event_version
                ),
            ));
        }
        if !payload_decodes(t, &ctx.submission.envelope.payload) {
            return Err(Refusal::new(
                Reason::Malformed,
                format!("the payload is not a valid {} v1", type_name(t)),
            ));
        }
        match (&ctx.submission.subject, state) {
            (Subject::Trial, _) => refuse(format!(
                "{} is about a patient or a cohort, not the trial",
                type_name(t)
            )),
            (Subject::Patient(_), SubjectState::New) => {
                self.check_patient(&PatientState::default(), ctx)
            }
            (Subject::Patient(_), SubjectState::Patient(p)) => self.check_patient(p, ctx),
            (Subject::Cohort(_), SubjectState::New) => {
                self.check_cohort(&CohortState::default(), ctx)
            }
            (Subject::Cohort(_), SubjectState::Cohort(c)) => self.check_cohort(c, ctx),
            _ => refuse("subject state does not match its kind"),
        }
    }

    /// Intake limits and plausibility ([`crate::intake`]): new submissions only.
    fn check_intake(
        &self,
        submission: &tl_schemas::Submission,
        ordering_time: tl_schemas::UtcMicros,
    ) -> Result<(), Refusal> {
        crate::intake::check(submission, ordering_time)
    }

    fn apply(&self, state: &mut SubjectState, ctx: &RuleContext<'_>) {
        let t = ctx.submission.envelope.event_type;
        if ct::name(t).is_none() {
            return;
        }
        let bytes = &ctx.submission.envelope.payload;
        match &ctx.submission.subject {
            Subject::Patient(_) => {
                if *state == SubjectState::New {
                    *state = SubjectState::Patient(PatientState::default());
                }
                let SubjectState::Patient(p) = state else {
                    return;
                };
                match t {
                    ct::PATIENT_REGISTERED => p.registered = true,
                    ct::CONSENT_RECORDED => p.consented = true,
                    ct::CONSENT_WITHDRAWN => {
                        p.consented = false;
                        p.withdrew = true;
                    }
                    ct::SEQUENCING_RESULT_REPORTED => p.sequenced = true,
                    ct::MATCH_PROPOSED => p.proposed = true,
                    ct::MATCH_DECIDED => {
                        if let Ok(ev) = decode::<MatchDecided>(bytes) {
                            p.approved_cohort = match ev.decision {
                                MtbDecision::Approved { cohort_id } => Some(cohort_id),
                                MtbDecision::Rejected => None,
                            };
                        }
                    }
                    ct::PATIENT_ENROLLED => {
                        if let Ok(ev) = decode::<PatientEnrolled>(bytes) {
                            p.enrolled_in = Some(ev.cohort_id);
                        }
                    }
                    ct::ADVERSE_EVENT_REPORTED => {
                        if let Ok(ev) = decode::<AdverseEventReported>(bytes) {
                            p.ae_ids.insert(ev.ae_id);
                        }
                    }
                    ct::TREATMENT_ENDED => p.treatment_ended = true,
                    ct::DEATH_RECORDED => p.dead = true,
                    _ => {}
                }
            }
            Subject::Cohort(_) => {
                if *state == SubjectState::New {
                    *state = SubjectState::Cohort(CohortState::default());
                }
                let SubjectState::Cohort(c) = state else {
                    return;
                };
                apply_cohort_event(c, t, bytes);
            }
            Subject::Trial => {}
        }
    }
}
