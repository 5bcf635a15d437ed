//! The dossier's figures: pure functions of the trial model (limited by the clinical cut-off)
//! and the scope. Every figure is computed from the per-patient rows, which keep the records
//! they rest on, so `verify-dossier` recomputes the same bytes from the evidence alone.
//!
//! Groups, leading with what a single-arm assessment weighs first (response, then durability,
//! then time to event): each cohort, each tumour type of a pan-tumour cohort, and the whole
//! dossier ("trial": every treated patient of the cohorts in scope).

use crate::esmo::{self, EsmoGrade};
use crate::km::{self, KmSummary, DAYS_PER_MONTH};
use crate::Scope;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use tl_clinical::{clopper_pearson, ProportionInterval, Response};
use tl_projections::facts::{self, PatientFacts};
use tl_projections::model::TrialModel;
use tl_schemas::clinical::{clinical_type as ct, CohortStatus, ResponseAssessed};
use tl_schemas::ids::Name;
use tl_schemas::{decode, Reference};

/// A record as the dossier cites it: `partition/seq/record-hash-hex`.
pub fn cite(r: &Reference) -> String {
    format!("{}/{}/{}", r.partition, r.seq, r.hash.to_hex())
}

/// The treated patients of one cohort, as the figures read them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PatientRow {
    /// Pseudonym.
    pub patient: String,
    /// Cohort enrolled in.
    pub cohort: String,
    /// Tumour type at registration.
    pub tumour_type: String,
    /// First dose (day 0).
    pub first_dose: String,
    /// Best overall response (`CR`, `PR`, `SD`, `PD`, `NE`).
    pub best_response: &'static str,
    /// Response-evaluable.
    pub evaluable: bool,
    /// Clinical benefit.
    pub benefit: bool,
    /// Objective response (confirmed CR or PR).
    pub objective: bool,
    /// Exceptional responder.
    pub exceptional: bool,
    /// PFS days (primary convention) and whether it ended in an event.
    pub pfs_days: u32,
    /// PFS event.
    pub pfs_event: bool,
    /// OS days.
    pub os_days: u32,
    /// OS event (death).
    pub os_event: bool,
    /// Duration of response, days (responders).
    pub dor_days: Option<u32>,
    /// Duration of response ended in an event.
    pub dor_event: Option<bool>,
    /// Days from the first dose to the first response scan of the confirmed response.
    pub response_onset_days: Option<u32>,
    /// Doses recorded.
    pub doses: u32,
    /// Days from the first to the last dose.
    pub treatment_days: u32,
    /// Treatment ended (on or before the cut-off).
    pub treatment_ended: bool,
    /// % change of the target-lesion sum from baseline at each follow-up scan: (day, tenths of
    /// a percent, rounded half away from zero).
    pub target_change_permille: Vec<(u32, i64)>,
    /// The best (lowest) % change, tenths of a percent.
    pub best_target_change_permille: Option<i64>,
    /// Adverse events reported.
    pub adverse_events: u32,
    /// Adverse events of worst grade 3 or more.
    pub grade3plus_events: u32,
    /// Serious adverse events.
    pub serious_events: u32,
    /// With a grade >= 3 treatment-related adverse event.
    pub grade3plus_related: bool,
    /// Died (on or before the cut-off).
    pub died: bool,
    /// Scans where the investigator's response differs from RECIST 1.1 computed from the
    /// measurements: (date, reported, computed, record).
    pub disagreements: Vec<(String, &'static str, &'static str, String)>,
    /// The records behind the best response, benefit, PFS, OS and exceptional status.
    pub evidence: Vec<String>,
}

/// Counts of best overall response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BorCounts {
    /// Complete responses.
    pub cr: u32,
    /// Partial responses.
    pub pr: u32,
    /// Stable disease.
    pub sd: u32,
    /// Progressive disease.
    pub pd: u32,
    /// Not evaluable.
    pub ne: u32,
}

/// x of n.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Count {
    /// Count.
    pub count: u32,
    /// Of.
    pub of: u32,
}

