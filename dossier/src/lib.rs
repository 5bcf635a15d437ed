//! The reimbursement dossier: what a reimbursement body receives, and how it checks it.
//!
//! A dossier is computed from the trial model ([`tl_projections::model::TrialModel`]) built from
//! the verified records inside an evidence cut, limited by a clinical data cut-off. Every figure,
//! dataset row and plot is a pure function of that model, so `verify-dossier` recomputes them
//! from the evidence records alone and compares.
//!
//! - [`Scope`]: which cohorts a dossier covers, and the clinical cut-off.
//! - [`cut`]: the clinical data cut-off applied to the model: one rule ([`cut::CUTOFF_RULE`])
//!   for the figures and the CDISC datasets alike.
//! - [`km`]: Kaplan-Meier medians with Brookmeyer-Crowley log(-log) CIs, landmarks, numbers at
//!   risk, reverse-KM follow-up.
//! - [`figures`]: every figure per cohort, tumour-type subgroup and trial-wide.
//! - [`esmo`]: ESMO-MCBS v1.1 form 3.
//! - [`cdisc`]: the CDISC Dataset-JSON v1.1 datasets (SDTM and ADaM) and their `define.xml`.
#![forbid(unsafe_code)]

pub mod cdisc;
pub mod cut;
pub mod esmo;
pub mod evidence;
pub mod figures;
pub mod html;
pub mod km;
pub mod manifest;
pub mod plots;

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

/// One partition's place in the evidence cut: its latest signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CutPartition {
    /// Partition.
    pub partition: u32,
    /// Records inside the cut (the checkpoint's tree size).
    pub size: u64,
    /// The checkpoint's root hash, hex.
    pub root: String,
}

/// A dossier's content: what `dossier.json` holds, and what the report shows.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Dossier {
    /// Format of `dossier.json`.
    pub format: &'static str,
    /// Trial id.
    pub trial: String,
    /// The evidence cut: each partition's latest signed checkpoint.
    pub evidence_cut: Vec<CutPartition>,
    /// The registry position of the cut (partition 0's size inside it).
    pub registry_position: u64,
    /// Every figure.
    pub figures: figures::Figures,
}

/// The format name in `dossier.json`.
pub const DOSSIER_FORMAT: &str = "trial-ledger-dossier/1";

/// The dossier of `scope` from `model` (built from the evidence records only).
pub fn build(
    model: &tl_projections::model::TrialModel,
    scope: &Scope,
    trial: &str,
    cut: Vec<CutPartition>,
) -> Dossier {
    let registry_position = cut.iter().find(|c| c.partition == 0).map_or(0, |c| c.size);
    Dossier {
        format: DOSSIER_FORMAT,
        trial: trial.to_string(),
        evidence_cut: cut,
        registry_position,
        figures: figures::figures(model, scope),
    }
}

/// The computed files of a dossier, by path inside the dossier folder: `dossier.json` and
/// `index.html` (deterministic: the same dossier gives the same bytes).
pub fn rendered_files(d: &Dossier) -> Result<std::collections::BTreeMap<String, Vec<u8>>, Error> {
    let mut json = serde_json::to_vec_pretty(d).map_err(|e| Error::Render(e.to_string()))?;
    json.push(b'\n');
    let mut files = std::collections::BTreeMap::new();
    files.insert("dossier.json".to_string(), json);
    files.insert("index.html".to_string(), html::render(d).into_bytes());
    Ok(files)
}

/// Why a dossier, its CDISC package or its evidence could not be made, read or checked. Each
/// variant says what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The scope names a cohort the protocol's catalogue does not have: check `--cohort`
    /// against the catalogue (`view enrollment` lists the cohorts).
    #[error("cohort {0} is not in the protocol's cohort catalogue (check --cohort)")]
    UnknownCohort(String),
    /// The scope names no cohort: pass at least one (`--cohort`, `--positive` or `--all`).
    #[error("the scope names no cohort: a dossier needs at least one")]
    EmptyScope,
    /// A file the dossier would write already exists; nothing was written. Choose a new
    /// folder.
    #[error("{0} already exists; nothing was written (choose a folder without a dossier)")]
    Exists(std::path::PathBuf),
    /// Reading or writing a file failed: check the path, its permissions and the free space,
    /// then run again (a refused write leaves nothing behind).
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The evidence bundle's records or checkpoints cannot be read: the bundle is damaged or
    /// not a dossier's (`verify-bundle` on it names the record). Ask the sender for the
    /// dossier again.
    #[error("evidence: {0}")]
    Evidence(String),
    /// A figure could not be serialised: a bug in this tool, not in the data; report it.
    #[error("rendering the dossier (a bug, please report it): {0}")]
    Render(String),
}
