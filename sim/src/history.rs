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

/// Which version of the simulation model plans a history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Model {
    /// The model of the format-1 era, kept draw for draw: a format-1 simulation reproduces the
    /// ledgers made before protocol format 2 byte for byte (the replay-protection test).
    Format1,
    /// The current model: the MSI-high nivolumab cohort calibrated to its publication (durable
    /// responses, long survival, the published dosing, and referrals of known dMMR/MSI
    /// patients while its expansion enrols), and progression after a complete response as a
    /// reappearing or new lesion at a plausible size.
    Current,
}

/// Probabilities of the response-evaluable courses for a cohort's activity: complete, partial,
/// durable stable, short stable (progression takes the rest).
fn course_mix_of(activity: Activity, model: Model) -> [f64; 4] {
    match (activity, model) {
        (_, Model::Format1) => course_mix(activity),
        (Activity::MsiImmunotherapy, Model::Current) => MSI_MIX,
        (_, Model::Current) => {
            // Calibrated over seeds 1-5 and 2016 under the format-2 definitions: the landmark
            // window (day 105) makes more stable disease benefit, so a tenth of durable stable
            // disease becomes short. Complete responses are exceptional by definition, and the
            // MSI cohort's durable responses (its publication's median PFS of 18 months) make
            // a larger share of the trial's 7.0 % of exceptional responders, so four fifths
            // of the other cohorts' complete responses are partial (with a fifth, the mean of
            // the seeds was 7.8 %; DRUP reports complete responses as rare).
            let [cr, pr, durable, short] = course_mix(activity);
            [
                0.2 * cr,
                pr + 0.8 * cr,
                0.9 * durable,
                short + 0.1 * durable,
            ]
        }
    }
}

/// The MSI-high nivolumab cohort's course mix in the current model (PMID 39024037: ORR 45 %,
/// clinical benefit 62 % of 130 evaluable).
const MSI_MIX: [f64; 4] = [0.10, 0.34, 0.16, 0.10];

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

