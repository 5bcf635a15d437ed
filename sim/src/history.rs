//! A treated patient's history: the latent course of the disease and everything an
//! investigator records about it, from the baseline scan to death or the data cut-off.
//!
//! The model, per patient:
//! * a latent *course* drawn from the cohort's true [`Activity`]: early drop-out (leaves
//!   before the first scan, not response-evaluable), progression, short or durable stable
//!   disease, partial or complete response;
//! * a latent tumour trajectory: the target sum relative to baseline follows
//!   `nadir + (1 - nadir) * exp(-t / tau)` until the latent progression day, when the next scan
//!   (scheduled about every 8 weeks, or unscheduled when progression is symptomatic) shows new
//!   lesions or growth of at least 20 % and 5 mm over the nadir;
//! * per-lesion measurements with measurement noise, scored with tl-clinical's RECIST 1.1; the
//!   investigator's reported response equals the computed one except in about 3 % of scans;
//! * survival: death after a post-progression interval; survival follow-up every 12 weeks;
//! * adverse events: mild ones by treatment length, a grade >= 3 treatment-related one with the
//!   drug's probability (some first reported at grade 2 and upgraded by a follow-up; a few
//!   unexpected, hence SUSARs; rarely fatal), events of the disease, dose interruptions,
//!   reductions and discontinuations caused by them.
//!
//! Everything is planned at enrolment, as dated [`Planned`] items the engine submits in time
//! order; items after the data cut-off are never submitted.

use crate::catalogue::{Activity, DrugProfile, DISEASE_TERMS, UNEXPECTED_TERMS};
use crate::rng::SimRng;
use tl_clinical::records as convert;
use tl_clinical::{overall_response, target_sum_mm10, Response};
use tl_schemas::clinical::*;
use tl_schemas::{Date, PartialDate};

/// Days between scheduled scans (8 weeks).
pub const SCAN_INTERVAL_DAYS: i32 = 56;
/// Days between survival follow-ups after treatment (12 weeks).
pub const SURVIVAL_INTERVAL_DAYS: i32 = 84;

/// The latent course of a treated patient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Course {
    /// Leaves treatment before the first scan: not response-evaluable.
    Dropout,
    /// Progresses by the first scan.
    Progression,
    /// Stable at the first scan, progresses before 16 weeks.
    ShortStable,
    /// Stable past 16 weeks.
    DurableStable,
    /// Partial response.
    Partial,
    /// Complete response.
    Complete,
}

/// Probabilities of the response-evaluable courses for a cohort's activity: complete, partial,
/// durable stable, short stable (progression takes the rest).
fn course_mix(activity: Activity) -> [f64; 4] {
    match activity {
        Activity::Inactive => [0.0, 0.02, 0.10, 0.30],
        Activity::Low => [0.015, 0.08, 0.22, 0.28],
        Activity::Moderate => [0.04, 0.21, 0.29, 0.25],
        Activity::High => [0.10, 0.48, 0.18, 0.10],
        Activity::MsiImmunotherapy => [0.10, 0.30, 0.25, 0.12],
    }
}

/// Share of treated patients who leave before the first scan.
const DROPOUT: f64 = 0.11;
/// Multiplier on each drug's grade >= 3 treatment-related AE probability.
const SEVERE_TOX_SCALE: f64 = 0.9;
/// Share of severe treatment-related AEs that lead to discontinuation.
const TOX_DISCONTINUATION: f64 = 0.3;

const DEATH_ORDER: u8 = 70;

/// What the engine submits for a patient: one event of the patient's history.
#[derive(Clone, Debug, PartialEq)]
pub enum PlannedEvent {
    /// A response assessment (the baseline scan when `baseline` is set).
    Assessment(ResponseAssessed),
    /// A dose; `typo` marks a dose recorded wrongly, corrected later under the same id.
    Dose {
        /// The dose as recorded.
        dose: DoseAdministered,
        /// Id of the later correction, if this record has a transcription error.
        typo: Option<u32>,
    },
    /// A correction of the dose recorded with this typo id.
    CorrectDose {
        /// The typo id.
        typo: u32,
        /// The right content.
        dose: DoseAdministered,
    },
    /// A dose modification, caused by adverse event `cause` if any.
    DoseModified {
        /// The modification.
        event: DoseModified,
        /// The AE id that caused it.
        cause: Option<u32>,
    },
    /// An adverse event's first report.
    AeReported(AdverseEventReported),
    /// A follow-up; `by_safety` when the safety officer files it.
    AeUpdated {
        /// The follow-up.
        event: AdverseEventUpdated,
        /// Filed by the safety officer rather than the investigator.
        by_safety: bool,
    },
    /// End of treatment.
    TreatmentEnded(TreatmentEnded),
    /// Survival follow-up.
    Survival(SurvivalStatusRecorded),
    /// Death.
    Death(DeathRecorded),
}

