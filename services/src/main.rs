//! The `trial-ledger` binary: parse the command line, set up logging, run. All the work is in
//! the library, so tests drive the same code.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = trial_ledger::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRIAL_LEDGER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match trial_ledger::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
