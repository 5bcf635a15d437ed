#![forbid(unsafe_code)]
//! # tl-domain: the trial's domain
//!
//! * [`rules`]: [`TrialRules`], the patient and cohort state machine, plugged into the
//!   sequencer and the verifier through `tl_ledger::DomainRules`;
//! * [`personal`]: personal data encrypted per patient under keys kept outside the ledger,
//!   so that destroying a key erases the data while every hash still verifies.

pub mod personal;
pub mod rules;

pub use rules::TrialRules;
