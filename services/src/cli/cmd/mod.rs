//! One module per command.

pub mod bench;
pub mod bench_audit;
pub mod bench_generate;
pub mod bench_grouped;
pub mod bench_http;
pub mod bench_http_client;
pub mod bench_kafka;
pub mod bench_open;
pub mod bench_project;
pub mod bench_reference;
pub mod bench_stream_kafka;
pub mod check_proof;
pub mod checkpoint;
pub mod cohort_engine;
pub mod demo;
pub mod dossier;
pub mod dossier_pdf;
pub mod erase;
pub mod export;
pub mod init;
pub mod kafka_check;
pub mod keys;
pub mod matcher;
pub mod project;
pub mod prove;
pub mod repair;
pub mod sequencer;
pub mod serve;
pub mod submit;
pub mod submit_bulk;
pub mod tokens;
pub mod trail;
pub mod up;
pub mod up_kafka;
pub mod verify;
pub mod verify_bundle;
pub mod verify_dossier;
pub mod view;

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use tl_domain::TrialRules;
use tl_ledger::trust::TrustFile;
use tl_ledger::EmbeddedLedger;

/// The embedded store inside a data folder.
pub fn ledger_dir(data: &Path) -> PathBuf {
    data.join("ledger")
}

/// The trust file `init` writes.
pub fn trust_path(data: &Path) -> PathBuf {
    data.join("trust.json")
}

/// The personal-data key store (outside the ledger folder).
pub fn keystore_dir(data: &Path, explicit: Option<&Path>) -> PathBuf {
    explicit.map_or_else(|| data.join("keystore"), Path::to_path_buf)
}

/// The root key file `init` writes.
pub fn root_key_path(data: &Path) -> PathBuf {
    data.join("keys").join("root.key")
}

/// The trust file beside the ledger in `data`, with the warning that it is not a pinned copy
/// (for the commands that verify: `verify`, `trail`, `view`, `project`).
pub fn stored_trust_path_with_warning(data: &Path) -> PathBuf {
    let path = trust_path(data);
    eprintln!(
        "warning: using the trust file stored beside the ledger ({}); a real audit pins its own copy with --trust",
        path.display()
    );
    path
}

/// The trust file beside a data folder's ledger: for the trial id of read-only commands
/// (`checkpoint`, `prove`), which answer for the operator, not for an auditor.
pub fn read_trust(data: &Path) -> Result<TrustFile> {
    TrustFile::read(&trust_path(data)).with_context(|| {
        format!(
            "{} is not a trial data folder (run `trial-ledger init`)",
            data.display()
        )
    })
}

/// The Kafka configuration of `--kafka BOOTSTRAP --trial ID`, or `None` without `--kafka`.
pub fn kafka_config(a: &crate::cli::KafkaArgs) -> Result<Option<tl_kafka::KafkaConfig>> {
    let Some(bootstrap) = a.kafka.as_deref().filter(|b| !b.trim().is_empty()) else {
        return Ok(None);
    };
    let Some(trial) = a.trial.as_deref() else {
        anyhow::bail!("--kafka needs --trial ID: the trial's topics are named after it");
    };
    let trial = tl_schemas::TrialId::new(trial).with_context(|| format!("--trial {trial}"))?;
    let mut cfg = tl_kafka::KafkaConfig::new(bootstrap, trial);
    cfg.safety = a.topic_safety.into();
    cfg.properties = client_properties(a.kafka_config.as_deref())?;
    Ok(Some(cfg))
}

/// The librdkafka properties of a `--kafka-config FILE` (none without one).
pub fn client_properties(
    file: Option<&Path>,
) -> Result<std::collections::BTreeMap<String, String>> {
    match file {
        None => Ok(Default::default()),
        Some(f) => Ok(tl_kafka::load_properties(f)?),
    }
}

/// Where a command's ledger is: an embedded data folder or a trial on Kafka.
pub enum Store {
    /// `--data DIR`.
    Embedded(PathBuf),
    /// `--kafka BOOTSTRAP --trial ID`.
    Kafka(tl_kafka::KafkaConfig),
}

/// Resolves `--data` / `--kafka`; exactly one is needed.
pub fn store(a: &crate::cli::StoreArgs) -> Result<Store> {
    match (kafka_config(&a.kafka)?, &a.data) {
        (Some(k), None) => Ok(Store::Kafka(k)),
        (None, Some(d)) => Ok(Store::Embedded(d.clone())),
        (Some(_), Some(_)) => anyhow::bail!(
            "give either --data DIR (an embedded ledger) or --kafka BOOTSTRAP --trial ID, not both"
        ),
        (None, None) => anyhow::bail!(
            "no ledger given: use --data DIR (an embedded ledger) or --kafka BOOTSTRAP --trial ID"
        ),
    }
}

/// Signs a draft for the store's trial and submits it: through the embedded sequencer, or to
/// Kafka intake, waiting for the receipt. Prints the outcome; returns the exit code.
pub fn submit_draft(
    store: &Store,
    key: &tl_ledger::SigningKey,
    draft: tl_ledger::writer::Draft,
    json: bool,
) -> Result<std::process::ExitCode> {
    match store {
        Store::Embedded(data) => {
            let mut ledger = open_writer(data)?;
            let signed = draft.sign(ledger.state().trial(), key);
            submit_and_report(&mut ledger, signed, json)
        }
        Store::Kafka(k) => {
            let signed = draft.sign(&k.trial, key);
            let mut writer = tl_kafka::writer::Writer::connect(k)?;
            match writer.submit(&signed, std::time::Duration::from_secs(60))? {
                tl_kafka::writer::Verdict::Recorded { receipt, .. } => {
                    report_receipt("recorded", &receipt, json)
                }
                tl_kafka::writer::Verdict::Refused(r) => report_refusal(&r.reason, &r.detail, json),
            }
        }
    }
}

