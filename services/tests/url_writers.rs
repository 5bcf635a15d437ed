//! The CLI's writers against the real `trial-ledger serve` (on port 0) with `--url`: they sign
//! locally with their own key and post, never needing the sequencer key. Receipts match the
//! ledger, refusals carry the server's reason (exit 1), an unreachable server exits 2, and a
//! writer given `--data` while the server holds the folder exits 2 naming its address.

#[path = "support/scripted.rs"]
mod scripted;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const PASS: &str = "correct horse";

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trial-ledger"));
    c.env("TRIAL_LEDGER_PASSPHRASE", PASS)
        .env("TRIAL_LEDGER_SCRYPT_LOG_N", "10")
        .env("TRIAL_LEDGER_ROOT_PASSPHRASE", "root horse")
        .env("TRIAL_LEDGER_SEQUENCER_PASSPHRASE", "sequencer horse")
        .env_remove("TRIAL_LEDGER_DATA");
    c
}

/// A trial in `root/d` with an investigator key enrolled, and `serve` running on it.
struct Served {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    server: Child,
    base: String,
}

impl Served {
    fn start() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let s = |args: &[&str]| assert_ok(&run_in(&root, args), args);
        s(&["init", "--data", "d", "--trial", "url-test"]);
        new_key(&root, "investigator");
        s(&["keys", "enrol", "--data", "d", "investigator.key.pub.json"]);
        let mut server = bin()
            .current_dir(&root)
            .args(["serve", "--data", "d", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Served {
            _tmp: tmp,
            root,
            server,
            base,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        run_in(&self.root, args)
    }

    /// `submit --url` of a `PatientRegistered` for `patient`, signed with `key`.
    fn submit(&self, patient: &str, key: &str, json: bool) -> Output {
        let file = format!("{patient}.json");
        std::fs::write(
            self.root.join(&file),
            format!(
                r#"{{"event":"PatientRegistered","subject":"patient:{patient}","payload":{{"tumour_type":"COAD","site":"NKI-AVL","registered_on":"2025-01-15"}}}}"#
            ),
        )
        .unwrap();
        let mut args = vec!["submit", "--url", &self.base, "--key", key, &file];
        if json {
            args.push("--json");
        }
        self.run(&args)
    }

    /// SIGTERM, and the exit status.
    fn stop(&mut self) -> std::process::ExitStatus {
        let pid = self.server.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.server.wait().unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.server.try_wait(), Ok(None)) {
            let _ = self.server.kill();
            let _ = self.server.wait();
        }
    }
}

fn run_in(root: &Path, args: &[&str]) -> Output {
    bin().current_dir(root).args(args).output().unwrap()
}

fn assert_ok(o: &Output, args: &[&str]) {
    assert!(
        o.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn new_key(root: &Path, role: &str) {
    let out = format!("{role}.key");
    let args = ["keys", "new", "--name", role, "--role", role, "--out", &out];
    assert_ok(&run_in(root, &args), &args);
}

fn new_named_key(root: &Path, file: &str, role: &str) {
    let args = ["keys", "new", "--name", file, "--role", role, "--out", file];
    assert_ok(&run_in(root, &args), &args);
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The record at `p`/`seq` of the ledger in `root/d` (read with the server stopped).
fn record_at(root: &Path, p: u32, seq: u64) -> tl_schemas::Record {
    let reader = tl_ledger::embedded::EmbeddedReader::open(&root.join("d/ledger")).unwrap();
    let records = reader.scan(p).unwrap().records;
    let bytes = &records[usize::try_from(seq).unwrap()];
    tl_ledger::codec::decode_record(bytes).unwrap().0
}

#[test]
fn submit_by_url_prints_the_receipt_the_ledger_holds_and_refusals_exit_1() {
    let mut s = Served::start();
    // When an enrolled author submits through the server (JSON receipt, then the text one),
    let o = s.submit("P-1", "investigator.key", true);
    assert_ok(&o, &["submit --url --json"]);
    let receipt: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(receipt["status"], "recorded", "{receipt}");
    let o = s.submit("P-2", "investigator.key", false);
    assert_ok(&o, &["submit --url"]);
    let (out, _) = text(&o);
    let first = out.lines().next().unwrap();
    assert!(first.starts_with("recorded: partition "), "{out}");
    let hash_line = out.lines().find(|l| l.contains("record hash")).unwrap();
    let text_hash = hash_line.split_whitespace().last().unwrap().to_string();
    let mut words = first.split_whitespace();
    let text_p: u32 = words.nth(2).unwrap().parse().unwrap();
    let text_seq: u64 = words.nth(1).unwrap().parse().unwrap();

    // a key the registry does not know is refused with the server's reason, exit 1,
    new_named_key(&s.root, "stranger.key", "investigator");
    let o = s.submit("P-3", "stranger.key", false);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("refused: unknown-key"), "{err}");

    // and then the ledger holds exactly what the receipts said, and the refused one not at all.
    assert!(s.stop().success());
    let (p, seq) = (
        u32::try_from(receipt["partition"].as_u64().unwrap()).unwrap(),
        receipt["seq"].as_u64().unwrap(),
    );
    let record = record_at(&s.root, p, seq);
    assert_eq!(record.hash().to_hex(), receipt["record_hash"]);
    assert_eq!(
        record.body.submission.submission.submission_id.to_hex(),
        receipt["submission_id"]
    );
    assert_eq!(record.seal.to_hex(), receipt["seal"]);
    assert_eq!(
        record_at(&s.root, text_p, text_seq).hash().to_hex(),
        text_hash
    );
    let o = s.run(&["verify", "--data", "d", "--trust", "d/trust.json", "--json"]);
    assert_ok(&o, &["verify"]);
    let (out, _) = text(&o);
    assert!(!out.contains("P-3"), "{out}");
}

#[test]
fn a_resubmitted_id_signed_anew_is_a_conflict_through_the_server() {
    let s = Served::start();
    let event = r#"{"event":"PatientRegistered","subject":"patient:S-1","payload":{"tumour_type":"COAD","site":"NKI-AVL","registered_on":"2025-01-15"},"submission_id":"000102030405060708090a0b0c0d0e0f"}"#;
    std::fs::write(s.root.join("s.json"), event).unwrap();
    let args = [
        "submit",
        "--url",
        &s.base,
        "--key",
        "investigator.key",
        "s.json",
    ];
    let o = s.run(&args);
    assert_ok(&o, &args);
    assert!(text(&o).0.starts_with("recorded: "), "{:?}", text(&o));
    // Signed again (a new client time), the same id is refused, and the note says why.
    let o = s.run(&args);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("refused: submission-id-conflict"), "{err}");
    assert!(err.contains("signed anew"), "{err}");
}

#[test]
fn the_same_signed_submission_posted_again_gets_the_original_receipt() {
    let s = Served::start();
    let km = tl_ledger::keyfile::read_key_file(&s.root.join("investigator.key"), PASS).unwrap();
    let key = tl_ledger::SigningKey::new(km.signing_key);
    let server = trial_ledger::cli::remote::Remote::new(&s.base).unwrap();
    let trial = server.trial(Some("url-test")).unwrap();
    assert!(server.trial(Some("another-trial")).is_err());
    let parsed = trial_ledger::cli::event_json::parse(
        r#"{"event":"PatientRegistered","subject":"patient:T-1","payload":{"tumour_type":"COAD","site":"NKI-AVL","registered_on":"2025-01-15"}}"#,
    )
    .unwrap();
    let signed = parsed.draft.sign(&trial, &key);
    let receipt = |posted| match posted {
        trial_ledger::cli::remote::Posted::Receipt { status, receipt } => (status, receipt),
        trial_ledger::cli::remote::Posted::Refused { code, message } => {
            panic!("refused: {code}: {message}")
        }
    };
    let (first, original) = receipt(server.submit(&signed).unwrap());
    let (again, retried) = receipt(server.submit(&signed).unwrap());
    assert_eq!(
        (first.as_str(), again.as_str()),
        ("recorded", "already-recorded")
    );
    assert_eq!(original, retried);
}

#[test]
fn keys_enrol_and_revoke_by_url_take_effect_for_the_next_submission() {
    let s = Served::start();
    new_named_key(&s.root, "second.key", "investigator");
    // Before enrolment the key is unknown to the server,
    let o = s.submit("Q-0", "second.key", false);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    // enrolled through the server with the root key, it may submit,
    let o = s.run(&[
        "keys",
        "enrol",
        "--url",
        &s.base,
        "--key",
        "d/keys/root.key",
        "second.key.pub.json",
    ]);
    assert_ok(&o, &["keys enrol --url"]);
    assert!(
        text(&o).0.starts_with("recorded: partition 0 seq "),
        "{:?}",
        text(&o)
    );
    assert_ok(&s.submit("Q-1", "second.key", false), &["submit second"]);
    // and revoked through the server, it may not.
    let public: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.root.join("second.key.pub.json")).unwrap())
            .unwrap();
    let mut pk = [0u8; 32];
    hex::decode_to_slice(public["public_key"].as_str().unwrap(), &mut pk).unwrap();
    let key_id = tl_schemas::KeyId::of_ed25519(&pk).to_hex();
    let o = s.run(&[
        "keys",
        "revoke",
        "--url",
        &s.base,
        "--key",
        "d/keys/root.key",
        "--key-id",
        &key_id,
        "--reason",
        "left the site",
    ]);
    assert_ok(&o, &["keys revoke --url"]);
    let o = s.submit("Q-2", "second.key", false);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("refused: "), "{err}");
    // Without a root key there is nothing to sign with: an error before anything is posted.
    let o = s.run(&["keys", "enrol", "--url", &s.base, "second.key.pub.json"]);
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
}

