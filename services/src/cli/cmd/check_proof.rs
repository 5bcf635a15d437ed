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
    let bytes = std::fs::read(&a.file)
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
            println!(
                "FAILED: the proof is about trial {proof_trial}, the trust file pins trial {}",
                t.trial_id
            );
            return Ok(ExitCode::from(crate::EXIT_NEGATIVE));
        }
    }
    match audit::check_proof(&proof, &pin) {
        Ok(c) => {
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
            Ok(ExitCode::SUCCESS)
        }
        Err(ProofFailure::Malformed(m)) => bail!("{}: {m}", a.file.display()),
        Err(ProofFailure::Failed(m)) => {
            println!("FAILED: {m}");
            Ok(ExitCode::from(crate::EXIT_NEGATIVE))
        }
    }
}
