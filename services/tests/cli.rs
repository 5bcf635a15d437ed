//! The CLI end to end: init, keys, submit, verify, and every kind of bad input, which must
//! give a clear error, a non-zero exit, and leave the ledger untouched.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch folder with a trial in `d/`, an admin key and a lab key, both enrolled.
struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trial-ledger"));
    c.env("TRIAL_LEDGER_PASSPHRASE", "correct horse")
        .env("TRIAL_LEDGER_SCRYPT_LOG_N", "10")
        .env("TRIAL_LEDGER_ROOT_PASSPHRASE", "root horse")
        .env("TRIAL_LEDGER_SEQUENCER_PASSPHRASE", "sequencer horse")
        .env_remove("TRIAL_LEDGER_DATA");
    c
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let f = Fixture {
            root: tmp.path().to_path_buf(),
            _tmp: tmp,
        };
        f.ok(&[
            "init",
            "--data",
            "d",
            "--trial",
            "cli-test",
            "--partitions",
            "4",
        ]);
        f.ok(&[
            "keys",
            "new",
            "--name",
            "Admin A",
            "--role",
            "admin",
            "--out",
            "admin.key",
        ]);
        f.ok(&[
            "keys", "new", "--name", "Lab L", "--role", "lab", "--out", "lab.key",
        ]);
        f.ok(&["keys", "enrol", "--data", "d", "admin.key.pub.json"]);
        f.ok(&["keys", "enrol", "--data", "d", "lab.key.pub.json"]);
        f.write("amend.json", r#"{"event":"ProtocolAmended","subject":"trial","payload":{"protocol_version":1,"document":"catalogue v1"}}"#);
        f
    }
    fn run(&self, args: &[&str]) -> Output {
        bin().current_dir(&self.root).args(args).output().unwrap()
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "{args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.root.join(name), text).unwrap();
    }
    fn path(&self, p: &str) -> PathBuf {
        self.root.join(p)
    }
    /// Every file of the embedded ledger with its bytes, to prove nothing changed.
    fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        walk(&self.path("d/ledger"), &mut out);
        out.sort();
        out
    }
    fn segment(&self, p: u32) -> PathBuf {
        self.path(&format!("d/ledger/p{p:05}/00000000000000000000.seg"))
    }
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.file_name().is_some_and(|n| n != "LOCK") {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn submit_prints_a_receipt_and_verify_passes() {
    let f = Fixture::new();
    let out = f.ok(&[
        "submit",
        "--data",
        "d",
        "--key",
        "admin.key",
        "amend.json",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], "recorded");
    assert_eq!(v["partition"], 0);
    assert_eq!(v["seq"], 4);
    assert_eq!(v["record_hash"].as_str().unwrap().len(), 64);
    let o = f.run(&["verify", "--data", "d"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("OK: trial cli-test verified: 5 records"),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains("a real audit pins its own copy"),
        "the stored trust file must be warned about"
    );
    let v: serde_json::Value = serde_json::from_str(&f.ok(&[
        "verify",
        "--data",
        "d",
        "--json",
        "--trust",
        "d/trust.json",
    ]))
    .unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["records_total"], 5);
    let list = f.ok(&["keys", "list", "--data", "d"]);
    assert!(
        list.contains("Admin A") && list.contains("Lab L") && list.contains("sequencer"),
        "{list}"
    );
    // A header, and each key's enrolment named as the record its receipt named (admin: 0/2).
    let lines: Vec<&str> = list.lines().collect();
    assert!(
        lines[1].starts_with("key id") && lines[1].contains("enrolled"),
        "{list}"
    );
    let admin = lines.iter().find(|l| l.contains("Admin A")).unwrap();
    assert!(
        admin.contains(" 0/2 ") && admin.contains("active"),
        "{list}"
    );
}

#[test]
fn an_idempotent_retry_returns_the_original_receipt() {
    let f = Fixture::new();
    f.write("a.json", r#"{"event":"ProtocolAmended","subject":"trial","payload":{"protocol_version":1,"document":"x"},"submission_id":"00112233445566778899aabbccddeeff"}"#);
    let a: serde_json::Value = serde_json::from_str(&f.ok(&[
        "submit",
        "--data",
        "d",
        "--key",
        "admin.key",
        "a.json",
        "--json",
    ]))
    .unwrap();
    let before = f.snapshot();
    // The client re-signs with a new client time, so the bytes differ: a conflict, not a copy.
    let o = f.run(&[
        "submit",
        "--data",
        "d",
        "--key",
        "admin.key",
        "a.json",
        "--json",
    ]);
    let b: serde_json::Value = serde_json::from_str(&String::from_utf8_lossy(&o.stdout)).unwrap();
    assert!(
        b["status"] == "already-recorded" || b["reason"] == "submission-id-conflict",
        "{b}"
    );
    assert_eq!(f.snapshot(), before);
    assert_eq!(a["status"], "recorded");
}

#[test]
fn bad_input_gets_a_clear_error_and_leaves_the_ledger_untouched() {
    let f = Fixture::new();
    f.write(
        "malformed.json",
        r#"{"event": "ProtocolAmended", "subject": "trial", "payload": {"#,
    );
    f.write("unknown.json", r#"{"event":"ProtocolAmended","subject":"trial","payload":{"protocol_version":1,"document":"x"},"urgent":true}"#);
    f.write(
        "badtype.json",
        r#"{"event":"Teleported","subject":"trial","payload":{}}"#,
    );
    f.write("badsubject.json", r#"{"event":"ProtocolAmended","subject":"patient:Jane Doe","payload":{"protocol_version":1,"document":"x"}}"#);
    f.write("garbage.key", "this is not a key file");
    let before = f.snapshot();
    // (arguments, extra environment, expected text, expected exit code)
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str, i32);
    let cases: Vec<Case> = vec![
        (
            vec![
                "submit",
                "--data",
                "d",
                "--key",
                "admin.key",
                "malformed.json",
            ],
            vec![],
            "event JSON",
            2,
        ),
        (
            vec![
                "submit",
                "--data",
                "d",
                "--key",
                "admin.key",
                "unknown.json",
            ],
            vec![],
            "unknown field `urgent`",
            2,
        ),
        (
            vec![
                "submit",
                "--data",
                "d",
                "--key",
                "admin.key",
                "badtype.json",
            ],
            vec![],
            "unknown event type \"Teleported\"",
            2,
        ),
        (
            vec![
                "submit",
                "--data",
                "d",
                "--key",
                "admin.key",
                "badsubject.json",
            ],
            vec![],
            "invalid subject name",
            2,
        ),
        (
            vec![
                "submit",
                "--data",
                "d",
                "--key",
                "admin.key",
                "missing.json",
            ],
            vec![],
            "reading event file",
            2,
        ),
        (
            vec![
                "submit",
                "--data",
                "d",
                "--key",
                "garbage.key",
                "amend.json",
            ],
            vec![],
            "garbage.key",
            2,
        ),
        (
            vec!["submit", "--data", "d", "--key", "nokey.key", "amend.json"],
            vec![],
            "not found",
            2,
        ),
        (
            vec!["submit", "--data", "d", "--key", "admin.key", "amend.json"],
            vec![("TRIAL_LEDGER_PASSPHRASE", "wrong")],
            "wrong passphrase",
            2,
        ),
        (
            vec!["submit", "--data", "d", "--key", "lab.key", "amend.json"],
            vec![],
            "role-not-permitted",
            1,
        ),
        (
            vec![
                "submit",
                "--data",
                "nowhere",
                "--key",
                "admin.key",
                "amend.json",
            ],
            vec![],
            "not a trial data folder",
            2,
        ),
        (
            vec![
                "submit",
                "--data",
                "d",
                "--key",
                "admin.key",
                "amend.json",
                "--colour",
            ],
            vec![],
            "unexpected argument",
            2,
        ),
        (
            vec!["init", "--data", "d", "--trial", "cli-test"],
            vec![],
            "already holds a trial",
            2,
        ),
        (
            vec!["init", "--data", "e", "--trial", "Bad Trial"],
            vec![],
            "invalid trial id",
            2,
        ),
    ];
    for (args, env, expect, code) in cases {
        let mut c = bin();
        c.current_dir(&f.root).args(&args);
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        let all = text(&o);
        assert_eq!(
            o.status.code(),
            Some(code),
            "{args:?}: exit {:?}\n{all}",
            o.status.code()
        );
        assert!(
            all.contains(expect),
            "{args:?}: expected {expect:?} in:\n{all}"
        );
        assert!(!all.contains("panicked"), "{args:?} panicked:\n{all}");
        assert_eq!(f.snapshot(), before, "{args:?} changed the ledger");
    }
}

#[test]
fn verify_names_the_first_failing_record() {
    let f = Fixture::new();
    f.ok(&["submit", "--data", "d", "--key", "admin.key", "amend.json"]);
    // Tamper with partition-0 record 3 and re-frame it with a valid checksum.
    {
        let (mut log, _) =
            tl_ledger::embedded::EmbeddedLog::open_writer(&f.path("d/ledger"), Default::default())
                .unwrap();
        let mut recs = log.read(0, 0, usize::MAX).unwrap();
        let n = recs[3].len();
        recs[3][n - 10] ^= 0x40;
        log.rewrite_partition(0, &recs).unwrap();
    }
    let o = f.run(&["verify", "--data", "d", "--trust", "d/trust.json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("FAILED: partition 0 seq 3: bad-seal"),
        "{}",
        text(&o)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&f.run(&["verify", "--data", "d", "--json"]).stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["failures"][0]["partition"], 0);
    assert_eq!(v["failures"][0]["seq"], 3);
    assert_eq!(v["failures"][0]["reason"], "bad-seal");
}

#[test]
fn verify_against_another_root_fails() {
    let f = Fixture::new();
    f.ok(&[
        "init",
        "--data",
        "other",
        "--trial",
        "cli-test",
        "--partitions",
        "4",
    ]);
    let o = f.run(&["verify", "--data", "d", "--trust", "other/trust.json"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("partition 0 seq 0: root-mismatch"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_torn_tail_is_reported_by_verify_and_cut_by_the_next_writer() {
    let f = Fixture::new();
    let seg = f.segment(0);
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes.extend_from_slice(&[0x30, 0x01, 0, 0, 0xde]); // 5 bytes of a frame header
    std::fs::write(&seg, &bytes).unwrap();
    let o = f.run(&["verify", "--data", "d"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("partition 0 seq 4: torn-tail"),
        "{}",
        text(&o)
    );
    // verify never repairs:
    assert_eq!(std::fs::read(&seg).unwrap(), bytes);
    // the next writer cuts it, and says so.
    let o = f.run(&["submit", "--data", "d", "--key", "admin.key", "amend.json"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("cut an incomplete final frame"),
        "{}",
        text(&o)
    );
    let o = f.run(&["verify", "--data", "d"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_corrupted_complete_frame_is_an_error_not_a_tail() {
    let f = Fixture::new();
    let seg = f.segment(0);
    let mut bytes = std::fs::read(&seg).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&seg, &bytes).unwrap();
    let o = f.run(&["verify", "--data", "d"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("frame-corrupt"), "{}", text(&o));
    // A writer refuses to open it rather than cutting good records away.
    let o = f.run(&["submit", "--data", "d", "--key", "admin.key", "amend.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        std::fs::read(&seg).unwrap(),
        bytes,
        "the writer must not touch a corrupt ledger"
    );
}

#[test]
fn a_second_writer_is_refused() {
    let f = Fixture::new();
    let held =
        tl_ledger::embedded::EmbeddedLog::open_writer(&f.path("d/ledger"), Default::default())
            .unwrap();
    let before = f.snapshot();
    let o = f.run(&["submit", "--data", "d", "--key", "admin.key", "amend.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("another writer"), "{}", text(&o));
    assert_eq!(f.snapshot(), before);
    drop(held);
    f.ok(&["submit", "--data", "d", "--key", "admin.key", "amend.json"]);
}

#[test]
fn clinical_events_go_through_the_trial_rules() {
    let f = Fixture::new();
    f.ok(&[
        "keys",
        "new",
        "--name",
        "Dr. I. Investigator",
        "--role",
        "investigator",
        "--out",
        "inv.key",
    ]);
    f.ok(&["keys", "enrol", "--data", "d", "inv.key.pub.json"]);
    f.write(
        "register.json",
        r#"{"event":"PatientRegistered","subject":"patient:P-0001","payload":{"tumour_type":"COAD","site":"NKI-AVL","registered_on":"2025-01-15"}}"#,
    );
    f.write(
        "withdraw.json",
        r#"{"event":"ConsentWithdrawn","subject":"patient:P-0001","payload":{"withdrawn_on":"2025-01-20","follow_up_allowed":true,"reason":""}}"#,
    );
    let v: serde_json::Value = serde_json::from_str(&f.ok(&[
        "submit",
        "--data",
        "d",
        "--key",
        "inv.key",
        "register.json",
        "--json",
    ]))
    .unwrap();
    assert_eq!(v["status"], "recorded");
    let before = f.snapshot();
    let o = f.run(&["submit", "--data", "d", "--key", "inv.key", "withdraw.json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("domain-rule") && text(&o).contains("no consent to withdraw"),
        "{}",
        text(&o)
    );
    assert_eq!(f.snapshot(), before);
    // A lab may not register patients.
    let o = f.run(&["submit", "--data", "d", "--key", "lab.key", "register.json"]);
    assert!(text(&o).contains("role-not-permitted"), "{}", text(&o));
    let o = f.run(&["verify", "--data", "d"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn erase_makes_personal_data_unreadable_and_the_ledger_still_verifies() {
    use tl_domain::personal::{disclose, Disclosure, KeyStore};
    let f = Fixture::new();
    f.ok(&[
        "keys",
        "new",
        "--name",
        "Dr. I. Investigator",
        "--role",
        "investigator",
        "--out",
        "inv.key",
    ]);
    f.ok(&["keys", "enrol", "--data", "d", "inv.key.pub.json"]);
    f.write(
        "register.json",
        r#"{"event":"PatientRegistered","subject":"patient:P-0042","payload":{"tumour_type":"SKCM","site":"UMCU","registered_on":"2025-01-15"},
            "personal_data":{"initials":"J.D.","birth_year":1961,"hospital_number":"H-77"}}"#,
    );
    let receipt: serde_json::Value = serde_json::from_str(&f.ok(&[
        "submit",
        "--data",
        "d",
        "--key",
        "inv.key",
        "register.json",
        "--json",
    ]))
    .unwrap();
    // The record holds ciphertext, not the data.
    let (p, seq) = (
        receipt["partition"].as_u64().unwrap() as u32,
        receipt["seq"].as_u64().unwrap(),
    );
    let (log, _) =
        tl_ledger::embedded::EmbeddedLog::open_writer(&f.path("d/ledger"), Default::default())
            .unwrap();
    let bytes = log.read(p, seq, 1).unwrap().remove(0);
    drop(log);
    assert!(
        !String::from_utf8_lossy(&bytes).contains("H-77"),
        "personal data stored in clear"
    );
    let record: tl_schemas::Record = tl_schemas::decode(&bytes).unwrap();
    let sealed = record
        .body
        .submission
        .submission
        .envelope
        .personal_data
        .clone()
        .expect("personal data in the envelope");
    let trial = tl_schemas::TrialId::new("cli-test").unwrap();
    let patient = tl_schemas::ids::Name::new("P-0042").unwrap();
    let store = KeyStore::open(&f.path("d/keystore")).unwrap();
    match disclose(&store, &trial, &patient, Some(&sealed)).unwrap() {
        Disclosure::Readable(d) => assert_eq!(d.hospital_number.as_deref(), Some("H-77")),
        other => panic!("readable before erase, got {other:?}"),
    }
    let before = f.snapshot();
    let out = f.ok(&["erase", "--data", "d", "--subject", "patient:P-0042"]);
    assert!(out.contains("erased"), "{out}");
    assert_eq!(f.snapshot(), before, "erase must not touch the ledger");
    assert!(matches!(
        disclose(&store, &trial, &patient, Some(&sealed)).unwrap(),
        Disclosure::Erased
    ));
    let o = f.run(&["verify", "--data", "d"]);
    assert!(o.status.success(), "{}", text(&o));
    // An erased patient's data can never be sealed again under a new key.
    let o = f.run(&["submit", "--data", "d", "--key", "inv.key", "register.json"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).to_lowercase().contains("erased"), "{}", text(&o));
    // Only patients can be erased; bad subjects are clear errors.
    let o = f.run(&["erase", "--data", "d", "--subject", "cohort:C-1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("erase works on patients"), "{}", text(&o));
}

/// Byte offsets of the frames of a segment (16-byte header, then `len u32 LE, crc, payload`).
fn frame_offsets(segment: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = 16;
    while at < segment.len() {
        out.push(at);
        at += 8 + u32::from_le_bytes(segment[at..at + 4].try_into().unwrap()) as usize;
    }
    out
}

/// Issue 11's reproduction: a bit flip makes the 4th frame's length point past the end of the
/// file. `verify` calls it damage, not a torn tail; `submit` refuses and changes no byte
/// (it used to cut five sealed records); `repair` refuses too, since a stored checkpoint
/// covers them.
#[test]
fn a_damaged_length_is_refused_by_the_writer_and_by_repair() {
    let f = Fixture::new();
    for v in 1..=4 {
        let name = format!("amend{v}.json");
        f.write(&name, &format!(r#"{{"event":"ProtocolAmended","subject":"trial","payload":{{"protocol_version":{v},"document":"catalogue v{v}"}}}}"#));
        f.ok(&["submit", "--data", "d", "--key", "admin.key", &name]);
    }
    let seg = f.segment(0);
    let mut bytes = std::fs::read(&seg).unwrap();
    let frames = frame_offsets(&bytes);
    assert_eq!(frames.len(), 8);
    bytes[frames[3] + 1] ^= 0x20; // +8,192 bytes: past the end of the file
    std::fs::write(&seg, &bytes).unwrap();
    let before = f.snapshot();

    let o = f.run(&["verify", "--data", "d"]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o);
    assert!(out.contains("partition 0 seq 3: frame-corrupt"), "{out}");
    assert!(!out.contains("torn-tail"), "{out}");
    assert!(out.contains("length field was damaged"), "{out}");

    let o = f.run(&["submit", "--data", "d", "--key", "admin.key", "amend4.json"]);
    assert!(!o.status.success());
    let out = text(&o);
    assert!(
        out.contains("partition 0 is corrupt at seq 3")
            && out.contains(&format!("at byte offset {}", frames[3])),
        "{out}"
    );
    assert_eq!(f.snapshot(), before, "the writer changed a file");

    let o = f.run(&["repair", "--data", "d", "--cut-torn-tail"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("published a checkpoint of 8 records"),
        "{}",
        text(&o)
    );
    assert_eq!(f.snapshot(), before, "repair changed a file");
}

/// `repair --cut-torn-tail` says what it removes, keeps the bytes beside the segment, and
/// cuts; on a ledger without a tail it has nothing to do.
#[test]
fn repair_says_what_it_cuts_and_keeps_a_copy() {
    let f = Fixture::new();
    let out = f.ok(&["repair", "--data", "d", "--cut-torn-tail"]);
    assert!(out.contains("nothing to cut"), "{out}");
    let seg = f.segment(0);
    let good = std::fs::read(&seg).unwrap();
    let tail = [0x30, 0x01, 0, 0, 0xde];
    std::fs::write(&seg, [&good[..], &tail].concat()).unwrap();
    let before = f.snapshot();
    let out = f.ok(&["repair", "--data", "d", "--cut-torn-tail", "--dry-run"]);
    assert!(
        out.contains(&format!(
            "would cut: partition 0, d/ledger/p00000/00000000000000000000.seg from byte offset {}: 5 bytes where record 4 would start",
            good.len()
        )),
        "{out}"
    );
    assert_eq!(f.snapshot(), before);
    let out = f.ok(&["repair", "--data", "d", "--cut-torn-tail"]);
    assert!(out.contains("cutting: partition 0"), "{out}");
    let copy = format!(
        "d/ledger/p00000/00000000000000000000.seg.cut-at-{}",
        good.len()
    );
    assert!(out.contains(&copy), "{out}");
    let copy = f.path(&copy);
    assert_eq!(std::fs::read(&copy).unwrap(), tail);
    assert_eq!(std::fs::read(&seg).unwrap(), good);
    f.ok(&["verify", "--data", "d"]);
}

/// Several checkpoints are printed as a note list: each note followed by an empty line.
#[test]
fn several_checkpoints_are_printed_as_a_note_list() {
    let f = Fixture::new();
    // Partition 0 has records; so does the partition of a lab's note about a patient.
    f.ok(&[
        "keys",
        "new",
        "--name",
        "Dr. I",
        "--role",
        "investigator",
        "--out",
        "inv.key",
    ]);
    f.ok(&["keys", "enrol", "--data", "d", "inv.key.pub.json"]);
    f.write(
        "register.json",
        r#"{"event":"PatientRegistered","subject":"patient:P-0001","payload":{"tumour_type":"COAD","site":"NKI-AVL","registered_on":"2025-01-15"}}"#,
    );
    f.ok(&["submit", "--data", "d", "--key", "inv.key", "register.json"]);
    let out = f.ok(&["checkpoint", "--data", "d"]);
    let list =
        tl_ledger::publish::parse_note_list(&out, tl_ledger::publish::ListEnd::Strict).unwrap();
    assert!(list.notes.len() >= 2, "{out}");
    let framed: String = list
        .notes
        .iter()
        .map(|n| tl_ledger::publish::note_entry(n.text()))
        .collect();
    assert_eq!(out, framed);
}

/// The last frame of partition 0 is cut short, but the stored checkpoint covers its record:
/// it is no torn append. `verify` no longer promises that the next writer cuts it, `submit`
/// refuses before cutting anything, naming the partition and byte offset.
#[test]
fn a_short_final_frame_that_a_checkpoint_covers_is_not_cut() {
    let f = Fixture::new();
    let seg = f.segment(0);
    let bytes = std::fs::read(&seg).unwrap();
    let last = *frame_offsets(&bytes).last().unwrap();
    std::fs::write(&seg, &bytes[..bytes.len() - 10]).unwrap();
    let before = f.snapshot();
    let o = f.run(&["verify", "--data", "d"]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o);
    assert!(out.contains("partition 0 seq 3: torn-tail"), "{out}");
    assert!(out.contains("the writer refuses to open"), "{out}");
    assert!(!out.contains("next writer cuts it"), "{out}");
    let o = f.run(&["submit", "--data", "d", "--key", "admin.key", "amend.json"]);
    assert!(!o.status.success());
    let out = text(&o);
    assert!(
        out.contains("partition 0:")
            && out.contains(&format!("byte offset {last}"))
            && out.contains("published a checkpoint of 4 records"),
        "{out}"
    );
    assert_eq!(f.snapshot(), before, "the writer changed a file");
}
