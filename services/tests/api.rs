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
        Self::start_with(&[])
    }

    /// As [`Served::start`], with more `serve` flags.
    fn start_with(flags: &[&str]) -> Self {
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
        let (server, base) = serve_with(&root, flags);
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
    serve_with(root, &[])
}

/// Starts `serve` on port 0 with more flags.
fn serve_with(root: &Path, flags: &[&str]) -> (Child, String) {
    let mut child = bin()
        .current_dir(root)
        .args(["serve", "--data", "d", "--listen", "127.0.0.1:0"])
        .args(flags)
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

/// Sends `head` (and `body`) on a raw connection to `base` and returns the status line and
/// what came back within `wait`.
fn raw(base: &str, head: &str, body: &[u8], wait: std::time::Duration) -> String {
    use std::io::{Read, Write};
    let addr = base.strip_prefix("http://").unwrap();
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(wait)).unwrap();
    c.write_all(head.as_bytes()).unwrap();
    let _ = c.write_all(body);
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got);
    String::from_utf8_lossy(&got).into_owned()
}

/// Issues a read token in the data folder `root/d` with `tokens new ARGS`; returns its text.
fn token(root: &Path, args: &[&str]) -> String {
    let o = bin()
        .current_dir(root)
        .args(["tokens", "new", "--data", "d"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8(o.stdout).unwrap().trim().to_string();
    assert!(text.starts_with("tlt_") && text.len() == 68, "{text}");
    text
}

/// Kills a server a failed test left running, so it cannot hold the test's output open.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
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

impl Drop for DemoServed {
    fn drop(&mut self) {
        if matches!(self.server.try_wait(), Ok(None)) {
            let _ = self.server.kill();
            let _ = self.server.wait();
        }
    }
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

    // every receipt names the record the store holds at its place, read back over the API
    // (by an auditor: raw records are patient-level);
    let auditor = token(&s.root, &["--name", "A. Auditor", "--role", "auditor"]);
    for (_, r) in receipts.iter().step_by(13) {
        let url = format!(
            "{}/v1/partitions/{}/records?from={}&limit=1",
            s.base, r["partition"], r["seq"]
        );
        let (status, v) = answer(
            agent()
                .get(url)
                .header("authorization", format!("Bearer {auditor}"))
                .call(),
        );
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
    // An oversized body (300 KB) is refused from its Content-Length. Sent on a raw connection
    // that waits for the answer: a client that keeps writing a body the server will not read
    // may see the connection reset before it reads the 413 (the server closes it unread).
    let reply = raw(
        &s.base,
        &format!(
            "POST /v1/submissions HTTP/1.1\r\nhost: x\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            300 * 1024
        ),
        b"",
        std::time::Duration::from_secs(5),
    );
    assert!(
        reply.starts_with("HTTP/1.1 413"),
        "an oversized body: {reply}"
    );
    assert!(
        reply.contains("\"code\":\"too-large\""),
        "an oversized body: {reply}"
    );
    assert!(
        reply.contains("\"message\":\""),
        "an oversized body: {reply}"
    );
    let (status, v) = answer(agent().get(format!("{}/v1/no/such/route", s.base)).call());
    assert_eq!((status, v["code"].as_str()), (404, Some("not-found")));
    assert!(
        v["message"].as_str().unwrap().contains("/v1/no/such/route"),
        "{v}"
    );
    // An unknown cohort in a stream filter is a 404 with a message, not an empty stream.
    let dsmb = token(&s.root, &["--name", "D. Board", "--role", "dsmb"]);
    let (status, v) = answer(
        agent()
            .get(format!("{}/v1/safety/stream?cohort=NO-SUCH", s.base))
            .header("authorization", format!("Bearer {dsmb}"))
            .call(),
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (404, Some("not-found")),
        "{v}"
    );
    assert!(v["message"].as_str().unwrap().contains("NO-SUCH"), "{v}");
    // A body announced at 100 MB is refused with 413 from its headers alone: the answer comes
    // while the server has read none of it (the connection stays open, the body unsent).
    let t = std::time::Instant::now();
    let reply = raw(
        &s.base,
        "POST /v1/submissions HTTP/1.1\r\nhost: x\r\ncontent-type: application/octet-stream\r\ncontent-length: 100000000\r\nconnection: close\r\n\r\n",
        &[0u8; 1024],
        std::time::Duration::from_secs(5),
    );
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(reply.contains("\"code\":\"too-large\""), "{reply}");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(4),
        "{:?}",
        t.elapsed()
    );
    // Headers over the limit are refused by the server before any route (431).
    let big = format!(
        "GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: {}\r\nconnection: close\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let reply = raw(&s.base, &big, b"", std::time::Duration::from_secs(5));
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply}");
    let auditor = format!(
        "Bearer {}",
        token(&s.root, &["--name", "A. Auditor", "--role", "auditor"])
    );
    let (status, v) = answer(
        agent()
            .get(format!("{}/v1/partitions/99/records", s.base))
            .header("authorization", &auditor)
            .call(),
    );
    assert_eq!((status, v["code"].as_str()), (404, Some("not-found")));
    let (status, v) = answer(
        agent()
            .get(format!("{}/v1/partitions/0/records?from=x", s.base))
            .header("authorization", &auditor)
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

#[test]
fn a_burst_of_submissions_is_rate_limited_per_key_and_per_address_with_429() {
    let mut s = Served::start();
    s.stop();
    let count = |root: &Path| -> usize {
        tl_ledger::log::read_embedded_for_verify(&root.join("d/ledger"))
            .unwrap()
            .iter()
            .map(|p| p.records.len())
            .sum()
    };
    let at_start = count(&s.root);
    // The same folder, served again with small rates: 5 per second per key, 12 per address.
    let (server, base) = serve_with(
        &s.root,
        &["--rate-per-key", "5", "--rate-per-address", "12"],
    );
    s.server = server;
    s.base = base;
    let before = s.store_files();
    // One key, 12 submissions at once: the first 5 go in, the rest are 429 and change nothing.
    let by_one_key: Vec<Vec<u8>> = (0..12)
        .map(|i| s.register(&format!("K-{i}"), &s.investigator))
        .collect();
    let answers: Vec<(u16, serde_json::Value)> = by_one_key
        .iter()
        .map(|b| s.post(b, "application/octet-stream"))
        .collect();
    let recorded = answers.iter().filter(|(st, _)| *st == 201).count();
    let limited: Vec<&serde_json::Value> = answers
        .iter()
        .filter(|(st, _)| *st == 429)
        .map(|(_, v)| v)
        .collect();
    assert!((5..=7).contains(&recorded), "{answers:?}");
    assert_eq!(recorded + limited.len(), 12, "{answers:?}");
    for v in &limited {
        assert_eq!(v["code"], "rate-limited");
        assert!(v["message"].as_str().unwrap().contains("key "), "{v}");
    }
    // A refused one carries Retry-After.
    let res = agent()
        .post(format!("{}/v1/submissions", s.base))
        .header("content-type", "application/octet-stream")
        .send(&by_one_key[11][..])
        .unwrap();
    assert_eq!(res.status().as_u16(), 429);
    assert!(res.headers().get("retry-after").is_some());
    // Submissions each by another (unknown) key from the same address are then limited by
    // the address (12 per second): the first are judged (422 unknown-key), the rest 429.
    let other: Vec<Vec<u8>> = (0..20)
        .map(|i| s.register(&format!("A-{i}"), &SigningKey::generate()))
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let by_address: Vec<(u16, serde_json::Value)> = other
        .iter()
        .map(|b| s.post(b, "application/octet-stream"))
        .collect();
    let judged = by_address.iter().filter(|(st, _)| *st == 422).count();
    let by_addr = by_address
        .iter()
        .filter(|(st, v)| *st == 429 && v["message"].as_str().unwrap().contains("address"))
        .count();
    assert!((12..=14).contains(&judged), "{by_address:?}");
    assert_eq!(judged + by_addr, 20, "{by_address:?}");
    // Only the answered records are in the ledger: exactly those that got 201.
    let all_recorded = recorded + by_address.iter().filter(|(st, _)| *st == 201).count();
    let root = s.root.clone();
    assert_ne!(s.store_files(), before);
    assert!(s.stop().success());
    assert_eq!(count(&root) - at_start, all_recorded);
}

/// The headers of an answer, lowercased names.
fn head_of(res: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

#[test]
fn every_answer_has_a_csp_and_cors_allows_only_listed_origins_on_get_routes() {
    let mut s = Served::start();
    s.stop();
    let (server, base) = serve_with(
        &s.root,
        &[
            "--cors-origin",
            "null",
            "--cors-origin",
            "https://pages.example.org",
        ],
    );
    s.server = server;
    s.base = base;
    let good = s.register("P-1", &s.investigator);
    // Every answer, success or error, JSON or bytes, carries the CSP (and no HSTS without TLS).
    for (method, path) in [
        ("GET", "/healthz"),
        ("GET", "/v1/checkpoints"),
        ("GET", "/v1/no/such/route"),
        ("GET", "/v1/views/safety"),
        ("POST", "/v1/submissions"),
    ] {
        let res = if method == "GET" {
            agent().get(format!("{}{path}", s.base)).call().unwrap()
        } else {
            agent()
                .post(format!("{}{path}", s.base))
                .header("content-type", "application/octet-stream")
                .send(&good[..])
                .unwrap()
        };
        assert_eq!(
            head_of(&res, "content-security-policy").as_deref(),
            Some("default-src 'self'"),
            "{method} {path}"
        );
        assert_eq!(head_of(&res, "strict-transport-security"), None);
    }
    // A listed origin (a page saved to a file sends `Origin: null`) may read GET routes,
    let get = |origin: &str| {
        agent()
            .get(format!("{}/v1/checkpoints", s.base))
            .header("origin", origin)
            .call()
            .unwrap()
    };
    for origin in ["null", "https://pages.example.org"] {
        let res = get(origin);
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(
            head_of(&res, "access-control-allow-origin").as_deref(),
            Some(origin)
        );
    }
    // another origin is not allowed (same-origin by default),
    let res = get("https://evil.example");
    assert_eq!(head_of(&res, "access-control-allow-origin"), None);
    // and a preflight allows GET with a bearer token, never POST.
    let res = agent()
        .options(format!("{}/v1/views/safety", s.base))
        .header("origin", "null")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .call()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        head_of(&res, "access-control-allow-origin").as_deref(),
        Some("null")
    );
    let methods = head_of(&res, "access-control-allow-methods").unwrap();
    assert_eq!(methods, "GET");
    assert!(head_of(&res, "access-control-allow-headers")
        .unwrap()
        .contains("authorization"));
    // A bad origin is refused before the server starts, with a clear message.
    let o = bin()
        .current_dir(&s.root)
        .args(["serve", "--data", "d", "--listen", "127.0.0.1:0"])
        .args(["--cors-origin", "https://pages.example.org/path"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("is not an origin"), "{stderr}");
    assert!(s.stop().success());
}

#[test]
fn with_a_certificate_the_server_speaks_only_https_and_sends_hsts() {
    let mut s = Served::start();
    // Over plain HTTP the session cookie is not `Secure` (a browser would drop it there).
    let board = token(&s.root, &["--name", "Dr. D. Board", "--role", "dsmb"]);
    let res = agent()
        .post(format!("{}/v1/session", s.base))
        .header("authorization", format!("Bearer {board}"))
        .send_empty()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let cookie = head_of(&res, "set-cookie").unwrap();
    assert!(cookie.starts_with("tl_session="), "{cookie}");
    assert!(
        cookie_attributes(&cookie).contains(&"httponly".to_string()),
        "{cookie}"
    );
    assert!(
        !cookie_attributes(&cookie).contains(&"secure".to_string()),
        "{cookie}"
    );
    s.stop();
    // A self-signed certificate for 127.0.0.1, made by the openssl CLI.
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
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
        ])
        .output()
        .expect("the openssl CLI");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (server, base) = serve_with(&s.root, &["--tls-cert", "cert.pem", "--tls-key", "key.pem"]);
    s.server = server;
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    // curl trusting only that certificate: the answer has HSTS and the CSP.
    let curl = |url: &str| {
        Command::new("curl")
            .current_dir(&s.root)
            .args(["-sS", "-i", "--max-time", "10", "--cacert", "cert.pem", url])
            .output()
            .unwrap()
    };
    let o = curl(&format!("{base}/v1/checkpoints"));
    let text = String::from_utf8_lossy(&o.stdout).to_lowercase();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        text.starts_with("http/1.1 200") || text.starts_with("http/2 200"),
        "{text}"
    );
    assert!(
        text.contains("strict-transport-security: max-age=31536000"),
        "{text}"
    );
    assert!(
        text.contains("content-security-policy: default-src 'self'"),
        "{text}"
    );
    assert!(text.contains("\"checkpoints\""), "{text}");
    // Over TLS the session cookie is `Secure`, besides HttpOnly and SameSite=Strict.
    let o = Command::new("curl")
        .current_dir(&s.root)
        .args([
            "-sS",
            "-i",
            "--max-time",
            "10",
            "--cacert",
            "cert.pem",
            "-X",
            "POST",
        ])
        .args(["-H", &format!("authorization: Bearer {board}")])
        .arg(format!("{base}/v1/session"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cookie = text
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no session cookie: {text}"));
    let attributes = cookie_attributes(&cookie);
    for a in ["secure", "httponly", "samesite=strict"] {
        assert!(attributes.contains(&a.to_string()), "{a}: {cookie}");
    }
    // Plain HTTP on the same port gets no answer.
    let plain = base.replace("https://", "http://");
    let o = curl(&format!("{plain}/healthz"));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("200"));
    // A missing key file is refused at start with its name.
    let o = bin()
        .current_dir(&s.root)
        .args(["serve", "--data", "d", "--listen", "127.0.0.1:0"])
        .args(["--tls-cert", "cert.pem", "--tls-key", "nokey.pem"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nokey.pem"));
    assert!(s.stop().success());
}

/// A `Set-Cookie` value's attributes after the name=value pair, lowercased.
fn cookie_attributes(cookie: &str) -> Vec<String> {
    cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect()
}

/// Prometheus text exposition parsed: `name{labels}` to value. Panics on a line that is not
/// a comment, a blank or a sample with a number.
fn parse_prometheus(text: &str) -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            assert!(
                line.is_empty() || line.starts_with("# HELP ") || line.starts_with("# TYPE "),
                "{line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "{line}");
        }
        out.insert(series.to_string(), value);
    }
    out
}

#[test]
fn metrics_count_every_submission_by_outcome_and_refusals_are_logged() {
    let mut s = Served::start();
    s.stop();
    let log = s.root.join("serve.log");
    let mut child = bin()
        .current_dir(&s.root)
        .args(["serve", "--data", "d", "--listen", "127.0.0.1:0"])
        .args(["--metrics-listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut first, mut second) = (String::new(), String::new());
    out.read_line(&mut first).unwrap();
    out.read_line(&mut second).unwrap();
    s.server = child;
    s.base = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    let metrics_url = second
        .trim()
        .strip_prefix("metrics on ")
        .unwrap()
        .to_string();

    // 7 recorded, 2 of them again (duplicates), 3 with a bad signature, 2 by unknown keys.
    let good: Vec<Vec<u8>> = (0..7)
        .map(|i| s.register(&format!("M-{i}"), &s.investigator))
        .collect();
    for g in &good {
        assert_eq!(s.post(g, "application/octet-stream").0, 201);
    }
    for g in &good[..2] {
        assert_eq!(s.post(g, "application/octet-stream").0, 200);
    }
    for i in 0..3 {
        let mut b = s.register(&format!("B-{i}"), &s.investigator);
        let last = b.len() - 1;
        b[last] ^= 1;
        assert_eq!(s.post(&b, "application/octet-stream").0, 422);
    }
    for i in 0..2 {
        let b = s.register(&format!("U-{i}"), &SigningKey::generate());
        assert_eq!(s.post(&b, "application/octet-stream").0, 422);
    }
    assert_eq!(s.post(b"{", "application/json").0, 400);

    let scrape = |url: &str, bearer: Option<&str>| {
        let mut req = agent().get(url);
        if let Some(t) = bearer {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let mut res = req.call().unwrap();
        let status = res.status().as_u16();
        (status, res.body_mut().read_to_string().unwrap())
    };
    // The metrics address needs no token; the API's own /metrics needs an auditor's.
    let (status, text) = scrape(&metrics_url, None);
    assert_eq!(status, 200);
    let m = parse_prometheus(&text);
    let get = |k: &str| {
        m.get(k)
            .copied()
            .unwrap_or_else(|| panic!("no {k} in\n{text}"))
    };
    assert_eq!(
        get(r#"tl_submissions_total{outcome="recorded",reason=""}"#),
        7.0
    );
    assert_eq!(
        get(r#"tl_submissions_total{outcome="duplicate",reason=""}"#),
        2.0
    );
    assert_eq!(
        get(r#"tl_submissions_total{outcome="refused",reason="bad-author-signature"}"#),
        3.0
    );
    assert_eq!(
        get(r#"tl_submissions_total{outcome="refused",reason="unknown-key"}"#),
        2.0
    );
    assert_eq!(
        get(r#"tl_submissions_total{outcome="refused",reason="bad-request"}"#),
        1.0
    );
    // Each submission that reached the sequencer is in its latency histogram and in a batch.
    assert_eq!(get("tl_sequencer_latency_seconds_count"), 14.0);
    assert_eq!(get("tl_group_commit_batch_size_sum"), 14.0);
    assert!(get("tl_group_commit_fsync_seconds_count") >= 1.0);
    assert!(get(r#"tl_sequencer_latency_seconds_bucket{le="+Inf"}"#) == 14.0);
    // Records per partition: their sum is the ledger's size.
    let records: f64 = m
        .iter()
        .filter(|(k, _)| k.starts_with("tl_records{"))
        .map(|(_, v)| v)
        .sum();
    let inputs = tl_ledger::log::read_embedded_for_verify(&s.root.join("d/ledger")).unwrap();
    let stored: usize = inputs.iter().map(|p| p.records.len()).sum();
    assert_eq!(records as usize, stored);

    let (status, v) = answer(agent().get(format!("{}/metrics", s.base)).call());
    assert_eq!((status, v["code"].as_str()), (401, Some("unauthorized")));
    let sponsor = token(&s.root, &["--name", "S. Ponsor", "--role", "sponsor"]);
    let (status, _) = scrape(&format!("{}/metrics", s.base), Some(&sponsor));
    assert_eq!(status, 403);
    let auditor = token(&s.root, &["--name", "A. Auditor", "--role", "auditor"]);
    let (status, text) = scrape(&format!("{}/metrics", s.base), Some(&auditor));
    assert_eq!(status, 200);
    assert!(parse_prometheus(&text).contains_key("tl_sequencer_latency_seconds_count"));
    assert!(s.stop().success());
    // Refusals for a bad signature or an unknown key were logged as warnings.
    let log = std::fs::read_to_string(&log).unwrap();
    let warned = |reason: &str| {
        log.lines()
            .filter(|l| {
                l.contains("WARN") && l.contains("submission refused") && l.contains(reason)
            })
            .count()
    };
    assert_eq!(warned("bad-author-signature"), 3, "{log}");
    assert_eq!(warned("unknown-key"), 2, "{log}");
}

#[test]
fn proofs_over_http_are_the_files_prove_writes_and_check_proof_accepts_them() {
    let mut s = Served::start();
    let receipts: Vec<serde_json::Value> = (0..12)
        .map(|i| {
            let (st, v) = s.post(
                &s.register(&format!("Q-{i}"), &s.investigator),
                "application/octet-stream",
            );
            assert_eq!(st, 201, "{v}");
            v
        })
        .collect();
    let r = &receipts[5];
    let (p, seq) = (r["partition"].as_u64().unwrap(), r["seq"].as_u64().unwrap());
    // Public: no token.
    let (status, proof) = answer(
        agent()
            .get(format!(
                "{}/v1/partitions/{p}/proofs/inclusion?seq={seq}",
                s.base
            ))
            .call(),
    );
    assert_eq!(status, 200, "{proof}");
    // The same JSON `prove inclusion` prints for the same request,
    let cli = bin()
        .current_dir(&s.root)
        .args([
            "prove",
            "inclusion",
            "--data",
            "d",
            "--partition",
            &p.to_string(),
        ])
        .args(["--seq", &seq.to_string()])
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let cli: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(proof, cli);
    // and `check-proof` accepts it, anchored in the trial's root key.
    s.write_file("inclusion.json", &proof.to_string());
    let check = |file: &str| {
        bin()
            .current_dir(&s.root)
            .args(["check-proof", file, "--trust", "d/trust.json"])
            .output()
            .unwrap()
    };
    let o = check("inclusion.json");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    // A consistency proof between two published sizes of the partition.
    let size = r["seq"].as_u64().unwrap() + 1;
    let last = receipts
        .iter()
        .filter(|v| v["partition"].as_u64() == Some(p))
        .map(|v| v["seq"].as_u64().unwrap() + 1)
        .max()
        .unwrap();
    let (status, proof) = answer(
        agent()
            .get(format!(
                "{}/v1/partitions/{p}/proofs/consistency?from={size}&to={last}",
                s.base
            ))
            .call(),
    );
    assert_eq!(status, 200, "{proof}");
    s.write_file("consistency.json", &proof.to_string());
    let o = check("consistency.json");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    // Bad requests: a seq beyond the partition, sizes the wrong way round, a missing seq.
    for q in [
        format!("inclusion?seq={}", last + 100),
        format!("consistency?from={last}&to=1"),
        "inclusion".to_string(),
    ] {
        let (status, v) = answer(
            agent()
                .get(format!("{}/v1/partitions/{p}/proofs/{q}", s.base))
                .call(),
        );
        assert_eq!(
            (status, v["code"].as_str()),
            (400, Some("bad-request")),
            "{q}: {v}"
        );
    }
    let (status, _) = answer(
        agent()
            .get(format!(
                "{}/v1/partitions/99/proofs/inclusion?seq=0",
                s.base
            ))
            .call(),
    );
    assert_eq!(status, 404);
    assert!(s.stop().success());
}

#[test]
fn a_decoded_record_is_the_form_submit_reads_and_names_its_seal() {
    let mut s = Served::start();
    let bytes = s.register("D-1", &s.investigator);
    let (status, receipt) = s.post(&bytes, "application/octet-stream");
    assert_eq!(status, 201);
    let url = format!(
        "{}/v1/partitions/{}/records/{}/decoded",
        s.base, receipt["partition"], receipt["seq"]
    );
    // Raw records are patient-level: no token 401, a sponsor 403, an auditor 200.
    assert_eq!(answer(agent().get(&url).call()).0, 401);
    let sponsor = token(&s.root, &["--name", "S. Ponsor", "--role", "sponsor"]);
    let with = |t: &str| {
        answer(
            agent()
                .get(&url)
                .header("authorization", format!("Bearer {t}"))
                .call(),
        )
    };
    assert_eq!(with(&sponsor).0, 403);
    let auditor = token(&s.root, &["--name", "A. Auditor", "--role", "auditor"]);
    let (status, v) = with(&auditor);
    assert_eq!(status, 200, "{v}");
    let form = &v["submission"];
    assert_eq!(form["event"], "PatientRegistered");
    assert_eq!(form["subject"], "patient:D-1");
    assert_eq!(
        form["payload"],
        serde_json::json!({"tumour_type":"COAD","site":"NKI-AVL","registered_on":"2025-01-15"})
    );
    assert_eq!(v["record"]["record_hash"], receipt["record_hash"]);
    assert_eq!(v["record"]["seq"], receipt["seq"]);
    // The form is what `submit` reads: parsed and signed again by the same key, it carries
    // the same submission id and payload (signed at another client time, so the sequencer
    // calls it a conflicting reuse of that id, and records nothing).
    let parsed = trial_ledger::cli::event_json::parse(&form.to_string()).unwrap();
    let again = encode(&parsed.draft.sign(&s.trial, &s.investigator));
    let (status, dup) = s.post(&again, "application/octet-stream");
    assert_eq!(
        (status, dup["code"].as_str()),
        (409, Some("submission-id-conflict")),
        "{dup}"
    );
    // The access log names the decoded read.
    let log = std::fs::read_to_string(s.root.join("d/access.log")).unwrap();
    assert!(log.contains("/decoded"), "{log}");
    assert!(s.stop().success());
}

#[test]
fn a_view_as_of_a_cut_of_published_checkpoints_stays_frozen() {
    let mut s = Served::start();
    for i in 0..3 {
        let b = s.register(&format!("C-{i}"), &s.investigator);
        assert_eq!(s.post(&b, "application/octet-stream").0, 201);
    }
    // The cut: every partition's latest published checkpoint, as GET /v1/checkpoints lists them.
    let (_, v) = answer(agent().get(format!("{}/v1/checkpoints", s.base)).call());
    let cut: Vec<String> = v["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let size = c["checkpoint"]
                .as_str()
                .map_or(0, |t| t.lines().nth(1).unwrap().parse::<u64>().unwrap());
            format!("p{}:{size}", c["partition"])
        })
        .collect();
    let cut = cut.join(",");
    for i in 3..5 {
        let b = s.register(&format!("C-{i}"), &s.investigator);
        assert_eq!(s.post(&b, "application/octet-stream").0, 201);
    }
    let sponsor = token(&s.root, &["--name", "S. Ponsor", "--role", "sponsor"]);
    let view = |q: &str| {
        answer(
            agent()
                .get(format!("{}/v1/views/enrollment{q}", s.base))
                .header("authorization", format!("Bearer {sponsor}"))
                .call(),
        )
    };
    let (status, now) = view("");
    assert_eq!(status, 200, "{now}");
    assert_eq!(now["funnel"]["registered"], 5);
    let (status, then) = view(&format!("?at={cut}"));
    assert_eq!(status, 200, "{then}");
    assert_eq!(then["funnel"]["registered"], 3, "{then}");
    assert_eq!(then["freshness"]["behind"], 2, "{then}");
    // A size no checkpoint has is 404; a cut that leaves a partition out, or garbage, 400.
    let (status, v) = view("?at=p0:999999");
    assert_eq!(
        (status, v["code"].as_str()),
        (400, Some("bad-request")),
        "{v}"
    );
    let every_wrong = cut
        .split(',')
        .map(|pn| format!("{pn}7"))
        .collect::<Vec<_>>()
        .join(",");
    let (status, v) = view(&format!("?at={every_wrong}"));
    assert_eq!(
        (status, v["code"].as_str()),
        (404, Some("not-found")),
        "{v}"
    );
    let (status, _) = view("?at=zz");
    assert_eq!(status, 400);
    assert!(s.stop().success());
}

/// A small demo trial in `root/d` (cohorts, patients at sites, adverse events), its views
/// projected once, and `serve` on it.
struct DemoServed {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    server: Child,
    base: String,
}

impl DemoServed {
    fn start(patients: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        ok(
            &root,
            &["demo", "--data", "d", "--patients", patients, "--seed", "7"],
        );
        ok(&root, &["view", "enrollment", "--data", "d", "--json"]);
        let (server, base) = serve(&root);
        DemoServed {
            _tmp: tmp,
            root,
            server,
            base,
        }
    }

    /// A query on the demo's enrollment view (as the `view` command projected it).
    fn enrollment<T: rusqlite::types::FromSql>(&self, sql: &str) -> Vec<(String, T)> {
        let db = rusqlite::Connection::open(self.root.join("d/views/enrollment.sqlite")).unwrap();
        let mut st = db.prepare(sql).unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn get(&self, path: &str, bearer: Option<&str>) -> (u16, serde_json::Value) {
        let mut req = agent().get(format!("{}{path}", self.base));
        if let Some(t) = bearer {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let mut res = req.call().unwrap();
        let status = res.status().as_u16();
        let is_json = res
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap_or("").starts_with("application/json"));
        let body = res.body_mut().read_to_vec().unwrap();
        let v = if is_json {
            serde_json::from_slice(&body).unwrap()
        } else {
            serde_json::json!({"bytes": body.len()})
        };
        (status, v)
    }

    fn stop(&mut self) -> std::process::ExitStatus {
        let pid = self.server.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.server.wait().unwrap()
    }
}

#[test]
fn every_cell_of_the_safety_table_links_to_the_records_behind_it() {
    let enc = |v: &str| {
        v.replace('%', "%25")
            .replace(' ', "%20")
            .replace('+', "%2B")
            .replace('&', "%26")
    };
    let mut s = DemoServed::start("40");
    let root = s.root.clone();
    let dsmb = token(&root, &["--name", "D. Board", "--role", "dsmb"]);
    let auditor = token(&root, &["--name", "A. Auditor", "--role", "auditor"]);
    let (status, view) = s.get("/v1/views/safety", Some(&dsmb));
    assert_eq!(status, 200);
    let cells = view["by_term"].as_array().unwrap().clone();
    assert!(!cells.is_empty(), "the demo has adverse events");
    let mut events = 0;
    for (i, c) in cells.iter().enumerate() {
        let mut q = format!(
            "term={}&grade={}",
            enc(c["ctcae_term"].as_str().unwrap()),
            c["grade"]
        );
        for k in ["cohort", "drug"] {
            if let Some(v) = c[k].as_str() {
                q.push_str(&format!("&{k}={}", enc(v)));
            }
        }
        let (status, cell) = s.get(&format!("/v1/views/safety/cells?{q}"), Some(&dsmb));
        assert_eq!(status, 200, "{q}: {cell}");
        // The cell's numbers are the view's,
        assert_eq!(cell["events"], c["events"], "{q}");
        assert_eq!(cell["serious"], c["serious"], "{q}");
        events += cell["events"].as_u64().unwrap();
        // and each record behind it (a few checked per cell) is an adverse event record of
        // that term, or a correction of one.
        let records = cell["records"].as_array().unwrap();
        assert!(
            records.len() as u64 >= cell["events"].as_u64().unwrap(),
            "{cell}"
        );
        for r in records.iter().take(if i < 3 { 3 } else { 1 }) {
            let (status, d) = s.get(
                &format!(
                    "/v1/partitions/{}/records/{}/decoded",
                    r["partition"], r["seq"]
                ),
                Some(&auditor),
            );
            assert_eq!(status, 200);
            assert_eq!(d["record"]["record_hash"], r["hash"], "{r}");
            let name = d["submission"]["event"].as_str().unwrap();
            assert!(
                name.starts_with("AdverseEvent") || name == "Corrected",
                "{name} behind {q}"
            );
        }
    }
    // Together the cells hold every adverse event of the trial.
    assert_eq!(events, view["overall"]["adverse_events"].as_u64().unwrap());
    // An unknown cell is 404; an hta token may not read safety cells.
    let (status, _) = s.get("/v1/views/safety/cells?term=Nothing&grade=1", Some(&dsmb));
    assert_eq!(status, 404);
    let hta = token(&root, &["--name", "H. Ta", "--role", "hta"]);
    let (status, _) = s.get("/v1/views/safety/cells?term=Nothing&grade=1", Some(&hta));
    assert_eq!(status, 403);
    assert!(s.stop().success());
}

#[test]
fn every_protected_route_needs_a_fitting_token_and_patient_reads_are_logged() {
    let mut s = DemoServed::start("40");
    // A patient with a site and a cohort, a patient of another site, and two cohorts.
    let placed: Vec<(String, String)> = s.enrollment(
        "SELECT patient, site || '|' || enrolled_cohort FROM patients WHERE enrolled_cohort IS NOT NULL ORDER BY patient",
    );
    let (patient, place) = placed[0].clone();
    let (site, cohort) = place.split_once('|').unwrap();
    let other_site_patient = placed
        .iter()
        .find(|(_, pl)| !pl.starts_with(&format!("{site}|")))
        .expect("patients at two sites")
        .0
        .clone();
    let cohorts: Vec<(String, i64)> =
        s.enrollment("SELECT cohort, slots FROM cohorts ORDER BY cohort");
    let other_cohort = cohorts.iter().find(|(c, _)| c != cohort).unwrap().0.clone();

    let root = s.root.clone();
    let issue = |role: &str, extra: &[&str]| {
        let name = format!("Dr. {role}");
        let mut args = vec!["--name", name.as_str(), "--role", role];
        args.extend_from_slice(extra);
        token(&root, &args)
    };
    let auditor = issue("auditor", &[]);
    let sponsor = issue("sponsor", &[]);
    let safety = issue("safety", &[]);
    let dsmb = issue("dsmb", &[]);
    let hta = issue("hta", &[]);
    let own_site = issue("site", &["--site", site]);
    let other_cohort_sponsor = issue("sponsor", &["--cohort", &other_cohort]);
    let expired = issue("auditor", &["--expires", "2020-01-01"]);

    let p_trail = format!("/v1/subjects/patient:{patient}/trail");
    let other_trail = format!("/v1/subjects/patient:{other_site_patient}/trail");
    let c_trail = format!("/v1/subjects/cohort:{cohort}/trail");
    let p_bundle = format!("/v1/subjects/patient:{patient}/bundle");
    let c_bundle = format!("/v1/subjects/cohort:{cohort}/bundle");
    let safety_other = format!("/v1/views/safety?cohort={other_cohort}");
    let safety_mine = format!("/v1/views/safety?cohort={cohort}");
    // (route, a token that may read it, a token whose role or scope may not)
    let cases: Vec<(&str, &str, &str)> = vec![
        ("/v1/partitions/0/records?limit=3", &auditor, &sponsor),
        ("/v1/partitions/1/records/0", &auditor, &safety),
        (&p_trail, &safety, &sponsor),
        (&p_trail, &own_site, &hta),
        (&other_trail, &auditor, &own_site),
        (&c_trail, &sponsor, &hta),
        (&c_trail, &dsmb, &other_cohort_sponsor),
        (&p_bundle, &auditor, &safety),
        (&c_bundle, &auditor, &sponsor),
        ("/v1/views/enrollment", &sponsor, &safety),
        ("/v1/views/safety", &dsmb, &hta),
        (&safety_other, &other_cohort_sponsor, &own_site),
        (&safety_mine, &safety, &other_cohort_sponsor),
        ("/v1/views/dossier", &hta, &dsmb),
    ];
    let mut granted = 0;
    for (route, right, wrong) in &cases {
        let (status, v) = s.get(route, None);
        assert_eq!(
            (status, v["code"].as_str()),
            (401, Some("unauthorized")),
            "{route} without a token: {v}"
        );
        let (status, _) = s.get(
            route,
            Some("tlt_0000000000000000000000000000000000000000000000000000000000000000"),
        );
        assert_eq!(status, 401, "{route} with an unknown token");
        let (status, v) = s.get(route, Some(&expired));
        assert_eq!(status, 401, "{route} with an expired token: {v}");
        assert!(v["message"].as_str().unwrap().contains("expired"), "{v}");
        let (status, v) = s.get(route, Some(wrong));
        assert_eq!(
            (status, v["code"].as_str()),
            (403, Some("forbidden")),
            "{route} with a wrong role or scope: {v}"
        );
        let (status, v) = s.get(route, Some(right));
        assert_eq!(status, 200, "{route} with a fitting token: {v}");
        granted += 1;
    }
    // What the routes say: a trail as `trail --json` gives it, how far behind the log.
    let (_, t) = s.get(&p_trail, Some(&auditor));
    granted += 1;
    assert_eq!(t["subject"], format!("patient:{patient}"));
    assert!(t["records"].as_array().unwrap().len() > 3, "{t}");
    assert_eq!(t["freshness"]["behind"], 0, "{t}");
    let (_, v) = s.get("/v1/views/safety", Some(&safety));
    granted += 1;
    assert!(v["overall"]["adverse_events"].as_i64().unwrap() > 0, "{v}");
    assert_eq!(v["freshness"]["behind"], 0, "{v}");
    // An unknown cohort in a filter is a 404, not a 5xx.
    let (status, v) = s.get("/v1/views/safety?cohort=NO.SUCH.COHORT", Some(&safety));
    assert_eq!(
        (status, v["code"].as_str()),
        (404, Some("not-found")),
        "{v}"
    );
    // Checkpoints are public.
    assert_eq!(s.get("/v1/checkpoints", None).0, 200);

    // A session cookie stands for a token (browsers' EventSource sends no header).
    let mut res = agent()
        .post(format!("{}/v1/session", s.base))
        .header("authorization", format!("Bearer {dsmb}"))
        .send_empty()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let cookie = res
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let _ = res.body_mut().read_to_string();
    let pair = cookie.split(';').next().unwrap().to_string();
    let res = agent()
        .get(format!("{}/v1/views/safety", s.base))
        .header("cookie", &pair)
        .call()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    granted += 1;
    assert_eq!(
        agent()
            .post(format!("{}/v1/session", s.base))
            .send_empty()
            .unwrap()
            .status()
            .as_u16(),
        401
    );

    // A revoked token is refused from the next request on, without a restart (and so are
    // its sessions).
    let list = bin()
        .current_dir(&s.root)
        .args(["tokens", "list", "--data", "d", "--json"])
        .output()
        .unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let id_of = |name: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    ok(
        &s.root,
        &[
            "tokens",
            "revoke",
            "--data",
            "d",
            "--id",
            &id_of("Dr. dsmb"),
        ],
    );
    let (status, v) = s.get("/v1/views/safety", Some(&dsmb));
    assert_eq!(status, 401, "{v}");
    assert!(v["message"].as_str().unwrap().contains("revoked"), "{v}");
    let res = agent()
        .get(format!("{}/v1/views/safety", s.base))
        .header("cookie", &pair)
        .call()
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);

    // Only hashes are stored, and the access log has every granted read, naming the token's
    // id and the subject, never the token.
    let stored = std::fs::read_to_string(s.root.join("d/tokens")).unwrap();
    let logged = std::fs::read_to_string(s.root.join("d/access.log")).unwrap();
    for t in [&auditor, &sponsor, &safety, &dsmb, &hta, &own_site] {
        assert!(!stored.contains(t.as_str()) && !logged.contains(t.as_str()));
    }
    let o = bin()
        .current_dir(&s.root)
        .args(["tokens", "log", "--data", "d", "--json"])
        .output()
        .unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), granted, "{lines:?}");
    let patient_subject = format!("patient:{patient}");
    let read_by = |name: &str, route: &str| {
        lines.iter().any(|e| {
            e["name"] == name && e["route"] == route && e["subject"] == patient_subject.as_str()
        })
    };
    assert!(read_by("Dr. safety", "/v1/subjects/{subject}/trail"));
    assert!(read_by("Dr. site", "/v1/subjects/{subject}/trail"));
    assert!(read_by("Dr. auditor", "/v1/subjects/{subject}/bundle"));
    assert!(lines
        .iter()
        .all(|e| e["token"].as_str().unwrap().len() == 12));
    assert!(s.stop().success());
}

/// One Server-Sent Event.
#[derive(Clone, Debug)]
struct Sse {
    id: Option<String>,
    kind: String,
    data: serde_json::Value,
}

/// Opens the safety stream at `query` with a bearer token (and `Last-Event-ID`); a thread
/// parses events into the channel until the receiver is dropped (then the connection closes).
fn open_stream(
    base: &str,
    query: &str,
    token: &str,
    last_id: Option<&str>,
) -> std::sync::mpsc::Receiver<Sse> {
    let mut req = agent()
        .get(format!("{base}/v1/safety/stream{query}"))
        .header("authorization", format!("Bearer {token}"));
    if let Some(id) = last_id {
        req = req.header("last-event-id", id);
    }
    let res = req.call().unwrap();
    assert_eq!(res.status().as_u16(), 200, "stream {query}");
    let (tx, rx) = std::sync::mpsc::sync_channel(64);
    std::thread::spawn(move || {
        let reader = BufReader::new(res.into_body().into_reader());
        let (mut id, mut kind, mut data) = (None, String::new(), String::new());
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if line.is_empty() {
                if !data.is_empty() {
                    let ev = Sse {
                        id: id.take(),
                        kind: std::mem::take(&mut kind),
                        data: serde_json::from_str(&data).unwrap(),
                    };
                    data.clear();
                    if tx.send(ev).is_err() {
                        return;
                    }
                }
            } else if let Some(v) = line.strip_prefix("id:") {
                id = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("event:") {
                kind = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
    });
    rx
}

/// Safety events from `rx` until `caught-up` (or until `until` says enough).
fn collect(rx: &std::sync::mpsc::Receiver<Sse>, until: impl FnMut(&[Sse]) -> bool) -> Vec<Sse> {
    collect_while(rx, true, until)
}

/// Safety events from `rx` until `until` says enough (or, if `stop_at_head`, `caught-up`).
fn collect_while(
    rx: &std::sync::mpsc::Receiver<Sse>,
    stop_at_head: bool,
    mut until: impl FnMut(&[Sse]) -> bool,
) -> Vec<Sse> {
    let mut out = Vec::new();
    loop {
        let ev = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the stream went silent");
        match ev.kind.as_str() {
            "caught-up" if stop_at_head => return out,
            "caught-up" => {}
            "safety" => {
                out.push(ev);
                if until(&out) {
                    return out;
                }
            }
            other => panic!("unexpected event {other}: {:?}", ev.data),
        }
    }
}

/// (partition, seq, ae id or death) of a stream event: what makes it unique.
fn key(e: &Sse) -> (u64, u64, String, i64) {
    (
        e.data["partition"].as_u64().unwrap(),
        e.data["seq"].as_u64().unwrap(),
        e.data["patient"].as_str().unwrap().to_string(),
        e.data["ae_id"].as_i64().unwrap_or(-1),
    )
}

/// Events are in the ledger's merged order: (ordering time, partition, seq) never goes back.
fn assert_merged_order(events: &[Sse]) {
    let place = |e: &Sse| {
        (
            tl_schemas::UtcMicros::parse_rfc3339(e.data["ordering_time"].as_str().unwrap())
                .unwrap()
                .0,
            e.data["partition"].as_u64().unwrap(),
            e.data["seq"].as_u64().unwrap(),
        )
    };
    for w in events.windows(2) {
        assert!(
            place(&w[0]) <= place(&w[1]),
            "out of order: {:?} then {:?}",
            w[0].data,
            w[1].data
        );
    }
}

#[test]
fn the_safety_stream_delivers_every_event_once_in_order_across_reconnects_and_restarts() {
    const BURST: usize = 1000;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    ok(
        &root,
        &["demo", "--data", "d", "--patients", "40", "--seed", "7"],
    );
    ok(
        &root,
        &[
            "keys",
            "new",
            "--name",
            "Dr. I. Investigator",
            "--role",
            "investigator",
            "--out",
            "inv.key",
        ],
    );
    ok(&root, &["keys", "enrol", "--data", "d", "inv.key.pub.json"]);
    ok(&root, &["view", "enrollment", "--data", "d", "--json"]);
    let key_file = tl_ledger::keyfile::read_key_file(&root.join("inv.key"), PASS).unwrap();
    let investigator = SigningKey::new(key_file.signing_key);
    let trial = TrialId::new("drup-demo").unwrap();
    let (server, base) = serve(&root);
    let mut server = KillOnDrop(server);
    let safety = token(&root, &["--name", "Dr. S. Safety", "--role", "safety"]);
    let sponsor = token(&root, &["--name", "Dr. S. Sponsor", "--role", "sponsor"]);
    let db = rusqlite::Connection::open(root.join("d/views/enrollment.sqlite")).unwrap();
    let patients: Vec<String> = db
        .prepare("SELECT patient FROM patients WHERE enrolled_cohort IS NOT NULL AND died = 0 AND withdrawn_on IS NULL ORDER BY patient")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();

    // The stream needs a fitting role: no token 401, the sponsor 403.
    let res = agent()
        .get(format!("{base}/v1/safety/stream"))
        .call()
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    let res = agent()
        .get(format!("{base}/v1/safety/stream"))
        .header("authorization", format!("Bearer {sponsor}"))
        .call()
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);

    // The demo's history first.
    let history = collect(&open_stream(&base, "", &safety, None), |_| false);
    assert!(!history.is_empty());
    assert_merged_order(&history);
    let start = history.last().unwrap().id.clone().unwrap();

    // A burst of 1,000 adverse events from 4 clients, while a reader follows it, drops its
    // connection part-way and comes back with Last-Event-ID.
    let bodies: Vec<Vec<u8>> = (0..BURST)
        .map(|i| {
            let json = format!(
                r#"{{"event":"AdverseEventReported","subject":"patient:{}","payload":{{"ae_id":{},"ctcae_term":"Fatigue","grade":{},"serious":[],"expected":true,"attribution":"Possible","onset":{{"Full":"2025-03-01"}},"awareness":"2025-03-02","outcome":"Ongoing"}}}}"#,
                patients[i % patients.len()],
                1000 + i,
                1 + i % 3
            );
            let parsed = trial_ledger::cli::event_json::parse(&json).unwrap();
            encode(&parsed.draft.sign(&trial, &investigator))
        })
        .collect();
    let first = open_stream(&base, "", &safety, Some(&start));
    let mut seen: Vec<Sse> = Vec::new();
    std::thread::scope(|scope| {
        for chunk in bodies.chunks(BURST / 4) {
            let base = &base;
            scope.spawn(move || {
                for b in chunk {
                    let res = agent()
                        .post(format!("{base}/v1/submissions"))
                        .header("content-type", "application/octet-stream")
                        .send(b);
                    let (status, v) = answer(res);
                    assert_eq!(status, 201, "{v}");
                }
            });
        }
        seen = collect_while(&first, false, |got| got.len() >= 300);
        drop(first);
        let last = seen.last().unwrap().id.clone().unwrap();
        let again = open_stream(&base, "", &safety, Some(&last));
        let mut rest = collect_while(&again, false, |got| {
            got.iter()
                .filter(|e| e.data["ae_id"].as_u64().is_some_and(|a| a >= 1000))
                .count()
                + 300
                >= BURST
        });
        seen.append(&mut rest);
    });
    let keys: Vec<_> = seen.iter().map(key).collect();
    let unique: std::collections::BTreeSet<_> = keys.iter().cloned().collect();
    assert_eq!(unique.len(), keys.len(), "an event came twice");
    assert_merged_order(&seen);
    let new_aes: std::collections::BTreeSet<(String, i64)> = seen
        .iter()
        .filter(|e| e.data["ae_id"].as_i64().is_some_and(|a| a >= 1000))
        .map(|e| {
            (
                e.data["patient"].as_str().unwrap().to_string(),
                e.data["ae_id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        new_aes.len(),
        BURST,
        "every adverse event of the burst, once"
    );
    for e in &seen {
        for field in [
            "record_hash",
            "cohort",
            "term",
            "grade",
            "serious",
            "susar",
            "patient",
            "drug",
        ] {
            assert!(e.data.get(field).is_some(), "{field} missing: {:?}", e.data);
        }
    }

    // Across a restart: a client back with an id from the middle gets exactly what followed.
    let pid = server.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(server.0.wait().unwrap().success());
    let (server, base) = serve(&root);
    let mut server = KillOnDrop(server);
    let middle = seen[seen.len() / 2].id.clone().unwrap();
    let resumed = collect(&open_stream(&base, "", &safety, Some(&middle)), |_| false);
    let expected: Vec<_> = seen[seen.len() / 2 + 1..]
        .iter()
        .map(|e| (e.id.clone(), key(e)))
        .collect();
    let got: Vec<_> = resumed.iter().map(|e| (e.id.clone(), key(e))).collect();
    assert_eq!(got, expected, "resumed after a restart");

    // Filters deliver exactly the matching adverse events: folded, the stream holds the safety
    // view's counts by cohort, drug, term and grade.
    let cohort: String = db
        .query_row("SELECT enrolled_cohort FROM patients WHERE enrolled_cohort IS NOT NULL GROUP BY enrolled_cohort ORDER BY COUNT(*) DESC LIMIT 1", [], |r| r.get(0))
        .unwrap();
    let fold = |query: &str| {
        let events = collect(&open_stream(&base, query, &safety, None), |_| false);
        let mut state: std::collections::BTreeMap<(String, i64), serde_json::Value> =
            Default::default();
        for e in events.iter().filter(|e| e.data["kind"] != "death") {
            let k = (
                e.data["patient"].as_str().unwrap().to_string(),
                e.data["ae_id"].as_i64().unwrap(),
            );
            if e.data["retract"] == true {
                state.remove(&k);
            } else {
                state.insert(k, e.data.clone());
            }
        }
        let mut counts: std::collections::BTreeMap<(String, String, String, i64), (i64, i64)> =
            Default::default();
        for v in state.values() {
            let c = counts
                .entry((
                    v["cohort"].to_string(),
                    v["drug"].to_string(),
                    v["term"].as_str().unwrap().to_string(),
                    v["grade"].as_i64().unwrap(),
                ))
                .or_default();
            c.0 += 1;
            c.1 += i64::from(v["serious"] == true);
        }
        counts
    };
    let view = |query: &str| {
        let res = agent()
            .get(format!("{base}/v1/views/safety{query}"))
            .header("authorization", format!("Bearer {safety}"))
            .call();
        answer(res).1
    };
    let rows = |v: &serde_json::Value, keep: &dyn Fn(&serde_json::Value) -> bool| {
        let mut out: std::collections::BTreeMap<(String, String, String, i64), (i64, i64)> =
            Default::default();
        for r in v["by_term"].as_array().unwrap().iter().filter(|r| keep(r)) {
            out.insert(
                (
                    r["cohort"].to_string(),
                    r["drug"].to_string(),
                    r["ctcae_term"].as_str().unwrap().to_string(),
                    r["grade"].as_i64().unwrap(),
                ),
                (
                    r["events"].as_i64().unwrap(),
                    r["serious"].as_i64().unwrap(),
                ),
            );
        }
        out
    };
    let by_cohort = fold(&format!("?cohort={cohort}&min_grade=3"));
    let expected = rows(&view(&format!("?cohort={cohort}")), &|r| {
        r["grade"].as_i64().unwrap() >= 3
    });
    assert!(!expected.is_empty());
    assert_eq!(by_cohort, expected, "cohort {cohort}, grade >= 3");
    let serious = fold("?serious=true");
    let expected: std::collections::BTreeMap<_, _> =
        rows(&view(""), &|r| r["serious"].as_i64().unwrap() > 0)
            .into_iter()
            .map(|(k, (_, s))| (k, (s, s)))
            .collect();
    assert_eq!(serious, expected, "serious only");
    let everything = fold("");
    assert_eq!(everything, rows(&view(""), &|_| true), "no filter");
    // A cursor this stream did not give, or a grade CTCAE does not have, is a 400.
    for (query, last_id) in [
        ("", Some("p0:x")),
        ("?min_grade=9", None),
        ("?colour=red", None),
    ] {
        let mut req = agent()
            .get(format!("{base}/v1/safety/stream{query}"))
            .header("authorization", format!("Bearer {safety}"));
        if let Some(id) = last_id {
            req = req.header("last-event-id", id);
        }
        let (status, v) = answer(req.call());
        assert_eq!(
            (status, v["code"].as_str()),
            (400, Some("bad-request")),
            "{query} {last_id:?}: {v}"
        );
    }
    // An unknown cohort in a filter is refused with 404.
    let res = agent()
        .get(format!("{base}/v1/safety/stream?cohort=NO.SUCH"))
        .header("authorization", format!("Bearer {safety}"))
        .call()
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
    let pid = server.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(
        server.0.wait().unwrap().success(),
        "serve stops with streams open"
    );
}

#[test]
fn tokens_refuses_bad_input_with_a_clear_error_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir(root.join("d")).unwrap();
    let issued = token(root, &["--name", "Dr. A. Safety", "--role", "safety"]);
    let before = std::fs::read(root.join("d/tokens")).unwrap();
    for (args, says) in [
        (
            vec!["new", "--data", "d", "--name", "X", "--role", "boss"],
            "not an API role",
        ),
        (
            vec!["new", "--data", "d", "--name", "X", "--role", "site"],
            "needs --site",
        ),
        (
            vec![
                "new",
                "--data",
                "d",
                "--name",
                "X",
                "--role",
                "hta",
                "--expires",
                "2027-13-01",
            ],
            "not a date",
        ),
        (
            vec![
                "new", "--data", "d", "--name", "X", "--role", "hta", "--cohort", "a b",
            ],
            "--cohort",
        ),
        (
            vec!["new", "--data", "nowhere", "--name", "X", "--role", "hta"],
            "not a folder",
        ),
        (vec!["revoke", "--data", "d", "--id", "nope"], "no token"),
    ] {
        let o = bin()
            .current_dir(root)
            .arg("tokens")
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(o.stdout.is_empty(), "{args:?} printed a token");
    }
    assert_eq!(std::fs::read(root.join("d/tokens")).unwrap(), before);
    let o = bin()
        .current_dir(root)
        .args(["tokens", "list", "--data", "d"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("Dr. A. Safety") && table.contains("valid"),
        "{table}"
    );
    assert!(!table.contains(&issued));
}

/// `tokens new` run many times at once keeps every token: each one holds the token file's lock
/// while it reads, adds and renames (before the lock, two runs could read the same list and the
/// later rename dropped the earlier token).
#[test]
fn tokens_issued_at_the_same_time_are_all_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir(root.join("d")).unwrap();
    let n = 12;
    let texts: Vec<String> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..n)
            .map(|i| {
                s.spawn(move || token(root, &["--name", &format!("Reader {i}"), "--role", "hta"]))
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let o = bin()
        .current_dir(root)
        .args(["tokens", "list", "--data", "d", "--json"])
        .output()
        .unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: std::collections::BTreeSet<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), n, "tokens lost: {names:?}");
    let distinct: std::collections::BTreeSet<&String> = texts.iter().collect();
    assert_eq!(distinct.len(), n);
}

/// Opens the safety stream with `token` on a raw connection; its status, and the connection
/// (held open: dropping it closes the stream).
fn raw_stream(base: &str, token: &str) -> (u16, std::net::TcpStream) {
    use std::io::{Read, Write};
    let addr = base.strip_prefix("http://").unwrap();
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    c.write_all(
        format!(
            "GET /v1/safety/stream HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        c.read_exact(&mut byte).expect("the answer's head");
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    (status, c)
}

#[test]
fn a_token_holds_at_most_its_limit_of_streams_and_a_closed_one_frees_its_place() {
    const LIMIT: usize = 3;
    let mut s = Served::start_with(&["--max-streams-per-token", &LIMIT.to_string()]);
    let safety = token(&s.root, &["--name", "Dr. S. Safety", "--role", "safety"]);
    let board = token(&s.root, &["--name", "Dr. D. Board", "--role", "dsmb"]);
    let one_more = |t: &str| {
        answer(
            agent()
                .get(format!("{}/v1/safety/stream", s.base))
                .header("authorization", format!("Bearer {t}"))
                .call(),
        )
    };
    // A token opens its limit of streams,
    let mut open: Vec<std::net::TcpStream> = (0..LIMIT)
        .map(|i| {
            let (status, c) = raw_stream(&s.base, &safety);
            assert_eq!(status, 200, "stream {i}");
            c
        })
        .collect();
    // and one more is refused with 429 and the JSON error,
    let (status, v) = one_more(&safety);
    assert_eq!(
        (status, v["code"].as_str()),
        (429, Some("too-many-streams")),
        "{v}"
    );
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{LIMIT} open")),
        "{v}"
    );
    // while another token is not affected.
    let (status, other) = raw_stream(&s.base, &board);
    assert_eq!(status, 200, "another token's stream");
    // Closing one of the token's streams frees its place (once the server sees the connection
    // gone): a new one is accepted, and the next is refused again.
    drop(open.pop());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let reopened = loop {
        let (status, c) = raw_stream(&s.base, &safety);
        if status == 200 {
            break c;
        }
        assert_eq!(status, 429);
        assert!(
            std::time::Instant::now() < deadline,
            "a closed stream's place was not freed within 10 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    open.push(reopened);
    let (status, v) = one_more(&safety);
    assert_eq!(
        (status, v["code"].as_str()),
        (429, Some("too-many-streams")),
        "{v}"
    );
    // Refused streams are not logged as reads: the access log has one granted stream per
    // stream opened.
    let logged = std::fs::read_to_string(s.root.join("d/access.log")).unwrap();
    let streams: Vec<serde_json::Value> = logged
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["route"] == "/v1/safety/stream")
        .collect();
    assert_eq!(streams.len(), LIMIT + 2, "{logged}");
    assert!(streams.iter().all(|e| e["status"] == 200), "{logged}");
    // The server stops with the streams open.
    assert!(s.stop().success());
    drop((open, other));
}

/// A SIGTERM sent the moment `serve` names its address stops it cleanly: the signal handlers
/// are in place before the address is printed (before, they were installed when the shutdown
/// future was first polled, and a signal in between killed the process outright). Repeated,
/// because the window was short.
#[test]
fn a_sigterm_right_after_the_address_is_printed_stops_the_server_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    ok(root, &["init", "--data", "d", "--trial", "api-test"]);
    for round in 0..10 {
        let mut child = bin()
            .current_dir(root)
            .args(["serve", "--data", "d", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("listening on "), "{line:?}");
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "round {round}: {:?} {stderr}",
            out.status
        );
        assert!(
            stderr.contains("stopped; the ledger is closed."),
            "{stderr}"
        );
    }
}

/// Every count of the safety tables, as `(where, n, cell key)`.
fn table_counts(t: &serde_json::Value) -> Vec<(String, u64, Option<String>)> {
    let mut out = Vec::new();
    let mut push = |what: String, c: &serde_json::Value| {
        out.push((
            what,
            c["n"].as_u64().unwrap(),
            c["cell"].as_str().map(str::to_string),
        ));
    };
    for c in t["columns"].as_array().unwrap() {
        push(format!("treated {}", c["key"]), &c["treated"]);
    }
    for table in ["overview", "death_causes"] {
        for row in t[table].as_array().unwrap() {
            for c in row["cells"].as_array().unwrap() {
                push(format!("{table} {}{}", row["row"], row["cause"]), c);
            }
        }
    }
    for row in t["by_term"].as_array().unwrap() {
        for c in row["cells"].as_array().unwrap() {
            for which in ["all", "related"] {
                for band in ["any_grade", "grade_1_2", "grade_3_4", "grade_5"] {
                    push(
                        format!("{} {} {which} {band}", row["soc"], row["term"]),
                        &c[which][band],
                    );
                }
            }
        }
    }
    for row in t["rates"].as_array().unwrap() {
        for c in row["cells"].as_array().unwrap() {
            let n = c["patients_with_event"].clone();
            push(
                format!("rates {}", row["row"]),
                &serde_json::json!({"n": n, "cell": c["cell"]}),
            );
        }
    }
    out
}

#[test]
fn the_safety_tables_over_http_are_view_safety_json_and_every_count_resolves_to_its_patients() {
    let mut s = DemoServed::start("40");
    let root = s.root.clone();
    let safety = token(&root, &["--name", "S. Afety", "--role", "safety"]);
    let dsmb = token(&root, &["--name", "D. Board", "--role", "dsmb"]);
    let hta = token(&root, &["--name", "H. Ta", "--role", "hta"]);
    let (status, all) = s.get("/v1/views/safety/tables", Some(&safety));
    assert_eq!(status, 200, "{all}");
    let cohort = all["columns"][0]["cohort"].as_str().unwrap().to_string();
    let (status, one) = s.get(
        &format!("/v1/views/safety/tables?cohort={cohort}"),
        Some(&safety),
    );
    assert_eq!(status, 200, "{one}");
    let (_, view) = s.get("/v1/views/safety", Some(&safety));
    // Every count of one cohort's tables names a cell listing exactly its patients.
    let counts = table_counts(&one);
    assert!(counts.iter().filter(|c| c.1 > 0).count() > 10, "{one}");
    for (what, n, cell) in &counts {
        let Some(key) = cell else {
            assert_eq!(*n, 0, "{what} has patients but no cell");
            continue;
        };
        let q = format!("cell={}&cohort={cohort}", enc_query(key));
        let (status, c) = s.get(&format!("/v1/views/safety/tables/cells?{q}"), Some(&safety));
        assert_eq!(status, 200, "{what}: {c}");
        assert_eq!(c["n"].as_u64(), Some(*n), "{what}");
        assert_eq!(c["patients"].as_array().unwrap().len() as u64, *n, "{what}");
        assert!(!c["records"].as_array().unwrap().is_empty(), "{what}");
    }
    // The whole trial's overview cells too, and their records are of the kinds counted.
    let auditor = token(&root, &["--name", "A. Auditor", "--role", "auditor"]);
    for (what, n, cell) in table_counts(&all)
        .iter()
        .filter(|c| c.0.starts_with("overview"))
    {
        let Some(key) = cell else { continue };
        let (_, c) = s.get(
            &format!("/v1/views/safety/tables/cells?cell={}", enc_query(key)),
            Some(&safety),
        );
        assert_eq!(c["patients"].as_array().unwrap().len() as u64, *n, "{what}");
        let r = &c["records"][0];
        let path = format!(
            "/v1/partitions/{}/records/{}/decoded",
            r["partition"], r["seq"]
        );
        let (_, d) = s.get(&path, Some(&auditor));
        let event = d["submission"]["event"].as_str().unwrap().to_string();
        let want: &[&str] = if what.contains("dose_modification") {
            &["DoseModified"]
        } else if what.contains("discontinuation") {
            &["DoseModified", "TreatmentEnded"]
        } else if what.contains("death_within") {
            &["DeathRecorded"]
        } else {
            &["AdverseEventReported", "AdverseEventUpdated"]
        };
        assert!(want.contains(&event.as_str()), "{what}: {event}");
    }
    // Each SUSAR of the view has its case row, with the same first due date.
    let clocks = all["clocks"].as_array().unwrap();
    for susar in view["susars"].as_array().unwrap() {
        let row = clocks
            .iter()
            .find(|c| c["patient"] == susar["patient"] && c["ae_id"] == susar["ae_id"])
            .unwrap_or_else(|| panic!("no clock row for {susar}"));
        assert_eq!(row["susar_clocks"][0]["due"], susar["due"], "{row}");
        assert_eq!(row["reported_at"], serde_json::Value::Null);
        assert_eq!(row["expectedness_by"], "investigator");
    }
    // The board sees aggregates only; hta nothing; an unknown cell is 404.
    let (status, board) = s.get("/v1/views/safety/tables", Some(&dsmb));
    assert_eq!(status, 200);
    assert!(
        board["deaths"].is_null() && board["clocks"].is_null(),
        "{board}"
    );
    assert_eq!(board["overview"], all["overview"]);
    let key = one["columns"][0]["treated"]["cell"].as_str().unwrap();
    let (_, c) = s.get(
        &format!("/v1/views/safety/tables/cells?cell={}", enc_query(key)),
        Some(&dsmb),
    );
    assert!(
        c["patients"].is_null() && c["n"].as_u64().unwrap() > 0,
        "{c}"
    );
    let (status, _) = s.get("/v1/views/safety/tables", Some(&hta));
    assert_eq!(status, 403);
    let (status, v) = s.get("/v1/views/safety/tables/cells?cell=nothing", Some(&safety));
    assert_eq!((status, v["code"].as_str()), (404, Some("not-found")));
    // As of the cut of the latest published checkpoints, the tables are the live ones (the
    // demo published a checkpoint over every record), and an empty cut has no columns.
    let (_, cps) = s.get("/v1/checkpoints", None);
    let sizes: Vec<(u64, u64)> = cps["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let size = c["checkpoint"]
                .as_str()
                .map_or(0, |t| t.lines().nth(1).unwrap().parse::<u64>().unwrap());
            (c["partition"].as_u64().unwrap(), size)
        })
        .collect();
    let cut = |f: &dyn Fn(u64) -> u64| {
        let parts: Vec<String> = sizes
            .iter()
            .map(|(p, n)| format!("p{p}:{}", f(*n)))
            .collect();
        parts.join(",")
    };
    let (status, then) = s.get(
        &format!("/v1/views/safety/tables?at={}", cut(&|n| n)),
        Some(&safety),
    );
    assert_eq!(status, 200, "{then}");
    assert_eq!(then["overview"], all["overview"]);
    assert_eq!(then["clocks"], all["clocks"]);
    let (status, empty) = s.get(
        &format!("/v1/views/safety/tables?at={}", cut(&|_| 0)),
        Some(&safety),
    );
    assert_eq!(status, 200, "{empty}");
    assert_eq!(empty["columns"], serde_json::json!([]));
    assert!(s.stop().success());
    // The CLI prints the same tables.
    let strip = |mut v: serde_json::Value| {
        for k in ["view", "lag", "freshness"] {
            v.as_object_mut().unwrap().remove(k);
        }
        v
    };
    let cli = |args: &[&str]| -> serde_json::Value {
        let o = bin().current_dir(&root).args(args).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["tables"].clone()
    };
    assert_eq!(
        strip(all),
        cli(&["view", "safety", "--data", "d", "--json"])
    );
    let mine = cli(&[
        "view", "safety", "--data", "d", "--json", "--cohort", &cohort,
    ]);
    assert_eq!(strip(one), mine);
}

fn enc_query(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The counts of the enrollment or dossier view (`view`, as served) by their documented cell
/// keys (README, "API"), read from where each number is in the view's JSON.
fn view_counts(name: &str, view: &serde_json::Value) -> std::collections::BTreeMap<String, u64> {
    let esc = |s: &str| s.replace('%', "%25").replace('|', "%7C");
    let mut out = std::collections::BTreeMap::new();
    let mut put = |k: String, v: &serde_json::Value| {
        let n = v
            .as_u64()
            .unwrap_or_else(|| panic!("{k}: {v} is not a count"));
        out.insert(k, n);
    };
    if name == "enrollment" {
        for f in [
            "registered",
            "sequenced",
            "matched",
            "mtb_approved",
            "slot",
            "enrolled",
            "treated",
        ] {
            put(format!("funnel|{f}"), &view["funnel"][f]);
        }
        put(
            "sequencing_to_first_dose_n".into(),
            &view["sequencing_to_first_dose_n"],
        );
        // Counts of suspect rows are in the views (and have cells) only when not 0.
        if !view["funnel"]["suspect_rows"].is_null() {
            put(
                "funnel|suspect_rows".into(),
                &view["funnel"]["suspect_rows"],
            );
        }
        for c in view["cohorts"].as_array().unwrap() {
            let id = esc(c["cohort"].as_str().unwrap());
            for f in [
                "slots",
                "refused",
                "enrolled",
                "treated",
                "evaluable",
                "benefits",
            ] {
                put(format!("cohort|{id}|{f}"), &c[f]);
            }
            if !c["suspect_rows"].is_null() {
                put(format!("cohort|{id}|suspect_rows"), &c["suspect_rows"]);
            }
        }
    } else {
        let figures = [
            "treated",
            "evaluable",
            "clinical_benefit",
            "objective_response",
            "grade3plus_trae",
            "exceptional_responders",
            "disagreements",
        ];
        let mut groups = vec![("trial".to_string(), view["trial"].clone())];
        for c in view["cohorts"].as_array().unwrap() {
            let id = esc(c["cohort"].as_str().unwrap());
            groups.push((format!("cohort|{id}"), c["summary"].clone()));
        }
        for (prefix, s) in groups {
            for f in figures {
                put(format!("{prefix}|{f}"), &s[f]);
            }
            if !s["suspect_rows"].is_null() {
                put(format!("{prefix}|suspect_rows"), &s["suspect_rows"]);
            }
            // The proportions' counts and denominators are those cells too.
            for (p, count, of) in [
                (
                    "clinical_benefit_evaluable",
                    "clinical_benefit",
                    "evaluable",
                ),
                ("clinical_benefit_treated", "clinical_benefit", "treated"),
                (
                    "objective_response_evaluable",
                    "objective_response",
                    "evaluable",
                ),
                (
                    "objective_response_treated",
                    "objective_response",
                    "treated",
                ),
            ] {
                assert_eq!(s[p]["count"], s[count], "{prefix} {p}");
                assert_eq!(s[p]["of"], s[of], "{prefix} {p}");
            }
        }
    }
    out
}

#[test]
fn every_count_of_the_enrollment_and_dossier_views_resolves_to_its_records() {
    let mut s = DemoServed::start("40");
    let root = s.root.clone();
    let issue = |role: &str, extra: &[&str]| {
        let name = format!("Dr. {role}");
        let mut args = vec!["--name", name.as_str(), "--role", role];
        args.extend_from_slice(extra);
        token(&root, &args)
    };
    let (auditor, sponsor, hta, dsmb) = (
        issue("auditor", &[]),
        issue("sponsor", &[]),
        issue("hta", &[]),
        issue("dsmb", &[]),
    );
    // Every record any cell names, with its hash and patient, checked against the ledger once.
    type Named = (String, String, std::collections::BTreeSet<String>);
    let mut named: std::collections::BTreeMap<(u64, u64), Named> = Default::default();
    let mut nonzero = 0;
    for name in ["enrollment", "dossier"] {
        let (status, view) = s.get(&format!("/v1/views/{name}"), Some(&sponsor));
        assert_eq!(status, 200, "{view}");
        // The view names a cell for exactly its counts, each with the count it reports.
        let counts = view_counts(name, &view);
        let listed: std::collections::BTreeMap<String, u64> =
            serde_json::from_value(view["cells"].clone()).unwrap();
        assert_eq!(
            listed, counts,
            "{name}: the cells listed are not the view's counts"
        );
        for (key, n) in &counts {
            let path = format!("/v1/views/{name}/cells?cell={}", enc_query(key));
            let (status, c) = s.get(&path, Some(&sponsor));
            assert_eq!(status, 200, "{name} {key}: {c}");
            assert_eq!(c["n"].as_u64(), Some(*n), "{name} {key}");
            let records = c["records"].as_array().unwrap();
            let patients: std::collections::BTreeSet<String> =
                serde_json::from_value(c["patients"].clone()).unwrap();
            let of_records: std::collections::BTreeSet<String> = records
                .iter()
                .map(|r| r["patient"].as_str().unwrap().to_string())
                .collect();
            // Each patient counted has a record behind it, and each record is a counted
            // patient's; a count of records counts each once.
            assert_eq!(of_records, patients, "{name} {key}");
            match c["counts"].as_str().unwrap() {
                "patients" => assert_eq!(patients.len() as u64, *n, "{name} {key}"),
                "records" => assert_eq!(records.len() as u64, *n, "{name} {key}"),
                other => panic!("{name} {key}: counts {other}"),
            }
            if *n > 0 {
                nonzero += 1;
                assert!(!records.is_empty(), "{name} {key}");
            }
            let figure = key.rsplit('|').next().unwrap().to_string();
            for r in records {
                let at = (r["partition"].as_u64().unwrap(), r["seq"].as_u64().unwrap());
                let (hash, patient) = (r["hash"].as_str().unwrap(), r["patient"].as_str().unwrap());
                let entry = named
                    .entry(at)
                    .or_insert_with(|| (hash.to_string(), patient.to_string(), Default::default()));
                assert_eq!(
                    (entry.0.as_str(), entry.1.as_str()),
                    (hash, patient),
                    "{at:?}"
                );
                entry.2.insert(figure.clone());
            }
        }
    }
    assert!(nonzero > 40, "only {nonzero} counts above 0");
    // Each record is in the ledger at that position, with that hash, about that patient.
    // The kinds of record each figure rests on (a correction may stand for any).
    let kinds = |figure: &str| -> &[&str] {
        match figure {
            "registered" => &["PatientRegistered"],
            "sequenced" => &["SequencingResultReported"],
            "matched" => &["MatchProposed"],
            "mtb_approved" => &["MatchDecided"],
            "slot" | "slots" => &["SlotAssigned"],
            "refused" => &["SlotRefused"],
            "enrolled" => &["PatientEnrolled"],
            "treated" => &["DoseAdministered"],
            "sequencing_to_first_dose_n" => &["SequencingResultReported", "DoseAdministered"],
            "grade3plus_trae" => &["AdverseEventReported", "AdverseEventUpdated"],
            "disagreements" => &["ResponseAssessed"],
            "exceptional_responders" => &[
                "DoseAdministered",
                "ResponseAssessed",
                "DeathRecorded",
                "SurvivalStatusRecorded",
                "TreatmentEnded",
            ],
            _ => &["DoseAdministered", "ResponseAssessed"],
        }
    };
    for ((p, seq), (hash, patient, figures)) in &named {
        let (status, d) = s.get(
            &format!("/v1/partitions/{p}/records/{seq}/decoded"),
            Some(&auditor),
        );
        assert_eq!(status, 200, "{p}/{seq}: {d}");
        assert_eq!(d["record"]["record_hash"].as_str(), Some(hash.as_str()));
        let sub = &d["submission"];
        assert!(
            sub["subject"] == format!("patient:{patient}") || sub["payload"]["patient"] == *patient,
            "{p}/{seq} is not about {patient}: {sub}"
        );
        let event = sub["event"].as_str().unwrap();
        for f in figures.iter().filter(|f| *f != "suspect_rows") {
            assert!(
                event == "Corrected" || kinds(f).contains(&event),
                "{p}/{seq} is a {event}, behind {f}"
            );
        }
    }

    // A cohort's view and cells agree too, and a frozen cut of the latest checkpoints (the
    // demo published one over every record) has the live cells; an empty cut has zeros.
    let (_, all) = s.get("/v1/views/enrollment", Some(&sponsor));
    let cohort = all["cohorts"][0]["cohort"].as_str().unwrap().to_string();
    for name in ["enrollment", "dossier"] {
        let (status, one) = s.get(&format!("/v1/views/{name}?cohort={cohort}"), Some(&sponsor));
        assert_eq!(status, 200, "{one}");
        assert_eq!(
            serde_json::from_value::<std::collections::BTreeMap<String, u64>>(one["cells"].clone())
                .unwrap(),
            view_counts(name, &one)
        );
        for (key, n) in view_counts(name, &one) {
            let path = format!(
                "/v1/views/{name}/cells?cell={}&cohort={cohort}",
                enc_query(&key)
            );
            let (status, c) = s.get(&path, Some(&sponsor));
            assert_eq!((status, c["n"].as_u64()), (200, Some(n)), "{path}: {c}");
        }
    }
    let (_, cps) = s.get("/v1/checkpoints", None);
    let sizes: Vec<(u64, u64)> = cps["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let size = c["checkpoint"]
                .as_str()
                .map_or(0, |t| t.lines().nth(1).unwrap().parse::<u64>().unwrap());
            (c["partition"].as_u64().unwrap(), size)
        })
        .collect();
    let cut = |f: &dyn Fn(u64) -> u64| {
        let parts: Vec<String> = sizes
            .iter()
            .map(|(p, n)| format!("p{p}:{}", f(*n)))
            .collect();
        parts.join(",")
    };
    let (_, live) = s.get("/v1/views/dossier", Some(&hta));
    let (status, then) = s.get(&format!("/v1/views/dossier?at={}", cut(&|n| n)), Some(&hta));
    assert_eq!(status, 200, "{then}");
    assert_eq!(then["cells"], live["cells"]);
    let path = format!(
        "/v1/views/enrollment/cells?cell=funnel%7Cregistered&at={}",
        cut(&|n| n)
    );
    let (status, c) = s.get(&path, Some(&auditor));
    assert_eq!(
        (status, &c["n"]),
        (200, &all["funnel"]["registered"]),
        "{c}"
    );
    let path = format!(
        "/v1/views/enrollment/cells?cell=funnel%7Cregistered&at={}",
        cut(&|_| 0)
    );
    let (status, c) = s.get(&path, Some(&auditor));
    assert_eq!((status, c["n"].as_u64()), (200, Some(0)), "{c}");
    assert_eq!(c["records"], serde_json::json!([]));

    // The view's access rules: hta reads the dossier's cells without patients, not the
    // enrollment's; dsmb neither; no token 401; a site token 403.
    let (status, c) = s.get("/v1/views/dossier/cells?cell=trial%7Ctreated", Some(&hta));
    assert_eq!(status, 200, "{c}");
    assert!(
        c["n"].as_u64().unwrap() > 0 && c["patients"].is_null(),
        "{c}"
    );
    assert!(
        c["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["patient"].is_null()),
        "{c}"
    );
    let site = issue("site", &["--site", "NKI-AVL"]);
    for (path, token, status) in [
        (
            "/v1/views/enrollment/cells?cell=funnel%7Cenrolled",
            Some(&hta),
            403,
        ),
        (
            "/v1/views/enrollment/cells?cell=funnel%7Cenrolled",
            Some(&dsmb),
            403,
        ),
        (
            "/v1/views/dossier/cells?cell=trial%7Ctreated",
            Some(&dsmb),
            403,
        ),
        (
            "/v1/views/dossier/cells?cell=trial%7Ctreated",
            Some(&site),
            403,
        ),
        ("/v1/views/dossier/cells?cell=trial%7Ctreated", None, 401),
    ] {
        let (got, v) = s.get(path, token.map(String::as_str));
        assert_eq!(got, status, "{path}: {v}");
        assert!(v["code"].is_string() && v["message"].is_string(), "{v}");
    }
    // Bad requests: a clear JSON 4xx each.
    for (path, status, code) in [
        ("/v1/views/enrollment/cells?cell=nothing", 404, "not-found"),
        (
            "/v1/views/dossier/cells?cell=funnel%7Cenrolled",
            404,
            "not-found",
        ),
        (
            "/v1/views/dossier/cells?cell=trial%7Ctreated&cohort=NO.SUCH",
            404,
            "not-found",
        ),
        ("/v1/views/enrollment/cells", 400, "bad-request"),
        (
            "/v1/views/enrollment/cells?cell=funnel%7Cslot&at=zz",
            400,
            "bad-request",
        ),
        (
            "/v1/views/enrollment/cells?cell=funnel%7Cslot&color=red",
            400,
            "bad-request",
        ),
    ] {
        let (got, v) = s.get(path, Some(&auditor));
        assert_eq!(
            (got, v["code"].as_str()),
            (status, Some(code)),
            "{path}: {v}"
        );
        assert!(!v["message"].as_str().unwrap().is_empty(), "{v}");
    }
    // A view is gzip-compressed for a client that accepts it; the safety stream never is
    // (compression would hold its events back).
    let head = |path: &str| {
        raw(
            &s.base,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {auditor}\r\n\
                 Accept-Encoding: gzip\r\nConnection: close\r\n\r\n"
            ),
            b"",
            std::time::Duration::from_secs(3),
        )
        .to_ascii_lowercase()
    };
    let got = head("/v1/views/dossier");
    assert!(
        got.contains("content-encoding: gzip"),
        "{}",
        &got[..got.len().min(400)]
    );
    let got = head("/v1/safety/stream");
    let got = &got[..got.find("\r\n\r\n").unwrap()];
    assert!(got.contains("text/event-stream"), "{got}");
    assert!(!got.contains("content-encoding"), "{got}");
    // Cell reads are in the access log.
    let log = std::fs::read_to_string(root.join("d/access.log")).unwrap();
    assert!(log.contains("/v1/views/enrollment/cells") && log.contains("/v1/views/dossier/cells"));
    assert!(s.stop().success());
}
