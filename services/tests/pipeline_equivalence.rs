//! Equivalence: re-sequencing a demo ledger's own submissions, at their recorded ordering
//! times, through the submit handle's multi-core pipeline reproduces the ledger byte for byte.
//!
//! The demo (a 200-patient simulation, the same code as `trial-ledger demo --patients 200`)
//! orders its submissions one at a time through `EmbeddedLedger::submit`. Its simulated clock
//! moves forward at least a second per submission, so sorting the records by ordering time
//! gives back the order they were sequenced in. A new ledger, created with the same keys at the
//! same time, then gets the same submissions through the handle in large ordered batches
//! (`submit_many`), each stamped with its record's ordering time, so that cites and
//! duplicates of records of the same batch, batch-verified author signatures and seals signed
//! in parallel all occur. Every record, and every segment file, must come out identical.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tl_domain::TrialRules;
use tl_ledger::log::read_embedded_for_verify;
use tl_ledger::submit::{spawn, HandleConfig};
use tl_ledger::{EmbeddedLedger, Submitted};
use tl_schemas::{encode, TrialId, UtcMicros};

/// Patients of the demo (the default demo has 1,610; this keeps the test near ten seconds).
const PATIENTS: u32 = 200;
/// Submissions per ordered batch through the handle.
const CHUNK: usize = 1_000;

/// Every file of the store's partition folders, by path relative to the ledger folder.
fn segment_files(ledger: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(ledger).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        if !dir.is_dir() || !name.starts_with('p') {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            let rel = format!("{name}/{}", f.file_name().unwrap().to_string_lossy());
            out.push((rel, std::fs::read(&f).unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn resequencing_the_demo_through_the_pipeline_reproduces_it_byte_for_byte() {
    // Given a demo ledger made one submission at a time,
    let tmp = tempfile::tempdir().unwrap();
    let original = tmp.path().join("original");
    let config = tl_sim::SimConfig::new(
        TrialId::new("drup-demo").unwrap(),
        tl_sim::DEFAULT_SEED,
        PATIENTS,
    );
    let (report, keys) = tl_sim::simulate(&original, &config).unwrap();
    // and its records in the order they were sequenced (ordering time, then position),
    let inputs = read_embedded_for_verify(&original).unwrap();
    let mut records: Vec<(UtcMicros, u32, u64, Vec<u8>)> = inputs
        .iter()
        .flat_map(|p| &p.records)
        .map(|bytes| {
            let (r, _) = tl_ledger::codec::decode_record(bytes).unwrap();
            let b = r.body;
            (b.ordering_time, b.partition, b.seq, encode(&b.submission))
        })
        .collect();
    assert_eq!(records.len() as u64, report.records);
    records.sort_by_key(|(time, p, seq, _)| (*time, *p, *seq));

    // when a new ledger of the same trial, keys and creation time
    let copy = tmp.path().join("copy");
    let created = records[0].0;
    let ledger = EmbeddedLedger::create(
        &copy,
        &config.trial,
        config.partitions,
        &config.title,
        &keys.root.key,
        keys.sequencer.key.clone(),
        TrialRules,
        created,
    )
    .unwrap();
    // gets every submission after the two bootstrap records through the handle, in order, in
    // batches of CHUNK, each at its record's ordering time,
    let rest = &records[2..];
    let times: Arc<Mutex<VecDeque<UtcMicros>>> =
        Arc::new(Mutex::new(rest.iter().map(|r| r.0).collect()));
    let clock = {
        let times = times.clone();
        move || {
            times
                .lock()
                .unwrap()
                .pop_front()
                .expect("one ordering time per submission")
        }
    };
    let (handle, thread) = spawn(ledger, clock, HandleConfig::default()).unwrap();
    let started = std::time::Instant::now();
    for (c, chunk) in rest.chunks(CHUNK).enumerate() {
        let bytes = chunk.iter().map(|r| r.3.clone()).collect();
        for (i, answer) in handle
            .submit_many_blocking(bytes)
            .unwrap()
            .into_iter()
            .enumerate()
        {
            let (_, p, seq, _) = &chunk[i];
            match answer.unwrap() {
                Submitted::Recorded(r) => {
                    assert_eq!(
                        (r.partition, r.seq),
                        (*p, *seq),
                        "batch {c}, submission {i}"
                    )
                }
                other => panic!("record {p}/{seq} was not recorded again: {other:?}"),
            }
        }
    }
    let elapsed = started.elapsed();
    thread.stop().unwrap().close().unwrap();
    eprintln!(
        "re-sequenced {} records through the pipeline in {} ms",
        rest.len(),
        elapsed.as_millis()
    );

    // then every record is the same, byte for byte,
    let again = read_embedded_for_verify(&copy).unwrap();
    for (p, (a, b)) in inputs.iter().zip(&again).enumerate() {
        assert_eq!(a.records.len(), b.records.len(), "partition {p}");
        for (seq, (x, y)) in a.records.iter().zip(&b.records).enumerate() {
            assert!(x == y, "record {p}/{seq} differs");
        }
    }
    // and so is every segment file.
    let (a, b) = (segment_files(&original), segment_files(&copy));
    assert!(!a.is_empty());
    assert_eq!(
        a.iter().map(|f| &f.0).collect::<Vec<_>>(),
        b.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "segment file {name} differs");
    }
}
