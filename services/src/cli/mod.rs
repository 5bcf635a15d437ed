//! The command line (clap). One binary, `trial-ledger`; DESIGN.md section 8.

pub mod cmd;
pub mod event_json;
pub mod output;
pub mod remote;
pub mod secrets;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// trial-ledger: a signed, hash-chained ledger for precision-oncology trials.
#[derive(Debug, Parser)]
#[command(name = "trial-ledger", version, about, long_about = None)]
pub struct Cli {
    /// Passphrase files, one per key (global options).
    #[command(flatten)]
    pub passphrases: PassphraseArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Where passphrases come from when not from the environment or a prompt: one file per key,
/// because environment variables leak into process listings and crash dumps. Each file's first
/// line is the passphrase.
#[derive(Debug, Args, Clone, Default)]
pub struct PassphraseArgs {
    /// File with the passphrase of the key given with --key (or made by `keys new`);
    /// instead of TRIAL_LEDGER_PASSPHRASE.
    #[arg(long, value_name = "FILE", global = true)]
    pub passphrase_file: Option<PathBuf>,
    /// File with the passphrase of the trial root key; instead of TRIAL_LEDGER_ROOT_PASSPHRASE.
    #[arg(long, value_name = "FILE", global = true)]
    pub root_passphrase_file: Option<PathBuf>,
    /// File with the passphrase of the sequencer key; instead of
    /// TRIAL_LEDGER_SEQUENCER_PASSPHRASE.
    #[arg(long, value_name = "FILE", global = true)]
    pub sequencer_passphrase_file: Option<PathBuf>,
}

impl From<PassphraseArgs> for secrets::PassphraseFiles {
    fn from(a: PassphraseArgs) -> Self {
        secrets::PassphraseFiles {
            key: a.passphrase_file,
            root: a.root_passphrase_file,
            sequencer: a.sequencer_passphrase_file,
            new_key: None,
        }
    }
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
    /// Run the sequencer on Kafka as a long-lived service: consume intake, validate, chain,
    /// seal and produce to the ledger in transactions. Stops cleanly on SIGTERM or Ctrl-C.
    Sequencer(SequencerArgs),
    /// The production-mode check of a trial on a secured Kafka cluster, by hand: refuses
    /// (exit 1) when any principal but the sequencer may write the ledger topic, when the
    /// brokers allow access without ACLs, or when a super user is not a broker or controller.
    KafkaCheck(KafkaCheckArgs),
    /// Run the matcher service: follow the ledger (embedded or on Kafka) and propose cohorts
    /// (MatchProposed) for each new sequencing result, signed with a matcher key.
    Matcher(ServiceArgs),
    /// Run the cohort-engine service: follow the ledger (embedded or on Kafka), assign or
    /// refuse slots after MTB approvals and decide cohort stages as outcomes arrive, signed with
    /// a cohort-engine key.
    CohortEngine(CohortEngineArgs),
    /// Write an offline audit bundle (records, checkpoints, proofs, registry and trust
    /// anchor) of a patient, a cohort or the whole ledger, from a ledger that verifies.
    Export(ExportArgs),
    /// Verify an audit bundle offline, without the ledger.
    VerifyBundle(VerifyBundleArgs),
    /// Write a reimbursement dossier (figures with exact intervals, plots, the evidence bundle
    /// and a manifest signed by an admin key) of a cohort, the positive cohorts or all, from a
    /// ledger that verifies.
    Dossier(DossierArgs),
    /// Check a dossier as its receiver: the manifest's signature, the evidence under the pinned
    /// root, each cohort's completeness, and every figure recomputed from the evidence.
    VerifyDossier(VerifyDossierArgs),
    /// Print a read model (enrollment, safety or dossier), brought up to date from the
    /// verified ledger first.
    View(ViewArgs),
    /// Run the projector: keep the three read models up to date from the verified ledger until
    /// SIGTERM or Ctrl-C (`--once`: catch up and exit).
    Project(ProjectArgs),
    /// Run the HTTP API in front of an embedded ledger, as its only writer: submissions are
    /// answered once durable, with group commit across concurrent clients. Stops cleanly on
    /// SIGTERM or Ctrl-C.
    Serve(ServeArgs),
    /// Run the whole embedded site in one process: the sequencer, the matcher, the cohort
    /// engine, the projector and the HTTP API (`--demo`: fill a new folder with the demo trial
    /// first). Stops cleanly, in order, on SIGTERM or Ctrl-C.
    Up(UpArgs),
    /// Issue, list and revoke the API's read tokens (one per named person, with an API role),
    /// and print the access log of reads.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Replay the demo ledger into all three views with verification on, beside the
    /// batch-verification limit measured in the same run.
    BenchProject(BenchProjectArgs),
    /// Operator repairs of an embedded ledger the writer refuses to open. `--cut-torn-tail`
    /// says what it removes, keeps a copy of the cut bytes beside the segment, then cuts.
    Repair(RepairArgs),
}

/// `repair`.
#[derive(Debug, Args)]
pub struct RepairArgs {
    /// The trial's data folder (as written by `init`).
    #[arg(long, value_name = "DIR", env = "TRIAL_LEDGER_DATA")]
    pub data: PathBuf,
    /// Cut the bytes after the last complete frame of each partition's last segment, also
    /// where the writer refused to guess (a frame length that runs past the end of the
    /// segment although a prefix of the frame matches its checksum). Refused where a stored
    /// checkpoint shows a complete record.
    #[arg(long, required = true)]
    pub cut_torn_tail: bool,
    /// Only say what would be cut.
    #[arg(long)]
    pub dry_run: bool,
}

/// Which ledger-topic settings a Kafka command accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum SafetyArg {
    /// Replication factor >= 3 and min.insync.replicas >= 2 (and no compaction, unlimited
    /// retention, no unclean leader election, N partitions).
    #[default]
    Production,
    /// A single-node development broker: replication 1 and min ISR 1 are accepted.
    Dev,
}

