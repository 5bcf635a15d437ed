//! `trial-ledger verify-dossier DIR --trust FILE`: the assessor's check of a dossier. Exit 0
//! only if everything agrees; 1 naming the first figure, file or record that differs.
//!
//! In order (the first failure stops it):
//! 1. `manifest.json` and `manifest.sig` read; the trial is the pinned trust file's.
//! 2. The evidence bundle verifies under the pinned root (schemas/BUNDLE.md: records,
//!    signatures, keys, inclusion in the cut's signed checkpoints, every subject's back-links).
//! 3. The manifest's signer is an `admin` key enrolled and not revoked at the cut's registry
//!    position, and its signature over `manifest.json` is valid; the cut the manifest states is
//!    the bundle's.
//! 4. Completeness: every reported cohort's own records are in the evidence, and every patient
//!    they give a slot to is a subject of the evidence with its records.
//! 5. Recomputation from the evidence records alone, under the one clinical cut-off rule
//!    (`tl_dossier::cut`): `dossier.json` (the first differing figure is named by its JSON
//!    path), every `cdisc/` file (the first differing row) and `index.html` (byte for byte).
//! 6. Every file of the folder is listed in the manifest with its SHA-256, and nothing else is
//!    there. `dossier.pdf` is checked by its digest only: it is a print of `index.html` by a
//!    browser, informative, and not recomputed.

use crate::cli::VerifyDossierArgs;
use anyhow::{Context, Result};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::ExitCode;
use tl_domain::TrialRules;
use tl_dossier::manifest::{self, Manifest, ManifestSignature};
use tl_dossier::{evidence, Scope};
use tl_ledger::bundle::{self, Pinned};
use tl_ledger::trust::TrustFile;
use tl_schemas::ids::Name;
use tl_schemas::Date;

/// The first path at which two JSON values differ, with both values (shortened).
pub fn first_difference(path: &str, a: &Value, b: &Value) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                let p = format!("{path}.{k}");
                match y.get(k) {
                    Some(w) => {
                        if let Some(d) = first_difference(&p, v, w) {
                            return Some(d);
                        }
                    }
                    None => return Some(format!("{p}: in the dossier, not in the recomputation")),
                }
            }
            y.keys()
                .find(|k| !x.contains_key(*k))
                .map(|k| format!("{path}.{k}: missing from the dossier"))
        }
        (Value::Array(x), Value::Array(y)) => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                if let Some(d) = first_difference(&format!("{path}[{i}]"), v, w) {
                    return Some(d);
                }
            }
            (x.len() != y.len()).then(|| {
                format!(
                    "{path}: {} entries in the dossier, {} recomputed",
                    x.len(),
                    y.len()
                )
            })
        }
        _ if a == b => None,
        _ => {
            let short = |v: &Value| {
                let s = v.to_string();
                if s.len() > 80 {
                    format!("{}...", &s[..80])
                } else {
                    s
                }
            };
            Some(format!(
                "{path}: the dossier says {}, the evidence gives {}",
                short(a),
                short(b)
            ))
        }
    }
}

fn read(dir: &Path, name: &str) -> Result<Vec<u8>> {
    std::fs::read(dir.join(name)).with_context(|| format!("reading {}", dir.join(name).display()))
}

/// Every file under `dir`, as `/`-separated relative paths.
fn listing(dir: &Path, prefix: &str, out: &mut BTreeSet<String>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if e.file_type()?.is_dir() {
            listing(&e.path(), &rel, out)?;
        } else {
            out.insert(rel);
        }
    }
    Ok(())
}

