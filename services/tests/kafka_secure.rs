//! Acceptance on a secured single node (`infra/kafka/broker up --secure`): SASL/SCRAM over
//! TLS, the StandardAuthorizer, and the trial's ACL matrix created by `init --kafka` as the
//! admin principal (schemas/FORMAT.md §17b). The broker refuses what the matrix does not allow,
//! the sequencer and the deciders' principals write, and the production-mode check refuses a
//! cluster where an extra ACL lets someone else write the ledger topic.
//!
//! One secured broker serves the whole binary; each test has its own trial.

mod kafka_support;

use kafka_support::{env, KTrial, BIN};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tl_kafka::writer::{Verdict, Writer};
use tl_kafka::{KafkaConfig, TopicSafety};
use tl_tests::kafka::SecureBroker;

/// Site writers and deciders the tests' trials grant intake WRITE to.
const WRITERS: &str = "site-1,site-2,site-3,matcher,cohort-engine";

fn secure() -> &'static SecureBroker {
    static B: OnceLock<SecureBroker> = OnceLock::new();
    B.get_or_init(tl_tests::kafka::start_secure)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A trial created on the secured broker by `init --kafka`: topics and ACLs by the admin, the
/// bootstrap records by the sequencer's principal. Dev topic settings (one node, RF 1).
fn trial() -> KTrial {
    let b = secure();
    let admin = s(&b.properties("admin"));
    let seq = s(&b.properties("sequencer"));
    KTrial::with_init_args(
        &b.broker.bootstrap,
        2,
        TopicSafety::Dev,
        &[
            "--kafka-config",
            &admin,
            "--sequencer-kafka-config",
            &seq,
            "--acl-writers",
            WRITERS,
        ],
    )
}

/// The trial's client configuration as `principal`.
fn as_principal(t: &KTrial, principal: &str) -> KafkaConfig {
    let mut cfg = t.cfg.clone();
    cfg.properties = tl_kafka::load_properties(&secure().properties(principal)).unwrap();
    cfg.timeout = Duration::from_secs(20);
    cfg
}

/// The code of a Kafka error, or a panic naming what happened instead.
fn code(e: &KafkaError) -> RDKafkaErrorCode {
    e.rdkafka_error_code()
        .unwrap_or_else(|| panic!("a Kafka error without a code: {e}"))
}

/// Keeps the outcome of each delivery (a plain producer drops them).
#[derive(Default)]
struct Deliveries(std::sync::Mutex<Vec<Result<(), KafkaError>>>);

impl rdkafka::ClientContext for Deliveries {}

impl rdkafka::producer::ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &rdkafka::message::DeliveryResult<'_>, _: ()) {
        let outcome = result.as_ref().map(|_| ()).map_err(|(e, _)| e.clone());
        self.0.lock().unwrap().push(outcome);
    }
}

/// Produces one message to partition 0 of `topic` (acks=all; idempotent or not) and returns
/// the broker's verdict.
fn produce_one(cfg: &KafkaConfig, topic: &str, idempotent: bool) -> Result<(), KafkaError> {
    let mut config = cfg.idempotent_producer();
    config.set("enable.idempotence", idempotent.to_string());
    let producer: BaseProducer<Deliveries> =
        config.create_with_context(Deliveries::default()).unwrap();
    producer
        .send(
            BaseRecord::<[u8], [u8]>::to(topic)
                .partition(0)
                .key(&b"k"[..])
                .payload(&b"not a submission"[..]),
        )
        .map_err(|(e, _)| e)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        producer.poll(Duration::from_millis(100));
        if let Some(outcome) = producer.context().0.lock().unwrap().pop() {
            return outcome;
        }
        assert!(Instant::now() < deadline, "no delivery report within 30 s");
    }
}

/// The high watermark of ledger partition 0, read as the sequencer.
fn ledger_end(t: &KTrial) -> i64 {
    let seq = as_principal(t, "sequencer");
    let (hw, _) = tl_kafka::read::end_offsets(&seq, &seq.topics.ledger, 1).unwrap();
    hw[0]
}