impl From<SafetyArg> for tl_kafka::TopicSafety {
    fn from(a: SafetyArg) -> Self {
        match a {
            SafetyArg::Production => tl_kafka::TopicSafety::Production,
            SafetyArg::Dev => tl_kafka::TopicSafety::Dev,
        }
    }
}

/// The trial's ACLs on a secured cluster (schemas/FORMAT.md §17b) and the production-mode
/// check, run through infra/kafka's ACL tool (Java).
#[derive(Debug, Args, Clone, Default)]
pub struct AclArgs {
    /// Site writers and deciding services (principal names, comma-separated) that may write
    /// intake and read the ledger and rejections (init --kafka creates their ACLs).
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub acl_writers: Vec<String>,
    /// The sequencer's principal: the only one that may write the ledger topic.
    #[arg(long, value_name = "NAME", default_value = "sequencer")]
    pub acl_sequencer: String,
    /// The reader principal: reads the ledger and the checkpoints.
    #[arg(long, value_name = "NAME", default_value = "reader")]
    pub acl_reader: String,
    /// Produce quota of each writer principal in bytes per second (Kafka's per-user
    /// `producer_byte_rate`; writers produce only to intake); 0 sets none.
    #[arg(long, value_name = "BYTES", default_value_t = 1_048_576)]
    pub acl_writer_byte_rate: u64,
    /// The brokers' and controllers' principals, the only super users the check accepts
    /// (`User:NAME`, separated by `;` or `,`).
    #[arg(
        long,
        value_name = "PRINCIPALS",
        default_value = "User:broker;User:controller"
    )]
    pub super_users: String,
    /// The brokers' server.properties (comma-separated): brokers mask `super.users` and
    /// `allow.everyone.if.no.acl.found` over the Kafka API, so the check reads them here.
    #[arg(long, value_name = "FILES")]
    pub broker_config: Option<String>,
    /// A cluster without ACLs (plaintext, no authorizer), in production mode: neither create
    /// ACLs nor run the production-mode check. Only for test clusters.
    #[arg(long)]
    pub no_acls: bool,
}

/// `kafka-check`.
#[derive(Debug, Args)]
pub struct KafkaCheckArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub acl: AclArgs,
}

/// Where a trial on Kafka is.
#[derive(Debug, Args, Clone)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers (`host:port[,host:port]`): use the trial's topics there instead
    /// of an embedded ledger.
    #[arg(long, value_name = "BOOTSTRAP")]
    pub kafka: Option<String>,
    /// The trial id (names the topics `<ID>.intake`, `<ID>.ledger`, ...); with --kafka.
    #[arg(long, value_name = "ID", requires = "kafka")]
    pub trial: Option<String>,
    /// Which ledger-topic settings are accepted; `dev` for a single-node broker.
    #[arg(long, value_enum, default_value_t = SafetyArg::Production)]
    pub topic_safety: SafetyArg,
    /// librdkafka client properties for --kafka (`security.protocol`, `sasl.*`,
    /// `ssl.ca.location`, ...), one `name=value` a line: how to authenticate to a secured
    /// cluster (infra/kafka/broker up --secure writes one file per principal).
    #[arg(long, value_name = "FILE", requires = "kafka")]
    pub kafka_config: Option<PathBuf>,
}

