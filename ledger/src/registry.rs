//! The key registry and protocol state, built from partition 0.
//!
//! Positions: the registry *position* is the number of partition-0 records applied. A record
//! with `registry_seq = r` was validated under the state after partition-0 records `0..r`.
//! A key enrolled by the record at partition-0 seq `s` is active from position `s + 1`; a key
//! revoked by the record at seq `s` is invalid for every record with `registry_seq >= s + 1`.
//! The registry keeps these positions, so it answers "what was true at position r" for any r
//! it has reached; verifiers build it once and query it for every partition.

use crate::crypto::check_enrollable;
use crate::crypto::verify_one;
use crate::reason::{Reason, Refusal};
use std::collections::HashMap;
use tl_schemas::events::{
    event_type, KeyEnrolled, KeyRevoked, ProtocolAmended, RootKeyRotated, TrialRegistered,
};
use tl_schemas::{decode, tags, KeyId, Role, Subject, Submission, TrialId};

/// The message the new root key signs in `RootKeyRotated` (FORMAT.md, "Root-key rotation"):
/// `ROOT_ROTATION_SIG || trial_id || 0x00 || old_root_public_key || new_root_public_key`.
pub fn root_rotation_message(trial: &TrialId, old_root: &[u8; 32], new_root: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(tags::ROOT_ROTATION_SIG.len() + trial.as_str().len() + 65);
    m.extend_from_slice(tags::ROOT_ROTATION_SIG);
    m.extend_from_slice(trial.as_str().as_bytes());
    m.push(0);
    m.extend_from_slice(old_root);
    m.extend_from_slice(new_root);
    m
}

/// A key the registry knows.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyEntry {
    /// The public key.
    pub public_key: [u8; 32],
    /// Printed name (signature manifestation).
    pub name: String,
    /// What it may author.
    pub role: Role,
    /// First position at which it is valid.
    pub enrolled_at: u64,
    /// First position at which it is no longer valid, with the reason.
    pub revoked: Option<(u64, String)>,
}

/// A protocol version and where it took effect.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProtocolVersion {
    /// First position at which it is in force.
    pub effective_at: u64,
    /// The amendment.
    pub amendment: ProtocolAmended,
}

/// The registry: root key, enrolled keys, partition count and protocol versions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registry {
    /// The trial the registry belongs to.
    trial: TrialId,
    /// The pinned root: trusted before any record is read.
    pinned_root: [u8; 32],
    /// Partition count from `TrialRegistered`; `None` before it.
    partition_count: Option<u32>,
    /// Number of partition-0 records applied.
    position: u64,
    /// Root keys over time: (first position, public key). Starts with the pinned root.
    roots: Vec<(u64, [u8; 32])>,
    /// Every key ever enrolled.
    keys: HashMap<KeyId, KeyEntry>,
    /// Protocol versions in order.
    protocols: Vec<ProtocolVersion>,
    /// Trial title from `TrialRegistered`.
    title: String,
}

/// Who an author is at a position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Author {
    /// The trial root key.
    Root,
    /// An enrolled key with this role.
    Key(Role),
}

impl Author {
    /// The role, `None` for the root.
    pub fn role(self) -> Option<Role> {
        match self {
            Author::Root => None,
            Author::Key(r) => Some(r),
        }
    }
}

/// The registry as a writer's snapshot stores it (`crate::snapshot`): every field, the keys
/// sorted by key id so that the encoding is canonical (a `HashMap`'s order is not).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct RegistrySnap {
    trial: TrialId,
    pinned_root: [u8; 32],
    partition_count: Option<u32>,
    position: u64,
    roots: Vec<(u64, [u8; 32])>,
    keys: Vec<(KeyId, KeyEntry)>,
    protocols: Vec<ProtocolVersion>,
    title: String,
}

impl Registry {
    /// The registry's snapshot form.
    pub(crate) fn to_snap(&self) -> RegistrySnap {
        let mut keys: Vec<(KeyId, KeyEntry)> =
            self.keys.iter().map(|(k, e)| (*k, e.clone())).collect();
        keys.sort_unstable_by_key(|k| k.0);
        RegistrySnap {
            trial: self.trial.clone(),
            pinned_root: self.pinned_root,
            partition_count: self.partition_count,
            position: self.position,
            roots: self.roots.clone(),
            keys,
            protocols: self.protocols.clone(),
            title: self.title.clone(),
        }
    }

