//! The safety board's tables, read from the safety view: what `view safety --json` prints
//! under `tables`, and what `GET /v1/views/safety/tables` serves. The rules and statistics are
//! tl-clinical's ([`tl_clinical::safety_tables`], [`tl_clinical::exposure`],
//! [`tl_clinical::clocks`]); this module loads the per-patient rows, forms the columns (each
//! cohort, then each drug pooled over its cohorts) and names every cell, so that
//! [`SafetyTables::cell`] resolves a count to the patients and records behind it.
//!
//! The JSON is documented in README.md ("The safety board's tables").

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use tl_clinical::clocks::{sae_clock, susar_clocks, CaseReport, ClockKind, SaeClock};
use tl_clinical::exposure::{Exposure, Rates};
use tl_clinical::safety_tables::{
    by_term, death_causes, death_within_window, overview, rates, Bands, Cell, DeathFacts,
    EventFacts, OverviewRow, PatientSafety, RateRow, TermKey,
};
use tl_clinical::SeriousnessCriteria;
use tl_schemas::Date;

/// A record: partition, sequence number and hash (hex).
/// Ordered by partition, then seq (the field order).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Rec {
    /// The partition.
    pub partition: u32,
    /// The sequence number.
    pub seq: u64,
    /// The record hash (hex).
    pub hash: String,
}

/// Which cohorts or drug the tables cover.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only this cohort (no pooled column but its drug's, over this cohort alone).
    pub cohort: Option<String>,
    /// Only this drug's cohorts.
    pub drug: Option<String>,
}

/// A column: one cohort, or one drug pooled over its cohorts.
#[derive(Clone, Debug, Serialize)]
pub struct Column {
    /// The column's key (`cohort:ID` or `drug:NAME`), used in cell keys.
    pub key: String,
    /// `cohort` or `drug` (pooled).
    pub kind: &'static str,
    /// The cohort (a cohort column).
    pub cohort: Option<String>,
    /// The drug.
    pub drug: Option<String>,
    /// The cohorts in the column.
    pub cohorts: Vec<String>,
    /// Treated patients (the denominator).
    pub treated: Count,
    /// Patient-years of exposure.
    pub patient_years_exposure: f64,
}

/// One number of a table: patients counted, their share of the column's treated patients, and
/// the key that resolves to the patients and records behind it (`GET
/// /v1/views/safety/tables/cells?cell=KEY`).
#[derive(Clone, Debug, Serialize)]
pub struct Count {
    /// Patients.
    pub n: usize,
    /// Percent of the column's treated patients (`None` with none treated).
    pub pct: Option<f64>,
    /// The cell's key (opaque; absent when `n` is 0: nothing to list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cell: Option<String>,
}

/// A row of the overview.
#[derive(Clone, Debug, Serialize)]
pub struct OverviewLine {
    /// The row (`any_ae`, `treatment_related_ae`, `grade3_or_worse`, `serious_ae`,
    /// `leading_to_dose_modification`, `leading_to_discontinuation`, `grade5`,
    /// `death_within30_days`).
    pub row: OverviewRow,
    /// Its label.
    pub label: &'static str,
    /// One count per column.
    pub cells: Vec<Count>,
}

