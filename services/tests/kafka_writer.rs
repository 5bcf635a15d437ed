//! Issue 19's pipelined writer against a real Apache Kafka broker (one per test binary, from
//! `infra/kafka/broker`): a window of submissions in flight is recorded in the order it was
//! begun; a refusal in the middle of the window is reported for that submission alone, and a
//! later event of the same subject is judged on its own merits; resubmitting the whole window
//! writes nothing new and gets the original receipts; `submit --kafka --jsonl` prints one
//! verdict per line, in input order, and a rerun of the same file is idempotent; the demo on
//! Kafka (whose deciders' answers are in flight together) has the embedded demo's per-subject
//! histories and six trial figures for the same seed and trial.

mod kafka_support;

use kafka_support::*;
use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;
use tl_kafka::writer::{Ticket, Verdict, Writer};
use tl_kafka::TopicSafety;
use tl_ledger::writer::Draft;
use tl_ledger::SigningKey;
use tl_schemas::clinical::ConsentRecorded;
use tl_schemas::events::envelope_of;
use tl_schemas::{Date, SignedSubmission};
use tl_tests::kafka::broker;

/// Bootstrap (2) + the investigator's enrolment.
const TRIAL_LEVEL: usize = 3;

/// 200 valid submissions (100 patients, registered then consenting), with a submission by a
/// key the trial never enrolled inserted between the registration and the consent of patient
/// 40: returns the submissions in sending order and the index of the bad one.
fn window_with_a_bad_submission(t: &KTrial) -> (Vec<SignedSubmission>, usize) {
    let mut subs = t.workload(200, 19);
    let stranger = SigningKey::generate();
    let subject = subs[80].submission.subject.clone();
    let day = Date::from_ymd(2025, 3, 1).unwrap();
    let bad = Draft::new(
        subject,
        envelope_of(&ConsentRecorded {
            form_version: "v0".into(),
            consented_on: day,
        }),
    )
    .sign(&t.trial, &stranger);
    subs.insert(81, bad);
    (subs, 81)
}

/// Begins every submission on `w` and returns the tickets.
fn begin_all(w: &mut Writer, subs: &[SignedSubmission]) -> Vec<Ticket> {
    subs.iter().map(|s| w.begin(s).unwrap()).collect()
}

/// Checks the verdicts of one window: in ticket order, only `bad` refused (unknown-key), the
/// rest recorded as sent, in the order they were begun within each partition. Returns the
/// receipts by submission index.
fn check_window(
    subs: &[SignedSubmission],
    bad: usize,
    verdicts: &[(Ticket, Verdict)],
) -> HashMap<usize, (u32, u64, tl_schemas::Hash32)> {
    assert_eq!(verdicts.len(), subs.len(), "one verdict per submission");
    let mut receipts = HashMap::new();
    let mut last_seq: HashMap<u32, u64> = HashMap::new();
    for (i, (ticket, verdict)) in verdicts.iter().enumerate() {
        assert_eq!(ticket.id, subs[i].submission.submission_id, "ticket order");
        match verdict {
            Verdict::Refused(r) => {
                assert_eq!(i, bad, "only the stranger's submission is refused: {r:?}");
                assert_eq!(r.reason, "unknown-key", "{r:?}");
            }
            Verdict::Recorded { record, hash, .. } => {
                assert_ne!(i, bad, "the stranger's submission was recorded");
                assert_eq!(
                    record.body.submission, subs[i],
                    "the record holds what was sent"
                );
                let p = record.body.partition;
                if let Some(prev) = last_seq.insert(p, record.body.seq) {
                    assert!(
                        record.body.seq > prev,
                        "partition {p}: submission {i} recorded at seq {} after seq {prev}",
                        record.body.seq
                    );
                }
                receipts.insert(i, (p, record.body.seq, *hash));
            }
        }
    }
    receipts
}

#[test]
fn a_window_is_recorded_in_order_and_a_refusal_in_its_middle_stops_nothing() {
    let b = broker();
    let t = KTrial::new(&b.bootstrap, 2, TopicSafety::Dev);
    let mut seq = t.sequencer("seq", "seq", &[]);
    let mut w = t.writer();
    t.enrol_investigator(&mut w);
    let (subs, bad) = window_with_a_bad_submission(&t);
    // A window smaller than the workload: `begin` waits for verdicts to make room.
    w.set_window(32);
    let tickets = begin_all(&mut w, &subs);
    assert!(w.in_flight() <= 32, "the window bounds what is in flight");
    // Await one (the consent after the refusal, same subject) before the rest.
    match w
        .verdict(&tickets[bad + 1], Duration::from_secs(120))
        .unwrap()
    {
        Verdict::Recorded { record, .. } => {
            assert_eq!(record.body.submission, subs[bad + 1]);
            assert_eq!(
                record.body.submission.submission.subject, subs[bad].submission.subject,
                "the same subject as the refused submission"
            );
        }
        Verdict::Refused(r) => panic!("judged by its predecessor's refusal: {r:?}"),
    }
    let mut verdicts = w.finish(Duration::from_secs(120)).unwrap();
    assert_eq!(w.in_flight(), 0);
    // The one taken already goes back in its place for the check.
    let one = w.watcher_ref().recorded(&tickets[bad + 1].id).unwrap();
    verdicts.insert(bad + 1, (tickets[bad + 1].clone(), one));
    check_window(&subs, bad, &verdicts);
    seq.kill().unwrap();
    seq.wait().unwrap();
    let good: Vec<SignedSubmission> = subs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != bad)
        .map(|(_, s)| s.clone())
        .collect();
    t.check_exactly_once(&good, TRIAL_LEVEL);
}

