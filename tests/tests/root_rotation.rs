//! Root-key rotation, given/when/then: the old root authors `RootKeyRotated`, the new root
//! co-signs it; from the next registry position only the new root is root, and verifiers
//! follow the rotation from the pinned first root.

use tl_ledger::registry::root_rotation_message;
use tl_ledger::SigningKey;
use tl_schemas::events::{envelope_of, KeyEnrolled, RootKeyRotated};
use tl_schemas::{Envelope, Role, Sig64, Subject};
use tl_tests::*;

fn given_a_trial() -> (tempfile::TempDir, TestTrial) {
    tl_tests::given_a_trial("rotation-test")
}

/// The rotation from `old` to `new`, co-signed by `cosigner`.
fn rotation(t: &TestTrial, old: &SigningKey, new: [u8; 32], cosigner: &SigningKey) -> Envelope {
    let msg = root_rotation_message(&t.trial, &old.public_key(), &new);
    envelope_of(&RootKeyRotated {
        new_root_public_key: new,
        cosignature: cosigner.sign(&msg),
    })
}

fn enrolment(k: &SigningKey, name: &str) -> Envelope {
    envelope_of(&KeyEnrolled {
        public_key: k.public_key(),
        name: name.into(),
        role: Role::Lab,
    })
}

#[test]
fn the_new_root_enrols_and_the_old_root_no_longer_can() {
    let (_d, mut t) = given_a_trial();
    let old = t.keys.root.clone();
    let new = key(8);
    // When the old root rotates to a new key that co-signs,
    let env = rotation(&t, &old, new.public_key(), &new);
    t.expect_sealed(Subject::Trial, env, &old, vec![]);
    assert_eq!(
        t.ledger
            .state()
            .registry()
            .root_at(t.ledger.state().registry().position()),
        new.public_key()
    );
    // then the new root enrols a key, and that key authors,
    let env = enrolment(&key(9), "Lab Nine");
    t.expect_sealed(Subject::Trial, env, &new, vec![]);
    t.note("patient:P-1", &key(9), vec![]);
    // while the old root's later enrolment is refused.
    let env = enrolment(&key(10), "Lab Ten");
    let s = t.draft(Subject::Trial, env, &old, vec![]);
    let (code, detail) = refused(t.submit(s));
    assert_eq!(code, "unknown-key");
    assert!(detail.contains("rotated out"), "{detail}");
    // The whole ledger verifies against the pinned first root.
    let report = t.verify_stored(old.public_key());
    assert!(report.ok, "{:?}", report.failures);
}

#[test]
fn a_bad_cosignature_is_refused() {
    let (_d, mut t) = given_a_trial();
    let old = t.keys.root.clone();
    let new = key(8);
    let before = t.records();
    // Signed by a third key,
    let env = rotation(&t, &old, new.public_key(), &t.keys.outsider.clone());
    let s = t.draft(Subject::Trial, env, &old, vec![]);
    let (code, detail) = refused(t.submit(s));
    assert_eq!(code, "registry-rule");
    assert!(detail.contains("co-signature"), "{detail}");
    // or by the new key over another old root: refused, nothing recorded.
    let env = rotation(&t, &t.keys.outsider.clone(), new.public_key(), &new);
    let s = t.draft(Subject::Trial, env, &old, vec![]);
    assert_eq!(refused(t.submit(s)).0, "registry-rule");
    assert_eq!(t.records(), before);
}

#[test]
fn unfit_new_root_keys_are_refused() {
    let (_d, mut t) = given_a_trial();
    let old = t.keys.root.clone();
    // A small-order point (the identity) cannot be a root.
    let mut small = [0u8; 32];
    small[0] = 1;
    let env = envelope_of(&RootKeyRotated {
        new_root_public_key: small,
        cosignature: Sig64([0u8; 64]),
    });
    let s = t.draft(Subject::Trial, env, &old, vec![]);
    let (code, detail) = refused(t.submit(s));
    assert_eq!(code, "registry-rule");
    assert!(detail.contains("cannot be the new root"), "{detail}");
    // Nor can an enrolled key, nor the root in force.
    let lab = t.keys.lab.clone();
    let env = rotation(&t, &old, lab.public_key(), &lab);
    let s = t.draft(Subject::Trial, env, &old, vec![]);
    assert_eq!(refused(t.submit(s)).0, "registry-rule");
    let env = rotation(&t, &old, old.public_key(), &old);
    let s = t.draft(Subject::Trial, env, &old, vec![]);
    assert_eq!(refused(t.submit(s)).0, "registry-rule");
}

#[test]
fn only_the_root_may_rotate() {
    let (_d, mut t) = given_a_trial();
    let admin = t.keys.admin.clone();
    let new = key(8);
    let msg = root_rotation_message(&t.trial, &t.keys.root.public_key(), &new.public_key());
    let env = envelope_of(&RootKeyRotated {
        new_root_public_key: new.public_key(),
        cosignature: new.sign(&msg),
    });
    let s = t.draft(Subject::Trial, env, &admin, vec![]);
    assert_eq!(refused(t.submit(s)).0, "role-not-permitted");
}

#[test]
fn a_forged_rotation_sealed_by_a_compromised_sequencer_fails_verification() {
    let (_d, mut t) = given_a_trial();
    let old = t.keys.root.clone();
    let attacker = key(8);
    // Given a rotation co-signed by a third key, sealed in without validation,
    let env = rotation(&t, &old, attacker.public_key(), &t.keys.outsider.clone());
    let s = t.draft(Subject::Trial, env, &old, vec![]);
    let sequencer = t.keys.sequencer.clone();
    let (p, seq) = t.append_forged(s, &sequencer, |_| {});
    // then verification against the pinned root stops there with registry-rule.
    let report = t.verify_stored(old.public_key());
    assert!(!report.ok);
    let f = report.first_failure().unwrap();
    assert_eq!(
        (f.partition, f.seq, f.reason),
        (p, seq, "registry-rule"),
        "{f}"
    );
}
