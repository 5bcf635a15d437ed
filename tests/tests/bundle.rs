//! The tamper matrix on offline audit bundles (`tl_ledger::bundle`, `schemas/BUNDLE.md`): an
//! intact bundle of a patient, a cohort or the whole ledger verifies without the ledger, and
//! every damage the audit issue lists is caught with its item and reason; a malformed bundle
//! is an error, never a panic.

use tl_ledger::bundle::{
    self, decode_bundle, encode_bundle, verify_bundle, Bundle, BundleError, BundleReport, Coverage,
    ExportSource, HeldStatus, Pinned, Scope,
};
use tl_ledger::checkpoint::{Checkpoint, SignedCheckpoint};
use tl_ledger::merkle::root_of;
use tl_ledger::publish::{read_published, sequencer_key_name};
use tl_schemas::{partition_of, Hash32, Subject, TrialId};
use tl_tests::*;

/// A trial of 4 partitions with a patient whose five records are interleaved with another
/// patient's in the same partition, and who cites a cohort record in another partition (which
/// cites the patient back). Checkpoints are published midway and at the end, so each
/// partition has more than one.
struct Fixture {
    _dir: tempfile::TempDir,
    t: TestTrial,
    patient: Subject,
    pp: u32,
    cohort: Subject,
    cp: u32,
    /// The patient's records' seqs, in order.
    patient_seqs: Vec<u64>,
}

fn first_in(trial: &TrialId, prefix: &str, not: &[u32]) -> Subject {
    (1..1000)
        .map(|i| Subject::parse(&format!("{prefix}{i:03}")).unwrap())
        .find(|s| !not.contains(&partition_of(trial, s, 4)))
        .unwrap()
}

impl Fixture {
    fn new() -> Self {
        let dir = temp_dir();
        let mut t = TestTrial::create(dir.path(), "bundle-test", 4);
        let patient = first_in(&t.trial, "patient:P-", &[0]);
        let pp = partition_of(&t.trial, &patient, 4);
        let other = (1..1000)
            .map(|i| Subject::parse(&format!("patient:Q-{i:03}")).unwrap())
            .find(|s| partition_of(&t.trial, s, 4) == pp)
            .unwrap();
        let cohort = first_in(&t.trial, "cohort:C-", &[0, pp]);
        let cp = partition_of(&t.trial, &cohort, 4);
        let (p, o, c) = (patient.to_string(), other.to_string(), cohort.to_string());
        let lab = t.keys.lab.clone();
        let inv = t.keys.investigator.clone();
        let c0 = t.note(&c, &lab, vec![]);
        let n1 = t.note(&p, &inv, vec![]);
        t.note(&o, &inv, vec![]);
        let n2 = t.note(&p, &lab, vec![c0]);
        t.ledger.flush().unwrap();
        t.note(&o, &lab, vec![]);
        let n3 = t.note(&p, &inv, vec![]);
        let n4 = t.note(&p, &inv, vec![n1]);
        t.note(&o, &inv, vec![]);
        t.note(&c, &lab, vec![n2]);
        let n5 = t.note(&p, &lab, vec![]);
        t.ledger.flush().unwrap();
        Fixture {
            _dir: dir,
            t,
            patient,
            pp,
            cohort,
            cp,
            patient_seqs: [n1, n2, n3, n4, n5].iter().map(|r| r.seq).collect(),
        }
    }

    fn published(&self) -> Vec<Vec<SignedCheckpoint>> {
        (0..4)
            .map(|p| read_published(&self.t.dir.join("ledger"), p).unwrap())
            .collect()
    }

    fn export_from(
        &self,
        records: &[Vec<Vec<u8>>],
        published: &[Vec<SignedCheckpoint>],
        scope: &Scope,
    ) -> Result<Bundle, BundleError> {
        bundle::export(
            &ExportSource {
                trial: &self.t.trial,
                root: self.t.keys.root.public_key(),
                partition_count: 4,
                records,
                published,
            },
            scope,
        )
    }

    fn export(&self, scope: &Scope) -> Bundle {
        self.export_from(&self.t.records(), &self.published(), scope)
            .unwrap()
    }

    fn patient_bundle(&self) -> Bundle {
        self.export(&Scope::Subject(self.patient.clone()))
    }

    fn pinned(&self) -> Pinned {
        Pinned {
            trial: self.t.trial.clone(),
            root: self.t.keys.root.public_key(),
            partitions: 4,
        }
    }

    fn check(&self, b: &Bundle) -> BundleReport {
        verify_bundle(b, Some(&self.pinned()), &[], ExampleRules)
    }

    fn check_bytes(&self, bytes: &[u8]) -> Result<BundleReport, BundleError> {
        let b = decode_bundle(bytes)?;
        Ok(self.check(&b))
    }