impl PlannedEvent {
    /// Same-day order: doses before modifications, AEs, scans, end of treatment, survival and
    /// death.
    pub fn order(&self) -> u8 {
        match self {
            PlannedEvent::Assessment(a) if a.baseline => 10,
            PlannedEvent::Dose { .. } => 20,
            PlannedEvent::CorrectDose { .. } => 21,
            PlannedEvent::AeReported(_) => 30,
            PlannedEvent::AeUpdated { .. } => 31,
            PlannedEvent::DoseModified { .. } => 35,
            PlannedEvent::Assessment(_) => 40,
            PlannedEvent::TreatmentEnded(_) => 50,
            PlannedEvent::Survival(_) => 60,
            PlannedEvent::Death(_) => DEATH_ORDER,
        }
    }
}

/// A dated item of a patient's plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    /// The day it is recorded.
    pub day: Date,
    /// What is recorded.
    pub event: PlannedEvent,
}

/// A planned treatment history and its latent truth.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    /// The latent course.
    pub course: Course,
    /// Date of the first dose.
    pub first_dose: Date,
    /// Date of death (latent; recorded only if before the cut-off).
    pub death: Date,
    /// The plan, in time and same-day order.
    pub items: Vec<Planned>,
}

#[derive(Clone, Debug)]
struct Lesion {
    nodal: bool,
    base_mm: f64,
    factor: f64,
}

/// How treatment ended, in days from the first dose.
#[derive(Clone, Copy, Debug, PartialEq)]
struct End {
    day: i32,
    reason: EndReason,
}

/// One scan: day from the first dose, whether it shows progression.
#[derive(Clone, Copy, Debug)]
struct Scan {
    day: i32,
    progression: bool,
}

/// The latent parameters of a course.
#[derive(Clone, Copy, Debug)]
struct Latent {
    course: Course,
    nadir: f64,
    tau: f64,
    progression_day: i32,
    dropout_day: i32,
    dropout_reason: EndReason,
    death_day: i32,
}

fn draw_latent(rng: &mut SimRng, activity: Activity) -> Latent {
    let course = if rng.chance(DROPOUT) {
        Course::Dropout
    } else {
        let mix = course_mix(activity);
        let rest = (1.0 - mix.iter().sum::<f64>()).max(0.0);
        match rng.weighted(&[mix[0], mix[1], mix[2], mix[3], rest]) {
            0 => Course::Complete,
            1 => Course::Partial,
            2 => Course::DurableStable,
            3 => Course::ShortStable,
            _ => Course::Progression,
        }
    };
    let (nadir, tau, progression_day) = match course {
        Course::Dropout => (1.05, 40.0, rng.range(20, 60) as i32),
        Course::Progression => (rng.uniform(0.95, 1.1), 40.0, rng.range(14, 50) as i32),
        Course::ShortStable => (
            rng.uniform(0.8, 1.06),
            rng.uniform(20.0, 60.0),
            rng.range(64, 106) as i32,
        ),
        Course::DurableStable => (
            rng.uniform(0.78, 1.06),
            rng.uniform(20.0, 60.0),
            125 + rng.lognormal(120.0, 0.95) as i32,
        ),
        Course::Partial => (
            rng.uniform(0.2, 0.58),
            rng.uniform(18.0, 40.0),
            150 + rng.lognormal(220.0, 0.95) as i32,
        ),
        Course::Complete => (
            0.0,
            rng.uniform(14.0, 30.0),
            280 + rng.lognormal(520.0, 0.9) as i32,
        ),
    };
    let dropout_day = rng.range(6, 48) as i32;
    let dropout_reason = match rng.weighted(&[0.5, 0.2, 0.2, 0.1]) {
        0 => EndReason::Progression,
        1 => EndReason::Death,
        2 => EndReason::Toxicity,
        _ => EndReason::InvestigatorDecision,
    };
    let death_day = match course {
        Course::Dropout if dropout_reason == EndReason::Death => dropout_day,
        Course::Dropout => dropout_day + rng.lognormal(60.0, 0.9) as i32 + 1,
        Course::Progression => progression_day + rng.lognormal(120.0, 0.9) as i32 + 1,
        _ => progression_day + rng.lognormal(150.0, 0.9) as i32 + 1,
    };
    Latent {
        course,
        nadir,
        tau,
        progression_day,
        dropout_day,
        dropout_reason,
        death_day,
    }
}

