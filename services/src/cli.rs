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
    /// Print the latest signed checkpoint of each partition (or one); `--fresh` signs one for
    /// the current size, `--save` appends what is printed to a file of held checkpoints.
    Checkpoint(CheckpointArgs),
    /// Print an inclusion or a consistency proof (JSON) for a partition's Merkle tree.
    #[command(subcommand)]
    Prove(ProveCommand),
    /// Verify a proof file offline, without the ledger.
    CheckProof(CheckProofArgs),
    /// Print the decision trail of a patient or a cohort from a ledger that verifies: every
    /// record, complete by back-links, with signers, manifestations and inclusion proofs.
    Trail(TrailArgs),
    /// Print a read model (enrollment, safety or dossier), brought up to date from the
    /// verified ledger first.
    View(ViewArgs),
    /// Run the projector: keep the three read models up to date from the verified ledger until
    /// SIGTERM or Ctrl-C (`--once`: catch up and exit).
    Project(ProjectArgs),
    /// Replay the demo ledger into all three views with verification on, beside the
    /// batch-verification limit measured in the same run.
    BenchProject(BenchProjectArgs),
}

/// Which read model `view` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ViewName {
    /// The funnel and the cohorts.
    Enrollment,
    /// Adverse events, deaths, SUSAR clocks.
    Safety,
    /// Per-patient outcomes and the trial's and cohorts' figures.
    Dossier,
}

/// Where the projections read from and keep their databases.
#[derive(Debug, Args, Clone)]
pub struct ProjectionArgs {
    /// The trial's data folder (the embedded ledger).
    #[arg(
        long,
        value_name = "DIR",
        env = "TRIAL_LEDGER_DATA",
        required_unless_present = "kafka"
    )]
    pub data: Option<PathBuf>,
    /// The views' SQLite databases (default: DIR/views).
    #[arg(long, value_name = "DIR")]
    pub db: Option<PathBuf>,
    /// Trust file with the pinned root key (default: DIR/trust.json).
    #[arg(long, value_name = "FILE")]
    pub trust: Option<PathBuf>,
    /// Read from Kafka instead (not supported yet).
    #[arg(long, value_name = "BOOTSTRAP", requires = "trial")]
    pub kafka: Option<String>,
    /// The trial id on Kafka.
    #[arg(long, value_name = "ID")]
    pub trial: Option<String>,
    /// Records read per partition per poll (and so the most records in one view transaction
    /// per partition).
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch: u64,
}

/// `view`.
#[derive(Debug, Args)]
pub struct ViewArgs {
    /// The read model.
    #[arg(value_enum)]
    pub view: ViewName,
    #[command(flatten)]
    pub source: ProjectionArgs,
    /// Only this cohort.
    #[arg(long, value_name = "ID")]
    pub cohort: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `project`.
#[derive(Debug, Args)]
pub struct ProjectArgs {
    #[command(flatten)]
    pub source: ProjectionArgs,
    /// Catch up once and exit.
    #[arg(long)]
    pub once: bool,
    /// Milliseconds between polls of the log when caught up.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub interval_ms: u64,
}

/// `bench-project`.
#[derive(Debug, Args)]
pub struct BenchProjectArgs {
    /// Replay this data folder's ledger (default: simulate the default demo in a temporary
    /// folder first).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Records read per partition per poll.
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch: u64,
}

/// `trail`.
#[derive(Debug, Args)]
pub struct TrailArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The subject: `patient:ID` or `cohort:ID`.
    #[arg(long, value_name = "ID")]
    pub subject: String,
    /// Print the trail as JSON.
    #[arg(long)]
    pub json: bool,
    /// Trust file with the pinned root key (default: DIR/trust.json, with a warning).
    #[arg(long, value_name = "FILE")]
    pub trust: Option<PathBuf>,
}

/// `checkpoint`.
#[derive(Debug, Args)]
pub struct CheckpointArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Only this partition (default: every partition that has a checkpoint).
    #[arg(long, value_name = "P")]
    pub partition: Option<u32>,
    /// Sign and publish a checkpoint for the current size first (needs the sequencer key, as
    /// `submit` does).
    #[arg(long)]
    pub fresh: bool,
    /// Append the printed checkpoints to this file of held checkpoints (created if missing),
    /// for `verify --against`.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
}

/// `prove ...`.
#[derive(Debug, Subcommand)]
pub enum ProveCommand {
    /// That a record is in the partition's tree: against the checkpoint of size S, or the
    /// latest published checkpoint that covers it, or else the unsigned current root.
    Inclusion {
        #[command(flatten)]
        data: DataArgs,
        /// The partition.
        #[arg(long, value_name = "P")]
        partition: u32,
        /// The record's sequence number.
        #[arg(long, value_name = "N")]
        seq: u64,
        /// The tree size to prove against (default: the latest published checkpoint).
        #[arg(long, value_name = "S")]
        size: Option<u64>,
    },
    /// That the partition's tree of M records is a prefix of its tree of N records.
    Consistency {
        #[command(flatten)]
        data: DataArgs,
        /// The partition.
        #[arg(long, value_name = "P")]
        partition: u32,
        /// The earlier tree size.
        #[arg(long, value_name = "M")]
        from: u64,
        /// The later tree size.
        #[arg(long, value_name = "N")]
        to: u64,
    },
}

/// `check-proof`.
#[derive(Debug, Args)]
pub struct CheckProofArgs {
    /// The proof file (JSON, as `prove` prints it).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Trust file pinning the trial's root key: the proof's sequencer key counts only if its
    /// enrolment record (carried in the proof) is signed by that root.
    #[arg(long, value_name = "FILE")]
    pub trust: Option<PathBuf>,
    /// Pin the sequencer public key (64 hex digits) directly.
    #[arg(long, value_name = "HEX")]
    pub sequencer_key: Option<String>,
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
    /// Rotate the trial root key: signed by the current root, co-signed by the new one.
    RotateRoot {
        #[command(flatten)]
        data: DataArgs,
        /// The current (old) root key file (default: DIR/keys/root.key).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// The new root's encrypted key file (made with `keys new`; its role is ignored).
        #[arg(long, value_name = "FILE")]
        new_key: PathBuf,
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
    /// Also check that the ledger still extends every checkpoint held in FILE (as written by
    /// `checkpoint --save`), with consistency proofs.
    #[arg(long, value_name = "FILE")]
    pub against: Option<PathBuf>,
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