#[test]
fn a_site_writer_cannot_write_the_ledger_join_the_sequencers_group_or_use_its_transactional_id() {
    let t = trial();
    let site = as_principal(&t, "site-1");
    let before = ledger_end(&t);
    assert!(before >= 2, "the two bootstrap records are on the ledger");

    // Straight to the ledger topic: the broker refuses, and nothing lands.
    let err = produce_one(&site, &site.topics.ledger, true).expect_err("the broker refuses");
    assert_eq!(
        code(&err),
        RDKafkaErrorCode::TopicAuthorizationFailed,
        "{err}"
    );
    assert_eq!(ledger_end(&t), before, "nothing landed on the ledger");

    // The sequencer's consumer group.
    let consumer: BaseConsumer = site
        .client()
        .set("group.id", format!("{}.sequencer", t.trial.as_str()))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[&site.topics.intake]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let group_err = loop {
        assert!(
            Instant::now() < deadline,
            "joining the sequencer's group was not refused within 30 s"
        );
        if let Some(Err(e)) = consumer.poll(Duration::from_millis(500)) {
            break e;
        }
    };
    assert_eq!(
        code(&group_err),
        RDKafkaErrorCode::GroupAuthorizationFailed,
        "{group_err}"
    );
    drop(consumer);

    // The sequencer's transactional id.
    let txn: BaseProducer = site
        .client()
        .set(
            "transactional.id",
            format!("{}.sequencer.0", t.trial.as_str()),
        )
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()
        .unwrap();
    let txn_err = txn
        .init_transactions(Duration::from_secs(20))
        .expect_err("the broker refuses the sequencer's transactional id to a site writer");
    assert_eq!(
        code(&txn_err),
        RDKafkaErrorCode::TransactionalIdAuthorizationFailed,
        "{txn_err}"
    );
    assert_eq!(ledger_end(&t), before, "still nothing landed on the ledger");
}

#[test]
fn a_reader_cannot_produce_to_intake_and_site_writers_can_within_their_quota() {
    let t = trial();
    let reader = as_principal(&t, "reader");
    let err = produce_one(&reader, &reader.topics.intake, false).expect_err("refused");
    assert_eq!(
        code(&err),
        RDKafkaErrorCode::TopicAuthorizationFailed,
        "{err}"
    );
    // A site writer may (the same call, another principal), within its produce quota.
    let site = as_principal(&t, "site-2");
    produce_one(&site, &site.topics.intake, true).expect("a site writer writes intake");
    let b = secure();
    let out = Command::new(tl_tests::kafka::broker_script())
        .args([
            "acl",
            "quotas",
            "--bootstrap",
            &b.broker.bootstrap,
            "--config",
        ])
        .arg(b.properties("admin"))
        .output()
        .unwrap();
    let quotas = String::from_utf8_lossy(&out.stdout);
    for w in WRITERS.split(',') {
        assert!(
            quotas.contains(&format!("User:{w} producer_byte_rate=1048576")),
            "{quotas}"
        );
    }
    assert!(!quotas.contains("User:sequencer"), "{quotas}");
}

/// Whether a client with `properties` gets the cluster's metadata within 6 s.
fn connects(properties: &[(&str, &str)]) -> Result<usize, KafkaError> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &secure().broker.bootstrap)
        .set("log_level", "0");
    for (k, v) in properties {
        c.set(*k, *v);
    }
    let consumer: BaseConsumer = c.create()?;
    consumer
        .fetch_metadata(None, Duration::from_secs(6))
        .map(|m| m.brokers().len())
}

#[test]
fn an_unauthenticated_or_plaintext_client_cannot_connect() {
    let b = secure();
    let ca = s(&b.ca);
    let good = tl_kafka::load_properties(&b.properties("reader")).unwrap();
    let password = good["sasl.password"].as_str();
    let sasl = |user: &'static str, pass: &str, ca: &str| -> Vec<(String, String)> {
        [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanisms", "SCRAM-SHA-512"),
            ("sasl.username", user),
            ("sasl.password", pass),
            ("ssl.ca.location", ca),
            ("ssl.endpoint.identification.algorithm", "https"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    let cases: Vec<(&str, Vec<(String, String)>)> = vec![
        ("plaintext", vec![]),
        (
            "TLS without credentials",
            vec![
                ("security.protocol".into(), "SSL".into()),
                ("ssl.ca.location".into(), ca.clone()),
            ],
        ),
        ("a wrong password", sasl("reader", "not-the-password", &ca)),
        ("an unknown user", sasl("mallory", password, &ca)),
        (
            "a client that does not trust the cluster's CA",
            sasl("reader", password, "/etc/ssl/certs/ca-certificates.crt"),
        ),
    ];
    // The control: the reader's own credentials connect.
    let own = sasl("reader", password, &ca);
    let as_refs = |v: &[(String, String)]| -> Result<usize, KafkaError> {
        let r: Vec<(&str, &str)> = v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        connects(&r)
    };
    assert_eq!(as_refs(&own).unwrap(), 1, "the reader connects");
    // The refusals take a timeout each: run them side by side.
    std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .iter()
            .map(|(what, props)| {
                let props = props.clone();
                (*what, scope.spawn(move || as_refs(&props)))
            })
            .collect();
        for (what, h) in handles {
            let got = h.join().unwrap();
            assert!(got.is_err(), "{what} connected: {got:?}");
        }
    });
}

