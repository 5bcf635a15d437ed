//! A tampered record stops the projection with an error naming it, and nothing from it on is
//! applied; corrections are applied with the original kept.
//!
//! Tampering is done as the harness in tests/ does it (`TestTrial::rewrite` / `forge`): records
//! are rewritten behind the writer's back with `EmbeddedLog::rewrite_partition` (fresh frames,
//! valid checksums) and forged ones sealed with the sequencer's own key by `seal_unchecked`, so
//! only the cryptographic and structural checks can catch them.

mod common;

use common::*;
use tl_ledger::codec::decode_record;
use tl_ledger::embedded::{EmbeddedLog, StoreOptions};
use tl_ledger::sequencer::seal_unchecked;
use tl_projections::{LogState, ViewKind};
use tl_schemas::clinical::{clinical_type as ct, Corrected, DoseAdministered};
use tl_schemas::{decode, UtcMicros};

fn partition_records(t: &SimTrial) -> Vec<Vec<Vec<u8>>> {
    let log = EmbeddedLog::open_writer(&t.ledger, StoreOptions::default())
        .unwrap()
        .0;
    (0..log.partition_count())
        .map(|p| log.read(p, 0, usize::MAX).unwrap())
        .collect()
}

fn rewrite(t: &SimTrial, p: u32, records: &[Vec<u8>]) {
    let (mut log, _) = EmbeddedLog::open_writer(&t.ledger, StoreOptions::default()).unwrap();
    log.rewrite_partition(p, records).unwrap();
}

/// No row of any view cites a record of partition `p` at or after `seq`, and each view's
/// position in `p` is `seq`.
fn assert_nothing_from(db: &std::path::Path, p: u32, seq: u64) {
    // The check below can fail: rows do cite records of `p` before `seq`.
    let all = dump_all(db);
    let cited_before = (0..seq)
        .filter(|s| {
            let needle = format!("\"partition\":{p},\"seq\":{s}}}");
            all.values()
                .flat_map(|t| t.values().flatten())
                .any(|row| row.contains(&needle))
        })
        .count();
    assert!(cited_before > 0, "no row cites partition {p} before {seq}");
    for (view, tables) in all {
        for (table, rows) in tables {
            for row in rows {
                for s in seq..seq + 400 {
                    let needle = format!("\"partition\":{p},\"seq\":{s}}}");
                    assert!(
                        !row.contains(&needle),
                        "{view}.{table} cites {p}/{s} at or after the bad record: {row}"
                    );
                }
            }
        }
        let pos = tl_projections::report::dump_file(
            &ViewKind::ALL
                .iter()
                .find(|k| k.name() == view)
                .unwrap()
                .path(db),
        )
        .unwrap()["positions"]
            .iter()
            .find(|r| r.starts_with(&format!("{p}|")))
            .and_then(|r| r.split('|').nth(1).map(str::to_string));
        assert_eq!(
            pos,
            Some(seq.to_string()),
            "{view}: position of partition {p}"
        );
    }
}