    /// The registry a snapshot holds. `None` when the keys are not strictly sorted (a
    /// duplicate key id): such a snapshot was not written by [`Registry::to_snap`].
    pub(crate) fn from_snap(s: RegistrySnap) -> Option<Registry> {
        if s.keys.windows(2).any(|w| w[0].0 >= w[1].0) || s.roots.is_empty() {
            return None;
        }
        Some(Registry {
            trial: s.trial,
            pinned_root: s.pinned_root,
            partition_count: s.partition_count,
            position: s.position,
            roots: s.roots,
            keys: s.keys.into_iter().collect(),
            protocols: s.protocols,
            title: s.title,
        })
    }
}

impl RegistrySnap {
    /// Adds a key entry, keeping the keys sorted (tests of tampered snapshots).
    #[cfg(feature = "tamper")]
    pub(crate) fn insert_key(&mut self, entry: KeyEntry) {
        let id = KeyId::of_ed25519(&entry.public_key);
        let at = self.keys.partition_point(|(k, _)| *k < id);
        self.keys.insert(at, (id, entry));
    }
}

impl Registry {
    /// An empty registry that trusts `pinned_root` as the trial's root key.
    pub fn new(trial: TrialId, pinned_root: [u8; 32]) -> Self {
        Registry {
            trial,
            pinned_root,
            partition_count: None,
            position: 0,
            roots: vec![(0, pinned_root)],
            keys: HashMap::new(),
            protocols: Vec::new(),
            title: String::new(),
        }
    }

    /// The trial id.
    pub fn trial(&self) -> &TrialId {
        &self.trial
    }
    /// Partition count, once `TrialRegistered` is applied.
    pub fn partition_count(&self) -> Option<u32> {
        self.partition_count
    }
    /// Number of partition-0 records applied.
    pub fn position(&self) -> u64 {
        self.position
    }
    /// The trial title.
    pub fn title(&self) -> &str {
        &self.title
    }
    /// The pinned root public key.
    pub fn pinned_root(&self) -> [u8; 32] {
        self.pinned_root
    }
    /// The root public key in force at a position.
    pub fn root_at(&self, position: u64) -> [u8; 32] {
        self.roots
            .iter()
            .rev()
            .find(|(from, _)| *from <= position)
            .map(|(_, k)| *k)
            .unwrap_or(self.pinned_root)
    }
    /// Every enrolled key.
    pub fn keys(&self) -> &HashMap<KeyId, KeyEntry> {
        &self.keys
    }
    /// The protocol versions.
    pub fn protocols(&self) -> &[ProtocolVersion] {
        &self.protocols
    }
    /// The protocol in force at a position.
    pub fn protocol_at(&self, position: u64) -> Option<&ProtocolVersion> {
        self.protocols
            .iter()
            .rev()
            .find(|p| p.effective_at <= position)
    }

    /// The public key of any key id ever known (root or enrolled), whatever its status.
    pub fn public_key(&self, id: &KeyId) -> Option<[u8; 32]> {
        if let Some(e) = self.keys.get(id) {
            return Some(e.public_key);
        }
        self.roots
            .iter()
            .map(|(_, k)| *k)
            .find(|k| KeyId::of_ed25519(k) == *id)
    }

    /// The printed name of a key, for signature manifestations.
    pub fn display_name(&self, id: &KeyId) -> String {
        match self.keys.get(id) {
            Some(e) => e.name.clone(),
            None if self.public_key(id).is_some() => "trial root".to_string(),
            None => format!("unknown key {id}"),
        }
    }

