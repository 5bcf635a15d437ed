//! Reads the views back: what `trial-ledger view` prints as tables or JSON. Aggregates are
//! computed here from the per-subject rows (integers summed in SQL; rates and Kaplan-Meier
//! medians at read time), so the stored rows stay free of anything order-dependent.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::Value;
use tl_clinical::{kaplan_meier, Observation};

/// The funnel from registration to treatment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Funnel {
    /// Patients registered.
    pub registered: u64,
    /// With a sequencing result.
    pub sequenced: u64,
    /// With a match proposal naming at least one cohort.
    pub matched: u64,
    /// Approved for a cohort by the MTB.
    pub mtb_approved: u64,
    /// Given a slot.
    pub slot: u64,
    /// Enrolled.
    pub enrolled: u64,
    /// Dosed at least once.
    pub treated: u64,
    /// Patients counted here whose row rests on a suspect record (signed by a key after its
    /// recorded compromise; [`SuspectRecord`]). Absent from JSON when 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub suspect_rows: u64,
}

/// One cohort in the enrollment view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EnrollmentCohort {
    /// Cohort id.
    pub cohort: String,
    /// Drug.
    pub drug: Option<String>,
    /// Status from the latest stage decision (`stage_1` without one).
    pub status: String,
    /// Stage (1, 2, or 3 for the expansion).
    pub stage: i64,
    /// Slots assigned.
    pub slots: i64,
    /// Slots refused.
    pub refused: i64,
    /// Patients enrolled.
    pub enrolled: i64,
    /// Patients treated.
    pub treated: i64,
    /// Response-evaluable patients (best overall response other than NE).
    pub evaluable: i64,
    /// Patients with clinical benefit.
    pub benefits: i64,
    /// The latest stage decision's counts (the cohort engine's view): enrolled, evaluable,
    /// benefits, not evaluable.
    pub decided: Option<[i64; 4]>,
    /// The latest stage decision's record.
    pub status_ref: Option<Value>,
    /// The cohort's row rests on a suspect record (a slot, a refusal or a stage decision of
    /// the cohort). Absent from JSON when false.
    #[serde(skip_serializing_if = "is_false")]
    pub suspect: bool,
    /// Enrolled patients of the cohort whose row rests on a suspect record. Absent when 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub suspect_rows: i64,
}

/// A record the view counts that was signed by a key after its recorded compromise (`keys
/// revoke --compromised-since`): it verifies, but a thief may have signed it. Every row that
/// rests on one carries `suspect`, and every aggregate counts its suspect rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SuspectRecord {
    /// Partition.
    pub partition: i64,
    /// Sequence number.
    pub seq: i64,
    /// Record hash (hex).
    pub hash: String,
    /// The author's key id (hex).
    pub key_id: String,
    /// From when the key counts as compromised, as the revocation records it.
    pub since: String,
}

fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The records a view database flags as suspect, by position.
pub fn suspect_records(conn: &Connection) -> rusqlite::Result<Vec<SuspectRecord>> {
    let mut st = conn.prepare(
        "SELECT partition, seq, hash, key_id, since FROM suspect_records ORDER BY partition, seq",
    )?;
    let rows = st.query_map([], |r| {
        Ok(SuspectRecord {
            partition: r.get(0)?,
            seq: r.get(1)?,
            hash: r.get(2)?,
            key_id: r.get(3)?,
            since: r.get(4)?,
        })
    })?;
    rows.collect()
}

/// The enrollment view.
#[derive(Clone, Debug, Serialize)]
pub struct EnrollmentReport {
    /// The funnel (of the cohort's patients, with a cohort filter).
    pub funnel: Funnel,
    /// Cohorts.
    pub cohorts: Vec<EnrollmentCohort>,
    /// Treated patients with both dates.
    pub sequencing_to_first_dose_n: i64,
    /// Median days from the sequencing result to the first dose.
    pub sequencing_to_first_dose_median_days: Option<i64>,
    /// The records the view flags as suspect (all of them, whatever the filter). Absent
    /// from JSON when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suspect_records: Vec<SuspectRecord>,
}

fn opt_json(s: Option<String>) -> Option<Value> {
    s.and_then(|s| serde_json::from_str(&s).ok())
}

fn median(mut v: Vec<i64>) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    Some(v[(v.len() - 1) / 2])
}

