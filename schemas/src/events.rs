//! Trial-level event payloads: the registry and the protocol. They all have the subject
//! [`crate::Subject::Trial`] and live in partition 0. Clinical events are added by the domain
//! crate under their own type numbers.

use crate::ids::{KeyId, Sig64};
use crate::roles::Role;
use serde::{Deserialize, Serialize};

/// The event type registry (FORMAT.md, "Event types"). Numbers are never reused or renumbered.
pub mod event_type {
    /// [`super::TrialRegistered`].
    pub const TRIAL_REGISTERED: u16 = 1;
    /// [`super::KeyEnrolled`].
    pub const KEY_ENROLLED: u16 = 2;
    /// [`super::KeyRevoked`].
    pub const KEY_REVOKED: u16 = 3;
    /// [`super::RootKeyRotated`].
    pub const ROOT_KEY_ROTATED: u16 = 4;
    /// [`super::ProtocolAmended`].
    pub const PROTOCOL_AMENDED: u16 = 5;
    /// First number of the clinical range (the domain crate's types).
    pub const CLINICAL_FIRST: u16 = 0x0100;
    /// First number of the private-use range: tests and local extensions, never standard.
    pub const PRIVATE_FIRST: u16 = 0xF000;

    /// The name of a trial-level type, or `None`.
    pub fn core_name(t: u16) -> Option<&'static str> {
        Some(match t {
            TRIAL_REGISTERED => "TrialRegistered",
            KEY_ENROLLED => "KeyEnrolled",
            KEY_REVOKED => "KeyRevoked",
            ROOT_KEY_ROTATED => "RootKeyRotated",
            PROTOCOL_AMENDED => "ProtocolAmended",
            _ => return None,
        })
    }
}

/// A trial event payload with a fixed type number and version.
pub trait EventPayload: Serialize + serde::de::DeserializeOwned {
    /// Its type number.
    const TYPE: u16;
    /// The version this struct encodes.
    const VERSION: u16;
    /// Its name in FORMAT.md and the CLI's JSON.
    const NAME: &'static str;
}

/// The trial's first record (partition 0, sequence 0): it fixes the partition count for the
/// trial's life and names the root key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrialRegistered {
    /// Partition count N. Never changes.
    pub partition_count: u32,
    /// The root public key; must equal the pinned trust anchor.
    pub root_public_key: [u8; 32],
    /// Human title of the trial.
    pub title: String,
}

/// Enrols a key with a role. Authored by the root key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEnrolled {
    /// The Ed25519 public key. Small-order and non-canonical keys are refused.
    pub public_key: [u8; 32],
    /// Printed name of the key holder (21 CFR 11.50 signature manifestation).
    pub name: String,
    /// The role, which decides what the key may author.
    pub role: Role,
}

/// Revokes a key. From the next registry position on, records under it are invalid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRevoked {
    /// The revoked key.
    pub key: KeyId,
    /// Why.
    pub reason: String,
}

/// Root-key rotation: authored by the old root (the root in force at the record's registry
/// position), co-signed by the new one (FORMAT.md, "Root-key rotation").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootKeyRotated {
    /// The new root public key.
    pub new_root_public_key: [u8; 32],
    /// The new root's signature over `tags::ROOT_ROTATION_SIG || trial_id || 0x00 ||
    /// old_root_public_key || new_root_public_key`.
    pub cosignature: Sig64,
}

/// A protocol version. The document is opaque here; the domain crate defines format 1 (the
/// cohort catalogue).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolAmended {
    /// Protocol version number; strictly increasing.
    pub protocol_version: u32,
    /// Format of `document`; 0 = opaque bytes.
    pub document_format: u16,
    /// The protocol document.
    #[serde(with = "serde_bytes")]
    pub document: Vec<u8>,
}

payload!(
    TrialRegistered,
    event_type::TRIAL_REGISTERED,
    "TrialRegistered"
);
payload!(KeyEnrolled, event_type::KEY_ENROLLED, "KeyEnrolled");
payload!(KeyRevoked, event_type::KEY_REVOKED, "KeyRevoked");
payload!(
    RootKeyRotated,
    event_type::ROOT_KEY_ROTATED,
    "RootKeyRotated"
);
payload!(
    ProtocolAmended,
    event_type::PROTOCOL_AMENDED,
    "ProtocolAmended"
);

/// Builds the envelope of a typed payload.
pub fn envelope_of<E: EventPayload>(event: &E) -> crate::Envelope {
    crate::Envelope::new(E::TYPE, E::VERSION, crate::encode(event))
}
