//! `trial-ledger export` and `verify-bundle` end to end on a small demo ledger: a patient's,
//! a cohort's and the whole ledger's bundles verify offline (exit 0), against a held
//! checkpoint too; a damaged bundle is a negative verdict (exit 1) or an unreadable file
//! (exit 2), never a pass or a panic; bad arguments and another trial's trust file are
//! reported clearly. The tamper matrix itself is `tests/tests/bundle.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tl_schemas::clinical::clinical_type;
use tl_schemas::{partition_of, Record, Subject, TrialId};

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

struct Demo {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Demo {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let o = bin(&root)
            .args(["demo", "--data", "d", "--patients", "30", "--seed", "11"])
            .output()
            .unwrap();
        assert!(o.status.success(), "demo failed:\n{}", text(&o));
        Demo { _tmp: tmp, root }
    }
    fn run(&self, args: &[&str]) -> Output {
        bin(&self.root).args(args).output().unwrap()
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}:\n{}", text(&o));
        text(&o)
    }
    fn fails(&self, args: &[&str], code: i32, expect: &str) -> String {
        let o = self.run(args);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(code), "{args:?}:\n{t}");
        assert!(t.contains(expect), "{args:?}: expected {expect:?} in:\n{t}");
        t
    }
    /// The subjects of the records of `event_type`, in ledger order.
    fn subjects_of(&self, event_type: u16) -> Vec<Subject> {
        let mut out = Vec::new();
        for input in tl_ledger::log::read_embedded_for_verify(&self.root.join("d/ledger")).unwrap()
        {
            for bytes in &input.records {
                let r: Record = tl_schemas::decode(bytes).unwrap();
                let s = r.body.submission.submission;
                if s.envelope.event_type == event_type {
                    out.push(s.subject);
                }
            }
        }
        out
    }
    /// An enrolled patient outside partition 0, so that its bundle has a sparse section.
    fn patient(&self) -> String {
        let trial = TrialId::new("drup-demo").unwrap();
        self.subjects_of(clinical_type::PATIENT_ENROLLED)
            .into_iter()
            .find(|s| partition_of(&trial, s, 8) != 0)
            .expect("an enrolled patient outside partition 0")
            .to_string()
    }
}

