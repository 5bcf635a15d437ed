//! `trial-ledger trail` end to end on a small demo ledger: an enrolled patient's trail lists
//! the chain in order with the slot from the cohort's partition, signers, meanings and
//! inclusion proofs that verify, and the derived benefit line; a cohort trail works; an
//! unknown subject is an error (exit 2); a tampered ledger is refused (exit 1).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tl_ledger::merkle::verify_inclusion;
use tl_schemas::clinical::clinical_type;
use tl_schemas::{Hash32, Record, Subject};

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
    fn trail(&self, args: &[&str]) -> Output {
        bin(&self.root)
            .args(["trail", "--data", "d"])
            .args(args)
            .output()
            .unwrap()
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
}

fn hash(v: &serde_json::Value) -> Hash32 {
    Hash32::from_hex(v.as_str().unwrap()).unwrap()
}

/// Checks every record's inclusion proof in a `--json` trail with tl_ledger::merkle.
fn check_proofs(doc: &serde_json::Value) {
    for r in doc["records"].as_array().unwrap() {
        let p = &r["proof"];
        let path: Vec<Hash32> = p["path"].as_array().unwrap().iter().map(hash).collect();
        verify_inclusion(
            &hash(&r["record_hash"]),
            r["seq"].as_u64().unwrap(),
            p["tree_size"].as_u64().unwrap(),
            &path,
            &hash(&p["root"]),
        )
        .unwrap_or_else(|e| panic!("proof of {}/{}: {e}", r["partition"], r["seq"]));
        assert_eq!(p["leaf_index"], r["seq"]);
        assert_eq!(p["verified"], true);
        assert_eq!(
            p["signed"].as_bool().unwrap(),
            !p["newer_than_checkpoint"].as_bool().unwrap(),
            "{p}"
        );
    }
}

