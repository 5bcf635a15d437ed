//! The tamper matrix: every way of damaging a ledger that the issue lists makes verification
//! fail, naming the right partition, sequence number and reason code.
//!
//! Tampered records are stored re-framed with valid checksums (`rewrite_partition`), so the
//! frame checksum never catches them: the cryptographic and structural checks must.

use tl_ledger::sequencer::seal_unchecked;
use tl_ledger::Report;
use tl_schemas::events::{envelope_of, ProtocolAmended};
use tl_schemas::{encode, Envelope, Link, Subject};
use tl_tests::*;

/// A small ledger with records in several partitions, references across them, and a subject
/// with several records. Returns the trial and its folder.
fn small_trial(dir: &std::path::Path) -> TestTrial {
    let mut t = TestTrial::create(dir, "tamper-test", 4);
    let lab = t.keys.lab.clone();
    let inv = t.keys.investigator.clone();
    let a = t.note("patient:P-001", &lab, vec![]);
    let b = t.note("patient:P-002", &inv, vec![a]);
    t.note("patient:P-001", &inv, vec![b]);
    t.note("cohort:C-1", &inv, vec![a]);
    t.note("patient:P-003", &lab, vec![]);
    t.note("patient:P-002", &lab, vec![]);
    t
}

fn assert_fails(report: &Report, partition: u32, seq: u64, reason: &str) {
    let f = report
        .first_failure()
        .unwrap_or_else(|| panic!("verification passed; expected {reason} at {partition}/{seq}"));
    assert_eq!(
        (f.partition, f.seq, f.reason),
        (partition, seq, reason),
        "wrong failure: {f}"
    );
    assert!(!report.ok);
}

/// A partition with at least `n` records other than partition 0.
fn busy_partition(parts: &[Vec<Vec<u8>>], n: usize) -> usize {
    (1..parts.len())
        .find(|&p| parts[p].len() >= n)
        .expect("a partition with enough records")
}

#[test]
fn the_intact_ledger_verifies() {
    let dir = temp_dir();
    let t = small_trial(dir.path());
    let r = t.verify_stored(t.keys.root.public_key());
    assert!(r.ok, "{:?}", r.failures);
    assert_eq!(r.records_total, 7 + 6);
    assert_eq!(r.signatures_verified, 2 * 13);
}

#[test]
fn a_flipped_byte_at_every_offset_is_caught_at_its_record() {
    let dir = temp_dir();
    let t = small_trial(dir.path());
    let parts = t.records();
    let root = t.keys.root.public_key();
    // Reasons a single flipped byte can produce: decoding, placement, chain or seal checks.
    // Anything later (a role, a duplicate) would mean a check ran on unauthenticated bytes.
    let allowed = [
        "malformed",
        "non-canonical",
        "unsupported-format",
        "wrong-trial",
        "wrong-partition",
        "seq-gap",
        "root-mismatch",
        "prev-hash",
        "subject-prev",
        "unknown-sequencer",
        "bad-seal",
    ];
    let mut flips = 0;
    for p in 0..parts.len() {
        for i in 0..parts[p].len() {
            let len = parts[p][i].len();
            for off in 0..len {
                let mut tampered = parts.clone();
                tampered[p][i][off] ^= 0x01;
                let r = verify_parts(&t.trial, root, &tampered);
                // Its partition's own first failure is the flipped record; a partition before
                // it fails only where it cites the flipped record (or what follows it).
                let f = r
                    .failures
                    .iter()
                    .find(|f| f.partition == p as u32)
                    .unwrap_or_else(|| panic!("flip at {p}/{i} byte {off} went unnoticed"));
                assert_eq!(f.seq, i as u64, "flip at {p}/{i} byte {off}: {f}");
                for other in r.failures.iter().filter(|f| f.partition < p as u32) {
                    assert!(
                        other.reason.starts_with("reference-"),
                        "flip at {p}/{i} byte {off}: {other}"
                    );
                }
                assert!(
                    allowed.contains(&f.reason),
                    "flip at {p}/{i} byte {off}: {f}"
                );
                if off >= len - 64 {
                    assert_eq!(
                        f.reason, "bad-seal",
                        "flip in the seal at {p}/{i} byte {off}: {f}"
                    );
                }
                flips += 1;
            }
        }
    }
    assert!(flips > 2000, "only {flips} flips tried");
}

