//! Roles and the role -> event-type table.

use crate::events::event_type;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The role a key is enrolled with. Encoded as a postcard enum (varint variant index); the
/// order is frozen: lab 0, matcher 1, mtb 2, investigator 3, safety 4, sequencer 5,
/// cohort-engine 6, admin 7.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// A sequencing laboratory.
    Lab,
    /// The matcher service.
    Matcher,
    /// The molecular tumour board.
    Mtb,
    /// A site investigator.
    Investigator,
    /// A safety officer.
    Safety,
    /// A sequencer: seals records. Authors nothing.
    Sequencer,
    /// The cohort engine service.
    CohortEngine,
    /// A trial administrator.
    Admin,
}

impl Role {
    /// Every role, in code order.
    pub const ALL: [Role; 8] = [
        Role::Lab,
        Role::Matcher,
        Role::Mtb,
        Role::Investigator,
        Role::Safety,
        Role::Sequencer,
        Role::CohortEngine,
        Role::Admin,
    ];
    /// The role's name as used in the CLI and FORMAT.md.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Lab => "lab",
            Role::Matcher => "matcher",
            Role::Mtb => "mtb",
            Role::Investigator => "investigator",
            Role::Safety => "safety",
            Role::Sequencer => "sequencer",
            Role::CohortEngine => "cohort-engine",
            Role::Admin => "admin",
        }
    }
    /// Parses a role name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who may author an event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authority {
    /// Only the trial's current root key.
    RootOnly,
    /// The root key, or an enrolled key with one of these roles.
    RootOrRoles(&'static [Role]),
    /// An enrolled key with one of these roles.
    Roles(&'static [Role]),
}

impl Authority {
    /// Whether a key with this role (or the root key, `None`) may author.
    pub fn permits(self, role: Option<Role>) -> bool {
        match (self, role) {
            (Authority::RootOnly, None) => true,
            (Authority::RootOnly, Some(_)) => false,
            (Authority::RootOrRoles(_), None) => true,
            (Authority::RootOrRoles(rs) | Authority::Roles(rs), Some(r)) => rs.contains(&r),
            (Authority::Roles(_), None) => false,
        }
    }
}

/// The core role table (FORMAT.md, "Authority"): who may author each trial-level type.
/// `None` for types this table does not know; the domain rules extend it.
pub fn core_authority(event_type: u16) -> Option<Authority> {
    match event_type {
        event_type::TRIAL_REGISTERED
        | event_type::KEY_ENROLLED
        | event_type::KEY_REVOKED
        | event_type::ROOT_KEY_ROTATED => Some(Authority::RootOnly),
        event_type::PROTOCOL_AMENDED => Some(Authority::RootOrRoles(&[Role::Admin])),
        _ => None,
    }
}

/// The clinical role table (FORMAT.md, "Authority"): who may author each clinical type. The
/// domain rules return it from `DomainRules::authority`. A correction may be authored by any
/// role that authors clinical events; the domain rules further require the corrector's role
/// to be allowed to author the corrected type.
pub fn clinical_authority(event_type: u16) -> Option<Authority> {
    use crate::clinical::clinical_type as ct;
    const INVESTIGATOR: &[Role] = &[Role::Investigator];
    Some(match event_type {
        ct::PATIENT_REGISTERED
        | ct::CONSENT_RECORDED
        | ct::CONSENT_WITHDRAWN
        | ct::PATIENT_ENROLLED
        | ct::DOSE_ADMINISTERED
        | ct::DOSE_MODIFIED
        | ct::RESPONSE_ASSESSED
        | ct::TREATMENT_ENDED
        | ct::SURVIVAL_STATUS_RECORDED
        | ct::DEATH_RECORDED => Authority::Roles(INVESTIGATOR),
        ct::ADVERSE_EVENT_REPORTED | ct::ADVERSE_EVENT_UPDATED => {
            Authority::Roles(&[Role::Investigator, Role::Safety])
        }
        ct::SEQUENCING_RESULT_REPORTED => Authority::Roles(&[Role::Lab]),
        ct::MATCH_PROPOSED => Authority::Roles(&[Role::Matcher]),
        ct::MATCH_DECIDED => Authority::Roles(&[Role::Mtb]),
        ct::SLOT_ASSIGNED | ct::SLOT_REFUSED | ct::COHORT_STAGE_DECIDED => {
            Authority::Roles(&[Role::CohortEngine])
        }
        ct::CORRECTED => Authority::Roles(&[
            Role::Lab,
            Role::Matcher,
            Role::Mtb,
            Role::Investigator,
            Role::Safety,
            Role::CohortEngine,
        ]),
        _ => return None,
    })
}
