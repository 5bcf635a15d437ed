//! Issue 5's projections on Kafka, against a real broker (the shared test broker, or
//! `KAFKA_BOOTSTRAP_SERVERS`): `project --kafka` and `view --kafka` give the rows of an
//! embedded copy of the same records; a projector killed with SIGKILL mid-stream 5 times ends
//! with the rows of a clean rebuild; a forged record on the ledger topic stops it with an
//! error naming partition, sequence number and offset (exit 1).

mod kafka_support;

use kafka_support::*;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tl_kafka::{KafkaConfig, TopicSafety};
use tl_projections::report::{self, dump_file};
use tl_projections::ViewKind;
use tl_schemas::TrialId;
use tl_tests::kafka::broker;

fn bin() -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("TRIAL_LEDGER_DATA");
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// The passphrase of the demo's key files.
const PASSPHRASE: &str = "correct horse";

/// A simulated trial run through Kafka by `demo --kafka` (its own sequencer, stopped when
/// the simulation is done): clinical content on the ledger topic, keys and trust file in
/// `data`. Shared by the tests that only read it.
struct KDemo {
    /// Bootstrap servers.
    bootstrap: String,
    /// The trial id (unique per test binary run).
    trial: String,
    /// Holds the data folder.
    dir: tempfile::TempDir,
}

impl KDemo {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    fn trust(&self) -> String {
        s(&self.data().join("trust.json"))
    }
    /// `--kafka B --trial T --trust F --db DB` for `view` and `project`.
    fn source<'a>(&'a self, trust: &'a str, db: &'a str) -> Vec<&'a str> {
        vec![
            "--kafka",
            &self.bootstrap,
            "--trial",
            &self.trial,
            "--trust",
            trust,
            "--db",
            db,
        ]
    }
    fn cfg(&self) -> KafkaConfig {
        KafkaConfig::new(&self.bootstrap, TrialId::new(&self.trial).unwrap())
    }
}

fn kdemo() -> &'static KDemo {
    static DEMO: OnceLock<KDemo> = OnceLock::new();
    DEMO.get_or_init(|| {
        let b = broker();
        let dir = tempfile::tempdir().unwrap();
        let trial = tl_tests::kafka::unique("pk");
        let started = Instant::now();
        let out = bin()
            .args(["demo", "--kafka", &b.bootstrap, "--trial", &trial])
            .args(["--patients", "15", "--data"])
            .arg(dir.path().join("data"))
            // The matcher's, cohort engine's and admin's key files (the admin signs dossiers).
            .env("TRIAL_LEDGER_PASSPHRASE", PASSPHRASE)
            .env("TRIAL_LEDGER_SCRYPT_LOG_N", "10")
            .env_remove("TRIAL_LEDGER_ROOT_PASSPHRASE")
            .env_remove("TRIAL_LEDGER_SEQUENCER_PASSPHRASE")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "demo --kafka failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("demo --kafka took {:.1} s", started.elapsed().as_secs_f64());
        KDemo {
            bootstrap: b.bootstrap.clone(),
            trial,
            dir,
        }
    })
}

/// Every row of every table of the three views, by primary key.
fn dump_views(db: &Path) -> report::ViewsDump {
    report::dump_views(db).unwrap()
}

/// The same views, tables and rows, none empty (shared with projections' own tests).
fn assert_same_rows(want: &report::ViewsDump, got: &report::ViewsDump, what: &str) {
    if let Some(d) = report::views_difference(want, got) {
        panic!("{what}: {d}");
    }
}

/// The dossier view's positions (empty while its database is not set up yet).
fn positions(db: &Path) -> Vec<u64> {
    dump_file(&ViewKind::Dossier.path(db))
        .ok()
        .and_then(|d| d.get("positions").cloned())
        .unwrap_or_default()
        .iter()
        .map(|row| row.split('|').nth(1).unwrap().parse().unwrap())
        .collect()
}

/// An embedded data folder holding a copy of the committed records of the trial's ledger
/// topic (and its trust file).
fn embedded_copy(d: &KDemo, to: &Path) -> Vec<u64> {
    let cfg = d.cfg();
    let n = tl_kafka::topics::partition_count(&cfg, &cfg.topics.ledger)
        .unwrap()
        .unwrap();
    let parts =
        tl_kafka::read::read_all(&cfg, &cfg.topics.ledger, n, Duration::from_secs(60)).unwrap();
    let mut log = tl_ledger::embedded::EmbeddedLog::create(
        &to.join("ledger"),
        n,
        tl_ledger::embedded::StoreOptions::default(),
    )
    .unwrap();
    for (p, msgs) in parts.iter().enumerate() {
        let records: Vec<Vec<u8>> = msgs.iter().map(|m| m.value.clone()).collect();
        if !records.is_empty() {
            log.append(p as u32, &records).unwrap();
        }
    }
    drop(log);
    std::fs::copy(d.data().join("trust.json"), to.join("trust.json")).unwrap();
    parts.iter().map(|m| m.len() as u64).collect()
}

