//! Plain verification checks the checkpoints the ledger stores (FORMAT.md §16.2 step 6, §17a):
//! a partition cut at a record boundary, a history rewritten with the stolen keys, or a
//! checkpoint file whose signature was damaged each fail with a named reason, without
//! `--against`; a torn final entry of a checkpoint file is still ignored.

use tl_ledger::publish::checkpoint_path;
use tl_ledger::Report;
use tl_tests::*;

/// A trial with notes in several partitions, its checkpoints published twice: after the
/// first notes, and at the end.
fn published(dir: &std::path::Path) -> TestTrial {
    let mut t = TestTrial::create(dir, "stored-ckpt", 4);
    let lab = t.keys.lab.clone();
    for i in 0..6 {
        t.note(&format!("patient:P-{i:03}"), &lab, vec![]);
    }
    t.ledger.publish_now().expect("publish");
    for i in 0..6 {
        t.note(&format!("patient:P-{i:03}"), &lab, vec![]);
    }
    t.ledger.publish_now().expect("publish");
    t
}

fn failure(report: &Report, p: usize) -> &tl_ledger::verify::Failure {
    report
        .failures
        .iter()
        .find(|f| f.partition == p as u32)
        .unwrap_or_else(|| panic!("partition {p} did not fail: {:?}", report.failures))
}

/// A partition other than 0 with at least two records, and its records.
fn busy(parts: &[Vec<Vec<u8>>]) -> usize {
    (1..parts.len()).max_by_key(|&p| parts[p].len()).unwrap()
}

#[test]
fn the_published_ledger_verifies_with_its_checkpoints() {
    let dir = temp_dir();
    let t = published(dir.path());
    let r = t.verify_stored(t.keys.root.public_key());
    assert!(r.ok, "{:?}", r.failures);
    let p = busy(&t.records());
    assert_eq!(published_sizes(&t, p).len(), 2);
}

#[test]
fn a_partition_truncated_at_a_record_boundary_fails_plain_verify() {
    let dir = temp_dir();
    let mut t = published(dir.path());
    let mut parts = t.records();
    let p = busy(&parts);
    let n = parts[p].len() as u64;
    parts[p].pop();
    t.rewrite(&parts);
    let r = t.verify_stored(t.keys.root.public_key());
    let f = failure(&r, p);
    assert_eq!((f.seq, f.reason), (n - 1, "checkpoint-not-extended"), "{f}");
    assert!(f.detail.contains("truncated"), "{f}");
    assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
    assert_eq!(
        r.records_verified, r.records_total,
        "the records left are valid"
    );
}

#[test]
fn a_history_rewritten_with_the_stolen_keys_fails_plain_verify() {
    let dir = temp_dir();
    let mut t = published(dir.path());
    let mut parts = t.records();
    let p = busy(&parts);
    let n = parts[p].len();
    // The last record of p is replaced by another, properly chained and sealed.
    let last = decode(&parts[p][n - 1]);
    let prev = tl_ledger::audit::leaf_hash(&parts[p][n - 2]).unwrap();
    let subject = last.body.submission.submission.subject.clone();
    let lab = t.keys.lab.clone();
    let sub = t.draft(subject, note_envelope("another text"), &lab, vec![]);
    let sealer = t.keys.sequencer.clone();
    let (_, forged) = t.forge(sub, &sealer, |b| {
        b.seq = (n - 1) as u64;
        b.prev_hash = prev;
        b.subject_prev = last.body.subject_prev;
    });
    parts[p][n - 1] = forged;
    t.rewrite(&parts);
    let r = t.verify_stored(t.keys.root.public_key());
    let f = failure(&r, p);
    // The first checkpoint still holds; records from its size on are not covered.
    let first_size = published_sizes(&t, p)[0];
    assert_eq!(
        (f.seq, f.reason),
        (first_size, "checkpoint-not-extended"),
        "{f}"
    );
    assert!(f.detail.contains("history was rewritten"), "{f}");
    assert_eq!(
        r.records_verified,
        r.records_total - (n as u64 - first_size)
    );
}

fn published_sizes(t: &TestTrial, p: usize) -> Vec<u64> {
    tl_ledger::publish::read_published(&t.dir.join("ledger"), p as u32)
        .unwrap()
        .iter()
        .map(|c| c.unverified().size)
        .collect()
}

fn note_envelope(text: &str) -> tl_schemas::Envelope {
    tl_schemas::Envelope::new(NOTE, 1, text.as_bytes().to_vec())
}

/// Replaces one character of the base64 signature on the last signature line of a checkpoint
/// file (after the 4-byte key hash) with `with`.
fn damage_signature(path: &std::path::Path, with: char) {
    let text = std::fs::read_to_string(path).unwrap();
    let line = text.rfind("— ").unwrap();
    let sig = line + text[line..].rfind(' ').unwrap() + 1;
    let at = sig + 20;
    let old = text[at..].chars().next().unwrap();
    let new = if old == with { 'B' } else { with };
    let damaged = format!("{}{new}{}", &text[..at], &text[at + 1..]);
    std::fs::write(path, damaged).unwrap();
}

#[test]
fn a_checkpoint_file_with_a_damaged_signature_fails_plain_verify() {
    for with in ['A', '!'] {
        let dir = temp_dir();
        let t = published(dir.path());
        let p = busy(&t.records());
        let n = t.records()[p].len() as u64;
        damage_signature(&checkpoint_path(&t.dir.join("ledger"), p as u32), with);
        let r = t.verify_stored(t.keys.root.public_key());
        let f = failure(&r, p);
        assert_eq!((f.seq, f.reason), (n, "checkpoint-invalid"), "{with}: {f}");
        assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
        assert_eq!(r.records_verified, r.records_total);
    }
}

#[test]
fn a_torn_final_checkpoint_entry_is_still_ignored() {
    let dir = temp_dir();
    let t = published(dir.path());
    let path = checkpoint_path(&t.dir.join("ledger"), 0);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("trial-ledger/stored-ckpt/0\n99\n");
    std::fs::write(&path, text).unwrap();
    let r = t.verify_stored(t.keys.root.public_key());
    assert!(r.ok, "{:?}", r.failures);
}
