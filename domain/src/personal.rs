//! Crypto-shredding of personal data (DESIGN.md section 3, "Corrections, follow-ups and
//! personal data").
//!
//! The ledger is append-only and every record is hashed and signed, so nothing in it can ever
//! be deleted. Personal data that may have to be erased (initials, year of birth, hospital
//! number) is therefore never written in clear: it is sealed with XChaCha20-Poly1305 under a
//! per-patient data key, and only the ciphertext goes into the envelope's `personal_data`.
//! The keys live in a [`KeyStore`], a folder outside the ledger. Erasing a patient destroys
//! their key: the ciphertext stays in the ledger, every hash and signature still verifies, and
//! nobody can read the data again.
//!
//! Byte format of the `personal_data` field (version 1):
//!
//! ```text
//! 0x01 || nonce (24 bytes) || XChaCha20-Poly1305(key, nonce, plaintext, AAD)
//! AAD       = "trial-ledger/v1/personal-data\0" || trial id || 0x00 || pseudonym
//! plaintext = UTF-8 JSON of PersonalData, padded with spaces to a multiple of 128 bytes
//! ```
//!
//! Binding the trial and pseudonym into the AAD means a ciphertext copied into another
//! patient's or trial's record does not open. The `v1` in the AAD tag ties it to version byte
//! 0x01: a future version uses a new tag, so a ciphertext cannot be re-read under another
//! version's rules.
//!
//! The nonce is random ([`seal`]) except in the simulator, which derives keys and nonces from
//! its seed ([`DataKey::from_bytes`], [`seal_with_nonce`], [`KeyStore::import`]) so that one
//! seed gives byte-identical ledgers; that is safe only because every simulated patient has
//! their own key, used for exactly one seal.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use tl_schemas::ids::{Name, TrialId};
use zeroize::Zeroizing;

/// Version byte that starts every sealed personal-data field.
pub const FORMAT_VERSION: u8 = 0x01;
/// Domain-separation prefix of the AEAD's associated data (version 1).
pub const AAD_TAG: &[u8] = b"trial-ledger/v1/personal-data\0";
/// Length of a data key in bytes.
pub const KEY_LEN: usize = 32;
/// Length of the XChaCha20-Poly1305 nonce in bytes.
pub const NONCE_LEN: usize = 24;
/// Length of the Poly1305 tag in bytes.
pub const TAG_LEN: usize = 16;
/// The shortest well-formed field: version byte, nonce and tag around an empty ciphertext.
pub const MIN_SEALED_LEN: usize = 1 + NONCE_LEN + TAG_LEN;
/// The JSON plaintext is padded with spaces to a multiple of this many bytes, so that the
/// ciphertext, which stays in the ledger forever, does not reveal the length of the initials
/// or the hospital number. JSON parsers ignore trailing whitespace, so readers need not know.
pub const PAD_BLOCK: usize = 128;

/// Prefix of the hash that names a patient's files in the key store.
const FILE_NAME_TAG: &[u8] = b"trial-ledger/v1/personal-key-name\0";
/// First bytes of every key file; also the prefix of its check value.
const KEY_FILE_MAGIC: &[u8] = b"trial-ledger/v1/personal-key\0";
/// Length of the check value at the end of a key file.
const CHECK_LEN: usize = 16;
/// Exact length of a key file: magic, key, check value.
const KEY_FILE_LEN: usize = KEY_FILE_MAGIC.len() + KEY_LEN + CHECK_LEN;
/// Contents of a tombstone. Only its existence matters; the text helps whoever finds it.
const TOMBSTONE: &[u8] = b"trial-ledger/v1/personal-key-erased\n";

/// Plain personal data of a patient (JSON-serialisable; keep to a minimum).
///
/// Only what the trial really needs and must be able to erase. Names never: subjects are
/// pseudonyms (DESIGN.md section 3).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonalData {
    /// The patient's initials.
    pub initials: Option<String>,
    /// Year of birth: enough for age at enrolment, without the full date.
    pub birth_year: Option<u16>,
    /// The hospital (medical record) number at the treating site, to link back to the chart.
    pub hospital_number: Option<String>,
}

/// A per-patient 32-byte data key. Its bytes are zeroed when it is dropped, and its `Debug`
/// output never shows them.
pub struct DataKey(Zeroizing<[u8; KEY_LEN]>);

impl DataKey {
    /// A key with the given bytes.
    ///
    /// For deterministic simulations (tl-sim derives each patient's key from its seed) and for
    /// importing escrowed keys into a [`KeyStore`] ([`KeyStore::import`]). Anything else gets
    /// its keys from [`KeyStore::key_for`], which draws them from the operating system. The
    /// key takes its own copy of `bytes`, zeroed on drop; the caller's copy is the caller's
    /// to wipe.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> DataKey {
        DataKey(Zeroizing::new(bytes))
    }

    /// Whether two keys are the same, comparing every byte whatever the first difference.
    fn same_as(&self, other: &DataKey) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }

    /// A fresh key from the operating system's random generator.
    fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(&mut key[..]);
        DataKey(key)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        // The cipher keeps its own copy of the key and zeroes it on drop.
        XChaCha20Poly1305::new(Key::from_slice(&self.0[..]))
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// What [`KeyStore::erase`] found and did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EraseOutcome {
    /// A key existed and has been destroyed.
    Erased,
    /// The patient had already been erased; nothing was left to destroy.
    AlreadyErased,
    /// The patient never had a key. A tombstone is written anyway, so that no key is ever
    /// issued to them afterwards.
    NoKey,
}

/// What a reader gets for a record's `personal_data`, given a key store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disclosure {
    /// The data, decrypted.
    Readable(PersonalData),
    /// The patient was erased: the key is destroyed and the data is gone for good.
    Erased,
    /// This key store has no key for the patient (for example a store at another site, or a
    /// reader without access to personal data).
    NoKey,
    /// The record carries no personal data.
    None,
}

/// Errors of the key store and of sealing and opening personal data.
///
/// No variant ever carries decrypted personal data, so errors can be logged.
#[derive(Debug, thiserror::Error)]
pub enum PersonalDataError {
    /// Reading or writing the key store failed.
    #[error("personal-data key store: {}: {source}", path.display())]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The patient was erased: their key is destroyed and no new key is issued.
    #[error("the personal data of patient {patient} in trial {trial} has been erased; no key is issued for them")]
    Erased {
        /// The trial.
        trial: TrialId,
        /// The patient's pseudonym.
        patient: Name,
    },
    /// The personal-data field is not a sealed value of a known version (empty, unknown
    /// version byte, too short).
    #[error("malformed personal-data field: {0}")]
    Malformed(String),
    /// Authentication failed: wrong key, altered bytes, or a ciphertext moved from another
    /// patient or trial.
    #[error("personal data does not decrypt: wrong key, or the bytes were altered or belong to another patient or trial")]
    Decrypt,
    /// The data decrypted but is not valid personal-data JSON.
    #[error("decrypted personal data is not valid: {0}")]
    Json(String),
    /// [`KeyStore::import`] was given a key for a patient who already has another one.
    /// Replacing it would make everything sealed under the stored key unreadable.
    #[error("patient {patient} in trial {trial} already has a different personal-data key; it is kept and the imported key is refused")]
    KeyConflict {
        /// The trial.
        trial: TrialId,
        /// The patient's pseudonym.
        patient: Name,
    },
    /// A key file exists but is not a valid key file for this patient.
    #[error("personal-data key file {}: {detail}", path.display())]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
}

