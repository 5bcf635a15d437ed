//! The three read models, each its own SQLite database, and the exactly-once rule.
//!
//! Every view database has a `positions` table: per partition, the next sequence number the
//! view has not consumed (and the hash of the last record it consumed, checked against the
//! ledger on every restart). [`ViewDb::apply`] writes a batch's rows and the new positions in one
//! SQL transaction, and skips records below the stored positions. So a crash (before or after
//! the commit) never applies a record twice and never skips one: this is where the projection's
//! exactly-once invariant is enforced.
//!
//! Rows are rewritten per subject from the model ([`crate::facts`]), never incremented, so a
//! view's rows are a function of the records it consumed: a rebuild from position 0 gives the
//! same rows.

use crate::facts::{self, partial_date, stage_of, status_name};
use crate::model::{Touched, TrialModel};
use crate::Error;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::path::{Path, PathBuf};
use tl_ledger::stream_verify::VerifiedRecord;
use tl_schemas::{Reference, TrialId};

/// Which view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ViewKind {
    /// The funnel, cohorts, doses.
    Enrollment,
    /// Adverse events, deaths, SUSAR clocks.
    Safety,
    /// Per-patient outcomes, stage decisions.
    Dossier,
}

impl ViewKind {
    /// All three, in a fixed order.
    pub const ALL: [ViewKind; 3] = [ViewKind::Enrollment, ViewKind::Safety, ViewKind::Dossier];

    /// The view's name (and its database file's stem).
    pub fn name(self) -> &'static str {
        match self {
            ViewKind::Enrollment => "enrollment",
            ViewKind::Safety => "safety",
            ViewKind::Dossier => "dossier",
        }
    }

    /// The database file in the views folder.
    pub fn path(self, db_dir: &Path) -> PathBuf {
        db_dir.join(format!("{}.sqlite", self.name()))
    }

    fn schema(self) -> &'static str {
        match self {
            ViewKind::Enrollment => ENROLLMENT_SCHEMA,
            ViewKind::Safety => SAFETY_SCHEMA,
            ViewKind::Dossier => DOSSIER_SCHEMA,
        }
    }
}

