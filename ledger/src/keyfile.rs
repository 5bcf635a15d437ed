//! Signing keys encrypted at rest under a passphrase.
//!
//! 21 CFR 11.200 asks that using a signature take two distinct components; here
//! they are the key file (something you have) and its passphrase (something you
//! know). A key file is an ASCII-armored [age] file encrypted to a single scrypt
//! passphrase recipient; its plaintext is a small JSON document
//! (`trial-ledger-key/v1`) holding the Ed25519 seed. The public half is written
//! beside it, unencrypted, as `FILE.pub.json` so it can be shared and registered
//! without touching the secret.
//!
//! [age]: https://age-encryption.org/v1

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

/// `format` value inside the encrypted plaintext of a key file.
pub const KEY_FILE_FORMAT: &str = "trial-ledger-key/v1";
/// `format` value of a public key file (`FILE.pub.json`).
pub const PUBLIC_KEY_FILE_FORMAT: &str = "trial-ledger-public-key/v1";
/// Environment variable read by [`passphrase_from_env`].
pub const PASSPHRASE_ENV: &str = "TRIAL_LEDGER_PASSPHRASE";
/// Environment variable read by [`WorkFactor::from_env`].
pub const WORK_FACTOR_ENV: &str = "TRIAL_LEDGER_SCRYPT_LOG_N";
/// scrypt log2(N) used by [`WorkFactor::Default`]: about a second of work and
/// 256 MiB of memory per attempt, which is what makes offline guessing costly.
pub const DEFAULT_LOG_N: u8 = 18;
/// Smallest accepted scrypt log2(N); only fit for tests and demos.
pub const MIN_LOG_N: u8 = 10;
/// Largest scrypt log2(N) we create or accept when decrypting: scrypt then needs
/// 1 GiB of memory and a few seconds. A key file is input like any other, and a
/// crafted one asking for more would cost whoever opens it many GiB. Pinned rather
/// than left to age, whose own limit depends on how fast the current machine is,
/// so a file made on a fast machine could be refused on a slow one.
pub const MAX_LOG_N: u8 = 20;
/// The cap before it was lowered to [`MAX_LOG_N`]: key files made with
/// `TRIAL_LEDGER_SCRYPT_LOG_N` 21 or 22 open only through
/// [`read_key_file_allowing`], given this limit explicitly, so they can be
/// re-encrypted (`trial-ledger keys passwd FILE --allow-work-factor 22`).
pub const LEGACY_MAX_LOG_N: u8 = 22;

/// ASCII armor header line; key files must start with it.
const ARMOR_BEGIN: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";
/// Magic line of the binary age format, recognised only to give a clearer error.
const BINARY_AGE_MAGIC: &[u8] = b"age-encryption.org/";
/// Real key files are well under 1 KiB; the cap stops us from reading a large
/// file given by mistake into memory.
const MAX_FILE_BYTES: u64 = 1 << 20;
/// Cap on decrypted plaintext, for the same reason.
const MAX_PLAINTEXT_BYTES: u64 = 256 << 10;

/// Plaintext inside the encrypted file (JSON, serde): never written to disk
/// unencrypted.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileContents {
    format: String,
    name: String,
    role: String,
    /// Hex of the 32-byte Ed25519 seed.
    secret_key: String,
    /// Hex of the 32-byte Ed25519 public key; redundant with the seed, and
    /// checked against it on reading to catch a damaged or forged file.
    public_key: String,
}

impl Drop for KeyFileContents {
    fn drop(&mut self) {
        self.secret_key.zeroize();
    }
}

/// A decrypted signing key with its holder's name and role.
pub struct KeyMaterial {
    /// Who or what holds the key (free text, e.g. a person or service name).
    pub name: String,
    /// The key's role, free text here ("root", "sequencer", "lab", ...); the
    /// registry decides what a role may do.
    pub role: String,
    /// The Ed25519 signing key; zeroized when dropped.
    pub signing_key: SigningKey,
}

impl KeyMaterial {
    /// Generates a new key from the operating system's random number generator.
    pub fn generate(name: impl Into<String>, role: impl Into<String>) -> Self {
        let signing_key = SigningKey::generate(&mut rand::rngs::OsRng);
        Self {
            name: name.into(),
            role: role.into(),
            signing_key,
        }
    }

    /// Builds a key from a known 32-byte seed (deterministic tests, fixtures).
    pub fn from_seed(name: impl Into<String>, role: impl Into<String>, seed: [u8; 32]) -> Self {
        // `seed` is a copy owned by this call: wipe it once the key holds its own.
        let mut seed = seed;
        let signing_key = SigningKey::from_bytes(&seed);
        seed.zeroize();
        Self {
            name: name.into(),
            role: role.into(),
            signing_key,
        }
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.signing_key.verifying_key().to_bytes()
    }
}

impl std::fmt::Debug for KeyMaterial {
    // Written by hand so that no future change to a field's Debug can print the seed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("public_key", &hex::encode(self.public_key()))
            .finish_non_exhaustive()
    }
}

/// The public half, written beside the key as `FILE.pub.json` (unencrypted,
/// shareable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeyFile {
    /// Always [`PUBLIC_KEY_FILE_FORMAT`].
    pub format: String,
    /// Name of the key holder, as in the key file.
    pub name: String,
    /// Role of the key, as in the key file.
    pub role: String,
    /// Hex of the 32-byte Ed25519 public key.
    pub public_key: String,
}

