#![forbid(unsafe_code)]
#![warn(missing_docs)]
//! # tl-sim: a seeded, deterministic simulation of a DRUP-like trial
//!
//! [`simulate`] creates a trial in an embedded ledger and plays seven to ten years of accrual on
//! a simulated clock: patients are registered at eight sites, consent, are sequenced, matched
//! (by the matcher service, through a [`Decider`]), decided on by the molecular tumour board, given a slot in their cohort,
//! enrolled, dosed, scanned and followed up until death or the data cut-off. Every event is
//! signed by its author's key and submitted through the sequencer, so the trial's state
//! machine ([`tl_domain::TrialRules`]) judges each one; a refusal stops the simulation with
//! the sequencer's reason.
//!
//! In deterministic mode everything comes from the seed through ChaCha20 streams
//! ([`rng::SimRng`]): the keys, the submission ids, the clock (client times and the ordering
//! times passed to the sequencer), every clinical draw, and each patient's personal-data key
//! and nonce. One seed gives byte-identical ledgers; [`digest::ledger_digest`] fingerprints
//! one, and the digest test guards it.
//!
//! Every `PatientRegistered` carries synthetic personal data (initials, year of birth, a fake
//! hospital number), sealed under the patient's own data key ([`personal`]). With
//! [`SimConfig::keystore`] set, the keys are imported into that key store, so that
//! `trial-ledger erase` can crypto-shred a simulated patient.
//!
//! The default run (1,610 treated patients) is calibrated to the DRUP report (DESIGN.md
//! section 1); [`figures::from_ledger`] computes the trial-level figures from the emitted
//! events with tl-clinical's rules, never from the simulator's counters.
//!
//! | module | what |
//! |---|---|
//! | [`catalogue`] | 37 drugs, the cohort catalogue in three protocol versions, each cohort's hidden true activity |
//! | [`genomics`] | sequencing results by tumour type |
//! | [`decider`] | the [`Decider`] trait and [`ServiceDecider`]: tl-domain's matcher and cohort engine services, driven step by step over the ledger |
//! | [`history`] | a treated patient's latent course and recorded history |
//! | [`personal`] | synthetic personal data, sealed under per-patient keys derived from the seed |
//! | [`figures`] | the trial-level figures and ledger summary, from the ledger |
//! | [`digest`] | a ledger's SHA-256 fingerprint |
//! | [`template`] | a fast parallel generator of large valid ledgers from fixed patient patterns (scale tests, benchmarks) |

pub mod catalogue;
pub mod decider;
pub mod digest;
mod engine;
pub mod figures;
pub mod genomics;
pub mod history;
pub mod personal;
pub mod rng;
pub mod template;

pub use decider::{Decider, ServiceDecider};
pub use figures::{from_ledger, TrialFigures};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tl_ledger::SigningKey;
use tl_schemas::{Date, Role, TrialId};

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The trial id.
    pub trial: TrialId,
    /// The trial's title (in `TrialRegistered`).
    pub title: String,
    /// The seed: everything else follows from it.
    pub seed: u64,
    /// Patients to treat: accrual closes when this many have a slot.
    pub treated_patients: u32,
    /// Partition count of the new ledger.
    pub partitions: u32,
    /// The first day of accrual.
    pub start: Date,
    /// The accrual period the arrival rate aims at, in days.
    pub accrual_days: i32,
    /// Follow-up after accrual closes: the data cut-off is this many days later.
    pub follow_up_days: i32,
    /// The key store (`tl_domain::personal::KeyStore`) that receives every patient's
    /// personal-data key, normally the data folder's `keystore/`; created if missing. `None`
    /// (the default): the keys are not stored, so the sealed personal data cannot be read
    /// (short of deriving the keys again from the seed). The ledger's bytes are the same
    /// either way.
    pub keystore: Option<PathBuf>,
    /// The protocol document format the trial's amendments are written in (FORMAT.md §10a.4):
    /// 2 (the default) states the analysis conventions ([`catalogue::DEMO_CONVENTIONS`]); 1
    /// states none and is read with the format-1 definitions, giving byte for byte the ledgers
    /// of the code before format 2 existed. Any other value means 2.
    pub protocol_format: u16,
}

/// The default seed.
pub const DEFAULT_SEED: u64 = 2016;
/// The default number of treated patients (DRUP's 1,610).
pub const DEFAULT_TREATED: u32 = 1610;