/// A folder of per-patient data keys: one file per (trial, patient), named by a hash of trial
/// id and pseudonym (not the pseudonym itself), mode 0600, written atomically.
///
/// For a patient whose file stem is `h` (64 hex digits, see [`KeyStore::open`]):
/// * `h.key` holds the key: `"trial-ledger/v1/personal-key\0"` || key (32 bytes) || check
///   (16 bytes), the check being the first 16 bytes of SHA-256(magic || trial id || 0x00 ||
///   pseudonym || 0x00 || key). It detects a damaged file, and a file restored under another
///   patient's name, before any data is wrongly declared undecryptable.
/// * `h.erased` is the tombstone of an erased patient. While it exists no key is read or
///   created for them, so an erased patient never silently gets a new key.
///
/// Losing this folder erases every patient in it: back it up, separately from the ledger, and
/// delete backups of an erased key too (the overwrite here cannot reach them). Overwriting a
/// file with zeros is also best effort on copy-on-write filesystems and flash; keeping the
/// store on an encrypted volume covers that.
#[derive(Debug)]
pub struct KeyStore {
    dir: PathBuf,
}

impl KeyStore {
    /// Opens the key store in `dir`, creating the folder (mode 0700) if it is missing.
    ///
    /// File stem of a patient: lowercase hex of SHA-256(`"trial-ledger/v1/personal-key-name\0"`
    /// || trial id || 0x00 || pseudonym). The pseudonym is not secret (it is in the ledger in
    /// clear); the hash only keeps a listing of the folder from reading as a list of patients.
    pub fn open(dir: &Path) -> Result<KeyStore, PersonalDataError> {
        let existed = dir.try_exists().map_err(io_error(dir))?;
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir).map_err(io_error(dir))?;
        if !existed {
            // The folder's own entry must survive a power loss too: losing the folder would
            // erase every patient in it.
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
        }
        Ok(KeyStore {
            dir: dir.to_path_buf(),
        })
    }

    /// The folder of this key store.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The patient's key, creating a new random one (written and fsynced before it is
    /// returned, so that nothing is ever sealed under a key that a crash could lose).
    ///
    /// Refuses with [`PersonalDataError::Erased`] if the patient was erased.
    pub fn key_for(&self, trial: &TrialId, patient: &Name) -> Result<DataKey, PersonalDataError> {
        if let Some(key) = self.existing_key(trial, patient)? {
            return Ok(key);
        }
        let key = DataKey::generate();
        match self.store_new(trial, patient, &key)? {
            None => Ok(key),
            // Another process created the key first. Use theirs: two keys for one patient
            // would leave one writer's data unreadable.
            Some(theirs) => Ok(theirs),
        }
    }

    /// [`KeyStore::key_for`], saying whether the key was created by this call: a caller whose
    /// submission is then refused gives a created key back with [`KeyStore::discard_unused`],
    /// so that a refusal leaves the key store as it was.
    pub fn key_for_submission(
        &self,
        trial: &TrialId,
        patient: &Name,
    ) -> Result<(DataKey, bool), PersonalDataError> {
        if let Some(key) = self.existing_key(trial, patient)? {
            return Ok((key, false));
        }
        let key = DataKey::generate();
        match self.store_new(trial, patient, &key)? {
            None => Ok((key, true)),
            Some(theirs) => Ok((theirs, false)),
        }
    }

    /// Destroys the patient's key file if it holds `key`, which [`KeyStore::key_for_submission`]
    /// created for a submission that was refused: nothing was sealed under it in the ledger.
    /// Writes no tombstone (the patient is not erased). A key file holding another key is
    /// left alone.
    pub fn discard_unused(
        &self,
        trial: &TrialId,
        patient: &Name,
        key: &DataKey,
    ) -> Result<(), PersonalDataError> {
        let path = self.key_path(trial, patient);
        match read_key_file(&path, trial, patient)? {
            Some(stored) if stored.same_as(key) => {
                shred(&path).map_err(io_error(&path))?;
                sync_dir(&self.dir)
            }
            _ => Ok(()),
        }
    }

    /// Stores a given key as the patient's key (written and fsynced before it returns, like a
    /// key from [`KeyStore::key_for`]).
    ///
    /// For deterministic simulations, whose keys come from their seed, and for restoring
    /// escrowed keys. Idempotent: importing the key the patient already has succeeds and
    /// changes nothing. Refuses with [`PersonalDataError::Erased`] if the patient was erased
    /// (an erased patient never gets a key back, imported or not), and with
    /// [`PersonalDataError::KeyConflict`] if the patient already has a different key, which
    /// is kept.
    pub fn import(
        &self,
        trial: &TrialId,
        patient: &Name,
        key: &DataKey,
    ) -> Result<(), PersonalDataError> {
        let stored = match self.existing_key(trial, patient)? {
            Some(stored) => stored,
            None => match self.store_new(trial, patient, key)? {
                None => return Ok(()),
                // Another process stored a key for the patient first.
                Some(theirs) => theirs,
            },
        };
        if stored.same_as(key) {
            Ok(())
        } else {
            Err(PersonalDataError::KeyConflict {
                trial: trial.clone(),
                patient: patient.clone(),
            })
        }
    }

    /// Publishes `key` as the patient's key file unless one exists. `Ok(None)` if `key` was
    /// stored (and the folder synced); `Ok(Some(theirs))` if another key was there first.
    fn store_new(
        &self,
        trial: &TrialId,
        patient: &Name,
        key: &DataKey,
    ) -> Result<Option<DataKey>, PersonalDataError> {
        let path = self.key_path(trial, patient);
        let contents = key_file_bytes(trial, patient, key);
        if !publish_new(&self.dir, &path, &contents[..])? {
            return self.existing_key(trial, patient)?.map(Some).ok_or_else(|| {
                PersonalDataError::KeyFile {
                    path,
                    detail: "the key file disappeared while it was being created".into(),
                }
            });
        }
        sync_dir(&self.dir)?;
        // A concurrent erase may have written its tombstone after the caller's check and
        // looked for a key before ours appeared. Checking again after publishing closes that
        // gap: either we see the tombstone now, or the erase sees our key file and destroys it.
        if self.is_erased(trial, patient)? {
            shred(&path).map_err(io_error(&path))?;
            sync_dir(&self.dir)?;
            return Err(erased(trial, patient));
        }
        Ok(None)
    }

    /// The patient's key if one exists: `Ok(None)` if none was ever created,
    /// [`PersonalDataError::Erased`] if the patient was erased.
    pub fn existing_key(
        &self,
        trial: &TrialId,
        patient: &Name,
    ) -> Result<Option<DataKey>, PersonalDataError> {
        if self.is_erased(trial, patient)? {
            return Err(erased(trial, patient));
        }
        match read_key_file(&self.key_path(trial, patient), trial, patient) {
            Ok(Some(key)) => Ok(Some(key)),
            // A missing or half-shredded key file may be an erase that ran since the check
            // above: report that as an erasure, not as "never had a key" or as damage.
            other => {
                if self.is_erased(trial, patient)? {
                    Err(erased(trial, patient))
                } else {
                    other
                }
            }
        }
    }

    /// Erases the patient: their data becomes unreadable forever, in every record.
    ///
    /// Order, chosen so that a crash at any point leaves the patient erased: the tombstone is
    /// written and made durable first; then the key file is overwritten with zeros, fsynced,
    /// and deleted; then the folder is fsynced. Calling it again after a crash finishes the
    /// job (a key file found beside a tombstone is destroyed and reported as
    /// [`EraseOutcome::Erased`]).
    pub fn erase(
        &self,
        trial: &TrialId,
        patient: &Name,
    ) -> Result<EraseOutcome, PersonalDataError> {
        let already = self.is_erased(trial, patient)?;
        if !already {
            // `false` means a concurrent erase wrote the tombstone first: just as good.
            publish_new(&self.dir, &self.tombstone_path(trial, patient), TOMBSTONE)?;
            sync_dir(&self.dir)?;
        }
        let key_path = self.key_path(trial, patient);
        let destroyed = shred(&key_path).map_err(io_error(&key_path))?;
        if destroyed {
            sync_dir(&self.dir)?;
        }
        Ok(match (destroyed, already) {
            (true, _) => EraseOutcome::Erased,
            (false, true) => EraseOutcome::AlreadyErased,
            (false, false) => EraseOutcome::NoKey,
        })
    }

    fn key_path(&self, trial: &TrialId, patient: &Name) -> PathBuf {
        self.dir.join(format!("{}.key", file_stem(trial, patient)))
    }

    fn tombstone_path(&self, trial: &TrialId, patient: &Name) -> PathBuf {
        self.dir
            .join(format!("{}.erased", file_stem(trial, patient)))
    }

    fn is_erased(&self, trial: &TrialId, patient: &Name) -> Result<bool, PersonalDataError> {
        let path = self.tombstone_path(trial, patient);
        // Any entry under the tombstone's name counts, whatever its contents: fail closed.
        match fs::symlink_metadata(&path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(PersonalDataError::Io { path, source }),
        }
    }
}

