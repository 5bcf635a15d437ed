//! Shared test helpers: a simulated trial with the simulator's ground truth, and projections
//! over it.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use tl_clinical::Outcome;
use tl_projections::{report, LogState, ViewKind};
use tl_schemas::clinical::{
    CohortCatalogue, CohortStageDecided, MatchProposed, SequencingResultReported,
};
use tl_schemas::ids::Name;
use tl_schemas::TrialId;
use tl_sim::{Decider, InProcessDecider, SimConfig, SimKeys, SimReport, SlotDecision};

/// The simulator's ground truth, recorded as its decider was asked: every outcome the
/// simulation knew for a patient, and every slot it handed out.
#[derive(Default)]
pub struct Truth {
    /// Outcome per patient, as the simulator planned and reported it.
    pub outcomes: BTreeMap<String, (String, Outcome)>,
    /// Slots assigned per cohort.
    pub slots: BTreeMap<String, u32>,
    /// Slots refused per cohort.
    pub refused: BTreeMap<String, u32>,
}

/// The in-process decider, recording what it was told.
pub struct Recording {
    /// The decider the simulation uses by default.
    pub inner: InProcessDecider,
    /// What it saw.
    pub truth: Truth,
}

impl Decider for Recording {
    fn protocol_in_force(&mut self, version: u32, catalogue: &CohortCatalogue) {
        self.inner.protocol_in_force(version, catalogue)
    }
    fn propose(&mut self, tumour_type: &str, result: &SequencingResultReported) -> MatchProposed {
        self.inner.propose(tumour_type, result)
    }
    fn assign_slot(&mut self, cohort: &Name, patient: &Name) -> SlotDecision {
        let d = self.inner.assign_slot(cohort, patient);
        let m = match &d {
            SlotDecision::Assigned(_) => &mut self.truth.slots,
            SlotDecision::Refused(_) => &mut self.truth.refused,
        };
        *m.entry(cohort.to_string()).or_default() += 1;
        d
    }
    fn record_outcome(
        &mut self,
        cohort: &Name,
        patient: &Name,
        outcome: Outcome,
    ) -> Vec<CohortStageDecided> {
        self.truth
            .outcomes
            .insert(patient.to_string(), (cohort.to_string(), outcome));
        self.inner.record_outcome(cohort, patient, outcome)
    }
}

/// A simulated trial in a temporary folder, with its ground truth.
pub struct SimTrial {
    /// Keeps the folder.
    pub dir: tempfile::TempDir,
    /// The ledger folder.
    pub ledger: PathBuf,
    /// The simulator's report.
    pub report: SimReport,
    /// The simulator's keys.
    pub keys: SimKeys,
    /// The decider after the run (cohort states) and what it was told.
    pub decider: Recording,
    /// Trial id.
    pub trial: TrialId,
}

/// Simulates a trial of `treated` patients.
pub fn simulate(treated: u32, seed: u64) -> SimTrial {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    let trial = TrialId::new("proj-test").unwrap();
    let config = SimConfig::new(trial.clone(), seed, treated);
    let mut decider = Recording {
        inner: InProcessDecider::new(),
        truth: Truth::default(),
    };
    let (report, keys) = tl_sim::simulate_with(&ledger, &config, &mut decider).unwrap();
    SimTrial {
        dir,
        ledger,
        report,
        keys,
        decider,
        trial,
    }
}

impl SimTrial {
    /// The pinned root key.
    pub fn root(&self) -> [u8; 32] {
        self.report.root_public_key
    }

    /// Projects the whole ledger into `db` (a clean catch-up).
    pub fn project(&self, db: &Path, batch: usize) -> tl_projections::Progress {
        let mut p =
            tl_projections::embedded(&self.ledger, self.trial.clone(), self.root(), db, batch)
                .unwrap();
        p.catch_up(LogState::Complete).unwrap()
    }
}

/// Every row of every view database in `db`, by view.
pub fn dump_all(db: &Path) -> BTreeMap<&'static str, BTreeMap<String, Vec<String>>> {
    ViewKind::ALL
        .iter()
        .map(|k| {
            let conn = rusqlite::Connection::open(k.path(db)).unwrap();
            (k.name(), report::dump(&conn).unwrap())
        })
        .collect()
}

/// Asserts two dumps are equal, naming the first differing table and row.
pub fn assert_same_rows(
    a: &BTreeMap<&'static str, BTreeMap<String, Vec<String>>>,
    b: &BTreeMap<&'static str, BTreeMap<String, Vec<String>>>,
) {
    for (view, tables) in a {
        for (t, rows) in tables {
            let other = &b[view][t];
            if rows != other {
                let sa: BTreeSet<_> = rows.iter().collect();
                let sb: BTreeSet<_> = other.iter().collect();
                let only_a: Vec<_> = sa.difference(&sb).take(3).collect();
                let only_b: Vec<_> = sb.difference(&sa).take(3).collect();
                panic!(
                    "{view}.{t} differs ({} vs {} rows): only in first {only_a:?}; only in second {only_b:?}",
                    rows.len(),
                    other.len()
                );
            }
        }
        assert_eq!(
            tables.keys().collect::<Vec<_>>(),
            b[view].keys().collect::<Vec<_>>()
        );
    }
}
