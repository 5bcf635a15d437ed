//! CDISC Dataset-JSON v1.1: the SDTM domains and ADaM datasets of a dossier, each row naming the
//! ledger records it comes from, and the `define.xml` (Define-XML 2.1) that describes them.
//!
//! [`package`] is a pure function of the trial model, the scope and the trial id: the same
//! input gives byte-identical files (no clock is read: `datasetJSONCreationDateTime` is the
//! clinical cut-off at midnight UTC). `verify-dossier` regenerates the package from the
//! evidence records and compares it with the files received, row by row
//! ([`Package::first_difference`]).
//!
//! **Datasets.** SDTM (SDTMIG 3.4): TS, DM, DS, EX, AE, TU, TR, RS (the investigator's
//! response), SS (survival status), GF (the genomic finding that matched the patient), and a
//! SUPP-- dataset for each. ADaM (ADaMIG 1.3): ADSL, ADAE, ADEX, ADRS (the response computed
//! from the measurements, best overall response with confirmation, objective response, clinical
//! benefit), ADTR (target-lesion sums), ADTTE (PFS, OS, DoR).
//!
//! **Provenance.** Every SDTM row names each ledger record it comes from in its SUPP-- dataset:
//! one SUPPQUAL row per record, `QNAM` `LDGREC1`, `LDGREC2`, ..., `QVAL` the record's
//! `partition/seq/record-hash` (at most 96 characters). Every ADaM row names its SDTM source row
//! (`SRCDOM`, `SRCVAR`, `SRCSEQ`) and, in the sponsor-defined `LDGREF`, that row's ledger record
//! in the same `partition/seq/record-hash` form. [`Row::sources`] holds every record a row rests
//! on.
//!
//! **Scope.** The patients are those enrolled in (else slotted in) a cohort of the scope; records
//! after the cut-off are left out first, by the one rule the figures follow too
//! ([`crate::cut::clinical_cut`], stated in `define.xml`), so ADSL and ADTTE describe the same
//! records as `dossier.json`.
//!
//! **What the ledger does not hold** is left missing, never invented: age, race, ethnicity and
//! country are null and `SEX` is `U` (the registration event has no such fields; recording them
//! needs a new event version); `AEACN` is `UNKNOWN` (dose changes are not linked to adverse
//! events).

mod adam;
pub mod ct;
mod dataset;
mod define;
mod sdtm;
mod subject;

pub use dataset::{
    parse_reference_text, reference_text, Column, DataType, Dataset, Origin, Row, Standard, Value,
};

use crate::{Error, Scope};
use std::path::Path;
use tl_projections::model::TrialModel;
use tl_schemas::TrialId;

/// A finished package: every dataset, its Dataset-JSON bytes, and `define.xml`.
#[derive(Clone, Debug)]
pub struct Package {
    /// The datasets, SDTM then ADaM, each SDTM domain followed by its SUPP-- dataset.
    pub datasets: Vec<Dataset>,
    /// Each dataset's file name and Dataset-JSON bytes, in the order of `datasets`.
    files: Vec<(String, Vec<u8>)>,
    /// The `define.xml` bytes.
    pub define_xml: Vec<u8>,
}

/// The first place where received files differ from the regenerated package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The file (`adtte.json`, `define.xml`).
    pub file: String,
    /// The first differing row (1-based), when the file is a dataset whose rows differ.
    pub row: Option<usize>,
    /// What differs, in words.
    pub what: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.row {
            Some(r) => write!(f, "{} row {r}: {}", self.file, self.what),
            None => write!(f, "{}: {}", self.file, self.what),
        }
    }
}

