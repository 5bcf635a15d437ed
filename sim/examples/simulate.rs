//! Runs the simulation into a temporary folder and prints the figures computed from the ledger.
//!
//! `cargo run --release -p tl-sim --example simulate -- [TREATED] [SEED]`

use tl_schemas::TrialId;

fn main() {
    let mut args = std::env::args().skip(1);
    let treated = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(tl_sim::DEFAULT_TREATED);
    let seed = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(tl_sim::DEFAULT_SEED);
    let dir = tempfile::tempdir().expect("temporary folder");
    let ledger = dir.path().join("ledger");
    let config = tl_sim::SimConfig::new(TrialId::new("sim-example").expect("id"), seed, treated);
    let (report, _) = tl_sim::simulate(&ledger, &config).expect("simulation");
    println!(
        "{} records, {} screened, {} treated, accrual {} .. {:?}, cut-off {:?}, {:.2} s",
        report.records,
        report.screened,
        report.treated,
        report.accrual_start,
        report.accrual_closed.map(|d| d.to_string()),
        report.cutoff.map(|d| d.to_string()),
        report.elapsed.as_secs_f64()
    );
    let f = tl_sim::from_ledger(&ledger).expect("figures");
    println!(
        "treated {} evaluable {} benefit {} response {} exceptional {} severe AE {} susars {} disagreements {} corrections {}",
        f.treated, f.evaluable, f.clinical_benefit, f.objective_response, f.exceptional,
        f.severe_related_ae, f.susars, f.disagreements, f.corrections
    );
    for c in f.checks() {
        println!(
            "{:<50} {:>7.2} {:<6} target {:>5.1} +/- {:<4} {}",
            c.name,
            c.value,
            c.unit,
            c.target,
            c.tolerance,
            if c.within() { "ok" } else { "OUT" }
        );
    }
    for c in &f.cohorts {
        println!(
            "  {:<28} {:<20?} slots {:>3} refused {:>3} treated {:>3} evaluable {:>3} benefit {:>3}",
            c.cohort_id, c.status, c.slots, c.refused, c.treated, c.evaluable, c.benefits
        );
    }
    for (why, n) in rationales(&ledger) {
        println!("  rejected {n:>5}  {why}");
    }
    for (t, n) in &f.events_by_type {
        println!("  {t:<26} {n:>7}");
    }
}

/// Why screened patients were not treated: the MTB's rationales, by their first words.
fn rationales(ledger: &std::path::Path) -> std::collections::BTreeMap<String, u32> {
    let mut out = std::collections::BTreeMap::new();
    for input in tl_ledger::log::read_embedded_for_verify(ledger).expect("read") {
        for bytes in &input.records {
            let (r, _) = tl_ledger::codec::decode_record(bytes).expect("record");
            let env = &r.body.submission.submission.envelope;
            if env.event_type == tl_schemas::clinical::clinical_type::MATCH_DECIDED {
                let d: tl_schemas::clinical::MatchDecided =
                    tl_schemas::decode(&env.payload).expect("decode");
                if d.decision == tl_schemas::clinical::MtbDecision::Rejected {
                    let key: String = d.rationale.chars().take(90).collect();
                    *out.entry(key).or_insert(0) += 1;
                }
            }
        }
    }
    out
}