#[test]
fn project_and_view_on_kafka_equal_the_views_of_an_embedded_copy() {
    let d = kdemo();
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("kviews");
    let (trust, dbs) = (d.trust(), s(&db));
    let out = ok(&[&["project", "--once"][..], &d.source(&trust, &dbs)].concat());
    assert!(out.contains("0 behind the log"), "{out}");

    let copy = tmp.path().join("copy");
    let lens = embedded_copy(d, &copy);
    let total: u64 = lens.iter().sum();
    assert!(
        total > 300,
        "only {total} records: the demo wrote too little"
    );
    // Kafka offsets are not sequence numbers (commit markers take offsets): the views'
    // positions are record counts, as on the embedded copy.
    assert_eq!(positions(&db), lens, "positions are sequence numbers");
    let (_, hw) =
        tl_kafka::read::end_offsets(&d.cfg(), &d.cfg().topics.ledger, lens.len() as u32).unwrap();
    assert!(
        hw.iter().zip(&lens).any(|(h, l)| *h as u64 > *l),
        "no commit markers on the topic? ends {hw:?}, records {lens:?}"
    );

    let copy_db = tmp.path().join("copy-views");
    ok(&[
        "project",
        "--once",
        "--data",
        &s(&copy),
        "--db",
        &s(&copy_db),
    ]);
    assert_same_rows(
        &dump_views(&copy_db),
        &dump_views(&db),
        "Kafka vs the embedded copy",
    );

    // `view --kafka` prints the same report as `view --data` on the copy.
    for view in ["enrollment", "safety", "dossier"] {
        let json = |mut v: serde_json::Value| {
            v.as_object_mut().unwrap().remove("db");
            v
        };
        let k: serde_json::Value = serde_json::from_str(&ok(&[
            &["view", view, "--json"][..],
            &d.source(&trust, &dbs),
        ]
        .concat()))
        .unwrap();
        let e: serde_json::Value = serde_json::from_str(&ok(&[
            "view",
            view,
            "--json",
            "--data",
            &s(&copy),
            "--db",
            &s(&copy_db),
        ]))
        .unwrap();
        assert_eq!(json(k), json(e), "view {view} --json");
    }
    let text = ok(&[&["view", "dossier"][..], &d.source(&trust, &dbs)].concat());
    assert!(
        text.contains("trial: treated") && text.contains("up to date"),
        "{text}"
    );
}

