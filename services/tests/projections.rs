//! The projector and the views from the command line: crash recovery under SIGKILL, tables
//! and JSON, and bad input (exit 2 with a clear error).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use tl_projections::report::{self, dump_file};
use tl_projections::ViewKind;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trial-ledger"));
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

/// A small simulated trial, written by `demo`.
fn demo(dir: &Path, patients: u32) -> PathBuf {
    demo_seeded(dir, patients, 5)
}

/// [`demo`] with another seed (another root key: another trial's keys).
fn demo_seeded(dir: &Path, patients: u32, seed: u64) -> PathBuf {
    let data = dir.join("d");
    ok(&[
        "demo",
        "--data",
        data.to_str().unwrap(),
        "--patients",
        &patients.to_string(),
        "--seed",
        &seed.to_string(),
    ]);
    data
}

/// Every row of every table of the three views (shared with projections' own tests).
fn dump_views(db: &Path) -> report::ViewsDump {
    report::dump_views(db).unwrap()
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

#[test]
fn a_projector_killed_five_times_ends_with_the_rows_of_a_clean_rebuild() {
    let tmp = tempfile::tempdir().unwrap();
    let data = demo(tmp.path(), 200);
    let d = data.to_str().unwrap();
    let db = tmp.path().join("views");
    let dbs = db.to_str().unwrap();
    let total: u64 = {
        // The clean rebuild, in one go.
        let clean = tmp.path().join("clean");
        ok(&[
            "project",
            "--once",
            "--data",
            d,
            "--db",
            clean.to_str().unwrap(),
        ]);
        positions(&clean).iter().sum()
    };
    assert!(total > 5_000, "{total} records");
    let mut mid_stream = 0;
    for (i, delay_ms) in [0u64, 40, 15, 60, 25].into_iter().enumerate() {
        let before: u64 = if db.exists() {
            positions(&db).iter().sum()
        } else {
            0
        };
        let mut child = bin()
            .args([
                "project",
                "--data",
                d,
                "--db",
                dbs,
                "--batch",
                "3",
                "--interval-ms",
                "50",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill it mid-stream: once it has committed something new (it first verifies the
        // ledger from position 0 again), after a few more milliseconds.
        let started = std::time::Instant::now();
        while positions(&db).iter().sum::<u64>() <= before
            && started.elapsed() < Duration::from_secs(30)
        {
            std::thread::sleep(Duration::from_millis(5));
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
    ok(&["project", "--once", "--data", d, "--db", dbs]);
    let clean = dump_views(&tmp.path().join("clean"));
    let recovered = dump_views(&db);
    if let Some(d) = report::views_difference(&clean, &recovered) {
        panic!("after the crashes: {d}");
    }
}

#[test]
fn view_prints_tables_and_json_and_refuses_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let data = demo(tmp.path(), 60);
    let d = data.to_str().unwrap();

    let o = run(&["view", "enrollment", "--data", d]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.contains("funnel") && out.contains("registered") && out.contains("up to date"),
        "{out}"
    );
    // Without --trust it uses the unpinned trust file beside the ledger, and says so.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("a real audit pins its own copy"), "{err}");
    let pinned = run(&[
        "view",
        "enrollment",
        "--data",
        d,
        "--trust",
        &format!("{d}/trust.json"),
    ]);
    assert!(
        !String::from_utf8_lossy(&pinned.stderr).contains("warning"),
        "{}",
        String::from_utf8_lossy(&pinned.stderr)
    );
    assert!(
        data.join("views").join("enrollment.sqlite").is_file(),
        "default --db is DIR/views"
    );

    let json: serde_json::Value =
        serde_json::from_str(&ok(&["view", "dossier", "--data", d, "--json"])).unwrap();
    let trial = &json["trial"];
    for key in [
        "evaluable",
        "clinical_benefit_rate",
        "objective_response_rate",
        "median_pfs_months",
        "median_os_months",
        "grade3plus_trae_rate",
        "exceptional_responder_rate",
        "clinical_benefit_evaluable",
        "clinical_benefit_treated",
        "objective_response_evaluable",
        "objective_response_treated",
        "median_pfs_sensitivity_months",
        "median_docr_months",
        "median_follow_up_months",
    ] {
        assert!(
            trial.get(key).is_some(),
            "trial summary lacks {key}: {trial}"
        );
    }
    assert!(
        trial["clinical_benefit_evaluable"]["ci95_percent"].is_array(),
        "{trial}"
    );
    assert_eq!(
        json["definitions"]["benefit_window_days"], 7,
        "{}",
        json["definitions"]
    );
    assert!(json["methods"].as_array().is_some_and(|m| !m.is_empty()));
    let cohorts = json["cohorts"].as_array().unwrap();
    assert!(!cohorts.is_empty());
    let cohort = cohorts[0]["cohort"].as_str().unwrap().to_string();
    let one: serde_json::Value = serde_json::from_str(&ok(&[
        "view", "dossier", "--data", d, "--json", "--cohort", &cohort,
    ]))
    .unwrap();
    assert_eq!(one["cohorts"].as_array().unwrap().len(), 1);
    assert!(one["patients"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["cohort"] == cohort.as_str()));
    let safety: serde_json::Value =
        serde_json::from_str(&ok(&["view", "safety", "--data", d, "--json"])).unwrap();
    assert!(safety["overall"]["treated"].as_i64().unwrap() > 0);
    let text = ok(&["view", "safety", "--data", d]);
    assert!(text.contains("SUSAR clocks"), "{text}");
    let text = ok(&["view", "dossier", "--data", d, "--cohort", &cohort]);
    assert!(
        text.contains("stage decisions") && text.contains("patients"),
        "{text}"
    );
    // Stage decisions are a table, not raw JSON lines.
    assert!(
        text.contains("evaluable") && text.contains("evidence") && !text.contains("{\""),
        "{text}"
    );

    // Bad input: exit 2 and a clear message.
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["view", "bogus", "--data", d], "invalid value 'bogus'"),
        (
            vec!["view", "dossier", "--data", "/nonexistent/x"],
            "holds no embedded ledger",
        ),
        (
            vec!["view", "dossier", "--data", d, "--cohort", "NO.SUCH.COHORT"],
            "no cohort",
        ),
        (vec!["view", "dossier"], "--data"),
        (
            vec![
                "view",
                "dossier",
                "--kafka",
                "localhost:9092",
                "--trial",
                "t",
            ],
            "--trust FILE is required",
        ),
        (vec!["project", "--data", d, "--batch", "0"], "--batch"),
        (
            vec![
                "view",
                "dossier",
                "--data",
                d,
                "--trust",
                "/nonexistent/trust.json",
            ],
            "trust file",
        ),
    ];
    for (args, want) in cases {
        let o = run(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // A views folder of another trial is refused, not mixed.
    let other = tmp.path().join("other");
    demo_seeded(&other, 20, 6);
    let o = run(&[
        "view",
        "dossier",
        "--data",
        other.join("d").to_str().unwrap(),
        "--db",
        data.join("views").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("belongs to"));
}

#[test]
fn project_stops_cleanly_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let data = demo(tmp.path(), 40);
    let db = tmp.path().join("views");
    let child = bin()
        .args([
            "project",
            "--data",
            data.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "--interval-ms",
            "50",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it has caught up (positions cover the log), then ask it to stop.
    let total: u64 = {
        let clean = tmp.path().join("clean");
        ok(&[
            "project",
            "--once",
            "--data",
            data.to_str().unwrap(),
            "--db",
            clean.to_str().unwrap(),
        ]);
        positions(&clean).iter().sum()
    };
    for _ in 0..200 {
        if ViewKind::Dossier.path(&db).exists() && positions(&db).iter().sum::<u64>() == total {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("0 behind the log"), "{stdout}");
}

#[test]
fn view_on_a_tampered_ledger_exits_1_naming_the_record() {
    use tl_ledger::embedded::{EmbeddedLog, StoreOptions};
    let tmp = tempfile::tempdir().unwrap();
    let data = demo(tmp.path(), 30);
    let ledger = data.join("ledger");
    let (mut log, _) = EmbeddedLog::open_writer(&ledger, StoreOptions::default()).unwrap();
    let p = (1..log.partition_count())
        .max_by_key(|&p| log.len(p))
        .unwrap();
    let mut records = log.read(p, 0, usize::MAX).unwrap();
    let k = records.len() / 2;
    records.remove(k);
    log.rewrite_partition(p, &records).unwrap();
    drop(log);
    let o = run(&["view", "dossier", "--data", data.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("partition {p} seq {k}: seq-gap")),
        "{err}"
    );
}

#[test]
fn views_of_another_history_are_refused_not_continued() {
    // Two ledgers of the same trial and root key (one seed), with different histories.
    let tmp = tempfile::tempdir().unwrap();
    let long = demo_seeded(&tmp.path().join("a"), 40, 9);
    let short = demo_seeded(&tmp.path().join("b"), 25, 9);
    let views = long.join("views");
    ok(&["view", "enrollment", "--data", long.to_str().unwrap()]);
    let o = run(&[
        "view",
        "enrollment",
        "--data",
        short.to_str().unwrap(),
        "--db",
        views.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("another history"), "{err}");
}
