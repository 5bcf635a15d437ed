//! The DRUP two-stage cohort rule, with explicit timing, as a state machine.
//!
//! A cohort treats `stage1_size` (8) patients; at its first benefit it expands to `stage2_size`
//! (24); at its 5th benefit among those 24 it is positive and may be expanded again (stage 3) up to
//! the protocol's cap. The machine is fed slot assignments and patient outcomes *in the order they
//! become known*, because that order is what the cohort engine's signed `CohortStageDecided` events
//! must reproduce: a stage-1 cohort expands the moment its first benefit is known, not when the
//! 8th patient is evaluated.
//!
//! Counting rules:
//! * counts are cumulative over stages: the 8 stage-1 patients are the first 8 of the 24;
//! * a non-evaluable patient is replaced: it counts toward neither 8 nor 24 and frees its slot;
//! * a stage's slots are its size minus the evaluable patients minus those still awaiting an
//!   outcome, so a stage never has more patients in flight than it can still use.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The protocol's parameters of the two-stage rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TwoStageParams {
    /// Evaluable patients in stage 1 (DRUP: 8).
    pub stage1_size: u32,
    /// Benefits that expand stage 1 to stage 2 (DRUP: 1).
    pub stage1_min_benefits: u32,
    /// Evaluable patients in stages 1 and 2 together (DRUP: 24).
    pub stage2_size: u32,
    /// Benefits among the stage-2 total that make the cohort positive (DRUP: 5).
    pub stage2_min_benefits: u32,
    /// Evaluable patients in all stages together once a stage-3 expansion is open.
    pub expansion_cap: u32,
}

impl TwoStageParams {
    /// DRUP's rule (8 / 1, 24 / 5) with the given stage-3 cap.
    pub fn drup(expansion_cap: u32) -> Self {
        TwoStageParams {
            stage1_size: 8,
            stage1_min_benefits: 1,
            stage2_size: 24,
            stage2_min_benefits: 5,
            expansion_cap,
        }
    }

    /// Checks that the parameters describe a two-stage rule the machine can run: each threshold
    /// reachable within its stage, stage 2 larger and stricter than stage 1, the cap no smaller
    /// than stage 2. Stricter-than-stage-1 is what guarantees one outcome moves the cohort at most
    /// one state.
    pub fn validate(&self) -> Result<(), CohortError> {
        let bad = |why| Err(CohortError::InvalidParameters(why));
        if self.stage1_size == 0 {
            return bad("stage 1 size must be at least 1");
        }
        if self.stage1_min_benefits == 0 || self.stage1_min_benefits > self.stage1_size {
            return bad("stage 1 threshold must be between 1 and the stage 1 size");
        }
        if self.stage2_size <= self.stage1_size {
            return bad("stage 2 total must be larger than stage 1");
        }
        if self.stage2_min_benefits <= self.stage1_min_benefits
            || self.stage2_min_benefits > self.stage2_size
        {
            return bad("stage 2 threshold must exceed stage 1's and fit in the stage 2 total");
        }
        if self.expansion_cap < self.stage2_size {
            return bad("expansion cap must be at least the stage 2 total");
        }
        Ok(())
    }
}

/// The outcome of one enrolled patient, as it becomes known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// Evaluable, with clinical benefit.
    Benefit,
    /// Evaluable, without clinical benefit.
    NoBenefit,
    /// Not evaluable for response: replaced.
    NotEvaluable,
}

/// A cohort's state. The names match the enrollment view's statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CohortState {
    /// Stage 1 open.
    Stage1,
    /// Stage 2 open (stage 1 had its benefit).
    Stage2,
    /// Stage 1 completed without benefit: closed.
    ClosedForFutility,
    /// Stage 2 completed below its threshold: closed.
    CompletedNegative,
    /// Stage 2 reached its threshold; awaiting the sponsor's decision on a stage-3 expansion.
    /// No new slots until it is opened.
    Positive,
    /// Stage-3 expansion open, up to the cap.
    Expansion,
    /// Stage-3 expansion reached its cap: closed.
    ExpansionComplete,
}

impl CohortState {
    /// A stable snake-case name for views and logs.
    pub fn name(self) -> &'static str {
        match self {
            CohortState::Stage1 => "stage_1",
            CohortState::Stage2 => "stage_2",
            CohortState::ClosedForFutility => "closed_for_futility",
            CohortState::CompletedNegative => "completed_negative",
            CohortState::Positive => "positive",
            CohortState::Expansion => "expansion",
            CohortState::ExpansionComplete => "expansion_complete",
        }
    }
}

