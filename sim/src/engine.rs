//! The discrete-event driver: patients arrive, are screened, matched, decided on, enrolled and
//! treated on a simulated clock, and every event is signed by its author's key and submitted
//! through the sequencer into the embedded log, in time order, so the trial's state machine
//! judges each one. A refusal is a bug in the simulation and stops it with the sequencer's
//! reason.

use crate::catalogue::{Protocol, DRUGS, SITES, TUMOUR_TYPES};
use crate::decider::Decider;
use crate::genomics::{msi_probability, sequencing_result_of};
use crate::history::{self, PlannedEvent};
use crate::personal::{KeyImporter, SimPersonal};
use crate::rng::SimRng;
use crate::{SimConfig, SimError, SimKey, SimKeys, SimReport};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::path::Path;
use std::time::Instant;
use tl_domain::TrialRules;
use tl_ledger::writer::Draft;
use tl_ledger::{Durability, EmbeddedLedger, Outcome};
use tl_schemas::clinical::*;
use tl_schemas::events::{envelope_of, EventPayload, KeyEnrolled, ProtocolAmended};
use tl_schemas::ids::Name;
use tl_schemas::{Date, Meaning, Reference, Role, Subject, SubmissionId, UtcMicros};

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Share of arrivals referred with a known dMMR/MSI tumour while the MSI-high cohort's
/// expansion enrols (current model): calibrated so that the cohort's analysis shows the
/// publication's follow-up (PMID 39024037: a median of 14.5 months by reverse Kaplan-Meier).
const MSI_REFERRAL_SHARE: f64 = 0.22;

/// What happens next in the simulation.
#[derive(Debug)]
enum Action {
    /// Protocol version `v` comes into force.
    Amend(u32),
    /// The next patient arrives.
    Arrival,
    /// Sequencing result of patient `p` (the matcher answers from the ledger).
    Sequence(usize),
    /// The MTB meets on patient `p`, then the cohort engine answers.
    Decide(usize),
    /// Patient `p` is enrolled and their history planned.
    Enrol(usize),
    /// An item of patient `p`'s history.
    Planned(usize, PlannedEvent),
    /// The data cut-off: a last survival sweep.
    Cutoff,
}

struct Queued {
    day: i32,
    order: u8,
    seq: u64,
    action: Action,
}

impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        (self.day, self.order, self.seq) == (o.day, o.order, o.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.day, self.order, self.seq).cmp(&(o.day, o.order, o.seq))
    }
}

/// A patient as the simulation tracks them.
struct Patient {
    name: Name,
    tumour: &'static str,
    investigator: usize,
    rng: SimRng,
    sequencing: Option<SequencingResultReported>,
    sequencing_ref: Option<Reference>,
    proposal: Option<MatchProposed>,
    proposal_ref: Option<Reference>,
    cohort: Option<usize>,
    slot_ref: Option<Reference>,
    last_ref: Option<Reference>,
    ae_refs: HashMap<u32, Reference>,
    typo_refs: HashMap<u32, Reference>,
    death: Option<Date>,
    treated: bool,
    dead: bool,
    last_alive: Option<Date>,
    /// Referred with a known dMMR/MSI tumour, for the MSI-high cohort's expansion.
    msi_referral: bool,
}

/// Where a sealed submission's reference is kept.
#[derive(Clone, Copy, Debug)]
enum Keep {
    /// Nowhere (a stage decision).
    Nothing,
    /// As the patient's last reference.
    Last,
    /// The report of adverse event `id` (updates cite it).
    Ae(u32),
    /// A dose entered with typo `t` (its correction cites it).
    Typo(u32),
    /// The sequencing result.
    Sequencing,
    /// The matcher's proposal (the MTB's decision cites it).
    Proposal,
    /// The patient's slot (the enrolment cites it); not the patient's last reference.
    Slot,
}

/// A submission in flight on a pipelined ledger.
struct InFlight {
    /// The ledger's token for it.
    token: u64,
    /// Its subject (for errors).
    subject: Subject,
    /// The patient whose reference it is (`keep`), if any.
    patient: Option<usize>,
    /// Its event's name (for counts and errors).
    name: &'static str,
    /// Where its reference goes.
    keep: Keep,
    /// A deciding service's answer (see [`Engine::begin`]).
    answer: bool,
}

struct Engine<'a> {
    config: &'a SimConfig,
    protocol: Protocol,
    ledger: Box<dyn crate::SimLedger>,
    keys: SimKeys,
    decider: &'a mut dyn Decider,
    master: SimRng,
    ids: SimRng,
    clock_rng: SimRng,
    /// Parent of each patient's personal-data stream (key, nonce, synthetic data).
    personal_rng: SimRng,
    /// Stores the personal-data keys, if the configuration names a key store.
    importer: Option<KeyImporter>,
    clock: i64,
    queue: BinaryHeap<Reverse<Queued>>,
    seq: u64,
    patients: Vec<Patient>,
    names: BTreeSet<Name>,
    /// Each patient's index, by pseudonym: the services' answers name patients.
    index: HashMap<Name, usize>,
    protocol_version: u32,
    protocol_position: u64,
    slotted: u32,
    /// Moving average of MTB decisions that led to a slot.
    recent_yield: f64,
    cutoff: Option<Date>,
    closed_on: Option<Date>,
    /// Whether the MSI-high nivolumab cohort's expansion is enrolling (current model only):
    /// referrals of known dMMR/MSI patients follow it.
    msi_expansion_open: bool,
    by_type: BTreeMap<&'static str, u64>,
    records: u64,
    /// Patient events in flight, in the order submitted.
    in_flight: VecDeque<InFlight>,
    /// Whether one of them may make the deciding services answer.
    answer_in_flight: bool,
}

