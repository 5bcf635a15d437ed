//! The generic envelope: everything a verifier needs about an event without decoding it.

use serde::{Deserialize, Serialize};

/// Algorithm id of Ed25519 signatures under the ZIP-215 validity rule (FORMAT.md, "Signatures").
pub const SIG_ALG_ED25519_ZIP215: u8 = 1;
/// Algorithm id of SHA-256 (record hashes, chain, Merkle tree).
pub const HASH_ALG_SHA256: u8 = 1;

/// The envelope of an event. Its payload is opaque at this level: chains, signatures,
/// references and proofs are all checked without decoding it, so a verifier written today
/// checks records of event types added later.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Envelope {
    /// Event type number from FORMAT.md's registry table. Never renumbered.
    pub event_type: u16,
    /// Version of that event type's payload struct. Old versions stay decodable.
    pub event_version: u16,
    /// Algorithm of the author's signature. Only [`SIG_ALG_ED25519_ZIP215`] is defined.
    pub sig_alg: u8,
    /// Hash algorithm of the record hash and chain. Only [`HASH_ALG_SHA256`] is defined.
    pub hash_alg: u8,
    /// The event payload: the canonical postcard encoding of the event struct, length-prefixed.
    // serde_bytes: the same wire bytes (varint length, then the bytes) as a plain Vec<u8>,
    // but decoded in one copy instead of byte by byte.
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
    /// Reserved for personal data, encrypted per patient under a key kept outside the ledger
    /// (crypto-shredding). Opaque here; `None` for events without personal data.
    #[serde(with = "serde_bytes")]
    pub personal_data: Option<Vec<u8>>,
}

impl Envelope {
    /// An envelope for a payload, with the default algorithms and no personal data.
    pub fn new(event_type: u16, event_version: u16, payload: Vec<u8>) -> Self {
        Envelope {
            event_type,
            event_version,
            sig_alg: SIG_ALG_ED25519_ZIP215,
            hash_alg: HASH_ALG_SHA256,
            payload,
            personal_data: None,
        }
    }
}
