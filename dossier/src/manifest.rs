//! `manifest.json` and `manifest.sig`: what a dossier holds, and the admin's signature over it.
//!
//! `manifest.json` lists the SHA-256 of every other file of the dossier, both cut-offs, the
//! protocol version and its conventions, the tool's version, what became of `dossier.pdf`,
//! and the signer's 21 CFR 11.50 manifestation (printed name, time, meaning). `manifest.sig` holds the signer's key id and an
//! Ed25519 signature (ZIP-215, FORMAT.md §9) over
//!
//! ```text
//! DOSSIER_MANIFEST_SIG || trial_id || 0x00 || SHA-256(the bytes of manifest.json)
//! ```
//!
//! (`tl_schemas::tags::DOSSIER_MANIFEST_SIG`, FORMAT.md §8). The key must be enrolled with role
//! `admin` and not revoked at the evidence cut's registry position.

use crate::CutPartition;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use tl_ledger::crypto::{verify_one, SigningKey};
use tl_schemas::ids::{KeyId, Sig64};
use tl_schemas::{tags, TrialId};

/// The format name in `manifest.json`.
pub const MANIFEST_FORMAT: &str = "trial-ledger-dossier-manifest/1";

/// The 21 CFR 11.50 meaning of the manifest signature.
pub const MEANING: &str = "approved: the signer approves this dossier, computed from the evidence it carries, for submission";

/// Who signed, when, and what the signature means (21 CFR 11.50).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signer {
    /// The signing key's id (hex).
    pub key_id: String,
    /// The printed name of the key holder, as its enrolment records it.
    pub name: String,
    /// The key's role (`admin`).
    pub role: String,
    /// The meaning of the signature.
    pub meaning: String,
    /// When it was signed (RFC 3339, UTC).
    pub signed_at: String,
}

/// The body of `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// Trial id.
    pub trial: String,
    /// The clinical data cut-off.
    pub clinical_cutoff: String,
    /// The cohorts reported.
    pub cohorts: Vec<String>,
    /// The evidence cut: each partition's latest signed checkpoint.
    pub evidence_cut: Vec<CutPartition>,
    /// The registry position of the cut.
    pub registry_position: u64,
    /// The protocol version whose catalogue is in force.
    pub protocol_version: Option<u32>,
    /// Its conventions, as `dossier.json` states them.
    pub conventions: serde_json::Value,
    /// The tool that made the dossier (`trial-ledger X.Y.Z`).
    pub tool: String,
    /// SHA-256 (hex) of every other file, by path inside the dossier folder (`/`-separated).
    pub files: BTreeMap<String, String>,
    /// What became of `dossier.pdf`, in words: the browser that printed it (informative only:
    /// its digest is in `files`, but no verifier recomputes it), or why there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdf: Option<String>,
    /// The signer's manifestation.
    pub signer: Signer,
}

/// `manifest.sig`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestSignature {
    /// The signing key's id (hex).
    pub key_id: String,
    /// The Ed25519 signature (hex, 64 bytes).
    pub signature: String,
}

/// SHA-256 of `bytes`, hex.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The message the manifest signature covers.
pub fn signing_message(trial: &TrialId, manifest_json: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(tags::DOSSIER_MANIFEST_SIG.len() + trial.as_str().len() + 33);
    m.extend_from_slice(tags::DOSSIER_MANIFEST_SIG);
    m.extend_from_slice(trial.as_str().as_bytes());
    m.push(0);
    m.extend_from_slice(&Sha256::digest(manifest_json));
    m
}

/// The bytes of `manifest.json` (pretty JSON and a newline).
pub fn manifest_bytes(m: &Manifest) -> Vec<u8> {
    let mut v = serde_json::to_vec_pretty(m).expect("a manifest serialises");
    v.push(b'\n');
    v
}

/// Signs `manifest_json` with `key`.
pub fn sign(trial: &TrialId, manifest_json: &[u8], key: &SigningKey) -> ManifestSignature {
    ManifestSignature {
        key_id: key.key_id().to_hex(),
        signature: hex::encode(key.sign(&signing_message(trial, manifest_json)).0),
    }
}

/// Whether `sig` is a valid signature of `manifest_json` by `public_key` (whose key id it must
/// name).
pub fn verify(
    trial: &TrialId,
    manifest_json: &[u8],
    sig: &ManifestSignature,
    public_key: &[u8; 32],
) -> bool {
    let Ok(bytes) = hex::decode(&sig.signature) else {
        return false;
    };
    let Ok(arr) = <[u8; 64]>::try_from(bytes.as_slice()) else {
        return false;
    };
    KeyId::of_ed25519(public_key).to_hex() == sig.key_id
        && verify_one(
            public_key,
            &signing_message(trial, manifest_json),
            &Sig64(arr),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_signed_manifest_when_a_byte_changes_then_the_signature_fails() {
        let trial = TrialId::new("drup-golden").unwrap();
        let key = SigningKey::from_seed([7; 32]);
        let body = b"{\"format\":\"x\"}\n";
        let sig = sign(&trial, body, &key);
        assert!(verify(&trial, body, &sig, &key.public_key()));
        assert!(!verify(
            &trial,
            b"{\"format\":\"y\"}\n",
            &sig,
            &key.public_key()
        ));
        let other = SigningKey::from_seed([8; 32]);
        assert!(!verify(&trial, body, &sig, &other.public_key()));
        assert!(!verify(
            &TrialId::new("other").unwrap(),
            body,
            &sig,
            &key.public_key()
        ));
    }
}