/// Exposure: doses and time on treatment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Exposure {
    /// Doses recorded.
    pub doses: u32,
    /// Median days from the first to the last dose (lower middle for even counts).
    pub median_treatment_days: Option<u32>,
    /// Longest.
    pub max_treatment_days: Option<u32>,
    /// Treatment ended.
    pub ended: u32,
    /// Still on treatment at the cut-off.
    pub ongoing: u32,
}

/// Adverse-event summary of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SafetySummary {
    /// Adverse events.
    pub events: u32,
    /// Patients with any adverse event.
    pub patients_any: u32,
    /// Adverse events of grade >= 3.
    pub grade3plus_events: u32,
    /// Serious adverse events.
    pub serious_events: u32,
    /// Patients with a grade >= 3 treatment-related adverse event.
    pub patients_grade3plus_related: u32,
    /// Deaths.
    pub deaths: u32,
}

/// One stage decision of a cohort, in ledger order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StageDecision {
    /// New status.
    pub status: &'static str,
    /// Enrolled counted.
    pub enrolled: u32,
    /// Evaluable counted.
    pub evaluable: u32,
    /// Benefits counted.
    pub benefits: u32,
    /// Not evaluable counted.
    pub not_evaluable: u32,
    /// The decision's record.
    pub record: String,
}

/// A cohort's design as the protocol's catalogue states it, and its decisions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Design {
    /// Stage-1 size (8).
    pub stage1_size: u16,
    /// Benefits needed in stage 1 (1).
    pub stage1_threshold: u16,
    /// Stage-2 size (24).
    pub stage2_size: u16,
    /// Benefits needed among stage 2's patients (5).
    pub stage2_threshold: u16,
    /// Expansion cap.
    pub expansion_cap: u32,
    /// The latest status.
    pub status: &'static str,
    /// Stage decisions, in order.
    pub decisions: Vec<StageDecision>,
}

/// One group's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Group {
    /// `trial`, `cohort:ID` or `cohort:ID/tumour:TYPE`.
    pub id: String,
    /// What it is, in words.
    pub label: String,
    /// Drug, when one.
    pub drug: Option<String>,
    /// Treated patients.
    pub treated: u32,
    /// Response-evaluable patients.
    pub evaluable: u32,
    /// Clinical benefit among the evaluable, with the exact 95 % interval.
    pub cbr_evaluable: Option<ProportionInterval>,
    /// Clinical benefit among all treated.
    pub cbr_treated: Option<ProportionInterval>,
    /// Objective response among the evaluable.
    pub orr_evaluable: Option<ProportionInterval>,
    /// Objective response among all treated.
    pub orr_treated: Option<ProportionInterval>,
    /// Best overall response counts.
    pub bor: BorCounts,
    /// Duration of response (responders).
    pub dor: KmSummary,
    /// Responders with DoR of at least 6 months (observed, event or censored).
    pub dor_at_least_6_months: Count,
    /// Responders with DoR of at least 12 months.
    pub dor_at_least_12_months: Count,
    /// PFS (descriptive: no comparator).
    pub pfs: KmSummary,
    /// OS (descriptive: no comparator).
    pub os: KmSummary,
    /// Median follow-up by reverse Kaplan-Meier of OS, days.
    pub median_follow_up_days: Option<u32>,
    /// Exceptional responders (pseudonyms; their evidence is in the patient rows).
    pub exceptional_responders: Vec<String>,
    /// Exposure.
    pub exposure: Exposure,
    /// Adverse events.
    pub safety: SafetySummary,
    /// Investigator/RECIST disagreements (scans).
    pub disagreements: u32,
    /// A cohort's design and decisions.
    pub design: Option<Design>,
    /// ESMO-MCBS v1.1 form 3, for a positive cohort.
    pub esmo_mcbs: Option<EsmoGrade>,
    /// The group's patients.
    pub patients: Vec<String>,
}

