//! The reimbursement dossier: what a reimbursement body receives, and how it checks it.
//!
//! A dossier is computed from the trial model ([`tl_projections::model::TrialModel`]) built from
//! the verified records inside an evidence cut, limited by a clinical data cut-off. Every figure,
//! dataset row and plot is a pure function of that model, so `verify-dossier` recomputes them
//! from the evidence records alone and compares.
//!
//! - [`Scope`]: which cohorts a dossier covers, and the clinical cut-off.
//! - [`cdisc`]: the CDISC Dataset-JSON v1.1 datasets (SDTM and ADaM) and their `define.xml`.
#![forbid(unsafe_code)]

pub mod cdisc;

use std::collections::BTreeSet;
use tl_schemas::ids::Name;
use tl_schemas::time::Date;

/// What a dossier covers: the cohorts reported and the clinical data cut-off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// The cohorts reported (`--cohort`, `--positive` or `--all` resolve to this set).
    pub cohorts: BTreeSet<Name>,
    /// The clinical data cut-off (`--cutoff`): events dated after it are ignored, and survival
    /// is censored at it.
    pub cutoff: Date,
}
