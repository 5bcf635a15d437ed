//! `trial-ledger up --data DIR [--demo] [--listen ADDR]`: the whole embedded site in one
//! process: the sequencer (behind the submit handle, as `serve` runs it), the deciding services
//! (the matcher and the cohort engine, submitting through that handle), the projector (keeping
//! the three views up to date) and the HTTP API.
//!
//! With `--demo` it first fills a new folder with the demo trial (what `demo` does) and runs
//! the deciders with the demo's own keys (derived from its seed, as `demo` derives them).
//! Without it, the sequencer key opens as for `serve`, and each decider runs when its key file
//! is in `DIR/keys/` (`matcher.key`, `cohort-engine.key`, passphrase as for `--key`).
//!
//! **Stopping.** SIGTERM or Ctrl-C stops, in this order: the API (no new requests; those in
//! flight finish), the deciders (each after the batch in progress, whose submissions the
//! sequencer still answers), the projector (after its transaction in progress: rows and
//! positions commit together), and last the sequencer, which flushes and closes the ledger. So
//! no acknowledged record is lost and the views' positions stay consistent.

use super::serve::{self, Server};
use crate::cli::{DemoArgs, UpArgs};
use crate::hosts::decider_embedded::{Host, RunMode};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tl_domain::deciders::{CohortEngineService, MatcherService};
use tl_domain::TrialRules;
use tl_ledger::SigningKey;

/// What `up` runs.
pub struct UpConfig {
    /// The data folder.
    pub data: PathBuf,
    /// Where the API listens.
    pub listen: std::net::SocketAddr,
    /// The token file and the access log.
    pub tokens: crate::cli::TokenFiles,
    /// TLS, CORS, limits and the metrics address of the API.
    pub server: crate::api::limits::ServerFlags,
    /// The sequencer key.
    pub sequencer: SigningKey,
    /// The matcher's key, if the matcher runs.
    pub matcher: Option<SigningKey>,
    /// The cohort engine's key, if it runs.
    pub cohort_engine: Option<SigningKey>,
    /// How often the deciders and the projector look for new records.
    pub poll: Duration,
}

/// Runs `up` from the command line: the demo first with `--demo`, then [`run`] until SIGTERM
/// or Ctrl-C.
pub fn run_cli(a: UpArgs) -> Result<ExitCode> {
    // Bad TLS or CORS flags are said before the demo is written.
    crate::api::limits::check(&a.server)?;
    if a.kafka_local || a.kafka.kafka.is_some() {
        return super::up_kafka::run_cli(&a);
    }
    let config = if a.demo {
        demo_first(&a, None)?
    } else {
        from_folder(&a)?
    };
    run(config, serve::shutdown_signal)
}

/// Fills the new folder `--data` with the demo trial (on Kafka at `kafka`: bootstrap and
/// trial id); the configuration with the demo's keys.
pub(super) fn demo_first(a: &UpArgs, kafka: Option<(&str, &str)>) -> Result<UpConfig> {
    if std::fs::read_dir(&a.data).is_ok_and(|mut e| e.next().is_some()) {
        bail!(
            "{} is not empty: `up --demo` fills a new folder with the demo trial (choose another --data, or leave out --demo to serve an existing trial)",
            a.data.display()
        );
    }
    let demo = DemoArgs {
        data: a.data.clone(),
        trial: kafka.map_or("drup-demo", |k| k.1).into(),
        patients: a.patients,
        seed: a.seed,
        kafka: kafka.map(|k| k.0.to_string()),
        kafka_local: false,
        dev_plaintext: false,
        kafka_config: a.kafka.kafka_config.clone(),
        check: false,
    };
    if super::demo::run(demo)? != ExitCode::SUCCESS {
        bail!(
            "the demo trial in {} did not verify; not serving it",
            a.data.display()
        );
    }
    let keys = tl_sim::keys_of_seed(a.seed);
    Ok(UpConfig {
        data: a.data.clone(),
        listen: a.listen,
        tokens: a.tokens.clone(),
        server: a.server.clone(),
        sequencer: keys.sequencer.key.clone(),
        matcher: Some(keys.matcher.key.clone()),
        cohort_engine: Some(keys.cohort_engine.key.clone()),
        poll: Duration::from_millis(a.poll_ms),
    })
}

/// The configuration of an existing folder: its sequencer key, and the deciders' keys found
/// in `DIR/keys/`.
pub(super) fn from_folder(a: &UpArgs) -> Result<UpConfig> {
    super::read_trust(&a.data)?;
    let sequencer = crate::cli::secrets::load_sequencer_key(&a.data)?;
    let decider = |file: &str, name: &str| -> Result<Option<SigningKey>> {
        let path = a.data.join("keys").join(file);
        if !path.is_file() {
            eprintln!(
                "note: no {} key at {}: the {name} does not run",
                name,
                path.display()
            );
            return Ok(None);
        }
        Ok(Some(crate::cli::secrets::load_key(&path)?.0))
    };
    Ok(UpConfig {
        data: a.data.clone(),
        listen: a.listen,
        tokens: a.tokens.clone(),
        server: a.server.clone(),
        sequencer,
        matcher: decider("matcher.key", "matcher")?,
        cohort_engine: decider("cohort-engine.key", "cohort engine")?,
        poll: Duration::from_millis(a.poll_ms),
    })
}

