//! Where a replay's time goes: `cargo run --release -p tl-projections --example phases -- DATA_DIR`
//! (a data folder `trial-ledger demo` wrote). Times, one after the other, the verifying reader
//! alone (with its own phases at debug level), the model, the facts (serially) and each view's
//! writes from empty databases. Wall times: meaningful on an idle machine only.

use std::time::Instant;
use tl_projections::model::TrialModel;
use tl_projections::{EmbeddedSource, VerifyingReader};

fn main() {
    tracing_subscriber_init();
    let data = std::path::PathBuf::from(std::env::args().nth(1).expect("DATA_DIR"));
    let trust = tl_ledger::trust::TrustFile::read(&data.join("trust.json")).unwrap();
    let root = trust.root_key().unwrap();
    let t = Instant::now();
    let mut r = VerifyingReader::new(
        EmbeddedSource::open(&data.join("ledger")).unwrap(),
        trust.trial(),
        root,
        1_000_000,
    );
    let mut all = Vec::new();
    loop {
        let p = r.poll().unwrap();
        if p.verified.is_empty() {
            break;
        }
        all.extend(p.verified);
    }
    println!(
        "reader (read + verify): {:?} for {} records",
        t.elapsed(),
        all.len()
    );
    let t = Instant::now();
    let mut m = TrialModel::new();
    let mut touched = tl_projections::model::Touched::default();
    for v in &all {
        touched.merge(m.apply(v));
    }
    println!("model: {:?}", t.elapsed());
    let t = Instant::now();
    let facts: Vec<_> = touched
        .patients
        .iter()
        .map(|n| tl_projections::facts::patient(&m, n))
        .collect();
    println!(
        "facts (serial): {:?} for {} patients",
        t.elapsed(),
        facts.len()
    );
    let tmp = std::env::temp_dir().join(format!("phases-{}", std::process::id()));
    let known = tl_projections::views::PatientFactsMap::new(touched.patients.iter().cloned());
    for k in 0..known.len() {
        known.derive(&m, k);
    }
    drop(facts);
    // One batch whose last record carries every touched subject: each view writes them all.
    let mut batch: Vec<_> = all
        .iter()
        .map(|v| (v.clone(), tl_projections::model::Touched::default()))
        .collect();
    if let Some(last) = batch.last_mut() {
        last.1 = touched.clone();
    }
    for k in tl_projections::ViewKind::ALL {
        let mut v = tl_projections::ViewDb::open(k, &tmp, &trust.trial(), &root).unwrap();
        let t = Instant::now();
        v.apply(&m, &batch, &known).unwrap();
        println!("view {}: {:?}", k.name(), t.elapsed());
    }
    std::fs::remove_dir_all(&tmp).ok();
}

fn tracing_subscriber_init() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        .with_writer(std::io::stderr)
        .init();
}