    /// Who `id` is at `position`: the root in force, or a key active there.
    pub fn author_at(&self, id: &KeyId, position: u64) -> Result<Author, Refusal> {
        if KeyId::of_ed25519(&self.root_at(position)) == *id {
            return Ok(Author::Root);
        }
        let Some(e) = self.keys.get(id) else {
            if let Some(w) = self
                .roots
                .windows(2)
                .find(|w| KeyId::of_ed25519(&w[0].1) == *id)
            {
                return Err(Refusal::new(
                    Reason::UnknownKey,
                    format!(
                        "key {id} was the trial root until registry position {}, when it was \
                         rotated out; it is not the root (nor an enrolled key) at position \
                         {position}; the root there is {}",
                        w[1].0,
                        KeyId::of_ed25519(&self.root_at(position))
                    ),
                ));
            }
            return Err(Refusal::new(
                Reason::UnknownKey,
                format!("key {id} is not enrolled"),
            ));
        };
        if position < e.enrolled_at {
            return Err(Refusal::new(
                Reason::KeyNotYetEnrolled,
                format!(
                    "key {id} ({}) is enrolled from registry position {}, record is at {position}",
                    e.name, e.enrolled_at
                ),
            ));
        }
        if let Some((at, why)) = &e.revoked {
            if position >= *at {
                return Err(Refusal::new(
                    Reason::KeyRevoked,
                    format!(
                        "key {id} ({}) was revoked at registry position {at}: {why}",
                        e.name
                    ),
                ));
            }
        }
        Ok(Author::Key(e.role))
    }

