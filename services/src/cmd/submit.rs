//! `trial-ledger submit`: sign and submit one event, to the embedded ledger or to Kafka.

use crate::cli::SubmitArgs;
use anyhow::{Context, Result};
use std::process::ExitCode;
use std::time::Duration;
use tl_domain::personal::{self, KeyStore};
use tl_schemas::{Subject, TrialId};

/// Runs `submit`. Everything that can fail on input (the JSON, the key file, the passphrase)
/// is checked before the ledger is opened, so a bad submission never touches it.
pub fn run(a: SubmitArgs) -> Result<ExitCode> {
    let store = super::store(&a.store)?;
    let text = std::fs::read_to_string(&a.event)
        .with_context(|| format!("reading event file {}", a.event.display()))?;
    let parsed =
        crate::event_json::parse(&text).with_context(|| format!("in {}", a.event.display()))?;
    let (key, _) = crate::secrets::load_key(&a.key)?;
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
    match &store {
        super::Store::Embedded(data) => {
            let mut ledger = super::open_writer(data)?;
            let trial = ledger.state().trial().clone();
            seal_personal(&trial, &mut draft)?;
            let signed = draft.sign(&trial, &key);
            super::submit_and_report(&mut ledger, signed, a.json)
        }
        super::Store::Kafka(k) => {
            seal_personal(&k.trial, &mut draft)?;
            let signed = draft.sign(&k.trial, &key);
            let mut writer = tl_kafka::writer::Writer::connect(k)?;
            match writer.submit(&signed, Duration::from_secs(60))? {
                tl_kafka::writer::Verdict::Recorded { receipt, .. } => {
                    super::report_receipt("recorded", &receipt, a.json)
                }
                tl_kafka::writer::Verdict::Refused(r) => {
                    super::report_refusal(&r.reason, &r.detail, a.json)
                }
            }
        }
    }
}