impl fmt::Display for CohortState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A cohort's counts, cumulative over all stages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Counts {
    /// Patients given a slot.
    pub enrolled: u32,
    /// Patients with an evaluable outcome (benefit or not).
    pub evaluable: u32,
    /// Evaluable patients with clinical benefit.
    pub benefits: u32,
    /// Patients found not evaluable (replaced).
    pub not_evaluable: u32,
}

impl Counts {
    /// Patients enrolled whose outcome is not yet known.
    pub fn awaiting_outcome(&self) -> u32 {
        self.enrolled - self.evaluable - self.not_evaluable
    }

    /// Outcomes recorded so far. Because outcomes are fed in order, a decision rests on exactly
    /// the first this-many outcome records, which is what a caller cites.
    pub fn outcomes(&self) -> u32 {
        self.evaluable + self.not_evaluable
    }
}

/// What led to a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Trigger {
    /// A patient's outcome became known.
    Outcome(Outcome),
    /// The sponsor opened the stage-3 expansion.
    ExpansionOpened,
}

/// The result of one input to the cohort: the state before and after, and the counts the new
/// state was decided on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Decision {
    /// What was fed in.
    pub trigger: Trigger,
    /// The state before.
    pub previous: CohortState,
    /// The state after.
    pub state: CohortState,
    /// The counts after the input, on which `state` was decided.
    pub counts: Counts,
}

impl Decision {
    /// Whether the state changed: a stage decision to record.
    pub fn changed(&self) -> bool {
        self.previous != self.state
    }
}

/// Why the cohort refused an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CohortError {
    /// The parameters do not describe a runnable two-stage rule.
    #[error("invalid two-stage parameters: {0}")]
    InvalidParameters(&'static str),
    /// No slot is open: the cohort is closed, awaiting a decision, or full with patients in flight.
    #[error(
        "no slot open: cohort is {state} with {} enrolled, {} evaluable, {} awaiting an outcome",
        counts.enrolled,
        counts.evaluable,
        counts.awaiting_outcome()
    )]
    NoSlotOpen {
        /// The cohort's state.
        state: CohortState,
        /// The cohort's counts.
        counts: Counts,
    },
    /// An outcome arrived but no enrolled patient is awaiting one.
    #[error("no enrolled patient is awaiting an outcome")]
    NoPatientAwaitingOutcome,
    /// A stage-3 expansion can only be opened from `Positive`.
    #[error("a stage-3 expansion can only be opened from positive, not {0}")]
    ExpansionNotAllowed(CohortState),
}

/// One cohort's two-stage state machine.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TwoStageCohort {
    params: TwoStageParams,
    state: CohortState,
    counts: Counts,
}

impl TwoStageCohort {
    /// A new cohort in stage 1 with no patient, if the parameters are valid.
    pub fn new(params: TwoStageParams) -> Result<Self, CohortError> {
        params.validate()?;
        Ok(TwoStageCohort {
            params,
            state: CohortState::Stage1,
            counts: Counts::default(),
        })
    }

    /// The parameters.
    pub fn params(&self) -> &TwoStageParams {
        &self.params
    }

    /// The current state.
    pub fn state(&self) -> CohortState {
        self.state
    }

    /// The current counts.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// How many evaluable patients the open stage holds in total (cumulative), or `None` when no
    /// stage is open.
    pub fn stage_capacity(&self) -> Option<u32> {
        match self.state {
            CohortState::Stage1 => Some(self.params.stage1_size),
            CohortState::Stage2 => Some(self.params.stage2_size),
            CohortState::Expansion => Some(self.params.expansion_cap),
            _ => None,
        }
    }

    /// Slots a new patient could take now: the open stage's capacity minus the evaluable patients
    /// minus those still awaiting an outcome (each may yet become evaluable). 0 when no stage is
    /// open.
    pub fn slots_open(&self) -> u32 {
        self.stage_capacity().map_or(0, |cap| {
            cap.saturating_sub(self.counts.evaluable + self.counts.awaiting_outcome())
        })
    }

    /// Whether a new patient may get a slot now.
    pub fn may_enroll(&self) -> bool {
        self.slots_open() > 0
    }

    /// Gives a slot to a new patient, returning the counts with it; refuses when none is open.
    pub fn assign_slot(&mut self) -> Result<Counts, CohortError> {
        if !self.may_enroll() {
            return Err(CohortError::NoSlotOpen {
                state: self.state,
                counts: self.counts,
            });
        }
        self.counts.enrolled += 1;
        Ok(self.counts)
    }

