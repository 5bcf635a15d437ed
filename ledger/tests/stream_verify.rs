//! Incremental verification (`StreamVerifier`) against the one-shot `verify_ledger`: the same
//! verdicts whatever order and chunks the records arrive in; a record citing what has not been
//! read yet is held, then verified once it has; a tampered record fails at the same place with
//! the same reason.

use tl_ledger::codec::decode_record;
use tl_ledger::log::read_embedded_for_verify;
use tl_ledger::reason::Refusal;
use tl_ledger::rules::{DomainRules, RuleContext};
use tl_ledger::sequencer::seal_unchecked;
use tl_ledger::stream_verify::StreamVerifier;
use tl_ledger::verify::PartitionInput;
use tl_ledger::writer::Draft;
use tl_ledger::{verify_ledger, EmbeddedLedger, Outcome, SigningKey};
use tl_schemas::events::{envelope_of, KeyEnrolled};
use tl_schemas::roles::Authority;
use tl_schemas::{Envelope, Reference, Role, Subject, SubmissionId, TrialId, UtcMicros};

const NOTE: u16 = 0xF001;

/// Notes by a lab key, citing anything.
#[derive(Clone, Copy, Default)]
struct Notes;

impl DomainRules for Notes {
    type SubjectState = ();
    fn authority(&self, t: u16) -> Option<Authority> {
        (t == NOTE).then_some(Authority::Roles(&[Role::Lab]))
    }
    fn check(&self, _: &(), _: &RuleContext<'_>) -> Result<(), Refusal> {
        Ok(())
    }
    fn apply(&self, _: &mut (), _: &RuleContext<'_>) {}
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32])
}

const T0: i64 = 1_764_000_000_000_000;

/// A ledger of 4 partitions where each note cites the previous one (so citations cross
/// partitions back and forth). Returns the trial and the stored partitions.
fn ledger() -> (TrialId, Vec<PartitionInput>) {
    let dir = tempfile::tempdir().unwrap();
    let trial = TrialId::new("stream-test").unwrap();
    let mut l = EmbeddedLedger::create(
        &dir.path().join("ledger"),
        &trial,
        4,
        "t",
        &key(1),
        key(2),
        Notes,
        UtcMicros(T0),
    )
    .unwrap();
    let mut submit = |n: u64, subject: Subject, env: Envelope, author: &SigningKey, cites| {
        let mut d = Draft::new(subject, env);
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&n.to_be_bytes());
        d.submission_id = SubmissionId(id);
        d.client_time = UtcMicros(T0 + n as i64);
        d.cites = cites;
        match l
            .submit_decoded(d.sign(&trial, author), UtcMicros(T0 + n as i64))
            .unwrap()
        {
            Outcome::Sealed(s) => Reference {
                partition: s.record.body.partition,
                seq: s.record.body.seq,
                hash: s.hash,
            },
            other => panic!("not sealed: {other:?}"),
        }
    };
    let enrol = envelope_of(&KeyEnrolled {
        public_key: key(3).public_key(),
        name: "Lab".into(),
        role: Role::Lab,
    });
    submit(1, Subject::Trial, enrol, &key(1), vec![]);
    let mut last: Option<Reference> = None;
    for i in 0..60u64 {
        let subject = Subject::parse(&format!("patient:P-{}", i % 9)).unwrap();
        let env = Envelope::new(NOTE, 1, format!("note {i}").into_bytes());
        last = Some(submit(
            10 + i,
            subject,
            env,
            &key(3),
            last.into_iter().collect(),
        ));
    }
    drop(l);
    let inputs = read_embedded_for_verify(&dir.path().join("ledger")).unwrap();
    (trial, inputs)
}

fn records(inputs: &[PartitionInput]) -> Vec<Vec<Vec<u8>>> {
    inputs.iter().map(|p| p.records.clone()).collect()
}

#[test]
fn records_arriving_in_any_order_verify_as_a_whole_ledger_does() {
    let (trial, inputs) = ledger();
    let root = key(1).public_key();
    assert!(verify_ledger(&trial, root, &inputs, Notes).ok);
    let parts = records(&inputs);
    let total: usize = parts.iter().map(Vec::len).sum();

    // All at once.
    let mut v = StreamVerifier::new(trial.clone(), root, Notes);
    let out = v.feed(
        parts
            .iter()
            .enumerate()
            .map(|(p, r)| (p as u32, 0, r.clone()))
            .collect(),
    );
    assert!(out.failure.is_none() && out.held.is_empty());
    assert_eq!(out.verified.len(), total);

    // One record of one partition per feed, the highest partition first: records whose
    // citations are not read yet are held, and every record is delivered after what it cites.
    let mut v = StreamVerifier::new(trial.clone(), root, Notes);
    let mut delivered = Vec::new();
    let mut held_seen = 0;
    for _round in 0..total * 4 {
        for p in (0..parts.len() as u32).rev() {
            let from = v.verified_len(p);
            // Offer at most the next two records: held ones are offered again.
            let chunk: Vec<_> = parts[p as usize]
                .iter()
                .skip(from as usize)
                .take(2)
                .cloned()
                .collect();
            if chunk.is_empty() {
                continue;
            }
            let out = v.feed(vec![(p, from, chunk)]);
            assert!(out.failure.is_none(), "{:?}", out.failure);
            held_seen += out.held.len();
            delivered.extend(out.verified);
        }
        if delivered.len() == total {
            break;
        }
    }
    assert_eq!(delivered.len(), total, "everything verifies in the end");
    assert!(held_seen > 0, "some records had to wait for what they cite");
    let order: std::collections::HashMap<(u32, u64), usize> = delivered
        .iter()
        .enumerate()
        .map(|(i, r)| ((r.partition, r.seq), i))
        .collect();
    for (i, r) in delivered.iter().enumerate() {
        for c in &r.record.body.submission.submission.cites {
            assert!(
                order[&(c.partition, c.seq)] < i,
                "cited record delivered after"
            );
        }
    }
}

#[test]
fn a_tampered_record_fails_where_and_why_the_whole_ledger_verifier_says() {
    let (trial, inputs) = ledger();
    let root = key(1).public_key();
    let mut parts = records(&inputs);
    let p = (1..parts.len()).max_by_key(|&p| parts[p].len()).unwrap();
    let k = parts[p].len() / 2;
    let (mut r, _) = decode_record(&parts[p][k]).unwrap();
    r.body.submission.submission.envelope.payload.push(b'!');
    parts[p][k] = seal_unchecked(&trial, r.body, &key(2));
    let whole = verify_ledger(
        &trial,
        root,
        &parts
            .iter()
            .cloned()
            .map(PartitionInput::clean)
            .collect::<Vec<_>>(),
        Notes,
    );
    let expected = whole.first_failure().cloned().expect("tampering is caught");
    let mut v = StreamVerifier::new(trial, root, Notes);
    let out = v.feed(
        parts
            .iter()
            .enumerate()
            .map(|(p, r)| (p as u32, 0, r.clone()))
            .collect(),
    );
    let f = out.failure.expect("the stream verifier fails too");
    assert_eq!(
        (f.partition, f.seq, f.reason),
        (expected.partition, expected.seq, expected.reason)
    );
    assert!(out
        .verified
        .iter()
        .all(|r| r.partition != p as u32 || r.seq < k as u64));
    assert_eq!(v.verified_len(p as u32), k as u64);
    // Stopped for good.
    assert_eq!(v.feed(vec![]).failure, Some(f));
}
