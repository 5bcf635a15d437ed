//! `trial-ledger cohort-engine`: the cohort-engine service on the embedded log (see
//! `decider_host`).

use crate::cli::CohortEngineArgs;
use anyhow::Result;
use std::process::ExitCode;
use tl_domain::deciders::CohortEngineService;

/// Runs `cohort-engine`.
pub fn run(a: CohortEngineArgs) -> Result<ExitCode> {
    let service = CohortEngineService::with_expansion_policy(a.expansion_min_benefit_pct);
    crate::decider_host::run_cli(&a.service, service)
}