/// The protocol and conventions the figures follow.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Conventions {
    /// The protocol version whose catalogue is in force, and its record.
    pub protocol_version: Option<u32>,
    /// The protocol record.
    pub protocol_record: Option<String>,
    /// Clinical-benefit landmark, days (SD for at least 16 weeks).
    pub benefit_landmark_day: u32,
    /// Days before the landmark an assessment still counts.
    pub benefit_window_days: u32,
    /// The primary PFS convention, in words.
    pub pfs_convention: String,
    /// Duration of response starts at the first PR/CR scan of the confirmed response.
    pub dor_from_first_response: bool,
    /// Days per month.
    pub days_per_month: f64,
    /// The statements an assessor must read with the figures.
    pub statements: Vec<&'static str>,
}

/// Every figure of a dossier.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Figures {
    /// The clinical data cut-off.
    pub clinical_cutoff: String,
    /// The cohorts in scope.
    pub cohorts: Vec<String>,
    /// Conventions.
    pub conventions: Conventions,
    /// Groups: the trial, then each cohort followed by its tumour-type subgroups.
    pub groups: Vec<Group>,
    /// The per-patient rows.
    pub patients: Vec<PatientRow>,
}

/// What the dossier states about its figures, verbatim in `dossier.json` and the report.
pub const STATEMENTS: [&str; 7] = [
    "Responses are investigator-assessed; there is no blinded central review. RECIST 1.1 responses computed from the recorded measurements are shown beside them where they disagree.",
    "PFS and OS are descriptive: single-arm cohorts have no comparator.",
    "Clopper-Pearson intervals are exact for a binomial sample and not adjusted for the two-stage design.",
    "Medians are the first time at which the Kaplan-Meier estimate S(t) <= 0.5 (R and SAS take the midpoint to the next event time where S(t) = 0.5 exactly; this dossier does not). Their 95 % CIs are Brookmeyer-Crowley with the log(-log) transform: each bound is the first time its pointwise log(-log) band with Greenwood's variance is <= 0.5 (lifelines; SAS LIFETEST's default); NR where it never is. Landmark CIs use the same bands.",
    "Months are 30.4375 days. Events dated after the clinical data cut-off are ignored, and each patient is censored at their last record on or before it, by the rule below; the CDISC datasets follow the same rule.",
    crate::cut::CUTOFF_RULE,
    "The DRUP two-stage design (8 then 24 patients, 1 and 5 benefits) is stated by the protocol's catalogue; the catalogue records no null response rate.",
];

fn status_name(s: CohortStatus) -> &'static str {
    facts::status_name(s)
}

fn abbreviation(r: Response) -> &'static str {
    r.abbreviation()
}

/// Tenths of a percent of `now` against `base`, rounded half away from zero.
fn permille_change(base: u64, now: u64) -> Option<i64> {
    if base == 0 {
        return None;
    }
    let diff = i128::from(now) - i128::from(base);
    let scaled = diff * 1000;
    let b = i128::from(base);
    let q = (scaled.abs() * 2 + b) / (2 * b);
    Some((if scaled < 0 { -q } else { q }) as i64)
}

/// The target-sum changes from baseline of a patient's follow-up scans, in date order.
fn target_changes(
    model: &TrialModel,
    name: &Name,
    first_dose: tl_schemas::Date,
) -> Vec<(u32, i64)> {
    let scans: Vec<ResponseAssessed> = model
        .patients
        .get(name)
        .into_iter()
        .flatten()
        .filter(|r| r.event_type == ct::RESPONSE_ASSESSED)
        .filter_map(|r| decode::<ResponseAssessed>(&r.payload).ok())
        .collect();
    let sum = |a: &ResponseAssessed| {
        a.targets
            .iter()
            .map(|t| u64::from(t.diameter_mm10))
            .sum::<u64>()
    };
    let Some(base) = scans.iter().find(|a| a.baseline).map(sum) else {
        return Vec::new();
    };
    let mut out: Vec<(u32, i64)> = scans
        .iter()
        .filter(|a| !a.baseline && !a.targets.is_empty())
        .filter_map(|a| {
            let day = first_dose.days_until(a.assessed_on).max(0) as u32;
            permille_change(base, sum(a)).map(|c| (day, c))
        })
        .collect();
    out.sort();
    out
}

