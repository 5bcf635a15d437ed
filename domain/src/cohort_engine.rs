//! The cohort engine's decisions, as pure bookkeeping over tl-clinical's two-stage rule:
//! slots after an MTB approval, and stage decisions as outcomes become known.
//!
//! [`CohortEngine`] holds one [`TwoStageCohort`] per cohort of the catalogues seen. It is fed
//! in ledger order: the protocol in force, each approval ([`CohortEngine::assign_slot`]) and
//! each patient's outcome ([`CohortEngine::record_outcome`]), and answers with what the
//! cohort engine records: `SlotAssigned` or `SlotRefused`, and `CohortStageDecided`.
//!
//! * A slot is assigned while the open stage has room (its size minus the evaluable patients
//!   minus those in flight; a non-evaluable patient frees a slot); the slot names its stage
//!   (1, 2, or 3 for the expansion) and its number in the cohort.
//! * A stage decision is recorded whenever an outcome changes the cohort's status, and also
//!   for a non-evaluable outcome (the restated count is what frees the slot for the sequencer
//!   and the matcher, which read only the ledger).
//! * The stage-3 expansion is the sponsor's decision; the standing policy
//!   ([`CohortEngine::expansion_min_benefit_pct`]) opens it at once when a cohort turns
//!   positive with at least that benefit rate among its evaluable patients and its cap allows
//!   more; otherwise the cohort stays positive, without new slots.

use std::collections::{BTreeMap, BTreeSet};
use tl_clinical::{CohortState, Outcome, TwoStageCohort, TwoStageParams};
use tl_schemas::clinical::{
    CohortCatalogue, CohortDefinition, CohortStageDecided, CohortStatus, SlotAssigned, SlotRefused,
};
use tl_schemas::ids::Name;

/// The default expansion policy: positive cohorts with at least 30 % benefit expand.
pub const DEFAULT_EXPANSION_MIN_BENEFIT_PCT: u32 = 30;

/// The cohort engine's answer to an MTB approval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotDecision {
    /// A slot: record `SlotAssigned` in the cohort's partition, citing the approval.
    Assigned(SlotAssigned),
    /// No slot: record `SlotRefused`, citing the approval.
    Refused(SlotRefused),
}

/// The schema's status for a tl-clinical cohort state.
pub fn status_of(state: CohortState) -> CohortStatus {
    match state {
        CohortState::Stage1 => CohortStatus::Stage1,
        CohortState::Stage2 => CohortStatus::Stage2,
        CohortState::ClosedForFutility => CohortStatus::ClosedForFutility,
        CohortState::CompletedNegative => CohortStatus::CompletedNegative,
        CohortState::Positive => CohortStatus::Positive,
        CohortState::Expansion => CohortStatus::Expansion,
        CohortState::ExpansionComplete => CohortStatus::ExpansionComplete,
    }
}

/// tl-clinical's two-stage parameters of a catalogue cohort.
pub fn params_of(def: &CohortDefinition) -> TwoStageParams {
    TwoStageParams {
        stage1_size: def.stage1_size.into(),
        stage1_min_benefits: def.stage1_threshold.into(),
        stage2_size: def.stage2_size.into(),
        stage2_min_benefits: def.stage2_threshold.into(),
        expansion_cap: def.expansion_cap,
    }
}

/// One cohort as the cohort engine sees it.
#[derive(Clone, Debug)]
pub struct EngineCohort {
    /// The catalogue entry (of the latest catalogue that lists it).
    pub definition: CohortDefinition,
    /// The two-stage state machine.
    pub machine: TwoStageCohort,
    /// Slots handed out so far (the last slot number).
    pub slots: u32,
    /// Patients who hold a slot (a patient gets at most one per cohort).
    pub holders: BTreeSet<Name>,
    /// Patients holding a slot whose outcome is not known yet.
    pub awaiting: BTreeSet<Name>,
    /// The outcome counted for each patient, in the two-stage rule (for audits and tests).
    pub outcomes: BTreeMap<Name, Outcome>,
}

impl EngineCohort {
    /// The stage decision that states the cohort's current status and counts.
    pub fn stated(&self) -> CohortStageDecided {
        let counts = self.machine.counts();
        CohortStageDecided {
            status: status_of(self.machine.state()),
            enrolled: counts.enrolled,
            evaluable: counts.evaluable,
            benefits: counts.benefits,
            not_evaluable: counts.not_evaluable,
        }
    }
}

/// The cohort engine's state: every cohort of the catalogues seen, and which are in force.
#[derive(Clone, Debug)]
pub struct CohortEngine {
    /// The smallest benefit rate (percent of evaluable patients) at which a positive cohort's
    /// expansion is opened.
    pub expansion_min_benefit_pct: u32,
    /// The protocol version in force (0 before the first catalogue).
    protocol_version: u32,
    /// Every cohort ever listed, by id: a cohort dropped by an amendment keeps its counts.
    cohorts: BTreeMap<Name, EngineCohort>,
    /// The cohorts of the catalogue in force, in catalogue order.
    in_force: Vec<Name>,
}