impl PublicKeyFile {
    /// The public key file describing `key`.
    pub fn from_key(key: &KeyMaterial) -> Self {
        Self {
            format: PUBLIC_KEY_FILE_FORMAT.to_owned(),
            name: key.name.clone(),
            role: key.role.clone(),
            public_key: hex::encode(key.public_key()),
        }
    }

    /// The decoded public key, or `None` if `public_key` is not 64 hex digits.
    /// Files returned by [`read_public_file`] always decode.
    pub fn public_key_bytes(&self) -> Option<[u8; 32]> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(&self.public_key, &mut out).ok()?;
        Some(out)
    }
}

/// The scrypt work factor, log2(N), used when creating a key file.
///
/// Decryption reads the factor from the file itself, so this only affects
/// creation: a key made fast for a demo stays fast to open, and a slow one stays
/// slow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkFactor {
    /// [`DEFAULT_LOG_N`] (18).
    #[default]
    Default,
    /// An explicit log2(N), which must lie in [`MIN_LOG_N`]`..=`[`MAX_LOG_N`].
    LogN(u8),
}

impl WorkFactor {
    /// Reads `TRIAL_LEDGER_SCRYPT_LOG_N`: unset or empty gives
    /// [`WorkFactor::Default`]; a number in 10..=20 gives [`WorkFactor::LogN`];
    /// anything else is [`KeyFileError::BadWorkFactor`]. Lets tests and demos create
    /// keys quickly; it has no effect on decryption.
    pub fn from_env() -> Result<Self, KeyFileError> {
        Self::from_env_value(std::env::var_os(WORK_FACTOR_ENV))
    }

    /// The parsing behind [`Self::from_env`], separate so it can be tested without
    /// touching the process environment.
    fn from_env_value(value: Option<OsString>) -> Result<Self, KeyFileError> {
        let Some(value) = value else {
            return Ok(Self::Default);
        };
        let text = value.to_str().ok_or_else(|| {
            KeyFileError::BadWorkFactor(format!("{WORK_FACTOR_ENV} is not valid UTF-8"))
        })?;
        let text = text.trim();
        if text.is_empty() {
            return Ok(Self::Default);
        }
        let log_n: u8 = text.parse().map_err(|_| {
            KeyFileError::BadWorkFactor(format!(
                "{WORK_FACTOR_ENV}={text:?} is not a number in {MIN_LOG_N}..={MAX_LOG_N}"
            ))
        })?;
        let work = Self::LogN(log_n);
        work.log_n()?;
        Ok(work)
    }

    /// The log2(N) this stands for, checked to lie in
    /// [`MIN_LOG_N`]`..=`[`MAX_LOG_N`].
    pub fn log_n(self) -> Result<u8, KeyFileError> {
        match self {
            Self::Default => Ok(DEFAULT_LOG_N),
            Self::LogN(n) if (MIN_LOG_N..=MAX_LOG_N).contains(&n) => Ok(n),
            Self::LogN(n) => Err(KeyFileError::BadWorkFactor(format!(
                "scrypt log2(N) = {n} is outside {MIN_LOG_N}..={MAX_LOG_N}"
            ))),
        }
    }
}

/// Errors from creating or opening key files.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file does not exist.
    #[error("key file {} not found", path.display())]
    NotFound {
        /// The missing file.
        path: PathBuf,
    },
    /// Creating a key file would replace an existing file (the key file or its
    /// `.pub.json`); keys are never overwritten.
    #[error("{} already exists; refusing to overwrite it", path.display())]
    Exists {
        /// The file that is in the way.
        path: PathBuf,
    },
    /// Any other I/O failure.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory being accessed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file is not an ASCII-armored, passphrase-encrypted age file, or its
    /// plaintext or JSON is not in our format.
    #[error("{} is not a trial-ledger key file: {detail}", path.display())]
    NotAKeyFile {
        /// The file read.
        path: PathBuf,
        /// What was wrong with it.
        detail: String,
    },
    /// The passphrase did not decrypt the file.
    #[error("wrong passphrase for key file {}", path.display())]
    WrongPassphrase {
        /// The key file.
        path: PathBuf,
    },
    /// The file is in our format but its contents are invalid: bad hex, a
    /// public key that does not match the seed, a damaged payload.
    #[error("key file {} is corrupt: {detail}", path.display())]
    Corrupt {
        /// The file read.
        path: PathBuf,
        /// What was wrong with it (never includes secret material).
        detail: String,
    },
    /// No passphrase was supplied (or an empty one, which would remove the
    /// second component of the signature).
    #[error("no passphrase: set {PASSPHRASE_ENV} or run interactively")]
    NoPassphrase,
    /// An scrypt work factor outside [`MIN_LOG_N`]`..=`[`MAX_LOG_N`].
    #[error("bad scrypt work factor: {0}")]
    BadWorkFactor(String),
    /// The file's scrypt work factor is above the limit (normally [`MAX_LOG_N`]),
    /// so decrypting it could take minutes and many GiB of memory; refused rather
    /// than attempted. A genuine older key file made with log2 N up to
    /// [`LEGACY_MAX_LOG_N`] can be re-encrypted with `keys passwd --allow-work-factor`.
    #[error(
        "key file {} needs an scrypt work factor above the accepted maximum (log2 N = {limit}); \
         if it is a genuine older key file, re-encrypt it with \
         `trial-ledger keys passwd FILE --allow-work-factor 22`",
        path.display()
    )]
    WorkFactorTooHigh {
        /// The key file.
        path: PathBuf,
        /// The log2 N that was accepted.
        limit: u8,
    },
}

