//! The trial-level figures, computed from a ledger's records with tl-clinical's rules.
//!
//! Nothing here reads the simulator's state: [`from_ledger`] reads the embedded ledger back
//! (without repairing or locking it), decodes every record, applies corrections (a `Corrected`
//! record replaces the content of the record it cites first), and derives, per patient:
//!
//! * **treated**: at least one `DoseAdministered`; PFS and OS run from the first dose;
//! * **response**: the RECIST 1.1 response of each follow-up scan computed from the per-lesion
//!   measurements ([`tl_clinical::overall_responses`], nadir tracked in date order), not the
//!   investigator's; disagreements with the investigator are counted;
//! * **response-evaluable**: a best overall response other than NE
//!   ([`tl_clinical::best_overall_response`], with 28-day confirmation);
//! * **clinical benefit** ([`tl_clinical::clinical_benefit_from`], with the landmark window
//!   of the protocol's definitions), **objective response** (best response CR or PR) and
//!   **exceptional responder** (a confirmed CR, or PFS over two years; under a format-2
//!   protocol shown by an assessment after day 730, and only with benefit), among the
//!   response-evaluable;
//! * **PFS**: the first of a PD scan, an end of treatment for (clinical) progression, or death,
//!   under the protocol's primary convention ([`tl_clinical::pfs`]);
//! * **OS**: death, censored at the last day the patient was known alive (survival follow-up,
//!   scans, doses, end of treatment);
//! * **grade >= 3 treatment-related AE**: an adverse event whose worst reported grade is 3 or
//!   more and whose latest attribution is suspected (possible, probable or definite).
//!
//! The definitions are those of the catalogue in force at the end of the ledger
//! ([`tl_clinical::records::definitions`]). The per-patient rules are
//! [`tl_clinical::patient::derive_with`], the same derivation the
//! projections' dossier view uses, so the two agree by construction.
//!
//! Medians are Kaplan-Meier medians ([`tl_clinical::kaplan_meier`]) in months of 365.25 / 12 days.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use tl_clinical::kaplan_meier;
use tl_clinical::patient::{derive_with, PatientHistory};
use tl_schemas::clinical::{clinical_type as ct, *};
use tl_schemas::events::{event_type, ProtocolAmended};
use tl_schemas::ids::Name;
use tl_schemas::{decode, Subject};

/// One cohort's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct CohortFigures {
    /// Cohort id.
    pub cohort_id: String,
    /// Drug or regimen.
    pub drug: String,
    /// Status from the cohort engine's latest `CohortStageDecided` (stage 1 without one).
    pub status: CohortStatus,
    /// Slots assigned.
    pub slots: u32,
    /// Slots refused.
    pub refused: u32,
    /// Treated patients enrolled in it.
    pub treated: u32,
    /// Of those, response-evaluable.
    pub evaluable: u32,
    /// Of those, with clinical benefit.
    pub benefits: u32,
    /// Of the evaluable, with a confirmed objective response.
    pub objective: u32,
    /// Kaplan-Meier median PFS of the treated, months (`None`: not reached).
    pub median_pfs_months: Option<f64>,
    /// Kaplan-Meier median OS of the treated, months (`None`: not reached).
    pub median_os_months: Option<f64>,
    /// Median follow-up by reverse Kaplan-Meier (OS with the censoring as the event), months.
    pub median_follow_up_months: Option<f64>,
}

/// Per cohort while reading: treated, evaluable, benefits, objective, PFS and OS observations.
#[derive(Default)]
struct CohortTally {
    treated: u32,
    evaluable: u32,
    benefits: u32,
    objective: u32,
    pfs: Vec<tl_clinical::Observation>,
    os: Vec<tl_clinical::Observation>,
}

/// The trial-level figures and a summary of the ledger they come from.
#[derive(Clone, Debug, PartialEq)]
pub struct TrialFigures {
    /// Records in the ledger.
    pub records: u64,
    /// Records per partition.
    pub records_per_partition: Vec<u64>,
    /// Records by event type name.
    pub events_by_type: BTreeMap<String, u64>,
    /// Patients registered (screened).
    pub screened: u32,
    /// Patients with at least one dose.
    pub treated: u32,
    /// Treated patients with a best overall response other than NE.
    pub evaluable: u32,
    /// Evaluable patients with clinical benefit.
    pub clinical_benefit: u32,
    /// Evaluable patients with a confirmed CR or PR.
    pub objective_response: u32,
    /// Evaluable patients who are exceptional responders.
    pub exceptional: u32,
    /// Treated patients with a grade >= 3 treatment-related adverse event.
    pub severe_related_ae: u32,
    /// Kaplan-Meier median PFS from the first dose, months.
    pub median_pfs_months: Option<f64>,
    /// Kaplan-Meier median OS from the first dose, months.
    pub median_os_months: Option<f64>,
    /// Follow-up scans where the investigator's response differs from the computed one.
    pub disagreements: u32,
    /// Adverse events that are SUSARs (suspected, serious, unexpected) as last reported.
    pub susars: u32,
    /// Deaths recorded.
    pub deaths: u32,
    /// `Corrected` records applied.
    pub corrections: u32,
    /// Per cohort, in catalogue order (the latest protocol version).
    pub cohorts: Vec<CohortFigures>,
}