/// The start of day `d` in microseconds, plus 8 hours (the working day starts).
fn day_start(d: Date) -> i64 {
    i64::from(d.0) * MICROS_PER_DAY + 8 * 3_600_000_000
}

impl<'a> Engine<'a> {
    fn push(&mut self, day: Date, order: u8, action: Action) {
        self.seq += 1;
        self.queue.push(Reverse(Queued {
            day: day.0,
            order,
            seq: self.seq,
            action,
        }));
    }

    /// Advances the simulated clock to a moment on `day` after the previous event.
    fn tick(&mut self, day: Date) -> UtcMicros {
        let step = self.clock_rng.range(1_000_000, 300_000_000);
        self.clock = (self.clock + step).max(day_start(day));
        UtcMicros(self.clock)
    }

    /// Signs and submits one event and waits for its record (a protocol amendment: the
    /// decisions after it name its position); returns the record's reference.
    fn submit<E: EventPayload>(
        &mut self,
        day: Date,
        subject: Subject,
        event: &E,
        author: &SimKey,
        cites: Vec<Reference>,
    ) -> Result<Reference, SimError> {
        let (signed, now) = self.prepare(day, subject, event, None, author, cites);
        self.seal(signed, now, E::NAME)
    }

    /// Signs and submits one event about patient `p`, kept in flight on a pipelined ledger:
    /// its reference is kept as `keep` says once it is sealed ([`Engine::settle_patient`]
    /// waits for that).
    #[allow(clippy::too_many_arguments)]
    fn submit_about<E: EventPayload>(
        &mut self,
        p: usize,
        day: Date,
        event: &E,
        personal_data: Option<Vec<u8>>,
        author: &SimKey,
        cites: Vec<Reference>,
        keep: Keep,
    ) -> Result<(), SimError> {
        let subject = Subject::Patient(self.patients[p].name.clone());
        let (signed, now) = self.prepare(day, subject, event, personal_data, author, cites);
        self.begin(signed, now, E::NAME, Some(p), keep, false)
    }

    /// Hands a signed submission to the ledger, keeping it in flight if the ledger can.
    ///
    /// A submission the deciding services may answer is begun only once the services'
    /// answers in flight are sealed: the services must read those before it (a slot changes
    /// what the matcher proposes next), and records of different subjects in flight together
    /// may be sealed in either order.
    fn begin(
        &mut self,
        signed: tl_schemas::SignedSubmission,
        now: UtcMicros,
        name: &'static str,
        patient: Option<usize>,
        keep: Keep,
        answer: bool,
    ) -> Result<(), SimError> {
        let subject = signed.submission.subject.clone();
        let may_answer = self.decider.may_answer(&signed.submission);
        if may_answer && self.in_flight.iter().any(|f| f.answer) {
            self.settle_where(|f| f.answer)?;
        }
        match self.ledger.begin(signed, now)? {
            crate::Begun::Done(outcome) => {
                let r = self.accept(outcome, &subject, name)?;
                if let Some(p) = patient {
                    self.keep(p, keep, r);
                }
            }
            crate::Begun::InFlight(token) => {
                self.answer_in_flight |= may_answer;
                self.in_flight.push_back(InFlight {
                    token,
                    subject,
                    patient,
                    name,
                    keep,
                    answer,
                });
            }
        }
        Ok(())
    }

    /// Notes a sealed submission's reference for patient `p`.
    fn keep(&mut self, p: usize, keep: Keep, r: Reference) {
        let pt = &mut self.patients[p];
        match keep {
            Keep::Nothing => return,
            Keep::Slot => {
                pt.slot_ref = Some(r);
                return;
            }
            Keep::Last => {}
            Keep::Ae(id) => {
                pt.ae_refs.insert(id, r);
            }
            Keep::Typo(t) => {
                pt.typo_refs.insert(t, r);
            }
            Keep::Sequencing => pt.sequencing_ref = Some(r),
            Keep::Proposal => pt.proposal_ref = Some(r),
        }
        pt.last_ref = Some(r);
    }

    /// Takes the outcomes of the submissions in flight that `which` selects, in the order
    /// submitted (a patient's last reference is its latest event's).
    fn settle_where(&mut self, which: impl Fn(&InFlight) -> bool) -> Result<(), SimError> {
        let (chosen, rest): (VecDeque<InFlight>, VecDeque<InFlight>) =
            std::mem::take(&mut self.in_flight)
                .into_iter()
                .partition(|f| which(f));
        self.in_flight = rest;
        for f in chosen {
            let outcome = self.ledger.settle(f.token)?;
            let r = self.accept(outcome, &f.subject, f.name)?;
            if let Some(p) = f.patient {
                self.keep(p, f.keep, r);
            }
        }
        if self.in_flight.is_empty() {
            self.answer_in_flight = false;
        }
        Ok(())
    }

