//! Replays the fuzz corpus in the ordinary test suite: every committed seed (`fuzz/seeds/`) and
//! every minimised finding (`fuzz/regressions/`) goes through the same checks as its fuzz target
//! (no panic, canonical round trip, deterministic verdict), so a fixed crash stays fixed
//! without a nightly toolchain. The fuzz targets themselves are run by `scripts/fuzz`.

use std::fs;
use std::path::{Path, PathBuf};
use tl_ledger::audit::{check_held, check_proof, leaf_hashes, parse_proof, sequencer_keys, KeyPin};
use tl_ledger::bundle::{decode_bundle, encode_bundle, verify_bundle, Pinned};
use tl_ledger::checkpoint::SignedCheckpoint;
use tl_ledger::embedded::{encode_frame, scan_segment_bytes, SEGMENT_HEADER_LEN};
use tl_ledger::publish::{parse_note_bytes, stored_checkpoints_in, ListEnd};
use tl_ledger::trust::TrustFile;
use tl_ledger::verify::PartitionInput;
use tl_ledger::CoreOnly;
use tl_schemas::{clinical::*, events::*, Envelope, Record, SignedSubmission, Submission};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The seed and regression inputs of one target (at least one must exist).
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for kind in ["seeds", "regressions"] {
        let Ok(dir) = fs::read_dir(fuzz_dir().join(kind).join(target)) else {
            continue;
        };
        for entry in dir {
            let path = entry.unwrap().path();
            out.push((path.clone(), fs::read(&path).unwrap()));
        }
    }
    assert!(!out.is_empty(), "no inputs for fuzz target {target}");
    out
}

struct Demo {
    trust: TrustFile,
    p0: Vec<Vec<u8>>,
}

/// The checkpoint and proof targets' fixture: the demo ledger's trust file and partition 0.
fn demo() -> Demo {
    let trust =
        serde_json::from_slice(&fs::read(fuzz_dir().join("fixtures/trust.json")).unwrap()).unwrap();
    let seg = fs::read(fuzz_dir().join("fixtures/ledger/p0.seg")).unwrap();
    Demo {
        trust,
        p0: scan_segment_bytes(&seg, 0).records,
    }
}

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(bytes: &[u8]) {
    let first = tl_schemas::decode::<T>(bytes);
    assert_eq!(
        first.as_ref().err(),
        tl_schemas::decode::<T>(bytes).as_ref().err()
    );
    if let Ok(v) = first {
        assert_eq!(tl_schemas::encode(&v), bytes);
    }
}

#[test]
fn canonical_corpus_round_trips() {
    let table: &[fn(&[u8])] = &[
        round_trip::<Record>,
        round_trip::<SignedSubmission>,
        round_trip::<Submission>,
        round_trip::<Envelope>,
        round_trip::<TrialRegistered>,
        round_trip::<KeyEnrolled>,
        round_trip::<KeyRevoked>,
        round_trip::<RootKeyRotated>,
        round_trip::<ProtocolAmended>,
        round_trip::<CohortCatalogue>,
        round_trip::<PatientRegistered>,
        round_trip::<ConsentRecorded>,
        round_trip::<ConsentWithdrawn>,
        round_trip::<SequencingResultReported>,
        round_trip::<MatchProposed>,
        round_trip::<MatchDecided>,
        round_trip::<SlotAssigned>,
        round_trip::<SlotRefused>,
        round_trip::<PatientEnrolled>,
        round_trip::<DoseAdministered>,
        round_trip::<DoseModified>,
        round_trip::<AdverseEventReported>,
        round_trip::<AdverseEventUpdated>,
        round_trip::<ResponseAssessed>,
        round_trip::<TreatmentEnded>,
        round_trip::<SurvivalStatusRecorded>,
        round_trip::<DeathRecorded>,
        round_trip::<CohortStageDecided>,
        round_trip::<Corrected>,
    ];
    let mut decoded = 0;
    for (path, data) in inputs("canonical") {
        let Some((&sel, bytes)) = data.split_first() else {
            continue;
        };
        if let Ok((_, n)) = tl_ledger::codec::decode_record(bytes) {
            assert_eq!(n + 64, bytes.len(), "{}", path.display());
        }
        let _ = tl_ledger::codec::decode_submission(bytes);
        table[sel as usize % table.len()](bytes);
        decoded += 1;
    }
    assert!(
        decoded > 40,
        "the canonical seeds cover every type: {decoded}"
    );
}

#[test]
fn frame_scan_corpus_rebuilds_its_frames() {
    for (path, data) in inputs("frame_scan") {
        let scan = scan_segment_bytes(&data, 0);
        assert_eq!(scan, scan_segment_bytes(&data, 0), "{}", path.display());
        let mut rebuilt = data[..SEGMENT_HEADER_LEN as usize].to_vec();
        for r in &scan.records {
            rebuilt.extend_from_slice(&encode_frame(r));
        }
        assert_eq!(
            &rebuilt[..],
            &data[..scan.valid_len as usize],
            "{}",
            path.display()
        );
    }
}