impl OverviewLine {
    /// The row's JSON name (`any_ae`, ...).
    pub fn row_name(&self) -> String {
        serde_json::to_value(self.row)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// A cause of the deaths within 30 days of the last dose.
#[derive(Clone, Debug, Serialize)]
pub struct CauseLine {
    /// The cause, as recorded.
    pub cause: String,
    /// One count per column.
    pub cells: Vec<Count>,
}

/// Patients by highest grade.
#[derive(Clone, Debug, Serialize)]
pub struct BandCounts {
    /// Any grade.
    pub any_grade: Count,
    /// Highest grade 1-2.
    pub grade_1_2: Count,
    /// Highest grade 3-4.
    pub grade_3_4: Count,
    /// Highest grade 5.
    pub grade_5: Count,
}

/// One column of a by-term row.
#[derive(Clone, Debug, Serialize)]
pub struct TermCounts {
    /// All events.
    pub all: BandCounts,
    /// Treatment-related events only.
    pub related: BandCounts,
}

/// A row of the by-term table.
#[derive(Clone, Debug, Serialize)]
pub struct TermLine {
    /// The MedDRA system organ class CTCAE v5.0 lists for the term, or "SOC not mapped".
    pub soc: String,
    /// The term (`None`: the class's own row, any term of the class).
    pub term: Option<String>,
    /// One entry per column.
    pub cells: Vec<TermCounts>,
}

/// One column of a rates row.
#[derive(Clone, Debug, Serialize)]
pub struct RateCell {
    /// The rates ([`tl_clinical::exposure::Rates`]).
    #[serde(flatten)]
    pub rates: Rates,
    /// The key of the patients with an event within exposure (EAIR's numerator; absent when
    /// there are none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cell: Option<String>,
}

/// A row of the exposure-adjusted rates.
#[derive(Clone, Debug, Serialize)]
pub struct RateLine {
    /// `any_ae`, `treatment_related_ae`, `grade3_or_worse` or `serious_ae`.
    pub row: RateRow,
    /// One entry per column.
    pub cells: Vec<RateCell>,
}

/// A death, patient by patient.
#[derive(Clone, Debug, Serialize)]
pub struct DeathLine {
    /// Patient.
    pub patient: String,
    /// Cohort.
    pub cohort: Option<String>,
    /// Drug.
    pub drug: Option<String>,
    /// Date of death.
    pub died_on: String,
    /// Cause.
    pub cause: String,
    /// Treatment-related, as the investigator judges it.
    pub treatment_related: bool,
    /// The last dose (`None`: never dosed).
    pub last_dose_on: Option<String>,
    /// Days from the last dose to death.
    pub days_from_last_dose: Option<i32>,
    /// Within 30 days of the last dose.
    pub within_30_days: bool,
    /// The `DeathRecorded` record.
    pub record: Rec,
}

/// A SUSAR clock of a case.
#[derive(Clone, Debug, Serialize)]
pub struct ClockLine {
    /// `susar_7_day`, `susar_7_day_follow_up` or `susar_15_day`.
    pub kind: ClockKind,
    /// Day 0: the sponsor's awareness date of the report that started it.
    pub day0: String,
    /// Calendar days from day 0 to the due date.
    pub window_days: i32,
    /// The last day the report is on time.
    pub due: String,
    /// The report that started it.
    pub started_by: Rec,
    /// That record's time (the sequencer's clock), beside day 0.
    pub started_recorded_at: String,
}

/// One report of a case.
#[derive(Clone, Debug, Serialize)]
pub struct CaseRecord {
    /// The record.
    #[serde(flatten)]
    pub rec: Rec,
    /// Its time (the sequencer's clock).
    pub recorded_at: String,
    /// The sponsor's awareness date it carries.
    pub awareness: String,
}

/// One case's reporting clocks.
#[derive(Clone, Debug, Serialize)]
pub struct CaseLine {
    /// Patient.
    pub patient: String,
    /// Adverse event id.
    pub ae_id: i64,
    /// Cohort.
    pub cohort: Option<String>,
    /// Drug.
    pub drug: Option<String>,
    /// CTCAE term.
    pub ctcae_term: String,
    /// Worst grade.
    pub grade: i64,
    /// Seriousness criteria as last reported.
    pub seriousness: Vec<String>,
    /// Fatal or life-threatening as last reported.
    pub fatal_or_life_threatening: bool,
    /// Attribution as last reported.
    pub attribution: String,
    /// Expected, as last reported.
    pub expected: bool,
    /// Who judged expectedness: today always `investigator` (the sponsor's own assessment
    /// comes with a later event).
    pub expectedness_by: &'static str,
    /// A SUSAR as last reported.
    pub susar: bool,
    /// Day 0: the sponsor's awareness date of the first report.
    pub day0: String,
    /// The first report's record time, beside day 0.
    pub recorded_at: String,
    /// The SUSAR clocks (empty when not a SUSAR).
    pub susar_clocks: Vec<ClockLine>,
    /// The earliest SUSAR due date (`None` without a SUSAR clock).
    pub next_due: Option<String>,
    /// The investigator's 24-hour SAE clock (`None` for a partial onset).
    pub sae_clock: Option<SaeClock>,
    /// When the case was reported to the authority: always `None` until a signed event
    /// records it (a later issue).
    pub reported_at: Option<String>,
    /// The report and every follow-up.
    pub records: Vec<CaseRecord>,
}

/// The safety board's tables.
#[derive(Clone, Debug, Serialize)]
pub struct SafetyTables {
    /// The definitions behind every number, by name.
    pub definitions: BTreeMap<&'static str, &'static str>,
    /// The columns, cohorts first then drugs pooled; every `cells` list follows this order.
    pub columns: Vec<Column>,
    /// The overview.
    pub overview: Vec<OverviewLine>,
    /// The causes of deaths within 30 days of the last dose.
    pub death_causes: Vec<CauseLine>,
    /// Adverse events by class, term and highest grade per patient.
    pub by_term: Vec<TermLine>,
    /// Exposure-adjusted rates.
    pub rates: Vec<RateLine>,
    /// Deaths, patient by patient (`None` for roles without patient-level access).
    pub deaths: Option<Vec<DeathLine>>,
    /// Reporting clocks, one row per serious case (`None` for roles without patient-level
    /// access).
    pub clocks: Option<Vec<CaseLine>>,
    /// Every cell by key (not serialised: [`SafetyTables::cell`]).
    #[serde(skip)]
    pub cells: BTreeMap<String, Cell<Rec>>,
}

impl SafetyTables {
    /// The patients and records behind the cell `key`.
    pub fn cell(&self, key: &str) -> Option<&Cell<Rec>> {
        self.cells.get(key)
    }

    /// Drops the patient-level parts (deaths listing, clocks).
    pub fn aggregate_only(mut self) -> Self {
        self.deaths = None;
        self.clocks = None;
        self
    }
}

/// The definitions, as `definitions` in the JSON.
pub const DEFINITIONS: &[(&str, &str)] = &[
    ("population", "Treated patients: at least one DoseAdministered. A cohort column holds its enrolled patients; a drug column pools every patient whose first dose was that drug, for drugs given in more than one cohort. Single-arm columns: no comparisons."),
    ("treatment_related", "Attribution possible, probable or definite, as last reported."),
    ("grade", "An event's grade is the worst CTCAE grade reported for it; a patient counts once per row, at their highest grade among the row's events."),
    ("soc", "The MedDRA system organ class CTCAE v5.0 (NCI, 27 Nov 2017) lists for the term (clinical/src/ctcae_soc.rs); other terms are under 'SOC not mapped'."),
    ("leading_to_dose_modification", "A DoseModified reducing or interrupting the dose that cites one of the patient's adverse-event records."),
    ("leading_to_discontinuation", "A TreatmentEnded with reason Toxicity, or a DoseModified discontinuing the drug that cites an adverse-event record."),
    ("death_within_30_days", "Died no more than 30 days after the last dose, any cause (causes listed)."),
    ("exposure", "First dose to end of treatment; while ongoing, to the last dose plus one cycle, never past death. Days inclusive; patient-years = days / 365.25."),
    ("cycle", "Read from the patient's doses: days between the first doses of the two latest cycles over the cycles between them; 28 days with one cycle (the protocol document states no schedule)."),
    ("eair", "Exposure-adjusted incidence rate: patients with >= 1 event within exposure / patient-years at risk (first dose to the first event's onset inclusive, or the whole exposure without one), per 100 patient-years. Partial onsets are imputed to the first day of their period, or the first dose when it falls in it."),
    ("eaer", "Exposure-adjusted event rate: events with onset within exposure / patient-years of exposure, per 100 patient-years."),
    ("susar_clocks", "Day 0 is the sponsor's awareness date in the AE payload. A SUSAR (suspected, serious, unexpected) that is fatal or life-threatening: report in 7 days, follow-up within 8 further days; others 15 days; a case that becomes fatal or life-threatening starts a new 7-day clock from that follow-up's awareness date (EU CTR Art. 42, ICH E2A)."),
    ("sae_clock", "The investigator reports a serious AE to the sponsor within 24 hours (CTR Art. 41): day 0 is the onset (no investigator-awareness date is recorded), due the day after; on time when the sponsor's awareness date is no later."),
    ("expectedness", "Expectedness is the investigator's, as the AE payload carries it; the sponsor's assessment comes with a later event. reported_at is null until a signed report event exists."),
];

fn escape(s: &str) -> String {
    s.replace('%', "%25").replace('|', "%7C")
}

/// A cell key: the parts joined by `|`, each with `%` and `|` escaped.
pub(crate) fn key(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| escape(p))
        .collect::<Vec<_>>()
        .join("|")
}

fn refs(text: &str) -> Vec<Rec> {
    serde_json::from_str(text).unwrap_or_default()
}

fn day(text: &str) -> Option<Date> {
    Date::parse(text)
}

/// A treated patient's rows.
struct Loaded {
    cohort: Option<String>,
    drug: Option<String>,
    facts: PatientSafety<Rec>,
    exposure_refs: Vec<Rec>,
}

fn load_patients(conn: &Connection) -> rusqlite::Result<BTreeMap<String, Loaded>> {
    let mut out = BTreeMap::new();
    let mut st = conn.prepare(
        "SELECT patient, cohort, drug, first_dose_on, last_dose_on, exposure_end, ended_on, cycle_days, refs FROM exposure",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, Option<String>>(2)?,
            [
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ],
            r.get::<_, Option<String>>(6)?,
            r.get::<_, i32>(7)?,
            r.get::<_, String>(8)?,
        ))
    })?;
    for row in rows {
        let (patient, cohort, drug, [first, last, end], ended, cycle, rs) = row?;
        let (Some(first), Some(last), Some(end)) = (day(&first), day(&last), day(&end)) else {
            continue;
        };
        let exposure = Exposure {
            start: first,
            end,
            ongoing: ended.is_none(),
            cycle_days: cycle,
        };
        let facts = PatientSafety {
            patient: patient.clone(),
            exposure,
            last_dose: last,
            events: Vec::new(),
            dose_modified: Vec::new(),
            discontinued: Vec::new(),
            death: None,
        };
        let exposure_refs = refs(&rs);
        out.insert(
            patient,
            Loaded {
                cohort,
                drug,
                facts,
                exposure_refs,
            },
        );
    }
    load_events(conn, &mut out)?;
    Ok(out)
}

