//! The domain-rules plug: how a trial's clinical state machine reaches the sequencer and the
//! verifier. The ledger core knows no clinical event; it asks a [`DomainRules`] value.

use crate::reason::Refusal;
use crate::registry::{Author, Registry};
use tl_schemas::roles::Authority;
use tl_schemas::{Record, Reference, Submission, UtcMicros};

/// Everything a domain rule may look at when judging one event.
pub struct RuleContext<'a> {
    /// The event being judged.
    pub submission: &'a Submission,
    /// Its partition.
    pub partition: u32,
    /// The sequence number it gets (or has).
    pub seq: u64,
    /// The sequencer's ordering time.
    pub ordering_time: UtcMicros,
    /// Who authored it.
    pub author: Author,
    /// The registry (query it at `registry_seq`: it may be further along in a verifier).
    pub registry: &'a Registry,
    /// The registry position the event is validated under.
    pub registry_seq: u64,
    /// The records the event cites, decoded. The sequencer and the verifier have checked that
    /// each exists with the cited hash; a verifier checks in a later pass that each is itself
    /// valid (an invalid one then fails the citing record), so rules must not rely on cited
    /// content for anything but their verdict on this event.
    pub cited: &'a [(Reference, std::sync::Arc<Record>)],
}

/// A trial's domain rules: who may author its event types, and the per-subject state machine.
///
/// `check` must be a pure function of the subject's state and the context, so that the
/// sequencer (when ordering) and every verifier (when replaying) reach the same verdict.
pub trait DomainRules: Send + Sync {
    /// Per-subject state (for example a patient's position in the clinical pathway). Kept by
    /// the core beside the subject's back-link, so it is thrown away and rebuilt with it.
    /// Serialisable, because a writer's snapshot (`crate::snapshot`) stores it; its encoding
    /// must be canonical postcard (no `HashMap`: a re-encoding must give the same bytes).
    type SubjectState: Clone
        + Default
        + Send
        + Sync
        + 'static
        + serde::Serialize
        + serde::de::DeserializeOwned;

    /// Who may author a domain event type; `None` if the rules do not know the type.
    fn authority(&self, event_type: u16) -> Option<Authority>;

    /// Judges an event. Refusals should use [`crate::Reason::DomainRule`] (or
    /// [`crate::Reason::Malformed`] for an undecodable payload).
    fn check(&self, state: &Self::SubjectState, ctx: &RuleContext<'_>) -> Result<(), Refusal>;

    /// Advances the subject's state with an accepted event.
    fn apply(&self, state: &mut Self::SubjectState, ctx: &RuleContext<'_>);

    /// Judges a *new* submission at intake, before it is sealed at `ordering_time`: limits
    /// and plausibility checks (text lengths, dates) that records already in a ledger are
    /// never held to. Only the sequencer calls it, never a verifier, so ledgers that verified
    /// keep verifying. The default accepts everything.
    fn check_intake(
        &self,
        submission: &Submission,
        ordering_time: UtcMicros,
    ) -> Result<(), Refusal> {
        let _ = (submission, ordering_time);
        Ok(())
    }
}

/// No domain: only the trial-level events of the core. Used by tools that check the ledger's
/// structure without a trial's clinical rules.
#[derive(Clone, Copy, Debug, Default)]
pub struct CoreOnly;

impl DomainRules for CoreOnly {
    type SubjectState = ();
    fn authority(&self, _event_type: u16) -> Option<Authority> {
        None
    }
    fn check(&self, _state: &(), _ctx: &RuleContext<'_>) -> Result<(), Refusal> {
        Ok(())
    }
    fn apply(&self, _state: &mut (), _ctx: &RuleContext<'_>) {}
}