#[test]
fn a_kafka_projector_killed_five_times_ends_with_the_rows_of_a_clean_rebuild() {
    let d = kdemo();
    let tmp = tempfile::tempdir().unwrap();
    let trust = d.trust();
    let clean = tmp.path().join("clean");
    let cleans = s(&clean);
    ok(&[&["project", "--once"][..], &d.source(&trust, &cleans)].concat());
    let total: u64 = positions(&clean).iter().sum();
    let db = tmp.path().join("views");
    let dbs = s(&db);
    let mut mid_stream = 0;
    for (i, delay_ms) in [0u64, 20, 5, 30, 10].into_iter().enumerate() {
        let before: u64 = positions(&db).iter().sum();
        let mut child = bin()
            .args(["project", "--batch", "1", "--interval-ms", "50"])
            .args(d.source(&trust, &dbs))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill it mid-stream: once it has committed something new since its restart (it
        // first reads and verifies the topic from offset 0 again), a few milliseconds later.
        let started = Instant::now();
        while positions(&db).iter().sum::<u64>() <= before
            && started.elapsed() < Duration::from_secs(30)
        {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "the projector exited by itself ({status}) on restart {}",
                    i + 1
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        // SIGKILL: no chance to finish a transaction.
        child.kill().unwrap();
        child.wait().unwrap();
        let after: u64 = positions(&db).iter().sum();
        eprintln!(
            "kill {}: {before} -> {after} of {total} records applied",
            i + 1
        );
        assert!(after >= before, "positions went back");
        if after > before && after < total {
            mid_stream += 1;
        }
    }
    assert!(
        mid_stream >= 3,
        "only {mid_stream} of 5 kills landed mid-stream; the test would show nothing"
    );
    // Restarted once more, it catches up; every row equals the clean rebuild's.
    ok(&[&["project", "--once"][..], &d.source(&trust, &dbs)].concat());
    assert_eq!(positions(&db), positions(&clean));
    assert_same_rows(
        &dump_views(&clean),
        &dump_views(&db),
        "after 5 SIGKILLs on Kafka",
    );
}

#[test]
fn view_on_kafka_refuses_bad_input_with_exit_2() {
    let d = kdemo();
    let tmp = tempfile::tempdir().unwrap();
    let dbs = s(&tmp.path().join("v"));
    let trust = d.trust();
    // A trust file of another trial.
    let other = tmp.path().join("other.json");
    tl_ledger::trust::TrustFile::new(&TrialId::new("another-trial").unwrap(), [7; 32], 8)
        .write(&other)
        .unwrap();
    let b = d.bootstrap.as_str();
    let other_s = s(&other);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["view", "dossier", "--kafka", b, "--trial", &d.trial],
            "--trust FILE is required",
        ),
        (
            vec![
                "view", "dossier", "--kafka", b, "--trial", &d.trial, "--trust", &trust,
            ],
            "--db DIR is required",
        ),
        (vec!["view", "dossier", "--kafka", b], "--trial"),
        (
            vec![
                "project", "--once", "--kafka", b, "--trial", &d.trial, "--trust", &other_s,
                "--db", &dbs,
            ],
            "is of trial another-trial",
        ),
    ];
    for (args, want) in cases {
        let o = run(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: want {want:?} in {err}");
    }
    // A trial with no topics on the broker: named, exit 2.
    let ghost_trial = tl_tests::kafka::unique("ghost");
    let ghost = tmp.path().join("ghost.json");
    tl_ledger::trust::TrustFile::new(&TrialId::new(&ghost_trial).unwrap(), [7; 32], 8)
        .write(&ghost)
        .unwrap();
    let o = run(&[
        "project",
        "--once",
        "--kafka",
        b,
        "--trial",
        &ghost_trial,
        "--trust",
        &s(&ghost),
        "--db",
        &dbs,
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("no ledger topic {ghost_trial}.ledger")),
        "{err}"
    );
}

#[test]
fn a_forged_record_on_the_ledger_topic_stops_project_kafka_naming_it() {
    let b = broker();
    let t = KTrial::new(&b.bootstrap, 4, TopicSafety::Dev);
    let mut seq = t.sequencer("seq", "seq", &[]);
    let mut w = t.writer();
    t.enrol_investigator(&mut w);
    let subs = t.workload(120, 7);
    for sub in &subs {
        w.send(sub).unwrap();
    }
    w.flush().unwrap();
    t.wait_records(&mut w, 120 + 3, Duration::from_secs(120), &["seq"]);
    signal(&seq, "TERM");
    assert!(wait_exit(&mut seq, Duration::from_secs(60)).success());
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("views");
    let trust = s(&t.data().join("trust.json"));
    let project = |extra: &[&str]| {
        let mut c = bin();
        c.args([
            "project",
            "--kafka",
            &b.bootstrap,
            "--trial",
            t.trial.as_str(),
        ])
        .args(["--trust", &trust, "--db", &s(&db), "--interval-ms", "50"])
        .args(extra);
        c
    };
    let o = project(&["--once"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // A record for partition 2 that continues its chain but is sealed by a key that is not
    // the sequencer's, produced straight to the ledger topic.
    let parts =
        tl_kafka::read::read_all(&t.cfg, &t.cfg.topics.ledger, 4, Duration::from_secs(30)).unwrap();
    let (last, _) = tl_ledger::codec::decode_record(&parts[2].last().unwrap().value).unwrap();
    let mut body = last.body.clone();
    body.seq += 1;
    body.prev_hash = last.hash();
    body.subject_prev = None;
    let forged =
        tl_ledger::sequencer::seal_unchecked(&t.trial, body, &tl_ledger::SigningKey::generate());
    let rogue: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &b.bootstrap)
        .create()
        .unwrap();
    rogue
        .send(
            BaseRecord::<[u8], [u8]>::to(&t.cfg.topics.ledger)
                .partition(2)
                .payload(&forged),
        )
        .map_err(|(e, _)| e)
        .unwrap();
    rogue.flush(Duration::from_secs(30)).unwrap();
    let (hw, _) = tl_kafka::read::end_offsets(&t.cfg, &t.cfg.topics.ledger, 4).unwrap();
    let forged_at = format!("partition 2 seq {} (offset {})", parts[2].len(), hw[2] - 1);

    // The long-lived projector (already up to date with everything before it) stops by
    // itself, exit 1, naming the record.
    let child = project(&[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    let started = Instant::now();
    while !waiter.is_finished() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("project --kafka did not stop at the forged record");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = waiter.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&forged_at), "want {forged_at:?} in:\n{err}");
    // Nothing from it on was applied; everything before it was.
    let lens: Vec<u64> = parts.iter().map(|p| p.len() as u64).collect();
    assert_eq!(positions(&db), lens);
    // `view` says the same, exit 1.
    let o = bin()
        .args([
            "view",
            "dossier",
            "--kafka",
            &b.bootstrap,
            "--trial",
            t.trial.as_str(),
        ])
        .args(["--trust", &trust, "--db", &s(&db)])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(&forged_at), "{err}");
}

/// Every file under `dir` with its bytes, by `/`-separated relative path.
fn files_of(dir: &Path, prefix: &str, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let rel = format!("{prefix}{}", e.file_name().to_string_lossy());
        if e.file_type().unwrap().is_dir() {
            files_of(&e.path(), &format!("{rel}/"), out);
        } else {
            out.insert(rel, std::fs::read(e.path()).unwrap());
        }
    }
}

