//! `trial-ledger demo` end to end on a small trial: it runs, verifies, prints its summary, and
//! refuses a folder that already holds a ledger without touching it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trial-ledger"));
    c.current_dir(dir)
        .env_remove("TRIAL_LEDGER_PASSPHRASE")
        .env_remove("TRIAL_LEDGER_SEQUENCER_PASSPHRASE")
        .env_remove("TRIAL_LEDGER_DATA");
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(p: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        for e in std::fs::read_dir(p).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

#[test]
fn demo_runs_verifies_and_refuses_an_existing_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let o = bin(tmp.path())
        .args(["demo", "--data", "d", "--patients", "60", "--seed", "7"])
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "demo failed:\n{out}");
    for needle in [
        "verification: OK",
        "events by type",
        "PatientEnrolled",
        "records per partition",
        "cohorts by status",
        "clinical benefit among response-evaluable",
        "median OS from first dose",
        "events/s",
        "not stored",
    ] {
        assert!(out.contains(needle), "summary lacks {needle:?}:\n{out}");
    }
    assert!(tmp.path().join("d/trust.json").is_file());
    assert!(tmp.path().join("d/ledger").is_dir());

    // The trust file and ledger it wrote pass the ordinary `verify`.
    let v = bin(tmp.path())
        .args(["verify", "--data", "d"])
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", text(&v));

    // A second run on the same folder is refused and changes nothing.
    let before = snapshot(&tmp.path().join("d"));
    let again = bin(tmp.path())
        .args(["demo", "--data", "d", "--patients", "60"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(
        text(&again).contains("already holds a trial ledger"),
        "{}",
        text(&again)
    );
    assert_eq!(
        before,
        snapshot(&tmp.path().join("d")),
        "the refused run changed the folder"
    );
}