#[test]
fn a_deleted_record_that_is_not_the_last() {
    let dir = temp_dir();
    let mut t = small_trial(dir.path());
    let mut parts = t.records();
    parts[0].remove(3);
    t.rewrite(&parts);
    assert_fails(&t.verify_stored(t.keys.root.public_key()), 0, 3, "seq-gap");
}

#[test]
fn two_records_swapped() {
    let dir = temp_dir();
    let mut t = small_trial(dir.path());
    let mut parts = t.records();
    let p = busy_partition(&parts, 2);
    parts[p].swap(0, 1);
    t.rewrite(&parts);
    let r = t.verify_stored(t.keys.root.public_key());
    let own = r.failures.iter().find(|f| f.partition == p as u32).unwrap();
    assert_eq!((own.seq, own.reason), (0, "seq-gap"), "{own}");
    // A record citing either of them now finds another hash there, and says so.
    for f in r.failures.iter().filter(|f| f.partition != p as u32) {
        assert_eq!(f.reason, "reference-mismatch", "{f}");
        assert!(f.detail.contains(&format!("cited record {p}/")), "{f}");
    }
}

#[test]
fn a_record_relinked_after_a_deletion_without_the_sequencer_key() {
    let dir = temp_dir();
    let mut t = small_trial(dir.path());
    let mut parts = t.records();
    // Delete partition-0 record 4 and relink record 5 onto record 3 perfectly (seq,
    // prev_hash, subject_prev), keeping its old seal: only the seal can tell.
    let prev = decode(&parts[0][3]);
    let prev_hash = prev.hash();
    parts[0].remove(4);
    let mut rec = decode(&parts[0][4]);
    rec.body.seq = 4;
    rec.body.prev_hash = prev_hash;
    rec.body.subject_prev = Some(Link {
        seq: 3,
        hash: prev_hash,
    });
    parts[0][4] = encode(&rec);
    parts[0].truncate(5);
    t.rewrite(&parts);
    assert_fails(&t.verify_stored(t.keys.root.public_key()), 0, 4, "bad-seal");
}

#[test]
fn a_replayed_submission() {
    let dir = temp_dir();
    let mut t = small_trial(dir.path());
    let mut parts = t.records();
    let p = busy_partition(&parts, 1);
    // Replayed verbatim at the end: it claims an old position.
    let mut verbatim = parts.clone();
    verbatim[p].push(parts[p][0].clone());
    t.rewrite(&verbatim);
    let n = parts[p].len() as u64;
    assert_fails(
        &t.verify_stored(t.keys.root.public_key()),
        p as u32,
        n,
        "seq-gap",
    );
    // Replayed as a new record by a sequencer holding its key: same submission, new position.
    t.rewrite(&parts);
    let old = decode(&parts[p][0]).body.submission;
    let (fp, bytes) = t.forge(old, &t.keys.sequencer, |_| {});
    assert_eq!(fp as usize, p);
    parts[p].push(bytes);
    t.rewrite(&parts);
    assert_fails(
        &t.verify_stored(t.keys.root.public_key()),
        p as u32,
        n,
        "duplicate-submission",
    );
}

#[test]
fn a_record_in_the_wrong_partition() {
    let dir = temp_dir();
    let mut t = small_trial(dir.path());
    let mut parts = t.records();
    let from = busy_partition(&parts, 1);
    let to = (1..parts.len()).find(|&q| q != from).unwrap();
    let n = parts[to].len() as u64;
    // Copied across verbatim.
    let mut copied = parts.clone();
    copied[to].push(parts[from][0].clone());
    t.rewrite(&copied);
    assert_fails(
        &t.verify_stored(t.keys.root.public_key()),
        to as u32,
        n,
        "wrong-partition",
    );
    // Sealed into the wrong partition by the sequencer, correctly linked there.
    t.rewrite(&parts);
    let sub = t.draft(
        decode(&parts[from][0]).body.submission.submission.subject,
        Envelope::new(NOTE, 1, b"x".to_vec()),
        &t.keys.lab.clone(),
        vec![],
    );
    let head = parts[to].last().map_or_else(
        || tl_schemas::genesis_hash(&t.trial, to as u32),
        |r| decode(r).hash(),
    );
    let (_, bytes) = t.forge(sub, &t.keys.sequencer, |b| {
        b.partition = to as u32;
        b.seq = n;
        b.prev_hash = head;
        b.subject_prev = None;
    });
    parts[to].push(bytes);
    t.rewrite(&parts);
    assert_fails(
        &t.verify_stored(t.keys.root.public_key()),
        to as u32,
        n,
        "wrong-partition",
    );
}