fn draw_latent(rng: &mut SimRng, activity: Activity, model: Model) -> Latent {
    let course = if rng.chance(DROPOUT) {
        Course::Dropout
    } else {
        let mix = course_mix_of(activity, model);
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
    // Checkpoint inhibition in MSI-high tumours: responses and disease control last years
    // (median PFS 18 months, median OS not reached at 14.5 months of follow-up). Calibrated
    // on the cohort's analysis (sim/tests/calibration.rs): with responses of a median 800
    // days and stable disease of 450, the median PFS fell to 4-14 months in some seeds and the
    // median OS was reached at 16-29 months.
    let msi = activity == Activity::MsiImmunotherapy && model == Model::Current;
    let progression_day = match course {
        Course::Complete if msi => 400 + rng.lognormal(2400.0, 0.9) as i32,
        Course::Partial if msi => 200 + rng.lognormal(1400.0, 0.9) as i32,
        Course::DurableStable if msi => 125 + rng.lognormal(800.0, 0.9) as i32,
        // Short stable disease progresses a little later in the current model (median PFS).
        Course::ShortStable if model == Model::Current => progression_day + 8,
        _ => progression_day,
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
        // Survival after progression on nivolumab for dMMR/MSI disease that was controlled
        // at first (further lines, rechallenge): a median of 1200 days (420 before the
        // cohort was calibrated on its analysis).
        _ if msi => progression_day + rng.lognormal(1500.0, 0.9) as i32 + 1,
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
    /// The model version.
    pub model: Model,
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

/// The severe treatment-related adverse event a course may have, drawn before the timeline
/// because it can end treatment or life early.
#[derive(Clone, Copy, Debug)]
struct SevereAe {
    /// Whether the patient has one.
    happens: bool,
    /// Onset, in days from the first dose.
    onset: i32,
    /// Its worst grade (3, 4 or 5).
    grade: u8,
    /// Whether it leads to discontinuation.
    discontinue: bool,
}

impl SevereAe {
    fn fatal(&self) -> bool {
        self.happens && self.grade == 5
    }
}

/// The fixed frame of one patient's plan, shared by every planning step.
struct Frame<'a> {
    /// The drug and model.
    input: &'a PatientPlanInput<'a>,
    /// Day 0 of every relative day.
    first_dose: Date,
    /// The latent course.
    latent: Latent,
    /// Day of death, from the first dose (a fatal AE may bring it forward).
    death_day: i32,
    /// How treatment ends, if before the horizon.
    end: Option<End>,
}

impl Frame<'_> {
    fn day(&self, d: i32) -> Date {
        Date(self.first_dose.0 + d)
    }

    /// The first day off treatment (`i32::MAX` while on treatment).
    fn on_treatment_until(&self) -> i32 {
        self.end.map_or(i32::MAX, |e| e.day)
    }

    /// Days on treatment, for AE rates (720 when treatment does not end).
    fn duration(&self) -> i32 {
        self.end.map_or(720, |e| e.day).max(1)
    }
}

/// Planned items as (day from the first dose, event), before sorting.
type Items = Vec<(i32, PlannedEvent)>;

/// Dose changes that adverse events cause.
#[derive(Default)]
struct DoseChanges {
    /// (start, resume, AE id) of each interruption.
    interruptions: Vec<(i32, i32, u32)>,
    /// (day, AE id) of each reduction.
    reductions: Vec<(i32, u32)>,
}

/// Hands out a patient's AE ids, 1 upwards.
#[derive(Default)]
struct AeIds(u32);

impl AeIds {
    fn next(&mut self) -> u32 {
        self.0 += 1;
        self.0
    }
}

/// Plans a treated patient's history from enrolment on.
///
/// The steps draw from `rng` in a fixed order; changing that order changes every simulated
/// ledger, so a format-1 simulation would no longer reproduce the ledgers made before format 2.
pub fn plan(rng: &mut SimRng, input: &PatientPlanInput<'_>) -> History {
    let first_dose = Date(input.enrolled_on.0 + rng.range(4, 12) as i32);
    let baseline_day = Date(input.enrolled_on.0 + rng.range(0, 3) as i32);
    let latent = draw_latent(rng, input.activity, input.model);
    let (severe, death_day) = draw_severe_ae(rng, input.drug, &latent);
    let tox_stop = severe
        .discontinue
        .then(|| severe.onset + rng.range(4, 10) as i32);
    let (scans, end) = timeline(rng, &latent, death_day, tox_stop);
    let f = Frame {
        input,
        first_dose,
        latent,
        death_day,
        end,
    };

    let mut items = Items::new();
    plan_assessments(rng, &f, baseline_day, &scans, &mut items);
    let mut ids = AeIds::default();
    let mut changes = DoseChanges::default();
    plan_mild_aes(rng, &f, &mut ids, &mut changes, &mut items);
    let severe_id = plan_severe_ae(rng, &f, &severe, &mut ids, &mut changes, &mut items);
    plan_disease_ae(rng, &f, &mut ids, &mut items);
    plan_doses(rng, &f, changes, severe_id, &mut items);
    plan_end_and_death(rng, &f, severe.fatal(), &mut items);
    finish(&f, items)
}

/// Draws the severe treatment-related AE and returns it with the death day it may bring
/// forward.
fn draw_severe_ae(rng: &mut SimRng, drug: &DrugProfile, l: &Latent) -> (SevereAe, i32) {
    let mut death_day = l.death_day;
    let happens = rng.chance((drug.severe_tox * SEVERE_TOX_SCALE).min(0.95));
    // The onset falls within the treatment the course would have without it (a dry run on a
    // copy of the generator, so it draws nothing).
    let (_, provisional_end) = timeline(&mut rng.clone(), l, death_day, None);
    let provisional_end_day = provisional_end.map_or(720, |e| e.day);
    let onset = rng.range(3, i64::from(provisional_end_day.clamp(4, 150))) as i32;
    let grade: u8 = match rng.weighted(&[0.85, 0.13, 0.02]) {
        0 => 3,
        1 => 4,
        _ => 5,
    };
    let discontinue = happens && grade < 5 && rng.chance(TOX_DISCONTINUATION);
    if happens && grade == 5 {
        death_day = death_day.min(onset + rng.range(0, 3) as i32);
    }
    let severe = SevereAe {
        happens,
        onset,
        grade,
        discontinue,
    };
    (severe, death_day)
}

/// The baseline scan and every later scan, each with the investigator's response.
fn plan_assessments(
    rng: &mut SimRng,
    f: &Frame<'_>,
    baseline_day: Date,
    scans: &[Scan],
    items: &mut Items,
) {
    let lesions = draw_lesions(rng);
    let non_target_at_baseline = if f.latent.course == Course::Complete && rng.chance(0.5) {
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
    items.push((
        baseline_day.0 - f.first_dose.0,
        PlannedEvent::Assessment(ResponseAssessed {
            assessed_on: baseline_day,
            baseline: true,
            targets: baseline_targets,
            new_lesions: false,
            non_target: non_target_at_baseline,
            investigator_response: OverallResponse::NotEvaluable,
        }),
    ));
    let mut nadir = baseline_sum;
    for scan in scans {
        let assessment = scan_assessment(rng, f, &lesions, non_target_at_baseline, nadir, scan);
        let computed = overall_response(baseline_sum, nadir, &convert::assessment(&assessment));
        nadir = nadir.min(sum_of(&assessment.targets));
        let reported = investigator(rng, computed);
        items.push((
            scan.day,
            PlannedEvent::Assessment(ResponseAssessed {
                investigator_response: convert::overall(reported),
                ..assessment
            }),
        ));
    }
}

/// The target sum of a scan's lesions.
fn sum_of(targets: &[TargetLesion]) -> u64 {
    target_sum_mm10(&targets.iter().map(convert::target).collect::<Vec<_>>())
}

/// One to four target lesions, a quarter of them nodal.
fn draw_lesions(rng: &mut SimRng) -> Vec<Lesion> {
    let n_targets = rng.range(1, 5) as usize;
    (0..n_targets)
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
        .collect()
}

/// A later scan's measurements (its investigator response not yet filled in): the lesions
/// on the latent trajectory, and at progression what shows it.
fn scan_assessment(
    rng: &mut SimRng,
    f: &Frame<'_>,
    lesions: &[Lesion],
    non_target_at_baseline: NonTargetStatus,
    nadir: u64,
    scan: &Scan,
) -> ResponseAssessed {
    let r = ratio_at(&f.latent, scan.day);
    let complete = f.latent.course == Course::Complete && r < 0.12;
    let mut targets = scan_targets(rng, lesions, r, complete);
    let mut new_lesions = false;
    let mut non_target = match non_target_at_baseline {
        NonTargetStatus::Present if complete => NonTargetStatus::Absent,
        other => other,
    };
    if scan.progression && complete && f.input.model == Model::Current {
        // After a complete response, progression is a new lesion or the reappearance of
        // one target lesion at a plausible size (RECIST 1.1: a reappearing lesion is added
        // back to the sum; over a nadir of 0 any 5 mm is progression).
        if rng.chance(0.5) {
            new_lesions = true;
        } else {
            let i = rng.index(targets.len());
            // Large enough to be 20 % and 5 mm over any nadir of a complete response (at
            // most four nodes under 10 mm).
            let mm = if targets[i].nodal {
                rng.uniform(20.0, 30.0)
            } else {
                rng.uniform(10.0, 20.0)
            };
            targets[i].diameter_mm10 = mm10(mm);
        }
    } else if scan.progression {
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
        assessed_on: f.day(scan.day),
        baseline: false,
        targets,
        new_lesions,
        non_target,
        investigator_response: OverallResponse::NotEvaluable,
    }
}

/// Each lesion at ratio `r` of its baseline, with measurement noise; at a complete response,
/// gone (nodes under 10 mm).
fn scan_targets(rng: &mut SimRng, lesions: &[Lesion], r: f64, complete: bool) -> Vec<TargetLesion> {
    lesions
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
        .collect()
}

/// Scales the targets to growth of at least 20 % and 6 mm over the nadir.
fn grow_over_nadir(rng: &mut SimRng, targets: &mut [TargetLesion], nadir: u64) {
    let current: u64 = targets.iter().map(|t| u64::from(t.diameter_mm10)).sum();
    let goal = (nadir as f64 * rng.uniform(1.25, 1.6)).max(nadir as f64 + 60.0);
    let scale = goal / (current.max(1) as f64);
    for t in targets {
        t.diameter_mm10 = ((f64::from(t.diameter_mm10.max(30))) * scale).round() as u32;
    }
}

/// Grade 1-2 AEs, more the longer the treatment; most resolve, and a few grade 2 ones on an
/// oral drug lead to a dose reduction.
fn plan_mild_aes(
    rng: &mut SimRng,
    f: &Frame<'_>,
    ids: &mut AeIds,
    changes: &mut DoseChanges,
    items: &mut Items,
) {
    let drug = f.input.drug;
    let duration = f.duration();
    let n_mild = rng.poisson(1.2 + 1.6 * f64::from(duration.min(180)) / 180.0);
    for _ in 0..n_mild {
        let onset = rng.range(1, i64::from(duration.max(2))) as i32;
        let awareness = onset + rng.range(0, 6) as i32;
        if awareness >= f.death_day {
            continue;
        }
        let id = ids.next();
        let grade = if rng.chance(0.6) { 1 } else { 2 };
        let attribution = if rng.chance(0.15) {
            Attribution::Unlikely
        } else {
            related(rng)
        };
        let term = *rng.pick(drug.tox.common_terms());
        items.push((
            awareness,
            PlannedEvent::AeReported(AdverseEventReported {
                ae_id: id,
                ctcae_term: term.into(),
                grade,
                serious: vec![],
                expected: true,
                attribution,
                onset: partial_onset(rng, f.day(onset)),
                awareness: f.day(awareness),
                outcome: AeOutcome::Ongoing,
            }),
        ));
        if rng.chance(0.7) {
            let resolved = onset + rng.range(5, 45) as i32;
            let told = (resolved + rng.range(0, 10) as i32).max(awareness);
            items.push((
                told,
                PlannedEvent::AeUpdated {
                    event: AdverseEventUpdated {
                        ae_id: id,
                        grade,
                        serious: vec![],
                        expected: true,
                        attribution,
                        outcome: AeOutcome::Recovered,
                        awareness: f.day(told),
                        resolved_on: Some(f.day(resolved)),
                    },
                    by_safety: false,
                },
            ));
        }
        if grade == 2
            && drug.route == Route::Oral
            && rng.chance(0.12)
            && awareness + 1 < f.on_treatment_until()
        {
            changes.reductions.push((awareness + 1, id));
        }
    }
}

/// The severe treatment-related AE's report, its upgrade and resolution, and the
/// interruption it causes; returns its id.
fn plan_severe_ae(
    rng: &mut SimRng,
    f: &Frame<'_>,
    severe: &SevereAe,
    ids: &mut AeIds,
    changes: &mut DoseChanges,
    items: &mut Items,
) -> Option<u32> {
    if !severe.happens {
        return None;
    }
    let id = ids.next();
    let onset = severe.onset;
    let awareness = onset + rng.range(0, 3) as i32;
    let unexpected = rng.chance(0.08);
    let term = if unexpected {
        *rng.pick(UNEXPECTED_TERMS)
    } else {
        *rng.pick(f.input.drug.tox.severe_terms())
    };
    let attribution = related(rng);
    let serious = match severe.grade {
        5 => vec![SeriousnessCriterion::Death],
        4 => vec![
            SeriousnessCriterion::LifeThreatening,
            SeriousnessCriterion::Hospitalisation,
        ],
        _ if unexpected || rng.chance(0.5) => vec![SeriousnessCriterion::Hospitalisation],
        _ => vec![],
    };
    let upgraded = severe.grade < 5 && rng.chance(0.25);
    if awareness >= f.death_day && severe.grade != 5 {
        return Some(id);
    }
    let update =
        |awareness: i32, outcome: AeOutcome, resolved_on: Option<i32>| AdverseEventUpdated {
            ae_id: id,
            grade: severe.grade,
            serious: serious.clone(),
            expected: !unexpected,
            attribution,
            outcome,
            awareness: f.day(awareness),
            resolved_on: resolved_on.map(|d| f.day(d)),
        };
    let first_grade = if upgraded { 2 } else { severe.grade };
    let report_day = awareness.min(f.death_day.max(onset));
    items.push((
        report_day,
        PlannedEvent::AeReported(AdverseEventReported {
            ae_id: id,
            ctcae_term: term.into(),
            grade: first_grade,
            serious: if upgraded { vec![] } else { serious.clone() },
            expected: !unexpected,
            attribution,
            onset: PartialDate::Full(f.day(onset)),
            awareness: f.day(report_day),
            outcome: if severe.grade == 5 {
                AeOutcome::Fatal
            } else {
                AeOutcome::Ongoing
            },
        }),
    ));
    let mut last = report_day;
    if upgraded {
        last = report_day + rng.range(2, 7) as i32;
        let by_safety = !serious.is_empty() && rng.chance(0.5);
        items.push((
            last,
            PlannedEvent::AeUpdated {
                event: update(last, AeOutcome::Ongoing, None),
                by_safety,
            },
        ));
    }
    if severe.grade < 5 {
        let resolved = last + rng.range(7, 40) as i32;
        let told = resolved + rng.range(0, 10) as i32;
        let outcome = if rng.chance(0.1) {
            AeOutcome::RecoveredWithSequelae
        } else {
            AeOutcome::Recovered
        };
        let by_safety = !serious.is_empty() && rng.chance(0.5);
        items.push((
            told,
            PlannedEvent::AeUpdated {
                event: update(told, outcome, Some(resolved)),
                by_safety,
            },
        ));
        if !severe.discontinue && last < f.on_treatment_until() {
            let resume = last + rng.range(7, 21) as i32;
            changes.interruptions.push((last, resume, id));
        }
    }
    Some(id)
}

/// An event of the disease itself (one patient in five), unrelated or unlikely related.
fn plan_disease_ae(rng: &mut SimRng, f: &Frame<'_>, ids: &mut AeIds, items: &mut Items) {
    if !rng.chance(0.2) {
        return;
    }
    let onset = rng.range(1, i64::from(f.duration()) + 30) as i32;
    let awareness = onset + rng.range(0, 4) as i32;
    if awareness >= f.death_day {
        return;
    }
    let id = ids.next();
    let grade = if rng.chance(0.5) { 2 } else { 3 };
    items.push((
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
            onset: partial_onset(rng, f.day(onset)),
            awareness: f.day(awareness),
            outcome: AeOutcome::Ongoing,
        }),
    ));
}

