//! `trial-ledger bench --http`: the server measured through real HTTP, each figure beside its
//! reference measured in the same run.
//!
//! The ledger is the demo (`--patients`, default the default demo), made by this binary's own
//! `demo` in the benchmark's folder. Every submission is signed before any timing starts, by
//! the demo's investigator keys (derived from its seed): adverse events of the demo's treated
//! patients and new patient registrations. Neither depends on the order in which the others
//! are recorded, so concurrent clients may send them in any order and every one is recorded.
//! Each run starts from a fresh copy of the demo folder.
//!
//! The figures:
//! * **throughput** with 1, 16 and 256 concurrent clients: `POST /v1/submissions` on a real
//!   `serve` child process on 127.0.0.1, against the same submissions through one
//!   [`SubmitHandle`] in this process, on the same demo (the reference: what the server adds
//!   is HTTP, its limits and its bookkeeping). Each client waits for its answer before it
//!   sends the next. The HTTP clients are tasks on one thread, each with a keep-alive
//!   connection and its requests built before timing ([`super::bench_http_client`]); the CPU
//!   seconds of the clients and of the server's threads are printed beside each row. Target:
//!   HTTP at least 0.7× the handle with 256 clients;
//! * **submit latency** p50/p99 at 500 submissions/s from 16 clients, open loop: each request
//!   has a start time on a fixed schedule, and its latency is counted from that time, so a
//!   slow answer also delays the ones after it (no coordinated omission). Target: p99 < 20 ms;
//! * **stream latency** p50/p99/p99.9: from an adverse event's `POST` to its arrival on
//!   `GET /v1/safety/stream`, with 1,000 patient registrations/s in the background. Target:
//!   p99 < 250 ms on the embedded log;
//! * **resident memory** of `serve` with the demo loaded, idle and with 100 stream clients
//!   that have each read the demo's whole safety history (`VmRSS`, and `VmHWM`, the peak).
//!
//! The server runs with its rate limits raised (`--rate-per-key`, `--rate-per-address`): they
//! exist to refuse floods, and the benchmark is one. Its key files use a cheap scrypt work
//! factor, since the benchmark's ledger is thrown away.

use super::bench::{load_average, print_machine, WorkDir};
use crate::cli::BenchArgs;
use anyhow::{bail, ensure, Context, Result};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tl_domain::TrialRules;
use tl_ledger::submit::{spawn, HandleConfig, SubmitHandle};
use tl_ledger::{EmbeddedLedger, SigningKey, Submitted};
use tl_schemas::{encode, TrialId, UtcMicros};

/// The throughput target at 256 clients, as a share of the in-process handle.
const TARGET_SHARE: f64 = 0.7;
/// Client counts of the throughput measurement.
const CLIENTS: [usize; 3] = [1, 16, 256];
/// Submissions per throughput run with one client (each waits for its fsync).
const SUBMISSIONS_ONE: usize = 2_000;
/// Submissions per throughput run with many clients.
const SUBMISSIONS_MANY: usize = 16_000;
/// Runs of each side of a throughput pair, alternated; the best counts.
const RUNS: usize = 2;
/// The latency measurement: the rate, the clients and how long.
const PACED_RATE: f64 = 500.0;
/// See [`PACED_RATE`].
const PACED_CLIENTS: usize = 16;
/// See [`PACED_RATE`].
const PACED_TIME: Duration = Duration::from_secs(10);
/// The latency target (p99).
const PACED_P99_TARGET_MS: f64 = 20.0;
/// The stream measurement: background registrations per second, probe adverse events per
/// second, and how long.
const BACKGROUND_RATE: f64 = 1_000.0;
/// See [`BACKGROUND_RATE`].
const PROBE_RATE: f64 = 100.0;
/// See [`BACKGROUND_RATE`].
const STREAM_TIME: Duration = Duration::from_secs(15);
/// The stream target (p99).
const STREAM_P99_TARGET_MS: f64 = 250.0;
/// Stream clients of the memory measurement.
const STREAM_CLIENTS: usize = 100;
/// The passphrase of every key file of the benchmark's throw-away ledger.
const PASSPHRASE: &str = "bench passphrase";

