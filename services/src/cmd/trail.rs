//! `trial-ledger trail`: the decision trail of a patient or a cohort, from a ledger that
//! verifies, with an inclusion proof of every record (see [`crate::trail`]).

use crate::cli::TrailArgs;
use crate::trail::{self, Entry, TrailError, TrailProof};
use anyhow::{bail, Context, Result};
use std::process::ExitCode;
use tl_domain::TrialRules;
use tl_ledger::audit::{self, Against, KeyPin, ProofFile, Prover};
use tl_ledger::codec::decode_record;
use tl_ledger::log::read_embedded_for_verify;
use tl_ledger::merkle::MerkleTree;
use tl_ledger::publish::read_published;
use tl_ledger::trust::TrustFile;
use tl_ledger::verify_ledger;
use tl_schemas::{partition_of, record_hash, Subject};

/// Runs `trail`. Never modifies the ledger.
pub fn run(a: TrailArgs) -> Result<ExitCode> {
    let subject = Subject::parse(&a.subject).map_err(|e| {
        anyhow::anyhow!(
            "--subject {:?}: {e} (use patient:ID or cohort:ID)",
            a.subject
        )
    })?;
    if subject == Subject::Trial {
        bail!("a trail is for a patient (patient:ID) or a cohort (cohort:ID), not the trial");
    }
    let data = &a.data.data;
    let trust_path = match &a.trust {
        Some(p) => p.clone(),
        None => {
            eprintln!(
                "warning: using the trust file stored beside the ledger ({}); a real audit pins its own copy with --trust",
                super::trust_path(data).display()
            );
            super::trust_path(data)
        }
    };
    let trust = TrustFile::read(&trust_path)?;
    let root = trust.root_key().map_err(anyhow::Error::msg)?;
    let trial = trust.trial();
    let dir = super::ledger_dir(data);
    let inputs = read_embedded_for_verify(&dir)
        .with_context(|| format!("reading the ledger in {}", dir.display()))?;

    // Refuse a trail from a ledger that does not verify.
    let report = verify_ledger(&trial, root, &inputs, TrialRules);
    if let Some(f) = report.first_failure() {
        println!("FAILED: the ledger does not verify, so no trail is printed: {f}");
        for other in report.failures.iter().skip(1) {
            println!("  also: {other}");
        }
        return Ok(ExitCode::from(crate::EXIT_NEGATIVE));
    }

    let mut parts: Vec<Vec<Entry>> = Vec::with_capacity(inputs.len());
    for (p, input) in inputs.iter().enumerate() {
        let mut v = Vec::with_capacity(input.records.len());
        for (seq, bytes) in input.records.iter().enumerate() {
            let (record, body_len) = decode_record(bytes)
                .map_err(|e| anyhow::anyhow!("record {p}/{seq}: {}", e.detail))?;
            v.push(Entry {
                hash: record_hash(&bytes[..body_len]),
                record,
            });
        }
        parts.push(v);
    }
    let registry = trail::registry_of(&trial, root, parts.first().map_or(&[][..], |v| v));
    let partition = partition_of(&trial, &subject, report.partitions.max(1));
    let mut t = match trail::build(&parts, &registry, partition, &subject) {
        Ok(t) => t,
        Err(TrailError::Unknown(m)) => bail!(m),
        Err(TrailError::Incomplete(m)) => {
            println!("FAILED: the trail of {subject} is incomplete: {m}");
            return Ok(ExitCode::from(crate::EXIT_NEGATIVE));
        }
    };

    // Inclusion proofs against the latest published checkpoint of each record's partition.
    let keys = audit::sequencer_keys(&trial, &inputs[0].records);
    let pin = KeyPin::Root {
        trial: trial.clone(),
        root,
    };
    let mut trees: Vec<Option<(MerkleTree, Vec<tl_ledger::checkpoint::SignedCheckpoint>)>> =
        (0..inputs.len()).map(|_| None).collect();
    for r in &mut t.records {
        let p = r.partition as usize;
        if trees[p].is_none() {
            trees[p] = Some((
                MerkleTree::from_leaves(parts[p].iter().map(|e| e.hash)),
                read_published(&dir, r.partition)?,
            ));
        }
        let (tree, published) = trees[p].as_ref().expect("just set");
        let prover = Prover {
            trial: &trial,
            partition: r.partition,
            tree,
            published,
            keys: &keys,
        };
        let proof = match prover.inclusion(r.seq, None) {
            Ok(p) => p,
            Err(e) => {
                println!(
                    "FAILED: no inclusion proof of record {}/{}: {e}",
                    r.partition, r.seq
                );
                return Ok(ExitCode::from(crate::EXIT_NEGATIVE));
            }
        };
        let check = audit::check_proof(&ProofFile::Inclusion(proof.clone()), &pin);
        r.proof = Some(TrailProof {
            leaf_index: proof.seq,
            tree_size: proof.tree_size,
            root: proof.root,
            path: proof.path.clone(),
            signed: proof.against == Against::Checkpoint
                && check.as_ref().is_ok_and(|c| !c.unsigned),
            against: match proof.against {
                Against::Checkpoint => "checkpoint".into(),
                Against::UnsignedRoot => "unsigned-root".into(),
            },
            newer_than_checkpoint: proof.against == Against::UnsignedRoot,
            verified: check.is_ok(),
            checkpoint: proof.checkpoint.clone(),
        });
        if let Err(e) = check {
            println!(
                "FAILED: the inclusion proof of record {}/{} does not check: {e}",
                r.partition, r.seq
            );
            return Ok(ExitCode::from(crate::EXIT_NEGATIVE));
        }
    }

    if a.json {
        let mut v = serde_json::to_value(&t)?;
        v["trial"] = trial.to_string().into();
        v["verified"] = true.into();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "OK: trial {trial} verified ({} records in {} partitions)",
            report.records_total, report.partitions
        );
        print!("{}", trail::render(&t));
    }
    Ok(ExitCode::SUCCESS)
}