    /// Waits until the latest submission in flight of patient `p` whose reference is kept as
    /// `needed` selects is sealed, with the patient's earlier ones (in order, so the
    /// patient's last reference stays its latest sealed event's); the patient's later ones
    /// stay in flight.
    fn settle_patient_through(
        &mut self,
        p: usize,
        needed: impl Fn(Keep) -> bool,
    ) -> Result<(), SimError> {
        let Some(last) = self
            .in_flight
            .iter()
            .rposition(|f| f.patient == Some(p) && needed(f.keep))
        else {
            return Ok(());
        };
        let tokens: BTreeSet<u64> = self
            .in_flight
            .iter()
            .take(last + 1)
            .filter(|f| f.patient == Some(p))
            .map(|f| f.token)
            .collect();
        self.settle_where(|f| tokens.contains(&f.token))
    }

    /// Waits until every submission in flight that keeps a reference of patient `p` is
    /// sealed (the next event cites the patient's last).
    fn settle_patient(&mut self, p: usize) -> Result<(), SimError> {
        if self.in_flight.iter().any(|f| f.patient == Some(p)) {
            self.settle_where(|f| f.patient == Some(p))
        } else {
            Ok(())
        }
    }

    /// Waits until every submission in flight is sealed.
    fn settle_all(&mut self) -> Result<(), SimError> {
        if self.in_flight.is_empty() {
            return Ok(());
        }
        self.settle_where(|_| true)
    }

    /// Stamps and signs one event (the clock and id draws of [`Engine::submit`]), without
    /// submitting it.
    fn prepare<E: EventPayload>(
        &mut self,
        day: Date,
        subject: Subject,
        event: &E,
        personal_data: Option<Vec<u8>>,
        author: &SimKey,
        cites: Vec<Reference>,
    ) -> (tl_schemas::SignedSubmission, UtcMicros) {
        let now = self.tick(day);
        let mut envelope = envelope_of(event);
        envelope.personal_data = personal_data;
        let mut draft = Draft::new(subject.clone(), envelope);
        draft.submission_id = SubmissionId(self.ids.bytes16());
        draft.client_time = UtcMicros(now.0 - self.clock_rng.range(0, 90_000_000));
        draft.cites = cites;
        draft.meaning = if E::TYPE == clinical_type::MATCH_DECIDED {
            Meaning::Approved
        } else {
            Meaning::Authored
        };
        if matches!(
            E::TYPE,
            clinical_type::MATCH_PROPOSED
                | clinical_type::MATCH_DECIDED
                | clinical_type::SLOT_ASSIGNED
                | clinical_type::SLOT_REFUSED
                | clinical_type::COHORT_STAGE_DECIDED
        ) {
            draft.min_registry_seq = self.protocol_position;
        }
        (draft.sign(&self.config.trial, &author.key), now)
    }

    /// Orders one signed submission; a refusal or a duplicate is a bug in the simulation.
    fn seal(
        &mut self,
        signed: tl_schemas::SignedSubmission,
        now: UtcMicros,
        name: &'static str,
    ) -> Result<Reference, SimError> {
        let subject = signed.submission.subject.clone();
        let outcome = self.ledger.submit(signed, now)?;
        self.accept(outcome, &subject, name)
    }

    /// The reference of a sealed submission (counted); a refusal or a duplicate is a bug in
    /// the simulation.
    fn accept(
        &mut self,
        outcome: Outcome,
        subject: &Subject,
        name: &'static str,
    ) -> Result<Reference, SimError> {
        match outcome {
            Outcome::Sealed(s) => {
                self.records += 1;
                *self.by_type.entry(name).or_default() += 1;
                Ok(Reference {
                    partition: s.record.body.partition,
                    seq: s.record.body.seq,
                    hash: s.hash,
                })
            }
            Outcome::Duplicate(r) => Err(SimError::Refused {
                event: name.into(),
                subject: subject.to_string(),
                reason: format!(
                    "submission id already recorded at {}/{}",
                    r.partition, r.seq
                ),
            }),
            Outcome::Refused(r) => Err(SimError::Refused {
                event: name.into(),
                subject: subject.to_string(),
                reason: format!("{}: {}", r.reason.code(), r.detail),
            }),
        }
    }

    /// Lets the deciding services read what was just recorded, and records what they answer
    /// (signed with their keys), until they have nothing more to say. Their submissions are
    /// stamped with the simulated clock; what they decide comes from the ledger alone.
    ///
    /// With events in flight, the services answer only once they are sealed and read, so
    /// that they decide on the ledger as the embedded demo's services see it at this step;
    /// when none of them may make a service answer, the services read them at a later step
    /// instead: what they would answer, and when, is unchanged (see
    /// [`crate::Decider::may_answer`]).
    fn run_deciders(&mut self, day: Date) -> Result<(), SimError> {
        if self.answer_in_flight {
            self.settle_all()?;
        }
        if !self.in_flight.is_empty() {
            return Ok(());
        }
        loop {
            let clock = &mut self.clock;
            let rng = &mut self.clock_rng;
            let mut stamp = || {
                let step = rng.range(1_000_000, 300_000_000);
                *clock = (*clock + step).max(day_start(day));
                UtcMicros(*clock)
            };
            let answers = self.decider.step(self.ledger.as_ref(), &mut stamp)?;
            if answers.is_empty() {
                return Ok(());
            }
            // The answers of one step are independent of each other: handled in order, and
            // in flight together on a pipelined ledger, where their references follow.
            for answer in answers {
                let t = answer.submission.envelope.event_type;
                let name = clinical_type::name(t).unwrap_or("unknown");
                let (patient, keep) = self.on_decision(day, &answer.submission)?;
                let now = answer.submission.client_time;
                self.begin(answer, now, name, patient, keep, true)?;
            }
            if !self.in_flight.is_empty() {
                // Read back only if an answer may make a service answer again.
                if !self.answer_in_flight {
                    return Ok(());
                }
                self.settle_all()?;
            }
        }
    }