impl SimConfig {
    /// The default simulation: accrual from 2016-09-01 until `treated_patients` have a slot,
    /// with an arrival rate aimed at seven years (cohorts that close or fill while outcomes are
    /// awaited stretch it: with the default size and seed 2016, 1,609 patients have a slot
    /// within seven years and the last one on 2026-06-07, as few cohorts are open by then),
    /// a data cut-off six months after accrual closes, 8 partitions, no key store.
    pub fn new(trial: TrialId, seed: u64, treated_patients: u32) -> Self {
        SimConfig {
            title: format!("{trial}: a simulated DRUP-like trial (seed {seed})"),
            trial,
            seed,
            treated_patients,
            partitions: 8,
            start: Date::from_ymd(2016, 9, 1).unwrap_or(Date(17_045)),
            accrual_days: 7 * 365,
            follow_up_days: 182,
            keystore: None,
            protocol_format: tl_schemas::clinical::DOCUMENT_FORMAT_COHORT_CATALOGUE_2,
        }
    }
}

/// One of the simulation's keys, derived from the seed.
#[derive(Clone, Debug)]
pub struct SimKey {
    /// The key holder's printed name.
    pub name: String,
    /// Its role (`None` for the trial root).
    pub role: Option<Role>,
    /// The Ed25519 seed it was made from (deterministic mode: derived from the simulation seed).
    pub seed: [u8; 32],
    /// The key.
    pub key: SigningKey,
}

impl SimKey {
    fn derive(rng: &mut rng::SimRng, name: impl Into<String>, role: Option<Role>) -> Self {
        let seed = rng.bytes32();
        SimKey {
            name: name.into(),
            role,
            seed,
            key: SigningKey::from_seed(seed),
        }
    }
}

/// Every key of the simulated trial.
#[derive(Clone, Debug)]
pub struct SimKeys {
    /// The trial root.
    pub root: SimKey,
    /// The sequencer.
    pub sequencer: SimKey,
    /// The trial administrator (authors the protocol).
    pub admin: SimKey,
    /// The sequencing laboratories.
    pub labs: Vec<SimKey>,
    /// The matcher service.
    pub matcher: SimKey,
    /// The molecular tumour board.
    pub mtb: SimKey,
    /// The cohort engine service.
    pub cohort_engine: SimKey,
    /// The safety officer.
    pub safety: SimKey,
    /// Two investigators per site, in [`catalogue::SITES`] order.
    pub investigators: Vec<SimKey>,
}

impl SimKeys {
    /// Derives every key from a stream, in a fixed order.
    pub fn derive(rng: &mut rng::SimRng) -> Self {
        let root = SimKey::derive(rng, "trial root", None);
        let sequencer = SimKey::derive(rng, "sequencer", Some(Role::Sequencer));
        let admin = SimKey::derive(rng, "trial office", Some(Role::Admin));
        let labs = ["WGS lab A", "WGS lab B"]
            .iter()
            .map(|n| SimKey::derive(rng, *n, Some(Role::Lab)))
            .collect();
        let matcher = SimKey::derive(rng, "matcher", Some(Role::Matcher));
        let mtb = SimKey::derive(rng, "molecular tumour board", Some(Role::Mtb));
        let cohort_engine = SimKey::derive(rng, "cohort engine", Some(Role::CohortEngine));
        let safety = SimKey::derive(rng, "safety officer", Some(Role::Safety));
        let investigators = catalogue::SITES
            .iter()
            .flat_map(|(site, _)| {
                [
                    format!("investigator 1, {site}"),
                    format!("investigator 2, {site}"),
                ]
            })
            .map(|n| SimKey::derive(rng, n, Some(Role::Investigator)))
            .collect();
        SimKeys {
            root,
            sequencer,
            admin,
            labs,
            matcher,
            mtb,
            cohort_engine,
            safety,
            investigators,
        }
    }

    /// Every key but the root, in enrolment order (the sequencer first).
    pub fn enrolled(&self) -> Vec<SimKey> {
        let mut v = vec![self.sequencer.clone(), self.admin.clone()];
        v.extend(self.labs.iter().cloned());
        v.extend([
            self.matcher.clone(),
            self.mtb.clone(),
            self.cohort_engine.clone(),
            self.safety.clone(),
        ]);
        v.extend(self.investigators.iter().cloned());
        v
    }
}

/// The keys a simulation with `seed` derives: the same as [`simulate`] returns, known before
/// it runs (the demo writes the trust file and key files before it simulates).
pub fn keys_of_seed(seed: u64) -> SimKeys {
    SimKeys::derive(&mut rng::SimRng::from_seed(seed).fork("keys"))
}

