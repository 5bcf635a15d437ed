//! `trial-ledger dossier`: the reimbursement dossier of one cohort, the positive cohorts or
//! all cohorts, from a ledger that verifies.
//!
//! 1. The ledger is verified against the pinned root. The **evidence cut** is each partition's
//!    latest published checkpoint.
//! 2. The scope's subjects (each cohort and the patients its own records give a slot to) are
//!    exported as one audit bundle (`Scope::Subjects`, schemas/BUNDLE.md): their records inside
//!    the cut, what they cite, and the registry.
//! 3. The figures are computed from the bundle's records alone (`tl_dossier::evidence`), so
//!    `verify-dossier` recomputes them from the same bytes; the clinical cut-off (`--cutoff`)
//!    limits them.
//! 4. `dossier.json`, `index.html`, `evidence/evidence.bundle`, `cdisc/` and `dossier.pdf`
//!    (printed by headless Chromium where it is installed; the manifest says when it is not)
//!    are written with `manifest.json` (their SHA-256) and `manifest.sig` (an enrolled admin
//!    key's signature, FORMAT.md §20), into a new folder that appears whole or not at all.
//!
//! The ledger is the embedded one (`--data DIR`) or a trial on Kafka (`--kafka BOOTSTRAP
//! --trial ID --trust FILE`: the committed ledger topic and the checkpoints topic); the same
//! records and checkpoints give the same dossier either way.

use crate::cli::DossierArgs;
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tl_domain::TrialRules;
use tl_dossier::manifest::{self, Manifest, Signer};
use tl_dossier::{evidence, Scope};
use tl_ledger::bundle::{self, Bundle, ExportSource};
use tl_ledger::checkpoint::SignedCheckpoint;
use tl_ledger::log::read_embedded_for_verify;
use tl_ledger::publish::read_published;
use tl_ledger::trust::TrustFile;
use tl_ledger::verify::PartitionInput;
use tl_ledger::{verify_ledger, SigningKey};
use tl_projections::model::TrialModel;
use tl_schemas::ids::Name;
use tl_schemas::{Date, TrialId};

/// Which cohorts: `--cohort ID`, `--positive` or `--all`.
fn cohorts(a: &DossierArgs, model: &TrialModel) -> Result<BTreeSet<Name>> {
    let known: BTreeSet<Name> = model
        .catalogue
        .iter()
        .flat_map(|(_, c, _)| c.cohorts.iter().map(|d| d.cohort_id.clone()))
        .chain(model.cohorts.keys().cloned())
        .collect();
    let chosen: BTreeSet<Name> = match (&a.cohort, a.positive, a.all) {
        (Some(c), false, false) => {
            let id = Name::new(c.trim_start_matches("cohort:"))
                .map_err(|e| anyhow::anyhow!("--cohort {c:?}: {e}"))?;
            if !known.contains(&id) {
                bail!("--cohort {id}: no such cohort in the protocol's catalogue or the ledger");
            }
            BTreeSet::from([id])
        }
        (None, true, false) => known
            .into_iter()
            .filter(|c| tl_dossier::figures::is_positive(model, c))
            .collect(),
        (None, false, true) => known,
        _ => bail!("give exactly one of --cohort ID, --positive, --all"),
    };
    // A cohort without records in the cut has no slot holders and no figures to report.
    let chosen: BTreeSet<Name> = chosen
        .into_iter()
        .filter(|c| model.cohorts.contains_key(c))
        .collect();
    if chosen.is_empty() {
        bail!("no cohort with records inside the evidence cut matches (nothing to report)");
    }
    Ok(chosen)
}

/// Who signs the manifest.
pub struct SignWith<'a> {
    /// The admin's key.
    pub key: &'a SigningKey,
    /// When (RFC 3339).
    pub signed_at: String,
}

