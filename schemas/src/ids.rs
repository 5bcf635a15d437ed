//! Identifiers: trials, subjects, keys, submissions, hashes, signatures and references.

use serde::{Deserialize, Serialize};
use serde_big_array::BigArray;
use sha2::{Digest, Sha256};
use std::fmt;

/// A trial id: 1 to 64 characters of `[a-z0-9._-]`, starting with a letter or digit.
///
/// It is part of every signing prefix and of genesis, and it names the Kafka topics
/// (`<trial>.ledger`), so it is restricted to characters legal in topic names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrialId(String);

impl TrialId {
    /// Validates and wraps a trial id.
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidId> {
        let id = id.into();
        let ok = !id.is_empty()
            && id.len() <= 64
            && id.as_bytes()[0].is_ascii_alphanumeric()
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if ok {
            Ok(Self(id))
        } else {
            Err(InvalidId::Trial(id))
        }
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TrialId {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, InvalidId> {
        Self::new(s)
    }
}
impl From<TrialId> for String {
    fn from(t: TrialId) -> String {
        t.0
    }
}
impl fmt::Display for TrialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A subject name (patient pseudonym or cohort id): 1 to 64 characters of `[A-Za-z0-9._-]`.
///
/// Pseudonyms only: no names, no dates of birth. Personal data goes in the encrypted
/// personal-data field of the envelope.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

impl Name {
    /// Validates and wraps a subject name.
    pub fn new(s: impl Into<String>) -> Result<Self, InvalidId> {
        let s = s.into();
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if ok {
            Ok(Self(s))
        } else {
            Err(InvalidId::Name(s))
        }
    }
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for Name {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, InvalidId> {
        Self::new(s)
    }
}
impl From<Name> for String {
    fn from(t: Name) -> String {
        t.0
    }
}
impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An identifier that breaks its syntax rules.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum InvalidId {
    /// Not a valid trial id.
    #[error("invalid trial id {0:?}: use 1-64 of [a-z0-9._-], starting with a letter or digit")]
    Trial(String),
    /// Not a valid subject name.
    #[error("invalid subject name {0:?}: use 1-64 of [A-Za-z0-9._-]")]
    Name(String),
    /// Not a valid subject spelling.
    #[error("invalid subject {0:?}: use `trial`, `patient:ID` or `cohort:ID`")]
    Subject(String),
    /// Not valid hex of the right length.
    #[error("invalid hex for a {expected}-byte value: {got:?}")]
    Hex {
        /// The byte length wanted.
        expected: usize,
        /// What was given.
        got: String,
    },
}

/// Whom or what an event is about. It decides the partition.
///
/// Encoded as a postcard enum: variant index (varint) then the name. The variant order is
/// frozen: `Trial` = 0, `Patient` = 1, `Cohort` = 2.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Subject {
    /// The trial itself: registry, keys and protocol. Always partition 0.
    Trial,
    /// A patient, by pseudonym.
    Patient(Name),
    /// A cohort (tumour type x alteration x drug), by cohort id.
    Cohort(Name),
}

impl Subject {
    /// Parses `trial`, `patient:ID` or `cohort:ID`.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        if s == "trial" {
            return Ok(Subject::Trial);
        }
        match s.split_once(':') {
            Some(("patient", id)) => Ok(Subject::Patient(Name::new(id)?)),
            Some(("cohort", id)) => Ok(Subject::Cohort(Name::new(id)?)),
            _ => Err(InvalidId::Subject(s.to_string())),
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Trial => f.write_str("trial"),
            Subject::Patient(n) => write!(f, "patient:{n}"),
            Subject::Cohort(n) => write!(f, "cohort:{n}"),
        }
    }
}

macro_rules! fixed_bytes {
    ($(#[$m:meta])* $name:ident, $n:expr) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; $n]);

        // Raw bytes in canonical (postcard) form; lowercase hex in human-readable formats
        // such as the CLI's JSON. Postcard is not human-readable, so the wire bytes are
        // exactly those of a derived impl (the golden vectors check it).
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(&self.to_hex())
                } else {
                    Serialize::serialize(&self.0, s)
                }
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    let text = String::deserialize(d)?;
                    Self::from_hex(&text).map_err(serde::de::Error::custom)
                } else {
                    <[u8; $n] as Deserialize>::deserialize(d).map($name)
                }
            }
        }

        impl $name {
            /// Parses lowercase or uppercase hex of exactly the right length.
            pub fn from_hex(s: &str) -> Result<Self, InvalidId> {
                let mut out = [0u8; $n];
                hex::decode_to_slice(s, &mut out).map_err(|_| InvalidId::Hex {
                    expected: $n,
                    got: s.to_string(),
                })?;
                Ok(Self(out))
            }
            /// Lowercase hex.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), hex::encode(self.0))
            }
        }
    };
}

fixed_bytes!(
    /// A SHA-256 digest: 32 raw bytes on the wire.
    Hash32, 32
);
fixed_bytes!(
    /// A key id: the first 16 bytes of SHA-256(`tags::KEY_ID` || alg || public key).
    KeyId, 16
);
fixed_bytes!(
    /// A 128-bit submission id chosen by the author. Unique within the subject's partition; a
    /// resubmission of the same id returns the original record.
    SubmissionId, 16
);

impl KeyId {
    /// Derives the key id of an Ed25519 public key (algorithm byte 0x01).
    pub fn of_ed25519(public_key: &[u8; 32]) -> Self {
        let mut h = Sha256::new();
        h.update(crate::tags::KEY_ID);
        h.update([crate::SIG_ALG_ED25519_ZIP215]);
        h.update(public_key);
        let d = h.finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&d[..16]);
        KeyId(id)
    }
}

/// An Ed25519 signature: 64 raw bytes on the wire (R then S); hex in human-readable formats.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sig64(pub [u8; 64]);

impl Serialize for Sig64 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_hex())
        } else {
            BigArray::serialize(&self.0, s)
        }
    }
}
impl<'de> Deserialize<'de> for Sig64 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            let mut out = [0u8; 64];
            hex::decode_to_slice(&text, &mut out).map_err(serde::de::Error::custom)?;
            Ok(Sig64(out))
        } else {
            <[u8; 64] as BigArray<'de, u8>>::deserialize(d).map(Sig64)
        }
    }
}

impl fmt::Debug for Sig64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sig64({})", hex::encode(self.0))
    }
}
impl Sig64 {
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Sig64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// A reference to a record anywhere in the trial's ledger: partition, sequence number and the
/// record hash. The sequencer checks it when it orders the citing record, verifiers again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Reference {
    /// Partition of the cited record.
    pub partition: u32,
    /// Sequence number of the cited record in its partition.
    pub seq: u64,
    /// Record hash of the cited record.
    pub hash: Hash32,
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}#{}",
            self.partition,
            self.seq,
            &self.hash.to_hex()[..16]
        )
    }
}

/// A back-link within one partition: the sequence number and hash of an earlier record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Link {
    /// Sequence number of the linked record.
    pub seq: u64,
    /// Record hash of the linked record.
    pub hash: Hash32,
}
