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
//! * **clinical benefit** ([`tl_clinical::clinical_benefit`]), **objective response** (best
//!   response CR or PR) and **exceptional responder** ([`tl_clinical::exceptional_responder`]:
//!   a confirmed CR or PFS over two years), among the response-evaluable;
//! * **PFS**: the first of a PD scan, an end of treatment for (clinical) progression, or death;
//!   censored at the last scan without progression (day 0 without one);
//! * **OS**: death, censored at the last day the patient was known alive (survival follow-up,
//!   scans, doses, end of treatment);
//! * **grade >= 3 treatment-related AE**: an adverse event whose worst reported grade is 3 or
//!   more and whose latest attribution is suspected (possible, probable or definite).
//!
//! The per-patient rules are [`tl_clinical::patient::derive`], the same derivation the
//! projections' dossier view uses, so the two agree by construction.
//!
//! Medians are Kaplan-Meier medians ([`tl_clinical::kaplan_meier`]) in months of 365.25 / 12 days.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use tl_clinical::kaplan_meier;
use tl_clinical::patient::{derive, PatientHistory};
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

impl TrialFigures {
    /// The six calibrated figures with their targets and tolerances.
    pub fn checks(&self) -> Vec<FigureCheck> {
        let c = |name, value, target, tolerance, unit| FigureCheck {
            name,
            value,
            target,
            tolerance,
            unit,
        };
        vec![
            c(
                "clinical benefit among response-evaluable",
                percent(self.clinical_benefit, self.evaluable),
                34.9,
                3.0,
                "%",
            ),
            c(
                "objective response among response-evaluable",
                percent(self.objective_response, self.evaluable),
                15.7,
                3.0,
                "%",
            ),
            c(
                "median PFS from first dose",
                self.median_pfs_months.unwrap_or(f64::NAN),
                3.4,
                1.0,
                "months",
            ),
            c(
                "median OS from first dose",
                self.median_os_months.unwrap_or(f64::NAN),
                8.2,
                1.0,
                "months",
            ),
            c(
                "grade >= 3 treatment-related AEs among treated",
                percent(self.severe_related_ae, self.treated),
                28.4,
                3.0,
                "%",
            ),
            c(
                "exceptional responders among response-evaluable",
                percent(self.exceptional, self.evaluable),
                7.0,
                2.0,
                "%",
            ),
        ]
    }
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
                    if a.document_format == DOCUMENT_FORMAT_COHORT_CATALOGUE {
                        catalogue = decode(&a.document).ok();
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
    let mut per_cohort: HashMap<Name, (u32, u32, u32)> = HashMap::new();
    let mut pfs = Vec::new();
    let mut os = Vec::new();
    for pd in patients.values() {
        f.susars += pd
            .history
            .adverse_events
            .values()
            .filter(|a| a.is_susar())
            .count() as u32;
        let Some(o) = derive(&pd.history) else {
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
        entry.0 += 1;
        if o.evaluable {
            f.evaluable += 1;
            entry.1 += 1;
            f.clinical_benefit += u32::from(o.benefit.value);
            entry.2 += u32::from(o.benefit.value);
            f.objective_response += u32::from(o.objective);
            f.exceptional += u32::from(o.exceptional.value);
        }
    }
    f.median_pfs_months = kaplan_meier(&pfs).median_months();
    f.median_os_months = kaplan_meier(&os).median_months();
    if let Some(cat) = catalogue {
        for def in cat.cohorts {
            let (slots, refused) = slots.get(&def.cohort_id).copied().unwrap_or_default();
            let (treated, evaluable, benefits) =
                per_cohort.get(&def.cohort_id).copied().unwrap_or_default();
            f.cohorts.push(CohortFigures {
                cohort_id: def.cohort_id.to_string(),
                drug: def.drug,
                status: status
                    .get(&def.cohort_id)
                    .copied()
                    .unwrap_or(CohortStatus::Stage1),
                slots,
                refused,
                treated,
                evaluable,
                benefits,
            });
        }
    }
    Ok(f)
}