/// One figure against its target (DESIGN.md section 1).
#[derive(Clone, Debug, PartialEq)]
pub struct FigureCheck {
    /// What it measures.
    pub name: &'static str,
    /// The value found (`NaN` when it cannot be computed).
    pub value: f64,
    /// The DRUP report's figure.
    pub target: f64,
    /// The accepted distance from the target.
    pub tolerance: f64,
    /// `%` or `months`.
    pub unit: &'static str,
}

impl FigureCheck {
    /// Whether the value is within the tolerance of the target.
    pub fn within(&self) -> bool {
        (self.value - self.target).abs() <= self.tolerance
    }
}

fn percent(n: u32, d: u32) -> f64 {
    if d == 0 {
        f64::NAN
    } else {
        100.0 * f64::from(n) / f64::from(d)
    }
}

/// One calibration target: the DRUP report's point estimate and the half-width of its 95 %
/// interval at the report's size (1,610 treated, 1,363 response-evaluable).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Target {
    /// What it measures.
    pub name: &'static str,
    /// The point estimate.
    pub target: f64,
    /// Half the width of its 95 % interval: from the published interval, or for the two rates
    /// published without one, 1.96 binomial standard errors at the report's denominator.
    pub half_width: f64,
    /// `%` or `months`.
    pub unit: &'static str,
}

/// The treated patients of the DRUP report, the size the half-widths hold for.
pub const REPORT_TREATED: u32 = 1610;

/// 1.96 binomial standard errors of `p` percent at `n`, in percent.
fn binomial_half_width(p: f64, n: f64) -> f64 {
    1.96 * 100.0 * (p / 100.0 * (1.0 - p / 100.0) / n).sqrt()
}

/// The six calibration targets (issue 14): CBR 34.9 % (32.2-37.6), ORR 15.7 % (13.7-17.9),
/// median PFS 3.4 months (its tolerance of 0.7 months taken as two half-widths), median OS 8.2
/// months (7.6-8.8), grade >= 3 treatment-related AEs 28.4 % of 1,610, exceptional responders
/// 7.0 % of 1,363.
pub fn targets() -> [Target; 6] {
    let t = |name, target, half_width, unit| Target {
        name,
        target,
        half_width,
        unit,
    };
    [
        t("clinical benefit among response-evaluable", 34.9, 2.7, "%"),
        t(
            "objective response among response-evaluable",
            15.7,
            2.1,
            "%",
        ),
        t("median PFS from first dose", 3.4, 0.35, "months"),
        t("median OS from first dose", 8.2, 0.6, "months"),
        t(
            "grade >= 3 treatment-related AEs among treated",
            28.4,
            binomial_half_width(28.4, 1610.0),
            "%",
        ),
        t(
            "exceptional responders among response-evaluable",
            7.0,
            binomial_half_width(7.0, 1363.0),
            "%",
        ),
    ]
}

/// How far from the report a trial of `treated` patients may land: a simulated trial of the
/// report's size has its sampling noise, so one run is accepted within two half-widths, scaled
/// by sqrt(1610 / treated) for a smaller run.
pub fn scale_for(treated: u32) -> f64 {
    (f64::from(REPORT_TREATED) / f64::from(treated.max(1))).sqrt()
}

impl TrialFigures {
    /// The six calibrated values, in the order of [`targets`].
    pub fn values(&self) -> [f64; 6] {
        [
            percent(self.clinical_benefit, self.evaluable),
            percent(self.objective_response, self.evaluable),
            self.median_pfs_months.unwrap_or(f64::NAN),
            self.median_os_months.unwrap_or(f64::NAN),
            percent(self.severe_related_ae, self.treated),
            percent(self.exceptional, self.evaluable),
        ]
    }

    /// The six calibrated figures against their targets, each within two half-widths scaled to
    /// this trial's size ([`scale_for`]).
    pub fn checks(&self) -> Vec<FigureCheck> {
        let scale = scale_for(self.treated);
        targets()
            .iter()
            .zip(self.values())
            .map(|(t, value)| FigureCheck {
                name: t.name,
                value,
                target: t.target,
                tolerance: 2.0 * t.half_width * scale,
                unit: t.unit,
            })
            .collect()
    }
}