    /// Records the outcome of an enrolled patient and applies the rule at once:
    /// * stage 1: at the `stage1_min_benefits`-th benefit, stage 2; else, once `stage1_size`
    ///   evaluable, closed for futility;
    /// * stage 2: at the `stage2_min_benefits`-th benefit, positive; else, once `stage2_size`
    ///   evaluable, completed negative;
    /// * expansion: once `expansion_cap` evaluable, expansion complete;
    /// * positive: outcomes of patients still in flight are counted, and the state stays.
    pub fn record_outcome(&mut self, outcome: Outcome) -> Result<Decision, CohortError> {
        if self.counts.awaiting_outcome() == 0 {
            return Err(CohortError::NoPatientAwaitingOutcome);
        }
        let previous = self.state;
        match outcome {
            Outcome::Benefit => {
                self.counts.evaluable += 1;
                self.counts.benefits += 1;
            }
            Outcome::NoBenefit => self.counts.evaluable += 1,
            Outcome::NotEvaluable => self.counts.not_evaluable += 1,
        }
        let c = self.counts;
        let p = self.params;
        self.state = match self.state {
            CohortState::Stage1 if c.benefits >= p.stage1_min_benefits => CohortState::Stage2,
            CohortState::Stage1 if c.evaluable >= p.stage1_size => CohortState::ClosedForFutility,
            CohortState::Stage2 if c.benefits >= p.stage2_min_benefits => CohortState::Positive,
            CohortState::Stage2 if c.evaluable >= p.stage2_size => CohortState::CompletedNegative,
            CohortState::Expansion if c.evaluable >= p.expansion_cap => {
                CohortState::ExpansionComplete
            }
            unchanged => unchanged,
        };
        Ok(Decision {
            trigger: Trigger::Outcome(outcome),
            previous,
            state: self.state,
            counts: self.counts,
        })
    }

    /// Opens the stage-3 expansion of a positive cohort (a sponsor decision). If the cohort
    /// already has as many evaluable patients as the cap, it is complete at once.
    pub fn open_expansion(&mut self) -> Result<Decision, CohortError> {
        if self.state != CohortState::Positive {
            return Err(CohortError::ExpansionNotAllowed(self.state));
        }
        self.state = if self.counts.evaluable >= self.params.expansion_cap {
            CohortState::ExpansionComplete
        } else {
            CohortState::Expansion
        };
        Ok(Decision {
            trigger: Trigger::ExpansionOpened,
            previous: CohortState::Positive,
            state: self.state,
            counts: self.counts,
        })
    }
}

/// How a patient's outcome for the two-stage rule became known, from the recorded course so
/// far ([`outcome_so_far`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OutcomeBasis {
    /// Clinical benefit (a confirmed CR/PR, or disease control for at least 16 weeks from the
    /// first dose) at the assessments given.
    Benefit,
    /// A follow-up assessment shows progressive disease before any benefit.
    Progression,
    /// Treatment is over without benefit, and at least one assessment was evaluable (best
    /// overall response other than NE): evaluable, no benefit.
    EndedEvaluable,
    /// Treatment is over and the best overall response is NE (no evaluable follow-up, or no
    /// dose): not evaluable, replaced.
    EndedNotEvaluable,
}

impl OutcomeBasis {
    /// The outcome the two-stage rule counts.
    pub fn outcome(self) -> Outcome {
        match self {
            OutcomeBasis::Benefit => Outcome::Benefit,
            OutcomeBasis::Progression | OutcomeBasis::EndedEvaluable => Outcome::NoBenefit,
            OutcomeBasis::EndedNotEvaluable => Outcome::NotEvaluable,
        }
    }
}

/// The two-stage rule's input for one enrolled patient, from what is recorded so far, or
/// `None` while it is not known yet. The cohort engine evaluates it after each of the
/// patient's records, and the first answer counts:
/// * benefit, as soon as [`crate::clinical_benefit`] holds over the follow-up assessments
///   (computed RECIST responses, in date order) from the first dose;
/// * no benefit, at the first follow-up assessment with progressive disease;
/// * once treatment is over (`treatment_over`: treatment ended, or the patient died) without
///   either: not evaluable if the best overall response is NE (or there was no dose), else no
///   benefit.
///
/// An evaluable outcome therefore never waits for the end of follow-up, and a patient who
/// leaves before an evaluable scan is replaced.
///
/// This reads with the format-1 definitions (a strict day 112); [`outcome_so_far_with`] takes
/// the protocol's.
pub fn outcome_so_far(
    first_dose: Option<tl_schemas::Date>,
    assessments: &[crate::DatedResponse],
    treatment_over: bool,
) -> Option<OutcomeBasis> {
    outcome_so_far_with(
        first_dose,
        assessments,
        treatment_over,
        &crate::Definitions::FORMAT_1,
    )
}

