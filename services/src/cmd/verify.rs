//! `trial-ledger verify`: full verification against the pinned root key.

use crate::cli::VerifyArgs;
use anyhow::Result;
use std::process::ExitCode;
use tl_domain::TrialRules;
use tl_ledger::log::read_embedded_for_verify;
use tl_ledger::trust::TrustFile;
use tl_ledger::verify_ledger;

/// Runs `verify`. Never modifies the ledger.
pub fn run(a: VerifyArgs) -> Result<ExitCode> {
    let trust_path = match &a.trust {
        Some(p) => p.clone(),
        None => {
            eprintln!(
                "warning: using the trust file stored beside the ledger ({}); a real audit pins its own copy with --trust",
                super::trust_path(&a.data.data).display()
            );
            super::trust_path(&a.data.data)
        }
    };
    let trust = TrustFile::read(&trust_path)?;
    let root = trust.root_key().map_err(anyhow::Error::msg)?;
    let inputs = read_embedded_for_verify(&super::ledger_dir(&a.data.data))?;
    let report = verify_ledger(&trust.trial(), root, &inputs, TrialRules);
    if report.partitions != trust.partitions {
        eprintln!(
            "warning: the trust file says {} partitions, the ledger's TrialRegistered says {}",
            trust.partitions, report.partitions
        );
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
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
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_NEGATIVE)
    })
}