/// The scans and the end of treatment, given the latent course, a death day and a toxicity
/// discontinuation day.
fn timeline(
    rng: &mut SimRng,
    l: &Latent,
    death_day: i32,
    tox_stop: Option<i32>,
) -> (Vec<Scan>, Option<End>) {
    let mut scans = Vec::new();
    if l.course == Course::Dropout {
        let end = match tox_stop {
            Some(t) if t < l.dropout_day => End {
                day: t,
                reason: EndReason::Toxicity,
            },
            _ => End {
                day: l.dropout_day.min(death_day),
                reason: if death_day <= l.dropout_day {
                    EndReason::Death
                } else {
                    l.dropout_reason
                },
            },
        };
        return (scans, Some(end));
    }
    let mut previous = 0;
    for k in 1..=130 {
        let scheduled = SCAN_INTERVAL_DAYS * k + rng.range(-4, 4) as i32;
        let mut next = scheduled;
        if l.progression_day > previous && l.progression_day < scheduled && rng.chance(0.4) {
            next = (l.progression_day + rng.range(2, 10) as i32).min(scheduled);
        }
        if let Some(t) = tox_stop {
            if t < next {
                return (
                    scans,
                    Some(End {
                        day: t,
                        reason: EndReason::Toxicity,
                    }),
                );
            }
        }
        if death_day <= next {
            return (
                scans,
                Some(End {
                    day: death_day,
                    reason: EndReason::Death,
                }),
            );
        }
        let progression = next >= l.progression_day;
        scans.push(Scan {
            day: next,
            progression,
        });
        if progression {
            let end = (next + rng.range(0, 5) as i32).min(death_day - 1).max(next);
            return (
                scans,
                Some(End {
                    day: end,
                    reason: EndReason::Progression,
                }),
            );
        }
        previous = next;
    }
    (scans, None)
}

fn ratio_at(l: &Latent, day: i32) -> f64 {
    l.nadir + (1.0 - l.nadir) * (-f64::from(day) / l.tau).exp()
}

fn mm10(mm: f64) -> u32 {
    (mm * 10.0).round().max(0.0) as u32
}

/// An investigator's occasional disagreement with the measurements.
fn investigator(rng: &mut SimRng, computed: Response) -> Response {
    if !rng.chance(0.03) {
        return computed;
    }
    use Response::*;
    match computed {
        CompleteResponse => PartialResponse,
        PartialResponse => *rng.pick(&[StableDisease, CompleteResponse]),
        StableDisease => *rng.pick(&[PartialResponse, ProgressiveDisease]),
        ProgressiveDisease => StableDisease,
        NotEvaluable => StableDisease,
    }
}

/// Inputs that do not come from the latent course.
pub struct PatientPlanInput<'a> {
    /// The drug.
    pub drug: &'a DrugProfile,
    /// The drug's true activity in the patient's cohort.
    pub activity: Activity,
    /// Date of enrolment.
    pub enrolled_on: Date,
}

fn partial_onset(rng: &mut SimRng, d: Date) -> PartialDate {
    let (y, m, _) = d.ymd().unwrap_or((1970, 1, 1));
    match rng.weighted(&[0.9, 0.08, 0.02]) {
        0 => PartialDate::Full(d),
        1 => PartialDate::YearMonth(y as i16, m),
        _ => PartialDate::Year(y as i16),
    }
}

fn related(rng: &mut SimRng) -> Attribution {
    *rng.pick(&[
        Attribution::Possible,
        Attribution::Possible,
        Attribution::Probable,
        Attribution::Probable,
        Attribution::Definite,
    ])
}

/// Plans a treated patient's history from enrolment on.
///
/// The steps draw from `rng` in a fixed order (the order is part of the simulation's output:
/// one seed gives one ledger), so they run in this order and each draws only its own values.
pub fn plan(rng: &mut SimRng, input: &PatientPlanInput<'_>) -> History {
    let first_dose = Date(input.enrolled_on.0 + rng.range(4, 12) as i32);
    let baseline_day = Date(input.enrolled_on.0 + rng.range(0, 3) as i32);
    let c = draw_course(rng, input.drug, input.activity, first_dose);
    let mut items = Items::default();
    plan_assessments(rng, &c, baseline_day.0 - first_dose.0, &mut items);
    let effects = plan_adverse_events(rng, &c, &mut items);
    plan_doses(rng, &c, effects, &mut items);
    plan_end_of_treatment(rng, &c, &mut items);
    plan_death(rng, &c, &mut items);
    c.history(items)
}

