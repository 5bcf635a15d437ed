#![forbid(unsafe_code)]
//! # tl-domain: the trial's domain
//!
//! * [`rules`]: [`TrialRules`], the patient and cohort state machine, plugged into the
//!   sequencer and the verifier through `tl_ledger::DomainRules`;
//! * [`matcher`], [`cohort_engine`]: the deciding services' decisions as pure functions
//!   (matching a sequencing result against the cohort catalogue; slots and the two-stage rule);
//! * [`deciders`]: the matcher and the cohort engine as services driven by the ledger's
//!   records, replayable, producing the submissions they sign;
//! * [`personal`]: personal data encrypted per patient under keys kept outside the ledger,
//!   so that destroying a key erases the data while every hash still verifies.

pub mod cohort_engine;
pub mod deciders;
pub mod intake;
pub mod matcher;
pub mod personal;
pub mod rules;

pub use rules::TrialRules;
