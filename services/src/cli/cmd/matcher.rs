//! `trial-ledger matcher`: the matcher service on the embedded log (see `hosts::decider_embedded`).

use crate::cli::ServiceArgs;
use anyhow::Result;
use std::process::ExitCode;
use tl_domain::deciders::MatcherService;

/// Runs `matcher`.
pub fn run(a: ServiceArgs) -> Result<ExitCode> {
    crate::hosts::decider_embedded::run_cli(&a, MatcherService::new())
}
