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
    let keys = a.data.join("keys");
    std::fs::create_dir_all(&keys).with_context(|| format!("creating {}", keys.display()))?;
    let pass = crate::cli::secrets::new_passphrase("the new root and sequencer keys")?;
    let work = WorkFactor::from_env()?;
    let root = KeyMaterial::generate("trial root", "root");
    let seq = KeyMaterial::generate("sequencer", "sequencer");
    keyfile::write_key_file(&super::root_key_path(&a.data), &root, &pass, work)?;
    keyfile::write_key_file(&keys.join("sequencer.key"), &seq, &pass, work)?;
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
            let mut cfg = tl_kafka::KafkaConfig::new(bootstrap.clone(), trial.clone());
            cfg.safety = a.topic_safety.into();
            tl_kafka::bootstrap::init_trial(
                &cfg,
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
        super::root_key_path(&a.data).display()
    );
    println!(
        "  sequencer key  {} ({})",
        seq_key.key_id(),
        keys.join("sequencer.key").display()
    );
    println!("  trust file     {}", trust_path.display());
    println!("keep a copy of the trust file (or the root public key {}) apart from the ledger: auditors pin it.", trust.root_public_key);
    Ok(ExitCode::SUCCESS)
}
