//! The matcher's proposals against a table of hand-written cases (pure, given/when/then):
//! a single candidate, several candidates and their ranking, no candidate, a closed and a full
//! cohort, and an alteration of the right gene but the wrong variant.

use tl_domain::matcher::{evaluate, propose, Availability, CohortView};
use tl_schemas::clinical::*;
use tl_schemas::ids::Name;
use tl_schemas::{Date, Hash32};

fn cohort(
    id: &str,
    tumour: Option<&str>,
    biomarker: BiomarkerRule,
    drug: &str,
) -> CohortDefinition {
    CohortDefinition {
        cohort_id: Name::new(id).unwrap(),
        tumour_type: tumour.map(str::to_string),
        biomarker,
        drug: drug.into(),
        stage1_size: 8,
        stage1_threshold: 1,
        stage2_size: 24,
        stage2_threshold: 5,
        expansion_cap: 100,
    }
}

/// A hand-written catalogue, in catalogue order.
fn catalogue() -> Vec<CohortDefinition> {
    let snv = |gene: &str, change: &str| BiomarkerRule::Alteration {
        gene: gene.into(),
        kinds: vec![AlterationKind::SnvIndel],
        protein_change: Some(change.into()),
    };
    vec![
        cohort(
            "VEMU.BRAFV600E.COAD",
            Some("COAD"),
            snv("BRAF", "p.V600E"),
            "vemurafenib",
        ),
        cohort(
            "VEMU.BRAFV600E.ANY",
            None,
            snv("BRAF", "p.V600E"),
            "vemurafenib",
        ),
        cohort(
            "TRAS.ERBB2AMP.ANY",
            None,
            BiomarkerRule::Amplification {
                gene: "ERBB2".into(),
                min_copy_number_x100: 600,
            },
            "trastuzumab",
        ),
        cohort(
            "ALEC.ALKFUS.ANY",
            None,
            BiomarkerRule::Fusion {
                gene: "ALK".into(),
                partner: None,
            },
            "alectinib",
        ),
        cohort("NIVO.MSI.ANY", None, BiomarkerRule::MsiHigh, "nivolumab"),
        cohort(
            "DURV.TMB10.ANY",
            None,
            BiomarkerRule::TmbAtLeast {
                mut_per_mb_x100: 1000,
            },
            "durvalumab",
        ),
        cohort(
            "SOTO.KRASG12C.NSCLC",
            Some("NSCLC"),
            snv("KRAS", "p.G12C"),
            "sotorasib",
        ),
    ]
}

fn result(msi: MsiStatus, tmb_x100: u32, alterations: Vec<Alteration>) -> SequencingResultReported {
    SequencingResultReported {
        sample_id: "S-1".into(),
        purity_pct: 60,
        msi,
        tmb_mut_per_mb_x100: tmb_x100,
        alterations,
        report_sha256: Hash32([0; 32]),
        report_uri: "urn:test".into(),
        reported_on: Date(19_000),
    }
}

fn snv(gene: &str, change: &str) -> Alteration {
    Alteration {
        gene: gene.into(),
        kind: AlterationKind::SnvIndel,
        protein_change: Some(change.into()),
        copy_number_x100: None,
        fusion_partner: None,
        vaf_bp: Some(3120),
    }
}

fn fusion(gene: &str, partner: &str) -> Alteration {
    Alteration {
        gene: gene.into(),
        kind: AlterationKind::Fusion,
        protein_change: None,
        copy_number_x100: None,
        fusion_partner: Some(partner.into()),
        vaf_bp: None,
    }
}

