//! `trial-ledger up --data DIR --demo`: the real binary fills a new folder with the demo trial
//! and serves it with the sequencer, the deciders, the projector and the API in one process;
//! a submission through the API gets its receipt, reaches the views and sets the matcher
//! deciding; SIGTERM during a burst stops everything cleanly, every acknowledged record is in
//! the ledger, and the ledger then verifies.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tl_ledger::SigningKey;
use tl_schemas::{encode, TrialId};

/// The binary with no passphrase at all: `up --demo` needs none.
fn bin(root: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trial-ledger"));
    c.current_dir(root)
        .env("TRIAL_LEDGER_SCRYPT_LOG_N", "10")
        .env_remove("TRIAL_LEDGER_PASSPHRASE")
        .env_remove("TRIAL_LEDGER_ROOT_PASSPHRASE")
        .env_remove("TRIAL_LEDGER_SEQUENCER_PASSPHRASE")
        .env_remove("TRIAL_LEDGER_DATA")
        .stdin(Stdio::null());
    c
}

/// Kills the server if the test fails before stopping it.
struct Up(Child);

impl Drop for Up {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts `up --demo` and returns it with the API's base URL, read from its output (the rest
/// of which is drained on a thread, so the pipe never fills).
fn start(root: &Path) -> (Up, String) {
    let mut child = bin(root)
        .args([
            "up",
            "--data",
            "d",
            "--demo",
            "--patients",
            "30",
            "--seed",
            "7",
            "--listen",
            "127.0.0.1:0",
            "--poll-ms",
            "100",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if let Some(base) = line.strip_prefix("listening on ") {
                let _ = tx.send(base.trim().to_string());
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("`up --demo` never said where it listens");
    (Up(child), base)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn get(base: &str, path: &str, token: &str) -> (u16, String) {
    let mut res = agent()
        .get(format!("{base}{path}"))
        .header("authorization", format!("Bearer {token}"))
        .call()
        .unwrap();
    let status = res.status().as_u16();
    (status, res.body_mut().read_to_string().unwrap())
}

fn post(base: &str, body: &[u8]) -> (u16, serde_json::Value) {
    let mut res = agent()
        .post(format!("{base}/v1/submissions"))
        .header("content-type", "application/octet-stream")
        .send(body)
        .unwrap();
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap())
}

/// A signed submission of the demo trial from its JSON form.
fn signed(json: serde_json::Value, key: &SigningKey) -> Vec<u8> {
    let parsed = trial_ledger::cli::event_json::parse(&json.to_string()).unwrap();
    encode(&parsed.draft.sign(&TrialId::new("drup-demo").unwrap(), key))
}

/// Waits until `f` holds (checked every 100 ms), for at most 30 s.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn up_demo_serves_takes_a_submission_into_the_views_and_stops_cleanly_on_sigterm() {
    // Given a new folder, when `up --data d --demo` runs
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (mut up, base) = start(root);
    // then it answers /healthz, and an authorised view request
    let (status, body) = get(&base, "/healthz", "");
    assert_eq!((status, body.trim()), (200, "ok"));
    let o = bin(root)
        .args([
            "tokens",
            "new",
            "--data",
            "d",
            "--name",
            "Dr. A. Auditor",
            "--role",
            "auditor",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let token = String::from_utf8(o.stdout).unwrap().trim().to_string();
    let registered = |token: &str| {
        let (status, body) = get(&base, "/v1/views/enrollment", token);
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["funnel"]["registered"].as_u64().unwrap()
    };
    let before = registered(&token);
    assert!(before > 0);
    assert_eq!(get(&base, "/v1/views/enrollment", "tlt_nope").0, 401);

    // and a submission through the API gets its receipt and reaches the view
    let keys = tl_sim::keys_of_seed(7);
    let patient = "patient:PT-UP-1";
    let (status, receipt) = post(
        &base,
        &signed(
            serde_json::json!({"event": "PatientRegistered", "subject": patient,
                "payload": {"tumour_type": "COAD", "site": "NKI-AVL", "registered_on": "2025-01-02"}}),
            &keys.investigators[0].key,
        ),
    );
    assert_eq!(status, 201, "{receipt}");
    assert_eq!(receipt["status"], "recorded", "{receipt}");
    eventually("the new patient in the enrollment view", || {
        registered(&token) == before + 1
    });

    // and the matcher, running in the same process, decides on a new sequencing result
    for (json, key) in [
        (
            serde_json::json!({"event": "ConsentRecorded", "subject": patient,
                "payload": {"form_version": "ICF v1", "consented_on": "2025-01-02"}}),
            &keys.investigators[0].key,
        ),
        (
            serde_json::json!({"event": "SequencingResultReported", "subject": patient,
                "payload": {"sample_id": "S-UP-1", "purity_pct": 60, "msi": "Stable",
                    "tmb_mut_per_mb_x100": 210,
                    "alterations": [{"gene": "RET", "kind": "Fusion", "protein_change": null,
                        "copy_number_x100": null, "fusion_partner": "KIF5B", "vaf_bp": null}],
                    "report_sha256": "00".repeat(32), "report_uri": "urn:report",
                    "reported_on": "2025-01-20"}}),
            &keys.labs[0].key,
        ),
    ] {
        let (status, v) = post(&base, &signed(json, key));
        assert_eq!(status, 201, "{v}");
    }
    eventually("the matcher's proposal in the patient's trail", || {
        let (status, body) = get(&base, &format!("/v1/subjects/{patient}/trail"), &token);
        status == 200 && body.contains("MatchProposed")
    });

    // When SIGTERM arrives during a burst of submissions
    let bodies: Vec<Vec<u8>> = (0..3000)
        .map(|i| {
            signed(
                serde_json::json!({"event": "PatientRegistered", "subject": format!("patient:PT-B-{i}"),
                    "payload": {"tumour_type": "COAD", "site": "NKI-AVL", "registered_on": "2025-01-02"}}),
                &keys.investigators[1].key,
            )
        })
        .collect();
    let acknowledged = std::sync::Mutex::new(Vec::<serde_json::Value>::new());
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let agent = agent();
            for body in &bodies {
                let sent = agent
                    .post(format!("{base}/v1/submissions"))
                    .header("content-type", "application/octet-stream")
                    .send(body.as_slice());
                let Ok(mut res) = sent else { break };
                if res.status().as_u16() != 201 {
                    break;
                }
                let text = res.body_mut().read_to_string().unwrap();
                acknowledged
                    .lock()
                    .unwrap()
                    .push(serde_json::from_str(&text).unwrap());
            }
        });
        eventually("the burst under way", || {
            acknowledged.lock().unwrap().len() >= 20
        });
        Command::new("kill")
            .args(["-TERM", &up.0.id().to_string()])
            .status()
            .unwrap();
    });
    let acknowledged = acknowledged.into_inner().unwrap();
    assert!(
        acknowledged.len() < bodies.len(),
        "the burst ended before the stop"
    );
    let until = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = up.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < until,
            "`up` did not stop within 30 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    // and the ledger verifies, the views' positions are consistent with it (nothing behind),
    // and a second `up --demo` on the folder is refused.
    let o = bin(root).args(["verify", "--data", "d"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    // and every acknowledged record is in it, at its place.
    let inputs = tl_ledger::log::read_embedded_for_verify(&root.join("d/ledger")).unwrap();
    for r in &acknowledged {
        let bytes = &inputs[r["partition"].as_u64().unwrap() as usize].records
            [r["seq"].as_u64().unwrap() as usize];
        let hash = tl_ledger::audit::leaf_hash(bytes).unwrap().to_hex();
        assert_eq!(r["record_hash"], hash.as_str());
    }
    let o = bin(root)
        .args(["view", "enrollment", "--data", "d", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let registered_now = before + 1 + acknowledged.len() as u64;
    assert_eq!(
        v["funnel"]["registered"].as_u64(),
        Some(registered_now),
        "{v}"
    );
    assert!(
        v["lag"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["behind"] == 0),
        "{v}"
    );
    let o = bin(root)
        .args(["up", "--data", "d", "--demo", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not empty"));
}