#[test]
fn writers_given_the_data_folder_of_a_running_server_exit_2_naming_it() {
    let s = Served::start();
    std::fs::write(
        s.root.join("e.json"),
        r#"{"event":"PatientRegistered","subject":"patient:R-1","payload":{"tumour_type":"COAD","site":"NKI-AVL","registered_on":"2025-01-15"}}"#,
    )
    .unwrap();
    let expect_named = |args: &[&str], env_without_sequencer: bool| {
        let mut c = bin();
        if env_without_sequencer {
            // An author does not have the sequencer's passphrase: the server is named first.
            c.env_remove("TRIAL_LEDGER_SEQUENCER_PASSPHRASE");
        }
        let o = c.current_dir(&s.root).args(args).output().unwrap();
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!("--url {}", s.base)),
            "{args:?}: {err}"
        );
    };
    let submit = [
        "submit",
        "--data",
        "d",
        "--key",
        "investigator.key",
        "e.json",
    ];
    expect_named(&submit, true);
    expect_named(&submit, false);
    let enrol = ["keys", "enrol", "--data", "d", "investigator.key.pub.json"];
    expect_named(&enrol, true);
    let matcher = [
        "matcher",
        "--data",
        "d",
        "--key",
        "investigator.key",
        "--once",
    ];
    expect_named(&matcher, true);
    expect_named(&["checkpoint", "--data", "d", "--fresh"], false);
    // Nothing was recorded by any of them: the server still takes R-1 as new.
    let o = s.submit("R-1", "investigator.key", true);
    assert_ok(&o, &["submit --url"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["status"], "recorded");
}