/// Either an embedded ledger (`--data DIR`) or a trial on Kafka (`--kafka BOOTSTRAP --trial ID`).
#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// The trial's data folder (as written by `init`): its embedded ledger, keys and trust file.
    #[arg(long, value_name = "DIR", env = "TRIAL_LEDGER_DATA")]
    pub data: Option<PathBuf>,
    #[command(flatten)]
    pub kafka: KafkaArgs,
}

/// `--url URL`: post to a running `trial-ledger serve` instead of opening the ledger.
#[derive(Debug, Args, Clone)]
pub struct UrlArg {
    /// A running `trial-ledger serve` (http://HOST:PORT or https://HOST:PORT, as it prints
    /// it): sign here with your own key and post to its API. The ledger is not opened (a
    /// --data DIR only supplies defaults: DIR/keys/root.key, DIR/keystore), and the sequencer
    /// key is not needed. For https with a private CA, set SSL_CERT_FILE to its PEM file.
    #[arg(long, value_name = "URL", conflicts_with = "kafka")]
    pub url: Option<String>,
}

/// `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The trial's data folder (as written by `init`); the server holds its writer lock. With
    /// `--kafka`: where the trust file, the views (DIR/views) and the token file are by default.
    #[arg(
        long,
        value_name = "DIR",
        env = "TRIAL_LEDGER_DATA",
        required_unless_present = "kafka"
    )]
    pub data: Option<PathBuf>,
    /// `--kafka BOOTSTRAP --trial ID`: the API in front of a trial on Kafka (a writer to its
    /// intake, a reader of its committed ledger); its sequencer runs as its own service.
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// With --kafka: the trust file pinning the trial's root key (default DIR/trust.json).
    #[arg(long, value_name = "FILE", requires = "kafka")]
    pub trust: Option<PathBuf>,
    /// With --kafka: the folder of the views' SQLite databases (default DIR/views).
    #[arg(long, value_name = "DIR", requires = "kafka")]
    pub db: Option<PathBuf>,
    /// Address to listen on. The default is loopback only; another address must be given
    /// explicitly (use TLS there). Port 0 picks a free port (the first line printed names it).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8600")]
    pub listen: std::net::SocketAddr,
    /// Where the read tokens are (`trial-ledger tokens`), and the access log of reads.
    #[command(flatten)]
    pub tokens: TokenFiles,
    /// TLS, CORS, rate limits and other limits of the server.
    #[command(flatten)]
    pub server: crate::api::limits::ServerFlags,
}

/// `trial-ledger up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// The trial's data folder; with `--demo`, a new (missing or empty) folder to fill.
    #[arg(long, value_name = "DIR", env = "TRIAL_LEDGER_DATA")]
    pub data: PathBuf,
    /// Fill the new folder with the demo trial first (what `demo` does), then serve it.
    #[arg(long)]
    pub demo: bool,
    /// With `--demo`: patients to treat (default: the demo's 1,610).
    #[arg(long, value_name = "N", requires = "demo", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub patients: Option<u32>,
    /// With `--demo`: the simulation's seed.
    #[arg(long, value_name = "S", default_value_t = tl_sim::DEFAULT_SEED)]
    pub seed: u64,
    /// Address to listen on. The default is loopback only; port 0 picks a free port (the
    /// line `listening on http://ADDR` names it).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8600")]
    pub listen: std::net::SocketAddr,
    /// How often the deciders and the projector look for new records, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 200)]
    pub poll_ms: u64,
    /// `--kafka BOOTSTRAP --trial ID`: run the site on a trial on Kafka (`init --kafka` wrote
    /// DIR), its sequencer included; with `--demo`, simulate the demo trial onto it first.
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// With `--demo`: start a throw-away single-node broker from infra/kafka (Java 17,
    /// Maven), simulate the demo trial onto it and run the site there; the broker is stopped
    /// and removed when `up` stops.
    #[arg(long, conflicts_with = "kafka")]
    pub kafka_local: bool,
    /// Where the read tokens are (`trial-ledger tokens`), and the access log of reads.
    #[command(flatten)]
    pub tokens: TokenFiles,
    /// TLS, CORS, rate limits and other limits of the server (as for `serve`).
    #[command(flatten)]
    pub server: crate::api::limits::ServerFlags,
}

/// The token file and the access log (defaults inside the data folder).
#[derive(Debug, Args, Clone, Default)]
pub struct TokenFiles {
    /// The token file (default: DIR/tokens). The server re-reads it when it changes.
    #[arg(long, value_name = "FILE")]
    pub tokens: Option<PathBuf>,
    /// The append-only access log of protected reads (default: DIR/access.log).
    #[arg(long, value_name = "FILE")]
    pub access_log: Option<PathBuf>,
}

