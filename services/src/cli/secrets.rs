//! Passphrases and key files for the CLI.
//!
//! Separation of duties (21 CFR 11.10(g), 11.200(a)(3), 11.300): each kind of key has its own
//! passphrase and its own source, so holding one opens no other.
//!
//! | key | passphrase file | environment variable |
//! |---|---|---|
//! | the trial root key | `--root-passphrase-file` | `TRIAL_LEDGER_ROOT_PASSPHRASE` |
//! | the sequencer key | `--sequencer-passphrase-file` | `TRIAL_LEDGER_SEQUENCER_PASSPHRASE` |
//! | the key given with `--key` (or made by `keys new`) | `--passphrase-file` | `TRIAL_LEDGER_PASSPHRASE` |
//!
//! A passphrase file wins over the variable, the variable over a prompt that names the key.
//! There is no fallback from one key's source to another's. An empty variable counts as unset
//! (it is never an empty passphrase); an empty passphrase is refused when a key is created.

use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tl_ledger::keyfile::{self, KeyFileError};
use tl_ledger::SigningKey;

/// Environment variable for the trial root key's passphrase.
pub const ROOT_PASSPHRASE_ENV: &str = "TRIAL_LEDGER_ROOT_PASSPHRASE";
/// Environment variable for the sequencer key's passphrase.
pub const SEQUENCER_PASSPHRASE_ENV: &str = "TRIAL_LEDGER_SEQUENCER_PASSPHRASE";
/// Environment variable for the passphrase of the key given with `--key`.
pub const KEY_PASSPHRASE_ENV: &str = keyfile::PASSPHRASE_ENV;
/// Environment variable for the new passphrase of `keys passwd`.
pub const NEW_PASSPHRASE_ENV: &str = "TRIAL_LEDGER_NEW_PASSPHRASE";

/// A passphrase file holds one line; anything longer than this is not one.
const MAX_PASSPHRASE_FILE_BYTES: u64 = 4096;

/// Which key a passphrase is for: each has its own file option and environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// The trial root key (`init`, `keys enrol/revoke/rotate-root`).
    Root,
    /// The sequencer key, which seals records (every embedded write, `sequencer`).
    Sequencer,
    /// The key given with `--key` (an author's or a service's), or the one `keys new` makes.
    Key,
    /// The new passphrase `keys passwd` gives a key.
    NewKey,
}

impl Secret {
    /// The environment variable this key's passphrase may come from.
    pub fn env(self) -> &'static str {
        match self {
            Secret::Root => ROOT_PASSPHRASE_ENV,
            Secret::Sequencer => SEQUENCER_PASSPHRASE_ENV,
            Secret::Key => KEY_PASSPHRASE_ENV,
            Secret::NewKey => NEW_PASSPHRASE_ENV,
        }
    }

    /// The command-line option naming a file with this key's passphrase.
    pub fn file_option(self) -> &'static str {
        match self {
            Secret::Root => "--root-passphrase-file",
            Secret::Sequencer => "--sequencer-passphrase-file",
            Secret::Key => "--passphrase-file",
            Secret::NewKey => "--new-passphrase-file",
        }
    }

    /// How prompts and errors name the key.
    pub fn label(self) -> &'static str {
        match self {
            Secret::Root => "the trial root key",
            Secret::Sequencer => "the sequencer key",
            Secret::Key | Secret::NewKey => "the key",
        }
    }

    fn file(self) -> Option<&'static Path> {
        let f = FILES.get()?;
        match self {
            Secret::Root => f.root.as_deref(),
            Secret::Sequencer => f.sequencer.as_deref(),
            Secret::Key => f.key.as_deref(),
            Secret::NewKey => f.new_key.as_deref(),
        }
    }
}

/// The passphrase files given on the command line (global options).
#[derive(Debug, Clone, Default)]
pub struct PassphraseFiles {
    /// `--passphrase-file`.
    pub key: Option<PathBuf>,
    /// `--root-passphrase-file`.
    pub root: Option<PathBuf>,
    /// `--sequencer-passphrase-file`.
    pub sequencer: Option<PathBuf>,
    /// `keys passwd --new-passphrase-file`.
    pub new_key: Option<PathBuf>,
}

static FILES: OnceLock<PassphraseFiles> = OnceLock::new();

/// Records the passphrase files of this run (once, before any key is opened).
pub fn use_files(files: PassphraseFiles) {
    let _ = FILES.set(files);
}

/// The passphrase for `secret` without prompting: its file, else its (non-empty) variable.
pub fn supplied(secret: Secret) -> Result<Option<String>> {
    if let Some(path) = secret.file() {
        return read_passphrase_file(path).map(Some);
    }
    from_env_value(secret.env(), std::env::var_os(secret.env()))
}

/// An environment variable's value as a passphrase: unset or empty is none (an empty variable
/// is a mistake in a script far more often than a passphrase, and must not open a key whose
/// passphrase is empty).
fn from_env_value(name: &str, value: Option<OsString>) -> Result<Option<String>> {
    match value {
        None => Ok(None),
        Some(v) if v.is_empty() => {
            eprintln!("warning: {name} is set but empty; ignored (it is not an empty passphrase)");
            Ok(None)
        }
        Some(v) => v
            .into_string()
            .map(Some)
            .map_err(|_| anyhow::anyhow!("{name} is not valid UTF-8")),
    }
}

