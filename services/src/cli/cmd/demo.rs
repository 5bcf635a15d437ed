//! `trial-ledger demo`: a simulated DRUP-like trial end to end, on the embedded log.
//!
//! Creates the trial in an empty data folder (the layout `init` writes: `DIR/trust.json`,
//! `DIR/ledger/`, and `DIR/keys/` when a passphrase is given), runs tl-sim's deterministic
//! simulation through the sequencer, verifies the whole ledger against the root key, computes
//! the trial-level figures from the records with tl-clinical, and prints a summary.
//!
//! Every simulated patient's `PatientRegistered` carries synthetic personal data sealed under
//! the patient's own key; the keys go to the personal-data key store `DIR/keystore/`, so that
//! `trial-ledger erase --data DIR --subject patient:ID` crypto-shreds a simulated patient.

use crate::cli::DemoArgs;
use anyhow::{bail, ensure, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tl_domain::TrialRules;
use tl_ledger::keyfile::{self, KeyMaterial, WorkFactor};
use tl_ledger::trust::TrustFile;
use tl_schemas::clinical::CohortStatus;
use tl_schemas::TrialId;
use tl_sim::{SimConfig, SimKey};

/// A status as the enrollment view names it.
fn status_name(s: CohortStatus) -> &'static str {
    match s {
        CohortStatus::Stage1 => "stage 1",
        CohortStatus::Stage2 => "stage 2",
        CohortStatus::ClosedForFutility => "closed for futility",
        CohortStatus::CompletedNegative => "completed negative",
        CohortStatus::Positive => "positive",
        CohortStatus::Expansion => "expansion",
        CohortStatus::ExpansionComplete => "expansion complete",
    }
}

/// Writes the demo's root, sequencer, matcher, cohort-engine and admin keys encrypted, all
/// under `DIR/keys/`, each only if its own passphrase is given (without a prompt: the root's
/// from the root source, the sequencer's from the sequencer source, the others' from that of
/// `--key`), so that `trial-ledger matcher` and `cohort-engine` can run on the demo folder and
/// `trial-ledger dossier` can sign with the trial office's admin key.
/// Returns what it wrote.
fn write_keys(data: &std::path::Path, keys: &tl_sim::SimKeys) -> Result<Vec<String>> {
    use crate::cli::secrets::{supplied, Secret};
    let dir = data.join("keys");
    let work = WorkFactor::from_env()?;
    let mut written = Vec::new();
    let pairs: [(&SimKey, &str, Secret, std::path::PathBuf); 5] = [
        (&keys.root, "root", Secret::Root, super::root_key_path(data)),
        (
            &keys.sequencer,
            "sequencer",
            Secret::Sequencer,
            dir.join("sequencer.key"),
        ),
        (
            &keys.matcher,
            "matcher",
            Secret::Key,
            dir.join("matcher.key"),
        ),
        (
            &keys.cohort_engine,
            "cohort-engine",
            Secret::Key,
            dir.join("cohort-engine.key"),
        ),
        (&keys.admin, "admin", Secret::Key, dir.join("admin.key")),
    ];
    for (key, role, secret, path) in pairs {
        let Some(pass) = supplied(secret)?.filter(|p| !p.is_empty()) else {
            continue;
        };
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let km = KeyMaterial::from_seed(key.name.clone(), role, key.seed);
        keyfile::write_key_file(&path, &km, &pass, work)?;
        written.push(format!("{role} {}", path.display()));
    }
    Ok(written)
}