    /// The index of the section of partition `p`.
    fn section(b: &Bundle, p: u32) -> usize {
        b.sections.iter().position(|s| s.partition == p).unwrap()
    }
}

fn assert_fails(r: &BundleReport, item: &str, reason: &str) {
    let f = r
        .failure
        .as_ref()
        .unwrap_or_else(|| panic!("the bundle verified; expected {reason} at {item}"));
    assert!(!r.ok);
    assert_eq!(f.reason, reason, "wrong reason: {f}");
    assert!(f.item.contains(item), "wrong item: {f}");
}

fn assert_ok(r: &BundleReport) {
    assert!(r.ok && r.failure.is_none(), "{:?}", r.failure);
}

#[test]
fn intact_bundles_of_a_patient_a_cohort_and_everything_verify() {
    let f = Fixture::new();
    let b = f.patient_bundle();
    // Partition 0 is a prefix (the registry), the patient's partition and the cohort's sparse.
    assert_eq!(
        b.sections.iter().map(|s| s.partition).collect::<Vec<_>>(),
        {
            let mut v = vec![0, f.pp, f.cp];
            v.sort();
            v
        }
    );
    assert!(matches!(b.sections[0].coverage, Coverage::Prefix { .. }));
    let ps = &b.sections[Fixture::section(&b, f.pp)];
    assert!(matches!(ps.coverage, Coverage::Sparse));
    assert_eq!(ps.records.len(), 5, "the patient's records only");
    assert!(ps.checkpoints.len() >= 2, "both published checkpoints");
    let r = f.check(&b);
    assert_ok(&r);
    let want: Vec<String> = f
        .patient_seqs
        .iter()
        .map(|s| format!("{}/{s}", f.pp))
        .collect();
    assert_eq!(r.subject_records, want);
    assert!(r.anchor_pinned);
    // Through the bytes.
    let bytes = encode_bundle(&b);
    assert_eq!(&bytes[..8], b"TLBUNDLE");
    assert_ok(&f.check_bytes(&bytes).unwrap());
    // Without a pinned anchor it verifies too, and says so.
    let r = verify_bundle(&b, None, &[], ExampleRules);
    assert_ok(&r);
    assert!(!r.anchor_pinned);

    let c = f.export(&Scope::Subject(f.cohort.clone()));
    let r = f.check(&c);
    assert_ok(&r);
    assert_eq!(r.subject_records.len(), 2);

    let all = f.export(&Scope::All);
    let r = f.check(&all);
    assert_ok(&r);
    let total: usize = f.t.records().iter().map(Vec::len).sum();
    assert_eq!(r.records as usize, total);
    assert!(r.lines.iter().any(|l| l.contains("full verification")));
}

#[test]
fn a_flipped_bit_at_every_offset_is_caught() {
    let f = Fixture::new();
    let bytes = encode_bundle(&f.patient_bundle());
    assert!(
        bytes.len() < 40_000,
        "a small bundle: {} bytes",
        bytes.len()
    );
    let mut caught_as_error = 0;
    for i in 0..bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut t = bytes.clone();
            t[i] ^= bit;
            match f.check_bytes(&t) {
                Err(_) => caught_as_error += 1,
                Ok(r) => assert!(
                    r.failure.is_some(),
                    "flipping bit {bit:#04x} of byte {i} of {} went unnoticed",
                    bytes.len()
                ),
            }
        }
    }
    // Most flips land inside records, proofs and signatures, where they are verdicts naming
    // the item; flips in lengths and tags make the file unreadable.
    assert!(caught_as_error < bytes.len() * 2, "{caught_as_error}");
}

#[test]
fn a_patient_record_left_out_is_caught_by_the_back_links() {
    let f = Fixture::new();
    let mut b = f.patient_bundle();
    let si = Fixture::section(&b, f.pp);
    // The second of five: the third links back to it.
    let gone = f.patient_seqs[1];
    b.sections[si].records.retain(|r| r.seq != gone);
    let r = f.check(&b);
    assert_fails(
        &r,
        &format!("record {}/{}", f.pp, f.patient_seqs[2]),
        "incomplete-trail",
    );
    assert!(
        r.failure.unwrap().detail.contains("left out"),
        "the reason says so"
    );
    // The first: the second links back to it.
    let mut b = f.patient_bundle();
    b.sections[si]
        .records
        .retain(|r| r.seq != f.patient_seqs[0]);
    assert_fails(&f.check(&b), "", "incomplete-trail");
}

