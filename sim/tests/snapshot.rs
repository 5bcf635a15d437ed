//! The embedded writer's snapshot (FORMAT.md §17, "Writer snapshot") on a simulated trial
//! with the trial's own rules, so the domain state it stores is the real one (patients and
//! cohorts):
//!
//! * a snapshot and the records after it give exactly the state of a full replay, before and
//!   after appends, and a snapshot taken earlier is used with the longer tail replayed;
//! * a stale snapshot (ahead of a ledger restored from a backup), one of a ledger rewritten
//!   after it, a corrupted one, a truncated one, one of another trial, one signed by another
//!   key, and an otherwise valid one with one changed field and so a bad signature (an added
//!   enrolled key, a dropped seen id) are each ignored, the state equals a full replay, and
//!   the writer saves a valid one again.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tl_domain::TrialRules;
use tl_ledger::registry::KeyEntry;
use tl_ledger::snapshot::{self, tamper, SnapshotUse};
use tl_ledger::state::LedgerState;
use tl_ledger::trust::TrustFile;
use tl_ledger::writer::Draft;
use tl_ledger::{EmbeddedLedger, Outcome, SigningKey};
use tl_schemas::clinical::PatientRegistered;
use tl_schemas::events::{envelope_of, KeyEnrolled};
use tl_schemas::ids::Name;
use tl_schemas::{Date, Role, Subject, SubmissionId, TrialId, UtcMicros};
use tl_sim::{simulate, SimConfig, SimKeys};

type State = LedgerState<TrialRules>;

const TRIAL: &str = "snapshot-test";
const OTHER_TRIAL: &str = "snapshot-other";
const SEED: u64 = 7;

/// A simulated trial's data folder: `ledger/` and `trust.json`.
struct Template {
    dir: tempfile::TempDir,
    keys: SimKeys,
}

/// The simulated trial every test copies (simulated once per test binary), and a smaller one
/// of another trial with the same seed, so the same keys.
fn templates() -> &'static (Template, Template) {
    static T: OnceLock<(Template, Template)> = OnceLock::new();
    T.get_or_init(|| (simulated(TRIAL, 60), simulated(OTHER_TRIAL, 10)))
}

