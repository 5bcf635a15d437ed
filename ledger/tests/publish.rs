//! Checkpoint publication by the embedded writer, proofs and held checkpoints:
//!
//! * every N records, every T seconds, at flush and at close, a partition that grew gets a
//!   checkpoint signed by the sequencer key, and only over durable records;
//! * reopening rebuilds the same roots, cuts a torn checkpoint, and refuses a ledger that no
//!   longer extends what it published;
//! * inclusion and consistency proof files round-trip through `check_proof`, tampered ones
//!   fail; held checkpoints catch truncation and rewritten history.

use std::path::Path;
use std::time::Duration;
use tl_ledger::audit::{self, Against, KeyPin, ProofFailure, ProofFile, Prover};
use tl_ledger::checkpoint::{partition_origin, SignedCheckpoint};
use tl_ledger::embedded::{EmbeddedLog, StoreOptions};
use tl_ledger::log::read_embedded_for_verify;
use tl_ledger::merkle::{root_of, MerkleTree};
use tl_ledger::publish::{self, sequencer_key_name, PublishPolicy};
use tl_ledger::reason::Refusal;
use tl_ledger::rules::{DomainRules, RuleContext};
use tl_ledger::trust::TrustFile;
use tl_ledger::writer::Draft;
use tl_ledger::{Durability, EmbeddedLedger, Error, Outcome, SigningKey};
use tl_schemas::events::{envelope_of, KeyEnrolled};
use tl_schemas::roles::Authority;
use tl_schemas::{Envelope, Hash32, Role, Subject, SubmissionId, TrialId, UtcMicros};

const NOTE: u16 = 0xF001;

/// Notes by a lab key about anyone but the trial.
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

struct Trial {
    dir: tempfile::TempDir,
    trial: TrialId,
    ledger: Option<EmbeddedLedger<Notes>>,
    counter: u64,
}

const T0: i64 = 1_764_000_000_000_000;

impl Trial {
    /// A trial with 4 partitions, its sequencer key (seed 2) and a lab key (seed 3).
    fn new(policy: PublishPolicy) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let trial = TrialId::new("pub-test").unwrap();
        let mut ledger = EmbeddedLedger::create(
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
        ledger.set_publish_policy(policy);
        TrustFile::new(&trial, key(1).public_key(), 4)
            .write(&dir.path().join("trust.json"))
            .unwrap();
        let mut t = Trial {
            dir,
            trial,
            ledger: Some(ledger),
            counter: 0,
        };
        let enrol = envelope_of(&KeyEnrolled {
            public_key: key(3).public_key(),
            name: "Lab".into(),
            role: Role::Lab,
        });
        t.submit(Subject::Trial, enrol, &key(1));
        t
    }

    fn ledger(&mut self) -> &mut EmbeddedLedger<Notes> {
        self.ledger.as_mut().unwrap()
    }

    fn ledger_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("ledger")
    }

    fn submit(&mut self, subject: Subject, env: Envelope, author: &SigningKey) -> (u32, u64) {
        self.counter += 1;
        let mut d = Draft::new(subject, env);
        d.submission_id = SubmissionId([self.counter as u8; 16]);
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.counter.to_be_bytes());
        d.submission_id = SubmissionId(id);
        d.client_time = UtcMicros(T0 + self.counter as i64);
        let s = d.sign(&self.trial.clone(), author);
        let now = UtcMicros(T0 + self.counter as i64);
        match self.ledger().submit_decoded(s, now).unwrap() {
            Outcome::Sealed(s) => (s.record.body.partition, s.record.body.seq),
            other => panic!("not sealed: {other:?}"),
        }
    }

    /// A note about `patient:P-<i>`.
    fn note(&mut self, i: u32) -> (u32, u64) {
        let env = Envelope::new(NOTE, 1, format!("note {i}").into_bytes());
        self.submit(
            Subject::parse(&format!("patient:P-{i}")).unwrap(),
            env,
            &key(3),
        )
    }

    /// A patient number whose subject lands in partition `p`.
    fn patient_in(&self, p: u32) -> u32 {
        (0..)
            .find(|i| {
                let s = Subject::parse(&format!("patient:P-{i}")).unwrap();
                tl_schemas::partition_of(&self.trial, &s, 4) == p
            })
            .unwrap()
    }

    fn published(&self, p: u32) -> Vec<SignedCheckpoint> {
        publish::read_published(&self.ledger_dir(), p).unwrap()
    }

    fn hashes(&self, p: u32) -> Vec<Hash32> {
        let inputs = read_embedded_for_verify(&self.ledger_dir()).unwrap();
        audit::leaf_hashes(&inputs[p as usize].records)
    }

    fn reopen(&mut self) -> Result<(), Error> {
        drop(self.ledger.take());
        let trust = TrustFile::read(&self.dir.path().join("trust.json")).unwrap();
        let (l, _) = EmbeddedLedger::open(&self.ledger_dir(), &trust, Notes, key(2))?;
        self.ledger = Some(l);
        Ok(())
    }

    /// Replaces a partition's records behind the writer's back (the writer must be closed).
    fn rewrite(&mut self, p: u32, f: impl FnOnce(&mut Vec<Vec<u8>>)) {
        assert!(self.ledger.is_none());
        let (mut log, _) =
            EmbeddedLog::open_writer(&self.ledger_dir(), StoreOptions::default()).unwrap();
        let mut recs = log.read(p, 0, usize::MAX).unwrap();
        f(&mut recs);
        log.rewrite_partition(p, &recs).unwrap();
    }
}