/// One case: a patient, the cohorts' availability, and the expected proposal.
struct Case {
    name: &'static str,
    tumour: &'static str,
    result: SequencingResultReported,
    /// Cohorts that are not open, with their availability (every other cohort is open).
    unavailable: Vec<(&'static str, Availability)>,
    /// The candidates, best first.
    candidates: Vec<&'static str>,
    /// Expected reasons of cohorts in `not_matched` (by prefix).
    reasons: Vec<(&'static str, &'static str)>,
    /// Cohorts that must be neither proposed nor listed.
    absent: Vec<&'static str>,
}

fn run(case: &Case) -> MatchProposed {
    let cat = catalogue();
    let avail: Vec<Availability> = cat
        .iter()
        .map(|d| {
            case.unavailable
                .iter()
                .find(|(id, _)| *id == d.cohort_id.as_str())
                .map_or(Availability::Open, |(_, a)| a.clone())
        })
        .collect();
    let views: Vec<CohortView<'_>> = cat
        .iter()
        .zip(&avail)
        .map(|(definition, availability)| CohortView {
            definition,
            availability,
        })
        .collect();
    propose(7, &views, Some(case.tumour), &case.result)
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "single candidate: an EML4-ALK fusion in lung cancer",
            tumour: "NSCLC",
            result: result(MsiStatus::Stable, 210, vec![fusion("ALK", "EML4")]),
            unavailable: vec![],
            candidates: vec!["ALEC.ALKFUS.ANY"],
            reasons: vec![
                ("VEMU.BRAFV600E.COAD", "tumour type NSCLC; the cohort is for COAD"),
                ("VEMU.BRAFV600E.ANY", "no BRAF alteration"),
                ("TRAS.ERBB2AMP.ANY", "no ERBB2 amplification"),
                ("NIVO.MSI.ANY", "microsatellite stable"),
                ("DURV.TMB10.ANY", "TMB 2.10 mut/Mb, below 10.00"),
                ("SOTO.KRASG12C.NSCLC", "no KRAS alteration"),
            ],
            absent: vec![],
        },
        Case {
            name: "several candidates, ranked: tumour-specific first, then by specificity",
            tumour: "COAD",
            result: result(
                MsiStatus::High,
                4210,
                vec![snv("BRAF", "p.V600E"), snv("TP53", "p.R175H")],
            ),
            unavailable: vec![],
            candidates: vec![
                "VEMU.BRAFV600E.COAD",
                "VEMU.BRAFV600E.ANY",
                "NIVO.MSI.ANY",
                "DURV.TMB10.ANY",
            ],
            reasons: vec![
                ("TRAS.ERBB2AMP.ANY", "no ERBB2 amplification"),
                ("ALEC.ALKFUS.ANY", "no ALK fusion"),
                ("SOTO.KRASG12C.NSCLC", "tumour type COAD; the cohort is for NSCLC"),
            ],
            absent: vec![],
        },
        Case {
            name: "no candidate: nothing actionable",
            tumour: "PAAD",
            result: result(MsiStatus::Stable, 300, vec![snv("TP53", "p.R273H")]),
            unavailable: vec![],
            candidates: vec![],
            reasons: vec![
                ("VEMU.BRAFV600E.ANY", "no BRAF alteration"),
                ("NIVO.MSI.ANY", "microsatellite stable"),
                ("DURV.TMB10.ANY", "TMB 3.00 mut/Mb, below 10.00"),
            ],
            absent: vec![],
        },
        Case {
            name: "a closed cohort is not proposed; why is given",
            tumour: "NSCLC",
            result: result(MsiStatus::Stable, 210, vec![fusion("ALK", "EML4")]),
            unavailable: vec![(
                "ALEC.ALKFUS.ANY",
                Availability::Closed {
                    status: CohortStatus::ClosedForFutility,
                },
            )],
            candidates: vec![],
            reasons: vec![(
                "ALEC.ALKFUS.ANY",
                "matches, but the cohort is closed (closed_for_futility)",
            )],
            absent: vec![],
        },
        Case {
            name: "a full cohort is not proposed; why is given; a closed cohort that does not match is not listed",
            tumour: "COAD",
            result: result(MsiStatus::High, 3000, vec![]),
            unavailable: vec![
                (
                    "NIVO.MSI.ANY",
                    Availability::Full {
                        status: CohortStatus::Stage1,
                        slots: 9,
                        capacity: 9,
                    },
                ),
                (
                    "TRAS.ERBB2AMP.ANY",
                    Availability::Closed {
                        status: CohortStatus::CompletedNegative,
                    },
                ),
            ],
            candidates: vec!["DURV.TMB10.ANY"],
            reasons: vec![(
                "NIVO.MSI.ANY",
                "matches, but no slot is free (stage_1: 9 of 9 slots taken",
            )],
            absent: vec!["TRAS.ERBB2AMP.ANY"],
        },
        Case {
            name: "right gene, wrong variant: BRAF V600K is not V600E",
            tumour: "COAD",
            result: result(MsiStatus::Stable, 500, vec![snv("BRAF", "p.V600K")]),
            unavailable: vec![],
            candidates: vec![],
            reasons: vec![
                ("VEMU.BRAFV600E.COAD", "BRAF p.V600K, VAF 31.2 % is not p.V600E"),
                ("VEMU.BRAFV600E.ANY", "BRAF p.V600K, VAF 31.2 % is not p.V600E"),
            ],
            absent: vec![],
        },
    ]
}

