//! Golden vectors of the bootstrap records (FORMAT.md, "Bootstrap"): with fixed keys, trial
//! id and clock, `init` writes byte-identical `TrialRegistered` (0/0) and first-sequencer
//! `KeyEnrolled` (0/1) records, both authored and sealed by the root key. The vectors live
//! with the others in `schemas/golden/vectors.txt`; `GOLDEN_APPEND=1` adds missing ones
//! (never under `CI`) and still compares the rest.

use tl_ledger::{CoreOnly, EmbeddedLedger};
use tl_schemas::{TrialId, UtcMicros};
use tl_tests::{decode, key, temp_dir};

#[path = "../../schemas/tests/support/golden_file.rs"]
mod golden_file;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/golden/vectors.txt");

#[test]
fn bootstrap_records_are_frozen() {
    let dir = temp_dir();
    let trial = TrialId::new("drup-golden").unwrap();
    let ledger = EmbeddedLedger::create(
        &dir.path().join("ledger"),
        &trial,
        8,
        "Golden trial",
        &key(1),
        key(2),
        CoreOnly,
        UtcMicros(1_764_000_000_000_000),
    )
    .unwrap();
    let recs = ledger.log().read(0, 0, 10).unwrap();
    assert_eq!(recs.len(), 2);
    // Both are the root's: authored and sealed.
    for r in &recs {
        let r = decode(r);
        assert_eq!(r.body.sequencer, key(1).key_id());
        assert_eq!(r.body.submission.submission.author, key(1).key_id());
    }
    let computed = [
        ("bootstrap.record.0", recs[0].clone()),
        ("bootstrap.record.1", recs[1].clone()),
    ];
    let append = golden_file::append_requested();
    if let Err(e) = golden_file::check(std::path::Path::new(VECTORS), &computed, append) {
        panic!("{e}");
    }
}