/// Encrypts: output = 1 version byte (0x01) || 24-byte nonce || ciphertext+tag.
/// AAD = b"trial-ledger/v1/personal-data\0" || trial id || 0x00 || pseudonym, so ciphertext
/// cannot be moved to another patient or trial.
///
/// The plaintext is the JSON of `data`, padded with spaces to a multiple of [`PAD_BLOCK`]
/// bytes. The nonce is random (192 bits, so collisions are not a concern), hence sealing the
/// same data twice gives different bytes.
pub fn seal(key: &DataKey, trial: &TrialId, patient: &Name, data: &PersonalData) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    seal_with_nonce(key, nonce, trial, patient, data)
}

/// [`seal`] with a nonce chosen by the caller: the same bytes for the same inputs.
///
/// **A nonce must never repeat under one key.** Two seals under the same key and nonce
/// reveal the XOR of the two plaintexts and let anyone who sees both forge ciphertexts under
/// that key. Use [`seal`], whose nonce is random, unless the bytes must be reproducible.
///
/// The simulator (tl-sim) is the one caller that needs it: it derives each patient's key and
/// nonce from its seed, so that one seed gives byte-identical ledgers. That is safe only
/// because every simulated patient has their own key ([`DataKey::from_bytes`]), used for one
/// seal only; a derived nonce under a key that seals twice would not be.
pub fn seal_with_nonce(
    key: &DataKey,
    nonce: [u8; NONCE_LEN],
    trial: &TrialId,
    patient: &Name,
    data: &PersonalData,
) -> Vec<u8> {
    seal_plaintext(key, trial, patient, &nonce, &padded_json(data))
}

/// Decrypts a sealed personal-data field made by [`seal`] for the same trial and patient.
///
/// Never panics on bad input: [`PersonalDataError::Malformed`] for an empty field, an unknown
/// version byte or one too short, [`PersonalDataError::Decrypt`] for a wrong key or altered or
/// moved bytes, [`PersonalDataError::Json`] if the decrypted bytes are not personal data.
pub fn open(
    key: &DataKey,
    trial: &TrialId,
    patient: &Name,
    bytes: &[u8],
) -> Result<PersonalData, PersonalDataError> {
    let plaintext = open_plaintext(key, trial, patient, bytes)?;
    serde_json::from_slice(&plaintext).map_err(json_error)
}

/// Convenience: what a reader gets for a record's `personal_data` given a key store.
///
/// No key is created: reading never issues keys.
pub fn disclose(
    store: &KeyStore,
    trial: &TrialId,
    patient: &Name,
    personal_data: Option<&[u8]>,
) -> Result<Disclosure, PersonalDataError> {
    let Some(bytes) = personal_data else {
        return Ok(Disclosure::None);
    };
    match store.existing_key(trial, patient) {
        Err(PersonalDataError::Erased { .. }) => Ok(Disclosure::Erased),
        Err(e) => Err(e),
        Ok(None) => Ok(Disclosure::NoKey),
        Ok(Some(key)) => open(&key, trial, patient, bytes).map(Disclosure::Readable),
    }
}

/// The AEAD's associated data for a patient of a trial. Neither a trial id nor a pseudonym
/// can contain a NUL byte, so the separator makes the encoding unambiguous.
fn associated_data(trial: &TrialId, patient: &Name) -> Vec<u8> {
    let (t, p) = (trial.as_str().as_bytes(), patient.as_str().as_bytes());
    let mut aad = Vec::with_capacity(AAD_TAG.len() + t.len() + 1 + p.len());
    aad.extend_from_slice(AAD_TAG);
    aad.extend_from_slice(t);
    aad.push(0);
    aad.extend_from_slice(p);
    aad
}

/// The JSON of `data`, padded with spaces to a multiple of [`PAD_BLOCK`].
fn padded_json(data: &PersonalData) -> Zeroizing<Vec<u8>> {
    // Sized for the worst case (every byte of the strings escaped as \u00XX, 6 bytes) so that
    // the buffer never grows: growing would leave an unzeroed copy of personal data behind in
    // freed memory.
    let strings = data.initials.as_ref().map_or(0, String::len)
        + data.hospital_number.as_ref().map_or(0, String::len);
    let capacity = (PAD_BLOCK + 6 * strings).div_ceil(PAD_BLOCK) * PAD_BLOCK;
    let mut json = Zeroizing::new(Vec::with_capacity(capacity));
    serde_json::to_writer(&mut *json, data).expect("strings and integers always serialise");
    let padded = json.len().div_ceil(PAD_BLOCK) * PAD_BLOCK;
    json.resize(padded, b' ');
    json
}

fn seal_plaintext(
    key: &DataKey,
    trial: &TrialId,
    patient: &Name,
    nonce: &[u8; NONCE_LEN],
    plaintext: &[u8],
) -> Vec<u8> {
    let aad = associated_data(trial, patient);
    let ciphertext = key
        .cipher()
        .encrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .expect("XChaCha20-Poly1305 only fails beyond 256 GiB of plaintext");
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
    out.push(FORMAT_VERSION);
    out.extend_from_slice(nonce);
    out.extend_from_slice(&ciphertext);
    out
}