#[test]
fn a_record_from_another_trial() {
    let dir = temp_dir();
    let other_dir = temp_dir();
    let mut t = small_trial(dir.path());
    let mut other = TestTrial::create(other_dir.path(), "other-trial", 4);
    // Same keys, same subject, same partition count: only the trial id differs.
    let lab = other.keys.lab.clone();
    let r = other.note("patient:P-001", &lab, vec![]);
    let foreign = other.records()[r.partition as usize][r.seq as usize].clone();
    let mut parts = t.records();
    let p = r.partition as usize;
    let n = parts[p].len() as u64;
    parts[p].push(foreign);
    t.rewrite(&parts);
    assert_fails(
        &t.verify_stored(t.keys.root.public_key()),
        p as u32,
        n,
        "wrong-trial",
    );
}

#[test]
fn a_non_canonical_encoding() {
    let dir = temp_dir();
    let mut t = small_trial(dir.path());
    let mut parts = t.records();
    // The record starts with its version, varint 0x01. 0x81 0x00 decodes to the same 1 but
    // is a second spelling: refused, whatever the signatures say.
    assert_eq!(parts[0][2][0], 0x01);
    let mut bytes = vec![0x81, 0x00];
    bytes.extend_from_slice(&parts[0][2][1..]);
    parts[0][2] = bytes;
    t.rewrite(&parts);
    assert_fails(
        &t.verify_stored(t.keys.root.public_key()),
        0,
        2,
        "non-canonical",
    );
}

#[test]
fn a_broken_subject_prev_even_when_sealed_by_the_sequencer() {
    let dir = temp_dir();
    let mut t = small_trial(dir.path());
    let lab = t.keys.lab.clone();
    let sub = t.draft(
        Subject::parse("patient:P-001").unwrap(),
        Envelope::new(NOTE, 1, b"x".to_vec()),
        &lab,
        vec![],
    );
    let sealer = t.keys.sequencer.clone();
    let (p, n) = t.append_forged(sub, &sealer, |b| b.subject_prev = None);
    assert_fails(
        &t.verify_stored(t.keys.root.public_key()),
        p,
        n,
        "subject-prev",
    );
}

fn forged_by(
    author: fn(&Keys) -> tl_ledger::SigningKey,
    env: fn() -> Envelope,
    subject: &str,
    reason: &str,
) {
    let dir = temp_dir();
    let mut t = small_trial(dir.path());
    let key = author(&t.keys);
    let sub = t.draft(Subject::parse(subject).unwrap(), env(), &key, vec![]);
    let sealer = t.keys.sequencer.clone();
    let (p, n) = t.append_forged(sub, &sealer, |_| {});
    assert_fails(&t.verify_stored(t.keys.root.public_key()), p, n, reason);
}

fn note() -> Envelope {
    Envelope::new(NOTE, 1, b"forged".to_vec())
}

#[test]
fn a_signature_by_an_unenrolled_key() {
    forged_by(|k| k.outsider.clone(), note, "patient:P-009", "unknown-key");
}

#[test]
fn a_signature_by_a_revoked_key() {
    forged_by(|k| k.revoked.clone(), note, "patient:P-009", "key-revoked");
}

#[test]
fn a_signature_by_a_key_whose_role_may_not_author_the_type() {
    forged_by(
        |k| k.lab.clone(),
        || {
            envelope_of(&ProtocolAmended {
                protocol_version: 9,
                document_format: 0,
                document: vec![],
            })
        },
        "trial",
        "role-not-permitted",
    );
}

