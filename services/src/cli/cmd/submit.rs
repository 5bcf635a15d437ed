//! `trial-ledger submit`: sign and submit one event, to the embedded ledger or to Kafka.

use crate::cli::SubmitArgs;
use anyhow::{Context, Result};
use std::process::ExitCode;
use tl_domain::personal::{self, KeyStore};
use tl_schemas::{Subject, TrialId};

/// Runs `submit`. Everything that can fail on input (the JSON, the key file, the passphrase)
/// is checked before the ledger is opened, so a bad submission never touches it.
pub fn run(a: SubmitArgs) -> Result<ExitCode> {
    let store = super::store(&a.store)?;
    let text = std::fs::read_to_string(&a.event)
        .with_context(|| format!("reading event file {}", a.event.display()))?;
    let parsed = crate::cli::event_json::parse(&text)
        .with_context(|| format!("in {}", a.event.display()))?;
    let (key, _) = crate::cli::secrets::load_key(&a.key)?;
    let seal_personal = |trial: &TrialId, draft: &mut tl_ledger::writer::Draft| -> Result<()> {
        if let (Some(data), Subject::Patient(patient)) = (&parsed.personal, &draft.subject) {
            // Sealed under the patient's own key, kept outside the ledger: destroying that key
            // (`trial-ledger erase`) erases the data while every hash still verifies.
            let dir = match (&store, &a.keystore) {
                (_, Some(k)) => k.clone(),
                (super::Store::Embedded(d), None) => super::keystore_dir(d, None),
                (super::Store::Kafka(_), None) => anyhow::bail!(
                    "this event carries personal data: give the key store with --keystore DIR"
                ),
            };
            let store = KeyStore::open(&dir)?;
            let data_key = store.key_for(trial, patient)?;
            draft.envelope.personal_data = Some(personal::seal(&data_key, trial, patient, data));
        }
        Ok(())
    };
    let mut draft = parsed.draft.clone();
    seal_personal(&super::store_trial(&store)?, &mut draft)?;
    super::submit_draft(&store, &key, draft, a.json)
}
