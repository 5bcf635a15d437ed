//! `trial-ledger serve --data DIR`: the embedded sequencer behind the HTTP API ([`crate::api`]).
//!
//! The server is the only holder of the writer lock and of the decrypted sequencer key. Every
//! submission goes through one [`tl_ledger::SubmitHandle`], so concurrent clients share group
//! commits, and an answer leaves only once its record is durable. SIGTERM or Ctrl-C stops
//! accepting connections, lets requests in flight finish, flushes and closes the ledger.

use crate::api::{self, ApiState};
use crate::cli::ServeArgs;
use anyhow::{Context, Result};
use std::process::ExitCode;
use std::sync::Arc;
use tl_ledger::submit::{self, HandleConfig};
use tl_schemas::UtcMicros;

/// Runs `serve` until SIGTERM or Ctrl-C.
pub fn run(a: ServeArgs) -> Result<ExitCode> {
    let ledger = super::open_writer(&a.data)?;
    let state = ledger.state();
    let partitions = state.partition_count();
    let trial = state.trial().clone();
    let (handle, sequencer) = submit::spawn(ledger, UtcMicros::now, HandleConfig::default())?;
    let api_state = Arc::new(ApiState {
        handle,
        ledger_dir: super::ledger_dir(&a.data),
        partitions,
        trial,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .with_context(|| format!("cannot listen on {}", a.listen))?;
        let addr = listener.local_addr()?;
        // The first line of stdout is the address, so scripts and tests can use port 0.
        println!("listening on http://{addr}");
        // Other writers refused by the lock name this address (see `open_writer`).
        let url_file = super::server_url_path(&a.data);
        std::fs::write(&url_file, format!("http://{addr}\n"))
            .with_context(|| format!("writing {}", url_file.display()))?;
        tracing::info!(%addr, data = %a.data.display(), "serving");
        api::run(listener, api::router(api_state), shutdown_signal())
            .await
            .context("serving HTTP")
    });
    // Stop the sequencer after the last request finished: what was acknowledged is durable,
    // and the flush of anything still queued is reported here rather than lost.
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