/// Path of the public key file written beside `path`: `.pub.json` appended to the
/// full file name (`alice.key` → `alice.key.pub.json`).
pub fn public_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(".pub.json");
    PathBuf::from(name)
}

/// Encrypts `key` under `passphrase` into a new key file at `path`, and writes its
/// public half to [`public_path`]`(path)`.
///
/// Refuses with [`KeyFileError::Exists`] if either file already exists. Each file
/// is written to a temporary name in the same directory, fsynced, then linked into
/// place, so a crash never leaves a half-written key under the real name. On unix
/// the key file is created with mode 0600.
pub fn write_key_file(
    path: &Path,
    key: &KeyMaterial,
    passphrase: &str,
    work: WorkFactor,
) -> Result<(), KeyFileError> {
    let log_n = work.log_n()?;
    if passphrase.is_empty() {
        return Err(KeyFileError::NoPassphrase);
    }
    let pub_path = public_path(path);
    // Cheap early checks so that no scrypt time is spent on a doomed write; the
    // real guarantee against overwriting is the no-clobber publish below.
    for p in [path, pub_path.as_path()] {
        if p.symlink_metadata().is_ok() {
            return Err(KeyFileError::Exists { path: p.to_owned() });
        }
    }

    let armored = encrypt_key(path, key, passphrase, log_n)?;

    let mut public_json = serde_json::to_vec_pretty(&PublicKeyFile::from_key(key))
        .expect("serializing strings cannot fail");
    public_json.push(b'\n');

    // Stage both files before publishing either, so a failure while writing
    // leaves nothing behind under the real names.
    let key_tmp = TempFile::write(path, &armored, true)?;
    let pub_tmp = TempFile::write(&pub_path, &public_json, false)?;
    key_tmp.publish()?;
    if let Err(e) = pub_tmp.publish() {
        // We created the key file a moment ago, so removing it again is safe; it
        // lets the caller retry instead of hitting `Exists`.
        let _ = fs::remove_file(path);
        return Err(e);
    }
    sync_parent_dir(path)
}

/// Re-encrypts the existing key file at `path` with `key` (the same key, read
/// from it) under a new `passphrase`: written to a temporary file beside it,
/// fsynced, then renamed over it, so a crash leaves either the old file or the new
/// one. The public file beside it is unchanged (the key is the same).
pub fn replace_key_file(
    path: &Path,
    key: &KeyMaterial,
    passphrase: &str,
    work: WorkFactor,
) -> Result<(), KeyFileError> {
    let log_n = work.log_n()?;
    if passphrase.is_empty() {
        return Err(KeyFileError::NoPassphrase);
    }
    if !path.is_file() {
        return Err(KeyFileError::NotFound {
            path: path.to_owned(),
        });
    }
    let armored = encrypt_key(path, key, passphrase, log_n)?;
    let tmp = TempFile::write(path, &armored, true)?;
    fs::rename(&tmp.tmp, path).map_err(|e| io_error(path, e))?;
    sync_parent_dir(path)
}

/// Decrypts the key file at `path` with `passphrase`.
///
/// Distinguishes a missing file ([`KeyFileError::NotFound`]), a file that is not a
/// key file ([`KeyFileError::NotAKeyFile`]), a wrong passphrase
/// ([`KeyFileError::WrongPassphrase`]) and a key file with bad contents
/// ([`KeyFileError::Corrupt`]). The scrypt work factor is taken from the file;
/// one above [`MAX_LOG_N`] gives [`KeyFileError::WorkFactorTooHigh`].
pub fn read_key_file(path: &Path, passphrase: &str) -> Result<KeyMaterial, KeyFileError> {
    read_key_file_allowing(path, passphrase, MAX_LOG_N)
}

