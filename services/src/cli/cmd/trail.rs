//! `trial-ledger trail`: the decision trail of a patient or a cohort, from a ledger that
//! verifies, with an inclusion proof of every record (see [`crate::trail`]).
//!
//! The work is split in two so that the costly part is paid once: [`VerifiedLedger::load`]
//! reads and fully verifies the ledger and decodes its records (the price of refusing a trail
//! from a ledger that does not verify: about a second on the default demo), and
//! [`VerifiedLedger::trail`] builds one subject's trail with its proofs from that (about a
//! millisecond; `bench --audit` measures both). The partitions' Merkle trees are built on
//! first use and kept.

use crate::cli::TrailArgs;
use crate::trail::{self, Entry, Trail, TrailError, TrailProof};
use anyhow::{bail, Context, Result};
use std::cell::OnceCell;
use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use tl_domain::TrialRules;
use tl_ledger::audit::{self, Against, KeyPin, ProofFile, Prover, SequencerKey};
use tl_ledger::checkpoint::SignedCheckpoint;
use tl_ledger::codec::decode_record;
use tl_ledger::log::read_embedded_for_verify;
use tl_ledger::merkle::{verify_inclusion, MerkleTree};
use tl_ledger::publish::read_published;
use tl_ledger::registry::Registry;
use tl_ledger::trust::TrustFile;
use tl_ledger::{verify_ledger, Report};
use tl_schemas::{partition_of, record_hash, Hash32, Subject, TrialId};

/// A ledger that verified, decoded, ready to give trails.
pub struct VerifiedLedger {
    /// The trial.
    pub trial: TrialId,
    /// The pinned root key (for checking the proofs' checkpoints).
    root: [u8; 32],
    /// The verification report.
    pub report: Report,
    /// Every record, decoded, by partition.
    parts: Vec<Vec<Entry>>,
    /// The registry from partition 0 (names, roles, protocol versions).
    registry: Registry,
    /// The registry's sequencer keys (who signs checkpoints).
    keys: Vec<SequencerKey>,
    /// Each partition's published checkpoints.
    published: Vec<Vec<SignedCheckpoint>>,
    /// Each partition's Merkle tree, built on first use.
    trees: Vec<OnceCell<MerkleTree>>,
}

impl VerifiedLedger {
    /// Reads the embedded ledger in `dir`, verifies it in full against `root`, and decodes it.
    /// `Ok(Err(report))` when it does not verify.
    pub fn load(
        dir: &Path,
        trial: &TrialId,
        root: [u8; 32],
    ) -> Result<std::result::Result<Self, Report>> {
        let inputs = read_embedded_for_verify(dir)
            .with_context(|| format!("reading the ledger in {}", dir.display()))?;
        Self::from_inputs(&inputs, trial, root, &|p| Ok(read_published(dir, p)?))
    }

    /// [`VerifiedLedger::load`] for a trial on Kafka: the committed ledger topic and the
    /// checkpoints topic.
    pub fn load_kafka(
        k: &tl_kafka::KafkaConfig,
        root: [u8; 32],
    ) -> Result<std::result::Result<Self, Report>> {
        let wait = std::time::Duration::from_secs(150);
        let n = tl_kafka::topics::partition_count(k, &k.topics.ledger)?
            .with_context(|| format!("no ledger topic {} on {}", k.topics.ledger, k.bootstrap))?;
        let inputs = tl_kafka::read::ledger_for_verify(k, n, wait)?;
        Self::from_inputs(&inputs, &k.trial, root, &|p| {
            Ok(tl_kafka::read::checkpoints(k, p, wait)?)
        })
    }