/// Runs `bench --http`.
pub fn run(a: &BenchArgs) -> Result<ExitCode> {
    let workdir = WorkDir::new(a.dir.as_deref())?;
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    print_machine(
        &format!(
            "trial-ledger bench --http: the server through real HTTP, folder {}",
            workdir.path.display()
        ),
        cores,
    );
    let patients = a.patients.unwrap_or(tl_sim::DEFAULT_TREATED);
    let base = Base::make(&workdir.path, patients)?;
    eprintln!("signing the benchmark's submissions ...");
    let aes = base.adverse_events(SUBMISSIONS_MANY, 100_000)?;

    throughput(&workdir.path, &base, &aes)?;
    paced_latency(&workdir.path, &base)?;
    stream_latency(&workdir.path, &base)?;
    memory(&workdir.path, &base)?;
    println!("load average {}", load_average());
    workdir.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// The demo folder every run copies, and what the workload needs to know about it.
struct Base {
    /// The demo's data folder.
    dir: PathBuf,
    /// Its trial.
    trial: TrialId,
    /// The demo's keys (derived from its seed): the investigators sign, and the in-process
    /// reference seals with the sequencer key, as `serve` does with its key file.
    keys: tl_sim::SimKeys,
    /// Treated patients who are alive and not withdrawn, with their first dose date: an
    /// adverse event may be reported for each.
    patients: Vec<(String, String)>,
    /// A `safety` token of the demo folder (copied with it): the benchmark reads the stream.
    token: String,
    /// An `auditor` token of the demo folder: the benchmark reads the server's `/metrics`.
    auditor: String,
}

impl Base {
    /// Makes the demo with this binary's `demo`, and reads its treated patients.
    fn make(work: &Path, patients: u32) -> Result<Base> {
        let dir = work.join("demo");
        eprintln!("making the demo ({patients} treated patients) ...");
        let seed = tl_sim::DEFAULT_SEED;
        let dir_arg = dir.to_string_lossy().into_owned();
        let (patients_arg, seed_arg) = (patients.to_string(), seed.to_string());
        run_child(&[
            "demo",
            "--data",
            &dir_arg,
            "--patients",
            &patients_arg,
            "--seed",
            &seed_arg,
        ])?;
        run_child(&["view", "enrollment", "--data", &dir_arg, "--json"])?;
        let db = rusqlite::Connection::open(dir.join("views/enrollment.sqlite"))?;
        let mut q = db.prepare(
            "SELECT patient, first_dose_on FROM patients WHERE treated = 1 AND died = 0 \
             AND withdrawn_on IS NULL AND first_dose_on IS NOT NULL ORDER BY patient",
        )?;
        let alive = q
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<(String, String)>, _>>()?;
        ensure!(!alive.is_empty(), "the demo has no living treated patient");
        drop(q);
        let token = Served::token(&dir, "safety")?;
        let auditor = Served::token(&dir, "auditor")?;
        Ok(Base {
            token,
            auditor,
            dir,
            trial: TrialId::new("drup-demo")?,
            keys: tl_sim::keys_of_seed(seed),
            patients: alive,
        })
    }

    /// The investigator who signs submission `i` (they take turns: a trial has many keys).
    fn signer(&self, i: usize) -> &SigningKey {
        &self.keys.investigators[i % self.keys.investigators.len()].key
    }

    /// `n` adverse events with ids from `first_id` on, over the living treated patients.
    fn adverse_events(&self, n: usize, first_id: u32) -> Result<Vec<Vec<u8>>> {
        (0..n).map(|i| self.adverse_event(i, first_id)).collect()
    }

    /// Adverse event `i` (id `first_id + i`), and the patient it is about.
    fn adverse_event(&self, i: usize, first_id: u32) -> Result<Vec<u8>> {
        let (patient, first_dose) = &self.patients[i % self.patients.len()];
        let id = first_id + u32::try_from(i)?;
        let json = format!(
            r#"{{"event":"AdverseEventReported","subject":"patient:{patient}","payload":{{"ae_id":{id},"ctcae_term":"Fatigue","grade":{},"serious":[],"expected":true,"attribution":"Possible","onset":{{"Full":"{first_dose}"}},"awareness":"{first_dose}","outcome":"Ongoing"}}}}"#,
            1 + i % 2
        );
        let parsed = crate::cli::event_json::parse(&json)?;
        Ok(encode(&parsed.draft.sign(&self.trial, self.signer(i))))
    }

    /// `n` registrations of new patients, numbered from `first` on.
    fn registrations(&self, n: usize, first: usize) -> Result<Vec<Vec<u8>>> {
        (first..first + n)
            .map(|i| {
                let json = format!(
                    r#"{{"event":"PatientRegistered","subject":"patient:BENCH-{i}","payload":{{"tumour_type":"COAD","site":"NKI-AVL","registered_on":"2025-01-15"}}}}"#
                );
                let parsed = crate::cli::event_json::parse(&json)?;
                Ok(encode(&parsed.draft.sign(&self.trial, self.signer(i))))
            })
            .collect()
    }

    /// A fresh copy of the demo folder at `to`.
    fn copy(&self, to: &Path) -> Result<PathBuf> {
        copy_folder(&self.dir, to)?;
        Ok(to.to_path_buf())
    }
}

/// This binary, with the benchmark ledger's passphrases.
fn child() -> Result<Command> {
    let mut c = Command::new(std::env::current_exe().context("finding this binary")?);
    for var in [
        "TRIAL_LEDGER_PASSPHRASE",
        "TRIAL_LEDGER_ROOT_PASSPHRASE",
        "TRIAL_LEDGER_SEQUENCER_PASSPHRASE",
    ] {
        c.env(var, PASSPHRASE);
    }
    c.env("TRIAL_LEDGER_SCRYPT_LOG_N", "10")
        .env_remove("TRIAL_LEDGER_DATA")
        .env_remove("TRIAL_LEDGER_PASSPHRASE_FILE");
    Ok(c)
}

/// Runs this binary to completion; its output is discarded unless it fails.
fn run_child(args: &[&str]) -> Result<String> {
    let out = child()?.args(args).stdin(Stdio::null()).output()?;
    ensure!(
        out.status.success(),
        "`trial-ledger {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Copies a folder tree (files and folders only).
fn copy_folder(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type()?.is_dir() {
            copy_folder(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).with_context(|| format!("copying {}", src.display()))?;
        }
    }
    Ok(())
}

/// A `serve` child process on 127.0.0.1, stopped with SIGTERM when dropped.
struct Served {
    /// The process.
    child: Child,
    /// Its base URL.
    url: String,
}

impl Served {
    /// Starts `serve --data dir` with the benchmark's limits and reads its address.
    fn start(dir: &Path, token: &str, extra: &[&str]) -> Result<Served> {
        let mut child = child()?
            .args(["serve", "--data"])
            .arg(dir)
            .args(["--listen", "127.0.0.1:0"])
            .args([
                "--rate-per-key",
                "100000000",
                "--rate-per-address",
                "100000000",
            ])
            .args(["--max-concurrent", "4096"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .context("starting serve")?;
        let mut line = String::new();
        let stdout = child.stdout.take().context("serve's output")?;
        BufReader::new(stdout).read_line(&mut line)?;
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            bail!("serve did not start: {line:?}");
        };
        let served = Served {
            url: url.to_string(),
            child,
        };
        served.wait_until_caught_up(dir, token)?;
        Ok(served)
    }

    /// Waits until the server's safety follower has read the ledger it was started on: its
    /// stream, opened at the ledger's end, says `caught-up`. Until then the follower's start-up
    /// (reading the whole demo) would share the cores with what is measured.
    fn wait_until_caught_up(&self, dir: &Path, token: &str) -> Result<()> {
        let body = open_stream(&self.url, token, &end_cursor(dir)?)?;
        let mut caught_up = false;
        read_events(body, |e| {
            caught_up = e.as_object().is_some_and(|o| o.is_empty());
            !caught_up
        })?;
        ensure!(caught_up, "the stream ended before it caught up");
        Ok(())
    }

    /// The server's `VmRSS` and `VmHWM`, in MiB.
    fn memory(&self) -> Result<(f64, f64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let field = |name: &str| -> Result<f64> {
            let line = status
                .lines()
                .find(|l| l.starts_with(name))
                .with_context(|| format!("{name} in /proc/PID/status"))?;
            let kb: f64 = line
                .split_whitespace()
                .nth(1)
                .context("a number")?
                .parse()?;
            Ok(kb / 1024.0)
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// CPU seconds (user + system) of the server's threads so far, summed by thread name
    /// (`/proc/PID/task/*/stat`), most first.
    fn thread_cpu(&self) -> Result<Vec<(String, f64)>> {
        let ticks = 100.0; // USER_HZ, 100 on Linux
        let mut by_name: HashMap<String, f64> = HashMap::new();
        for task in std::fs::read_dir(format!("/proc/{}/task", self.child.id()))? {
            let Ok(stat) = std::fs::read_to_string(task?.path().join("stat")) else {
                continue; // the thread ended
            };
            // `pid (name) state ...`: the name may hold spaces; fields follow the last ')'.
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            let name = stat[open + 1..close].to_string();
            let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
            let cpu: f64 = [11, 12]
                .iter()
                .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<f64>().ok()))
                .sum();
            *by_name.entry(name).or_default() += cpu / ticks;
        }
        let mut v: Vec<_> = by_name.into_iter().collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(v)
    }

    /// The server's group commits so far, from its `/metrics` (read with an `auditor` token).
    fn commits(&self, auditor: &str) -> Result<Commits> {
        let text = agent()
            .get(format!("{}/metrics", self.url))
            .header("authorization", format!("Bearer {auditor}"))
            .call()?
            .body_mut()
            .read_to_string()?;
        let value = |name: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
                .unwrap_or(0.0)
        };
        Ok(Commits {
            batches: value("tl_group_commit_batch_size_count"),
            submissions: value("tl_group_commit_batch_size_sum"),
            order_s: value("tl_group_commit_order_seconds_sum"),
            commit_s: value("tl_group_commit_fsync_seconds_sum"),
        })
    }

    /// A token for `role`, made with `tokens new` on the folder it serves.
    fn token(dir: &Path, role: &str) -> Result<String> {
        let dir = dir.to_string_lossy().into_owned();
        let out = run_child(&[
            "tokens", "new", "--data", &dir, "--name", "Bench", "--role", role,
        ])?;
        Ok(out.trim().to_string())
    }
}

/// CPU seconds by thread name, the client first.
type ThreadCpu = Vec<(String, f64)>;

/// Group commits of a server, from its metrics: how many, and their submissions and times.
#[derive(Clone, Copy, Debug, Default)]
struct Commits {
    /// Group commits.
    batches: f64,
    /// Submissions in them.
    submissions: f64,
    /// Seconds spent ordering, checking and sealing.
    order_s: f64,
    /// Seconds spent appending, syncing, publishing checkpoints (and snapshots).
    commit_s: f64,
}

impl std::fmt::Display for Commits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let per = |x: f64| x / self.batches.max(1.0);
        write!(
            f,
            "{:.0} group commits, {:.1} submissions each, {:.2} ms ordering + {:.2} ms storing each",
            self.batches,
            per(self.submissions),
            per(self.order_s) * 1e3,
            per(self.commit_s) * 1e3
        )
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.child.wait();
    }
}

