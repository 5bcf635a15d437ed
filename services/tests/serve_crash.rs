//! Crash safety of the server (the server issue's acceptance, "Crash"): the real
//! `trial-ledger serve` on port 0 is killed with SIGKILL while several clients submit a burst
//! through a real HTTP client, then restarted on the same folder.
//!
//! - Every receipt a client got names the record the ledger holds at its partition and seq,
//!   with its record hash, and resubmitting that submission returns the original receipt.
//! - Nothing is half-written: the restarted server opens the ledger, every submission left
//!   unanswered by the kill is either recorded once (its resubmission gets the receipt, 200) or
//!   not at all (201), and afterwards the ledger verifies and holds each submission exactly once.
//! - The kill must land mid-burst (receipts before it, submissions unanswered by it), or the
//!   test fails.
//!
//! The helpers are the minimum copied from `services/tests/api.rs` (there is no shared test
//! support module for the server yet).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tl_ledger::SigningKey;
use tl_schemas::{encode, TrialId};

const PASS: &str = "correct horse";

/// Clients submitting at once.
const CLIENTS: usize = 8;
/// Submissions each client makes.
const EACH: usize = 200;
/// Receipts the clients must have received before the server is killed.
const KILL_AFTER: usize = 300;
/// The rate limits are not what is tested here: generous enough for the burst.
const FLAGS: [&str; 4] = ["--rate-per-key", "1000000", "--rate-per-address", "1000000"];

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trial-ledger"));
    c.env("TRIAL_LEDGER_PASSPHRASE", PASS)
        .env("TRIAL_LEDGER_SCRYPT_LOG_N", "10")
        .env("TRIAL_LEDGER_ROOT_PASSPHRASE", "root horse")
        .env("TRIAL_LEDGER_SEQUENCER_PASSPHRASE", "sequencer horse")
        .env_remove("TRIAL_LEDGER_DATA");
    c
}

fn ok(root: &Path, args: &[&str]) {
    let o = bin().current_dir(root).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Starts `serve` on port 0 over `root/d` and reads the address from its first line.
fn serve(root: &Path) -> (KillOnDrop, String) {
    let mut child = bin()
        .current_dir(root)
        .args(["serve", "--data", "d", "--listen", "127.0.0.1:0"])
        .args(FLAGS)
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
    (KillOnDrop(child), base)
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

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// Posts a submission's canonical bytes: the status and the JSON answer, or the transport
/// error (the server is gone).
fn post(agent: &ureq::Agent, base: &str, body: &[u8]) -> Result<(u16, serde_json::Value), String> {
    let mut res = agent
        .post(format!("{base}/v1/submissions"))
        .header("content-type", "application/octet-stream")
        .send(body)
        .map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().map_err(|e| e.to_string())?;
    let v = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e}): {text}"));
    Ok((status, v))
}

/// The number of stored records of each partition, read from the store's files.
/// Makes an investigator's key file in `root`, enrols it in the trial at `root/d` (`keys enrol`,
/// as a site would) and returns its signing key.
fn enrolled_investigator(root: &Path, name: &str) -> SigningKey {
    ok(
        root,
        &[
            "keys",
            "new",
            "--name",
            name,
            "--role",
            "investigator",
            "--out",
            "inv.key",
        ],
    );
    ok(root, &["keys", "enrol", "--data", "d", "inv.key.pub.json"]);
    SigningKey::new(
        tl_ledger::keyfile::read_key_file(&root.join("inv.key"), PASS)
            .unwrap()
            .signing_key,
    )
}

fn record_counts(root: &Path) -> Vec<usize> {
    tl_ledger::log::read_embedded_for_verify(&root.join("d/ledger"))
        .unwrap()
        .iter()
        .map(|p| p.records.len())
        .collect()
}

