//! `trial-ledger serve --data DIR`: the embedded sequencer behind the HTTP API ([`crate::api`]).
//!
//! The server is the only holder of the writer lock and of the decrypted sequencer key. Every
//! submission goes through one [`tl_ledger::SubmitHandle`], so concurrent clients share group
//! commits, and an answer leaves only once its record is durable. SIGTERM or Ctrl-C stops
//! accepting connections, lets requests in flight finish, flushes and closes the ledger.

use crate::api::{self, auth, ApiState};
use crate::cli::ServeArgs;
use anyhow::{Context, Result};
use std::process::ExitCode;
use std::sync::Arc;
use tl_ledger::submit::{self, HandleConfig};
use tl_schemas::UtcMicros;

/// Runs `serve` until SIGTERM or Ctrl-C.
pub fn run(a: ServeArgs) -> Result<ExitCode> {
    let token_file = super::tokens::token_path(Some(&a.data), &a.tokens)?;
    let access_log = super::tokens::access_log_path(Some(&a.data), &a.tokens)?;
    // A token file that cannot be read is an operator's error: say so now, not per request.
    crate::api::auth::TokenFile::read(&token_file)?;
    api::limits::check(&a.server)?;
    // Before the sequencer starts, so its batches are measured from the first.
    api::metrics::install()?;
    let trust = super::read_trust(&a.data)?;
    let root = trust.root_key().map_err(anyhow::Error::msg)?;
    let mut ledger = super::open_writer(&a.data)?;
    // A checkpoint of every partition that grew, after each group commit: published after all
    // of the batch's appends, they tell followers (the safety stream) which records are
    // settled in the merged order, and keep readers' proofs current.
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
        let (hub, dir) = (safety.clone(), super::ledger_dir(&a.data));
        std::thread::Builder::new()
            .name("tl-safety-stream".into())
            .spawn(move || hub.follow(dir))
            .context("starting the safety stream's follower")?
    };
    let api_state = Arc::new(ApiState {
        handle,
        ledger_dir: super::ledger_dir(&a.data),
        partitions,
        reads: api::reads::Reads::new(&a.data, trial.clone(), root),
        root,
        trial,
        safety: safety.clone(),
        tokens: auth::TokenStore::new(token_file),
        sessions: auth::Sessions::default(),
        access_log: auth::AccessLog::new(access_log),
        rate: api::limits::RateLimits::new(a.server.rate_per_key, a.server.rate_per_address),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let served = runtime.block_on(async {
        let listener = std::net::TcpListener::bind(a.listen)
            .with_context(|| format!("cannot listen on {}", a.listen))?;
        let addr = listener.local_addr()?;
        let url = format!("{}://{addr}", a.server.scheme());
        // The first line of stdout is the address, so scripts and tests can use port 0.
        println!("listening on {url}");
        // Other writers refused by the lock name this address (see `open_writer`).
        let url_file = super::server_url_path(&a.data);
        std::fs::write(&url_file, format!("{url}\n"))
            .with_context(|| format!("writing {}", url_file.display()))?;
        tracing::info!(%addr, data = %a.data.display(), tls = a.server.tls(), "serving");
        if let Some(m) = a.server.metrics_listen {
            let bound = api::metrics::serve_open(m, api_state.clone()).await?;
            // The second line names the metrics address (port 0 picks one).
            println!("metrics on http://{bound}/metrics");
        }
        let hub = safety.clone();
        let shutdown = async move {
            shutdown_signal().await;
            // Open streams end, so the requests in flight can finish and the server stops.
            hub.stop();
        };
        api::limits::serve(
            listener,
            api::app(api_state, &a.server),
            &a.server,
            shutdown,
        )
        .await
        .context("serving HTTP")
    });
    // Stop the sequencer after the last request finished: what was acknowledged is durable,
    // and the flush of anything still queued is reported here rather than lost.
    safety.stop();
    let _ = follower.join();
    let closed = sequencer.stop().and_then(|ledger| ledger.close());
    let _ = std::fs::remove_file(super::server_url_path(&a.data));
    served?;
    closed.context("closing the ledger")?;
    eprintln!("stopped; the ledger is closed.");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