/// Runs the sequencer, the deciders, the projector and the API over `config.data` until the
/// future `shutdown` makes (inside the runtime, before the address is printed) resolves, then
/// stops them in order (see the module's documentation).
pub fn run<F>(config: UpConfig, shutdown: impl FnOnce() -> F) -> Result<ExitCode>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let trust = super::read_trust(&config.data)?;
    let (ledger, _) = tl_ledger::EmbeddedLedger::open(
        &super::ledger_dir(&config.data),
        &trust,
        TrialRules,
        config.sequencer.clone(),
    )
    .with_context(|| format!("opening the ledger of {}", config.data.display()))?;
    let server = Server::start(&config.data, &config.tokens, &config.server, ledger)?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = deciders(&config, &server, &stop)?;
    workers.push(projector(&server, &stop, config.poll)?);
    let runtime = serve::runtime()?;
    let data = config.data.clone();
    let served = server.serve_http(&runtime, config.listen, shutdown, move |url| {
        println!("the API: {url}  (GET /healthz, /v1/views/safety, POST /v1/submissions)");
        println!(
            "a read token: trial-ledger tokens new --data {} --name \"Your Name\" --role auditor   (then: curl -H \"Authorization: Bearer TOKEN\" {url}/v1/views/enrollment)",
            data.display()
        );
    });
    eprintln!("stopping: the API is closed; stopping the deciders and the projector");
    stop.store(true, Ordering::SeqCst);
    let mut failed = false;
    for (name, w) in workers {
        match w.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!(
                    "the {name} stopped with an error: {}",
                    crate::error_text(&e)
                );
                failed = true;
            }
            Err(_) => {
                eprintln!("the {name} panicked");
                failed = true;
            }
        }
    }
    server.stop(served)?;
    eprintln!("stopped; the ledger is closed.");
    Ok(if failed {
        ExitCode::from(crate::EXIT_NEGATIVE)
    } else {
        ExitCode::SUCCESS
    })
}

/// A named worker thread.
pub(super) type Worker = (&'static str, JoinHandle<Result<()>>);

/// Starts the matcher and the cohort engine whose keys the configuration holds, each
/// following the ledger and submitting through the server's submit handle.
fn deciders(config: &UpConfig, server: &Server, stop: &Arc<AtomicBool>) -> Result<Vec<Worker>> {
    let mut out = Vec::new();
    let mode = RunMode::Follow { poll: config.poll };
    let handle = server
        .handle
        .as_ref()
        .context("the embedded server has a submit handle")?;
    if let Some(key) = &config.matcher {
        let mut host = Host::with_handle(
            &config.data,
            MatcherService::new(),
            key.clone(),
            handle.clone(),
        )?;
        let stop = stop.clone();
        out.push((
            "matcher",
            std::thread::Builder::new()
                .name("tl-matcher".into())
                .spawn(move || said(host.run(mode, &stop)))?,
        ));
    }
    if let Some(key) = &config.cohort_engine {
        let mut host = Host::with_handle(
            &config.data,
            CohortEngineService::new(),
            key.clone(),
            handle.clone(),
        )?;
        let stop = stop.clone();
        out.push((
            "cohort engine",
            std::thread::Builder::new()
                .name("tl-cohort-engine".into())
                .spawn(move || said(host.run(mode, &stop)))?,
        ));
    }
    Ok(out)
}

/// A decider's end, said at once when it failed (the others keep running until the stop).
pub(super) fn said<T>(r: Result<T>) -> Result<()> {
    if let Err(e) = &r {
        eprintln!(
            "a deciding service stopped: {}; the rest keep running",
            crate::error_text(e)
        );
    }
    r.map(|_| ())
}

/// Keeps the views up to date: the API's own projector (one writer of the view databases),
/// brought up to date every `poll` until `stop`; each catch-up commits whole transactions.
pub(super) fn projector(server: &Server, stop: &Arc<AtomicBool>, poll: Duration) -> Result<Worker> {
    let (state, stop) = (server.state.clone(), stop.clone());
    let thread = std::thread::Builder::new()
        .name("tl-projector".into())
        .spawn(move || {
            let mut warned = false;
            while !stop.load(Ordering::SeqCst) {
                match state.reads.with_views(|_| Ok(())) {
                    Ok(_) => warned = false,
                    Err(e) if !warned => {
                        eprintln!("the projector cannot bring the views up to date: {e:?}");
                        warned = true;
                    }
                    Err(_) => {}
                }
                crate::hosts::decider_embedded::sleep_unless_stopped(poll, &stop);
            }
            Ok(())
        })?;
    Ok(("projector", thread))
}