#[test]
fn a_deleted_registry_record_is_a_gap_in_the_prefix() {
    let f = Fixture::new();
    let mut b = f.patient_bundle();
    b.sections[0].records.remove(3);
    assert_fails(&f.check(&b), "partition 0", "seq-gap");
    // Deleting the prefix's last record leaves a gap-free, shorter prefix: the records still
    // chain, but keys the patient's records rely on are no longer established.
    let mut b = f.patient_bundle();
    b.sections[0].records.pop();
    let r = f.check(&b);
    assert!(r.failure.is_some(), "a shortened registry prefix verified");
}

#[test]
fn an_inserted_record_is_not_in_the_checkpoint() {
    let f = Fixture::new();
    let mut b = f.patient_bundle();
    let si = Fixture::section(&b, f.pp);
    // A record forged with the real sequencer and investigator keys, properly chained after
    // the partition's last record, but never in the ledger the checkpoint covers.
    let inv = f.t.keys.investigator.clone();
    let mut t = f.t;
    let env = tl_schemas::Envelope::new(NOTE, 1, b"forged".to_vec());
    let signed = t.draft(f.patient.clone(), env, &inv, vec![]);
    let (p, bytes) = t.forge(signed, &t.keys.sequencer.clone(), |_| {});
    assert_eq!(p, f.pp);
    let seq = decode(&bytes).body.seq;
    let path = b.sections[si].records.last().unwrap().path.clone();
    b.sections[si].records.push(bundle::BundleRecord {
        seq,
        record: bytes,
        path,
    });
    let r = verify_bundle(
        &b,
        Some(&Pinned {
            trial: t.trial.clone(),
            root: t.keys.root.public_key(),
            partitions: 4,
        }),
        &[],
        ExampleRules,
    );
    assert_fails(&r, &format!("record {p}/{seq}"), "not-in-checkpoint");
}

#[test]
fn reordered_records_and_swapped_proofs() {
    let f = Fixture::new();
    let b = f.patient_bundle();
    let si = Fixture::section(&b, f.pp);
    // Two records swapped in the file.
    let mut t = b.clone();
    t.sections[si].records.swap(1, 2);
    assert_fails(&f.check(&t), "record", "out-of-order");
    // Their bytes swapped under the listed seqs.
    let mut t = b.clone();
    let a = t.sections[si].records[1].record.clone();
    t.sections[si].records[1].record = t.sections[si].records[2].record.clone();
    t.sections[si].records[2].record = a;
    assert_fails(&f.check(&t), "record", "seq-gap");
    // A proof for the wrong index: the two records' inclusion paths swapped.
    let mut t = b.clone();
    let a = t.sections[si].records[1].path.clone();
    t.sections[si].records[1].path = t.sections[si].records[2].path.clone();
    t.sections[si].records[2].path = a;
    let s1 = t.sections[si].records[1].seq;
    assert_fails(
        &f.check(&t),
        &format!("record {}/{s1}", f.pp),
        "not-in-checkpoint",
    );
    // Partition 0's prefix reordered.
    let mut t = b;
    t.sections[0].records.swap(2, 3);
    assert_fails(&f.check(&t), "record 0/", "out-of-order");
}

#[test]
fn truncation_at_a_record_boundary_is_caught_against_a_held_checkpoint() {
    let f = Fixture::new();
    let published = f.published();
    let held = vec![published[f.pp as usize].last().unwrap().clone()];
    // The patient's partition is cut after the patient's fourth record (dropping the fifth),
    // the operator's checkpoint file with it, and a checkpoint of the cut partition is signed
    // with the sequencer key: the ledger and its checkpoints are consistent, so the bundle
    // verifies on its own...
    let mut records = f.t.records();
    let n = f.patient_seqs[3] + 1;
    records[f.pp as usize].truncate(n as usize);
    let mut cut = published.clone();
    cut[f.pp as usize].retain(|c| c.unverified().size <= n);
    let head = Checkpoint::for_partition(
        &f.t.trial,
        f.pp,
        n,
        root_of(&tl_ledger::audit::leaf_hashes(&records[f.pp as usize])),
    );
    let note = head
        .sign(&sequencer_key_name(&f.t.trial), &f.t.keys.sequencer)
        .unwrap();
    cut[f.pp as usize].push(SignedCheckpoint::parse(&note).unwrap());
    let b = f
        .export_from(&records, &cut, &Scope::Subject(f.patient.clone()))
        .unwrap();
    assert_ok(&f.check(&b));
    // ...but not against the checkpoint the auditor held.
    let r = verify_bundle(&b, Some(&f.pinned()), &held, ExampleRules);
    assert!(r.failure.is_none());
    assert!(!r.ok);
    assert_eq!(r.held[0].status, HeldStatus::Truncated);
    assert!(
        r.held[0].detail.contains("truncated"),
        "{}",
        r.held[0].detail
    );
    // The intact bundle is consistent with it.
    let r = verify_bundle(&f.patient_bundle(), Some(&f.pinned()), &held, ExampleRules);
    assert_ok(&r);
    assert_eq!(r.held[0].status, HeldStatus::Consistent);
}