/// An HTTP agent that hands 4xx and 5xx answers back instead of failing.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// Posts one submission; fails unless it was recorded (201).
fn post(agent: &ureq::Agent, url: &str, bytes: &[u8]) -> Result<()> {
    let mut res = agent
        .post(format!("{url}/v1/submissions"))
        .header("content-type", "application/octet-stream")
        .send(bytes)?;
    let status = res.status().as_u16();
    if status != 201 {
        let body = res.body_mut().read_to_string().unwrap_or_default();
        bail!("a submission was answered {status}: {body}");
    }
    Ok(())
}

/// Throughput with 1, 16 and 256 clients, HTTP beside the in-process handle.
fn throughput(work: &Path, base: &Base, aes: &[Vec<u8>]) -> Result<()> {
    println!("throughput: adverse events, each client waiting for its answer");
    println!("  clients   in-process handle/s   HTTP/s   HTTP / handle");
    for clients in CLIENTS {
        let subs = if clients == 1 {
            &aes[..SUBMISSIONS_ONE]
        } else {
            aes
        };
        let (mut handle, mut http) = (Duration::MAX, Duration::MAX);
        let mut cpu = Vec::new();
        let mut commits = Commits::default();
        for run in 0..RUNS {
            let dir = base.copy(&work.join(format!("handle-{clients}-{run}")))?;
            handle = handle.min(in_process(base, &dir, subs, clients)?);
            std::fs::remove_dir_all(&dir)?;
            let dir = base.copy(&work.join(format!("http-{clients}-{run}")))?;
            let (took, spent, c) = over_http(&dir, base, subs, clients)?;
            if took < http {
                (http, cpu, commits) = (took, spent, c);
            }
            std::fs::remove_dir_all(&dir)?;
        }
        let rate = |d: Duration| subs.len() as f64 / d.as_secs_f64().max(1e-9);
        let share = rate(http) / rate(handle);
        let verdict = if clients == 256 {
            if share >= TARGET_SHARE {
                format!("   target >= {TARGET_SHARE}: met")
            } else {
                format!("   target >= {TARGET_SHARE}: NOT met")
            }
        } else {
            String::new()
        };
        println!(
            "  {clients:>7}   {:>19.0}   {:>6.0}   {share:>13.2}{verdict}",
            rate(handle),
            rate(http)
        );
        let client = cpu.first().map_or(0.0, |c| c.1);
        let server: f64 = cpu.iter().skip(1).map(|c| c.1).sum();
        let threads: Vec<String> = cpu
            .iter()
            .skip(1)
            .take(6)
            .map(|(name, t)| format!("{name} {t:.2}"))
            .collect();
        println!(
            "            best HTTP run: {:.2} s; CPU s client {client:.2}, server {server:.2} (by thread: {})",
            http.as_secs_f64(),
            threads.join(", ")
        );
        println!("            server: {commits}");
    }
    println!("  ({} submissions per run with one client, {} with more; best of {RUNS} runs each, alternated)", SUBMISSIONS_ONE, SUBMISSIONS_MANY);
    println!();
    Ok(())
}