/// What a simulation did (the simulator's own counts; the figures come from the ledger).
#[derive(Clone, Debug)]
pub struct SimReport {
    /// The trial.
    pub trial: TrialId,
    /// The root public key (what an auditor pins).
    pub root_public_key: [u8; 32],
    /// Partitions.
    pub partitions: u32,
    /// Records written, bootstrap included.
    pub records: u64,
    /// Records by event type name.
    pub by_type: BTreeMap<String, u64>,
    /// Patients registered for screening.
    pub screened: u32,
    /// Patients enrolled and treated.
    pub treated: u32,
    /// First day of accrual.
    pub accrual_start: Date,
    /// The day accrual closed (the target was reached), if it did.
    pub accrual_closed: Option<Date>,
    /// The data cut-off, if accrual closed.
    pub cutoff: Option<Date>,
    /// Personal-data keys stored in [`SimConfig::keystore`] (one per screened patient; 0
    /// without a key store).
    pub personal_keys_stored: u32,
    /// Wall time of the simulation, submission and flush included.
    pub elapsed: Duration,
}

/// Why a simulation stopped.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The ledger failed (store, I/O).
    #[error(transparent)]
    Ledger(#[from] tl_ledger::Error),
    /// The personal-data key store failed, or refused a key (the patient was erased, or has
    /// another key: a key store left over from another run).
    #[error(transparent)]
    PersonalData(#[from] tl_domain::personal::PersonalDataError),
    /// The sequencer refused an event: a bug in the simulation.
    #[error("the sequencer refused {event} for {subject}: {reason}")]
    Refused {
        /// Event type.
        event: String,
        /// Subject.
        subject: String,
        /// The sequencer's reason.
        reason: String,
    },
    /// Accrual cannot reach the target: too few open cohorts for the patients screened.
    #[error("accrual stalled: {screened} patients screened but only {treated} given a slot")]
    Stalled {
        /// Patients screened.
        screened: u32,
        /// Patients given a slot.
        treated: u32,
    },
    /// An internal inconsistency.
    #[error("simulation error: {0}")]
    Invalid(String),
}

/// Runs the simulation into a new embedded ledger in `dir` (which must not hold one), with
/// the matcher and the cohort engine services ([`ServiceDecider`]) deciding from the ledger.
/// Returns the simulator's report and the keys it derived.
pub fn simulate(dir: &Path, config: &SimConfig) -> Result<(SimReport, SimKeys), SimError> {
    let mut decider = ServiceDecider::new();
    engine::run(dir, config, &mut decider)
}

/// [`simulate`], calling `observe` with the simulated clock of every submission (for a
/// progress display). The ledger is byte for byte the one [`simulate`] writes.
pub fn simulate_observed(
    dir: &Path,
    config: &SimConfig,
    observe: Box<dyn FnMut(tl_schemas::UtcMicros)>,
) -> Result<(SimReport, SimKeys), SimError> {
    let mut decider = ServiceDecider::new();
    let mut observe = Some(observe);
    engine::run_on(config, &mut decider, &mut |keys, created| {
        let ledger = engine::create_embedded(dir, config, keys, created)?;
        let observe = observe
            .take()
            .ok_or_else(|| SimError::Invalid("the simulation opened its ledger twice".into()))?;
        Ok(Box::new(Observed {
            inner: ledger,
            observe,
        }) as Box<dyn SimLedger>)
    })
}

/// A simulation ledger that reports the simulated clock of each submission.
struct Observed<L> {
    /// The ledger written to.
    inner: L,
    /// Told the simulated time of every submission.
    observe: Box<dyn FnMut(tl_schemas::UtcMicros)>,
}

impl<L: SimLedger> tl_domain::deciders::RecordFeed for Observed<L> {
    fn partition_count(&self) -> u32 {
        self.inner.partition_count()
    }
    fn len(&self, partition: u32) -> u64 {
        self.inner.len(partition)
    }
    fn read(
        &self,
        partition: u32,
        from: u64,
        max: usize,
    ) -> Result<Vec<Vec<u8>>, tl_ledger::Error> {
        self.inner.read(partition, from, max)
    }
}

impl<L: SimLedger> SimLedger for Observed<L> {
    fn submit(
        &mut self,
        signed: tl_schemas::SignedSubmission,
        now: tl_schemas::UtcMicros,
    ) -> Result<tl_ledger::Outcome, SimError> {
        (self.observe)(now);
        self.inner.submit(signed, now)
    }
    fn begin(
        &mut self,
        signed: tl_schemas::SignedSubmission,
        now: tl_schemas::UtcMicros,
    ) -> Result<Begun, SimError> {
        (self.observe)(now);
        self.inner.begin(signed, now)
    }
    fn settle(&mut self, token: u64) -> Result<tl_ledger::Outcome, SimError> {
        self.inner.settle(token)
    }
    fn flush(&mut self) -> Result<(), SimError> {
        self.inner.flush()
    }
}

/// [`simulate`] with another [`Decider`].
pub fn simulate_with(
    dir: &Path,
    config: &SimConfig,
    decider: &mut dyn Decider,
) -> Result<(SimReport, SimKeys), SimError> {
    engine::run(dir, config, decider)
}

/// Where the simulation's signed submissions go, and what the deciding services read back.
///
/// The embedded ledger is the default (deterministic: the simulated clock orders records).
/// Another implementation may hand submissions to a sequencer elsewhere (Kafka), which seals
/// them with its own clock, and keep them in flight ([`SimLedger::begin`]): the simulation
/// waits for a record only when a later event cites it or the deciding services may answer
/// it.
pub trait SimLedger: tl_domain::deciders::RecordFeed {
    /// Orders one signed submission; `now` is the simulated clock.
    fn submit(
        &mut self,
        signed: tl_schemas::SignedSubmission,
        now: tl_schemas::UtcMicros,
    ) -> Result<tl_ledger::Outcome, SimError>;
    /// Orders several independent signed submissions, in order, and returns their outcomes
    /// in the same order. The default submits them one by one; a ledger with pipelined
    /// writers (Kafka) keeps them in flight together. Each stands on its own: a refusal of
    /// one does not stop the others.
    fn submit_many(
        &mut self,
        batch: Vec<(tl_schemas::SignedSubmission, tl_schemas::UtcMicros)>,
    ) -> Result<Vec<tl_ledger::Outcome>, SimError> {
        batch
            .into_iter()
            .map(|(signed, now)| self.submit(signed, now))
            .collect()
    }
    /// Starts ordering one signed submission without waiting for its outcome, if the ledger
    /// can keep it in flight; its outcome is then taken with [`SimLedger::settle`]. The
    /// default orders it at once ([`SimLedger::submit`]). Submissions of one subject are
    /// ordered in the order begun.
    fn begin(
        &mut self,
        signed: tl_schemas::SignedSubmission,
        now: tl_schemas::UtcMicros,
    ) -> Result<Begun, SimError> {
        Ok(Begun::Done(self.submit(signed, now)?))
    }
    /// Awaits and takes the outcome of a submission [`SimLedger::begin`] kept in flight.
    fn settle(&mut self, token: u64) -> Result<tl_ledger::Outcome, SimError> {
        Err(SimError::Invalid(format!(
            "submission {token} is not in flight: this ledger orders each at once"
        )))
    }
    /// Makes everything submitted durable.
    fn flush(&mut self) -> Result<(), SimError>;
}

/// What [`SimLedger::begin`] did with a submission.
#[derive(Debug)]
pub enum Begun {
    /// Ordered at once: its outcome.
    Done(tl_ledger::Outcome),
    /// In flight: the token to settle it with.
    InFlight(u64),
}

impl SimLedger for tl_ledger::EmbeddedLedger<tl_domain::TrialRules> {
    fn submit(
        &mut self,
        signed: tl_schemas::SignedSubmission,
        now: tl_schemas::UtcMicros,
    ) -> Result<tl_ledger::Outcome, SimError> {
        Ok(self.submit_decoded(signed, now)?)
    }
    fn flush(&mut self) -> Result<(), SimError> {
        Ok(tl_ledger::EmbeddedLedger::flush(self)?)
    }
}

/// Opens the simulation's ledger once its keys are derived: given the keys and the simulated
/// time of the bootstrap, returns a ledger holding the trial's two bootstrap records.
pub type OpenLedger<'a> =
    dyn FnMut(&SimKeys, tl_schemas::UtcMicros) -> Result<Box<dyn SimLedger>, SimError> + 'a;

/// Runs the simulation on a ledger that `open` provides once the simulation's keys are
/// derived: it must hold exactly the two bootstrap records of `config.trial`, sealed by
/// `keys.root`, enrolling `keys.sequencer` (for example a new trial on Kafka, with its
/// sequencer running). `created` is the simulated time of the bootstrap.
pub fn simulate_on(
    config: &SimConfig,
    decider: &mut dyn Decider,
    open: &mut OpenLedger<'_>,
) -> Result<(SimReport, SimKeys), SimError> {
    engine::run_on(config, decider, open)
}
