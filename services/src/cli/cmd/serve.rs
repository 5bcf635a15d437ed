//! `trial-ledger serve --data DIR`: the embedded sequencer behind the HTTP API ([`crate::api`]).
//!
//! The server is the only holder of the writer lock and of the decrypted sequencer key. Every
//! submission goes through one [`tl_ledger::SubmitHandle`], so concurrent clients share group
//! commits, and an answer leaves only once its record is durable. SIGTERM or Ctrl-C stops
//! accepting connections, lets requests in flight finish, flushes and closes the ledger.
//!
//! [`Server`] is the part `serve` and `up` share: the sequencer thread, the safety stream's
//! follower and the API's state, started over an open writer and stopped in order.
//!
//! `serve --kafka BOOTSTRAP --trial ID` is the API in front of a trial on Kafka
//! ([`Server::start_kafka`]): a writer to `<trial>.intake` that checks signature, enrolment
//! and role first, and a reader of the committed ledger for receipts, the safety stream and
//! the views (in `--db DIR`, by default `DIR/views`). The sequencer runs as its own service.

use crate::api::limits::ServerFlags;
use crate::api::{self, auth, ApiState};
use crate::cli::{ServeArgs, TokenFiles};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use tl_domain::TrialRules;
use tl_ledger::submit::{self, HandleConfig, SequencerThread};
use tl_ledger::EmbeddedLedger;
use tl_schemas::UtcMicros;

/// While submissions keep arriving, the embedded server publishes checkpoints at most this
/// often (when none waits, before every answer): what a busy server's safety stream and
/// proofs may lag behind its receipts, at most.
pub(crate) const BUSY_PUBLISH_EVERY: std::time::Duration = std::time::Duration::from_millis(20);

