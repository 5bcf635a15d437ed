//! An independent reference: lifelines and scipy recompute the dossier's figures.
//!
//! The test makes a Python virtual environment under the workspace's `target/` with the pinned
//! versions of `tests/reference/requirements.txt` (lifelines and scipy and their dependencies;
//! never the global site-packages), simulates a trial, projects it, and hands the dossier's
//! JSON to `tests/reference/recompute.py`. That script sees only the per-patient rows, and
//! recomputes every cohort's and the trial's Kaplan-Meier median PFS, OS and duration of
//! response (lifelines) and the clinical-benefit and objective-response rates with their exact
//! 95 % intervals, among the evaluable and among the treated (scipy's beta quantiles).
//!
//! Agreement: medians to the day (against the exact rational Kaplan-Meier estimate always, and
//! against lifelines except where S(t) is exactly 1/2, where lifelines' floating-point estimate
//! can land a few ulps above 0.5 and it reports the next event time; recompute.py documents
//! the convention with an example, and R's midpoint rule); interval bounds within 0.1
//! percentage point. The test never skips: without Python, venv or the packages it fails and
//! says which step failed.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use tl_projections::{report, ViewKind};

/// The folder of the reference script and its pinned requirements.
fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference")
}

/// The reference environment's python: `target/reference-venv` with the pinned lifelines and
/// scipy ([`tl_tests::python::venv_python`]).
fn venv_python() -> PathBuf {
    tl_tests::python::venv_python("reference-venv", &reference_dir().join("requirements.txt"))
}

/// The figures of one group, as the dossier states them and as the reference recomputed them;
/// returns the medians where lifelines differs by the documented convention (S(t) exactly 1/2).
fn compare(name: &str, ours: &Value, theirs: &Value, failures: &mut Vec<String>) -> Vec<String> {
    let mut documented = Vec::new();
    for key in ["median_pfs_days", "median_os_days", "median_dor_days"] {
        let t = &theirs[key];
        // To the day against the exact rational estimate, always.
        if ours[key] != t["exact"] {
            failures.push(format!(
                "{name} {key}: ours {} exact {}",
                ours[key], t["exact"]
            ));
        }
        // And against lifelines, except where S(t) is exactly 1/2 (recompute.py's docstring).
        if ours[key] != t["lifelines"] {
            if t["exactly_half"] == Value::Bool(true) {
                documented.push(format!(
                    "{name} {key}: ours {} lifelines {} (S = 1/2 exactly)",
                    ours[key], t["lifelines"]
                ));
            } else {
                failures.push(format!(
                    "{name} {key}: ours {} lifelines {}",
                    ours[key], t["lifelines"]
                ));
            }
        }
    }
    for key in [
        "clinical_benefit_evaluable",
        "clinical_benefit_treated",
        "objective_response_evaluable",
        "objective_response_treated",
    ] {
        let (o, t) = (&ours[key], &theirs[key]);
        if o["count"] != t[0] || o["of"] != t[1] {
            failures.push(format!("{name} {key}: counts {o} vs {t}"));
            continue;
        }
        match (o["ci95_percent"].as_array(), t[2].as_array()) {
            (None, None) => {}
            (Some(a), Some(b)) => {
                for (x, y) in a.iter().zip(b) {
                    let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                    if (x - y).abs() >= 0.1 {
                        failures.push(format!("{name} {key}: interval {a:?} vs scipy {b:?}"));
                    }
                }
            }
            _ => failures.push(format!("{name} {key}: interval {o} vs {t}")),
        }
    }
    documented
}

#[test]
fn lifelines_and_scipy_recompute_every_median_and_interval_of_the_dossier() {
    // given the reference environment and a projected simulated trial
    let python = venv_python();
    let t = common::simulate(400, 2016);
    let db = t.dir.path().join("views");
    t.project(&db, 512);
    let conn = rusqlite::Connection::open(ViewKind::Dossier.path(&db)).unwrap();
    let dossier = serde_json::to_value(report::dossier(&conn, None).unwrap()).unwrap();
    let json = t.dir.path().join("dossier.json");
    std::fs::write(&json, serde_json::to_vec(&dossier).unwrap()).unwrap();

    // when lifelines and scipy recompute its figures from the patient rows alone
    let out = tl_tests::python::run(
        Command::new(&python)
            .arg(reference_dir().join("recompute.py"))
            .arg(&json),
        "the reference recomputation",
    );
    let theirs: Value = serde_json::from_str(&out).unwrap();

    // then every median agrees to the day and every interval to 0.1 percentage point
    let mut failures = Vec::new();
    let trial_documented = compare("trial", &dossier["trial"], &theirs["trial"], &mut failures);
    assert!(trial_documented.is_empty(), "{trial_documented:?}");
    let mut documented = Vec::new();
    let cohorts = dossier["cohorts"].as_array().unwrap();
    let mut compared = 0;
    for c in cohorts {
        let id = c["cohort"].as_str().unwrap();
        if c["summary"]["treated"].as_i64() == Some(0) {
            continue;
        }
        documented.extend(compare(
            id,
            &c["summary"],
            &theirs["cohorts"][id],
            &mut failures,
        ));
        compared += 1;
    }
    eprintln!(
        "{compared} cohorts and the trial compared; lifelines differs by convention on {}:\n{}",
        documented.len(),
        documented.join("\n")
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // and the comparison covered real figures: many cohorts, medians reached
    assert!(compared >= 10, "only {compared} cohorts treated");
    assert!(dossier["trial"]["median_pfs_days"].is_number());
    assert!(dossier["trial"]["median_dor_days"].is_number());
    assert!(dossier["trial"]["clinical_benefit_evaluable"]["ci95_percent"].is_array());
}
