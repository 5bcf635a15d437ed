//! The deciding services' cores: the matcher and the cohort engine as functions of the ledger.
//!
//! Each service is driven by records read from a log, one at a time, in the ledger's merged
//! order ([`Follower`]: every partition's new records, merged by ordering time, then partition,
//! then sequence number), and answers with [`Decision`]s: the submissions it makes, which its
//! host signs with the service's own role key ([`Decision::sign`]) and submits through
//! whichever backend it runs on (the simulator's embedded ledger, the `trial-ledger matcher`
//! and `cohort-engine` commands, on the embedded log or on Kafka). Nothing else goes in: no
//! clock, no randomness, no state of the host.
//!
//! **Replayable.** A service's state is built from the records only (the protocol's cohort
//! catalogue, registrations, sequencing results, MTB decisions, slots, stage decisions, doses,
//! assessments, ends of treatment, deaths and corrections of these), so the same ledger always
//! gives the same decisions. A decision's submission id is derived from the record that
//! triggered it ([`decision_id`]): a service that restarts replays the ledger from the start,
//! recomputes each decision, and recognises it when it reads it back (it is "pending" until
//! then); submitting a decision again is idempotent (the sequencer answers with the original
//! record), so no trigger ever gets two answers.
//!
//! **Where a patient's outcome comes from** (the cohort engine's input to the two-stage rule):
//! [`tl_clinical::outcome_so_far`] over the patient's records, re-evaluated after each of them
//! (corrections applied): benefit as soon as tl-clinical's clinical benefit holds over the
//! RECIST 1.1 responses computed from the per-lesion measurements (not the investigator's)
//! from the first recorded dose; no benefit at the first follow-up scan with progressive
//! disease; otherwise, once treatment ends or the patient dies, not evaluable when the best
//! overall response is NE, else no benefit. The record that made the outcome known is the one
//! the stage decision cites for that patient. An outcome, once counted, is not revised by a
//! later correction (the stage it decided is recorded).

use crate::cohort_engine::{CohortEngine, SlotDecision};
use crate::matcher::{self, Availability, CohortView};
use crate::rules::{self, slot_capacity};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use tl_ledger::codec::decode_record;
use tl_ledger::{DomainRules, EmbeddedLedger, EventLog, SigningKey};
use tl_schemas::clinical::{clinical_type as ct, *};
use tl_schemas::events::{envelope_of, event_type, EventPayload, ProtocolAmended};
use tl_schemas::ids::Name;
use tl_schemas::{
    decode, Date, Envelope, Hash32, Meaning, Record, Reference, Role, SignedSubmission, Subject,
    SubmissionId, TrialId, UtcMicros,
};

/// Why a service could not read the ledger.
#[derive(Debug, thiserror::Error)]
pub enum DeciderError {
    /// The log could not be read (I/O, damage): see the inner error; `trial-ledger verify`
    /// locates damage.
    #[error("reading the ledger: {0}")]
    Read(#[from] tl_ledger::Error),
    /// A stored record does not decode: the ledger is damaged or of an unknown format; run
    /// `trial-ledger verify`.
    #[error("record {partition}/{seq} does not decode ({detail}); run `trial-ledger verify`")]
    BadRecord {
        /// Its partition.
        partition: u32,
        /// Its sequence number.
        seq: u64,
        /// What failed.
        detail: String,
    },
}

/// A record as a service reads it: decoded, with its hash (what citations name).
#[derive(Clone, Debug)]
pub struct LedgerRecord {
    /// The record.
    pub record: Record,
    /// Its record hash.
    pub hash: Hash32,
}

impl LedgerRecord {
    /// Decodes stored record bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, tl_ledger::Refusal> {
        let (record, body_len) = decode_record(bytes)?;
        let hash = tl_schemas::record::record_hash(&bytes[..body_len]);
        Ok(LedgerRecord { record, hash })
    }

    /// The reference that cites it.
    pub fn reference(&self) -> Reference {
        Reference {
            partition: self.record.body.partition,
            seq: self.record.body.seq,
            hash: self.hash,
        }
    }