/// Computes the dossier of `scope` from `bundle` and writes it into the new folder `out` (made
/// beside it under a temporary name, then renamed): every file, `manifest.json` and
/// `manifest.sig`. The signer must be an admin key enrolled at the cut's registry position.
/// Returns the files written with their sizes.
/// With `pdf`, `index.html` is also printed to `dossier.pdf` by headless Chromium; where that
/// cannot be done the dossier is written without it and the manifest's `pdf` says why (as does
/// stderr).
pub fn write_dossier(
    out: &Path,
    bundle: &Bundle,
    scope: &Scope,
    sign: SignWith<'_>,
    pdf: bool,
) -> Result<BTreeMap<String, usize>> {
    let trial: TrialId = bundle.trial_id.clone();
    let registry = evidence::registry_of(bundle)?;
    let (name, _) =
        evidence::admin_signer(&registry, &sign.key.key_id().to_hex()).map_err(|e| {
            anyhow::anyhow!("--key: {e}: the manifest is signed by an enrolled admin key")
        })?;
    let model = evidence::model_of(bundle)?;
    let cut = evidence::cut_of(bundle)?;
    let dossier = tl_dossier::build(&model, scope, trial.as_str(), cut);
    let mut files = tl_dossier::rendered_files(&dossier)?;
    files.insert(
        "evidence/evidence.bundle".into(),
        bundle::encode_bundle(bundle),
    );
    // The CDISC datasets, from the same evidence model, listed in the manifest like the rest.
    let package = tl_dossier::cdisc::package(&model, scope, &trial)
        .map_err(|e| anyhow::anyhow!("the CDISC datasets: {e}"))?;
    for (name, bytes) in package.files() {
        files.insert(format!("cdisc/{name}"), bytes.to_vec());
    }
    let pdf_note = if pdf {
        match super::dossier_pdf::print(&files["index.html"]) {
            Ok((bytes, browser)) => {
                files.insert("dossier.pdf".into(), bytes);
                format!("dossier.pdf: index.html printed by {browser} (headless); informative only, not recomputed by verify-dossier")
            }
            Err(why) => {
                eprintln!("dossier.pdf skipped: {why}; print index.html from a browser");
                format!("no dossier.pdf: {why}; print index.html from a browser")
            }
        }
    } else {
        "no dossier.pdf: not asked for (--no-pdf)".to_string()
    };
    let m = Manifest {
        format: manifest::MANIFEST_FORMAT.into(),
        trial: trial.to_string(),
        clinical_cutoff: scope.cutoff.to_string(),
        cohorts: scope.cohorts.iter().map(|c| c.to_string()).collect(),
        evidence_cut: dossier.evidence_cut.clone(),
        registry_position: dossier.registry_position,
        protocol_version: dossier.figures.conventions.protocol_version,
        conventions: serde_json::to_value(&dossier.figures.conventions)?,
        tool: format!("trial-ledger {}", env!("CARGO_PKG_VERSION")),
        files: files
            .iter()
            .map(|(p, b)| (p.clone(), manifest::digest(b)))
            .collect(),
        pdf: Some(pdf_note),
        signer: Signer {
            key_id: sign.key.key_id().to_hex(),
            name,
            role: "admin".into(),
            meaning: manifest::MEANING.into(),
            signed_at: sign.signed_at,
        },
    };
    let body = manifest::manifest_bytes(&m);
    let sig = manifest::sign(&trial, &body, sign.key);
    let mut sig_bytes = serde_json::to_vec_pretty(&sig)?;
    sig_bytes.push(b'\n');
    files.insert("manifest.json".into(), body);
    files.insert("manifest.sig".into(), sig_bytes);
    write_folder(out, &files)?;
    Ok(files.iter().map(|(p, b)| (p.clone(), b.len())).collect())
}