/// One treated patient's row, or `None` when not treated (by the cut-off).
fn patient_row(
    model: &TrialModel,
    name: &Name,
    f: &PatientFacts,
    cohort: &Name,
) -> Option<PatientRow> {
    let o = f.outcome.as_ref()?;
    let changes = target_changes(model, name, o.first_dose);
    let last_dose = f.doses.iter().map(|d| d.administered_on).max();
    let mut evidence: BTreeSet<String> = BTreeSet::new();
    for r in o
        .best
        .refs
        .iter()
        .chain(&o.benefit.refs)
        .chain(&o.pfs.refs)
        .chain(&o.os.refs)
        .chain(&o.exceptional.refs)
        .chain(o.duration_of_response.iter().flat_map(|d| &d.refs))
    {
        evidence.insert(cite(r));
    }
    let onset = o
        .duration_of_response
        .as_ref()
        .map(|d| o.pfs.value.time_days.saturating_sub(d.value.time_days));
    let treatment_ended = model
        .patients
        .get(name)
        .is_some_and(|l| l.iter().any(|r| r.event_type == ct::TREATMENT_ENDED));
    Some(PatientRow {
        patient: name.to_string(),
        cohort: cohort.to_string(),
        tumour_type: f
            .registered
            .as_ref()
            .map_or_else(|| "unknown".to_string(), |((_, t, _), _)| t.clone()),
        first_dose: o.first_dose.to_string(),
        best_response: abbreviation(o.best.value),
        evaluable: o.evaluable,
        benefit: o.benefit.value,
        objective: o.objective,
        exceptional: o.exceptional.value,
        pfs_days: o.pfs.value.time_days,
        pfs_event: o.pfs.value.event,
        os_days: o.os.value.time_days,
        os_event: o.os.value.event,
        dor_days: o.duration_of_response.as_ref().map(|d| d.value.time_days),
        dor_event: o.duration_of_response.as_ref().map(|d| d.value.event),
        response_onset_days: onset,
        doses: f.doses.len() as u32,
        treatment_days: last_dose.map_or(0, |l| o.first_dose.days_until(l).max(0) as u32),
        treatment_ended,
        best_target_change_permille: changes.iter().map(|c| c.1).min(),
        target_change_permille: changes,
        adverse_events: f.adverse_events.len() as u32,
        grade3plus_events: f
            .adverse_events
            .values()
            .filter(|a| a.worst_grade >= 3)
            .count() as u32,
        serious_events: f
            .adverse_events
            .values()
            .filter(|a| !a.serious.is_empty())
            .count() as u32,
        grade3plus_related: o.severe_related_ae.value,
        died: f.death.is_some(),
        disagreements: o
            .disagreements
            .iter()
            .map(|d| {
                (
                    d.assessed_on.to_string(),
                    abbreviation(d.reported),
                    abbreviation(d.computed),
                    cite(&d.record),
                )
            })
            .collect(),
        evidence: evidence.into_iter().collect(),
    })
}

fn rate(x: u32, n: u32) -> Option<ProportionInterval> {
    clopper_pearson(x, n, 0.95).ok()
}

fn lower_median(mut v: Vec<u32>) -> Option<u32> {
    v.sort_unstable();
    (!v.is_empty()).then(|| v[(v.len() - 1) / 2])
}