#[test]
fn proposals_match_the_table() {
    for case in cases() {
        // given the catalogue and the case's availability, when the matcher proposes
        let p = run(&case);
        // then the candidates are the expected ones, ranked 1.., with rule and evidence
        let got: Vec<&str> = p.candidates.iter().map(|c| c.cohort_id.as_str()).collect();
        assert_eq!(got, case.candidates, "{}: candidates", case.name);
        for (i, c) in p.candidates.iter().enumerate() {
            assert_eq!(usize::from(c.rank), i + 1, "{}", case.name);
            assert!(
                !c.rule.is_empty() && !c.evidence.is_empty(),
                "{}",
                case.name
            );
        }
        assert_eq!(p.protocol_version, 7);
        // and every expected exclusion is listed with its reason
        for (id, why) in &case.reasons {
            let e = p
                .not_matched
                .iter()
                .find(|e| e.cohort_id.as_str() == *id)
                .unwrap_or_else(|| panic!("{}: {id} not listed in {:?}", case.name, p.not_matched));
            assert!(
                e.reason.starts_with(why),
                "{}: {id}: {}",
                case.name,
                e.reason
            );
        }
        for id in &case.absent {
            assert!(
                !p.not_matched.iter().any(|e| e.cohort_id.as_str() == *id),
                "{}: {id} listed",
                case.name
            );
        }
        // and no cohort is both proposed and excluded, or listed twice
        let mut ids: Vec<&str> = got.clone();
        ids.extend(p.not_matched.iter().map(|e| e.cohort_id.as_str()));
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "{}: a cohort appears twice", case.name);
        // and when every cohort is open, every one is either proposed or explained
        if case.unavailable.is_empty() {
            assert_eq!(n, catalogue().len(), "{}", case.name);
        }
    }
}

#[test]
fn the_candidate_names_the_rule_and_the_evidence() {
    // given a BRAF V600E colorectal patient
    let case = &cases()[1];
    // when proposed
    let p = run(case);
    // then the first candidate names the catalogue rule and the finding that satisfied it
    let first = &p.candidates[0];
    assert_eq!(
        first.rule,
        "BRAF p.V600E (SNV/indel); tumour type COAD; vemurafenib"
    );
    assert_eq!(first.evidence, "BRAF p.V600E, VAF 31.2 %");
    assert!(p.candidates[2].evidence.starts_with("MSI high (TMB 42.10"));
}

#[test]
fn evaluate_gives_reasons_for_amplifications_msi_and_unknown_tumour_types() {
    let cat = catalogue();
    let gain = result(
        MsiStatus::Stable,
        100,
        vec![Alteration {
            gene: "ERBB2".into(),
            kind: AlterationKind::Amplification,
            protein_change: None,
            copy_number_x100: Some(420),
            fusion_partner: None,
            vaf_bp: None,
        }],
    );
    assert_eq!(
        evaluate(&cat[2], Some("BRCA"), &gain).unwrap_err(),
        "ERBB2 copy number 4.20, below 6.00"
    );
    let mut low = result(MsiStatus::Indeterminate, 0, vec![]);
    low.purity_pct = 12;
    assert_eq!(
        evaluate(&cat[4], Some("COAD"), &low).unwrap_err(),
        "MSI status indeterminate (tumour purity 12 %)"
    );
    assert_eq!(
        evaluate(&cat[5], Some("COAD"), &low).unwrap_err(),
        "TMB not determinable (tumour purity 12 %)"
    );
    assert_eq!(
        evaluate(&cat[0], None, &gain).unwrap_err(),
        "tumour type not recorded; the cohort is for COAD"
    );
}
