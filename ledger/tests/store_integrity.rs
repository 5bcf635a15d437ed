//! A writer never destroys a complete record (FORMAT.md §17):
//!
//! * every single-bit flip of every frame header (length and checksum) in the last segment of
//!   every partition of a small ledger leaves, after a writer opens it, every record that was
//!   complete and valid before still there byte for byte, or the writer refused and every file
//!   is unchanged: with all records covered by stored checkpoints, and with the last records
//!   of each partition covered by none;
//! * a genuinely torn final frame (a prefix of a real append) is still cut;
//! * a torn tail that a stored checkpoint covers is refused before anything is cut, `verify`
//!   no longer promises that the writer cuts it, and `repair` refuses it too;
//! * a damaged length at the end, covered by no checkpoint, is cut by `repair` only, which
//!   keeps the bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tl_ledger::log::{cut_tails, read_embedded_for_verify};
use tl_ledger::publish::{self, PublishPolicy};
use tl_ledger::reason::Refusal;
use tl_ledger::rules::{DomainRules, RuleContext};
use tl_ledger::trust::TrustFile;
use tl_ledger::verify::InputEnd;
use tl_ledger::writer::Draft;
use tl_ledger::{EmbeddedLedger, Error, Outcome, SigningKey};
use tl_schemas::events::{envelope_of, KeyEnrolled};
use tl_schemas::roles::Authority;
use tl_schemas::{Envelope, Role, Subject, SubmissionId, TrialId, UtcMicros};

const NOTE: u16 = 0xF001;
const PARTITIONS: u32 = 3;
const T0: i64 = 1_764_000_000_000_000;

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

/// A closed ledger of three partitions, each with a few records in its one segment.
struct Ledger {
    dir: tempfile::TempDir,
    trial: TrialId,
    counter: u64,
}

impl Ledger {
    /// Every partition gets records; with `uncovered`, the last two records of each partition
    /// are covered by no stored checkpoint (a crash before publication).
    fn new(uncovered: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let trial = TrialId::new("store-test").unwrap();
        let mut l = Ledger {
            dir,
            trial,
            counter: 0,
        };
        let mut ledger = EmbeddedLedger::create(
            &l.ledger_dir(),
            &l.trial,
            PARTITIONS,
            "t",
            &key(1),
            key(2),
            Notes,
            UtcMicros(T0),
        )
        .unwrap();
        ledger.set_publish_policy(PublishPolicy {
            every_records: 1_000,
            every: Duration::from_secs(3600),
        });
        TrustFile::new(&l.trial, key(1).public_key(), PARTITIONS)
            .write(&l.dir.path().join("trust.json"))
            .unwrap();
        let enrol = envelope_of(&KeyEnrolled {
            public_key: key(3).public_key(),
            name: "Lab".into(),
            role: Role::Lab,
        });
        l.submit(&mut ledger, Subject::Trial, enrol, &key(1));
        for p in 0..PARTITIONS {
            l.notes(&mut ledger, p, 2);
        }
        ledger.close().unwrap();
        if uncovered {
            let held = l.checkpoint_files();
            let mut ledger = l.open().unwrap();
            for p in 0..PARTITIONS {
                l.notes(&mut ledger, p, 2);
            }
            ledger.close().unwrap();
            for (path, bytes) in held {
                std::fs::write(path, bytes).unwrap();
            }
        }
        l
    }

    fn ledger_dir(&self) -> PathBuf {
        self.dir.path().join("ledger")
    }

    fn open(&self) -> Result<EmbeddedLedger<Notes>, Error> {
        let trust = TrustFile::read(&self.dir.path().join("trust.json")).unwrap();
        EmbeddedLedger::open(&self.ledger_dir(), &trust, Notes, key(2)).map(|(l, _)| l)
    }

