//! `trial-ledger kafka-check`: the production-mode check of a trial on a secured Kafka
//! cluster, run by hand (the same check `init --kafka` and `sequencer` run before they start).

use crate::cli::KafkaCheckArgs;
use anyhow::{Context, Result};
use std::process::ExitCode;

/// Prints `ok` or each problem; exit 0 when safe, 1 when not.
pub fn run(a: KafkaCheckArgs) -> Result<ExitCode> {
    let k = super::kafka_config(&a.kafka)?
        .context("kafka-check needs --kafka BOOTSTRAP --trial ID --kafka-config FILE")?;
    let problems = crate::hosts::kafka_acl::check(&k, a.kafka.kafka_config.as_deref(), &a.acl)?;
    if problems.is_empty() {
        println!(
            "ok: only User:{} may write {}; the brokers refuse access without ACLs",
            a.acl.acl_sequencer, k.topics.ledger
        );
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        println!("problem: {p}");
    }
    Ok(ExitCode::from(1))
}