#[test]
fn trail_of_an_enrolled_patient_reads_the_whole_chain_with_proofs() {
    let demo = Demo::new();
    let enrolled = demo.subjects_of(clinical_type::PATIENT_ENROLLED);
    let treated = demo.subjects_of(clinical_type::RESPONSE_ASSESSED);
    let patient = enrolled
        .iter()
        .find(|s| treated.contains(s))
        .expect("an enrolled patient with assessments")
        .to_string();

    // JSON: order, slot, signers, proofs, derived.
    let o = demo.trail(&["--subject", &patient, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["subject"], patient.as_str());
    let records = doc["records"].as_array().unwrap();
    let events: Vec<&str> = records
        .iter()
        .map(|r| r["event"].as_str().unwrap())
        .collect();
    assert_eq!(events[0], "PatientRegistered", "{events:?}");
    let pos = |e: &str| {
        events
            .iter()
            .position(|x| *x == e)
            .unwrap_or_else(|| panic!("no {e} in {events:?}"))
    };
    let order = [
        "SequencingResultReported",
        "MatchProposed",
        "MatchDecided",
        "SlotAssigned",
        "PatientEnrolled",
        "DoseAdministered",
    ];
    for w in order.windows(2) {
        assert!(pos(w[0]) < pos(w[1]), "{} after {}: {events:?}", w[0], w[1]);
    }
    // The baseline scan may precede the first dose; follow-up assessments come after it.
    let last_assessment = events
        .iter()
        .rposition(|x| *x == "ResponseAssessed")
        .unwrap();
    assert!(pos("DoseAdministered") < last_assessment, "{events:?}");
    // The slot comes from the cohort's partition.
    let slot = &records[pos("SlotAssigned")];
    assert!(slot["subject"].as_str().unwrap().starts_with("cohort:"));
    assert!(slot["via"].as_str().unwrap().contains("enrolment"));
    assert!(slot["summary"]
        .as_str()
        .unwrap()
        .contains(patient.trim_start_matches("patient:")));
    // Records are in ordering-time order, and every one names its signer and protocol.
    let times: Vec<&str> = records
        .iter()
        .map(|r| r["ordering_time"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    for r in records {
        assert!(!r["author"]["name"].as_str().unwrap().is_empty(), "{r}");
        assert!(!r["author"]["role"].as_str().unwrap().is_empty(), "{r}");
        assert!(!r["manifestation"]["signed_at"].as_str().unwrap().is_empty());
        assert!(r["protocol_version"].is_u64(), "{r}");
    }
    let decided = &records[pos("MatchDecided")];
    assert_eq!(decided["manifestation"]["meaning"], "approved");
    assert_eq!(decided["author"]["role"], "mtb");
    assert!(decided["summary"].as_str().unwrap().contains("MTB"));
    let proposed = &records[pos("MatchProposed")];
    assert_eq!(proposed["author"]["role"], "matcher");
    assert!(proposed["summary"].as_str().unwrap().contains("rule:"));
    assert_eq!(records[0]["manifestation"]["meaning"], "authored");
    check_proofs(&doc);
    let derived = &doc["derived"];
    assert!(derived["best_overall_response"].is_string(), "{derived}");
    assert!(derived["clinical_benefit"].is_boolean(), "{derived}");
    assert!(
        !derived["evidence"].as_array().unwrap().is_empty(),
        "{derived}"
    );

    // Text: the same, for people.
    let o = demo.trail(&["--subject", &patient]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    if std::env::var_os("TRAIL_SHOW").is_some() {
        println!("{out}");
    }
    for needle in [
        "PatientRegistered",
        "SlotAssigned",
        "approved",
        "derived: best overall response",
        "proof verified",
        "protocol   version",
        "warning: using the trust file",
    ] {
        assert!(out.contains(needle), "no {needle:?} in:\n{out}");
    }

    // An explicit --trust gives the same trail without the warning.
    let o = demo.trail(&["--subject", &patient, "--trust", "d/trust.json"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("warning: using the trust file"));
}

#[test]
fn cohort_trail_unknown_subject_and_tampered_ledger() {
    let demo = Demo::new();
    let cohort = demo.subjects_of(clinical_type::SLOT_ASSIGNED)[0].to_string();
    let o = demo.trail(&["--subject", &cohort, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let records = doc["records"].as_array().unwrap();
    assert!(records.iter().any(|r| r["event"] == "SlotAssigned"));
    assert!(records.iter().all(|r| r["subject"] == cohort.as_str()));
    assert!(doc["derived"].is_null());
    check_proofs(&doc);

    // Unknown subject: a clear error, exit 2.
    let o = demo.trail(&["--subject", "patient:nobody-here"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("no records of patient:nobody-here"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("panicked"));
    let o = demo.trail(&["--subject", "nonsense"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    // A flipped seal byte in the cohort's partition: refused, naming the record.
    let partition = records[0]["partition"].as_u64().unwrap() as u32;
    let seq = records[0]["seq"].as_u64().unwrap() as usize;
    {
        let (mut log, _) = tl_ledger::embedded::EmbeddedLog::open_writer(
            &demo.root.join("d/ledger"),
            Default::default(),
        )
        .unwrap();
        let mut recs = log.read(partition, 0, usize::MAX).unwrap();
        let last = recs[seq].len() - 1;
        recs[seq][last] ^= 0x01;
        log.rewrite_partition(partition, &recs).unwrap();
    }
    let o = demo.trail(&["--subject", &cohort]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("FAILED"), "{out}");
    assert!(
        out.contains(&format!("{partition}/{seq}")) || out.contains(&format!("seq {seq}")),
        "{out}"
    );
    assert!(!out.contains("decision trail of"), "{out}");
}

/// The library, without the CLI: a subject whose back-links skip one of its records (as a
/// trail or bundle with a record left out would) is reported incomplete, not silently short.
#[test]
fn a_record_left_off_the_back_links_is_detected() {
    use trial_ledger::trail::{self, Entry, TrailError};
    let demo = Demo::new();
    let inputs = tl_ledger::log::read_embedded_for_verify(&demo.root.join("d/ledger")).unwrap();
    let mut parts: Vec<Vec<Entry>> = inputs
        .iter()
        .map(|i| {
            i.records
                .iter()
                .map(|b| {
                    let record: Record = tl_schemas::decode(b).unwrap();
                    Entry {
                        hash: record.hash(),
                        record,
                    }
                })
                .collect()
        })
        .collect();
    let trust = tl_ledger::trust::TrustFile::read(&demo.root.join("d/trust.json")).unwrap();
    let registry = trail::registry_of(&trust.trial(), trust.root_key().unwrap(), &parts[0]);
    let patient = demo.subjects_of(clinical_type::PATIENT_ENROLLED)[0].clone();
    let p = tl_schemas::partition_of(&trust.trial(), &patient, parts.len() as u32);

    // As recorded: complete, and the same records as a forward scan.
    let t = trail::build(&parts, &registry, p, &patient).unwrap();
    assert_eq!(t.records[0].event, "PatientRegistered");
    assert!(t.derived.is_some());
    let seqs = trail::subject_records(&parts, p, &patient).unwrap();
    assert!(seqs.len() >= 3);

    // The latest record's back-link skips the one before it.
    let last = *seqs.last().unwrap() as usize;
    let skip_to = seqs[seqs.len() - 3] as usize;
    let link = tl_schemas::Link {
        seq: skip_to as u64,
        hash: parts[p as usize][skip_to].hash,
    };
    parts[p as usize][last].record.body.subject_prev = Some(link);
    match trail::build(&parts, &registry, p, &patient) {
        Err(TrailError::Incomplete(m)) => {
            assert!(m.contains(&format!("{p}/{}", seqs[seqs.len() - 2])), "{m}")
        }
        other => panic!("expected an incomplete trail, got {other:?}"),
    }

    // Unknown subjects are an error of the request.
    let nobody = Subject::parse("patient:nobody").unwrap();
    assert!(matches!(
        trail::build(&parts, &registry, 0, &nobody),
        Err(TrailError::Unknown(_))
    ));
}
