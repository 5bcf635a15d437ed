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
    /// The cohort's own analysis, when the cohort engine has closed it (see
    /// [`CohortAnalysis`]); `None` while it is still open at the end of the ledger.
    pub analysis: Option<CohortAnalysis>,
}

/// A closed cohort's figures at its own analysis, as a cohort's publication reports them:
/// from the records the ledger held when the cohort engine recorded the decision that closed
/// the cohort (stage 1 futile, stage 2 negative, or the expansion at its cap), not from the
/// trial's later data cut-off. A patient's records sequenced after that decision are left
/// out, so survival is censored at the last contact before it and the follow-up is the
/// cohort's own (corrections are applied as the whole ledger has them).
#[derive(Clone, Debug, PartialEq)]
pub struct CohortAnalysis {
    /// The day of the closing decision (the sequencer's ordering time, UTC).
    pub on: tl_schemas::Date,
    /// The closing status.
    pub status: CohortStatus,
    /// Treated patients by then.
    pub treated: u32,
    /// Of those, response-evaluable by then.
    pub evaluable: u32,
    /// Of those, with clinical benefit.
    pub benefits: u32,
    /// Of the evaluable, with a confirmed objective response.
    pub objective: u32,
    /// Kaplan-Meier median PFS of the treated, months (`None`: not reached).
    pub median_pfs_months: Option<f64>,
    /// Kaplan-Meier median OS of the treated, months (`None`: not reached).
    pub median_os_months: Option<f64>,
    /// Median follow-up by reverse Kaplan-Meier, months.
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

impl CohortTally {
    /// Counts one treated patient's outcome.
    fn add(&mut self, o: &tl_clinical::patient::PatientOutcome<()>) {
        self.treated += 1;
        self.pfs.push(o.pfs.value);
        self.os.push(o.os.value);
        if o.evaluable {
            self.evaluable += 1;
            self.benefits += u32::from(o.benefit.value);
            self.objective += u32::from(o.objective);
        }
    }

    /// Kaplan-Meier medians of PFS, OS and follow-up (reverse KM: OS with the censoring as
    /// the event), months.
    fn medians(&self) -> [Option<f64>; 3] {
        let reverse: Vec<tl_clinical::Observation> = self
            .os
            .iter()
            .map(|o| tl_clinical::Observation {
                time_days: o.time_days,
                event: !o.event,
            })
            .collect();
        [
            kaplan_meier(&self.pfs).median_months(),
            kaplan_meier(&self.os).median_months(),
            kaplan_meier(&reverse).median_months(),
        ]
    }
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
    /// The part of it the ledger held when the patient's cohort was closed (see
    /// [`CohortAnalysis`]); unused while the cohort is open.
    analysed: PatientHistory<()>,
}

/// What one patient record adds to the patient's history.
enum Fact {
    Dose(tl_schemas::Date),
    Assessment(ResponseAssessed),
    AeReported(AdverseEventReported),
    AeUpdated(AdverseEventUpdated),
    Ended(tl_schemas::Date, bool),
    Alive(tl_schemas::Date),
    Death(tl_schemas::Date),
}

impl Fact {
    fn apply(&self, h: &mut PatientHistory<()>) {
        match self {
            Fact::Dose(d) => h.dose(*d, ()),
            Fact::Assessment(a) => h.assessment(a.clone(), ()),
            Fact::AeReported(a) => h.ae_reported(
                a.ae_id,
                a.grade,
                a.attribution,
                !a.serious.is_empty(),
                a.expected,
                (),
            ),
            Fact::AeUpdated(a) => h.ae_updated(
                a.ae_id,
                a.grade,
                a.attribution,
                !a.serious.is_empty(),
                a.expected,
                (),
            ),
            Fact::Ended(d, progression) => h.treatment_ended(*d, *progression, ()),
            Fact::Alive(d) => h.seen_alive(*d, ()),
            Fact::Death(d) => h.death = Some((*d, ())),
        }
    }
}

/// A decoded record: partition, sequence number, ordering time, subject, envelope.
type Decoded = (
    u32,
    u64,
    tl_schemas::UtcMicros,
    Subject,
    tl_schemas::Envelope,
);

/// Corrected content, by the position of the record a correction cites.
type Corrections = HashMap<(u32, u64), Vec<u8>>;

/// Every record decoded once, and the corrected content by the position of the record each
/// correction cites (with the number of corrections).
fn decode_all(
    inputs: &[tl_ledger::verify::PartitionInput],
) -> Result<(Vec<Decoded>, Corrections, u32), FiguresError> {
    let mut records = Vec::new();
    let mut corrected = Corrections::new();
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
            let time = record.body.ordering_time;
            records.push((p as u32, seq as u64, time, sub.subject, sub.envelope));
        }
    }
    Ok((records, corrected, corrections))
}

