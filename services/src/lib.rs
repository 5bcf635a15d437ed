#![forbid(unsafe_code)]
//! trial-ledger's services and CLI. `main` parses a [`cli::Cli`] and calls [`run`].

pub mod cli;
pub mod cmd;
pub mod decider_host;
pub mod decider_kafka;
pub mod event_json;
pub mod kafka_sim;
pub mod kafka_source;
pub mod local_kafka;
pub mod outage;
pub mod secrets;
pub mod trail;

use std::process::ExitCode;

/// Exit code when the command ran but its verdict is negative: a verification failure or a
/// refused submission. Errors (bad arguments, missing files) exit with 2.
pub const EXIT_NEGATIVE: u8 = 1;

/// Runs one command.
pub fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    use cli::Command;
    match cli.command {
        Command::Init(a) => cmd::init::run(a),
        Command::Keys(a) => cmd::keys::run(a),
        Command::Submit(a) => cmd::submit::run(a),
        Command::Verify(a) => cmd::verify::run(a),
        Command::Bench(a) if a.kafka.is_some() || a.kafka_local => cmd::bench_kafka::run(a),
        Command::Bench(a) => cmd::bench::run(a),
        Command::Erase(a) => cmd::erase::run(a),
        Command::Demo(a) => cmd::demo::run(a),
        Command::Checkpoint(a) => cmd::checkpoint::run(a),
        Command::Prove(a) => cmd::prove::run(a),
        Command::CheckProof(a) => cmd::check_proof::run(a),
        Command::Trail(a) => cmd::trail::run(a),
        Command::Sequencer(a) => cmd::sequencer::run(a),
        Command::Matcher(a) => cmd::matcher::run(a),
        Command::CohortEngine(a) => cmd::cohort_engine::run(a),
        Command::Export(a) => cmd::export::run(a),
        Command::VerifyBundle(a) => cmd::verify_bundle::run(a),
        Command::View(a) => cmd::view::run(a),
        Command::Project(a) => cmd::project::run(a),
        Command::BenchProject(a) => cmd::bench_project::run(a),
    }
}