    fn submission(&self) -> &tl_schemas::Submission {
        &self.record.body.submission.submission
    }

    /// Its event type.
    pub fn event_type(&self) -> u16 {
        self.submission().envelope.event_type
    }

    fn payload<T: serde::Serialize + serde::de::DeserializeOwned>(&self) -> Option<T> {
        decode(&self.submission().envelope.payload).ok()
    }
}

/// A log a service follows: partitions of record bytes, read from a sequence number on.
pub trait RecordFeed {
    /// Number of partitions.
    fn partition_count(&self) -> u32;
    /// Records in a partition now.
    fn len(&self, partition: u32) -> u64;
    /// Up to `max` records of `partition` from `from` on.
    fn read(&self, partition: u32, from: u64, max: usize)
        -> Result<Vec<Vec<u8>>, tl_ledger::Error>;
}

/// The writer's own view, group-commit buffer included: what a service driven in the
/// writer's process (the simulator) reads.
impl<R: DomainRules> RecordFeed for EmbeddedLedger<R> {
    fn partition_count(&self) -> u32 {
        self.state().partition_count()
    }
    fn len(&self, partition: u32) -> u64 {
        self.state().len(partition)
    }
    fn read(
        &self,
        partition: u32,
        from: u64,
        max: usize,
    ) -> Result<Vec<Vec<u8>>, tl_ledger::Error> {
        EmbeddedLedger::read(self, partition, from, max)
    }
}

impl RecordFeed for tl_ledger::embedded::EmbeddedLog {
    fn partition_count(&self) -> u32 {
        EventLog::partition_count(self)
    }
    fn len(&self, partition: u32) -> u64 {
        EventLog::len(self, partition)
    }
    fn read(
        &self,
        partition: u32,
        from: u64,
        max: usize,
    ) -> Result<Vec<Vec<u8>>, tl_ledger::Error> {
        EventLog::read(self, partition, from, max)
    }
}

/// Follows a log: remembers how far each partition was read, and hands out what is new in the
/// ledger's merged order (ordering time, then partition, then sequence number). Ordering
/// times never decrease within a partition, and on the embedded log one sequencer stamps all
/// of them from one clock, so this order is the order the records were sealed in, whichever
/// polls they arrive in.
///
/// On a log whose partitions become visible independently (Kafka: each partition is read by
/// its own fetches, so a poll may see partition 3 up to its committed end and partition 5 only
/// up to an older offset), [`Follower::poll`] would hand out a record before an earlier one of
/// a partition not read far enough yet; [`Follower::poll_settled`] holds records back until
/// their place in the merged order is certain.
#[derive(Clone, Debug, Default)]
pub struct Follower {
    /// The next sequence number to read, per partition.
    next: Vec<u64>,
    /// Records read but not handed out yet ([`Follower::poll_settled`]), in merged order.
    held: Vec<LedgerRecord>,
}

/// A record's place in the merged order.
fn merged_key(r: &LedgerRecord) -> (UtcMicros, u32, u64) {
    let b = &r.record.body;
    (b.ordering_time, b.partition, b.seq)
}

impl Follower {
    /// A follower at the start of the ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records read so far, per partition (held ones included).
    pub fn position(&self) -> &[u64] {
        &self.next
    }

    /// Records read but held back by [`Follower::poll_settled`].
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Reads every record not read yet into `held`, in merged order.
    fn read_new(&mut self, feed: &dyn RecordFeed) -> Result<(), DeciderError> {
        let n = feed.partition_count() as usize;
        if self.next.len() < n {
            self.next.resize(n, 0);
        }
        let before = self.held.len();
        for p in 0..n {
            let len = feed.len(p as u32);
            while self.next[p] < len {
                let batch = feed.read(p as u32, self.next[p], 4096)?;
                if batch.is_empty() {
                    break;
                }
                for bytes in &batch {
                    let r = LedgerRecord::decode(bytes).map_err(|e| DeciderError::BadRecord {
                        partition: p as u32,
                        seq: self.next[p],
                        detail: e.to_string(),
                    })?;
                    self.next[p] += 1;
                    self.held.push(r);
                }
            }
        }
        if n > 1 && self.held.len() > before {
            self.held.sort_by_key(merged_key);
        }
        Ok(())
    }