/// Runs `demo`.
pub fn run(a: DemoArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let trial = TrialId::new(&a.trial)?;
    let paths = Paths::of(&a.data);
    paths.refuse_existing(&a.data)?;
    std::fs::create_dir_all(&a.data).with_context(|| format!("creating {}", a.data.display()))?;
    let local = if a.kafka_local {
        Some(crate::hosts::local_kafka::LocalBroker::start(
            a.dev_plaintext,
        )?)
    } else {
        None
    };
    let roles = kafka_roles(&a, &trial, local.as_ref())?;
    let kafka = roles.as_ref().map(|r| &r.admin);
    let patients = a.patients.unwrap_or(if kafka.is_some() {
        KAFKA_DEFAULT_TREATED
    } else {
        tl_sim::DEFAULT_TREATED
    });
    let mut config = SimConfig::new(trial.clone(), a.seed, patients);
    config.keystore = Some(paths.keystore.clone());
    announce(&a, &config, kafka);

    // The trust file and the keys first: a demo stopped part-way still leaves the root key
    // to pin and the keys of the ledger it wrote.
    let keys = tl_sim::keys_of_seed(a.seed);
    let root_public_key = keys.root.key.public_key();
    TrustFile::new(&trial, root_public_key, config.partitions).write(&paths.trust)?;
    let keys_note = store_keys(&a, &keys)?;

    let (report, _) = match &roles {
        None => {
            let progress = progress_bar(&config);
            let bar = progress.clone();
            let start = config.start;
            let observe = Box::new(move |now: tl_schemas::UtcMicros| {
                let day = now.0.div_euclid(86_400_000_000) as i32;
                let pos = (day - start.0).max(0) as u64;
                if pos != bar.position() {
                    if pos >= bar.length().unwrap_or(0) {
                        bar.set_length(pos + 1);
                    }
                    bar.set_position(pos);
                    bar.set_message(tl_schemas::Date(day).to_string());
                }
            });
            let ran = tl_sim::simulate_observed(&paths.ledger, &config, observe)
                .with_context(|| format!("simulating into {}", paths.ledger.display()));
            progress.finish_and_clear();
            ran?
        }
        Some(r) => simulate_on_kafka(r, &config)?,
    };
    ensure!(
        report.root_public_key == root_public_key,
        "the simulation used another root key than the one written to {}",
        paths.trust.display()
    );
    let reader = roles.as_ref().map(|r| &r.reader);
    let checked = verify_and_compute(reader, &config, &paths.ledger, &report)?;

    print_trial(&report, &checked.figures);
    print_cohorts(&checked.figures);
    let all_within = print_figures(&checked.figures);
    print_verification(&checked, &report, started);
    print_footer(&a, &paths, kafka, &report, &keys_note);
    if let Some(r) = &roles {
        println!("kafka clients: {}", r.security());
    }
    if let Some(broker) = local {
        drop(broker);
        println!("the local Kafka broker is stopped and its data removed");
    }
    if !all_within && patients == tl_sim::DEFAULT_TREATED && a.seed == tl_sim::DEFAULT_SEED {
        eprintln!("warning: a figure of the default run is outside its tolerance");
    }
    if a.check && !all_within {
        eprintln!("check: a figure is outside its tolerance (see OUTSIDE above)");
    }
    Ok(if checked.verified.ok && (all_within || !a.check) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_NEGATIVE)
    })
}

/// Where the demo writes, in the layout `init` writes.
struct Paths {
    trust: PathBuf,
    ledger: PathBuf,
    keystore: PathBuf,
}

impl Paths {
    fn of(data: &Path) -> Self {
        Paths {
            trust: super::trust_path(data),
            ledger: super::ledger_dir(data),
            keystore: super::keystore_dir(data, None),
        }
    }

    /// Refuses a folder that already holds a ledger, a trust file or personal-data keys.
    fn refuse_existing(&self, data: &Path) -> Result<()> {
        if self.trust.exists() || self.ledger.exists() {
            bail!(
                "{} already holds a trial ledger; the demo only writes into a new or empty folder (choose another --data, or remove this one)",
                data.display()
            );
        }
        // Keys left by another run would clash with this run's keys for the same pseudonyms.
        if std::fs::read_dir(&self.keystore).is_ok_and(|mut entries| entries.next().is_some()) {
            bail!(
                "{} already holds a personal-data key store ({}); the demo only writes into a new or empty folder (choose another --data, or remove this one)",
                data.display(),
                self.keystore.display()
            );
        }
        Ok(())
    }
}

/// A progress bar over the simulated days, drawn on stderr only when it is a terminal
/// (indicatif hides it otherwise, so piped output stays as it was).
fn progress_bar(config: &SimConfig) -> indicatif::ProgressBar {
    // The arrival rate aims at `accrual_days`; cohorts that fill or close stretch it by about
    // a seventh. The bar grows if the run goes on longer.
    let days = config.accrual_days + config.accrual_days / 7 + config.follow_up_days;
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(days.max(1) as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "simulating {bar:40} simulated date {msg}, {elapsed} elapsed",
    ) {
        bar.set_style(style);
    }
    bar.set_message(config.start.to_string());
    bar
}