fn simulated(trial: &str, patients: u32) -> Template {
    let dir = tempfile::tempdir().unwrap();
    let config = SimConfig::new(TrialId::new(trial).unwrap(), SEED, patients);
    let (_, keys) = simulate(&dir.path().join("ledger"), &config).unwrap();
    TrustFile::new(&config.trial, keys.root.key.public_key(), config.partitions)
        .write(&dir.path().join("trust.json"))
        .unwrap();
    Template { dir, keys }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else if e.file_name() != "LOCK" {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A fresh copy of the main template, with the writer's snapshot of its whole ledger.
fn trial() -> (tempfile::TempDir, &'static SimKeys) {
    let t = &templates().0;
    let dir = tempfile::tempdir().unwrap();
    copy_dir(t.dir.path(), dir.path());
    let mut l = open(dir.path(), &t.keys);
    l.save_snapshot().unwrap();
    l.close().unwrap();
    (dir, &t.keys)
}

fn open(dir: &Path, keys: &SimKeys) -> EmbeddedLedger<TrialRules> {
    let trust = TrustFile::read(&dir.join("trust.json")).unwrap();
    let (l, _) = EmbeddedLedger::open(
        &dir.join("ledger"),
        &trust,
        TrialRules,
        keys.sequencer.key.clone(),
    )
    .unwrap();
    l
}

fn snapshot_file(dir: &Path) -> PathBuf {
    snapshot::snapshot_path(&dir.join("ledger"))
}

fn records(s: &State) -> u64 {
    (0..s.partition_count()).map(|p| s.len(p)).sum()
}

/// The state of a writer that replays every record (the snapshot moved aside meanwhile).
fn full_replay(dir: &Path, keys: &SimKeys) -> State {
    let file = snapshot_file(dir);
    let aside = dir.join("snapshot.aside");
    let had = std::fs::rename(&file, &aside).is_ok();
    let l = open(dir, keys);
    assert_eq!(l.snapshot_use(), &SnapshotUse::Absent);
    let state = l.state().clone();
    drop(l);
    if had {
        std::fs::rename(&aside, &file).unwrap();
    }
    state
}

/// Opens with the snapshot as it is, and checks that it is ignored, that the state equals a
/// full replay, and that a snapshot the writer then saves is used by the next writer.
fn assert_ignored(dir: &Path, keys: &SimKeys, because: &str) {
    let mut l = open(dir, keys);
    let SnapshotUse::Ignored(why) = l.snapshot_use().clone() else {
        panic!("not ignored: {:?}", l.snapshot_use());
    };
    assert!(
        why.contains(because),
        "ignored because {why:?}, not {because:?}"
    );
    let state = l.state().clone();
    // (a writer that only opened saves nothing; one that appends saves when it closes)
    l.save_snapshot().unwrap();
    drop(l);
    assert!(
        state == full_replay(dir, keys),
        "the state differs from a full replay"
    );
    // then the rebuilt snapshot is the next writer's
    let l = open(dir, keys);
    assert!(
        matches!(l.snapshot_use(), SnapshotUse::Loaded { .. }),
        "{:?}",
        l.snapshot_use()
    );
    assert!(*l.state() == state);
}

/// Appends `n` patients' registrations (spread over the partitions by their names) and the
/// enrolment of a new key (partition 0), labelled `tag`; returns the records appended.
fn append(l: &mut EmbeddedLedger<TrialRules>, keys: &SimKeys, tag: &str, n: u32) -> u64 {
    let trial = l.state().trial().clone();
    let now = UtcMicros::parse_rfc3339("2031-01-02T00:00:00Z").unwrap();
    let mut sealed = 0;
    let mut submit = |l: &mut EmbeddedLedger<TrialRules>, d: Draft, author: &SigningKey| match l
        .submit_decoded(d.sign(&trial, author), now)
        .unwrap()
    {
        Outcome::Sealed(_) => sealed += 1,
        other => panic!("not sealed: {other:?}"),
    };
    let id = |i: u32| {
        let mut id = [0u8; 16];
        id[..tag.len().min(8)].copy_from_slice(&tag.as_bytes()[..tag.len().min(8)]);
        id[12..].copy_from_slice(&i.to_be_bytes());
        SubmissionId(id)
    };
    let new_key = SigningKey::from_seed([tag.len() as u8 + 100; 32]);
    let mut d = Draft::new(
        Subject::Trial,
        envelope_of(&KeyEnrolled {
            public_key: new_key.public_key(),
            name: format!("lab {tag}"),
            role: Role::Lab,
        }),
    );
    d.submission_id = id(0);
    d.client_time = now;
    submit(l, d, &keys.root.key);
    for i in 1..=n {
        let registered = PatientRegistered {
            tumour_type: "COAD".into(),
            site: format!("site {tag}"),
            registered_on: Date::from_ymd(2031, 1, 1).unwrap(),
        };
        let subject = Subject::Patient(Name::new(format!("P-{tag}-{i:03}")).unwrap());
        let mut d = Draft::new(subject, envelope_of(&registered));
        d.submission_id = id(i);
        d.client_time = now;
        submit(l, d, &keys.investigators[0].key);
    }
    sealed
}

#[test]
fn given_a_snapshot_when_records_follow_it_then_snapshot_and_tail_equal_a_full_replay() {
    // given a trial whose writer saved a snapshot of its whole ledger
    let (dir, keys) = trial();
    let l = open(dir.path(), keys);
    let covered = records(l.state());
    assert!(covered >= snapshot::SNAPSHOT_EVERY, "{covered} records");
    // the writer loads it and replays nothing
    assert_eq!(
        l.snapshot_use(),
        &SnapshotUse::Loaded {
            covered,
            replayed: 0
        }
    );
    let loaded = l.state().clone();
    assert!(loaded == full_replay_after(l, dir.path(), keys));
    // when records follow it, in partition 0 (the registry) and the others
    let mut l = open(dir.path(), keys);
    let appended = append(&mut l, keys, "tail", 24);
    let live = l.state().clone();
    l.close().unwrap();
    // then the next writer loads the snapshot and replays only those records
    let l = open(dir.path(), keys);
    assert_eq!(
        l.snapshot_use(),
        &SnapshotUse::Loaded {
            covered,
            replayed: appended
        }
    );
    let (from_snapshot, replay) = (l.state().clone(), full_replay_after(l, dir.path(), keys));
    // and the state is the one the appending writer held and the one a full replay builds
    assert!(
        from_snapshot == live,
        "snapshot + tail differs from the live state"
    );
    assert!(
        from_snapshot == replay,
        "snapshot + tail differs from a full replay"
    );
    assert!(from_snapshot.registry().keys().len() > templates().0.keys.enrolled().len());
}

/// [`full_replay`] once `l` is closed.
fn full_replay_after(l: EmbeddedLedger<TrialRules>, dir: &Path, keys: &SimKeys) -> State {
    drop(l);
    full_replay(dir, keys)
}

#[test]
fn given_a_stale_snapshot_of_records_a_restored_ledger_lacks_then_it_is_ignored() {
    // given a ledger backed up, then appended to, with a snapshot of the appended records
    let (dir, keys) = trial();
    let backup = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), backup.path());
    let mut l = open(dir.path(), keys);
    append(&mut l, keys, "lost", 8);
    l.save_snapshot().unwrap();
    l.close().unwrap();
    // when the ledger is restored from the backup and the newer snapshot is left beside it
    std::fs::copy(snapshot_file(dir.path()), snapshot_file(backup.path())).unwrap();
    // then the snapshot is ignored: it names records the ledger does not hold
    assert_ignored(backup.path(), keys, "which now holds");
}

