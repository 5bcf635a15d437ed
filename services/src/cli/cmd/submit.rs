//! `trial-ledger submit`: sign and submit one event, to the embedded ledger or to Kafka.
//!
//! A retry: an event file that gives its `submission_id` is first looked up (in the writer's
//! seen ids on the embedded store, in the subject's ledger partition on Kafka). If the id is
//! recorded with the same event (the client time and the ciphertext of personal data aside,
//! since each signing stamps its own time and each sealing its own random nonce), the original
//! receipt is printed and nothing is submitted; with other content it is a
//! `submission-id-conflict`.

use crate::cli::SubmitArgs;
use anyhow::{Context, Result};
use std::process::ExitCode;
use tl_domain::personal::{self, DataKey, KeyStore};
use tl_ledger::writer::Draft;
use tl_ledger::SigningKey;
use tl_schemas::ids::Name;
use tl_schemas::{Record, Subject, TrialId};

/// Runs `submit`. Everything that can fail on input (the JSON, the key file, the passphrase)
/// is checked before the ledger is opened, so a bad submission never touches it.
pub fn run(a: SubmitArgs) -> Result<ExitCode> {
    // Without --url the store is resolved first: a missing --data fails before any prompt.
    let store = match &a.remote.url {
        None => Some(super::store(&a.store)?),
        Some(_) => None,
    };
    if a.jsonl {
        return super::submit_bulk::run(&a, store.as_ref());
    }
    let text = tl_ledger::limits::read_capped_text(
        &a.event,
        tl_ledger::limits::MAX_EVENT_FILE_BYTES,
        "an event file",
    )
    .with_context(|| format!("reading event file {}", a.event.display()))?;
    let parsed = crate::cli::event_json::parse(&text)
        .with_context(|| format!("in {}", a.event.display()))?;
    let (key, _) = crate::cli::secrets::load_key(&a.key)?;
    let Some(store) = store else {
        let url = a.remote.url.as_deref().unwrap_or_default();
        return remote(url, &a, &parsed, &key);
    };
    match &store {
        super::Store::Embedded(data) => {
            let mut ledger = super::open_writer(data)?;
            let trial = ledger.state().trial().clone();
            if parsed.explicit_id {
                let p = ledger.state().partition_of(&parsed.draft.subject);
                if let Some(seq) = ledger.state().seen(p, &parsed.draft.submission_id) {
                    let bytes = ledger.read(p, seq, 1)?;
                    let original = decode(bytes.first().map(Vec::as_slice))?;
                    return retry_verdict(&original, &parsed, &trial, &key, a.json);
                }
            }
            let keystore = super::keystore_dir(data, a.keystore.as_deref());
            let (draft, sealed) = seal_personal(&parsed, &trial, Some(&keystore))?;
            let signed = draft.sign(&trial, &key);
            let code = super::submit_and_report(&mut ledger, signed, a.json)?;
            sealed.release_if(code != ExitCode::SUCCESS)?;
            Ok(code)
        }
        super::Store::Kafka(k) => {
            if parsed.explicit_id {
                if let Some(original) = kafka_lookup(k, &parsed.draft)? {
                    return retry_verdict(&original, &parsed, &k.trial, &key, a.json);
                }
            }
            let (draft, sealed) = seal_personal(&parsed, &k.trial, a.keystore.as_deref())?;
            let code = super::submit_draft(&store, &key, draft, a.json)?;
            sealed.release_if(code != ExitCode::SUCCESS)?;
            Ok(code)
        }
    }
}

/// `submit --url`: signed here, posted to the server. The same signed bytes posted again get
/// the server's original receipt; an explicit submission id signed anew (a new client time)
/// gets its `submission-id-conflict`, with a note saying why. Personal data is sealed with
/// the key store of `--keystore` (default DIR/keystore with `--data`), and its new key
/// destroyed again if the server refuses.
fn remote(
    url: &str,
    a: &SubmitArgs,
    parsed: &crate::cli::event_json::ParsedEvent,
    key: &SigningKey,
) -> Result<ExitCode> {
    let server = crate::cli::remote::Remote::new(url)?;
    let trial = server.trial(None)?;
    // The key store is outside the ledger: a --data DIR still gives its default.
    let keystore = (a.keystore.clone()).or_else(|| {
        a.store
            .data
            .as_deref()
            .map(|d| super::keystore_dir(d, None))
    });
    let (draft, sealed) = seal_personal(parsed, &trial, keystore.as_deref())?;
    let posted = server.submit(&draft.sign(&trial, key));
    if let Ok(crate::cli::remote::Posted::Refused { code, .. }) = &posted {
        if parsed.explicit_id && code == tl_ledger::Reason::SubmissionIdConflict.code() {
            // The server compares the signed bytes; a retry signed again here carries a new
            // client time (and personal data a new nonce), so even the same event differs.
            eprintln!(
                "note: through --url a retry is recognised only as the same signed bytes; this \
                 event was signed anew, so the server cannot tell it from other content. The \
                 id's original record is where the server says; `trail` shows it."
            );
        }
    }
    let code = match posted {
        Ok(p) => crate::cli::remote::report(p, a.json),
        Err(e) => Err(e),
    };
    // A failed post (or a refusal) leaves no record behind: its new data key goes too. A
    // post whose answer was lost may have been recorded: the key then stays, as on a retry.
    let refused = matches!(&code, Ok(c) if *c != ExitCode::SUCCESS);
    sealed.release_if(refused)?;
    code
}

