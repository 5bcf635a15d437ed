//! The multi-core pipeline behind the submit handle gives the answers and the record bytes of
//! the ledger's own one-at-a-time `submit`, on bad input too.
//!
//! Given two identical trials, the same submissions at the same times go one at a time into
//! the first (`EmbeddedLedger::submit`) and as one batch through the handle into the second:
//! every answer (receipt, duplicate, refusal with its reason and detail) and every stored byte
//! must be equal. The batch mixes what the pipeline's stages could get wrong: submissions that
//! do not decode, bad and unknown signatures (verified in a batch), keys enrolled or revoked
//! by an earlier submission of the same batch (their verdicts cannot come from the batch
//! check), cites of records sealed in the same batch, and duplicates of records of the same
//! batch, whose receipts must carry the real seal.

use std::sync::{Arc, Mutex};
use tl_ledger::submit::{spawn, HandleConfig};
use tl_ledger::writer::Draft;
use tl_ledger::{Outcome, SigningKey, Submitted};
use tl_schemas::events::{envelope_of, KeyEnrolled, KeyRevoked};
use tl_schemas::{
    encode, Envelope, Reference, Role, Sig64, SignedSubmission, Subject, TrialId, UtcMicros,
};
use tl_tests::*;

/// The ordering time given to the `i`-th submission of the batch (from 0).
fn time_of(i: usize) -> UtcMicros {
    UtcMicros(1_765_000_000_000_000 + (i as i64 + 1) * 1_000)
}

fn note_env(text: &str) -> Envelope {
    Envelope::new(NOTE, 1, text.as_bytes().to_vec())
}

fn answer(o: Outcome) -> Submitted {
    match o {
        Outcome::Sealed(s) => Submitted::Recorded(s.receipt()),
        Outcome::Duplicate(r) => Submitted::Duplicate(r),
        Outcome::Refused(r) => Submitted::Refused(r),
    }
}

/// Builds the batch on `t`, submitting each submission to `t` one at a time as it goes
/// (later cases cite the records earlier ones made). Returns the bytes and `t`'s answers.
fn build_and_submit_serially(t: &mut TestTrial) -> (Vec<Vec<u8>>, Vec<Submitted>) {
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let mut answers: Vec<Submitted> = Vec::new();
    let mut push = |t: &mut TestTrial, bytes: Vec<u8>| {
        let i = batch.len();
        let o = t.ledger.submit(&bytes, time_of(i)).expect("serial submit");
        batch.push(bytes);
        answers.push(answer(o));
        answers.last().cloned().unwrap()
    };
    let (lab, inv, root) = (
        t.keys.lab.clone(),
        t.keys.investigator.clone(),
        t.keys.root.clone(),
    );
    let p1 = Subject::parse("patient:P-1").unwrap();
    let p2 = Subject::parse("patient:P-2").unwrap();

    // Not a submission at all; a valid one with a trailing byte (not canonical).
    push(t, vec![1, 2, 3]);
    let mut trailing = encode(&t.draft(p1.clone(), note_env("trailing"), &lab, vec![]));
    trailing.push(0);
    push(t, trailing);
    // A good note, then the same bytes again (a duplicate of a record of this batch).
    let first = t.draft(p1.clone(), note_env("first"), &lab, vec![]);
    let first_ref = match push(t, encode(&first)) {
        Submitted::Recorded(r) => Reference {
            partition: r.partition,
            seq: r.seq,
            hash: tl_schemas::Hash32::from_hex(&r.record_hash).unwrap(),
        },
        other => panic!("the first note was not recorded: {other:?}"),
    };
    push(t, encode(&first));
    // Its submission id with other content.
    let mut conflict = first.submission.clone();
    conflict.envelope = note_env("other content");
    push(t, encode(&resign(conflict, &lab)));
    // A bad signature; an unknown key; another trial; a revoked key; a role not permitted.
    let mut bad = t.draft(p1.clone(), note_env("bad sig"), &lab, vec![]);
    bad.signature.0[10] ^= 1;
    push(t, encode(&bad));
    let outsider = t.keys.outsider.clone();
    let s = t.draft(p1.clone(), note_env("outsider"), &outsider, vec![]);
    push(t, encode(&s));
    let mut other_trial = Draft::new(p1.clone(), note_env("elsewhere"));
    other_trial.submission_id = tl_schemas::SubmissionId([0xEE; 16]);
    other_trial.client_time = time_of(0);
    push(
        t,
        encode(&other_trial.sign(&TrialId::new("other-trial").unwrap(), &lab)),
    );
    let revoked = t.keys.revoked.clone();
    let s = t.draft(p1.clone(), note_env("revoked"), &revoked, vec![]);
    push(t, encode(&s));
    let s = t.draft(p1.clone(), Envelope::new(CLOSE, 1, vec![]), &lab, vec![]);
    push(t, encode(&s));
    // Cites: missing, wrong hash, and right (a record of this batch).
    let missing = Reference {
        seq: 9_999,
        ..first_ref
    };
    let s = t.draft(p2.clone(), note_env("cites missing"), &inv, vec![missing]);
    push(t, encode(&s));
    let wrong = Reference {
        hash: tl_schemas::Hash32([7; 32]),
        ..first_ref
    };
    let s = t.draft(p2.clone(), note_env("cites wrong"), &inv, vec![wrong]);
    push(t, encode(&s));
    let s = t.draft(p2.clone(), note_env("cites first"), &inv, vec![first_ref]);
    push(t, encode(&s));
    // A key enrolled in this batch signs right away; a key revoked in it no longer can.
    let newcomer = key(9);
    let enrol = envelope_of(&KeyEnrolled {
        public_key: newcomer.public_key(),
        name: "Lab N".into(),
        role: Role::Lab,
    });
    let s = t.draft(Subject::Trial, enrol, &root, vec![]);
    push(t, encode(&s));
    let s = t.draft(p1.clone(), note_env("newcomer"), &newcomer, vec![]);
    push(t, encode(&s));
    let mut bad_newcomer = t.draft(p1.clone(), note_env("newcomer bad"), &newcomer, vec![]);
    bad_newcomer.signature = Sig64([0; 64]);
    push(t, encode(&bad_newcomer));
    let revoke = envelope_of(&KeyRevoked {
        key: lab.key_id(),
        reason: "left".into(),
    });
    let s = t.draft(Subject::Trial, revoke, &root, vec![]);
    push(t, encode(&s));
    let s = t.draft(p1.clone(), note_env("lab after revocation"), &lab, vec![]);
    push(t, encode(&s));
    // Relies on a registry position the ledger has not reached.
    let mut ahead = Draft::new(p2.clone(), note_env("ahead"));
    ahead.min_registry_seq = 10_000;
    ahead.submission_id = tl_schemas::SubmissionId([0xAB; 16]);
    ahead.client_time = time_of(0);
    push(t, encode(&ahead.sign(&t.trial.clone(), &inv)));
    // Domain rules: Close, then nothing may follow.
    let s = t.draft(p2.clone(), Envelope::new(CLOSE, 1, vec![]), &inv, vec![]);
    push(t, encode(&s));
    let s = t.draft(p2.clone(), note_env("after close"), &inv, vec![]);
    push(t, encode(&s));
    // A duplicate of a record stored before the batch (the admin key's enrolment).
    let stored = decode(&t.ledger.read(0, 2, 1).unwrap()[0]);
    push(t, encode(&stored.body.submission));
    (batch, answers)
}

