//! `trial-ledger up --kafka-local --demo --data DIR` and `up --kafka BOOTSTRAP --trial ID
//! --data DIR [--demo]`: the whole site on a trial on Kafka, in one process: the Kafka
//! sequencer (`tl_kafka::sequencer`, as `trial-ledger sequencer` runs it), the matcher and the
//! cohort engine (each a [`KafkaHost`] producing to intake), the projector (the API's views
//! following the committed ledger) and the API (`serve --kafka`'s [`Server`]).
//!
//! With `--kafka-local` it first starts a single-node broker from `infra/kafka` (as `demo
//! --kafka-local` does); that broker is new and empty, so `--demo` is required: the demo trial
//! is simulated onto it, then served. With `--kafka` and `--demo`, the demo trial is simulated
//! onto the given cluster; without `--demo`, DIR is the folder `init --kafka` wrote (its
//! sequencer key, the deciders' keys in DIR/keys, its trust file).
//!
//! **Stopping.** SIGTERM or Ctrl-C (watched from the start, so a signal during start-up stops
//! it too) stops, in order: the API (requests in flight finish, and every answer that left
//! was committed), the deciders (after the decisions awaiting their verdicts), the projector,
//! the stream follower and the writer, the sequencer (after its transaction in progress), and
//! last the local broker, stopped and removed.

use super::serve::{self, Server};
use super::up::{UpConfig, Worker};
use crate::cli::UpArgs;
use crate::hosts::decider_embedded::RunMode;
use crate::hosts::decider_kafka::KafkaHost;
use crate::hosts::local_kafka::LocalBroker;
use anyhow::{bail, Context, Result};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tl_domain::deciders::{CohortEngineService, DecidingService, MatcherService};
use tl_domain::TrialRules;

/// The trial id of the demo on a local broker (as `demo` names it).
const LOCAL_TRIAL: &str = "drup-demo";

/// Runs `up --kafka-local` or `up --kafka` until SIGTERM or Ctrl-C.
pub fn run_cli(a: &UpArgs) -> Result<ExitCode> {
    let signalled = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&signalled))
            .context("installing the signal handler")?;
    }
    if a.kafka_local && !a.demo {
        bail!(
            "up --kafka-local starts a new, empty broker (removed when up stops): give --demo to \
             run the demo trial on it, or --kafka BOOTSTRAP --trial ID for a trial that exists"
        );
    }
    let local = if a.kafka_local {
        Some(LocalBroker::start(true)?)
    } else {
        None
    };
    let ran = run_on(a, local.as_ref(), &signalled);
    if let Some(broker) = local {
        drop(broker);
        eprintln!("the local Kafka broker is stopped and its data removed");
    }
    ran
}

/// The site on the broker (`local`'s, else `--kafka`'s) until `signalled`.
fn run_on(
    a: &UpArgs,
    local: Option<&LocalBroker>,
    signalled: &Arc<AtomicBool>,
) -> Result<ExitCode> {
    let mut args = a.kafka.clone();
    if let Some(l) = local {
        args.kafka = Some(l.bootstrap.clone());
        args.trial = Some(LOCAL_TRIAL.into());
        args.topic_safety = crate::cli::SafetyArg::Dev;
    }
    let cfg = super::kafka_config(&args)?
        .context("--kafka needs the bootstrap servers (host:port) and --trial ID")?;
    let config = if a.demo {
        super::up::demo_first(a, Some((&cfg.bootstrap, cfg.trial.as_str())))?
    } else {
        super::up::from_folder(a)?
    };
    if signalled.load(Ordering::SeqCst) {
        return Ok(ExitCode::SUCCESS);
    }
    let (root, db) = serve::kafka_files(&cfg, Some(&config.data), None, None)?;
    let seq_stop = Arc::new(AtomicBool::new(false));
    let sequencer = {
        let scfg = tl_kafka::SequencerConfig::new(cfg.clone(), config.sequencer.clone(), root);
        let stop = seq_stop.clone();
        std::thread::Builder::new()
            .name("tl-kafka-sequencer".into())
            .spawn(move || tl_kafka::sequencer::run(&scfg, || TrialRules, &stop))?
    };
    let served = serve_site(&cfg, &config, root, &db, signalled);
    seq_stop.store(true, Ordering::SeqCst);
    let sequenced = sequencer
        .join()
        .map_err(|_| anyhow::anyhow!("the sequencer thread panicked"))?;
    let failed = served?;
    match sequenced {
        Ok(s) => eprintln!(
            "sequencer stopped: {} records, {} rejections in {} transactions ({} aborted)",
            s.records, s.rejections, s.transactions, s.aborts
        ),
        Err(e) => bail!("the sequencer stopped with an error: {e}"),
    }
    Ok(if failed {
        ExitCode::from(crate::EXIT_NEGATIVE)
    } else {
        ExitCode::SUCCESS
    })
}

/// The API, the deciders and the projector until `signalled`, then stopped in order; true
/// when a worker failed.
fn serve_site(
    cfg: &tl_kafka::KafkaConfig,
    config: &UpConfig,
    root: [u8; 32],
    db: &std::path::Path,
    signalled: &Arc<AtomicBool>,
) -> Result<bool> {
    let server = Server::start_kafka(
        cfg,
        root,
        db,
        Some(&config.data),
        &config.tokens,
        &config.server,
    )?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    if let Some(key) = &config.matcher {
        workers.push(decider(
            cfg,
            "matcher",
            MatcherService::new(),
            key,
            config.poll,
            &stop,
        )?);
    }
    if let Some(key) = &config.cohort_engine {
        let service = CohortEngineService::new();
        workers.push(decider(
            cfg,
            "cohort engine",
            service,
            key,
            config.poll,
            &stop,
        )?);
    }
    workers.push(super::up::projector(&server, &stop, config.poll)?);
    let runtime = serve::runtime()?;
    let (data, flag) = (config.data.clone(), signalled.clone());
    let served = server.serve_http(
        &runtime,
        config.listen,
        move || async move {
            while !flag.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        },
        move |url| {
            println!("the API: {url}  (GET /healthz, /v1/views/safety, POST /v1/submissions)");
            println!(
                "a read token: trial-ledger tokens new --data {} --name \"Your Name\" --role auditor",
                data.display()
            );
        },
    );
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
    Ok(failed)
}

/// A deciding service following the trial on Kafka on its own thread.
fn decider<S: DecidingService + Send + 'static>(
    cfg: &tl_kafka::KafkaConfig,
    name: &'static str,
    service: S,
    key: &tl_ledger::SigningKey,
    poll: Duration,
    stop: &Arc<AtomicBool>,
) -> Result<Worker> {
    let mut host = KafkaHost::connect(cfg, service, key.clone())?;
    let stop = stop.clone();
    let thread = std::thread::Builder::new()
        .name(format!("tl-{}", name.replace(' ', "-")))
        .spawn(move || super::up::said(host.run(RunMode::Follow { poll }, &stop)))?;
    Ok((name, thread))
}
