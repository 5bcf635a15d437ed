//! The views agree with the simulation: counts per cohort, each cohort's status and benefit per
//! patient against the simulator's own ground truth (what its decider was told), and the
//! trial-level figures against `tl_sim::figures` and the calibration tolerances. Also: rebuild
//! equality, resume after restart, and lag.

mod common;

use common::*;
use std::collections::BTreeMap;
use tl_clinical::Outcome;
use tl_domain::cohort_engine::status_of;
use tl_projections::{report, LogState, ViewKind};

fn conn(db: &std::path::Path, k: ViewKind) -> rusqlite::Connection {
    rusqlite::Connection::open(k.path(db)).unwrap()
}

/// Checks every agreement with the simulator's ground truth; returns the dossier report.
fn assert_agrees(t: &SimTrial, db: &std::path::Path) -> report::DossierReport {
    let enrollment = report::enrollment(&conn(db, ViewKind::Enrollment), None).unwrap();
    let dossier = report::dossier(&conn(db, ViewKind::Dossier), None).unwrap();
    let figures = tl_sim::from_ledger(&t.ledger).unwrap();

    // Funnel: registered = screened, treated = the simulator's treated.
    assert_eq!(enrollment.funnel.registered, u64::from(t.report.screened));
    assert_eq!(enrollment.funnel.treated, u64::from(figures.treated));
    assert!(enrollment.funnel.registered >= enrollment.funnel.sequenced);
    assert!(enrollment.funnel.sequenced >= enrollment.funnel.matched);
    assert!(enrollment.funnel.matched >= enrollment.funnel.mtb_approved);
    assert!(enrollment.funnel.mtb_approved >= enrollment.funnel.slot);
    assert!(enrollment.funnel.slot >= enrollment.funnel.enrolled);
    assert!(enrollment.funnel.enrolled >= enrollment.funnel.treated);

    // Per cohort: slots and refusals as the decider handed them out, status and counts as the
    // cohort engine's state machine ended.
    let truth = &t.decider.truth;
    let by_id: BTreeMap<_, _> = enrollment
        .cohorts
        .iter()
        .map(|c| (c.cohort.clone(), c))
        .collect();
    let mut checked = 0;
    for engine in t.decider.cohorts() {
        let id = engine.definition.cohort_id.to_string();
        let Some(c) = by_id.get(&id) else {
            panic!("cohort {id} missing from the enrollment view")
        };
        assert_eq!(
            c.slots as u32,
            truth.slots.get(&id).copied().unwrap_or(0),
            "{id} slots"
        );
        assert_eq!(
            c.refused as u32,
            truth.refused.get(&id).copied().unwrap_or(0),
            "{id} refused"
        );
        assert_eq!(c.slots as u32, engine.slots, "{id}: slot numbers");
        let status = tl_projections::facts::status_name(status_of(engine.machine.state()));
        assert_eq!(c.status, status, "{id} status");
        // The cohort engine's counts: every slot, and every benefit it was told of, is in
        // the view; its evaluable count (outcomes known) is at most the view's
        // response-evaluable count (best response other than NE, known or not yet final).
        let counts = engine.machine.counts();
        assert_eq!(c.slots, i64::from(counts.enrolled), "{id}: enrolled");
        assert_eq!(c.benefits, i64::from(counts.benefits), "{id}: benefits");
        assert!(
            c.evaluable >= i64::from(counts.evaluable),
            "{id}: evaluable"
        );
        // Outcomes the simulation knew, per cohort, against the view's per-patient rows.
        let benefits = truth
            .outcomes
            .values()
            .filter(|(co, o)| co == &id && *o == Outcome::Benefit)
            .count() as i64;
        assert_eq!(c.benefits, benefits, "{id}: patients with benefit");
        checked += 1;
    }
    assert!(checked > 10, "only {checked} cohorts");

    // Benefit per patient, exactly: the set of patients with benefit is the set the
    // simulation recorded as benefit; no-benefit patients are evaluable without benefit;
    // not-evaluable ones are not evaluable.
    let rows: BTreeMap<_, _> = dossier
        .patients
        .iter()
        .map(|p| (p.patient.clone(), p))
        .collect();
    for (patient, (cohort, outcome)) in &truth.outcomes {
        let row = rows
            .get(patient)
            .unwrap_or_else(|| panic!("{patient} has an outcome but no dossier row"));
        assert_eq!(row.cohort.as_deref(), Some(cohort.as_str()));
        match outcome {
            Outcome::Benefit => assert!(row.benefit && row.evaluable, "{patient}: benefit"),
            Outcome::NoBenefit => {
                assert!(
                    !row.benefit && row.evaluable,
                    "{patient}: evaluable, no benefit"
                )
            }
            Outcome::NotEvaluable => assert!(!row.evaluable, "{patient}: not evaluable"),
        }
    }
    for row in dossier.patients.iter().filter(|p| p.benefit) {
        assert_eq!(
            truth.outcomes.get(&row.patient).map(|(_, o)| *o),
            Some(Outcome::Benefit),
            "{}: benefit the simulation did not record",
            row.patient
        );
        // Every benefit cites the first dose and the scans behind it.
        assert!(row.benefit_refs.as_array().is_some_and(|a| a.len() >= 2));
    }

    // Trial-level figures equal the simulator's calibration figures (same rules, same
    // records).
    let s = &dossier.trial;
    assert_eq!(s.treated as u32, figures.treated);
    assert_eq!(s.evaluable as u32, figures.evaluable);
    assert_eq!(s.clinical_benefit as u32, figures.clinical_benefit);
    assert_eq!(s.objective_response as u32, figures.objective_response);
    assert_eq!(s.exceptional_responders as u32, figures.exceptional);
    assert_eq!(s.grade3plus_trae as u32, figures.severe_related_ae);
    assert_eq!(s.median_pfs_months, figures.median_pfs_months);
    assert_eq!(s.median_os_months, figures.median_os_months);
    assert_eq!(s.disagreements as u32, figures.disagreements);
    let safety = report::safety(&conn(db, ViewKind::Safety), None).unwrap();
    assert_eq!(safety.overall.susars as u32, figures.susars);
    assert_eq!(safety.overall.deaths as u32, figures.deaths);
    assert_eq!(safety.overall.treated as u32, figures.treated);
    assert_dor_from_the_first_response(t, &dossier);
    // An exceptional responder without clinical benefit is impossible under format 2.
    for p in &dossier.patients {
        assert!(
            !p.exceptional || p.benefit,
            "{}: exceptional, no benefit",
            p.patient
        );
    }
    dossier
}

