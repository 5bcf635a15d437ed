//! `trial-ledger cohort-engine`: the cohort-engine service on the embedded log (see
//! `hosts::decider_embedded`).

use crate::cli::CohortEngineArgs;
use anyhow::Result;
use std::process::ExitCode;
use tl_domain::deciders::CohortEngineService;

/// Runs `cohort-engine`.
pub fn run(a: CohortEngineArgs) -> Result<ExitCode> {
    let service = CohortEngineService::with_expansion_policy(a.expansion_min_benefit_pct);
    crate::hosts::decider_embedded::run_cli(&a.service, service)
}