fn load_events(conn: &Connection, out: &mut BTreeMap<String, Loaded>) -> rusqlite::Result<()> {
    let mut st = conn.prepare(
        "SELECT patient, ctcae_term, grade, treatment_related, serious, onset_on, refs FROM adverse_events ORDER BY patient, ae_id",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            EventFacts {
                term: r.get(1)?,
                grade: r.get(2)?,
                related: r.get(3)?,
                serious: r.get(4)?,
                onset: r.get::<_, Option<String>>(5)?.as_deref().and_then(day),
                refs: refs(&r.get::<_, String>(6)?),
            },
        ))
    })?;
    for row in rows {
        let (patient, e) = row?;
        if let Some(p) = out.get_mut(&patient) {
            p.facts.events.push(e);
        }
    }
    let mut st = conn.prepare(
        "SELECT patient, toxicity, partition, seq, hash FROM dose_actions WHERE toxicity IS NOT NULL ORDER BY partition, seq",
    )?;
    let rows = st.query_map([], |r| {
        let rec = Rec {
            partition: r.get(2)?,
            seq: r.get::<_, i64>(3)? as u64,
            hash: r.get(4)?,
        };
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, rec))
    })?;
    for row in rows {
        let (patient, what, rec) = row?;
        if let Some(p) = out.get_mut(&patient) {
            match what.as_str() {
                "dose_modification" => p.facts.dose_modified.push(rec),
                _ => p.facts.discontinued.push(rec),
            }
        }
    }
    let mut st =
        conn.prepare("SELECT patient, died_on, cause, treatment_related, ref FROM deaths")?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, bool>(3)?,
            r.get::<_, String>(4)?,
        ))
    })?;
    for row in rows {
        let (patient, died, cause, related, r) = row?;
        let (Some(p), Some(died_on), Ok(at)) = (
            out.get_mut(&patient),
            day(&died),
            serde_json::from_str::<Rec>(&r),
        ) else {
            continue;
        };
        p.facts.death = Some(DeathFacts {
            died_on,
            cause,
            related,
            at,
        });
    }
    Ok(())
}