#[test]
fn a_split_view_is_caught() {
    let f = Fixture::new();
    let b = f.patient_bundle();
    let si = Fixture::section(&b, f.pp);
    let anchor = SignedCheckpoint::parse(&b.sections[si].checkpoints.last().unwrap().note)
        .unwrap()
        .unverified()
        .clone();
    // The sequencer's key signs a second checkpoint of the same size with another root.
    let other = Checkpoint {
        root: root_of(&[Hash32([7; 32])]),
        ..anchor.clone()
    };
    let note = other
        .sign(&sequencer_key_name(&f.t.trial), &f.t.keys.sequencer)
        .unwrap();
    let mut t = b.clone();
    let at = t.sections[si].checkpoints.len() - 1;
    t.sections[si].checkpoints.insert(
        at,
        bundle::BundleCheckpoint {
            note: note.clone(),
            to_anchor: vec![],
        },
    );
    assert_fails(
        &f.check(&t),
        &format!("checkpoints of partition {}", f.pp),
        "split-view",
    );
    // The other view as the anchor: no record proves into it.
    let mut t = b.clone();
    t.sections[si].checkpoints.last_mut().unwrap().note = note.clone();
    let r = f.check(&t);
    assert!(r.failure.is_some());
    // Held by an auditor, the other view contradicts the bundle.
    let held = vec![SignedCheckpoint::parse(&note).unwrap()];
    let r = verify_bundle(&b, Some(&f.pinned()), &held, ExampleRules);
    assert!(!r.ok);
    assert_eq!(r.held[0].status, HeldStatus::Rewritten);
    // An older checkpoint that is not a prefix of the anchor.
    let mut t = b;
    let first = &mut t.sections[si].checkpoints[0];
    if let Some(h) = first.to_anchor.first_mut() {
        h.0[0] ^= 1;
    } else {
        first.to_anchor.push(Hash32([1; 32]));
    }
    assert_fails(&f.check(&t), "checkpoint 0", "inconsistent-checkpoints");
}

#[test]
fn cited_records_the_trust_anchor_and_a_forged_checkpoint_signature() {
    let f = Fixture::new();
    let b = f.patient_bundle();
    // The cohort record the patient cites, left out.
    let mut t = b.clone();
    let ci = Fixture::section(&t, f.cp);
    t.sections[ci].records.clear();
    t.sections[ci].checkpoints.clear();
    assert_fails(&f.check(&t), "record", "reference-missing");
    // Another root pinned.
    let mut other = f.pinned();
    other.root = key(9).public_key();
    let r = verify_bundle(&b, Some(&other), &[], ExampleRules);
    assert_fails(&r, "trust anchor", "trust-anchor");
    // A bundle re-rooted under another key: record 0/0 no longer matches.
    let mut t = b.clone();
    t.root_public_key = key(9).public_key();
    let r = verify_bundle(&t, None, &[], ExampleRules);
    assert_fails(&r, "record 0/0", "root-mismatch");
    // A checkpoint signed by a key that is not an enrolled sequencer key.
    let mut t = b;
    let si = Fixture::section(&t, f.pp);
    let anchor = SignedCheckpoint::parse(&t.sections[si].checkpoints.last().unwrap().note)
        .unwrap()
        .unverified()
        .clone();
    t.sections[si].checkpoints.last_mut().unwrap().note = anchor
        .sign(&sequencer_key_name(&f.t.trial), &f.t.keys.lab)
        .unwrap();
    assert_fails(&f.check(&t), "checkpoint", "checkpoint-signature");
}

#[test]
fn malformed_bundles_are_errors_not_panics() {
    let f = Fixture::new();
    let bytes = encode_bundle(&f.patient_bundle());
    assert_eq!(f.check_bytes(b"").unwrap_err(), BundleError::NotABundle);
    assert_eq!(
        f.check_bytes(b"{\"json\": true}").unwrap_err(),
        BundleError::NotABundle
    );
    // Every truncation.
    for n in 0..bytes.len() {
        assert!(f.check_bytes(&bytes[..n]).is_err(), "cut at {n} decoded");
    }
    // Trailing bytes.
    let mut t = bytes.clone();
    t.push(0);
    assert!(matches!(f.check_bytes(&t), Err(BundleError::Malformed(_))));
    // Another version.
    let mut t = bytes.clone();
    t[8] = 2;
    assert_eq!(
        f.check_bytes(&t).unwrap_err(),
        BundleError::UnsupportedVersion(2)
    );
    // An export of an unknown subject, or of the trial, is refused.
    let e = f
        .export_from(
            &f.t.records(),
            &f.published(),
            &Scope::Subject(Subject::parse("patient:NOBODY").unwrap()),
        )
        .unwrap_err();
    assert!(matches!(e, BundleError::Export(_)), "{e}");
    assert!(f
        .export_from(
            &f.t.records(),
            &f.published(),
            &Scope::Subject(Subject::Trial)
        )
        .is_err());
}

