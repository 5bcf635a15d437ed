//! The command line (clap). One binary, `trial-ledger`; DESIGN.md section 8.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// trial-ledger: a signed, hash-chained ledger for precision-oncology trials.
#[derive(Debug, Parser)]
#[command(name = "trial-ledger", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a trial: root key, sequencer key, trust file and the embedded ledger.
    Init(InitArgs),
    /// Create, enrol, revoke and list keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Sign and submit one event (JSON); prints the receipt.
    Submit(SubmitArgs),
    /// Verify the whole ledger against the pinned root key.
    Verify(VerifyArgs),
    /// Measure signing, appends, full verification and the batch-verification limit.
    Bench(BenchArgs),
    /// Crypto-shred a patient's personal data: destroy the patient's data key.
    Erase(EraseArgs),
    /// Run a simulated DRUP-like trial end to end into a new data folder, verify it, and print
    /// a summary with the trial-level figures.
    Demo(DemoArgs),
}

/// `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Data folder to create (the layout `init` writes); must not hold a ledger yet.
    #[arg(long, value_name = "DIR", default_value = "ledger-data")]
    pub data: PathBuf,
    /// Trial id: 1-64 of [a-z0-9._-].
    #[arg(long, value_name = "ID", default_value = "drup-demo")]
    pub trial: String,
    /// Patients to treat (accrual closes when this many have a slot); DRUP treated 1,610.
    #[arg(long, value_name = "N", default_value_t = tl_sim::DEFAULT_TREATED,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub patients: u32,
    /// Seed of the deterministic simulation: one seed gives byte-identical ledgers.
    #[arg(long, value_name = "S", default_value_t = tl_sim::DEFAULT_SEED)]
    pub seed: u64,
}

/// `erase`.
#[derive(Debug, Args)]
pub struct EraseArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The patient, as `patient:ID`.
    #[arg(long, value_name = "SUBJECT")]
    pub subject: String,
    /// The key store of personal-data keys (default: DIR/keystore).
    #[arg(long, value_name = "DIR")]
    pub keystore: Option<PathBuf>,
}

/// Where the embedded ledger lives.
#[derive(Debug, Args, Clone)]
pub struct DataArgs {
    /// The trial's data folder (as written by `init`).
    #[arg(long, value_name = "DIR", env = "TRIAL_LEDGER_DATA")]
    pub data: PathBuf,
}

/// `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Data folder to create; must not hold a trial yet.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Trial id: 1-64 of [a-z0-9._-].
    #[arg(long, value_name = "ID")]
    pub trial: String,
    /// Partition count, fixed for the trial's life. Choose generously: it bounds scale-out.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub partitions: u32,
    /// Human title of the trial.
    #[arg(long, default_value = "")]
    pub title: String,
}

/// `keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a new encrypted key file (and FILE.pub.json beside it).
    New {
        /// Printed name of the key holder (signature manifestation).
        #[arg(long)]
        name: String,
        /// Role: lab, matcher, mtb, investigator, safety, sequencer, cohort-engine, admin.
        #[arg(long)]
        role: String,
        /// Key file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Enrol a public key (a .pub.json file) with its role; signed by the root key.
    Enrol {
        #[command(flatten)]
        data: DataArgs,
        /// The root key file (default: DIR/keys/root.key).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// The public key file written by `keys new`.
        #[arg(value_name = "PUBLIC.json")]
        public: PathBuf,
    },
    /// Revoke a key; signed by the root key.
    Revoke {
        #[command(flatten)]
        data: DataArgs,
        /// The root key file (default: DIR/keys/root.key).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// Key id (hex) to revoke.
        #[arg(long, value_name = "HEX")]
        key_id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// List the registry's keys.
    List {
        #[command(flatten)]
        data: DataArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The author's key file.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The event, as JSON (see README).
    #[arg(value_name = "EVENT.json")]
    pub event: PathBuf,
    /// Print the receipt as JSON.
    #[arg(long)]
    pub json: bool,
    /// Key store for personal data given in the event (default: DIR/keystore).
    #[arg(long, value_name = "DIR")]
    pub keystore: Option<PathBuf>,
}

/// `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Trust file with the pinned root key (default: DIR/trust.json, with a warning).
    #[arg(long, value_name = "FILE")]
    pub trust: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Records to write and verify.
    #[arg(long, default_value_t = 20_000)]
    pub records: u64,
    /// Folder for the benchmark's ledger (default: a temporary folder).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}