/// The columns: each cohort with treated patients (in name order), then each drug pooled
/// over its patients, within the filter (only drugs given in more than one cohort, or to a
/// patient without one: a single cohort's pooled column would repeat it).
fn columns(patients: &BTreeMap<String, Loaded>, filter: &Filter) -> Vec<(Column, Vec<String>)> {
    let keep = |p: &Loaded| {
        filter
            .cohort
            .as_ref()
            .is_none_or(|c| p.cohort.as_ref() == Some(c))
            && filter
                .drug
                .as_ref()
                .is_none_or(|d| p.drug.as_ref() == Some(d))
    };
    let mut by_cohort: BTreeMap<String, (Option<String>, Vec<String>)> = BTreeMap::new();
    let mut by_drug: BTreeMap<String, (BTreeSet<String>, Vec<String>)> = BTreeMap::new();
    for (name, p) in patients.iter().filter(|(_, p)| keep(p)) {
        if let Some(c) = &p.cohort {
            let e = by_cohort
                .entry(c.clone())
                .or_insert((p.drug.clone(), vec![]));
            e.1.push(name.clone());
        }
        if let Some(d) = &p.drug {
            let e = by_drug.entry(d.clone()).or_default();
            e.0.extend(p.cohort.clone());
            e.1.push(name.clone());
        }
    }
    let col = |key: String, kind, cohort, drug, cohorts, names: Vec<String>| {
        let c = Column {
            treated: Count {
                n: names.len(),
                pct: None,
                cell: Some(self::key(&["treated", &key])),
            },
            key,
            kind,
            cohort,
            drug,
            cohorts,
            patient_years_exposure: 0.0,
        };
        (c, names)
    };
    let mut out: Vec<_> = by_cohort
        .into_iter()
        .map(|(c, (d, names))| {
            col(
                format!("cohort:{c}"),
                "cohort",
                Some(c.clone()),
                d,
                vec![c],
                names,
            )
        })
        .collect();
    // A drug given in one cohort only has no pooled column: it would repeat the cohort's.
    let pooled = by_drug.into_iter().filter(|(_, (cohorts, names))| {
        cohorts.len() > 1 || names.iter().any(|n| patients[n].cohort.is_none())
    });
    out.extend(pooled.map(|(d, (cohorts, names))| {
        col(
            format!("drug:{d}"),
            "drug",
            None,
            Some(d),
            cohorts.into_iter().collect(),
            names,
        )
    }));
    out
}