    /// Verifies and decodes a ledger read from either backend; `published` gives each
    /// partition's published checkpoints. The inputs stay the caller's (the server keeps them
    /// for audit bundles).
    pub fn from_inputs(
        inputs: &[tl_ledger::verify::PartitionInput],
        trial: &TrialId,
        root: [u8; 32],
        published: &dyn Fn(u32) -> Result<Vec<SignedCheckpoint>>,
    ) -> Result<std::result::Result<Self, Report>> {
        let report = verify_ledger(trial, root, inputs, TrialRules);
        if report.first_failure().is_some() {
            return Ok(Err(report));
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
        let registry = trail::registry_of(trial, root, parts.first().map_or(&[][..], |v| v));
        let keys = audit::sequencer_keys(trial, &inputs[0].records);
        let published = (0..inputs.len() as u32)
            .map(published)
            .collect::<Result<Vec<_>>>()?;
        let trees = (0..inputs.len()).map(|_| OnceCell::new()).collect();
        Ok(Ok(VerifiedLedger {
            trial: trial.clone(),
            root,
            report,
            parts,
            registry,
            keys,
            published,
            trees,
        }))
    }

    /// Every record, decoded, by partition.
    pub fn parts(&self) -> &[Vec<Entry>] {
        &self.parts
    }

    /// Each partition's published checkpoints, as read with the records.
    pub fn published(&self) -> &[Vec<SignedCheckpoint>] {
        &self.published
    }

    /// The trail of `subject`, each record with its inclusion proof against the latest
    /// published checkpoint of its partition (or the current root, saying so), checked.
    /// `Err` of `anyhow` for a subject without records (exit 2).
    pub fn trail(&self, subject: &Subject) -> Result<std::result::Result<Trail, String>> {
        let partition = partition_of(&self.trial, subject, self.report.partitions.max(1));
        let mut t = match trail::build(&self.parts, &self.registry, partition, subject) {
            Ok(t) => t,
            Err(TrailError::Unknown(m)) => bail!(m),
            Err(TrailError::Incomplete(m)) => {
                return Ok(Err(format!("the trail of {subject} is incomplete: {m}")))
            }
        };
        let pin = KeyPin::Root {
            trial: self.trial.clone(),
            root: self.root,
        };
        let mut checked: HashMap<String, (u64, Hash32)> = HashMap::new();
        for r in &mut t.records {
            let p = r.partition as usize;
            let tree = self.trees[p]
                .get_or_init(|| MerkleTree::from_leaves(self.parts[p].iter().map(|e| e.hash)));
            let prover = Prover {
                trial: &self.trial,
                partition: r.partition,
                tree,
                published: &self.published[p],
                keys: &self.keys,
            };
            let proof = match prover.inclusion(r.seq, None) {
                Ok(p) => p,
                Err(e) => {
                    return Ok(Err(format!(
                        "no inclusion proof of record {}/{}: {e}",
                        r.partition, r.seq
                    )))
                }
            };
            // The records of a partition prove against the same checkpoint: its signature
            // (and the key's enrolment under the pinned root) is checked once per trail, and
            // only the Merkle path per record.
            let cached = proof
                .checkpoint
                .as_ref()
                .and_then(|text| checked.get(text))
                .is_some_and(|&(size, root)| size == proof.tree_size && root == proof.root);
            let check: std::result::Result<bool, String> = if cached {
                verify_inclusion(
                    &proof.record_hash,
                    proof.seq,
                    proof.tree_size,
                    &proof.path,
                    &proof.root,
                )
                .map(|()| true)
                .map_err(|e| {
                    format!(
                        "inclusion of record {}/{} in the tree of size {}: {e}",
                        proof.partition, proof.seq, proof.tree_size
                    )
                })
            } else {
                audit::check_proof(&ProofFile::Inclusion(proof.clone()), &pin)
                    .map(|c| {
                        if let Some(text) = &proof.checkpoint {
                            checked.insert(text.clone(), (proof.tree_size, proof.root));
                        }
                        !c.unsigned
                    })
                    .map_err(|e| e.to_string())
            };
            r.proof = Some(TrailProof {
                leaf_index: proof.seq,
                tree_size: proof.tree_size,
                root: proof.root,
                path: proof.path.clone(),
                signed: proof.against == Against::Checkpoint && check.as_ref().is_ok_and(|s| *s),
                against: match proof.against {
                    Against::Checkpoint => "checkpoint".into(),
                    Against::UnsignedRoot => "unsigned-root".into(),
                },
                newer_than_checkpoint: proof.against == Against::UnsignedRoot,
                verified: check.is_ok(),
                checkpoint: proof.checkpoint.clone(),
            });
            if let Err(e) = check {
                return Ok(Err(format!(
                    "the inclusion proof of record {}/{} does not check: {e}",
                    r.partition, r.seq
                )));
            }
        }
        Ok(Ok(t))
    }
}

/// Runs `trail`. Never modifies the ledger. The ledger is verified once, however many
/// subjects are asked for.
pub fn run(a: TrailArgs) -> Result<ExitCode> {
    let mut subjects = Vec::with_capacity(a.subject.len());
    for text in &a.subject {
        let subject = Subject::parse(text).map_err(|e| {
            anyhow::anyhow!("--subject {text:?}: {e} (use patient:ID or cohort:ID)")
        })?;
        if subject == Subject::Trial {
            bail!("a trail is for a patient (patient:ID) or a cohort (cohort:ID), not the trial");
        }
        subjects.push(subject);
    }
    let store = super::store(&a.data)?;
    let trust_path = match (&a.trust, &store) {
        (Some(p), _) => p.clone(),
        (None, super::Store::Embedded(data)) => super::stored_trust_path_with_warning(data),
        (None, super::Store::Kafka(_)) => {
            bail!("a trail from a ledger on Kafka needs the trial's trust file: --trust FILE")
        }
    };
    let trust = TrustFile::read(&trust_path)?;
    let root = trust.root_key().map_err(anyhow::Error::msg)?;
    let trial = trust.trial();

    // Refuse a trail from a ledger that does not verify.
    let loaded = match &store {
        super::Store::Embedded(data) => {
            VerifiedLedger::load(&super::ledger_dir(data), &trial, root)?
        }
        super::Store::Kafka(k) => {
            if k.trial != trial {
                bail!(
                    "the trust file {} is for trial {trial}, not {}",
                    trust_path.display(),
                    k.trial
                );
            }
            VerifiedLedger::load_kafka(k, root)?
        }
    };
    let ledger = match loaded {
        Ok(l) => l,
        Err(report) => {
            let f = report.first_failure().expect("not verified");
            println!("FAILED: the ledger does not verify, so no trail is printed: {f}");
            for other in report.failures.iter().skip(1) {
                println!("  also: {other}");
            }
            return Ok(ExitCode::from(crate::EXIT_NEGATIVE));
        }
    };
    let mut trails = Vec::with_capacity(subjects.len());
    for subject in &subjects {
        match ledger.trail(subject)? {
            Ok(t) => trails.push(t),
            Err(m) => {
                println!("FAILED: {m}");
                return Ok(ExitCode::from(crate::EXIT_NEGATIVE));
            }
        }
    }

    if a.json {
        let mut docs = Vec::with_capacity(trails.len());
        for t in &trails {
            let mut v = serde_json::to_value(t)?;
            v["trial"] = trial.to_string().into();
            v["verified"] = true.into();
            docs.push(v);
        }
        let out = if docs.len() == 1 {
            docs.pop().expect("one")
        } else {
            serde_json::Value::Array(docs)
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "OK: trial {trial} verified ({} records in {} partitions)",
            ledger.report.records_total, ledger.report.partitions
        );
        for t in &trails {
            let citations = if a.full {
                trail::Citations::Full
            } else {
                trail::Citations::Folded
            };
            print!("{}", trail::render(t, citations));
        }
    }
    Ok(ExitCode::SUCCESS)
}
