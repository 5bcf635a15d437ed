//! Every adverse-event term the simulator can emit has its CTCAE v5.0 system organ class in
//! `tl_clinical::ctcae_soc`, so the safety board's tables never show a simulated term under
//! "SOC not mapped": the catalogue's lists, and every term of a simulated ledger.

use tl_clinical::ctcae_soc::soc_of;
use tl_schemas::clinical::{clinical_type, AdverseEventReported};
use tl_schemas::{decode, Record, TrialId};
use tl_sim::catalogue::{ToxClass, DISEASE_TERMS, UNEXPECTED_TERMS};
use tl_sim::{simulate, SimConfig};

/// Every toxicity class (a new one fails to compile here until it is listed).
fn all_classes() -> Vec<ToxClass> {
    use ToxClass::*;
    let all = vec![
        Immunotherapy,
        BrafMek,
        Her2,
        Egfr,
        Parp,
        Cdk46,
        Pi3kMtor,
        FusionTki,
        MultiKinase,
        Fgfr,
        KrasG12c,
        Hedgehog,
        Idh,
        Kit,
    ];
    for c in &all {
        match c {
            Immunotherapy | BrafMek | Her2 | Egfr | Parp | Cdk46 | Pi3kMtor | FusionTki
            | MultiKinase | Fgfr | KrasG12c | Hedgehog | Idh | Kit => {}
        }
    }
    all
}

#[test]
fn every_term_of_the_catalogue_has_its_ctcae_soc() {
    // given every term the catalogue can draw
    let mut terms: Vec<&str> = UNEXPECTED_TERMS
        .iter()
        .chain(DISEASE_TERMS)
        .copied()
        .collect();
    for c in all_classes() {
        terms.extend(c.common_terms());
        terms.extend(c.severe_terms());
    }
    // when each is looked up
    // then each has a system organ class
    let missing: Vec<_> = terms.iter().filter(|t| soc_of(t).is_none()).collect();
    assert!(missing.is_empty(), "no CTCAE v5.0 SOC for {missing:?}");
}

#[test]
fn every_term_of_a_simulated_ledger_has_its_ctcae_soc() {
    // given a simulated trial of 60 patients
    let dir = tempfile::tempdir().unwrap();
    let config = SimConfig::new(TrialId::new("soc-test").unwrap(), 11, 60);
    simulate(&dir.path().join("ledger"), &config).unwrap();
    // when every adverse event's term is read back
    let mut seen = 0;
    for input in tl_ledger::log::read_embedded_for_verify(&dir.path().join("ledger")).unwrap() {
        for bytes in &input.records {
            let record: Record = decode(bytes).unwrap();
            let e = &record.body.submission.submission.envelope;
            if e.event_type != clinical_type::ADVERSE_EVENT_REPORTED {
                continue;
            }
            let ae: AdverseEventReported = decode(&e.payload).unwrap();
            // then it has a system organ class
            assert!(soc_of(&ae.ctcae_term).is_some(), "{}", ae.ctcae_term);
            seen += 1;
        }
    }
    assert!(seen > 20, "only {seen} adverse events");
}
