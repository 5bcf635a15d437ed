//! The trust file: the pinned root public key an auditor verifies against.
//!
//! `init` writes it beside the ledger. A real audit keeps its own copy (or takes the key from
//! the trial's published registration), because a trust file stored next to a rewritten
//! ledger could have been rewritten with it.

use crate::Error;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tl_schemas::{KeyId, TrialId};

/// Format tag of trust files.
pub const TRUST_FORMAT: &str = "trial-ledger-trust/v1";

/// The trust anchor of one trial.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustFile {
    /// Always [`TRUST_FORMAT`].
    pub format: String,
    /// The trial id.
    pub trial_id: String,
    /// The root public key, hex.
    pub root_public_key: String,
    /// Its key id, hex (redundant, for people comparing keys by eye).
    pub root_key_id: String,
    /// Partition count at registration.
    pub partitions: u32,
}

impl TrustFile {
    /// The trust file of a trial.
    pub fn new(trial: &TrialId, root_public_key: [u8; 32], partitions: u32) -> Self {
        TrustFile {
            format: TRUST_FORMAT.into(),
            trial_id: trial.to_string(),
            root_public_key: hex::encode(root_public_key),
            root_key_id: KeyId::of_ed25519(&root_public_key).to_hex(),
            partitions,
        }
    }

    /// Reads and checks a trust file.
    pub fn read(path: &Path) -> Result<Self, Error> {
        let bad = |detail: String| Error::Trust {
            path: path.to_path_buf(),
            detail,
        };
        let text = crate::limits::read_capped_text(
            path,
            crate::limits::MAX_TRUST_FILE_BYTES,
            "a trust file",
        )
        .map_err(|e| match e {
            crate::Error::TooLarge { .. } => bad(e.to_string()),
            crate::Error::Io { source, .. } => bad(format!("cannot read: {source}")),
            e => bad(e.to_string()),
        })?;
        let t: TrustFile =
            serde_json::from_str(&text).map_err(|e| bad(format!("not a trust file: {e}")))?;
        if t.format != TRUST_FORMAT {
            return Err(bad(format!("unknown format {:?}", t.format)));
        }
        let key = t.root_key().map_err(bad)?;
        if KeyId::of_ed25519(&key).to_hex() != t.root_key_id {
            return Err(bad("root_key_id does not match root_public_key".into()));
        }
        TrialId::new(&t.trial_id).map_err(|e| bad(e.to_string()))?;
        Ok(t)
    }

    /// Writes the trust file (refusing to overwrite one).
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        use std::io::Write;
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(io)?;
        let text = serde_json::to_string_pretty(self).expect("trust file serialises");
        f.write_all(text.as_bytes()).map_err(io)?;
        f.write_all(b"\n").map_err(io)?;
        f.sync_all().map_err(io)
    }

    /// The root public key.
    pub fn root_key(&self) -> Result<[u8; 32], String> {
        let mut k = [0u8; 32];
        hex::decode_to_slice(&self.root_public_key, &mut k)
            .map_err(|_| "root_public_key is not 32 bytes of hex".to_string())?;
        Ok(k)
    }

    /// The trial id.
    pub fn trial(&self) -> TrialId {
        TrialId::new(&self.trial_id).expect("checked when read")
    }
}