/// Where `tokens ...` finds its files: the data folder, or the files themselves.
#[derive(Debug, Args, Clone)]
pub struct TokensWhere {
    /// The trial's data folder: its token file is DIR/tokens, its access log DIR/access.log.
    #[arg(long, value_name = "DIR", env = "TRIAL_LEDGER_DATA")]
    pub data: Option<PathBuf>,
    /// The files, when not in the data folder.
    #[command(flatten)]
    pub files: TokenFiles,
}

/// `tokens ...`.
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Issue a token: prints it once (256 random bits); only its SHA-256 is stored.
    New {
        /// Where the token file is.
        #[command(flatten)]
        at: TokensWhere,
        /// The person it is issued to (named in listings and the access log).
        #[arg(long)]
        name: String,
        /// API role: auditor, sponsor, safety, dsmb, hta or site (README, "API").
        #[arg(long)]
        role: String,
        /// Only this cohort's data.
        #[arg(long, value_name = "ID")]
        cohort: Option<String>,
        /// Only this site's patients (required for the site role).
        #[arg(long, value_name = "ID")]
        site: Option<String>,
        /// Refused from this day on (YYYY-MM-DD, from 00:00 UTC).
        #[arg(long, value_name = "DATE")]
        expires: Option<String>,
    },
    /// List the tokens issued (never the tokens themselves).
    List {
        /// Where the token file is.
        #[command(flatten)]
        at: TokensWhere,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id; a running server refuses it from its next request on.
    Revoke {
        /// Where the token file is.
        #[command(flatten)]
        at: TokensWhere,
        /// The token's id (from `tokens list`).
        #[arg(long, value_name = "ID")]
        id: String,
    },
    /// Print the access log: who read what, with which token, when.
    Log {
        /// Where the access log is.
        #[command(flatten)]
        at: TokensWhere,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `sequencer`.
#[derive(Debug, Args)]
pub struct SequencerArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub acl: AclArgs,
    /// A data folder written by `init`: its keys/sequencer.key and trust.json are the defaults
    /// of --key and --trust.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The sequencer's key file (passphrase from --sequencer-passphrase-file or
    /// TRIAL_LEDGER_SEQUENCER_PASSPHRASE).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Trust file pinning the trial's root key.
    #[arg(long, value_name = "FILE")]
    pub trust: Option<PathBuf>,
    /// This instance's stable transactional id (default `<trial>.sequencer.0`). A restart with
    /// the same id fences the previous incarnation at once.
    #[arg(long, value_name = "ID")]
    pub transactional_id: Option<String>,
    /// Consumer group of the trial's sequencers (default `<trial>.sequencer`).
    #[arg(long, value_name = "ID")]
    pub group_id: Option<String>,
    /// Most submissions per transaction.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_batch: u64,
    /// Longest a transaction stays open collecting submissions, in milliseconds.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub commit_interval_ms: u64,
    /// Transaction timeout, in milliseconds: the broker aborts a transaction left open longer.
    #[arg(long, default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1000..=900_000))]
    pub transaction_timeout_ms: u64,
    /// Consumer-group session timeout, in milliseconds.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1000..=300_000))]
    pub session_timeout_ms: u64,
    /// Publish a partition's checkpoint after this many new records.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_every: u64,
    /// ... or after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub checkpoint_secs: u64,
}

/// `matcher` (and the common part of `cohort-engine`).
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// The ledger: `--data DIR` (embedded) or `--kafka BOOTSTRAP --trial ID`.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Post the decisions to the running `trial-ledger serve` at URL, which holds the data
    /// folder's writer lock: the ledger is still read from `--data DIR` (without the lock, on
    /// the server's machine), and the sequencer key is not needed.
    #[arg(long, value_name = "URL", requires = "data", conflicts_with = "kafka")]
    pub url: Option<String>,
    /// The service's key file (role `matcher` or `cohort-engine`, enrolled in the trial).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Catch up with the ledger, record the decisions due, and exit (else follow until
    /// SIGTERM or Ctrl-C).
    #[arg(long)]
    pub once: bool,
    /// Milliseconds between polls of the ledger when following.
    #[arg(long, value_name = "MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub poll_ms: u64,
}

/// `cohort-engine`.
#[derive(Debug, Args)]
pub struct CohortEngineArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    /// The sponsor's standing expansion policy: a cohort that turns positive with at least
    /// this benefit rate (percent of its evaluable patients) opens its stage-3 expansion.
    #[arg(long, value_name = "PCT", default_value_t = tl_domain::cohort_engine::DEFAULT_EXPANSION_MIN_BENEFIT_PCT,
          value_parser = clap::value_parser!(u32).range(0..=100))]
    pub expansion_min_benefit_pct: u32,
}

