//! Broker loss on a 3-node KRaft cluster (replication 3, min.insync.replicas 2, production
//! topic settings): the broker that leads the most ledger partitions is killed with SIGKILL
//! in the middle of a run. The run completes, nothing is lost or duplicated, the chain
//! verifies, and the last sequencer exits 0 on SIGTERM. The harness restarts a
//! sequencer that stops (fenced, or fatal while the cluster moves its coordinators).
//!
//! This binary starts its own cluster (never `KAFKA_BOOTSTRAP_SERVERS`: it kills a node) and
//! holds one test, so cluster tests run one at a time.

mod kafka_support;

use kafka_support::*;
use std::process::Command;
use std::time::{Duration, Instant};
use tl_kafka::TopicSafety;

#[test]
fn a_broker_killed_mid_run_loses_nothing_on_a_three_node_cluster() {
    let cluster = tl_tests::kafka::start(3);
    let state = cluster.state.clone().expect("a cluster this test started");
    let t = KTrial::new(&cluster.bootstrap, 4, TopicSafety::Production);
    // The harness gives every sequencer a 10 s transaction timeout, above the cluster's 6 s
    // broker session timeout and 5 s replica.lag.time.max.ms (infra/kafka/config).
    let extra: [&str; 0] = [];
    let mut incarnation = 0;
    let mut seq = t.sequencer("seq", "seq-0", &extra);
    let mut logs = vec!["seq-0".to_string()];
    let mut w = t.writer();
    t.enrol_investigator(&mut w);
    let subs = t.workload(6_000, 21);
    let feeder = {
        let cfg = t.cfg.clone();
        let subs = subs.clone();
        std::thread::spawn(move || {
            let w = tl_kafka::writer::Writer::connect(&cfg).unwrap();
            for chunk in subs.chunks(100) {
                for s in chunk {
                    w.send(s).unwrap();
                }
                w.flush().unwrap();
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    t.wait_records(&mut w, 1_500, Duration::from_secs(180), &["seq-0"]);
    // Kill a node the run depends on: the leader of ledger partitions the sequencer is
    // writing to (its in-flight transactions must move to the new leaders).
    let (victim, led) = ledger_leader(&t);
    eprintln!("killing node {victim}, leader of ledger partitions {led:?}");
    let out = Command::new(tl_tests::kafka::broker_script())
        .args([
            "kill-node",
            &victim.to_string(),
            "--signal",
            "KILL",
            "--state",
        ])
        .arg(&state)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let killed_at = w.watcher().record_count();

    // Supervise: restart the sequencer whenever it stops, until every record is in.
    let want = subs.len() + 3;
    let deadline = Instant::now() + Duration::from_secs(400);
    while w.watcher().record_count() < want {
        if let Some(status) = seq.try_wait().unwrap() {
            incarnation += 1;
            eprintln!(
                "sequencer stopped ({status:?}); restarting:\n{}",
                tail(&t.log(logs.last().unwrap()), 5)
            );
            let name = format!("seq-{incarnation}");
            seq = t.sequencer("seq", &name, &extra);
            logs.push(name);
        }
        assert!(
            Instant::now() < deadline,
            "{} of {want} records; logs:\n{}",
            w.watcher().record_count(),
            logs.iter()
                .map(|l| tail(&t.log(l), 15))
                .collect::<Vec<_>>()
                .join("\n---\n")
        );
        w.watcher().pump(Duration::from_millis(200)).unwrap();
    }
    feeder.join().unwrap();
    assert!(
        w.watcher().record_count() > killed_at,
        "records were committed after the broker died"
    );
    signal(&seq, "TERM");
    let status = wait_exit(&mut seq, Duration::from_secs(90));
    assert!(
        status.success(),
        "the last sequencer stops cleanly on SIGTERM: {status:?}\n{}",
        tail(&t.log(logs.last().unwrap()), 20)
    );
    t.check_exactly_once(&subs, 3);
}

/// The node (the harness's node index is its `node.id`) that leads the most partitions of the
/// trial's ledger topic, and those partitions.
fn ledger_leader(t: &KTrial) -> (i32, Vec<i32>) {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = t.cfg.client().create().unwrap();
    let metadata = consumer
        .fetch_metadata(Some(&t.cfg.topics.ledger), Duration::from_secs(30))
        .unwrap();
    let mut led: std::collections::BTreeMap<i32, Vec<i32>> = Default::default();
    for p in metadata.topics()[0].partitions() {
        if p.leader() >= 0 {
            led.entry(p.leader()).or_default().push(p.id());
        }
    }
    let (node, partitions) = led
        .into_iter()
        .max_by_key(|(node, parts)| (parts.len(), -node))
        .expect("the ledger topic has partition leaders");
    assert!(!partitions.is_empty());
    (node, partitions)
}