/// No responder's duration of response starts after their first PR or CR (RECIST 1.1 computed
/// from the ledger's measurements here, independently of the view's derivation), and each
/// starts at a PR or CR scan of that patient.
fn assert_dor_from_the_first_response(t: &SimTrial, dossier: &report::DossierReport) {
    use tl_schemas::clinical::{clinical_type as ct, ResponseAssessed};
    use tl_schemas::{decode, Record, Subject};
    let mut scans: BTreeMap<(i64, i64), (String, ResponseAssessed)> = BTreeMap::new();
    for (p, input) in tl_ledger::log::read_embedded_for_verify(&t.ledger)
        .unwrap()
        .into_iter()
        .enumerate()
    {
        for (seq, bytes) in input.records.iter().enumerate() {
            let sub = decode::<Record>(bytes).unwrap().body.submission.submission;
            if let (ct::RESPONSE_ASSESSED, Subject::Patient(who)) =
                (sub.envelope.event_type, &sub.subject)
            {
                let a: ResponseAssessed = decode(&sub.envelope.payload).unwrap();
                scans.insert((p as i64, seq as i64), (who.to_string(), a));
            }
        }
    }
    let mut responders = 0;
    for row in dossier.patients.iter().filter(|p| p.dor_days.is_some()) {
        let mine: Vec<&ResponseAssessed> = scans
            .values()
            .filter(|(who, _)| who == &row.patient)
            .map(|(_, a)| a)
            .collect();
        let baseline = mine.iter().find(|a| a.baseline).expect("a baseline scan");
        let mut follow: Vec<&&ResponseAssessed> = mine.iter().filter(|a| !a.baseline).collect();
        follow.sort_by_key(|a| a.assessed_on);
        let conv = tl_clinical::records::assessment;
        let base = tl_clinical::target_sum_mm10(
            &baseline
                .targets
                .iter()
                .map(tl_clinical::records::target)
                .collect::<Vec<_>>(),
        );
        let responses = tl_clinical::overall_responses(
            base,
            &follow.iter().map(|a| conv(a)).collect::<Vec<_>>(),
        );
        let first_response = follow
            .iter()
            .zip(&responses)
            .find(|(_, r)| r.is_objective())
            .map(|(a, _)| a.assessed_on)
            .expect("a responder has a PR or CR scan");
        let start = &row.dor_refs.as_ref().unwrap()[0];
        let at = (
            start["partition"].as_i64().unwrap(),
            start["seq"].as_i64().unwrap(),
        );
        let (who, scan) = scans.get(&at).expect("DoR starts at a scan");
        assert_eq!(who, &row.patient);
        assert!(
            scan.assessed_on <= first_response,
            "{}: DoR starts {} after the first response {}",
            row.patient,
            scan.assessed_on,
            first_response
        );
        responders += 1;
    }
    assert!(responders > 0, "no responder to check");
}