    /// Reads every record not read yet, in merged order.
    pub fn poll(&mut self, feed: &dyn RecordFeed) -> Result<Vec<LedgerRecord>, DeciderError> {
        self.read_new(feed)?;
        Ok(std::mem::take(&mut self.held))
    }

    /// Reads every record not read yet, and hands out those whose place in the merged order is
    /// settled, in that order; the others are held for a later poll.
    ///
    /// `settled[p]` counts the records of partition `p` that were read *before* the reader last
    /// made sure it had read every partition up to its committed end (a partition missing
    /// from `settled` counts 0). The rule rests on one assumption, true of a single sequencer
    /// instance: ordering times follow commits (a record committed after another has an
    /// ordering time at least as late). A record read before the ends were checked was
    /// committed before; so was every record ordered before it, and those were read when the
    /// ends were reached. Hence every record up to the latest settled one in the merged order
    /// is handed out; records after it wait (their predecessors may still be on their way).
    ///
    /// Independently of that assumption, a record is never handed out before the records it
    /// cites and the registry records it was sealed after (`registry_seq`) have been read: the
    /// first record in merged order that lacks one is held with everything after it.
    pub fn poll_settled(
        &mut self,
        feed: &dyn RecordFeed,
        settled: &[u64],
    ) -> Result<Vec<LedgerRecord>, DeciderError> {
        self.read_new(feed)?;
        let is_settled = |r: &LedgerRecord| {
            let b = &r.record.body;
            b.seq < settled.get(b.partition as usize).copied().unwrap_or(0)
        };
        let Some(bound) = self
            .held
            .iter()
            .filter(|r| is_settled(r))
            .map(merged_key)
            .max()
        else {
            return Ok(Vec::new());
        };
        let read = |p: u32| self.next.get(p as usize).copied();
        let ready = |r: &LedgerRecord| {
            let b = &r.record.body;
            // A citation of a partition the log does not have never resolves: the service
            // ignores what it cannot use, so it does not hold the follower up.
            read(0).is_none_or(|n| b.registry_seq <= n)
                && r.submission()
                    .cites
                    .iter()
                    .all(|c| read(c.partition).is_none_or(|n| c.seq < n))
        };
        let count = self
            .held
            .iter()
            .take_while(|r| merged_key(r) <= bound && ready(r))
            .count();
        Ok(self.held.drain(..count).collect())
    }
}

/// A submission a service decided to make, before it is signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whom it is about (the patient for a proposal, the cohort for slots and stages).
    pub subject: Subject,
    /// The event.
    pub envelope: Envelope,
    /// Its type's name, for logs.
    pub event_name: &'static str,
    /// The records it rests on: the trigger, and for a stage decision every outcome counted.
    pub cites: Vec<Reference>,
    /// The registry position it relies on: just after the protocol amendment in force.
    pub min_registry_seq: u64,
    /// Derived from the trigger ([`decision_id`]), so a resubmission is idempotent.
    pub submission_id: SubmissionId,
}

impl Decision {
    fn new<E: EventPayload>(
        service: &str,
        trigger: &LedgerRecord,
        index: u32,
        subject: Subject,
        event: &E,
        cites: Vec<Reference>,
        min_registry_seq: u64,
    ) -> Self {
        Decision {
            subject,
            envelope: envelope_of(event),
            event_name: E::NAME,
            cites,
            min_registry_seq,
            submission_id: decision_id(service, &trigger.hash, index),
        }
    }

