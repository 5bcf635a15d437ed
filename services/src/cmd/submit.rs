//! `trial-ledger submit`: sign and submit one event.

use crate::cli::SubmitArgs;
use anyhow::{Context, Result};
use std::process::ExitCode;
use tl_domain::personal::{self, KeyStore};
use tl_schemas::Subject;

/// Runs `submit`. Everything that can fail on input (the JSON, the key file, the passphrase)
/// is checked before the ledger is opened, so a bad submission never touches it.
pub fn run(a: SubmitArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&a.event)
        .with_context(|| format!("reading event file {}", a.event.display()))?;
    let parsed =
        crate::event_json::parse(&text).with_context(|| format!("in {}", a.event.display()))?;
    let (key, _) = crate::secrets::load_key(&a.key)?;
    let mut ledger = super::open_writer(&a.data.data)?;
    let trial = ledger.state().trial().clone();
    let mut draft = parsed.draft;
    if let (Some(data), Subject::Patient(patient)) = (&parsed.personal, &draft.subject) {
        // Sealed under the patient's own key, kept outside the ledger: destroying that key
        // (`trial-ledger erase`) erases the data while every hash still verifies.
        let store = KeyStore::open(&super::keystore_dir(&a.data.data, a.keystore.as_deref()))?;
        let data_key = store.key_for(&trial, patient)?;
        draft.envelope.personal_data = Some(personal::seal(&data_key, &trial, patient, data));
    }
    let signed = draft.sign(&trial, &key);
    super::submit_and_report(&mut ledger, signed, a.json)
}
