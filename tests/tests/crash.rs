//! Crash safety: a child appending records is killed with SIGKILL; after reopening, every
//! record it acknowledged is there with the hash it acknowledged, and the chain verifies.
//! Two children: one writer with one fsync per record (`append_child`), and 64 writer threads
//! sharing one submit handle, whose pipeline writes one fsync per batch and partition
//! (`handle_child`: grouped appends, where a receipt is a promise only if the batch's write
//! is durable before it is handed out).
//! (This shows process-crash safety: acknowledged bytes reached the OS. Power-loss safety
//! rests on the fsync before each acknowledgement, which is argued in the store, not shown.)
//!
//! The kills must land on a child that is still appending, so each round checks that the
//! child died of the SIGKILL (not of its own accord before it), and every acknowledgement
//! the child printed counts, including those still in the pipe when it died: the records
//! acknowledged just before the kill are the ones a lost write would take. A round in which
//! the ledger holds a record written but not yet acknowledged is a kill that landed between an
//! append and its acknowledgement (its fsync): the one a store that acknowledged early would
//! fail. At least one such kill must land, or the test fails; how often one lands depends on
//! the disk's fsync time, so rounds go on (up to four times the planned number) until one has.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use tl_tests::*;

/// Held while this process has a ledger open and while it starts a child. The two tests run
/// on two threads of one process: a child started by one thread gets a copy of every open
/// file of the process until it execs (close-on-exec closes them only then), including the
/// other thread's ledger lock. On a loaded machine a child can sit for milliseconds before its
/// exec, holding that lock after the other thread closed its ledger, and the other thread's
/// own child then finds the ledger locked.
static OPEN_FILES: Mutex<()> = Mutex::new(());

fn open_files() -> MutexGuard<'static, ()> {
    // A test that panicked while holding it leaves nothing to protect.
    OPEN_FILES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Parses `ack PARTITION SEQ HASH`.
fn parse_ack(line: &str) -> (u32, u64, String) {
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(parts.len(), 4, "{line}");
    assert_eq!(parts[0], "ack", "{line}");
    (
        parts[1].parse().unwrap(),
        parts[2].parse().unwrap(),
        parts[3].to_string(),
    )
}

/// Starts the child, reads `target` acknowledgements, waits `delay`, kills it, and returns
/// every acknowledgement it printed (those read before the kill and those left in the pipe).
/// Without the wait the kill lands a few microseconds after an acknowledgement, while the
/// child prepares its next record and before it writes anything: never in the window between
/// a write and its acknowledgement that the test is about.
fn append_then_kill(
    child: &str,
    dir: &std::path::Path,
    target: usize,
    delay: std::time::Duration,
) -> Vec<(u32, u64, String)> {
    let mut child = {
        let _no_ledger_open = open_files();
        Command::new(child)
            .arg(dir)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the child")
    };
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acks = Vec::new();
    while acks.len() < target {
        let line = lines.next().expect("child ended early").expect("read ack");
        acks.push(parse_ack(&line));
    }
    std::thread::sleep(delay);
    child.kill().expect("SIGKILL");
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(9),
        "the child was not killed mid-stream ({status:?}): the round shows nothing"
    );
    // A line cut by the kill is not an acknowledgement.
    for line in lines.map_while(Result::ok) {
        let hash = line.split_whitespace().nth(3);
        if hash.is_some_and(|h| h.len() == 64) {
            acks.push(parse_ack(&line));
        }
    }
    acks
}

#[test]
fn every_acknowledged_record_survives_sigkill() {
    kill_rounds(env!("CARGO_BIN_EXE_append_child"), 3, |round| {
        150 + round * 70
    });
}

#[test]
fn every_receipt_of_grouped_appends_by_64_writers_survives_sigkill() {
    kill_rounds(env!("CARGO_BIN_EXE_handle_child"), 5, |round| {
        400 + round * 350
    });
}

/// `rounds` times: starts `child` on the ledger, kills it after `target(round)`
/// acknowledgements, reopens the ledger and checks every acknowledgement so far.
fn kill_rounds(child: &str, rounds: usize, target: impl Fn(usize) -> usize) {
    let dir = temp_dir();
    // Records in the ledger before each round (at first the trial-level records the harness
    // writes, which the child never acknowledges).
    let mut stored_before: usize = {
        let _open = open_files();
        let t = TestTrial::create(dir.path(), "crash-test", 4);
        t.records().iter().map(Vec::len).sum()
    };
    let mut acked: Vec<(u32, u64, String)> = Vec::new();
    let mut kills_mid_append = 0;
    let mut round = 0;
    while round < rounds || (kills_mid_append == 0 && round < 4 * rounds) {
        // Kill at a different point each round, mid-stream: after a different number of
        // acknowledgements, and 0.2 to 3.2 ms after the last one (an fsync takes about 2 ms
        // on a disk, so some kills land while a written record waits for its fsync).
        let delay = std::time::Duration::from_micros(200 + (round as u64 * 733) % 3000);
        let acks = append_then_kill(child, dir.path(), target(round), delay);
        let acked_now = acks.len();
        acked.extend(acks);
        // Reopen as the writer (which cuts any torn tail), then check every ack.
        let _open = open_files();
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
        // More records than were acknowledged: the kill landed after a record's write and
        // before its acknowledgement.
        let stored: usize = parts.iter().map(Vec::len).sum();
        if stored - stored_before > acked_now {
            kills_mid_append += 1;
        }
        stored_before = stored;
        let r = t.verify_stored(t.keys.root.public_key());
        assert!(r.ok, "round {round}: {:?}", r.failures);
        round += 1;
    }
    eprintln!(
        "{kills_mid_append} of {round} kills landed between a record's write and its acknowledgement ({} acknowledgements checked)",
        acked.len()
    );
    assert!(
        kills_mid_append > 0,
        "none of {round} kills landed between a record's write and its acknowledgement: \
         the rounds did not exercise the window a lost write would fall in"
    );
}
