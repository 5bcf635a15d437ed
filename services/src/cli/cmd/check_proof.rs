//! `trial-ledger check-proof`: verify a proof file offline, with no access to the ledger.
//!
//! The Merkle proof is recomputed with `tl_ledger::merkle`'s verification. A signed checkpoint
//! in the proof is checked against a sequencer key that is pinned in one of two ways:
//! `--sequencer-key HEX` pins the key itself; `--trust FILE` pins the trial's root key, and
//! the proof's sequencer key counts only if the `KeyEnrolled` record the proof carries for it
//! is signed by that root. With neither, the key the proof carries is used and a warning says
//! that it is not pinned.

use crate::cli::CheckProofArgs;
use anyhow::{bail, Context, Result};
use std::process::ExitCode;
use tl_ledger::audit::{self, KeyPin, ProofFailure, ProofFile};
use tl_ledger::trust::TrustFile;

/// Runs `check-proof`.
pub fn run(a: CheckProofArgs) -> Result<ExitCode> {
    let bytes = tl_ledger::limits::read_capped(
        &a.file,
        tl_ledger::limits::MAX_PROOF_FILE_BYTES,
        "a proof file",
    )
    .with_context(|| format!("reading proof file {}", a.file.display()))?;
    if bytes.starts_with(&tl_ledger::bundle::BUNDLE_MAGIC) {
        anyhow::bail!(
            "{} is an audit bundle, not a proof file: check it with `trial-ledger verify-bundle {}`",
            a.file.display(),
            a.file.display()
        );
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        anyhow::anyhow!(
            "{} is not a proof file: proofs are JSON text, as `trial-ledger prove` writes them",
            a.file.display()
        )
    })?;
    let proof = audit::parse_proof(&text).with_context(|| format!("in {}", a.file.display()))?;
    let trust = match &a.trust {
        Some(path) => Some(TrustFile::read(path)?),
        None => None,
    };
    let pin = match (&a.sequencer_key, &trust) {
        (Some(hex_key), _) => {
            let mut k = [0u8; 32];
            hex::decode_to_slice(hex_key.trim(), &mut k)
                .map_err(|_| anyhow::anyhow!("--sequencer-key must be 64 hex digits"))?;
            KeyPin::Sequencer(k)
        }
        (None, Some(t)) => KeyPin::Root {
            trial: t.trial(),
            root: t.root_key().map_err(anyhow::Error::msg)?,
        },
        (None, None) => KeyPin::Unpinned,
    };
    let proof_trial = match &proof {
        ProofFile::Inclusion(p) => &p.trial,
        ProofFile::Consistency(p) => &p.trial,
    };
    if let (Some(t), KeyPin::Sequencer(_)) = (&trust, &pin) {
        if t.trial_id != *proof_trial {
            return failed(
                &format!(
                    "the proof is about trial {proof_trial}, the trust file pins trial {}",
                    t.trial_id
                ),
                a.json,
            );
        }
    }
    let c = match audit::check_proof(&proof, &pin) {
        Ok(c) => c,
        Err(ProofFailure::Malformed(m)) => bail!("{}: {m}", a.file.display()),
        Err(ProofFailure::Failed(m)) => return failed(&m, a.json),
    };
    // Trust-anchored: a key was pinned explicitly, and every root of the proof is a checkpoint
    // that verified under it (check_proof fails on any that does not).
    let anchored = !matches!(pin, KeyPin::Unpinned) && !c.unpinned && every_root_signed(&proof);
    let code = if anchored || a.allow_unsigned {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_NEGATIVE)
    };
    if a.json {
        let v = serde_json::json!({
            "ok": true, "trust_anchored": anchored, "proved": c.lines,
            "unsigned": c.unsigned, "unpinned": c.unpinned,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(code);
    }
    for line in &c.lines {
        println!("OK: {line}");
    }
    if c.unsigned {
        println!(
            "note: no root in this proof is signed by the sequencer: it shows the tree's shape, not that the sequencer committed to it"
        );
    }
    if c.unpinned {
        eprintln!(
            "WARNING: the sequencer key was taken from the proof itself and is not pinned, so the signature shows nothing about who made the checkpoint. Pass --trust FILE (the trial's pinned root key; the proof's KeyEnrolled record is checked against it) or --sequencer-key HEX."
        );
    }
    if !anchored {
        println!(
            "NOT TRUST-ANCHORED: {}; {}",
            if matches!(pin, KeyPin::Unpinned) {
                "no key was pinned (--trust FILE or --sequencer-key HEX)"
            } else {
                "a root in the proof carries no signed checkpoint (run `checkpoint --fresh`, then prove against its size)"
            },
            if a.allow_unsigned {
                "accepted (--allow-unsigned)"
            } else {
                "exit 1 (--allow-unsigned accepts it)"
            }
        );
    }
    Ok(code)
}

/// Whether every root the proof is about carries a checkpoint (the empty tree needs none).
fn every_root_signed(proof: &ProofFile) -> bool {
    match proof {
        ProofFile::Inclusion(p) => p.checkpoint.is_some(),
        ProofFile::Consistency(p) => {
            (p.first_size == 0 || p.first_checkpoint.is_some()) && p.second_checkpoint.is_some()
        }
    }
}

/// Prints a negative verdict; returns exit 1.
fn failed(reason: &str, json: bool) -> Result<ExitCode> {
    if json {
        let v = serde_json::json!({"ok": false, "trust_anchored": false, "failure": reason});
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("FAILED: {reason}");
    }
    Ok(ExitCode::from(crate::EXIT_NEGATIVE))
}
