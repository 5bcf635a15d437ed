//! `trial-ledger serve --data DIR`: the embedded sequencer behind the HTTP API ([`crate::api`]).
//!
//! The server is the only holder of the writer lock and of the decrypted sequencer key. Every
//! submission goes through one [`tl_ledger::SubmitHandle`], so concurrent clients share group
//! commits, and an answer leaves only once its record is durable. SIGTERM or Ctrl-C stops
//! accepting connections, lets requests in flight finish, flushes and closes the ledger.
//!
//! [`Server`] is the part `serve` and `up` share: the sequencer thread, the safety stream's
//! follower and the API's state, started over an open writer and stopped in order.

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

/// Runs `serve` until SIGTERM or Ctrl-C.
pub fn run(a: ServeArgs) -> Result<ExitCode> {
    api::limits::check(&a.server)?;
    let server = Server::start(&a.data, &a.tokens, &a.server, super::open_writer(&a.data)?)?;
    let runtime = runtime()?;
    let served = server.serve_http(&runtime, a.listen, shutdown_signal, |_| {});
    server.stop(served)?;
    eprintln!("stopped; the ledger is closed.");
    Ok(ExitCode::SUCCESS)
}

/// The async runtime the API runs on.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The sequencer thread, the safety stream's follower and the API's state over one data
/// folder's writer.
pub(crate) struct Server {
    /// What every handler shares (the submit handle among it).
    pub state: Arc<ApiState>,
    /// The sequencer on its own thread, stopped last.
    sequencer: SequencerThread<TrialRules>,
    /// The safety stream's follower thread, joined when the server stops.
    follower: std::thread::JoinHandle<()>,
    /// The data folder: where `serve.url` is left for writers refused by the lock.
    data: PathBuf,
    /// TLS, CORS, limits and the metrics address, applied when serving.
    flags: ServerFlags,
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
        // A checkpoint of every partition that grew, after each group commit: published after
        // all of the batch's appends, they tell followers (the safety stream) which records
        // are settled in the merged order, and keep readers' proofs current.
        ledger.set_publish_policy(tl_ledger::publish::PublishPolicy {
            every_records: 1,
            every: std::time::Duration::ZERO,
        });
        let state = ledger.state();
        let partitions = state.partition_count();
        let trial = state.trial().clone();
        let (handle, sequencer) = submit::spawn(ledger, UtcMicros::now, HandleConfig::default())?;
        // The safety stream's follower reads the ledger in merged order on its own thread.
        let safety = Arc::new(api::stream::SafetyHub::default());
        let follower = {
            let (hub, dir) = (safety.clone(), super::ledger_dir(data));
            std::thread::Builder::new()
                .name("tl-safety-stream".into())
                .spawn(move || hub.follow(dir))
                .context("starting the safety stream's follower")?
        };
        let state = Arc::new(ApiState {
            handle,
            ledger_dir: super::ledger_dir(data),
            partitions,
            reads: api::reads::Reads::new(data, trial.clone(), root),
            root,
            trial,
            safety,
            tls: flags.tls(),
            streams: Arc::new(api::stream::StreamSlots::new(flags.max_streams_per_token)),
            tokens: auth::TokenStore::new(token_file),
            sessions: auth::Sessions::default(),
            access_log: auth::AccessLog::new(access_log),
            rate: api::limits::RateLimits::new(flags.rate_per_key, flags.rate_per_address),
            tiles: api::tiles::TileCache::default(),
        });
        Ok(Server {
            state,
            sequencer,
            follower,
            data: data.to_path_buf(),
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
            let url_file = super::server_url_path(&self.data);
            std::fs::write(&url_file, format!("{url}\n"))
                .with_context(|| format!("writing {}", url_file.display()))?;
            println!("listening on {url}");
            tracing::info!(%addr, data = %self.data.display(), tls = self.flags.tls(), "serving");
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
        let closed = self.sequencer.stop().and_then(|ledger| ledger.close());
        let _ = std::fs::remove_file(super::server_url_path(&self.data));
        served?;
        closed.context("closing the ledger")?;
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