fn decode(bytes: Option<&[u8]>) -> Result<Record> {
    let bytes = bytes.context("a recorded submission id's record cannot be read")?;
    let (record, _) = tl_ledger::codec::decode_record(bytes)
        .map_err(|r| anyhow::anyhow!("a recorded submission id's record does not decode: {r}"))?;
    Ok(record)
}

/// The record of the draft's submission id in its partition on Kafka, if there is one
/// (committed records only).
fn kafka_lookup(k: &tl_kafka::KafkaConfig, draft: &Draft) -> Result<Option<Record>> {
    let n = tl_kafka::topics::partition_count(k, &k.topics.ledger)?
        .with_context(|| format!("no ledger topic {} on {}", k.topics.ledger, k.bootstrap))?;
    let p = tl_schemas::partition_of(&k.trial, &draft.subject, n);
    let parts = tl_kafka::read::read_some(
        k,
        &k.topics.ledger,
        n,
        &[p],
        std::time::Duration::from_secs(60),
    )?;
    for stored in &parts[p as usize] {
        if let Ok((record, _)) = tl_ledger::codec::decode_record(&stored.value) {
            if record.body.submission.submission.submission_id == draft.submission_id {
                return Ok(Some(record));
            }
        }
    }
    Ok(None)
}

/// The verdict on a retry of a recorded id: the original receipt if the event is the same,
/// else a `submission-id-conflict`. Nothing is submitted, no personal data is sealed.
fn retry_verdict(
    original: &Record,
    parsed: &crate::cli::event_json::ParsedEvent,
    trial: &TrialId,
    key: &SigningKey,
    json: bool,
) -> Result<ExitCode> {
    if same_event(original, parsed, trial, key) {
        super::report_receipt(
            "already-recorded",
            &tl_ledger::Receipt::of(original, original.hash()),
            json,
        )
    } else {
        super::report_refusal(
            tl_ledger::Reason::SubmissionIdConflict.code(),
            &conflict_detail(original, parsed),
            json,
        )
    }
}

/// Whether a recorded submission is the parsed event signed by `key` (the client time and
/// the ciphertext of personal data aside: each signing stamps its own time, each sealing its
/// own random nonce).
pub(super) fn same_event(
    original: &Record,
    parsed: &crate::cli::event_json::ParsedEvent,
    trial: &TrialId,
    key: &SigningKey,
) -> bool {
    let recorded = &original.body.submission.submission;
    let mut retry = parsed.draft.clone();
    retry.client_time = recorded.client_time;
    let mut retry = retry.sign(trial, key).submission;
    let mut recorded = recorded.clone();
    // The ciphertext differs on every sealing (a fresh random nonce); whether there is
    // personal data at all does not.
    let had_personal = recorded.envelope.personal_data.take().is_some();
    retry.envelope.personal_data = None;
    recorded == retry && had_personal == parsed.personal.is_some()
}

/// What a `submission-id-conflict` says: where the id's other content is.
pub(super) fn conflict_detail(
    original: &Record,
    parsed: &crate::cli::event_json::ParsedEvent,
) -> String {
    format!(
        "submission id {} is already recorded at {}/{} with other content; nothing was submitted",
        parsed.draft.submission_id, original.body.partition, original.body.seq
    )
}

/// A personal-data key created for this submission, destroyed again if it is refused.
pub(super) struct Sealed {
    created: Option<(KeyStore, TrialId, Name, DataKey)>,
}

impl Sealed {
    /// Destroys the key if this call created it and the submission was not recorded.
    pub(super) fn release_if(self, refused: bool) -> Result<()> {
        if let (true, Some((store, trial, patient, key))) = (refused, self.created) {
            store.discard_unused(&trial, &patient, &key)?;
        }
        Ok(())
    }
}

/// Seals the event's personal data (if any) under the patient's own key, kept outside the
/// ledger: destroying that key (`trial-ledger erase`) erases the data while every hash still
/// verifies.
pub(super) fn seal_personal(
    parsed: &crate::cli::event_json::ParsedEvent,
    trial: &TrialId,
    keystore: Option<&std::path::Path>,
) -> Result<(Draft, Sealed)> {
    let mut draft = parsed.draft.clone();
    let (Some(data), Subject::Patient(patient)) = (&parsed.personal, &draft.subject) else {
        return Ok((draft, Sealed { created: None }));
    };
    let dir = keystore
        .context("this event carries personal data: give the key store with --keystore DIR")?;
    let store = KeyStore::open(dir)?;
    let (data_key, created) = store.key_for_submission(trial, patient)?;
    draft.envelope.personal_data = Some(personal::seal(&data_key, trial, patient, data));
    let created = created.then(|| (store, trial.clone(), patient.clone(), data_key));
    Ok((draft, Sealed { created }))
}