/// A patient's drawn course: the latent parameters, the severe adverse event's draw, and the
/// scans and end of treatment that follow from them. Days count from the first dose.
struct Drawn<'a> {
    drug: &'a DrugProfile,
    first_dose: Date,
    l: Latent,
    /// The day of death, after a fatal adverse event if there is one.
    death_day: i32,
    /// Whether the patient has a severe treatment-related adverse event (its onset and grade
    /// are drawn either way).
    severe: bool,
    severe_onset: i32,
    severe_grade: u8,
    /// The severe event discontinues treatment.
    discontinue: bool,
    scans: Vec<Scan>,
    end: Option<End>,
}

impl Drawn<'_> {
    /// The date of day `d`.
    fn day(&self, d: i32) -> Date {
        Date(self.first_dose.0 + d)
    }

    /// The last day on treatment (exclusive); unbounded without an end.
    fn on_treatment_until(&self) -> i32 {
        self.end.map_or(i32::MAX, |e| e.day)
    }

    fn fatal_ae(&self) -> bool {
        self.severe && self.severe_grade == 5
    }

    /// The plan: nothing but AE follow-ups after the death record, in time and same-day order.
    fn history(&self, Items(mut items): Items) -> History {
        let death_report = items
            .iter()
            .find_map(|(d, e)| matches!(e, PlannedEvent::Death(_)).then_some(*d))
            .unwrap_or(i32::MAX);
        items.retain(|(d, e)| {
            matches!(e, PlannedEvent::Death(_) | PlannedEvent::AeUpdated { .. })
                || *d < death_report
                || (*d == death_report && e.order() < DEATH_ORDER)
        });
        items.sort_by_key(|(d, e)| (*d, e.order()));
        History {
            course: self.l.course,
            first_dose: self.first_dose,
            death: self.day(self.death_day),
            items: items
                .into_iter()
                .map(|(d, event)| Planned {
                    day: self.day(d),
                    event,
                })
                .collect(),
        }
    }
}

/// The plan's items so far, by day from the first dose.
#[derive(Default)]
struct Items(Vec<(i32, PlannedEvent)>);

impl Items {
    fn push(&mut self, day: i32, event: PlannedEvent) {
        self.0.push((day, event));
    }
}

/// Draws the latent course, the severe adverse event and what it does to the course, then the
/// scans and the end of treatment.
fn draw_course<'a>(
    rng: &mut SimRng,
    drug: &'a DrugProfile,
    activity: Activity,
    first_dose: Date,
) -> Drawn<'a> {
    let l = draw_latent(rng, activity);
    let mut death_day = l.death_day;
    let severe = rng.chance((drug.severe_tox * SEVERE_TOX_SCALE).min(0.95));
    // Where treatment would end without toxicity, on a copy of the stream (draws nothing).
    let (_, provisional_end) = timeline(&mut rng.clone(), &l, death_day, None);
    let provisional_end_day = provisional_end.map_or(720, |e| e.day);
    let severe_onset = rng.range(3, i64::from(provisional_end_day.clamp(4, 150))) as i32;
    let severe_grade: u8 = match rng.weighted(&[0.85, 0.13, 0.02]) {
        0 => 3,
        1 => 4,
        _ => 5,
    };
    let discontinue = severe && severe_grade < 5 && rng.chance(TOX_DISCONTINUATION);
    if severe && severe_grade == 5 {
        death_day = death_day.min(severe_onset + rng.range(0, 3) as i32);
    }
    let tox_stop = discontinue.then(|| severe_onset + rng.range(4, 10) as i32);
    let (scans, end) = timeline(rng, &l, death_day, tox_stop);
    Drawn {
        drug,
        first_dose,
        l,
        death_day,
        severe,
        severe_onset,
        severe_grade,
        discontinue,
        scans,
        end,
    }
}