#[test]
fn bundles_of_a_patient_a_cohort_and_everything_verify_offline() {
    let d = Demo::new();
    let patient = d.patient();
    let o = d.ok(&[
        "export",
        "--data",
        "d",
        "--trust",
        "d/trust.json",
        "--subject",
        &patient,
        "--out",
        "p.bundle",
    ]);
    assert!(o.contains(&format!("bundle of {patient}")), "{o}");
    // Verified without the ledger: move the data folder away first.
    std::fs::copy(d.root.join("d/trust.json"), d.root.join("pinned.json")).unwrap();
    std::fs::rename(d.root.join("d"), d.root.join("gone")).unwrap();
    let o = d.ok(&["verify-bundle", "p.bundle", "--trust", "pinned.json"]);
    assert!(o.contains(&format!("OK: bundle of {patient}")), "{o}");
    assert!(o.contains("complete by back-links"), "{o}");
    assert!(o.contains("pinned by the trust file"), "{o}");
    assert!(!o.contains("WARNING"), "{o}");
    let o = d.run(&[
        "verify-bundle",
        "p.bundle",
        "--trust",
        "pinned.json",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["trust_anchored"], true);
    assert!(v["subject_records"].as_array().unwrap().len() >= 5, "{v}");
    assert!(
        v["partitions"].as_array().unwrap().len() >= 3,
        "partition 0, the patient's and the cohort's (the slot): {v}"
    );
    // Unpinned: it verifies, with a warning, but the verdict is not trust-anchored: exit 1
    // unless --allow-unsigned.
    let o = d.fails(&["verify-bundle", "p.bundle"], 1, "NOT TRUST-ANCHORED");
    assert!(o.contains("NOT pinned") && o.contains("WARNING"), "{o}");
    let o = d.ok(&["verify-bundle", "p.bundle", "--allow-unsigned"]);
    assert!(o.contains("OK: bundle of"), "{o}");
    let o = d.run(&["verify-bundle", "p.bundle", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["ok"].clone(), v["trust_anchored"].clone()),
        (true.into(), false.into())
    );
    std::fs::rename(d.root.join("gone"), d.root.join("d")).unwrap();

    // The cohort the patient's enrolment names, by its bare id.
    let cohort = d
        .subjects_of(clinical_type::SLOT_ASSIGNED)
        .into_iter()
        .next()
        .unwrap()
        .to_string();
    let bare = cohort.strip_prefix("cohort:").unwrap();
    d.ok(&[
        "export", "--data", "d", "--cohort", bare, "--out", "c.bundle",
    ]);
    d.ok(&["verify-bundle", "c.bundle", "--trust", "d/trust.json"]);

    // Everything, and against the auditor's held checkpoints.
    d.ok(&["export", "--data", "d", "--all", "--out", "all.bundle"]);
    d.ok(&["checkpoint", "--data", "d", "--save", "held.txt"]);
    let o = d.ok(&[
        "verify-bundle",
        "all.bundle",
        "--trust",
        "d/trust.json",
        "--against",
        "held.txt",
    ]);
    assert!(o.contains("full verification"), "{o}");
    assert!(
        o.contains("OK: held checkpoint trial-ledger/drup-demo/0"),
        "{o}"
    );
}

#[test]
fn damaged_bundles_and_bad_input() {
    let d = Demo::new();
    let patient = d.patient();
    d.ok(&[
        "export",
        "--data",
        "d",
        "--subject",
        &patient,
        "--out",
        "p.bundle",
    ]);
    let good = std::fs::read(d.root.join("p.bundle")).unwrap();
    // A flipped byte anywhere (a sample across the file) is never a pass nor a panic.
    let step = (good.len() / 60).max(1);
    for i in (0..good.len()).step_by(step) {
        let mut t = good.clone();
        t[i] ^= 0x01;
        std::fs::write(d.root.join("t.bundle"), &t).unwrap();
        let o = d.run(&["verify-bundle", "t.bundle", "--trust", "d/trust.json"]);
        let code = o.status.code();
        assert!(
            code == Some(1) || code == Some(2),
            "byte {i}: exit {code:?}\n{}",
            text(&o)
        );
        let t = text(&o);
        assert!(
            t.contains("FAILED: ") || t.contains("error: "),
            "byte {i}: no reason given\n{t}"
        );
    }
    // A bundle given to check-proof is named as a bundle, with the command that reads it.
    d.fails(
        &["check-proof", "p.bundle", "--trust", "d/trust.json"],
        2,
        "is an audit bundle, not a proof file: check it with `trial-ledger verify-bundle",
    );
    // Unreadable files are errors (exit 2).
    std::fs::write(d.root.join("junk.bundle"), b"{\"not\": \"a bundle\"}").unwrap();
    d.fails(
        &["verify-bundle", "junk.bundle"],
        2,
        "not a trial-ledger audit bundle",
    );
    std::fs::write(d.root.join("cut.bundle"), &good[..good.len() / 2]).unwrap();
    d.fails(&["verify-bundle", "cut.bundle"], 2, "malformed bundle");
    d.fails(&["verify-bundle", "missing.bundle"], 2, "missing.bundle");
    // A malformed file of held checkpoints is an error too.
    std::fs::write(d.root.join("garbage.txt"), "these are not checkpoints\n\n").unwrap();
    d.fails(
        &["verify-bundle", "p.bundle", "--against", "garbage.txt"],
        2,
        "garbage.txt",
    );
    // Another trial's trust file: a negative verdict naming the trust anchor.
    tl_ledger::trust::TrustFile::new(
        &TrialId::new("drup-demo").unwrap(),
        tl_ledger::SigningKey::from_seed([9; 32]).public_key(),
        8,
    )
    .write(&d.root.join("other.json"))
    .unwrap();
    d.fails(
        &["verify-bundle", "p.bundle", "--trust", "other.json"],
        1,
        "FAILED: trust anchor: trust-anchor",
    );
    // Export arguments.
    d.fails(
        &["export", "--data", "d", "--out", "x.bundle"],
        2,
        "--subject",
    );
    d.fails(
        &[
            "export",
            "--data",
            "d",
            "--all",
            "--subject",
            &patient,
            "--out",
            "x.bundle",
        ],
        2,
        "cannot be used with",
    );
    d.fails(
        &[
            "export",
            "--data",
            "d",
            "--subject",
            "patient:NOBODY",
            "--out",
            "x.bundle",
        ],
        2,
        "no records of patient:NOBODY",
    );
    d.fails(
        &[
            "export",
            "--data",
            "d",
            "--cohort",
            "patient:X",
            "--out",
            "x.bundle",
        ],
        2,
        "not a cohort",
    );
    assert!(!d.root.join("x.bundle").exists());
}