#[test]
fn a_dossier_from_kafka_equals_the_dossier_of_an_embedded_copy_and_verifies() {
    // given the demo on Kafka and an embedded copy of its committed records and checkpoints
    let d = kdemo();
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("copy");
    let lens = embedded_copy(d, &copy);
    let cfg = d.cfg();
    for p in 0..lens.len() as u32 {
        let cps = tl_kafka::read::checkpoints(&cfg, p, Duration::from_secs(60)).unwrap();
        let path = tl_ledger::publish::checkpoint_path(&copy.join("ledger"), p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let text: String = cps
            .iter()
            .map(|c| tl_ledger::publish::note_entry(c.text()))
            .collect();
        std::fs::write(path, text).unwrap();
    }
    // when a dossier of every cohort is made from each
    let trust = d.trust();
    let key = d.data().join("keys/admin.key");
    let dossier = |source: &[&str], out: &Path| {
        let o = bin()
            .env("TRIAL_LEDGER_PASSPHRASE", PASSPHRASE)
            .arg("dossier")
            .args(source)
            .args([
                "--all",
                "--cutoff",
                "2100-01-01",
                "--no-pdf",
                "--trust",
                &trust,
            ])
            .arg("--key")
            .arg(&key)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "dossier {source:?}: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let (k, e) = (tmp.path().join("from-kafka"), tmp.path().join("from-copy"));
    dossier(&["--kafka", &d.bootstrap, "--trial", &d.trial], &k);
    dossier(&["--data", &s(&copy)], &e);
    // then every file is byte-identical but the manifest's signing time (and so its signature)
    let (mut kf, mut ef) = (Default::default(), Default::default());
    files_of(&k, "", &mut kf);
    files_of(&e, "", &mut ef);
    assert_eq!(kf.keys().collect::<Vec<_>>(), ef.keys().collect::<Vec<_>>());
    assert!(kf.len() > 10, "{:?}", kf.keys());
    for (name, bytes) in &kf {
        if name == "manifest.json" {
            let unsigned = |b: &[u8]| {
                let mut v: serde_json::Value = serde_json::from_slice(b).unwrap();
                v["signer"]["signed_at"] = serde_json::Value::Null;
                v
            };
            assert_eq!(unsigned(bytes), unsigned(&ef[name]));
        } else if name != "manifest.sig" {
            assert!(*bytes == ef[name], "{name} differs");
        }
    }
    // and the Kafka dossier verifies
    let o = bin()
        .args(["verify-dossier", &s(&k), "--trust", &trust])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    // and --kafka without --trust is refused before anything is written
    let o = bin()
        .env("TRIAL_LEDGER_PASSPHRASE", PASSPHRASE)
        .args(["dossier", "--kafka", &d.bootstrap, "--trial", &d.trial])
        .args(["--all", "--cutoff", "2100-01-01", "--key"])
        .arg(&key)
        .arg("--out")
        .arg(tmp.path().join("refused"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--trust FILE"));
    assert!(!tmp.path().join("refused").exists());
    eprintln!(
        "two dossiers and a verification on the Kafka demo: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