/// The figures of a set of patient rows.
fn group(id: String, label: String, drug: Option<String>, rows: &[&PatientRow]) -> Group {
    let treated = rows.len() as u32;
    let evaluable: Vec<&&PatientRow> = rows.iter().filter(|p| p.evaluable).collect();
    let ev = evaluable.len() as u32;
    let cb = evaluable.iter().filter(|p| p.benefit).count() as u32;
    let or = evaluable.iter().filter(|p| p.objective).count() as u32;
    let mut bor = BorCounts::default();
    for p in rows {
        match p.best_response {
            "CR" => bor.cr += 1,
            "PR" => bor.pr += 1,
            "SD" => bor.sd += 1,
            "PD" => bor.pd += 1,
            _ => bor.ne += 1,
        }
    }
    let obs = |t: &dyn Fn(&PatientRow) -> Option<(u32, bool)>| -> Vec<tl_clinical::Observation> {
        rows.iter().filter_map(|p| t(p)).map(Into::into).collect()
    };
    let pfs = obs(&|p| Some((p.pfs_days, p.pfs_event)));
    let os = obs(&|p| Some((p.os_days, p.os_event)));
    let dor = obs(&|p| p.dor_days.zip(p.dor_event));
    let dor_at_least = |months: u32| Count {
        count: dor
            .iter()
            .filter(|o| f64::from(o.time_days) >= f64::from(months) * DAYS_PER_MONTH)
            .count() as u32,
        of: dor.len() as u32,
    };
    let treatment: Vec<u32> = rows.iter().map(|p| p.treatment_days).collect();
    let ended = rows.iter().filter(|p| p.treatment_ended).count() as u32;
    Group {
        id,
        label,
        drug,
        treated,
        evaluable: ev,
        cbr_evaluable: rate(cb, ev),
        cbr_treated: rate(cb, treated),
        orr_evaluable: rate(or, ev),
        orr_treated: rate(or, treated),
        bor,
        dor_at_least_6_months: dor_at_least(6),
        dor_at_least_12_months: dor_at_least(12),
        dor: km::summarise(&dor),
        pfs: km::summarise(&pfs),
        median_follow_up_days: km::median_follow_up_days(&os),
        os: km::summarise(&os),
        exceptional_responders: rows
            .iter()
            .filter(|p| p.exceptional)
            .map(|p| p.patient.clone())
            .collect(),
        exposure: Exposure {
            doses: rows.iter().map(|p| p.doses).sum(),
            median_treatment_days: lower_median(treatment.clone()),
            max_treatment_days: treatment.iter().copied().max(),
            ended,
            ongoing: treated - ended,
        },
        safety: SafetySummary {
            events: rows.iter().map(|p| p.adverse_events).sum(),
            patients_any: rows.iter().filter(|p| p.adverse_events > 0).count() as u32,
            grade3plus_events: rows.iter().map(|p| p.grade3plus_events).sum(),
            serious_events: rows.iter().map(|p| p.serious_events).sum(),
            patients_grade3plus_related: rows.iter().filter(|p| p.grade3plus_related).count()
                as u32,
            deaths: rows.iter().filter(|p| p.died).count() as u32,
        },
        disagreements: rows.iter().map(|p| p.disagreements.len() as u32).sum(),
        design: None,
        esmo_mcbs: None,
        patients: rows.iter().map(|p| p.patient.clone()).collect(),
    }
}

/// A cohort's design and decisions from the catalogue and its own partition.
fn design(model: &TrialModel, cohort: &Name) -> Option<Design> {
    let d = model.definition(cohort)?;
    let f = facts::cohort(model, cohort);
    Some(Design {
        stage1_size: d.stage1_size,
        stage1_threshold: d.stage1_threshold,
        stage2_size: d.stage2_size,
        stage2_threshold: d.stage2_threshold,
        expansion_cap: d.expansion_cap,
        status: f
            .status
            .as_ref()
            .map_or("stage_1", |(s, _)| status_name(s.status)),
        decisions: f
            .decisions
            .iter()
            .map(|(s, at, _)| StageDecision {
                status: status_name(s.status),
                enrolled: s.enrolled,
                evaluable: s.evaluable,
                benefits: s.benefits,
                not_evaluable: s.not_evaluable,
                record: cite(at),
            })
            .collect(),
    })
}

/// Whether a cohort's latest decision makes it positive (positive or in, or done with, its
/// expansion).
pub fn is_positive(model: &TrialModel, cohort: &Name) -> bool {
    facts::cohort(model, cohort).status.is_some_and(|(s, _)| {
        matches!(
            s.status,
            CohortStatus::Positive | CohortStatus::Expansion | CohortStatus::ExpansionComplete
        )
    })
}