/// Every published checkpoint of `p` verifies under the sequencer key, names the partition,
/// and has the root of the records it covers; the sizes grow.
fn check_published(t: &Trial, p: u32) -> Vec<u64> {
    let hashes = t.hashes(p);
    let mut sizes = Vec::new();
    for note in t.published(p) {
        let c = note
            .verify(&sequencer_key_name(&t.trial), &key(2).public_key())
            .unwrap();
        assert_eq!(c.origin, partition_origin(&t.trial, p));
        assert!(c.size as usize <= hashes.len());
        assert_eq!(c.root, root_of(&hashes[..c.size as usize]));
        sizes.push(c.size);
    }
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
    sizes
}

fn hours() -> Duration {
    Duration::from_secs(3600)
}

#[test]
fn every_n_records_then_close_publish_checkpoints() {
    let mut t = Trial::new(PublishPolicy {
        every_records: 5,
        every: hours(),
    });
    let i = t.patient_in(1);
    for _ in 0..12 {
        t.note(i);
    }
    assert_eq!(check_published(&t, 1), vec![5, 10]);
    // Partition 0 (3 records) has not reached N yet.
    assert!(t.published(0).is_empty());
    t.ledger.take().unwrap().close().unwrap();
    assert_eq!(check_published(&t, 1), vec![5, 10, 12]);
    assert_eq!(check_published(&t, 0), vec![3]);
    // Partitions that never grew get no checkpoint.
    assert!(t.published(2).is_empty());
    // A drop publishes as close does; a reopen and drop with nothing new publishes nothing.
    t.reopen().unwrap();
    t.note(i);
    t.reopen().unwrap();
    assert_eq!(check_published(&t, 1), vec![5, 10, 12, 13]);
    drop(t.ledger.take());
    assert_eq!(check_published(&t, 1), vec![5, 10, 12, 13]);
}

#[test]
fn every_t_seconds_is_checked_on_each_submit() {
    let mut t = Trial::new(PublishPolicy {
        every_records: 1_000,
        every: Duration::ZERO,
    });
    let i = t.patient_in(2);
    t.note(i);
    t.note(i);
    assert_eq!(check_published(&t, 2), vec![1, 2]);
    // The bootstrap and enrolment were covered by the first round.
    assert_eq!(check_published(&t, 0), vec![3]);
    let mut t = Trial::new(PublishPolicy {
        every_records: 1_000,
        every: Duration::from_millis(300),
    });
    t.note(i);
    assert!(t.published(2).is_empty());
    std::thread::sleep(Duration::from_millis(350));
    t.note(i);
    assert_eq!(check_published(&t, 2), vec![2]);
}

#[test]
fn checkpoints_only_cover_durable_records() {
    let mut t = Trial::new(PublishPolicy {
        every_records: 1,
        every: Duration::ZERO,
    });
    t.ledger()
        .set_durability(Durability::Grouped { max_pending: 7 })
        .unwrap();
    let i = t.patient_in(3);
    for n in 0..20 {
        t.note(i);
        let on_disk = t.ledger().log().len(3);
        let (size, _) = t.ledger().durable_root(3);
        assert_eq!(size, on_disk, "after note {n}");
        for p in 0..4 {
            assert_eq!(t.ledger().durable_root(p).0, t.ledger().log().len(p));
        }
        for note in t.published(3) {
            assert!(note.unverified().size <= on_disk, "after note {n}");
        }
    }
    // 20 records with a flush every 7: 14 on disk, and a checkpoint covers them all.
    assert_eq!(t.ledger().log().len(3), 14);
    assert_eq!(check_published(&t, 3), vec![7, 14]);
    t.ledger().flush().unwrap();
    assert_eq!(check_published(&t, 3), vec![7, 14, 20]);
    // An automatic flush moves every partition it wrote, not just the submitted one's.
    let (a, b) = (t.patient_in(1), t.patient_in(2));
    for n in 0..10 {
        t.note(if n % 2 == 0 { a } else { b });
        for p in 0..4 {
            let on_disk = t.ledger().log().len(p);
            assert_eq!(
                t.ledger().durable_root(p).0,
                on_disk,
                "p {p} after note {n}"
            );
            for note in t.published(p) {
                assert!(note.unverified().size <= on_disk);
            }
        }
    }
    for p in 0..4 {
        check_published(&t, p);
    }
}

