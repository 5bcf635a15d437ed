//! Append-only over a long run: the default demo (1,610 treated patients, about 55,000 records
//! through the sequencer with group commit) publishes several checkpoints per partition, and
//! every one of them is signed by an enrolled sequencer key and is consistent with every later
//! one of its partition, checked with RFC 9162 consistency proofs between the signed roots.

use std::process::Command;
use tl_ledger::audit::{leaf_hashes, sequencer_keys, signers_among};
use tl_ledger::checkpoint::partition_origin;
use tl_ledger::log::read_embedded_for_verify;
use tl_ledger::merkle::{verify_consistency, MerkleTree};
use tl_ledger::publish::{read_published, sequencer_key_name};
use tl_ledger::trust::TrustFile;
use tl_schemas::Hash32;

#[test]
fn every_published_checkpoint_is_consistent_with_every_later_one() {
    let tmp = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_trial-ledger"))
        .current_dir(tmp.path())
        .env_remove("TRIAL_LEDGER_PASSPHRASE")
        .env_remove("TRIAL_LEDGER_ROOT_PASSPHRASE")
        .env_remove("TRIAL_LEDGER_SEQUENCER_PASSPHRASE")
        .args(["demo", "--data", "d"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let data = tmp.path().join("d");
    let trust = TrustFile::read(&data.join("trust.json")).unwrap();
    let trial = trust.trial();
    let dir = data.join("ledger");
    let inputs = read_embedded_for_verify(&dir).unwrap();
    let keys = sequencer_keys(&trial, &inputs[0].records);
    assert!(!keys.is_empty());
    let name = sequencer_key_name(&trial);
    let (mut checkpoints, mut pairs, mut records) = (0, 0, 0);
    let mut held = String::new();
    for (p, input) in inputs.iter().enumerate() {
        let p = p as u32;
        let tree = MerkleTree::from_leaves(leaf_hashes(&input.records));
        records += tree.size();
        let published = read_published(&dir, p).unwrap();
        assert!(
            published.len() >= 3,
            "partition {p}: {} checkpoints",
            published.len()
        );
        // Signed by an enrolled sequencer key, of this partition; sizes grow.
        let heads: Vec<(u64, Hash32)> = published
            .iter()
            .map(|note| {
                let signer = signers_among(&trial, note, &keys)
                    .into_iter()
                    .find(|k| note.verify(&name, &k.public_key).is_ok())
                    .expect("signed by an enrolled sequencer key");
                let c = note.verify(&name, &signer.public_key).unwrap();
                assert_eq!(c.origin, partition_origin(&trial, p));
                held.push_str(note.text());
                held.push('\n');
                (c.size, c.root)
            })
            .collect();
        checkpoints += heads.len();
        assert!(heads.windows(2).all(|w| w[0].0 < w[1].0), "{heads:?}");
        // The last covers the whole partition: the demo closes its ledger.
        assert_eq!(heads.last().unwrap().0, tree.size());
        for (i, (s1, r1)) in heads.iter().enumerate() {
            for (s2, r2) in &heads[i + 1..] {
                let proof = tree.consistency_proof(*s1, *s2).unwrap();
                assert!(!proof.path.is_empty());
                verify_consistency(*s1, *s2, r1, r2, &proof.path).unwrap_or_else(|e| {
                    panic!("partition {p}: checkpoint of size {s1} -> {s2}: {e}")
                });
                // The check can fail: the same proof does not connect another root.
                let mut other = *r1;
                other.0[0] ^= 1;
                assert!(verify_consistency(*s1, *s2, &other, r2, &proof.path).is_err());
                pairs += 1;
            }
        }
    }
    assert!(records > 50_000, "{records} records");
    assert!(pairs >= 8 * 3, "{pairs} pairs");
    eprintln!("{records} records, {checkpoints} checkpoints, {pairs} consistent pairs");

    // The same checkpoints, held by an auditor, against the ledger.
    std::fs::write(tmp.path().join("held.txt"), held).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_trial-ledger"))
        .current_dir(tmp.path())
        .args([
            "verify",
            "--data",
            "d",
            "--trust",
            "d/trust.json",
            "--against",
            "held.txt",
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains(&format!("extends all {checkpoints} held checkpoints")),
        "{out}"
    );
}