#[test]
fn given_a_snapshot_of_another_ledger_of_the_trial_at_the_same_position_then_it_is_ignored() {
    // given two copies of a ledger that were appended the same number of records in the same
    // partitions, but different ones (another site), each with its writer's snapshot
    let (dir, keys) = trial();
    let other = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), other.path());
    for (d, site) in [(dir.path(), "mine"), (other.path(), "your")] {
        let mut l = open(d, keys);
        let trial = l.state().trial().clone();
        let now = UtcMicros::parse_rfc3339("2031-01-02T00:00:00Z").unwrap();
        let registered = PatientRegistered {
            tumour_type: "COAD".into(),
            site: site.into(),
            registered_on: Date::from_ymd(2031, 1, 1).unwrap(),
        };
        let mut draft = Draft::new(
            Subject::Patient(Name::new("P-SAME").unwrap()),
            envelope_of(&registered),
        );
        draft.submission_id = SubmissionId([9; 16]);
        draft.client_time = now;
        let s = draft.sign(&trial, &keys.investigators[0].key);
        assert!(matches!(
            l.submit_decoded(s, now).unwrap(),
            Outcome::Sealed(_)
        ));
        l.save_snapshot().unwrap();
        l.close().unwrap();
    }
    // when one ledger gets the other's snapshot
    std::fs::copy(snapshot_file(other.path()), snapshot_file(dir.path())).unwrap();
    // then it is ignored: the record hash at its position differs
    assert_ignored(dir.path(), keys, "names record hash");
}

#[test]
fn given_a_corrupted_snapshot_then_it_is_ignored() {
    let (dir, keys) = trial();
    let file = snapshot_file(dir.path());
    let good = std::fs::read(&file).unwrap();
    // a byte of the body, of the signature, and of the version
    for (at, because) in [
        (good.len() / 2, "signature does not verify"),
        (good.len() - 10, "signature does not verify"),
        (0, "format version"),
    ] {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        std::fs::write(&file, &bad).unwrap();
        assert_ignored(dir.path(), keys, because);
        std::fs::write(&file, &good).unwrap();
    }
}