/// [`read_key_file`] accepting a work factor up to `max_log_n` (itself capped at
/// [`LEGACY_MAX_LOG_N`]): only to re-encrypt an older key file made above today's
/// [`MAX_LOG_N`].
pub fn read_key_file_allowing(
    path: &Path,
    passphrase: &str,
    max_log_n: u8,
) -> Result<KeyMaterial, KeyFileError> {
    let max_log_n = max_log_n.min(LEGACY_MAX_LOG_N);
    let bytes = read_capped(path)?;
    let not_key = |detail: &str| KeyFileError::NotAKeyFile {
        path: path.to_owned(),
        detail: detail.to_owned(),
    };
    let corrupt = |detail: &str| KeyFileError::Corrupt {
        path: path.to_owned(),
        detail: detail.to_owned(),
    };

    // age's ArmoredReader silently accepts binary age files too; key files are
    // always armored, so anything else is not one of ours.
    if !bytes.starts_with(ARMOR_BEGIN) {
        return Err(not_key(if bytes.starts_with(BINARY_AGE_MAGIC) {
            "binary age file; key files are ASCII-armored"
        } else {
            "not an ASCII-armored age file"
        }));
    }

    let decryptor = age::Decryptor::new(age::armor::ArmoredReader::new(&bytes[..]))
        .map_err(|e| not_key(&format!("bad age header: {e}")))?;
    if !decryptor.is_scrypt() {
        return Err(not_key(
            "age file is encrypted to public-key recipients, not a passphrase",
        ));
    }

    let mut identity = age::scrypt::Identity::new(SecretString::from(passphrase));
    // age's default ceiling is (its ~1 s calibration on this machine) + 4, so it
    // varies from machine to machine and build to build; pin it to ours.
    identity.set_max_work_factor(max_log_n);
    let reader = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(|e| match e {
            // The scrypt stanza's AEAD failed to open: the passphrase-derived key
            // is wrong.
            age::DecryptError::DecryptionFailed => KeyFileError::WrongPassphrase {
                path: path.to_owned(),
            },
            age::DecryptError::ExcessiveWork { .. } => KeyFileError::WorkFactorTooHigh {
                path: path.to_owned(),
                limit: max_log_n,
            },
            // The file key unwrapped, so the passphrase was right, but the header
            // fails its MAC: the file was altered after encryption.
            age::DecryptError::InvalidMac => corrupt("age header MAC does not verify"),
            other => not_key(&format!("cannot decrypt: {other}")),
        })?;

    let mut plaintext = Zeroizing::new(Vec::with_capacity(4096));
    reader
        .take(MAX_PLAINTEXT_BYTES + 1)
        .read_to_end(&mut plaintext)
        .map_err(|e| corrupt(&format!("encrypted payload is damaged: {e}")))?;
    if plaintext.len() as u64 > MAX_PLAINTEXT_BYTES {
        return Err(not_key("plaintext is too large"));
    }

    let contents: KeyFileContents = serde_json::from_slice(&plaintext).map_err(|e| {
        // serde_json's messages can quote the offending value, which may be
        // secret; report only where it failed.
        not_key(&format!(
            "plaintext is not {KEY_FILE_FORMAT} JSON ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    if contents.format != KEY_FILE_FORMAT {
        return Err(not_key(&format!(
            "format is {:?}, expected {KEY_FILE_FORMAT:?}",
            contents.format
        )));
    }

    let mut seed = Zeroizing::new([0u8; 32]);
    // The hex error would name the offending character of the secret: drop it.
    hex::decode_to_slice(&contents.secret_key, &mut seed[..])
        .map_err(|_| corrupt("secret_key is not 64 hex digits"))?;
    let mut stored_public = [0u8; 32];
    hex::decode_to_slice(&contents.public_key, &mut stored_public)
        .map_err(|_| corrupt("public_key is not 64 hex digits"))?;
    let signing_key = SigningKey::from_bytes(&seed);
    if signing_key.verifying_key().to_bytes() != stored_public {
        return Err(corrupt("public_key does not match secret_key"));
    }

    Ok(KeyMaterial {
        name: contents.name.clone(),
        role: contents.role.clone(),
        signing_key,
    })
}

/// Reads and checks a public key file (`FILE.pub.json`): right format, and a
/// `public_key` that is a valid Ed25519 point in hex.
pub fn read_public_file(path: &Path) -> Result<PublicKeyFile, KeyFileError> {
    let bytes = read_capped(path)?;
    let file: PublicKeyFile =
        serde_json::from_slice(&bytes).map_err(|e| KeyFileError::NotAKeyFile {
            path: path.to_owned(),
            detail: format!("not {PUBLIC_KEY_FILE_FORMAT} JSON: {e}"),
        })?;
    if file.format != PUBLIC_KEY_FILE_FORMAT {
        return Err(KeyFileError::NotAKeyFile {
            path: path.to_owned(),
            detail: format!(
                "format is {:?}, expected {PUBLIC_KEY_FILE_FORMAT:?}",
                file.format
            ),
        });
    }
    let valid = file
        .public_key_bytes()
        .is_some_and(|b| VerifyingKey::from_bytes(&b).is_ok());
    if !valid {
        return Err(KeyFileError::Corrupt {
            path: path.to_owned(),
            detail: "public_key is not a hex-encoded Ed25519 public key".to_owned(),
        });
    }
    Ok(file)
}

/// Gets a passphrase: from env var `TRIAL_LEDGER_PASSPHRASE` if set, else
/// `Err(KeyFileError::NoPassphrase)` - the CLI adds the interactive prompt itself.
///
/// An empty or non-UTF-8 value counts as unset.
pub fn passphrase_from_env() -> Result<String, KeyFileError> {
    passphrase_from_env_value(std::env::var_os(PASSPHRASE_ENV))
}

/// The logic behind [`passphrase_from_env`], testable without the process
/// environment.
fn passphrase_from_env_value(value: Option<OsString>) -> Result<String, KeyFileError> {
    match value.map(OsString::into_string) {
        Some(Ok(s)) if !s.is_empty() => Ok(s),
        _ => Err(KeyFileError::NoPassphrase),
    }
}

/// Encrypts `plaintext` to a single scrypt recipient and ASCII-armors it.
/// The armored, passphrase-encrypted contents of the key file at `path` for `key`. The
/// plaintext (the secret key in hex) lives only in a zeroized buffer.
fn encrypt_key(
    path: &Path,
    key: &KeyMaterial,
    passphrase: &str,
    log_n: u8,
) -> Result<Vec<u8>, KeyFileError> {
    let contents = KeyFileContents {
        format: KEY_FILE_FORMAT.to_owned(),
        name: key.name.clone(),
        role: key.role.clone(),
        secret_key: hex::encode(key.signing_key.as_bytes()),
        public_key: hex::encode(key.public_key()),
    };
    // Pre-size the buffer so serde_json never reallocates it, which would leave
    // an unzeroized copy of the secret hex behind in freed memory.
    let capacity = 512 + 6 * (contents.name.len() + contents.role.len());
    let mut plaintext = Zeroizing::new(Vec::with_capacity(capacity));
    serde_json::to_writer(&mut *plaintext, &contents).expect("serializing strings cannot fail");
    drop(contents);
    encrypt_armored(&plaintext, passphrase, log_n).map_err(|source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    })
}

fn encrypt_armored(plaintext: &[u8], passphrase: &str, log_n: u8) -> io::Result<Vec<u8>> {
    // Recipient::new runs a short scrypt benchmark to pick its own factor, which
    // set_work_factor then overrides; there is no constructor that skips it.
    let mut recipient = age::scrypt::Recipient::new(SecretString::from(passphrase));
    recipient.set_work_factor(log_n);
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as _))
        .map_err(|e| io::Error::other(format!("age encryption failed: {e}")))?;
    let mut out = Vec::new();
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)?;
    let mut writer = encryptor.wrap_output(armor)?;
    writer.write_all(plaintext)?;
    // Both finish calls are required: the first writes the last (authenticated)
    // chunk, the second the final armor line and end marker.
    writer.finish()?.finish()?;
    Ok(out)
}