/// Each cohort's first closing decision (stage 1 futile, stage 2 negative, expansion at its
/// cap): when it was sequenced, and the status.
fn closing_decisions(records: &[Decoded]) -> HashMap<Name, (tl_schemas::UtcMicros, CohortStatus)> {
    let mut closed = HashMap::new();
    for (_, _, time, subject, envelope) in records {
        let Subject::Cohort(c) = subject else {
            continue;
        };
        if envelope.event_type != ct::COHORT_STAGE_DECIDED || closed.contains_key(c) {
            continue;
        }
        if let Ok(d) = decode::<CohortStageDecided>(&envelope.payload) {
            if matches!(
                d.status,
                CohortStatus::ClosedForFutility
                    | CohortStatus::CompletedNegative
                    | CohortStatus::ExpansionComplete
            ) {
                closed.insert(c.clone(), (*time, d.status));
            }
        }
    }
    closed
}

/// The patient fact a record of type `t` carries, if any.
fn patient_fact(t: u16, payload: &[u8]) -> Result<Option<Fact>, String> {
    let e = |e: tl_schemas::CanonicalError| e.to_string();
    Ok(Some(match t {
        ct::DOSE_ADMINISTERED => Fact::Dose(
            decode::<DoseAdministered>(payload)
                .map_err(e)?
                .administered_on,
        ),
        ct::RESPONSE_ASSESSED => Fact::Assessment(decode(payload).map_err(e)?),
        ct::ADVERSE_EVENT_REPORTED => Fact::AeReported(decode(payload).map_err(e)?),
        ct::ADVERSE_EVENT_UPDATED => Fact::AeUpdated(decode(payload).map_err(e)?),
        ct::TREATMENT_ENDED => {
            let end = decode::<TreatmentEnded>(payload).map_err(e)?;
            Fact::Ended(end.ended_on, end.reason == EndReason::Progression)
        }
        ct::SURVIVAL_STATUS_RECORDED => Fact::Alive(
            decode::<SurvivalStatusRecorded>(payload)
                .map_err(e)?
                .last_known_alive,
        ),
        ct::DEATH_RECORDED => Fact::Death(decode::<DeathRecorded>(payload).map_err(e)?.died_on),
        _ => return Ok(None),
    }))
}

/// What reading the records gives before the per-patient derivation.
#[derive(Default)]
struct Read {
    events_by_type: BTreeMap<String, u64>,
    patients: BTreeMap<Name, PatientData>,
    screened: u32,
    catalogue: Option<CohortCatalogue>,
    definitions: Option<tl_clinical::Definitions>,
    status: HashMap<Name, CohortStatus>,
    slots: HashMap<Name, (u32, u32)>,
    deaths: u32,
}

/// Reads every record into the trial's catalogue, definitions, cohort statuses and slots, and
/// each patient's histories (the whole one, and the one up to their cohort's closing
/// decision in `closed`).
fn read_records(
    records: &[Decoded],
    corrected: &Corrections,
    closed: &HashMap<Name, (tl_schemas::UtcMicros, CohortStatus)>,
) -> Result<Read, FiguresError> {
    let mut r = Read::default();
    for (p, seq, time, subject, envelope) in records {
        let t = envelope.event_type;
        let name = ct::name(t)
            .or_else(|| event_type::core_name(t))
            .map_or_else(|| format!("type {t}"), str::to_string);
        *r.events_by_type.entry(name).or_default() += 1;
        let payload = corrected
            .get(&(*p, *seq))
            .unwrap_or(&envelope.payload)
            .as_slice();
        let bad = |detail: String| FiguresError::Undecodable {
            partition: *p,
            seq: *seq,
            detail,
        };
        match subject {
            Subject::Trial if t == event_type::PROTOCOL_AMENDED => {
                let a = decode::<ProtocolAmended>(payload).map_err(|e| bad(e.to_string()))?;
                if let Ok(Some((cat, conventions))) =
                    protocol_catalogue(a.document_format, &a.document)
                {
                    r.catalogue = Some(cat);
                    r.definitions = Some(tl_clinical::records::definitions(conventions.as_ref()));
                }
            }
            Subject::Trial => {}
            Subject::Cohort(c) => match t {
                ct::COHORT_STAGE_DECIDED => {
                    let d =
                        decode::<CohortStageDecided>(payload).map_err(|e| bad(e.to_string()))?;
                    r.status.insert(c.clone(), d.status);
                }
                ct::SLOT_ASSIGNED => r.slots.entry(c.clone()).or_default().0 += 1,
                ct::SLOT_REFUSED => r.slots.entry(c.clone()).or_default().1 += 1,
                _ => {}
            },
            Subject::Patient(who) => {
                let pd = r.patients.entry(who.clone()).or_default();
                match t {
                    ct::PATIENT_REGISTERED => r.screened += 1,
                    ct::PATIENT_ENROLLED => {
                        let e =
                            decode::<PatientEnrolled>(payload).map_err(|e| bad(e.to_string()))?;
                        pd.cohort = Some(e.cohort_id);
                    }
                    _ => {}
                }
                let Some(fact) = patient_fact(t, payload).map_err(bad)? else {
                    continue;
                };
                r.deaths += u32::from(matches!(fact, Fact::Death(_)));
                fact.apply(&mut pd.history);
                let cohort_closed = pd.cohort.as_ref().and_then(|c| closed.get(c));
                if cohort_closed.is_some_and(|(at, _)| time <= at) {
                    fact.apply(&mut pd.analysed);
                }
            }
        }
    }
    Ok(r)
}