/// Registers a cell under `key` and returns its count against `of` treated patients.
fn count(
    cells: &mut BTreeMap<String, Cell<Rec>>,
    key: String,
    cell: Cell<Rec>,
    of: usize,
) -> Count {
    let n = cell.n();
    let cell = (n > 0).then(|| {
        cells.insert(key.clone(), cell);
        key
    });
    Count {
        n,
        pct: (of > 0).then(|| 100.0 * n as f64 / of as f64),
        cell,
    }
}

/// The safety board's tables from the safety view, within `filter`. `today` is not needed:
/// the clocks carry due dates and the client computes time left.
pub fn safety_tables(conn: &Connection, filter: &Filter) -> rusqlite::Result<SafetyTables> {
    let patients = load_patients(conn)?;
    let cols = columns(&patients, filter);
    let mut cells: BTreeMap<String, Cell<Rec>> = BTreeMap::new();
    let mut overview_rows: BTreeMap<OverviewRow, Vec<Count>> = BTreeMap::new();
    let mut causes: CauseCounts = BTreeMap::new();
    let mut terms: TermCountsByColumn = BTreeMap::new();
    let mut rate_rows: Vec<(RateRow, Vec<RateCell>)> =
        RateRow::ALL.iter().map(|r| (*r, Vec::new())).collect();
    let mut columns = Vec::new();
    for (i, (mut col, names)) in cols.into_iter().enumerate() {
        let group: Vec<&PatientSafety<Rec>> = names.iter().map(|n| &patients[n].facts).collect();
        let of = group.len();
        let mut treated = Cell::default();
        for n in &names {
            treated.patients.insert(n.clone());
            treated
                .records
                .extend(patients[n].exposure_refs.iter().cloned());
        }
        if let Some(k) = &col.treated.cell {
            cells.insert(k.clone(), treated);
        }
        col.patient_years_exposure = group
            .iter()
            .map(|p| f64::from(p.exposure.days()))
            .sum::<f64>()
            / tl_clinical::exposure::DAYS_PER_YEAR;
        for (row, cell) in overview(&group) {
            let k = key(&["overview", row.label(), &col.key]);
            overview_rows
                .entry(row)
                .or_default()
                .push(count(&mut cells, k, cell, of));
        }
        for (cause, cell) in death_causes(&group) {
            let k = key(&["death_cause", &cause, &col.key]);
            let c = count(&mut cells, k, cell, of);
            causes.entry(cause).or_default().insert(i, c);
        }
        for (tk, tc) in by_term(&group) {
            let counts = term_counts(&mut cells, &tk, tc, &col.key, of);
            terms.entry(tk).or_default().insert(i, counts);
        }
        for ((row, r, cell), (_, out)) in rates(&group).into_iter().zip(rate_rows.iter_mut()) {
            let name = serde_json::to_value(row).unwrap_or_default();
            let k = key(&["rate", name.as_str().unwrap_or_default(), &col.key]);
            let cell = count(&mut cells, k, cell, of).cell;
            out.push(RateCell { rates: r, cell });
        }
        columns.push(col);
    }
    let (death_causes, by_term) = rows_of(&columns, &mut cells, causes, terms);
    Ok(SafetyTables {
        definitions: DEFINITIONS.iter().copied().collect(),
        overview: overview_rows
            .into_iter()
            .map(|(row, cells)| OverviewLine {
                row,
                label: row.label(),
                cells,
            })
            .collect(),
        death_causes,
        by_term,
        rates: rate_rows
            .into_iter()
            .map(|(row, cells)| RateLine { row, cells })
            .collect(),
        deaths: Some(deaths(conn, &patients, filter)?),
        clocks: Some(clocks(conn, &patients, filter)?),
        columns,
        cells,
    })
}