    fn submit(
        &mut self,
        ledger: &mut EmbeddedLedger<Notes>,
        subject: Subject,
        env: Envelope,
        author: &SigningKey,
    ) -> u32 {
        self.counter += 1;
        let mut d = Draft::new(subject, env);
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.counter.to_be_bytes());
        d.submission_id = SubmissionId(id);
        d.client_time = UtcMicros(T0 + self.counter as i64);
        let s = d.sign(&self.trial, author);
        match ledger
            .submit_decoded(s, UtcMicros(T0 + self.counter as i64))
            .unwrap()
        {
            Outcome::Sealed(s) => s.record.body.partition,
            other => panic!("not sealed: {other:?}"),
        }
    }

    /// `n` notes about a patient whose subject lands in partition `p`, of varied lengths.
    fn notes(&mut self, ledger: &mut EmbeddedLedger<Notes>, p: u32, n: usize) {
        let patient = (0..)
            .find(|i| {
                let s = Subject::parse(&format!("patient:P-{i}")).unwrap();
                tl_schemas::partition_of(&self.trial, &s, PARTITIONS) == p
            })
            .unwrap();
        for _ in 0..n {
            let text = "x".repeat(self.counter as usize % 7);
            let env = Envelope::new(NOTE, 1, format!("note {text}").into_bytes());
            let subject = Subject::parse(&format!("patient:P-{patient}")).unwrap();
            assert_eq!(self.submit(ledger, subject, env, &key(3)), p);
        }
    }

    fn checkpoint_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        (0..PARTITIONS)
            .map(|p| publish::checkpoint_path(&self.ledger_dir(), p))
            .filter(|path| path.exists())
            .map(|path| {
                let bytes = std::fs::read(&path).unwrap();
                (path, bytes)
            })
            .collect()
    }

    fn segment(&self, p: u32) -> PathBuf {
        self.ledger_dir()
            .join(format!("p{p:05}"))
            .join("00000000000000000000.seg")
    }

    /// Every file of the ledger folder but the lock, with its bytes.
    fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        walk(&self.ledger_dir(), &mut out);
        out
    }

    /// Puts the folder back exactly as in `snap`, rewriting only the files that differ.
    fn restore(&self, snap: &BTreeMap<PathBuf, Vec<u8>>) {
        let now = self.snapshot();
        for path in now.keys() {
            if !snap.contains_key(path) {
                std::fs::remove_file(path).unwrap();
            }
        }
        for (path, bytes) in snap {
            if now.get(path) != Some(bytes) {
                overwrite(path, bytes);
            }
        }
    }

    /// Each partition's complete, valid records as stored.
    fn records(&self) -> Vec<Vec<Vec<u8>>> {
        read_embedded_for_verify(&self.ledger_dir())
            .unwrap()
            .into_iter()
            .map(|p| p.records)
            .collect()
    }

    /// The last stored checkpoint's size per partition.
    fn checkpoint_sizes(&self) -> Vec<u64> {
        (0..PARTITIONS)
            .map(|p| {
                publish::read_published(&self.ledger_dir(), p)
                    .unwrap()
                    .last()
                    .map_or(0, |c| c.unverified().size)
            })
            .collect()
    }
}

/// Writes `bytes` over a file in place, then sets its length. Unlike `fs::write`, this never
/// truncates to zero first, which ext4 answers with an implicit flush on close: with it, the
/// flip test's thousands of rewrites take tens of seconds on a busy disk.
fn overwrite(path: &Path, bytes: &[u8]) {
    use std::io::{Seek, Write};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .unwrap();
    f.seek(std::io::SeekFrom::Start(0)).unwrap();
    f.write_all(bytes).unwrap();
    // ftruncate is slow on a busy disk (a millisecond here): only when the length changes.
    if f.metadata().unwrap().len() != bytes.len() as u64 {
        f.set_len(bytes.len() as u64).unwrap();
    }
}

fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.file_name().is_some_and(|n| n != "LOCK") {
            out.insert(p.clone(), std::fs::read(&p).unwrap());
        }
    }
}

/// Byte offsets of the frames of a segment (16-byte header, then `len u32 LE, crc, payload`).
fn frame_offsets(segment: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = 16;
    while at < segment.len() {
        out.push(at);
        let len = u32::from_le_bytes(segment[at..at + 4].try_into().unwrap());
        at += 8 + len as usize;
    }
    assert_eq!(at, segment.len());
    out
}

