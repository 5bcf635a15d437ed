//! The records behind every count of the enrollment and dossier views, so that each number
//! can become a link: what `GET /v1/views/enrollment/cells` and `GET /v1/views/dossier/cells`
//! serve (the safety view's are [`crate::tables`]). Each count has a cell key; a cell lists the
//! patients counted and every record (partition, seq, hash, and the patient it is about) the
//! count rests on, read from the same rows, under the same conditions, as [`crate::report`]
//! counts them.
//!
//! Keys (`|`-separated, `%` and `|` inside a part escaped as `%25` and `%7C`):
//!
//! | view | key | the count in the view's JSON | records |
//! |---|---|---|---|
//! | enrollment | `funnel\|registered` (`sequenced`, `matched`, `mtb_approved`, `slot`, `enrolled`, `treated`) | `funnel.<name>` | each patient's `PatientRegistered`, sequencing result, match proposal, MTB decision, slot, enrolment or first dose |
//! | enrollment | `sequencing_to_first_dose_n` | `sequencing_to_first_dose_n` | the sequencing result and the first dose |
//! | enrollment | `cohort\|<ID>\|slots`, `cohort\|<ID>\|refused` | `cohorts[].slots`, `.refused` (records counted) | each `SlotAssigned` or `SlotRefused` |
//! | enrollment | `cohort\|<ID>\|enrolled`, `\|treated` | `cohorts[].enrolled`, `.treated` | the enrolment, the first dose |
//! | enrollment | `cohort\|<ID>\|evaluable`, `\|benefits` | `cohorts[].evaluable`, `.benefits` | the dossier view's records of the best response, of the clinical benefit |
//! | dossier | `trial\|<figure>`, `cohort\|<ID>\|<figure>` | `trial.<figure>`, `cohorts[].summary.<figure>` | per figure below |
//!
//! The dossier's figures: `treated` (the first dose), `evaluable` and `objective_response`
//! (the best response's records), `clinical_benefit` (the benefit's), `grade3plus_trae` (the
//! adverse events'), `exceptional_responders` (the exceptional response's), and
//! `disagreements` (each disagreeing scan; records counted). The proportions' `count` and `of`
//! are the cells of these figures. Counts of patients list each patient once; a count of
//! records (`counts: records`) lists each record once.
//!
//! A count of rows resting on a suspect record (`suspect_rows`, present in the views when not
//! 0: `funnel`, `cohorts[]`, the dossier's summaries) has the cell `funnel|suspect_rows`,
//! `cohort|<ID>|suspect_rows`, `trial|suspect_rows`: its patients, with the suspect records
//! (`report::SuspectRecord`) their rows cite.

use crate::tables::key;
use rusqlite::{params, Connection, Params};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What a cell's count counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Counts {
    /// Patients: `n` is the number of patients; each has at least one record.
    Patients,
    /// Records: `n` is the number of records (slots, refusals, disagreeing scans).
    Records,
}

/// A record behind a count. Ordered by partition, then seq (the field order).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct CellRecord {
    /// The partition.
    pub partition: u32,
    /// The sequence number.
    pub seq: u64,
    /// The record hash (hex).
    pub hash: String,
    /// The patient the record is about, for the count (`None` for a slot record whose payload
    /// does not decode).
    pub patient: Option<String>,
}

/// The patients and records behind one count.
#[derive(Clone, Debug, Serialize)]
pub struct ViewCell {
    /// What `n` counts.
    pub counts: Counts,
    /// The count, as the view reports it.
    pub n: usize,
    /// The patients counted (for a count of records, the patients those records are about).
    pub patients: BTreeSet<String>,
    /// The records, in ledger order.
    pub records: BTreeSet<CellRecord>,
}

impl ViewCell {
    fn new(counts: Counts) -> Self {
        ViewCell {
            counts,
            n: 0,
            patients: BTreeSet::new(),
            records: BTreeSet::new(),
        }
    }

