//! Passphrases and key files for the CLI: the environment for automation, else a prompt.

use anyhow::{Context, Result};
use std::path::Path;
use tl_ledger::keyfile::{self, KeyFileError};
use tl_ledger::SigningKey;

/// Environment variable for the sequencer key's passphrase; falls back to
/// `TRIAL_LEDGER_PASSPHRASE`.
pub const SEQUENCER_PASSPHRASE_ENV: &str = "TRIAL_LEDGER_SEQUENCER_PASSPHRASE";

/// A passphrase for `what`: from `TRIAL_LEDGER_PASSPHRASE`, else from a terminal prompt.
pub fn passphrase(what: &str) -> Result<String> {
    match keyfile::passphrase_from_env() {
        Ok(p) => Ok(p),
        Err(KeyFileError::NoPassphrase) => {
            rpassword::prompt_password(format!("passphrase for {what}: "))
                .map_err(|_| anyhow::anyhow!(KeyFileError::NoPassphrase))
        }
        Err(e) => Err(e.into()),
    }
}

/// A new passphrase, asked twice when prompting.
pub fn new_passphrase(what: &str) -> Result<String> {
    if let Ok(p) = keyfile::passphrase_from_env() {
        return Ok(p);
    }
    let a = passphrase(what)?;
    let b = rpassword::prompt_password(format!("repeat passphrase for {what}: "))
        .context("reading passphrase")?;
    anyhow::ensure!(a == b, "the passphrases differ");
    Ok(a)
}

/// Loads and decrypts a key file.
pub fn load_key(path: &Path) -> Result<(SigningKey, keyfile::KeyMaterial)> {
    let pass = passphrase(&path.display().to_string())?;
    let km = keyfile::read_key_file(path, &pass)?;
    Ok((SigningKey::new(km.signing_key.clone()), km))
}

/// Loads the sequencer key of a data folder.
pub fn load_sequencer_key(data: &Path) -> Result<SigningKey> {
    load_sequencer_key_file(&data.join("keys").join("sequencer.key"))
}

/// Loads a sequencer key file (passphrase from TRIAL_LEDGER_SEQUENCER_PASSPHRASE, else as any
/// key).
pub fn load_sequencer_key_file(path: &Path) -> Result<SigningKey> {
    let path = path.to_path_buf();
    let pass = match std::env::var(SEQUENCER_PASSPHRASE_ENV) {
        Ok(p) => p,
        Err(_) => passphrase(&path.display().to_string())?,
    };
    let km = keyfile::read_key_file(&path, &pass)?;
    Ok(SigningKey::new(km.signing_key))
}