const COMMON_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS positions (partition INTEGER PRIMARY KEY, next_seq INTEGER NOT NULL, last_hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS corrections (
  partition INTEGER NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL, subject TEXT NOT NULL,
  target_partition INTEGER NOT NULL, target_seq INTEGER NOT NULL, target_hash TEXT NOT NULL,
  event TEXT NOT NULL, reason TEXT NOT NULL, original TEXT NOT NULL, corrected TEXT NOT NULL,
  suspect INTEGER NOT NULL,
  PRIMARY KEY (partition, seq));
CREATE TABLE IF NOT EXISTS suspect_records (
  partition INTEGER NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL, key_id TEXT NOT NULL,
  since TEXT NOT NULL, PRIMARY KEY (partition, seq));
";

const ENROLLMENT_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS patients (
  patient TEXT PRIMARY KEY, tumour_type TEXT, site TEXT,
  registered_on TEXT, registered_ref TEXT,
  consented_on TEXT, withdrawn_on TEXT,
  sequenced_on TEXT, sequencing_ref TEXT,
  matched INTEGER NOT NULL, candidates INTEGER, match_ref TEXT,
  mtb_approved INTEGER NOT NULL, mtb_cohort TEXT, mtb_decided_on TEXT, mtb_ref TEXT,
  slot_cohort TEXT, slot_stage INTEGER, slot_number INTEGER, slot_ref TEXT,
  slot_refused_cohort TEXT, slot_refused_ref TEXT,
  enrolled_cohort TEXT, enrolled_on TEXT, enrolled_ref TEXT,
  treated INTEGER NOT NULL, first_dose_on TEXT, first_dose_ref TEXT,
  days_sequencing_to_first_dose INTEGER,
  evaluable INTEGER NOT NULL, benefit INTEGER NOT NULL, died INTEGER NOT NULL,
  suspect INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cohorts (
  cohort TEXT PRIMARY KEY, drug TEXT, tumour_type TEXT, status TEXT NOT NULL, stage INTEGER NOT NULL,
  slots INTEGER NOT NULL, refused INTEGER NOT NULL,
  decided_enrolled INTEGER, decided_evaluable INTEGER, decided_benefits INTEGER,
  decided_not_evaluable INTEGER, status_ref TEXT, suspect INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS doses (
  partition INTEGER NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL, patient TEXT NOT NULL,
  drug TEXT NOT NULL, dose_milli INTEGER NOT NULL, unit TEXT NOT NULL, cycle INTEGER NOT NULL,
  day INTEGER NOT NULL, administered_on TEXT NOT NULL,
  original_dose_milli INTEGER, corrected_by TEXT, suspect INTEGER NOT NULL,
  PRIMARY KEY (partition, seq));
CREATE INDEX IF NOT EXISTS doses_patient ON doses (patient);
CREATE TABLE IF NOT EXISTS cohort_slots (
  partition INTEGER NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL, cohort TEXT NOT NULL,
  patient TEXT, refused INTEGER NOT NULL, suspect INTEGER NOT NULL,
  PRIMARY KEY (partition, seq));
CREATE INDEX IF NOT EXISTS cohort_slots_cohort ON cohort_slots (cohort);
";

const SAFETY_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS adverse_events (
  patient TEXT NOT NULL, ae_id INTEGER NOT NULL, cohort TEXT, drug TEXT,
  ctcae_term TEXT NOT NULL, first_grade INTEGER NOT NULL, grade INTEGER NOT NULL,
  serious INTEGER NOT NULL, seriousness TEXT NOT NULL, expected INTEGER NOT NULL,
  attribution TEXT NOT NULL, treatment_related INTEGER NOT NULL, grade3_trae INTEGER NOT NULL,
  outcome TEXT NOT NULL, onset TEXT NOT NULL, awareness TEXT NOT NULL, resolved_on TEXT,
  susar INTEGER NOT NULL, susar_awareness TEXT, susar_window_days INTEGER, susar_due TEXT,
  refs TEXT NOT NULL, suspect INTEGER NOT NULL, onset_on TEXT,
  PRIMARY KEY (patient, ae_id));
CREATE TABLE IF NOT EXISTS treated (
  patient TEXT PRIMARY KEY, cohort TEXT, drug TEXT, first_dose_on TEXT NOT NULL,
  grade3_trae INTEGER NOT NULL, trae_refs TEXT NOT NULL, suspect INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS deaths (
  patient TEXT PRIMARY KEY, cohort TEXT, died_on TEXT NOT NULL, cause TEXT NOT NULL,
  treatment_related INTEGER NOT NULL, ref TEXT NOT NULL, suspect INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS exposure (
  patient TEXT PRIMARY KEY, cohort TEXT, drug TEXT, first_dose_on TEXT NOT NULL,
  last_dose_on TEXT NOT NULL, cycle_days INTEGER NOT NULL, cycle_from_doses INTEGER NOT NULL,
  ended_on TEXT, end_reason TEXT, died_on TEXT, exposure_end TEXT NOT NULL,
  refs TEXT NOT NULL, suspect INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dose_actions (
  partition INTEGER NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL, patient TEXT NOT NULL,
  action TEXT NOT NULL, reason TEXT NOT NULL, on_date TEXT NOT NULL, cites_ae INTEGER NOT NULL,
  toxicity TEXT, suspect INTEGER NOT NULL,
  PRIMARY KEY (partition, seq));
CREATE INDEX IF NOT EXISTS dose_actions_patient ON dose_actions (patient);
CREATE TABLE IF NOT EXISTS ae_reports (
  patient TEXT NOT NULL, ae_id INTEGER NOT NULL, n INTEGER NOT NULL,
  partition INTEGER NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL, recorded_at TEXT NOT NULL,
  awareness TEXT NOT NULL, grade INTEGER NOT NULL, serious TEXT NOT NULL, expected INTEGER NOT NULL,
  attribution TEXT NOT NULL, suspect INTEGER NOT NULL,
  PRIMARY KEY (patient, ae_id, n));
";

/// The layout of each view's tables: a database written under an older one is rebuilt from
/// position 0 ([`drop_older_layout`]). The safety view's layout 2 added `exposure`,
/// `dose_actions`, `ae_reports` and `adverse_events.onset_on` (the safety board's tables); the
/// enrollment view's layout 2 added `cohort_slots` (the records behind a cohort's slot counts).
fn layout(kind: ViewKind) -> i64 {
    match kind {
        ViewKind::Safety | ViewKind::Enrollment => 2,
        ViewKind::Dossier => 1,
    }
}

const DOSSIER_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS patients (
  patient TEXT PRIMARY KEY, cohort TEXT, drug TEXT, first_dose_on TEXT NOT NULL,
  best_response TEXT NOT NULL, best_refs TEXT NOT NULL, evaluable INTEGER NOT NULL,
  benefit INTEGER NOT NULL, benefit_refs TEXT NOT NULL, objective INTEGER NOT NULL,
  pfs_days INTEGER NOT NULL, pfs_event INTEGER NOT NULL, pfs_refs TEXT NOT NULL,
  os_days INTEGER NOT NULL, os_event INTEGER NOT NULL, os_refs TEXT NOT NULL,
  dor_days INTEGER, dor_event INTEGER, dor_refs TEXT,
  exceptional INTEGER NOT NULL, exceptional_refs TEXT NOT NULL,
  grade3_trae INTEGER NOT NULL, trae_refs TEXT NOT NULL,
  disagreements INTEGER NOT NULL, suspect INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS analyses (
  patient TEXT PRIMARY KEY, cohort TEXT,
  pfs_sensitivity_days INTEGER NOT NULL, pfs_sensitivity_event INTEGER NOT NULL,
  docr_days INTEGER, docr_event INTEGER, docr_refs TEXT, suspect INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS disagreements (
  partition INTEGER NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL, patient TEXT NOT NULL,
  assessed_on TEXT NOT NULL, reported TEXT NOT NULL, computed TEXT NOT NULL,
  suspect INTEGER NOT NULL,
  PRIMARY KEY (partition, seq));
CREATE INDEX IF NOT EXISTS disagreements_patient ON disagreements (patient);
CREATE TABLE IF NOT EXISTS cohorts (
  cohort TEXT PRIMARY KEY, drug TEXT, status TEXT NOT NULL, stage INTEGER NOT NULL, status_ref TEXT,
  suspect INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS stage_decisions (
  partition INTEGER NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL, cohort TEXT NOT NULL,
  status TEXT NOT NULL, enrolled INTEGER NOT NULL, evaluable INTEGER NOT NULL,
  benefits INTEGER NOT NULL, not_evaluable INTEGER NOT NULL, evidence TEXT NOT NULL,
  suspect INTEGER NOT NULL,
  PRIMARY KEY (partition, seq));
";

/// The patient facts of a batch, shared by the three views: each patient's facts are derived
/// once, by whoever needs them first (a view writer, or a helper deriving ahead of the views
/// in the order they write), and the others reuse them. A patient not in the map is derived
/// on demand by the view that asks.
#[derive(Default)]
pub struct PatientFactsMap {
    /// Where each patient's facts are in `cells`.
    index: std::collections::HashMap<tl_schemas::ids::Name, usize>,
    /// The patients, in the order the views write them (name order).
    names: Vec<tl_schemas::ids::Name>,
    /// Each patient's facts once derived. `OnceLock` makes a second asker wait for the first
    /// rather than derive them again (and, should a derivation panic, derive them itself
    /// instead of waiting forever).
    cells: Vec<std::sync::OnceLock<facts::PatientFacts>>,
}

impl PatientFactsMap {
    /// A map for `names` (in the order the views write them), nothing derived yet.
    pub fn new(names: impl IntoIterator<Item = tl_schemas::ids::Name>) -> Self {
        let names: Vec<_> = names.into_iter().collect();
        PatientFactsMap {
            index: names.iter().cloned().zip(0..).collect(),
            cells: (0..names.len())
                .map(|_| std::sync::OnceLock::new())
                .collect(),
            names,
        }
    }

    /// Patients in the map.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The facts of the `k`-th patient, deriving them from `model` if nobody has yet.
    pub fn derive(&self, model: &TrialModel, k: usize) -> Option<&facts::PatientFacts> {
        let cell = self.cells.get(k)?;
        Some(cell.get_or_init(|| facts::patient(model, &self.names[k])))
    }

    /// A patient's facts, if the patient is in the map (derived now if nobody has yet).
    pub fn get(
        &self,
        model: &TrialModel,
        name: &tl_schemas::ids::Name,
    ) -> Option<&facts::PatientFacts> {
        self.derive(model, *self.index.get(name)?)
    }
}

/// References as JSON: `[{"hash":"hex","partition":P,"seq":N}, ...]` (keys in the order
/// `serde_json` writes [`ref_value`]'s object; written directly, as the views write tens of
/// thousands of them per replay).
pub fn refs_json(refs: &[Reference]) -> String {
    let mut out = String::with_capacity(2 + refs.len() * 100);
    out.push('[');
    for (i, r) in refs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_ref(&mut out, r);
    }
    out.push(']');
    out
}

fn push_ref(out: &mut String, r: &Reference) {
    use std::fmt::Write as _;
    let _ = write!(
        out,
        "{{\"hash\":\"{}\",\"partition\":{},\"seq\":{}}}",
        r.hash, r.partition, r.seq
    );
}

/// One reference as JSON.
pub fn ref_value(r: &Reference) -> serde_json::Value {
    serde_json::json!({"partition": r.partition, "seq": r.seq, "hash": r.hash.to_hex()})
}

fn one_ref(r: &Reference) -> String {
    let mut out = String::with_capacity(100);
    push_ref(&mut out, r);
    out
}

/// One view's database.
pub struct ViewDb {
    /// Which view.
    pub kind: ViewKind,
    /// The connection.
    conn: Connection,
    /// Per partition, the next sequence number not consumed (mirrors the `positions` table).
    positions: Vec<u64>,
    /// Per partition, the hash of the last record consumed: a restart checks that the ledger
    /// still holds it, so a view is never continued on another history.
    last_hashes: Vec<String>,
    /// Which patients may have rows here, so that a view built from empty does not delete
    /// rows that cannot exist (a fifth of a rebuild's statements).
    rows: RowsOf,
}

/// Which patients a view may hold rows for.
#[derive(Default)]
struct RowsOf {
    /// The view had consumed nothing when it was opened: it holds rows only for the patients
    /// in `patients`. (Rows and positions commit together, so no positions means no rows.)
    started_empty: bool,
    /// Patients written since the view was opened (kept only when `started_empty`).
    patients: std::collections::HashSet<tl_schemas::ids::Name>,
}

impl RowsOf {
    /// Whether the view may hold rows of `name` (to be deleted before they are rewritten).
    fn may_have(&self, name: &tl_schemas::ids::Name) -> bool {
        !self.started_empty || self.patients.contains(name)
    }
}

impl ViewDb {
    /// Opens (creating if needed) the view's database in `db_dir`, for `trial` under the pinned
    /// root key; refuses a database of another trial or root.
    pub fn open(
        kind: ViewKind,
        db_dir: &Path,
        trial: &TrialId,
        root: &[u8; 32],
    ) -> Result<Self, Error> {
        std::fs::create_dir_all(db_dir).map_err(|e| Error::Io {
            path: db_dir.to_path_buf(),
            detail: e.to_string(),
        })?;
        let path = kind.path(db_dir);
        let conn = Connection::open(&path).map_err(|e| Error::sql(&path, e))?;
        let setup = || -> rusqlite::Result<()> {
            conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")?;
            drop_older_layout(&conn, kind)?;
            conn.execute_batch(COMMON_SCHEMA)?;
            conn.execute_batch(kind.schema())?;
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('layout', ?1)",
                [layout(kind).to_string()],
            )?;
            Ok(())
        };
        setup().map_err(|e| Error::sql(&path, e))?;
        let mut db = ViewDb {
            kind,
            conn,
            positions: Vec::new(),
            last_hashes: Vec::new(),
            rows: RowsOf::default(),
        };
        let want = format!("{}:{}", trial.as_str(), hex_of(root));
        let have: Option<String> = db
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'trial'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| Error::sql(&path, e))?;
        match have {
            Some(h) if h != want => {
                return Err(Error::OtherTrial {
                    path,
                    found: h,
                    expected: want,
                })
            }
            Some(_) => {}
            None => {
                db.conn
                    .execute(
                        "INSERT INTO meta (key, value) VALUES ('trial', ?1)",
                        [&want],
                    )
                    .map_err(|e| Error::sql(&path, e))?;
            }
        }
        (db.positions, db.last_hashes) =
            read_positions(&db.conn).map_err(|e| Error::sql(&path, e))?;
        db.rows.started_empty = db.positions.is_empty();
        Ok(db)
    }

    /// Per partition, the next sequence number this view has not consumed.
    pub fn positions(&self) -> &[u64] {
        &self.positions
    }

    /// The position of partition `p`.
    pub fn position(&self, p: u32) -> u64 {
        self.positions.get(p as usize).copied().unwrap_or(0)
    }

    /// Applies a batch: the rows of every subject touched by a record at or beyond this view's
    /// positions, and the new positions, in one transaction. Records below the positions were
    /// applied before (by an earlier run) and are skipped.
    pub fn apply(
        &mut self,
        model: &TrialModel,
        batch: &[(VerifiedRecord, Touched)],
        known: &PatientFactsMap,
    ) -> Result<usize, Error> {
        self.apply_merged(model, batch, known, None)
    }

    /// [`ViewDb::apply`], given the subjects touched by the batch's records at or beyond this
    /// view's positions when the caller merged them already (for views at the same positions,
    /// once for all of them).
    pub fn apply_merged(
        &mut self,
        model: &TrialModel,
        batch: &[(VerifiedRecord, Touched)],
        known: &PatientFactsMap,
        merged: Option<&Touched>,
    ) -> Result<usize, Error> {
        let mut touched = Touched::default();
        let mut next = self.positions.clone();
        // Per partition, the last record consumed by this batch (its hash is written as hex
        // once per partition, not once per record).
        let mut last: Vec<Option<tl_schemas::Hash32>> = Vec::new();
        let mut applied = 0;
        // Records flagged by this batch, whether or not this view consumed them before.
        let suspects: Vec<Reference> = batch
            .iter()
            .flat_map(|(_, t)| t.suspects.iter().copied())
            .collect();
        for (v, t) in batch {
            let p = v.partition as usize;
            if next.len() <= p {
                next.resize(p + 1, 0);
            }
            if last.len() <= p {
                last.resize(p + 1, None);
            }
            let position = self.position(v.partition);
            if v.seq < position {
                // Consumed by an earlier run: it must be the very record consumed then.
                if v.seq + 1 == position
                    && self.last_hashes.get(p).map(String::as_str) != Some(&v.hash.to_hex())
                {
                    return Err(Error::ViewMismatch {
                        view: self.kind.name(),
                        partition: v.partition,
                        seq: v.seq,
                    });
                }
                continue;
            }
            if merged.is_none() {
                touched.merge_from(t);
            }
            if v.seq + 1 > next[p] {
                next[p] = v.seq + 1;
                last[p] = Some(v.hash);
            }
            applied += 1;
        }
        if applied == 0 && suspects.is_empty() {
            return Ok(0);
        }
        let mut hashes = self.last_hashes.clone();
        hashes.resize(next.len().max(hashes.len()), String::new());
        for (p, h) in last.iter().enumerate() {
            if let Some(h) = h {
                hashes[p] = h.to_hex();
            }
        }
        let kind = self.kind;
        let tx = self
            .conn
            .transaction()
            .map_err(|e| Error::sql_view(kind, e))?;
        let touched = merged.unwrap_or(&touched);
        if applied > 0 {
            write_rows(kind, &tx, model, touched, known, &self.rows)
                .map_err(|e| Error::sql_view(kind, e))?;
        }
        if !suspects.is_empty() {
            write_suspects(kind, &tx, model, &suspects).map_err(|e| Error::sql_view(kind, e))?;
        }
        {
            let mut st = tx
                .prepare_cached("INSERT INTO positions (partition, next_seq, last_hash) VALUES (?1, ?2, ?3) ON CONFLICT(partition) DO UPDATE SET next_seq = excluded.next_seq, last_hash = excluded.last_hash")
                .map_err(|e| Error::sql_view(kind, e))?;
            for (p, n) in next.iter().enumerate() {
                if self.positions.get(p) != Some(n) {
                    st.execute(params![p as i64, *n as i64, hashes[p]])
                        .map_err(|e| Error::sql_view(kind, e))?;
                }
            }
        }
        tx.commit().map_err(|e| Error::sql_view(kind, e))?;
        if self.rows.started_empty {
            self.rows.patients.extend(touched.patients.iter().cloned());
        }
        self.positions = next;
        self.last_hashes = hashes;
        Ok(applied)
    }

    /// The connection, for queries.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// A view database written before rows carried their `suspect` flag (it has no
/// `suspect_records` table), or under an older [`layout`] (its `meta` row `layout`, 1 when
/// absent), is emptied, so that it is rebuilt from position 0: its rows are a function of the
/// ledger, so nothing is lost.
fn drop_older_layout(conn: &Connection, kind: ViewKind) -> rusqlite::Result<()> {
    let has = |table: &str| -> rusqlite::Result<bool> {
        conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
            [table],
            |r| r.get(0),
        )
    };
    if !has("positions")? {
        return Ok(());
    }
    let stored: i64 = if has("meta")? {
        conn.query_row(
            "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'layout'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(1)
    } else {
        1
    };
    if has("suspect_records")? && stored >= layout(kind) {
        return Ok(());
    }
    let mut st = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?;
    let tables = st
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for t in tables.iter().filter(|t| !t.starts_with("sqlite_")) {
        conn.execute_batch(&format!("DROP TABLE IF EXISTS \"{t}\""))?;
    }
    Ok(())
}

/// Whether any of the records `refs` lists was signed by a key after its recorded compromise
/// (computed only when some record is flagged at all).
fn suspect<I: IntoIterator<Item = Reference>>(
    model: &TrialModel,
    refs: impl FnOnce() -> I,
) -> bool {
    !model.suspect.is_empty() && model.is_suspect(refs())
}

/// The records an enrollment patient row cites (its `*_ref` columns).
fn enrollment_refs(f: &facts::PatientFacts) -> Vec<Reference> {
    let at = |r: Option<&Reference>| r.copied();
    [
        at(f.registered.as_ref().map(|(_, r)| r)),
        at(f.sequenced.as_ref().map(|(_, r)| r)),
        at(f.proposal.as_ref().map(|(_, r)| r)),
        at(f.decision.as_ref().map(|(_, r)| r)),
        at(f.slot.as_ref().map(|(_, r)| r)),
        at(f.slot_refused.as_ref().map(|(_, r)| r)),
        at(f.enrolled.as_ref().map(|(_, r)| r)),
        f.outcome.as_ref().and_then(|o| o.pfs.refs.first().copied()),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The records a dossier patient row cites (its `*_refs` columns).
fn dossier_refs(o: &tl_clinical::patient::PatientOutcome<Reference>) -> Vec<Reference> {
    let mut v = Vec::new();
    for s in [
        &o.best.refs,
        &o.benefit.refs,
        &o.pfs.refs,
        &o.os.refs,
        &o.exceptional.refs,
        &o.severe_related_ae.refs,
    ] {
        v.extend(s);
    }
    if let Some(d) = &o.duration_of_response {
        v.extend(&d.refs);
    }
    v
}

/// Per view, each row table and the SQL condition under which one of its rows cites the
/// suspect record `s` (a row of `suspect_records`): the same references [`write_rows`] marks
/// rows by, read back from the row's own columns (`(partition, seq)` columns, or the
/// references' JSON, where `"partition":P,"seq":S}` names one record exactly).
fn citing(kind: ViewKind) -> Vec<(&'static str, String)> {
    fn cites(table: &str, positions: &[(&str, &str)], json: &[&str]) -> String {
        let mut any: Vec<String> = positions
            .iter()
            .map(|(p, q)| format!("({table}.{p} = s.partition AND {table}.{q} = s.seq)"))
            .collect();
        if !json.is_empty() {
            let text: Vec<String> = json
                .iter()
                .map(|c| format!("COALESCE({table}.{c}, '')"))
                .collect();
            any.push(format!(
                "instr({}, '\"partition\":' || s.partition || ',\"seq\":' || s.seq || '}}') > 0",
                text.join(" || ")
            ));
        }
        any.join(" OR ")
    }
    let own = [("partition", "seq")];
    let mut out = vec![(
        "corrections",
        cites(
            "corrections",
            &[("partition", "seq"), ("target_partition", "target_seq")],
            &[],
        ),
    )];
    match kind {
        ViewKind::Enrollment => {
            let refs = crate::cells::ENROLLMENT_REFS;
            out.push(("patients", cites("patients", &[], &refs)));
            out.push(("cohorts", cites("cohorts", &[], &["status_ref"])));
            out.push(("doses", cites("doses", &own, &["corrected_by"])));
            out.push(("cohort_slots", cites("cohort_slots", &own, &[])));
        }
        ViewKind::Safety => {
            out.push(("adverse_events", cites("adverse_events", &[], &["refs"])));
            out.push(("treated", cites("treated", &[], &["trae_refs"])));
            out.push(("deaths", cites("deaths", &[], &["ref"])));
            out.push(("exposure", cites("exposure", &[], &["refs"])));
            out.push(("dose_actions", cites("dose_actions", &own, &[])));
            out.push(("ae_reports", cites("ae_reports", &own, &[])));
        }
        ViewKind::Dossier => {
            let refs = [
                "best_refs",
                "benefit_refs",
                "pfs_refs",
                "os_refs",
                "dor_refs",
                "exceptional_refs",
                "trae_refs",
            ];
            out.push(("patients", cites("patients", &[], &refs)));
            out.push(("analyses", cites("analyses", &[], &["docr_refs"])));
            out.push(("disagreements", cites("disagreements", &own, &[])));
            out.push(("cohorts", cites("cohorts", &[], &["status_ref"])));
            out.push((
                "stage_decisions",
                cites("stage_decisions", &own, &["evidence"]),
            ));
        }
    }
    out
}

/// Records newly flagged as suspect: adds them to `suspect_records` and marks every row that
/// cites one. Rows written later compute their flag from the model; rows written before are
/// marked here, whatever the view's positions, since a flag once raised never falls (a
/// revocation is never undone). So the flags never depend on the order records arrive in.
fn write_suspects(
    kind: ViewKind,
    tx: &Transaction,
    model: &TrialModel,
    suspects: &[Reference],
) -> rusqlite::Result<()> {
    let mut st =
        tx.prepare_cached("INSERT OR REPLACE INTO suspect_records VALUES (?1, ?2, ?3, ?4, ?5)")?;
    for at in suspects {
        if let Some(s) = model.suspect.get(&(at.partition, at.seq)) {
            st.execute(params![
                at.partition,
                at.seq as i64,
                at.hash.to_hex(),
                s.key.to_hex(),
                s.since.marker(),
            ])?;
        }
    }
    for (table, cond) in citing(kind) {
        tx.execute(
            &format!(
                "UPDATE {table} SET suspect = 1 WHERE suspect = 0 AND EXISTS (SELECT 1 FROM suspect_records s WHERE {cond})"
            ),
            [],
        )?;
    }
    Ok(())
}

fn read_positions(conn: &Connection) -> rusqlite::Result<(Vec<u64>, Vec<String>)> {
    let mut st =
        conn.prepare("SELECT partition, next_seq, last_hash FROM positions ORDER BY partition")?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let (mut out, mut hashes) = (Vec::new(), Vec::new());
    for row in rows {
        let (p, n, h) = row?;
        let p = p as usize;
        if out.len() <= p {
            out.resize(p + 1, 0);
            hashes.resize(p + 1, String::new());
        }
        out[p] = n as u64;
        hashes[p] = h;
    }
    Ok((out, hashes))
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn write_rows(
    kind: ViewKind,
    tx: &Transaction,
    model: &TrialModel,
    touched: &Touched,
    known: &PatientFactsMap,
    rows: &RowsOf,
) -> rusqlite::Result<()> {
    // Corrections: every view keeps the original beside the corrected content.
    {
        let mut st = tx.prepare_cached(
            "INSERT OR REPLACE INTO corrections VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        for at in &touched.corrections {
            if let Some(c) = model.corrections.get(&(at.partition, at.seq)) {
                st.execute(params![
                    c.at.partition,
                    c.at.seq as i64,
                    c.at.hash.to_hex(),
                    c.subject,
                    c.target.partition,
                    c.target.seq as i64,
                    c.target.hash.to_hex(),
                    tl_schemas::clinical::clinical_type::name(c.event_type).unwrap_or("unknown"),
                    c.reason,
                    c.original_json,
                    c.corrected_json,
                    suspect(model, || [c.at, c.target]),
                ])?;
            }
        }
    }
    match kind {
        ViewKind::Enrollment => write_enrollment(tx, model, touched, known, rows),
        ViewKind::Safety => write_safety(tx, model, touched, known, rows),
        ViewKind::Dossier => write_dossier(tx, model, touched, known, rows),
    }
}

fn date(d: tl_schemas::Date) -> String {
    d.to_string()
}

fn write_enrollment(
    tx: &Transaction,
    model: &TrialModel,
    touched: &Touched,
    known: &PatientFactsMap,
    rows: &RowsOf,
) -> rusqlite::Result<()> {
    let mut del_doses = tx.prepare_cached("DELETE FROM doses WHERE patient = ?1")?;
    let mut ins_dose = tx.prepare_cached(
        "INSERT INTO doses VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    let mut ins_patient = tx.prepare_cached(
        "INSERT OR REPLACE INTO patients VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33)",
    )?;
    for name in &touched.patients {
        let computed;
        let f = match known.get(model, name) {
            Some(f) => f,
            None => {
                computed = facts::patient(model, name);
                &computed
            }
        };
        if rows.may_have(name) {
            del_doses.execute([name.as_str()])?;
        }
        for d in &f.doses {
            ins_dose.execute(params![
                d.at.partition,
                d.at.seq as i64,
                d.at.hash.to_hex(),
                name.as_str(),
                d.drug,
                d.dose_milli as i64,
                format!("{:?}", d.unit),
                d.cycle,
                d.day,
                date(d.administered_on),
                d.original_dose_milli.map(|x| x as i64),
                d.corrected_by.as_ref().map(one_ref),
                suspect(model, || [Some(d.at), d.corrected_by].into_iter().flatten()),
            ])?;
        }
        let o = f.outcome.as_ref();
        ins_patient.execute(params![
            name.as_str(),
            f.registered.as_ref().map(|((_, t, _), _)| t.clone()),
            f.registered.as_ref().map(|((_, _, s), _)| s.clone()),
            f.registered.as_ref().map(|((d, _, _), _)| date(*d)),
            f.registered.as_ref().map(|(_, r)| one_ref(r)),
            f.consented.as_ref().map(|(d, _)| date(*d)),
            f.withdrawn.as_ref().map(|(d, _)| date(*d)),
            f.sequenced.as_ref().map(|(d, _)| date(*d)),
            f.sequenced.as_ref().map(|(_, r)| one_ref(r)),
            f.proposal.as_ref().is_some_and(|(n, _)| *n > 0),
            f.proposal.as_ref().map(|(n, _)| *n),
            f.proposal.as_ref().map(|(_, r)| one_ref(r)),
            f.decision.as_ref().is_some_and(|((c, _), _)| c.is_some()),
            f.decision
                .as_ref()
                .and_then(|((c, _), _)| c.as_ref().map(|c| c.to_string())),
            f.decision.as_ref().map(|((_, d), _)| date(*d)),
            f.decision.as_ref().map(|(_, r)| one_ref(r)),
            f.slot.as_ref().map(|((c, _, _), _)| c.to_string()),
            f.slot.as_ref().map(|((_, s, _), _)| *s),
            f.slot.as_ref().map(|((_, _, n), _)| *n),
            f.slot.as_ref().map(|(_, r)| one_ref(r)),
            f.slot_refused.as_ref().map(|((c, _), _)| c.to_string()),
            f.slot_refused.as_ref().map(|(_, r)| one_ref(r)),
            f.enrolled.as_ref().map(|((c, _), _)| c.to_string()),
            f.enrolled.as_ref().map(|((_, d), _)| date(*d)),
            f.enrolled.as_ref().map(|(_, r)| one_ref(r)),
            o.is_some(),
            o.map(|o| date(o.first_dose)),
            o.and_then(|o| o.pfs.refs.first()).map(one_ref),
            f.days_sequencing_to_first_dose(),
            o.is_some_and(|o| o.evaluable),
            o.is_some_and(|o| o.benefit.value),
            f.death.is_some(),
            suspect(model, || enrollment_refs(f)),
        ])?;
    }
    let mut ins_cohort = tx.prepare_cached(
        "INSERT OR REPLACE INTO cohorts VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    let mut del_slots = tx.prepare_cached("DELETE FROM cohort_slots WHERE cohort = ?1")?;
    let mut ins_slot =
        tx.prepare_cached("INSERT INTO cohort_slots VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?;
    for name in &touched.cohorts {
        let c = facts::cohort(model, name);
        del_slots.execute([name.as_str()])?;
        for (at, patient, refused) in &c.slot_records {
            ins_slot.execute(params![
                at.partition,
                at.seq as i64,
                at.hash.to_hex(),
                name.as_str(),
                patient.as_ref().map(|p| p.as_str()),
                refused,
                suspect(model, || [*at]),
            ])?;
        }
        let status = c
            .status
            .as_ref()
            .map_or(tl_schemas::clinical::CohortStatus::Stage1, |(d, _)| {
                d.status
            });
        let d = c.status.as_ref().map(|(d, _)| d);
        ins_cohort.execute(params![
            name.as_str(),
            c.drug,
            c.tumour_type,
            status_name(status),
            stage_of(status),
            c.slots,
            c.refused,
            d.map(|d| d.enrolled),
            d.map(|d| d.evaluable),
            d.map(|d| d.benefits),
            d.map(|d| d.not_evaluable),
            c.status.as_ref().map(|(_, r)| one_ref(r)),
            suspect(model, || c.status.as_ref().map(|(_, r)| *r)),
        ])?;
    }
    Ok(())
}

fn write_safety(
    tx: &Transaction,
    model: &TrialModel,
    touched: &Touched,
    known: &PatientFactsMap,
    rows: &RowsOf,
) -> rusqlite::Result<()> {
    let mut del_aes = tx.prepare_cached("DELETE FROM adverse_events WHERE patient = ?1")?;
    let mut ins_ae = tx.prepare_cached(
        "INSERT INTO adverse_events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)",
    )?;
    let mut del_treated = tx.prepare_cached("DELETE FROM treated WHERE patient = ?1")?;
    let mut ins_treated =
        tx.prepare_cached("INSERT INTO treated VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?;
    let mut del_death = tx.prepare_cached("DELETE FROM deaths WHERE patient = ?1")?;
    let mut ins_death =
        tx.prepare_cached("INSERT INTO deaths VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?;
    for name in &touched.patients {
        let computed;
        let f = match known.get(model, name) {
            Some(f) => f,
            None => {
                computed = facts::patient(model, name);
                &computed
            }
        };
        let cohort = f.cohort().map(|c| c.to_string());
        let drug = f.doses.first().map(|d| d.drug.clone());
        let first_dose = f.doses.iter().map(|d| d.administered_on).min();
        if rows.may_have(name) {
            del_aes.execute([name.as_str()])?;
        }
        for (id, ae) in &f.adverse_events {
            let related = tl_clinical::records::attribution(ae.attribution).is_suspected();
            ins_ae.execute(params![
                name.as_str(),
                id,
                cohort,
                drug,
                ae.term,
                ae.first_grade,
                ae.worst_grade,
                !ae.serious.is_empty(),
                format!("{:?}", ae.serious),
                ae.expected,
                format!("{:?}", ae.attribution),
                related,
                ae.grade3_related,
                format!("{:?}", ae.outcome),
                partial_date(&ae.onset),
                date(ae.awareness),
                ae.resolved_on.map(date),
                ae.susar.is_some(),
                ae.susar.map(|s| date(s.awareness)),
                ae.susar.map(|s| s.window_days),
                ae.susar.map(|s| date(s.due)),
                refs_json(&ae.refs),
                suspect(model, || ae.refs.iter().copied()),
                first_dose
                    .and_then(|d| tl_clinical::exposure::impute_onset(&ae.onset, d))
                    .map(date),
            ])?;
        }
        write_safety_tables(tx, model, name, f, (&cohort, &drug), rows)?;
        if rows.may_have(name) {
            del_treated.execute([name.as_str()])?;
        }
        if let Some(o) = &f.outcome {
            ins_treated.execute(params![
                name.as_str(),
                cohort,
                drug,
                date(o.first_dose),
                o.severe_related_ae.value,
                refs_json(&o.severe_related_ae.refs),
                suspect(model, || o.severe_related_ae.refs.iter().copied()),
            ])?;
        }
        if rows.may_have(name) {
            del_death.execute([name.as_str()])?;
        }
        if let Some(((d, cause, related), r)) = &f.death {
            ins_death.execute(params![
                name.as_str(),
                cohort,
                date(*d),
                cause,
                related,
                one_ref(r),
                suspect(model, || [*r]),
            ])?;
        }
    }
    Ok(())
}

/// The safety board's per-patient rows: exposure, dosing events (with their toxicity link) and
/// every report of every adverse event (for the clocks).
fn write_safety_tables(
    tx: &Transaction,
    model: &TrialModel,
    name: &tl_schemas::ids::Name,
    f: &facts::PatientFacts,
    (cohort, drug): (&Option<String>, &Option<String>),
    rows: &RowsOf,
) -> rusqlite::Result<()> {
    if rows.may_have(name) {
        for table in ["exposure", "dose_actions", "ae_reports"] {
            tx.prepare_cached(&format!("DELETE FROM {table} WHERE patient = ?1"))?
                .execute([name.as_str()])?;
        }
    }
    if let Some(x) = facts::exposure(f) {
        tx.prepare_cached(
            "INSERT INTO exposure VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?
        .execute(params![
            name.as_str(),
            cohort,
            drug,
            date(x.exposure.start),
            date(x.last_dose),
            x.exposure.cycle_days,
            x.cycle_from_doses,
            f.ended.as_ref().map(|((d, _), _)| date(*d)),
            f.ended.as_ref().map(|((_, r), _)| format!("{r:?}")),
            f.death.as_ref().map(|((d, _, _), _)| date(*d)),
            date(x.exposure.end),
            refs_json(&x.refs),
            suspect(model, || x.refs.iter().copied()),
        ])?;
    }
    let ae_refs: std::collections::HashSet<Reference> = f
        .adverse_events
        .values()
        .flat_map(|a| a.refs.iter().copied())
        .collect();
    let mut ins = tx.prepare_cached(
        "INSERT OR REPLACE INTO dose_actions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for a in &f.dose_actions {
        let cites_ae = a.cites.iter().any(|c| ae_refs.contains(c));
        let toxicity = tl_clinical::safety_tables::toxicity_action(a.action, cites_ae);
        ins.execute(params![
            a.at.partition,
            a.at.seq as i64,
            a.at.hash.to_hex(),
            name.as_str(),
            facts::dose_event_name(a.action),
            a.reason,
            date(a.on),
            cites_ae,
            toxicity.map(facts::toxicity_name),
            suspect(model, || [a.at]),
        ])?;
    }
    let mut ins = tx.prepare_cached(
        "INSERT INTO ae_reports VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    for (id, ae) in &f.adverse_events {
        for (n, r) in ae.reports.iter().enumerate() {
            ins.execute(params![
                name.as_str(),
                id,
                n as i64,
                r.at.partition,
                r.at.seq as i64,
                r.at.hash.to_hex(),
                r.time.to_rfc3339(),
                date(r.awareness),
                r.grade,
                facts::criteria_json(&r.serious),
                r.expected,
                format!("{:?}", r.attribution),
                suspect(model, || [r.at]),
            ])?;
        }
    }
    Ok(())
}

fn write_dossier(
    tx: &Transaction,
    model: &TrialModel,
    touched: &Touched,
    known: &PatientFactsMap,
    rows: &RowsOf,
) -> rusqlite::Result<()> {
    let mut del_patient = tx.prepare_cached("DELETE FROM patients WHERE patient = ?1")?;
    let mut ins_patient = tx.prepare_cached(
        "INSERT INTO patients VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)",
    )?;
    let mut del_analyses = tx.prepare_cached("DELETE FROM analyses WHERE patient = ?1")?;
    let mut ins_analyses =
        tx.prepare_cached("INSERT INTO analyses VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?;
    // The definitions the rows were derived under, for the report to state.
    tx.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('definitions', ?1)",
        [serde_json::to_string(&model.definitions).unwrap_or_default()],
    )?;
    let mut del_dis = tx.prepare_cached("DELETE FROM disagreements WHERE patient = ?1")?;
    let mut ins_dis =
        tx.prepare_cached("INSERT INTO disagreements VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?;
    for name in &touched.patients {
        let computed;
        let f = match known.get(model, name) {
            Some(f) => f,
            None => {
                computed = facts::patient(model, name);
                &computed
            }
        };
        if rows.may_have(name) {
            del_patient.execute([name.as_str()])?;
        }
        if rows.may_have(name) {
            del_dis.execute([name.as_str()])?;
            del_analyses.execute([name.as_str()])?;
        }
        let Some(o) = &f.outcome else { continue };
        let dor = o.duration_of_response.as_ref();
        let docr = o.duration_of_complete_response.as_ref();
        ins_analyses.execute(params![
            name.as_str(),
            f.cohort().map(|c| c.to_string()),
            o.pfs_sensitivity.value.time_days,
            o.pfs_sensitivity.value.event,
            docr.map(|d| d.value.time_days),
            docr.map(|d| d.value.event),
            docr.map(|d| refs_json(&d.refs)),
            suspect(model, || docr
                .into_iter()
                .flat_map(|d| d.refs.iter().copied())),
        ])?;
        ins_patient.execute(params![
            name.as_str(),
            f.cohort().map(|c| c.to_string()),
            f.doses.first().map(|d| d.drug.clone()),
            date(o.first_dose),
            o.best.value.abbreviation(),
            refs_json(&o.best.refs),
            o.evaluable,
            o.benefit.value,
            refs_json(&o.benefit.refs),
            o.objective,
            o.pfs.value.time_days,
            o.pfs.value.event,
            refs_json(&o.pfs.refs),
            o.os.value.time_days,
            o.os.value.event,
            refs_json(&o.os.refs),
            dor.map(|d| d.value.time_days),
            dor.map(|d| d.value.event),
            dor.map(|d| refs_json(&d.refs)),
            o.exceptional.value,
            refs_json(&o.exceptional.refs),
            o.severe_related_ae.value,
            refs_json(&o.severe_related_ae.refs),
            o.disagreements.len(),
            suspect(model, || dossier_refs(o)),
        ])?;
        for d in &o.disagreements {
            ins_dis.execute(params![
                d.record.partition,
                d.record.seq as i64,
                d.record.hash.to_hex(),
                name.as_str(),
                date(d.assessed_on),
                d.reported.abbreviation(),
                d.computed.abbreviation(),
                suspect(model, || [d.record]),
            ])?;
        }
    }
    let mut ins_cohort =
        tx.prepare_cached("INSERT OR REPLACE INTO cohorts VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
    let mut del_decisions = tx.prepare_cached("DELETE FROM stage_decisions WHERE cohort = ?1")?;
    let mut ins_decision = tx.prepare_cached(
        "INSERT INTO stage_decisions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for name in &touched.cohorts {
        let c = facts::cohort(model, name);
        let status = c
            .status
            .as_ref()
            .map_or(tl_schemas::clinical::CohortStatus::Stage1, |(d, _)| {
                d.status
            });
        ins_cohort.execute(params![
            name.as_str(),
            c.drug,
            status_name(status),
            stage_of(status),
            c.status.as_ref().map(|(_, r)| one_ref(r)),
            suspect(model, || c.status.as_ref().map(|(_, r)| *r)),
        ])?;
        del_decisions.execute([name.as_str()])?;
        for (d, at, evidence) in &c.decisions {
            ins_decision.execute(params![
                at.partition,
                at.seq as i64,
                at.hash.to_hex(),
                name.as_str(),
                status_name(d.status),
                d.enrolled,
                d.evaluable,
                d.benefits,
                d.not_evaluable,
                refs_json(evidence),
                suspect(model, || std::iter::once(*at)
                    .chain(evidence.iter().copied())),
            ])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_database_written_before_the_suspect_flags_is_rebuilt_from_scratch() {
        // Given a view database of the older layout (positions, no suspect_records table),
        let dir = tempfile::tempdir().unwrap();
        let path = ViewKind::Safety.path(dir.path());
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE positions (partition INTEGER PRIMARY KEY, next_seq INTEGER NOT NULL, last_hash TEXT NOT NULL);
             INSERT INTO positions VALUES (0, 5, 'ab');
             CREATE TABLE deaths (patient TEXT PRIMARY KEY, ref TEXT NOT NULL);
             INSERT INTO deaths VALUES ('P-1', '{}');",
        )
        .unwrap();
        drop(old);
        // when it is opened, then it starts again from position 0 with the new columns.
        let trial = TrialId::new("t").unwrap();
        let db = ViewDb::open(ViewKind::Safety, dir.path(), &trial, &[1; 32]).unwrap();
        assert_eq!(db.positions(), &[] as &[u64]);
        let n: i64 = db
            .conn()
            .query_row("SELECT COUNT(suspect) FROM deaths", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
        // A database of the current layout is kept as it is.
        drop(db);
        let db = ViewDb::open(ViewKind::Safety, dir.path(), &trial, &[1; 32]).unwrap();
        db.conn()
            .execute("INSERT INTO positions VALUES (0, 3, 'cd')", [])
            .unwrap();
        drop(db);
        let db = ViewDb::open(ViewKind::Safety, dir.path(), &trial, &[1; 32]).unwrap();
        assert_eq!(db.positions(), &[3]);
    }

    #[test]
    fn views_of_layout_1_are_rebuilt_with_their_new_tables_and_the_dossier_is_kept() {
        // Given a safety, an enrollment and a dossier database with suspect flags but no layout
        // row (1)
        let dir = tempfile::tempdir().unwrap();
        let trial = TrialId::new("t").unwrap();
        for kind in [ViewKind::Safety, ViewKind::Enrollment, ViewKind::Dossier] {
            let old = Connection::open(kind.path(dir.path())).unwrap();
            old.execute_batch(
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 CREATE TABLE positions (partition INTEGER PRIMARY KEY, next_seq INTEGER NOT NULL, last_hash TEXT NOT NULL);
                 INSERT INTO positions VALUES (0, 5, 'ab');
                 CREATE TABLE suspect_records (partition INTEGER NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL, key_id TEXT NOT NULL, since TEXT NOT NULL, PRIMARY KEY (partition, seq));",
            )
            .unwrap();
        }
        // when they are opened
        let safety = ViewDb::open(ViewKind::Safety, dir.path(), &trial, &[1; 32]).unwrap();
        let enrollment = ViewDb::open(ViewKind::Enrollment, dir.path(), &trial, &[1; 32]).unwrap();
        let dossier = ViewDb::open(ViewKind::Dossier, dir.path(), &trial, &[1; 32]).unwrap();
        // then the safety view starts again from position 0 with its new tables, at layout 2,
        assert_eq!(safety.positions(), &[] as &[u64]);
        let n: i64 = safety
            .conn()
            .query_row("SELECT COUNT(*) FROM exposure", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
        let layout: String = safety
            .conn()
            .query_row("SELECT value FROM meta WHERE key = 'layout'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(layout, "2");
        // the enrollment view too, with `cohort_slots` (layout 2),
        assert_eq!(enrollment.positions(), &[] as &[u64]);
        let n: i64 = enrollment
            .conn()
            .query_row("SELECT COUNT(*) FROM cohort_slots", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
        // and the dossier view, whose layout did not change, keeps its positions.
        assert_eq!(dossier.positions(), &[5]);
    }

    #[test]
    fn refs_json_is_what_serde_json_writes() {
        // Given references, when they are written directly, then the text is exactly what
        // serde_json writes for the same values (rows stay byte-identical across versions).
        let refs = [
            Reference {
                partition: 3,
                seq: 17,
                hash: tl_schemas::Hash32([0xab; 32]),
            },
            Reference {
                partition: 0,
                seq: u64::MAX,
                hash: tl_schemas::Hash32([7; 32]),
            },
        ];
        for n in 0..=refs.len() {
            let want =
                serde_json::Value::Array(refs[..n].iter().map(ref_value).collect()).to_string();
            assert_eq!(refs_json(&refs[..n]), want);
        }
        assert_eq!(one_ref(&refs[0]), ref_value(&refs[0]).to_string());
    }
}
