//! Safe I/O at intake (issue 12, points 2, 4, 5 and 6), end to end with the real binary:
//! output that never overwrites, bounded input, retries that return the original receipt,
//! and submissions a clinical system would refuse. Every refusal leaves the ledger and the
//! key store as they were.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else if p.file_name().is_some_and(|n| n != "LOCK") {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out.sort();
    out
}

impl Fixture {
    /// A trial in `d/` with an admin and an investigator key enrolled.
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
            "intake",
            "--partitions",
            "2",
        ]);
        for (name, role) in [("admin", "admin"), ("inv", "investigator")] {
            let out = format!("{name}.key");
            f.ok(&["keys", "new", "--name", name, "--role", role, "--out", &out]);
            f.ok(&["keys", "enrol", "--data", "d", &format!("{out}.pub.json")]);
        }
        f
    }
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_trial-ledger"))
            .current_dir(&self.root)
            .env("TRIAL_LEDGER_PASSPHRASE", "author horse")
            .env("TRIAL_LEDGER_ROOT_PASSPHRASE", "root horse")
            .env("TRIAL_LEDGER_SEQUENCER_PASSPHRASE", "sequencer horse")
            .env("TRIAL_LEDGER_SCRYPT_LOG_N", "10")
            .env_remove("TRIAL_LEDGER_DATA")
            .args(args)
            .output()
            .unwrap()
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    fn fails(&self, args: &[&str], code: i32, expect: &str) -> String {
        let o = self.run(args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(expect), "{args:?}: {}", text(&o));
        text(&o)
    }
    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.root.join(name), text).unwrap();
    }
    fn path(&self, p: &str) -> PathBuf {
        self.root.join(p)
    }
    /// The ledger and the key store, every file with its bytes.
    fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut s = files(&self.path("d/ledger"));
        s.extend(files(&self.path("d/keystore")));
        s
    }
    /// Submits `event` as the investigator, expecting a refusal with `reason` that changes
    /// nothing.
    fn refused(&self, event: &str, reason: &str) {
        self.write("e.json", event);
        let before = self.snapshot();
        self.fails(
            &["submit", "--data", "d", "--key", "inv.key", "e.json"],
            1,
            reason,
        );
        assert_eq!(self.snapshot(), before, "{reason}: nothing may change");
    }
}

const REGISTER: &str = r#"{"event":"PatientRegistered","subject":"patient:P-1","submission_id":"0123456789abcdef0123456789abcdef","payload":{"tumour_type":"COAD","site":"NKI","registered_on":"2025-01-15"},"personal_data":{"initials":"J.D.","birth_year":1961,"hospital_number":"H-1"}}"#;

#[test]
fn a_retry_with_the_same_id_returns_the_original_receipt() {
    let f = Fixture::new();
    f.write("register.json", REGISTER);
    let submit = [
        "submit",
        "--data",
        "d",
        "--key",
        "inv.key",
        "register.json",
        "--json",
    ];
    let first: serde_json::Value = serde_json::from_str(&f.ok(&submit)).unwrap();
    assert_eq!(first["status"], "recorded");
    let before = f.snapshot();
    // The retry is signed at another time and seals the personal data under a new nonce: the
    // same event all the same.
    let again: serde_json::Value = serde_json::from_str(&f.ok(&submit)).unwrap();
    assert_eq!(again["status"], "already-recorded");
    for field in ["record_hash", "partition", "seq", "seal", "ordering_time"] {
        assert_eq!(again[field], first[field], "{field}");
    }
    assert_eq!(f.snapshot(), before, "a retry records nothing");
    // The same id with another event is a conflict, and nothing is submitted.
    f.write("register.json", &REGISTER.replace("NKI", "UMCU"));
    let o = f.run(&submit);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("submission-id-conflict"), "{}", text(&o));
    assert_eq!(f.snapshot(), before);
}