/// The baseline assessment (on `baseline_day`, from the first dose) and one assessment per
/// scan, measured from the latent trajectory and scored with RECIST 1.1.
fn plan_assessments(rng: &mut SimRng, c: &Drawn<'_>, baseline_day: i32, items: &mut Items) {
    let n_targets = rng.range(1, 5) as usize;
    let lesions: Vec<Lesion> = (0..n_targets)
        .map(|_| {
            let nodal = rng.chance(0.25);
            Lesion {
                nodal,
                base_mm: if nodal {
                    rng.uniform(15.0, 35.0)
                } else {
                    rng.uniform(12.0, 70.0)
                },
                factor: (0.1 * rng.normal()).exp(),
            }
        })
        .collect();
    let non_target_at_baseline = if c.l.course == Course::Complete && rng.chance(0.5) {
        NonTargetStatus::NoneAtBaseline
    } else if rng.chance(0.65) {
        NonTargetStatus::Present
    } else {
        NonTargetStatus::NoneAtBaseline
    };
    let baseline_targets: Vec<TargetLesion> = lesions
        .iter()
        .enumerate()
        .map(|(i, les)| TargetLesion {
            lesion_id: i as u32 + 1,
            nodal: les.nodal,
            diameter_mm10: mm10(les.base_mm),
        })
        .collect();
    let baseline_sum = sum_of(&baseline_targets);
    items.push(
        baseline_day,
        PlannedEvent::Assessment(ResponseAssessed {
            assessed_on: c.day(baseline_day),
            baseline: true,
            targets: baseline_targets,
            new_lesions: false,
            non_target: non_target_at_baseline,
            investigator_response: OverallResponse::NotEvaluable,
        }),
    );
    let mut nadir = baseline_sum;
    for scan in &c.scans {
        let assessment = measure(rng, c, &lesions, non_target_at_baseline, *scan, nadir);
        let computed = overall_response(baseline_sum, nadir, &convert::assessment(&assessment));
        nadir = nadir.min(sum_of(&assessment.targets));
        let reported = investigator(rng, computed);
        items.push(
            scan.day,
            PlannedEvent::Assessment(ResponseAssessed {
                investigator_response: convert::overall(reported),
                ..assessment
            }),
        );
    }
}

/// The RECIST target sum of `targets`.
fn sum_of(targets: &[TargetLesion]) -> u64 {
    target_sum_mm10(&targets.iter().map(convert::target).collect::<Vec<_>>())
}

/// One scan's measurements (the investigator's response not yet filled in): the lesions on
/// the latent trajectory with noise, and at progression new lesions, unequivocal
/// non-target progression, or growth over the nadir.
fn measure(
    rng: &mut SimRng,
    c: &Drawn<'_>,
    lesions: &[Lesion],
    non_target_at_baseline: NonTargetStatus,
    scan: Scan,
    nadir: u64,
) -> ResponseAssessed {
    let r = ratio_at(&c.l, scan.day);
    let complete = c.l.course == Course::Complete && r < 0.12;
    let mut targets: Vec<TargetLesion> = lesions
        .iter()
        .enumerate()
        .map(|(i, les)| {
            let noise = (0.03 * rng.normal()).exp();
            let mm = les.base_mm * r.powf(les.factor) * noise;
            let mm = if complete {
                if les.nodal {
                    mm.min(9.4)
                } else {
                    0.0
                }
            } else {
                mm.max(3.0)
            };
            TargetLesion {
                lesion_id: i as u32 + 1,
                nodal: les.nodal,
                diameter_mm10: mm10(mm),
            }
        })
        .collect();
    let mut new_lesions = false;
    let mut non_target = match non_target_at_baseline {
        NonTargetStatus::Present if complete => NonTargetStatus::Absent,
        other => other,
    };
    if scan.progression {
        let present = non_target_at_baseline == NonTargetStatus::Present;
        match rng.weighted(&[0.45, 0.45, 0.10]) {
            0 => new_lesions = true,
            2 if present => non_target = NonTargetStatus::UnequivocalProgression,
            _ => grow_over_nadir(rng, &mut targets, nadir),
        }
        if non_target == NonTargetStatus::Absent {
            non_target = NonTargetStatus::Present;
        }
    }
    ResponseAssessed {
        assessed_on: c.day(scan.day),
        baseline: false,
        targets,
        new_lesions,
        non_target,
        investigator_response: OverallResponse::NotEvaluable,
    }
}

/// Scales the targets to a growth of at least 20 % and 6 mm over the nadir.
fn grow_over_nadir(rng: &mut SimRng, targets: &mut [TargetLesion], nadir: u64) {
    let current: u64 = targets.iter().map(|t| u64::from(t.diameter_mm10)).sum();
    let goal = (nadir as f64 * rng.uniform(1.25, 1.6)).max(nadir as f64 + 60.0);
    let scale = goal / (current.max(1) as f64);
    for t in targets {
        t.diameter_mm10 = ((f64::from(t.diameter_mm10.max(30))) * scale).round() as u32;
    }
}

/// What the adverse events do to dosing: interruptions `(start, resume, ae_id)`, reductions
/// `(day, ae_id)`, and the severe event's id (the cause of a discontinuation).
#[derive(Default)]
struct DoseEffects {
    interruptions: Vec<(i32, i32, u32)>,
    reductions: Vec<(i32, u32)>,
    severe_id: Option<u32>,
}

/// Numbers a patient's adverse events from 1.
#[derive(Default)]
struct AeIds(u32);

impl AeIds {
    fn next(&mut self) -> u32 {
        self.0 += 1;
        self.0
    }
}