    /// What the simulation does with a service's decision: the MTB meets on a proposal, a
    /// patient with a slot is enrolled. Returns whose reference the decision's record is and
    /// how it is kept.
    fn on_decision(
        &mut self,
        day: Date,
        submission: &tl_schemas::Submission,
    ) -> Result<(Option<usize>, Keep), SimError> {
        let t = submission.envelope.event_type;
        match &submission.subject {
            Subject::Patient(name) if t == clinical_type::MATCH_PROPOSED => {
                let Some(&p) = self.index.get(name) else {
                    return Ok((None, Keep::Nothing));
                };
                let proposal: MatchProposed = tl_schemas::decode(&submission.envelope.payload)
                    .map_err(|e| SimError::Invalid(format!("a proposal does not decode: {e}")))?;
                let pt = &mut self.patients[p];
                pt.proposal = Some(proposal);
                // The MTB meets 2 to 9 days after the result (two draws, as when the matcher
                // was simulated with a latency of its own).
                let gap = pt.rng.range(0, 2) + pt.rng.range(2, 8);
                let when = Date(day.0 + gap as i32);
                self.push(when, 7, Action::Decide(p));
                Ok((Some(p), Keep::Proposal))
            }
            Subject::Cohort(cohort_id)
                if t == clinical_type::COHORT_STAGE_DECIDED
                    && cohort_id.as_str() == crate::catalogue::MSI_COHORT
                    && self.config.protocol_format != DOCUMENT_FORMAT_COHORT_CATALOGUE =>
            {
                let decided: CohortStageDecided = tl_schemas::decode(&submission.envelope.payload)
                    .map_err(|e| {
                        SimError::Invalid(format!("a stage decision does not decode: {e}"))
                    })?;
                self.msi_expansion_open = decided.status == CohortStatus::Expansion;
                Ok((None, Keep::Nothing))
            }
            Subject::Cohort(cohort_id) if t == clinical_type::SLOT_ASSIGNED => {
                let slot: SlotAssigned = tl_schemas::decode(&submission.envelope.payload)
                    .map_err(|e| SimError::Invalid(format!("a slot does not decode: {e}")))?;
                let Some(&p) = self.index.get(&slot.patient) else {
                    return Ok((None, Keep::Nothing));
                };
                let idx = self
                    .protocol
                    .cohorts
                    .iter()
                    .position(|c| &c.definition.cohort_id == cohort_id)
                    .ok_or_else(|| SimError::Invalid(format!("unknown cohort {cohort_id}")))?;
                let pt = &mut self.patients[p];
                pt.cohort = Some(idx);
                let when = Date(day.0 + pt.rng.range(2, 10) as i32);
                self.push(when, 8, Action::Enrol(p));
                self.slotted += 1;
                self.recent_yield += 0.02;
                if self.slotted >= self.config.treated_patients && self.closed_on.is_none() {
                    self.closed_on = Some(day);
                    let cutoff = Date(day.0 + self.config.follow_up_days);
                    self.cutoff = Some(cutoff);
                    self.push(cutoff, 99, Action::Cutoff);
                }
                Ok((Some(p), Keep::Slot))
            }
            _ => Ok((None, Keep::Nothing)),
        }
    }

    fn investigator(&self, p: usize) -> SimKey {
        self.keys.investigators[self.patients[p].investigator].clone()
    }

    /// Submits a patient event by the patient's investigator; its reference becomes the last
    /// (and is kept as `keep` says).
    fn patient_event<E: EventPayload>(
        &mut self,
        p: usize,
        day: Date,
        event: &E,
        cites: Vec<Reference>,
        keep: Keep,
    ) -> Result<(), SimError> {
        let author = self.investigator(p);
        self.submit_about(p, day, event, None, &author, cites, keep)
    }

    fn amend(&mut self, day: Date, version: u32) -> Result<(), SimError> {
        let catalogue = self.protocol.catalogue(version);
        // Format 1 on request; every other value means the current format, 2.
        let format = match self.config.protocol_format {
            DOCUMENT_FORMAT_COHORT_CATALOGUE => DOCUMENT_FORMAT_COHORT_CATALOGUE,
            _ => DOCUMENT_FORMAT_COHORT_CATALOGUE_2,
        };
        let document = if format == DOCUMENT_FORMAT_COHORT_CATALOGUE {
            tl_schemas::encode(&catalogue)
        } else {
            tl_schemas::encode(&CohortCatalogue2 {
                conventions: crate::catalogue::DEMO_CONVENTIONS,
                catalogue,
            })
        };
        let amendment = ProtocolAmended {
            protocol_version: version,
            document_format: format,
            document,
        };
        let admin = self.keys.admin.clone();
        // Nothing stays in flight past an amendment, so the services read it at this step
        // (a cohort engine's outcome rule may change with it: see
        // `DecidingService::may_decide_on`).
        self.settle_all()?;
        let r = self.submit(day, Subject::Trial, &amendment, &admin, vec![])?;
        self.protocol_version = version;
        self.protocol_position = r.seq + 1;
        Ok(())
    }