#[test]
fn reopening_rebuilds_the_same_roots() {
    let mut t = Trial::new(PublishPolicy::default());
    for i in 0..40 {
        t.note(i);
    }
    let before: Vec<_> = (0..4).map(|p| t.ledger().durable_root(p)).collect();
    let notes = t.ledger().publish_now().unwrap();
    assert_eq!(notes.len(), 4);
    t.reopen().unwrap();
    let after: Vec<_> = (0..4).map(|p| t.ledger().durable_root(p)).collect();
    assert_eq!(before, after);
    for (p, note) in &notes {
        assert_eq!(t.ledger().last_checkpoint(*p), Some(note.as_str()));
        let c = SignedCheckpoint::parse(note).unwrap();
        assert_eq!(c.unverified().root, after[*p as usize].1);
    }
    // Nothing grew: `publish_now` returns the same checkpoints and stores nothing new.
    let files: Vec<_> = (0..4).map(|p| t.published(p).len()).collect();
    assert_eq!(t.ledger().publish_now().unwrap(), notes);
    assert_eq!(
        (0..4).map(|p| t.published(p).len()).collect::<Vec<_>>(),
        files
    );
    t.note(0);
    t.reopen().unwrap();
    for p in 0..4 {
        check_published(&t, p);
    }
}

#[test]
fn a_torn_checkpoint_is_cut_on_open() {
    let mut t = Trial::new(PublishPolicy::default());
    t.note(0);
    drop(t.ledger.take());
    let path = publish::checkpoint_path(&t.ledger_dir(), 0);
    let good = std::fs::read_to_string(&path).unwrap();
    // Readers ignore a torn entry; the writer cuts it. Also one cut inside the em dash of its
    // signature line (not valid UTF-8).
    let dash = good.find('—').unwrap() + 1;
    for torn in [
        format!("{good}trial-ledger/pub-test/0\n9\nAAAA").into_bytes(),
        [good.as_bytes(), &good.as_bytes()[..dash]].concat(),
    ] {
        std::fs::write(&path, &torn).unwrap();
        assert_eq!(t.published(0).len(), 1);
        t.reopen().unwrap();
        drop(t.ledger.take());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), good);
    }
    t.reopen().unwrap();
    // A damaged complete entry is an error, not cut.
    drop(t.ledger.take());
    std::fs::write(&path, format!("{good}garbage\n\nmore\n\n")).unwrap();
    assert!(matches!(t.reopen(), Err(Error::Checkpoint { .. })));
}

#[test]
fn the_writer_refuses_a_ledger_that_no_longer_extends_its_checkpoints() {
    let mut t = Trial::new(PublishPolicy::default());
    let i = t.patient_in(1);
    for _ in 0..6 {
        t.note(i);
    }
    drop(t.ledger.take());
    // Truncated by two records.
    let saved = t.hashes(1);
    t.rewrite(1, |r| r.truncate(4));
    let Err(e) = t.reopen() else {
        panic!("must refuse")
    };
    assert!(e.to_string().contains("truncated"), "{e}");
    assert_eq!(t.hashes(1).len(), 4, "nothing was written");
    // Another history of the same length, valid in itself: written by the sequencer after
    // the checkpoint file was moved away; then the file is put back.
    let path = publish::checkpoint_path(&t.ledger_dir(), 1);
    let old = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    t.reopen().unwrap();
    t.note(i);
    t.note(i);
    drop(t.ledger.take());
    assert_eq!(t.hashes(1).len(), saved.len());
    assert_ne!(t.hashes(1), saved);
    std::fs::write(&path, old).unwrap();
    let Err(e) = t.reopen() else {
        panic!("must refuse")
    };
    assert!(e.to_string().contains("history was rewritten"), "{e}");
}