/// Submits `signed` as the writer `w`; panics unless it is recorded.
fn recorded(w: &mut Writer, signed: &tl_schemas::SignedSubmission, who: &str) {
    match w.submit(signed, Duration::from_secs(60)) {
        Ok(Verdict::Recorded { .. }) => {}
        Ok(Verdict::Refused(r)) => panic!("{who}: refused: {r:?}"),
        Err(e) => panic!("{who}: {e}"),
    }
}

#[test]
fn the_sequencer_site_writers_and_deciders_write_and_the_reader_verifies() {
    let mut t = trial();
    let seq_props = s(&secure().properties("sequencer"));
    let mut seq = t.sequencer("sequencer.0", "seq", &["--kafka-config", &seq_props]);
    t.cfg = as_principal(&t, "site-1");
    let mut site = Writer::connect(&t.cfg).unwrap();
    t.enrol_investigator(&mut site);
    let work = t.workload(6, 7);
    recorded(&mut site, &work[0], "site-1");
    recorded(&mut site, &work[1], "site-1");
    for (i, who) in ["matcher", "cohort-engine"].into_iter().enumerate() {
        let mut w = Writer::connect(&as_principal(&t, who)).unwrap();
        recorded(&mut w, &work[2 + 2 * i], who);
        recorded(&mut w, &work[3 + 2 * i], who);
    }
    let out = env(&mut Command::new(BIN))
        .args(["verify", "--kafka", &secure().broker.bootstrap])
        .args(["--trial", t.trial.as_str(), "--kafka-config"])
        .arg(secure().properties("reader"))
        .arg("--trust")
        .arg(t.data().join("trust.json"))
        .output()
        .unwrap();
    let _ = seq.kill();
    let _ = seq.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("OK:"),
        "verify --kafka as the reader: {stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        t.all_logs()
    );
    // 2 bootstrap records + the enrolment + 6 submissions.
    assert!(stdout.contains(" 9 records"), "{stdout}");
}

#[test]
fn verify_flags_a_ledger_partition_whose_first_records_were_deleted() {
    let t = trial();
    let admin = as_principal(&t, "admin");
    let client: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
        admin.client().create().unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(&admin.topics.ledger, 0, rdkafka::Offset::Offset(1))
        .unwrap();
    let opts = rdkafka::admin::AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)));
    let done = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(client.delete_records(&tpl, &opts))
        .unwrap();
    let low = done.find_partition(&admin.topics.ledger, 0).unwrap();
    assert_eq!(
        low.error(),
        Ok(()),
        "the admin may delete records (break glass)"
    );
    let out = env(&mut Command::new(BIN))
        .args(["verify", "--kafka", &secure().broker.bootstrap])
        .args(["--trial", t.trial.as_str(), "--kafka-config"])
        .arg(secure().properties("reader"))
        .arg("--trust")
        .arg(t.data().join("trust.json"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("ledger partition 0: log-start offset 1 is above 0"),
        "{stdout}"
    );
}

