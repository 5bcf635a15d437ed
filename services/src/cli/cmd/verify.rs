//! `trial-ledger verify`: full verification against the pinned root key, and with `--against
//! FILE`, that the ledger still extends every checkpoint an auditor holds.

use crate::cli::VerifyArgs;
use anyhow::{Context, Result};
use std::process::ExitCode;
use tl_domain::TrialRules;
use tl_ledger::audit::{self, HeldCheck};
use tl_ledger::log::read_embedded_for_verify;
use tl_ledger::publish::read_held;
use tl_ledger::trust::TrustFile;
use tl_ledger::verify_ledger;

/// Runs `verify`. Never modifies the ledger.
pub fn run(a: VerifyArgs) -> Result<ExitCode> {
    let store = super::store(&a.store)?;
    let trust_path = match (&a.trust, &store) {
        (Some(p), _) => p.clone(),
        (None, super::Store::Embedded(data)) => {
            eprintln!(
                "warning: using the trust file stored beside the ledger ({}); a real audit pins its own copy with --trust",
                super::trust_path(data).display()
            );
            super::trust_path(data)
        }
        (None, super::Store::Kafka(_)) => {
            anyhow::bail!("verifying a ledger on Kafka needs the trial's trust file: --trust FILE")
        }
    };
    let trust = TrustFile::read(&trust_path)?;
    let root = trust.root_key().map_err(anyhow::Error::msg)?;
    // Read (and reject a malformed) held-checkpoint file before the long verification.
    let held = match &a.against {
        Some(path) => {
            let held = read_held(path)?;
            if held.is_empty() {
                anyhow::bail!("{} holds no checkpoints", path.display());
            }
            Some(held)
        }
        None => None,
    };
    // Kafka only: partitions whose first records were deleted (log-start offset above 0).
    let mut deleted: Vec<(u32, i64)> = Vec::new();
    let inputs = match &store {
        super::Store::Embedded(data) => read_embedded_for_verify(&super::ledger_dir(data))?,
        super::Store::Kafka(k) => {
            anyhow::ensure!(
                trust.trial() == k.trial,
                "the trust file {} is for trial {}, not {}",
                trust_path.display(),
                trust.trial(),
                k.trial
            );
            let n = tl_kafka::topics::partition_count(k, &k.topics.ledger)?.with_context(|| {
                format!("no ledger topic {} on {}", k.topics.ledger, k.bootstrap)
            })?;
            // Wait for open transactions to resolve (a running sequencer commits within its
            // commit interval; a dead one's transaction is aborted at its timeout).
            let inputs =
                tl_kafka::read::ledger_for_verify(k, n, std::time::Duration::from_secs(150))?;
            deleted = tl_kafka::read::log_start_offsets(k, &k.topics.ledger, n)?
                .into_iter()
                .enumerate()
                .filter(|&(_, start)| start > 0)
                .map(|(p, start)| (p as u32, start))
                .collect();
            inputs
        }
    };
    let deleted_lines: Vec<String> = deleted
        .iter()
        .map(|(p, start)| {
            format!(
                "ledger partition {p}: log-start offset {start} is above 0: records were deleted from the start of the partition"
            )
        })
        .collect();
    let whole = deleted.is_empty();
    let mut report = verify_ledger(&trust.trial(), root, &inputs, TrialRules);
    // The ledger's TrialRegistered wins; a trust file that disagrees is reported, not obeyed.
    if report.partitions != trust.partitions {
        report.warnings.push(format!(
            "the trust file {} says {} partitions, the ledger's TrialRegistered says {}",
            trust_path.display(),
            trust.partitions,
            report.partitions
        ));
    }
    // Held checkpoints are checked against the records that verified: each partition's prefix
    // before its first failure.
    let held_checks: Option<Vec<HeldCheck>> = held.map(|held| {
        let prefix = |p: usize| -> &[Vec<u8>] {
            let records = &inputs[p].records;
            let end = report
                .failures
                .iter()
                .filter(|f| f.partition as usize == p)
                .map(|f| f.seq as usize)
                .min()
                .unwrap_or(records.len())
                .min(records.len());
            &records[..end]
        };
        let leaves: Vec<_> = (0..inputs.len())
            .map(|p| audit::leaf_hashes(prefix(p)))
            .collect();
        let keys = if inputs.is_empty() {
            Vec::new()
        } else {
            audit::sequencer_keys(&trust.trial(), prefix(0))
        };
        audit::check_held(&trust.trial(), &leaves, &keys, &held)
    });
    let held_ok = held_checks.as_ref().is_none_or(|c| c.iter().all(|c| c.ok));
    // Records a key signed after the compromise its revocation records: flagged, never failed.
    let parts: Vec<&[Vec<u8>]> = inputs.iter().map(|i| i.records.as_slice()).collect();
    let suspect = tl_ledger::compromise::flagged_records(&parts);
    if !suspect.is_empty() && !a.json {
        eprintln!(
            "warning: {} records were signed by keys after their recorded compromise (first: partition {} seq {}, key {} {}); they verify, but a thief may have signed them (see `trail`)",
            suspect.len(),
            suspect[0].partition,
            suspect[0].seq,
            suspect[0].key_id,
            suspect[0].since
        );
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        // Only a trust file given explicitly anchors the verdict: the one beside the ledger
        // could have been rewritten with it.
        v["trust_anchored"] = a.trust.is_some().into();
        v["compromised_records"] = serde_json::to_value(&suspect)?;
        v["deleted_records"] = serde_json::to_value(&deleted_lines)?;
        if !deleted_lines.is_empty() {
            v["ok"] = false.into();
        }
        if let Some(checks) = &held_checks {
            v["held_checkpoints"] = serde_json::to_value(checks)?;
            v["ok"] = (report.ok && held_ok && whole).into();
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if !deleted_lines.is_empty() {
        for d in &deleted_lines {
            println!("FAILED: {d}");
        }
        if let Some(f) = report.first_failure() {
            println!("  also: {f}");
        }
    } else if let Some(f) = report.first_failure() {
        println!("FAILED: {f}");
        for other in report.failures.iter().skip(1) {
            println!("  also: {other}");
        }
        println!(
            "{} of {} records verified before the first failure in their partition",
            report.records_verified, report.records_total
        );
    } else {
        println!(
            "OK: trial {} verified: {} records in {} partitions, {} signatures, in {:.3} s",
            report.trial,
            report.records_total,
            report.partitions,
            report.signatures_verified,
            report.elapsed.as_secs_f64()
        );
        if report.unknown_type_records > 0 {
            println!(
                "note: {} records have event types this verifier does not know; their authority was not checked",
                report.unknown_type_records
            );
        }
    }
    if let (Some(checks), false) = (&held_checks, a.json) {
        print_held(
            checks,
            a.against.as_deref().unwrap_or(std::path::Path::new("")),
        );
    }
    Ok(if report.ok && held_ok && whole {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_NEGATIVE)
    })
}

/// Prints the outcome of `--against`.
fn print_held(checks: &[HeldCheck], file: &std::path::Path) {
    let bad: Vec<&HeldCheck> = checks.iter().filter(|c| !c.ok).collect();
    for c in &bad {
        let at = match c.partition {
            Some(p) => format!("partition {p}"),
            None => format!("log {:?}", c.origin),
        };
        println!(
            "FAILED: held checkpoint of {at} at size {} (root {}): {}",
            c.size, c.root, c.detail
        );
    }
    if bad.is_empty() {
        println!(
            "OK: the ledger extends all {} held checkpoints in {} (consistency proofs from each to the current size)",
            checks.len(),
            file.display()
        );
        return;
    }
    // A checkpoint that fails its own checks (origin, signature) says nothing about the
    // ledger: name those apart from the ones the ledger no longer extends.
    let invalid = bad
        .iter()
        .filter(|c| c.outcome == tl_ledger::audit::HeldOutcome::Invalid)
        .count();
    let (n, file) = (checks.len(), file.display());
    if invalid > 0 {
        println!(
            "{invalid} of {n} held checkpoints in {file} are not valid checkpoints of this trial (wrong origin, or a signature that fails): the held file, not the ledger, is at fault for those"
        );
    }
    if bad.len() > invalid {
        println!(
            "{} of {n} held checkpoints in {file} are not extended by this ledger",
            bad.len() - invalid
        );
    }
}
