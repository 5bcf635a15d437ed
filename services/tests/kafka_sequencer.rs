//! Issue 4's acceptance tests against a real Apache Kafka broker (KRaft, started by
//! `infra/kafka/broker` once for this test binary, or `KAFKA_BOOTSTRAP_SERVERS`): exactly
//! once under load and under SIGKILL, bad input to rejections, the unsafe-topic refusal,
//! forgery named by partition and offset, and a third-party read with Kafka's own console
//! consumer. Fencing and the 3-node cluster have binaries of their own.

mod kafka_support;

use kafka_support::*;
use rand::{Rng, SeedableRng};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::process::Command;
use std::time::Duration;
use tl_kafka::writer::Verdict;
use tl_kafka::TopicSafety;
use tl_ledger::writer::Draft;
use tl_schemas::clinical::{ConsentRecorded, PatientRegistered};
use tl_schemas::events::envelope_of;
use tl_schemas::ids::Name;
use tl_schemas::{encode, partition_of, Date, Subject};
use tl_tests::kafka::broker;

/// Bootstrap (2) + the investigator's enrolment.
const TRIAL_LEVEL: usize = 3;

/// The counts a sequencer prints when it stops on SIGTERM.
fn stopped_line(log: &str) -> String {
    log.lines()
        .rev()
        .find(|l| l.starts_with("sequencer stopped:"))
        .unwrap_or_else(|| panic!("no shutdown summary in the log:\n{}", tail(log, 30)))
        .to_string()
}

#[test]
fn ten_thousand_submissions_become_exactly_ten_thousand_records() {
    let b = broker();
    let t = KTrial::new(&b.bootstrap, 4, TopicSafety::Dev);
    let mut seq = t.sequencer("seq", "seq", &[]);
    let mut w = t.writer();
    t.enrol_investigator(&mut w);
    let subs = t.workload(10_000, 1);
    for s in &subs {
        w.send(s).unwrap();
    }
    w.flush().unwrap();
    t.wait_records(
        &mut w,
        10_000 + TRIAL_LEVEL,
        Duration::from_secs(300),
        &["seq"],
    );
    // Resubmitting recorded ids writes nothing new; the writer gets the original record.
    for s in &subs[..50] {
        w.send(s).unwrap();
    }
    w.flush().unwrap();
    match w.submit(&subs[7], Duration::from_secs(30)).unwrap() {
        Verdict::Recorded { record, .. } => {
            assert_eq!(record.body.submission, subs[7], "the original record")
        }
        Verdict::Refused(r) => panic!("a resubmission was refused: {r:?}"),
    }
    // Stop the sequencer only once it has handled (and committed) every intake message,
    // the 50 duplicates included.
    t.wait_intake_handled(Duration::from_secs(60), &["seq"]);
    signal(&seq, "TERM");
    let status = wait_exit(&mut seq, Duration::from_secs(60));
    assert!(
        status.success(),
        "SIGTERM is a clean stop: {status:?}\n{}",
        tail(&t.log("seq"), 20)
    );
    let line = stopped_line(&t.log("seq"));
    assert!(line.contains(" 50 duplicates"), "{line}");
    assert!(line.contains(" 0 rejections"), "{line}");
    t.check_exactly_once(&subs, TRIAL_LEVEL);
}

