//! `trial-ledger bench --stream --kafka-local | --kafka BOOTSTRAP`: the latency from an
//! adverse event's submission to its delivery on the safety stream, on Kafka with
//! transactions, under 1,000 background events/s.
//!
//! In one process: a new trial on the broker, the Kafka sequencer (as `trial-ledger
//! sequencer` runs it), `serve --kafka`'s server on a loopback port, one SSE client with a
//! `safety` token, a background writer producing pre-signed patient registrations to intake at
//! 1,000/s, and one client posting pre-signed adverse events over HTTP at 20/s. For each AE it
//! measures from just before the POST to the SSE event of its record. The reference, measured
//! in the same run on the same submissions, is the POST's own latency until its receipt (the
//! record committed and read back): the stream cannot deliver before the commit, so the
//! difference is what following the ledger in merged order adds. Target: p99 under 500 ms.

use crate::api::auth::{self, ApiRole, TokenEntry, TokenFile};
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::io::BufRead;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tl_domain::TrialRules;
use tl_kafka::writer::{Verdict, Writer};
use tl_kafka::{KafkaConfig, SequencerConfig, TopicSafety};
use tl_ledger::writer::Draft;
use tl_ledger::SigningKey;
use tl_schemas::clinical::PatientRegistered;
use tl_schemas::events::{envelope_of, KeyEnrolled};
use tl_schemas::ids::Name;
use tl_schemas::{encode, Date, Role, SignedSubmission, Subject, TrialId, UtcMicros};

/// Background events per second.
const BACKGROUND_PER_SEC: u64 = 1000;
/// Adverse events per second (measured).
const AE_PER_SEC: u64 = 20;
/// The target p99, milliseconds.
const TARGET_P99_MS: f64 = 500.0;
/// Partitions of the benchmark trial.
const PARTITIONS: u32 = 8;