#[test]
fn a_seal_by_a_key_that_is_not_a_sequencer() {
    let dir = temp_dir();
    let mut t = small_trial(dir.path());
    let lab = t.keys.lab.clone();
    let sub = t.draft(
        Subject::parse("patient:P-001").unwrap(),
        note(),
        &lab,
        vec![],
    );
    let sealer = lab.clone();
    let (p, n) = t.append_forged(sub, &sealer, |_| {});
    assert_fails(
        &t.verify_stored(t.keys.root.public_key()),
        p,
        n,
        "sequencer-not-authorized",
    );
}

#[test]
fn a_reference_to_a_record_that_does_not_exist() {
    let dir = temp_dir();
    let mut t = small_trial(dir.path());
    let inv = t.keys.investigator.clone();
    let bogus = tl_schemas::Reference {
        partition: 0,
        seq: 999,
        hash: tl_schemas::Hash32([7; 32]),
    };
    let sub = t.draft(
        Subject::parse("cohort:C-1").unwrap(),
        note(),
        &inv,
        vec![bogus],
    );
    let sealer = t.keys.sequencer.clone();
    let (p, n) = t.append_forged(sub, &sealer, |_| {});
    assert_fails(
        &t.verify_stored(t.keys.root.public_key()),
        p,
        n,
        "reference-missing",
    );
}

#[test]
fn the_wrong_root_key_pinned() {
    let dir = temp_dir();
    let t = small_trial(dir.path());
    assert_fails(
        &t.verify_stored(key(99).public_key()),
        0,
        0,
        "root-mismatch",
    );
}

#[test]
fn a_rewritten_history_under_another_root_fails_against_the_pinned_root() {
    // An attacker rebuilds the whole ledger under their own root and sequencer keys: every
    // link and seal is consistent, and only the pinned root exposes it.
    let dir = temp_dir();
    let t = small_trial(dir.path());
    let parts = t.records();
    let evil_root = key(66);
    let mut first = decode(&parts[0][0]);
    first.body.sequencer = evil_root.key_id();
    let resealed = seal_unchecked(&t.trial, first.body, &evil_root);
    let mut forged = parts.clone();
    forged[0][0] = resealed;
    let r = verify_parts(&t.trial, t.keys.root.public_key(), &forged);
    assert_fails(&r, 0, 0, "root-mismatch");
}

#[test]
fn an_inserted_record() {
    let dir = temp_dir();
    let mut t = small_trial(dir.path());
    let parts = t.records();
    let p = busy_partition(&parts, 2);
    // A record of another partition copied into the middle: its placement gives it away.
    let other = (1..parts.len())
        .find(|&q| q != p && !parts[q].is_empty())
        .unwrap();
    let mut copied = parts.clone();
    copied[p].insert(1, parts[other][0].clone());
    t.rewrite(&copied);
    assert_fails(
        &t.verify_stored(t.keys.root.public_key()),
        p as u32,
        1,
        "wrong-partition",
    );
    // A new record forged with the real sequencer and investigator keys, linked perfectly
    // after record 0 (seq 1, prev_hash, subject_prev) and inserted there: the next record
    // still links to the old record 0 and says seq 1.
    t.rewrite(&parts);
    let first = decode(&parts[p][0]);
    let inv = t.keys.investigator.clone();
    let signed = t.draft(
        first.body.submission.submission.subject.clone(),
        note(),
        &inv,
        vec![],
    );
    let (fp, bytes) = t.forge(signed, &t.keys.sequencer.clone(), |b| {
        b.seq = 1;
        b.prev_hash = first.hash();
        b.subject_prev = Some(Link {
            seq: 0,
            hash: first.hash(),
        });
        b.ordering_time = first.body.ordering_time;
        b.registry_seq = first.body.registry_seq;
    });
    assert_eq!(fp as usize, p);
    let mut inserted = parts.clone();
    inserted[p].insert(1, bytes);
    t.rewrite(&inserted);
    assert_fails(
        &t.verify_stored(t.keys.root.public_key()),
        p as u32,
        2,
        "seq-gap",
    );
}