    /// Signs it for `trial` with the service's key, stamped with the service's clock (meaning
    /// `authored`: a service's decisions are not approvals).
    pub fn sign(
        &self,
        trial: &TrialId,
        key: &SigningKey,
        client_time: UtcMicros,
    ) -> SignedSubmission {
        let mut draft = tl_ledger::writer::Draft::new(self.subject.clone(), self.envelope.clone());
        draft.meaning = Meaning::Authored;
        draft.cites = self.cites.clone();
        draft.min_registry_seq = self.min_registry_seq;
        draft.submission_id = self.submission_id;
        draft.client_time = client_time;
        draft.sign(trial, key)
    }
}

/// The submission id of a service's `index`-th decision on a trigger record: the first 16
/// bytes of SHA-256(`trial-ledger/v1/decision\0` || service || 0x00 || trigger record hash ||
/// u32_be(index)). The same ledger gives the same ids, so a decision submitted twice is one
/// record.
pub fn decision_id(service: &str, trigger: &Hash32, index: u32) -> SubmissionId {
    let mut h = Sha256::new();
    h.update(b"trial-ledger/v1/decision\0");
    h.update(service.as_bytes());
    h.update([0u8]);
    h.update(trigger.0);
    h.update(index.to_be_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&h.finalize()[..16]);
    SubmissionId(id)
}

/// A deciding service: fed every record in merged order, it answers with its decisions.
pub trait DecidingService {
    /// The name in decision ids and logs (`matcher`, `cohort-engine`).
    fn name(&self) -> &'static str;
    /// The role its key must have.
    fn role(&self) -> Role;
    /// Reads one record; returns the decisions it makes in response (also kept as pending
    /// until the service reads them back from the ledger).
    fn apply(&mut self, record: &LedgerRecord) -> Vec<Decision>;
    /// Decisions made but not yet read back from the ledger, in the order made: what a host
    /// still has to submit.
    fn pending(&self) -> &[Decision];
    /// Drops a pending decision the sequencer refused (the host reports it); true if it was
    /// pending.
    fn forget(&mut self, id: &SubmissionId) -> bool;
    /// Decisions made so far, in all (replayed ones included).
    fn decided(&self) -> u64;
    /// Whether reading a record of `envelope` about `subject` next may make the service
    /// decide something, given what it has read so far: false only when it certainly would
    /// not. A host that keeps its own submissions in flight lets them settle before the
    /// service reads on only when one of them may (the simulator on Kafka). The records the
    /// service has not read yet should only turn a true into a false here (see each
    /// service's exceptions). The default: true.
    fn may_decide_on(&self, subject: &Subject, envelope: &Envelope) -> bool {
        let _ = (subject, envelope);
        true
    }
}

/// Decisions made and not yet read back.
#[derive(Clone, Debug, Default)]
struct Pending {
    /// In the order made.
    list: Vec<Decision>,
    /// Made so far.
    made: u64,
}

impl Pending {
    fn add(&mut self, d: Vec<Decision>) -> Vec<Decision> {
        self.made += d.len() as u64;
        self.list.extend(d.iter().cloned());
        d
    }
    /// Whether the record is one of ours coming back (then no longer pending).
    fn confirm(&mut self, r: &LedgerRecord) -> bool {
        let s = r.submission();
        let Some(i) = self
            .list
            .iter()
            .position(|d| d.submission_id == s.submission_id)
        else {
            return false;
        };
        let d = self.list.remove(i);
        if d.envelope != s.envelope || d.subject != s.subject || d.cites != s.cites {
            // The same trigger was answered differently when it was recorded (other rules or
            // policy then): the ledger's record stands, and the service says so.
            tracing::warn!(
                partition = r.record.body.partition,
                seq = r.record.body.seq,
                "the recorded {} differs from what the service decides now for the same trigger",
                d.event_name
            );
        }
        true
    }
    fn forget(&mut self, id: &SubmissionId) -> bool {
        match self.list.iter().position(|d| &d.submission_id == id) {
            Some(i) => {
                self.list.remove(i);
                true
            }
            None => false,
        }
    }
}

