//! The default simulation lands within the tolerances, with the figures computed from
//! the emitted events (tl-clinical over the ledger read back), not the simulator's counters.

use tl_schemas::TrialId;
use tl_sim::{from_ledger, simulate, SimConfig, DEFAULT_SEED, DEFAULT_TREATED};

#[test]
fn default_run_matches_the_drup_figures() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    let config = SimConfig::new(
        TrialId::new("drup-demo").unwrap(),
        DEFAULT_SEED,
        DEFAULT_TREATED,
    );
    let (report, _) = simulate(&ledger, &config).unwrap();
    let f = from_ledger(&ledger).unwrap();
    assert_eq!(f.treated, DEFAULT_TREATED);
    assert_eq!(f.records, report.records);
    assert!(
        f.screened > f.treated,
        "more patients screened than treated"
    );
    assert!(
        (1250..=1450).contains(&f.evaluable),
        "about 1,363 response-evaluable, got {}",
        f.evaluable
    );
    let years = report
        .accrual_closed
        .map(|d| f64::from(d.0 - report.accrual_start.0) / 365.25)
        .unwrap_or(f64::NAN);
    assert!(
        (7.0..=10.0).contains(&years),
        "accrual over about 8 years, got {years:.1}"
    );
    let mut out = Vec::new();
    for c in f.checks() {
        eprintln!(
            "{:<50} {:>7.2} {:<6} target {:>5.1} +/- {}",
            c.name, c.value, c.unit, c.target, c.tolerance
        );
        if !c.within() {
            out.push(c.name);
        }
    }
    assert!(out.is_empty(), "outside tolerance: {out:?}");
    // The MSI-high nivolumab cohort expands well past 24.
    let msi = f
        .cohorts
        .iter()
        .find(|c| c.cohort_id == "NIVO.MSI.ANY")
        .unwrap();
    assert!(msi.evaluable > 100, "{msi:?}");
    let rate = f64::from(msi.benefits) / f64::from(msi.evaluable);
    assert!((0.5..=0.75).contains(&rate), "{msi:?}");
}