/// The mean of each calibrated figure over several runs (seeds) of `treated` patients each,
/// against its target within half a half-width (scaled like [`TrialFigures::checks`]): the
/// model's own expectation must sit close to the report, not only one lucky seed.
pub fn mean_checks(runs: &[TrialFigures]) -> Vec<FigureCheck> {
    let treated = runs.iter().map(|f| f.treated).min().unwrap_or(0);
    let scale = scale_for(treated);
    targets()
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let sum: f64 = runs.iter().map(|f| f.values()[i]).sum();
            FigureCheck {
                name: t.name,
                value: sum / runs.len().max(1) as f64,
                target: t.target,
                tolerance: 0.5 * t.half_width * scale,
                unit: t.unit,
            }
        })
        .collect()
}

/// Why the figures could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum FiguresError {
    /// The ledger could not be read.
    #[error(transparent)]
    Ledger(#[from] tl_ledger::Error),
    /// A stored record does not decode (run `verify`).
    #[error("record {partition}/{seq} does not decode: {detail}")]
    Undecodable {
        /// Partition.
        partition: u32,
        /// Sequence number.
        seq: u64,
        /// Why.
        detail: String,
    },
}

#[derive(Default)]
struct PatientData {
    cohort: Option<Name>,
    /// The recorded history, in the shared derivation's form (no references needed here).
    history: PatientHistory<()>,
}

