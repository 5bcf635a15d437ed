//! A broker outage under a running `project --kafka` service. The test starts its own
//! single-node broker (stopping the shared one would disturb the other tests), projects a
//! trial, SIGKILLs the broker for longer than the projector's read timeout, restarts it, adds
//! records, and checks that the service kept running, said so, applied the new records, and
//! ends with the rows of a clean rebuild. The same scenario before the retry existed ended the
//! service with exit 2 at the first timeout.

mod kafka_support;

use kafka_support::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tl_kafka::TopicSafety;
use tl_projections::report::dump_file;
use tl_projections::ViewKind;

/// The dossier view's positions summed (0 while its database is not set up yet).
fn applied(db: &Path) -> u64 {
    dump_file(&ViewKind::Dossier.path(db))
        .ok()
        .and_then(|d| d.get("positions").cloned())
        .unwrap_or_default()
        .iter()
        .map(|row| row.split('|').nth(1).unwrap().parse::<u64>().unwrap())
        .sum()
}

/// Waits until `cond` holds, failing with `what` and the projector's log after `timeout`.
fn wait_for(what: &str, timeout: Duration, log: &Path, child: &mut Child, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the projector exited ({status}) while waiting for {what}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not after {timeout:?}; projector log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_kafka_projector_rides_out_a_broker_outage_and_applies_what_comes_after() {
    let b = tl_tests::kafka::start(1);
    let state = b.state.clone().expect("a broker this test started");
    let t = KTrial::new(&b.bootstrap, 4, TopicSafety::Dev);
    let mut seq = t.sequencer("seq", "seq-0", &[]);
    let mut w = t.writer();
    t.enrol_investigator(&mut w);
    let before = t.workload(60, 1);
    for s in &before {
        w.send(s).unwrap();
    }
    w.flush().unwrap();
    // Trial-level records: the two of `init` and the enrolment.
    let first = before.len() + 3;
    t.wait_records(&mut w, first, Duration::from_secs(120), &["seq-0"]);
    drop(w);

    let db = t.dir.path().join("views");
    let log = t.dir.path().join("project.log");
    let trust = t.data().join("trust.json");
    let source = |db: &Path| -> Vec<String> {
        vec![
            "--kafka".into(),
            b.bootstrap.clone(),
            "--trial".into(),
            t.trial.as_str().into(),
            "--trust".into(),
            s(&trust),
            "--db".into(),
            s(db),
        ]
    };
    let mut projector = env(&mut Command::new(BIN))
        .args(["project", "--interval-ms", "100", "--kafka-timeout", "2"])
        .args(source(&db))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_for(
        "the first records applied",
        Duration::from_secs(60),
        &log,
        &mut projector,
        || applied(&db) == first as u64,
    );

    // The outage: longer than the projector's 2 s read timeout, several retries.
    broker_node("kill-node", &state);
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_for(
        "two failed attempts to read the ledger",
        Duration::from_secs(60),
        &log,
        &mut projector,
        || read_log().matches("the views are kept; retrying").count() >= 2,
    );
    assert_eq!(
        applied(&db),
        first as u64,
        "nothing applied while unreachable"
    );
    broker_node("start-node", &state);

    // More records once the broker is back (a sequencer that died with it is restarted).
    if seq.try_wait().unwrap().is_some() {
        seq = t.sequencer("seq", "seq-1", &[]);
    }
    let mut w = t.writer();
    let after = t.workload(40, 2);
    for s in &after {
        w.send(s).unwrap();
    }
    w.flush().unwrap();
    let total = first + after.len();
    t.wait_records(&mut w, total, Duration::from_secs(180), &["seq-0", "seq-1"]);
    wait_for(
        "the records written after the outage applied",
        Duration::from_secs(120),
        &log,
        &mut projector,
        || applied(&db) == total as u64,
    );
    // Said once the catch-up that applied them returns (the next poll finds nothing new).
    wait_for(
        "the projector to say the ledger is reachable again",
        Duration::from_secs(30),
        &log,
        &mut projector,
        || read_log().contains("reachable again"),
    );

    // A clean stop, and the rows of a clean rebuild.
    signal(&projector, "TERM");
    let status = wait_exit(&mut projector, Duration::from_secs(30));
    assert!(status.success(), "exit {status}: {}", read_log());
    signal(&seq, "TERM");
    wait_exit(&mut seq, Duration::from_secs(30));
    let clean = t.dir.path().join("clean");
    let out = env(&mut Command::new(BIN))
        .args(["project", "--once"])
        .args(source(&clean))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for k in ViewKind::ALL {
        assert_eq!(
            dump_file(&k.path(&db)).unwrap(),
            dump_file(&k.path(&clean)).unwrap(),
            "{} after the outage vs a clean rebuild",
            k.name()
        );
    }
}
