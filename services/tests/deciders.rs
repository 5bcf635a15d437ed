//! `trial-ledger matcher` and `cohort-engine` on a scripted embedded ledger: `--once` records
//! the expected `MatchProposed` for a new sequencing result (then the slot after an MTB
//! approval, and the stage decision once the patient's records make the outcome known),
//! signed with the service's key and citing its trigger; a second run records
//! nothing (the services replay the ledger and recognise their decisions); a following
//! matcher picks up a new result while `submit` shares the ledger, and stops cleanly on
//! SIGTERM; bad arguments and wrong keys are clear errors (exit 2) that record nothing; on a
//! demo ledger the services find every decision already recorded.

#[path = "support/scripted.rs"]
mod scripted;
use scripted::catalogue;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use tl_schemas::clinical::*;
use tl_schemas::ids::Name;
use tl_schemas::{decode, encode, KeyId, Record, Subject};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trial-ledger"));
    c.env("TRIAL_LEDGER_PASSPHRASE", "correct horse")
        .env("TRIAL_LEDGER_SCRYPT_LOG_N", "10")
        .env("TRIAL_LEDGER_ROOT_PASSPHRASE", "root horse")
        .env("TRIAL_LEDGER_SEQUENCER_PASSPHRASE", "sequencer horse")
        .env_remove("TRIAL_LEDGER_DATA");
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

struct Trial {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Trial {
    /// A trial with every role's key enrolled, the catalogue in force, and patient PT-1
    /// (lung cancer, EML4-ALK) registered, consented and sequenced.
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let t = Trial {
            root: tmp.path().to_path_buf(),
            _tmp: tmp,
        };
        t.ok(&[
            "init",
            "--data",
            "d",
            "--trial",
            "svc-test",
            "--partitions",
            "4",
        ]);
        for role in [
            "admin",
            "lab",
            "investigator",
            "matcher",
            "mtb",
            "cohort-engine",
        ] {
            let file = format!("{role}.key");
            t.ok(&[
                "keys", "new", "--name", role, "--role", role, "--out", &file,
            ]);
            t.ok(&["keys", "enrol", "--data", "d", &format!("{file}.pub.json")]);
        }
        t.ok(&[
            "keys",
            "new",
            "--name",
            "stray",
            "--role",
            "matcher",
            "--out",
            "stray.key",
        ]);
        let amend = serde_json::json!({
            "event": "ProtocolAmended", "subject": "trial", "meaning": "approved",
            "payload": {"protocol_version": 1, "document_format": 1,
                        "document_hex": hex::encode(encode(&catalogue()))}
        });
        t.submit("admin", &amend);
        t.patient("PT-1", "NSCLC");
        t.sequence("PT-1", "ALK", "EML4");
        t
    }