/// A dose modification before it is planned: day, action, reason and the AE behind it.
type Modification = (i32, DoseAction, String, Option<u32>);

/// Every dose until treatment ends, with interruptions, reductions, the rare transcription
/// error and its correction, and the modifications themselves.
fn plan_doses(
    rng: &mut SimRng,
    f: &Frame<'_>,
    mut changes: DoseChanges,
    severe_id: Option<u32>,
    items: &mut Items,
) {
    let drug = f.input.drug;
    let on_treatment_until = f.on_treatment_until();
    let mut mods = interruption_mods(drug, on_treatment_until, &mut changes);
    changes.reductions.sort();
    let mut reduction_iter = changes.reductions.iter().peekable();
    let nivolumab_flat = f.input.model == Model::Current && drug.name == "nivolumab";
    let mut level = drug.dose_milli;
    let mut k = 0u16;
    let mut typos = 0u32;
    let mut d = 0;
    while d < on_treatment_until && d <= 3650 {
        while let Some(&&(r_day, id)) = reduction_iter.peek() {
            if r_day > d {
                break;
            }
            reduction_iter.next();
            let new = level * 3 / 4;
            if new >= drug.dose_milli / 2 {
                level = new;
                let action = DoseAction::Reduced {
                    new_dose_milli: level,
                };
                let reason = format!("dose level reduced after adverse event {id}");
                mods.push((r_day, action, reason, Some(id)));
            }
        }
        k += 1;
        let interrupted = changes
            .interruptions
            .iter()
            .any(|&(s, r, _)| d >= s && d < r);
        if !interrupted && d < f.death_day {
            let dose = DoseAdministered {
                drug: drug.name.into(),
                dose_milli: level,
                unit: drug.unit,
                route: drug.route,
                cycle: k,
                day: 1,
                administered_on: f.day(d),
            };
            plan_dose(rng, d, dose, &mut typos, items);
        }
        if nivolumab_flat && k == 4 {
            // Nivolumab as published (PMID 39024037): 240 mg every 2 weeks four times, then
            // 480 mg every 4 weeks.
            level = 480_000;
        }
        d += if nivolumab_flat && k >= 4 {
            28
        } else {
            i32::from(drug.interval_days)
        };
    }
    if let Some(e) = f.end {
        if e.reason == EndReason::Toxicity {
            let reason = "unacceptable toxicity".into();
            mods.push((e.day, DoseAction::Discontinued, reason, severe_id));
        }
    }
    for (m_day, action, reason, cause) in mods {
        if m_day < on_treatment_until || matches!(action, DoseAction::Discontinued) {
            items.push((
                m_day,
                PlannedEvent::DoseModified {
                    event: DoseModified {
                        action,
                        reason,
                        modified_on: f.day(m_day),
                    },
                    cause,
                },
            ));
        }
    }
}