fn open_plaintext(
    key: &DataKey,
    trial: &TrialId,
    patient: &Name,
    bytes: &[u8],
) -> Result<Zeroizing<Vec<u8>>, PersonalDataError> {
    let Some((&version, rest)) = bytes.split_first() else {
        return Err(PersonalDataError::Malformed(
            "empty personal-data field".into(),
        ));
    };
    if version != FORMAT_VERSION {
        return Err(PersonalDataError::Malformed(format!(
            "unknown format version byte 0x{version:02x} (this build reads 0x{FORMAT_VERSION:02x})"
        )));
    }
    if bytes.len() < MIN_SEALED_LEN {
        return Err(PersonalDataError::Malformed(format!(
            "{} bytes is too short: at least {MIN_SEALED_LEN} (version byte, nonce and tag)",
            bytes.len()
        )));
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let aad = associated_data(trial, patient);
    key.cipher()
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: &aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| PersonalDataError::Decrypt)
}

/// serde_json's messages quote the offending value, which here is personal data that must
/// not end up in logs; keep only the kind of error and where it is.
fn json_error(e: serde_json::Error) -> PersonalDataError {
    PersonalDataError::Json(format!(
        "not a version-1 personal-data JSON object ({:?} error at line {} column {})",
        e.classify(),
        e.line(),
        e.column()
    ))
}

fn erased(trial: &TrialId, patient: &Name) -> PersonalDataError {
    PersonalDataError::Erased {
        trial: trial.clone(),
        patient: patient.clone(),
    }
}

/// Hex SHA-256 of the file-name tag, the trial id and the pseudonym.
fn file_stem(trial: &TrialId, patient: &Name) -> String {
    let mut h = Sha256::new();
    h.update(FILE_NAME_TAG);
    h.update(trial.as_str().as_bytes());
    h.update([0]);
    h.update(patient.as_str().as_bytes());
    hex::encode(h.finalize())
}

/// The check value of a key file: binds the key to its trial and patient.
fn key_check(trial: &TrialId, patient: &Name, key: &[u8]) -> [u8; CHECK_LEN] {
    let mut h = Sha256::new();
    h.update(KEY_FILE_MAGIC);
    h.update(trial.as_str().as_bytes());
    h.update([0]);
    h.update(patient.as_str().as_bytes());
    h.update([0]);
    h.update(key);
    let digest = h.finalize();
    let mut check = [0u8; CHECK_LEN];
    check.copy_from_slice(&digest[..CHECK_LEN]);
    check
}

fn key_file_bytes(trial: &TrialId, patient: &Name, key: &DataKey) -> Zeroizing<[u8; KEY_FILE_LEN]> {
    let mut file = Zeroizing::new([0u8; KEY_FILE_LEN]);
    let (magic, rest) = file.split_at_mut(KEY_FILE_MAGIC.len());
    let (key_bytes, check) = rest.split_at_mut(KEY_LEN);
    magic.copy_from_slice(KEY_FILE_MAGIC);
    key_bytes.copy_from_slice(&key.0[..]);
    check.copy_from_slice(&key_check(trial, patient, &key.0[..]));
    file
}