    /// Patients arrive as a Poisson process whose rate aims at the target number of treated
    /// patients over the accrual period, corrected by the recent yield (slots per MTB decision).
    fn next_arrival_gap(&mut self, today: Date) -> i32 {
        let elapsed = (today.0 - self.config.start.0).max(0);
        let remaining_days = (self.config.accrual_days - elapsed).max(180);
        let needed = f64::from(self.config.treated_patients.saturating_sub(self.slotted)).max(1.0);
        let rate = needed / (f64::from(remaining_days) * self.recent_yield.max(0.05));
        self.master.exponential(1.0 / rate).round() as i32
    }

    fn arrival(&mut self, day: Date) -> Result<(), SimError> {
        if self.closed_on.is_some() {
            return Ok(());
        }
        if self.patients.len() as u64 >= u64::from(self.config.treated_patients) * 8 + 100 {
            return Err(SimError::Stalled {
                screened: self.patients.len() as u32,
                treated: self.slotted,
            });
        }
        let mut rng = self.master.fork("patient");
        let name = loop {
            let candidate = Name::new(format!("PT-{:08X}", rng.next_u64() as u32))
                .map_err(|e| SimError::Invalid(e.to_string()))?;
            if self.names.insert(candidate.clone()) {
                break candidate;
            }
        };
        // While the MSI-high cohort's expansion enrols, part of the arrivals are referred
        // because of a known dMMR/MSI tumour (the current model; DRUP's MSI cohort enrolled
        // its 130 evaluable patients mostly in its expansion): their tumour types follow the
        // MSI-high frequencies.
        let msi_referral = self.msi_expansion_open && rng.chance(MSI_REFERRAL_SHARE);
        let weights: Vec<f64> = TUMOUR_TYPES
            .iter()
            .map(|t| {
                if msi_referral {
                    t.1 * msi_probability(t.0)
                } else {
                    t.1
                }
            })
            .collect();
        let tumour = TUMOUR_TYPES[rng.weighted(&weights)].0;
        let site = rng.weighted(&SITES.iter().map(|s| s.1).collect::<Vec<_>>());
        let investigator = site * 2 + rng.index(2);
        let p = self.patients.len();
        self.index.insert(name.clone(), p);
        self.patients.push(Patient {
            name,
            tumour,
            investigator,
            rng,
            sequencing: None,
            sequencing_ref: None,
            proposal: None,
            proposal_ref: None,
            cohort: None,
            slot_ref: None,
            last_ref: None,
            ae_refs: HashMap::new(),
            typo_refs: HashMap::new(),
            death: None,
            treated: false,
            dead: false,
            last_alive: None,
            msi_referral,
        });
        let registered = PatientRegistered {
            tumour_type: tumour.into(),
            site: SITES[site].0.into(),
            registered_on: day,
        };
        // Personal data from the patient's own personal-data stream, so that no other draw
        // moves; the key is queued for the key store before the record that needs it is
        // submitted.
        let personal = SimPersonal::draw(&mut self.personal_rng.fork("patient"), day);
        let name = self.patients[p].name.clone();
        let sealed = personal.seal(&self.config.trial, &name);
        self.store_key(name.clone(), personal.key)?;
        let author = self.investigator(p);
        self.submit_about(
            p,
            day,
            &registered,
            Some(sealed),
            &author,
            vec![],
            Keep::Last,
        )?;
        let consent = ConsentRecorded {
            form_version: format!("DRUP-ICF v{}", self.protocol_version),
            consented_on: day,
        };
        self.patient_event(p, day, &consent, vec![], Keep::Last)?;
        let rng = &mut self.patients[p].rng;
        if rng.chance(0.01) {
            let later = Date(day.0 + rng.range(1, 10) as i32);
            let withdrawn = ConsentWithdrawn {
                withdrawn_on: later,
                follow_up_allowed: false,
                reason: "patient decided against further screening".into(),
            };
            self.patient_event(p, later, &withdrawn, vec![], Keep::Last)?;
        } else {
            let when = Date(day.0 + rng.range(14, 28) as i32);
            self.push(when, 5, Action::Sequence(p));
        }
        let gap = self.next_arrival_gap(day);
        self.push(Date(day.0 + gap), 0, Action::Arrival);
        Ok(())
    }

    /// Queues a patient's personal-data key for the key store, if there is one.
    fn store_key(
        &mut self,
        patient: Name,
        key: tl_domain::personal::DataKey,
    ) -> Result<(), SimError> {
        let Some(importer) = &self.importer else {
            return Ok(());
        };
        if importer.send(patient, key) {
            return Ok(());
        }
        // The importer stopped on an error: report it.
        let stopped = self.importer.take().map_or(Ok(0), KeyImporter::finish);
        Err(stopped.err().unwrap_or_else(|| {
            SimError::Invalid("the key-store thread stopped without an error".into())
        }))
    }