#[test]
fn given_a_truncated_snapshot_then_it_is_ignored() {
    let (dir, keys) = trial();
    let file = snapshot_file(dir.path());
    let good = std::fs::read(&file).unwrap();
    for (len, because) in [
        (good.len() - 1, "does not decode"),
        (good.len() / 2, "does not decode"),
        (3, "does not decode"),
        (0, "empty"),
    ] {
        std::fs::write(&file, &good[..len]).unwrap();
        assert_ignored(dir.path(), keys, because);
        std::fs::write(&file, &good).unwrap();
    }
}

#[test]
fn given_a_snapshot_of_another_trial_then_it_is_ignored() {
    // given another trial simulated with the same seed, so the same sequencer key
    let (dir, keys) = trial();
    let other = &templates().1;
    assert_eq!(
        other.keys.sequencer.key.public_key(),
        keys.sequencer.key.public_key()
    );
    let mut l = open(other.dir.path(), &other.keys);
    l.save_snapshot().unwrap();
    drop(l);
    // when its snapshot is put in this trial's ledger, as it is and signed again for this
    // trial by the same key
    let theirs = std::fs::read(snapshot_file(other.dir.path())).unwrap();
    std::fs::write(snapshot_file(dir.path()), &theirs).unwrap();
    // then it is ignored
    assert_ignored(dir.path(), keys, "of trial \"snapshot-other\"");
    let trial = TrialId::new(TRIAL).unwrap();
    let resigned = tamper::resign(&theirs, &trial, &keys.sequencer.key);
    std::fs::write(snapshot_file(dir.path()), resigned).unwrap();
    assert_ignored(dir.path(), keys, "its body names another trial");
}

#[test]
fn given_a_snapshot_signed_by_another_key_then_it_is_ignored() {
    let (dir, keys) = trial();
    let file = snapshot_file(dir.path());
    let trial = TrialId::new(TRIAL).unwrap();
    let good = std::fs::read(&file).unwrap();
    // the admin key is enrolled, but it is not this writer's key
    std::fs::write(&file, tamper::resign(&good, &trial, &keys.admin.key)).unwrap();
    assert_ignored(dir.path(), keys, "not by this writer's key");
}

#[test]
fn given_a_snapshot_with_an_added_enrolled_key_then_its_signature_fails_and_it_is_ignored() {
    let (dir, keys) = trial();
    let file = snapshot_file(dir.path());
    let good = std::fs::read(&file).unwrap();
    let extra = SigningKey::from_seed([200; 32]);
    let bad = tamper::add_enrolled_key::<tl_domain::rules::SubjectState>(
        &good,
        KeyEntry {
            public_key: extra.public_key(),
            name: "backdoor".into(),
            role: Role::Mtb,
            enrolled_at: 1,
            revoked: None,
        },
    );
    assert_ne!(bad, good);
    std::fs::write(&file, bad).unwrap();
    assert_ignored(dir.path(), keys, "signature does not verify");
    let l = open(dir.path(), keys);
    assert!(l.state().registry().public_key(&extra.key_id()).is_none());
}

#[test]
fn given_a_snapshot_with_a_dropped_subject_then_its_signature_fails_and_it_is_ignored() {
    // (seen ids are no longer in the snapshot but in the tile store's index: see
    // tests/store.rs for a store that contradicts the log)
    let (dir, keys) = trial();
    let file = snapshot_file(dir.path());
    let good = std::fs::read(&file).unwrap();
    let bad = tamper::drop_subject::<tl_domain::rules::SubjectState>(&good);
    assert!(bad.len() < good.len());
    std::fs::write(&file, bad).unwrap();
    assert_ignored(dir.path(), keys, "signature does not verify");
}