#[test]
fn records_newer_than_the_last_checkpoint_need_a_fresh_one() {
    let mut f = Fixture::new();
    let inv = f.t.keys.investigator.clone();
    let p = f.patient.to_string();
    f.t.note(&p, &inv, vec![]);
    // Not flushed: the new record is durable but no checkpoint covers it yet.
    let e = f
        .export_from(
            &f.t.records(),
            &f.published(),
            &Scope::Subject(f.patient.clone()),
        )
        .unwrap_err();
    assert!(matches!(e, BundleError::Stale(_)), "{e}");
    assert!(e.to_string().contains("--fresh"), "{e}");
    f.t.ledger.publish_now().unwrap();
    let b = f.export(&Scope::Subject(f.patient.clone()));
    let r = f.check(&b);
    assert_ok(&r);
    assert_eq!(r.subject_records.len(), 6);
}

#[test]
fn keys_are_judged_at_each_records_registry_position_across_a_root_rotation() {
    // The root rotates; the new root enrols a lab key, which writes a note about the
    // patient, and is then revoked.
    let (mut f, lab9) = rotated_root_and_revoked_lab_key();
    // The bundle carries the registry up to the rotation and the enrolment, and verifies
    // against the pinned *first* root: the key was active at the note's position.
    let b = f.patient_bundle();
    let r = f.check(&b);
    assert_ok(&r);
    assert_eq!(r.subject_records.len(), 6);
    // A later note by the revoked key, which a compromised sequencer sealed after the
    // revocation and published in a signed checkpoint: the bundle proves it is in the
    // ledger, and its verifier still refuses it, since the key was revoked at its position.
    let (pp, last, b) = forged_note_after_revocation(&mut f, &lab9);
    assert_eq!(pp, f.pp);
    assert_fails(&f.check(&b), &format!("record {pp}/{last}"), "key-revoked");
}

#[test]
fn a_subjects_bundle_carries_each_subject_inside_the_cut_complete_by_back_links() {
    let mut f = Fixture::new();
    let scope = Scope::Subjects(vec![f.cohort.clone(), f.patient.clone()]);
    // given a record of the patient newer than the last checkpoint (outside the evidence cut)
    let inv = f.t.keys.investigator.clone();
    let p = f.patient.to_string();
    let late = f.t.note(&p, &inv, vec![]);
    // when the subjects are exported: no refusal, the cut simply ends before it
    let b = f
        .export_from(&f.t.records(), &f.published(), &scope)
        .unwrap();
    let r = f.check(&b);
    assert_ok(&r);
    // then both subjects' records are carried (5 of the patient, 2 of the cohort), not the late one
    assert_eq!(r.subject_records.len(), 7, "{:?}", r.subject_records);
    let si = Fixture::section(&b, f.pp);
    assert!(b.sections[si].records.iter().all(|x| x.seq != late.seq));
    // and partition 0 is carried whole up to its anchor (the registry of the cut)
    let a0 = SignedCheckpoint::parse(&b.sections[0].checkpoints.last().unwrap().note).unwrap();
    assert_eq!(b.sections[0].records.len() as u64, a0.unverified().size);
    // and a record of either subject left out is caught by its back-links
    let mut cut = b.clone();
    cut.sections[si]
        .records
        .retain(|x| x.seq != f.patient_seqs[1]);
    assert_fails(&f.check(&cut), "", "incomplete-trail");
    // and a cite by a scoped subject must be carried: the cohort cites the patient's record
    let mut b2 = b.clone();
    b2.scope = Scope::Subjects(vec![f.cohort.clone()]);
    b2.sections[si]
        .records
        .retain(|x| x.seq != f.patient_seqs[1]);
    assert_fails(&f.check(&b2), "", "reference-missing");
    // and it round-trips through the file format
    assert_eq!(decode_bundle(&encode_bundle(&b)).unwrap(), b);
    assert_eq!(b.scope.to_string(), "2 subjects");
}

/// One tamper case written for the auditor's page's verifier: a bundle file, what to pin,
/// the held checkpoints, and the verdict of [`verify_bundle`] on it.
struct Vector {
    name: &'static str,
    bundle: Vec<u8>,
    unpinned: bool,
    held: Vec<String>,
}