/// [`outcome_so_far`] under the protocol's definitions: benefit uses its landmark window
/// ([`crate::Definitions::benefit_min_days`]). The cohort engine passes the definitions of the
/// catalogue in force, so a ledger whose catalogue is format 1 replays to the decisions it
/// recorded.
pub fn outcome_so_far_with(
    first_dose: Option<tl_schemas::Date>,
    assessments: &[crate::DatedResponse],
    treatment_over: bool,
    defs: &crate::Definitions,
) -> Option<OutcomeBasis> {
    if let Some(first) = first_dose {
        if crate::clinical_benefit_from(first, assessments, defs.benefit_min_days()).is_some() {
            return Some(OutcomeBasis::Benefit);
        }
    }
    if assessments
        .iter()
        .any(|a| a.response == crate::Response::ProgressiveDisease)
    {
        return Some(OutcomeBasis::Progression);
    }
    if !treatment_over {
        return None;
    }
    let evaluable = first_dose.is_some_and(|first| {
        crate::best_overall_response(first, assessments).response != crate::Response::NotEvaluable
    });
    Some(if evaluable {
        OutcomeBasis::EndedEvaluable
    } else {
        OutcomeBasis::EndedNotEvaluable
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use CohortState::*;
    use Outcome::*;

    fn drup() -> TwoStageCohort {
        TwoStageCohort::new(TwoStageParams::drup(40)).unwrap()
    }

    /// Enrols one patient and records their outcome at once.
    fn treat(c: &mut TwoStageCohort, outcome: Outcome) -> Decision {
        c.assign_slot().expect("slot open");
        c.record_outcome(outcome).expect("patient awaiting")
    }

    /// A cohort that expanded at its first patient's benefit.
    fn in_stage2() -> TwoStageCohort {
        let mut c = drup();
        assert_eq!(treat(&mut c, Benefit).state, Stage2);
        c
    }

    #[test]
    fn zero_of_8_closes_for_futility() {
        // given a stage-1 cohort
        let mut c = drup();
        // when 8 evaluable patients show no benefit
        let decisions: Vec<Decision> = (0..8).map(|_| treat(&mut c, NoBenefit)).collect();
        // then it stays in stage 1 for 7 and closes at the 8th, with no slot left
        assert!(decisions[..7].iter().all(|d| d.state == Stage1));
        let last = decisions[7];
        assert_eq!((last.previous, last.state), (Stage1, ClosedForFutility));
        assert_eq!(last.counts.evaluable, 8);
        assert_eq!(last.counts.benefits, 0);
        assert_eq!(c.slots_open(), 0);
        assert!(matches!(
            c.assign_slot(),
            Err(CohortError::NoSlotOpen {
                state: ClosedForFutility,
                ..
            })
        ));
    }

    #[test]
    fn one_of_8_expands() {
        // given a stage-1 cohort with 7 evaluable patients without benefit
        let mut c = drup();
        for _ in 0..7 {
            treat(&mut c, NoBenefit);
        }
        // when the 8th shows benefit
        let d = treat(&mut c, Benefit);
        // then it expands to stage 2 with 16 new slots
        assert_eq!((d.previous, d.state), (Stage1, Stage2));
        assert_eq!((d.counts.evaluable, d.counts.benefits), (8, 1));
        assert_eq!(c.slots_open(), 16);
    }

    #[test]
    fn benefit_as_3rd_evaluable_in_stage1_expands_at_once() {
        // given a full stage 1: 8 enrolled, outcomes still coming
        let mut c = drup();
        for _ in 0..8 {
            c.assign_slot().unwrap();
        }
        assert_eq!(c.slots_open(), 0);
        c.record_outcome(NoBenefit).unwrap();
        c.record_outcome(NoBenefit).unwrap();
        // when the 3rd evaluable outcome is a benefit
        let d = c.record_outcome(Benefit).unwrap();
        // then stage 2 opens immediately, counted on 3 evaluable, with 5 still awaited
        assert!(d.changed());
        assert_eq!((d.previous, d.state), (Stage1, Stage2));
        assert_eq!(d.counts.evaluable, 3);
        assert_eq!(d.counts.benefits, 1);
        assert_eq!(d.counts.awaiting_outcome(), 5);
        assert_eq!(d.counts.outcomes(), 3);
        assert_eq!(c.slots_open(), 24 - 3 - 5);
    }

    #[test]
    fn four_of_24_is_completed_negative() {
        // given a cohort in stage 2 with 1 benefit among 1 evaluable
        let mut c = in_stage2();
        // when 3 more benefits and 20 without benefit arrive (4 of 24)
        for _ in 0..3 {
            treat(&mut c, Benefit);
        }
        let mut last = None;
        for _ in 0..20 {
            last = Some(treat(&mut c, NoBenefit));
        }
        // then it is completed negative at the 24th, with no slot left
        let d = last.unwrap();
        assert_eq!((d.previous, d.state), (Stage2, CompletedNegative));
        assert_eq!((d.counts.evaluable, d.counts.benefits), (24, 4));
        assert!(!c.may_enroll());
    }

    #[test]
    fn five_of_24_is_positive() {
        // given a cohort in stage 2 with 4 benefits among 23 evaluable
        let mut c = in_stage2();
        for _ in 0..3 {
            treat(&mut c, Benefit);
        }
        for _ in 0..19 {
            treat(&mut c, NoBenefit);
        }
        assert_eq!((c.counts().evaluable, c.state()), (23, Stage2));
        // when the 24th evaluable is the 5th benefit
        let d = treat(&mut c, Benefit);
        // then positive
        assert_eq!((d.previous, d.state), (Stage2, Positive));
        assert_eq!((d.counts.evaluable, d.counts.benefits), (24, 5));
    }

    #[test]
    fn fifth_benefit_makes_stage2_positive_at_once() {
        // given a stage-2 cohort with 4 benefits among 10 evaluable and 6 in flight
        let mut c = in_stage2();
        for _ in 0..3 {
            treat(&mut c, Benefit);
        }
        for _ in 0..6 {
            treat(&mut c, NoBenefit);
        }
        for _ in 0..6 {
            c.assign_slot().unwrap();
        }
        // when the 5th benefit arrives
        let d = c.record_outcome(Benefit).unwrap();
        // then positive immediately; the patients in flight are still counted afterwards
        assert_eq!(
            (d.state, d.counts.evaluable, d.counts.benefits),
            (Positive, 11, 5)
        );
        assert_eq!(c.slots_open(), 0);
        let late = c.record_outcome(NoBenefit).unwrap();
        assert!(!late.changed());
        assert_eq!(late.counts.evaluable, 12);
    }

    #[test]
    fn non_evaluable_patient_does_not_count_and_frees_a_slot() {
        // given a full stage 1 (8 enrolled, 7 evaluable without benefit)
        let mut c = drup();
        for _ in 0..8 {
            c.assign_slot().unwrap();
        }
        for _ in 0..7 {
            c.record_outcome(NoBenefit).unwrap();
        }
        assert_eq!(c.slots_open(), 0);
        // when the 8th turns out not evaluable
        let d = c.record_outcome(NotEvaluable).unwrap();
        // then the cohort stays in stage 1, 7 evaluable, and one slot reopens for a replacement
        assert_eq!(d.state, Stage1);
        assert_eq!((d.counts.evaluable, d.counts.not_evaluable), (7, 1));
        assert_eq!(c.slots_open(), 1);
        // and the replacement's outcome is the one that decides
        let d = treat(&mut c, NoBenefit);
        assert_eq!(d.state, ClosedForFutility);
        assert_eq!(d.counts.enrolled, 9);
    }

    #[test]
    fn slots_count_patients_awaiting_outcome() {
        // given a new stage-1 cohort
        let mut c = drup();
        // when 8 patients get slots and none has an outcome yet
        for n in 1..=8 {
            assert_eq!(c.assign_slot().unwrap().enrolled, n);
        }
        // then no 9th slot is given
        assert_eq!(c.slots_open(), 0);
        assert!(c.assign_slot().is_err());
    }

    #[test]
    fn outcome_without_awaiting_patient_is_refused() {
        // given a cohort with no enrolled patient
        let mut c = drup();
        // when an outcome arrives
        // then it is refused and nothing changes
        assert_eq!(
            c.record_outcome(Benefit),
            Err(CohortError::NoPatientAwaitingOutcome)
        );
        assert_eq!(c.counts(), Counts::default());
    }

    #[test]
    fn positive_cohort_expands_to_the_cap() {
        // given a positive cohort of 5 evaluable patients, all with benefit (cap 40)
        let mut c = in_stage2();
        for _ in 0..4 {
            treat(&mut c, Benefit);
        }
        assert_eq!(c.state(), Positive);
        assert!(!c.may_enroll());
        // when the sponsor opens the expansion
        let d = c.open_expansion().unwrap();
        // then slots open up to the cap, and the 40th evaluable completes it
        assert_eq!(
            (d.previous, d.state, d.trigger),
            (Positive, Expansion, Trigger::ExpansionOpened)
        );
        assert_eq!(c.slots_open(), 35);
        let mut last = None;
        for _ in 0..35 {
            last = Some(treat(&mut c, NoBenefit));
        }
        assert_eq!(last.unwrap().state, ExpansionComplete);
        assert_eq!(c.counts().evaluable, 40);
        assert_eq!(c.slots_open(), 0);
    }

    #[test]
    fn expansion_only_from_positive() {
        // given a cohort in stage 1
        let mut c = drup();
        // when the expansion is opened
        // then it is refused
        assert_eq!(
            c.open_expansion(),
            Err(CohortError::ExpansionNotAllowed(Stage1))
        );
    }

    #[test]
    fn invalid_parameters_are_refused() {
        // given parameters with a cap below the stage-2 total, or a zero stage-1 threshold
        let low_cap = TwoStageParams::drup(20);
        let zero_threshold = TwoStageParams {
            stage1_min_benefits: 0,
            ..TwoStageParams::drup(24)
        };
        // when a cohort is created
        // then it is refused
        assert!(matches!(
            TwoStageCohort::new(low_cap),
            Err(CohortError::InvalidParameters(_))
        ));
        assert!(TwoStageCohort::new(zero_threshold).is_err());
        assert!(TwoStageCohort::new(TwoStageParams::drup(24)).is_ok());
    }

    mod outcome {
        use crate::{outcome_so_far, DatedResponse, OutcomeBasis, Response};
        use tl_schemas::Date;

        fn at(day: i32, response: Response) -> DatedResponse {
            DatedResponse {
                date: Date(1000 + day),
                response,
            }
        }
        const FIRST: Option<Date> = Some(Date(1000));

        #[test]
        fn stable_disease_for_16_weeks_is_benefit_at_that_scan() {
            // given stable disease at weeks 8 and 16 from the first dose
            let scans = [
                at(56, Response::StableDisease),
                at(112, Response::StableDisease),
            ];
            // when the outcome is asked after each scan
            // then it is unknown after the first and benefit after the second
            assert_eq!(outcome_so_far(FIRST, &scans[..1], false), None);
            assert_eq!(
                outcome_so_far(FIRST, &scans, false),
                Some(OutcomeBasis::Benefit)
            );
        }

        #[test]
        fn progression_before_benefit_is_no_benefit() {
            // given stable disease, then progression at week 14
            let scans = [
                at(56, Response::StableDisease),
                at(98, Response::ProgressiveDisease),
            ];
            // then the outcome is known at the progression, without waiting for the end
            assert_eq!(
                outcome_so_far(FIRST, &scans, false),
                Some(OutcomeBasis::Progression)
            );
            assert_eq!(
                OutcomeBasis::Progression.outcome(),
                crate::Outcome::NoBenefit
            );
        }

        #[test]
        fn end_of_treatment_decides_what_the_scans_did_not() {
            // given an end of treatment without any follow-up scan: not evaluable
            assert_eq!(
                outcome_so_far(FIRST, &[], true),
                Some(OutcomeBasis::EndedNotEvaluable)
            );
            // given no dose at all: not evaluable
            assert_eq!(
                outcome_so_far(None, &[at(56, Response::StableDisease)], true),
                Some(OutcomeBasis::EndedNotEvaluable)
            );
            // given one scan of stable disease at week 8, then the end (toxicity): evaluable,
            // no benefit
            let scans = [at(56, Response::StableDisease)];
            assert_eq!(outcome_so_far(FIRST, &scans, false), None);
            let ended = outcome_so_far(FIRST, &scans, true).unwrap();
            assert_eq!(ended, OutcomeBasis::EndedEvaluable);
            assert_eq!(ended.outcome(), crate::Outcome::NoBenefit);
            assert_eq!(
                OutcomeBasis::EndedNotEvaluable.outcome(),
                crate::Outcome::NotEvaluable
            );
        }
    }
}