type CauseCounts = BTreeMap<String, BTreeMap<usize, Count>>;
type TermCountsByColumn = BTreeMap<TermKey, BTreeMap<usize, TermCounts>>;

/// The death-cause and by-term rows, every column filled.
fn rows_of(
    columns: &[Column],
    cells: &mut BTreeMap<String, Cell<Rec>>,
    causes: CauseCounts,
    terms: TermCountsByColumn,
) -> (Vec<CauseLine>, Vec<TermLine>) {
    let death_causes = causes
        .into_iter()
        .map(|(cause, m)| {
            let counts = fill(columns, m, cells, &["death_cause", &cause]);
            CauseLine {
                cause,
                cells: counts,
            }
        })
        .collect();
    let by_term = terms
        .into_iter()
        .map(|(tk, m)| term_line(columns, cells, tk, m))
        .collect();
    (death_causes, by_term)
}

/// A row's counts for every column, an empty cell (n = 0) where a column has none.
fn fill(
    columns: &[Column],
    mut m: BTreeMap<usize, Count>,
    cells: &mut BTreeMap<String, Cell<Rec>>,
    what: &[&str],
) -> Vec<Count> {
    columns
        .iter()
        .enumerate()
        .map(|(i, col)| {
            m.remove(&i).unwrap_or_else(|| {
                let mut parts = what.to_vec();
                parts.push(&col.key);
                count(cells, key(&parts), Cell::default(), col.treated.n)
            })
        })
        .collect()
}

fn term_key_parts(tk: &TermKey) -> Vec<String> {
    vec![
        "by_term".to_string(),
        tk.soc.to_string(),
        tk.term.clone().unwrap_or_else(|| "*".into()),
    ]
}

fn band_counts(
    cells: &mut BTreeMap<String, Cell<Rec>>,
    base: &[String],
    which: &str,
    col: &str,
    b: Bands<Rec>,
    of: usize,
) -> BandCounts {
    let mut k = |band: &str, c| {
        let mut parts: Vec<&str> = base.iter().map(String::as_str).collect();
        parts.extend([which, band, col]);
        count(cells, key(&parts), c, of)
    };
    BandCounts {
        any_grade: k("any_grade", b.any_grade),
        grade_1_2: k("grade_1_2", b.grade_1_2),
        grade_3_4: k("grade_3_4", b.grade_3_4),
        grade_5: k("grade_5", b.grade_5),
    }
}

