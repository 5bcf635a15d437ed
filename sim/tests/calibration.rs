//! The simulation holds for every seed: seeds 1-5 and 2016 each land within two half-widths of
//! the DRUP report's figures, their mean within half a half-width, and the MSI-high nivolumab
//! cohort resembles its publication (PMID 39024037): 130 evaluable, benefit and ORR whose mean
//! lies in the published intervals, median PFS from 9 months on, median OS beyond the
//! publication's 14.5 months of follow-up; the reverse-KM median follow-up is reported. Figures
//! are computed from the emitted
//! events (tl-clinical over the ledger read back), not the simulator's counters.
//!
//! Tolerances hold for trials of the report's size (1,610 treated); the runs here use
//! [`TREATED`] patients per seed and scale the tolerances by sqrt(1610 / TREATED).

use tl_schemas::TrialId;
use tl_sim::figures::{mean_checks, FigureCheck};
use tl_sim::{from_ledger, simulate, SimConfig, TrialFigures, DEFAULT_SEED, DEFAULT_TREATED};

/// The seeds every calibration must hold for.
const SEEDS: [u64; 6] = [1, 2, 3, 4, 5, DEFAULT_SEED];
/// Treated patients per seed: the report's size.
const TREATED: u32 = DEFAULT_TREATED;

fn run(seed: u64) -> TrialFigures {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    let config = SimConfig::new(TrialId::new("drup-demo").unwrap(), seed, TREATED);
    let (report, _) = simulate(&ledger, &config).unwrap();
    let f = from_ledger(&ledger).unwrap();
    assert_eq!(f.treated, TREATED);
    assert_eq!(f.records, report.records);
    assert!(
        f.screened > f.treated,
        "more patients screened than treated"
    );
    f
}

fn print(label: &str, checks: &[FigureCheck]) -> Vec<String> {
    let mut out = Vec::new();
    for c in checks {
        eprintln!(
            "{label:<10} {:<50} {:>7.2} {:<6} target {:>5.1} +/- {:.2}",
            c.name, c.value, c.unit, c.target, c.tolerance
        );
        if !c.within() {
            out.push(format!("{label}: {} = {:.2}", c.name, c.value));
        }
    }
    out
}

#[test]
fn every_seed_and_their_mean_match_the_drup_figures_and_the_msi_cohort_its_paper() {
    // given the six seeds, two simulated at a time (the machine has two cores)
    let runs: Vec<TrialFigures> = SEEDS
        .chunks(2)
        .flat_map(|pair| {
            std::thread::scope(|s| {
                let handles: Vec<_> = pair
                    .iter()
                    .map(|&seed| s.spawn(move || run(seed)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();

    // then each seed lands within two half-widths and the mean within half a half-width
    let mut outside = Vec::new();
    for (seed, f) in SEEDS.iter().zip(&runs) {
        assert!(
            (1250..=1450).contains(&f.evaluable),
            "seed {seed}: about 1,363 response-evaluable, got {}",
            f.evaluable
        );
        outside.extend(print(&format!("seed {seed}"), &f.checks()));
    }
    outside.extend(print("mean", &mean_checks(&runs)));

    // and the MSI-high nivolumab cohort: 130 evaluable, benefit 62 % (53-70), ORR 45 %
    // (36-54), median PFS 18 months (9-not reached), median OS not reached
    let msi: Vec<_> = runs
        .iter()
        .map(|f| {
            f.cohorts
                .iter()
                .find(|c| c.cohort_id == "NIVO.MSI.ANY")
                .cloned()
                .unwrap()
        })
        .collect();
    let pct = |n: u32, d: u32| 100.0 * f64::from(n) / f64::from(d.max(1));
    let mut sums = [0.0; 2];
    for (seed, c) in SEEDS.iter().zip(&msi) {
        let (benefit, orr) = (pct(c.benefits, c.evaluable), pct(c.objective, c.evaluable));
        eprintln!(
            "seed {seed} MSI: {} treated, {} evaluable, benefit {benefit:.1} %, ORR {orr:.1} %, median PFS {:?} months, median OS {:?} months, median follow-up (reverse KM) {:?} months",
            c.treated, c.evaluable, c.median_pfs_months, c.median_os_months, c.median_follow_up_months
        );
        sums[0] += benefit;
        sums[1] += orr;
        // The cap holds 130 patients with an outcome; a seed whose cohort fills late has fewer.
        if !(100..=130).contains(&c.evaluable) {
            outside.push(format!("seed {seed}: MSI evaluable {}", c.evaluable));
        }
        // each seed within twice the published half-width
        if (benefit - 62.0).abs() > 2.0 * 8.5 {
            outside.push(format!("seed {seed}: MSI benefit {benefit:.1}"));
        }
        if (orr - 45.0).abs() > 2.0 * 9.0 {
            outside.push(format!("seed {seed}: MSI ORR {orr:.1}"));
        }
        if c.median_pfs_months.is_some_and(|m| m < 18.0 - 2.0 * 9.0) {
            outside.push(format!(
                "seed {seed}: MSI median PFS {:?}",
                c.median_pfs_months
            ));
        }
    }
    let n = msi.len() as f64;
    let (benefit, orr) = (sums[0] / n, sums[1] / n);
    if !(53.0..=70.0).contains(&benefit) {
        outside.push(format!("mean MSI benefit {benefit:.1} outside 53-70"));
    }
    if !(36.0..=54.0).contains(&orr) {
        outside.push(format!("mean MSI ORR {orr:.1} outside 36-54"));
    }
    // Not reached counts as above any bound.
    let months = |m: Option<f64>| m.unwrap_or(f64::INFINITY);
    let pfs: Vec<f64> = msi.iter().map(|c| months(c.median_pfs_months)).collect();
    let mean_pfs = pfs.iter().sum::<f64>() / n;
    if mean_pfs < 9.0 {
        outside.push(format!("mean MSI median PFS {mean_pfs:.1} below 9 months"));
    }
    // Median OS not reached at 14.5 months of follow-up: S(t) stays above 0.5 at least that
    // long. The simulated cohort opens with the trial, so its follow-up is longer (reported
    // above); its median, where reached, must lie beyond 14.5 months.
    for (seed, c) in SEEDS.iter().zip(&msi) {
        if c.median_os_months.is_some_and(|m| m <= 14.5) {
            outside.push(format!(
                "seed {seed}: MSI median OS {:?}",
                c.median_os_months
            ));
        }
    }
    assert!(outside.is_empty(), "outside tolerance: {outside:#?}");
}
