//! Crash safety: a child appending records is killed with SIGKILL; after reopening, every
//! record it acknowledged is there with the hash it acknowledged, and the chain verifies.
//! (This shows process-crash safety: acknowledged bytes reached the OS. Power-loss safety
//! rests on the fsync before each acknowledgement, which is argued in the store, not shown.)

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use tl_tests::*;

#[test]
fn every_acknowledged_record_survives_sigkill() {
    let dir = temp_dir();
    drop(TestTrial::create(dir.path(), "crash-test", 4));
    let mut acked: Vec<(u32, u64, String)> = Vec::new();
    for round in 0..3 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_append_child"))
            .arg(dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn append_child");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Kill at a different point each round, mid-stream.
        let target = 150 + round * 70;
        let mut n = 0;
        while n < target {
            let line = lines.next().expect("child ended early").expect("read ack");
            let parts: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(parts[0], "ack", "{line}");
            acked.push((
                parts[1].parse().unwrap(),
                parts[2].parse().unwrap(),
                parts[3].to_string(),
            ));
            n += 1;
        }
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        // Reopen as the writer (which cuts any torn tail), then check every ack.
        let t = TestTrial::open(dir.path(), "crash-test");
        let parts = t.records();
        for (p, seq, hash) in &acked {
            let bytes = parts[*p as usize]
                .get(*seq as usize)
                .unwrap_or_else(|| panic!("acknowledged record {p}/{seq} lost"));
            assert_eq!(
                &decode(bytes).hash().to_hex(),
                hash,
                "record {p}/{seq} changed"
            );
        }
        let r = t.verify_stored(t.keys.root.public_key());
        assert!(r.ok, "round {round}: {:?}", r.failures);
    }
    assert!(acked.len() >= 500);
}
