//! The API on Kafka (the server issue): `serve --kafka` in front of a demo trial on the shared
//! test broker, with `trial-ledger sequencer` as its own process, refuses a bad signature, an
//! unknown key and a wrong role with 4xx before anything reaches intake; a submission gets the
//! receipt of its committed record, and its resubmission the original one; the safety stream
//! delivers adverse events in the merged order and resumes with `Last-Event-ID` exactly once;
//! the views follow the ledger; records, a trail and an audit bundle (that `verify-bundle`
//! accepts) come from the committed ledger; `/metrics` shows the consumer lag of intake and of
//! the followers, and intake lag once the sequencer stops; every partition is served as a
//! tlog-tiles log of the committed ledger (the tree rebuilt from its tiles has the root of
//! every checkpoint on Kafka; proofs from tiles and from the server verify). `up --kafka` on a
//! trial `init --kafka` made serves it, names its trial before any checkpoint so `keys enrol
//! --url` works at once, and stops on SIGTERM. The views as of a cut of checkpoints
//! (`?at=`) stay the views of the cut's records while the ledger grows, and bad cuts get 4xx. And `up --kafka-local --demo` starts its own
//! broker, serves, takes a submission into the views and stops everything on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tl_ledger::SigningKey;
use tl_schemas::{encode, TrialId};

const BIN: &str = env!("CARGO_BIN_EXE_trial-ledger");
const SEQUENCER_PASS: &str = "kafka-serve-sequencer-passphrase";

fn bin(root: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(root)
        .env("TRIAL_LEDGER_SCRYPT_LOG_N", "10")
        .env_remove("TRIAL_LEDGER_PASSPHRASE")
        .env_remove("TRIAL_LEDGER_ROOT_PASSPHRASE")
        .env("TRIAL_LEDGER_SEQUENCER_PASSPHRASE", SEQUENCER_PASS)
        .env_remove("TRIAL_LEDGER_DATA")
        .stdin(Stdio::null());
    c
}

/// Kills a child the test left running when it fails.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts `args` and returns it with the URL of its `listening on` line (its other output
/// drained on a thread).
fn listening(root: &Path, args: &[&str], log: &str) -> (Killed, String) {
    let mut child = bin(root)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(root.join(log)).unwrap())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if let Some(base) = line.strip_prefix("listening on ") {
                let _ = tx.send(base.trim().to_string());
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(300))
        .unwrap_or_else(|_| {
            panic!(
                "{args:?} never said where it listens:\n{}",
                std::fs::read_to_string(root.join(log)).unwrap_or_default()
            )
        });
    (Killed(child), base)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn get(base: &str, path: &str, token: &str) -> (u16, serde_json::Value) {
    let mut res = agent()
        .get(format!("{base}{path}"))
        .header("authorization", format!("Bearer {token}"))
        .call()
        .unwrap();
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or_default())
}

fn post(base: &str, body: &[u8]) -> (u16, serde_json::Value) {
    let mut res = agent()
        .post(format!("{base}/v1/submissions"))
        .header("content-type", "application/octet-stream")
        .send(body)
        .unwrap();
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap())
}

fn token(root: &Path, role: &str) -> String {
    token_in(root, "d", role)
}