#[test]
fn checkpoint_by_url_saves_what_verify_against_accepts() {
    let mut s = Served::start();
    for i in 0..5 {
        assert_ok(
            &s.submit(&format!("C-{i}"), "investigator.key", false),
            &["submit"],
        );
    }
    let o = s.run(&["checkpoint", "--url", &s.base, "--save", "held.txt"]);
    assert_ok(&o, &["checkpoint --url"]);
    let (printed, _) = text(&o);
    assert!(printed.starts_with("trial-ledger/url-test/"), "{printed}");
    // The same notes, framed the same way, as reading the folder gives.
    let local = s.run(&["checkpoint", "--data", "d"]);
    assert_ok(&local, &["checkpoint --data"]);
    assert_eq!(printed, text(&local).0);
    // One partition alone is printed as a single note.
    let o = s.run(&["checkpoint", "--url", &s.base, "--partition", "0"]);
    assert_ok(&o, &["checkpoint --url --partition 0"]);
    assert!(text(&o).0.starts_with("trial-ledger/url-test/0\n"));
    let o = s.run(&["checkpoint", "--url", &s.base, "--partition", "999"]);
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));

    assert!(s.stop().success());
    let o = s.run(&[
        "verify",
        "--data",
        "d",
        "--trust",
        "d/trust.json",
        "--against",
        "held.txt",
    ]);
    assert_ok(&o, &["verify --against"]);
    assert!(text(&o).0.contains("held checkpoint"), "{:?}", text(&o));
    // A held checkpoint the ledger does not extend is caught, so the check above means something.
    let held = std::fs::read_to_string(s.root.join("held.txt")).unwrap();
    let size_line = held.lines().nth(1).unwrap().to_string();
    let bumped = (size_line.parse::<u64>().unwrap() + 1).to_string();
    std::fs::write(
        s.root.join("held.txt"),
        held.replacen(&format!("\n{size_line}\n"), &format!("\n{bumped}\n"), 1),
    )
    .unwrap();
    let o = s.run(&[
        "verify",
        "--data",
        "d",
        "--trust",
        "d/trust.json",
        "--against",
        "held.txt",
    ]);
    assert!(!o.status.success(), "{:?}", text(&o));
}