/// The protocol in force, from the latest `ProtocolAmended`, as the trial's rules read it
/// (`rules::catalogue_at`): its catalogue if its document is one, else none.
#[derive(Clone, Debug, Default)]
struct InForce {
    /// Protocol version and catalogue (`None`: no catalogue in force).
    protocol: Option<(u32, CohortCatalogue)>,
    /// The definitions the catalogue in force states (format 1, or none: the format-1 ones).
    definitions: tl_clinical::Definitions,
    /// The registry position just after the latest amendment: what decisions rely on.
    position: u64,
}

impl InForce {
    /// Reads a record; the protocol version it brings into force if it is an amendment.
    fn read(&mut self, r: &LedgerRecord) -> Option<u32> {
        if r.event_type() != event_type::PROTOCOL_AMENDED || r.record.body.partition != 0 {
            return None;
        }
        let a: ProtocolAmended = r.payload()?;
        self.position = r.record.body.seq + 1;
        let doc = protocol_catalogue(a.document_format, &a.document)
            .ok()
            .flatten();
        self.definitions =
            tl_clinical::records::definitions(doc.as_ref().and_then(|(_, c)| c.as_ref()));
        self.protocol = doc.map(|(c, _)| (a.protocol_version, c));
        Some(a.protocol_version)
    }
}

/// The matcher: reads each `SequencingResultReported` against the protocol's cohort
/// catalogue in force and the cohorts' availability as the ledger states it (slots and stage
/// decisions, counted as the sequencer counts them), and proposes (`MatchProposed`, citing the
/// result, in the patient's partition): ranked candidates with the rule that matched each, and
/// why every other open cohort did not ([`matcher::propose`]).
///
/// The tumour type is the patient's `PatientRegistered` (corrections applied). Without a
/// catalogue in force the proposal is empty, with protocol version 0. A correction of a
/// sequencing result does not trigger a new proposal.
#[derive(Clone, Debug, Default)]
pub struct MatcherService {
    /// The catalogue in force.
    in_force: InForce,
    /// Each registered patient's tumour type.
    tumour: HashMap<Name, String>,
    /// Each cohort's slot state, from its records.
    cohorts: BTreeMap<Name, rules::CohortState>,
    /// Proposals not yet read back.
    pending: Pending,
}

impl MatcherService {
    /// A matcher at the start of the ledger.
    pub fn new() -> Self {
        Self::default()
    }

    fn availability(&self, def: &CohortDefinition) -> Availability {
        let fresh = rules::CohortState::default();
        let state = self.cohorts.get(&def.cohort_id).unwrap_or(&fresh);
        match slot_capacity(def, state) {
            None => Availability::Closed {
                status: state.status,
            },
            Some(capacity) if state.slots >= capacity => Availability::Full {
                status: state.status,
                slots: state.slots,
                capacity,
            },
            Some(_) => Availability::Open,
        }
    }

    fn propose(&self, r: &LedgerRecord, patient: &Name) -> Option<Decision> {
        let result: SequencingResultReported = r.payload()?;
        let tumour = self.tumour.get(patient).map(String::as_str);
        let proposal = match &self.in_force.protocol {
            Some((version, catalogue)) => {
                let avail: Vec<Availability> = catalogue
                    .cohorts
                    .iter()
                    .map(|d| self.availability(d))
                    .collect();
                let views: Vec<CohortView<'_>> = catalogue
                    .cohorts
                    .iter()
                    .zip(&avail)
                    .map(|(definition, availability)| CohortView {
                        definition,
                        availability,
                    })
                    .collect();
                matcher::propose(*version, &views, tumour, &result)
            }
            None => MatchProposed {
                protocol_version: 0,
                candidates: Vec::new(),
                not_matched: Vec::new(),
            },
        };
        Some(Decision::new(
            "matcher",
            r,
            0,
            Subject::Patient(patient.clone()),
            &proposal,
            vec![r.reference()],
            self.in_force.position,
        ))
    }
}