/// Reads and checks a key file; `Ok(None)` if there is none.
fn read_key_file(
    path: &Path,
    trial: &TrialId,
    patient: &Name,
) -> Result<Option<DataKey>, PersonalDataError> {
    let bad = |detail: String| PersonalDataError::KeyFile {
        path: path.to_path_buf(),
        detail,
    };
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(PersonalDataError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let len = file.metadata().map_err(io_error(path))?.len();
    if len != KEY_FILE_LEN as u64 {
        return Err(bad(format!("{len} bytes, expected {KEY_FILE_LEN}")));
    }
    // Read into a zeroized fixed buffer, never a growing Vec that could leave copies behind.
    let mut contents = Zeroizing::new([0u8; KEY_FILE_LEN]);
    file.read_exact(&mut contents[..]).map_err(io_error(path))?;
    let (magic, rest) = contents.split_at(KEY_FILE_MAGIC.len());
    let (key_bytes, check) = rest.split_at(KEY_LEN);
    if magic != KEY_FILE_MAGIC {
        return Err(bad("not a trial-ledger personal-data key file".into()));
    }
    if check != key_check(trial, patient, key_bytes) {
        return Err(bad(
            "check value does not match: the file is damaged, or belongs to another patient or trial"
                .into(),
        ));
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(key_bytes);
    Ok(Some(DataKey(key)))
}

/// Writes `data` to a new file at `target`, atomically and without ever replacing an existing
/// file: a fsynced temporary file (mode 0600 from creation) is hard-linked into place.
/// Returns `false` if `target` already existed. The caller fsyncs the folder.
fn publish_new(dir: &Path, target: &Path, data: &[u8]) -> Result<bool, PersonalDataError> {
    // The temporary name carries no patient hash, and a random part so writers never collide.
    let tmp = dir.join(format!(
        ".tmp-{}-{:016x}",
        std::process::id(),
        OsRng.next_u64()
    ));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(io_error(&tmp))?;
    // From here on the guard removes the temporary file, shredding it unless it was published.
    let mut staged = Staged {
        path: tmp,
        published: false,
    };
    file.write_all(data)
        .and_then(|()| file.sync_all())
        .map_err(io_error(&staged.path))?;
    drop(file);
    // A hard link fails atomically if the target exists; a rename would silently replace it,
    // and replacing a key file would orphan everything sealed under the old key.
    match fs::hard_link(&staged.path, target) {
        Ok(()) => {
            staged.published = true;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(_) => {
            // Filesystems without hard links: check, then rename.
            if target.try_exists().map_err(io_error(target))? {
                return Ok(false);
            }
            fs::rename(&staged.path, target).map_err(io_error(target))?;
            staged.published = true;
            Ok(true)
        }
    }
}

/// A temporary file that is removed when dropped. Unpublished, it holds the only copy of an
/// unused key, so it is shredded; published, it shares its contents with the real file, so
/// only its name is removed.
struct Staged {
    path: PathBuf,
    published: bool,
}

impl Drop for Staged {
    fn drop(&mut self) {
        // Best effort: after a rename the name is already gone.
        if self.published {
            let _ = fs::remove_file(&self.path);
        } else {
            let _ = shred(&self.path);
        }
    }
}

/// Overwrites a file with zeros, fsyncs it and deletes it. `Ok(false)` if there was none.
fn shred(path: &Path) -> io::Result<bool> {
    let mut file = match OpenOptions::new().write(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let mut left = file.metadata()?.len();
    let zeros = [0u8; 4096];
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        file.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    // The zeros reach the disk before the name goes, so the key bytes are not left in blocks
    // that a later deletion merely frees.
    file.sync_all()?;
    drop(file);
    match fs::remove_file(path) {
        // Removed concurrently by another eraser: destroyed all the same.
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(true),
    }
}

/// Makes a folder's entries (new, renamed, removed files) durable: syncing a file persists its
/// contents, not the name under which it is found after a power loss.
fn sync_dir(dir: &Path) -> Result<(), PersonalDataError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> PersonalDataError + '_ {
    move |source| PersonalDataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tl_ledger::crypto::verify_one;
    use tl_ledger::writer::Draft;
    use tl_ledger::SigningKey;
    use tl_schemas::clinical::clinical_type;
    use tl_schemas::{decode, encode, Envelope, SignedSubmission, Subject};

    fn trial() -> TrialId {
        TrialId::new("drup-nl").unwrap()
    }

    fn other_trial() -> TrialId {
        TrialId::new("drup-be").unwrap()
    }

    fn patient(p: &str) -> Name {
        Name::new(p).unwrap()
    }

    fn data() -> PersonalData {
        PersonalData {
            initials: Some("J.A.".into()),
            birth_year: Some(1961),
            hospital_number: Some("NKI-0042317".into()),
        }
    }

    fn store() -> (tempfile::TempDir, KeyStore) {
        let tmp = tempfile::tempdir().unwrap();
        let store = KeyStore::open(&tmp.path().join("keys")).unwrap();
        (tmp, store)
    }

    /// Every file in the store's folder, with its contents.
    fn files(store: &KeyStore) -> Vec<(String, Vec<u8>)> {
        let mut out: Vec<_> = fs::read_dir(store.dir())
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let name = e.file_name().into_string().unwrap();
                (name, fs::read(e.path()).unwrap())
            })
            .collect();
        out.sort();
        out
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn sealed_data_opens_to_the_same_data() {
        // given a patient's key
        let (_tmp, store) = store();
        let key = store.key_for(&trial(), &patient("P-0001")).unwrap();
        // when their data is sealed and opened again
        let sealed = seal(&key, &trial(), &patient("P-0001"), &data());
        let opened = open(&key, &trial(), &patient("P-0001"), &sealed).unwrap();
        // then it is the same data, behind the version byte, and nothing of it is in clear
        assert_eq!(opened, data());
        assert_eq!(sealed[0], FORMAT_VERSION);
        assert!(!contains(&sealed, b"NKI-0042317"));
        assert!(!contains(&sealed, b"J.A."));
    }

    #[test]
    fn empty_personal_data_round_trips() {
        // given a patient with nothing recorded
        let key = DataKey::generate();
        let empty = PersonalData::default();
        // when it is sealed and opened
        let sealed = seal(&key, &trial(), &patient("P-0001"), &empty);
        // then it opens to nothing recorded
        assert_eq!(
            open(&key, &trial(), &patient("P-0001"), &sealed).unwrap(),
            empty
        );
    }

    #[test]
    fn sealing_twice_uses_fresh_nonces() {
        // given one key and one piece of data
        let key = DataKey::generate();
        // when it is sealed twice
        let a = seal(&key, &trial(), &patient("P-0001"), &data());
        let b = seal(&key, &trial(), &patient("P-0001"), &data());
        // then the nonces and ciphertexts differ, and both open
        assert_ne!(a[1..1 + NONCE_LEN], b[1..1 + NONCE_LEN]);
        assert_ne!(a, b);
        for sealed in [a, b] {
            assert_eq!(
                open(&key, &trial(), &patient("P-0001"), &sealed).unwrap(),
                data()
            );
        }
    }

    #[test]
    fn ciphertext_moved_to_another_patient_does_not_open() {
        // given data sealed for P-0001
        let key = DataKey::generate();
        let sealed = seal(&key, &trial(), &patient("P-0001"), &data());
        // when it is opened as P-0002's data, even under the same key
        let moved = open(&key, &trial(), &patient("P-0002"), &sealed);
        // then authentication fails
        assert!(
            matches!(moved, Err(PersonalDataError::Decrypt)),
            "{moved:?}"
        );
    }

    #[test]
    fn ciphertext_moved_to_another_trial_does_not_open() {
        // given data sealed for P-0001 in one trial
        let key = DataKey::generate();
        let sealed = seal(&key, &trial(), &patient("P-0001"), &data());
        // when it is opened as the same pseudonym's data in another trial
        let moved = open(&key, &other_trial(), &patient("P-0001"), &sealed);
        // then authentication fails
        assert!(
            matches!(moved, Err(PersonalDataError::Decrypt)),
            "{moved:?}"
        );
    }

    #[test]
    fn another_patients_key_does_not_open() {
        // given two patients with their own keys
        let (_tmp, store) = store();
        let mine = store.key_for(&trial(), &patient("P-0001")).unwrap();
        let theirs = store.key_for(&trial(), &patient("P-0002")).unwrap();
        let sealed = seal(&mine, &trial(), &patient("P-0001"), &data());
        // when the other patient's key is used
        let wrong = open(&theirs, &trial(), &patient("P-0001"), &sealed);
        // then authentication fails
        assert!(
            matches!(wrong, Err(PersonalDataError::Decrypt)),
            "{wrong:?}"
        );
    }

    #[test]
    fn every_altered_byte_is_refused() {
        // given a sealed field
        let key = DataKey::generate();
        let sealed = seal(&key, &trial(), &patient("P-0001"), &data());
        for i in 0..sealed.len() {
            // when any one byte is altered
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x01;
            let result = open(&key, &trial(), &patient("P-0001"), &tampered);
            // then it is refused: the version byte as malformed, any other as undecryptable
            if i == 0 {
                assert!(
                    matches!(result, Err(PersonalDataError::Malformed(_))),
                    "{result:?}"
                );
            } else {
                assert!(
                    matches!(result, Err(PersonalDataError::Decrypt)),
                    "byte {i}: {result:?}"
                );
            }
        }
    }

    #[test]
    fn truncated_or_extended_fields_are_refused() {
        // given a sealed field
        let key = DataKey::generate();
        let sealed = seal(&key, &trial(), &patient("P-0001"), &data());
        // when bytes are cut off or appended
        let mut longer = sealed.clone();
        longer.push(0);
        for bad in [
            &sealed[..sealed.len() - 1],
            &sealed[..MIN_SEALED_LEN],
            &longer[..],
        ] {
            // then it does not decrypt
            let result = open(&key, &trial(), &patient("P-0001"), bad);
            assert!(
                matches!(result, Err(PersonalDataError::Decrypt)),
                "{result:?}"
            );
        }
    }

    #[test]
    fn malformed_fields_are_refused_without_panic() {
        // given a key and a valid field to cut from
        let key = DataKey::generate();
        let sealed = seal(&key, &trial(), &patient("P-0001"), &data());
        let open_ = |bytes: &[u8]| open(&key, &trial(), &patient("P-0001"), bytes);
        // when the field is empty, has an unknown version byte, or is too short
        // then it is Malformed
        assert!(matches!(open_(&[]), Err(PersonalDataError::Malformed(_))));
        for version in [0x00, 0x02, 0xff] {
            let mut other = sealed.clone();
            other[0] = version;
            assert!(matches!(
                open_(&other),
                Err(PersonalDataError::Malformed(_))
            ));
            assert!(matches!(
                open_(&[version]),
                Err(PersonalDataError::Malformed(_))
            ));
        }
        for len in 1..MIN_SEALED_LEN {
            let result = open_(&sealed[..len]);
            assert!(
                matches!(result, Err(PersonalDataError::Malformed(_))),
                "{len}: {result:?}"
            );
        }
    }

    #[test]
    fn undecodable_plaintext_is_reported_without_quoting_it() {
        // given an authentic field whose plaintext is not valid personal data
        let key = DataKey::generate();
        let nonce = [7u8; NONCE_LEN];
        let bad = br#"{"birth_year":"Jansen"}"#;
        let unknown = br#"{"initials":"JA","name":"Jansen"}"#;
        for plaintext in [&bad[..], &unknown[..], b"", b"not json"] {
            let sealed = seal_plaintext(&key, &trial(), &patient("P-0001"), &nonce, plaintext);
            // when it is opened
            let result = open(&key, &trial(), &patient("P-0001"), &sealed);
            // then it is a Json error that does not repeat the data
            let Err(PersonalDataError::Json(message)) = result else {
                panic!("expected a Json error, got {result:?}");
            };
            assert!(!message.contains("Jansen"), "{message}");
        }
    }

    #[test]
    fn lengths_of_short_data_are_hidden_by_padding() {
        // given a short and a longer record of personal data
        let key = DataKey::generate();
        let short = PersonalData {
            initials: Some("A".into()),
            birth_year: None,
            hospital_number: None,
        };
        let long = PersonalData {
            initials: Some("A.B.C.".into()),
            birth_year: Some(1950),
            hospital_number: Some("UMCU-123456789".into()),
        };
        // when both are sealed
        let a = seal(&key, &trial(), &patient("P-0001"), &short);
        let b = seal(&key, &trial(), &patient("P-0001"), &long);
        // then they have the same length: one padding block
        assert_eq!(a.len(), 1 + NONCE_LEN + PAD_BLOCK + TAG_LEN);
        assert_eq!(a.len(), b.len());
    }

    #[test]
    fn golden_vector_is_frozen() {
        // given a fixed key, nonce, trial, patient and data
        let key = DataKey(Zeroizing::new([0x42; KEY_LEN]));
        let nonce = [0x24; NONCE_LEN];
        let data = PersonalData {
            initials: Some("JA".into()),
            birth_year: Some(1961),
            hospital_number: Some("H123".into()),
        };
        // when it is sealed
        let sealed = seal_plaintext(
            &key,
            &trial(),
            &patient("P-0001"),
            &nonce,
            &padded_json(&data),
        );
        // then the bytes are exactly those in FORMAT.md, and they open
        assert_eq!(hex::encode(&sealed), GOLDEN);
        assert_eq!(
            open(&key, &trial(), &patient("P-0001"), &sealed).unwrap(),
            data
        );
        assert_eq!(
            associated_data(&trial(), &patient("P-0001")),
            b"trial-ledger/v1/personal-data\0drup-nl\0P-0001"
        );
    }

    /// The golden vector, checked against an independent implementation (HChaCha20 by hand
    /// plus Python `cryptography`'s ChaCha20-Poly1305): version, nonce, then ciphertext+tag.
    const GOLDEN: &str = concat!(
        "01",
        "242424242424242424242424242424242424242424242424",
        "de7cbe0b075025c7ce5c1d002cc24ce81ed3ecd30e6b1cc25804873f492aeaf4",
        "22a0a4fa5cf428ec15c1d0d7a6b35de135285ddc1d6ac9ed2009abaeb13f94d8",
        "ceb412042611fb20ecb64d1e15047ada9ebb50e086184e84239f13d0b7385904",
        "f54b175c42f1862572b4307a8cee453b954482e40fd769b418fcbfcbc1d0117c",
        "0346a0ad08a0e584ad7051a2c11ca643",
    );

    #[test]
    fn a_key_from_given_bytes_and_a_given_nonce_seal_the_golden_vector() {
        // given the golden vector's key bytes, nonce and data
        let key = DataKey::from_bytes([0x42; KEY_LEN]);
        let data = PersonalData {
            initials: Some("JA".into()),
            birth_year: Some(1961),
            hospital_number: Some("H123".into()),
        };
        // when they are sealed through the public functions
        let sealed = seal_with_nonce(&key, [0x24; NONCE_LEN], &trial(), &patient("P-0001"), &data);
        // then the bytes are the golden vector's, and the key's bytes are not shown
        assert_eq!(hex::encode(&sealed), GOLDEN);
        assert_eq!(format!("{key:?}"), "DataKey(<redacted>)");
    }

    #[test]
    fn sealing_with_a_given_nonce_is_reproducible_and_opens() {
        // given a key and two nonces
        let key = DataKey::from_bytes([7; KEY_LEN]);
        let (n1, n2) = ([1u8; NONCE_LEN], [2u8; NONCE_LEN]);
        let p = patient("P-0001");
        // when the same data is sealed twice with one nonce, and once with the other
        let a = seal_with_nonce(&key, n1, &trial(), &p, &data());
        let b = seal_with_nonce(&key, n1, &trial(), &p, &data());
        let c = seal_with_nonce(&key, n2, &trial(), &p, &data());
        // then one nonce gives the same bytes, carrying that nonce, and another nonce others
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a[0], FORMAT_VERSION);
        assert_eq!(a[1..1 + NONCE_LEN], n1);
        assert_eq!(a.len(), 1 + NONCE_LEN + PAD_BLOCK + TAG_LEN);
        // and all open, under that key only, to the data
        for sealed in [&a, &c] {
            assert_eq!(open(&key, &trial(), &p, sealed).unwrap(), data());
        }
        let other = DataKey::from_bytes([8; KEY_LEN]);
        assert!(matches!(
            open(&other, &trial(), &p, &a),
            Err(PersonalDataError::Decrypt)
        ));
    }

    #[test]
    fn an_imported_key_is_stored_and_importing_it_again_changes_nothing() {
        // given an empty store and a key from given bytes, with data sealed under it
        let (tmp, store) = store();
        let p = patient("P-0001");
        let key = DataKey::from_bytes([0x5a; KEY_LEN]);
        let sealed = seal_with_nonce(&key, [3; NONCE_LEN], &trial(), &p, &data());
        // when it is imported
        store.import(&trial(), &p, &key).unwrap();
        let after_first = files(&store);
        // then it is the patient's key, also after reopening the store, and key_for gives it
        assert!(store
            .existing_key(&trial(), &p)
            .unwrap()
            .unwrap()
            .same_as(&key));
        let reopened = KeyStore::open(&tmp.path().join("keys")).unwrap();
        assert!(reopened.key_for(&trial(), &p).unwrap().same_as(&key));
        assert_eq!(
            disclose(&reopened, &trial(), &p, Some(&sealed)).unwrap(),
            Disclosure::Readable(data())
        );
        // and it is one private key file
        assert_eq!(after_first.len(), 1);
        assert!(after_first[0].0.ends_with(".key"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(store.dir().join(&after_first[0].0))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // when the same key is imported again, through the same or a reopened store
        store.import(&trial(), &p, &key).unwrap();
        reopened
            .import(&trial(), &p, &DataKey::from_bytes([0x5a; KEY_LEN]))
            .unwrap();
        // then nothing changed
        assert_eq!(files(&store), after_first);
        // and the same bytes for another patient or trial are a separate key file
        store.import(&trial(), &patient("P-0002"), &key).unwrap();
        store.import(&other_trial(), &p, &key).unwrap();
        assert_eq!(files(&store).len(), 3);
    }

    #[test]
    fn importing_a_different_key_is_refused_and_the_stored_key_kept() {
        // given a patient with a key, and data sealed under it
        let (_tmp, store) = store();
        let p = patient("P-0001");
        let stored = store.key_for(&trial(), &p).unwrap();
        let sealed = seal(&stored, &trial(), &p, &data());
        let before = files(&store);
        // when another key is imported for them
        let mut other_bytes = [0u8; KEY_LEN];
        other_bytes.copy_from_slice(&stored.0[..]);
        other_bytes[KEY_LEN - 1] ^= 1;
        let result = store.import(&trial(), &p, &DataKey::from_bytes(other_bytes));
        // then it is refused, without quoting either key, and the stored key still reads
        let Err(err @ PersonalDataError::KeyConflict { .. }) = result else {
            panic!("expected KeyConflict, got {result:?}");
        };
        let message = err.to_string();
        assert!(message.contains("P-0001"), "{message}");
        assert!(!message.contains(&hex::encode(&stored.0[..4])), "{message}");
        assert_eq!(files(&store), before);
        assert_eq!(
            disclose(&store, &trial(), &p, Some(&sealed)).unwrap(),
            Disclosure::Readable(data())
        );
        // and importing the key it already has succeeds
        store.import(&trial(), &p, &stored).unwrap();
    }

    #[test]
    fn an_erased_patient_gets_no_imported_key() {
        // given an erased patient whose key was imported
        let (_tmp, store) = store();
        let p = patient("P-0001");
        let key = DataKey::from_bytes([0x11; KEY_LEN]);
        let sealed = seal_with_nonce(&key, [4; NONCE_LEN], &trial(), &p, &data());
        store.import(&trial(), &p, &key).unwrap();
        assert_eq!(store.erase(&trial(), &p).unwrap(), EraseOutcome::Erased);
        // when the same key is imported again (a restore from escrow, or a re-run simulation)
        let result = store.import(&trial(), &p, &key);
        // then it is refused, no key file comes back, and the data stays erased
        assert!(
            matches!(result, Err(PersonalDataError::Erased { .. })),
            "{result:?}"
        );
        let left = files(&store);
        assert_eq!(left.len(), 1, "only the tombstone: {left:?}");
        assert!(left[0].0.ends_with(".erased"));
        assert_eq!(
            disclose(&store, &trial(), &p, Some(&sealed)).unwrap(),
            Disclosure::Erased
        );
        // and a patient erased before ever having a key cannot be given one either
        let q = patient("P-0002");
        store.erase(&trial(), &q).unwrap();
        assert!(matches!(
            store.import(&trial(), &q, &key),
            Err(PersonalDataError::Erased { .. })
        ));
    }

    #[test]
    fn a_key_is_created_once_and_kept() {
        // given an empty key store
        let (tmp, store) = store();
        // then there is no key yet
        assert!(store
            .existing_key(&trial(), &patient("P-0001"))
            .unwrap()
            .is_none());
        // when a key is asked for twice, and again after reopening the store
        let first = store.key_for(&trial(), &patient("P-0001")).unwrap();
        let second = store.key_for(&trial(), &patient("P-0001")).unwrap();
        let reopened = KeyStore::open(&tmp.path().join("keys")).unwrap();
        let third = reopened
            .existing_key(&trial(), &patient("P-0001"))
            .unwrap()
            .unwrap();
        // then it is the same key each time, in exactly one file
        assert_eq!(first.0[..], second.0[..]);
        assert_eq!(first.0[..], third.0[..]);
        assert_eq!(files(&store).len(), 1);
        // and other patients and trials get other keys
        let other = store.key_for(&trial(), &patient("P-0002")).unwrap();
        let elsewhere = store.key_for(&other_trial(), &patient("P-0001")).unwrap();
        assert_ne!(first.0[..], other.0[..]);
        assert_ne!(first.0[..], elsewhere.0[..]);
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        // given a store created by open
        let (_tmp, store) = store();
        // when keys are created
        store.key_for(&trial(), &patient("P-0001")).unwrap();
        store.key_for(&trial(), &patient("P-0002")).unwrap();
        // then the folder is 0700 and each key file 0600
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(store.dir()), 0o700);
        for entry in fs::read_dir(store.dir()).unwrap() {
            let path = entry.unwrap().path();
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }

    #[test]
    fn key_files_do_not_name_the_patient() {
        // given a key for a distinctive pseudonym
        let (_tmp, store) = store();
        let pseudonym = "Pseudo-7731";
        store.key_for(&trial(), &patient(pseudonym)).unwrap();
        store.erase(&trial(), &patient("P-0002")).unwrap();
        // when the folder is listed
        let files = files(&store);
        // then neither names nor contents carry the pseudonym, in clear or in hex
        assert_eq!(files.len(), 2);
        let hex_pseudonym = hex::encode(pseudonym);
        for (name, contents) in &files {
            let lower = name.to_lowercase();
            assert!(!lower.contains(&pseudonym.to_lowercase()), "{name}");
            assert!(!lower.contains("p-0002"), "{name}");
            assert!(!lower.contains(&hex_pseudonym), "{name}");
            assert!(!contains(contents, pseudonym.as_bytes()), "{name}");
        }
    }

    #[test]
    fn erased_data_is_unreadable_but_the_signed_record_is_unchanged() {
        // given a signed submission carrying sealed personal data, and its encoded bytes
        let (_tmp, store) = store();
        let p = patient("P-0001");
        let key = store.key_for(&trial(), &p).unwrap();
        let mut envelope = Envelope::new(clinical_type::PATIENT_REGISTERED, 1, vec![1, 2, 3]);
        envelope.personal_data = Some(seal(&key, &trial(), &p, &data()));
        drop(key);
        let author = SigningKey::from_seed([9; 32]);
        let signed = Draft::new(Subject::Patient(p.clone()), envelope).sign(&trial(), &author);
        let bytes = encode(&signed);
        let digest_before = Sha256::digest(&bytes);
        let field = |b: &[u8]| {
            decode::<SignedSubmission>(b)
                .unwrap()
                .submission
                .envelope
                .personal_data
        };
        assert_eq!(
            disclose(&store, &trial(), &p, field(&bytes).as_deref()).unwrap(),
            Disclosure::Readable(data())
        );
        // when the patient is erased
        assert_eq!(store.erase(&trial(), &p).unwrap(), EraseOutcome::Erased);
        // then no key is given out again, and the data discloses as erased
        assert!(matches!(
            store.key_for(&trial(), &p),
            Err(PersonalDataError::Erased { .. })
        ));
        assert!(matches!(
            store.existing_key(&trial(), &p),
            Err(PersonalDataError::Erased { .. })
        ));
        assert_eq!(
            disclose(&store, &trial(), &p, field(&bytes).as_deref()).unwrap(),
            Disclosure::Erased
        );
        // and the record's bytes, hash and author signature are untouched
        assert_eq!(Sha256::digest(&bytes), digest_before);
        let decoded: SignedSubmission = decode(&bytes).unwrap();
        assert_eq!(decoded, signed);
        assert!(verify_one(
            &author.public_key(),
            &decoded.submission.signing_message(),
            &decoded.signature
        ));
    }

    #[test]
    fn erasing_twice_reports_already_erased() {
        // given an erased patient
        let (_tmp, store) = store();
        let p = patient("P-0001");
        store.key_for(&trial(), &p).unwrap();
        assert_eq!(store.erase(&trial(), &p).unwrap(), EraseOutcome::Erased);
        // when they are erased again
        let again = store.erase(&trial(), &p).unwrap();
        // then nothing was left to destroy
        assert_eq!(again, EraseOutcome::AlreadyErased);
    }

    #[test]
    fn erasing_a_patient_without_key_blocks_future_keys() {
        // given a patient who never had a key
        let (_tmp, store) = store();
        let p = patient("P-0001");
        // when they are erased
        let outcome = store.erase(&trial(), &p).unwrap();
        // then there was no key, and none is ever issued to them
        assert_eq!(outcome, EraseOutcome::NoKey);
        assert!(matches!(
            store.key_for(&trial(), &p),
            Err(PersonalDataError::Erased { .. })
        ));
        assert_eq!(
            store.erase(&trial(), &p).unwrap(),
            EraseOutcome::AlreadyErased
        );
    }

    #[test]
    fn the_erased_key_is_overwritten_and_no_file_holds_it() {
        // given a patient's key, and a second name for its key file (a hard link made outside
        // the store, so the file's contents can still be read after it is deleted)
        let (tmp, store) = store();
        let p = patient("P-0001");
        let key = store.key_for(&trial(), &p).unwrap();
        let key_bytes = key.0.to_vec();
        let key_path = store.key_path(&trial(), &p);
        let witness = tmp.path().join("witness");
        fs::hard_link(&key_path, &witness).unwrap();
        assert!(contains(&fs::read(&witness).unwrap(), &key_bytes));
        // when the patient is erased
        store.erase(&trial(), &p).unwrap();
        // then the key file is gone, its contents were overwritten with zeros before deletion,
        let after = fs::read(&witness).unwrap();
        assert_eq!(after.len(), KEY_FILE_LEN);
        assert!(after.iter().all(|&b| b == 0));
        assert!(!key_path.exists());
        // and no file left in the store holds the key, raw or in hex
        let left = files(&store);
        assert_eq!(left.len(), 1, "only the tombstone: {left:?}");
        for (name, contents) in left {
            assert!(name.ends_with(".erased"), "{name}");
            assert!(!contains(&contents, &key_bytes));
            assert!(!contains(&contents, hex::encode(&key_bytes).as_bytes()));
        }
    }

    #[test]
    fn erasing_one_patient_leaves_the_others_readable() {
        // given two patients with sealed data
        let (_tmp, store) = store();
        let (p1, p2) = (patient("P-0001"), patient("P-0002"));
        let k1 = store.key_for(&trial(), &p1).unwrap();
        let k2 = store.key_for(&trial(), &p2).unwrap();
        let s1 = seal(&k1, &trial(), &p1, &data());
        let s2 = seal(&k2, &trial(), &p2, &data());
        // when the first is erased
        store.erase(&trial(), &p1).unwrap();
        // then only the first is erased
        assert_eq!(
            disclose(&store, &trial(), &p1, Some(&s1)).unwrap(),
            Disclosure::Erased
        );
        assert_eq!(
            disclose(&store, &trial(), &p2, Some(&s2)).unwrap(),
            Disclosure::Readable(data())
        );
        // and the same pseudonym in another trial is a different patient
        assert!(store.key_for(&other_trial(), &p1).is_ok());
    }

    #[test]
    fn an_interrupted_erase_still_counts_and_is_completed() {
        // given a crash after the tombstone was written but before the key file was destroyed
        // (simulated by putting a copy of the key file back)
        let (tmp, store) = store();
        let p = patient("P-0001");
        store.key_for(&trial(), &p).unwrap();
        let key_path = store.key_path(&trial(), &p);
        let copy = tmp.path().join("copy");
        fs::copy(&key_path, &copy).unwrap();
        store.erase(&trial(), &p).unwrap();
        fs::copy(&copy, &key_path).unwrap();
        // then the patient counts as erased
        assert!(matches!(
            store.existing_key(&trial(), &p),
            Err(PersonalDataError::Erased { .. })
        ));
        assert!(matches!(
            store.key_for(&trial(), &p),
            Err(PersonalDataError::Erased { .. })
        ));
        // when erase runs again
        let outcome = store.erase(&trial(), &p).unwrap();
        // then it destroys the leftover key
        assert_eq!(outcome, EraseOutcome::Erased);
        assert!(!key_path.exists());
    }

    #[test]
    fn damaged_or_misplaced_key_files_are_refused() {
        // given two patients' key files
        let (_tmp, store) = store();
        let (p1, p2) = (patient("P-0001"), patient("P-0002"));
        store.key_for(&trial(), &p1).unwrap();
        store.key_for(&trial(), &p2).unwrap();
        let (path1, path2) = (store.key_path(&trial(), &p1), store.key_path(&trial(), &p2));
        // when P-0002's file is replaced by P-0001's
        fs::copy(&path1, &path2).unwrap();
        // then it is refused as a key file, rather than used and failing on every record
        let misplaced = store.existing_key(&trial(), &p2);
        assert!(
            matches!(misplaced, Err(PersonalDataError::KeyFile { .. })),
            "{misplaced:?}"
        );
        assert!(matches!(
            store.key_for(&trial(), &p2),
            Err(PersonalDataError::KeyFile { .. })
        ));
        // when a key byte flips, or the file is truncated
        let mut damaged = fs::read(&path1).unwrap();
        damaged[KEY_FILE_MAGIC.len()] ^= 0x80;
        fs::write(&path1, &damaged).unwrap();
        let flipped = store.existing_key(&trial(), &p1);
        fs::write(&path1, &damaged[..10]).unwrap();
        let truncated = store.existing_key(&trial(), &p1);
        // then it is refused too
        assert!(
            matches!(flipped, Err(PersonalDataError::KeyFile { .. })),
            "{flipped:?}"
        );
        assert!(
            matches!(truncated, Err(PersonalDataError::KeyFile { .. })),
            "{truncated:?}"
        );
    }

    #[test]
    fn publishing_never_replaces_an_existing_file() {
        // given a key file (the situation of a writer that lost the race to create it)
        let (_tmp, store) = store();
        let p = patient("P-0001");
        let key = store.key_for(&trial(), &p).unwrap();
        let path = store.key_path(&trial(), &p);
        let before = fs::read(&path).unwrap();
        // when another key is published under the same name
        let other = key_file_bytes(&trial(), &p, &DataKey::generate());
        let published = publish_new(store.dir(), &path, &other[..]).unwrap();
        // then it is not published, the first key stays, and no temporary file is left
        assert!(!published);
        assert_eq!(fs::read(&path).unwrap(), before);
        assert_eq!(store.key_for(&trial(), &p).unwrap().0[..], key.0[..]);
        assert_eq!(files(&store).len(), 1);
    }

    #[test]
    fn disclose_reports_no_data_and_no_key() {
        // given a store without a key for the patient, and data sealed elsewhere
        let (_tmp, store) = store();
        let p = patient("P-0001");
        let sealed = seal(&DataKey::generate(), &trial(), &p, &data());
        // when a record without personal data, and one with, are disclosed
        let none = disclose(&store, &trial(), &p, None).unwrap();
        let no_key = disclose(&store, &trial(), &p, Some(&sealed)).unwrap();
        // then they are None and NoKey, and reading created no key
        assert_eq!(none, Disclosure::None);
        assert_eq!(no_key, Disclosure::NoKey);
        assert!(files(&store).is_empty());
    }

    #[test]
    fn keys_are_never_printed() {
        // given a key
        let key = DataKey(Zeroizing::new([0xab; KEY_LEN]));
        // when it is formatted for debugging
        let shown = format!("{key:?}");
        // then its bytes do not appear
        assert!(!shown.to_lowercase().contains("abab"), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
    }
}
