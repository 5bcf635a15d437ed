//! `trial-ledger export`: write an offline audit bundle (`tl_ledger::bundle`, format in
//! `schemas/BUNDLE.md`) of a patient, a cohort or the whole ledger, only from a ledger that
//! verifies.

use crate::cli::ExportArgs;
use anyhow::{bail, Context, Result};
use std::process::ExitCode;
use tl_domain::TrialRules;
use tl_ledger::bundle::{self, ExportSource, Scope};
use tl_ledger::log::read_embedded_for_verify;
use tl_ledger::publish::read_published;
use tl_ledger::trust::TrustFile;
use tl_ledger::verify_ledger;
use tl_schemas::Subject;

/// The scope asked for: `--subject` (a patient), `--cohort` or `--all`.
fn scope(a: &ExportArgs) -> Result<Scope> {
    let parse = |text: &str, prefix: &str| -> Result<Subject> {
        let full = if text.contains(':') {
            text.to_string()
        } else {
            format!("{prefix}:{text}")
        };
        Subject::parse(&full).map_err(|e| anyhow::anyhow!("{text:?}: {e}"))
    };
    match (&a.subject, &a.cohort, a.all) {
        (Some(s), None, false) => {
            let s = parse(s, "patient").context("--subject")?;
            if s == Subject::Trial {
                bail!("--subject: a bundle is of a patient or a cohort (or --all), not the trial");
            }
            Ok(Scope::Subject(s))
        }
        (None, Some(c), false) => match parse(c, "cohort").context("--cohort")? {
            s @ Subject::Cohort(_) => Ok(Scope::Subject(s)),
            other => bail!("--cohort: {other} is not a cohort"),
        },
        (None, None, true) => Ok(Scope::All),
        _ => bail!("give exactly one of --subject ID, --cohort ID, --all"),
    }
}

/// Runs `export`. Never modifies the ledger.
pub fn run(a: ExportArgs) -> Result<ExitCode> {
    let scope = scope(&a)?;
    let data = &a.data.data;
    // Before the long verification: the output must be a file we may write.
    crate::cli::output::check_new(&a.out, a.force, Some(data))?;
    let trust_path = match &a.trust {
        Some(p) => p.clone(),
        None => {
            eprintln!(
                "warning: using the trust file stored beside the ledger ({}) as the bundle's trust anchor; an auditor compares it with their own copy (verify-bundle --trust)",
                super::trust_path(data).display()
            );
            super::trust_path(data)
        }
    };
    let trust = TrustFile::read(&trust_path)?;
    let root = trust.root_key().map_err(anyhow::Error::msg)?;
    let trial = trust.trial();
    let dir = super::ledger_dir(data);
    let inputs = read_embedded_for_verify(&dir)
        .with_context(|| format!("reading the ledger in {}", dir.display()))?;
    // Only a ledger that verifies is exported: a bundle vouches for what it carries.
    let report = verify_ledger(&trial, root, &inputs, TrialRules);
    if let Some(f) = report.first_failure() {
        println!("FAILED: the ledger does not verify, so no bundle is written: {f}");
        return Ok(ExitCode::from(crate::EXIT_NEGATIVE));
    }
    let records: Vec<Vec<Vec<u8>>> = inputs.into_iter().map(|i| i.records).collect();
    let published = (0..records.len() as u32)
        .map(|p| read_published(&dir, p))
        .collect::<Result<Vec<_>, _>>()?;
    let src = ExportSource {
        trial: &trial,
        root,
        partition_count: trust.partitions,
        records: &records,
        published: &published,
    };
    let b = bundle::export(&src, &scope).map_err(tl_ledger::Error::from)?;
    let bytes = bundle::encode_bundle(&b);
    // Beside the target, fsynced and renamed, so a reader never sees half a bundle.
    crate::cli::output::write_new(&a.out, &bytes, a.force, Some(data))?;
    let carried: usize = b.sections.iter().map(|s| s.records.len()).sum();
    let checkpoints: usize = b.sections.iter().map(|s| s.checkpoints.len()).sum();
    println!(
        "wrote {}: bundle of {scope}, trial {trial}: {carried} records in {} partitions (partition 0 records 0..{} for the registry), {checkpoints} signed checkpoints, {} bytes",
        a.out.display(),
        b.sections.len(),
        b.sections[0].records.len(),
        bytes.len()
    );
    Ok(ExitCode::SUCCESS)
}