/// The tamper cases above as files (`tests/browser/vectors/`), so that the page's JavaScript
/// verifier is tested on the same bundles (tests/browser/verify.test.mjs). Written with
/// `TL_WRITE_BUNDLE_VECTORS=1`; every run checks that the stored verdicts are this verifier's.
fn vectors(f: &Fixture) -> Vec<Vector> {
    let v = |name, b: &Bundle| Vector {
        name,
        bundle: encode_bundle(b),
        unpinned: false,
        held: vec![],
    };
    let b = f.patient_bundle();
    let si = Fixture::section(&b, f.pp);
    let mut out = vec![
        v("intact-patient", &b),
        v(
            "intact-cohort",
            &f.export(&Scope::Subject(f.cohort.clone())),
        ),
        v("intact-all", &f.export(&Scope::All)),
    ];
    let mut t = b.clone();
    t.sections[si]
        .records
        .retain(|r| r.seq != f.patient_seqs[1]);
    out.push(v("left-out-second", &t));
    let mut t = b.clone();
    t.sections[si]
        .records
        .retain(|r| r.seq != f.patient_seqs[0]);
    out.push(v("left-out-first", &t));
    let mut t = b.clone();
    t.sections[0].records.remove(3);
    out.push(v("registry-record-deleted", &t));
    let mut t = b.clone();
    t.sections[0].records.pop();
    out.push(v("registry-prefix-shortened", &t));
    let mut t = b.clone();
    t.sections[si].records.swap(1, 2);
    out.push(v("records-swapped", &t));
    let mut t = b.clone();
    let a = t.sections[si].records[1].record.clone();
    t.sections[si].records[1].record = t.sections[si].records[2].record.clone();
    t.sections[si].records[2].record = a;
    out.push(v("record-bytes-swapped", &t));
    let mut t = b.clone();
    let a = t.sections[si].records[1].path.clone();
    t.sections[si].records[1].path = t.sections[si].records[2].path.clone();
    t.sections[si].records[2].path = a;
    out.push(v("proofs-swapped", &t));
    let mut t = b.clone();
    t.sections[0].records.swap(2, 3);
    out.push(v("registry-reordered", &t));
    // One byte of a patient record's payload changed (what the page's browser test does
    // through a proxy).
    let mut t = b.clone();
    let rec = &mut t.sections[si].records[2].record;
    let at = rec.len() - 64 - 40;
    rec[at] ^= 0x01;
    out.push(v("record-byte-flipped", &t));
    let mut t = b.clone();
    let ci = Fixture::section(&t, f.cp);
    t.sections[ci].records.clear();
    t.sections[ci].checkpoints.clear();
    out.push(v("cited-record-left-out", &t));
    let mut t = b.clone();
    t.root_public_key = key(9).public_key();
    out.push(Vector {
        unpinned: true,
        ..v("re-rooted-unpinned", &t)
    });
    out.push(v("re-rooted-pinned", &t));
    let anchor = SignedCheckpoint::parse(&b.sections[si].checkpoints.last().unwrap().note)
        .unwrap()
        .unverified()
        .clone();
    let mut t = b.clone();
    t.sections[si].checkpoints.last_mut().unwrap().note = anchor
        .sign(&sequencer_key_name(&f.t.trial), &f.t.keys.lab)
        .unwrap();
    out.push(v("checkpoint-signed-by-lab-key", &t));
    let other = Checkpoint {
        root: root_of(&[Hash32([7; 32])]),
        ..anchor.clone()
    };
    let note = other
        .sign(&sequencer_key_name(&f.t.trial), &f.t.keys.sequencer)
        .unwrap();
    let mut t = b.clone();
    let at = t.sections[si].checkpoints.len() - 1;
    t.sections[si].checkpoints.insert(
        at,
        bundle::BundleCheckpoint {
            note: note.clone(),
            to_anchor: vec![],
        },
    );
    out.push(v("split-view", &t));
    let mut t = b.clone();
    t.sections[si].checkpoints.last_mut().unwrap().note = note.clone();
    out.push(v("other-view-as-anchor", &t));
    out.push(Vector {
        held: vec![note],
        ..v("held-other-view", &b)
    });
    let mut t = b.clone();
    let first = &mut t.sections[si].checkpoints[0];
    if let Some(h) = first.to_anchor.first_mut() {
        h.0[0] ^= 1;
    } else {
        first.to_anchor.push(Hash32([1; 32]));
    }
    out.push(v("inconsistent-checkpoint", &t));
    let newest = read_published(&f.t.dir.join("ledger"), f.pp).unwrap();
    out.push(Vector {
        held: vec![newest.last().unwrap().text().to_string()],
        ..v("held-consistent", &b)
    });
    let mut cut = f.t.records();
    let n = f.patient_seqs[3] + 1;
    cut[f.pp as usize].truncate(n as usize);
    let mut published = f.published();
    published[f.pp as usize].retain(|c| c.unverified().size <= n);
    let leaves = tl_ledger::audit::leaf_hashes(&cut[f.pp as usize]);
    let head = Checkpoint::for_partition(&f.t.trial, f.pp, n, root_of(&leaves))
        .sign(&sequencer_key_name(&f.t.trial), &f.t.keys.sequencer)
        .unwrap();
    published[f.pp as usize].push(SignedCheckpoint::parse(&head).unwrap());
    let t = f
        .export_from(&cut, &published, &Scope::Subject(f.patient.clone()))
        .unwrap();
    out.push(v("truncated-alone", &t));
    out.push(Vector {
        held: vec![newest.last().unwrap().text().to_string()],
        ..v("truncated-against-held", &t)
    });
    let mut t = encode_bundle(&b);
    t.truncate(t.len() / 2);
    out.push(Vector {
        name: "cut-in-half",
        bundle: t,
        unpinned: false,
        held: vec![],
    });
    let mut t = encode_bundle(&b);
    t[0] = b'X';
    out.push(Vector {
        name: "no-magic",
        bundle: t,
        unpinned: false,
        held: vec![],
    });
    out
}