/// Sends `subs` through one submit handle over the copy `dir`, `clients` at a time; the time
/// from the first submission to the last receipt.
fn in_process(base: &Base, dir: &Path, subs: &[Vec<u8>], clients: usize) -> Result<Duration> {
    let trust = tl_ledger::trust::TrustFile::read(&super::trust_path(dir))?;
    let sealer = base.keys.sequencer.key.clone();
    let (ledger, _) = EmbeddedLedger::open(&super::ledger_dir(dir), &trust, TrialRules, sealer)?;
    let (handle, thread) = spawn(ledger, UtcMicros::now, HandleConfig::default())?;
    let took = drive(clients, subs, |_| Ok(()), |_, bytes| submit(&handle, bytes));
    drop(handle);
    thread.stop()?.close()?;
    took
}

/// One submission through the handle; fails unless it was recorded.
fn submit(handle: &SubmitHandle, bytes: &[u8]) -> Result<()> {
    match handle.submit_blocking(bytes.to_vec())? {
        Submitted::Recorded(_) => Ok(()),
        other => bail!("a benchmark submission was not recorded: {other:?}"),
    }
}

/// Sends `subs` to a `serve` over the copy `dir`, `clients` at a time; the time, the CPU
/// seconds the server's threads spent meanwhile (by thread name), and its group commits.
fn over_http(
    dir: &Path,
    base: &Base,
    subs: &[Vec<u8>],
    clients: usize,
) -> Result<(Duration, ThreadCpu, Commits)> {
    let served = Served::start(dir, &base.token, &[])?;
    let addr = served
        .url
        .strip_prefix("http://")
        .context("serve's URL")?
        .to_string();
    let requests: Vec<Vec<u8>> = subs
        .iter()
        .map(|b| super::bench_http_client::request(&addr, b))
        .collect();
    let before = served.thread_cpu()?;
    let own = super::bench_http_client::own_cpu()?;
    let took = super::bench_http_client::drive(&addr, &requests, clients)?;
    let client = super::bench_http_client::own_cpu()? - own;
    let after = served.thread_cpu()?;
    let commits = served.commits(&base.auditor)?;
    let mut spent: Vec<(String, f64)> = after
        .into_iter()
        .map(|(name, t)| {
            let was = before.iter().find(|(n, _)| *n == name).map_or(0.0, |b| b.1);
            (name, t - was)
        })
        .filter(|(_, t)| *t > 0.0)
        .collect();
    spent.insert(0, ("client (this process)".to_string(), client));
    Ok((took, spent, commits))
}