/// The first line: what is simulated, and where.
fn announce(a: &DemoArgs, config: &SimConfig, kafka: Option<&tl_kafka::KafkaConfig>) {
    println!(
        "trial-ledger demo: trial {}, seed {}, {} patients to treat, {} partitions, in {}",
        config.trial,
        a.seed,
        config.treated_patients,
        config.partitions,
        match kafka {
            Some(k) => format!(
                "{} (Kafka; keys and trust file in {})",
                k.describe(),
                a.data.display()
            ),
            None => a.data.display().to_string(),
        }
    );
}

/// Writes the key files each given their own passphrase (see [`write_keys`]); returns the
/// summary's note on the keys.
fn store_keys(a: &DemoArgs, keys: &tl_sim::SimKeys) -> Result<String> {
    let written = write_keys(&a.data, keys)?;
    Ok(format!(
        "the demo keeps the keys it writes under {} ({}); the {} others of its {} keys are derived from seed {} and not stored (each key is written only given its own passphrase: the root key's from TRIAL_LEDGER_ROOT_PASSPHRASE, the sequencer's from TRIAL_LEDGER_SEQUENCER_PASSPHRASE, the matcher's and the cohort engine's from TRIAL_LEDGER_PASSPHRASE, or the matching --*passphrase-file)",
        a.data.join("keys").display(),
        if written.is_empty() {
            "none written".to_string()
        } else {
            format!("written encrypted: {}", written.join(", "))
        },
        keys.enrolled().len() + 1 - written.len(),
        keys.enrolled().len() + 1,
        a.seed
    ))
}

/// The verification of the written ledger and the figures computed from its records.
struct Checked {
    verified: tl_ledger::Report,
    verify_secs: f64,
    figures: tl_sim::TrialFigures,
    figures_secs: f64,
    /// [`tl_sim::digest::history_digest`] of the ledger.
    histories: [u8; 32],
}

/// Verifies the whole ledger against the root key and computes the trial's figures from its
/// records (on Kafka, from a copy of the committed records in a temporary embedded store).
fn verify_and_compute(
    kafka: Option<&tl_kafka::KafkaConfig>,
    config: &SimConfig,
    ledger_dir: &Path,
    report: &tl_sim::SimReport,
) -> Result<Checked> {
    let verify_started = Instant::now();
    let inputs = match kafka {
        None => tl_ledger::log::read_embedded_for_verify(ledger_dir)?,
        Some(k) => {
            tl_kafka::read::ledger_for_verify(k, config.partitions, Duration::from_secs(150))?
        }
    };
    let verified =
        tl_ledger::verify_ledger(&config.trial, report.root_public_key, &inputs, TrialRules);
    let verify_secs = verify_started.elapsed().as_secs_f64();
    let histories = tl_sim::digest::history_digest(&inputs)?;
    let figures_started = Instant::now();
    let mirror = match kafka {
        None => None,
        Some(_) => Some(mirror(&inputs, config.partitions)?),
    };
    drop(inputs);
    let figures = tl_sim::from_ledger(mirror.as_ref().map_or(ledger_dir, |d| d.path()))?;
    Ok(Checked {
        verified,
        verify_secs,
        figures,
        figures_secs: figures_started.elapsed().as_secs_f64(),
        histories,
    })
}

/// Accrual, patients, events by type and records per partition.
fn print_trial(report: &tl_sim::SimReport, f: &tl_sim::TrialFigures) {
    println!(
        "simulated accrual from {} to {}, data cut-off {}",
        report.accrual_start,
        report
            .accrual_closed
            .map_or_else(|| "(not reached)".to_string(), |d| d.to_string()),
        report
            .cutoff
            .map_or_else(|| "(none)".to_string(), |d| d.to_string()),
    );
    println!(
        "patients: {} screened, {} treated, {} response-evaluable, {} deaths recorded",
        f.screened, f.treated, f.evaluable, f.deaths
    );
    println!("\nevents by type ({} records)", f.records);
    for (t, n) in &f.events_by_type {
        println!("  {t:<26} {n:>8}");
    }
    println!("\nrecords per partition");
    for (p, n) in f.records_per_partition.iter().enumerate() {
        println!("  partition {p:<3} {n:>8}");
    }
}