fn term_counts(
    cells: &mut BTreeMap<String, Cell<Rec>>,
    tk: &TermKey,
    tc: tl_clinical::safety_tables::TermCells<Rec>,
    col: &str,
    of: usize,
) -> TermCounts {
    let base = term_key_parts(tk);
    TermCounts {
        all: band_counts(cells, &base, "all", col, tc.all, of),
        related: band_counts(cells, &base, "related", col, tc.related, of),
    }
}

fn term_line(
    columns: &[Column],
    cells: &mut BTreeMap<String, Cell<Rec>>,
    tk: TermKey,
    mut m: BTreeMap<usize, TermCounts>,
) -> TermLine {
    let per_col = columns
        .iter()
        .enumerate()
        .map(|(i, col)| {
            m.remove(&i).unwrap_or_else(|| {
                let empty = tl_clinical::safety_tables::TermCells::default();
                term_counts(cells, &tk, empty, &col.key, col.treated.n)
            })
        })
        .collect();
    TermLine {
        soc: tk.soc.to_string(),
        term: tk.term,
        cells: per_col,
    }
}

fn in_filter(filter: &Filter, cohort: Option<&str>, drug: Option<&str>) -> bool {
    filter.cohort.as_deref().is_none_or(|c| cohort == Some(c))
        && filter.drug.as_deref().is_none_or(|d| drug == Some(d))
}

fn deaths(
    conn: &Connection,
    patients: &BTreeMap<String, Loaded>,
    filter: &Filter,
) -> rusqlite::Result<Vec<DeathLine>> {
    let mut st = conn.prepare(
        "SELECT patient, cohort, died_on, cause, treatment_related, ref FROM deaths ORDER BY died_on, patient",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, bool>(4)?,
            r.get::<_, String>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (patient, cohort, died_on, cause, treatment_related, r) = row?;
        let p = patients.get(&patient);
        let drug = p.and_then(|p| p.drug.clone());
        if !in_filter(filter, cohort.as_deref(), drug.as_deref()) {
            continue;
        }
        let Ok(record) = serde_json::from_str::<Rec>(&r) else {
            continue;
        };
        let last = p.map(|p| p.facts.last_dose);
        let died = day(&died_on);
        let days = last.zip(died).map(|(l, d)| l.days_until(d));
        out.push(DeathLine {
            within_30_days: last
                .zip(died)
                .is_some_and(|(l, d)| death_within_window(l, d)),
            patient,
            cohort,
            drug,
            died_on,
            cause,
            treatment_related,
            last_dose_on: last.map(|d| d.to_string()),
            days_from_last_dose: days,
            record,
        });
    }
    Ok(out)
}

/// One report row of `ae_reports`.
struct ReportRow {
    rec: Rec,
    recorded_at: String,
    awareness: String,
    serious: Vec<String>,
    expected: bool,
    attribution: String,
}

fn criteria(names: &[String]) -> SeriousnessCriteria {
    let has = |n: &str| names.iter().any(|x| x == n);
    SeriousnessCriteria {
        death: has("Death"),
        life_threatening: has("LifeThreatening"),
        hospitalisation: has("Hospitalisation"),
        disability: has("Disability"),
        congenital_anomaly: has("CongenitalAnomaly"),
        medically_important: has("MedicallyImportant"),
    }
}

fn attribution(name: &str) -> tl_clinical::Attribution {
    use tl_clinical::Attribution::*;
    match name {
        "Possible" => Possible,
        "Probable" => Probable,
        "Definite" => Definite,
        "Unlikely" => Unlikely,
        _ => Unrelated,
    }
}