#[test]
fn every_receipt_survives_a_sigkill_of_serve_mid_burst_and_nothing_is_half_written() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    ok(root, &["init", "--data", "d", "--trial", "crash-test"]);
    let investigator = enrolled_investigator(root, "Dr. I. Investigator");
    let trial = TrialId::new("crash-test").unwrap();
    // Every submission signed before the burst: one patient registered per submission.
    let batches: Vec<Vec<Vec<u8>>> = (0..CLIENTS)
        .map(|c| {
            (0..EACH)
                .map(|i| {
                    let json = format!(
                        r#"{{"event":"PatientRegistered","subject":"patient:P-{c}-{i}","payload":{{"tumour_type":"COAD","site":"NKI-AVL","registered_on":"2025-01-15"}}}}"#
                    );
                    let parsed = trial_ledger::cli::event_json::parse(&json).unwrap();
                    encode(&parsed.draft.sign(&trial, &investigator))
                })
                .collect()
        })
        .collect();
    let before: usize = record_counts(root).iter().sum();
    let (mut server, base) = serve(root);

    // When the clients submit in a burst and the server is killed with SIGKILL after
    // KILL_AFTER receipts,
    let received = AtomicUsize::new(0);
    let outcomes: Vec<(&Vec<u8>, Option<serde_json::Value>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = batches
            .iter()
            .map(|mine| {
                let (base, received) = (&base, &received);
                scope.spawn(move || {
                    let agent = agent();
                    mine.iter()
                        .map(|bytes| match post(&agent, base, bytes) {
                            Ok((status, v)) => {
                                assert_eq!(status, 201, "before the kill: {v}");
                                assert_eq!(v["status"], "recorded");
                                received.fetch_add(1, Ordering::SeqCst);
                                (bytes, Some(v))
                            }
                            // The server is gone: no receipt.
                            Err(_) => (bytes, None),
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(120);
        while received.load(Ordering::SeqCst) < KILL_AFTER {
            assert!(
                Instant::now() < deadline,
                "only {} receipts within 120 s",
                received.load(Ordering::SeqCst)
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        server.0.kill().expect("SIGKILL");
        let status = server.0.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "serve was killed: {status:?}");
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let acknowledged: Vec<(&Vec<u8>, serde_json::Value)> = outcomes
        .iter()
        .filter_map(|(b, r)| r.clone().map(|r| (*b, r)))
        .collect();
    let unanswered: Vec<&Vec<u8>> = outcomes
        .iter()
        .filter(|(_, r)| r.is_none())
        .map(|(b, _)| *b)
        .collect();
    // the kill landed mid-burst: receipts before it, and submissions it left unanswered.
    assert!(acknowledged.len() >= KILL_AFTER, "{}", acknowledged.len());
    assert!(
        !unanswered.is_empty(),
        "every submission was answered before the kill: it did not land mid-burst"
    );
    eprintln!(
        "killed after {} receipts; {} submissions unanswered",
        acknowledged.len(),
        unanswered.len()
    );

    // Then the server restarts on the same folder,
    let (mut server, base) = serve(root);
    let agent = agent();
    // every acknowledged submission, resubmitted, returns its original receipt,
    for (bytes, first) in &acknowledged {
        let (status, again) = post(&agent, &base, bytes).unwrap();
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["status"], "already-recorded");
        let mut again = again.clone();
        again["status"] = first["status"].clone();
        assert_eq!(&again, first, "the original receipt");
    }
    // and every unanswered one was recorded whole or not at all: resubmitted, it is recorded
    // now (201) or returns the receipt of its record from before the kill (200).
    let mut recorded_unanswered = 0;
    for bytes in &unanswered {
        let (status, v) = post(&agent, &base, bytes).unwrap();
        match status {
            201 => assert_eq!(v["status"], "recorded"),
            200 => {
                assert_eq!(v["status"], "already-recorded");
                recorded_unanswered += 1;
            }
            _ => panic!("an unanswered submission resubmitted: {status} {v}"),
        }
    }
    eprintln!("{recorded_unanswered} unanswered submissions had been recorded before the kill");
    let pid = server.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(server.0.wait().unwrap().success(), "serve stops cleanly");

    // After a clean stop the ledger verifies,
    let out = bin()
        .current_dir(root)
        .args(["verify", "--data", "d", "--json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "verify --json: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(report["ok"], true, "{report}");
    // holds each submission exactly once,
    let after: usize = record_counts(root).iter().sum();
    assert_eq!(after - before, CLIENTS * EACH, "records added by the burst");
    // and every receipt a client got names the record at its partition and seq.
    let inputs = tl_ledger::log::read_embedded_for_verify(&root.join("d/ledger")).unwrap();
    for (_, r) in &acknowledged {
        let (p, seq) = (
            r["partition"].as_u64().unwrap() as usize,
            r["seq"].as_u64().unwrap() as usize,
        );
        let bytes = inputs[p]
            .records
            .get(seq)
            .unwrap_or_else(|| panic!("receipt {r}: no record at p{p} seq {seq}"));
        let hash = tl_ledger::audit::leaf_hash(bytes).unwrap().to_hex();
        assert_eq!(r["record_hash"], hash.as_str(), "receipt {r}");
    }
    eprintln!("serve crash test: {:.1} s", started.elapsed().as_secs_f64());
}

/// Opens the ledger of `root/d` in this process with the sequencer key: the writer's state and
/// how it used the snapshot.
fn open_state(
    root: &Path,
) -> (
    tl_ledger::state::LedgerState<tl_domain::TrialRules>,
    tl_ledger::snapshot::SnapshotUse,
) {
    let data = root.join("d");
    let trust = tl_ledger::trust::TrustFile::read(&data.join("trust.json")).unwrap();
    let key =
        tl_ledger::keyfile::read_key_file(&data.join("keys/sequencer.key"), "sequencer horse")
            .unwrap();
    let (l, _) = tl_ledger::EmbeddedLedger::open(
        &data.join("ledger"),
        &trust,
        tl_domain::TrialRules,
        SigningKey::new(key.signing_key),
    )
    .unwrap();
    (l.state().clone(), l.snapshot_use().clone())
}

#[test]
fn a_server_killed_after_a_periodic_snapshot_reopens_from_it_and_equals_a_full_replay() {
    // given a served trial that saves its writer snapshot every 100 records
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    ok(root, &["init", "--data", "d", "--trial", "snap-serve"]);
    let investigator = enrolled_investigator(root, "Dr. S");
    let trial = TrialId::new("snap-serve").unwrap();
    let snapshot = tl_ledger::snapshot::snapshot_path(&root.join("d/ledger"));
    let mut child = bin()
        .current_dir(root)
        .args(["serve", "--data", "d", "--listen", "127.0.0.1:0"])
        .args(FLAGS)
        .args(["--snapshot-every", "100"])
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
        .unwrap()
        .to_string();
    let mut server = KillOnDrop(child);
    assert!(!snapshot.exists(), "no snapshot before the server appends");
    // when 250 submissions are recorded, one at a time, and the server is killed with SIGKILL
    let agent = agent();
    for i in 0..250 {
        let json = format!(
            r#"{{"event":"PatientRegistered","subject":"patient:P-{i}","payload":{{"tumour_type":"COAD","site":"NKI-AVL","registered_on":"2025-01-15"}}}}"#
        );
        let parsed = trial_ledger::cli::event_json::parse(&json).unwrap();
        let (status, v) = post(
            &agent,
            &base,
            &encode(&parsed.draft.sign(&trial, &investigator)),
        )
        .unwrap();
        assert_eq!(status, 201, "{v}");
    }
    server.0.kill().expect("SIGKILL");
    server.0.wait().unwrap();
    // then the server had saved a snapshot (it never closed), and the next writer opens from
    // it, replaying fewer than 100 records,
    assert!(snapshot.exists(), "the server saved no snapshot");
    let (state, used) = open_state(root);
    let tl_ledger::snapshot::SnapshotUse::Loaded { covered, replayed } = used else {
        panic!("the snapshot was not used: {used:?}");
    };
    assert!(covered >= 200 && replayed < 100, "{used:?}");
    assert_eq!(
        covered + replayed,
        record_counts(root).iter().sum::<usize>() as u64
    );
    // and its state equals a full replay's
    std::fs::rename(&snapshot, root.join("aside")).unwrap();
    let (replay, used) = open_state(root);
    assert_eq!(used, tl_ledger::snapshot::SnapshotUse::Absent);
    assert!(
        state == replay,
        "snapshot + tail differs from a full replay"
    );
}