/// Computes the figures of the embedded ledger in `ledger_dir`.
pub fn from_ledger(ledger_dir: &Path) -> Result<TrialFigures, FiguresError> {
    let inputs = tl_ledger::log::read_embedded_for_verify(ledger_dir)?;
    let (records, corrected, corrections) = decode_all(&inputs)?;
    let records_per_partition: Vec<u64> = inputs.iter().map(|i| i.records.len() as u64).collect();
    drop(inputs);
    let closed = closing_decisions(&records);
    let read = read_records(&records, &corrected, &closed)?;
    // The definitions of the catalogue in force at the end (one amendment's conventions apply
    // to every patient, as in the views).
    let definitions = read
        .definitions
        .unwrap_or(tl_clinical::Definitions::FORMAT_1);

    let mut f = TrialFigures {
        records: records.len() as u64,
        records_per_partition,
        events_by_type: read.events_by_type,
        screened: read.screened,
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
        deaths: read.deaths,
        corrections,
        cohorts: Vec::new(),
    };
    let mut per_cohort: HashMap<Name, CohortTally> = HashMap::new();
    let mut at_analysis: HashMap<Name, CohortTally> = HashMap::new();
    let mut pfs = Vec::new();
    let mut os = Vec::new();
    for pd in read.patients.values() {
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
        if o.evaluable {
            f.evaluable += 1;
            f.clinical_benefit += u32::from(o.benefit.value);
            f.objective_response += u32::from(o.objective);
            f.exceptional += u32::from(o.exceptional.value);
        }
        let cohort = pd
            .cohort
            .clone()
            .unwrap_or_else(|| Name::new("none").expect("valid"));
        if closed.contains_key(&cohort) {
            if let Some(a) = derive_with(&pd.analysed, &definitions) {
                at_analysis.entry(cohort.clone()).or_default().add(&a);
            }
        }
        per_cohort.entry(cohort).or_default().add(&o);
    }
    f.median_pfs_months = kaplan_meier(&pfs).median_months();
    f.median_os_months = kaplan_meier(&os).median_months();
    for def in read.catalogue.map(|c| c.cohorts).unwrap_or_default() {
        let (slots, refused) = read.slots.get(&def.cohort_id).copied().unwrap_or_default();
        let tally = per_cohort.remove(&def.cohort_id).unwrap_or_default();
        let [median_pfs_months, median_os_months, median_follow_up_months] = tally.medians();
        let analysis = closed.get(&def.cohort_id).map(|&(at, status)| {
            let t = at_analysis.remove(&def.cohort_id).unwrap_or_default();
            let [median_pfs_months, median_os_months, median_follow_up_months] = t.medians();
            CohortAnalysis {
                on: tl_schemas::Date(at.0.div_euclid(MICROS_PER_DAY) as i32),
                status,
                treated: t.treated,
                evaluable: t.evaluable,
                benefits: t.benefits,
                objective: t.objective,
                median_pfs_months,
                median_os_months,
                median_follow_up_months,
            }
        });
        f.cohorts.push(CohortFigures {
            cohort_id: def.cohort_id.to_string(),
            drug: def.drug,
            status: read
                .status
                .get(&def.cohort_id)
                .copied()
                .unwrap_or(CohortStatus::Stage1),
            slots,
            refused,
            treated: tally.treated,
            evaluable: tally.evaluable,
            benefits: tally.benefits,
            objective: tally.objective,
            median_pfs_months,
            median_os_months,
            median_follow_up_months,
            analysis,
        });
    }
    Ok(f)
}

/// Microseconds in a day (the ordering time's unit).
const MICROS_PER_DAY: i64 = 86_400_000_000;