/// Runs `serve` until SIGTERM or Ctrl-C.
pub fn run(a: ServeArgs) -> Result<ExitCode> {
    api::limits::check(&a.server)?;
    let server = match super::kafka_config(&a.kafka)? {
        Some(cfg) => {
            let (root, db) =
                kafka_files(&cfg, a.data.as_deref(), a.trust.as_deref(), a.db.as_deref())?;
            Server::start_kafka(&cfg, root, &db, a.data.as_deref(), &a.tokens, &a.server)?
        }
        None => {
            let data = a
                .data
                .as_deref()
                .context("give --data DIR (an embedded ledger) or --kafka BOOTSTRAP --trial ID")?;
            Server::start(data, &a.tokens, &a.server, super::open_writer(data)?)?
        }
    };
    let runtime = runtime()?;
    let served = server.serve_http(&runtime, a.listen, shutdown_signal, |_| {});
    let on_kafka = server.handle.is_none();
    server.stop(served)?;
    eprintln!(
        "{}",
        if on_kafka {
            "stopped; every answer given was committed."
        } else {
            "stopped; the ledger is closed."
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// The async runtime the API runs on.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The trust file's pinned root and the views' folder of `serve --kafka` or `up --kafka`:
/// `--trust` / `--db`, else `DIR/trust.json` / `DIR/views` of `--data DIR`.
pub(crate) fn kafka_files(
    cfg: &tl_kafka::KafkaConfig,
    data: Option<&Path>,
    trust: Option<&Path>,
    db: Option<&Path>,
) -> Result<([u8; 32], PathBuf)> {
    let trust_path = trust
        .map(Path::to_path_buf)
        .or_else(|| data.map(super::trust_path))
        .context("with --kafka, give --trust FILE (the trial's trust file, as `init --kafka` wrote it) or --data DIR holding it")?;
    let db = db
        .map(Path::to_path_buf)
        .or_else(|| data.map(|d| super::view::db_dir(d, None)))
        .context(
            "with --kafka, give --db DIR (the views' folder) or --data DIR (views in DIR/views)",
        )?;
    let trust = tl_ledger::trust::TrustFile::read(&trust_path)
        .with_context(|| format!("trust file {}", trust_path.display()))?;
    anyhow::ensure!(
        trust.trial() == cfg.trial,
        "trust file {} is of trial {}, not of --trial {}",
        trust_path.display(),
        trust.trial(),
        cfg.trial
    );
    Ok((trust.root_key().map_err(anyhow::Error::msg)?, db))
}

/// Who sequences: the embedded sequencer thread, or (on Kafka) the sequencer service, which
/// this process only writes to.
enum Sequencing {
    /// The embedded sequencer on its own thread, stopped last.
    Embedded(SequencerThread<TrialRules>),
    /// The thread producing to intake, stopped by `stop`.
    Kafka {
        writer: std::thread::JoinHandle<()>,
        stop: Arc<std::sync::atomic::AtomicBool>,
    },
}

/// The sequencer thread (or the Kafka writer), the safety stream's follower and the API's
/// state.
pub(crate) struct Server {
    /// What every handler shares (the submitter among it).
    pub state: Arc<ApiState>,
    /// The embedded submit handle (the deciders of `up --data` submit through it).
    pub handle: Option<tl_ledger::SubmitHandle>,
    /// The sequencer, or the Kafka writer.
    sequencing: Sequencing,
    /// The safety stream's follower thread, joined when the server stops.
    follower: std::thread::JoinHandle<()>,
    /// The embedded data folder: where `serve.url` is left for writers refused by the lock.
    data: Option<PathBuf>,
    /// TLS, CORS, limits and the metrics address, applied when serving.
    flags: ServerFlags,
}

/// What the API's state is made of besides the backend.
struct Common {
    reads: api::reads::Reads,
    root: [u8; 32],
    trial: tl_schemas::TrialId,
    partitions: u32,
    safety: Arc<api::stream::SafetyHub>,
    token_file: PathBuf,
    access_log: PathBuf,
}

fn api_state(
    c: Common,
    submit: api::backend::Submitter,
    backend: api::backend::Backend,
    flags: &ServerFlags,
) -> Arc<ApiState> {
    Arc::new(ApiState {
        submit,
        backend,
        partitions: c.partitions,
        reads: c.reads,
        root: c.root,
        trial: c.trial,
        safety: c.safety,
        tls: flags.tls(),
        streams: Arc::new(api::stream::StreamSlots::new(flags.max_streams_per_token)),
        tokens: auth::TokenStore::new(c.token_file),
        sessions: auth::Sessions::default(),
        access_log: auth::AccessLog::new(c.access_log),
        rate: api::limits::RateLimits::new(flags.rate_per_key, flags.rate_per_address),
        tiles: api::tiles::TileCache::default(),
    })
}

impl Server {
    /// Starts the sequencer thread over `ledger` (the data folder `data`'s writer) and the
    /// safety stream's follower, and prepares the API's state. Checks the token file first: a
    /// token file that cannot be read is an operator's error, said now, not per request.
    pub fn start(
        data: &Path,
        tokens: &TokenFiles,
        flags: &ServerFlags,
        mut ledger: EmbeddedLedger<TrialRules>,
    ) -> Result<Self> {
        let token_file = super::tokens::token_path(Some(data), tokens)?;
        let access_log = super::tokens::access_log_path(Some(data), tokens)?;
        auth::TokenFile::read(&token_file)?;
        // Before the sequencer starts, so its batches are measured from the first.
        api::metrics::install()?;
        let trust = super::read_trust(data)?;
        let root = trust.root_key().map_err(anyhow::Error::msg)?;
        // Checkpoints of every partition that grew, published after all of a batch's appends:
        // they tell followers (the safety stream) which records are settled in the merged
        // order, and keep readers' proofs current. An idle server publishes before it answers
        // a batch (`publish_when_idle`); a busy one (submissions already waiting) at most every
        // BUSY_PUBLISH_EVERY, so that one checkpoint's signing and fdatasync serve many batches.
        ledger.set_publish_policy(tl_ledger::publish::PublishPolicy {
            every_records: u64::MAX,
            every: BUSY_PUBLISH_EVERY,
        });
        // A server killed without closing reopens from a recent snapshot.
        ledger.set_snapshot_policy(Some(flags.snapshot_policy()));
        let state = ledger.state();
        let partitions = state.partition_count();
        let trial = state.trial().clone();
        let config = HandleConfig {
            publish_when_idle: true,
            ..HandleConfig::default()
        };
        let (handle, sequencer) = submit::spawn(ledger, UtcMicros::now, config)?;
        // The safety stream's follower reads the ledger in merged order on its own thread.
        let safety = Arc::new(api::stream::SafetyHub::default());
        let follower = {
            let (hub, dir) = (safety.clone(), super::ledger_dir(data));
            std::thread::Builder::new()
                .name("tl-safety-stream".into())
                .spawn(move || hub.follow(dir))
                .context("starting the safety stream's follower")?
        };
        let common = Common {
            reads: api::reads::Reads::new(data, trial.clone(), root),
            root,
            trial,
            partitions,
            safety,
            token_file,
            access_log,
        };
        let state = api_state(
            common,
            api::backend::Submitter::Embedded(handle.clone()),
            api::backend::Backend::Embedded(super::ledger_dir(data)),
            flags,
        );
        Ok(Server {
            state,
            handle: Some(handle),
            sequencing: Sequencing::Embedded(sequencer),
            follower,
            data: Some(data.to_path_buf()),
            flags: flags.clone(),
        })
    }

    /// The API in front of the trial `cfg` on Kafka (its topics must exist and a sequencer
    /// run): the writer thread ([`crate::hosts::kafka_api::KafkaSubmitter`]), the safety
    /// stream's follower of the committed ledger, and the views in `db`. `data` only gives
    /// the token file's and access log's defaults.
    pub fn start_kafka(
        cfg: &tl_kafka::KafkaConfig,
        root: [u8; 32],
        db: &Path,
        data: Option<&Path>,
        tokens: &TokenFiles,
        flags: &ServerFlags,
    ) -> Result<Self> {
        let token_file = super::tokens::token_path(data, tokens)?;
        let access_log = super::tokens::access_log_path(data, tokens)?;
        auth::TokenFile::read(&token_file)?;
        api::metrics::install()?;
        std::fs::create_dir_all(db).with_context(|| format!("creating {}", db.display()))?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let lag = Arc::new(crate::hosts::kafka_lag::KafkaLag::new(cfg));
        let (submitter, writer) = crate::hosts::kafka_api::KafkaSubmitter::spawn(
            cfg,
            root,
            stop.clone(),
            lag.followers.clone(),
        )?;
        let partitions = tl_kafka::topics::partition_count(cfg, &cfg.topics.ledger)?
            .context("the trial's ledger topic is missing")?;
        let safety = Arc::new(api::stream::SafetyHub::default());
        let follower = {
            let (hub, cfg, at) = (safety.clone(), cfg.clone(), lag.followers.clone());
            std::thread::Builder::new()
                .name("tl-safety-stream".into())
                .spawn(move || crate::hosts::kafka_api::follow_stream(&hub, &cfg, partitions, &at))
                .context("starting the safety stream's follower")?
        };
        let common = Common {
            reads: api::reads::Reads::kafka(cfg, db, root),
            root,
            trial: cfg.trial.clone(),
            partitions,
            safety,
            token_file,
            access_log,
        };
        let state = api_state(
            common,
            api::backend::Submitter::Kafka(submitter),
            api::backend::Backend::Kafka(
                cfg.clone(),
                lag,
                Box::new(api::kafka_tiles::KafkaTiles::new(cfg, &db.join("tlog"))),
            ),
            flags,
        );
        Ok(Server {
            state,
            handle: None,
            sequencing: Sequencing::Kafka { writer, stop },
            follower,
            data: None,
            flags: flags.clone(),
        })
    }

    /// Serves the API on `listen` until the future `shutdown` makes resolves; requests in
    /// flight finish first.
    /// Leaves the URL in `DIR/serve.url` for writers refused by the lock, then prints
    /// `listening on http(s)://ADDR` as soon as it listens (scripts and tests read the port
    /// from it when it was 0), then `metrics on ...` when `--metrics-listen` is given, and
    /// tells `listening` the URL.
    pub fn serve_http<F>(
        &self,
        runtime: &tokio::runtime::Runtime,
        listen: std::net::SocketAddr,
        shutdown: impl FnOnce() -> F,
        listening: impl FnOnce(&str),
    ) -> Result<()>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        runtime.block_on(async {
            // Made before the address is printed, so that signal handlers are in place by then.
            let shutdown = shutdown();
            let listener = std::net::TcpListener::bind(listen)
                .with_context(|| format!("cannot listen on {listen}"))?;
            let addr = listener.local_addr()?;
            let url = format!("{}://{addr}", self.flags.scheme());
            // The URL file first: a writer started on the printed line finds it.
            if let Some(data) = &self.data {
                let url_file = super::server_url_path(data);
                std::fs::write(&url_file, format!("{url}\n"))
                    .with_context(|| format!("writing {}", url_file.display()))?;
            }
            println!("listening on {url}");
            tracing::info!(%addr, tls = self.flags.tls(), "serving");
            if let Some(m) = self.flags.metrics_listen {
                let bound = api::metrics::serve_open(m, self.state.clone()).await?;
                // The second line names the metrics address (port 0 picks one).
                println!("metrics on http://{bound}/metrics");
            }
            listening(&url);
            let hub = self.state.safety.clone();
            let shutdown = async move {
                shutdown.await;
                // Open streams end, so the requests in flight can finish and the server stops.
                hub.stop();
            };
            let app = api::app(self.state.clone(), &self.flags);
            api::limits::serve(listener, app, &self.flags, shutdown)
                .await
                .context("serving HTTP")
        })
    }

    /// Stops the safety stream, then the sequencer after the last request finished: what was
    /// acknowledged is durable, and the flush of anything still queued is reported here rather
    /// than lost. `served`: how serving ended, returned first if it failed.
    pub fn stop(self, served: Result<()>) -> Result<()> {
        self.state.safety.stop();
        let _ = self.follower.join();
        match self.sequencing {
            Sequencing::Embedded(sequencer) => {
                let closed = sequencer.stop().and_then(|ledger| ledger.close());
                if let Some(data) = &self.data {
                    let _ = std::fs::remove_file(super::server_url_path(data));
                }
                served?;
                closed.context("closing the ledger")?;
            }
            Sequencing::Kafka { writer, stop } => {
                // No request is in flight any more: every answer that left was committed.
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
                let _ = writer.join();
                served?;
            }
        }
        Ok(())
    }
}

/// A future that resolves on SIGTERM or Ctrl-C (SIGINT). The handlers are registered now, in
/// the calling runtime's context, not when the future is first polled: a signal that arrives
/// right after the server printed its address still stops it cleanly (before, the process
/// died of the signal's default action). Call it inside the runtime.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        tokio::select! {
            () = received(term) => {},
            () = received(int) => {},
        }
    }
}

/// Waits for one delivery of a registered signal (for ever if it could not be registered).
async fn received(registered: std::io::Result<tokio::signal::unix::Signal>) {
    match registered {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending::<()>().await,
    }
}
