#![forbid(unsafe_code)]
#![warn(missing_docs)]
//! # tl-clinical: the trial's clinical rules as pure functions
//!
//! The simulator, the projections and the deciding services must all reach the same clinical
//! conclusion from the same signed records, and an auditor must be able to re-derive it years
//! later. So every rule lives here once, as a pure function: no I/O, no clock (dates are passed
//! in), no randomness. Anything that comes from a signed record is an integer with its unit in the
//! name (`diameter_mm10`, `time_days`); floats appear only in *outputs* that are estimates
//! (Kaplan-Meier survival, months).
//!
//! ## Module map
//!
//! | module | rule |
//! |---|---|
//! | [`recist`] | RECIST 1.1 overall response at one assessment from per-lesion measurements; flagging disagreement with the investigator's reported response |
//! | [`response`] | best overall response with 28-day confirmation, clinical benefit (confirmed CR/PR or SD >= 16 weeks), exceptional responder (confirmed CR or PFS > 2 years) |
//! | [`safety`] | CTCAE v5 grade, seriousness criteria, attribution, the SUSAR decision and its 7/15-day report clock |
//! | [`clocks`] | a case's SUSAR clocks (7 days with an 8-day follow-up, 15 days, a new 7-day clock when a case becomes fatal) and the investigator's 24-hour SAE clock |
//! | [`ctcae_soc`] | the MedDRA system organ class CTCAE v5.0 lists for each known term |
//! | [`exposure`] | treatment exposure (first dose to end of treatment, or last dose plus a cycle), EAIR and EAER |
//! | [`safety_tables`] | the safety board's overview, AET02/AET04-style table by class, term and highest grade, and rates per group, every count with its patients and records |
//! | [`cohort`] | the DRUP two-stage rule (8 -> 24, then stage-3 expansion) as a state machine with explicit timing |
//! | [`survival`] | Kaplan-Meier step function and median, days-to-months |
//! | [`definitions`] | the analysis conventions a protocol states (landmark window, PFS convention, DoR start, exceptional-responder evidence); format 1 reads with today's |
//! | [`pfs`] | progression-free survival under the FDA (censor after two missed assessments) or EMA (every event) convention |
//! | [`interval`] | Clopper-Pearson exact confidence intervals for proportions (not adjusted for the two-stage design) |
//! | [`patient`] | one treated patient's derived outcome (best response, benefit, PFS, OS, duration of response, exceptional responder, severe AEs, disagreements), each value with the records behind it |
//! | [`records`] | conversions from the signed records' types (tl-schemas) to these inputs |
//!
//! The flow a patient's data takes through these modules: per-lesion measurements become one
//! [`Response`] per assessment ([`recist::overall_response`]); the dated responses become a
//! [`BestOverall`] ([`response::best_overall_response`]) and a [`ClinicalBenefit`]
//! ([`response::clinical_benefit`]); each patient's benefit outcome feeds the cohort's
//! [`TwoStageCohort`]; progression-free and overall survival times feed
//! [`survival::kaplan_meier`].
//!
//! Results carry the indices or counts of the inputs they were based on, so that a caller that
//! keeps its inputs in record order can cite the records behind every figure.

pub mod clocks;
pub mod cohort;
pub mod ctcae_soc;
pub mod definitions;
pub mod exposure;
pub mod interval;
pub mod patient;
pub mod pfs;
pub mod recist;
pub mod records;
pub mod response;
pub mod safety;
pub mod safety_tables;
pub mod survival;

pub use cohort::{
    outcome_so_far, outcome_so_far_with, CohortError, CohortState, Counts, Decision, Outcome,
    OutcomeBasis, Trigger, TwoStageCohort, TwoStageParams,
};
pub use definitions::{Definitions, PfsConvention};
pub use interval::{clopper_pearson, IntervalError, ProportionInterval};
pub use pfs::{missed_assessments, progression_free_survival, Pfs, PfsEnd};
pub use recist::{
    flag_disagreement, overall_response, overall_responses, target_sum_mm10, Assessment,
    NonTargetStatus, Response, ResponseDisagreement, TargetMeasurement,
};
pub use response::{
    best_overall_response, clinical_benefit, clinical_benefit_from, disease_control_days,
    exceptional_responder, exceptional_responder_evidenced, response_onset, BestOverall,
    ClinicalBenefit, DatedResponse, ExceptionalResponder,
};
pub use safety::{
    is_grade3_or_worse_treatment_related, is_susar, susar_decision, susar_due_date, Attribution,
    CtcaeGrade, GradeError, SeriousnessCriteria, SusarClock,
};
pub use survival::{days_to_months, kaplan_meier, KaplanMeier, KmStep, Observation};