impl DecidingService for MatcherService {
    fn name(&self) -> &'static str {
        "matcher"
    }

    fn role(&self) -> Role {
        Role::Matcher
    }

    fn apply(&mut self, r: &LedgerRecord) -> Vec<Decision> {
        if self.pending.confirm(r) {
            return Vec::new();
        }
        self.in_force.read(r);
        let t = r.event_type();
        match (&r.submission().subject, t) {
            (Subject::Patient(p), ct::PATIENT_REGISTERED) => {
                if let Some(reg) = r.payload::<PatientRegistered>() {
                    self.tumour.insert(p.clone(), reg.tumour_type);
                }
            }
            (Subject::Patient(p), ct::CORRECTED) => {
                if let Some(c) = r.payload::<Corrected>() {
                    if c.event_type == ct::PATIENT_REGISTERED {
                        if let Ok(reg) = decode::<PatientRegistered>(&c.payload) {
                            self.tumour.insert(p.clone(), reg.tumour_type);
                        }
                    }
                }
            }
            (Subject::Patient(p), ct::SEQUENCING_RESULT_REPORTED) => {
                let p = p.clone();
                if let Some(d) = self.propose(r, &p) {
                    return self.pending.add(vec![d]);
                }
            }
            (Subject::Cohort(c), ct::SLOT_ASSIGNED | ct::COHORT_STAGE_DECIDED) => {
                let state = self.cohorts.entry(c.clone()).or_default();
                rules::apply_cohort_event(state, t, &r.submission().envelope.payload);
            }
            _ => {}
        }
        Vec::new()
    }

    fn pending(&self) -> &[Decision] {
        &self.pending.list
    }

    fn forget(&mut self, id: &SubmissionId) -> bool {
        self.pending.forget(id)
    }

    fn decided(&self) -> u64 {
        self.pending.made
    }

    /// Only a sequencing result makes the matcher propose.
    fn may_decide_on(&self, subject: &Subject, envelope: &Envelope) -> bool {
        matches!(subject, Subject::Patient(_))
            && envelope.event_type == ct::SEQUENCING_RESULT_REPORTED
    }
}

/// What the cohort engine knows of a slot holder's course, by record.
#[derive(Clone, Debug, Default)]
struct Course {
    /// The cohort whose slot the patient holds.
    cohort: Option<Name>,
    /// Dates of the recorded doses, by record position (corrections replace).
    doses: BTreeMap<(u32, u64), Date>,
    /// Response assessments (baseline and follow-up), by record position.
    assessments: BTreeMap<(u32, u64), ResponseAssessed>,
    /// Treatment ended or the patient died.
    over: bool,
    /// The registry position of the definitions the outcome was last evaluated under.
    evaluated_under: Option<u64>,
}

impl Course {
    /// The patient's outcome so far under the definitions in force
    /// ([`tl_clinical::outcome_so_far_with`]).
    fn outcome(&self, defs: &tl_clinical::Definitions) -> Option<tl_clinical::Outcome> {
        use tl_clinical::records as convert;
        let first_dose = self.doses.values().min().copied();
        let baseline = self.assessments.values().find(|a| a.baseline);
        let mut follow: Vec<&ResponseAssessed> =
            self.assessments.values().filter(|a| !a.baseline).collect();
        follow.sort_by_key(|a| a.assessed_on);
        let dated: Vec<tl_clinical::DatedResponse> = match baseline {
            Some(b) => {
                let base = tl_clinical::target_sum_mm10(
                    &b.targets.iter().map(convert::target).collect::<Vec<_>>(),
                );
                let assessed: Vec<_> = follow.iter().map(|a| convert::assessment(a)).collect();
                tl_clinical::overall_responses(base, &assessed)
                    .into_iter()
                    .zip(&follow)
                    .map(|(response, a)| tl_clinical::DatedResponse {
                        date: a.assessed_on,
                        response,
                    })
                    .collect()
            }
            None => Vec::new(),
        };
        tl_clinical::outcome_so_far_with(first_dose, &dated, self.over, defs).map(|b| b.outcome())
    }
}