/// The adverse events: mild ones by treatment length, the severe treatment-related one, and
/// sometimes an event of the disease.
fn plan_adverse_events(rng: &mut SimRng, c: &Drawn<'_>, items: &mut Items) -> DoseEffects {
    let mut ids = AeIds::default();
    let mut effects = DoseEffects::default();
    plan_mild_aes(rng, c, &mut ids, &mut effects, items);
    if c.severe {
        plan_severe_ae(rng, c, &mut ids, &mut effects, items);
    }
    plan_disease_ae(rng, c, &mut ids, items);
    effects
}

/// How long treatment lasts, for the number of adverse events (720 days without an end).
fn ae_window(c: &Drawn<'_>) -> i32 {
    c.end.map_or(720, |e| e.day).max(1)
}

/// Grade 1-2 events, most expected and related, most of them resolving; a few grade 2 events
/// on an oral drug reduce the dose.
fn plan_mild_aes(
    rng: &mut SimRng,
    c: &Drawn<'_>,
    ids: &mut AeIds,
    effects: &mut DoseEffects,
    items: &mut Items,
) {
    let duration = ae_window(c);
    let n_mild = rng.poisson(1.2 + 1.6 * f64::from(duration.min(180)) / 180.0);
    for _ in 0..n_mild {
        let onset = rng.range(1, i64::from(duration.max(2))) as i32;
        let awareness = onset + rng.range(0, 6) as i32;
        if awareness >= c.death_day {
            continue;
        }
        let id = ids.next();
        let grade = if rng.chance(0.6) { 1 } else { 2 };
        let attribution = if rng.chance(0.15) {
            Attribution::Unlikely
        } else {
            related(rng)
        };
        let term = *rng.pick(c.drug.tox.common_terms());
        items.push(
            awareness,
            PlannedEvent::AeReported(AdverseEventReported {
                ae_id: id,
                ctcae_term: term.into(),
                grade,
                serious: vec![],
                expected: true,
                attribution,
                onset: partial_onset(rng, c.day(onset)),
                awareness: c.day(awareness),
                outcome: AeOutcome::Ongoing,
            }),
        );
        if rng.chance(0.7) {
            let resolved = onset + rng.range(5, 45) as i32;
            let told = (resolved + rng.range(0, 10) as i32).max(awareness);
            items.push(
                told,
                PlannedEvent::AeUpdated {
                    event: AdverseEventUpdated {
                        ae_id: id,
                        grade,
                        serious: vec![],
                        expected: true,
                        attribution,
                        outcome: AeOutcome::Recovered,
                        awareness: c.day(told),
                        resolved_on: Some(c.day(resolved)),
                    },
                    by_safety: false,
                },
            );
        }
        if grade == 2
            && c.drug.route == Route::Oral
            && rng.chance(0.12)
            && awareness + 1 < c.on_treatment_until()
        {
            effects.reductions.push((awareness + 1, id));
        }
    }
}

/// The severe event's fixed facts, drawn when it is planned.
struct Severe {
    id: u32,
    grade: u8,
    term: &'static str,
    unexpected: bool,
    attribution: Attribution,
    serious: Vec<SeriousnessCriterion>,
}

/// The grade >= 3 treatment-related event: reported (some first at grade 2, then upgraded),
/// resolved unless fatal, and interrupting treatment unless it discontinued it.
fn plan_severe_ae(
    rng: &mut SimRng,
    c: &Drawn<'_>,
    ids: &mut AeIds,
    effects: &mut DoseEffects,
    items: &mut Items,
) {
    let id = ids.next();
    effects.severe_id = Some(id);
    let onset = c.severe_onset;
    let awareness = onset + rng.range(0, 3) as i32;
    let unexpected = rng.chance(0.08);
    let term = if unexpected {
        *rng.pick(UNEXPECTED_TERMS)
    } else {
        *rng.pick(c.drug.tox.severe_terms())
    };
    let attribution = related(rng);
    let serious = match c.severe_grade {
        5 => vec![SeriousnessCriterion::Death],
        4 => vec![
            SeriousnessCriterion::LifeThreatening,
            SeriousnessCriterion::Hospitalisation,
        ],
        _ if unexpected || rng.chance(0.5) => vec![SeriousnessCriterion::Hospitalisation],
        _ => vec![],
    };
    let upgraded = c.severe_grade < 5 && rng.chance(0.25);
    if awareness >= c.death_day && c.severe_grade != 5 {
        return;
    }
    let ae = Severe {
        id,
        grade: c.severe_grade,
        term,
        unexpected,
        attribution,
        serious,
    };
    let report_day = awareness.min(c.death_day.max(onset));
    items.push(
        report_day,
        PlannedEvent::AeReported(AdverseEventReported {
            ae_id: id,
            ctcae_term: ae.term.into(),
            grade: if upgraded { 2 } else { ae.grade },
            serious: if upgraded { vec![] } else { ae.serious.clone() },
            expected: !ae.unexpected,
            attribution: ae.attribution,
            onset: PartialDate::Full(c.day(onset)),
            awareness: c.day(report_day),
            outcome: if ae.grade == 5 {
                AeOutcome::Fatal
            } else {
                AeOutcome::Ongoing
            },
        }),
    );
    let mut last = report_day;
    if upgraded {
        last = report_day + rng.range(2, 7) as i32;
        let by_safety = !ae.serious.is_empty() && rng.chance(0.5);
        let update = severe_update(c, &ae, last, AeOutcome::Ongoing, None, by_safety);
        items.push(last, update);
    }
    if ae.grade < 5 {
        let resolved = last + rng.range(7, 40) as i32;
        let told = resolved + rng.range(0, 10) as i32;
        let sequelae = rng.chance(0.1);
        let by_safety = !ae.serious.is_empty() && rng.chance(0.5);
        let outcome = if sequelae {
            AeOutcome::RecoveredWithSequelae
        } else {
            AeOutcome::Recovered
        };
        let update = severe_update(c, &ae, told, outcome, Some(resolved), by_safety);
        items.push(told, update);
        if !c.discontinue && last < c.on_treatment_until() {
            let resume = last + rng.range(7, 21) as i32;
            effects.interruptions.push((last, resume, id));
        }
    }
}