/// The treated patients of each cohort in scope, by cohort (pseudonym order).
pub fn cohort_patients(
    model: &TrialModel,
    scope: &Scope,
) -> BTreeMap<Name, Vec<(Name, PatientFacts)>> {
    let mut out: BTreeMap<Name, Vec<(Name, PatientFacts)>> = scope
        .cohorts
        .iter()
        .map(|c| (c.clone(), Vec::new()))
        .collect();
    for name in model.patients.keys() {
        let f = facts::patient(model, name);
        let Some(c) = f.enrolled.as_ref().map(|((c, _), _)| c.clone()) else {
            continue;
        };
        if let Some(list) = out.get_mut(&c) {
            list.push((name.clone(), f));
        }
    }
    out
}

fn conventions(model: &TrialModel) -> Conventions {
    let d = &model.definitions;
    Conventions {
        protocol_version: model.catalogue.as_ref().map(|(v, _, _)| *v),
        protocol_record: model.catalogue.as_ref().map(|(_, _, r)| cite(r)),
        benefit_landmark_day: d.benefit_landmark_day,
        benefit_window_days: d.benefit_window_days,
        pfs_convention: match d.pfs {
            tl_clinical::PfsConvention::EveryEventObserved => {
                "every progression or death is an event at its date; censored at the last assessment".to_string()
            }
            tl_clinical::PfsConvention::CensorAfterMissedAssessments {
                interval_days,
                window_days,
                missed,
            } => format!(
                "FDA 2018: a progression or death after {missed} or more missed assessments (every {interval_days} days, {window_days} days' window) is censored at the last adequate assessment"
            ),
        },
        dor_from_first_response: d.dor_from_first_response,
        days_per_month: DAYS_PER_MONTH,
        statements: STATEMENTS.to_vec(),
    }
}

