//! The sequencer's validation, given/when/then: idempotent retries, refusals with their
//! reasons in FORMAT.md's order, the registry's authority, and the example domain rule.

use tl_ledger::Outcome;
use tl_schemas::events::{envelope_of, KeyEnrolled, KeyRevoked, ProtocolAmended};
use tl_schemas::{encode, Envelope, Role, Subject};
use tl_tests::*;

fn given_a_trial() -> (tempfile::TempDir, TestTrial) {
    tl_tests::given_a_trial("seq-test")
}

fn note() -> Envelope {
    Envelope::new(NOTE, 1, b"n".to_vec())
}

#[test]
fn a_retried_submission_id_returns_the_original_record() {
    let (_d, mut t) = given_a_trial();
    let lab = t.keys.lab.clone();
    let s = t.draft(Subject::parse("patient:P-1").unwrap(), note(), &lab, vec![]);
    let Outcome::Sealed(first) = t.submit(s.clone()) else {
        panic!("not sealed")
    };
    let before = t.records();
    // When the same bytes are submitted again,
    let Outcome::Duplicate(receipt) = t.submit(s.clone()) else {
        panic!("not a duplicate")
    };
    // then the original receipt comes back and nothing is added.
    assert_eq!(receipt, first.receipt());
    assert_eq!(t.records(), before);
    // The same id with other content is refused.
    let mut other = s;
    other.submission.envelope.payload = b"changed".to_vec();
    other.signature = lab.sign(&other.submission.signing_message());
    assert_eq!(refused(t.submit(other)).0, "submission-id-conflict");
}

#[test]
fn refused_ids_are_not_used_up() {
    let (_d, mut t) = given_a_trial();
    let outsider = t.keys.outsider.clone();
    let lab = t.keys.lab.clone();
    let bad = t.draft(
        Subject::parse("patient:P-1").unwrap(),
        note(),
        &outsider,
        vec![],
    );
    assert_eq!(refused(t.submit(bad.clone())).0, "unknown-key");
    let mut good = t.draft(Subject::parse("patient:P-1").unwrap(), note(), &lab, vec![]);
    good.submission.submission_id = bad.submission.submission_id;
    good.signature = lab.sign(&good.submission.signing_message());
    assert!(matches!(t.submit(good), Outcome::Sealed(_)));
}

#[test]
fn malformed_and_non_canonical_bytes_are_refused() {
    let (_d, mut t) = given_a_trial();
    let now = tl_schemas::UtcMicros(t.clock);
    // Version 1, then garbage: malformed.
    let o = t.ledger.submit(&[0x01, 0xff, 0xff, 0x13], now).unwrap();
    assert_eq!(refused(o).0, "malformed");
    // A version this software does not know is reported as such.
    let o = t.ledger.submit(&[0x02, 0x00, 0x13], now).unwrap();
    assert_eq!(refused(o).0, "unsupported-format");
    assert_eq!(refused(t.ledger.submit(&[], now).unwrap()).0, "malformed");
    let lab = t.keys.lab.clone();
    let s = t.draft(Subject::parse("patient:P-1").unwrap(), note(), &lab, vec![]);
    let mut bytes = encode(&s);
    bytes.push(0);
    assert_eq!(
        refused(t.ledger.submit(&bytes, now).unwrap()).0,
        "malformed"
    );
    let mut long = vec![0x81, 0x00];
    long.extend_from_slice(&encode(&s)[1..]);
    assert_eq!(
        refused(t.ledger.submit(&long, now).unwrap()).0,
        "non-canonical"
    );
}

#[test]
fn another_trials_submission_is_refused() {
    let (_d, mut t) = given_a_trial();
    let lab = t.keys.lab.clone();
    let mut s = t.draft(Subject::parse("patient:P-1").unwrap(), note(), &lab, vec![]);
    s.submission.trial_id = tl_schemas::TrialId::new("other").unwrap();
    s.signature = lab.sign(&s.submission.signing_message());
    assert_eq!(refused(t.submit(s)).0, "wrong-trial");
}

#[test]
fn a_bad_author_signature_is_refused() {
    let (_d, mut t) = given_a_trial();
    let lab = t.keys.lab.clone();
    let mut s = t.draft(Subject::parse("patient:P-1").unwrap(), note(), &lab, vec![]);
    s.signature.0[5] ^= 1;
    assert_eq!(refused(t.submit(s)).0, "bad-author-signature");
}