/// Builds the CDISC package of `scope` from `model` (the verified records inside the evidence
/// cut) for trial `trial`: records after `scope.cutoff` are left out, survival is censored on
/// or before it. Deterministic: the same input gives byte-identical files.
///
/// What it reads from `model`: the protocol catalogue in force (and its record), every record
/// of each patient enrolled or slotted in a scope cohort, and the slot records about those
/// patients. An evidence bundle holding these gives the same package (`verify-dossier`).
///
/// Errors: [`Error::EmptyScope`], or [`Error::UnknownCohort`] for a cohort the protocol's
/// catalogue does not list.
pub fn package(model: &TrialModel, scope: &Scope, trial: &TrialId) -> Result<Package, Error> {
    if scope.cohorts.is_empty() {
        return Err(Error::EmptyScope);
    }
    for c in &scope.cohorts {
        if model.definition(c).is_none() {
            return Err(Error::UnknownCohort(c.to_string()));
        }
    }
    let cut = crate::cut::clinical_cut(model, scope.cutoff);
    let study = subject::Study::new(&cut, scope, trial);
    let mut datasets = Vec::new();
    let index = sdtm::build(&study, &mut datasets);
    adam::build(&study, &index, &mut datasets);
    let meta = dataset::FileMeta {
        created: format!("{}T00:00:00Z", scope.cutoff),
        study_oid: study.study_oid(),
        mdv_oid: study.mdv_oid(),
    };
    let files = datasets
        .iter()
        .map(|d| (d.file_name(), d.to_json(&meta)))
        .collect();
    let define_xml = define::render(&study, &datasets, &meta);
    Ok(Package {
        datasets,
        files,
        define_xml,
    })
}

impl Package {
    /// Every file of the package, `define.xml` last: (file name, bytes).
    pub fn files(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .chain(std::iter::once(("define.xml", self.define_xml.as_slice())))
    }

    /// The dataset named `name` (`DM`, `ADTTE`, ...).
    pub fn dataset(&self, name: &str) -> Option<&Dataset> {
        self.datasets.iter().find(|d| d.name == name)
    }

    /// Writes every file into `dir` (created if missing). Refuses, writing nothing, when any of
    /// the files already exists there.
    pub fn write_to(&self, dir: &Path) -> Result<(), Error> {
        for (name, _) in self.files() {
            let path = dir.join(name);
            if path.exists() {
                return Err(Error::Exists(path));
            }
        }
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        for (name, bytes) in self.files() {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(|source| Error::Io { path, source })?;
        }
        Ok(())
    }

    /// Compares the files in `dir` with this (regenerated) package and names the first
    /// difference: a missing or extra file, a dataset's first differing row (or its metadata),
    /// or `define.xml`. `Ok(None)`: every file is byte-identical.
    pub fn first_difference(&self, dir: &Path) -> Result<Option<Difference>, Error> {
        for (name, expected) in self.files() {
            let path = dir.join(name);
            let found = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(Some(Difference {
                        file: name.to_string(),
                        row: None,
                        what: "missing".into(),
                    }))
                }
                Err(source) => return Err(Error::Io { path, source }),
            };
            if found != expected {
                let dataset = self.datasets.iter().find(|d| d.file_name() == name);
                return Ok(Some(differs(name, dataset, &found)));
            }
        }
        let extra = std::fs::read_dir(dir)
            .map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            })?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| self.files().all(|(m, _)| m != n))
            .min();
        Ok(extra.map(|file| Difference {
            file,
            row: None,
            what: "not part of the package".into(),
        }))
    }
}

/// Where a received dataset file differs from the expected dataset: its first differing row,
/// else its metadata.
fn differs(name: &str, dataset: Option<&Dataset>, found: &[u8]) -> Difference {
    let mut d = Difference {
        file: name.to_string(),
        row: None,
        what: "differs".into(),
    };
    let Some(dataset) = dataset else { return d };
    let rows: Option<Vec<serde_json::Value>> = serde_json::from_slice::<serde_json::Value>(found)
        .ok()
        .and_then(|v| v.get("rows").and_then(|r| r.as_array()).cloned());
    let Some(rows) = rows else {
        d.what = "not a Dataset-JSON file with rows".into();
        return d;
    };
    let expected = dataset.json_rows();
    for (i, e) in expected.iter().enumerate() {
        let e = serde_json::Value::Array(e.clone());
        match rows.get(i) {
            Some(f) if *f == e => continue,
            Some(f) => {
                d.row = Some(i + 1);
                d.what = format!("expected {e}, found {f}");
            }
            None => {
                d.row = Some(i + 1);
                d.what = format!("missing (expected {e})");
            }
        }
        return d;
    }
    if rows.len() > expected.len() {
        d.row = Some(expected.len() + 1);
        d.what = format!("extra row {}", rows[expected.len()]);
    } else {
        d.what = "metadata differs (the rows agree)".into();
    }
    d
}
