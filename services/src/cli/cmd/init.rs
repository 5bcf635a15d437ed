//! `trial-ledger init`: create a trial.

use crate::cli::InitArgs;
use anyhow::{bail, Context, Result};
use std::process::ExitCode;
use tl_domain::TrialRules;
use tl_ledger::keyfile::{self, KeyMaterial, WorkFactor};
use tl_ledger::trust::TrustFile;
use tl_ledger::{EmbeddedLedger, SigningKey};
use tl_schemas::{TrialId, UtcMicros};

/// Runs `init`.
pub fn run(a: InitArgs) -> Result<ExitCode> {
    let trial = TrialId::new(&a.trial)?;
    let trust_path = super::trust_path(&a.data);
    if trust_path.exists() || super::ledger_dir(&a.data).exists() {
        bail!(
            "{} already holds a trial; choose an empty folder",
            a.data.display()
        );
    }
    // On Kafka in production mode the cluster must be safe before anything is written.
    let kafka = kafka_configs(&a, &trial)?;
    if let Some((admin, _)) = &kafka {
        if admin.safety == tl_kafka::TopicSafety::Production && !a.acl.no_acls {
            crate::hosts::kafka_acl::require_safe(admin, a.kafka_config.as_deref(), &a.acl)?;
        }
    }
    let keys = a.data.join("keys");
    let root_path = a
        .root_key_out
        .clone()
        .unwrap_or_else(|| super::root_key_path(&a.data));
    let seq_path = keys.join("sequencer.key");
    for p in [&root_path, &seq_path] {
        if p.symlink_metadata().is_ok() {
            bail!("{} already exists; keys are never overwritten", p.display());
        }
    }
    // Both passphrases are settled before anything is written, so a refusal leaves no folder.
    let (root_pass, seq_pass) = split_passphrases(&root_path, &seq_path)?;
    let work = WorkFactor::from_env()?;
    for dir in [keys.as_path(), root_path.parent().unwrap_or(keys.as_path())] {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    let root = KeyMaterial::generate("trial root", "root");
    let seq = KeyMaterial::generate("sequencer", "sequencer");
    keyfile::write_key_file(&root_path, &root, &root_pass, work)?;
    keyfile::write_key_file(&seq_path, &seq, &seq_pass, work)?;
    let root_key = SigningKey::new(root.signing_key.clone());
    let seq_key = SigningKey::new(seq.signing_key.clone());
    let title = if a.title.is_empty() {
        a.trial.clone()
    } else {
        a.title.clone()
    };
    let store = match &a.kafka {
        None => {
            EmbeddedLedger::create(
                &super::ledger_dir(&a.data),
                &trial,
                a.partitions,
                &title,
                &root_key,
                seq_key.clone(),
                TrialRules,
                UtcMicros::now(),
            )?;
            a.data.display().to_string()
        }
        Some(bootstrap) => {
            let (cfg, sequencer_cfg) = kafka.as_ref().expect("configured above with --kafka");
            tl_kafka::topics::create_topics(cfg, a.partitions)?;
            if acls_wanted(&a) {
                crate::hosts::kafka_acl::apply(cfg, a.kafka_config.as_deref(), &a.acl)?;
            }
            tl_kafka::bootstrap::write_bootstrap(
                sequencer_cfg,
                a.partitions,
                &title,
                &root_key,
                seq_key.public_key(),
                UtcMicros::now(),
            )?;
            format!(
                "{} (topics {}; keys and trust file in {})",
                bootstrap,
                cfg.topics.all().join(", "),
                a.data.display()
            )
        }
    };
    let trust = TrustFile::new(&trial, root_key.public_key(), a.partitions);
    trust.write(&trust_path)?;
    println!(
        "created trial {trial} with {} partitions in {store}",
        a.partitions
    );
    println!(
        "  root key       {} ({})",
        root_key.key_id(),
        root_path.display()
    );
    println!(
        "  sequencer key  {} ({})",
        seq_key.key_id(),
        seq_path.display()
    );
    println!("  trust file     {}", trust_path.display());
    println!("keep a copy of the trust file (or the root public key {}) apart from the ledger: auditors pin it.", trust.root_public_key);
    if a.root_key_out.is_none() {
        println!(
            "the root key belongs offline: it is needed only to enrol, revoke and rotate keys (move it, then give --key FILE to those commands; `init --root-key-out FILE` writes it elsewhere to begin with)."
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The admin's and the sequencer's Kafka configurations of `init --kafka` (`None` without
/// --kafka): the admin creates the topics and ACLs, the sequencer writes the bootstrap records.
fn kafka_configs(
    a: &InitArgs,
    trial: &TrialId,
) -> Result<Option<(tl_kafka::KafkaConfig, tl_kafka::KafkaConfig)>> {
    let Some(bootstrap) = &a.kafka else {
        return Ok(None);
    };
    let mut admin = tl_kafka::KafkaConfig::new(bootstrap.clone(), trial.clone());
    admin.safety = a.topic_safety.into();
    admin.properties = super::client_properties(a.kafka_config.as_deref())?;
    let mut sequencer = admin.clone();
    if let Some(f) = &a.sequencer_kafka_config {
        sequencer.properties = super::client_properties(Some(f))?;
    }
    Ok(Some((admin, sequencer)))
}

/// Whether `init --kafka` creates the trial's ACLs: always in production mode (unless
/// --no-acls, for a plaintext test cluster), and in dev mode on a cluster it authenticates to
/// (--kafka-config given).
fn acls_wanted(a: &InitArgs) -> bool {
    !a.acl.no_acls
        && (a.topic_safety == crate::cli::SafetyArg::Production || a.kafka_config.is_some())
}

/// The new root and sequencer passphrases, each from its own source; they must differ, or
/// whoever runs the sequencer could open the root key.
pub fn split_passphrases(
    root_path: &std::path::Path,
    seq_path: &std::path::Path,
) -> Result<(String, String)> {
    use crate::cli::secrets::{new_passphrase, Secret};
    let root_pass = new_passphrase(Secret::Root, root_path)?;
    let seq_pass = new_passphrase(Secret::Sequencer, seq_path)?;
    if root_pass == seq_pass {
        bail!(
            "the root key and the sequencer key need different passphrases (separation of duties: \
             whoever runs the sequencer must not be able to open the root key); set {} and {} to \
             different values",
            crate::cli::secrets::ROOT_PASSPHRASE_ENV,
            crate::cli::secrets::SEQUENCER_PASSPHRASE_ENV
        );
    }
    Ok((root_pass, seq_pass))
}