    fn run(&self, args: &[&str]) -> Output {
        bin().current_dir(&self.root).args(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.status.success(), "{args:?} failed:\n{}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn submit(&self, role: &str, event: &serde_json::Value) {
        let file = self.root.join("event.json");
        std::fs::write(&file, event.to_string()).unwrap();
        self.ok(&[
            "submit",
            "--data",
            "d",
            "--key",
            &format!("{role}.key"),
            "event.json",
        ]);
    }

    fn patient(&self, id: &str, tumour: &str) {
        let subject = format!("patient:{id}");
        self.submit(
            "investigator",
            &serde_json::json!({
            "event": "PatientRegistered", "subject": subject,
            "payload": {"tumour_type": tumour, "site": "NKI", "registered_on": "2025-01-02"}}),
        );
        self.submit(
            "investigator",
            &serde_json::json!({
            "event": "ConsentRecorded", "subject": subject,
            "payload": {"form_version": "ICF v1", "consented_on": "2025-01-02"}}),
        );
    }

    fn sequence(&self, id: &str, gene: &str, partner: &str) {
        self.submit(
            "lab",
            &serde_json::json!({
            "event": "SequencingResultReported", "subject": format!("patient:{id}"),
            "payload": {"sample_id": format!("S-{id}"), "purity_pct": 60, "msi": "Stable",
                "tmb_mut_per_mb_x100": 210,
                "alterations": [{"gene": gene, "kind": "Fusion", "protein_change": null,
                    "copy_number_x100": null, "fusion_partner": partner, "vaf_bp": null}],
                "report_sha256": "00".repeat(32), "report_uri": "urn:report",
                "reported_on": "2025-01-20"}}),
        );
    }

    /// Every record, decoded.
    fn records(&self) -> Vec<Record> {
        let mut out = Vec::new();
        for input in tl_ledger::log::read_embedded_for_verify(&self.root.join("d/ledger")).unwrap()
        {
            for bytes in &input.records {
                out.push(decode(bytes).unwrap());
            }
        }
        out
    }

    fn of_type(&self, t: u16) -> Vec<Record> {
        self.records()
            .into_iter()
            .filter(|r| r.body.submission.submission.envelope.event_type == t)
            .collect()
    }

    fn key_id(&self, role: &str) -> KeyId {
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(self.root.join(format!("{role}.key.pub.json"))).unwrap(),
        )
        .unwrap();
        let pk: [u8; 32] = hex::decode(v["public_key"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        KeyId::of_ed25519(&pk)
    }

    fn count(&self) -> usize {
        self.records().len()
    }
}

fn patient_of(r: &Record) -> String {
    r.body.submission.submission.subject.to_string()
}

#[test]
fn matcher_once_proposes_for_a_new_result_and_cohort_engine_assigns_the_slot() {
    let t = Trial::new();
    let result = t
        .of_type(clinical_type::SEQUENCING_RESULT_REPORTED)
        .remove(0);
    // when the matcher catches up once
    let out = t.ok(&["matcher", "--data", "d", "--key", "matcher.key", "--once"]);
    assert!(
        out.contains("recorded MatchProposed for patient:PT-1"),
        "{out}"
    );
    // then one proposal for PT-1, signed by the matcher key, citing the sequencing result,
    // with the ALK cohort as its only candidate and why the BRAF cohort did not match
    let proposals = t.of_type(clinical_type::MATCH_PROPOSED);
    assert_eq!(proposals.len(), 1);
    let s = &proposals[0].body.submission.submission;
    assert_eq!(s.subject, Subject::Patient(Name::new("PT-1").unwrap()));
    assert_eq!(s.author, t.key_id("matcher"));
    assert_eq!(s.cites.len(), 1);
    assert_eq!(
        (s.cites[0].partition, s.cites[0].seq),
        (result.body.partition, result.body.seq)
    );
    assert_eq!(s.cites[0].hash, result.hash());
    let p: MatchProposed = decode(&s.envelope.payload).unwrap();
    assert_eq!(p.protocol_version, 1);
    assert_eq!(p.candidates.len(), 1);
    assert_eq!(p.candidates[0].cohort_id.as_str(), "ALEC.ALKFUS.ANY");
    assert_eq!(p.candidates[0].evidence, "EML4-ALK fusion");
    assert_eq!(p.not_matched.len(), 1);
    assert_eq!(
        p.not_matched[0].reason,
        "tumour type NSCLC; the cohort is for COAD"
    );

    // when it runs again, it replays the ledger and records nothing new
    let before = t.count();
    let o = t.run(&["matcher", "--data", "d", "--key", "matcher.key", "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("0 recorded now"), "{}", text(&o));
    assert_eq!(t.count(), before);

    // when the MTB approves the ALK cohort and the cohort engine catches up
    let proposal = &proposals[0];
    t.submit(
        "mtb",
        &serde_json::json!({
        "event": "MatchDecided", "subject": "patient:PT-1", "meaning": "approved",
        "cites": [{"partition": proposal.body.partition, "seq": proposal.body.seq,
                   "hash": proposal.hash().to_string()}],
        "payload": {"decision": {"Approved": {"cohort_id": "ALEC.ALKFUS.ANY"}},
                    "rationale": "rank 1", "decided_on": "2025-01-25"}}),
    );
    let out = t.ok(&[
        "cohort-engine",
        "--data",
        "d",
        "--key",
        "cohort-engine.key",
        "--once",
    ]);
    assert!(
        out.contains("recorded SlotAssigned for cohort:ALEC.ALKFUS.ANY"),
        "{out}"
    );
    // then slot 1 of stage 1 in the cohort's partition, citing the approval
    let approval = t.of_type(clinical_type::MATCH_DECIDED).remove(0);
    let slots = t.of_type(clinical_type::SLOT_ASSIGNED);
    assert_eq!(slots.len(), 1);
    let s = &slots[0].body.submission.submission;
    assert_eq!(s.author, t.key_id("cohort-engine"));
    assert_eq!(s.cites[0].hash, approval.hash());
    let slot: SlotAssigned = decode(&s.envelope.payload).unwrap();
    assert_eq!(
        (slot.patient.as_str(), slot.stage, slot.slot),
        ("PT-1", 1, 1)
    );

    // when PT-1 is enrolled, scanned at baseline, dosed, and ends treatment before any
    // follow-up scan
    let cite = |r: &Record| serde_json::json!([{"partition": r.body.partition, "seq": r.body.seq, "hash": r.hash().to_string()}]);
    let p1 = |event: &str, payload: serde_json::Value| serde_json::json!({"event": event, "subject": "patient:PT-1", "payload": payload});
    let mut enrol = p1(
        "PatientEnrolled",
        serde_json::json!({"cohort_id": "ALEC.ALKFUS.ANY", "enrolled_on": "2025-01-28"}),
    );
    enrol["cites"] = cite(&slots[0]);
    t.submit("investigator", &enrol);
    t.submit("investigator", &p1("ResponseAssessed", serde_json::json!({
        "assessed_on": "2025-01-29", "baseline": true,
        "targets": [{"lesion_id": 1, "nodal": false, "diameter_mm10": 420}],
        "new_lesions": false, "non_target": "NoneAtBaseline", "investigator_response": "NotEvaluable"})));
    t.submit(
        "investigator",
        &p1(
            "DoseAdministered",
            serde_json::json!({
        "drug": "alectinib", "dose_milli": 600000, "unit": "Mg", "route": "Oral",
        "cycle": 1, "day": 1, "administered_on": "2025-02-01"}),
        ),
    );
    t.submit(
        "investigator",
        &p1(
            "TreatmentEnded",
            serde_json::json!({
        "ended_on": "2025-02-20", "reason": "Toxicity", "detail": "hepatotoxicity"}),
        ),
    );
    let out = t.ok(&[
        "cohort-engine",
        "--data",
        "d",
        "--key",
        "cohort-engine.key",
        "--once",
    ]);
    // then the cohort engine counts a non-evaluable patient (replaced: the restated count
    // frees the slot), citing the end of treatment it counted
    assert!(
        out.contains("recorded CohortStageDecided for cohort:ALEC.ALKFUS.ANY"),
        "{out}"
    );
    let ended = t.of_type(clinical_type::TREATMENT_ENDED).remove(0);
    let stages = t.of_type(clinical_type::COHORT_STAGE_DECIDED);
    assert_eq!(stages.len(), 1);
    let s = &stages[0].body.submission.submission;
    let d: CohortStageDecided = decode(&s.envelope.payload).unwrap();
    assert_eq!(
        (d.status, d.enrolled, d.evaluable, d.not_evaluable),
        (CohortStatus::Stage1, 1, 0, 1)
    );
    assert_eq!(s.cites.len(), 1);
    assert_eq!(s.cites[0].hash, ended.hash());
    // and the ledger verifies
    t.ok(&["verify", "--data", "d"]);
}

#[test]
fn a_following_matcher_picks_up_new_results_and_stops_on_sigterm() {
    let t = Trial::new();
    let child = bin()
        .current_dir(&t.root)
        .args([
            "matcher",
            "--data",
            "d",
            "--key",
            "matcher.key",
            "--poll-ms",
            "50",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let wait_for = |n: usize| {
        let start = Instant::now();
        while t.of_type(clinical_type::MATCH_PROPOSED).len() < n {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no proposal within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // it catches up with PT-1
    wait_for(1);
    // and, while it follows, `submit` records a second patient's result (the service holds
    // the writer lock only while it submits)
    t.patient("PT-2", "COAD");
    t.sequence("PT-2", "ALK", "EML4");
    wait_for(2);
    let proposals = t.of_type(clinical_type::MATCH_PROPOSED);
    assert_eq!(patient_of(&proposals[1]), "patient:PT-2");
    // SIGTERM stops it cleanly (exit 0, with its summary)
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("matcher:"), "{}", text(&out));
    assert_eq!(t.of_type(clinical_type::MATCH_PROPOSED).len(), 2);
    t.ok(&["verify", "--data", "d"]);
}

#[test]
fn bad_arguments_and_wrong_keys_are_clear_errors() {
    let t = Trial::new();
    let before = t.count();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["matcher", "--data", "d", "--key", "missing.key", "--once"],
            "missing.key",
        ),
        (
            vec!["matcher", "--data", "d", "--key", "lab.key", "--once"],
            "has role `lab`; the matcher signs with a `matcher` key",
        ),
        (
            vec![
                "cohort-engine",
                "--data",
                "d",
                "--key",
                "matcher.key",
                "--once",
            ],
            "the cohort-engine signs with a `cohort-engine` key",
        ),
        (
            vec!["matcher", "--data", "d", "--key", "stray.key", "--once"],
            "is not enrolled in trial svc-test",
        ),
        (
            vec![
                "matcher",
                "--data",
                "nowhere",
                "--key",
                "matcher.key",
                "--once",
            ],
            "is not a trial data folder",
        ),
        (vec!["matcher", "--data", "d", "--once"], "--key"),
        (
            vec![
                "matcher",
                "--data",
                "d",
                "--key",
                "matcher.key",
                "--poll-ms",
                "0",
            ],
            "--poll-ms",
        ),
        (
            vec![
                "cohort-engine",
                "--data",
                "d",
                "--key",
                "cohort-engine.key",
                "--expansion-min-benefit-pct",
                "101",
            ],
            "expansion-min-benefit-pct",
        ),
    ];
    for (args, expect) in cases {
        let o = t.run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(expect), "{args:?}: {}", text(&o));
    }
    // a wrong passphrase is an error too
    let o = bin()
        .current_dir(&t.root)
        .env("TRIAL_LEDGER_PASSPHRASE", "wrong")
        .args(["matcher", "--data", "d", "--key", "matcher.key", "--once"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(t.count(), before, "nothing was recorded");
}

#[test]
fn on_a_demo_ledger_the_services_find_every_decision_already_recorded() {
    // given a small demo, whose proposals, slots and stage decisions the services made in
    // the simulator (the demo writes their keys when a passphrase is set)
    let tmp = tempfile::tempdir().unwrap();
    let o = bin()
        .current_dir(tmp.path())
        .args(["demo", "--data", "d", "--patients", "30", "--seed", "5"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // when the CLI services replay it
    for (cmd, key) in [
        ("matcher", "d/keys/matcher.key"),
        ("cohort-engine", "d/keys/cohort-engine.key"),
    ] {
        let o = bin()
            .current_dir(tmp.path())
            .args([cmd, "--data", "d", "--key", key, "--once"])
            .output()
            .unwrap();
        // then they make the same decisions, all already in the ledger: nothing is recorded
        assert!(o.status.success(), "{cmd}: {}", text(&o));
        let out = text(&o);
        assert!(
            out.contains("0 recorded now, 0 already recorded, 0 refused"),
            "{cmd}: {out}"
        );
        let decided: u64 = out
            .split(" records read, ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(
            decided >= 30,
            "{cmd} replayed only {decided} decisions: {out}"
        );
    }
}