impl Default for CohortEngine {
    fn default() -> Self {
        CohortEngine {
            expansion_min_benefit_pct: DEFAULT_EXPANSION_MIN_BENEFIT_PCT,
            protocol_version: 0,
            cohorts: BTreeMap::new(),
            in_force: Vec::new(),
        }
    }
}

impl CohortEngine {
    /// An engine with no protocol yet and the default expansion policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// The protocol version in force (0 before the first catalogue).
    pub fn protocol_version(&self) -> u32 {
        self.protocol_version
    }

    /// The cohort engine's view of a cohort.
    pub fn cohort(&self, id: &Name) -> Option<&EngineCohort> {
        self.cohorts.get(id)
    }

    /// The cohorts of the catalogue in force, in catalogue order.
    pub fn cohorts(&self) -> impl Iterator<Item = &EngineCohort> {
        self.in_force.iter().filter_map(|id| self.cohorts.get(id))
    }

    /// A protocol version with this cohort catalogue is in force from now on. Cohorts new to
    /// it start in stage 1; cohorts seen before keep their state. A cohort whose parameters
    /// the two-stage rule cannot run never opens.
    pub fn protocol_in_force(&mut self, version: u32, catalogue: &CohortCatalogue) {
        self.protocol_version = version;
        self.in_force.clear();
        for def in &catalogue.cohorts {
            if let Some(c) = self.cohorts.get_mut(&def.cohort_id) {
                c.definition = def.clone();
                self.in_force.push(def.cohort_id.clone());
                continue;
            }
            let Ok(machine) = TwoStageCohort::new(params_of(def)) else {
                continue;
            };
            self.in_force.push(def.cohort_id.clone());
            self.cohorts.insert(
                def.cohort_id.clone(),
                EngineCohort {
                    definition: def.clone(),
                    machine,
                    slots: 0,
                    holders: BTreeSet::new(),
                    awaiting: BTreeSet::new(),
                    outcomes: BTreeMap::new(),
                },
            );
        }
    }

    /// The slot decision for a patient the MTB approved for `cohort`.
    pub fn assign_slot(&mut self, cohort: &Name, patient: &Name) -> SlotDecision {
        let refuse = |reason: String| {
            SlotDecision::Refused(SlotRefused {
                patient: patient.clone(),
                reason,
            })
        };
        if !self.in_force.contains(cohort) {
            return refuse(format!("cohort {cohort} is not in the protocol in force"));
        }
        let Some(c) = self.cohorts.get_mut(cohort) else {
            return refuse(format!("cohort {cohort} is not in the protocol in force"));
        };
        if c.holders.contains(patient) {
            return refuse(format!(
                "patient {patient} already holds a slot in {cohort}"
            ));
        }
        let state = c.machine.state();
        match c.machine.assign_slot() {
            Ok(_) => {
                c.slots += 1;
                c.holders.insert(patient.clone());
                c.awaiting.insert(patient.clone());
                SlotDecision::Assigned(SlotAssigned {
                    patient: patient.clone(),
                    stage: match state {
                        CohortState::Stage1 => 1,
                        CohortState::Stage2 => 2,
                        _ => 3,
                    },
                    slot: c.slots,
                })
            }
            Err(e) => refuse(e.to_string()),
        }
    }

    /// A slot this engine did not decide is in the ledger (another instance, an operator):
    /// counts it, so the engine's view stays the ledger's. Returns whether the two-stage rule
    /// had room for it.
    pub fn note_slot(&mut self, cohort: &Name, patient: &Name) -> bool {
        let Some(c) = self.cohorts.get_mut(cohort) else {
            return false;
        };
        if !c.holders.insert(patient.clone()) {
            return true;
        }
        c.slots += 1;
        c.awaiting.insert(patient.clone());
        c.machine.assign_slot().is_ok()
    }

    /// Whether `patient` holds a slot in `cohort` and its outcome is not known yet.
    pub fn awaits(&self, cohort: &Name, patient: &Name) -> bool {
        self.cohorts
            .get(cohort)
            .is_some_and(|c| c.awaiting.contains(patient))
    }

    /// A patient's outcome in `cohort` became known. Returns the stage decisions to record, in
    /// order (none when nothing is to be stated, or the patient holds no slot awaiting one).
    pub fn record_outcome(
        &mut self,
        cohort: &Name,
        patient: &Name,
        outcome: Outcome,
    ) -> Vec<CohortStageDecided> {
        let Some(c) = self.cohorts.get_mut(cohort) else {
            return Vec::new();
        };
        if !c.awaiting.remove(patient) {
            return Vec::new();
        }
        let Ok(decision) = c.machine.record_outcome(outcome) else {
            return Vec::new();
        };
        c.outcomes.insert(patient.clone(), outcome);
        let mut out = Vec::new();
        // A non-evaluable patient frees a slot only once the ledger records the new count.
        if decision.changed() || outcome == Outcome::NotEvaluable {
            out.push(c.stated());
        }
        let counts = c.machine.counts();
        if decision.changed()
            && c.machine.state() == CohortState::Positive
            && counts.evaluable < c.definition.expansion_cap
            && counts.benefits * 100 >= self.expansion_min_benefit_pct * counts.evaluable
            && c.machine.open_expansion().is_ok()
        {
            out.push(c.stated());
        }
        out
    }
}