/// Runs `clients` threads that take the next submission in turn and send it with `send`,
/// each with its own state from `make`; the time from the first to the last answer.
fn drive<S>(
    clients: usize,
    subs: &[Vec<u8>],
    make: impl Fn(usize) -> Result<S> + Sync,
    send: impl Fn(&S, &[u8]) -> Result<()> + Sync,
) -> Result<Duration> {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let results: Vec<Result<()>> = std::thread::scope(|s| {
        let running: Vec<_> = (0..clients)
            .map(|c| {
                let (next, make, send) = (&next, &make, &send);
                s.spawn(move || -> Result<()> {
                    let state = make(c)?;
                    while let Some(bytes) = subs.get(next.fetch_add(1, Ordering::Relaxed)) {
                        send(&state, bytes)?;
                    }
                    Ok(())
                })
            })
            .collect();
        running
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|_| bail!("a client panicked")))
            .collect()
    });
    let took = started.elapsed();
    results.into_iter().collect::<Result<()>>()?;
    Ok(took)
}

/// Sends `subs` at `rate` per second from `clients` threads, request `i` at `start + i/rate`
/// (client `i % clients` sends it); calls `sent(i, at)` with each request's scheduled time
/// before sending, and returns each request's latency from its scheduled time.
fn paced(
    url: &str,
    subs: &[Vec<u8>],
    rate: f64,
    clients: usize,
    start: Instant,
    sent: &(dyn Fn(usize, Instant) + Sync),
) -> Result<Vec<Duration>> {
    let per: Vec<Result<Vec<Duration>>> = std::thread::scope(|s| {
        let running: Vec<_> = (0..clients)
            .map(|c| {
                s.spawn(move || -> Result<Vec<Duration>> {
                    let a = agent();
                    let mut lat = Vec::new();
                    for i in (c..subs.len()).step_by(clients) {
                        let at = start + Duration::from_secs_f64(i as f64 / rate);
                        if let Some(wait) = at.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        sent(i, at);
                        post(&a, url, &subs[i])?;
                        lat.push(at.elapsed());
                    }
                    Ok(lat)
                })
            })
            .collect();
        running
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|_| bail!("a client panicked")))
            .collect()
    });
    let mut all = Vec::new();
    for p in per {
        all.extend(p?);
    }
    Ok(all)
}

