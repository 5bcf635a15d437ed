//! `trial-ledger keys new|enrol|revoke|rotate-root|list`.

use crate::cli::secrets::{self, Secret};
use crate::cli::KeysCommand;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tl_ledger::compromise::CompromisedSince;
use tl_ledger::keyfile::{self, KeyMaterial, WorkFactor};
use tl_ledger::registry::root_rotation_message;
use tl_ledger::writer::Draft;
use tl_schemas::events::{envelope_of, KeyEnrolled, KeyRevoked, RootKeyRotated};
use tl_schemas::{KeyId, Role, Subject};

/// Runs `keys ...`.
pub fn run(c: KeysCommand) -> Result<ExitCode> {
    match c {
        KeysCommand::New { name, role, out } => new_key(name, &role, &out),
        KeysCommand::Enrol {
            data,
            remote,
            key,
            public,
        } => enrol(&data, &remote, key, &public),
        KeysCommand::Revoke {
            data,
            remote,
            key,
            key_id,
            reason,
            compromised_since,
        } => revoke(&data, &remote, key, &key_id, reason, compromised_since),
        KeysCommand::RotateRoot { data, key, new_key } => rotate_root(&data.data, key, &new_key),
        KeysCommand::SplitPassphrases { data, root_key_out } => split(&data.data, root_key_out),
        KeysCommand::Passwd {
            key,
            allow_work_factor,
            ..
        } => passwd(&key, allow_work_factor),
        KeysCommand::List { data, json } => list(&data.data, json),
    }
}