/// Runs the stream benchmark with `n` measured adverse events.
pub fn run(bootstrap: &str, n: usize) -> Result<ExitCode> {
    let id = format!("bench.stream.{:08x}", rand::random::<u32>());
    let trial = TrialId::new(&id)?;
    let mut cfg = KafkaConfig::new(bootstrap, trial.clone());
    cfg.safety = TopicSafety::Dev;
    let (root, sequencer, investigator) = (
        SigningKey::generate(),
        SigningKey::generate(),
        SigningKey::generate(),
    );
    tl_kafka::bootstrap::init_trial(
        &cfg,
        PARTITIONS,
        "stream bench",
        &root,
        sequencer.public_key(),
        UtcMicros::now(),
    )?;
    let stop = Arc::new(AtomicBool::new(false));
    let seq = {
        let scfg = SequencerConfig::new(cfg.clone(), sequencer, root.public_key());
        let stop = stop.clone();
        std::thread::spawn(move || tl_kafka::sequencer::run(&scfg, || TrialRules, &stop))
    };
    let mut w = Writer::connect(&cfg)?;
    let enrol = KeyEnrolled {
        public_key: investigator.public_key(),
        name: "Dr. Bench".into(),
        role: Role::Investigator,
    };
    let signed = Draft::new(Subject::Trial, envelope_of(&enrol)).sign(&trial, &root);
    anyhow::ensure!(
        matches!(
            w.submit(&signed, Duration::from_secs(60))?,
            Verdict::Recorded { .. }
        ),
        "the investigator's enrolment was refused"
    );
    // The AEs' patients are registered before timing; every submission is signed before it.
    let patients: Vec<SignedSubmission> = (0..n)
        .map(|i| registration(&trial, &investigator, &format!("AE-{i}")))
        .collect();
    let mut sent = Vec::with_capacity(n);
    for p in &patients {
        sent.push((p.submission.submission_id, w.send(p)?));
    }
    w.flush()?;
    for (id, partition) in sent {
        anyhow::ensure!(
            matches!(
                w.wait(&id, partition, Duration::from_secs(120))?,
                Verdict::Recorded { .. }
            ),
            "a registration was refused"
        );
    }
    let aes: Vec<Vec<u8>> = (0..n)
        .map(|i| adverse_event(&trial, &investigator, &format!("AE-{i}")))
        .collect();
    let secs = n as u64 / AE_PER_SEC + 2;
    let background: Vec<SignedSubmission> = (0..BACKGROUND_PER_SEC * secs)
        .map(|i| registration(&trial, &investigator, &format!("BG-{i}")))
        .collect();

    let dir = tempfile::tempdir()?;
    let token = issue_token(&dir.path().join("tokens"))?;
    let server = super::serve::Server::start_kafka(
        &cfg,
        root.public_key(),
        &dir.path().join("views"),
        None,
        &crate::cli::TokenFiles {
            tokens: Some(dir.path().join("tokens")),
            access_log: Some(dir.path().join("access.log")),
        },
        &crate::api::limits::ServerFlags::default(),
    )?;
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let http_stop = Arc::new(AtomicBool::new(false));
    let figures = std::thread::scope(|scope| -> Result<Figures> {
        let flag = http_stop.clone();
        let served = scope.spawn(|| {
            let runtime = super::serve::runtime()?;
            let listen = "127.0.0.1:0".parse().expect("an address");
            let r = server.serve_http(
                &runtime,
                listen,
                move || async move {
                    while !flag.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                move |url| {
                    let _ = url_tx.send(url.to_string());
                },
            );
            r
        });
        let base = url_rx
            .recv_timeout(Duration::from_secs(60))
            .context("the server did not start")?;
        let measured = measure(&base, &token, &cfg, &aes, background);
        http_stop.store(true, Ordering::SeqCst);
        served
            .join()
            .map_err(|_| anyhow::anyhow!("the server thread panicked"))??;
        measured
    })?;
    server.stop(Ok(()))?;
    stop.store(true, Ordering::SeqCst);
    let _ = seq.join();
    report(n, bootstrap, &figures);
    Ok(ExitCode::SUCCESS)
}

/// What was measured, milliseconds per AE.
struct Figures {
    stream: Vec<f64>,
    receipt: Vec<f64>,
    background_rate: f64,
}

/// Posts the AEs at [`AE_PER_SEC`] while the background writer produces; each AE's latency to
/// its receipt and to its stream event.
fn measure(
    base: &str,
    token: &str,
    cfg: &KafkaConfig,
    aes: &[Vec<u8>],
    background: Vec<SignedSubmission>,
) -> Result<Figures> {
    let arrived: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let res = agent
        .get(format!("{base}/v1/safety/stream"))
        .header("authorization", format!("Bearer {token}"))
        .call()?;
    anyhow::ensure!(res.status().as_u16() == 200, "the stream refused the token");
    {
        let arrived = arrived.clone();
        std::thread::spawn(move || {
            let reader = std::io::BufReader::new(res.into_body().into_reader());
            for line in reader.lines().map_while(Result::ok) {
                if let Some(data) = line.strip_prefix("data:") {
                    let now = Instant::now();
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(data.trim()) {
                        if let Some(h) = v["record_hash"].as_str() {
                            let mut a = arrived.lock().unwrap_or_else(|p| p.into_inner());
                            a.entry(h.to_string()).or_insert(now);
                        }
                    }
                }
            }
        });
    }
    let done = Arc::new(AtomicBool::new(false));
    let bg = {
        let (cfg, done) = (cfg.clone(), done.clone());
        std::thread::spawn(move || -> Result<f64> {
            let w = Writer::connect(&cfg)?;
            let started = Instant::now();
            let mut sent = 0u64;
            for s in &background {
                if done.load(Ordering::SeqCst) {
                    break;
                }
                let due = Duration::from_micros(sent * 1_000_000 / BACKGROUND_PER_SEC);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    w.flush()?;
                    std::thread::sleep(wait);
                }
                w.send(s)?;
                sent += 1;
            }
            w.flush()?;
            Ok(sent as f64 / started.elapsed().as_secs_f64())
        })
    };
    std::thread::sleep(Duration::from_secs(1));
    let (mut stream, mut receipt) = (Vec::new(), Vec::new());
    let mut posted = Vec::new();
    let started = Instant::now();
    for (i, body) in aes.iter().enumerate() {
        let due = Duration::from_micros(i as u64 * 1_000_000 / AE_PER_SEC);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
        let t0 = Instant::now();
        let mut res = agent
            .post(format!("{base}/v1/submissions"))
            .header("content-type", "application/octet-stream")
            .send(body.as_slice())?;
        let took = t0.elapsed();
        let v: serde_json::Value = serde_json::from_str(&res.body_mut().read_to_string()?)?;
        anyhow::ensure!(res.status().as_u16() == 201, "an AE was not recorded: {v}");
        receipt.push(took.as_secs_f64() * 1e3);
        let hash = v["record_hash"].as_str().unwrap_or_default().to_string();
        posted.push((t0, hash));
    }
    done.store(true, Ordering::SeqCst);
    let background_rate = bg
        .join()
        .map_err(|_| anyhow::anyhow!("the background writer panicked"))??;
    let deadline = Instant::now() + Duration::from_secs(30);
    for (t0, hash) in posted {
        let at = loop {
            if let Some(at) = arrived.lock().unwrap_or_else(|p| p.into_inner()).get(&hash) {
                break *at;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "AE {hash} never reached the stream"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        stream.push(at.duration_since(t0).as_secs_f64() * 1e3);
    }
    Ok(Figures {
        stream,
        receipt,
        background_rate,
    })
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn report(n: usize, bootstrap: &str, f: &Figures) {
    let sorted = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        s
    };
    let (s, r) = (sorted(&f.stream), sorted(&f.receipt));
    println!(
        "trial-ledger bench --stream (Kafka, transactions): {n} adverse events at {AE_PER_SEC}/s"
    );
    println!("  broker                       {bootstrap}");
    println!(
        "  background load              {:.0} registrations/s produced to intake (target {BACKGROUND_PER_SEC}/s)",
        f.background_rate
    );
    println!(
        "  build profile                {}",
        if cfg!(debug_assertions) {
            "debug (use --release)"
        } else {
            "release"
        }
    );
    println!("                               p50 ms   p99 ms   p99.9 ms   max ms");
    for (name, v) in [
        ("AE POST -> stream event", &s),
        ("reference: POST -> receipt", &r),
    ] {
        println!(
            "  {name:<28} {:>7.1}  {:>7.1}  {:>9.1}  {:>7.1}",
            percentile(v, 0.5),
            percentile(v, 0.99),
            percentile(v, 0.999),
            v.last().copied().unwrap_or(0.0)
        );
    }
    let p99 = percentile(&s, 0.99);
    println!(
        "  stream p99 {p99:.1} ms: target < {TARGET_P99_MS:.0} ms {}",
        if p99 < TARGET_P99_MS {
            "(met)"
        } else {
            "(NOT met)"
        }
    );
}

fn registration(trial: &TrialId, key: &SigningKey, patient: &str) -> SignedSubmission {
    let event = PatientRegistered {
        tumour_type: "COAD".into(),
        site: "NKI".into(),
        registered_on: Date::from_ymd(2025, 3, 1).expect("a date"),
    };
    let subject = Subject::Patient(Name::new(patient).expect("a pseudonym"));
    Draft::new(subject, envelope_of(&event)).sign(trial, key)
}

fn adverse_event(trial: &TrialId, key: &SigningKey, patient: &str) -> Vec<u8> {
    let json = serde_json::json!({"event": "AdverseEventReported", "subject": format!("patient:{patient}"),
        "payload": {"ae_id": 1, "ctcae_term": "Fatigue", "grade": 2, "serious": [],
            "expected": true, "attribution": "Possible", "onset": {"Full": "2025-03-01"},
            "awareness": "2025-03-02", "outcome": "Ongoing"}});
    let parsed = crate::cli::event_json::parse(&json.to_string()).expect("a valid event");
    encode(&parsed.draft.sign(trial, key))
}

/// A `safety` token in a new token file; its text.
fn issue_token(path: &std::path::Path) -> Result<String> {
    let mut file = TokenFile::read(path)?;
    file.version = 1;
    let (text, sha256) = auth::new_token();
    file.tokens.push(TokenEntry {
        id: auth::new_id(),
        name: "stream bench".into(),
        role: ApiRole::Safety,
        cohort: None,
        site: None,
        expires: None,
        created: UtcMicros::now(),
        revoked: None,
        sha256,
    });
    file.write(path)?;
    Ok(text)
}
