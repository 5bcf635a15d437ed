//! `trial-ledger project`: the projector as a long-lived service. It polls the embedded log
//! (or the trial's ledger topic on Kafka, read_committed),
//! verifies what is new once, and applies it to the three views (each view's rows and
//! positions in one SQLite transaction), until SIGTERM or Ctrl-C; then it finishes the
//! transaction in progress and exits 0. `--once` catches up and exits.

use crate::cli::ProjectArgs;
use crate::hosts::kafka_source::Source;
use anyhow::Result;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tl_projections::{LogState, Projector};

/// How the service loop ended.
enum Ended {
    /// Stopped by a signal, or caught up with `--once`.
    Clean,
    /// Verification stopped the projection (printed).
    Failed,
}

/// Runs `project`.
pub fn run(a: ProjectArgs) -> Result<ExitCode> {
    let (mut p, db) = super::view::open(&a.source)?;
    eprintln!("projecting into {}", db.display());
    if a.once {
        let started = Instant::now();
        return Ok(match super::view::catch_up(&mut p)? {
            None => ExitCode::from(crate::EXIT_NEGATIVE),
            Some(lag) => {
                print_lag(&lag, started.elapsed());
                ExitCode::SUCCESS
            }
        });
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let worker = {
        let stop = Arc::clone(&stop);
        let interval = Duration::from_millis(a.interval_ms);
        std::thread::spawn(move || {
            let r = serve(&mut p, &stop, interval);
            let _ = done_tx.send(());
            r
        })
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => eprintln!("SIGTERM: finishing the current transaction"),
            _ = tokio::signal::ctrl_c() => eprintln!("interrupted: finishing the current transaction"),
            _ = done_rx => {}
        }
        anyhow::Ok(())
    })?;
    stop.store(true, Ordering::SeqCst);
    let ended = worker
        .join()
        .map_err(|_| anyhow::anyhow!("the projector thread panicked"))??;
    Ok(match ended {
        Ended::Clean => ExitCode::SUCCESS,
        Ended::Failed => ExitCode::from(crate::EXIT_NEGATIVE),
    })
}

/// The service loop: catch up (each poll a committed transaction per view; reading and
/// verifying ahead of the views), then poll again every `interval`, until `stop`. While the
/// ledger is unreachable (a broker outage) it keeps its views and retries, backing off from
/// `interval` up to [`crate::hosts::outage::MAX_BACKOFF`]: nothing was read, so nothing is lost or applied twice.
fn serve(p: &mut Projector<Source>, stop: &AtomicBool, interval: Duration) -> Result<Ended> {
    let mut last_report = Instant::now();
    let mut outage = crate::hosts::outage::Outage::new(interval);
    while !stop.load(Ordering::SeqCst) {
        let mut pause = interval;
        match p.catch_up_until(LogState::Live, stop) {
            Ok(progress) => {
                if let Some(lasted) = outage.recovered() {
                    eprintln!(
                        "the ledger is reachable again after {:.0} s; projecting",
                        lasted.as_secs_f64()
                    );
                }
                if progress.verified > 0 || last_report.elapsed() > Duration::from_secs(60) {
                    let behind: u64 = p.lag()?.iter().map(|l| l.behind).sum();
                    tracing::info!(verified = progress.verified, behind, "caught up");
                    last_report = Instant::now();
                }
            }
            Err(e) if e.failure().is_some() => {
                eprintln!("FAILED: {e}");
                return Ok(Ended::Failed);
            }
            Err(e) if e.is_retriable() => {
                let (lasted, backoff) = outage.failed();
                eprintln!(
                    "{e}; unreachable for {:.0} s, the views are kept; retrying in {:.1} s",
                    lasted.as_secs_f64(),
                    backoff.as_secs_f64()
                );
                pause = backoff;
            }
            Err(e) => return Err(e.into()),
        }
        // Sleep in small steps so a stop is seen quickly.
        let until = Instant::now() + pause;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20).min(pause));
        }
    }
    let lag = p.lag()?;
    print_lag(&lag, Duration::ZERO);
    Ok(Ended::Clean)
}

fn print_lag(lag: &[tl_projections::Lag], took: Duration) {
    for view in ["enrollment", "safety", "dossier"] {
        let rows: Vec<_> = lag.iter().filter(|l| l.view == view).collect();
        let consumed: u64 = rows.iter().map(|l| l.consumed).sum();
        let behind: u64 = rows.iter().map(|l| l.behind).sum();
        println!("{view:<10} {consumed:>8} records applied, {behind} behind the log");
    }
    if !took.is_zero() {
        println!("caught up in {:.2} s", took.as_secs_f64());
    }
}
