//! `trial-ledger demo` end to end on a small trial: it runs, verifies, prints its summary, and
//! refuses a folder that already holds a ledger without touching it; `erase` then makes a
//! simulated patient's personal data unreadable while the ledger still verifies.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tl_domain::personal::{disclose, Disclosure, KeyStore};
use tl_schemas::clinical::clinical_type;
use tl_schemas::ids::Name;
use tl_schemas::{Record, Subject, TrialId};

fn bin(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trial-ledger"));
    c.current_dir(dir)
        .env_remove("TRIAL_LEDGER_PASSPHRASE")
        .env_remove("TRIAL_LEDGER_SEQUENCER_PASSPHRASE")
        .env_remove("TRIAL_LEDGER_ROOT_PASSPHRASE")
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
        "personal-data key store",
        "keystore",
    ] {
        assert!(out.contains(needle), "summary lacks {needle:?}:\n{out}");
    }
    assert!(tmp.path().join("d/trust.json").is_file());
    assert!(tmp.path().join("d/ledger").is_dir());
    assert!(tmp.path().join("d/keystore").is_dir());

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

    // So is a folder whose personal-data key store already holds keys (from another run).
    std::fs::create_dir_all(tmp.path().join("e/keystore")).unwrap();
    std::fs::write(tmp.path().join("e/keystore/left-over.key"), b"x").unwrap();
    let stale = bin(tmp.path())
        .args(["demo", "--data", "e", "--patients", "60"])
        .output()
        .unwrap();
    assert_eq!(stale.status.code(), Some(2), "{}", text(&stale));
    assert!(
        text(&stale).contains("already holds a personal-data key store"),
        "{}",
        text(&stale)
    );
    assert!(!tmp.path().join("e/ledger").exists());
}

#[test]
fn demo_check_exits_1_when_a_figure_is_outside_its_tolerance_and_plain_demo_exits_0() {
    // given a trial far too small for the figures to be estimable (1 treated patient, seed 1:
    // alive at the cut-off, so its median OS is not reached)
    let tmp = tempfile::tempdir().unwrap();
    // when the demo runs with --check
    let checked = bin(tmp.path())
        .args([
            "demo",
            "--data",
            "c",
            "--patients",
            "1",
            "--seed",
            "1",
            "--check",
        ])
        .output()
        .unwrap();
    // then it exits 1 and says why
    assert_eq!(checked.status.code(), Some(1), "{}", text(&checked));
    assert!(text(&checked).contains("OUTSIDE"), "{}", text(&checked));
    assert!(
        text(&checked).contains("outside its tolerance"),
        "{}",
        text(&checked)
    );
    // when the same demo runs without --check, then it exits 0: 1 is for negative verdicts
    let plain = bin(tmp.path())
        .args(["demo", "--data", "p", "--patients", "1", "--seed", "1"])
        .output()
        .unwrap();
    assert!(plain.status.success(), "{}", text(&plain));
    assert!(text(&plain).contains("OUTSIDE"), "{}", text(&plain));
}

/// The `PatientRegistered` records of a ledger, in partition and then record order: each
/// patient's pseudonym and the record's sealed personal data.
fn registrations(ledger: &Path) -> Vec<(Name, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    for input in tl_ledger::log::read_embedded_for_verify(ledger).unwrap() {
        for bytes in &input.records {
            let record: Record = tl_schemas::decode(bytes).unwrap();
            let submission = record.body.submission.submission;
            if submission.envelope.event_type != clinical_type::PATIENT_REGISTERED {
                continue;
            }
            let Subject::Patient(patient) = submission.subject else {
                panic!("PatientRegistered about {}", submission.subject);
            };
            out.push((patient, submission.envelope.personal_data));
        }
    }
    out
}

#[test]
fn erase_makes_a_simulated_patients_data_unreadable_and_the_ledger_still_verifies() {
    // given a small demo trial, and its first two registered patients' personal data
    let tmp = tempfile::tempdir().unwrap();
    let o = bin(tmp.path())
        .args(["demo", "--data", "d", "--patients", "60"])
        .output()
        .unwrap();
    assert!(o.status.success(), "demo failed:\n{}", text(&o));
    let data = tmp.path().join("d");
    let trial = TrialId::new("drup-demo").unwrap();
    let registered = registrations(&data.join("ledger"));
    assert!(registered.len() >= 60, "{} registrations", registered.len());
    let (patient, sealed) = registered[0].clone();
    let (other, other_sealed) = registered[1].clone();
    let store = KeyStore::open(&data.join("keystore")).unwrap();
    let read = |p: &Name, s: &Option<Vec<u8>>| disclose(&store, &trial, p, s.as_deref()).unwrap();
    // then it is readable with the demo's key store
    let Disclosure::Readable(before) = read(&patient, &sealed) else {
        panic!("{patient}: {:?}", read(&patient, &sealed));
    };
    assert!(before.hospital_number.unwrap().starts_with("H-"));
    assert!(matches!(
        read(&other, &other_sealed),
        Disclosure::Readable(_)
    ));
    let ledger_before = snapshot(&data.join("ledger"));

    // when the first patient is erased
    let e = bin(tmp.path())
        .args(["erase", "--data", "d", "--subject"])
        .arg(format!("patient:{patient}"))
        .output()
        .unwrap();
    assert!(e.status.success(), "{}", text(&e));
    assert!(text(&e).contains("erased"), "{}", text(&e));

    // then their data is erased, the other patient's still reads, the ledger is untouched,
    assert_eq!(read(&patient, &sealed), Disclosure::Erased);
    assert!(matches!(
        read(&other, &other_sealed),
        Disclosure::Readable(_)
    ));
    assert_eq!(snapshot(&data.join("ledger")), ledger_before);
    // and `verify` still passes
    let v = bin(tmp.path())
        .args(["verify", "--data", "d"])
        .output()
        .unwrap();
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
}

#[test]
fn a_demo_killed_part_way_has_already_written_its_trust_file_and_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let mut child = bin(tmp.path())
        .args([
            "demo",
            "--data",
            data.to_str().unwrap(),
            "--patients",
            "400",
        ])
        .env("TRIAL_LEDGER_PASSPHRASE", "demo-test-passphrase")
        .env("TRIAL_LEDGER_ROOT_PASSPHRASE", "demo-test-root-passphrase")
        .env(
            "TRIAL_LEDGER_SEQUENCER_PASSPHRASE",
            "demo-test-sequencer-passphrase",
        )
        .env("TRIAL_LEDGER_SCRYPT_LOG_N", "10")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once the simulation has started writing the ledger.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !data.join("ledger").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the demo wrote no ledger"
        );
        assert!(child.try_wait().unwrap().is_none(), "the demo ended early");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.code().is_none(),
        "the demo ended ({status:?}) before the kill; the test shows nothing"
    );
    let trust = tl_ledger::trust::TrustFile::read(&data.join("trust.json")).unwrap();
    let root =
        tl_ledger::keyfile::read_key_file(&data.join("keys/root.key"), "demo-test-root-passphrase")
            .unwrap();
    assert_eq!(
        trust.root_key().unwrap(),
        tl_ledger::SigningKey::new(root.signing_key).public_key(),
        "the trust file pins the root key file's key"
    );
    for k in ["sequencer", "matcher", "cohort-engine"] {
        assert!(data.join(format!("keys/{k}.key")).is_file(), "{k}.key");
    }
}