/// A follow-up of the severe event at its full grade, on day `told`.
fn severe_update(
    c: &Drawn<'_>,
    ae: &Severe,
    told: i32,
    outcome: AeOutcome,
    resolved: Option<i32>,
    by_safety: bool,
) -> PlannedEvent {
    PlannedEvent::AeUpdated {
        event: AdverseEventUpdated {
            ae_id: ae.id,
            grade: ae.grade,
            serious: ae.serious.clone(),
            expected: !ae.unexpected,
            attribution: ae.attribution,
            outcome,
            awareness: c.day(told),
            resolved_on: resolved.map(|d| c.day(d)),
        },
        by_safety,
    }
}

/// Sometimes an event of the disease: unexpected, unrelated or unlikely to be related.
fn plan_disease_ae(rng: &mut SimRng, c: &Drawn<'_>, ids: &mut AeIds, items: &mut Items) {
    if !rng.chance(0.2) {
        return;
    }
    let onset = rng.range(1, i64::from(ae_window(c)) + 30) as i32;
    let awareness = onset + rng.range(0, 4) as i32;
    if awareness >= c.death_day {
        return;
    }
    let id = ids.next();
    let grade = if rng.chance(0.5) { 2 } else { 3 };
    items.push(
        awareness,
        PlannedEvent::AeReported(AdverseEventReported {
            ae_id: id,
            ctcae_term: (*rng.pick(DISEASE_TERMS)).into(),
            grade,
            serious: if grade == 3 && rng.chance(0.6) {
                vec![SeriousnessCriterion::Hospitalisation]
            } else {
                vec![]
            },
            expected: false,
            attribution: if rng.chance(0.6) {
                Attribution::Unrelated
            } else {
                Attribution::Unlikely
            },
            onset: partial_onset(rng, c.day(onset)),
            awareness: c.day(awareness),
            outcome: AeOutcome::Ongoing,
        }),
    );
}

/// A planned dose modification: day, action, reason, and the adverse event that caused it.
type Modification = (i32, DoseAction, String, Option<u32>);

/// Doses every interval while on treatment, skipping interruptions and stepping down at
/// reductions (to no less than half the starting dose), with the modifications recorded.
fn plan_doses(rng: &mut SimRng, c: &Drawn<'_>, effects: DoseEffects, items: &mut Items) {
    let DoseEffects {
        interruptions,
        mut reductions,
        severe_id,
    } = effects;
    let mut mods = interruption_modifications(c, &interruptions, &mut reductions);
    reductions.sort();
    let mut reduction_iter = reductions.iter().peekable();
    let mut level = c.drug.dose_milli;
    let mut cycle = 0u16;
    let mut typos = 0u32;
    let mut d = 0;
    while d < c.on_treatment_until() && d <= 3650 {
        while let Some(&&(r_day, id)) = reduction_iter.peek() {
            if r_day > d {
                break;
            }
            reduction_iter.next();
            let new = level * 3 / 4;
            if new >= c.drug.dose_milli / 2 {
                level = new;
                mods.push((
                    r_day,
                    DoseAction::Reduced {
                        new_dose_milli: level,
                    },
                    format!("dose level reduced after adverse event {id}"),
                    Some(id),
                ));
            }
        }
        cycle += 1;
        let interrupted = interruptions.iter().any(|&(s, r, _)| d >= s && d < r);
        if !interrupted && d < c.death_day {
            plan_dose(rng, c, level, cycle, d, &mut typos, items);
        }
        d += i32::from(c.drug.interval_days);
    }
    if let Some(e) = c.end {
        if e.reason == EndReason::Toxicity {
            mods.push((
                e.day,
                DoseAction::Discontinued,
                "unacceptable toxicity".into(),
                severe_id,
            ));
        }
    }
    for (m_day, action, reason, cause) in mods {
        if m_day < c.on_treatment_until() || matches!(action, DoseAction::Discontinued) {
            items.push(
                m_day,
                PlannedEvent::DoseModified {
                    event: DoseModified {
                        action,
                        reason,
                        modified_on: c.day(m_day),
                    },
                    cause,
                },
            );
        }
    }
}