    /// Adds `patient` with the references in `refs` (a reference's JSON, or a list of them).
    fn add(&mut self, patient: &str, refs: Option<&str>) {
        self.patients.insert(patient.to_string());
        let value: serde_json::Value = refs
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        let list = match value {
            serde_json::Value::Array(v) => v,
            serde_json::Value::Null => Vec::new(),
            one => vec![one],
        };
        for r in list {
            let (Some(partition), Some(seq), Some(hash)) = (
                r["partition"].as_u64().and_then(|p| u32::try_from(p).ok()),
                r["seq"].as_u64(),
                r["hash"].as_str(),
            ) else {
                continue;
            };
            self.records.insert(CellRecord {
                partition,
                seq,
                hash: hash.to_string(),
                patient: Some(patient.to_string()),
            });
        }
    }

    fn finish(mut self) -> Self {
        self.n = match self.counts {
            Counts::Patients => self.patients.len(),
            Counts::Records => self.records.len(),
        };
        self
    }
}

/// A cell of patients from `sql`, whose rows are a patient and then columns of references.
fn patients_cell(conn: &Connection, sql: &str, args: impl Params) -> rusqlite::Result<ViewCell> {
    let mut st = conn.prepare(sql)?;
    let columns = st.column_count();
    let mut cell = ViewCell::new(Counts::Patients);
    let mut rows = st.query(args)?;
    while let Some(r) = rows.next()? {
        let patient: String = r.get(0)?;
        cell.patients.insert(patient.clone());
        for i in 1..columns {
            cell.add(&patient, r.get::<_, Option<String>>(i)?.as_deref());
        }
    }
    Ok(cell.finish())
}

/// A cell of records from `sql`, whose rows are a patient, partition, seq and hash.
fn records_cell(conn: &Connection, sql: &str, args: impl Params) -> rusqlite::Result<ViewCell> {
    let mut st = conn.prepare(sql)?;
    let mut cell = ViewCell::new(Counts::Records);
    let rows = st.query_map(args, |r| {
        Ok(CellRecord {
            patient: r.get(0)?,
            partition: r.get(1)?,
            seq: r.get::<_, i64>(2)? as u64,
            hash: r.get(3)?,
        })
    })?;
    for rec in rows {
        let rec = rec?;
        cell.patients.extend(rec.patient.clone());
        cell.records.insert(rec);
    }
    Ok(cell.finish())
}