#[test]
fn given_a_ledger_without_a_snapshot_when_a_writer_opens_and_appends_nothing_then_no_file_changes()
{
    // given a ledger of more than SNAPSHOT_EVERY records and no snapshot
    let (dir, keys) = trial();
    std::fs::remove_file(snapshot_file(dir.path())).unwrap();
    let before = records(&full_replay(dir.path(), keys));
    assert!(before >= snapshot::SNAPSHOT_EVERY, "{before} records");
    // when a writer replays it all and closes without appending (a refused command)
    let l = open(dir.path(), keys);
    assert_eq!(l.snapshot_use(), &SnapshotUse::Absent);
    l.close().unwrap();
    // then it saved no snapshot: a refusal leaves the folder as it found it
    assert!(!snapshot_file(dir.path()).exists());
    // and a writer that appends saves one when it closes
    let mut l = open(dir.path(), keys);
    append(&mut l, keys, "one", 1);
    l.close().unwrap();
    assert!(snapshot_file(dir.path()).exists());
}

/// The file offsets of the frames of the first segment of `partition`, in order.
fn frame_offsets(dir: &Path, partition: u32) -> (PathBuf, Vec<usize>) {
    let seg = dir
        .join("ledger")
        .join(format!("p{partition:05}"))
        .join(format!("{:020}.seg", 0));
    let bytes = std::fs::read(&seg).unwrap();
    let mut offsets = Vec::new();
    let mut at = 16;
    while at + 8 <= bytes.len() {
        offsets.push(at);
        at += 8 + u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    }
    (seg, offsets)
}

fn flip_payload_byte(seg: &Path, frame: usize) {
    let mut bytes = std::fs::read(seg).unwrap();
    bytes[frame + 8 + 5] ^= 1;
    std::fs::write(seg, bytes).unwrap();
}

#[test]
fn given_a_snapshot_then_the_writer_does_not_read_the_frames_it_covers_but_verification_does() {
    // given a trial whose snapshot covers the whole ledger, and a damaged payload byte in the
    // first record of partition 1 (covered, and not the record at the snapshot's position)
    let (dir, keys) = trial();
    let (seg, frames) = frame_offsets(dir.path(), 1);
    assert!(frames.len() > 2, "{} frames", frames.len());
    flip_payload_byte(&seg, frames[0]);
    // when a writer opens, then it uses the snapshot without reading that frame (FORMAT.md
    // §17: the frames a snapshot covers are tied to it by the record at its position)
    let l = open(dir.path(), keys);
    assert!(
        matches!(l.snapshot_use(), SnapshotUse::Loaded { replayed: 0, .. }),
        "{:?}",
        l.snapshot_use()
    );
    drop(l);
    // while a reader that verifies, scanning every frame, finds the damage
    let reader = tl_ledger::embedded::EmbeddedReader::open(&dir.path().join("ledger")).unwrap();
    let end = reader.scan(1).unwrap().end;
    assert!(
        matches!(end, tl_ledger::embedded::ScanEnd::Corrupt { seq: 0, .. }),
        "{end:?}"
    );
}

#[test]
fn given_a_snapshot_whose_position_record_is_damaged_then_the_writer_scans_everything_and_refuses()
{
    // given a trial whose snapshot covers the whole ledger, and the last record of partition 1
    // (the record at the snapshot's position) damaged
    let (dir, keys) = trial();
    let (seg, frames) = frame_offsets(dir.path(), 1);
    flip_payload_byte(&seg, *frames.last().unwrap());
    let before = std::fs::read(&seg).unwrap();
    // when a writer opens, then the snapshot is ignored, every frame is read, and the damage
    // is refused as without a snapshot, changing nothing
    let trust = TrustFile::read(&dir.path().join("trust.json")).unwrap();
    let err = EmbeddedLedger::open(
        &dir.path().join("ledger"),
        &trust,
        TrialRules,
        keys.sequencer.key.clone(),
    )
    .err()
    .expect("a refusal");
    assert!(
        matches!(&err, tl_ledger::Error::Store(e) if e.is_corruption()),
        "{err}"
    );
    assert_eq!(std::fs::read(&seg).unwrap(), before);
}