#[test]
fn output_never_overwrites_the_ledger_its_keys_or_an_existing_file() {
    let f = Fixture::new();
    let seg = "d/ledger/p00000/00000000000000000000.seg";
    let before = std::fs::read(f.path(seg)).unwrap();
    let trust = std::fs::read(f.path("d/trust.json")).unwrap();
    for out in [seg, "d/trust.json", "d/keys/x.bundle", "d/keystore/x"] {
        for force in [false, true] {
            let mut args = vec!["export", "--data", "d", "--all", "--out", out];
            if force {
                args.push("--force");
            }
            f.fails(&args, 2, "inside the trial data folder");
        }
    }
    assert_eq!(std::fs::read(f.path(seg)).unwrap(), before);
    assert_eq!(std::fs::read(f.path("d/trust.json")).unwrap(), trust);
    // An existing file needs --force; a folder is refused; nothing is left behind.
    f.write("taken.bundle", "mine");
    f.fails(
        &["export", "--data", "d", "--all", "--out", "taken.bundle"],
        2,
        "--force",
    );
    assert_eq!(std::fs::read(f.path("taken.bundle")).unwrap(), b"mine");
    std::fs::create_dir(f.path("folder")).unwrap();
    f.fails(
        &["export", "--data", "d", "--all", "--out", "folder"],
        2,
        "is a folder",
    );
    f.ok(&[
        "export",
        "--data",
        "d",
        "--all",
        "--out",
        "taken.bundle",
        "--force",
    ]);
    assert_ne!(std::fs::read(f.path("taken.bundle")).unwrap(), b"mine");
    let leftovers: Vec<_> = std::fs::read_dir(&f.root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Held checkpoints and new keys stay out of the data folder too.
    f.fails(
        &["checkpoint", "--data", "d", "--save", "d/ledger/held.txt"],
        2,
        "inside the trial data folder",
    );
    f.fails(
        &[
            "keys",
            "new",
            "--name",
            "n",
            "--role",
            "lab",
            "--out",
            "d/keys/n.key",
        ],
        2,
        "inside the trial data folder",
    );
    assert!(!f.path("d/ledger/held.txt").exists() && !f.path("d/keys/n.key").exists());
}

#[test]
fn oversized_input_is_refused_at_intake_and_changes_nothing() {
    let f = Fixture::new();
    // A text field over its cap.
    let long_site = REGISTER.replace("NKI", &"N".repeat(251));
    f.refused(&long_site, "field-too-long");
    // A record over 65,535 bytes, every field within its cap: a protocol document.
    let big = format!(
        r#"{{"event":"ProtocolAmended","subject":"trial","payload":{{"protocol_version":1,"document":"{}"}}}}"#,
        "x".repeat(70_000)
    );
    f.write("big.json", &big);
    let before = f.snapshot();
    f.fails(
        &["submit", "--data", "d", "--key", "admin.key", "big.json"],
        1,
        "record-too-large",
    );
    assert_eq!(f.snapshot(), before);
    // Files over their cap are refused before they are parsed.
    f.write("huge.json", &" ".repeat(2 << 20));
    f.fails(
        &["submit", "--data", "d", "--key", "admin.key", "huge.json"],
        2,
        "the cap for an event file",
    );
    f.write("trust.json", &" ".repeat(100 << 10));
    f.fails(
        &["verify", "--data", "d", "--trust", "trust.json"],
        2,
        "the cap for a trust file",
    );
    f.write("proof.json", &" ".repeat(5 << 20));
    f.fails(
        &["check-proof", "proof.json"],
        2,
        "the cap for a proof file",
    );
}

#[test]
fn input_a_clinical_system_would_refuse_is_refused_at_intake() {
    let f = Fixture::new();
    // Dates before 1900, or after the record's own time plus a day. The refused registration
    // carries personal data: no key is left in the key store for it.
    f.refused(
        &REGISTER.replace("2025-01-15", "1899-12-31"),
        "implausible-date",
    );
    f.refused(
        &REGISTER.replace("2025-01-15", "2999-01-01"),
        "implausible-date",
    );
    assert!(
        files(&f.path("d/keystore")).is_empty(),
        "a refused submission leaves no personal-data key"
    );
    // Erasing a patient the ledger does not know fails, and marks nothing.
    f.fails(
        &["erase", "--data", "d", "--subject", "patient:NOPE"],
        2,
        "no records of patient NOPE",
    );
    assert!(files(&f.path("d/keystore")).is_empty());
    // The registration itself, dated today, is recorded.
    f.write("register.json", REGISTER);
    f.ok(&["submit", "--data", "d", "--key", "inv.key", "register.json"]);
    f.ok(&["verify", "--data", "d"]);
}