    /// Checks a partition-0 event against the registry rules, without applying it.
    /// `submission` must already be authenticated. Non-trial events pass unchanged.
    pub fn check(&self, submission: &Submission) -> Result<(), Refusal> {
        let t = submission.envelope.event_type;
        let core = event_type::core_name(t).is_some();
        let rule = |d: String| Err(Refusal::new(Reason::RegistryRule, d));
        if core && submission.subject != Subject::Trial {
            return rule(format!(
                "{} must have the subject `trial`, not {}",
                event_type::core_name(t).unwrap_or("?"),
                submission.subject
            ));
        }
        if self.position == 0 && t != event_type::TRIAL_REGISTERED {
            return rule("the trial's first record must be TrialRegistered".into());
        }
        if !core {
            return Ok(());
        }
        if submission.envelope.event_version != 1 {
            return Err(Refusal::new(
                Reason::UnsupportedFormat,
                format!(
                    "event version {} of type {t} is unknown",
                    submission.envelope.event_version
                ),
            ));
        }
        let payload = &submission.envelope.payload;
        let bad = |e: tl_schemas::CanonicalError| {
            Refusal::new(Reason::Malformed, format!("payload: {e}"))
        };
        match t {
            event_type::TRIAL_REGISTERED => {
                let ev: TrialRegistered = decode(payload).map_err(bad)?;
                if self.position != 0 {
                    return rule("TrialRegistered may only be the trial's first record".into());
                }
                if ev.partition_count == 0 || ev.partition_count > 65_536 {
                    return rule(format!(
                        "partition count {} is outside 1..=65536",
                        ev.partition_count
                    ));
                }
                if ev.root_public_key != self.pinned_root {
                    return Err(Refusal::new(
                        Reason::RootMismatch,
                        "TrialRegistered names a root key other than the pinned one",
                    ));
                }
            }
            event_type::KEY_ENROLLED => {
                let ev: KeyEnrolled = decode(payload).map_err(bad)?;
                if let Err(e) = check_enrollable(&ev.public_key) {
                    return rule(format!(
                        "key {} cannot be enrolled: {e}",
                        hex::encode(ev.public_key)
                    ));
                }
                let id = KeyId::of_ed25519(&ev.public_key);
                if self.public_key(&id).is_some() {
                    return rule(format!("key {id} is already known; a key is enrolled once"));
                }
                if ev.name.trim().is_empty() || ev.name.len() > 200 {
                    return rule("a key needs a printed name of 1-200 bytes".into());
                }
            }
            event_type::KEY_REVOKED => {
                let ev: KeyRevoked = decode(payload).map_err(bad)?;
                match self.keys.get(&ev.key) {
                    None => return rule(format!("cannot revoke {}: not an enrolled key", ev.key)),
                    Some(e) if e.revoked.is_some() => {
                        return rule(format!("key {} is already revoked", ev.key))
                    }
                    Some(_) => {}
                }
            }
            event_type::ROOT_KEY_ROTATED => {
                let ev: RootKeyRotated = decode(payload).map_err(bad)?;
                let old = self.root_at(self.position);
                let new = ev.new_root_public_key;
                let id = KeyId::of_ed25519(&new);
                if let Err(e) = check_enrollable(&new) {
                    return rule(format!(
                        "key {} cannot be the new root: {e}",
                        hex::encode(new)
                    ));
                }
                if new == old {
                    return rule("the new root key is the root key in force".into());
                }
                if self.keys.contains_key(&id) {
                    return rule(format!(
                        "key {id} is an enrolled key and cannot become the root"
                    ));
                }
                if self.public_key(&id).is_some() {
                    return rule(format!(
                        "key {id} was a root key before; a root key is used once"
                    ));
                }
                let msg = root_rotation_message(&self.trial, &old, &new);
                if !verify_one(&new, &msg, &ev.cosignature) {
                    return rule(format!(
                        "the co-signature of the new root key {id} does not verify \
                         (it must sign the rotation from root {})",
                        KeyId::of_ed25519(&old)
                    ));
                }
            }
            event_type::PROTOCOL_AMENDED => {
                let ev: ProtocolAmended = decode(payload).map_err(bad)?;
                if let Some(last) = self.protocols.last() {
                    if ev.protocol_version <= last.amendment.protocol_version {
                        return rule(format!(
                            "protocol version {} is not newer than version {}, already in force: \
                             an amendment must raise the version (use {} or higher)",
                            ev.protocol_version,
                            last.amendment.protocol_version,
                            last.amendment.protocol_version.saturating_add(1)
                        ));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Advances the position by one past a partition-0 record that changes nothing here (a
    /// verifier linking in a non-core record that failed its own checks).
    pub fn advance(&mut self) {
        self.position += 1;
    }

    /// Applies the partition-0 record at the current position (already checked), advancing the
    /// position by one.
    pub fn apply(&mut self, submission: &Submission) {
        let at = self.position + 1;
        let payload = &submission.envelope.payload;
        match submission.envelope.event_type {
            event_type::TRIAL_REGISTERED => {
                if let Ok(ev) = decode::<TrialRegistered>(payload) {
                    self.partition_count = Some(ev.partition_count);
                    self.title = ev.title;
                }
            }
            event_type::KEY_ENROLLED => {
                if let Ok(ev) = decode::<KeyEnrolled>(payload) {
                    self.keys.insert(
                        KeyId::of_ed25519(&ev.public_key),
                        KeyEntry {
                            public_key: ev.public_key,
                            name: ev.name,
                            role: ev.role,
                            enrolled_at: at,
                            revoked: None,
                        },
                    );
                }
            }
            event_type::KEY_REVOKED => {
                if let Ok(ev) = decode::<KeyRevoked>(payload) {
                    if let Some(e) = self.keys.get_mut(&ev.key) {
                        e.revoked = Some((at, ev.reason));
                    }
                }
            }
            event_type::ROOT_KEY_ROTATED => {
                if let Ok(ev) = decode::<RootKeyRotated>(payload) {
                    self.roots.push((at, ev.new_root_public_key));
                }
            }
            event_type::PROTOCOL_AMENDED => {
                if let Ok(ev) = decode::<ProtocolAmended>(payload) {
                    self.protocols.push(ProtocolVersion {
                        effective_at: at,
                        amendment: ev,
                    });
                }
            }
            _ => {}
        }
        self.position = at;
    }
}

#[cfg(test)]
mod tests {
    /// FORMAT.md §1, "Blank": the code points `trim` removes are exactly these 25.
    #[test]
    fn blank_means_unicode_white_space_as_listed() {
        let listed: Vec<u32> = (0x09..=0x0d)
            .chain([0x20, 0x85, 0xa0, 0x1680])
            .chain(0x2000..=0x200a)
            .chain([0x2028, 0x2029, 0x202f, 0x205f, 0x3000])
            .collect();
        let white: Vec<u32> = (0..=0x10ffff)
            .filter_map(char::from_u32)
            .filter(|c| c.to_string().trim().is_empty())
            .map(u32::from)
            .collect();
        assert_eq!(white, listed);
        assert_eq!(listed.len(), 25);
    }
}
