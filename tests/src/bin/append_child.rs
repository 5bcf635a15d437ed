//! A child process for the crash test: opens a test trial's ledger and appends notes forever,
//! printing `ack PARTITION SEQ HASH` after each record is durable. The parent kills it with
//! SIGKILL at a moment of its choosing.

use std::io::Write;
use tl_tests::TestTrial;

fn main() {
    let dir = std::env::args().nth(1).expect("usage: append_child DIR");
    let mut t = TestTrial::open(std::path::Path::new(&dir), "crash-test");
    let lab = t.keys.lab.clone();
    let stdout = std::io::stdout();
    for i in 0.. {
        let r = t.note(&format!("patient:P-{}", i % 13), &lab, vec![]);
        let mut out = stdout.lock();
        writeln!(out, "ack {} {} {}", r.partition, r.seq, r.hash).expect("stdout");
        out.flush().expect("flush");
    }
}