#[test]
fn revoked_keys_and_forbidden_roles_are_refused() {
    let (_d, mut t) = given_a_trial();
    let gone = t.keys.revoked.clone();
    let s = t.draft(
        Subject::parse("patient:P-1").unwrap(),
        note(),
        &gone,
        vec![],
    );
    assert_eq!(refused(t.submit(s)).0, "key-revoked");
    let lab = t.keys.lab.clone();
    let env = envelope_of(&ProtocolAmended {
        protocol_version: 1,
        document_format: 0,
        document: vec![],
    });
    let s = t.draft(Subject::Trial, env, &lab, vec![]);
    let (code, detail) = refused(t.submit(s));
    assert_eq!(code, "role-not-permitted");
    assert!(detail.contains("lab"), "{detail}");
    // Only the root enrols keys.
    let admin = t.keys.admin.clone();
    let env = envelope_of(&KeyEnrolled {
        public_key: key(40).public_key(),
        name: "x".into(),
        role: Role::Lab,
    });
    let s = t.draft(Subject::Trial, env, &admin, vec![]);
    assert_eq!(refused(t.submit(s)).0, "role-not-permitted");
    // Unknown event types are refused by the sequencer.
    let s = t.draft(
        Subject::parse("patient:P-1").unwrap(),
        Envelope::new(0xF0FF, 1, vec![]),
        &lab,
        vec![],
    );
    assert_eq!(refused(t.submit(s)).0, "unknown-event-type");
}

#[test]
fn small_order_keys_are_refused_at_enrolment() {
    let (_d, mut t) = given_a_trial();
    let root = t.keys.root.clone();
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let env = envelope_of(&KeyEnrolled {
        public_key: identity,
        name: "evil".into(),
        role: Role::Lab,
    });
    let s = t.draft(Subject::Trial, env, &root, vec![]);
    let (code, detail) = refused(t.submit(s));
    assert_eq!(code, "registry-rule");
    assert!(detail.contains("small-order"), "{detail}");
    // Enrolling the same key twice, and revoking an unknown key, are refused too.
    let env = envelope_of(&KeyEnrolled {
        public_key: t.keys.lab.public_key(),
        name: "again".into(),
        role: Role::Lab,
    });
    let s = t.draft(Subject::Trial, env, &root, vec![]);
    assert_eq!(refused(t.submit(s)).0, "registry-rule");
    let env = envelope_of(&KeyRevoked {
        key: key(41).key_id(),
        reason: "?".into(),
    });
    let s = t.draft(Subject::Trial, env, &root, vec![]);
    assert_eq!(refused(t.submit(s)).0, "registry-rule");
}

#[test]
fn a_key_is_valid_from_its_enrolment_until_its_revocation() {
    let (_d, mut t) = given_a_trial();
    let root = t.keys.root.clone();
    let newbie = key(50);
    // Before enrolment: unknown.
    let s = t.draft(
        Subject::parse("patient:P-5").unwrap(),
        note(),
        &newbie,
        vec![],
    );
    assert_eq!(refused(t.submit(s)).0, "unknown-key");
    let env = envelope_of(&KeyEnrolled {
        public_key: newbie.public_key(),
        name: "New Lab".into(),
        role: Role::Lab,
    });
    t.expect_sealed(Subject::Trial, env, &root, vec![]);
    let ok = t.note("patient:P-5", &newbie, vec![]);
    let env = envelope_of(&KeyRevoked {
        key: newbie.key_id(),
        reason: "lost laptop".into(),
    });
    t.expect_sealed(Subject::Trial, env, &root, vec![]);
    let s = t.draft(
        Subject::parse("patient:P-5").unwrap(),
        note(),
        &newbie,
        vec![],
    );
    let (code, detail) = refused(t.submit(s));
    assert_eq!(code, "key-revoked");
    assert!(detail.contains("lost laptop"));
    // The record made while the key was valid still verifies.
    assert!(t.verify_stored(t.keys.root.public_key()).ok);
    let _ = ok;
}

#[test]
fn citations_must_exist_with_the_cited_hash() {
    let (_d, mut t) = given_a_trial();
    let inv = t.keys.investigator.clone();
    let a = t.note("patient:P-1", &inv, vec![]);
    let mut wrong = a;
    wrong.hash.0[0] ^= 1;
    let s = t.draft(
        Subject::parse("cohort:C-1").unwrap(),
        note(),
        &inv,
        vec![wrong],
    );
    assert_eq!(refused(t.submit(s)).0, "reference-mismatch");
    let mut missing = a;
    missing.seq = 77;
    let s = t.draft(
        Subject::parse("cohort:C-1").unwrap(),
        note(),
        &inv,
        vec![missing],
    );
    assert_eq!(refused(t.submit(s)).0, "reference-missing");
    t.note("cohort:C-1", &inv, vec![a]);
}

#[test]
fn the_author_may_require_a_registry_position() {
    let (_d, mut t) = given_a_trial();
    let lab = t.keys.lab.clone();
    let mut s = t.draft(Subject::parse("patient:P-1").unwrap(), note(), &lab, vec![]);
    s.submission.min_registry_seq = 1_000;
    s.signature = lab.sign(&s.submission.signing_message());
    assert_eq!(refused(t.submit(s)).0, "registry-ahead");
}

