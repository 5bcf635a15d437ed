//! A child process for the grouped-appends crash test: opens a test trial's ledger, moves it
//! behind a submit handle, and lets 64 writer threads submit notes through it forever, each
//! printing `ack PARTITION SEQ HASH` for every receipt it gets. The parent kills it with
//! SIGKILL at a moment of its choosing, mid-batch.

use std::io::Write;
use tl_ledger::submit::{spawn, HandleConfig};
use tl_ledger::writer::Draft;
use tl_ledger::Submitted;
use tl_schemas::{encode, Envelope, Subject, UtcMicros};
use tl_tests::{TestTrial, NOTE};

/// Concurrent writers, as in the performance issue's grouped-appends measure.
const WRITERS: usize = 64;

fn main() {
    let dir = std::env::args().nth(1).expect("usage: handle_child DIR");
    let t = TestTrial::open(std::path::Path::new(&dir), "crash-test");
    let (lab, trial) = (t.keys.lab.clone(), t.trial.clone());
    let (handle, _thread) =
        spawn(t.ledger, UtcMicros::now, HandleConfig::default()).expect("spawn the handle");
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let (handle, lab, trial) = (handle.clone(), lab.clone(), trial.clone());
            s.spawn(move || {
                let subject = Subject::parse(&format!("patient:P-{w}")).expect("subject");
                for i in 0u64.. {
                    // Random submission ids: unique across the rounds of the test.
                    let env = Envelope::new(NOTE, 1, format!("writer {w} note {i}").into_bytes());
                    let signed = Draft::new(subject.clone(), env).sign(&trial, &lab);
                    match handle.submit_blocking(encode(&signed)) {
                        Ok(Submitted::Recorded(r)) => {
                            let mut out = std::io::stdout().lock();
                            writeln!(out, "ack {} {} {}", r.partition, r.seq, r.record_hash)
                                .and_then(|()| out.flush())
                                .expect("stdout");
                        }
                        other => panic!("writer {w}: {other:?}"),
                    }
                }
            });
        }
    });
}