/// A fixture whose root rotated, whose new root enrolled a lab key (returned), which wrote a
/// note about the patient and was then revoked; flushed.
fn rotated_root_and_revoked_lab_key() -> (Fixture, tl_ledger::SigningKey) {
    use tl_ledger::registry::root_rotation_message;
    use tl_schemas::events::{envelope_of, KeyEnrolled, KeyRevoked, RootKeyRotated};
    use tl_schemas::Role;
    let mut f = Fixture::new();
    let old = f.t.keys.root.clone();
    let new = key(8);
    let lab9 = key(9);
    let msg = root_rotation_message(&f.t.trial, &old.public_key(), &new.public_key());
    let env = envelope_of(&RootKeyRotated {
        new_root_public_key: new.public_key(),
        cosignature: new.sign(&msg),
    });
    f.t.expect_sealed(Subject::Trial, env, &old, vec![]);
    let env = envelope_of(&KeyEnrolled {
        public_key: lab9.public_key(),
        name: "Lab Nine".into(),
        role: Role::Lab,
    });
    f.t.expect_sealed(Subject::Trial, env, &new, vec![]);
    let p = f.patient.to_string();
    f.t.note(&p, &lab9, vec![]);
    let env = envelope_of(&KeyRevoked {
        key: lab9.key_id(),
        reason: "left".into(),
    });
    f.t.expect_sealed(Subject::Trial, env, &new, vec![]);
    f.t.ledger.flush().unwrap();
    (f, lab9)
}

/// A later note by the revoked `lab9`, which a compromised sequencer sealed after the
/// revocation and published in a signed checkpoint; its partition, its seq, and the patient's
/// bundle exported with that checkpoint.
fn forged_note_after_revocation(
    f: &mut Fixture,
    lab9: &tl_ledger::SigningKey,
) -> (u32, u64, Bundle) {
    let env = tl_schemas::Envelope::new(NOTE, 1, b"after revocation".to_vec());
    let signed = f.t.draft(f.patient.clone(), env, lab9, vec![]);
    let seq_key = f.t.keys.sequencer.clone();
    let (pp, _) = f.t.append_forged(signed, &seq_key, |_| {});
    let mut published = f.published();
    let records = f.t.records();
    let leaves = tl_ledger::audit::leaf_hashes(&records[pp as usize]);
    let note = Checkpoint::for_partition(&f.t.trial, pp, leaves.len() as u64, root_of(&leaves))
        .sign(&sequencer_key_name(&f.t.trial), &seq_key)
        .unwrap();
    published[pp as usize].push(SignedCheckpoint::parse(&note).unwrap());
    let b = f
        .export_from(&records, &published, &Scope::Subject(f.patient.clone()))
        .unwrap();
    let last = leaves.len() as u64 - 1;
    (pp, last, b)
}

/// The root-rotation case above (keys judged at each record's registry position) as two
/// vectors: the intact bundle, and the one with a note by a revoked key.
fn rotation_vectors() -> Vec<Vector> {
    let (mut f, lab9) = rotated_root_and_revoked_lab_key();
    let intact = encode_bundle(&f.patient_bundle());
    let (_, _, revoked) = forged_note_after_revocation(&mut f, &lab9);
    let v = |name, bundle| Vector {
        name,
        bundle,
        unpinned: false,
        held: vec![],
    };
    vec![
        v("rotated-root-intact", intact),
        v("revoked-key-after-rotation", encode_bundle(&revoked)),
    ]
}