fn prover_parts(
    t: &Trial,
    p: u32,
) -> (MerkleTree, Vec<SignedCheckpoint>, Vec<audit::SequencerKey>) {
    let inputs = read_embedded_for_verify(&t.ledger_dir()).unwrap();
    let tree = MerkleTree::from_leaves(audit::leaf_hashes(&inputs[p as usize].records));
    let keys = audit::sequencer_keys(&t.trial, &inputs[0].records);
    (tree, t.published(p), keys)
}

#[test]
fn proofs_round_trip_and_tampering_fails() {
    let mut t = Trial::new(PublishPolicy::default());
    let i = t.patient_in(1);
    for _ in 0..5 {
        t.note(i);
    }
    t.ledger().publish_now().unwrap();
    for _ in 0..3 {
        t.note(i);
    }
    let (tree, published, keys) = prover_parts(&t, 1);
    assert_eq!(keys.len(), 1, "the one sequencer key, enrolled at 0/1");
    assert_eq!(keys[0].enrolment.seq, 1);
    let prover = Prover {
        trial: &t.trial,
        partition: 1,
        tree: &tree,
        published: &published,
        keys: &keys,
    };
    let root_pin = KeyPin::Root {
        trial: t.trial.clone(),
        root: key(1).public_key(),
    };
    // Against the published checkpoint of 5.
    let proof = prover.inclusion(2, None).unwrap();
    assert_eq!((proof.against, proof.tree_size), (Against::Checkpoint, 5));
    let file = ProofFile::Inclusion(proof.clone());
    let json = serde_json::to_string_pretty(&file).unwrap();
    let parsed = audit::parse_proof(&json).unwrap();
    assert_eq!(parsed, file);
    for pin in [
        root_pin.clone(),
        KeyPin::Sequencer(key(2).public_key()),
        KeyPin::Unpinned,
    ] {
        let c = audit::check_proof(&parsed, &pin).unwrap();
        assert_eq!(c.unpinned, matches!(pin, KeyPin::Unpinned));
        assert!(!c.unsigned);
    }
    // A record past the checkpoint: against the unsigned current root.
    let fresh = prover.inclusion(6, None).unwrap();
    assert_eq!((fresh.against, fresh.tree_size), (Against::UnsignedRoot, 8));
    assert!(fresh.checkpoint.is_none());
    let c = audit::check_proof(&ProofFile::Inclusion(fresh), &root_pin).unwrap();
    assert!(c.unsigned);
    // An explicit size.
    let at7 = prover.inclusion(6, Some(7)).unwrap();
    assert_eq!((at7.against, at7.tree_size), (Against::UnsignedRoot, 7));
    assert!(prover.inclusion(8, None).is_err());
    assert!(prover.inclusion(3, Some(3)).is_err());
    assert!(prover.inclusion(3, Some(9)).is_err());

    // Tampering: another index, another leaf, a path hash, the root with the checkpoint's
    // root left alone, the wrong pinned key, a key the root did not enrol.
    let fails = |p: audit::InclusionProofFile, pin: &KeyPin| match audit::check_proof(
        &ProofFile::Inclusion(p),
        pin,
    ) {
        Err(ProofFailure::Failed(m)) => m,
        other => panic!("expected a failure, got {other:?}"),
    };
    let mut p = proof.clone();
    p.seq = 3;
    assert!(fails(p, &root_pin).contains("inclusion of record 1/3"));
    let mut p = proof.clone();
    p.record_hash.0[0] ^= 1;
    fails(p, &root_pin);
    let mut p = proof.clone();
    p.path[0].0[5] ^= 1;
    fails(p, &root_pin);
    let mut p = proof.clone();
    p.root = tree.root_at(4).unwrap();
    p.path = tree.inclusion_proof(2, 4).unwrap().path;
    p.tree_size = 4;
    assert!(fails(p, &root_pin).contains("the checkpoint says size 5"));
    assert!(fails(proof.clone(), &KeyPin::Sequencer(key(3).public_key())).contains("no signature"));
    let other_root = KeyPin::Root {
        trial: t.trial.clone(),
        root: key(9).public_key(),
    };
    assert!(fails(proof.clone(), &other_root).contains("not signed by the pinned root"));
    let mut p = proof.clone();
    p.sequencer_keys[0].enrolment.record[40] ^= 1;
    fails(p, &root_pin);

    // Consistency, from the checkpoint of 5 to the current 8, and in the wrong order.
    let c = prover.consistency(5, 8).unwrap();
    assert!(c.first_checkpoint.is_some() && c.second_checkpoint.is_none());
    let file = ProofFile::Consistency(c.clone());
    let parsed = audit::parse_proof(&serde_json::to_string(&file).unwrap()).unwrap();
    audit::check_proof(&parsed, &root_pin).unwrap();
    let mut bad = c.clone();
    bad.second_root.0[0] ^= 1;
    assert!(matches!(
        audit::check_proof(&ProofFile::Consistency(bad), &root_pin),
        Err(ProofFailure::Failed(_))
    ));
    assert!(prover.consistency(6, 5).is_err());
    assert!(prover.consistency(5, 9).is_err());
    audit::check_proof(
        &ProofFile::Consistency(prover.consistency(0, 8).unwrap()),
        &root_pin,
    )
    .unwrap();

    // Unknown fields and formats are malformed, not failures.
    let extra = json.replacen("\"format\"", "\"colour\": 1, \"format\"", 1);
    assert!(matches!(
        audit::parse_proof(&extra),
        Err(ProofFailure::Malformed(_))
    ));
    let v2 = json.replacen("trial-ledger-proof/v1", "trial-ledger-proof/v2", 1);
    assert!(matches!(
        audit::parse_proof(&v2),
        Err(ProofFailure::Malformed(_))
    ));
}

