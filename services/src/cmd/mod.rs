//! One module per command.

pub mod bench;
pub mod bench_project;
pub mod check_proof;
pub mod checkpoint;
pub mod demo;
pub mod erase;
pub mod init;
pub mod keys;
pub mod project;
pub mod prove;
pub mod submit;
pub mod trail;
pub mod verify;
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

/// Opens a data folder's ledger as its single writer, with the sequencer key.
pub fn open_writer(data: &Path) -> Result<EmbeddedLedger<TrialRules>> {
    let trust = TrustFile::read(&trust_path(data)).with_context(|| {
        format!(
            "{} is not a trial data folder (run `trial-ledger init`)",
            data.display()
        )
    })?;
    let sealer = crate::secrets::load_sequencer_key(data)?;
    let (ledger, torn) = EmbeddedLedger::open(&ledger_dir(data), &trust, TrialRules, sealer)?;
    for t in torn {
        eprintln!(
            "note: cut an incomplete final frame (an interrupted append) from partition {} at seq {} ({} bytes)",
            t.partition, t.seq, t.bytes
        );
    }
    Ok(ledger)
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
    let (status, receipt) = match &outcome {
        Outcome::Sealed(s) => ("recorded", s.receipt()),
        Outcome::Duplicate(r) => ("already-recorded", r.clone()),
        Outcome::Refused(r) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"status": "refused", "reason": r.reason.code(), "detail": r.detail})
                );
            } else {
                eprintln!("refused: {}: {}", r.reason.code(), r.detail);
                eprintln!("nothing was recorded.");
            }
            return Ok(std::process::ExitCode::from(crate::EXIT_NEGATIVE));
        }
    };
    if json {
        let mut v = serde_json::to_value(&receipt)?;
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