/// What [`verify_bundle`] says of a vector, as tests/browser/vectors/cases.json stores it.
fn verdict(f_pinned: &Pinned, v: &Vector) -> serde_json::Value {
    let file = format!("{}.tlbundle", v.name);
    let mut j = serde_json::json!({"name": v.name, "file": file});
    if v.unpinned {
        j["unpinned"] = true.into();
    }
    if !v.held.is_empty() {
        let names: Vec<String> = (0..v.held.len())
            .map(|i| format!("{}.held{i}.txt", v.name))
            .collect();
        j["held"] = serde_json::json!(names);
    }
    let b = match decode_bundle(&v.bundle) {
        Ok(b) => b,
        Err(_) => {
            j["error"] = true.into();
            return j;
        }
    };
    let held: Vec<SignedCheckpoint> = v
        .held
        .iter()
        .map(|n| SignedCheckpoint::parse(n).unwrap())
        .collect();
    let pinned = (!v.unpinned).then_some(f_pinned);
    let r = verify_bundle(&b, pinned, &held, ExampleRules);
    j["ok"] = r.ok.into();
    if let Some(fail) = &r.failure {
        j["reason"] = fail.reason.into();
        j["item"] = fail.item.clone().into();
    }
    if !r.held.is_empty() {
        j["held_status"] =
            serde_json::to_value(r.held.iter().map(|h| h.status).collect::<Vec<_>>()).unwrap();
    }
    j
}

#[test]
fn tamper_vectors_for_the_browser_verifier_carry_this_verifiers_verdicts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/vectors");
    if std::env::var_os("TL_WRITE_BUNDLE_VECTORS").is_some() {
        let f = Fixture::new();
        let pinned = f.pinned();
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut cases = Vec::new();
        for v in vectors(&f).into_iter().chain(rotation_vectors()) {
            std::fs::write(dir.join(format!("{}.tlbundle", v.name)), &v.bundle).unwrap();
            for (i, n) in v.held.iter().enumerate() {
                std::fs::write(dir.join(format!("{}.held{i}.txt", v.name)), n).unwrap();
            }
            cases.push(verdict(&pinned, &v));
        }
        let doc = serde_json::json!({
            "about": "Tamper cases of tests/tests/bundle.rs with tl_ledger::bundle's verdicts (written by its test tamper_vectors_for_the_browser_verifier_carry_this_verifiers_verdicts with TL_WRITE_BUNDLE_VECTORS=1); tests/browser/verify.test.mjs checks the auditor page's verifier gives the same",
            "pinned": {"trial": pinned.trial.to_string(), "root": hex::encode(pinned.root), "partitions": pinned.partitions},
            "cases": cases,
        });
        std::fs::write(
            dir.join("cases.json"),
            serde_json::to_string_pretty(&doc).unwrap() + "\n",
        )
        .unwrap();
    }
    // Every stored verdict is what this verifier says of the stored files.
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let p = &doc["pinned"];
    let mut root = [0u8; 32];
    hex::decode_to_slice(p["root"].as_str().unwrap(), &mut root).unwrap();
    let pinned = Pinned {
        trial: TrialId::new(p["trial"].as_str().unwrap()).unwrap(),
        root,
        partitions: p["partitions"].as_u64().unwrap() as u32,
    };
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 20, "{} cases", cases.len());
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let held: Vec<String> = c["held"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|n| std::fs::read_to_string(dir.join(n.as_str().unwrap())).unwrap())
                    .collect()
            })
            .unwrap_or_default();
        let v = Vector {
            name: Box::leak(name.to_string().into_boxed_str()),
            bundle: std::fs::read(dir.join(c["file"].as_str().unwrap())).unwrap(),
            unpinned: c["unpinned"].as_bool().unwrap_or(false),
            held,
        };
        assert_eq!(&verdict(&pinned, &v), c, "case {name}");
    }
    // The cases cover intact bundles and each kind of damage.
    let reasons: Vec<&str> = cases.iter().filter_map(|c| c["reason"].as_str()).collect();
    for want in [
        "incomplete-trail",
        "seq-gap",
        "out-of-order",
        "not-in-checkpoint",
        "split-view",
        "inconsistent-checkpoints",
        "reference-missing",
        "trust-anchor",
        "root-mismatch",
        "checkpoint-signature",
        "key-revoked",
    ] {
        assert!(reasons.contains(&want), "no case with {want}: {reasons:?}");
    }
}
