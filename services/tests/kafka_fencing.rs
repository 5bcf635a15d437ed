//! Fencing against a real broker (issue 4): sequencer A is stopped with SIGSTOP in the middle
//! of a transaction, sequencer B takes over and writes, A is resumed with SIGCONT. A must
//! write nothing that lands (none of its in-flight records is ever committed, it stops as
//! fenced), the chain never forks, and the ledger verifies with every submission exactly once.
//! Run when B reuses A's `transactional.id` (the broker fences A's epoch at once) and when B
//! has its own (the group's generation and the transaction timeout fence A).

mod kafka_support;

use kafka_support::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tl_kafka::TopicSafety;
use tl_schemas::Hash32;
use tl_tests::kafka::broker;

/// Bootstrap (2) + the investigator's enrolment.
const TRIAL_LEVEL: usize = 3;

/// Record hashes written but not (yet) committed: between each partition's last stable offset
/// and its high watermark, read with read_uncommitted.
fn in_flight(t: &KTrial) -> Vec<Hash32> {
    let (hw, lso) = tl_kafka::read::end_offsets(&t.cfg, &t.cfg.topics.ledger, 4).unwrap();
    let c: BaseConsumer = t
        .cfg
        .committed_reader()
        .set("isolation.level", "read_uncommitted")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    let mut want = 0;
    for p in 0..4 {
        if hw[p] > lso[p] {
            tpl.add_partition_offset(&t.cfg.topics.ledger, p as i32, Offset::Offset(lso[p]))
                .unwrap();
            want += (hw[p] - lso[p]) as usize;
        }
    }
    if want == 0 {
        return Vec::new();
    }
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = 0;
    while seen < want && Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            seen += 1;
            let p = m.partition() as usize;
            if m.offset() < hw[p] {
                if let Ok((r, _)) = tl_ledger::codec::decode_record(m.payload().unwrap_or_default())
                {
                    out.push(r.hash());
                }
            }
        }
    }
    out
}

fn fencing(b_reuses_a_id: bool) {
    let b = broker();
    let t = KTrial::new(&b.bootstrap, 4, TopicSafety::Dev);
    // A keeps each transaction open for up to 3 s, so a stop lands inside one.
    let mut a = t.sequencer(
        "a",
        "a",
        &["--commit-interval-ms", "3000", "--max-batch", "1000000"],
    );
    let mut w = t.writer();
    t.enrol_investigator(&mut w);
    let subs = t.workload(6_000, if b_reuses_a_id { 11 } else { 12 });
    // A steady stream of submissions from another writer, for the whole test.
    let feeder = {
        let cfg = t.cfg.clone();
        let subs = subs.clone();
        std::thread::spawn(move || {
            let w = tl_kafka::writer::Writer::connect(&cfg).unwrap();
            for chunk in subs.chunks(60) {
                for s in chunk {
                    w.send(s).unwrap();
                }
                w.flush().unwrap();
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    t.wait_records(&mut w, TRIAL_LEVEL + 300, Duration::from_secs(120), &["a"]);
    // Stop A while it holds records in an open transaction.
    let mut pending = Vec::new();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(700));
        signal(&a, "STOP");
        std::thread::sleep(Duration::from_millis(300));
        pending = in_flight(&t);
        if !pending.is_empty() {
            break;
        }
        signal(&a, "CONT");
    }
    assert!(!pending.is_empty(), "never caught A inside a transaction");
    w.watcher().pump(Duration::from_millis(100)).unwrap();
    let at_stop = w.watcher().record_count();

    // B takes over and writes.
    let b_id = if b_reuses_a_id { "a" } else { "b" };
    let mut bseq = t.sequencer(b_id, "b", &[]);
    t.wait_records(&mut w, at_stop + 300, Duration::from_secs(120), &["a", "b"]);

    // A resumes: it must stop as fenced, committing nothing.
    signal(&a, "CONT");
    let status = wait_exit(&mut a, Duration::from_secs(60));
    let a_log = t.log("a");
    assert_eq!(
        status.code(),
        Some(3),
        "A must stop as fenced:\n{}",
        tail(&a_log, 30)
    );
    assert!(a_log.contains("fenced"), "{}", tail(&a_log, 30));

    feeder.join().unwrap();
    t.wait_records(
        &mut w,
        subs.len() + TRIAL_LEVEL,
        Duration::from_secs(180),
        &["a", "b"],
    );
    signal(&bseq, "TERM");
    assert!(
        wait_exit(&mut bseq, Duration::from_secs(60)).success(),
        "{}",
        tail(&t.log("b"), 30)
    );
    t.check_exactly_once(&subs, TRIAL_LEVEL);

    // None of A's in-flight records was ever committed: no record of A after B's, no fork.
    let committed: HashSet<Hash32> =
        tl_kafka::read::read_all(&t.cfg, &t.cfg.topics.ledger, 4, Duration::from_secs(30))
            .unwrap()
            .into_iter()
            .flatten()
            .map(|m| tl_ledger::codec::decode_record(&m.value).unwrap().0.hash())
            .collect();
    let landed: Vec<&Hash32> = pending.iter().filter(|h| committed.contains(h)).collect();
    assert!(
        landed.is_empty(),
        "A's in-flight records landed: {landed:?}"
    );
}

#[test]
fn a_stopped_sequencer_is_fenced_when_its_successor_reuses_its_transactional_id() {
    fencing(true);
}

#[test]
fn a_stopped_sequencer_is_fenced_when_its_successor_has_its_own_transactional_id() {
    fencing(false);
}