/// The cohort engine: after each MTB approval it writes `SlotAssigned` or `SlotRefused` in
/// the cohort's partition, citing the approval; as the outcomes of its slot holders become
/// known (see the module's outcome rule) it applies the two-stage rule and writes
/// `CohortStageDecided`, citing every outcome record it counted, in the order counted
/// ([`CohortEngine`]).
#[derive(Clone, Debug, Default)]
pub struct CohortEngineService {
    /// The catalogue in force.
    in_force: InForce,
    /// The two-stage bookkeeping.
    engine: CohortEngine,
    /// Slot holders' courses.
    courses: HashMap<Name, Course>,
    /// Per cohort, the outcome records counted, in order.
    counted: BTreeMap<Name, Vec<Reference>>,
    /// Decisions not yet read back.
    pending: Pending,
}

impl CohortEngineService {
    /// A cohort engine at the start of the ledger with the default expansion policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// A cohort engine with this expansion policy (percent benefit among the evaluable).
    pub fn with_expansion_policy(min_benefit_pct: u32) -> Self {
        let mut s = Self::default();
        s.engine.expansion_min_benefit_pct = min_benefit_pct;
        s
    }

    /// The two-stage bookkeeping (for reports and tests).
    pub fn engine(&self) -> &CohortEngine {
        &self.engine
    }

    fn slot(&mut self, r: &LedgerRecord, patient: &Name, cohort: &Name) -> Decision {
        let subject = Subject::Cohort(cohort.clone());
        let cites = vec![r.reference()];
        let pos = self.in_force.position;
        match self.engine.assign_slot(cohort, patient) {
            SlotDecision::Assigned(s) => {
                self.courses.entry(patient.clone()).or_default().cohort = Some(cohort.clone());
                Decision::new("cohort-engine", r, 0, subject, &s, cites, pos)
            }
            SlotDecision::Refused(s) => {
                Decision::new("cohort-engine", r, 0, subject, &s, cites, pos)
            }
        }
    }

    /// Updates a slot holder's course with a patient record; true if it may change the outcome.
    fn follow(&mut self, r: &LedgerRecord, patient: &Name) -> bool {
        let Some(course) = self.courses.get_mut(patient) else {
            return false;
        };
        let at = (r.record.body.partition, r.record.body.seq);
        let (t, payload, at) = match r.event_type() {
            ct::CORRECTED => {
                let Some(c) = r.payload::<Corrected>() else {
                    return false;
                };
                let Some(orig) = r.submission().cites.first() else {
                    return false;
                };
                (c.event_type, c.payload, (orig.partition, orig.seq))
            }
            t => (t, r.submission().envelope.payload.clone(), at),
        };
        match t {
            ct::DOSE_ADMINISTERED => match decode::<DoseAdministered>(&payload) {
                Ok(d) => {
                    course.doses.insert(at, d.administered_on);
                    true
                }
                Err(_) => false,
            },
            ct::RESPONSE_ASSESSED => match decode::<ResponseAssessed>(&payload) {
                Ok(a) => {
                    course.assessments.insert(at, a);
                    true
                }
                Err(_) => false,
            },
            ct::TREATMENT_ENDED | ct::DEATH_RECORDED => {
                course.over = true;
                true
            }
            _ => false,
        }
    }

    fn stage(&mut self, r: &LedgerRecord, patient: &Name) -> Vec<Decision> {
        let Some(course) = self.courses.get_mut(patient) else {
            return Vec::new();
        };
        let Some(cohort) = course.cohort.clone() else {
            return Vec::new();
        };
        if !self.engine.awaits(&cohort, patient) {
            return Vec::new();
        }
        course.evaluated_under = Some(self.in_force.position);
        let Some(outcome) = course.outcome(&self.in_force.definitions) else {
            return Vec::new();
        };
        let counted = self.counted.entry(cohort.clone()).or_default();
        counted.push(r.reference());
        let cites = counted.clone();
        let pos = self.in_force.position;
        self.engine
            .record_outcome(&cohort, patient, outcome)
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                Decision::new(
                    "cohort-engine",
                    r,
                    i as u32,
                    Subject::Cohort(cohort.clone()),
                    &s,
                    cites.clone(),
                    pos,
                )
            })
            .collect()
    }
}