/// Reads a whole file, refusing ones larger than [`MAX_FILE_BYTES`].
fn read_capped(path: &Path) -> Result<Vec<u8>, KeyFileError> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(KeyFileError::NotAKeyFile {
            path: path.to_owned(),
            detail: format!("larger than {MAX_FILE_BYTES} bytes"),
        });
    }
    Ok(bytes)
}

/// Maps an I/O error, singling out a missing file.
fn io_error(path: &Path, source: io::Error) -> KeyFileError {
    match source.kind() {
        io::ErrorKind::NotFound => KeyFileError::NotFound {
            path: path.to_owned(),
        },
        io::ErrorKind::AlreadyExists => KeyFileError::Exists {
            path: path.to_owned(),
        },
        _ => KeyFileError::Io {
            path: path.to_owned(),
            source,
        },
    }
}

/// A fully written and fsynced temporary file waiting to be published under its
/// final name; removed on drop unless published.
struct TempFile {
    tmp: PathBuf,
    target: PathBuf,
}

impl TempFile {
    /// Writes `data` to a fresh temporary file beside `target` and fsyncs it.
    /// `private` makes it mode 0600 on unix from the moment it is created, so the
    /// ciphertext is never readable by others even briefly.
    fn write(target: &Path, data: &[u8], private: bool) -> Result<Self, KeyFileError> {
        let dir = parent_dir(target);
        let name = target
            .file_name()
            .ok_or_else(|| KeyFileError::Io {
                path: target.to_owned(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"),
            })?
            .to_string_lossy();
        let tmp = dir.join(format!(
            ".{name}.tmp-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));

        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(if private { 0o600 } else { 0o644 });
        }
        #[cfg(not(unix))]
        let _ = private;

        let mut file = options.open(&tmp).map_err(|e| io_error(&tmp, e))?;
        // From here on the guard removes the temporary file if anything fails.
        let staged = Self {
            tmp,
            target: target.to_owned(),
        };
        file.write_all(data)
            .and_then(|()| file.sync_all())
            .map_err(|e| io_error(&staged.tmp, e))?;
        Ok(staged)
    }

    /// Moves the temporary file to its final name without ever replacing an
    /// existing file.
    fn publish(self) -> Result<(), KeyFileError> {
        // A hard link fails atomically if the target exists, which a plain rename
        // (which silently replaces) cannot do; that closes the race between our
        // existence check and the publish.
        match fs::hard_link(&self.tmp, &self.target) {
            Ok(()) => Ok(()), // dropping `self` removes the temporary name
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(KeyFileError::Exists {
                path: self.target.clone(),
            }),
            Err(_) => {
                // Filesystems without hard links: fall back to check-then-rename.
                if self.target.symlink_metadata().is_ok() {
                    return Err(KeyFileError::Exists {
                        path: self.target.clone(),
                    });
                }
                fs::rename(&self.tmp, &self.target).map_err(|e| io_error(&self.target, e))
            }
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        // Best effort: after a rename the name is already gone.
        let _ = fs::remove_file(&self.tmp);
    }
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes the new directory entries durable: without it a crash soon after
/// writing could lose the link/rename even though the file data was fsynced.
fn sync_parent_dir(path: &Path) -> Result<(), KeyFileError> {
    #[cfg(unix)]
    {
        let dir = parent_dir(path);
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASS: &str = "correct horse battery staple";
    const FAST: WorkFactor = WorkFactor::LogN(MIN_LOG_N);

    fn seed(b: u8) -> [u8; 32] {
        [b; 32]
    }

    fn write_test_key(dir: &Path, file: &str) -> (PathBuf, KeyMaterial) {
        let path = dir.join(file);
        let key = KeyMaterial::generate("Alice Example", "lab");
        write_key_file(&path, &key, PASS, FAST).unwrap();
        (path, key)
    }

    /// Writes an armored scrypt age file with arbitrary plaintext, to build key
    /// files that `write_key_file` would never produce.
    fn write_encrypted(path: &Path, plaintext: &[u8]) {
        fs::write(path, encrypt_armored(plaintext, PASS, MIN_LOG_N).unwrap()).unwrap();
    }

    fn contents_json(secret_key: &str, public_key: &str) -> String {
        serde_json::json!({
            "format": KEY_FILE_FORMAT,
            "name": "Mallory",
            "role": "root",
            "secret_key": secret_key,
            "public_key": public_key,
        })
        .to_string()
    }

    #[test]
    fn round_trip_keeps_key_name_and_role() {
        let dir = tempfile::tempdir().unwrap();
        let (path, key) = write_test_key(dir.path(), "alice.key");
        let back = read_key_file(&path, PASS).unwrap();
        assert_eq!(back.signing_key.to_bytes(), key.signing_key.to_bytes());
        assert_eq!(back.public_key(), key.public_key());
        assert_eq!(back.name, "Alice Example");
        assert_eq!(back.role, "lab");
    }

    #[test]
    fn round_trip_from_seed_and_odd_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let key = KeyMaterial::from_seed("Zoë \"Q\" \u{1F512}", "sequencer", seed(7));
        write_key_file(&path, &key, "pässwörd", FAST).unwrap();
        let back = read_key_file(&path, "pässwörd").unwrap();
        assert_eq!(back.signing_key.to_bytes(), seed(7));
        assert_eq!(back.name, key.name);
        assert_eq!(back.role, "sequencer");
    }

    #[test]
    fn wrong_passphrase_is_reported_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = write_test_key(dir.path(), "alice.key");
        let err = read_key_file(&path, "not the passphrase").unwrap_err();
        assert!(
            matches!(&err, KeyFileError::WrongPassphrase { path: p } if *p == path),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("wrong passphrase for key file {}", path.display())
        );
    }

    #[test]
    fn missing_files_are_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.key");
        let err = read_key_file(&path, PASS).unwrap_err();
        assert!(matches!(&err, KeyFileError::NotFound { path: p } if *p == path));
        assert_eq!(
            err.to_string(),
            format!("key file {} not found", path.display())
        );
        let err = read_public_file(&public_path(&path)).unwrap_err();
        assert!(matches!(err, KeyFileError::NotFound { .. }), "{err:?}");
    }

    #[test]
    fn non_key_files_are_not_a_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut random = [0u8; 512];
        rand::Rng::fill(&mut rand::thread_rng(), &mut random[..]);
        let truncated_armor = b"-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3YxCg==\n-----END AGE ENCRYPTED FILE-----\n";
        let cases: [(&str, &[u8]); 5] = [
            ("plain.txt", b"just some notes\nnot a key\n"),
            ("random.bin", &random),
            ("empty", b""),
            ("binary.age", b"age-encryption.org/v1\n-> scrypt AAAA 10\n"),
            ("bad-armor.age", truncated_armor),
        ];
        for (name, data) in cases {
            let path = dir.path().join(name);
            fs::write(&path, data).unwrap();
            let err = read_key_file(&path, PASS).unwrap_err();
            assert!(
                matches!(err, KeyFileError::NotAKeyFile { .. }),
                "{name}: {err:?}"
            );
        }
    }

    #[test]
    fn binary_age_key_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("binary.age");
        let mut recipient = age::scrypt::Recipient::new(SecretString::from(PASS));
        recipient.set_work_factor(MIN_LOG_N);
        let enc = age::Encryptor::with_recipients(std::iter::once(&recipient as _)).unwrap();
        let mut out = Vec::new();
        let mut w = enc.wrap_output(&mut out).unwrap();
        w.write_all(contents_json(&"00".repeat(32), &"00".repeat(32)).as_bytes())
            .unwrap();
        w.finish().unwrap();
        fs::write(&path, out).unwrap();
        let err = read_key_file(&path, PASS).unwrap_err();
        assert!(
            matches!(&err, KeyFileError::NotAKeyFile { detail, .. } if detail.contains("binary")),
            "{err:?}"
        );
    }