/// Cohorts by status, and the positive and expanded ones.
fn print_cohorts(f: &tl_sim::TrialFigures) {
    println!("\ncohorts by status ({} cohorts)", f.cohorts.len());
    let mut by_status: BTreeMap<u8, (CohortStatus, Vec<&tl_sim::figures::CohortFigures>)> =
        BTreeMap::new();
    for c in &f.cohorts {
        by_status
            .entry(c.status as u8)
            .or_insert((c.status, Vec::new()))
            .1
            .push(c);
    }
    for (status, cohorts) in by_status.values() {
        println!("  {:<20} {:>3}", status_name(*status), cohorts.len());
    }
    println!("  positive and expanded cohorts:");
    for c in &f.cohorts {
        if matches!(
            c.status,
            CohortStatus::Positive | CohortStatus::Expansion | CohortStatus::ExpansionComplete
        ) {
            println!(
                "    {:<26} {:<20} {:>4} treated {:>4} evaluable {:>4} with benefit ({:.0} %)",
                c.cohort_id,
                status_name(c.status),
                c.treated,
                c.evaluable,
                c.benefits,
                if c.evaluable == 0 {
                    0.0
                } else {
                    100.0 * f64::from(c.benefits) / f64::from(c.evaluable)
                }
            );
            if let Some(a) = &c.analysis {
                print_analysis(a);
            }
        }
    }
}

/// A closed cohort at its own analysis (what a cohort's publication reports): the MSI-high
/// nivolumab cohort's is compared with PMID 39024037 in BENCHMARKS.md.
fn print_analysis(a: &tl_sim::figures::CohortAnalysis) {
    let pct = |n: u32| 100.0 * f64::from(n) / f64::from(a.evaluable.max(1));
    let months = |m: Option<f64>| m.map_or_else(|| "NR".to_string(), |m| format!("{m:.1}"));
    println!(
        "      at its analysis on {}: {} treated, {} evaluable, benefit {:.0} %, ORR {:.0} %, median PFS {}, median OS {}, median follow-up (reverse KM) {} months",
        a.on,
        a.treated,
        a.evaluable,
        pct(a.benefits),
        pct(a.objective),
        months(a.median_pfs_months),
        months(a.median_os_months),
        months(a.median_follow_up_months),
    );
}

/// The trial-level figures against their DRUP targets; true when all are within tolerance.
fn print_figures(f: &tl_sim::TrialFigures) -> bool {
    println!("\ntrial-level figures, computed from the ledger with tl-clinical");
    println!(
        "  {:<50} {:>8}   {:<16}",
        "figure", "value", "target (DRUP)"
    );
    let mut all_within = true;
    for c in f.checks() {
        all_within &= c.within();
        let unit = if c.unit == "%" { " %" } else { " mo" };
        println!(
            "  {:<50} {:>6.1}{unit:<3} {:>5.1}{unit} +/- {:<5.1} {}",
            c.name,
            c.value,
            c.target,
            c.tolerance,
            if c.within() { "within" } else { "OUTSIDE" }
        );
    }
    println!(
        "  ({} investigator responses differ from the computed RECIST response; {} SUSARs; {} corrections applied)",
        f.disagreements, f.susars, f.corrections
    );
    all_within
}

/// The verdict and the time each phase took.
fn print_verification(c: &Checked, report: &tl_sim::SimReport, started: Instant) {
    let verified = &c.verified;
    println!();
    if verified.ok {
        println!(
            "verification: OK: {} records in {} partitions, {} signatures, against root key {}",
            verified.records_total,
            verified.partitions,
            verified.signatures_verified,
            tl_schemas::KeyId::of_ed25519(&report.root_public_key)
        );
    } else {
        println!(
            "verification: FAILED: {}",
            verified
                .first_failure()
                .map_or_else(|| "unknown failure".to_string(), |x| x.to_string())
        );
    }
    // The same seed and trial give the same digest on the embedded log and on Kafka.
    println!(
        "subject histories: {} (SHA-256 of every subject's event types and payloads)",
        hex::encode(c.histories)
    );
    let sim_secs = report.elapsed.as_secs_f64();
    println!(
        "time: simulate and submit {sim_secs:.2} s ({:.0} events/s), verify {:.2} s, figures {:.2} s, total {:.2} s",
        report.records as f64 / sim_secs.max(1e-9),
        c.verify_secs,
        c.figures_secs,
        started.elapsed().as_secs_f64()
    );
}