    /// Waits for every queued key to be stored; the number stored.
    fn finish_keys(&mut self) -> Result<u32, SimError> {
        self.importer.take().map_or(Ok(0), KeyImporter::finish)
    }

    fn sequence(&mut self, p: usize, day: Date) -> Result<(), SimError> {
        let lab = self.patients[p].rng.index(self.keys.labs.len());
        let sample = format!("S{:07}-T", 1_000_000 + p);
        let tumour = self.patients[p].tumour;
        let known = self.patients[p].msi_referral;
        let result = sequencing_result_of(&mut self.patients[p].rng, tumour, &sample, day, known);
        let key = self.keys.labs[lab].clone();
        self.submit_about(p, day, &result, None, &key, vec![], Keep::Sequencing)?;
        self.patients[p].sequencing = Some(result);
        Ok(())
    }

    /// The MTB's decision (the simulation plays the board); the cohort engine answers an
    /// approval from the ledger.
    fn decide(&mut self, p: usize, day: Date) -> Result<(), SimError> {
        let Some(proposal) = self.patients[p].proposal.clone() else {
            return Ok(());
        };
        let purity = self.patients[p]
            .sequencing
            .as_ref()
            .map_or(0, |s| s.purity_pct);
        let accrual_closed = self.closed_on.is_some();
        let rng = &mut self.patients[p].rng;
        let (decision, rationale) = if accrual_closed {
            (
                MtbDecision::Rejected,
                "the trial has reached its accrual target; no new enrolments".to_string(),
            )
        } else if proposal.candidates.is_empty() {
            let closed_match = proposal
                .not_matched
                .iter()
                .find(|e| e.reason.starts_with("matches, but"));
            let why = if purity < 20 {
                format!("no reliable result: tumour purity {purity} %")
            } else if let Some(e) = closed_match {
                format!(
                    "actionable alteration, but no cohort can take the patient: {} {}",
                    e.cohort_id, e.reason
                )
            } else {
                "no actionable alteration for an open cohort".to_string()
            };
            (MtbDecision::Rejected, why)
        } else {
            let low_vaf = proposal.candidates[0].evidence.contains("VAF")
                && proposal.candidates[0]
                    .evidence
                    .split("VAF ")
                    .nth(1)
                    .and_then(|v| v.split('.').next())
                    .and_then(|v| v.trim().parse::<u32>().ok())
                    .is_some_and(|v| v < 8);
            if low_vaf && rng.chance(0.6) {
                (
                    MtbDecision::Rejected,
                    "alteration likely subclonal (low VAF); not considered actionable".to_string(),
                )
            } else if rng.chance(0.07) {
                let why = *rng.pick(&[
                    "performance status deteriorated (WHO 3)",
                    "rapid clinical progression; life expectancy under 3 months",
                    "organ function outside the protocol's limits",
                    "patient preferred best supportive care",
                ]);
                (MtbDecision::Rejected, why.to_string())
            } else if proposal.candidates.len() > 1 && rng.chance(0.07) {
                let c = &proposal.candidates[1];
                (
                    MtbDecision::Approved {
                        cohort_id: c.cohort_id.clone(),
                    },
                    format!(
                        "candidate 2 preferred over {} (prior treatment in the same drug class): {}",
                        proposal.candidates[0].cohort_id, c.rule
                    ),
                )
            } else {
                let c = &proposal.candidates[0];
                (
                    MtbDecision::Approved {
                        cohort_id: c.cohort_id.clone(),
                    },
                    format!("rank 1 approved: {}; {}", c.rule, c.evidence),
                )
            }
        };
        let decided = MatchDecided {
            decision,
            rationale,
            decided_on: day,
        };
        self.settle_patient_through(p, |k| matches!(k, Keep::Proposal))?;
        let cites = self.patients[p].proposal_ref.into_iter().collect();
        let mtb = self.keys.mtb.clone();
        self.submit_about(p, day, &decided, None, &mtb, cites, Keep::Last)?;
        self.recent_yield *= 0.98;
        Ok(())
    }

    fn enrol(&mut self, p: usize, day: Date) -> Result<(), SimError> {
        let Some(c) = self.patients[p].cohort else {
            return Ok(());
        };
        let spec = self.protocol.cohorts[c].clone();
        let enrolled = PatientEnrolled {
            cohort_id: spec.definition.cohort_id.clone(),
            enrolled_on: day,
        };
        self.settle_patient_through(p, |k| matches!(k, Keep::Slot))?;
        let cites = self.patients[p].slot_ref.into_iter().collect();
        self.patient_event(p, day, &enrolled, cites, Keep::Last)?;
        let input = history::PatientPlanInput {
            drug: &DRUGS[spec.drug],
            activity: spec.activity,
            enrolled_on: day,
            model: if self.config.protocol_format == DOCUMENT_FORMAT_COHORT_CATALOGUE {
                history::Model::Format1
            } else {
                history::Model::Current
            },
        };
        let plan = history::plan(&mut self.patients[p].rng, &input);
        self.patients[p].treated = true;
        self.patients[p].death = Some(plan.death);
        for item in plan.items {
            let order = 10 + item.event.order();
            self.push(item.day, order, Action::Planned(p, item.event));
        }
        Ok(())
    }

