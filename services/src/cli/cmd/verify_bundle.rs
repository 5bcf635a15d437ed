//! `trial-ledger verify-bundle`: verify an offline audit bundle without the ledger
//! (`tl_ledger::bundle::verify_bundle`; algorithm in `schemas/BUNDLE.md`). Exit 0 when it
//! verifies, 1 naming the failing item and the reason, 2 when the file cannot be read as a
//! bundle.

use crate::cli::VerifyBundleArgs;
use anyhow::{Context, Result};
use std::process::ExitCode;
use tl_domain::TrialRules;
use tl_ledger::bundle::{self, HeldStatus, Pinned};
use tl_ledger::publish::read_held;
use tl_ledger::trust::TrustFile;

/// Runs `verify-bundle`.
pub fn run(a: VerifyBundleArgs) -> Result<ExitCode> {
    let bytes = tl_ledger::limits::read_capped(
        &a.file,
        tl_ledger::limits::MAX_BUNDLE_FILE_BYTES,
        "an audit bundle",
    )
    .with_context(|| format!("reading bundle {}", a.file.display()))?;
    let b = bundle::decode_bundle(&bytes)
        .map_err(tl_ledger::Error::from)
        .with_context(|| format!("in {}", a.file.display()))?;
    let pinned = match &a.trust {
        Some(path) => {
            let t = TrustFile::read(path)?;
            Some(Pinned {
                trial: t.trial(),
                root: t.root_key().map_err(anyhow::Error::msg)?,
                partitions: t.partitions,
            })
        }
        None => None,
    };
    let held = match &a.against {
        Some(path) => {
            let held = read_held(path)?;
            if held.is_empty() {
                anyhow::bail!("{} holds no checkpoints", path.display());
            }
            held
        }
        None => Vec::new(),
    };
    let report = bundle::verify_bundle(&b, pinned.as_ref(), &held, TrialRules);
    // Trust-anchored: the root was pinned by --trust, and every checkpoint in the bundle
    // verified under a sequencer key that root enrolled (verify_bundle fails otherwise).
    let anchored = pinned.is_some() && report.ok;
    let accepted = report.ok && (anchored || a.allow_unsigned);
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        v["trust_anchored"] = anchored.into();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        match &report.failure {
            Some(f) => println!("FAILED: {f}"),
            None => {
                println!(
                    "OK: bundle of {} (trial {}): {} records in partitions {:?}, {} signed checkpoints, {} signatures",
                    report.scope,
                    report.trial,
                    report.records,
                    report.partitions,
                    report.checkpoints_verified,
                    report.signatures_verified
                );
                for line in &report.lines {
                    println!("  {line}");
                }
                if report.unknown_type_records > 0 {
                    println!(
                        "  note: {} records of event types this verifier does not know (authority unchecked)",
                        report.unknown_type_records
                    );
                }
                if report.uncarried_cites > 0 {
                    println!(
                        "  note: {} citations by records outside the subject's own point at records the bundle does not carry (unchecked)",
                        report.uncarried_cites
                    );
                }
            }
        }
        for h in &report.held {
            let verdict = match h.status {
                HeldStatus::Consistent => "OK",
                HeldStatus::NotCovered => "NOT CHECKED",
                _ => "FAILED",
            };
            println!(
                "{verdict}: held checkpoint {} at size {}: {}",
                h.origin, h.size, h.detail
            );
        }
    }
    if report.failure.is_none() && a.trust.is_none() {
        eprintln!(
            "WARNING: the trust anchor was taken from the bundle itself and is not pinned: a bundle rewritten under another root would verify. Pass --trust FILE (your own copy of the trial's trust file)."
        );
        if !a.json {
            println!(
                "NOT TRUST-ANCHORED: no --trust FILE; {}",
                if a.allow_unsigned {
                    "accepted (--allow-unsigned)"
                } else {
                    "exit 1 (--allow-unsigned accepts it)"
                }
            );
        }
    }
    Ok(if accepted {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_NEGATIVE)
    })
}