#[test]
fn the_example_domain_rule_given_a_closed_subject_when_anything_follows_then_it_is_refused() {
    let (_d, mut t) = given_a_trial();
    let inv = t.keys.investigator.clone();
    let lab = t.keys.lab.clone();
    // Given a patient with a note, then a Close,
    t.note("patient:P-7", &lab, vec![]);
    t.expect_sealed(
        Subject::parse("patient:P-7").unwrap(),
        Envelope::new(CLOSE, 1, vec![]),
        &inv,
        vec![],
    );
    // when another note arrives, then it is refused with the domain's reason;
    let s = t.draft(Subject::parse("patient:P-7").unwrap(), note(), &lab, vec![]);
    let (code, detail) = refused(t.submit(s));
    assert_eq!(code, "domain-rule");
    assert!(detail.contains("closed"), "{detail}");
    // other subjects are unaffected, and a lab may not close.
    t.note("patient:P-8", &lab, vec![]);
    let s = t.draft(
        Subject::parse("patient:P-8").unwrap(),
        Envelope::new(CLOSE, 1, vec![]),
        &lab,
        vec![],
    );
    assert_eq!(refused(t.submit(s)).0, "role-not-permitted");
    // The domain state survives a restart: it is rebuilt from the log.
    let dir = t.dir.clone();
    drop(t);
    let mut t = TestTrial::open(&dir, "seq-test");
    let s = t.draft(Subject::parse("patient:P-7").unwrap(), note(), &lab, vec![]);
    assert_eq!(refused(t.submit(s)).0, "domain-rule");
}

#[test]
fn the_verifier_runs_the_domain_rules_too() {
    // A compromised sequencer seals a note after Close: verification catches it.
    let (_d, mut t) = given_a_trial();
    let inv = t.keys.investigator.clone();
    t.expect_sealed(
        Subject::parse("patient:P-7").unwrap(),
        Envelope::new(CLOSE, 1, vec![]),
        &inv,
        vec![],
    );
    let s = t.draft(Subject::parse("patient:P-7").unwrap(), note(), &inv, vec![]);
    let sealer = t.keys.sequencer.clone();
    let (p, n) = t.append_forged(s, &sealer, |_| {});
    let r = t.verify_stored(t.keys.root.public_key());
    let f = r.first_failure().expect("must fail");
    assert_eq!((f.partition, f.seq, f.reason), (p, n, "domain-rule"));
}

#[test]
fn state_rebuilt_after_reopen_continues_the_chain() {
    let (_d, mut t) = given_a_trial();
    let lab = t.keys.lab.clone();
    for i in 0..20 {
        t.note(&format!("patient:P-{}", i % 5), &lab, vec![]);
    }
    let dir = t.dir.clone();
    drop(t);
    let mut t = TestTrial::open(&dir, "seq-test");
    for i in 0..20 {
        t.note(&format!("patient:P-{}", i % 7), &lab, vec![]);
    }
    let r = t.verify_stored(t.keys.root.public_key());
    assert!(r.ok, "{:?}", r.failures);
    assert_eq!(r.records_total, 7 + 40);
}

#[test]
fn group_commit_buffers_until_flush_and_cites_buffered_records() {
    let (_d, mut t) = given_a_trial();
    t.ledger
        .set_durability(tl_ledger::Durability::Grouped { max_pending: 1_000 })
        .unwrap();
    let on_disk: u64 = (0..4).map(|p| t.ledger.log().len(p)).sum();
    let inv = t.keys.investigator.clone();
    let a = t.note("patient:P-1", &inv, vec![]);
    // A citation of a record that is still buffered is checked like any other.
    let b = t.note("cohort:C-1", &inv, vec![a]);
    let mut bad = b;
    bad.hash.0[0] ^= 1;
    let s = t.draft(
        Subject::parse("patient:P-2").unwrap(),
        note(),
        &inv,
        vec![bad],
    );
    assert_eq!(refused(t.submit(s)).0, "reference-mismatch");
    assert_eq!(
        (0..4).map(|p| t.ledger.log().len(p)).sum::<u64>(),
        on_disk,
        "nothing written before the flush"
    );
    t.ledger.flush().unwrap();
    assert_eq!(
        (0..4).map(|p| t.ledger.log().len(p)).sum::<u64>(),
        on_disk + 2
    );
    assert!(t.verify_stored(t.keys.root.public_key()).ok);
}

#[test]
fn group_commit_flushes_on_its_own_when_the_buffer_is_full() {
    let (_d, mut t) = given_a_trial();
    t.ledger
        .set_durability(tl_ledger::Durability::Grouped { max_pending: 5 })
        .unwrap();
    let lab = t.keys.lab.clone();
    let before: u64 = (0..4).map(|p| t.ledger.log().len(p)).sum();
    for i in 0..12 {
        t.note(&format!("patient:P-{i}"), &lab, vec![]);
    }
    assert_eq!(
        (0..4).map(|p| t.ledger.log().len(p)).sum::<u64>(),
        before + 10
    );
    let dir = t.dir.clone();
    drop(t); // a clean drop flushes the last two
    let t = TestTrial::open(&dir, "seq-test");
    assert_eq!(
        (0..4).map(|p| t.ledger.log().len(p)).sum::<u64>(),
        before + 12
    );
}