/// The interruptions and resumptions; a resumption on an oral drug also reduces the dose.
fn interruption_mods(
    drug: &DrugProfile,
    on_treatment_until: i32,
    changes: &mut DoseChanges,
) -> Vec<Modification> {
    let mut mods = Vec::new();
    for &(start, resume, id) in &changes.interruptions {
        let reason = format!("adverse event {id} (grade >= 3)");
        mods.push((start, DoseAction::Interrupted, reason, Some(id)));
        if resume < on_treatment_until {
            let reason = "adverse event resolved".into();
            mods.push((resume, DoseAction::Resumed, reason, Some(id)));
            if drug.route == Route::Oral {
                changes.reductions.push((resume, id));
            }
        }
    }
    mods
}

/// One dose; rarely recorded at ten times the dose and corrected under the same typo id.
fn plan_dose(rng: &mut SimRng, d: i32, dose: DoseAdministered, typos: &mut u32, items: &mut Items) {
    if !rng.chance(0.004) {
        items.push((d, PlannedEvent::Dose { dose, typo: None }));
        return;
    }
    *typos += 1;
    let wrong = DoseAdministered {
        dose_milli: dose.dose_milli * 10,
        ..dose.clone()
    };
    items.push((
        d,
        PlannedEvent::Dose {
            dose: wrong,
            typo: Some(*typos),
        },
    ));
    items.push((
        d + rng.range(1, 14) as i32,
        PlannedEvent::CorrectDose { typo: *typos, dose },
    ));
}

