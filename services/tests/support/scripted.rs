//! The scripted cohort catalogue shared by the deciding-service tests on the embedded log
//! (`deciders.rs`) and on Kafka (`kafka_deciders.rs`).

use tl_schemas::clinical::*;
use tl_schemas::ids::Name;

/// Two cohorts: BRAF V600E in colorectal cancer, and ALK fusions in any tumour.
pub fn catalogue() -> CohortCatalogue {
    let def = |id: &str, tumour: Option<&str>, biomarker, drug: &str| CohortDefinition {
        cohort_id: Name::new(id).unwrap(),
        tumour_type: tumour.map(str::to_string),
        biomarker,
        drug: drug.into(),
        stage1_size: 8,
        stage1_threshold: 1,
        stage2_size: 24,
        stage2_threshold: 5,
        expansion_cap: 40,
    };
    CohortCatalogue {
        cohorts: vec![
            def(
                "VEMU.BRAFV600E.COAD",
                Some("COAD"),
                BiomarkerRule::Alteration {
                    gene: "BRAF".into(),
                    kinds: vec![AlterationKind::SnvIndel],
                    protein_change: Some("p.V600E".into()),
                },
                "vemurafenib",
            ),
            def(
                "ALEC.ALKFUS.ANY",
                None,
                BiomarkerRule::Fusion {
                    gene: "ALK".into(),
                    partner: None,
                },
                "alectinib",
            ),
        ],
    }
}