/// Flips every bit of every frame header in each partition's last segment and opens a writer
/// after each flip. Returns how many flips were refused and how many opened.
fn flip_every_header_bit(l: &Ledger) -> (usize, usize) {
    let before = l.snapshot();
    let records = l.records();
    let (mut refused, mut opened) = (0, 0);
    for p in 0..PARTITIONS {
        let path = l.segment(p);
        let original = before[&path].clone();
        for frame in frame_offsets(&original) {
            for bit in 0..64 {
                let mut flipped = original.clone();
                flipped[frame + bit / 8] ^= 1 << (bit % 8);
                overwrite(&path, &flipped);
                let mut damaged = before.clone();
                damaged.insert(path.clone(), flipped);
                match l.open() {
                    Err(e) => {
                        assert_eq!(
                            l.snapshot(),
                            damaged,
                            "partition {p}, frame at {frame}, bit {bit}: refused ({e}) but changed a file"
                        );
                        refused += 1;
                    }
                    Ok(ledger) => {
                        let now: Vec<_> = (0..PARTITIONS)
                            .map(|q| ledger.read(q, 0, usize::MAX).unwrap())
                            .collect();
                        drop(ledger);
                        for (q, (was, is)) in records.iter().zip(&now).enumerate() {
                            assert!(
                                is.len() >= was.len() && is[..was.len()] == was[..],
                                "partition {p}, frame at {frame}, bit {bit}: the writer lost records of partition {q}"
                            );
                        }
                        opened += 1;
                    }
                }
                l.restore(&before);
            }
        }
    }
    assert_eq!(l.snapshot(), before);
    (refused, opened)
}

#[test]
fn no_header_bit_flip_makes_a_writer_destroy_a_complete_record() {
    let started = Instant::now();
    let mut flips = 0;
    for uncovered in [false, true] {
        let l = Ledger::new(uncovered);
        let sizes = l.checkpoint_sizes();
        let lens: Vec<u64> = l.records().iter().map(|r| r.len() as u64).collect();
        if uncovered {
            assert!(
                sizes.iter().zip(&lens).all(|(s, n)| s + 2 == *n),
                "{sizes:?} {lens:?}"
            );
        } else {
            assert_eq!(sizes, lens);
        }
        let (refused, opened) = flip_every_header_bit(&l);
        // A flipped header cannot leave its frame readable, so no open can succeed.
        assert_eq!(opened, 0);
        flips += refused;
    }
    eprintln!(
        "{flips} header bit flips, each followed by a writer's open, in {:?}",
        started.elapsed()
    );
}

/// The reproduction: the length of the 4th frame of a one-segment partition points
/// past the end of the file. The writer must not cut five sealed records, and `verify` must
/// not call it a torn tail.
#[test]
fn a_length_past_the_end_of_the_file_is_damage_not_a_torn_tail() {
    let l = Ledger::new(false);
    let path = l.segment(0);
    let original = std::fs::read(&path).unwrap();
    let frames = frame_offsets(&original);
    assert!(frames.len() >= 5);
    let mut flipped = original.clone();
    flipped[frames[3] + 2] ^= 0x01; // +65,536 bytes
    std::fs::write(&path, &flipped).unwrap();
    let before = l.snapshot();
    let Err(e) = l.open() else {
        panic!("must refuse")
    };
    let msg = e.to_string();
    assert!(
        msg.contains("partition 0 is corrupt at seq 3")
            && msg.contains(&format!("at byte offset {}", frames[3]))
            && msg.contains("length field was damaged"),
        "{msg}"
    );
    assert_eq!(l.snapshot(), before, "a refusal changes nothing");
    let inputs = read_embedded_for_verify(&l.ledger_dir()).unwrap();
    assert!(
        matches!(&inputs[0].end, InputEnd::Corrupt { seq: 3, .. }),
        "{:?}",
        inputs[0].end
    );
    // Nor will repair cut it: the stored checkpoint covers those records.
    let e = cut_tails(&l.ledger_dir(), false, |_| {}).unwrap_err();
    assert!(e.to_string().contains("published a checkpoint"), "{e}");
    assert_eq!(l.snapshot(), before);
}