/// The enrollment view, for every cohort or one.
pub fn enrollment(conn: &Connection, cohort: Option<&str>) -> rusqlite::Result<EnrollmentReport> {
    let filter = "(?1 IS NULL OR COALESCE(enrolled_cohort, slot_cohort, mtb_cohort) = ?1)";
    let funnel = conn.query_row(
        &format!(
            "SELECT COUNT(registered_on), COUNT(sequenced_on), COALESCE(SUM(matched),0),
                    COALESCE(SUM(mtb_approved),0), COUNT(slot_cohort), COUNT(enrolled_cohort),
                    COALESCE(SUM(treated),0), COALESCE(SUM(suspect),0) FROM patients WHERE {filter}"
        ),
        params![cohort],
        |r| {
            Ok(Funnel {
                registered: r.get::<_, i64>(0)? as u64,
                sequenced: r.get::<_, i64>(1)? as u64,
                matched: r.get::<_, i64>(2)? as u64,
                mtb_approved: r.get::<_, i64>(3)? as u64,
                slot: r.get::<_, i64>(4)? as u64,
                enrolled: r.get::<_, i64>(5)? as u64,
                treated: r.get::<_, i64>(6)? as u64,
                suspect_rows: r.get::<_, i64>(7)? as u64,
            })
        },
    )?;
    let mut st = conn.prepare(
        "SELECT c.cohort, c.drug, c.status, c.stage, c.slots, c.refused,
                (SELECT COUNT(*) FROM patients p WHERE p.enrolled_cohort = c.cohort),
                (SELECT COALESCE(SUM(treated),0) FROM patients p WHERE p.enrolled_cohort = c.cohort),
                (SELECT COALESCE(SUM(evaluable),0) FROM patients p WHERE p.enrolled_cohort = c.cohort),
                (SELECT COALESCE(SUM(benefit),0) FROM patients p WHERE p.enrolled_cohort = c.cohort),
                c.decided_enrolled, c.decided_evaluable, c.decided_benefits, c.decided_not_evaluable,
                c.status_ref, c.suspect,
                (SELECT COALESCE(SUM(suspect),0) FROM patients p WHERE p.enrolled_cohort = c.cohort)
         FROM cohorts c WHERE (?1 IS NULL OR c.cohort = ?1) ORDER BY c.cohort",
    )?;
    let cohorts = st
        .query_map(params![cohort], |r| {
            let decided: Option<i64> = r.get(10)?;
            Ok(EnrollmentCohort {
                cohort: r.get(0)?,
                drug: r.get(1)?,
                status: r.get(2)?,
                stage: r.get(3)?,
                slots: r.get(4)?,
                refused: r.get(5)?,
                enrolled: r.get(6)?,
                treated: r.get(7)?,
                evaluable: r.get(8)?,
                benefits: r.get(9)?,
                decided: match decided {
                    Some(e) => Some([e, r.get(11)?, r.get(12)?, r.get(13)?]),
                    None => None,
                },
                status_ref: opt_json(r.get(14)?),
                suspect: r.get(15)?,
                suspect_rows: r.get(16)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut st = conn.prepare(&format!(
        "SELECT days_sequencing_to_first_dose FROM patients
         WHERE days_sequencing_to_first_dose IS NOT NULL AND {filter}"
    ))?;
    let days = st
        .query_map(params![cohort], |r| r.get::<_, i64>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(EnrollmentReport {
        funnel,
        cohorts,
        sequencing_to_first_dose_n: days.len() as i64,
        sequencing_to_first_dose_median_days: median(days),
        suspect_records: suspect_records(conn)?,
    })
}

/// Safety figures of one cohort (or the trial).
#[derive(Clone, Debug, Serialize)]
pub struct SafetyGroup {
    /// Cohort id (`None`: the whole trial).
    pub cohort: Option<String>,
    /// Drug.
    pub drug: Option<String>,
    /// Treated patients.
    pub treated: i64,
    /// Adverse events.
    pub adverse_events: i64,
    /// Serious adverse events.
    pub serious: i64,
    /// Adverse events of grade 3 or more.
    pub grade3plus: i64,
    /// Treated patients with a grade >= 3 treatment-related adverse event.
    pub grade3plus_trae_patients: i64,
    /// Their share of the treated patients, percent.
    pub grade3plus_trae_rate: Option<f64>,
    /// Deaths.
    pub deaths: i64,
    /// SUSARs.
    pub susars: i64,
    /// Rows counted here (treated patients, adverse events, deaths) that rest on a suspect
    /// record ([`SuspectRecord`]). Absent from JSON when 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub suspect_rows: i64,
}

/// Adverse events of one cohort, drug, CTCAE term and grade.
#[derive(Clone, Debug, Serialize)]
pub struct AeCount {
    /// Cohort.
    pub cohort: Option<String>,
    /// Drug.
    pub drug: Option<String>,
    /// CTCAE term.
    pub ctcae_term: String,
    /// Worst grade.
    pub grade: i64,
    /// Events.
    pub events: i64,
    /// Of which serious.
    pub serious: i64,
    /// Of which resting on a suspect record. Absent from JSON when 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub suspect_rows: i64,
}

/// One SUSAR with its report clock.
#[derive(Clone, Debug, Serialize)]
pub struct Susar {
    /// Patient.
    pub patient: String,
    /// Adverse event id.
    pub ae_id: i64,
    /// Cohort.
    pub cohort: Option<String>,
    /// CTCAE term.
    pub ctcae_term: String,
    /// Worst grade.
    pub grade: i64,
    /// The clock starts: the awareness date.
    pub awareness: String,
    /// 7 (fatal or life-threatening) or 15 days.
    pub window_days: i64,
    /// The report is due.
    pub due: String,
    /// The report and follow-ups.
    pub refs: Value,
    /// Rests on a suspect record. Absent from JSON when false.
    #[serde(skip_serializing_if = "is_false")]
    pub suspect: bool,
}

/// One death.
#[derive(Clone, Debug, Serialize)]
pub struct Death {
    /// Patient.
    pub patient: String,
    /// Cohort.
    pub cohort: Option<String>,
    /// Date.
    pub died_on: String,
    /// Cause.
    pub cause: String,
    /// Related to the treatment.
    pub treatment_related: bool,
    /// The record.
    pub record: Value,
    /// Rests on a suspect record. Absent from JSON when false.
    #[serde(skip_serializing_if = "is_false")]
    pub suspect: bool,
}

/// The safety view.
#[derive(Clone, Debug, Serialize)]
pub struct SafetyReport {
    /// The whole trial (or the cohort, with a filter).
    pub overall: SafetyGroup,
    /// Per cohort.
    pub cohorts: Vec<SafetyGroup>,
    /// Adverse events by cohort, drug, CTCAE term and grade.
    pub by_term: Vec<AeCount>,
    /// SUSARs and their clocks, by due date.
    pub susars: Vec<Susar>,
    /// Deaths.
    pub deaths: Vec<Death>,
    /// The safety board's tables ([`crate::tables`]), over the same cohort.
    pub tables: crate::tables::SafetyTables,
    /// The records the view flags as suspect. Absent from JSON when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suspect_records: Vec<SuspectRecord>,
}

fn pct(n: i64, d: i64) -> Option<f64> {
    (d > 0).then(|| 100.0 * n as f64 / d as f64)
}

/// The safety view, for every cohort or one.
pub fn safety(conn: &Connection, cohort: Option<&str>) -> rusqlite::Result<SafetyReport> {
    let group = |c: Option<&str>, all: bool| -> rusqlite::Result<SafetyGroup> {
        // `all`: every patient, regardless of cohort.
        let f = if all { "?1 IS NULL" } else { "cohort IS ?1" };
        let treated: i64 = conn.query_row(
            &format!("SELECT COUNT(*) FROM treated WHERE {f}"),
            params![c],
            |r| r.get(0),
        )?;
        let trae: i64 = conn.query_row(
            &format!("SELECT COALESCE(SUM(grade3_trae),0) FROM treated WHERE {f}"),
            params![c],
            |r| r.get(0),
        )?;
        let (aes, serious, g3, susars): (i64, i64, i64, i64) = conn.query_row(
            &format!("SELECT COUNT(*), COALESCE(SUM(serious),0), COALESCE(SUM(grade >= 3),0), COALESCE(SUM(susar),0) FROM adverse_events WHERE {f}"),
            params![c],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        let deaths: i64 = conn.query_row(
            &format!("SELECT COUNT(*) FROM deaths WHERE {f}"),
            params![c],
            |r| r.get(0),
        )?;
        let suspect_rows: i64 = conn.query_row(
            &format!(
                "SELECT (SELECT COALESCE(SUM(suspect),0) FROM treated WHERE {f})
                      + (SELECT COALESCE(SUM(suspect),0) FROM adverse_events WHERE {f})
                      + (SELECT COALESCE(SUM(suspect),0) FROM deaths WHERE {f})"
            ),
            params![c],
            |r| r.get(0),
        )?;
        let drug: Option<String> = if all {
            None
        } else {
            conn.query_row(
                "SELECT drug FROM treated WHERE cohort IS ?1 AND drug IS NOT NULL ORDER BY patient LIMIT 1",
                params![c],
                |r| r.get(0),
            )
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })?
        };
        Ok(SafetyGroup {
            cohort: c.map(str::to_string),
            drug,
            treated,
            adverse_events: aes,
            serious,
            grade3plus: g3,
            grade3plus_trae_patients: trae,
            grade3plus_trae_rate: pct(trae, treated),
            deaths,
            susars,
            suspect_rows,
        })
    };
    let overall = match cohort {
        Some(c) => group(Some(c), false)?,
        None => group(None, true)?,
    };
    let mut st = conn.prepare(
        "SELECT DISTINCT cohort FROM treated WHERE cohort IS NOT NULL AND (?1 IS NULL OR cohort = ?1) ORDER BY cohort",
    )?;
    let names = st
        .query_map(params![cohort], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let cohorts = names
        .iter()
        .map(|c| group(Some(c), false))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut st = conn.prepare(
        "SELECT cohort, drug, ctcae_term, grade, COUNT(*), SUM(serious), SUM(suspect) FROM adverse_events
         WHERE (?1 IS NULL OR cohort = ?1)
         GROUP BY cohort, drug, ctcae_term, grade ORDER BY cohort, drug, ctcae_term, grade",
    )?;
    let by_term = st
        .query_map(params![cohort], |r| {
            Ok(AeCount {
                cohort: r.get(0)?,
                drug: r.get(1)?,
                ctcae_term: r.get(2)?,
                grade: r.get(3)?,
                events: r.get(4)?,
                serious: r.get(5)?,
                suspect_rows: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut st = conn.prepare(
        "SELECT patient, ae_id, cohort, ctcae_term, grade, susar_awareness, susar_window_days, susar_due, refs, suspect
         FROM adverse_events WHERE susar = 1 AND (?1 IS NULL OR cohort = ?1) ORDER BY susar_due, patient, ae_id",
    )?;
    let susars = st
        .query_map(params![cohort], |r| {
            Ok(Susar {
                patient: r.get(0)?,
                ae_id: r.get(1)?,
                cohort: r.get(2)?,
                ctcae_term: r.get(3)?,
                grade: r.get(4)?,
                awareness: r.get(5)?,
                window_days: r.get(6)?,
                due: r.get(7)?,
                refs: opt_json(r.get(8)?).unwrap_or(Value::Null),
                suspect: r.get(9)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut st = conn.prepare(
        "SELECT patient, cohort, died_on, cause, treatment_related, ref, suspect FROM deaths
         WHERE (?1 IS NULL OR cohort = ?1) ORDER BY died_on, patient",
    )?;
    let deaths = st
        .query_map(params![cohort], |r| {
            Ok(Death {
                patient: r.get(0)?,
                cohort: r.get(1)?,
                died_on: r.get(2)?,
                cause: r.get(3)?,
                treatment_related: r.get(4)?,
                record: opt_json(r.get(5)?).unwrap_or(Value::Null),
                suspect: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(SafetyReport {
        overall,
        cohorts,
        by_term,
        susars,
        deaths,
        tables: crate::tables::safety_tables(
            conn,
            &crate::tables::Filter {
                cohort: cohort.map(str::to_string),
                drug: None,
            },
        )?,
        suspect_records: suspect_records(conn)?,
    })
}

/// The dossier's figures for a group of patients (a cohort or the trial).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DossierSummary {
    /// Treated patients.
    pub treated: i64,
    /// Response-evaluable patients.
    pub evaluable: i64,
    /// Evaluable patients with clinical benefit.
    pub clinical_benefit: i64,
    /// Percent of the evaluable.
    pub clinical_benefit_rate: Option<f64>,
    /// Evaluable patients with a confirmed objective response.
    pub objective_response: i64,
    /// Percent of the evaluable.
    pub objective_response_rate: Option<f64>,
    /// Kaplan-Meier median PFS from the first dose, months.
    pub median_pfs_months: Option<f64>,
    /// Kaplan-Meier median OS from the first dose, months.
    pub median_os_months: Option<f64>,
    /// Kaplan-Meier median duration of response, months (responders).
    pub median_dor_months: Option<f64>,
    /// Treated patients with a grade >= 3 treatment-related AE.
    pub grade3plus_trae: i64,
    /// Percent of the treated.
    pub grade3plus_trae_rate: Option<f64>,
    /// Evaluable exceptional responders.
    pub exceptional_responders: i64,
    /// Percent of the evaluable.
    pub exceptional_responder_rate: Option<f64>,
    /// Scans where the investigator's response disagrees with the computed one.
    pub disagreements: i64,
    /// Clinical benefit among the response-evaluable, with its exact 95 % interval.
    pub clinical_benefit_evaluable: Proportion,
    /// Clinical benefit among all treated patients.
    pub clinical_benefit_treated: Proportion,
    /// Objective response among the response-evaluable.
    pub objective_response_evaluable: Proportion,
    /// Objective response among all treated patients.
    pub objective_response_treated: Proportion,
    /// Kaplan-Meier median PFS (primary convention), days.
    pub median_pfs_days: Option<u32>,
    /// Kaplan-Meier median OS, days.
    pub median_os_days: Option<u32>,
    /// Kaplan-Meier median duration of response, days.
    pub median_dor_days: Option<u32>,
    /// Median PFS with every progression or death counted at its date (the sensitivity
    /// analysis), months.
    pub median_pfs_sensitivity_months: Option<f64>,
    /// The same, days.
    pub median_pfs_sensitivity_days: Option<u32>,
    /// Kaplan-Meier median duration of complete response (complete responders, from the first
    /// CR), months.
    pub median_docr_months: Option<f64>,
    /// The same, days.
    pub median_docr_days: Option<u32>,
    /// Median follow-up by reverse Kaplan-Meier (OS with death as censoring and censoring as
    /// the event), months.
    pub median_follow_up_months: Option<f64>,
    /// The same, days.
    pub median_follow_up_days: Option<u32>,
    /// Treated patients counted here whose dossier row (or analysis row) rests on a suspect
    /// record ([`SuspectRecord`]). Absent from JSON when 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub suspect_rows: i64,
}

/// A count among a denominator, in percent with its two-sided exact 95 % interval
/// (Clopper-Pearson, [`tl_clinical::clopper_pearson`]). The interval is not adjusted for the
/// two-stage design.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Proportion {
    /// Patients counted.
    pub count: i64,
    /// The denominator.
    pub of: i64,
    /// count / of, percent (`None` when `of` is 0).
    pub percent: Option<f64>,
    /// The exact 95 % interval, percent (`None` when `of` is 0).
    pub ci95_percent: Option<[f64; 2]>,
}

impl Proportion {
    fn of(count: i64, of: i64) -> Self {
        let ci = u32::try_from(count)
            .ok()
            .zip(u32::try_from(of).ok())
            .and_then(|(x, n)| tl_clinical::clopper_pearson(x, n, 0.95).ok());
        Proportion {
            count,
            of,
            percent: pct(count, of),
            ci95_percent: ci.map(|c| [100.0 * c.lower, 100.0 * c.upper]),
        }
    }
}

/// One patient in the dossier, every value with its records.
#[derive(Clone, Debug, Serialize)]
pub struct DossierPatient {
    /// Patient.
    pub patient: String,
    /// Cohort.
    pub cohort: Option<String>,
    /// First dose.
    pub first_dose_on: String,
    /// Best overall response and its records.
    pub best_response: String,
    /// Records behind it.
    pub best_refs: Value,
    /// Response-evaluable.
    pub evaluable: bool,
    /// Clinical benefit.
    pub benefit: bool,
    /// Records behind it.
    pub benefit_refs: Value,
    /// PFS days from the first dose.
    pub pfs_days: i64,
    /// PFS event (false: censored).
    pub pfs_event: bool,
    /// Records behind it.
    pub pfs_refs: Value,
    /// OS days from the first dose.
    pub os_days: i64,
    /// Death (false: censored).
    pub os_event: bool,
    /// Records behind it.
    pub os_refs: Value,
    /// Duration of response, days (responders).
    pub dor_days: Option<i64>,
    /// Progression or death ended the response.
    pub dor_event: Option<bool>,
    /// Records behind it.
    pub dor_refs: Option<Value>,
    /// Exceptional responder.
    pub exceptional: bool,
    /// Records behind it.
    pub exceptional_refs: Value,
    /// Grade >= 3 treatment-related AE.
    pub grade3plus_trae: bool,
    /// Records behind it.
    pub trae_refs: Value,
    /// Scans where the investigator disagrees with RECIST from the measurements (each with
    /// `suspect: true` when its record is suspect).
    pub disagreements: Vec<Value>,
    /// The row rests on a suspect record. Absent from JSON when false.
    #[serde(skip_serializing_if = "is_false")]
    pub suspect: bool,
}

/// One cohort in the dossier.
#[derive(Clone, Debug, Serialize)]
pub struct DossierCohort {
    /// Cohort id.
    pub cohort: String,
    /// Drug.
    pub drug: Option<String>,
    /// Status.
    pub status: String,
    /// The latest stage decision's record.
    pub status_ref: Option<Value>,
    /// Figures.
    pub summary: DossierSummary,
    /// Stage decisions, in order, with the evidence they cite (each with `suspect: true`
    /// when it or its evidence is suspect).
    pub stage_decisions: Vec<Value>,
    /// The cohort's row rests on a suspect record. Absent from JSON when false.
    #[serde(skip_serializing_if = "is_false")]
    pub suspect: bool,
}

/// The dossier view.
#[derive(Clone, Debug, Serialize)]
pub struct DossierReport {
    /// Trial-wide (or the cohort's, with a filter).
    pub trial: DossierSummary,
    /// Per cohort.
    pub cohorts: Vec<DossierCohort>,
    /// Per patient.
    pub patients: Vec<DossierPatient>,
    /// The analysis definitions the figures were derived under (those of the protocol's
    /// catalogue in force, `tl_clinical::Definitions`).
    pub definitions: Option<Value>,
    /// How the figures are computed, in words.
    pub methods: Vec<&'static str>,
    /// The records the view flags as suspect. Absent from JSON when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suspect_records: Vec<SuspectRecord>,
}

/// The methods a dossier states with its figures.
pub const DOSSIER_METHODS: [&str; 5] = [
    "Intervals: two-sided exact 95 % (Clopper-Pearson) intervals of proportions, not adjusted for the two-stage design.",
    "Medians: Kaplan-Meier, the first time S(t) <= 0.5 (a curve exactly at 0.5 gives that time; R's survfit takes the midpoint to the next event); months of 365.25/12 days.",
    "PFS: the primary convention is the protocol's (definitions.pfs); the sensitivity median counts every progression or death at its date. Censoring at new anticancer therapy is out of scope: the ledger has no such event.",
    "Duration of response: from the first PR or CR assessment of the confirmed response under a format-2 protocol (from the first assessment of the best response under format 1); duration of complete response from the first CR.",
    "Follow-up: median by reverse Kaplan-Meier of OS.",
];

fn summary(conn: &Connection, cohort: Option<&str>) -> rusqlite::Result<DossierSummary> {
    let f = "(?1 IS NULL OR cohort = ?1)";
    let (treated, evaluable, benefit, objective, trae, exceptional, dis): (
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
    ) = conn.query_row(
        &format!(
            "SELECT COUNT(*), COALESCE(SUM(evaluable),0), COALESCE(SUM(evaluable AND benefit),0),
                  COALESCE(SUM(evaluable AND objective),0), COALESCE(SUM(grade3_trae),0),
                  COALESCE(SUM(evaluable AND exceptional),0), COALESCE(SUM(disagreements),0)
                  FROM patients WHERE {f}"
        ),
        params![cohort],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        },
    )?;
    let suspect_rows: i64 = conn.query_row(
        &format!(
            "SELECT COUNT(*) FROM patients p WHERE {f} AND (p.suspect OR EXISTS
               (SELECT 1 FROM analyses a WHERE a.patient = p.patient AND a.suspect))"
        ),
        params![cohort],
        |r| r.get(0),
    )?;
    let obs = |sql: &str| -> rusqlite::Result<Vec<Observation>> {
        let mut st = conn.prepare(sql)?;
        let rows = st.query_map(params![cohort], |r| {
            Ok(Observation {
                time_days: r.get::<_, i64>(0)? as u32,
                event: r.get(1)?,
            })
        })?;
        rows.collect()
    };
    let pfs = obs(&format!(
        "SELECT pfs_days, pfs_event FROM patients WHERE {f}"
    ))?;
    let os = obs(&format!("SELECT os_days, os_event FROM patients WHERE {f}"))?;
    let dor = obs(&format!(
        "SELECT dor_days, dor_event FROM patients WHERE dor_days IS NOT NULL AND {f}"
    ))?;
    let pfs_sensitivity = obs(&format!(
        "SELECT pfs_sensitivity_days, pfs_sensitivity_event FROM analyses WHERE {f}"
    ))?;
    let docr = obs(&format!(
        "SELECT docr_days, docr_event FROM analyses WHERE docr_days IS NOT NULL AND {f}"
    ))?;
    let follow_up: Vec<Observation> = os
        .iter()
        .map(|o| Observation {
            time_days: o.time_days,
            event: !o.event,
        })
        .collect();
    let (km_pfs, km_os, km_dor) = (kaplan_meier(&pfs), kaplan_meier(&os), kaplan_meier(&dor));
    let (km_sens, km_docr, km_fu) = (
        kaplan_meier(&pfs_sensitivity),
        kaplan_meier(&docr),
        kaplan_meier(&follow_up),
    );
    Ok(DossierSummary {
        treated,
        evaluable,
        clinical_benefit: benefit,
        clinical_benefit_rate: pct(benefit, evaluable),
        objective_response: objective,
        objective_response_rate: pct(objective, evaluable),
        median_pfs_months: km_pfs.median_months(),
        median_os_months: km_os.median_months(),
        median_dor_months: km_dor.median_months(),
        grade3plus_trae: trae,
        grade3plus_trae_rate: pct(trae, treated),
        exceptional_responders: exceptional,
        exceptional_responder_rate: pct(exceptional, evaluable),
        disagreements: dis,
        clinical_benefit_evaluable: Proportion::of(benefit, evaluable),
        clinical_benefit_treated: Proportion::of(benefit, treated),
        objective_response_evaluable: Proportion::of(objective, evaluable),
        objective_response_treated: Proportion::of(objective, treated),
        median_pfs_days: km_pfs.median_days(),
        median_os_days: km_os.median_days(),
        median_dor_days: km_dor.median_days(),
        median_pfs_sensitivity_months: km_sens.median_months(),
        median_pfs_sensitivity_days: km_sens.median_days(),
        median_docr_months: km_docr.median_months(),
        median_docr_days: km_docr.median_days(),
        median_follow_up_months: km_fu.median_months(),
        median_follow_up_days: km_fu.median_days(),
        suspect_rows,
    })
}

/// The dossier view, for every cohort or one.
pub fn dossier(conn: &Connection, cohort: Option<&str>) -> rusqlite::Result<DossierReport> {
    let trial = summary(conn, cohort)?;
    let mut st = conn.prepare(
        "SELECT cohort, drug, status, status_ref, suspect FROM cohorts WHERE (?1 IS NULL OR cohort = ?1) ORDER BY cohort",
    )?;
    let rows = st
        .query_map(params![cohort], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, bool>(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut cohorts = Vec::new();
    for (c, drug, status, status_ref, suspect) in rows {
        let mut st = conn.prepare_cached(
            "SELECT partition, seq, hash, status, enrolled, evaluable, benefits, not_evaluable, evidence, suspect
             FROM stage_decisions WHERE cohort = ?1 ORDER BY partition, seq",
        )?;
        let decisions = st
            .query_map(params![c], |r| {
                let mut v = serde_json::json!({
                    "record": {"partition": r.get::<_, i64>(0)?, "seq": r.get::<_, i64>(1)?, "hash": r.get::<_, String>(2)?},
                    "status": r.get::<_, String>(3)?,
                    "enrolled": r.get::<_, i64>(4)?,
                    "evaluable": r.get::<_, i64>(5)?,
                    "benefits": r.get::<_, i64>(6)?,
                    "not_evaluable": r.get::<_, i64>(7)?,
                    "evidence": opt_json(r.get(8)?),
                });
                mark_suspect(&mut v, r.get(9)?);
                Ok(v)
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        cohorts.push(DossierCohort {
            summary: summary(conn, Some(&c))?,
            cohort: c,
            drug,
            status,
            status_ref: opt_json(status_ref),
            stage_decisions: decisions,
            suspect,
        });
    }
    let mut dis = conn.prepare(
        "SELECT patient, partition, seq, hash, assessed_on, reported, computed, suspect FROM disagreements
         WHERE patient IN (SELECT patient FROM patients WHERE (?1 IS NULL OR cohort = ?1))
         ORDER BY patient, partition, seq",
    )?;
    let mut by_patient: std::collections::HashMap<String, Vec<Value>> = Default::default();
    for row in dis.query_map(params![cohort], |r| {
        let mut v = serde_json::json!({
            "record": {"partition": r.get::<_, i64>(1)?, "seq": r.get::<_, i64>(2)?, "hash": r.get::<_, String>(3)?},
            "assessed_on": r.get::<_, String>(4)?,
            "reported": r.get::<_, String>(5)?,
            "computed": r.get::<_, String>(6)?,
        });
        mark_suspect(&mut v, r.get(7)?);
        Ok((r.get::<_, String>(0)?, v))
    })? {
        let (p, v) = row?;
        by_patient.entry(p).or_default().push(v);
    }
    let mut st = conn.prepare(
        "SELECT patient, cohort, first_dose_on, best_response, best_refs, evaluable, benefit, benefit_refs,
                pfs_days, pfs_event, pfs_refs, os_days, os_event, os_refs, dor_days, dor_event, dor_refs,
                exceptional, exceptional_refs, grade3_trae, trae_refs, suspect
         FROM patients WHERE (?1 IS NULL OR cohort = ?1) ORDER BY patient",
    )?;
    let patients = st
        .query_map(params![cohort], |r| {
            let patient: String = r.get(0)?;
            Ok(DossierPatient {
                disagreements: by_patient.remove(&patient).unwrap_or_default(),
                patient,
                cohort: r.get(1)?,
                first_dose_on: r.get(2)?,
                best_response: r.get(3)?,
                best_refs: opt_json(r.get(4)?).unwrap_or(Value::Null),
                evaluable: r.get(5)?,
                benefit: r.get(6)?,
                benefit_refs: opt_json(r.get(7)?).unwrap_or(Value::Null),
                pfs_days: r.get(8)?,
                pfs_event: r.get(9)?,
                pfs_refs: opt_json(r.get(10)?).unwrap_or(Value::Null),
                os_days: r.get(11)?,
                os_event: r.get(12)?,
                os_refs: opt_json(r.get(13)?).unwrap_or(Value::Null),
                dor_days: r.get(14)?,
                dor_event: r.get(15)?,
                dor_refs: opt_json(r.get(16)?),
                exceptional: r.get(17)?,
                exceptional_refs: opt_json(r.get(18)?).unwrap_or(Value::Null),
                grade3plus_trae: r.get(19)?,
                trae_refs: opt_json(r.get(20)?).unwrap_or(Value::Null),
                suspect: r.get(21)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let definitions: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'definitions'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(DossierReport {
        trial,
        cohorts,
        patients,
        definitions: opt_json(definitions),
        methods: DOSSIER_METHODS.to_vec(),
        suspect_records: suspect_records(conn)?,
    })
}

/// Adds `"suspect": true` to a row's JSON object when it rests on a suspect record (nothing
/// when not, as the typed rows do).
fn mark_suspect(v: &mut Value, suspect: bool) {
    if let (true, Some(o)) = (suspect, v.as_object_mut()) {
        o.insert("suspect".into(), Value::Bool(true));
    }
}

/// Every row of every table of a view database, ordered by every column, as text (cells
/// joined by `|`; NULL as `NULL`): for comparing two databases (rebuild equality, crash
/// recovery). The `meta` table is included; nothing is left out.
pub fn dump(
    conn: &Connection,
) -> rusqlite::Result<std::collections::BTreeMap<String, Vec<String>>> {
    let mut st =
        conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?;
    let tables = st
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut out = std::collections::BTreeMap::new();
    for t in tables {
        // Primary-key order: SQLite's rowid tables ordered by every column are ordered by key
        // first where the key leads; order by all columns to be safe.
        let ncols: usize = conn.query_row(
            &format!("SELECT COUNT(*) FROM pragma_table_info('{t}')"),
            [],
            |r| r.get::<_, i64>(0),
        )? as usize;
        let order: Vec<String> = (1..=ncols).map(|i| i.to_string()).collect();
        let mut st = conn.prepare(&format!("SELECT * FROM {t} ORDER BY {}", order.join(", ")))?;
        let rows = st
            .query_map([], |r| {
                let mut cells = Vec::with_capacity(ncols);
                for i in 0..ncols {
                    use rusqlite::types::Value as V;
                    cells.push(match r.get::<_, V>(i)? {
                        V::Null => "NULL".to_string(),
                        V::Integer(x) => x.to_string(),
                        V::Real(x) => format!("{x:?}"),
                        V::Text(t) => t,
                        V::Blob(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
                    });
                }
                Ok(cells.join("|"))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        out.insert(t, rows);
    }
    Ok(out)
}

/// [`dump`] of the view database at `path` (opened read-only).
pub fn dump_file(
    path: &std::path::Path,
) -> rusqlite::Result<std::collections::BTreeMap<String, Vec<String>>> {
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    dump(&conn)
}

/// [`dump_file`] of every view database in a `--db` folder, by view name.
pub type ViewsDump =
    std::collections::BTreeMap<&'static str, std::collections::BTreeMap<String, Vec<String>>>;

/// [`dump_file`] of each of the three view databases in `db_dir`.
pub fn dump_views(db_dir: &std::path::Path) -> rusqlite::Result<ViewsDump> {
    crate::ViewKind::ALL
        .iter()
        .map(|k| Ok((k.name(), dump_file(&k.path(db_dir))?)))
        .collect()
}

/// The first difference between two [`ViewsDump`]s, or `None` when they hold the same views,
/// the same tables in each, and the same rows in each table. A dump with no tables, or no
/// rows in any table, is a difference too: comparing empty views would prove nothing.
pub fn views_difference(a: &ViewsDump, b: &ViewsDump) -> Option<String> {
    for (side, dump) in [("first", a), ("second", b)] {
        if let Some((view, _)) = dump.iter().find(|(_, tables)| tables.is_empty()) {
            return Some(format!("the {side} dump's {view} view has no tables"));
        }
        if dump.values().flat_map(|t| t.values()).all(Vec::is_empty) {
            return Some(format!("the {side} dump has no rows at all"));
        }
    }
    let views = |d: &ViewsDump| d.keys().copied().collect::<Vec<_>>();
    if views(a) != views(b) {
        return Some(format!("views differ: {:?} vs {:?}", views(a), views(b)));
    }
    for (view, tables) in a {
        let other = &b[view];
        let names = |t: &std::collections::BTreeMap<String, Vec<String>>| {
            t.keys().cloned().collect::<Vec<_>>()
        };
        if names(tables) != names(other) {
            return Some(format!(
                "{view}: tables differ: {:?} vs {:?}",
                names(tables),
                names(other)
            ));
        }
        for (table, rows) in tables {
            let theirs = &other[table];
            if rows != theirs {
                let sa: std::collections::BTreeSet<_> = rows.iter().collect();
                let sb: std::collections::BTreeSet<_> = theirs.iter().collect();
                let only_a: Vec<_> = sa.difference(&sb).take(3).collect();
                let only_b: Vec<_> = sb.difference(&sa).take(3).collect();
                return Some(format!(
                    "{view}.{table} differs ({} vs {} rows): only in the first {only_a:?}; \
                     only in the second {only_b:?}",
                    rows.len(),
                    theirs.len()
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(tables: &[(&str, &[&str])]) -> ViewsDump {
        let t = tables
            .iter()
            .map(|(n, rows)| (n.to_string(), rows.iter().map(|r| r.to_string()).collect()))
            .collect();
        [("enrollment", t)].into_iter().collect()
    }

    #[test]
    fn views_difference_compares_table_lists_rows_and_emptiness() {
        let a = dump(&[("meta", &["v|1"]), ("patients", &["P-1|x"])]);
        assert_eq!(views_difference(&a, &a.clone()), None);
        // A table only one side has is a difference, whichever side it is on.
        let b = dump(&[("meta", &["v|1"]), ("patients", &["P-1|x"]), ("extra", &[])]);
        assert!(views_difference(&a, &b).unwrap().contains("tables differ"));
        assert!(views_difference(&b, &a).unwrap().contains("tables differ"));
        let c = dump(&[("meta", &["v|1"]), ("patients", &["P-1|y"])]);
        let d = views_difference(&a, &c).unwrap();
        assert!(d.contains("enrollment.patients differs"), "{d}");
        // Empty dumps prove nothing.
        let empty = dump(&[("meta", &[]), ("patients", &[])]);
        assert!(views_difference(&empty, &empty)
            .unwrap()
            .contains("no rows at all"));
        let none = dump(&[]);
        assert!(views_difference(&none, &none)
            .unwrap()
            .contains("no tables"));
    }
}