#[test]
fn five_sigkills_during_twenty_thousand_submissions_lose_and_duplicate_nothing() {
    let b = broker();
    let t = KTrial::new(&b.bootstrap, 4, TopicSafety::Dev);
    let extra = ["--commit-interval-ms", "200"];
    let mut seq = t.sequencer("seq", "seq-0", &extra);
    let mut w = t.writer();
    t.enrol_investigator(&mut w);
    let subs = t.workload(20_000, 2);
    let chunks: Vec<_> = subs.chunks(500).collect();
    // Seeded kill points: 5 distinct chunks, each followed by a random delay.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2016);
    let mut kills = std::collections::BTreeSet::new();
    while kills.len() < 5 {
        kills.insert(rng.gen_range(2..chunks.len() - 2));
    }
    let mut logs = vec!["seq-0".to_string()];
    let mut started_at = w.watcher().record_count();
    for (i, chunk) in chunks.iter().enumerate() {
        for s in chunk.iter() {
            w.send(s).unwrap();
        }
        w.flush().unwrap();
        if kills.contains(&i) {
            // Kill a sequencer that is working: it has committed records since it started.
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            while w.watcher().record_count() <= started_at {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{}",
                    tail(&t.log(logs.last().unwrap()), 30)
                );
                w.watcher().pump(Duration::from_millis(50)).unwrap();
            }
            std::thread::sleep(Duration::from_millis(rng.gen_range(0..600)));
            seq.kill().unwrap(); // SIGKILL
            seq.wait().unwrap();
            let name = format!("seq-{}", logs.len());
            seq = t.sequencer("seq", &name, &extra);
            logs.push(name);
            w.watcher().pump(Duration::from_millis(10)).unwrap();
            started_at = w.watcher().record_count();
        } else {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let names: Vec<&str> = logs.iter().map(String::as_str).collect();
    t.wait_records(
        &mut w,
        20_000 + TRIAL_LEVEL,
        Duration::from_secs(400),
        &names,
    );
    signal(&seq, "TERM");
    assert!(wait_exit(&mut seq, Duration::from_secs(60)).success());
    t.check_exactly_once(&subs, TRIAL_LEVEL);
    // The kills really hit a working sequencer: each restart rebuilt from a longer ledger.
    let rebuilt: Vec<String> = names
        .iter()
        .filter_map(|n| {
            t.log(n)
                .lines()
                .find(|l| l.contains("state rebuilt"))
                .map(str::to_string)
        })
        .collect();
    assert_eq!(
        rebuilt.len(),
        6,
        "every incarnation rebuilt its state: {rebuilt:#?}"
    );
}

#[test]
fn bad_input_lands_in_rejections_with_a_reason_and_the_sequencer_goes_on() {
    let b = broker();
    let t = KTrial::new(&b.bootstrap, 4, TopicSafety::Dev);
    let mut seq = t.sequencer("seq", "seq", &[]);
    let mut w = t.writer();
    t.enrol_investigator(&mut w);
    let n = w.partitions();
    // Malformed bytes.
    let garbage = b"\x01\x00not a submission".to_vec();
    w.send_raw(1, b"junk", &garbage).unwrap();
    // A valid submission on the wrong intake partition.
    let good = t.workload(2, 3);
    let p = partition_of(&t.trial, &good[0].submission.subject, n);
    w.send_raw((p + 1) % n, b"k", &encode(&good[0])).unwrap();
    // A submission the domain rules refuse: consent of a patient never registered.
    let mut d = Draft::new(
        Subject::Patient(Name::new("ghost").unwrap()),
        envelope_of(&ConsentRecorded {
            form_version: "v1".into(),
            consented_on: Date::from_ymd(2025, 1, 1).unwrap(),
        }),
    );
    d.cites = vec![];
    let ghost = d.sign(&t.trial, &t.investigator);
    let verdict = w.submit(&ghost, Duration::from_secs(60)).unwrap();
    let Verdict::Refused(r) = verdict else {
        panic!("consent before registration was recorded")
    };
    assert_eq!(r.reason, "domain-rule", "{r:?}");
    assert!(r.detail.contains("not registered"), "{r:?}");
    assert_eq!(r.bytes_hex, hex::encode(encode(&ghost)));
    // The wrong-partition submission was refused, with its id.
    let wrong = w
        .wait(
            &good[0].submission.submission_id,
            (p + 1) % n,
            Duration::from_secs(60),
        )
        .unwrap();
    let Verdict::Refused(r) = wrong else {
        panic!("a submission on the wrong partition was recorded")
    };
    assert_eq!(r.reason, "wrong-partition", "{r:?}");
    assert_eq!(r.intake_partition, (p + 1) % n);
    // The malformed bytes were refused too, kept byte for byte.
    let anon = w.watcher().anonymous_rejections().to_vec();
    assert_eq!(anon.len(), 1, "{anon:?}");
    assert_eq!(anon[0].reason, "malformed", "{anon:?}");
    assert_eq!(anon[0].bytes_hex, hex::encode(&garbage));
    assert_eq!(anon[0].intake_partition, 1);
    // The sequencer is still running and records the same submission on its right partition.
    for s in &good {
        match w.submit(s, Duration::from_secs(60)).unwrap() {
            Verdict::Recorded { receipt, .. } => assert_eq!(receipt.partition, p),
            Verdict::Refused(r) => panic!("refused after bad input: {r:?}"),
        }
    }
    // The refused id sent again once the refusal's cause is gone (the patient is registered
    // now), signed anew: the writer waits for the new verdict, the record, instead of
    // returning the earlier refusal of the same id.
    let ghost_patient = Subject::Patient(Name::new("ghost").unwrap());
    let registered = Draft::new(
        ghost_patient.clone(),
        envelope_of(&PatientRegistered {
            tumour_type: "COAD".into(),
            site: "NKI".into(),
            registered_on: Date::from_ymd(2025, 1, 1).unwrap(),
        }),
    )
    .sign(&t.trial, &t.investigator);
    let mut again = Draft::new(
        ghost_patient,
        envelope_of(&ConsentRecorded {
            form_version: "v1".into(),
            consented_on: Date::from_ymd(2025, 1, 1).unwrap(),
        }),
    );
    again.submission_id = ghost.submission.submission_id;
    again.client_time = tl_schemas::UtcMicros(ghost.submission.client_time.0 + 1);
    let again = again.sign(&t.trial, &t.investigator);
    for s in [&registered, &again] {
        match w.submit(s, Duration::from_secs(60)).unwrap() {
            Verdict::Recorded { .. } => {}
            Verdict::Refused(r) => panic!("refused: {r:?}"),
        }
    }
    assert!(
        seq.try_wait().unwrap().is_none(),
        "the sequencer kept running"
    );
    signal(&seq, "TERM");
    assert!(wait_exit(&mut seq, Duration::from_secs(60)).success());
    let mut expected = good.clone();
    expected.extend([registered, again]);
    t.check_exactly_once(&expected, TRIAL_LEVEL);
}

#[test]
fn a_compacted_ledger_topic_is_refused_by_init_and_by_the_sequencer() {
    let b = broker();
    let t = KTrial::new(&b.bootstrap, 4, TopicSafety::Dev);
    // Another trial whose ledger topic an operator created with compaction.
    let id = tl_tests::kafka::unique("unsafe").replace('-', ".");
    let out = Command::new(tl_tests::kafka::broker_script())
        .args(["topics", "--bootstrap-server", &b.bootstrap, "--create"])
        .args(["--topic", &format!("{id}.ledger"), "--partitions", "4"])
        .args([
            "--replication-factor",
            "1",
            "--config",
            "cleanup.policy=compact",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = t.dir.path().join("unsafe");
    let out = env(&mut Command::new(BIN))
        .args([
            "init",
            "--trial",
            &id,
            "--partitions",
            "4",
            "--kafka",
            &b.bootstrap,
        ])
        .args(["--topic-safety", "dev", "--data", &s(&data)])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("compaction would delete records"), "{err}");
    // The sequencer refuses to start on it (keys and trust file from an embedded `init` of
    // the same trial id).
    let keys = t.dir.path().join("unsafe-keys");
    let out = env(&mut Command::new(BIN))
        .args([
            "init",
            "--trial",
            &id,
            "--partitions",
            "4",
            "--data",
            &s(&keys),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = env(&mut Command::new(BIN))
        .args([
            "sequencer",
            "--kafka",
            &b.bootstrap,
            "--trial",
            &id,
            "--topic-safety",
            "dev",
        ])
        .args(["--data", &s(&keys)])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("refusing to run on topic {id}.ledger")),
        "{err}"
    );
    assert!(err.contains("compaction"), "{err}");
    // And production mode refuses the single-node topic of the first trial (the plaintext test
    // broker has no ACLs to check: --no-acls).
    let out = env(&mut Command::new(BIN))
        .args([
            "sequencer",
            "--kafka",
            &b.bootstrap,
            "--trial",
            t.trial.as_str(),
            "--no-acls",
        ])
        .args(["--data", &s(&t.data())])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("replication factor 1"), "{err}");
    assert!(err.contains("min.insync.replicas=1"), "{err}");
}

#[test]
fn a_forged_or_replayed_record_on_the_ledger_topic_is_named_by_partition_and_offset() {
    let b = broker();
    let t = KTrial::new(&b.bootstrap, 4, TopicSafety::Dev);
    let mut seq = t.sequencer("seq", "seq", &[]);
    let mut w = t.writer();
    t.enrol_investigator(&mut w);
    let subs = t.workload(200, 4);
    for s in &subs {
        w.send(s).unwrap();
    }
    w.flush().unwrap();
    t.wait_records(
        &mut w,
        200 + TRIAL_LEVEL,
        Duration::from_secs(120),
        &["seq"],
    );
    signal(&seq, "TERM");
    assert!(wait_exit(&mut seq, Duration::from_secs(60)).success());
    let verify = || {
        env(&mut Command::new(BIN))
            .args([
                "verify",
                "--kafka",
                &b.bootstrap,
                "--trial",
                t.trial.as_str(),
            ])
            .args(["--trust", &s(&t.data().join("trust.json"))])
            .output()
            .unwrap()
    };
    let out = verify();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // A rogue producer, straight to the ledger topic: partition 1's first record again
    // (a replay), and a record for partition 2 that continues its chain but is sealed by a
    // key that is not the sequencer's (a forgery).
    let parts =
        tl_kafka::read::read_all(&t.cfg, &t.cfg.topics.ledger, 4, Duration::from_secs(30)).unwrap();
    let rogue: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &b.bootstrap)
        .create()
        .unwrap();
    // First a rogue checkpoint on the checkpoints topic: partition 3's true root at its true
    // size, but signed by a key the registry never enrolled. `verify` checks the ledger's own
    // checkpoints (FORMAT.md §17a) and names it.
    let p3: Vec<Vec<u8>> = parts[3].iter().map(|m| m.value.clone()).collect();
    let size = p3.len() as u64;
    let root = tl_ledger::merkle::MerkleTree::from_leaves(tl_ledger::audit::leaf_hashes(&p3))
        .root_at(size)
        .unwrap();
    let note = tl_ledger::checkpoint::Checkpoint::for_partition(&t.trial, 3, size, root)
        .sign(
            &tl_ledger::publish::sequencer_key_name(&t.trial),
            &tl_ledger::SigningKey::generate(),
        )
        .unwrap();
    rogue
        .send(
            BaseRecord::<[u8], [u8]>::to(&t.cfg.topics.checkpoints)
                .partition(3)
                .key(&size.to_be_bytes()[..])
                .payload(note.as_bytes()),
        )
        .map_err(|(e, _)| e)
        .unwrap();
    rogue.flush(Duration::from_secs(30)).unwrap();
    let out = verify();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("checkpoint-invalid"), "{stdout}");

    let replay = parts[1][0].value.clone();
    let (last, _) = tl_ledger::codec::decode_record(&parts[2].last().unwrap().value).unwrap();
    let mut body = last.body.clone();
    body.seq += 1;
    body.prev_hash = last.hash();
    body.subject_prev = None;
    let forged =
        tl_ledger::sequencer::seal_unchecked(&t.trial, body, &tl_ledger::SigningKey::generate());
    for (p, bytes) in [(1, &replay), (2, &forged)] {
        rogue
            .send(
                BaseRecord::<[u8], [u8]>::to(&t.cfg.topics.ledger)
                    .partition(p)
                    .payload(bytes),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    rogue.flush(Duration::from_secs(30)).unwrap();
    let (hw, _) = tl_kafka::read::end_offsets(&t.cfg, &t.cfg.topics.ledger, 4).unwrap();
    let out = verify();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let replay_at = format!("partition 1 seq {} (offset {})", parts[1].len(), hw[1] - 1);
    let forged_at = format!("partition 2 seq {} (offset {})", parts[2].len(), hw[2] - 1);
    assert!(
        stdout.contains(&replay_at),
        "want {replay_at:?} in:\n{stdout}"
    );
    assert!(
        stdout.contains(&forged_at),
        "want {forged_at:?} in:\n{stdout}"
    );
}

#[test]
fn kafkas_console_consumer_reads_the_canonical_record_bytes_with_read_committed() {
    let b = broker();
    let t = KTrial::new(&b.bootstrap, 2, TopicSafety::Dev);
    let mut seq = t.sequencer("seq", "seq", &[]);
    let mut w = t.writer();
    t.enrol_investigator(&mut w);
    // Partition 0 holds the trial-level records; add an aborted transaction to the topic so
    // read_committed matters.
    let p = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &b.bootstrap)
        .set("transactional.id", tl_tests::kafka::unique("aborted"))
        .create::<rdkafka::producer::ThreadedProducer<rdkafka::producer::DefaultProducerContext>>()
        .unwrap();
    p.init_transactions(Duration::from_secs(30)).unwrap();
    p.begin_transaction().unwrap();
    p.send(
        BaseRecord::<[u8], [u8]>::to(&t.cfg.topics.ledger)
            .partition(0)
            .payload(b"never committed".as_slice()),
    )
    .map_err(|(e, _)| e)
    .unwrap();
    p.abort_transaction(Duration::from_secs(30)).unwrap();
    let enrol_again = t.workload(2, 5);
    for s in &enrol_again {
        w.submit(s, Duration::from_secs(60)).unwrap();
    }
    signal(&seq, "TERM");
    assert!(wait_exit(&mut seq, Duration::from_secs(60)).success());
    let parts =
        tl_kafka::read::read_all(&t.cfg, &t.cfg.topics.ledger, 2, Duration::from_secs(30)).unwrap();
    let records: Vec<&Vec<u8>> = parts[0].iter().map(|m| &m.value).collect();
    assert!(records.len() >= 3);
    let out = Command::new(tl_tests::kafka::broker_script())
        .args(["console-consumer", "--bootstrap-server", &b.bootstrap])
        .args([
            "--topic",
            &t.cfg.topics.ledger,
            "--partition",
            "0",
            "--offset",
            "earliest",
        ])
        .args([
            "--isolation-level",
            "read_committed",
            "--timeout-ms",
            "30000",
        ])
        .args(["--max-messages", &records.len().to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The console consumer prints each value's raw bytes and a newline.
    let mut expected = Vec::new();
    for r in &records {
        expected.extend_from_slice(r);
        expected.push(b'\n');
    }
    assert_eq!(
        out.stdout, expected,
        "the console consumer's bytes are the record bytes"
    );
    // And they are canonical records of FORMAT.md: decode, re-encode identically, verify.
    for r in &records {
        let (rec, body_len) = tl_ledger::codec::decode_record(r).unwrap();
        assert_eq!(encode(&rec.body), r[..body_len].to_vec());
        assert_eq!(r.len(), body_len + 64, "body || 64-byte seal");
    }
}

#[test]
fn checkpoints_commit_with_their_records_survive_a_restart_and_prove_offline() {
    let b = broker();
    let t = KTrial::new(&b.bootstrap, 2, TopicSafety::Dev);
    let extra = ["--checkpoint-every", "150", "--checkpoint-secs", "3600"];
    let mut seq = t.sequencer("seq", "seq-0", &extra);
    let mut w = t.writer();
    t.enrol_investigator(&mut w);
    let subs = t.workload(2_000, 6);
    for s in &subs[..1_000] {
        w.send(s).unwrap();
    }
    w.flush().unwrap();
    t.wait_records(&mut w, 600, Duration::from_secs(120), &["seq-0"]);
    // A crash: the restarted sequencer rebuilds its Merkle frontiers from the ledger.
    seq.kill().unwrap();
    seq.wait().unwrap();
    let mut seq = t.sequencer("seq", "seq-1", &extra);
    for s in &subs[1_000..] {
        w.send(s).unwrap();
    }
    w.flush().unwrap();
    t.wait_records(
        &mut w,
        subs.len() + TRIAL_LEVEL,
        Duration::from_secs(180),
        &["seq-0", "seq-1"],
    );
    signal(&seq, "TERM");
    assert!(wait_exit(&mut seq, Duration::from_secs(60)).success());

    // Every published checkpoint is signed by the sequencer key and has the root of the
    // committed ledger at its size: none covers a record that was not committed with it, and
    // each is consistent with every later one.
    let parts =
        tl_kafka::read::read_all(&t.cfg, &t.cfg.topics.ledger, 2, Duration::from_secs(30)).unwrap();
    let ledger0: Vec<Vec<u8>> = parts[0].iter().map(|m| m.value.clone()).collect();
    let keys = tl_ledger::audit::sequencer_keys(&t.trial, &ledger0);
    for (p, part) in parts.iter().enumerate() {
        let bytes: Vec<Vec<u8>> = part.iter().map(|m| m.value.clone()).collect();
        let tree =
            tl_ledger::merkle::MerkleTree::from_leaves(tl_ledger::audit::leaf_hashes(&bytes));
        let notes = tl_kafka::read::checkpoints(&t.cfg, p as u32, Duration::from_secs(30)).unwrap();
        assert!(
            notes.len() >= 2,
            "partition {p}: {} checkpoints",
            notes.len()
        );
        let mut last = 0;
        for n in &notes {
            let c = n.unverified();
            assert!(c.size > last, "partition {p}: sizes grow");
            last = c.size;
            assert_eq!(
                c.root,
                tree.root_at(c.size).unwrap(),
                "partition {p} size {}",
                c.size
            );
            let name = tl_ledger::publish::sequencer_key_name(&t.trial);
            assert!(
                keys.iter().any(|k| n.verify(&name, &k.public_key).is_ok()),
                "partition {p} size {}: signed by the sequencer key",
                c.size
            );
        }
        assert_eq!(
            last,
            tree.size(),
            "partition {p}: the final checkpoint at shutdown covers all"
        );
    }

    // The CLI on Kafka: hold the checkpoints, prove a record offline, verify against them.
    let data = t.data();
    let held = t.dir.path().join("held.txt");
    let run = |args: &[&str]| {
        env(&mut Command::new(BIN))
            .args(args)
            .args(["--kafka", &b.bootstrap, "--trial", t.trial.as_str()])
            .output()
            .unwrap()
    };
    let out = run(&["checkpoint", "--save", &s(&held)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["prove", "inclusion", "--partition", "1", "--seq", "17"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let proof = t.dir.path().join("proof.json");
    std::fs::write(&proof, &out.stdout).unwrap();
    let out = env(&mut Command::new(BIN))
        .args([
            "check-proof",
            &s(&proof),
            "--trust",
            &s(&data.join("trust.json")),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = run(&[
        "verify",
        "--trust",
        &s(&data.join("trust.json")),
        "--against",
        &s(&held),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("extends all 2 held checkpoints"),
        "{stdout}"
    );
}

#[test]
fn two_instances_split_the_partitions_and_follow_each_others_records() {
    let b = broker();
    let t = KTrial::new(&b.bootstrap, 4, TopicSafety::Dev);
    let mut a = t.sequencer("a", "a", &[]);
    let mut bseq = t.sequencer("b", "b", &[]);
    // Both in the group, each with two of the four intake partitions.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let split = |log: &str| plain(&t.log(log)).contains("intake partitions assigned partitions=2");
    while !(split("a") && split("b")) {
        assert!(std::time::Instant::now() < deadline, "{}", t.all_logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    // Both instances start working (and so build their state) before the enrolment: junk on
    // every intake partition, refused.
    let mut w = t.writer();
    for p in 0..4 {
        w.send_raw(p, b"junk", b"not a submission").unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while w.watcher().anonymous_rejections().len() < 4 {
        assert!(std::time::Instant::now() < deadline, "{}", t.all_logs());
        w.watcher().pump(Duration::from_millis(100)).unwrap();
    }
    // The enrolment lands in partition 0, sequenced by one instance; the workload, on every
    // partition, relies on it: the other instance must follow partition 0 to accept it.
    t.enrol_investigator(&mut w);
    let subs = t.workload_relying_on(2_000, 8, TRIAL_LEVEL as u64);
    for s in &subs {
        w.send(s).unwrap();
    }
    w.flush().unwrap();
    t.wait_records(
        &mut w,
        subs.len() + TRIAL_LEVEL,
        Duration::from_secs(120),
        &["a", "b"],
    );
    for (child, log) in [(&mut a, "a"), (&mut bseq, "b")] {
        signal(child, "TERM");
        assert!(wait_exit(child, Duration::from_secs(60)).success());
        let line = stopped_line(&t.log(log));
        assert!(
            line.contains(" 2 rejections"),
            "{log}: only the junk is refused: {line}"
        );
        assert!(
            !line.starts_with("sequencer stopped: 0 records"),
            "{log} sealed nothing: {line}"
        );
    }
    t.check_exactly_once(&subs, TRIAL_LEVEL);
}

#[test]
fn a_patients_trail_from_a_demo_trial_on_kafka() {
    let b = broker();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let trial = tl_tests::kafka::unique("trail").replace('-', ".");
    let out = env(&mut Command::new(BIN))
        .args([
            "demo",
            "--kafka",
            &b.bootstrap,
            "--trial",
            &trial,
            "--patients",
            "5",
        ])
        .args(["--data", &s(&data)])
        .env_remove("TRIAL_LEDGER_PASSPHRASE")
        .env_remove("TRIAL_LEDGER_ROOT_PASSPHRASE")
        .env_remove("TRIAL_LEDGER_SEQUENCER_PASSPHRASE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A treated patient: the subject of a DoseAdministered record.
    let cfg = tl_kafka::KafkaConfig::new(&b.bootstrap, tl_schemas::TrialId::new(&trial).unwrap());
    let parts =
        tl_kafka::read::read_all(&cfg, &cfg.topics.ledger, 8, Duration::from_secs(30)).unwrap();
    let patient = parts
        .iter()
        .flatten()
        .filter_map(|m| tl_ledger::codec::decode_record(&m.value).ok())
        .find(|(r, _)| {
            r.body.submission.submission.envelope.event_type
                == tl_schemas::clinical::clinical_type::DOSE_ADMINISTERED
        })
        .map(|(r, _)| r.body.submission.submission.subject.to_string())
        .expect("a treated patient");
    let out = env(&mut Command::new(BIN))
        .args([
            "trail",
            "--kafka",
            &b.bootstrap,
            "--trial",
            &trial,
            "--json",
        ])
        .args([
            "--trust",
            &s(&data.join("trust.json")),
            "--subject",
            &patient,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["verified"], true);
    let records = v["records"].as_array().expect("records");
    assert!(records.len() >= 5, "{stdout}");
    // Without a pinned trust file a trail from Kafka is refused.
    let out = env(&mut Command::new(BIN))
        .args([
            "trail",
            "--kafka",
            &b.bootstrap,
            "--trial",
            &trial,
            "--subject",
            &patient,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