/// A new token of `role` in the data folder `data`.
fn token_in(root: &Path, data: &str, role: &str) -> String {
    let o = bin(root)
        .args([
            "tokens", "new", "--data", data, "--name", "Dr. T", "--role", role,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// An adverse event of `patient` (the form `submit` reads), signed by `key`.
fn adverse_event(trial: &TrialId, patient: &str, ae_id: u32, key: &SigningKey) -> Vec<u8> {
    let json = serde_json::json!({"event": "AdverseEventReported", "subject": format!("patient:{patient}"),
        "payload": {"ae_id": ae_id, "ctcae_term": "Fatigue", "grade": 1 + ae_id % 3, "serious": [],
            "expected": true, "attribution": "Possible", "onset": {"Full": "2025-03-01"},
            "awareness": "2025-03-02", "outcome": "Ongoing"}});
    let parsed = trial_ledger::cli::event_json::parse(&json.to_string()).unwrap();
    encode(&parsed.draft.sign(trial, key))
}

/// Patients enrolled in a cohort, alive and not withdrawn, from the views `serve` wrote.
fn enrolled(root: &Path, base: &str, token: &str) -> Vec<String> {
    assert_eq!(get(base, "/v1/views/enrollment", token).0, 200);
    let db = rusqlite::Connection::open(root.join("d/views/enrollment.sqlite")).unwrap();
    let mut q = db
        .prepare("SELECT patient FROM patients WHERE enrolled_cohort IS NOT NULL AND died = 0 AND withdrawn_on IS NULL ORDER BY patient")
        .unwrap();
    let rows = q.query_map([], |r| r.get(0)).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

/// One Server-Sent Event: its id, its kind and its data.
type Sse = (Option<String>, String, serde_json::Value);

/// Opens the safety stream (resuming after `last`); events arrive on the channel until it
/// is dropped.
fn open_stream(base: &str, token: &str, last: Option<&str>) -> std::sync::mpsc::Receiver<Sse> {
    let mut req = agent()
        .get(format!("{base}/v1/safety/stream"))
        .header("authorization", format!("Bearer {token}"));
    if let Some(id) = last {
        req = req.header("last-event-id", id);
    }
    let res = req.call().unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let (tx, rx) = std::sync::mpsc::sync_channel(64);
    std::thread::spawn(move || {
        let reader = BufReader::new(res.into_body().into_reader());
        let (mut id, mut kind, mut data) = (None, String::new(), String::new());
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if line.is_empty() {
                if !data.is_empty() {
                    let v = serde_json::from_str(&data).unwrap();
                    data.clear();
                    if tx.send((id.take(), std::mem::take(&mut kind), v)).is_err() {
                        return;
                    }
                }
            } else if let Some(v) = line.strip_prefix("id:") {
                id = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("event:") {
                kind = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
    });
    rx
}

/// Safety events until `caught-up` (`to_head`) or until `enough`.
fn collect(
    rx: &std::sync::mpsc::Receiver<Sse>,
    to_head: bool,
    mut enough: impl FnMut(&[Sse]) -> bool,
) -> Vec<Sse> {
    let mut out = Vec::new();
    loop {
        let ev = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the stream went silent");
        match ev.1.as_str() {
            "caught-up" if to_head => return out,
            "caught-up" => {}
            "safety" => {
                out.push(ev);
                if enough(&out) {
                    return out;
                }
            }
            other => panic!("unexpected event {other}: {:?}", ev.2),
        }
    }
}

/// Each event's place in the merged order never goes back.
fn assert_merged_order(events: &[Sse]) {
    let place = |e: &Sse| {
        (
            tl_schemas::UtcMicros::parse_rfc3339(e.2["ordering_time"].as_str().unwrap())
                .unwrap()
                .0,
            e.2["partition"].as_u64().unwrap(),
            e.2["seq"].as_u64().unwrap(),
        )
    };
    for w in events.windows(2) {
        assert!(
            place(&w[0]) <= place(&w[1]),
            "out of order: {:?} then {:?}",
            w[0].2,
            w[1].2
        );
    }
}

/// The `tl_kafka_consumer_lag` gauges of a scrape of `/metrics`: (consumer, partition) → lag.
fn consumer_lag(base: &str, token: &str) -> std::collections::BTreeMap<(String, u32), f64> {
    let mut res = agent()
        .get(format!("{base}/metrics"))
        .header("authorization", format!("Bearer {token}"))
        .call()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let text = res.body_mut().read_to_string().unwrap();
    let mut out = std::collections::BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("tl_kafka_consumer_lag{"))
    {
        let (labels, value) = line.rsplit_once(' ').unwrap();
        let label = |k: &str| {
            let at = labels.find(&format!("{k}=\"")).unwrap() + k.len() + 2;
            labels[at..].split('"').next().unwrap().to_string()
        };
        out.insert(
            (label("consumer"), label("partition").parse().unwrap()),
            value.parse().unwrap(),
        );
    }
    out
}

fn intake_ends(bootstrap: &str, trial: &TrialId) -> Vec<i64> {
    let cfg = tl_kafka::KafkaConfig::new(bootstrap, trial.clone());
    let n = tl_kafka::topics::partition_count(&cfg, &cfg.topics.intake)
        .unwrap()
        .unwrap();
    tl_kafka::read::end_offsets(&cfg, &cfg.topics.intake, n)
        .unwrap()
        .1
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sigterm_and_wait(child: &mut Killed, within: Duration) -> std::process::ExitStatus {
    Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    let until = Instant::now() + within;
    loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            return s;
        }
        assert!(
            Instant::now() < until,
            "did not stop within {within:?} of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serve_kafka_refuses_before_intake_answers_committed_receipts_and_streams_exactly_once() {
    // Given a demo trial on the shared broker, its sequencer, and `serve --kafka` before it
    let bootstrap = &tl_tests::kafka::broker().bootstrap;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let id = tl_tests::kafka::unique("srv").replace('-', ".");
    let trial = TrialId::new(&id).unwrap();
    let o = bin(root)
        .args(["demo", "--data", "d", "--patients", "8", "--seed", "7"])
        .args(["--kafka", bootstrap, "--trial", &id])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "demo --kafka: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let sequencer = Killed(
        bin(root)
            .args([
                "sequencer",
                "--kafka",
                bootstrap,
                "--trial",
                &id,
                "--data",
                "d",
            ])
            .args([
                "--topic-safety",
                "dev",
                "--transactional-id",
                &format!("{id}.s"),
                // Checkpoints soon after records, so the bundle below covers the new AEs.
                "--checkpoint-secs",
                "1",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(root.join("sequencer.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let serve_args = [
        "serve",
        "--kafka",
        bootstrap,
        "--trial",
        &id,
        "--data",
        "d",
        "--listen",
        "127.0.0.1:0",
    ];
    let (mut serve, base) = listening(root, &serve_args, "serve.log");
    let safety = token(root, "safety");
    let auditor = token(root, "auditor");
    let keys = tl_sim::keys_of_seed(7);
    let investigator = &keys.investigators[0].key;
    let patients = enrolled(root, &base, &auditor);
    assert!(!patients.is_empty(), "the demo enrolled patients");

    // When a bad signature, an unknown key and a wrong role are posted
    let before = intake_ends(bootstrap, &trial);
    let mut forged: tl_schemas::SignedSubmission =
        tl_schemas::decode(&adverse_event(&trial, &patients[0], 900, investigator)).unwrap();
    forged.signature.0[7] ^= 1;
    let stranger = SigningKey::generate();
    for (body, status, code) in [
        (encode(&forged), 422, "bad-author-signature"),
        (
            adverse_event(&trial, &patients[0], 901, &stranger),
            422,
            "unknown-key",
        ),
        (
            adverse_event(&trial, &patients[0], 902, &keys.matcher.key),
            422,
            "role-not-permitted",
        ),
        (b"not a submission".to_vec(), 400, "unsupported-format"),
    ] {
        // then each gets its 4xx and code
        let (s, v) = post(&base, &body);
        assert_eq!((s, v["code"].as_str().unwrap()), (status, code), "{v}");
        assert!(!v["message"].as_str().unwrap().is_empty());
    }
    // and nothing reached intake
    assert_eq!(
        intake_ends(bootstrap, &trial),
        before,
        "a refusal reached intake"
    );

    // When the history is read, then adverse events are submitted while a client follows
    let history = collect(&open_stream(&base, &safety, None), true, |_| false);
    let start = history.last().map(|e| e.0.clone().unwrap());
    const N: u32 = 12;
    let bodies: Vec<Vec<u8>> = (0..N)
        .map(|i| {
            adverse_event(
                &trial,
                &patients[i as usize % patients.len()],
                1000 + i,
                investigator,
            )
        })
        .collect();
    let first = open_stream(&base, &safety, start.as_deref());
    let mut receipts = Vec::new();
    for b in &bodies {
        // then each gets the receipt of its committed record
        let (s, v) = post(&base, b);
        assert_eq!(s, 201, "{v}");
        assert_eq!(v["status"], "recorded");
        receipts.push(v);
    }
    // and a resubmission gets the original receipt
    let (s, again) = post(&base, &bodies[3]);
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["status"], "already-recorded");
    for f in [
        "partition",
        "seq",
        "record_hash",
        "seal",
        "registry_seq",
        "ordering_time",
    ] {
        assert_eq!(again[f], receipts[3][f], "{f}");
    }
    // and the stream, dropped part-way and resumed with Last-Event-ID, gives each AE once
    let is_new = |e: &Sse| e.2["ae_id"].as_u64().is_some_and(|a| a >= 1000);
    let mut seen = collect(&first, false, |got| {
        got.iter().filter(|e| is_new(e)).count() >= 5
    });
    drop(first);
    let last = seen.last().unwrap().0.clone().unwrap();
    let again = open_stream(&base, &safety, Some(&last));
    let have = seen.iter().filter(|e| is_new(e)).count();
    seen.extend(collect(&again, false, |got| {
        got.iter().filter(|e| is_new(e)).count() + have >= N as usize
    }));
    assert_merged_order(&seen);
    let ids: Vec<(String, u64)> = seen
        .iter()
        .filter(|e| is_new(e))
        .map(|e| {
            (
                e.2["patient"].as_str().unwrap().to_string(),
                e.2["ae_id"].as_u64().unwrap(),
            )
        })
        .collect();
    let unique: std::collections::BTreeSet<_> = ids.iter().cloned().collect();
    assert_eq!(
        (ids.len(), unique.len()),
        (N as usize, N as usize),
        "each AE exactly once"
    );
    for (e, r) in seen.iter().filter(|e| is_new(e)).zip(&receipts) {
        assert_eq!(e.2["record_hash"], r["record_hash"], "in submission order");
    }

    // and the safety view holds them (the views follow the ledger on Kafka)
    eventually("the AEs in the safety view", || {
        let db = rusqlite::Connection::open(root.join("d/views/safety.sqlite")).unwrap();
        assert_eq!(get(&base, "/v1/views/safety", &auditor).0, 200);
        db.query_row(
            "SELECT COUNT(*) FROM adverse_events WHERE ae_id >= 1000",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap_or(0)
            == N as i64
    });
    // and the metrics show the intake and the followers caught up on every partition
    let partitions = intake_ends(bootstrap, &trial).len() as u32;
    eventually("no consumer lag", || {
        let lag = consumer_lag(&base, &auditor);
        let names = ["intake", "stream", "writer"];
        let all = names
            .iter()
            .all(|c| (0..partitions).all(|p| lag.contains_key(&(c.to_string(), p))));
        all && lag.values().all(|v| *v == 0.0)
    });
    // and the checkpoints are those the sequencer published; routes of the embedded store
    // say they are not served here, with 404
    let (s, v) = get(&base, "/v1/checkpoints", "");
    assert_eq!(s, 200, "{v}");
    assert!(
        v["checkpoints"][0]["checkpoint"]
            .as_str()
            .unwrap()
            .contains(&id),
        "{v}"
    );
    // and a patient's trail and audit bundle come from the committed ledger: the trail
    // holds the AE just recorded, and `verify-bundle` accepts the bundle
    let patient = &patients[0];
    let (s, v) = get(
        &base,
        &format!("/v1/subjects/patient:{patient}/trail"),
        &auditor,
    );
    assert_eq!(s, 200, "{v}");
    assert!(
        v.to_string()
            .contains(receipts[0]["record_hash"].as_str().unwrap()),
        "the trail lacks the AE's record: {v}"
    );
    // (once a published checkpoint covers the new AE: until then the answer says so)
    eventually("the bundle", || {
        let mut res = agent()
            .get(format!("{base}/v1/subjects/patient:{patient}/bundle"))
            .header("authorization", format!("Bearer {auditor}"))
            .call()
            .unwrap();
        let status = res.status().as_u16();
        let body = res.body_mut().read_to_vec().unwrap();
        if status != 200 {
            let text = String::from_utf8_lossy(&body);
            assert!(
                text.contains("newer than the last published checkpoint"),
                "{text}"
            );
            return false;
        }
        std::fs::write(root.join("p.bundle"), body).unwrap();
        true
    });
    let o = bin(root)
        .args(["verify-bundle", "p.bundle", "--trust", "d/trust.json"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("OK: bundle of") && out.contains(patient.as_str()),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // and records by position come from it too: the AE's record decodes to its submission
    let (p0, seq0) = (
        receipts[0]["partition"].as_u64().unwrap(),
        receipts[0]["seq"].as_u64().unwrap(),
    );
    let (s, v) = get(
        &base,
        &format!("/v1/partitions/{p0}/records?from={seq0}&limit=1"),
        &auditor,
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["records"][0]["record_hash"], receipts[0]["record_hash"],
        "{v}"
    );
    let (s, v) = get(
        &base,
        &format!("/v1/partitions/{p0}/records/{seq0}/decoded"),
        &auditor,
    );
    assert_eq!(s, 200, "{v}");
    assert!(v.to_string().contains("AdverseEvent"), "{v}");
    // and every partition is a tlog-tiles log of the committed ledger: the tree rebuilt from
    // its tiles alone has the root of every checkpoint published on Kafka, inclusion proofs
    // built from tiles verify and are the server's, and its proofs check under the root key
    let cfg = tl_kafka::KafkaConfig::new(bootstrap, trial.clone());
    check_tiles(root, &base, &cfg, &auditor);
    // When the sequencer stops and a submission reaches intake partition 0, then the
    // metrics count it as intake lag there
    drop(sequencer);
    let writer = tl_kafka::writer::Writer::connect(&cfg).unwrap();
    writer.send_raw(0, b"lag", b"not sequenced").unwrap();
    writer.flush().unwrap();
    eventually("intake lag 1 on partition 0", || {
        consumer_lag(&base, &auditor).get(&("intake".to_string(), 0)) == Some(&1.0)
    });
    assert_eq!(
        sigterm_and_wait(&mut serve, Duration::from_secs(30)).code(),
        Some(0)
    );
}

#[test]
fn up_kafka_local_serves_takes_a_submission_into_the_views_and_stops_everything_on_sigterm() {
    // Given a new folder, when `up --kafka-local --demo` runs
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let args = [
        "up",
        "--kafka-local",
        "--demo",
        "--data",
        "d",
        "--patients",
        "6",
        "--seed",
        "7",
        "--listen",
        "127.0.0.1:0",
        "--poll-ms",
        "100",
    ];
    let (mut up, base) = listening(root, &args, "up.log");
    let log = || std::fs::read_to_string(root.join("up.log")).unwrap_or_default();
    // then it serves the views
    let auditor = token(root, "auditor");
    let registered = || {
        let (s, v) = get(&base, "/v1/views/enrollment", &auditor);
        assert_eq!(s, 200, "{v}");
        v["funnel"]["registered"].as_u64().unwrap()
    };
    let before = registered();
    assert!(before > 0);
    // and a submission through the API gets its receipt and reaches the views
    let keys = tl_sim::keys_of_seed(7);
    let json = serde_json::json!({"event": "PatientRegistered", "subject": "patient:PT-KUP-1",
        "payload": {"tumour_type": "COAD", "site": "NKI-AVL", "registered_on": "2025-01-02"}});
    let parsed = trial_ledger::cli::event_json::parse(&json.to_string()).unwrap();
    let trial = TrialId::new("drup-demo").unwrap();
    let body = encode(&parsed.draft.sign(&trial, &keys.investigators[0].key));
    let (s, v) = post(&base, &body);
    assert_eq!(s, 201, "{v}\n{}", log());
    eventually("the new patient in the enrollment view", || {
        registered() == before + 1
    });
    // When SIGTERM arrives, then everything stops cleanly, the local broker with it
    let status = sigterm_and_wait(&mut up, Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "{}", log());
    assert!(
        log().contains("the local Kafka broker is stopped"),
        "{}",
        log()
    );
    let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the API still answers"
    );
}

#[test]
fn up_kafka_serves_a_trial_init_made_and_keys_enrol_url_works_before_any_checkpoint() {
    // Given a trial made by `init --kafka` on the shared broker (no demo, nothing sequenced)
    let bootstrap = &tl_tests::kafka::broker().bootstrap;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let id = tl_tests::kafka::unique("up").replace('-', ".");
    let with_keys = |c: &mut Command| {
        c.env("TRIAL_LEDGER_ROOT_PASSPHRASE", "root horse")
            .env("TRIAL_LEDGER_PASSPHRASE", "author horse");
    };
    let ok = |args: &[&str]| {
        let mut c = bin(root);
        with_keys(&mut c);
        let o = c.args(args).output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    ok(&[
        "init",
        "--kafka",
        bootstrap,
        "--trial",
        &id,
        "--partitions",
        "4",
        "--topic-safety",
        "dev",
        "--data",
        "k",
    ]);
    // When `up --kafka` runs on it without --demo
    let args = [
        "up",
        "--kafka",
        bootstrap,
        "--trial",
        &id,
        "--topic-safety",
        "dev",
        "--data",
        "k",
        "--listen",
        "127.0.0.1:0",
        "--poll-ms",
        "100",
    ];
    let (mut up, base) = listening(root, &args, "up.log");
    let log = || std::fs::read_to_string(root.join("up.log")).unwrap_or_default();
    // then it serves, and names its trial before any checkpoint is published
    let (s, v) = get(&base, "/v1/checkpoints", "");
    assert_eq!((s, v["trial"].as_str()), (200, Some(id.as_str())), "{v}");
    // and `keys enrol --url` with the root key enrols an investigator through it at once
    ok(&[
        "keys",
        "new",
        "--name",
        "Dr. I. Investigator",
        "--role",
        "investigator",
        "--out",
        "inv.key",
    ]);
    ok(&[
        "keys",
        "enrol",
        "--url",
        &base,
        "--key",
        "k/keys/root.key",
        "inv.key.pub.json",
    ]);
    // and a registration signed by that key gets its receipt and reaches the views
    let investigator = SigningKey::new(
        tl_ledger::keyfile::read_key_file(&root.join("inv.key"), "author horse")
            .unwrap()
            .signing_key,
    );
    let json = serde_json::json!({"event": "PatientRegistered", "subject": "patient:PT-UPK-1",
        "payload": {"tumour_type": "COAD", "site": "NKI-AVL", "registered_on": "2025-01-02"}});
    let parsed = trial_ledger::cli::event_json::parse(&json.to_string()).unwrap();
    let trial = TrialId::new(&id).unwrap();
    let (s, v) = post(&base, &encode(&parsed.draft.sign(&trial, &investigator)));
    assert_eq!(s, 201, "{v}\n{}", log());
    let auditor = token_in(root, "k", "auditor");
    eventually("the patient in the enrollment view", || {
        let (s, v) = get(&base, "/v1/views/enrollment", &auditor);
        assert_eq!(s, 200, "{v}");
        v["funnel"]["registered"].as_u64() == Some(1)
    });
    // When SIGTERM arrives, then it stops cleanly
    let status = sigterm_and_wait(&mut up, Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "{}", log());
}

/// A tile's path below a partition's prefix, written from the C2SP tlog-tiles spec.
fn c2sp_path(level: &str, index: u64, width: u32) -> String {
    let mut n = index;
    let mut text = format!("{:03}", n % 1000);
    while n >= 1000 {
        n /= 1000;
        text = format!("x{:03}/{text}", n % 1000);
    }
    let partial = if width < 256 {
        format!(".p/{width}")
    } else {
        String::new()
    };
    format!("tile/{level}/{text}{partial}")
}

/// GET of bytes: status and body.
fn get_bytes(url: &str, token: Option<&str>) -> (u16, Vec<u8>) {
    let mut req = agent().get(url);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let mut res = req.call().unwrap();
    let status = res.status().as_u16();
    (status, res.body_mut().read_to_vec().unwrap())
}

/// Hash tiles of one partition fetched over HTTP (each path once), counted.
struct HttpTiles {
    prefix: String,
    fetched: std::cell::RefCell<std::collections::HashMap<String, Vec<u8>>>,
}

impl tlog_tiles::TileReader for HttpTiles {
    fn height(&self) -> u8 {
        8
    }

    fn read_tiles(&self, tiles: &[tlog_tiles::Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
        Ok(tiles
            .iter()
            .map(|t| {
                let path = c2sp_path(&t.level().to_string(), t.level_index(), t.width());
                self.fetched
                    .borrow_mut()
                    .entry(path.clone())
                    .or_insert_with(|| {
                        let (s, body) = get_bytes(&format!("{}/{path}", self.prefix), None);
                        assert_eq!(s, 200, "{path}: {}", String::from_utf8_lossy(&body));
                        assert_eq!(body.len(), t.width() as usize * 32, "{path}");
                        body
                    })
                    .clone()
            })
            .collect())
    }

    fn save_tiles(&self, _: &[tlog_tiles::Tile], _: &[Vec<u8>]) {}
}

/// Stored hashes as the tiles of the tree of `size` alone give them, checked against no root.
struct Unchecked<'a>(&'a HttpTiles, u64);

impl tlog_tiles::HashReader for Unchecked<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        use tlog_tiles::TileReader;
        indexes
            .iter()
            .map(|&i| {
                let tile = tlog_tiles::Tile::from_index(8, i)
                    .parent(0, self.1)
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)?;
                tile.hash_at_index(&self.0.read_tiles(&[tile])?[0], i)
            })
            .collect()
    }
}

/// Checks every partition served by `serve --kafka` as a tlog-tiles log against the
/// checkpoints read from the brokers (see the caller).
fn check_tiles(root: &Path, base: &str, cfg: &tl_kafka::KafkaConfig, auditor: &str) {
    use tl_ledger::audit::{check_proof, parse_proof, KeyPin};
    use tl_ledger::merkle::{verify_inclusion, EMPTY_ROOT};
    use tl_schemas::Hash32;
    use tlog_tiles::HashReader;
    let trust = tl_ledger::trust::TrustFile::read(&root.join("d/trust.json")).unwrap();
    let pin = KeyPin::Root {
        trial: cfg.trial.clone(),
        root: trust.root_key().unwrap(),
    };
    let partitions = tl_kafka::topics::partition_count(cfg, &cfg.topics.ledger)
        .unwrap()
        .unwrap();
    let (mut checked, mut bundles) = (0, 0);
    for p in 0..partitions {
        let prefix = format!("{base}/v1/partitions/{p}");
        let (s, served) = get_bytes(&format!("{prefix}/checkpoint"), None);
        let published = tl_kafka::read::checkpoints(cfg, p, Duration::from_secs(30)).unwrap();
        if s == 404 {
            assert!(
                published.is_empty(),
                "partition {p} has checkpoints on Kafka"
            );
            continue;
        }
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&served));
        // Those published up to the one served (the sequencer may have published since).
        let served = String::from_utf8(served).unwrap();
        let upto = published
            .iter()
            .position(|c| c.text() == served)
            .unwrap_or_else(|| panic!("partition {p}: the served checkpoint is not on Kafka"));
        let tiles = HttpTiles {
            prefix: prefix.clone(),
            fetched: Default::default(),
        };
        for c in &published[..=upto] {
            let c = c.unverified();
            let got = tlog_tiles::tree_hash(c.size, &Unchecked(&tiles, c.size)).unwrap();
            assert_eq!(Hash32(got.0), c.root, "partition {p}: size {}", c.size);
            checked += 1;
        }
        let latest = published[upto].unverified();
        let (size, root_hash) = (latest.size, latest.root);
        let reader = tlog_tiles::TileHashReader::new(size, tlog_tiles::Hash(root_hash.0), &tiles);
        for seq in [0, size / 2, size - 1] {
            let leaf = reader
                .read_hashes(&[tlog_tiles::stored_hash_index(0, seq)])
                .unwrap()[0];
            let path: Vec<Hash32> = tlog_tiles::prove_record(size, seq, &reader)
                .unwrap()
                .into_iter()
                .map(|h| Hash32(h.0))
                .collect();
            verify_inclusion(&Hash32(leaf.0), seq, size, &path, &root_hash).unwrap();
            assert!(verify_inclusion(&EMPTY_ROOT, seq, size, &path, &root_hash).is_err());
            let url = format!("{prefix}/proofs/inclusion?seq={seq}&size={size}");
            let (s, text) = get_bytes(&url, None);
            let text = String::from_utf8(text).unwrap();
            assert_eq!(s, 200, "{text}");
            let proof = parse_proof(&text).unwrap();
            check_proof(&proof, &pin).unwrap_or_else(|e| panic!("{url}: {e}"));
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            let want: Vec<String> = path.iter().map(|h| h.to_hex()).collect();
            assert_eq!(v["path"], serde_json::json!(want), "{url}");
            assert_eq!(v["against"], "checkpoint", "{url}");
        }
        let first = published[0].unverified().size;
        let url = format!("{prefix}/proofs/consistency?from={first}&to={size}");
        let (s, text) = get_bytes(&url, None);
        let text = String::from_utf8(text).unwrap();
        assert_eq!(s, 200, "{text}");
        check_proof(&parse_proof(&text).unwrap(), &pin).unwrap_or_else(|e| panic!("{url}: {e}"));
        // The first entry bundle: each entry hashes to its leaf of the level-0 tile.
        let width = size.min(256) as u32;
        let (s, bundle) = get_bytes(
            &format!("{prefix}/{}", c2sp_path("entries", 0, width)),
            Some(auditor),
        );
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&bundle));
        let level0 = get_bytes(&format!("{prefix}/{}", c2sp_path("0", 0, width)), None).1;
        let mut rest = &bundle[..];
        for i in 0..width as usize {
            let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
            let hash = tl_schemas::record_hash(&rest[2..2 + len]);
            assert_eq!(
                hash.0[..],
                level0[i * 32..(i + 1) * 32],
                "partition {p} entry {i}"
            );
            rest = &rest[2 + len..];
        }
        assert!(rest.is_empty());
        bundles += 1;
        // Beyond the checkpoint is 404; bundles need a token.
        let beyond = c2sp_path("0", size / 256, (size % 256 + 1) as u32);
        assert_eq!(get_bytes(&format!("{prefix}/{beyond}"), None).0, 404);
        assert_eq!(
            get_bytes(&format!("{prefix}/tile/entries/000.p/1"), None).0,
            401
        );
    }
    assert!(
        bundles >= 1 && checked > bundles,
        "{checked} checkpoints over {bundles} partitions"
    );
}

/// Each partition's size at its latest checkpoint, from `GET /v1/checkpoints` (0 before one).
fn checkpoint_sizes(base: &str, token: &str) -> Vec<u64> {
    let (s, v) = get(base, "/v1/checkpoints", token);
    assert_eq!(s, 200, "{v}");
    v["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["checkpoint"]
                .as_str()
                .map_or(0, |t| t.lines().nth(1).unwrap().parse().unwrap())
        })
        .collect()
}

/// `p0:N,p1:M,...` of `sizes`.
fn cut_of(sizes: &[u64]) -> String {
    let parts: Vec<String> = (0..).zip(sizes).map(|(p, n)| format!("p{p}:{n}")).collect();
    parts.join(",")
}

/// The views' routes the cut is checked on: the three views and the board's tables.
const VIEW_PATHS: [&str; 4] = [
    "/v1/views/enrollment",
    "/v1/views/safety",
    "/v1/views/dossier",
    "/v1/views/safety/tables",
];

/// `path` (with `query`) read by `token`: its status, its body without how far behind the log
/// it is (`lag`, `freshness`), and that freshness.
fn view_at(
    base: &str,
    path: &str,
    query: &str,
    token: &str,
) -> (u16, serde_json::Value, serde_json::Value) {
    let (s, mut v) = get(base, &format!("{path}{query}"), token);
    let fresh = v
        .as_object_mut()
        .and_then(|o| {
            o.remove("lag");
            o.remove("freshness")
        })
        .unwrap_or_default();
    (s, v, fresh)
}

#[test]
fn serve_kafka_answers_the_views_as_of_a_cut_of_checkpoints_frozen_while_the_ledger_grows() {
    // Given a demo trial on the shared broker, its sequencer publishing a checkpoint a second,
    // and `serve --kafka` in front of it
    let bootstrap = &tl_tests::kafka::broker().bootstrap;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let id = tl_tests::kafka::unique("cut").replace('-', ".");
    let trial = TrialId::new(&id).unwrap();
    let o = bin(root)
        .args(["demo", "--data", "d", "--patients", "8", "--seed", "7"])
        .args(["--kafka", bootstrap, "--trial", &id])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let _sequencer = Killed(
        bin(root)
            .args(["sequencer", "--kafka", bootstrap, "--trial", &id])
            .args([
                "--data",
                "d",
                "--topic-safety",
                "dev",
                "--checkpoint-secs",
                "1",
            ])
            .args(["--transactional-id", &format!("{id}.s")])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(root.join("sequencer.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let args = ["serve", "--kafka", bootstrap, "--trial", &id, "--data", "d"];
    let (_serve, base) = listening(
        root,
        &[&args[..], &["--listen", "127.0.0.1:0"]].concat(),
        "serve.log",
    );
    let auditor = token(root, "auditor");
    let patients = enrolled(root, &base, &auditor);
    assert!(!patients.is_empty(), "the demo enrolled patients");

    // When every record committed is covered by a checkpoint, the views as of now are the
    // views of exactly the records of that cut
    let mut cut = Vec::new();
    let mut expected = Vec::new();
    eventually("checkpoints covering every committed record", || {
        cut = checkpoint_sizes(&base, &auditor);
        expected = VIEW_PATHS
            .iter()
            .map(|p| view_at(&base, p, "", &auditor))
            .collect();
        expected.iter().all(|(s, _, f)| {
            *s == 200 && f["as_of"] == serde_json::json!(cut) && f["log"] == f["as_of"]
        })
    });
    assert!(
        cut.iter().sum::<u64>() > 0,
        "the demo's records are checkpointed"
    );
    let at = format!("?at={}", cut_of(&cut));
    // and adverse events are recorded after the cut, and checkpointed too
    let investigator = &tl_sim::keys_of_seed(7).investigators[0].key;
    const N: u64 = 5;
    for i in 0..N {
        let patient = &patients[i as usize % patients.len()];
        let (s, v) = post(
            &base,
            &adverse_event(&trial, patient, 3000 + i as u32, investigator),
        );
        assert_eq!(s, 201, "{v}");
    }
    let total = cut.iter().sum::<u64>() + N;
    eventually("checkpoints covering the new adverse events", || {
        checkpoint_sizes(&base, &auditor).iter().sum::<u64>() == total
    });

    // then every view as of the cut is still the views of the cut's records, N behind the log
    for (path, (_, want, _)) in VIEW_PATHS.iter().zip(&expected) {
        let (s, got, fresh) = view_at(&base, path, &at, &auditor);
        assert_eq!(s, 200, "{path}{at}: {got}");
        assert_eq!(
            &got, want,
            "{path} as of the cut is not the view of its records"
        );
        assert_eq!(fresh["as_of"], serde_json::json!(cut), "{fresh}");
        assert_eq!(fresh["behind"], N, "{path}: {fresh}");
    }
    // while the safety view as of now has the new events (so the cut did hold them out)
    let (_, now, _) = view_at(&base, "/v1/views/safety", "", &auditor);
    assert_ne!(now, expected[1].1, "the live safety view did not change");
    // and a cell of the safety table as of the cut lists only records inside the cut
    let (s, cell) = get(
        &base,
        &format!(
            "/v1/views/safety/cells?term=Fatigue&grade=2{}",
            at.replacen('?', "&", 1)
        ),
        &auditor,
    );
    if s == 200 {
        for r in cell["records"].as_array().unwrap() {
            let p = r["partition"].as_u64().unwrap() as usize;
            assert!(r["seq"].as_u64().unwrap() < cut[p], "{r} is past the cut");
        }
    } else {
        assert_eq!(s, 404, "{cell}");
    }

    // When a cut is malformed, leaves a partition out, or names a size no checkpoint has,
    // then it gets a 4xx with its code and a message
    let wrong: Vec<u64> = cut.iter().map(|n| n + 1000).collect();
    let one = if cut.len() > 1 {
        "?at=p0:0"
    } else {
        "?at=p0:0,p1:0"
    };
    for (query, status, code) in [
        ("?at=zz".to_string(), 400, "bad-request"),
        (one.to_string(), 400, "bad-request"),
        (format!("{at},p0:0"), 400, "bad-request"),
        (format!("?at={}", cut_of(&wrong)), 404, "not-found"),
    ] {
        for path in VIEW_PATHS {
            let (s, v) = get(&base, &format!("{path}{query}"), &auditor);
            assert_eq!(
                (s, v["code"].as_str()),
                (status, Some(code)),
                "{path}{query}: {v}"
            );
            assert!(!v["message"].as_str().unwrap().is_empty());
        }
    }
}