/// The patients `sql` lists (one column), each with the references of the dossier view's
/// column `refs` (the enrollment view keeps no record of a response).
fn dossier_refs_cell(
    conn: &Connection,
    dossier: &Connection,
    sql: &str,
    cohort: &str,
    refs: &str,
) -> rusqlite::Result<ViewCell> {
    let mut st = conn.prepare(sql)?;
    let names = st
        .query_map([cohort], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut look = dossier.prepare(&format!("SELECT {refs} FROM patients WHERE patient = ?1"))?;
    let mut cell = ViewCell::new(Counts::Patients);
    for name in names {
        let text: Option<String> = look
            .query_map([&name], |r| r.get(0))?
            .next()
            .transpose()?
            .flatten();
        cell.add(&name, text.as_deref());
    }
    Ok(cell.finish())
}

/// Every cell of the enrollment view for `cohort` (or every cohort), by key; `dossier` is the
/// dossier view's database, at the same positions (the records of response and benefit).
pub fn enrollment_cells(
    conn: &Connection,
    dossier: &Connection,
    cohort: Option<&str>,
) -> rusqlite::Result<BTreeMap<String, ViewCell>> {
    let mut out = BTreeMap::new();
    let f = "(?1 IS NULL OR COALESCE(enrolled_cohort, slot_cohort, mtb_cohort) = ?1)";
    for (name, cond, refs) in [
        ("registered", "registered_on IS NOT NULL", "registered_ref"),
        ("sequenced", "sequenced_on IS NOT NULL", "sequencing_ref"),
        ("matched", "matched", "match_ref"),
        ("mtb_approved", "mtb_approved", "mtb_ref"),
        ("slot", "slot_cohort IS NOT NULL", "slot_ref"),
        ("enrolled", "enrolled_cohort IS NOT NULL", "enrolled_ref"),
        ("treated", "treated", "first_dose_ref"),
    ] {
        let sql = format!("SELECT patient, {refs} FROM patients WHERE {cond} AND {f}");
        let cell = patients_cell(conn, &sql, params![cohort])?;
        out.insert(key(&["funnel", name]), cell);
    }
    let sql = format!(
        "SELECT patient, sequencing_ref, first_dose_ref FROM patients
         WHERE days_sequencing_to_first_dose IS NOT NULL AND {f}"
    );
    let cell = patients_cell(conn, &sql, params![cohort])?;
    out.insert(key(&["sequencing_to_first_dose_n"]), cell);
    let cited = cites(&ENROLLMENT_REFS.map(|c| format!("p.{c}")));
    let sql = suspect_sql(&cited, &format!("p.suspect AND {f}"));
    insert_nonzero(
        &mut out,
        key(&["funnel", "suspect_rows"]),
        patients_cell(conn, &sql, params![cohort])?,
    );
    for c in cohorts(conn, cohort)? {
        let sql = suspect_sql(&cited, "p.suspect AND enrolled_cohort = ?1");
        let cell = patients_cell(conn, &sql, [&c])?;
        insert_nonzero(&mut out, key(&["cohort", &c, "suspect_rows"]), cell);
        for (name, refs, cond) in [
            ("enrolled", "enrolled_ref", "1"),
            ("treated", "first_dose_ref", "treated"),
        ] {
            let sql = format!(
                "SELECT patient, {refs} FROM patients WHERE enrolled_cohort = ?1 AND {cond}"
            );
            let cell = patients_cell(conn, &sql, [&c])?;
            out.insert(key(&["cohort", &c, name]), cell);
        }
        for (name, refs, cond) in [
            ("evaluable", "best_refs", "evaluable"),
            ("benefits", "benefit_refs", "benefit"),
        ] {
            let sql = format!("SELECT patient FROM patients WHERE enrolled_cohort = ?1 AND {cond}");
            let cell = dossier_refs_cell(conn, dossier, &sql, &c, refs)?;
            out.insert(key(&["cohort", &c, name]), cell);
        }
        for (name, refused) in [("slots", false), ("refused", true)] {
            let cell = records_cell(
                conn,
                "SELECT patient, partition, seq, hash FROM cohort_slots
                 WHERE cohort = ?1 AND refused = ?2",
                params![c, refused],
            )?;
            out.insert(key(&["cohort", &c, name]), cell);
        }
    }
    Ok(out)
}

/// The enrollment view's columns of references (also what `views` lists as the patients'
/// citations).
pub(crate) const ENROLLMENT_REFS: [&str; 8] = [
    "registered_ref",
    "sequencing_ref",
    "match_ref",
    "mtb_ref",
    "slot_ref",
    "slot_refused_ref",
    "enrolled_ref",
    "first_dose_ref",
];

/// The dossier view's columns of references (with the analysis row's).
const DOSSIER_REFS: [&str; 8] = [
    "p.best_refs",
    "p.benefit_refs",
    "p.pfs_refs",
    "p.os_refs",
    "p.dor_refs",
    "p.exceptional_refs",
    "p.trae_refs",
    "(SELECT docr_refs FROM analyses a WHERE a.patient = p.patient)",
];

/// SQL true when the references in `columns` cite the suspect record `s` (the views' own
/// rule for marking rows, `views::citing`).
fn cites<S: AsRef<str>>(columns: &[S]) -> String {
    let text: Vec<String> = columns
        .iter()
        .map(|c| format!("COALESCE({}, '')", c.as_ref()))
        .collect();
    format!(
        "instr({}, '\"partition\":' || s.partition || ',\"seq\":' || s.seq || '}}') > 0",
        text.join(" || ")
    )
}

/// The patients of `patients p` where `cond`, each with the suspect records its references
/// cite (a cell of [`patients_cell`]).
fn suspect_sql(cited: &str, cond: &str) -> String {
    format!(
        "SELECT p.patient, json_object('partition', s.partition, 'seq', s.seq, 'hash', s.hash)
         FROM patients p LEFT JOIN suspect_records s ON {cited} WHERE {cond}"
    )
}

/// Inserts a cell unless it is empty: the views leave a count of suspect rows out when 0.
fn insert_nonzero(out: &mut BTreeMap<String, ViewCell>, key: String, cell: ViewCell) {
    if cell.n > 0 {
        out.insert(key, cell);
    }
}

/// The cohorts of a view's `cohorts` table, `cohort` alone when given.
fn cohorts(conn: &Connection, cohort: Option<&str>) -> rusqlite::Result<Vec<String>> {
    let mut st = conn
        .prepare("SELECT cohort FROM cohorts WHERE (?1 IS NULL OR cohort = ?1) ORDER BY cohort")?;
    let rows = st.query_map(params![cohort], |r| r.get(0))?;
    rows.collect()
}

/// The dossier's figures that count patients: name, condition, the column of references.
/// The first dose is the first reference of `pfs_refs` (tl-clinical's PFS starts there).
const DOSSIER_FIGURES: [(&str, &str, &str); 6] = [
    ("treated", "1", "json_extract(pfs_refs, '$[0]')"),
    ("evaluable", "evaluable", "best_refs"),
    ("clinical_benefit", "evaluable AND benefit", "benefit_refs"),
    ("objective_response", "evaluable AND objective", "best_refs"),
    ("grade3plus_trae", "grade3_trae", "trae_refs"),
    (
        "exceptional_responders",
        "evaluable AND exceptional",
        "exceptional_refs",
    ),
];

/// The cells of one dossier summary (`trial` with the filter `cohort`, or one cohort's).
fn dossier_group(
    conn: &Connection,
    prefix: &[&str],
    cohort: Option<&str>,
    out: &mut BTreeMap<String, ViewCell>,
) -> rusqlite::Result<()> {
    let f = "(?1 IS NULL OR cohort = ?1)";
    let named = |name: &str| {
        let mut parts = prefix.to_vec();
        parts.push(name);
        key(&parts)
    };
    for (name, cond, refs) in DOSSIER_FIGURES {
        let sql = format!("SELECT patient, {refs} FROM patients WHERE {cond} AND {f}");
        out.insert(named(name), patients_cell(conn, &sql, params![cohort])?);
    }
    let sql = format!(
        "SELECT patient, partition, seq, hash FROM disagreements
         WHERE patient IN (SELECT patient FROM patients WHERE {f})"
    );
    out.insert(
        named("disagreements"),
        records_cell(conn, &sql, params![cohort])?,
    );
    let flagged = "(p.suspect OR EXISTS (SELECT 1 FROM analyses a WHERE a.patient = p.patient AND a.suspect))";
    let sql = suspect_sql(
        &cites(&DOSSIER_REFS),
        &format!("{flagged} AND (?1 IS NULL OR p.cohort = ?1)"),
    );
    let cell = patients_cell(conn, &sql, params![cohort])?;
    insert_nonzero(out, named("suspect_rows"), cell);
    Ok(())
}

/// Every cell of the dossier view for `cohort` (or every cohort), by key.
pub fn dossier_cells(
    conn: &Connection,
    cohort: Option<&str>,
) -> rusqlite::Result<BTreeMap<String, ViewCell>> {
    let mut out = BTreeMap::new();
    dossier_group(conn, &["trial"], cohort, &mut out)?;
    for c in cohorts(conn, cohort)? {
        dossier_group(conn, &["cohort", &c], Some(&c), &mut out)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ViewDb, ViewKind};

    #[test]
    fn a_suspect_row_resolves_to_its_patient_and_the_suspect_record_it_cites() {
        // Given an enrollment view where P-1's registration (0/5) is a suspect record, P-2's
        // row is clean, and P-3 is enrolled in C-1 with a suspect enrolment (1/2)
        let dir = tempfile::tempdir().unwrap();
        let trial = tl_schemas::TrialId::new("t").unwrap();
        let e = ViewDb::open(ViewKind::Enrollment, dir.path(), &trial, &[1; 32]).unwrap();
        let d = ViewDb::open(ViewKind::Dossier, dir.path(), &trial, &[1; 32]).unwrap();
        let r = |p: u32, s: u64| format!(r#"{{"hash":"h{p}{s}","partition":{p},"seq":{s}}}"#);
        e.conn()
            .execute_batch(&format!(
                "INSERT INTO patients (patient, registered_ref, enrolled_cohort, enrolled_ref,
                   matched, mtb_approved, treated, evaluable, benefit, died, suspect)
                 VALUES ('P-1', '{}', NULL, NULL, 0, 0, 0, 0, 0, 0, 1),
                        ('P-2', '{}', NULL, NULL, 0, 0, 0, 0, 0, 0, 0),
                        ('P-3', '{}', 'C-1', '{}', 0, 0, 0, 0, 0, 0, 1);
                 INSERT INTO cohorts (cohort, status, stage, slots, refused, suspect)
                   VALUES ('C-1', 'stage_1', 1, 0, 0, 0);
                 INSERT INTO suspect_records VALUES (0, 5, 'h05', 'k', 'x'), (1, 2, 'h12', 'k', 'x'),
                   (0, 50, 'h050', 'k', 'x');",
                r(0, 5),
                r(0, 6),
                r(0, 7),
                r(1, 2)
            ))
            .unwrap();
        // when the view's cells are read
        let cells = enrollment_cells(e.conn(), d.conn(), None).unwrap();
        // then the funnel's suspect rows are P-1 and P-3, each with the suspect record it cites
        // (not 0/50, which no row cites, nor 0/5's prefix match 0/50)
        let c = &cells["funnel|suspect_rows"];
        assert_eq!(c.n, 2);
        let got: Vec<(u32, u64, Option<&str>)> = c
            .records
            .iter()
            .map(|r| (r.partition, r.seq, r.patient.as_deref()))
            .collect();
        assert_eq!(got, [(0, 5, Some("P-1")), (1, 2, Some("P-3"))]);
        // and the cohort's, P-3 alone; a count of 0 (the dossier's) has no cell.
        assert_eq!(cells["cohort|C-1|suspect_rows"].n, 1);
        let dossier = dossier_cells(d.conn(), None).unwrap();
        assert!(!dossier.contains_key("trial|suspect_rows"));
        assert_eq!(dossier["trial|treated"].n, 0);
    }

    #[test]
    fn a_cell_counts_patients_once_and_reads_one_reference_or_a_list() {
        // Given a patient cited by one reference and by a list of two, and one with none
        let mut cell = ViewCell::new(Counts::Patients);
        cell.add("P-1", Some(r#"{"hash":"aa","partition":1,"seq":4}"#));
        cell.add(
            "P-1",
            Some(r#"[{"hash":"bb","partition":0,"seq":9},{"hash":"aa","partition":1,"seq":4}]"#),
        );
        cell.add("P-2", None);
        // when the cell is finished
        let cell = cell.finish();
        // then it counts two patients, and holds each record once, in ledger order
        assert_eq!(cell.n, 2);
        let at: Vec<(u32, u64)> = cell.records.iter().map(|r| (r.partition, r.seq)).collect();
        assert_eq!(at, [(0, 9), (1, 4)]);
        assert!(cell
            .records
            .iter()
            .all(|r| r.patient.as_deref() == Some("P-1")));
    }
}