/// Where everything is, the personal data, and the signing keys.
fn print_footer(
    a: &DemoArgs,
    paths: &Paths,
    kafka: Option<&tl_kafka::KafkaConfig>,
    report: &tl_sim::SimReport,
    keys_note: &str,
) {
    println!(
        "data: trust file {}, ledger {}, personal-data key store {}",
        paths.trust.display(),
        match kafka {
            Some(k) => format!("topic {} on {}", k.topics.ledger, k.bootstrap),
            None => paths.ledger.display().to_string(),
        },
        paths.keystore.display()
    );
    println!(
        "personal data: synthetic, sealed under each patient's own key in the {} PatientRegistered records; {} keys in the key store {} (crypto-shred a patient: trial-ledger erase --data {} --subject patient:ID)",
        report.screened,
        report.personal_keys_stored,
        paths.keystore.display(),
        a.data.display()
    );
    println!("signing keys: {keys_note}");
}

/// Patients treated by default in a demo on Kafka: the full-size trial, as on the embedded
/// log (the simulator keeps patients' events in flight; BENCHMARKS.md, "The demo on Kafka").
pub const KAFKA_DEFAULT_TREATED: u32 = tl_sim::DEFAULT_TREATED;

/// The demo's Kafka clients, one configuration per role. On a secured local broker each role
/// is its own principal (the files `broker up --secure` wrote) and the demo creates the
/// trial's ACLs (FORMAT.md §17b); with `--kafka` every role uses the `--kafka-config` file.
struct KafkaRoles {
    /// Creates the topics (and the ACLs).
    admin: tl_kafka::KafkaConfig,
    /// The admin principal's properties file, when the demo creates the trial's ACLs (and
    /// each role below is a principal of its own).
    acl_admin: Option<PathBuf>,
    /// Writes the bootstrap records and runs the sequencer.
    sequencer: tl_kafka::KafkaConfig,
    /// Every simulated site's, investigator's and trial office's submission.
    sites: tl_kafka::KafkaConfig,
    /// The matcher's decisions.
    matcher: tl_kafka::KafkaConfig,
    /// The cohort engine's decisions.
    cohort_engine: tl_kafka::KafkaConfig,
    /// Reads the ledger back to verify it.
    reader: tl_kafka::KafkaConfig,
}

impl KafkaRoles {
    /// How the demo's clients authenticated, for the summary.
    fn security(&self) -> String {
        let protocol = |cfg: &tl_kafka::KafkaConfig| {
            cfg.properties
                .get("security.protocol")
                .map_or("PLAINTEXT", String::as_str)
                .to_uppercase()
        };
        match &self.acl_admin {
            Some(_) => format!(
                "{} on a secured broker, each role its own principal (admin, sequencer, {DEMO_SITE_PRINCIPAL} for the sites, matcher, cohort-engine, reader) under the trial's ACLs (FORMAT.md §17b)",
                protocol(&self.sites)
            ),
            None if protocol(&self.sites) == "PLAINTEXT" => {
                "PLAINTEXT, no authentication: for development only".to_string()
            }
            None => format!(
                "{}, every role as the one principal of --kafka-config",
                protocol(&self.sites)
            ),
        }
    }
}

/// The sites' principal of the demo on a secured local broker: the simulation's sites all
/// submit as one writer (`site-1`); `site-2` and `site-3` get the same ACLs, unused.
const DEMO_SITE_PRINCIPAL: &str = "site-1";

/// The roles' configurations (`None` on the embedded log).
fn kafka_roles(
    a: &DemoArgs,
    trial: &TrialId,
    local: Option<&crate::hosts::local_kafka::LocalBroker>,
) -> Result<Option<KafkaRoles>> {
    let (admin, acl_admin) = match (&a.kafka, local) {
        (Some(b), _) => (kafka_config(b, trial, a.kafka_config.as_deref())?, None),
        (None, Some(l)) => (
            kafka_config(&l.bootstrap, trial, l.properties("admin").as_deref())?,
            l.properties("admin"),
        ),
        (None, None) => return Ok(None),
    };
    let role = |principal: &str| -> Result<tl_kafka::KafkaConfig> {
        let mut cfg = admin.clone();
        if let Some(l) = local {
            cfg.properties = l.client_properties(principal)?;
        }
        Ok(cfg)
    };
    Ok(Some(KafkaRoles {
        sequencer: role("sequencer")?,
        sites: role(DEMO_SITE_PRINCIPAL)?,
        matcher: role("matcher")?,
        cohort_engine: role("cohort-engine")?,
        reader: role("reader")?,
        acl_admin,
        admin,
    }))
}

/// The ACL matrix the demo creates on its secured local broker: the broker's site writers
/// and both deciding services write intake; no produce quota, because one site principal
/// carries the traffic of every simulated site.
fn demo_acls() -> crate::cli::AclArgs {
    let sites = (1..=crate::hosts::local_kafka::LOCAL_SITES).map(|i| format!("site-{i}"));
    crate::hosts::local_kafka::local_acls(
        sites
            .chain(["matcher".to_string(), "cohort-engine".to_string()])
            .collect(),
    )
}