#[test]
fn a_small_trial_agrees_with_the_simulation_and_rebuilds_to_the_same_rows() {
    let t = simulate(160, 7);
    let db = t.dir.path().join("views");
    let progress = t.project(&db, 10_000);
    assert_eq!(progress.verified, t.report.records);
    assert_eq!(progress.applied, [t.report.records; 3]);
    assert_agrees(&t, &db);

    // Rebuild from position 0, in small batches: the same rows, by primary key.
    let db2 = t.dir.path().join("views-rebuilt");
    t.project(&db2, 37);
    assert_same_rows(&dump_all(&db), &dump_all(&db2));
}

#[test]
fn a_restarted_projector_resumes_where_it_stopped_and_reports_its_lag() {
    let t = simulate(120, 11);
    let db = t.dir.path().join("views");
    // A first run stops after a few polls of small batches.
    {
        let mut p =
            tl_projections::embedded(&t.ledger, t.trial.clone(), t.root(), &db, 50).unwrap();
        for _ in 0..5 {
            p.step().unwrap();
        }
        let lag = p.lag().unwrap();
        let of = |f: fn(&tl_projections::Lag) -> u64| -> u64 {
            lag.iter().filter(|l| l.view == "enrollment").map(f).sum()
        };
        assert_eq!(of(|l| l.log), t.report.records, "the log's records");
        let consumed = of(|l| l.consumed);
        assert!(consumed > 0 && consumed < t.report.records, "{consumed}");
        assert_eq!(of(|l| l.behind), t.report.records - consumed);
        for l in &lag {
            assert_eq!(l.behind, l.log - l.consumed);
        }
    }
    // A second process resumes: it applies only what the first did not.
    let mut p =
        tl_projections::embedded(&t.ledger, t.trial.clone(), t.root(), &db, 10_000).unwrap();
    let before: u64 = p.view(ViewKind::Dossier).positions().iter().sum();
    assert!(before > 0 && before < t.report.records);
    let progress = p.catch_up(LogState::Complete).unwrap();
    assert_eq!(
        progress.verified, t.report.records,
        "the reader verifies from 0 again"
    );
    assert_eq!(
        progress.applied,
        [t.report.records - before; 3],
        "each record is applied once"
    );
    assert!(p.lag().unwrap().iter().all(|l| l.behind == 0));
    drop(p);
    assert_agrees(&t, &db);
    let db2 = t.dir.path().join("clean");
    t.project(&db2, 10_000);
    assert_same_rows(&dump_all(&db), &dump_all(&db2));
}

#[test]
fn the_default_demo_agrees_and_lands_within_the_calibration_tolerances() {
    let t = simulate(tl_sim::DEFAULT_TREATED, tl_sim::DEFAULT_SEED);
    let db = t.dir.path().join("views");
    t.project(&db, 10_000);
    let d = assert_agrees(&t, &db);
    let figures = tl_sim::from_ledger(&t.ledger).unwrap();
    for c in figures.checks() {
        assert!(
            c.within(),
            "{} = {} outside {} +/- {}",
            c.name,
            c.value,
            c.target,
            c.tolerance
        );
    }
    let rate = |x: Option<f64>| x.unwrap();
    assert!((rate(d.trial.clinical_benefit_rate) - 34.9).abs() <= 3.0);
    assert!((rate(d.trial.objective_response_rate) - 15.7).abs() <= 3.0);
    assert!((rate(d.trial.median_pfs_months) - 3.4).abs() <= 1.0);
    assert!((rate(d.trial.median_os_months) - 8.2).abs() <= 1.0);
    assert!((rate(d.trial.grade3plus_trae_rate) - 28.4).abs() <= 3.0);
    assert!((rate(d.trial.exceptional_responder_rate) - 7.0).abs() <= 2.0);
}