/// `export`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("scope").required(true).args(["subject", "cohort", "all"])))]
pub struct ExportArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The bundle file to write: a new file (or an existing one with --force), never inside
    /// the data folder's ledger, keys or key store, nor its trust file.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Replace --out if it exists.
    #[arg(long)]
    pub force: bool,
    /// A patient: `patient:ID`, or the bare pseudonym.
    #[arg(long, value_name = "ID")]
    pub subject: Option<String>,
    /// A cohort: `cohort:ID`, or the bare cohort id.
    #[arg(long, value_name = "ID")]
    pub cohort: Option<String>,
    /// Every partition, whole, up to its last published checkpoint.
    #[arg(long)]
    pub all: bool,
    /// Trust file with the pinned root key (default: DIR/trust.json, with a warning).
    #[arg(long, value_name = "FILE")]
    pub trust: Option<PathBuf>,
}

/// `dossier`.
#[derive(Debug, Args)]
pub struct DossierArgs {
    /// The ledger: `--data DIR`, or `--kafka BOOTSTRAP --trial ID` (then `--trust` is needed).
    #[command(flatten)]
    pub data: StoreArgs,
    /// One cohort (`cohort:ID` or the bare id).
    #[arg(long, value_name = "ID")]
    pub cohort: Option<String>,
    /// Every cohort whose latest stage decision is positive (or in, or done with, its
    /// expansion).
    #[arg(long)]
    pub positive: bool,
    /// Every cohort with records inside the evidence cut.
    #[arg(long)]
    pub all: bool,
    /// The clinical data cut-off (YYYY-MM-DD): later events are ignored, survival is censored
    /// at each patient's last record on or before it.
    #[arg(long, value_name = "DATE")]
    pub cutoff: String,
    /// The key file of an enrolled admin key, which signs the manifest (passphrase from
    /// --passphrase-file or TRIAL_LEDGER_PASSPHRASE).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The dossier folder to create; it must not exist.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Trust file with the pinned root key (default with --data: DIR/trust.json, with a
    /// warning; required with --kafka).
    #[arg(long, value_name = "FILE")]
    pub trust: Option<PathBuf>,
    /// Do not print `dossier.pdf` (the manifest says it was not asked for).
    #[arg(long)]
    pub no_pdf: bool,
}

/// `verify-dossier`.
#[derive(Debug, Args)]
pub struct VerifyDossierArgs {
    /// The dossier folder (as `dossier` writes it).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The assessor's own copy of the trial's trust file (pins the root key).
    #[arg(long, value_name = "FILE")]
    pub trust: PathBuf,
}