/// The interruptions and resumptions; on an oral drug a resumption also reduces the dose
/// (added to `reductions`).
fn interruption_modifications(
    c: &Drawn<'_>,
    interruptions: &[(i32, i32, u32)],
    reductions: &mut Vec<(i32, u32)>,
) -> Vec<Modification> {
    let mut mods = Vec::new();
    for &(start, resume, id) in interruptions {
        mods.push((
            start,
            DoseAction::Interrupted,
            format!("adverse event {id} (grade >= 3)"),
            Some(id),
        ));
        if resume < c.on_treatment_until() {
            mods.push((
                resume,
                DoseAction::Resumed,
                "adverse event resolved".into(),
                Some(id),
            ));
            if c.drug.route == Route::Oral {
                reductions.push((resume, id));
            }
        }
    }
    mods
}

/// One dose on day `d`; rarely recorded with a tenfold typo and corrected later.
fn plan_dose(
    rng: &mut SimRng,
    c: &Drawn<'_>,
    level: u64,
    cycle: u16,
    d: i32,
    typos: &mut u32,
    items: &mut Items,
) {
    let dose = DoseAdministered {
        drug: c.drug.name.into(),
        dose_milli: level,
        unit: c.drug.unit,
        route: c.drug.route,
        cycle,
        day: 1,
        administered_on: c.day(d),
    };
    if rng.chance(0.004) {
        *typos += 1;
        let wrong = DoseAdministered {
            dose_milli: level * 10,
            ..dose.clone()
        };
        items.push(
            d,
            PlannedEvent::Dose {
                dose: wrong,
                typo: Some(*typos),
            },
        );
        items.push(
            d + rng.range(1, 14) as i32,
            PlannedEvent::CorrectDose { typo: *typos, dose },
        );
    } else {
        items.push(d, PlannedEvent::Dose { dose, typo: None });
    }
}

/// The end of treatment, if it ended, and survival follow-ups after it until death.
fn plan_end_of_treatment(rng: &mut SimRng, c: &Drawn<'_>, items: &mut Items) {
    let Some(e) = c.end else {
        return;
    };
    let detail = match (e.reason, c.l.course) {
        (EndReason::Progression, Course::Dropout) => {
            "clinical progression before the first evaluation"
        }
        (EndReason::Progression, _) => "radiological progression (RECIST 1.1)",
        (EndReason::Toxicity, _) => "unacceptable toxicity",
        (EndReason::Death, _) => "death on treatment",
        _ => "deterioration of general condition",
    };
    items.push(
        e.day,
        PlannedEvent::TreatmentEnded(TreatmentEnded {
            ended_on: c.day(e.day),
            reason: e.reason,
            detail: detail.into(),
        }),
    );
    let mut s = e.day + SURVIVAL_INTERVAL_DAYS + rng.range(-10, 10) as i32;
    while s < c.death_day && s < e.day + 3650 {
        items.push(
            s,
            PlannedEvent::Survival(SurvivalStatusRecorded {
                last_known_alive: c.day(s),
            }),
        );
        s += SURVIVAL_INTERVAL_DAYS + rng.range(-10, 10) as i32;
    }
}

/// The death record, reported up to 10 days after the death.
fn plan_death(rng: &mut SimRng, c: &Drawn<'_>, items: &mut Items) {
    let cause = if c.fatal_ae() {
        "fatal adverse event"
    } else {
        "progressive disease"
    };
    items.push(
        c.death_day + rng.range(0, 10) as i32,
        PlannedEvent::Death(DeathRecorded {
            died_on: c.day(c.death_day),
            cause: cause.to_string(),
            treatment_related: c.fatal_ae(),
        }),
    );
}