// The tile store (FORMAT.md §17, "Tile store"): record hashes, subtree hashes and seen ids
// on disk, derived from the log and checked against the snapshot.

fn store_dir(dir: &Path) -> PathBuf {
    tl_ledger::tilestore::store_dir(&dir.join("ledger"))
}

fn hash_file(dir: &Path, p: u32) -> PathBuf {
    tl_ledger::tilestore::hashes_path(&store_dir(dir), p)
}

/// The store the writer builds from the log alone: a copy of `dir` without its snapshot and
/// store, opened (a full replay) and made to save a snapshot, which writes the store.
fn store_from_the_log(dir: &Path, keys: &SimKeys) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir, copy.path());
    std::fs::remove_file(snapshot_file(copy.path())).unwrap();
    std::fs::remove_dir_all(store_dir(copy.path())).unwrap();
    let mut l = open(copy.path(), keys);
    assert_eq!(l.snapshot_use(), &SnapshotUse::Absent);
    l.save_snapshot().unwrap();
    l.close().unwrap();
    copy
}

/// Asserts that every partition's hash file of `dir` is byte for byte the one built from the
/// log alone.
fn assert_store_matches_the_log(dir: &Path, keys: &SimKeys) {
    let reference = store_from_the_log(dir, keys);
    let partitions = open(dir, keys).state().partition_count();
    for p in 0..partitions {
        let (got, want) = (hash_file(dir, p), hash_file(reference.path(), p));
        assert!(
            std::fs::read(&got).unwrap() == std::fs::read(&want).unwrap(),
            "partition {p}: {} differs from the store built from the log",
            got.display()
        );
    }
}

/// A trial whose writer appended records after its snapshot (so the store holds hashes past
/// the snapshot's position), closed without a new snapshot.
fn trial_with_records_after_the_snapshot() -> (tempfile::TempDir, &'static SimKeys, u64) {
    let (dir, keys) = trial();
    let mut l = open(dir.path(), keys);
    let covered = records(l.state());
    append(&mut l, keys, "after", 3);
    l.close().unwrap();
    (dir, keys, covered)
}

#[test]
fn given_a_store_with_a_torn_or_damaged_tail_then_the_writer_repairs_it_from_the_log() {
    for damage in ["torn", "damaged"] {
        // given a store whose partition-0 file ends in a torn hash, or in a damaged one,
        // after the snapshot's position (the enrolment appended after it is in partition 0)
        let (dir, keys, covered) = trial_with_records_after_the_snapshot();
        let file = hash_file(dir.path(), 0);
        let mut bytes = std::fs::read(&file).unwrap();
        match damage {
            "torn" => bytes.truncate(bytes.len() - 20),
            _ => {
                let n = bytes.len();
                bytes[n - 32..].fill(0xAA);
            }
        }
        std::fs::write(&file, &bytes).unwrap();
        // when a writer opens, then the snapshot is still used (its position is intact)
        let mut l = open(dir.path(), keys);
        assert!(
            matches!(l.snapshot_use(), SnapshotUse::Loaded { covered: c, .. } if *c == covered),
            "{damage}: {:?}",
            l.snapshot_use()
        );
        // and once it commits, the store is the one the log gives
        append(&mut l, keys, "repair", 1);
        l.close().unwrap();
        assert_store_matches_the_log(dir.path(), keys);
    }
}