/// A prefix of a real append, where no checkpoint covers it, is cut as before, at every cut
/// point of the final frame of every partition; where a checkpoint covers it, the writer
/// refuses before cutting, `verify` says so, and `repair` refuses too.
#[test]
fn a_torn_final_frame_is_cut_unless_a_checkpoint_covers_it() {
    for uncovered in [true, false] {
        let l = Ledger::new(uncovered);
        let before = l.snapshot();
        let records = l.records();
        for p in 0..PARTITIONS {
            let path = l.segment(p);
            let original = before[&path].clone();
            let last = *frame_offsets(&original).last().unwrap();
            let n = records[p as usize].len() as u64;
            // Every cut inside the frame header, then through the payload (each cut point that
            // succeeds costs a replay and a checkpoint's fsync, so not every byte).
            let cuts = (last + 1..=last + 8).chain((last + 9..original.len()).step_by(11));
            for cut in cuts.chain([original.len() - 1]) {
                overwrite(&path, &original[..cut]);
                let inputs = read_embedded_for_verify(&l.ledger_dir()).unwrap();
                assert_eq!(
                    inputs[p as usize].end,
                    InputEnd::TornTail {
                        seq: n - 1,
                        writer_cuts: uncovered
                    }
                );
                let torn = l.snapshot();
                match l.open() {
                    Ok(ledger) => {
                        assert!(uncovered, "cut at {cut}: opened over a checkpointed record");
                        assert_eq!(ledger.log().len(p), n - 1);
                        for (q, recs) in records.iter().enumerate() {
                            let q = q as u32;
                            let keep = if q == p { recs.len() - 1 } else { recs.len() };
                            assert_eq!(
                                ledger.read(q, 0, usize::MAX).unwrap(),
                                recs[..keep],
                                "cut at {cut}"
                            );
                        }
                        drop(ledger);
                        assert_eq!(std::fs::read(&path).unwrap(), original[..last]);
                    }
                    Err(e) => {
                        assert!(!uncovered, "cut at {cut}: {e}");
                        let msg = e.to_string();
                        assert!(
                            msg.contains(&format!("partition {p}:"))
                                && msg.contains(&format!("byte offset {last}"))
                                && msg.contains(&format!("published a checkpoint of {n} records")),
                            "{msg}"
                        );
                        assert_eq!(l.snapshot(), torn, "a refusal changes nothing");
                        let e = cut_tails(&l.ledger_dir(), false, |_| {}).unwrap_err();
                        assert!(e.to_string().contains("published a checkpoint"), "{e}");
                        assert_eq!(l.snapshot(), torn);
                    }
                }
                l.restore(&before);
            }
        }
    }
}

/// The length of the last frame, covered by no checkpoint, points past the end: the writer
/// refuses; `repair` says what it removes, keeps the bytes beside the segment, and cuts; then
/// the writer opens.
#[test]
fn repair_cuts_a_damaged_tail_that_no_checkpoint_covers_and_keeps_it() {
    let l = Ledger::new(true);
    let records = l.records();
    let path = l.segment(1);
    let original = std::fs::read(&path).unwrap();
    let last = *frame_offsets(&original).last().unwrap();
    let mut flipped = original.clone();
    flipped[last + 1] ^= 0x04;
    std::fs::write(&path, &flipped).unwrap();
    let before = l.snapshot();
    assert!(l.open().is_err());
    assert_eq!(l.snapshot(), before);

    let mut announced = Vec::new();
    let dry = cut_tails(&l.ledger_dir(), true, |t| announced.push(t.clone())).unwrap();
    assert_eq!(l.snapshot(), before, "a dry run changes nothing");
    assert_eq!(dry.len(), 1);
    assert!(dry[0].copy.is_none());
    let mut told = Vec::new();
    let cuts = cut_tails(&l.ledger_dir(), false, |t| told.push(t.clone())).unwrap();
    assert_eq!(told, announced);
    let [cut] = &cuts[..] else { panic!("{cuts:?}") };
    assert_eq!(cut.tail.tail.partition, 1);
    assert_eq!(cut.tail.tail.offset, last as u64);
    assert!(cut
        .tail
        .damage
        .as_deref()
        .unwrap()
        .contains("length field was damaged"));
    let copy = cut.copy.as_ref().unwrap();
    assert_eq!(copy.parent(), path.parent());
    assert_eq!(std::fs::read(copy).unwrap(), flipped[last..]);
    assert_eq!(std::fs::read(&path).unwrap(), original[..last]);
    let ledger = l.open().unwrap();
    let kept = &records[1][..records[1].len() - 1];
    assert_eq!(ledger.read(1, 0, usize::MAX).unwrap(), kept);
    assert_eq!(ledger.read(0, 0, usize::MAX).unwrap(), records[0]);
}
