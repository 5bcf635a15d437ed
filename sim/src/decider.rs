//! The decisions that services make in production: the matcher's proposals and the cohort
//! engine's slots and stage decisions (DESIGN.md section 7).
//!
//! The simulator hands a [`Decider`] the ledger after each event it submits; the decider reads
//! what is new there and answers with the submissions the services make in response, signed
//! with their own keys, which the simulator submits in order (and the decider then reads back).
//! Nothing of the simulator's own state goes in, so what the services decide is what they
//! would decide from the same ledger anywhere: [`ServiceDecider`] runs tl-domain's matcher and
//! cohort engine ([`tl_domain::deciders`]), the same cores the `trial-ledger matcher` and
//! `cohort-engine` commands run, driven step by step so the simulation stays deterministic.

use crate::{SimError, SimKeys};
use tl_domain::deciders::{
    CohortEngineService, DecidingService, Follower, LedgerRecord, MatcherService, RecordFeed,
};
use tl_ledger::SigningKey;
use tl_schemas::{SignedSubmission, Submission, TrialId, UtcMicros};

/// Proposals, slots and stage decisions: what the matcher and the cohort engine decide, from
/// the ledger.
pub trait Decider {
    /// The trial and its keys are known: called once, before the first record.
    fn start(&mut self, trial: &TrialId, keys: &SimKeys);
    /// Reads the records added to `ledger` since the last call and returns the signed
    /// submissions the services make in response, in order. `clock` stamps each submission's
    /// client time. The caller submits every one, in order, before it calls again.
    fn step(
        &mut self,
        ledger: &dyn RecordFeed,
        clock: &mut dyn FnMut() -> UtcMicros,
    ) -> Result<Vec<SignedSubmission>, SimError>;
    /// Whether recording `submission` may make the services answer at a later step: false
    /// only when it certainly would not. The simulator keeps submissions in flight on a
    /// pipelined ledger and lets them settle before the next step only when one of them
    /// may. The default: true.
    fn may_answer(&self, submission: &Submission) -> bool {
        let _ = submission;
        true
    }
}

/// One service and the key it signs with.
struct Hosted<S> {
    /// The service's core.
    service: S,
    /// Its role key (`None` before [`Decider::start`]).
    key: Option<SigningKey>,
    /// How many of its pending decisions were handed out already.
    handed: usize,
}

impl<S: DecidingService> Hosted<S> {
    fn new(service: S) -> Self {
        Hosted {
            service,
            key: None,
            handed: 0,
        }
    }
}

/// The matcher and the cohort engine services, driven step by step over the simulator's
/// ledger.
pub struct ServiceDecider {
    /// The trial (set by `start`).
    trial: Option<TrialId>,
    /// Where the services are in the ledger.
    follower: Follower,
    /// The matcher.
    matcher: Hosted<MatcherService>,
    /// The cohort engine.
    engine: Hosted<CohortEngineService>,
}

impl Default for ServiceDecider {
    fn default() -> Self {
        Self::new()
    }
}

impl ServiceDecider {
    /// Both services at the start of the ledger, with the default expansion policy.
    pub fn new() -> Self {
        ServiceDecider {
            trial: None,
            follower: Follower::new(),
            matcher: Hosted::new(MatcherService::new()),
            engine: Hosted::new(CohortEngineService::new()),
        }
    }

    /// The cohort engine's core (its cohorts' states, for reports and tests).
    pub fn cohort_engine(&self) -> &CohortEngineService {
        &self.engine.service
    }
}

fn feed<S: DecidingService>(h: &mut Hosted<S>, records: &[LedgerRecord]) {
    for r in records {
        let before = h.service.pending().len();
        h.service.apply(r);
        // A confirmation removes an earlier decision from the pending list.
        let after = h.service.pending().len();
        if after < before {
            h.handed = h.handed.saturating_sub(before - after);
        }
    }
}

fn sign_new<S: DecidingService>(
    h: &mut Hosted<S>,
    trial: &TrialId,
    clock: &mut dyn FnMut() -> UtcMicros,
    out: &mut Vec<SignedSubmission>,
) -> Result<(), SimError> {
    let pending = h.service.pending();
    if h.handed >= pending.len() {
        return Ok(());
    }
    let key = h.key.as_ref().ok_or_else(|| {
        SimError::Invalid(format!(
            "the {} has no key: start was not called",
            h.service.name()
        ))
    })?;
    for d in &pending[h.handed..] {
        out.push(d.sign(trial, key, clock()));
    }
    h.handed = pending.len();
    Ok(())
}

impl Decider for ServiceDecider {
    fn start(&mut self, trial: &TrialId, keys: &SimKeys) {
        self.trial = Some(trial.clone());
        self.matcher.key = Some(keys.matcher.key.clone());
        self.engine.key = Some(keys.cohort_engine.key.clone());
    }

    fn step(
        &mut self,
        ledger: &dyn RecordFeed,
        clock: &mut dyn FnMut() -> UtcMicros,
    ) -> Result<Vec<SignedSubmission>, SimError> {
        let records = self
            .follower
            .poll(ledger)
            .map_err(|e| SimError::Invalid(e.to_string()))?;
        feed(&mut self.matcher, &records);
        feed(&mut self.engine, &records);
        let trial = self
            .trial
            .clone()
            .ok_or_else(|| SimError::Invalid("the decider was not started".into()))?;
        let mut out = Vec::new();
        sign_new(&mut self.matcher, &trial, clock, &mut out)?;
        sign_new(&mut self.engine, &trial, clock, &mut out)?;
        Ok(out)
    }

    fn may_answer(&self, submission: &Submission) -> bool {
        let (subject, envelope) = (&submission.subject, &submission.envelope);
        self.matcher.service.may_decide_on(subject, envelope)
            || self.engine.service.may_decide_on(subject, envelope)
    }
}