/// Writes `files` into a new folder `out`: a temporary folder beside it, fsynced, renamed into
/// place; never over an existing path.
fn write_folder(out: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<()> {
    use std::io::Write;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".trial-ledger-dossier-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a temporary folder in {}", parent.display()))?;
    for (path, bytes) in files {
        let target = tmp.path().join(path);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::File::create(&target)
            .with_context(|| format!("writing {}", target.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    if out.symlink_metadata().is_ok() {
        bail!("{} appeared meanwhile; nothing was written", out.display());
    }
    let kept = tmp.keep();
    std::fs::rename(&kept, out).map_err(|e| {
        let _ = std::fs::remove_dir_all(&kept);
        anyhow::anyhow!(
            "moving the dossier into {}: {e}; nothing was written",
            out.display()
        )
    })?;
    std::fs::File::open(&parent).and_then(|d| d.sync_all())?;
    Ok(())
}

/// The committed ledger and each partition's published checkpoints, from either backend,
/// with the trust file that pins the trial's root.
fn read_ledger(
    a: &DossierArgs,
    store: &super::Store,
) -> Result<(TrustFile, Vec<PartitionInput>, Vec<Vec<SignedCheckpoint>>)> {
    let trust_path = match (&a.trust, store) {
        (Some(p), _) => p.clone(),
        (None, super::Store::Embedded(data)) => super::stored_trust_path_with_warning(data),
        (None, super::Store::Kafka(_)) => {
            bail!("a dossier from a ledger on Kafka needs the trial's trust file: --trust FILE")
        }
    };
    let trust = TrustFile::read(&trust_path)?;
    match store {
        super::Store::Embedded(data) => {
            let dir = super::ledger_dir(data);
            let inputs = read_embedded_for_verify(&dir)
                .with_context(|| format!("reading the ledger in {}", dir.display()))?;
            let published = (0..inputs.len() as u32)
                .map(|p| read_published(&dir, p))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((trust, inputs, published))
        }
        super::Store::Kafka(k) => {
            if k.trial != trust.trial() {
                bail!(
                    "the trust file {} is for trial {}, not {}",
                    trust_path.display(),
                    trust.trial(),
                    k.trial
                );
            }
            let wait = std::time::Duration::from_secs(150);
            let n = tl_kafka::topics::partition_count(k, &k.topics.ledger)?.with_context(|| {
                format!("no ledger topic {} on {}", k.topics.ledger, k.bootstrap)
            })?;
            let inputs = tl_kafka::read::ledger_for_verify(k, n, wait)?;
            let published = (0..n)
                .map(|p| tl_kafka::read::checkpoints(k, p, wait))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((trust, inputs, published))
        }
    }
}

/// Runs `dossier`.
pub fn run(a: DossierArgs) -> Result<ExitCode> {
    let cutoff = Date::parse(&a.cutoff)
        .with_context(|| format!("--cutoff {:?}: expected a date YYYY-MM-DD", a.cutoff))?;
    let store = super::store(&a.data)?;
    let data = match &store {
        super::Store::Embedded(d) => Some(d.as_path()),
        super::Store::Kafka(_) => None,
    };
    // Before any work: --out must be new, and not inside a data folder's protected parts.
    crate::cli::output::refuse_protected(&a.out, data)?;
    if a.out.symlink_metadata().is_ok() {
        bail!(
            "{} already exists; a dossier is written into a new folder only",
            a.out.display()
        );
    }
    let (key, _) = crate::cli::secrets::load_key(&a.key)?;
    let (trust, inputs, published) = read_ledger(&a, &store)?;
    let root = trust.root_key().map_err(anyhow::Error::msg)?;
    let trial = trust.trial();
    let report = verify_ledger(&trial, root, &inputs, TrialRules);
    if let Some(f) = report.first_failure() {
        println!("FAILED: the ledger does not verify, so no dossier is written: {f}");
        return Ok(ExitCode::from(crate::EXIT_NEGATIVE));
    }
    let records: Vec<Vec<Vec<u8>>> = inputs.into_iter().map(|i| i.records).collect();
    let anchors: Vec<u64> = published
        .iter()
        .map(|cps| cps.last().map_or(0, |c| c.unverified().size))
        .collect();
    let model = evidence::model_of_partitions(&records, &anchors)?;
    let scope = Scope {
        cohorts: cohorts(&a, &model)?,
        cutoff,
    };
    let subjects = evidence::subjects_for(&model, &scope.cohorts);
    let src = ExportSource {
        trial: &trial,
        root,
        partition_count: trust.partitions,
        records: &records,
        published: &published,
    };
    let b =
        bundle::export(&src, &bundle::Scope::Subjects(subjects)).map_err(tl_ledger::Error::from)?;
    let files = write_dossier(
        &a.out,
        &b,
        &scope,
        SignWith {
            key: &key,
            signed_at: tl_schemas::UtcMicros::now().to_rfc3339(),
        },
        !a.no_pdf,
    )?;
    let carried: usize = b.sections.iter().map(|s| s.records.len()).sum();
    println!(
        "wrote {}: dossier of {} cohort(s) of trial {trial}, clinical cut-off {cutoff}, evidence cut at {} partitions' latest checkpoints ({carried} records); files: {}",
        a.out.display(),
        scope.cohorts.len(),
        b.sections.len(),
        files
            .iter()
            .map(|(p, n)| format!("{p} ({n} bytes)"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(ExitCode::SUCCESS)
}
