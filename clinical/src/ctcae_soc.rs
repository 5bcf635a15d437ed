//! The MedDRA system organ class (SOC) that CTCAE v5.0 lists for each adverse-event term the
//! project knows, to group the safety tables by SOC as pharmaverse's AET02/AET04 tables do.
//!
//! Source: National Cancer Institute, *Common Terminology Criteria for Adverse Events (CTCAE)
//! Version 5.0*, published 27 November 2017 (U.S. Department of Health and Human Services,
//! NIH/NCI), where every term is listed under one MedDRA (v20.1) SOC. The table holds every term
//! the simulator emits (`tl_sim::catalogue`: each toxicity class's common and severe terms, the
//! unexpected and the disease terms; `sim/tests/ctcae_soc.rs` checks that none is missing).
//! A term not in the table is reported under [`SOC_NOT_MAPPED`], never dropped.

/// The group of a term the table does not hold.
pub const SOC_NOT_MAPPED: &str = "SOC not mapped";

const BLOOD: &str = "Blood and lymphatic system disorders";
const CARDIAC: &str = "Cardiac disorders";
const ENDOCRINE: &str = "Endocrine disorders";
const EYE: &str = "Eye disorders";
const GI: &str = "Gastrointestinal disorders";
const GENERAL: &str = "General disorders and administration site conditions";
const HEPATOBILIARY: &str = "Hepatobiliary disorders";
const INFECTIONS: &str = "Infections and infestations";
const INJURY: &str = "Injury, poisoning and procedural complications";
const INVESTIGATIONS: &str = "Investigations";
const METABOLISM: &str = "Metabolism and nutrition disorders";
const MUSCULOSKELETAL: &str = "Musculoskeletal and connective tissue disorders";
const NEOPLASMS: &str = "Neoplasms benign, malignant and unspecified (incl cysts and polyps)";
const NERVOUS: &str = "Nervous system disorders";
const RENAL: &str = "Renal and urinary disorders";
const RESPIRATORY: &str = "Respiratory, thoracic and mediastinal disorders";
const SKIN: &str = "Skin and subcutaneous tissue disorders";
const VASCULAR: &str = "Vascular disorders";

/// Each known CTCAE v5.0 term and its SOC, sorted by term (binary search).
pub const CTCAE_V5_SOC: &[(&str, &str)] = &[
    ("Acute kidney injury", RENAL),
    ("Alanine aminotransferase increased", INVESTIGATIONS),
    ("Alopecia", SKIN),
    ("Anemia", BLOOD),
    ("Anorexia", METABOLISM),
    ("Arthralgia", MUSCULOSKELETAL),
    ("Ascites", GI),
    ("Back pain", MUSCULOSKELETAL),
    ("CPK increased", INVESTIGATIONS),
    ("Colitis", GI),
    ("Constipation", GI),
    ("Diarrhea", GI),
    ("Dizziness", NERVOUS),
    ("Dry eye", EYE),
    ("Dry skin", SKIN),
    ("Dysgeusia", NERVOUS),
    ("Dyspnea", RESPIRATORY),
    ("Edema limbs", GENERAL),
    ("Ejection fraction decreased", INVESTIGATIONS),
    (
        "Electrocardiogram QT corrected interval prolonged",
        INVESTIGATIONS,
    ),
    ("Fatigue", GENERAL),
    ("Fever", GENERAL),
    ("Hepatic failure", HEPATOBILIARY),
    ("Hypercalcemia", METABOLISM),
    ("Hyperglycemia", METABOLISM),
    ("Hyperphosphatemia", METABOLISM),
    ("Hypertension", VASCULAR),
    ("Hypothyroidism", ENDOCRINE),
    ("Infusion related reaction", INJURY),
    ("Mucositis oral", GI),
    ("Muscle cramp", MUSCULOSKELETAL),
    ("Myocarditis", CARDIAC),
    ("Nail changes", SKIN),
    ("Nausea", GI),
    ("Neutrophil count decreased", INVESTIGATIONS),
    ("Palmar-plantar erythrodysesthesia syndrome", SKIN),
    ("Pancreatitis", GI),
    ("Paronychia", INFECTIONS),
    ("Photosensitivity", SKIN),
    ("Platelet count decreased", INVESTIGATIONS),
    ("Pneumonitis", RESPIRATORY),
    ("Pruritus", SKIN),
    ("Rash acneiform", SKIN),
    ("Rash maculo-papular", SKIN),
    ("Small intestinal obstruction", GI),
    ("Stevens-Johnson syndrome", SKIN),
    ("Thromboembolic event", VASCULAR),
    ("Tumor pain", NEOPLASMS),
    ("Vomiting", GI),
    ("Weight loss", INVESTIGATIONS),
    ("White blood cell decreased", INVESTIGATIONS),
];

/// The SOC CTCAE v5.0 lists for `term` (exact spelling), if the table holds it.
pub fn soc_of(term: &str) -> Option<&'static str> {
    CTCAE_V5_SOC
        .binary_search_by(|(t, _)| (*t).cmp(term))
        .ok()
        .map(|i| CTCAE_V5_SOC[i].1)
}

/// The group a term is reported under: its SOC, or [`SOC_NOT_MAPPED`].
pub fn soc_or_unmapped(term: &str) -> &'static str {
    soc_of(term).unwrap_or(SOC_NOT_MAPPED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_without_duplicates() {
        // given the table
        // when its terms are compared in order
        // then each is strictly greater than the one before (binary search relies on it)
        for w in CTCAE_V5_SOC.windows(2) {
            assert!(w[0].0 < w[1].0, "{} before {}", w[0].0, w[1].0);
        }
    }

    #[test]
    fn known_terms_have_their_ctcae_soc() {
        // given terms from different SOCs
        // when looked up
        // then CTCAE v5.0's SOC comes back
        assert_eq!(soc_of("Diarrhea"), Some("Gastrointestinal disorders"));
        assert_eq!(soc_of("Neutrophil count decreased"), Some("Investigations"));
        assert_eq!(soc_of("Paronychia"), Some("Infections and infestations"));
        assert_eq!(soc_of("Myocarditis"), Some("Cardiac disorders"));
    }

    #[test]
    fn an_unknown_term_is_reported_as_not_mapped() {
        // given a term CTCAE v5.0 does not list ("Rash" alone), and a near miss in case
        // when grouped
        // then both fall under the explicit "SOC not mapped" group
        assert_eq!(soc_of("Rash"), None);
        assert_eq!(soc_or_unmapped("Rash"), SOC_NOT_MAPPED);
        assert_eq!(soc_or_unmapped("diarrhea"), SOC_NOT_MAPPED);
    }
}