#[test]
fn resubmitting_a_window_writes_nothing_new_and_returns_the_original_receipts() {
    let b = broker();
    let t = KTrial::new(&b.bootstrap, 2, TopicSafety::Dev);
    let mut seq = t.sequencer("seq", "seq", &[]);
    let mut w = t.writer();
    t.enrol_investigator(&mut w);
    let (subs, bad) = window_with_a_bad_submission(&t);
    w.set_window(64);
    begin_all(&mut w, &subs);
    let first = check_window(&subs, bad, &w.finish(Duration::from_secs(120)).unwrap());
    // A second writer (a client that crashed and restarts) sends the same window again.
    let mut again = t.writer();
    again.set_window(64);
    begin_all(&mut again, &subs);
    let second = check_window(&subs, bad, &again.finish(Duration::from_secs(120)).unwrap());
    assert_eq!(first, second, "the same receipts");
    t.wait_intake_handled(Duration::from_secs(60), &["seq"]);
    seq.kill().unwrap();
    seq.wait().unwrap();
    let good: Vec<SignedSubmission> = subs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != bad)
        .map(|(_, s)| s.clone())
        .collect();
    t.check_exactly_once(&good, TRIAL_LEVEL);
}

/// Runs `submit --kafka --jsonl FILE --json` with the investigator's key file.
fn bulk(t: &KTrial, key: &std::path::Path, file: &std::path::Path) -> std::process::Output {
    env(&mut Command::new(BIN))
        .args([
            "submit",
            "--kafka",
            &t.bootstrap,
            "--trial",
            t.trial.as_str(),
            "--jsonl",
            "--json",
        ])
        .arg("--key")
        .arg(key)
        .arg(file)
        .output()
        .unwrap()
}

