//! `trial-ledger view enrollment|safety|dossier`: brings the read models up to date from the
//! verified ledger, then prints one as tables or JSON.
//!
//! The views' databases live in `--db DIR`, by default `DIR/views/` inside the data folder
//! (beside `DIR/ledger/`): `enrollment.sqlite`, `safety.sqlite`, `dossier.sqlite`. With
//! `--kafka BOOTSTRAP --trial ID` the ledger is the trial's ledger topic, and `--db` and
//! `--trust` are required (there is no data folder to default to).

use crate::cli::{ProjectionArgs, ViewArgs, ViewName};
use crate::hosts::kafka_source::{KafkaSource, Source};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tl_ledger::trust::TrustFile;
use tl_projections::report::{self, DossierSummary};
use tl_projections::{EmbeddedSource, Lag, LogState, Projector, ViewKind};

/// The views' folder: `--db`, else `DIR/views`.
pub fn db_dir(data: &Path, db: Option<&Path>) -> PathBuf {
    db.map_or_else(|| data.join("views"), Path::to_path_buf)
}

/// Opens the projector for the command line's source, or explains what is wrong.
pub fn open(a: &ProjectionArgs) -> Result<(Projector<Source>, PathBuf)> {
    if let Some(k) = &a.kafka {
        if a.data.is_some() {
            bail!("give either --data DIR (an embedded ledger) or --kafka BOOTSTRAP --trial ID, not both");
        }
        return open_kafka(k, a);
    }
    let Some(data) = &a.data else {
        bail!("--data DIR is required (the trial's data folder)");
    };
    let ledger = super::ledger_dir(data);
    if !ledger.join("meta.json").is_file() {
        bail!(
            "{} holds no embedded ledger ({} is missing): give the data folder `init` or `demo` wrote",
            data.display(),
            ledger.join("meta.json").display()
        );
    }
    let trust_path = a
        .trust
        .clone()
        .unwrap_or_else(|| super::stored_trust_path_with_warning(data));
    let trust = TrustFile::read(&trust_path)
        .with_context(|| format!("trust file {}", trust_path.display()))?;
    let root = trust.root_key().map_err(anyhow::Error::msg)?;
    let db = db_dir(data, a.db.as_deref());
    let source = Source::Embedded(EmbeddedSource::open(&ledger)?);
    let p = Projector::open(source, trust.trial(), root, &db, a.batch as usize)?;
    Ok((p, db))
}

/// Opens the projector over the trial's ledger topic on Kafka. There is no data folder to
/// take defaults from, so `--trust` (the pinned root key) and `--db` (the views' folder) are
/// required; the trust file must be of the trial `--trial` names.
fn open_kafka(bootstrap: &str, a: &ProjectionArgs) -> Result<(Projector<Source>, PathBuf)> {
    let args = crate::cli::KafkaArgs {
        kafka: Some(bootstrap.to_string()),
        trial: a.trial.clone(),
        topic_safety: crate::cli::SafetyArg::default(),
        kafka_config: a.kafka_config.clone(),
    };
    let Some(mut cfg) = super::kafka_config(&args)? else {
        bail!("--kafka needs the bootstrap servers (host:port)");
    };
    cfg.timeout = std::time::Duration::from_secs(a.kafka_timeout);
    let Some(trust_path) = &a.trust else {
        bail!("with --kafka, --trust FILE is required: the trust file pinning the trial's root key (as `init --kafka` wrote it)");
    };
    let Some(db) = &a.db else {
        bail!("with --kafka, --db DIR is required: the folder of the views' SQLite databases");
    };
    let trust = TrustFile::read(trust_path)
        .with_context(|| format!("trust file {}", trust_path.display()))?;
    if trust.trial() != cfg.trial {
        bail!(
            "trust file {} is of trial {}, not of --trial {}",
            trust_path.display(),
            trust.trial(),
            cfg.trial
        );
    }
    let root = trust.root_key().map_err(anyhow::Error::msg)?;
    let source = KafkaSource::open(&cfg)?;
    let topic_partitions = source.partitions();
    if topic_partitions != trust.partitions {
        bail!(
            "{} has {topic_partitions} partitions but trust file {} says {}: wrong trial or trust file",
            cfg.topics.ledger,
            trust_path.display(),
            trust.partitions
        );
    }
    let p = Projector::open(
        Source::Kafka(Box::new(source)),
        trust.trial(),
        root,
        db,
        a.batch as usize,
    )?;
    Ok((p, db.clone()))
}