/// `trial-ledger kafka-check` as the sequencer: exit code and stdout.
fn kafka_check(t: &KTrial, broker_config: &Path) -> (Option<i32>, String) {
    let out = env(&mut Command::new(BIN))
        .args(["kafka-check", "--kafka", &secure().broker.bootstrap])
        .args(["--trial", t.trial.as_str(), "--kafka-config"])
        .arg(secure().properties("sequencer"))
        .arg("--broker-config")
        .arg(broker_config)
        .output()
        .unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `broker acl add` as the admin: an extra ALLOW on a topic pattern.
fn extra_acl(principal: &str, topic: &str, pattern: &str, operation: &str) {
    let b = secure();
    let out = Command::new(tl_tests::kafka::broker_script())
        .args(["acl", "add", "--bootstrap", &b.broker.bootstrap, "--config"])
        .arg(b.properties("admin"))
        .args(["--principal", principal, "--topic", topic])
        .args(["--pattern", pattern, "--operation", operation])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_production_mode_check_refuses_an_extra_acl_that_lets_a_site_writer_write_the_ledger() {
    let t = trial();
    let server = &secure().server_properties;
    let (code, out) = kafka_check(&t, server);
    assert_eq!(code, Some(0), "the trial's own matrix is safe: {out}");

    // An extra super user in the brokers' configuration is named.
    let text = std::fs::read_to_string(server).unwrap();
    let doctored = t.dir.path().join("server.properties");
    std::fs::write(
        &doctored,
        text.replace(
            "super.users=User:broker",
            "super.users=User:broker;User:ops",
        ),
    )
    .unwrap();
    let (code, out) = kafka_check(&t, &doctored);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("super user User:ops"), "{out}");

    // A prefixed ACL that covers the ledger topic lets site-1 write it: refused, by the check
    // and by the sequencer in production mode, which starts nothing.
    extra_acl(
        "site-1",
        &format!("{}.", t.trial.as_str()),
        "prefixed",
        "WRITE",
    );
    let (code, out) = kafka_check(&t, server);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("ALLOW WRITE on prefixed topic") && out.contains("for User:site-1"),
        "{out}"
    );
    let seq = env(&mut Command::new(BIN))
        .args(["sequencer", "--kafka", &secure().broker.bootstrap])
        .args(["--trial", t.trial.as_str(), "--kafka-config"])
        .arg(secure().properties("sequencer"))
        .arg("--data")
        .arg(t.data())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&seq.stderr);
    assert_eq!(seq.status.code(), Some(2), "{err}");
    assert!(
        err.contains("refusing to run in production mode") && err.contains("User:site-1"),
        "{err}"
    );

    // And `init --kafka` in production mode refuses before it writes anything.
    let fresh = t.dir.path().join("refused");
    let init = env(&mut Command::new(BIN))
        .args(["init", "--trial", t.trial.as_str()])
        .args(["--kafka", &secure().broker.bootstrap, "--kafka-config"])
        .arg(secure().properties("admin"))
        .arg("--data")
        .arg(&fresh)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&init.stderr);
    assert_eq!(init.status.code(), Some(2), "{err}");
    assert!(
        err.contains("refusing to run in production mode") && err.contains("User:site-1"),
        "{err}"
    );
    assert!(!fresh.exists(), "a refused init writes nothing");

    // ALL for everyone (User:*) on the literal ledger topic is named as well.
    extra_acl(
        "*",
        &format!("{}.ledger", t.trial.as_str()),
        "literal",
        "ALL",
    );
    let (code, out) = kafka_check(&t, server);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("ALLOW ALL on topic") && out.contains("for User:*"),
        "{out}"
    );
}

#[test]
fn five_sigkills_of_the_sequencer_on_the_secured_node_lose_and_duplicate_nothing() {
    use rand::{Rng, SeedableRng};
    let mut t = trial();
    let seq_props = s(&secure().properties("sequencer"));
    let extra = [
        "--kafka-config",
        seq_props.as_str(),
        "--commit-interval-ms",
        "200",
    ];
    let mut seq = t.sequencer("sequencer.0", "seq-0", &extra);
    t.cfg = as_principal(&t, "site-3");
    let mut w = Writer::connect(&t.cfg).unwrap();
    t.enrol_investigator(&mut w);
    let subs = t.workload(4_000, 11);
    let chunks: Vec<_> = subs.chunks(250).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(19);
    let mut kills = std::collections::BTreeSet::new();
    while kills.len() < 5 {
        kills.insert(rng.gen_range(1..chunks.len() - 1));
    }
    let mut logs = vec!["seq-0".to_string()];
    let mut started_at = w.watcher().record_count();
    for (i, chunk) in chunks.iter().enumerate() {
        for sub in chunk.iter() {
            w.send(sub).unwrap();
        }
        w.flush().unwrap();
        if !kills.contains(&i) {
            continue;
        }
        // Kill a sequencer that is working: it has committed records since it started.
        let deadline = Instant::now() + Duration::from_secs(120);
        while w.watcher().record_count() <= started_at {
            assert!(Instant::now() < deadline, "{}", t.all_logs());
            w.watcher().pump(Duration::from_millis(50)).unwrap();
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..400)));
        seq.kill().unwrap(); // SIGKILL
        seq.wait().unwrap();
        let name = format!("seq-{}", logs.len());
        seq = t.sequencer("sequencer.0", &name, &extra);
        logs.push(name);
        w.watcher().pump(Duration::from_millis(10)).unwrap();
        started_at = w.watcher().record_count();
    }
    let names: Vec<&str> = logs.iter().map(String::as_str).collect();
    // The two bootstrap records and the enrolment are the trial-level records.
    t.wait_records(&mut w, 4_000 + 3, Duration::from_secs(300), &names);
    kafka_support::signal(&seq, "TERM");
    assert!(kafka_support::wait_exit(&mut seq, Duration::from_secs(60)).success());
    t.cfg = as_principal(&t, "reader");
    t.check_exactly_once(&subs, 3);
    let rebuilt = names
        .iter()
        .filter(|n| t.log(n).contains("state rebuilt"))
        .count();
    assert_eq!(rebuilt, 6, "every incarnation rebuilt its state");
}