/// `verify-bundle`.
#[derive(Debug, Args)]
pub struct VerifyBundleArgs {
    /// The bundle file (as `export` writes it).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Trust file pinning the trial's root key (without it, the bundle's own trust anchor is
    /// used, with a warning).
    #[arg(long, value_name = "FILE")]
    pub trust: Option<PathBuf>,
    /// A file of held checkpoints (`checkpoint --save`): also check that the bundle's
    /// checkpoints extend them.
    #[arg(long, value_name = "FILE")]
    pub against: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Exit 0 for a bundle that verifies even without --trust (its own trust anchor, not
    /// pinned: the verdict is not trust-anchored).
    #[arg(long)]
    pub allow_unsigned: bool,
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
    /// The views' SQLite databases (default: DIR/views; required with --kafka).
    #[arg(long, value_name = "DIR")]
    pub db: Option<PathBuf>,
    /// Trust file with the pinned root key (default: DIR/trust.json; required with --kafka).
    #[arg(long, value_name = "FILE")]
    pub trust: Option<PathBuf>,
    /// Read the trial's ledger topic on Kafka at BOOTSTRAP (read_committed) instead of an
    /// embedded ledger; needs --trial, --trust and --db.
    #[arg(long, value_name = "BOOTSTRAP", requires = "trial")]
    pub kafka: Option<String>,
    /// The trial id on Kafka (names the ledger topic `<ID>.ledger`).
    #[arg(long, value_name = "ID")]
    pub trial: Option<String>,
    /// librdkafka client properties for --kafka (`security.protocol`, `sasl.*`,
    /// `ssl.ca.location`, ...), one `name=value` a line: how to authenticate to a secured
    /// cluster (infra/kafka/broker up --secure writes one file per principal).
    #[arg(long, value_name = "FILE", requires = "kafka")]
    pub kafka_config: Option<PathBuf>,
    /// Records read per partition per poll (and so the most records in one view transaction
    /// per partition).
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch: u64,
    /// With --kafka: seconds a read of the ledger topic may make no progress before the
    /// broker counts as unreachable. `view` and `project --once` then fail (exit 2); the
    /// `project` service keeps its views and retries, backing off up to 30 s.
    #[arg(long, value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub kafka_timeout: u64,
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
    pub data: StoreArgs,
    /// The subject: `patient:ID` or `cohort:ID`. Repeat it for several trails from one
    /// verification of the ledger (JSON: an array).
    #[arg(long, value_name = "ID", required = true)]
    pub subject: Vec<String>,
    /// Print the trail as JSON.
    #[arg(long)]
    pub json: bool,
    /// Print every citation of every record (long citation lists are folded by default).
    #[arg(long)]
    pub full: bool,
    /// Trust file with the pinned root key (default: DIR/trust.json, with a warning).
    #[arg(long, value_name = "FILE")]
    pub trust: Option<PathBuf>,
}

/// `checkpoint`.
#[derive(Debug, Args)]
pub struct CheckpointArgs {
    #[command(flatten)]
    pub data: StoreArgs,
    /// Fetch the latest signed checkpoints from a running `trial-ledger serve`
    /// (`GET /v1/checkpoints`) instead of reading the ledger folder.
    #[arg(long, value_name = "URL", conflicts_with_all = ["kafka", "fresh"])]
    pub url: Option<String>,
    /// Only this partition (default: every partition that has a checkpoint).
    #[arg(long, value_name = "P")]
    pub partition: Option<u32>,
    /// Sign and publish a checkpoint for the current size first (needs the sequencer key, as
    /// `submit` does).
    #[arg(long)]
    pub fresh: bool,
    /// Append the printed checkpoints to this file of held checkpoints (created if missing),
    /// for `verify --against`. Only a file of held checkpoints is appended to, never one
    /// inside the data folder's ledger, keys or key store; the file is rewritten whole through
    /// a temporary file and a rename.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// Print instead the signed-note verifier key of the sequencer key
    /// (`<name>+<key hash>+<base64 key>`, as Go's `golang.org/x/mod/sumdb/note` takes it),
    /// read from DIR/keys/sequencer.key.pub.json. One key verifies every partition's
    /// checkpoints.
    #[arg(long, conflicts_with_all = ["partition", "fresh", "save"])]
    pub verifier_key: bool,
}

/// `prove ...`.
#[derive(Debug, Subcommand)]
pub enum ProveCommand {
    /// That a record is in the partition's tree: against the checkpoint of size S, or the
    /// latest published checkpoint that covers it, or else the unsigned current root.
    Inclusion {
        #[command(flatten)]
        data: StoreArgs,
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
        data: StoreArgs,
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
    /// Exit 0 for a proof that holds even when the verdict is not trust-anchored (no --trust or
    /// --sequencer-key, or a root no signed checkpoint vouches for).
    #[arg(long)]
    pub allow_unsigned: bool,
    /// Print the verdict as JSON (with `trust_anchored`).
    #[arg(long)]
    pub json: bool,
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
    /// Patients to treat (accrual closes when this many have a slot); DRUP treated 1,610
    /// (the default, on the embedded log and on Kafka).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub patients: Option<u32>,
    /// Seed of the deterministic simulation: one seed gives byte-identical ledgers.
    #[arg(long, value_name = "S", default_value_t = tl_sim::DEFAULT_SEED)]
    pub seed: u64,
    /// Run the trial through Kafka at BOOTSTRAP instead of the embedded log: the trial's
    /// topics are created, a sequencer runs in this process, and events stay in flight until a
    /// decision needs them. Keys, trust file and key store still go to --data.
    #[arg(long, value_name = "BOOTSTRAP", conflicts_with = "kafka_local")]
    pub kafka: Option<String>,
    /// As --kafka, on a single-node broker started from infra/kafka and stopped afterwards.
    /// The broker is secured (`broker up --secure`: SASL_SSL, SCRAM, the trial's ACLs) and
    /// each role (the admin creating the trial, the sequencer, the sites, the matcher, the
    /// cohort engine, the reader verifying) connects as its own principal.
    #[arg(long)]
    pub kafka_local: bool,
    /// DEVELOPMENT ONLY, with --kafka-local: start the broker in plaintext, without
    /// authentication or ACLs, every role one anonymous client.
    #[arg(long, requires = "kafka_local")]
    pub dev_plaintext: bool,
    /// librdkafka client properties for --kafka (`security.protocol`, `sasl.*`,
    /// `ssl.ca.location`, ...), one `name=value` a line: how to authenticate to a secured
    /// cluster (infra/kafka/broker up --secure writes one file per principal).
    #[arg(long, value_name = "FILE", requires = "kafka")]
    pub kafka_config: Option<PathBuf>,
    /// Exit 1 when a calibrated figure falls outside its tolerance (two half-widths of the
    /// DRUP report's 95 % interval, scaled by sqrt(1610 / patients)). Without it the demo exits
    /// 0 whatever the figures, as 1 is for negative verdicts.
    #[arg(long)]
    pub check: bool,
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
    /// Create the trial on Kafka (its four topics and the two bootstrap records) instead of an
    /// embedded ledger; keys and the trust file still go to --data.
    #[arg(long, value_name = "BOOTSTRAP")]
    pub kafka: Option<String>,
    /// With --kafka: which topic settings to create and accept (`dev` for a single node).
    #[arg(long, value_enum, default_value_t = SafetyArg::Production)]
    pub topic_safety: SafetyArg,
    /// librdkafka client properties for --kafka: the admin principal's on a secured cluster.
    /// It creates the topics and the trial's ACLs.
    #[arg(long, value_name = "FILE", requires = "kafka")]
    pub kafka_config: Option<PathBuf>,
    /// librdkafka client properties of the sequencer's principal, which writes the two
    /// bootstrap records (only it may write the ledger). Default: --kafka-config.
    #[arg(long, value_name = "FILE", requires = "kafka")]
    pub sequencer_kafka_config: Option<PathBuf>,
    #[command(flatten)]
    pub acl: AclArgs,
    /// Where to write the root key (default: DIR/keys/root.key). The root key belongs
    /// offline: it is needed only to enrol, revoke and rotate keys.
    #[arg(long, value_name = "FILE")]
    pub root_key_out: Option<PathBuf>,
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
        data: StoreArgs,
        #[command(flatten)]
        remote: UrlArg,
        /// The root key file (default: DIR/keys/root.key; required with --kafka).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// The public key file written by `keys new`.
        #[arg(value_name = "PUBLIC.json")]
        public: PathBuf,
    },
    /// Revoke a key; signed by the root key.
    Revoke {
        #[command(flatten)]
        data: StoreArgs,
        #[command(flatten)]
        remote: UrlArg,
        /// The root key file (default: DIR/keys/root.key).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// Key id (hex) to revoke.
        #[arg(long, value_name = "HEX")]
        key_id: String,
        /// Why.
        #[arg(long)]
        reason: String,
        /// The key was stolen: from this registry position (a number), date (YYYY-MM-DD, UTC)
        /// or RFC 3339 instant on, its records are flagged as suspect by `verify` and `trail`
        /// (recorded in the reason; no verdict changes).
        #[arg(long, value_name = "DATE|SEQ")]
        compromised_since: Option<String>,
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
    /// Re-encrypt a data folder's root and sequencer keys, made under one passphrase by an
    /// older `init`, each under its own: the current shared passphrase comes from
    /// --passphrase-file or TRIAL_LEDGER_PASSPHRASE, the new ones from the root and sequencer
    /// sources.
    SplitPassphrases {
        #[command(flatten)]
        data: DataArgs,
        /// Move the root key out of the data folder to this new file (where it belongs:
        /// offline).
        #[arg(long, value_name = "FILE")]
        root_key_out: Option<PathBuf>,
    },
    /// Change a key file's passphrase, re-encrypting it at the current work factor (also the
    /// migration for key files above the work-factor cap). The current passphrase comes from
    /// --passphrase-file or TRIAL_LEDGER_PASSPHRASE, the new one from --new-passphrase-file,
    /// TRIAL_LEDGER_NEW_PASSPHRASE or a prompt.
    Passwd {
        /// The key file.
        #[arg(value_name = "FILE")]
        key: PathBuf,
        /// File with the new passphrase.
        #[arg(long, value_name = "FILE")]
        new_passphrase_file: Option<PathBuf>,
        /// Open a key file made with a higher scrypt work factor than today's cap (up to 22,
        /// the former limit) to re-encrypt it.
        #[arg(long, value_name = "LOG_N", value_parser = clap::value_parser!(u8).range(10..=22))]
        allow_work_factor: Option<u8>,
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
    pub store: StoreArgs,
    #[command(flatten)]
    pub remote: UrlArg,
    /// The author's key file.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The event, as JSON (see README); with `--jsonl`, a JSON Lines file of events.
    #[arg(value_name = "EVENT.json")]
    pub event: PathBuf,
    /// The file holds one event per line (JSON Lines), submitted pipelined to Kafka (only with
    /// `--kafka`): one receipt or refusal is printed per line, in input order; exit 1 if any
    /// line was refused. A line without a `submission_id` gets one derived from the trial,
    /// the author's key and the line, so a rerun of the same file records nothing twice.
    #[arg(long)]
    pub jsonl: bool,
    /// Print the receipt as JSON (with `--jsonl`, one JSON object per line).
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
    pub store: StoreArgs,
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
    /// Measure the sequencer on this Kafka broker instead (beside raw produce, signing and
    /// verification rates measured in the same run).
    #[arg(long, value_name = "BOOTSTRAP", conflicts_with = "kafka_local")]
    pub kafka: Option<String>,
    /// As --kafka, on a single-node broker started from infra/kafka for the run: secured
    /// (`broker up --secure`), the sequencer and the writers each as their own principal
    /// under the trial's ACLs (with --stream: still a plaintext broker, for development).
    #[arg(long)]
    pub kafka_local: bool,
    /// DEVELOPMENT ONLY, with --kafka-local: a plaintext broker, without authentication or
    /// ACLs, every role one anonymous client.
    #[arg(long, requires = "kafka_local")]
    pub dev_plaintext: bool,
    /// librdkafka client properties for --kafka (`security.protocol`, `sasl.*`,
    /// `ssl.ca.location`, ...), one `name=value` a line: how to authenticate to a secured
    /// cluster (infra/kafka/broker up --secure writes one file per principal).
    #[arg(long, value_name = "FILE", requires = "kafka")]
    pub kafka_config: Option<PathBuf>,
    /// Measure the audit tools instead: Merkle proofs generated and verified per second, and
    /// the time to produce a patient's trail, on the default demo ledger (made in the
    /// benchmark's folder) or on the data folder given with --data.
    #[arg(long)]
    pub audit: bool,
    /// With --audit: an existing data folder to measure on (default: a fresh default demo).
    #[arg(long, value_name = "DIR", requires = "audit")]
    pub data: Option<PathBuf>,
    /// Measure grouped appends instead: the demo's submissions through one submit handle by
    /// --writers concurrent writers (one fsync per batch), beside the 2-core crypto limit
    /// measured in the same run on the same records.
    #[arg(long, conflicts_with_all = ["audit", "kafka", "kafka_local"])]
    pub grouped: bool,
    /// With --grouped: concurrent writers, each waiting for its receipt before its next
    /// submission.
    #[arg(long, default_value_t = 64, requires = "grouped")]
    pub writers: usize,
    /// With --grouped: the writers are async tasks on a runtime with one worker thread per
    /// core (as the server's request handlers are) instead of one OS thread each.
    #[arg(long, requires = "grouped")]
    pub writer_tasks: bool,
    /// With --grouped: treated patients of the demo whose submissions are sequenced; with
    /// --http: of the demo the server holds (default: the default demo's 1,610).
    #[arg(long)]
    pub patients: Option<u32>,
    /// Measure the server instead: submissions/s over HTTP with 1, 16 and 256 clients beside
    /// the in-process submit handle, submit latency at 500/s, stream latency, and memory with
    /// 100 stream clients, on a `serve` child process over a copy of the demo.
    #[arg(long, conflicts_with_all = ["audit", "kafka", "kafka_local", "grouped", "stream"])]
    pub http: bool,
    /// With --kafka or --kafka-local: measure the safety stream's latency instead (an adverse
    /// event's POST to its SSE event through `serve --kafka`, under 1,000 background
    /// events/s, beside the POST's own latency to its receipt); --records adverse events
    /// (at 20/s; 1,000 when --records is left at its default).
    #[arg(long, conflicts_with_all = ["audit", "grouped"])]
    pub stream: bool,
    /// Measure opening a writer instead: open, submit one key enrolment and close on the
    /// default demo ledger (made in the benchmark's folder), with its writer snapshot and
    /// without, beside the same on a fresh trial, and decrypting one key file at the work
    /// factor of TRIAL_LEDGER_SCRYPT_LOG_N.
    #[arg(long, conflicts_with_all = ["audit", "kafka", "kafka_local", "grouped", "http", "stream"])]
    pub open: bool,
    /// Generate a large, fully valid ledger of about N records with the template generator
    /// (many patients and author keys, signed on every core) into the new data folder --out,
    /// and report the time, rate and disk use.
    #[arg(long, value_name = "N", requires = "out", conflicts_with_all = ["audit", "kafka", "kafka_local", "grouped", "http", "stream", "open"])]
    pub generate: Option<u64>,
    /// With --generate: the new data folder (trust file and ledger).
    #[arg(long, value_name = "DIR", requires = "generate")]
    pub out: Option<PathBuf>,
}