/// The `q` quantile of `v` (nearest rank), in milliseconds.
fn quantile_ms(v: &mut [Duration], q: f64) -> f64 {
    v.sort();
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1].as_secs_f64() * 1e3
}

/// Submit latency at 500 submissions/s from 16 clients.
fn paced_latency(work: &Path, base: &Base) -> Result<()> {
    let n = (PACED_RATE * PACED_TIME.as_secs_f64()) as usize;
    let subs = base.adverse_events(n, 200_000)?;
    let dir = base.copy(&work.join("paced"))?;
    let served = Served::start(&dir, &base.token, &[])?;
    let start = Instant::now() + Duration::from_millis(200);
    let mut lat = paced(
        &served.url,
        &subs,
        PACED_RATE,
        PACED_CLIENTS,
        start,
        &|_, _| {},
    )?;
    let took = start.elapsed();
    let commits = served.commits(&base.auditor)?;
    drop(served);
    let (p50, p99, max) = (
        quantile_ms(&mut lat, 0.50),
        quantile_ms(&mut lat, 0.99),
        quantile_ms(&mut lat, 1.0),
    );
    let verdict = if p99 < PACED_P99_TARGET_MS {
        "met"
    } else {
        "NOT met"
    };
    println!(
        "submit latency: {n} adverse events at {PACED_RATE:.0}/s from {PACED_CLIENTS} clients (open loop, from each request's scheduled time)"
    );
    println!(
        "  achieved {:.0}/s   p50 {p50:.2} ms   p99 {p99:.2} ms   max {max:.2} ms   target p99 < {PACED_P99_TARGET_MS} ms: {verdict}",
        n as f64 / took.as_secs_f64()
    );
    println!("  server: {commits}");
    println!();
    Ok(())
}