fn held_results(t: &Trial, held: &[SignedCheckpoint]) -> Vec<audit::HeldCheck> {
    let inputs = read_embedded_for_verify(&t.ledger_dir()).unwrap();
    let leaves: Vec<Vec<Hash32>> = inputs
        .iter()
        .map(|i| audit::leaf_hashes(&i.records))
        .collect();
    let keys = audit::sequencer_keys(&t.trial, &inputs[0].records);
    audit::check_held(&t.trial, &leaves, &keys, held)
}

#[test]
fn held_checkpoints_catch_truncation_and_rewritten_history() {
    let mut t = Trial::new(PublishPolicy::default());
    let i = t.patient_in(1);
    for _ in 0..6 {
        t.note(i);
    }
    let held: Vec<SignedCheckpoint> = t
        .ledger()
        .publish_now()
        .unwrap()
        .iter()
        .map(|(_, n)| SignedCheckpoint::parse(n).unwrap())
        .collect();
    assert_eq!(held.len(), 2);
    t.note(i);
    drop(t.ledger.take());
    assert!(held_results(&t, &held).iter().all(|c| c.ok));

    // Truncated to 5 records, below the held 6.
    let records = t.hashes(1);
    t.rewrite(1, |r| r.truncate(5));
    let r = held_results(&t, &held);
    let bad = r.iter().find(|c| !c.ok).expect("truncation caught");
    assert_eq!(bad.partition, Some(1));
    assert!(bad.detail.contains("truncated"), "{}", bad.detail);
    assert!(r.iter().any(|c| c.ok && c.partition == Some(0)));

    // Another history of the same length.
    t.rewrite(1, |r| {
        let last = r[4].clone();
        r.push(last.clone());
        r.push(last);
    });
    assert_eq!(t.hashes(1).len(), records.len());
    let r = held_results(&t, &held);
    let bad = r.iter().find(|c| !c.ok).expect("rewrite caught");
    assert!(
        bad.detail.contains("history was rewritten"),
        "{}",
        bad.detail
    );

    // A checkpoint by another key, or of another trial, is not accepted.
    let other = tl_ledger::checkpoint::Checkpoint::for_partition(&t.trial, 1, 1, records[0])
        .sign(&sequencer_key_name(&t.trial), &key(7))
        .unwrap();
    let foreign = tl_ledger::checkpoint::Checkpoint::for_partition(
        &TrialId::new("other").unwrap(),
        1,
        1,
        records[0],
    )
    .sign(&sequencer_key_name(&t.trial), &key(2))
    .unwrap();
    let r = held_results(
        &t,
        &[
            SignedCheckpoint::parse(&other).unwrap(),
            SignedCheckpoint::parse(&foreign).unwrap(),
        ],
    );
    assert!(
        r[0].detail.contains("not signed by any sequencer key"),
        "{}",
        r[0].detail
    );
    assert!(
        r[1].detail.contains("not of a partition of trial"),
        "{}",
        r[1].detail
    );
}

#[test]
fn a_new_ledger_refuses_a_folder_with_old_checkpoints() {
    let t = Trial::new(PublishPolicy::default());
    let dir = t.dir.path().join("fresh");
    std::fs::create_dir_all(dir.join("checkpoints")).unwrap();
    std::fs::write(dir.join("checkpoints/p00000.ckpt"), "x").unwrap();
    let r = EmbeddedLedger::create(
        &dir,
        &t.trial,
        4,
        "t",
        &key(1),
        key(2),
        Notes,
        UtcMicros(T0),
    );
    assert!(matches!(r, Err(Error::Checkpoint { .. })));
    assert!(!Path::new(&dir.join("meta.json")).exists());
}