/// Computes the figures of the embedded ledger in `ledger_dir`.
pub fn from_ledger(ledger_dir: &Path) -> Result<TrialFigures, FiguresError> {
    let inputs = tl_ledger::log::read_embedded_for_verify(ledger_dir)?;
    // Decode everything once: (partition, seq, subject, type, payload).
    let mut records = Vec::new();
    let mut corrected: HashMap<(u32, u64), Vec<u8>> = HashMap::new();
    let mut corrections = 0;
    for (p, input) in inputs.iter().enumerate() {
        for (seq, bytes) in input.records.iter().enumerate() {
            let (record, _) =
                tl_ledger::codec::decode_record(bytes).map_err(|r| FiguresError::Undecodable {
                    partition: p as u32,
                    seq: seq as u64,
                    detail: r.to_string(),
                })?;
            let sub = record.body.submission.submission;
            if sub.envelope.event_type == ct::CORRECTED {
                if let (Ok(c), Some(original)) = (
                    decode::<Corrected>(&sub.envelope.payload),
                    sub.cites.first(),
                ) {
                    corrected.insert((original.partition, original.seq), c.payload);
                    corrections += 1;
                }
            }
            records.push((p as u32, seq as u64, sub.subject, sub.envelope));
        }
    }
    let records_per_partition: Vec<u64> = inputs.iter().map(|i| i.records.len() as u64).collect();
    let mut events_by_type: BTreeMap<String, u64> = BTreeMap::new();
    let mut patients: BTreeMap<Name, PatientData> = BTreeMap::new();
    let mut screened = 0;
    let mut catalogue: Option<CohortCatalogue> = None;
    // The definitions of the catalogue in force at the end (one amendment's conventions apply
    // to every patient, as in the views).
    let mut definitions = tl_clinical::Definitions::FORMAT_1;
    let mut status: HashMap<Name, CohortStatus> = HashMap::new();
    let mut slots: HashMap<Name, (u32, u32)> = HashMap::new();
    let mut deaths = 0;
    for (p, seq, subject, envelope) in &records {
        let t = envelope.event_type;
        let name = ct::name(t)
            .or_else(|| event_type::core_name(t))
            .map_or_else(|| format!("type {t}"), str::to_string);
        *events_by_type.entry(name).or_default() += 1;
        let payload = corrected
            .get(&(*p, *seq))
            .unwrap_or(&envelope.payload)
            .as_slice();
        let bad = |detail: String| FiguresError::Undecodable {
            partition: *p,
            seq: *seq,
            detail,
        };
        macro_rules! get {
            ($ty:ty) => {
                decode::<$ty>(payload).map_err(|e| bad(e.to_string()))?
            };
        }
        match subject {
            Subject::Trial => {
                if t == event_type::PROTOCOL_AMENDED {
                    let a = get!(ProtocolAmended);
                    if let Ok(Some((cat, conventions))) =
                        protocol_catalogue(a.document_format, &a.document)
                    {
                        catalogue = Some(cat);
                        definitions = tl_clinical::records::definitions(conventions.as_ref());
                    }
                }
            }
            Subject::Cohort(c) => match t {
                ct::COHORT_STAGE_DECIDED => {
                    status.insert(c.clone(), get!(CohortStageDecided).status);
                }
                ct::SLOT_ASSIGNED => slots.entry(c.clone()).or_default().0 += 1,
                ct::SLOT_REFUSED => slots.entry(c.clone()).or_default().1 += 1,
                _ => {}
            },
            Subject::Patient(who) => {
                let pd = patients.entry(who.clone()).or_default();
                match t {
                    ct::PATIENT_REGISTERED => screened += 1,
                    ct::PATIENT_ENROLLED => pd.cohort = Some(get!(PatientEnrolled).cohort_id),
                    ct::DOSE_ADMINISTERED => {
                        pd.history.dose(get!(DoseAdministered).administered_on, ())
                    }
                    ct::RESPONSE_ASSESSED => pd.history.assessment(get!(ResponseAssessed), ()),
                    ct::ADVERSE_EVENT_REPORTED => {
                        let a = get!(AdverseEventReported);
                        pd.history.ae_reported(
                            a.ae_id,
                            a.grade,
                            a.attribution,
                            !a.serious.is_empty(),
                            a.expected,
                            (),
                        );
                    }
                    ct::ADVERSE_EVENT_UPDATED => {
                        let a = get!(AdverseEventUpdated);
                        pd.history.ae_updated(
                            a.ae_id,
                            a.grade,
                            a.attribution,
                            !a.serious.is_empty(),
                            a.expected,
                            (),
                        );
                    }
                    ct::TREATMENT_ENDED => {
                        let e = get!(TreatmentEnded);
                        pd.history.treatment_ended(
                            e.ended_on,
                            e.reason == EndReason::Progression,
                            (),
                        );
                    }
                    ct::SURVIVAL_STATUS_RECORDED => pd
                        .history
                        .seen_alive(get!(SurvivalStatusRecorded).last_known_alive, ()),
                    ct::DEATH_RECORDED => {
                        pd.history.death = Some((get!(DeathRecorded).died_on, ()));
                        deaths += 1;
                    }
                    _ => {}
                }
            }
        }
    }

    let mut f = TrialFigures {
        records: records.len() as u64,
        records_per_partition,
        events_by_type,
        screened,
        treated: 0,
        evaluable: 0,
        clinical_benefit: 0,
        objective_response: 0,
        exceptional: 0,
        severe_related_ae: 0,
        median_pfs_months: None,
        median_os_months: None,
        disagreements: 0,
        susars: 0,
        deaths,
        corrections,
        cohorts: Vec::new(),
    };
    let mut per_cohort: HashMap<Name, CohortTally> = HashMap::new();
    let mut pfs = Vec::new();
    let mut os = Vec::new();
    for pd in patients.values() {
        f.susars += pd
            .history
            .adverse_events
            .values()
            .filter(|a| a.is_susar())
            .count() as u32;
        let Some(o) = derive_with(&pd.history, &definitions) else {
            continue;
        };
        f.treated += 1;
        f.severe_related_ae += u32::from(o.severe_related_ae.value);
        f.disagreements += o.disagreements.len() as u32;
        pfs.push(o.pfs.value);
        os.push(o.os.value);
        let cohort = pd
            .cohort
            .clone()
            .unwrap_or_else(|| Name::new("none").expect("valid"));
        let entry = per_cohort.entry(cohort).or_default();
        entry.treated += 1;
        entry.pfs.push(o.pfs.value);
        entry.os.push(o.os.value);
        if o.evaluable {
            f.evaluable += 1;
            entry.evaluable += 1;
            f.clinical_benefit += u32::from(o.benefit.value);
            entry.benefits += u32::from(o.benefit.value);
            f.objective_response += u32::from(o.objective);
            entry.objective += u32::from(o.objective);
            f.exceptional += u32::from(o.exceptional.value);
        }
    }
    f.median_pfs_months = kaplan_meier(&pfs).median_months();
    f.median_os_months = kaplan_meier(&os).median_months();
    if let Some(cat) = catalogue {
        for def in cat.cohorts {
            let (slots, refused) = slots.get(&def.cohort_id).copied().unwrap_or_default();
            let tally = per_cohort.remove(&def.cohort_id).unwrap_or_default();
            let reverse: Vec<tl_clinical::Observation> = tally
                .os
                .iter()
                .map(|o| tl_clinical::Observation {
                    time_days: o.time_days,
                    event: !o.event,
                })
                .collect();
            f.cohorts.push(CohortFigures {
                cohort_id: def.cohort_id.to_string(),
                drug: def.drug,
                status: status
                    .get(&def.cohort_id)
                    .copied()
                    .unwrap_or(CohortStatus::Stage1),
                slots,
                refused,
                treated: tally.treated,
                evaluable: tally.evaluable,
                benefits: tally.benefits,
                objective: tally.objective,
                median_pfs_months: kaplan_meier(&tally.pfs).median_months(),
                median_os_months: kaplan_meier(&tally.os).median_months(),
                median_follow_up_months: kaplan_meier(&reverse).median_months(),
            });
        }
    }
    Ok(f)
}