    fn planned(&mut self, p: usize, day: Date, event: PlannedEvent) -> Result<(), SimError> {
        if self.patients[p].dead && !matches!(event, PlannedEvent::AeUpdated { .. }) {
            return Ok(());
        }
        match event {
            PlannedEvent::Assessment(a) => {
                self.patient_event(p, day, &a, vec![], Keep::Last)?;
            }
            PlannedEvent::Dose { dose, typo } => {
                let keep = typo.map_or(Keep::Last, Keep::Typo);
                self.patient_event(p, day, &dose, vec![], keep)?;
            }
            PlannedEvent::CorrectDose { typo, dose } => {
                self.settle_patient_through(p, |k| matches!(k, Keep::Typo(t) if t == typo))?;
                let Some(original) = self.patients[p].typo_refs.get(&typo).copied() else {
                    return Ok(());
                };
                let correction = Corrected {
                    reason: "dose transcribed with a misplaced decimal; corrected from the pharmacy record"
                        .into(),
                    event_type: DoseAdministered::TYPE,
                    event_version: DoseAdministered::VERSION,
                    payload: tl_schemas::encode(&dose),
                };
                self.patient_event(p, day, &correction, vec![original], Keep::Last)?;
            }
            PlannedEvent::DoseModified { event, cause } => {
                if let Some(id) = cause {
                    self.settle_patient_through(p, |k| matches!(k, Keep::Ae(a) if a == id))?;
                }
                let cites = cause
                    .and_then(|id| self.patients[p].ae_refs.get(&id).copied())
                    .into_iter()
                    .collect();
                self.patient_event(p, day, &event, cites, Keep::Last)?;
            }
            PlannedEvent::AeReported(ae) => {
                let id = ae.ae_id;
                self.patient_event(p, day, &ae, vec![], Keep::Ae(id))?;
            }
            PlannedEvent::AeUpdated { event, by_safety } => {
                let id = event.ae_id;
                self.settle_patient_through(p, |k| matches!(k, Keep::Ae(a) if a == id))?;
                let Some(report) = self.patients[p].ae_refs.get(&event.ae_id).copied() else {
                    return Ok(());
                };
                if by_safety {
                    let safety = self.keys.safety.clone();
                    self.submit_about(p, day, &event, None, &safety, vec![report], Keep::Last)?;
                } else {
                    self.patient_event(p, day, &event, vec![report], Keep::Last)?;
                }
            }
            PlannedEvent::TreatmentEnded(e) => {
                let cites = if e.reason == EndReason::Progression {
                    self.settle_patient(p)?;
                    self.patients[p].last_ref.into_iter().collect()
                } else {
                    vec![]
                };
                self.patient_event(p, day, &e, cites, Keep::Last)?;
            }
            PlannedEvent::Survival(s) => {
                self.patients[p].last_alive = Some(s.last_known_alive);
                self.patient_event(p, day, &s, vec![], Keep::Last)?;
            }
            PlannedEvent::Death(d) => {
                self.patient_event(p, day, &d, vec![], Keep::Last)?;
                self.patients[p].dead = true;
            }
        }
        Ok(())
    }

    /// The data cut-off: every treated patient still alive gets a last survival status; a
    /// death before the cut-off not yet reported is reported now.
    fn cutoff(&mut self, day: Date) -> Result<(), SimError> {
        for p in 0..self.patients.len() {
            let pt = &self.patients[p];
            if !pt.treated || pt.dead {
                continue;
            }
            let death = pt.death.unwrap_or(Date(i32::MAX));
            if death <= day {
                let d = DeathRecorded {
                    died_on: death,
                    cause: "progressive disease".into(),
                    treatment_related: false,
                };
                self.patient_event(p, day, &d, vec![], Keep::Last)?;
                self.patients[p].dead = true;
            } else {
                let back = self.patients[p].rng.range(0, 20) as i32;
                let mut alive = Date(day.0 - back);
                if let Some(last) = self.patients[p].last_alive {
                    alive = alive.max(last);
                }
                let s = SurvivalStatusRecorded {
                    last_known_alive: alive,
                };
                self.patient_event(p, day, &s, vec![], Keep::Last)?;
            }
        }
        Ok(())
    }

    fn run(&mut self) -> Result<(), SimError> {
        self.push(self.config.start, 0, Action::Arrival);
        for v in 2..=self.protocol.versions() {
            if let Some(d) = self.protocol.amendment_date(self.config.start, v) {
                self.push(d, 1, Action::Amend(v));
            }
        }
        while let Some(Reverse(q)) = self.queue.pop() {
            let day = Date(q.day);
            if let Some(c) = self.cutoff {
                if day > c {
                    break;
                }
            }
            match q.action {
                Action::Amend(v) => self.amend(day, v)?,
                Action::Arrival => self.arrival(day)?,
                Action::Sequence(p) => self.sequence(p, day)?,
                Action::Decide(p) => self.decide(p, day)?,
                Action::Enrol(p) => self.enrol(p, day)?,
                Action::Planned(p, e) => self.planned(p, day, e)?,
                Action::Cutoff => {
                    self.cutoff(day)?;
                    self.run_deciders(day)?;
                    break;
                }
            }
            // The services follow the ledger: they read what this step recorded and answer.
            self.run_deciders(day)?;
        }
        self.settle_all()
    }
}

