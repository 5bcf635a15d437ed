//! Fixtures shared by the fuzz targets: the demo trial's trust anchor and its 8 partitions
//! (a small real ledger: `trial-ledger demo --patients 3`, seed 2016, 94 records).
#![forbid(unsafe_code)]

use std::sync::OnceLock;
use tl_ledger::audit::{self, SequencerKey};
use tl_schemas::{Hash32, TrialId};

/// The demo trial's trust file.
pub const TRUST_JSON: &str = include_str!("../fixtures/trust.json");
/// The segment file of each partition of the demo ledger (empty: no records).
pub const SEGMENTS: [&[u8]; 8] = [
    include_bytes!("../fixtures/ledger/p0.seg"),
    include_bytes!("../fixtures/ledger/p1.seg"),
    include_bytes!("../fixtures/ledger/p2.seg"),
    include_bytes!("../fixtures/ledger/p3.seg"),
    include_bytes!("../fixtures/ledger/p4.seg"),
    include_bytes!("../fixtures/ledger/p5.seg"),
    include_bytes!("../fixtures/ledger/p6.seg"),
    include_bytes!("../fixtures/ledger/p7.seg"),
];

/// What the targets check against, built once per process.
pub struct Demo {
    /// The trial id.
    pub trial: TrialId,
    /// Its pinned root public key.
    pub root: [u8; 32],
    /// The partition count.
    pub partitions: u32,
    /// Each partition's records.
    pub parts: Vec<Vec<Vec<u8>>>,
    /// Partition 0's records.
    pub p0: Vec<Vec<u8>>,
    /// Partition 0's leaf hashes.
    pub leaves: Vec<Hash32>,
    /// The sequencer keys partition 0 enrols.
    pub keys: Vec<SequencerKey>,
}

/// The demo fixture.
pub fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        let trust: tl_ledger::trust::TrustFile =
            serde_json::from_str(TRUST_JSON).expect("fixture trust file");
        let trial = trust.trial();
        let root = trust.root_key().expect("fixture root key");
        let parts: Vec<_> = SEGMENTS
            .iter()
            .map(|s| tl_ledger::embedded::scan_segment_bytes(s, 0).records)
            .collect();
        let p0 = parts[0].clone();
        assert!(!p0.is_empty(), "fixture segment holds records");
        let leaves = audit::leaf_hashes(&p0);
        let keys = audit::sequencer_keys(&trial, &p0);
        Demo {
            trial,
            root,
            partitions: trust.partitions,
            parts,
            p0,
            leaves,
            keys,
        }
    })
}