    #[test]
    fn decryptable_files_with_foreign_plaintext_are_not_a_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let other_format = contents_json(&"00".repeat(32), &"00".repeat(32))
            .replace(KEY_FILE_FORMAT, "something-else/v1");
        let cases = [
            ("notjson", "hello".to_owned()),
            ("otherjson", r#"{"a":1}"#.to_owned()),
            ("otherformat", other_format),
        ];
        for (name, plaintext) in cases {
            let path = dir.path().join(name);
            write_encrypted(&path, plaintext.as_bytes());
            let err = read_key_file(&path, PASS).unwrap_err();
            assert!(
                matches!(err, KeyFileError::NotAKeyFile { .. }),
                "{name}: {err:?}"
            );
        }
    }

    #[test]
    fn refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let (path, first) = write_test_key(dir.path(), "alice.key");
        let before = fs::read(&path).unwrap();
        let second = KeyMaterial::generate("Bob", "root");
        let err = write_key_file(&path, &second, PASS, FAST).unwrap_err();
        assert!(matches!(&err, KeyFileError::Exists { path: p } if *p == path));
        assert_eq!(fs::read(&path).unwrap(), before);
        assert_eq!(
            read_key_file(&path, PASS).unwrap().public_key(),
            first.public_key()
        );

        // A stray .pub.json also blocks creation, and nothing is left behind.
        let other = dir.path().join("bob.key");
        fs::write(public_path(&other), b"{}").unwrap();
        let err = write_key_file(&other, &second, PASS, FAST).unwrap_err();
        assert!(matches!(err, KeyFileError::Exists { .. }), "{err:?}");
        assert!(!other.exists());
    }

    #[test]
    fn publish_never_replaces_an_existing_file() {
        // Exercises the no-clobber publish directly, as if another process had
        // created the file after the early existence check.
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("raced.key");
        let staged = TempFile::write(&target, b"new", true).unwrap();
        let tmp = staged.tmp.clone();
        fs::write(&target, b"old").unwrap();
        let err = staged.publish().unwrap_err();
        assert!(matches!(err, KeyFileError::Exists { .. }), "{err:?}");
        assert_eq!(fs::read(&target).unwrap(), b"old");
        assert!(!tmp.exists(), "temporary file left behind");
    }

    #[test]
    fn public_file_is_written_and_matches() {
        let dir = tempfile::tempdir().unwrap();
        let (path, key) = write_test_key(dir.path(), "alice.key");
        let pub_path = public_path(&path);
        assert_eq!(pub_path, dir.path().join("alice.key.pub.json"));
        let public = read_public_file(&pub_path).unwrap();
        assert_eq!(public, PublicKeyFile::from_key(&key));
        assert_eq!(public.format, PUBLIC_KEY_FILE_FORMAT);
        assert_eq!(public.name, "Alice Example");
        assert_eq!(public.role, "lab");
        assert_eq!(public.public_key_bytes(), Some(key.public_key()));
        let text = fs::read_to_string(&pub_path).unwrap();
        assert!(!text.contains(&hex::encode(key.signing_key.as_bytes())));

        // Only the two files remain: no temporary files left in the directory.
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["alice.key", "alice.key.pub.json"]);
    }

    #[test]
    fn bad_public_files_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pub.json");
        let good = PublicKeyFile::from_key(&KeyMaterial::from_seed("n", "r", seed(1)));

        fs::write(&path, b"not json").unwrap();
        let err = read_public_file(&path).unwrap_err();
        assert!(matches!(err, KeyFileError::NotAKeyFile { .. }), "{err:?}");

        let mut wrong_format = good.clone();
        wrong_format.format = "x".into();
        fs::write(&path, serde_json::to_vec(&wrong_format).unwrap()).unwrap();
        let err = read_public_file(&path).unwrap_err();
        assert!(matches!(err, KeyFileError::NotAKeyFile { .. }), "{err:?}");

        let mut bad_hex = good;
        bad_hex.public_key = "zz".into();
        fs::write(&path, serde_json::to_vec(&bad_hex).unwrap()).unwrap();
        let err = read_public_file(&path).unwrap_err();
        assert!(matches!(err, KeyFileError::Corrupt { .. }), "{err:?}");
    }

    #[test]
    fn encrypted_file_does_not_contain_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let (path, key) = write_test_key(dir.path(), "alice.key");
        let bytes = fs::read(&path).unwrap();
        assert!(bytes.starts_with(ARMOR_BEGIN), "not armored");
        let secret = key.signing_key.to_bytes();
        for needle in [
            hex::encode(secret).into_bytes(),
            hex::encode_upper(secret).into_bytes(),
            secret.to_vec(),
            b"secret_key".to_vec(),
        ] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "key file contains {:?}",
                String::from_utf8_lossy(&needle)
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn key_file_mode_is_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = write_test_key(dir.path(), "alice.key");
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    }

    #[test]
    fn mismatching_public_key_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("forged.key");
        let other = KeyMaterial::from_seed("x", "y", seed(2));
        write_encrypted(
            &path,
            contents_json(&hex::encode(seed(1)), &hex::encode(other.public_key())).as_bytes(),
        );
        let err = read_key_file(&path, PASS).unwrap_err();
        assert!(
            matches!(&err, KeyFileError::Corrupt { detail, .. } if detail.contains("does not match")),
            "{err:?}"
        );
    }

    #[test]
    fn bad_secret_hex_is_corrupt_and_not_echoed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("badhex.key");
        let secret = format!("{}zz", "ab".repeat(31));
        let public = hex::encode(KeyMaterial::from_seed("", "", seed(1)).public_key());
        write_encrypted(&path, contents_json(&secret, &public).as_bytes());
        let err = read_key_file(&path, PASS).unwrap_err();
        assert!(matches!(err, KeyFileError::Corrupt { .. }), "{err:?}");
        assert!(!err.to_string().contains("abab"), "{err}");
    }

    #[test]
    fn tampered_payload_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = write_test_key(dir.path(), "alice.key");
        let text = fs::read_to_string(&path).unwrap();
        // Flip a character in the last base64 line before the end marker, which
        // lies in the encrypted payload (the header comes first).
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let last = lines.len() - 2;
        let mut chars: Vec<char> = lines[last].chars().collect();
        chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
        lines[last] = chars.into_iter().collect();
        fs::write(&path, lines.join("\n") + "\n").unwrap();
        let err = read_key_file(&path, PASS).unwrap_err();
        assert!(
            matches!(&err, KeyFileError::Corrupt { detail, .. } if detail.contains("payload")),
            "{err:?}"
        );
    }

    #[test]
    fn excessive_work_factor_is_refused_without_doing_the_work() {
        // Encrypt at 2^10, then rewrite the stanza to claim 2^23. age checks the
        // factor against the identity's maximum before running scrypt (and before
        // the header MAC), so this must fail fast with WorkFactorTooHigh.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slow.key");
        let mut recipient = age::scrypt::Recipient::new(SecretString::from(PASS));
        recipient.set_work_factor(MIN_LOG_N);
        let enc = age::Encryptor::with_recipients(std::iter::once(&recipient as _)).unwrap();
        let mut binary = Vec::new();
        let mut w = enc.wrap_output(&mut binary).unwrap();
        w.write_all(b"{}").unwrap();
        w.finish().unwrap();

        let header_end = binary.windows(4).position(|w| w == b"\n---").unwrap();
        let header = std::str::from_utf8(&binary[..header_end]).unwrap();
        assert!(header.contains(" 10\n"), "{header}");
        // 21: accepted by the former cap of 22, refused by today's.
        let mut forged = header.replace(" 10\n", " 21\n").into_bytes();
        forged.extend_from_slice(&binary[header_end..]);

        let mut armored = Vec::new();
        let mut armor =
            age::armor::ArmoredWriter::wrap_output(&mut armored, age::armor::Format::AsciiArmor)
                .unwrap();
        armor.write_all(&forged).unwrap();
        armor.finish().unwrap();
        fs::write(&path, armored).unwrap();

        let started = std::time::Instant::now();
        let err = read_key_file(&path, PASS).unwrap_err();
        assert!(
            matches!(err, KeyFileError::WorkFactorTooHigh { .. }),
            "{err:?}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn a_key_above_the_limit_opens_only_when_allowed_and_re_encrypts_below_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.key");
        let key = KeyMaterial::from_seed("n", "lab", seed(4));
        write_key_file(&path, &key, PASS, WorkFactor::LogN(12)).unwrap();
        let err = read_key_file_allowing(&path, PASS, 11).unwrap_err();
        assert!(
            matches!(err, KeyFileError::WorkFactorTooHigh { limit: 11, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("keys passwd"), "{err}");
        let km = read_key_file_allowing(&path, PASS, 12).unwrap();
        let pub_before = fs::read(public_path(&path)).unwrap();
        replace_key_file(&path, &km, "new pass", WorkFactor::LogN(11)).unwrap();
        assert!(matches!(
            read_key_file(&path, PASS),
            Err(KeyFileError::WrongPassphrase { .. })
        ));
        let back = read_key_file_allowing(&path, "new pass", 11).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        assert_eq!(fs::read(public_path(&path)).unwrap(), pub_before);
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 2, "no temporary file is left behind");
    }

    #[test]
    fn work_factor_validation() {
        assert_eq!(WorkFactor::Default.log_n().unwrap(), 18);
        assert_eq!(WorkFactor::LogN(10).log_n().unwrap(), 10);
        assert_eq!(WorkFactor::LogN(20).log_n().unwrap(), 20);
        for bad in [0, 9, 21, 22, 23, 64, 255] {
            assert!(matches!(
                WorkFactor::LogN(bad).log_n(),
                Err(KeyFileError::BadWorkFactor(_))
            ));
        }
        let parse = |s: Option<&str>| WorkFactor::from_env_value(s.map(OsString::from));
        assert_eq!(parse(None).unwrap(), WorkFactor::Default);
        assert_eq!(parse(Some("")).unwrap(), WorkFactor::Default);
        assert_eq!(parse(Some("12")).unwrap(), WorkFactor::LogN(12));
        assert_eq!(parse(Some(" 20 ")).unwrap(), WorkFactor::LogN(20));
        for bad in ["9", "21", "22", "23", "abc", "-1", "1e3", "300"] {
            assert!(
                matches!(parse(Some(bad)), Err(KeyFileError::BadWorkFactor(_))),
                "{bad}"
            );
        }

        // An out-of-range factor is refused before anything is written.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let key = KeyMaterial::from_seed("n", "r", seed(3));
        let err = write_key_file(&path, &key, PASS, WorkFactor::LogN(9)).unwrap_err();
        assert!(matches!(err, KeyFileError::BadWorkFactor(_)), "{err:?}");
        assert!(!path.exists());
    }

    #[test]
    fn passphrase_sources() {
        let get = |s: Option<&str>| passphrase_from_env_value(s.map(OsString::from));
        assert_eq!(get(Some("hunter2")).unwrap(), "hunter2");
        assert!(matches!(get(None), Err(KeyFileError::NoPassphrase)));
        assert!(matches!(get(Some("")), Err(KeyFileError::NoPassphrase)));
        assert_eq!(
            KeyFileError::NoPassphrase.to_string(),
            "no passphrase: set TRIAL_LEDGER_PASSPHRASE or run interactively"
        );

        // An empty passphrase would make the file a single-component key.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let key = KeyMaterial::from_seed("n", "r", seed(4));
        let err = write_key_file(&path, &key, "", FAST).unwrap_err();
        assert!(matches!(err, KeyFileError::NoPassphrase), "{err:?}");
        assert!(!path.exists());
    }

    #[test]
    fn debug_output_hides_the_seed() {
        let key = KeyMaterial::from_seed("n", "r", seed(0xab));
        let shown = format!("{key:?}");
        assert!(shown.contains(&hex::encode(key.public_key())), "{shown}");
        assert!(!shown.contains(&hex::encode(seed(0xab))), "{shown}");
    }

    #[test]
    fn public_path_appends_to_full_name() {
        assert_eq!(
            public_path(Path::new("/k/alice.key")),
            Path::new("/k/alice.key.pub.json")
        );
        assert_eq!(public_path(Path::new("a")), Path::new("a.pub.json"));
    }
}