/// Runs the simulation into a new embedded ledger in `dir` with the given decider.
pub fn run(
    dir: &Path,
    config: &SimConfig,
    decider: &mut dyn Decider,
) -> Result<(SimReport, SimKeys), SimError> {
    run_on(
        config,
        decider,
        &mut |keys: &SimKeys, created: UtcMicros| {
            Ok(Box::new(create_embedded(dir, config, keys, created)?) as Box<dyn crate::SimLedger>)
        },
    )
}

/// The simulation's new embedded ledger in `dir`, with grouped durability (the simulated
/// clock orders records; the whole run is flushed at the end).
pub(crate) fn create_embedded(
    dir: &Path,
    config: &SimConfig,
    keys: &SimKeys,
    created: UtcMicros,
) -> Result<EmbeddedLedger<TrialRules>, SimError> {
    let mut ledger = EmbeddedLedger::create(
        dir,
        &config.trial,
        config.partitions,
        &config.title,
        &keys.root.key,
        keys.sequencer.key.clone(),
        TrialRules,
        created,
    )?;
    ledger.set_durability(Durability::Grouped {
        max_pending: 10_000,
    })?;
    Ok(ledger)
}

/// [`run`] on a ledger `open` provides (see [`crate::simulate_on`]).
pub fn run_on(
    config: &SimConfig,
    decider: &mut dyn Decider,
    open: &mut crate::OpenLedger<'_>,
) -> Result<(SimReport, SimKeys), SimError> {
    let started = Instant::now();
    let mut master = SimRng::from_seed(config.seed);
    // The first fork of the master stream: `keys_of_seed` derives the same keys.
    let mut key_rng = master.fork("keys");
    let keys = SimKeys::derive(&mut key_rng);
    // Forked from the key stream after the signing keys, so that it moves no other draw.
    let personal_rng = key_rng.fork("personal-data");
    let ids = master.fork("submission-ids");
    let clock_rng = master.fork("clock");
    let protocol = Protocol::drup();
    // The key store opens first: a bad key-store folder should not leave a ledger behind.
    let importer = match &config.keystore {
        Some(dir) => Some(KeyImporter::start(dir, &config.trial)?),
        None => None,
    };
    let created = UtcMicros(day_start(config.start) - 30 * MICROS_PER_DAY);
    let ledger = open(&keys, created)?;
    let mut engine = Engine {
        config,
        protocol,
        ledger,
        keys,
        decider,
        master,
        ids,
        clock_rng,
        personal_rng,
        importer,
        clock: created.0,
        queue: BinaryHeap::new(),
        seq: 0,
        patients: Vec::new(),
        names: BTreeSet::new(),
        index: HashMap::new(),
        protocol_version: 0,
        protocol_position: 0,
        slotted: 0,
        recent_yield: 0.5,
        cutoff: None,
        closed_on: None,
        msi_expansion_open: false,
        by_type: BTreeMap::new(),
        records: 2,
        in_flight: VecDeque::new(),
        answer_in_flight: false,
    };
    engine.by_type.insert("TrialRegistered", 1);
    engine.by_type.insert("KeyEnrolled", 1);
    engine.decider.start(&config.trial, &engine.keys);
    // Enrol every key, then protocol version 1, a month before the first patient.
    let setup_day = Date(config.start.0 - 30);
    let root = engine.keys.root.clone();
    // The enrolments are independent of each other: ordered together.
    let mut enrolments = Vec::new();
    for k in engine.keys.enrolled() {
        let Some(role) = k.role else { continue };
        if role == Role::Sequencer {
            continue;
        }
        let enrol = KeyEnrolled {
            public_key: k.key.public_key(),
            name: k.name.clone(),
            role,
        };
        enrolments.push(engine.prepare(setup_day, Subject::Trial, &enrol, None, &root, vec![]));
    }
    for outcome in engine.ledger.submit_many(enrolments)? {
        engine.accept(outcome, &Subject::Trial, KeyEnrolled::NAME)?;
    }
    let ran = engine
        .amend(Date(config.start.0 - 14), 1)
        .and_then(|()| engine.run());
    // Every key is stored (and fsynced) before the final flush of the ledger, even when the
    // run failed, so that no key-store thread outlives it.
    let stored = engine.finish_keys();
    ran?;
    let personal_keys_stored = stored?;
    engine.ledger.flush()?;
    let screened = engine.patients.len() as u32;
    let treated = engine.patients.iter().filter(|p| p.treated).count() as u32;
    let report = SimReport {
        trial: config.trial.clone(),
        root_public_key: engine.keys.root.key.public_key(),
        partitions: config.partitions,
        records: engine.records,
        by_type: engine
            .by_type
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        screened,
        treated,
        accrual_start: config.start,
        accrual_closed: engine.closed_on,
        cutoff: engine.cutoff,
        personal_keys_stored,
        elapsed: started.elapsed(),
    };
    Ok((report, engine.keys))
}
