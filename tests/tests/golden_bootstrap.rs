//! Golden vectors of the bootstrap records (FORMAT.md, "Bootstrap"): with fixed keys, trial
//! id and clock, `init` writes byte-identical `TrialRegistered` (0/0) and first-sequencer
//! `KeyEnrolled` (0/1) records, both authored and sealed by the root key. The vectors live
//! with the others in `schemas/golden/vectors.txt`; `GOLDEN_APPEND=1` adds missing ones.

use std::collections::BTreeMap;
use tl_ledger::{CoreOnly, EmbeddedLedger};
use tl_schemas::{TrialId, UtcMicros};
use tl_tests::{decode, key, temp_dir};

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
        ("bootstrap.record.0", &recs[0]),
        ("bootstrap.record.1", &recs[1]),
    ];
    let text = std::fs::read_to_string(VECTORS).expect("golden vectors file");
    let stored: BTreeMap<&str, &str> = text.lines().filter_map(|l| l.split_once(' ')).collect();
    if std::env::var_os("GOLDEN_APPEND").is_some() {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(VECTORS)
            .unwrap();
        for (name, bytes) in computed {
            if !stored.contains_key(name) {
                writeln!(f, "{name} {}", hex::encode(bytes)).unwrap();
            }
        }
        return;
    }
    for (name, bytes) in computed {
        let want = stored
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from {VECTORS}"));
        assert_eq!(*want, hex::encode(bytes), "{name} drifted");
    }
}