fn resign(submission: tl_schemas::Submission, key: &SigningKey) -> SignedSubmission {
    let signature = key.sign(&submission.signing_message());
    SignedSubmission {
        submission,
        signature,
    }
}

#[test]
fn bad_input_gets_the_same_answers_and_bytes_through_the_pipeline() {
    // Given two identical trials,
    let (_da, mut serial) = given_a_trial("pipeline-test");
    let (_db, parallel) = given_a_trial("pipeline-test");
    assert_eq!(serial.records(), parallel.records());
    // when a batch of good and bad submissions goes one at a time into the first,
    let (batch, expected) = build_and_submit_serially(&mut serial);
    serial.ledger.flush().unwrap();
    // and as one batch through the handle into the second, at the same times,
    let TestTrial { ledger, .. } = parallel;
    let next = Arc::new(Mutex::new(0usize));
    let clock = {
        let next = next.clone();
        move || {
            let mut i = next.lock().unwrap();
            *i += 1;
            time_of(*i - 1)
        }
    };
    let (handle, thread) = spawn(ledger, clock, HandleConfig::default()).unwrap();
    let got: Vec<Submitted> = handle
        .submit_many_blocking(batch.clone())
        .unwrap()
        .into_iter()
        .map(|a| a.expect("no submission fails the sequencer"))
        .collect();
    let parallel_ledger = thread.stop().unwrap();
    // then every answer is the same, refusals with the same reason and detail,
    for (i, (want, got)) in expected.iter().zip(&got).enumerate() {
        assert_eq!(want, got, "submission {i} of the batch");
    }
    assert_eq!(expected.len(), got.len());
    // the batch held every kind of answer it is meant to test,
    let refusals: std::collections::BTreeSet<String> = got
        .iter()
        .filter_map(|a| match a {
            Submitted::Refused(r) => Some(r.reason.code().to_string()),
            _ => None,
        })
        .collect();
    assert!(refusals.len() >= 10, "refusal reasons: {refusals:?}");
    let recorded = got
        .iter()
        .filter(|a| matches!(a, Submitted::Recorded(_)))
        .count();
    assert!(recorded >= 6, "{recorded} recorded");
    // a duplicate of a record of the same batch carries that record's real seal,
    let (Submitted::Recorded(first), Submitted::Duplicate(again)) = (&got[2], &got[3]) else {
        panic!("submissions 2 and 3: {:?} {:?}", got[2], got[3]);
    };
    assert_eq!(first, again);
    assert_ne!(again.seal, "0".repeat(128));
    // and the stored records are byte for byte the same, and verify.
    let read = |l: &tl_ledger::EmbeddedLedger<ExampleRules>| {
        (0..l.log().partition_count())
            .map(|p| l.log().read(p, 0, usize::MAX).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(read(&serial.ledger), read(&parallel_ledger));
    parallel_ledger.close().unwrap();
    let report = serial.verify_stored(serial.keys.root.public_key());
    assert!(report.ok, "{:?}", report.failures);
}