/// Each output line of a bulk run, parsed.
fn verdict_lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn bulk_submit_prints_a_verdict_per_line_in_order_and_a_rerun_is_idempotent() {
    let b = broker();
    let t = KTrial::new(&b.bootstrap, 2, TopicSafety::Dev);
    let mut seq = t.sequencer("seq", "seq", &[]);
    let mut w = t.writer();
    // The investigator's key file, enrolled by the root.
    let key = t.dir.path().join("inv.key");
    let o = env(&mut Command::new(BIN))
        .args([
            "keys",
            "new",
            "--name",
            "inv",
            "--role",
            "investigator",
            "--out",
        ])
        .arg(&key)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let km = tl_ledger::keyfile::read_key_file(&key, PASS).unwrap();
    let inv = SigningKey::new(km.signing_key);
    let enrol = tl_schemas::events::KeyEnrolled {
        public_key: inv.public_key(),
        name: "inv".into(),
        role: tl_schemas::Role::Investigator,
    };
    let signed =
        Draft::new(tl_schemas::Subject::Trial, envelope_of(&enrol)).sign(&t.trial, &t.root);
    assert!(matches!(
        w.submit(&signed, Duration::from_secs(120)).unwrap(),
        Verdict::Recorded { .. }
    ));
    // Line 2 is refused (an investigator may not amend the protocol); line 3, of the same
    // patient as line 1, is judged on its own; blank lines are skipped.
    let register = |p: &str| {
        format!(
            r#"{{"event":"PatientRegistered","subject":"patient:{p}","payload":{{"tumour_type":"COAD","site":"NKI","registered_on":"2025-01-15"}}}}"#
        )
    };
    let consent = r#"{"event":"ConsentRecorded","subject":"patient:B-1","payload":{"form_version":"v1","consented_on":"2025-01-16"}}"#;
    let amend = r#"{"event":"ProtocolAmended","subject":"trial","payload":{"protocol_version":9,"document":"x"}}"#;
    let file = t.dir.path().join("events.jsonl");
    let mut text = format!("{}\n{amend}\n\n{consent}\n", register("B-1"));
    for i in 2..=40 {
        text.push_str(&register(&format!("B-{i}")));
        text.push('\n');
    }
    std::fs::write(&file, &text).unwrap();
    let first = bulk(&t, &key, &file);
    assert_eq!(
        first.status.code(),
        Some(1),
        "a line was refused: exit 1\n{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let v1 = verdict_lines(&first);
    assert_eq!(v1.len(), 42, "one verdict per event line");
    let lines: Vec<u64> = v1.iter().map(|v| v["line"].as_u64().unwrap()).collect();
    let mut want: Vec<u64> = vec![1, 2, 4];
    want.extend(5..=43);
    assert_eq!(lines, want, "input order, blank line skipped");
    assert_eq!(v1[1]["status"], "refused");
    assert_eq!(v1[1]["reason"], "role-not-permitted", "{}", v1[1]);
    for (i, v) in v1.iter().enumerate().filter(|(i, _)| *i != 1) {
        assert_eq!(v["status"], "recorded", "line {}: {v}", lines[i]);
    }
    w.watcher()
        .read_to_committed_end(Duration::from_secs(60))
        .unwrap();
    let recorded = w.watcher().record_count();
    assert_eq!(recorded, 3 + 41, "the enrolments and the 41 lines recorded");
    // The rerun: the same ids, nothing new recorded, the original receipts.
    let second = bulk(&t, &key, &file);
    assert_eq!(
        second.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let v2 = verdict_lines(&second);
    assert_eq!(v2.len(), 42);
    assert_eq!(v2[1]["status"], "refused");
    for (a, b) in v1
        .iter()
        .zip(&v2)
        .filter(|(a, _)| a["status"] == "recorded")
    {
        assert_eq!(b["status"], "already-recorded", "{b}");
        assert_eq!(a["record_hash"], b["record_hash"]);
        assert_eq!(a["submission_id"], b["submission_id"]);
    }
    t.wait_intake_handled(Duration::from_secs(60), &["seq"]);
    w.watcher().pump(Duration::from_millis(500)).unwrap();
    w.watcher()
        .read_to_committed_end(Duration::from_secs(60))
        .unwrap();
    assert_eq!(
        w.watcher().record_count(),
        recorded,
        "the rerun recorded nothing"
    );
    // A file with a bad line submits nothing and names the line.
    std::fs::write(&file, format!("{}\n{{\"event\":\n", register("B-99"))).unwrap();
    let bad = bulk(&t, &key, &file);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("line 2") && err.contains("nothing was submitted"),
        "{err}"
    );
    assert!(bad.stdout.is_empty());
    seq.kill().unwrap();
    seq.wait().unwrap();
}

/// Each subject's events in ledger order: (event type, payload). Positions, hashes, times and
/// sealed personal data (a fresh nonce per sealing) are left out: they differ between stores.
fn histories(
    parts: &[tl_ledger::verify::PartitionInput],
) -> std::collections::BTreeMap<String, Vec<(u16, Vec<u8>)>> {
    let mut out: std::collections::BTreeMap<String, Vec<(u16, Vec<u8>)>> = Default::default();
    for bytes in parts.iter().flat_map(|p| &p.records) {
        let (r, _) = tl_ledger::codec::decode_record(bytes).unwrap();
        let s = &r.body.submission.submission;
        out.entry(s.subject.to_string())
            .or_default()
            .push((s.envelope.event_type, s.envelope.payload.clone()));
    }
    out
}

/// The six trial figures as the demo prints them.
fn figures(stdout: &str) -> String {
    stdout
        .split("trial-level figures")
        .nth(1)
        .and_then(|s| s.split("verification:").next())
        .unwrap_or_else(|| panic!("no figures in:\n{stdout}"))
        .to_string()
}

#[test]
fn the_demo_on_kafka_has_the_embedded_demos_histories_and_figures() {
    let b = broker();
    let dir = tempfile::tempdir().unwrap();
    let trial = tl_tests::kafka::unique("demo").replace('-', ".");
    let demo = |data: &std::path::Path, kafka: bool| {
        let mut cmd = Command::new(BIN);
        cmd.args(["demo", "--trial", &trial, "--patients", "8", "--data"])
            .arg(data)
            .env_remove("TRIAL_LEDGER_PASSPHRASE")
            .env_remove("TRIAL_LEDGER_ROOT_PASSPHRASE")
            .env_remove("TRIAL_LEDGER_SEQUENCER_PASSPHRASE");
        if kafka {
            cmd.args(["--kafka", &b.bootstrap]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let on_kafka = demo(&dir.path().join("k"), true);
    let embedded = demo(&dir.path().join("e"), false);
    assert_eq!(figures(&on_kafka), figures(&embedded), "the six figures");
    let cfg = tl_kafka::KafkaConfig::new(&b.bootstrap, tl_schemas::TrialId::new(&trial).unwrap());
    let k = tl_kafka::read::ledger_for_verify(&cfg, 8, Duration::from_secs(60)).unwrap();
    let e = tl_ledger::log::read_embedded_for_verify(&dir.path().join("e/ledger")).unwrap();
    let (k, e) = (histories(&k), histories(&e));
    assert!(
        k.len() > 10,
        "subjects (patients, cohorts, the trial): {}",
        k.len()
    );
    assert_eq!(k, e, "every subject's history");
}
