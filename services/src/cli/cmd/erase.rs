//! `trial-ledger erase`: crypto-shred a patient's personal data.

use crate::cli::EraseArgs;
use anyhow::{bail, Context, Result};
use std::process::ExitCode;
use tl_domain::personal::{EraseOutcome, KeyStore};
use tl_ledger::trust::TrustFile;
use tl_schemas::Subject;

/// Runs `erase`. The ledger is not touched: its records keep the ciphertext, which no one can
/// read once the key is gone, and every hash and signature still verifies.
pub fn run(a: EraseArgs) -> Result<ExitCode> {
    let Subject::Patient(patient) = Subject::parse(&a.subject)? else {
        bail!("erase works on patients: use --subject patient:ID");
    };
    let trust = TrustFile::read(&super::trust_path(&a.data.data))
        .with_context(|| format!("{} is not a trial data folder", a.data.data.display()))?;
    // A pseudonym the ledger does not know is a typo, not a patient: erasing it would report
    // success and leave the intended patient's data readable.
    if !has_records(
        &a.data.data,
        &trust.trial(),
        &Subject::Patient(patient.clone()),
    )? {
        bail!(
            "the ledger in {} has no records of patient {patient}; nothing was erased (check the pseudonym)",
            a.data.data.display()
        );
    }
    let dir = super::keystore_dir(&a.data.data, a.keystore.as_deref());
    let store = KeyStore::open(&dir)?;
    let outcome = store.erase(&trust.trial(), &patient)?;
    match outcome {
        EraseOutcome::Erased => println!("erased: the personal-data key of patient {patient} is destroyed; its personal data can no longer be read"),
        EraseOutcome::AlreadyErased => println!("already erased: patient {patient}"),
        EraseOutcome::NoKey => println!("patient {patient} had no personal-data key in {}; marked erased so none is ever created", dir.display()),
    }
    println!("the ledger is unchanged and still verifies: run `trial-ledger verify`.");
    Ok(ExitCode::SUCCESS)
}

/// Whether the data folder's ledger holds a record of `subject` (read without the writer
/// lock, only the subject's partition).
fn has_records(
    data: &std::path::Path,
    trial: &tl_schemas::TrialId,
    subject: &Subject,
) -> Result<bool> {
    let reader = tl_ledger::embedded::EmbeddedReader::open(&super::ledger_dir(data))?;
    let p = tl_schemas::partition_of(trial, subject, reader.partition_count());
    let scan = reader.scan(p)?;
    Ok(scan.records.iter().any(|bytes| {
        tl_ledger::codec::decode_record(bytes)
            .is_ok_and(|(r, _)| r.body.submission.submission.subject == *subject)
    }))
}
