//! Fixtures shared by the fuzz targets: the demo trial's trust anchor and its 8 partitions
//! (a real ledger: `trial-ledger demo --patients 3`, seed 2016, 94 records), for the checkpoint
//! and proof targets; and a small ledger (2 partitions, 10 records, checkpoints) for the
//! targets that verify a whole ledger or bundle per input (`cargo run -p tl-domain --example
//! fuzz_fixture -- fuzz` writes it and their seeds).
//!
//! The parsers of the `trial-ledger` crate (which links librdkafka) are compiled here from
//! their own source files: [`event_json`] (`submit`'s event JSON) and [`api_wire`] (the
//! HTTP API's request parsers). Both files depend only on library crates.
#![forbid(unsafe_code)]

/// `services/src/cli/event_json.rs`, as `trial-ledger submit` compiles it.
#[path = "../../services/src/cli/event_json.rs"]
pub mod event_json;

/// `services/src/api/wire.rs`, as `trial-ledger serve` compiles it.
#[path = "../../services/src/api/wire.rs"]
pub mod api_wire;

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

/// The small fixture's trust file.
pub const SMALL_TRUST_JSON: &str = include_str!("../fixtures/small/trust.json");
/// The small fixture's segment file of each partition.
pub const SMALL_SEGMENTS: [&[u8]; 2] = [
    include_bytes!("../fixtures/small/p0.seg"),
    include_bytes!("../fixtures/small/p1.seg"),
];
/// The small fixture's checkpoint file of each partition.
pub const SMALL_CHECKPOINTS: [&[u8]; 2] = [
    include_bytes!("../fixtures/small/p0.ckpt"),
    include_bytes!("../fixtures/small/p1.ckpt"),
];

/// The small ledger: 2 partitions (registry and clinical records of two patients), with the
/// sequencer's checkpoints.
pub struct Small {
    /// The trial id.
    pub trial: TrialId,
    /// Its pinned root public key.
    pub root: [u8; 32],
    /// The partition count.
    pub partitions: u32,
    /// Each partition's records.
    pub parts: Vec<Vec<Vec<u8>>>,
}

/// The small fixture.
pub fn small() -> &'static Small {
    static SMALL: OnceLock<Small> = OnceLock::new();
    SMALL.get_or_init(|| {
        let trust: tl_ledger::trust::TrustFile =
            serde_json::from_str(SMALL_TRUST_JSON).expect("fixture trust file");
        let parts: Vec<_> = SMALL_SEGMENTS
            .iter()
            .map(|s| tl_ledger::embedded::scan_segment_bytes(s, 0).records)
            .collect();
        assert_eq!(parts.len() as u32, trust.partitions);
        Small {
            trial: trust.trial(),
            root: trust.root_key().expect("fixture root key"),
            partitions: trust.partitions,
            parts,
        }
    })
}