#[test]
fn a_forged_record_stops_the_projection_at_that_record() {
    let t = simulate(40, 3);
    let mut parts = partition_records(&t);
    let p = (1..parts.len()).max_by_key(|&p| parts[p].len()).unwrap();
    let k = parts[p].len() / 2;
    // The attacker holds the sequencer key: they change a record's content (its client time)
    // and seal it again. The seal verifies; the author's signature does not.
    let (mut record, _) = decode_record(&parts[p][k]).unwrap();
    record.body.submission.submission.client_time =
        UtcMicros(record.body.submission.submission.client_time.0 + 1);
    parts[p][k] = seal_unchecked(&t.trial, record.body, &t.keys.sequencer.key);
    rewrite(&t, p as u32, &parts[p]);

    let db = t.dir.path().join("views");
    let mut proj =
        tl_projections::embedded(&t.ledger, t.trial.clone(), t.root(), &db, 10_000).unwrap();
    let err = proj.catch_up(LogState::Complete).unwrap_err();
    let f = err.failure().expect("a verification failure");
    assert_eq!((f.partition, f.seq), (p as u32, k as u64), "{err}");
    assert_eq!(f.reason, "bad-author-signature", "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("partition {p} seq {k}")), "{msg}");
    // Stopped for good: a second catch-up says the same and applies nothing.
    let again = proj.catch_up(LogState::Complete).unwrap_err();
    assert_eq!(again.failure(), Some(f));
    drop(proj);
    assert_nothing_from(&db, p as u32, k as u64);
}

#[test]
fn a_deleted_record_stops_the_projection_where_the_gap_is() {
    let t = simulate(40, 4);
    let mut parts = partition_records(&t);
    let p = (1..parts.len()).max_by_key(|&p| parts[p].len()).unwrap();
    let k = parts[p].len() / 3;
    parts[p].remove(k);
    rewrite(&t, p as u32, &parts[p]);
    let db = t.dir.path().join("views");
    let mut proj = tl_projections::embedded(&t.ledger, t.trial.clone(), t.root(), &db, 25).unwrap();
    let err = proj.catch_up(LogState::Complete).unwrap_err();
    let f = err.failure().expect("a verification failure");
    assert_eq!((f.partition, f.seq), (p as u32, k as u64), "{err}");
    assert_eq!(f.reason, "seq-gap", "{err}");
    drop(proj);
    assert_nothing_from(&db, p as u32, k as u64);
}

#[test]
fn corrections_are_applied_and_the_original_kept() {
    let t = simulate(160, 7);
    let db = t.dir.path().join("views");
    t.project(&db, 10_000);
    // Ground truth straight from the records: every Corrected record and what it corrects.
    let parts = partition_records(&t);
    let mut expected = Vec::new();
    for (p, recs) in parts.iter().enumerate() {
        for (seq, bytes) in recs.iter().enumerate() {
            let (r, body_len) = decode_record(bytes).unwrap();
            let sub = &r.body.submission.submission;
            if sub.envelope.event_type != ct::CORRECTED {
                continue;
            }
            let c: Corrected = decode(&sub.envelope.payload).unwrap();
            assert_eq!(
                c.event_type,
                ct::DOSE_ADMINISTERED,
                "the simulator corrects doses"
            );
            let target = sub.cites[0];
            let (orig, _) =
                decode_record(&parts[target.partition as usize][target.seq as usize]).unwrap();
            let original: DoseAdministered =
                decode(&orig.body.submission.submission.envelope.payload).unwrap();
            let corrected: DoseAdministered = decode(&c.payload).unwrap();
            assert_ne!(original.dose_milli, corrected.dose_milli);
            let hash = tl_schemas::record_hash(&bytes[..body_len]);
            expected.push((p as u32, seq as u64, hash, target, original, corrected));
        }
    }
    assert!(!expected.is_empty(), "the simulated trial has corrections");
    let conn = rusqlite::Connection::open(ViewKind::Enrollment.path(&db)).unwrap();
    for (p, seq, hash, target, original, corrected) in &expected {
        // The dose shows the corrected content, keeps the original, and names the correction.
        let (dose, orig, by): (i64, Option<i64>, Option<String>) = conn
            .query_row(
                "SELECT dose_milli, original_dose_milli, corrected_by FROM doses WHERE partition = ?1 AND seq = ?2",
                rusqlite::params![target.partition, target.seq as i64],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(dose as u64, corrected.dose_milli);
        assert_eq!(orig.map(|o| o as u64), Some(original.dose_milli));
        let by: serde_json::Value = serde_json::from_str(&by.unwrap()).unwrap();
        assert_eq!(by["partition"], *p);
        assert_eq!(by["seq"], *seq);
        assert_eq!(by["hash"], hash.to_hex());
        // Every view keeps the correction with the original and corrected content.
        for k in ViewKind::ALL {
            let c = rusqlite::Connection::open(k.path(&db)).unwrap();
            let (o, n, reason): (String, String, String) = c
                .query_row(
                    "SELECT original, corrected, reason FROM corrections WHERE partition = ?1 AND seq = ?2",
                    rusqlite::params![p, *seq as i64],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .unwrap();
            let o: serde_json::Value = serde_json::from_str(&o).unwrap();
            let n: serde_json::Value = serde_json::from_str(&n).unwrap();
            assert_eq!(o["dose_milli"], original.dose_milli);
            assert_eq!(n["dose_milli"], corrected.dose_milli);
            assert!(!reason.is_empty());
        }
    }
}