/// `keys new`: a new key pair, written encrypted beside its public key file.
fn new_key(name: String, role: &str, out: &Path) -> Result<ExitCode> {
    let r = Role::parse(role).with_context(|| {
        format!(
            "unknown role {role:?}; roles: {}",
            Role::ALL.map(|r| r.as_str()).join(", ")
        )
    })?;
    crate::cli::output::refuse_protected(out, None)?;
    crate::cli::output::refuse_protected(&keyfile::public_path(out), None)?;
    let pass = secrets::new_passphrase(Secret::Key, out)?;
    let km = KeyMaterial::generate(name, r.as_str().to_string());
    keyfile::write_key_file(out, &km, &pass, WorkFactor::from_env()?)?;
    let pk = km.public_key();
    println!(
        "wrote {} and {}",
        out.display(),
        keyfile::public_path(out).display()
    );
    println!("  key id      {}", KeyId::of_ed25519(&pk));
    println!("  public key  {}", hex::encode(pk));
    println!(
        "enrol it with: trial-ledger keys enrol --data DIR {}",
        keyfile::public_path(out).display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `keys enrol`: the root key enrols the key of a public key file.
fn enrol(
    data: &crate::cli::StoreArgs,
    remote: &crate::cli::UrlArg,
    key: Option<PathBuf>,
    public: &Path,
) -> Result<ExitCode> {
    let pubf = keyfile::read_public_file(public)?;
    let mut pk = [0u8; 32];
    hex::decode_to_slice(&pubf.public_key, &mut pk).context("public_key in the public key file")?;
    let role = Role::parse(&pubf.role)
        .with_context(|| format!("unknown role {:?} in {}", pubf.role, public.display()))?;
    let env = envelope_of(&KeyEnrolled {
        public_key: pk,
        name: pubf.name,
        role,
    });
    root_submit(data, remote, key, Draft::new(Subject::Trial, env))
}

/// `keys revoke`: the root key revokes a key, as compromised from a point if so given.
fn revoke(
    data: &crate::cli::StoreArgs,
    remote: &crate::cli::UrlArg,
    key: Option<PathBuf>,
    key_id: &str,
    reason: String,
    compromised_since: Option<String>,
) -> Result<ExitCode> {
    let reason = match compromised_since {
        Some(since) => {
            let since = CompromisedSince::parse_arg(&since)
                .map_err(|e| anyhow::anyhow!("--compromised-since: {e}"))?;
            format!("{} {}", reason.trim_end(), since.marker())
        }
        None => reason,
    };
    let env = envelope_of(&KeyRevoked {
        key: KeyId::from_hex(key_id)?,
        reason,
    });
    root_submit(data, remote, key, Draft::new(Subject::Trial, env))
}

/// `keys rotate-root`: the old root hands over to a new one, which co-signs.
fn rotate_root(data: &Path, key: Option<PathBuf>, new_key: &Path) -> Result<ExitCode> {
    let key_path = key.unwrap_or_else(|| super::root_key_path(data));
    let (old_root, _) = secrets::load(Secret::Root, &key_path)?;
    // The new root was made by `keys new`: its passphrase is that of a `--key`.
    let (new_root, _) = secrets::load(Secret::Key, new_key)?;
    let mut ledger = super::open_writer(data)?;
    let trial = ledger.state().trial().clone();
    let old_pk = old_root.public_key();
    let new_pk = new_root.public_key();
    let cosignature = new_root.sign(&root_rotation_message(&trial, &old_pk, &new_pk));
    let env = envelope_of(&RootKeyRotated {
        new_root_public_key: new_pk,
        cosignature,
    });
    let signed = Draft::new(Subject::Trial, env).sign(&trial, &old_root);
    let code = super::submit_and_report(&mut ledger, signed, false)?;
    if code == ExitCode::SUCCESS {
        println!(
            "the trial root is now {} (was {})",
            KeyId::of_ed25519(&new_pk),
            KeyId::of_ed25519(&old_pk)
        );
        println!(
            "keep the new root key file {} safe: root commands (keys enrol, keys revoke, \
             keys rotate-root) must now be given --key {}, or copy it to {} yourself; \
             {} is no longer the root and was not changed.",
            new_key.display(),
            new_key.display(),
            super::root_key_path(data).display(),
            key_path.display()
        );
        println!("verifiers keep the trust file's original root: rotations are followed from it.");
    }
    Ok(code)
}

/// `keys list`: the enrolled keys, as a table or JSON.
fn list(data: &Path, json: bool) -> Result<ExitCode> {
    let ledger = super::open_writer(data)?;
    let reg = ledger.state().registry();
    let mut keys: Vec<_> = reg.keys().iter().collect();
    keys.sort_by_key(|(_, e)| e.enrolled_at);
    if json {
        let v: Vec<_> = keys
            .iter()
            .map(|(id, e)| {
                serde_json::json!({
                    "key_id": id.to_hex(), "name": e.name, "role": e.role.as_str(),
                    "public_key": hex::encode(e.public_key), "enrolled_at": e.enrolled_at,
                    "revoked_at": e.revoked.as_ref().map(|r| r.0),
                    "revoked_reason": e.revoked.as_ref().map(|r| r.1.clone()),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "root key {}",
            KeyId::of_ed25519(&reg.root_at(reg.position()))
        );
        // A registry position is the count of partition-0 records applied, so the key
        // took effect with record 0/(position - 1): the seq its receipt named.
        let record = |position: u64| format!("0/{}", position.saturating_sub(1));
        let rows: Vec<[String; 5]> = keys
            .iter()
            .map(|(id, e)| {
                [
                    id.to_string(),
                    e.role.as_str().to_string(),
                    e.name.clone(),
                    record(e.enrolled_at),
                    match &e.revoked {
                        Some((at, why)) => format!("revoked by {}: {why}", record(*at)),
                        None => "active".into(),
                    },
                ]
            })
            .collect();
        print_key_table(&rows);
    }
    Ok(ExitCode::SUCCESS)
}

/// The key table with a header; the columns as wide as their widest cell.
fn print_key_table(rows: &[[String; 5]]) {
    let header = ["key id", "role", "name", "enrolled", "status"].map(String::from);
    let mut width = [0usize; 5];
    for row in std::iter::once(&header).chain(rows) {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(rows) {
        let line: Vec<String> = row
            .iter()
            .zip(width)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

/// Signs a registry draft with the root key and submits it: to the store, or with `--url` to a
/// running server (the root key then comes from `--key`, or DIR/keys/root.key with `--data`).
fn root_submit(
    store: &crate::cli::StoreArgs,
    remote: &crate::cli::UrlArg,
    key: Option<std::path::PathBuf>,
    draft: Draft,
) -> Result<ExitCode> {
    if let Some(url) = &remote.url {
        let key_path = match (key, &store.data) {
            (Some(k), _) => k,
            (None, Some(data)) => super::root_key_path(data),
            (None, None) => anyhow::bail!("with --url, give the root key file with --key FILE"),
        };
        // The server first: an unreachable one is named before a passphrase is asked for.
        let server = crate::cli::remote::Remote::new(url)?;
        let trial = server.trial(None)?;
        let root = load_root(&key_path)?;
        return crate::cli::remote::submit_draft(&server, &trial, &root, draft, false);
    }
    let store = super::store(store)?;
    let key_path = match (key, &store) {
        (Some(k), _) => k,
        (None, super::Store::Embedded(data)) => super::root_key_path(data),
        (None, super::Store::Kafka(_)) => {
            anyhow::bail!("give the root key file with --key FILE")
        }
    };
    let root = load_root(&key_path)?;
    super::submit_draft(&store, &root, draft, false)
}

/// The root key, decrypted; a missing file is explained.
fn load_root(key_path: &Path) -> Result<tl_ledger::SigningKey> {
    if !key_path.exists() {
        anyhow::bail!(
            "no root key at {}: give the root key file with --key FILE (it belongs offline, \
             outside the data folder)",
            key_path.display()
        );
    }
    let (root, _) = secrets::load(Secret::Root, key_path)?;
    Ok(root)
}

/// `keys split-passphrases`: the root and sequencer keys of an older data folder, made under
/// one passphrase, each re-encrypted under its own (and the root key moved out, if asked).
fn split(data: &Path, root_key_out: Option<PathBuf>) -> Result<ExitCode> {
    let root_path = super::root_key_path(data);
    let seq_path = data.join("keys").join("sequencer.key");
    if let Some(out) = &root_key_out {
        crate::cli::output::refuse_protected(out, Some(data))?;
        for p in [out.clone(), keyfile::public_path(out)] {
            anyhow::ensure!(
                p.symlink_metadata().is_err(),
                "{} already exists; keys are never overwritten",
                p.display()
            );
        }
    }
    let old = secrets::passphrase(Secret::Key, &root_path).context(
        "the current passphrase shared by the root and sequencer keys comes from --passphrase-file or TRIAL_LEDGER_PASSPHRASE",
    )?;
    let root = secrets::open_with(Secret::Key, &root_path, &old)?;
    let seq = secrets::open_with(Secret::Key, &seq_path, &old)?;
    let (root_pass, seq_pass) = super::init::split_passphrases(&root_path, &seq_path)?;
    let work = WorkFactor::from_env()?;
    keyfile::replace_key_file(&seq_path, &seq, &seq_pass, work)?;
    match &root_key_out {
        None => keyfile::replace_key_file(&root_path, &root, &root_pass, work)?,
        Some(out) => {
            if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            keyfile::write_key_file(out, &root, &root_pass, work)?;
            // Only once the new file is durable is the old one (under the old passphrase) gone.
            for p in [root_path.clone(), keyfile::public_path(&root_path)] {
                std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
            }
        }
    }
    let root_now = root_key_out.as_ref().unwrap_or(&root_path);
    println!(
        "re-encrypted the sequencer key {} (passphrase: {}) and the root key {} (passphrase: {})",
        seq_path.display(),
        secrets::SEQUENCER_PASSPHRASE_ENV,
        root_now.display(),
        secrets::ROOT_PASSPHRASE_ENV
    );
    if root_key_out.is_some() {
        println!(
            "give --key {} to keys enrol, revoke and rotate-root from now on",
            root_now.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `keys passwd`: a key file re-encrypted under a new passphrase at the current work factor.
fn passwd(key: &Path, allow_work_factor: Option<u8>) -> Result<ExitCode> {
    let old = secrets::passphrase(Secret::Key, key)?;
    secrets::warn_if_empty(Secret::Key, key, &old);
    let limit = allow_work_factor.unwrap_or(keyfile::MAX_LOG_N);
    let km = keyfile::read_key_file_allowing(key, &old, limit)?;
    let new = secrets::new_passphrase(Secret::NewKey, key)?;
    keyfile::replace_key_file(key, &km, &new, WorkFactor::from_env()?)?;
    println!(
        "re-encrypted {} under its new passphrase (scrypt log2 N = {})",
        key.display(),
        WorkFactor::from_env()?.log_n()?
    );
    Ok(ExitCode::SUCCESS)
}