fn load_reports(conn: &Connection) -> rusqlite::Result<BTreeMap<(String, i64), Vec<ReportRow>>> {
    let mut st = conn.prepare(
        "SELECT patient, ae_id, partition, seq, hash, recorded_at, awareness, serious, expected, attribution
         FROM ae_reports ORDER BY patient, ae_id, n",
    )?;
    let rows = st.query_map([], |r| {
        let key = (r.get::<_, String>(0)?, r.get::<_, i64>(1)?);
        Ok((
            key,
            ReportRow {
                rec: Rec {
                    partition: r.get(2)?,
                    seq: r.get::<_, i64>(3)? as u64,
                    hash: r.get(4)?,
                },
                recorded_at: r.get(5)?,
                awareness: r.get(6)?,
                serious: serde_json::from_str(&r.get::<_, String>(7)?).unwrap_or_default(),
                expected: r.get(8)?,
                attribution: r.get(9)?,
            },
        ))
    })?;
    let mut out: BTreeMap<(String, i64), Vec<ReportRow>> = BTreeMap::new();
    for row in rows {
        let (k, v) = row?;
        out.entry(k).or_default().push(v);
    }
    Ok(out)
}

fn clocks(
    conn: &Connection,
    patients: &BTreeMap<String, Loaded>,
    filter: &Filter,
) -> rusqlite::Result<Vec<CaseLine>> {
    let reports = load_reports(conn)?;
    let mut st = conn.prepare(
        "SELECT patient, ae_id, cohort, drug, ctcae_term, grade, onset FROM adverse_events ORDER BY patient, ae_id",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, String>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (patient, ae_id, cohort, drug, term, grade, onset) = row?;
        let drug = drug.or_else(|| patients.get(&patient).and_then(|p| p.drug.clone()));
        if !in_filter(filter, cohort.as_deref(), drug.as_deref()) {
            continue;
        }
        let Some(list) = reports.get(&(patient.clone(), ae_id)) else {
            continue;
        };
        if let Some(line) = case_line(list, (patient, ae_id, cohort, drug, term, grade), &onset) {
            out.push(line);
        }
    }
    out.sort_by(|a, b| {
        (a.next_due.is_none(), &a.next_due, &a.patient, a.ae_id).cmp(&(
            b.next_due.is_none(),
            &b.next_due,
            &b.patient,
            b.ae_id,
        ))
    });
    Ok(out)
}

type CaseId = (String, i64, Option<String>, Option<String>, String, i64);

/// A case's row: serious in any report, or a SUSAR; `None` otherwise.
fn case_line(list: &[ReportRow], id: CaseId, onset: &str) -> Option<CaseLine> {
    let (patient, ae_id, cohort, drug, ctcae_term, grade) = id;
    let first = list.first()?;
    let last = list.last()?;
    let inputs: Vec<CaseReport> = list
        .iter()
        .filter_map(|r| {
            Some(CaseReport {
                awareness: day(&r.awareness)?,
                criteria: criteria(&r.serious),
                attribution: attribution(&r.attribution),
                expected: r.expected,
            })
        })
        .collect();
    let ever_serious = inputs.iter().any(|r| r.criteria.is_serious());
    let clocks = susar_clocks(&inputs);
    if !ever_serious && clocks.is_empty() {
        return None;
    }
    let lines: Vec<ClockLine> = clocks
        .iter()
        .map(|c| ClockLine {
            kind: c.kind,
            day0: c.day0.to_string(),
            window_days: c.window_days,
            due: c.due.to_string(),
            started_by: list[c.started_by].rec.clone(),
            started_recorded_at: list[c.started_by].recorded_at.clone(),
        })
        .collect();
    let last_criteria = criteria(&last.serious);
    Some(CaseLine {
        patient,
        ae_id,
        cohort,
        drug,
        ctcae_term,
        grade,
        seriousness: last.serious.clone(),
        fatal_or_life_threatening: last_criteria.is_fatal_or_life_threatening(),
        attribution: last.attribution.clone(),
        expected: last.expected,
        expectedness_by: "investigator",
        susar: !clocks.is_empty(),
        day0: first.awareness.clone(),
        recorded_at: first.recorded_at.clone(),
        next_due: clocks.iter().map(|c| c.due).min().map(|d| d.to_string()),
        susar_clocks: lines,
        sae_clock: day(&first.awareness).and_then(|aware| sae_clock(day(onset), aware)),
        reported_at: None,
        records: list
            .iter()
            .map(|r| CaseRecord {
                rec: r.rec.clone(),
                recorded_at: r.recorded_at.clone(),
                awareness: r.awareness.clone(),
            })
            .collect(),
    })
}
