//! `trial-ledger prove inclusion|consistency`: Merkle proofs for a partition, as JSON proof
//! files (FORMAT.md §17a) that `check-proof` verifies offline.

use crate::cli::ProveCommand;
use anyhow::{bail, Result};
use std::path::Path;
use std::process::ExitCode;
use tl_ledger::audit::{self, Against, ProofFile, ProveError, Prover, SequencerKey};
use tl_ledger::checkpoint::SignedCheckpoint;
use tl_ledger::embedded::{EmbeddedReader, ScanEnd};
use tl_ledger::merkle::MerkleTree;
use tl_ledger::publish::read_published;
use tl_schemas::TrialId;

/// A partition's tree, its published checkpoints and the registry's sequencer keys.
struct Loaded {
    trial: TrialId,
    partition: u32,
    tree: MerkleTree,
    published: Vec<SignedCheckpoint>,
    keys: Vec<SequencerKey>,
}

impl Loaded {
    /// Reads partition `p` (and partition 0, for the keys) of an embedded ledger (without the
    /// lock) or of a trial on Kafka (read_committed).
    fn read(store: &crate::cli::StoreArgs, p: u32) -> Result<Loaded> {
        match super::store(store)? {
            super::Store::Embedded(data) => Self::read_embedded(&data, p),
            super::Store::Kafka(k) => Self::read_kafka(&k, p),
        }
    }

    fn read_kafka(k: &tl_kafka::KafkaConfig, p: u32) -> Result<Loaded> {
        let wait = std::time::Duration::from_secs(150);
        let count = tl_kafka::topics::partition_count(k, &k.topics.ledger)?.ok_or_else(|| {
            anyhow::anyhow!("no ledger topic {} on {}", k.topics.ledger, k.bootstrap)
        })?;
        if p >= count {
            bail!(
                "partition {p} does not exist: the ledger has {count} partitions (0 to {})",
                count - 1
            );
        }
        let parts = tl_kafka::read::read_some(k, &k.topics.ledger, count, &[0, p], wait)?;
        let bytes = |q: u32| -> Vec<Vec<u8>> {
            parts[q as usize].iter().map(|m| m.value.clone()).collect()
        };
        let records = bytes(p);
        let keys = audit::sequencer_keys(&k.trial, &bytes(0));
        Ok(Loaded {
            tree: MerkleTree::from_leaves(audit::leaf_hashes(&records)),
            published: tl_kafka::read::checkpoints(k, p, wait)?,
            trial: k.trial.clone(),
            partition: p,
            keys,
        })
    }

    fn read_embedded(data: &Path, p: u32) -> Result<Loaded> {
        let trial = super::read_trust(data)?.trial();
        let dir = super::ledger_dir(data);
        let reader = EmbeddedReader::open(&dir)?;
        let count = reader.partition_count();
        if p >= count {
            bail!(
                "partition {p} does not exist: the ledger has {count} partitions (0 to {})",
                count - 1
            );
        }
        let scan = |p: u32| -> Result<Vec<Vec<u8>>> {
            let s = reader.scan(p)?;
            match &s.end {
                ScanEnd::Clean => {}
                ScanEnd::TornTail { seq, .. } | ScanEnd::Corrupt { seq, .. } => eprintln!(
                    "warning: partition {p} ends with an unreadable or incomplete frame at seq {seq}; proofs cover the records before it"
                ),
            }
            Ok(s.records)
        };
        let records = scan(p)?;
        let keys = audit::sequencer_keys(&trial, &if p == 0 { records.clone() } else { scan(0)? });
        Ok(Loaded {
            tree: MerkleTree::from_leaves(audit::leaf_hashes(&records)),
            published: read_published(&dir, p)?,
            trial,
            partition: p,
            keys,
        })
    }

    fn prover(&self) -> Prover<'_> {
        Prover {
            trial: &self.trial,
            partition: self.partition,
            tree: &self.tree,
            published: &self.published,
            keys: &self.keys,
        }
    }
}

/// Prints a proof, or reports why there is none: bad arguments exit 2 (an error), a ledger
/// that no longer extends its own published checkpoint exits 1 (a negative verdict).
fn emit(r: Result<ProofFile, ProveError>) -> Result<ExitCode> {
    match r {
        Ok(proof) => {
            println!("{}", serde_json::to_string_pretty(&proof)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(ProveError::Request(m) | ProveError::Unreadable(m)) => bail!(m),
        Err(ProveError::Diverged(m)) => {
            println!("FAILED: {m}");
            Ok(ExitCode::from(crate::EXIT_NEGATIVE))
        }
    }
}

/// Runs `prove`. Reads the ledger folder only.
pub fn run(c: ProveCommand) -> Result<ExitCode> {
    match c {
        ProveCommand::Inclusion {
            data,
            partition,
            seq,
            size,
        } => {
            let l = Loaded::read(&data, partition)?;
            let r = l.prover().inclusion(seq, size);
            if let Ok(p) = &r {
                match p.against {
                    Against::Checkpoint => eprintln!(
                        "inclusion of record {partition}/{seq} in the published checkpoint of size {}",
                        p.tree_size
                    ),
                    Against::UnsignedRoot => {
                        let latest = l.published.last().map(|c| c.unverified().size);
                        let why = match (size, latest) {
                            (Some(s), _) => format!("no checkpoint of size {s} was published"),
                            (None, Some(n)) => format!(
                                "no published checkpoint covers seq {seq} (the latest covers {n} records)"
                            ),
                            (None, None) => "no checkpoint of this partition was published".into(),
                        };
                        eprintln!(
                            "note: {why}: this proof is against the fresh root of the first {} records, which the sequencer has not signed. For a signed one: `trial-ledger checkpoint --fresh`, then `prove inclusion --size` with its size.",
                            p.tree_size
                        );
                    }
                }
            }
            emit(r.map(ProofFile::Inclusion))
        }
        ProveCommand::Consistency {
            data,
            partition,
            from,
            to,
        } => {
            let l = Loaded::read(&data, partition)?;
            let r = l.prover().consistency(from, to);
            if let Ok(p) = &r {
                match (&p.first_checkpoint, &p.second_checkpoint) {
                    (Some(_), Some(_)) => {}
                    (None, None) => eprintln!(
                        "note: no checkpoint was published for size {from} or {to}: both roots are computed from the ledger now and are not signed"
                    ),
                    (Some(_), None) => eprintln!(
                        "note: the root of size {to} is computed from the ledger now and is not signed (no checkpoint of that size was published)"
                    ),
                    (None, Some(_)) => eprintln!(
                        "note: the root of size {from} is computed from the ledger now and is not signed (no checkpoint of that size was published)"
                    ),
                }
            }
            emit(r.map(ProofFile::Consistency))
        }
    }
}
