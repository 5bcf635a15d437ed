//! The golden audit bundle (`bundle.v1` in `schemas/golden/vectors.txt`, walked through byte by
//! byte in `schemas/BUNDLE.md`): an `--all` bundle of the golden trial's two bootstrap records
//! (`bootstrap.record.0` and `.1`, FORMAT.md §12) with partition 0's checkpoint of size 2
//! signed by the golden sequencer key (seed `02`×32), and seven empty partitions. It freezes
//! the bundle layout, and it verifies. `GOLDEN_APPEND=1` adds it if missing
//! (never under `CI`).

use std::collections::BTreeMap;
use tl_ledger::audit::leaf_hashes;
use tl_ledger::bundle::{
    decode_bundle, encode_bundle, verify_bundle, Bundle, BundleCheckpoint, BundleRecord, Coverage,
    Pinned, Scope, Section, BUNDLE_VERSION,
};
use tl_ledger::checkpoint::Checkpoint;
use tl_ledger::merkle::root_of;
use tl_ledger::publish::sequencer_key_name;
use tl_ledger::{CoreOnly, SigningKey};
use tl_schemas::TrialId;

#[path = "../../schemas/tests/support/golden_file.rs"]
mod golden_file;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/golden/vectors.txt");

fn golden_bundle(stored: &BTreeMap<&str, &str>) -> Bundle {
    let trial = TrialId::new("drup-golden").unwrap();
    let records: Vec<Vec<u8>> = ["bootstrap.record.0", "bootstrap.record.1"]
        .iter()
        .map(|n| hex::decode(stored[n]).unwrap())
        .collect();
    let root = root_of(&leaf_hashes(&records));
    let note = Checkpoint::for_partition(&trial, 0, 2, root)
        .sign(&sequencer_key_name(&trial), &SigningKey::from_seed([2; 32]))
        .unwrap();
    let mut sections = vec![Section {
        partition: 0,
        checkpoints: vec![BundleCheckpoint {
            note,
            to_anchor: vec![],
        }],
        coverage: Coverage::Prefix { to_anchor: vec![] },
        records: records
            .into_iter()
            .enumerate()
            .map(|(seq, record)| BundleRecord {
                seq: seq as u64,
                record,
                path: vec![],
            })
            .collect(),
    }];
    sections.extend((1..8).map(|p| Section {
        partition: p,
        checkpoints: vec![],
        coverage: Coverage::Prefix { to_anchor: vec![] },
        records: vec![],
    }));
    Bundle {
        version: BUNDLE_VERSION,
        trial_id: trial,
        partition_count: 8,
        root_public_key: SigningKey::from_seed([1; 32]).public_key(),
        scope: Scope::All,
        sections,
    }
}

#[test]
fn the_golden_bundle_is_frozen_and_verifies() {
    let text = std::fs::read_to_string(VECTORS).expect("golden vectors file");
    let stored: BTreeMap<&str, &str> = text.lines().filter_map(|l| l.split_once(' ')).collect();
    let b = golden_bundle(&stored);
    let bytes = encode_bundle(&b);
    let computed = [("bundle.v1", bytes.clone())];
    let append = golden_file::append_requested();
    if let Err(e) = golden_file::check(std::path::Path::new(VECTORS), &computed, append) {
        panic!("{e}");
    }
    // The layout BUNDLE.md walks through: magic, version, trial id, N, root key, scope.
    assert_eq!(&bytes[..8], b"TLBUNDLE");
    assert_eq!(bytes[8], 0x01, "version 1");
    assert_eq!(&bytes[9..21], b"\x0bdrup-golden");
    assert_eq!(bytes[21], 0x08, "8 partitions");
    assert_eq!(&bytes[22..54], &SigningKey::from_seed([1; 32]).public_key());
    assert_eq!(bytes[54], 0x00, "scope All");
    assert_eq!(bytes[55], 0x08, "8 sections");
    // It decodes back to itself and verifies, pinned by the golden root.
    assert_eq!(decode_bundle(&bytes).unwrap(), b);
    let pinned = Pinned {
        trial: TrialId::new("drup-golden").unwrap(),
        root: SigningKey::from_seed([1; 32]).public_key(),
        partitions: 8,
    };
    let r = verify_bundle(&b, Some(&pinned), &[], CoreOnly);
    assert!(r.ok, "{:?}", r.failure);
    assert_eq!(r.records, 2);
    assert_eq!(r.checkpoints_verified, 1);
}