/// The demo trial's Kafka configuration; topic settings follow the cluster's size (a single
/// node gets the dev settings).
fn kafka_config(
    bootstrap: &str,
    trial: &TrialId,
    properties: Option<&std::path::Path>,
) -> Result<tl_kafka::KafkaConfig> {
    let mut cfg = tl_kafka::KafkaConfig::new(bootstrap, trial.clone());
    cfg.properties = super::client_properties(properties)?;
    if tl_kafka::topics::broker_count(&cfg)? < 3 {
        cfg.safety = tl_kafka::TopicSafety::Dev;
    }
    if let Some(n) = tl_kafka::topics::partition_count(&cfg, &cfg.topics.ledger)? {
        bail!(
            "trial {trial} already exists on {bootstrap} (topic {} with {n} partitions); choose another --trial",
            cfg.topics.ledger
        );
    }
    Ok(cfg)
}

/// Runs the simulation through Kafka: creates the trial's topics and bootstrap records with
/// the simulation's keys, runs a sequencer in this process, and stops it (it publishes its
/// final checkpoints) when the simulation is done.
fn simulate_on_kafka(
    r: &KafkaRoles,
    config: &SimConfig,
) -> Result<(tl_sim::SimReport, tl_sim::SimKeys)> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let shutdown = Arc::new(AtomicBool::new(false));
    let mut service = None;
    let mut decider = tl_sim::ServiceDecider::new();
    let sim_error = |e: tl_kafka::Error| tl_sim::SimError::Invalid(format!("kafka: {e}"));
    let k = &r.admin;
    let ran = tl_sim::simulate_on(config, &mut decider, &mut |keys, created| {
        tl_kafka::topics::create_topics(k, config.partitions).map_err(sim_error)?;
        if let Some(admin) = &r.acl_admin {
            crate::hosts::kafka_acl::apply(k, Some(admin), &demo_acls()).map_err(|e| {
                tl_sim::SimError::Invalid(format!("creating the trial's ACLs: {e:#}"))
            })?;
        }
        tl_kafka::bootstrap::write_bootstrap(
            &r.sequencer,
            config.partitions,
            &config.title,
            &keys.root.key,
            keys.sequencer.key.public_key(),
            created,
        )
        .map_err(sim_error)?;
        let scfg = tl_kafka::SequencerConfig::new(
            r.sequencer.clone(),
            keys.sequencer.key.clone(),
            keys.root.key.public_key(),
        );
        let stop = Arc::clone(&shutdown);
        service = Some(std::thread::spawn(move || {
            tl_kafka::sequencer::run(&scfg, || TrialRules, &stop)
        }));
        // Each deciding service as its own principal where the roles are principals.
        let deciders = match &r.acl_admin {
            None => Vec::new(),
            Some(_) => vec![
                (keys.matcher.key.key_id(), r.matcher.clone()),
                (keys.cohort_engine.key.key_id(), r.cohort_engine.clone()),
            ],
        };
        let ledger = crate::hosts::kafka_sim::KafkaSimLedger::with_roles(&r.sites, &deciders)
            .map_err(sim_error)?;
        Ok(Box::new(ledger) as Box<dyn tl_sim::SimLedger>)
    });
    shutdown.store(true, Ordering::SeqCst);
    if let Some(h) = service {
        let stats = h
            .join()
            .map_err(|_| anyhow::anyhow!("the sequencer thread panicked"))??;
        eprintln!(
            "sequencer: {} records in {} transactions ({} aborted), {} checkpoints",
            stats.records, stats.transactions, stats.aborts, stats.checkpoints
        );
    }
    ran.with_context(|| format!("simulating on {}", k.describe()))
}

/// A temporary embedded store holding the given records.
fn mirror(
    inputs: &[tl_ledger::verify::PartitionInput],
    partitions: u32,
) -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let mut log = tl_ledger::embedded::EmbeddedLog::create(
        dir.path(),
        partitions,
        tl_ledger::embedded::StoreOptions::default(),
    )?;
    for (p, input) in inputs.iter().enumerate() {
        if !input.records.is_empty() {
            log.append(p as u32, &input.records)?;
        }
    }
    drop(log);
    Ok(dir)
}