/// Checks the dossier in `dir`; `Ok(Err(why))` is a negative verdict naming what differs.
pub fn check(dir: &Path, trust: &TrustFile) -> Result<std::result::Result<String, String>> {
    let body = read(dir, "manifest.json")?;
    let m: Manifest =
        serde_json::from_slice(&body).context("manifest.json is not a dossier manifest")?;
    let sig: ManifestSignature = serde_json::from_slice(&read(dir, "manifest.sig")?)
        .context("manifest.sig is not a manifest signature")?;
    let trial = trust.trial();
    if m.trial != trial.as_str() {
        return Ok(Err(format!(
            "manifest.json: the dossier is of trial {}, the trust file pins {trial}",
            m.trial
        )));
    }
    // 2. The evidence.
    // A missing or unreadable file of the dossier is a negative verdict naming it.
    let bytes = match tl_ledger::limits::read_capped(
        &dir.join("evidence/evidence.bundle"),
        tl_ledger::limits::MAX_BUNDLE_FILE_BYTES,
        "an audit bundle",
    ) {
        Ok(b) => b,
        Err(e) => return Ok(Err(format!("evidence/evidence.bundle: {e}"))),
    };
    let b = match bundle::decode_bundle(&bytes) {
        Ok(b) => b,
        Err(e) => return Ok(Err(format!("evidence/evidence.bundle: {e}"))),
    };
    let pinned = Pinned {
        trial: trial.clone(),
        root: trust.root_key().map_err(anyhow::Error::msg)?,
        partitions: trust.partitions,
    };
    let report = bundle::verify_bundle(&b, Some(&pinned), &[], TrialRules);
    if let Some(f) = report.failure {
        return Ok(Err(format!("evidence/evidence.bundle: {f}")));
    }
    // 3. The signer and the cut.
    let registry = evidence::registry_of(&b)?;
    let (signer, public_key) = match evidence::admin_signer(&registry, &sig.key_id) {
        Ok(s) => s,
        Err(why) => return Ok(Err(format!("manifest.sig: {why}"))),
    };
    if !manifest::verify(&trial, &body, &sig, &public_key) {
        return Ok(Err(format!(
            "manifest.sig: the signature by {} ({signer}) over manifest.json does not verify",
            sig.key_id
        )));
    }
    if sig.key_id != m.signer.key_id || signer != m.signer.name {
        return Ok(Err(format!(
            "manifest.json: signer {} ({}) is not the key that signed it, {} ({signer})",
            m.signer.key_id, m.signer.name, sig.key_id
        )));
    }
    let cut = evidence::cut_of(&b)?;
    if cut != m.evidence_cut || registry.position() != m.registry_position {
        return Ok(Err(
            "manifest.json: the evidence cut it states is not the evidence bundle's checkpoints"
                .into(),
        ));
    }
    // 4. Completeness.
    let cohorts: BTreeSet<Name> = m
        .cohorts
        .iter()
        .map(Name::new)
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("manifest.json: a cohort id: {e}"))?;
    let cutoff = Date::parse(&m.clinical_cutoff)
        .with_context(|| format!("manifest.json: cut-off {:?}", m.clinical_cutoff))?;
    let model = evidence::model_of(&b)?;
    if let Err(why) = evidence::completeness(&b, &model, &cohorts) {
        return Ok(Err(format!("evidence: {why}")));
    }
    // 5. Recomputation.
    let scope = Scope { cohorts, cutoff };
    let recomputed =
        tl_dossier::rendered_files(&tl_dossier::build(&model, &scope, trial.as_str(), cut))?;
    let Ok(stated) = read(dir, "dossier.json") else {
        return Ok(Err("dossier.json: missing or unreadable".into()));
    };
    let stated: Value = match serde_json::from_slice(&stated) {
        Ok(v) => v,
        Err(e) => return Ok(Err(format!("dossier.json: not JSON ({e})"))),
    };
    let ours: Value = serde_json::from_slice(&recomputed["dossier.json"])?;
    if let Some(d) = first_difference("dossier.json", &stated, &ours) {
        return Ok(Err(d));
    }
    // Every CDISC dataset regenerated from the evidence and compared, naming the first row
    // that differs.
    let package = tl_dossier::cdisc::package(&model, &scope, &trial)
        .map_err(|e| anyhow::anyhow!("regenerating the CDISC datasets: {e}"))?;
    if let Some(d) = package.first_difference(&dir.join("cdisc"))? {
        return Ok(Err(format!("cdisc/{d}")));
    }
    for name in ["dossier.json", "index.html"] {
        if read(dir, name).ok().as_ref() != Some(&recomputed[name]) {
            return Ok(Err(format!(
                "{name}: differs from the recomputation from the evidence"
            )));
        }
    }
    // 6. Digests of every file, and nothing unlisted.
    let mut present = BTreeSet::new();
    listing(dir, "", &mut present)?;
    present.remove("manifest.json");
    present.remove("manifest.sig");
    let listed: BTreeMap<&String, &String> = m.files.iter().collect();
    for p in &present {
        match listed.get(p) {
            None => return Ok(Err(format!("{p}: a file the manifest does not list"))),
            Some(want) => {
                if manifest::digest(&read(dir, p)?) != **want {
                    return Ok(Err(format!("{p}: its SHA-256 is not the manifest's")));
                }
            }
        }
    }
    if let Some(missing) = m.files.keys().find(|p| !present.contains(*p)) {
        return Ok(Err(format!(
            "{missing}: listed in the manifest, missing from the folder"
        )));
    }
    Ok(Ok(format!(
        "OK: dossier of trial {trial}, {} cohort(s), clinical cut-off {}; signed by {} ({}, admin) at {}; {} evidence records in {} partitions verified under the pinned root; every cohort's slot holders present; dossier.json and index.html recomputed from the evidence and equal; {} files match the manifest",
        scope.cohorts.len(),
        m.clinical_cutoff,
        m.signer.name,
        m.signer.key_id,
        m.signer.signed_at,
        report.records,
        report.partitions.len(),
        m.files.len()
    )))
}

/// Runs `verify-dossier`.
pub fn run(a: VerifyDossierArgs) -> Result<ExitCode> {
    let trust = TrustFile::read(&a.trust)?;
    match check(&a.dir, &trust)? {
        Ok(ok) => {
            println!("{ok}");
            println!("note: dossier.pdf, where present, is informative only: its SHA-256 is checked, its content is not recomputed");
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => {
            println!("FAILED: {why}");
            Ok(ExitCode::from(crate::EXIT_NEGATIVE))
        }
    }
}
