//! The submit handle, given/when/then: many concurrent writers share one sequencer thread, and a
//! receipt is only ever handed out for a record that is already on disk.

use std::collections::BTreeSet;
use std::path::Path;
use tl_ledger::submit::{spawn, HandleConfig};
use tl_ledger::{Error, Submitted};
use tl_schemas::{encode, Envelope, Subject, UtcMicros};
use tl_tests::*;

/// Writers running at once, as in the performance issue's group-commit measure.
const WRITERS: usize = 64;
/// Submissions per writer.
const EACH: usize = 5;

fn note(i: usize) -> Envelope {
    Envelope::new(NOTE, 1, format!("handle note {i}").into_bytes())
}

/// Whether the store on disk (read as `verify` reads it, without the writer's lock) holds a
/// record at `partition`/`seq` with exactly the receipt's hash.
fn on_disk(ledger_dir: &Path, partition: u32, seq: u64, hash_hex: &str) -> bool {
    let inputs = tl_ledger::log::read_embedded_for_verify(ledger_dir).expect("read the store");
    let Some(bytes) = inputs[partition as usize].records.get(seq as usize) else {
        return false;
    };
    let hash = tl_ledger::audit::leaf_hash(bytes).expect("a stored record decodes");
    hash.to_hex() == hash_hex
}

#[test]
fn sixty_four_writers_get_receipts_only_for_durable_records() {
    // Given a trial and 64 writers, each with its own signed notes about its own patient,
    let (_d, mut t) = given_a_trial("handle-test");
    let lab = t.keys.lab.clone();
    let drafts: Vec<Vec<Vec<u8>>> = (0..WRITERS)
        .map(|w| {
            (0..EACH)
                .map(|i| {
                    let subject = Subject::parse(&format!("patient:P-{w}")).unwrap();
                    encode(&t.draft(subject, note(w * EACH + i), &lab, vec![]))
                })
                .collect()
        })
        .collect();
    let ledger_dir = t.dir.join("ledger");
    let TestTrial { ledger, dir, .. } = t;
    let config = HandleConfig {
        max_batch: 16,
        queue: 8,
        ..HandleConfig::default()
    };
    let (handle, thread) = spawn(ledger, UtcMicros::now, config).unwrap();

    // when they all submit at once through clones of one handle,
    let receipts: Vec<_> = std::thread::scope(|s| {
        let workers: Vec<_> = drafts
            .into_iter()
            .map(|mine| {
                let handle = handle.clone();
                let ledger_dir = &ledger_dir;
                s.spawn(move || {
                    mine.into_iter()
                        .map(|bytes| match handle.submit_blocking(bytes).unwrap() {
                            Submitted::Recorded(r) => {
                                // then each receipt's record is already on disk when it arrives,
                                assert!(
                                    on_disk(ledger_dir, r.partition, r.seq, &r.record_hash),
                                    "receipt {}/{} handed out before its record was stored",
                                    r.partition,
                                    r.seq
                                );
                                r
                            }
                            other => panic!("expected a record, got {other:?}"),
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });

    // and every one of them names a distinct record that the reopened ledger still holds.
    let ledger = thread.stop().unwrap();
    ledger.close().unwrap();
    let places: BTreeSet<_> = receipts.iter().map(|r| (r.partition, r.seq)).collect();
    assert_eq!(places.len(), WRITERS * EACH);
    let reopened = TestTrial::open(&dir, "handle-test");
    for r in &receipts {
        assert!(on_disk(&ledger_dir, r.partition, r.seq, &r.record_hash));
    }
    let report = reopened.verify_stored(reopened.keys.root.public_key());
    assert!(report.ok, "{report:?}");
}

#[test]
fn duplicates_and_refusals_come_back_through_the_handle_and_change_nothing() {
    let (_d, mut t) = given_a_trial("handle-test");
    let lab = t.keys.lab.clone();
    let outsider = t.keys.outsider.clone();
    let subject = Subject::parse("patient:P-1").unwrap();
    let good = encode(&t.draft(subject.clone(), note(1), &lab, vec![]));
    let bad = encode(&t.draft(subject, note(2), &outsider, vec![]));
    let TestTrial { ledger, .. } = t;
    let (handle, thread) = spawn(ledger, UtcMicros::now, HandleConfig::default()).unwrap();

    // Given a recorded submission,
    let Submitted::Recorded(first) = handle.submit_blocking(good.clone()).unwrap() else {
        panic!("not recorded")
    };
    // when the same bytes come again, then the original receipt comes back;
    assert_eq!(
        handle.submit_blocking(good).unwrap(),
        Submitted::Duplicate(first)
    );
    // a submission by an unknown key is refused with its reason;
    match handle.submit_blocking(bad).unwrap() {
        Submitted::Refused(r) => assert_eq!(r.reason.code(), "unknown-key"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // bytes that are no submission at all are refused, not a failure of the sequencer.
    assert!(matches!(
        handle.submit_blocking(vec![0xff; 3]).unwrap(),
        Submitted::Refused(_)
    ));

    // Once the thread is stopped, handles say so instead of hanging.
    let ledger = thread.stop().unwrap();
    let before: u64 = (0..ledger.state().partition_count())
        .map(|p| ledger.state().len(p))
        .sum();
    assert!(matches!(
        handle.submit_blocking(vec![1, 2, 3]),
        Err(Error::SequencerStopped(_))
    ));
    let after: u64 = (0..ledger.state().partition_count())
        .map(|p| ledger.state().len(p))
        .sum();
    assert_eq!(before, after);
}