/// The end of treatment, survival follow-ups every 12 weeks after it, and death.
fn plan_end_and_death(rng: &mut SimRng, f: &Frame<'_>, fatal_ae: bool, items: &mut Items) {
    if let Some(e) = f.end {
        let detail = match (e.reason, f.latent.course) {
            (EndReason::Progression, Course::Dropout) => {
                "clinical progression before the first evaluation"
            }
            (EndReason::Progression, _) => "radiological progression (RECIST 1.1)",
            (EndReason::Toxicity, _) => "unacceptable toxicity",
            (EndReason::Death, _) => "death on treatment",
            _ => "deterioration of general condition",
        };
        items.push((
            e.day,
            PlannedEvent::TreatmentEnded(TreatmentEnded {
                ended_on: f.day(e.day),
                reason: e.reason,
                detail: detail.into(),
            }),
        ));
        let mut s = e.day + SURVIVAL_INTERVAL_DAYS + rng.range(-10, 10) as i32;
        while s < f.death_day && s < e.day + 3650 {
            items.push((
                s,
                PlannedEvent::Survival(SurvivalStatusRecorded {
                    last_known_alive: f.day(s),
                }),
            ));
            s += SURVIVAL_INTERVAL_DAYS + rng.range(-10, 10) as i32;
        }
    }
    let cause = if fatal_ae {
        "fatal adverse event"
    } else {
        "progressive disease"
    };
    items.push((
        f.death_day + rng.range(0, 10) as i32,
        PlannedEvent::Death(DeathRecorded {
            died_on: f.day(f.death_day),
            cause: cause.into(),
            treatment_related: fatal_ae,
        }),
    ));
}

/// Drops what would follow the death record (AE follow-ups excepted) and sorts the plan in
/// time and same-day order.
fn finish(f: &Frame<'_>, mut items: Items) -> History {
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
        course: f.latent.course,
        first_dose: f.first_dose,
        death: f.day(f.death_day),
        items: items
            .into_iter()
            .map(|(d, event)| Planned {
                day: f.day(d),
                event,
            })
            .collect(),
    }
}