/// The trial id of a store (from the trust file beside an embedded ledger).
pub fn store_trial(store: &Store) -> Result<tl_schemas::TrialId> {
    match store {
        Store::Embedded(data) => Ok(read_trust(data)?.trial()),
        Store::Kafka(k) => Ok(k.trial.clone()),
    }
}

/// Opens a data folder's ledger as its single writer, with the sequencer key.
///
/// While `trial-ledger serve` holds the folder, this fails at once, naming the server's address
/// (before any passphrase is asked for): writers then post to it with `--url`.
pub fn open_writer(data: &Path) -> Result<EmbeddedLedger<TrialRules>> {
    refuse_if_served(data)?;
    let trust = TrustFile::read(&trust_path(data)).with_context(|| {
        format!(
            "{} is not a trial data folder (run `trial-ledger init`)",
            data.display()
        )
    })?;
    let sealer = crate::cli::secrets::load_sequencer_key(data)?;
    let (ledger, torn) = EmbeddedLedger::open(&ledger_dir(data), &trust, TrialRules, sealer)
        .map_err(|e| name_the_server(data, e))?;
    for t in torn {
        eprintln!(
            "note: cut an incomplete final frame (an interrupted append) from partition {} at seq {} ({} bytes)",
            t.partition, t.seq, t.bytes
        );
    }
    Ok(ledger)
}

/// The file in which `serve` leaves its address while it holds a data folder's writer lock.
pub fn server_url_path(data: &Path) -> PathBuf {
    data.join("serve.url")
}

/// The address of the running `trial-ledger serve` that holds this data folder's writer lock,
/// if one does: `DIR/serve.url` exists and the ledger's `LOCK` is held (a server that died
/// left the file behind, but the kernel released its lock).
pub fn running_server(data: &Path) -> Option<String> {
    let url = std::fs::read_to_string(server_url_path(data)).ok()?;
    // A shared lock attempt on a read-only handle: it never writes, and is released at once.
    let file = std::fs::File::open(ledger_dir(data).join("LOCK")).ok()?;
    match file.try_lock_shared() {
        Err(std::fs::TryLockError::WouldBlock) => Some(url.trim().to_string()),
        _ => None,
    }
}

/// Refuses to open a data folder that a running `serve` holds, naming its address (exit 2).
pub fn refuse_if_served(data: &Path) -> Result<()> {
    match running_server(data) {
        Some(url) => anyhow::bail!(
            "`trial-ledger serve` holds the ledger in {} at {url}: give --url {url} instead of \
             --data (or stop the server first)",
            data.display()
        ),
        None => Ok(()),
    }
}

/// A held writer lock, explained: when `serve` holds it, its address is what the user needs.
fn name_the_server(data: &Path, e: tl_ledger::Error) -> anyhow::Error {
    let locked = matches!(
        &e,
        tl_ledger::Error::Store(s) if s.is_retryable()
    );
    match std::fs::read_to_string(server_url_path(data)) {
        Ok(url) if locked => anyhow::anyhow!(
            "{e}: `trial-ledger serve` holds this ledger at {}; submit through its API, or stop it first",
            url.trim()
        ),
        _ => e.into(),
    }
}

/// Submits a signed submission through the embedded sequencer and prints the outcome.
/// Returns the exit code.
pub fn submit_and_report(
    ledger: &mut EmbeddedLedger<TrialRules>,
    signed: tl_schemas::SignedSubmission,
    json: bool,
) -> Result<std::process::ExitCode> {
    use tl_ledger::Outcome;
    let outcome = ledger.submit_decoded(signed, tl_schemas::UtcMicros::now())?;
    // Publish the checkpoint of what was just recorded here, where a failure is reported,
    // rather than on drop, where it could only be logged.
    ledger.flush()?;
    match &outcome {
        Outcome::Sealed(s) => report_receipt("recorded", &s.receipt(), json),
        Outcome::Duplicate(r) => report_receipt("already-recorded", r, json),
        Outcome::Refused(r) => report_refusal(r.reason.code(), &r.detail, json),
    }
}

/// Prints a refusal; returns the negative exit code.
pub fn report_refusal(reason: &str, detail: &str, json: bool) -> Result<std::process::ExitCode> {
    if json {
        println!(
            "{}",
            serde_json::json!({"status": "refused", "reason": reason, "detail": detail})
        );
    } else {
        eprintln!("refused: {reason}: {detail}");
        eprintln!("nothing was recorded.");
    }
    Ok(std::process::ExitCode::from(crate::EXIT_NEGATIVE))
}

/// Prints a receipt.
pub fn report_receipt(
    status: &str,
    receipt: &tl_ledger::Receipt,
    json: bool,
) -> Result<std::process::ExitCode> {
    if json {
        let mut v = serde_json::to_value(receipt)?;
        v["status"] = status.into();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "{status}: partition {} seq {}",
            receipt.partition, receipt.seq
        );
        println!("  submission id  {}", receipt.submission_id);
        println!("  record hash    {}", receipt.record_hash);
        println!("  ordering time  {}", receipt.ordering_time);
        println!("  registry seq   {}", receipt.registry_seq);
        println!("  sealed by      {}", receipt.sequencer);
        println!("  seal           {}", receipt.seal);
    }
    Ok(std::process::ExitCode::SUCCESS)
}
