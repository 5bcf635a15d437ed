//! More of `trial-ledger trail` on a small demo ledger: corrections and follow-ups are shown
//! on the records they concern, and records newer than the last published checkpoint get an
//! inclusion proof against the current (unsigned) root, saying so, until `checkpoint --fresh`
//! signs one; then every proof is against a signed checkpoint.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tl_ledger::merkle::verify_inclusion;
use tl_schemas::clinical::clinical_type;
use tl_schemas::{partition_of, Hash32, Record, Subject, TrialId};

fn bin(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trial-ledger"));
    c.current_dir(dir)
        .env("TRIAL_LEDGER_PASSPHRASE", "correct horse")
        .env("TRIAL_LEDGER_SCRYPT_LOG_N", "10")
        .env("TRIAL_LEDGER_ROOT_PASSPHRASE", "root horse")
        .env("TRIAL_LEDGER_SEQUENCER_PASSPHRASE", "sequencer horse")
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
    fn trail(&self, subject: &str) -> serde_json::Value {
        let o = bin(&self.root)
            .args(["trail", "--data", "d", "--trust", "d/trust.json"])
            .args(["--subject", subject, "--json"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    }
    fn subjects_of(&self, event_type: u16) -> Vec<Subject> {
        let mut out = Vec::new();
        for input in tl_ledger::log::read_embedded_for_verify(&self.root.join("d/ledger")).unwrap()
        {
            for bytes in &input.records {
                let r: Record = tl_schemas::decode(bytes).unwrap();
                let s = r.body.submission.submission;
                if s.envelope.event_type == event_type && !out.contains(&s.subject) {
                    out.push(s.subject);
                }
            }
        }
        out
    }
}

fn record_at<'a>(doc: &'a serde_json::Value, r: &serde_json::Value) -> &'a serde_json::Value {
    doc["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["partition"] == r["partition"] && x["seq"] == r["seq"])
        .unwrap_or_else(|| panic!("{r} is not in the trail"))
}

#[test]
fn corrections_and_follow_ups_are_shown_on_the_records_they_concern() {
    let d = Demo::new();
    let corrected = d.subjects_of(clinical_type::CORRECTED);
    assert!(!corrected.is_empty(), "the demo writes corrections");
    for s in &corrected {
        let doc = d.trail(&s.to_string());
        let mut shown = 0;
        for r in doc["records"].as_array().unwrap() {
            for c in r["corrected_by"].as_array().unwrap() {
                assert_eq!(c["event"], "Corrected");
                let corr = record_at(&doc, c);
                assert_eq!(corr["event"], "Corrected");
                // The correction cites what it corrects, first.
                assert_eq!(corr["cites"][0]["seq"], r["seq"]);
                assert_eq!(corr["cites"][0]["record_hash"], r["record_hash"]);
                assert!(corr["seq"].as_u64() > r["seq"].as_u64());
                shown += 1;
            }
        }
        assert!(shown >= 1, "{s}: no correction shown");
    }
    let updated = d.subjects_of(clinical_type::ADVERSE_EVENT_UPDATED);
    assert!(!updated.is_empty(), "the demo writes AE follow-ups");
    let s = &updated[0];
    let doc = d.trail(&s.to_string());
    let mut shown = 0;
    for r in doc["records"].as_array().unwrap() {
        let follow = r["follow_ups"].as_array().unwrap();
        if !follow.is_empty() {
            assert_eq!(r["event"], "AdverseEventReported", "{r}");
        }
        for f in follow {
            assert_eq!(record_at(&doc, f)["event"], "AdverseEventUpdated");
            shown += 1;
        }
    }
    assert!(shown >= 1, "{s}: no follow-up shown");
    // A follow-up is not a correction.
    assert!(doc["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["event"] == "AdverseEventUpdated")
        .all(|r| r["corrected_by"].as_array().unwrap().is_empty()));
}

#[test]
fn records_newer_than_the_last_checkpoint_are_proved_against_a_fresh_one() {
    let d = Demo::new();
    let trial = TrialId::new("drup-demo").unwrap();
    let patient = d
        .subjects_of(clinical_type::PATIENT_ENROLLED)
        .into_iter()
        .find(|s| partition_of(&trial, s, 8) != 0)
        .unwrap();
    let p = partition_of(&trial, &patient, 8);
    // The operator's copy of the partition's checkpoints is lost (a crash before publishing
    // has the same effect): the patient's records are newer than any published checkpoint.
    let ckpt = d.root.join(format!("d/ledger/checkpoints/p{p:05}.ckpt"));
    std::fs::remove_file(&ckpt).unwrap();
    let doc = d.trail(&patient.to_string());
    let mut own = 0;
    for r in doc["records"].as_array().unwrap() {
        let proof = &r["proof"];
        let leaf = Hash32::from_hex(r["record_hash"].as_str().unwrap()).unwrap();
        let root = Hash32::from_hex(proof["root"].as_str().unwrap()).unwrap();
        let path: Vec<Hash32> = proof["path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| Hash32::from_hex(h.as_str().unwrap()).unwrap())
            .collect();
        verify_inclusion(
            &leaf,
            r["seq"].as_u64().unwrap(),
            proof["tree_size"].as_u64().unwrap(),
            &path,
            &root,
        )
        .unwrap();
        assert_eq!(proof["verified"], true);
        if r["partition"] == p {
            assert_eq!(proof["against"], "unsigned-root", "{r}");
            assert_eq!(proof["newer_than_checkpoint"], true);
            assert_eq!(proof["signed"], false);
            own += 1;
        }
    }
    assert!(own >= 5, "{own}");
    // A fresh checkpoint (signed with the sequencer key) covers them.
    let o = bin(&d.root)
        .args(["checkpoint", "--data", "d", "--fresh", "--partition"])
        .arg(p.to_string())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(ckpt.exists());
    let doc = d.trail(&patient.to_string());
    for r in doc["records"].as_array().unwrap() {
        let proof = &r["proof"];
        assert_eq!(proof["against"], "checkpoint", "{r}");
        assert_eq!(proof["signed"], true);
        assert_eq!(proof["newer_than_checkpoint"], false);
        assert_eq!(proof["verified"], true);
    }
}

#[test]
fn several_trails_from_one_verification() {
    let d = Demo::new();
    let patients: Vec<String> = d
        .subjects_of(clinical_type::PATIENT_ENROLLED)
        .iter()
        .take(3)
        .map(ToString::to_string)
        .collect();
    let mut c = bin(&d.root);
    c.args(["trail", "--data", "d", "--trust", "d/trust.json", "--json"]);
    for p in &patients {
        c.args(["--subject", p]);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let docs = doc.as_array().unwrap();
    assert_eq!(docs.len(), 3);
    for (v, p) in docs.iter().zip(&patients) {
        assert_eq!(v["subject"], p.as_str());
        assert_eq!(v, &d.trail(p), "the same trail as asked alone");
    }
    // One unknown subject among them is an error.
    let o = bin(&d.root)
        .args(["trail", "--data", "d", "--subject", &patients[0]])
        .args(["--subject", "patient:NOBODY"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn a_printed_patient_trail_has_a_summary_header_folded_citations_and_marks_disagreements() {
    let d = Demo::new();
    let patients: Vec<String> = d
        .subjects_of(clinical_type::RESPONSE_ASSESSED)
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut c = bin(&d.root);
    c.args(["trail", "--data", "d", "--trust", "d/trust.json", "--json"]);
    for p in &patients {
        c.args(["--subject", p]);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut disagreements = 0;
    for t in doc.as_array().unwrap() {
        let h = &t["header"];
        let enrolled = t["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["event"] == "PatientEnrolled")
            .unwrap_or_else(|| panic!("no enrolment in {}", t["subject"]));
        let cohort = h["cohort"].as_str().expect("a cohort in the header");
        assert!(
            enrolled["summary"].as_str().unwrap().contains(cohort),
            "{h}"
        );
        for r in t["records"].as_array().unwrap() {
            if let Some(what) = r["disagreement"].as_str() {
                assert_eq!(r["event"], "ResponseAssessed", "{r}");
                assert!(what.contains("investigator reported") && what.contains("RECIST 1.1"));
                disagreements += 1;
            }
        }
    }
    // The simulator's investigators disagree in about 3 % of scans.
    assert!(
        disagreements > 0,
        "no disagreement in {} patients",
        patients.len()
    );

    // The text: the header's facts, disagreements marked, and long citation lists folded
    // unless --full.
    let with_disagreement = doc
        .as_array()
        .unwrap()
        .iter()
        .find(|t| {
            t["records"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["disagreement"].is_string())
        })
        .unwrap();
    let subject = with_disagreement["subject"].as_str().unwrap();
    let printed = |full: bool| {
        let mut c = bin(&d.root);
        c.args(["trail", "--data", "d", "--trust", "d/trust.json"])
            .args(["--subject", subject]);
        if full {
            c.arg("--full");
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    let folded = printed(false);
    for needle in [
        "  cohort",
        "  drug",
        "  first dose",
        "  best response",
        "  benefit",
        "DIFFERS",
    ] {
        assert!(folded.contains(needle), "no {needle:?} in:\n{folded}");
    }
    let longest = with_disagreement["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cites"].as_array().unwrap().len())
        .max()
        .unwrap();
    let full = printed(true);
    assert!(!full.contains("--full lists them"));
    if longest > 4 {
        assert!(folded.contains("more (--full lists them)"), "{folded}");
        assert!(full.len() > folded.len());
    }
}
