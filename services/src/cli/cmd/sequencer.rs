//! `trial-ledger sequencer`: the sequencer on Kafka as a long-lived service (tl_kafka::sequencer).

use crate::cli::SequencerArgs;
use anyhow::{Context, Result};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use tl_domain::TrialRules;
use tl_kafka::SequencerConfig;
use tl_ledger::trust::TrustFile;

/// Exit code of a sequencer that was fenced by another instance: a supervisor restarts it.
pub const EXIT_FENCED: u8 = 3;

/// Runs the service until SIGTERM / SIGINT.
pub fn run(a: SequencerArgs) -> Result<ExitCode> {
    let kafka = super::kafka_config(&a.kafka)?
        .context("the sequencer runs on Kafka: give --kafka BOOTSTRAP --trial ID")?;
    // Production mode on Kafka: only the sequencer may write the ledger topic (FORMAT.md §17b).
    if kafka.safety == tl_kafka::TopicSafety::Production && !a.acl.no_acls {
        crate::hosts::kafka_acl::require_safe(&kafka, a.kafka.kafka_config.as_deref(), &a.acl)?;
    }
    let key_path = a
        .key
        .clone()
        .or_else(|| {
            a.data
                .as_ref()
                .map(|d| d.join("keys").join("sequencer.key"))
        })
        .context("give the sequencer key with --key FILE (or --data DIR of `init`)")?;
    let trust_path = a
        .trust
        .clone()
        .or_else(|| a.data.as_ref().map(|d| super::trust_path(d)))
        .context("give the trust file with --trust FILE (or --data DIR of `init`)")?;
    let trust = TrustFile::read(&trust_path)?;
    anyhow::ensure!(
        trust.trial() == kafka.trial,
        "the trust file {} is for trial {}, not {}",
        trust_path.display(),
        trust.trial(),
        kafka.trial
    );
    let root = trust.root_key().map_err(anyhow::Error::msg)?;
    let sealer = crate::cli::secrets::load_sequencer_key_file(&key_path)?;
    let mut cfg = SequencerConfig::new(kafka, sealer, root);
    if let Some(id) = a.transactional_id {
        cfg.transactional_id = id;
    }
    if let Some(g) = a.group_id {
        cfg.group_id = g;
    }
    cfg.max_batch = a.max_batch as usize;
    cfg.commit_interval = Duration::from_millis(a.commit_interval_ms);
    cfg.transaction_timeout = Duration::from_millis(a.transaction_timeout_ms);
    cfg.session_timeout = Duration::from_millis(a.session_timeout_ms);
    cfg.checkpoints.every_records = a.checkpoint_every;
    cfg.checkpoints.every = Duration::from_secs(a.checkpoint_secs);

    let shutdown = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&shutdown))
            .context("installing the signal handler")?;
    }
    eprintln!(
        "sequencer for {} (transactional id {}); stop with SIGTERM or Ctrl-C",
        cfg.kafka.describe(),
        cfg.transactional_id
    );
    match tl_kafka::sequencer::run(&cfg, || TrialRules, &shutdown) {
        Ok(stats) => {
            eprintln!(
                "sequencer stopped: {} records, {} rejections, {} duplicates in {} transactions ({} aborted), {} checkpoints",
                stats.records,
                stats.rejections,
                stats.duplicates,
                stats.transactions,
                stats.aborts,
                stats.checkpoints
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ tl_kafka::Error::Fenced(_)) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(EXIT_FENCED))
        }
        Err(e) => Err(e.into()),
    }
}