#[test]
fn submit_by_https_url_trusts_the_certificate_named_by_ssl_cert_file() {
    let mut s = Served::start();
    // Stopped at once (perhaps before its signal handler is up): restarted with TLS below.
    s.stop();
    // A self-signed certificate for 127.0.0.1 (not a CA: rustls refuses a CA as end entity).
    let o = Command::new("openssl")
        .current_dir(&s.root)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
        ])
        .output()
        .expect("the openssl CLI");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    s.server = bin()
        .current_dir(&s.root)
        .args(["serve", "--data", "d", "--listen", "127.0.0.1:0"])
        .args(["--tls-cert", "cert.pem", "--tls-key", "key.pem"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(s.server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    s.base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    assert!(s.base.starts_with("https://127.0.0.1:"), "{}", s.base);
    std::fs::write(
        s.root.join("e.json"),
        r#"{"event":"PatientRegistered","subject":"patient:H-1","payload":{"tumour_type":"COAD","site":"NKI-AVL","registered_on":"2025-01-15"}}"#,
    )
    .unwrap();
    let args = [
        "submit",
        "--url",
        &s.base,
        "--key",
        "investigator.key",
        "e.json",
    ];
    // Checked against the platform's roots only (or none): refused, exit 2.
    let o = bin()
        .current_dir(&s.root)
        .env_remove("SSL_CERT_FILE")
        .args(args)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
    // Trusted through SSL_CERT_FILE: recorded.
    let o = bin()
        .current_dir(&s.root)
        .env("SSL_CERT_FILE", s.root.join("cert.pem"))
        .args(args)
        .output()
        .unwrap();
    assert_ok(&o, &args);
    assert!(text(&o).0.starts_with("recorded: "), "{:?}", text(&o));
}

/// `submit --url` of an event (as JSON) with `ROLE.key`.
fn post_event(s: &Served, role: &str, event: &serde_json::Value) {
    std::fs::write(s.root.join("event.json"), event.to_string()).unwrap();
    let key = format!("{role}.key");
    let args = ["submit", "--url", &s.base, "--key", &key, "event.json"];
    assert_ok(&s.run(&args), &args);
}

#[test]
fn matcher_by_url_reads_the_folder_and_posts_its_proposal_to_the_server() {
    let mut s = Served::start();
    for role in ["admin", "lab", "matcher"] {
        new_key(&s.root, role);
        let public = format!("{role}.key.pub.json");
        let args = [
            "keys",
            "enrol",
            "--url",
            &s.base,
            "--key",
            "d/keys/root.key",
            &public,
        ];
        assert_ok(&s.run(&args), &args);
    }
    let catalogue = tl_schemas::encode(&scripted::catalogue());
    post_event(
        &s,
        "admin",
        &serde_json::json!({
        "event": "ProtocolAmended", "subject": "trial", "meaning": "approved",
        "payload": {"protocol_version": 1, "document_format": 1,
                    "document_hex": hex::encode(catalogue)}}),
    );
    post_event(
        &s,
        "investigator",
        &serde_json::json!({
        "event": "PatientRegistered", "subject": "patient:PT-1",
        "payload": {"tumour_type": "NSCLC", "site": "NKI", "registered_on": "2025-01-02"}}),
    );
    post_event(
        &s,
        "investigator",
        &serde_json::json!({
        "event": "ConsentRecorded", "subject": "patient:PT-1",
        "payload": {"form_version": "ICF v1", "consented_on": "2025-01-02"}}),
    );
    post_event(
        &s,
        "lab",
        &serde_json::json!({
        "event": "SequencingResultReported", "subject": "patient:PT-1",
        "payload": {"sample_id": "S-PT-1", "purity_pct": 60, "msi": "Stable",
            "tmb_mut_per_mb_x100": 210,
            "alterations": [{"gene": "ALK", "kind": "Fusion", "protein_change": null,
                "copy_number_x100": null, "fusion_partner": "EML4", "vaf_bp": null}],
            "report_sha256": "00".repeat(32), "report_uri": "urn:report",
            "reported_on": "2025-01-20"}}),
    );
    // The matcher, without the sequencer's passphrase, reads the folder and posts.
    let once = [
        "matcher",
        "--data",
        "d",
        "--url",
        &s.base,
        "--key",
        "matcher.key",
        "--once",
    ];
    let o = bin()
        .env_remove("TRIAL_LEDGER_SEQUENCER_PASSPHRASE")
        .current_dir(&s.root)
        .args(once)
        .output()
        .unwrap();
    assert_ok(&o, &once);
    let (out, err) = text(&o);
    assert!(
        out.contains("recorded MatchProposed for patient:PT-1"),
        "{out}{err}"
    );
    // Again: it replays the ledger and recognises its decision.
    let o = s.run(&once);
    assert_ok(&o, &once);
    assert!(text(&o).1.contains("0 recorded now"), "{:?}", text(&o));
    assert!(s.stop().success());
    let proposals: Vec<_> = tl_ledger::log::read_embedded_for_verify(&s.root.join("d/ledger"))
        .unwrap()
        .iter()
        .flat_map(|input| input.records.clone())
        .map(|bytes| tl_ledger::codec::decode_record(&bytes).unwrap().0)
        .filter(|r| {
            r.body.submission.submission.envelope.event_type
                == tl_schemas::clinical::clinical_type::MATCH_PROPOSED
        })
        .collect();
    assert_eq!(proposals.len(), 1);
}

#[test]
fn an_unreachable_url_exits_2_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    new_key(tmp.path(), "investigator");
    std::fs::write(
        tmp.path().join("e.json"),
        r#"{"event":"PatientRegistered","subject":"patient:U-1","payload":{"tumour_type":"COAD","site":"NKI-AVL","registered_on":"2025-01-15"}}"#,
    )
    .unwrap();
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    for args in [
        vec![
            "submit",
            "--url",
            &url,
            "--key",
            "investigator.key",
            "e.json",
        ],
        vec!["checkpoint", "--url", &url],
        vec![
            "keys",
            "enrol",
            "--url",
            &url,
            "--key",
            "investigator.key",
            "investigator.key.pub.json",
        ],
    ] {
        let o = run_in(tmp.path(), &args);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!("cannot reach the server at {url}")),
            "{args:?}: {err}"
        );
    }
    let o = run_in(tmp.path(), &["checkpoint", "--url", "ftp://example"]);
    assert_eq!(o.status.code(), Some(2));
}