/// The small fixture of the verify_ledger and bundle targets (`fuzz/fixtures/small`, written
/// by `cargo run -p tl-domain --example fuzz_fixture -- fuzz`): its trust file, and each
/// partition's segment and checkpoint file.
struct Small {
    trust: TrustFile,
    segments: Vec<Vec<u8>>,
    checkpoints: Vec<Vec<u8>>,
}

fn small() -> Small {
    let dir = fuzz_dir().join("fixtures/small");
    let trust: TrustFile =
        serde_json::from_slice(&fs::read(dir.join("trust.json")).unwrap()).unwrap();
    let read = |ext: &str| -> Vec<Vec<u8>> {
        (0..trust.partitions)
            .map(|p| fs::read(dir.join(format!("p{p}.{ext}"))).unwrap())
            .collect()
    };
    Small {
        segments: read("seg"),
        checkpoints: read("ckpt"),
        trust,
    }
}

impl Small {
    /// The verify_ledger target's input: the selector byte picks partition (byte / 2) mod N,
    /// its segment (even) or checkpoint file (odd), which the rest of the input replaces.
    fn inputs(&self, sel: u8, bytes: &[u8]) -> Vec<PartitionInput> {
        let n = self.segments.len();
        let (p, checkpoint) = ((sel as usize / 2) % n, sel % 2 == 1);
        (0..n)
            .map(|q| {
                let swap = |honest: &[u8], is: bool| -> Vec<u8> {
                    if q == p && is {
                        bytes.to_vec()
                    } else {
                        honest.to_vec()
                    }
                };
                let seg = swap(&self.segments[q], !checkpoint);
                let ckpt = swap(&self.checkpoints[q], checkpoint);
                PartitionInput {
                    checkpoints: stored_checkpoints_in(&format!("p{q}.ckpt"), &ckpt),
                    ..PartitionInput::clean(scan_segment_bytes(&seg, 0).records)
                }
            })
            .collect()
    }
}

#[test]
fn verify_corpus_gives_one_verdict() {
    let d = small();
    let root = d.trust.root_key().unwrap();
    let trial = d.trust.trial();
    let run = |inputs: &[PartitionInput]| {
        let r = tl_ledger::verify_ledger(&trial, root, inputs, CoreOnly);
        let failures: Vec<_> = r
            .failures
            .iter()
            .map(|f| (f.partition, f.seq, f.reason))
            .collect();
        (r.ok, failures)
    };
    let mut failed = 0;
    for (path, data) in inputs("verify_ledger") {
        let Some((&sel, bytes)) = data.split_first() else {
            continue;
        };
        let inputs = d.inputs(sel, bytes);
        let first = run(&inputs);
        assert_eq!(first, run(&inputs), "{}", path.display());
        failed += !first.0 as usize;
    }
    assert!(failed > 0, "the torn seeds fail verification");
    // The untouched fixture verifies, checkpoints included, so the corpus exercises the honest
    // paths too.
    let report = tl_ledger::verify_ledger(&trial, root, &d.inputs(0, &d.segments[0]), CoreOnly);
    assert!(report.ok, "{:?}", report.failures);
    assert!(report.records_total >= 10, "{}", report.records_total);
}

#[test]
fn checkpoint_corpus_parses_consistently() {
    let d = demo();
    let trial = d.trust.trial();
    let keys = sequencer_keys(&trial, &d.p0);
    let leaves = [leaf_hashes(&d.p0)];
    let mut held_ok = 0;
    for (path, data) in inputs("checkpoint") {
        for end in [ListEnd::TornTailAllowed, ListEnd::Strict] {
            let Ok(list) = parse_note_bytes(&data, end) else {
                continue;
            };
            for note in &list.notes {
                let alone = SignedCheckpoint::parse(note.text()).expect("a listed note parses");
                assert_eq!(alone.text(), note.text(), "{}", path.display());
            }
            held_ok += check_held(&trial, &leaves, &keys, &list.notes)
                .iter()
                .filter(|c| c.ok)
                .count();
        }
    }
    assert!(
        held_ok > 0,
        "the demo's partition 0 checkpoint is checked as held"
    );
}

#[test]
fn proof_corpus_checks_consistently() {
    let d = demo();
    let pin = KeyPin::Root {
        trial: d.trust.trial(),
        root: d.trust.root_key().unwrap(),
    };
    let mut passed = 0;
    for (path, data) in inputs("proof") {
        let Ok(text) = std::str::from_utf8(&data) else {
            continue;
        };
        let run = || {
            parse_proof(text)
                .and_then(|p| check_proof(&p, &pin))
                .map(|c| c.lines)
                .map_err(|e| e.to_string())
        };
        let first = run();
        assert_eq!(first, run(), "{}", path.display());
        passed += first.is_ok() as usize;
    }
    assert!(passed > 0, "the demo's proofs pass");
}