/// Every figure of the cohorts in `scope`, from `model` (already limited to the evidence cut),
/// limited by the scope's clinical cut-off.
pub fn figures(model: &TrialModel, scope: &Scope) -> Figures {
    let model = crate::cut::clinical_cut(model, scope.cutoff);
    let by_cohort = cohort_patients(&model, scope);
    let mut rows: Vec<PatientRow> = Vec::new();
    for (cohort, patients) in &by_cohort {
        for (name, f) in patients {
            rows.extend(patient_row(&model, name, f, cohort));
        }
    }
    let mut groups = vec![group(
        "trial".into(),
        match scope.cohorts.len() {
            1 => "the cohort in this dossier".to_string(),
            n => format!("all {n} cohorts in this dossier"),
        },
        None,
        &rows.iter().collect::<Vec<_>>(),
    )];
    for cohort in &scope.cohorts {
        let def = model.definition(cohort);
        let drug = def.map(|d| d.drug.clone());
        let mine: Vec<&PatientRow> = rows
            .iter()
            .filter(|p| p.cohort == cohort.as_str())
            .collect();
        let tumour = def.and_then(|d| d.tumour_type.clone());
        let label = format!(
            "cohort {cohort}: {} x {}",
            tumour.as_deref().unwrap_or("pan-tumour"),
            drug.as_deref().unwrap_or("unknown drug")
        );
        let mut g = group(format!("cohort:{cohort}"), label, drug.clone(), &mine);
        g.design = design(&model, cohort);
        if is_positive(&model, cohort) {
            g.esmo_mcbs = Some(esmo::grade(&g));
        }
        groups.push(g);
        if def.is_some_and(|d| d.tumour_type.is_none()) {
            let types: BTreeSet<&str> = mine.iter().map(|p| p.tumour_type.as_str()).collect();
            for t in types {
                let sub: Vec<&PatientRow> = mine
                    .iter()
                    .copied()
                    .filter(|p| p.tumour_type == t)
                    .collect();
                groups.push(group(
                    format!("cohort:{cohort}/tumour:{t}"),
                    format!("cohort {cohort}, tumour type {t}"),
                    drug.clone(),
                    &sub,
                ));
            }
        }
    }
    Figures {
        clinical_cutoff: scope.cutoff.to_string(),
        cohorts: scope.cohorts.iter().map(|c| c.to_string()).collect(),
        conventions: conventions(&model),
        groups,
        patients: rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A treated patient row with the given flags (days and events arbitrary but fixed).
    fn row(i: u32, evaluable: bool, benefit: bool, objective: bool) -> PatientRow {
        PatientRow {
            patient: format!("P-{i:04}"),
            cohort: "C-X".into(),
            tumour_type: "COAD".into(),
            first_dose: "2020-01-01".into(),
            best_response: if objective {
                "PR"
            } else if benefit {
                "SD"
            } else if evaluable {
                "PD"
            } else {
                "NE"
            },
            evaluable,
            benefit,
            objective,
            exceptional: false,
            pfs_days: 30 + i,
            pfs_event: i.is_multiple_of(2),
            os_days: 60 + i,
            os_event: i.is_multiple_of(3),
            dor_days: objective.then_some(200 + i),
            dor_event: objective.then_some(i.is_multiple_of(2)),
            response_onset_days: None,
            doses: 1,
            treatment_days: i,
            treatment_ended: true,
            target_change_permille: vec![],
            best_target_change_permille: None,
            adverse_events: 0,
            grade3plus_events: 0,
            serious_events: 0,
            grade3plus_related: false,
            died: false,
            disagreements: vec![],
            evidence: vec![],
        }
    }

    fn pct(f: f64) -> f64 {
        (f * 1000.0).round() / 10.0
    }

    #[test]
    fn given_the_issue_10_oracle_counts_when_a_group_is_reported_then_its_intervals_are_the_oracle()
    {
        // given 130 evaluable patients, 80 with benefit, 58 of them with an objective response,
        // and 10 more treated but not evaluable
        let rows: Vec<PatientRow> = (0..140).map(|i| row(i, i < 130, i < 80, i < 58)).collect();
        let refs: Vec<&PatientRow> = rows.iter().collect();
        // when the group's figures are taken
        let g = group("cohort:C-X".into(), "x".into(), None, &refs);
        // then CBR 80/130 [52.6, 69.9] and ORR 58/130 [35.9, 53.6] (scipy / R binom.test)
        let cbr = g.cbr_evaluable.unwrap();
        assert_eq!((cbr.successes, cbr.trials), (80, 130));
        assert_eq!((pct(cbr.lower), pct(cbr.upper)), (52.6, 69.9));
        let orr = g.orr_evaluable.unwrap();
        assert_eq!((pct(orr.lower), pct(orr.upper)), (35.9, 53.6));
        // and on all treated the denominator is 140
        assert_eq!(g.cbr_treated.unwrap().trials, 140);
        // and the BOR counts, DoR N and events/N follow the rows
        assert_eq!((g.bor.pr, g.bor.sd, g.bor.pd, g.bor.ne), (58, 22, 50, 10));
        assert_eq!(g.dor.n, 58);
        assert_eq!(g.pfs.events, 70);
        assert_eq!(g.dor_at_least_6_months, Count { count: 58, of: 58 });
    }

    #[test]
    fn given_stage_sized_groups_when_reported_then_0_of_8_and_5_of_24_are_the_oracle() {
        for (x, n, lo, hi) in [(0, 8, 0.0, 36.9), (5, 24, 7.1, 42.2)] {
            let rows: Vec<PatientRow> = (0..n).map(|i| row(i, true, i < x, false)).collect();
            let refs: Vec<&PatientRow> = rows.iter().collect();
            let g = group("c".into(), "c".into(), None, &refs);
            let r = g.cbr_evaluable.unwrap();
            assert_eq!((pct(r.lower), pct(r.upper)), (lo, hi), "{x}/{n}");
        }
        // and a group with nobody evaluable has no interval rather than a panic
        let rows = [row(0, false, false, false)];
        let g = group("c".into(), "c".into(), None, &[&rows[0]]);
        assert_eq!(g.cbr_evaluable, None);
        assert!(g.cbr_treated.is_some());
    }

    #[test]
    fn permille_rounds_half_away_from_zero() {
        assert_eq!(permille_change(1000, 700), Some(-300));
        assert_eq!(permille_change(300, 299), Some(-3)); // -3.33 permille
        assert_eq!(permille_change(2000, 1999), Some(-1)); // -0.5 -> -1
        assert_eq!(permille_change(2000, 2001), Some(1));
        assert_eq!(permille_change(0, 10), None);
        assert_eq!(permille_change(100, 0), Some(-1000));
    }
}