/// The cursor at the end of the ledger in `dir`: every non-empty partition's last seq.
fn end_cursor(dir: &Path) -> Result<String> {
    let parts = tl_ledger::log::read_embedded_for_verify(&super::ledger_dir(dir))?;
    Ok(parts
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.records.is_empty())
        .map(|(i, p)| format!("p{i}:{}", p.records.len() - 1))
        .collect::<Vec<_>>()
        .join(","))
}

/// Opens the safety stream with `token` after `cursor` (empty: from the start).
fn open_stream(url: &str, token: &str, cursor: &str) -> Result<ureq::Body> {
    let mut req = agent()
        .get(format!("{url}/v1/safety/stream"))
        .header("authorization", format!("Bearer {token}"));
    if !cursor.is_empty() {
        req = req.header("last-event-id", cursor);
    }
    let res = req.call()?;
    ensure!(
        res.status().as_u16() == 200,
        "the stream answered {}",
        res.status()
    );
    Ok(res.into_body())
}

/// Reads a stream's `data:` lines, calling `each` with every event's JSON until it returns
/// false or the stream ends.
fn read_events(body: ureq::Body, mut each: impl FnMut(serde_json::Value) -> bool) -> Result<()> {
    let reader = BufReader::new(body.into_reader());
    for line in reader.lines() {
        let line = line?;
        if let Some(data) = line.strip_prefix("data:") {
            if !each(serde_json::from_str(data.trim())?) {
                break;
            }
        }
    }
    Ok(())
}

