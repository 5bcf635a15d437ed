//! The `trial-ledger` binary: parse the command line, set up logging, run. All the work is in
//! the library, so tests drive the same code.

use clap::Parser;
use std::io::IsTerminal;

/// mimalloc instead of the system allocator: the projections, verification and the sequencer
/// allocate and free millions of small buffers (decoded records, signing messages, rows), and
/// glibc's malloc spent about a tenth of a projection replay in `malloc`/`free` (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    quiet_on_closed_pipe();
    let cli = trial_ledger::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRIAL_LEDGER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal: not in files, pipes or CI logs.
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .init();
    match trial_ledger::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", trial_ledger::error_text(&e));
            std::process::ExitCode::from(2)
        }
    }
}

/// `trial-ledger view ... | head` closes our stdout early; Rust's `println!` then panics.
/// Like other Unix tools killed by SIGPIPE, exit quietly with status 141 (128 + SIGPIPE)
/// instead of printing a panic for what is not an error.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