impl DecidingService for CohortEngineService {
    fn name(&self) -> &'static str {
        "cohort-engine"
    }

    fn role(&self) -> Role {
        Role::CohortEngine
    }

    fn apply(&mut self, r: &LedgerRecord) -> Vec<Decision> {
        if self.pending.confirm(r) {
            return Vec::new();
        }
        if let Some(version) = self.in_force.read(r) {
            // An amendment without a catalogue leaves no cohort in force.
            let none = CohortCatalogue {
                cohorts: Vec::new(),
            };
            let catalogue = self.in_force.protocol.as_ref().map_or(&none, |(_, c)| c);
            self.engine.protocol_in_force(version, catalogue);
            return Vec::new();
        }
        let t = r.event_type();
        match &r.submission().subject {
            Subject::Patient(p) if t == ct::MATCH_DECIDED => {
                let p = p.clone();
                if let Some(MatchDecided {
                    decision: MtbDecision::Approved { cohort_id },
                    ..
                }) = r.payload::<MatchDecided>()
                {
                    let d = self.slot(r, &p, &cohort_id);
                    return self.pending.add(vec![d]);
                }
            }
            Subject::Patient(p) => {
                let p = p.clone();
                if self.follow(r, &p) {
                    let d = self.stage(r, &p);
                    return self.pending.add(d);
                }
            }
            Subject::Cohort(c) if t == ct::SLOT_ASSIGNED => {
                // A slot this engine did not decide (it would have been pending): the ledger
                // is the truth, so count it.
                if let Some(s) = r.payload::<SlotAssigned>() {
                    if !self.engine.note_slot(c, &s.patient) {
                        tracing::warn!(cohort = %c, patient = %s.patient, "a slot recorded by another author exceeds the two-stage rule's room");
                    }
                    self.courses.entry(s.patient).or_default().cohort = Some(c.clone());
                }
            }
            _ => {}
        }
        Vec::new()
    }

    fn pending(&self) -> &[Decision] {
        &self.pending.list
    }

    fn forget(&mut self, id: &SubmissionId) -> bool {
        self.pending.forget(id)
    }

    fn decided(&self) -> u64 {
        self.pending.made
    }

    /// An MTB decision (a slot), or a course record of a slot holder whose outcome the
    /// two-stage rule still awaits (a stage decision). A wait starts when the engine decides
    /// the slot (or reads a slot another author recorded) and ends when the outcome is
    /// counted, so of the records not read yet only such foreign slots can start one.
    ///
    /// A dose enters the outcome only through the first dose's date: a dose dated no earlier
    /// than a dose read already, of a course last evaluated under the definitions in force,
    /// leaves the outcome as it was, which was none (the wait goes on). Records not read yet
    /// can only add doses or change the definitions (making this true), never the reverse.
    fn may_decide_on(&self, subject: &Subject, envelope: &Envelope) -> bool {
        let Subject::Patient(patient) = subject else {
            return false;
        };
        let t = envelope.event_type;
        if t == ct::MATCH_DECIDED {
            return true;
        }
        if !matches!(
            t,
            ct::DOSE_ADMINISTERED
                | ct::RESPONSE_ASSESSED
                | ct::TREATMENT_ENDED
                | ct::DEATH_RECORDED
                | ct::CORRECTED
        ) {
            return false;
        }
        let Some(course) = self.courses.get(patient) else {
            return false;
        };
        let awaits = course
            .cohort
            .as_ref()
            .is_some_and(|cohort| self.engine.awaits(cohort, patient));
        if !awaits {
            return false;
        }
        if t != ct::DOSE_ADMINISTERED || course.evaluated_under != Some(self.in_force.position) {
            return true;
        }
        match (
            decode::<DoseAdministered>(&envelope.payload),
            course.doses.values().min(),
        ) {
            (Ok(dose), Some(first)) => dose.administered_on < *first,
            _ => true,
        }
    }
}