/// Stream latency: probe adverse events at [`PROBE_RATE`] with registrations at
/// [`BACKGROUND_RATE`] beside them.
fn stream_latency(work: &Path, base: &Base) -> Result<()> {
    let probes = (PROBE_RATE * STREAM_TIME.as_secs_f64()) as usize;
    let background = (BACKGROUND_RATE * STREAM_TIME.as_secs_f64()) as usize;
    let probe_subs = base.adverse_events(probes, 300_000)?;
    let background_subs = base.registrations(background, 0)?;
    let dir = base.copy(&work.join("stream"))?;
    let token = base.token.clone();
    let cursor = end_cursor(&dir)?;
    let served = Served::start(&dir, &base.token, &[])?;
    let body = open_stream(&served.url, &token, &cursor)?;
    // Scheduled send time of each probe, by AE id; arrival time of each, by AE id.
    let sent_at: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let arrived: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    // The stream's `caught-up` event (data `{}`): the server's follower has read the demo.
    // Timing starts after it, or the first probes would wait for the follower's start-up.
    let caught_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (arrived, caught_up) = (arrived.clone(), caught_up.clone());
        std::thread::spawn(move || {
            read_events(body, |e| {
                if e.as_object().is_some_and(|o| o.is_empty()) {
                    caught_up.store(true, Ordering::SeqCst);
                }
                let mut got = arrived.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(id) = e["ae_id"].as_u64() {
                    got.insert(id, Instant::now());
                }
                got.len() < probes
            })
        })
    };
    let deadline = Instant::now() + Duration::from_secs(300);
    while !caught_up.load(Ordering::SeqCst) {
        ensure!(
            Instant::now() < deadline,
            "the stream did not catch up within 300 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let start = Instant::now() + Duration::from_millis(300);
    let url = served.url.clone();
    let sent = |i: usize, at: Instant| {
        let mut s = sent_at.lock().unwrap_or_else(|e| e.into_inner());
        s.insert(300_000 + i as u64, at);
    };
    std::thread::scope(|s| -> Result<()> {
        let bg = s.spawn(|| {
            paced(
                &url,
                &background_subs,
                BACKGROUND_RATE,
                8,
                start,
                &|_, _| {},
            )
        });
        paced(&url, &probe_subs, PROBE_RATE, 4, start, &sent)?;
        bg.join().unwrap_or_else(|_| bail!("a client panicked"))?;
        Ok(())
    })?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while arrived.lock().map_or(0, |a| a.len()) < probes && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let got = arrived.lock().unwrap_or_else(|e| e.into_inner()).clone();
    ensure!(
        got.len() == probes,
        "the stream delivered {} of {probes} probe events within 10 s of the last",
        got.len()
    );
    drop(served);
    let _ = reader.join();
    let sent_at = sent_at.lock().unwrap_or_else(|e| e.into_inner());
    let mut lat: Vec<Duration> = got
        .iter()
        .filter_map(|(id, t)| sent_at.get(id).map(|s| t.saturating_duration_since(*s)))
        .collect();
    ensure!(lat.len() == probes, "a probe arrived that was never sent");
    let (p50, p99, p999) = (
        quantile_ms(&mut lat, 0.5),
        quantile_ms(&mut lat, 0.99),
        quantile_ms(&mut lat, 0.999),
    );
    let verdict = if p99 < STREAM_P99_TARGET_MS {
        "met"
    } else {
        "NOT met"
    };
    println!(
        "stream latency: {probes} adverse events at {PROBE_RATE:.0}/s, from POST to arrival on the stream, with {BACKGROUND_RATE:.0} registrations/s beside them"
    );
    println!(
        "  p50 {p50:.1} ms   p99 {p99:.1} ms   p99.9 {p999:.1} ms   target p99 < {STREAM_P99_TARGET_MS} ms: {verdict}"
    );
    println!();
    Ok(())
}

/// The server's memory with the demo loaded, idle and with [`STREAM_CLIENTS`] stream clients
/// that have read the demo's whole safety history.
fn memory(work: &Path, base: &Base) -> Result<()> {
    let dir = base.copy(&work.join("memory"))?;
    let token = base.token.clone();
    // Room for the start-up check's stream and the history counter's beside the clients.
    let limit = (STREAM_CLIENTS + 2).to_string();
    let served = Served::start(&dir, &base.token, &["--max-streams-per-token", &limit])?;
    // The history's length, from one client that reads until the stream goes quiet.
    let history = count_history(&served.url, &token)?;
    std::thread::sleep(Duration::from_secs(1));
    let (idle, _) = served.memory()?;
    let caught_up = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for _ in 0..STREAM_CLIENTS {
        let body = open_stream(&served.url, &token, "")?;
        let caught_up = caught_up.clone();
        readers.push(std::thread::spawn(move || {
            let mut n = 0;
            let _ = read_events(body, |_| {
                n += 1;
                if n == history {
                    caught_up.fetch_add(1, Ordering::SeqCst);
                }
                true
            });
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    while caught_up.load(Ordering::SeqCst) < STREAM_CLIENTS {
        ensure!(
            Instant::now() < deadline,
            "only {} of {STREAM_CLIENTS} stream clients read the history within 300 s",
            caught_up.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (with_clients, peak) = served.memory()?;
    drop(served);
    for r in readers {
        let _ = r.join();
    }
    println!(
        "server memory: the demo loaded ({} living treated patients; safety history {history} events)",
        base.patients.len()
    );
    println!("  idle (after one client read the history)   {idle:>7.1} MiB VmRSS");
    println!(
        "  with {STREAM_CLIENTS} stream clients caught up          {with_clients:>7.1} MiB VmRSS   peak {peak:.1} MiB VmHWM   ({:+.1} MiB)",
        with_clients - idle
    );
    println!();
    Ok(())
}

/// Events in the stream's history: read from the start until none comes for two seconds.
fn count_history(url: &str, token: &str) -> Result<usize> {
    let body = open_stream(url, token, "")?;
    let count = Arc::new(AtomicUsize::new(0));
    let last = Arc::new(Mutex::new(Instant::now()));
    {
        let (count, last) = (count.clone(), last.clone());
        std::thread::spawn(move || {
            let _ = read_events(body, |_| {
                count.fetch_add(1, Ordering::SeqCst);
                *last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
                true
            });
        });
    }
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let quiet = last.lock().map_or(Duration::ZERO, |l| l.elapsed());
        let n = count.load(Ordering::SeqCst);
        if n > 0 && quiet > Duration::from_secs(2) {
            return Ok(n);
        }
        ensure!(
            quiet < Duration::from_secs(120),
            "the stream sent no history"
        );
    }
}