/// A change made to a store, and the reason it is then not trusted.
type Damage = (&'static str, fn(&Path));

#[test]
fn given_a_store_that_contradicts_the_log_then_the_snapshot_is_ignored_and_the_store_rebuilt() {
    let cases: [Damage; 4] = [
        ("its record hash", |dir| {
            // every hash of partition 0 overwritten, the length kept
            let file = hash_file(dir, 0);
            let n = std::fs::metadata(&file).unwrap().len() as usize;
            std::fs::write(&file, vec![0x5A; n]).unwrap();
        }),
        ("are needed", |dir| {
            // partition 0's file cut to half
            let file = hash_file(dir, 0);
            let bytes = std::fs::read(&file).unwrap();
            std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
        }),
        ("index covers 0 records", |dir| {
            std::fs::remove_dir_all(store_dir(dir)).unwrap();
        }),
        ("not the snapshot's", |dir| {
            // the hash of partition 0's largest complete subtree at the snapshot's position
            // changed: its leaves are intact, its tree is not
            let pos = {
                let keys = &templates().0.keys;
                open(dir, keys).state().len(0)
            };
            let level = 63 - pos.leading_zeros() as u8;
            let at = tl_ledger::tilestore::stored_hash_index(level, 0) as usize * 32;
            let file = hash_file(dir, 0);
            let mut bytes = std::fs::read(&file).unwrap();
            for b in &mut bytes[at..at + 32] {
                *b ^= 0xFF;
            }
            std::fs::write(&file, &bytes).unwrap();
        }),
    ];
    for (because, damage) in cases {
        // given a trial with its snapshot and a store changed behind the writer's back
        let (dir, keys) = trial();
        damage(dir.path());
        // when a writer opens, then the snapshot is ignored, the state equals a full replay
        // and the next writer uses the snapshot saved then
        assert_ignored(dir.path(), keys, because);
        // and the store was rewritten from the log
        assert_store_matches_the_log(dir.path(), keys);
    }
}

#[test]
fn given_a_snapshot_and_its_store_when_a_submission_is_resubmitted_after_a_restart_then_it_returns_its_original_receipt(
) {
    // given a patient registered, then a snapshot covering it, and a restart
    let (dir, keys) = trial();
    let mut l = open(dir.path(), keys);
    let trial = l.state().trial().clone();
    let now = UtcMicros::parse_rfc3339("2031-02-01T00:00:00Z").unwrap();
    let draft = |site: &str| {
        let registered = PatientRegistered {
            tumour_type: "COAD".into(),
            site: site.into(),
            registered_on: Date::from_ymd(2031, 1, 1).unwrap(),
        };
        let subject = Subject::Patient(Name::new("P-dup-001").unwrap());
        let mut d = Draft::new(subject, envelope_of(&registered));
        d.submission_id = SubmissionId([0xD0; 16]);
        d.client_time = now;
        d.sign(&trial, &keys.investigators[0].key)
    };
    let Outcome::Sealed(first) = l.submit_decoded(draft("site dup"), now).unwrap() else {
        panic!("not sealed");
    };
    let p = first.record.body.partition;
    l.save_snapshot().unwrap();
    l.close().unwrap();
    let mut l = open(dir.path(), keys);
    assert!(matches!(
        l.snapshot_use(),
        SnapshotUse::Loaded { replayed: 0, .. }
    ));
    // (the id is known from the on-disk index only: memory holds no seen id)
    assert!(l.state().partition(p).unwrap().seen.is_empty());
    // when the same submission comes again, then it gets its original receipt
    let later = UtcMicros::parse_rfc3339("2031-02-02T00:00:00Z").unwrap();
    match l.submit_decoded(draft("site dup"), later).unwrap() {
        Outcome::Duplicate(r) => {
            assert_eq!((r.partition, r.seq), (p, first.record.body.seq));
            assert_eq!(r.record_hash, first.hash.to_hex());
        }
        other => panic!("not a duplicate: {other:?}"),
    }
    // and other content under the same id is refused; the ledger does not grow
    let before = records(l.state());
    match l.submit_decoded(draft("another site"), later).unwrap() {
        Outcome::Refused(r) => assert_eq!(r.reason, tl_ledger::Reason::SubmissionIdConflict),
        other => panic!("not refused: {other:?}"),
    }
    assert_eq!(records(l.state()), before);
    l.close().unwrap();
}
