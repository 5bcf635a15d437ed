//! Shared test helpers: a simulated trial with the simulator's ground truth, and projections
//! over it.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tl_clinical::Outcome;
use tl_projections::{report, LogState};
use tl_schemas::clinical::clinical_type;
use tl_schemas::{SignedSubmission, TrialId, UtcMicros};
use tl_sim::{Decider, ServiceDecider, SimConfig, SimError, SimKeys, SimReport};

/// What the simulation's deciding services decided, recorded as they answered: every slot
/// they handed out or refused, and (after the run) the outcome the cohort engine counted for
/// each patient. The cohort engine derives outcomes with its own rule
/// (`tl_clinical::outcome_so_far`), independently of the projections' per-patient facts.
#[derive(Default)]
pub struct Truth {
    /// Outcome per patient: (cohort, outcome), as the cohort engine counted it.
    pub outcomes: BTreeMap<String, (String, Outcome)>,
    /// Slots assigned per cohort.
    pub slots: BTreeMap<String, u32>,
    /// Slots refused per cohort.
    pub refused: BTreeMap<String, u32>,
}

/// The simulation's default decider (the matcher and cohort-engine services), recording what
/// it decided.
pub struct Recording {
    /// The decider the simulation uses by default.
    pub inner: ServiceDecider,
    /// What it decided.
    pub truth: Truth,
}

impl Recording {
    /// The cohort engine's cohorts after the run.
    pub fn cohorts(&self) -> impl Iterator<Item = &tl_domain::cohort_engine::EngineCohort> {
        self.inner.cohort_engine().engine().cohorts()
    }

    /// Fills `truth.outcomes` from the cohort engine's final state.
    fn collect_outcomes(&mut self) {
        let mut outcomes = BTreeMap::new();
        for c in self.inner.cohort_engine().engine().cohorts() {
            for (patient, o) in &c.outcomes {
                outcomes.insert(
                    patient.to_string(),
                    (c.definition.cohort_id.to_string(), *o),
                );
            }
        }
        self.truth.outcomes = outcomes;
    }
}

impl Decider for Recording {
    fn start(&mut self, trial: &TrialId, keys: &SimKeys) {
        self.inner.start(trial, keys)
    }
    fn step(
        &mut self,
        ledger: &dyn tl_domain::deciders::RecordFeed,
        clock: &mut dyn FnMut() -> UtcMicros,
    ) -> Result<Vec<SignedSubmission>, SimError> {
        let out = self.inner.step(ledger, clock)?;
        for s in &out {
            let m = match s.submission.envelope.event_type {
                clinical_type::SLOT_ASSIGNED => &mut self.truth.slots,
                clinical_type::SLOT_REFUSED => &mut self.truth.refused,
                _ => continue,
            };
            *m.entry(
                s.submission
                    .subject
                    .to_string()
                    .trim_start_matches("cohort:")
                    .to_string(),
            )
            .or_default() += 1;
        }
        Ok(out)
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
        inner: ServiceDecider::new(),
        truth: Truth::default(),
    };
    let (report, keys) = tl_sim::simulate_with(&ledger, &config, &mut decider).unwrap();
    decider.collect_outcomes();
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
pub fn dump_all(db: &Path) -> report::ViewsDump {
    report::dump_views(db).unwrap()
}

/// Asserts two dumps hold the same views, tables and rows, and are not empty; names the
/// first difference ([`report::views_difference`], shared with the service's tests).
pub fn assert_same_rows(a: &report::ViewsDump, b: &report::ViewsDump) {
    if let Some(d) = report::views_difference(a, b) {
        panic!("{d}");
    }
}