#[test]
fn bundle_corpus_round_trips_and_verifies_consistently() {
    let d = small();
    let pinned = Pinned {
        trial: d.trust.trial(),
        root: d.trust.root_key().unwrap(),
        partitions: d.trust.partitions,
    };
    let mut passed = 0;
    for (path, data) in inputs("bundle") {
        let Ok(bundle) = decode_bundle(&data) else {
            continue;
        };
        assert_eq!(encode_bundle(&bundle), data, "{}", path.display());
        let run = || {
            let r = verify_bundle(&bundle, Some(&pinned), &[], CoreOnly);
            (r.ok, r.failure.map(|f| (f.item, f.reason)))
        };
        let first = run();
        assert_eq!(first, run(), "{}", path.display());
        passed += first.0 as usize;
    }
    assert!(passed >= 2, "the fixture's bundles verify");
}

#[test]
fn trust_and_key_corpus_reads_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("input.json");
    for (path, data) in inputs("trust_keys") {
        let Some((&sel, body)) = data.split_first() else {
            continue;
        };
        fs::write(&file, body).unwrap();
        if sel % 2 == 0 {
            let a = TrustFile::read(&file).map_err(|e| e.to_string());
            assert_eq!(
                a,
                TrustFile::read(&file).map_err(|e| e.to_string()),
                "{}",
                path.display()
            );
        } else {
            let read = || {
                tl_ledger::keyfile::read_public_file(&file)
                    .map(|f| f.public_key)
                    .map_err(|e| e.to_string())
            };
            assert_eq!(read(), read(), "{}", path.display());
        }
    }
}

/// The key_file target's check: the passphrase `fuzz`, scrypt capped at log2(N) = 4, so a
/// file asking for more work is refused before scrypt runs.
#[test]
fn key_file_corpus_reads_consistently_and_cheaply() {
    use tl_ledger::keyfile::{read_key_file_allowing, KeyFileError};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("input.key");
    let (mut accepted, mut too_costly) = (0, 0);
    for (path, data) in inputs("key_file") {
        fs::write(&file, &data).unwrap();
        let read = || {
            read_key_file_allowing(&file, "fuzz", 4)
                .map(|k| (k.name.clone(), k.role.clone(), k.public_key()))
                .map_err(|e| e.to_string())
        };
        let first = read();
        assert_eq!(first, read(), "{}", path.display());
        accepted += first.is_ok() as usize;
        too_costly += matches!(
            read_key_file_allowing(&file, "fuzz", 4),
            Err(KeyFileError::WorkFactorTooHigh { limit: 4, .. })
        ) as usize;
    }
    assert!(accepted > 0 && too_costly > 0, "{accepted} {too_costly}");
}

/// The largest single allocation request made by this thread while counting (other test
/// threads do not disturb it).
mod largest_allocation {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static LARGEST: Cell<Option<usize>> = const { Cell::new(None) };
    }

    pub struct Counting;

    // SAFETY: every call is forwarded unchanged to the system allocator; the wrapper only
    // records the requested size in a const-initialised thread-local (which never allocates).
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            note(layout.size());
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            note(new_size);
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    fn note(size: usize) {
        let _ = LARGEST.try_with(|l| {
            if let Some(max) = l.get() {
                l.set(Some(max.max(size)));
            }
        });
    }

    /// Runs `f` and returns the largest allocation it requested on this thread.
    pub fn during(f: impl FnOnce()) -> usize {
        LARGEST.with(|l| l.set(Some(0)));
        f();
        LARGEST.with(|l| l.replace(None)).unwrap_or(0)
    }
}

#[global_allocator]
static ALLOCATOR: largest_allocation::Counting = largest_allocation::Counting;

/// Fuzz finding (frame_scan, -malloc_limit_mb): a frame header declaring 16 MiB with 100 bytes
/// left in the segment made the scanner allocate and zero 16 MiB before reading. Now the
/// buffer grows only with the bytes present; the verdict (a torn frame) is unchanged.
#[test]
fn a_damaged_length_does_not_allocate_what_it_declares() {
    let data =
        fs::read(fuzz_dir().join("regressions/frame_scan/length-16MiB-100-bytes-left")).unwrap();
    let mut scan = None;
    let largest = largest_allocation::during(|| scan = Some(scan_segment_bytes(&data, 0)));
    let scan = scan.unwrap();
    assert!(scan.records.is_empty());
    assert!(scan.end.starts_with("Torn"), "{}", scan.end);
    assert!(
        largest < 64 * 1024,
        "the scanner allocated {largest} bytes for a 124-byte segment"
    );
}
