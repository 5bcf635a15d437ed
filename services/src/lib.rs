#![forbid(unsafe_code)]
//! trial-ledger's services and CLI. `main` parses a [`cli::Cli`] and calls [`run`].
//!
//! One folder per concern (DESIGN.md section 7):
//! - [`cli`]: argument parsing, the one-shot commands (`cli::cmd`) and their helpers (key
//!   files and passphrases, event JSON);
//! - [`hosts`]: the long-running services hosted on each backend (deciders on the embedded log
//!   and on Kafka, the projector's Kafka source, the simulator on Kafka, a local broker);
//! - [`api`]: the HTTP API that `serve` runs (one router per concern, one error type);
//! - [`trail`]: a subject's decision trail, shared by the CLI and (later) the HTTP API.

pub mod api;
pub mod cli;
pub mod hosts;
pub mod trail;

use std::process::ExitCode;

/// Exit code when the command ran but its verdict is negative: a verification failure or a
/// refused submission. Errors (bad arguments, missing files) exit with 2.
pub const EXIT_NEGATIVE: u8 = 1;

/// Runs one command.
pub fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    use cli::Command;
    let mut files: cli::secrets::PassphraseFiles = cli.passphrases.into();
    if let Command::Keys(cli::KeysCommand::Passwd {
        new_passphrase_file,
        ..
    }) = &cli.command
    {
        files.new_key.clone_from(new_passphrase_file);
    }
    cli::secrets::use_files(files);
    match cli.command {
        Command::Init(a) => cli::cmd::init::run(a),
        Command::Keys(a) => cli::cmd::keys::run(a),
        Command::Submit(a) => cli::cmd::submit::run(a),
        Command::Verify(a) => cli::cmd::verify::run(a),
        Command::Bench(a) if a.kafka.is_some() || a.kafka_local => cli::cmd::bench_kafka::run(a),
        Command::Bench(a) if a.generate.is_some() => {
            cli::cmd::bench_generate::run(&a, a.generate.unwrap_or(0))
        }
        Command::Bench(a) if a.grouped => cli::cmd::bench_grouped::run(&a),
        Command::Bench(a) if a.http => cli::cmd::bench_http::run(&a),
        Command::Bench(a) if a.open => cli::cmd::bench_open::run(&a),
        Command::Bench(a) => cli::cmd::bench::run(a),
        Command::Erase(a) => cli::cmd::erase::run(a),
        Command::Demo(a) => cli::cmd::demo::run(a),
        Command::Checkpoint(a) => cli::cmd::checkpoint::run(a),
        Command::Prove(a) => cli::cmd::prove::run(a),
        Command::CheckProof(a) => cli::cmd::check_proof::run(a),
        Command::Trail(a) => cli::cmd::trail::run(a),
        Command::Sequencer(a) => cli::cmd::sequencer::run(a),
        Command::KafkaCheck(a) => cli::cmd::kafka_check::run(a),
        Command::Matcher(a) => cli::cmd::matcher::run(a),
        Command::CohortEngine(a) => cli::cmd::cohort_engine::run(a),
        Command::Export(a) => cli::cmd::export::run(a),
        Command::VerifyBundle(a) => cli::cmd::verify_bundle::run(a),
        Command::Dossier(a) => cli::cmd::dossier::run(a),
        Command::VerifyDossier(a) => cli::cmd::verify_dossier::run(a),
        Command::View(a) => cli::cmd::view::run(a),
        Command::Project(a) => cli::cmd::project::run(a),
        Command::BenchProject(a) => cli::cmd::bench_project::run(a),
        Command::Serve(a) => cli::cmd::serve::run(a),
        Command::Up(a) => cli::cmd::up::run_cli(a),
        Command::Tokens(a) => cli::cmd::tokens::run(a),
        Command::Repair(a) => cli::cmd::repair::run(a),
    }
}

/// The text `main` prints for an error: the message and its causes, joined by `: `, each said
/// once. Some error types print their source in their own message and also return it as their
/// source; a cause whose text is already in what comes before it is left out, so an OS error
/// is not printed twice.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_error_that_prints_its_source_is_not_repeated() {
        #[derive(Debug, thiserror::Error)]
        #[error("{path}: {source}")]
        struct Io {
            path: String,
            source: std::io::Error,
        }
        let io = std::io::Error::from_raw_os_error(21);
        let e = anyhow::Error::new(Io {
            path: "/tmp/x".into(),
            source: io,
        })
        .context("reading the event file");
        let text = super::error_text(&e);
        assert_eq!(text.matches("os error 21").count(), 1, "{text}");
        assert!(
            text.starts_with("reading the event file: /tmp/x: "),
            "{text}"
        );
        // Causes that do not repeat are all kept.
        let e = anyhow::anyhow!("inner").context("middle").context("outer");
        assert_eq!(super::error_text(&e), "outer: middle: inner");
    }
}
