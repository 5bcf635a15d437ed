//! The HTTP API end to end: the real `trial-ledger serve` on port 0, driven by a real HTTP
//! client. Concurrent submissions are each recorded once with durable receipts, retries get
//! the original receipt, and every kind of bad request gets its 4xx and changes nothing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use tl_ledger::SigningKey;
use tl_schemas::{encode, TrialId};

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

/// A trial in `root/d` with an investigator and a lab key enrolled, and `serve` running on it.
struct Served {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    trial: TrialId,
    investigator: SigningKey,
    lab: SigningKey,
    server: Child,
    base: String,
}

fn ok(root: &Path, args: &[&str]) {
    let o = bin().current_dir(root).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

impl Served {
    fn start() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        ok(&root, &["init", "--data", "d", "--trial", "api-test"]);
        for (name, role) in [("Dr. I. Investigator", "investigator"), ("Lab L", "lab")] {
            let out = format!("{role}.key");
            ok(
                &root,
                &["keys", "new", "--name", name, "--role", role, "--out", &out],
            );
            ok(
                &root,
                &["keys", "enrol", "--data", "d", &format!("{out}.pub.json")],
            );
        }
        let key = |f: &str| {
            let km = tl_ledger::keyfile::read_key_file(&root.join(f), PASS).unwrap();
            SigningKey::new(km.signing_key)
        };
        let (investigator, lab) = (key("investigator.key"), key("lab.key"));
        let (server, base) = serve(&root);
        Served {
            _tmp: tmp,
            trial: TrialId::new("api-test").unwrap(),
            root,
            investigator,
            lab,
            server,
            base,
        }
    }

    /// A signed `PatientRegistered` for `patient`, as canonical bytes.
    fn register(&self, patient: &str, key: &SigningKey) -> Vec<u8> {
        let json = format!(
            r#"{{"event":"PatientRegistered","subject":"patient:{patient}","payload":{{"tumour_type":"COAD","site":"NKI-AVL","registered_on":"2025-01-15"}}}}"#
        );
        let parsed = trial_ledger::cli::event_json::parse(&json).unwrap();
        encode(&parsed.draft.sign(&self.trial, key))
    }

    fn post(&self, body: &[u8], content_type: &str) -> (u16, serde_json::Value) {
        let agent = agent();
        let res = agent
            .post(format!("{}/v1/submissions", self.base))
            .header("content-type", content_type)
            .send(body);
        answer(res)
    }

    fn write_file(&self, name: &str, text: &str) {
        std::fs::write(self.root.join(name), text).unwrap();
    }

    /// Every file of the embedded ledger with its bytes, to prove nothing changed.
    fn store_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        walk(&self.root.join("d/ledger"), &mut out);
        out.sort();
        out
    }

    /// SIGTERM, and the exit status.
    fn stop(&mut self) -> std::process::ExitStatus {
        let pid = self.server.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.server.wait().unwrap()
    }
}