/// Brings the views up to date. `Ok(None)` when verification stopped the projection (printed,
/// exit 1).
pub fn catch_up(p: &mut Projector<Source>) -> Result<Option<Vec<Lag>>> {
    match p.catch_up(LogState::Live) {
        Ok(_) => Ok(Some(p.lag()?)),
        Err(e) if e.failure().is_some() => {
            eprintln!("FAILED: {e}");
            eprintln!("run `trial-ledger verify` for the full report; the views hold only what verified before it.");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Runs `view`.
pub fn run(a: ViewArgs) -> Result<ExitCode> {
    let (mut p, db) = open(&a.source)?;
    let Some(lag) = catch_up(&mut p)? else {
        return Ok(ExitCode::from(crate::EXIT_NEGATIVE));
    };
    let behind: u64 = lag.iter().map(|l| l.behind).sum();
    let kind = match a.view {
        ViewName::Enrollment => ViewKind::Enrollment,
        ViewName::Safety => ViewKind::Safety,
        ViewName::Dossier => ViewKind::Dossier,
    };
    let conn = p.view(kind).conn();
    let cohort = a.cohort.as_deref();
    if let Some(c) = cohort {
        let exists: bool = p
            .view(ViewKind::Enrollment)
            .conn()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM cohorts WHERE cohort = ?1)",
                [c],
                |r| r.get(0),
            )
            .unwrap_or(false);
        if !exists {
            bail!("no cohort {c:?} in the ledger (see `trial-ledger view enrollment` for the cohort ids)");
        }
    }
    let lag_json: Vec<_> = lag.iter().filter(|l| l.view == kind.name()).collect();
    if a.json {
        let body = match kind {
            ViewKind::Enrollment => serde_json::to_value(report::enrollment(conn, cohort)?)?,
            ViewKind::Safety => serde_json::to_value(report::safety(conn, cohort)?)?,
            ViewKind::Dossier => serde_json::to_value(report::dossier(conn, cohort)?)?,
        };
        let mut v = serde_json::json!({ "view": kind.name(), "db": db, "lag": lag_json });
        if let (Some(o), serde_json::Value::Object(b)) = (v.as_object_mut(), body) {
            o.extend(b);
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    match kind {
        ViewKind::Enrollment => print_enrollment(&report::enrollment(conn, cohort)?),
        ViewKind::Safety => print_safety(&report::safety(conn, cohort)?),
        ViewKind::Dossier => print_dossier(&report::dossier(conn, cohort)?, cohort.is_some()),
    }
    print_suspect_note(&report::suspect_records(conn)?);
    if behind > 0 {
        println!("\nbehind the log by {behind} records (held: they cite records not written yet)");
    } else {
        let total: u64 = lag_json.iter().map(|l| l.consumed).sum();
        println!(
            "\nup to date: {total} records verified and applied ({})",
            kind.path(&db).display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// ` SUSPECT` after a row that rests on a record signed by a key after its recorded
/// compromise, as `trail` marks such records.
fn mark(suspect: bool) -> &'static str {
    if suspect {
        "  SUSPECT"
    } else {
        ""
    }
}

/// `  (N suspect)` after an aggregate that counts rows resting on suspect records.
fn suspect_count(n: impl Into<i64>) -> String {
    match n.into() {
        0 => String::new(),
        n => format!("  ({n} suspect)"),
    }
}

/// Explains the SUSPECT marks, when there are any.
fn print_suspect_note(flagged: &[report::SuspectRecord]) {
    if flagged.is_empty() {
        return;
    }
    println!(
        "\nSUSPECT: {} records counted in the views were signed by keys after their recorded compromise (keys revoke --compromised-since); they verify, but a thief may have signed them. Rows marked SUSPECT rest on them; `--json` lists them (suspect_records), `trail` marks them too:",
        flagged.len()
    );
    for f in flagged {
        println!(
            "  {}/{} by key {} {}",
            f.partition, f.seq, f.key_id, f.since
        );
    }
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{v:.1} %"))
}

fn months(x: Option<f64>) -> String {
    x.map_or_else(|| "not reached".into(), |v| format!("{v:.1} mo"))
}

fn print_enrollment(r: &report::EnrollmentReport) {
    let f = &r.funnel;
    println!("funnel");
    for (name, n) in [
        ("registered", f.registered),
        ("sequenced", f.sequenced),
        ("matched", f.matched),
        ("MTB-approved", f.mtb_approved),
        ("slot", f.slot),
        ("enrolled", f.enrolled),
        ("treated", f.treated),
    ] {
        println!("  {name:<14} {n:>7}");
    }
    if f.suspect_rows > 0 {
        println!(
            "  of which {} patients rest on suspect records",
            f.suspect_rows
        );
    }
    println!(
        "  sequencing to first dose: median {} days ({} patients)",
        r.sequencing_to_first_dose_median_days
            .map_or_else(|| "-".into(), |d| d.to_string()),
        r.sequencing_to_first_dose_n
    );
    println!("\ncohorts");
    println!(
        "  {:<26} {:<22} {:>5} {:>6} {:>8} {:>8} {:>9} {:>8}  drug",
        "cohort", "status", "stage", "slots", "enrolled", "treated", "evaluable", "benefit"
    );
    for c in &r.cohorts {
        println!(
            "  {:<26} {:<22} {:>5} {:>6} {:>8} {:>8} {:>9} {:>8}  {}{}{}",
            c.cohort,
            c.status,
            c.stage,
            c.slots,
            c.enrolled,
            c.treated,
            c.evaluable,
            c.benefits,
            c.drug.as_deref().unwrap_or("-"),
            mark(c.suspect),
            suspect_count(c.suspect_rows)
        );
    }
}

fn print_safety(r: &report::SafetyReport) {
    let o = &r.overall;
    println!(
        "treated {}, adverse events {}, serious {}, grade >= 3 {}, grade >= 3 treatment-related: {} patients ({}), deaths {}, SUSARs {}{}",
        o.treated, o.adverse_events, o.serious, o.grade3plus, o.grade3plus_trae_patients,
        pct(o.grade3plus_trae_rate), o.deaths, o.susars, suspect_count(o.suspect_rows)
    );
    println!("\nper cohort");
    println!(
        "  {:<26} {:>7} {:>6} {:>7} {:>5} {:>10} {:>8} {:>6} {:>6}  drug",
        "cohort", "treated", "AEs", "serious", "G>=3", "G>=3 TRAE", "rate", "deaths", "SUSARs"
    );
    for c in &r.cohorts {
        println!(
            "  {:<26} {:>7} {:>6} {:>7} {:>5} {:>10} {:>8} {:>6} {:>6}  {}{}",
            c.cohort.as_deref().unwrap_or("-"),
            c.treated,
            c.adverse_events,
            c.serious,
            c.grade3plus,
            c.grade3plus_trae_patients,
            pct(c.grade3plus_trae_rate),
            c.deaths,
            c.susars,
            c.drug.as_deref().unwrap_or("-"),
            suspect_count(c.suspect_rows)
        );
    }
    println!("\nadverse events of grade >= 3 by cohort, drug, CTCAE term and grade");
    for t in r.by_term.iter().filter(|t| t.grade >= 3) {
        println!(
            "  {:<26} {:<24} {:<34} G{} {:>4} ({} serious){}",
            t.cohort.as_deref().unwrap_or("-"),
            t.drug.as_deref().unwrap_or("-"),
            t.ctcae_term,
            t.grade,
            t.events,
            t.serious,
            suspect_count(t.suspect_rows)
        );
    }
    println!("\nSUSAR clocks (7 days fatal or life-threatening, else 15, from awareness)");
    for s in &r.susars {
        println!(
            "  {} AE {:<3} {:<34} G{} aware {} due {} ({} days){}",
            s.patient,
            s.ae_id,
            s.ctcae_term,
            s.grade,
            s.awareness,
            s.due,
            s.window_days,
            mark(s.suspect)
        );
    }
    let suspect_deaths = r.deaths.iter().filter(|d| d.suspect).count() as i64;
    println!(
        "\ndeaths: {}{}",
        r.deaths.len(),
        suspect_count(suspect_deaths)
    );
    print_tables(&r.tables);
}

/// The safety board's overview (patients, % of treated) and rates, one line per column; the
/// by-term table, the deaths listing and the clocks are in `--json` (`tables`).
fn print_tables(t: &tl_projections::tables::SafetyTables) {
    println!(
        "
safety board overview: patients (% of treated) per cohort, then per drug pooled"
    );
    for (i, c) in t.columns.iter().enumerate() {
        let cells: Vec<String> = t
            .overview
            .iter()
            .map(|o| {
                let n = &o.cells[i];
                format!("{} {}", o.row_name(), n.n)
            })
            .collect();
        println!(
            "  {:<28} treated {:>3}, {:.2} patient-years: {}",
            c.key,
            c.treated.n,
            c.patient_years_exposure,
            cells.join(", ")
        );
    }
    println!(
        "
exposure-adjusted rates per 100 patient-years (EAIR / EAER, any AE)"
    );
    if let Some(any) = t.rates.first() {
        for (c, r) in t.columns.iter().zip(&any.cells) {
            let f = |x: Option<f64>| x.map_or_else(|| "-".into(), |v| format!("{v:.1}"));
            println!(
                "  {:<28} EAIR {:>8}  EAER {:>8}",
                c.key,
                f(r.rates.eair_per_100py),
                f(r.rates.eaer_per_100py)
            );
        }
    }
    if let Some(clocks) = &t.clocks {
        let susars = clocks.iter().filter(|c| c.susar).count();
        println!(
            "
reporting clocks: {} serious cases, {susars} with SUSAR clocks (due dates in --json)",
            clocks.len()
        );
    }
}

/// A proportion's exact 95 % interval, or "-".
fn ci(p: &report::Proportion) -> String {
    p.ci95_percent
        .map_or_else(|| "-".into(), |[lo, hi]| format!("95 % CI {lo:.1}-{hi:.1}"))
}

fn summary_line(s: &DossierSummary) -> String {
    format!(
        "treated {}, evaluable {}, clinical benefit {} ({}, {}), objective response {} ({}, {}), median PFS {} (every event counted: {}), median OS {}, median DoR {} (complete response: {}), median follow-up {}, grade >= 3 TRAE {} ({}), exceptional responders {} ({}), investigator disagreements {}",
        s.treated, s.evaluable, s.clinical_benefit, pct(s.clinical_benefit_rate),
        ci(&s.clinical_benefit_evaluable), s.objective_response, pct(s.objective_response_rate),
        ci(&s.objective_response_evaluable), months(s.median_pfs_months),
        months(s.median_pfs_sensitivity_months), months(s.median_os_months),
        months(s.median_dor_months), months(s.median_docr_months),
        months(s.median_follow_up_months), s.grade3plus_trae, pct(s.grade3plus_trae_rate),
        s.exceptional_responders, pct(s.exceptional_responder_rate), s.disagreements
    ) + &suspect_count(s.suspect_rows)
}

fn print_dossier(r: &report::DossierReport, one_cohort: bool) {
    println!("trial: {}", summary_line(&r.trial));
    println!("\nper cohort");
    println!(
        "  {:<26} {:<22} {:>7} {:>9} {:>8} {:>7} {:>8} {:>8}",
        "cohort", "status", "treated", "evaluable", "benefit", "ORR", "mPFS", "mOS"
    );
    for c in &r.cohorts {
        let s = &c.summary;
        println!(
            "  {:<26} {:<22} {:>7} {:>9} {:>8} {:>7} {:>8} {:>8}{}{}",
            c.cohort,
            c.status,
            s.treated,
            s.evaluable,
            pct(s.clinical_benefit_rate),
            pct(s.objective_response_rate),
            months(s.median_pfs_months),
            months(s.median_os_months),
            mark(c.suspect),
            suspect_count(s.suspect_rows)
        );
    }
    if one_cohort {
        for c in &r.cohorts {
            print_stage_decisions(&c.cohort, &c.stage_decisions);
        }
        println!("\npatients (PFS/OS in days from the first dose; + censored)");
        println!(
            "  {:<14} {:<11} {:>3} {:>8} {:>7} {:>7} {:>6} {:>11}",
            "patient", "first dose", "BOR", "benefit", "PFS", "OS", "DoR", "exceptional"
        );
        for p in &r.patients {
            let cens = |days: i64, event: bool| format!("{days}{}", if event { "" } else { "+" });
            println!(
                "  {:<14} {:<11} {:>3} {:>8} {:>7} {:>7} {:>6} {:>11}{}{}",
                p.patient,
                p.first_dose_on,
                p.best_response,
                if p.benefit { "yes" } else { "no" },
                cens(p.pfs_days, p.pfs_event),
                cens(p.os_days, p.os_event),
                p.dor_days
                    .map_or_else(|| "-".into(), |d| cens(d, p.dor_event.unwrap_or(false))),
                if p.exceptional { "yes" } else { "" },
                if p.disagreements.is_empty() {
                    String::new()
                } else {
                    format!(
                        "  ! investigator disagrees at {} scan(s)",
                        p.disagreements.len()
                    )
                },
                mark(p.suspect)
            );
        }
        println!("\n(every value's supporting records: --json)");
    }
}

/// A cohort's stage decisions as a table: one row per decision, the records counted by
/// number only (`view dossier --json` lists them).
fn print_stage_decisions(cohort: &str, decisions: &[serde_json::Value]) {
    println!("\nstage decisions of {cohort}");
    println!(
        "  {:<20} {:>8} {:>9} {:>8} {:>8} {:>10}  record",
        "status", "enrolled", "evaluable", "benefit", "no eval", "evidence"
    );
    for d in decisions {
        let n = |k: &str| d[k].as_u64().map_or("?".to_string(), |v| v.to_string());
        let record = &d["record"];
        println!(
            "  {:<20} {:>8} {:>9} {:>8} {:>8} {:>10}  {}/{}{}",
            d["status"].as_str().unwrap_or("?"),
            n("enrolled"),
            n("evaluable"),
            n("benefits"),
            n("not_evaluable"),
            d["evidence"].as_array().map_or(0, Vec::len),
            record["partition"],
            record["seq"],
            mark(d["suspect"].as_bool().unwrap_or(false))
        );
    }
}