/// The first line of a passphrase file (without its line ending).
fn read_passphrase_file(path: &Path) -> Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| {
            f.take(MAX_PASSPHRASE_FILE_BYTES + 1)
                .read_to_string(&mut text)
        })
        .with_context(|| format!("reading passphrase file {}", path.display()))?;
    if text.len() as u64 > MAX_PASSPHRASE_FILE_BYTES {
        bail!(
            "passphrase file {} is larger than {MAX_PASSPHRASE_FILE_BYTES} bytes; it should hold one line",
            path.display()
        );
    }
    let line = text.lines().next().unwrap_or("");
    Ok(line.to_owned())
}

fn no_passphrase(secret: Secret, path: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "no passphrase for {} ({}): set {} or give {} FILE, or run in a terminal to be asked",
        secret.label(),
        path.display(),
        secret.env(),
        secret.file_option()
    )
}

/// The passphrase of the existing key file `path`, which is `secret`: from its file option,
/// its variable, or a prompt naming the key.
pub fn passphrase(secret: Secret, path: &Path) -> Result<String> {
    if let Some(p) = supplied(secret)? {
        return Ok(p);
    }
    rpassword::prompt_password(format!(
        "passphrase for {} ({}): ",
        secret.label(),
        path.display()
    ))
    .map_err(|_| no_passphrase(secret, path))
}

/// The passphrase for a new key file `path`: asked twice when prompting; never empty.
pub fn new_passphrase(secret: Secret, path: &Path) -> Result<String> {
    let pass = match supplied(secret)? {
        Some(p) => p,
        None => {
            let prompt = |again: &str| {
                rpassword::prompt_password(format!(
                    "{again}new passphrase for {} ({}): ",
                    secret.label(),
                    path.display()
                ))
                .map_err(|_| no_passphrase(secret, path))
            };
            let a = prompt("")?;
            anyhow::ensure!(a == prompt("repeat the ")?, "the passphrases differ");
            a
        }
    };
    if pass.is_empty() {
        bail!(
            "refusing an empty passphrase for {} ({}): the passphrase is the second component of every signature",
            secret.label(),
            path.display()
        );
    }
    Ok(pass)
}

/// Decrypts the key file `path` (which is `secret`) with `pass`; an empty passphrase still
/// opens a key made with one (older files), with a warning.
pub fn open_with(secret: Secret, path: &Path, pass: &str) -> Result<keyfile::KeyMaterial> {
    warn_if_empty(secret, path, pass);
    keyfile::read_key_file(path, pass).map_err(|e| match e {
        KeyFileError::WrongPassphrase { .. } => anyhow::anyhow!(
            "{e} ({}: its passphrase comes from {} FILE, {} or a prompt)",
            secret.label(),
            secret.file_option(),
            secret.env()
        ),
        e => e.into(),
    })
}

/// Warns that the key file `path` is opened with an empty passphrase (only older files can
/// have one: new keys refuse it).
pub fn warn_if_empty(secret: Secret, path: &Path, pass: &str) {
    if pass.is_empty() {
        eprintln!(
            "warning: {} ({}) has an empty passphrase; give it one with `trial-ledger keys passwd`",
            secret.label(),
            path.display()
        );
    }
}

/// Loads and decrypts the key file `path`, which is `secret`.
pub fn load(secret: Secret, path: &Path) -> Result<(SigningKey, keyfile::KeyMaterial)> {
    let pass = passphrase(secret, path)?;
    let km = open_with(secret, path, &pass)?;
    Ok((SigningKey::new(km.signing_key.clone()), km))
}

/// Loads and decrypts the key given with `--key`.
pub fn load_key(path: &Path) -> Result<(SigningKey, keyfile::KeyMaterial)> {
    load(Secret::Key, path)
}

/// Loads the sequencer key of a data folder (`DIR/keys/sequencer.key`).
pub fn load_sequencer_key(data: &Path) -> Result<SigningKey> {
    load_sequencer_key_file(&data.join("keys").join("sequencer.key"))
}

/// Loads a sequencer key file.
pub fn load_sequencer_key_file(path: &Path) -> Result<SigningKey> {
    Ok(load(Secret::Sequencer, path)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_variable_is_no_passphrase() {
        assert_eq!(from_env_value("X", Some("".into())).unwrap(), None);
        assert_eq!(from_env_value("X", None).unwrap(), None);
        assert_eq!(
            from_env_value("X", Some("s3cret".into())).unwrap(),
            Some("s3cret".into())
        );
    }

    #[test]
    fn a_passphrase_file_gives_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pass");
        std::fs::write(&p, "correct horse\r\nignored\n").unwrap();
        assert_eq!(read_passphrase_file(&p).unwrap(), "correct horse");
        std::fs::write(&p, vec![b'a'; 5000]).unwrap();
        assert!(read_passphrase_file(&p).is_err());
    }
}