/// Starts `serve` on port 0 and reads the address from its first line.
fn serve(root: &Path) -> (Child, String) {
    let mut child = bin()
        .current_dir(root)
        .args(["serve", "--data", "d", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (child, base)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn answer(res: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, serde_json::Value) {
    let mut res = res.unwrap();
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().unwrap();
    let v = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e}): {text}"));
    (status, v)
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.file_name().is_some_and(|n| n != "LOCK" && n != "lock") {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
}

#[test]
fn concurrent_clients_each_get_one_durable_record_and_retries_get_the_original() {
    const CLIENTS: usize = 16;
    const EACH: usize = 63; // 1,008 submissions in all
    let mut s = Served::start();
    let batches: Vec<Vec<Vec<u8>>> = (0..CLIENTS)
        .map(|c| {
            (0..EACH)
                .map(|i| s.register(&format!("P-{c}-{i}"), &s.investigator))
                .collect()
        })
        .collect();

    // When 16 clients submit at once,
    let receipts: Vec<(Vec<u8>, serde_json::Value)> = std::thread::scope(|scope| {
        let workers: Vec<_> = batches
            .iter()
            .map(|mine| {
                let s = &s;
                scope.spawn(move || {
                    mine.iter()
                        .map(|bytes| {
                            let (status, v) = s.post(bytes, "application/octet-stream");
                            assert_eq!(status, 201, "{v}");
                            assert_eq!(v["status"], "recorded");
                            (bytes.clone(), v)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });

    // then a resubmitted id (here in the JSON form) gets its original receipt back, with 200;
    for (bytes, first) in receipts.iter().step_by(97) {
        let body = serde_json::json!({"submission": hex::encode(bytes)}).to_string();
        let (status, again) = s.post(body.as_bytes(), "application/json");
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["status"], "already-recorded");
        assert_eq!(again["record_hash"], first["record_hash"]);
        assert_eq!(again["seq"], first["seq"]);
    }

    // every receipt names the record the store holds at its place, read back over the API;
    for (_, r) in receipts.iter().step_by(13) {
        let url = format!(
            "{}/v1/partitions/{}/records?from={}&limit=1",
            s.base, r["partition"], r["seq"]
        );
        let (status, v) = answer(agent().get(url).call());
        assert_eq!(status, 200);
        assert_eq!(v["records"][0]["record_hash"], r["record_hash"]);
    }
    let root = s.root.clone();
    // and after a clean stop, the ledger verifies with every submission recorded once.
    assert!(s.stop().success());
    let out = bin()
        .current_dir(&root)
        .args(["verify", "--data", "d", "--json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    let records: std::collections::BTreeSet<(u64, u64)> = receipts
        .iter()
        .map(|(_, r)| (r["partition"].as_u64().unwrap(), r["seq"].as_u64().unwrap()))
        .collect();
    assert_eq!(records.len(), CLIENTS * EACH);
    let inputs = tl_ledger::log::read_embedded_for_verify(&root.join("d/ledger")).unwrap();
    for (_, r) in &receipts {
        let bytes = &inputs[r["partition"].as_u64().unwrap() as usize].records
            [r["seq"].as_u64().unwrap() as usize];
        let hash = tl_ledger::audit::leaf_hash(bytes).unwrap().to_hex();
        assert_eq!(r["record_hash"], hash.as_str());
    }
}

#[test]
fn every_bad_request_gets_its_4xx_with_a_code_and_changes_nothing() {
    let mut s = Served::start();
    let good = s.register("P-1", &s.investigator);
    let before = s.store_files();
    let mut bad_signature = good.clone();
    let last = bad_signature.len() - 1;
    bad_signature[last] ^= 1;
    let unknown_key = s.register("P-2", &SigningKey::generate());
    let wrong_role = s.register("P-3", &s.lab);
    let cases: Vec<(&str, Vec<u8>, &str, u16, &str)> = vec![
        (
            "malformed JSON",
            b"{\"submission\": ".to_vec(),
            "application/json",
            400,
            "bad-request",
        ),
        (
            "not hex",
            br#"{"submission": "zz"}"#.to_vec(),
            "application/json",
            400,
            "bad-request",
        ),
        (
            "truncated bytes",
            good[..good.len() / 2].to_vec(),
            "application/octet-stream",
            400,
            "malformed",
        ),
        (
            "a bad signature",
            bad_signature,
            "application/octet-stream",
            422,
            "bad-author-signature",
        ),
        (
            "an unknown key",
            unknown_key,
            "application/octet-stream",
            422,
            "unknown-key",
        ),
        (
            "a wrong ledger role",
            wrong_role,
            "application/octet-stream",
            422,
            "role-not-permitted",
        ),
        (
            "an oversized body",
            vec![0u8; 300 * 1024],
            "application/octet-stream",
            413,
            "too-large",
        ),
        (
            "a wrong media type",
            good.clone(),
            "text/plain",
            415,
            "unsupported-media-type",
        ),
    ];
    for (what, body, content_type, status, code) in cases {
        let (got, v) = s.post(&body, content_type);
        assert_eq!(
            (got, v["code"].as_str()),
            (status, Some(code)),
            "{what}: {v}"
        );
        assert!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: no message in {v}"
        );
    }
    let (status, v) = answer(agent().get(format!("{}/v1/no/such/route", s.base)).call());
    assert_eq!((status, v["code"].as_str()), (404, Some("not-found")));
    let (status, v) = answer(
        agent()
            .get(format!("{}/v1/partitions/99/records", s.base))
            .call(),
    );
    assert_eq!((status, v["code"].as_str()), (404, Some("not-found")));
    let (status, v) = answer(
        agent()
            .get(format!("{}/v1/partitions/0/records?from=x", s.base))
            .call(),
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (400, Some("bad-request")),
        "{v}"
    );
    assert_eq!(
        s.store_files(),
        before,
        "a refused request changed the store"
    );

    // The good one still goes in afterwards.
    let (status, _) = s.post(&good, "application/octet-stream");
    assert_eq!(status, 201);
    // A writer given the folder while the server runs is refused, naming the server.
    s.write_file("amend.json", r#"{"event":"ProtocolAmended","subject":"trial","payload":{"protocol_version":1,"document":"v1"}}"#);
    let o = bin()
        .current_dir(&s.root)
        .args([
            "submit",
            "--data",
            "d",
            "--key",
            "investigator.key",
            "amend.json",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&s.base),
        "the server is not named: {stderr}"
    );
    let (status, v) = answer(agent().get(format!("{}/readyz", s.base)).call());
    assert_eq!((status, v["ready"].as_bool()), (200, Some(true)));
    assert!(s.stop().success());
}
