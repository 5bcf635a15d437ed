//! The simulated trial's protocol: 37 drugs, the cohort catalogue in three protocol versions,
//! and the facts the simulation needs about each drug and cohort that the protocol does not
//! state (how a drug is dosed, how toxic it is, and how active it truly is in a cohort).
//!
//! Only [`CohortDefinition`]s and [`DEMO_CONVENTIONS`] go into the ledger (`ProtocolAmended`,
//! document format 2, or 1 on request). The
//! rest ([`DrugProfile`], [`Activity`]) is the simulation's hidden truth.

use tl_schemas::clinical::{
    AlterationKind, AnalysisConventions, BiomarkerRule, CohortCatalogue, CohortDefinition,
    DoseUnit, PfsCensoring, Route,
};
use tl_schemas::ids::Name;
use tl_schemas::Date;

/// The adverse-event profile of a drug class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ToxClass {
    /// PD-1 / PD-L1 checkpoint inhibitors.
    Immunotherapy,
    /// BRAF and MEK inhibitors.
    BrafMek,
    /// HER2-directed antibodies and kinase inhibitors.
    Her2,
    /// EGFR kinase inhibitors.
    Egfr,
    /// PARP inhibitors.
    Parp,
    /// CDK4/6 inhibitors.
    Cdk46,
    /// PI3K / mTOR inhibitors.
    Pi3kMtor,
    /// ALK, ROS1, NTRK, RET and MET kinase inhibitors.
    FusionTki,
    /// Multi-kinase (VEGFR) inhibitors.
    MultiKinase,
    /// FGFR inhibitors.
    Fgfr,
    /// KRAS G12C inhibitors.
    KrasG12c,
    /// Hedgehog-pathway inhibitors.
    Hedgehog,
    /// IDH inhibitors.
    Idh,
    /// KIT / PDGFRA inhibitors.
    Kit,
}

impl ToxClass {
    /// CTCAE v5 terms this class commonly causes (expected per the reference safety
    /// information), mild ones first.
    pub fn common_terms(self) -> &'static [&'static str] {
        use ToxClass::*;
        match self {
            Immunotherapy => &[
                "Fatigue",
                "Pruritus",
                "Rash maculo-papular",
                "Hypothyroidism",
                "Arthralgia",
                "Diarrhea",
            ],
            BrafMek => &[
                "Fever",
                "Rash maculo-papular",
                "Fatigue",
                "Photosensitivity",
                "Arthralgia",
                "Diarrhea",
            ],
            Her2 => &[
                "Diarrhea",
                "Nausea",
                "Fatigue",
                "Infusion related reaction",
                "Rash acneiform",
            ],
            Egfr => &[
                "Rash acneiform",
                "Diarrhea",
                "Paronychia",
                "Dry skin",
                "Mucositis oral",
            ],
            Parp => &["Nausea", "Fatigue", "Anemia", "Vomiting", "Dysgeusia"],
            Cdk46 => &[
                "Fatigue",
                "Nausea",
                "Neutrophil count decreased",
                "Anemia",
                "Diarrhea",
            ],
            Pi3kMtor => &[
                "Mucositis oral",
                "Hyperglycemia",
                "Rash maculo-papular",
                "Diarrhea",
                "Fatigue",
            ],
            FusionTki => &[
                "Edema limbs",
                "Nausea",
                "Dizziness",
                "Constipation",
                "Dysgeusia",
            ],
            MultiKinase => &[
                "Palmar-plantar erythrodysesthesia syndrome",
                "Diarrhea",
                "Fatigue",
                "Hypertension",
                "Mucositis oral",
            ],
            Fgfr => &[
                "Hyperphosphatemia",
                "Mucositis oral",
                "Dry eye",
                "Nail changes",
                "Diarrhea",
            ],
            KrasG12c => &["Diarrhea", "Nausea", "Fatigue", "Vomiting"],
            Hedgehog => &["Muscle cramp", "Alopecia", "Dysgeusia", "Weight loss"],
            Idh => &["Nausea", "Fatigue", "Diarrhea", "Arthralgia"],
            Kit => &["Edema limbs", "Nausea", "Muscle cramp", "Diarrhea"],
        }
    }

    /// CTCAE v5 terms this class causes at grade 3 or worse (expected).
    pub fn severe_terms(self) -> &'static [&'static str] {
        use ToxClass::*;
        match self {
            Immunotherapy => &[
                "Colitis",
                "Pneumonitis",
                "Alanine aminotransferase increased",
                "Diarrhea",
            ],
            BrafMek => &[
                "Fever",
                "Rash maculo-papular",
                "CPK increased",
                "Alanine aminotransferase increased",
            ],
            Her2 => &[
                "Diarrhea",
                "Platelet count decreased",
                "Ejection fraction decreased",
            ],
            Egfr => &["Rash acneiform", "Diarrhea"],
            Parp => &[
                "Anemia",
                "Neutrophil count decreased",
                "Platelet count decreased",
            ],
            Cdk46 => &["Neutrophil count decreased", "White blood cell decreased"],
            Pi3kMtor => &["Hyperglycemia", "Mucositis oral", "Pneumonitis"],
            FusionTki => &[
                "Alanine aminotransferase increased",
                "Hypertension",
                "Neutrophil count decreased",
            ],
            MultiKinase => &[
                "Hypertension",
                "Palmar-plantar erythrodysesthesia syndrome",
                "Diarrhea",
            ],
            Fgfr => &["Mucositis oral", "Hyperphosphatemia", "Nail changes"],
            KrasG12c => &["Alanine aminotransferase increased", "Diarrhea"],
            Hedgehog => &["Weight loss", "Muscle cramp"],
            Idh => &[
                "Electrocardiogram QT corrected interval prolonged",
                "Nausea",
            ],
            Kit => &["Anemia", "Neutrophil count decreased"],
        }
    }
}

/// Serious reactions no drug's reference safety information lists: when related, they are
/// SUSARs.
pub const UNEXPECTED_TERMS: &[&str] = &[
    "Myocarditis",
    "Hepatic failure",
    "Stevens-Johnson syndrome",
    "Pancreatitis",
    "Acute kidney injury",
];

/// Events of the disease rather than the drug (attribution unrelated or unlikely).
pub const DISEASE_TERMS: &[&str] = &[
    "Tumor pain",
    "Ascites",
    "Small intestinal obstruction",
    "Dyspnea",
    "Anorexia",
    "Back pain",
    "Hypercalcemia",
    "Thromboembolic event",
];

/// How a drug is given and how toxic it is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DrugProfile {
    /// Drug or regimen, as the catalogue names it.
    pub name: &'static str,
    /// Route of administration.
    pub route: Route,
    /// Dose unit.
    pub unit: DoseUnit,
    /// Starting dose in thousandths of the unit (per administration, or daily for oral drugs).
    pub dose_milli: u64,
    /// Days between recorded administrations: the cycle for IV drugs, the 28-day dispensing
    /// cycle for oral ones (one `DoseAdministered` per cycle).
    pub interval_days: u16,
    /// Adverse-event profile.
    pub tox: ToxClass,
    /// Probability that a treated patient has a grade >= 3 treatment-related adverse event
    /// (before the calibration's multiplier).
    pub severe_tox: f64,
}

const fn oral(name: &'static str, dose_mg: u64, tox: ToxClass, severe_tox: f64) -> DrugProfile {
    DrugProfile {
        name,
        route: Route::Oral,
        unit: DoseUnit::Mg,
        dose_milli: dose_mg * 1000,
        interval_days: 28,
        tox,
        severe_tox,
    }
}

const fn iv(
    name: &'static str,
    dose_milli: u64,
    unit: DoseUnit,
    interval_days: u16,
    tox: ToxClass,
    severe_tox: f64,
) -> DrugProfile {
    DrugProfile {
        name,
        route: Route::Intravenous,
        unit,
        dose_milli,
        interval_days,
        tox,
        severe_tox,
    }
}

use ToxClass as T;

/// The 37 drugs and regimens of the simulated trial.
pub const DRUGS: [DrugProfile; 37] = [
    iv(
        "nivolumab",
        240_000,
        DoseUnit::Mg,
        14,
        T::Immunotherapy,
        0.16,
    ),
    iv(
        "durvalumab",
        1_500_000,
        DoseUnit::Mg,
        28,
        T::Immunotherapy,
        0.16,
    ),
    iv(
        "atezolizumab",
        1_200_000,
        DoseUnit::Mg,
        21,
        T::Immunotherapy,
        0.17,
    ),
    oral("vemurafenib+cobimetinib", 960, T::BrafMek, 0.42),
    oral("dabrafenib+trametinib", 150, T::BrafMek, 0.36),
    oral("encorafenib+binimetinib", 450, T::BrafMek, 0.34),
    iv(
        "trastuzumab+pertuzumab",
        6_000,
        DoseUnit::MgPerKg,
        21,
        T::Her2,
        0.22,
    ),
    iv(
        "trastuzumab emtansine",
        3_600,
        DoseUnit::MgPerKg,
        21,
        T::Her2,
        0.30,
    ),
    oral("lapatinib", 1250, T::Her2, 0.26),
    oral("neratinib", 240, T::Her2, 0.34),
    oral("tucatinib+trastuzumab", 300, T::Her2, 0.28),
    oral("erlotinib", 150, T::Egfr, 0.22),
    oral("afatinib", 40, T::Egfr, 0.32),
    oral("osimertinib", 80, T::Egfr, 0.20),
    oral("olaparib", 300, T::Parp, 0.36),
    oral("niraparib", 200, T::Parp, 0.44),
    oral("talazoparib", 1, T::Parp, 0.46),
    oral("palbociclib", 125, T::Cdk46, 0.48),
    oral("ribociclib", 600, T::Cdk46, 0.46),
    oral("abemaciclib", 150, T::Cdk46, 0.38),
    oral("alpelisib", 300, T::Pi3kMtor, 0.44),
    oral("everolimus", 10, T::Pi3kMtor, 0.36),
    oral("crizotinib", 250, T::FusionTki, 0.28),
    oral("alectinib", 600, T::FusionTki, 0.22),
    oral("lorlatinib", 100, T::FusionTki, 0.26),
    oral("entrectinib", 600, T::FusionTki, 0.24),
    oral("larotrectinib", 100, T::FusionTki, 0.18),
    oral("selpercatinib", 160, T::FusionTki, 0.30),
    oral("capmatinib", 400, T::FusionTki, 0.32),
    oral("cabozantinib", 60, T::MultiKinase, 0.46),
    oral("sotorasib", 960, T::KrasG12c, 0.22),
    oral("erdafitinib", 8, T::Fgfr, 0.34),
    DrugProfile {
        dose_milli: 13_500,
        ..oral("pemigatinib", 0, T::Fgfr, 0.30)
    },
    oral("ivosidenib", 500, T::Idh, 0.18),
    oral("vismodegib", 150, T::Hedgehog, 0.20),
    oral("imatinib", 400, T::Kit, 0.22),
    oral("trametinib", 2, T::BrafMek, 0.34),
];

/// The index of a drug in [`DRUGS`] by name.
pub fn drug_index(name: &str) -> Option<usize> {
    DRUGS.iter().position(|d| d.name == name)
}

/// How active a drug truly is in a cohort: the simulation's hidden truth, which the two-stage
/// rule has to discover.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activity {
    /// Essentially inactive.
    Inactive,
    /// Occasional benefit.
    Low,
    /// Clear but modest activity.
    Moderate,
    /// Highly active (kinase fusions with a matched inhibitor).
    High,
    /// Checkpoint inhibition in MSI-high tumours (DRUP: 62 % benefit).
    MsiImmunotherapy,
}

/// One cohort with its hidden truth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CohortSpec {
    /// What the protocol says.
    pub definition: CohortDefinition,
    /// Index into [`DRUGS`].
    pub drug: usize,
    /// The drug's true activity in this cohort.
    pub activity: Activity,
    /// The protocol version that introduced the cohort.
    pub since_version: u32,
}

/// The biomarker rules the catalogue uses, by short name.
fn rule(short: &str) -> BiomarkerRule {
    use AlterationKind::*;
    let alt =
        |gene: &str, kinds: &[AlterationKind], change: Option<&str>| BiomarkerRule::Alteration {
            gene: gene.into(),
            kinds: kinds.to_vec(),
            protein_change: change.map(str::to_string),
        };
    let amp = |gene: &str, cn: u32| BiomarkerRule::Amplification {
        gene: gene.into(),
        min_copy_number_x100: cn,
    };
    let fusion = |gene: &str| BiomarkerRule::Fusion {
        gene: gene.into(),
        partner: None,
    };
    match short {
        "MSI" => BiomarkerRule::MsiHigh,
        "TMB10" => BiomarkerRule::TmbAtLeast {
            mut_per_mb_x100: 1000,
        },
        "BRAFV600E" => alt("BRAF", &[SnvIndel], Some("p.V600E")),
        "BRAFG469A" => alt("BRAF", &[SnvIndel], Some("p.G469A")),
        "KRASG12C" => alt("KRAS", &[SnvIndel], Some("p.G12C")),
        "NRASQ61K" => alt("NRAS", &[SnvIndel], Some("p.Q61K")),
        "ERBB2AMP" => amp("ERBB2", 600),
        "ERBB2MUT" => alt("ERBB2", &[SnvIndel], None),
        "EGFRL858R" => alt("EGFR", &[SnvIndel], Some("p.L858R")),
        "EGFRAMP" => amp("EGFR", 800),
        "PIK3CA" => alt("PIK3CA", &[SnvIndel], None),
        "PTEN" => alt("PTEN", &[Deletion, SnvIndel], None),
        "CDKN2A" => alt("CDKN2A", &[Deletion], None),
        "CDK4AMP" => amp("CDK4", 800),
        "BRCA1" => alt("BRCA1", &[SnvIndel, Deletion], None),
        "BRCA2" => alt("BRCA2", &[SnvIndel, Deletion], None),
        "ATM" => alt("ATM", &[SnvIndel, Deletion], None),
        "FGFR3" => alt("FGFR3", &[SnvIndel, Fusion], None),
        "FGFR2FUS" => fusion("FGFR2"),
        "IDH1" => alt("IDH1", &[SnvIndel], None),
        "METAMP" => amp("MET", 1000),
        "ALKFUS" => fusion("ALK"),
        "ROS1FUS" => fusion("ROS1"),
        "RETFUS" => fusion("RET"),
        "NTRK1FUS" => fusion("NTRK1"),
        "NTRK3FUS" => fusion("NTRK3"),
        "TSC1" => alt("TSC1", &[SnvIndel, Deletion], None),
        "KIT" => alt("KIT", &[SnvIndel], None),
        "PDGFRA" => alt("PDGFRA", &[SnvIndel], None),
        "PTCH1" => alt("PTCH1", &[SnvIndel, Deletion], None),
        "NF1" => alt("NF1", &[SnvIndel, Deletion], None),
        other => panic!("unknown rule {other}"),
    }
}

/// Short drug codes for cohort ids.
fn drug_code(drug: &str) -> String {
    let mut code: String = drug
        .split(['+', ' '])
        .map(|part| part.chars().take(4).collect::<String>())
        .collect::<Vec<_>>()
        .join("-");
    code.make_ascii_uppercase();
    code
}

/// The protocol's default stage-3 expansion cap (evaluable patients).
pub const DEFAULT_EXPANSION_CAP: u32 = 100;
/// The MSI-high / nivolumab cohort's id.
pub const MSI_COHORT: &str = "NIVO.MSI.ANY";
/// The MSI-high / nivolumab cohort's expansion cap: DRUP's 130 evaluable patients.
pub const MSI_EXPANSION_CAP: u32 = 130;

/// The full cohort table: (drug, rule, tumour type or `None`, activity, since protocol version).
const COHORTS: &[(&str, &str, Option<&str>, Activity, u32)] = {
    use Activity::*;
    &[
        ("nivolumab", "MSI", None, MsiImmunotherapy, 1),
        ("durvalumab", "TMB10", None, Low, 1),
        ("vemurafenib+cobimetinib", "BRAFV600E", Some("COAD"), Low, 1),
        (
            "vemurafenib+cobimetinib",
            "BRAFV600E",
            Some("CHOL"),
            Moderate,
            1,
        ),
        ("vemurafenib+cobimetinib", "BRAFV600E", None, Moderate, 1),
        (
            "dabrafenib+trametinib",
            "BRAFV600E",
            Some("GB"),
            Moderate,
            1,
        ),
        (
            "trastuzumab+pertuzumab",
            "ERBB2AMP",
            Some("COAD"),
            Moderate,
            1,
        ),
        ("trastuzumab+pertuzumab", "ERBB2AMP", Some("BLCA"), Low, 1),
        (
            "trastuzumab+pertuzumab",
            "ERBB2AMP",
            Some("CHOL"),
            Moderate,
            1,
        ),
        ("trastuzumab+pertuzumab", "ERBB2AMP", None, Low, 1),
        (
            "trastuzumab emtansine",
            "ERBB2AMP",
            Some("LUAD"),
            Moderate,
            1,
        ),
        ("lapatinib", "ERBB2MUT", None, Inactive, 1),
        ("neratinib", "ERBB2MUT", Some("BRCA"), Low, 1),
        ("erlotinib", "EGFRL858R", None, Low, 1),
        ("afatinib", "EGFRAMP", None, Inactive, 1),
        ("olaparib", "BRCA2", Some("PRAD"), Moderate, 1),
        ("olaparib", "BRCA2", Some("PAAD"), Moderate, 1),
        ("olaparib", "BRCA1", None, Low, 1),
        ("olaparib", "ATM", None, Inactive, 1),
        ("talazoparib", "BRCA2", None, Low, 1),
        ("palbociclib", "CDKN2A", Some("PAAD"), Inactive, 1),
        ("palbociclib", "CDKN2A", Some("GB"), Inactive, 1),
        ("palbociclib", "CDKN2A", None, Inactive, 1),
        ("palbociclib", "CDK4AMP", None, Low, 1),
        ("ribociclib", "CDK4AMP", Some("LMS"), Low, 1),
        ("everolimus", "PTEN", Some("PRAD"), Inactive, 1),
        ("everolimus", "PTEN", None, Inactive, 1),
        ("everolimus", "TSC1", None, Low, 1),
        ("crizotinib", "METAMP", None, Low, 1),
        ("crizotinib", "ROS1FUS", None, High, 1),
        ("alectinib", "ALKFUS", None, High, 1),
        ("cabozantinib", "RETFUS", None, Moderate, 1),
        ("vismodegib", "PTCH1", None, Low, 1),
        ("imatinib", "KIT", None, Low, 1),
        ("imatinib", "PDGFRA", None, Low, 1),
        ("trametinib", "NRASQ61K", None, Low, 1),
        ("trametinib", "NF1", None, Inactive, 1),
        // Protocol version 2: drugs approved since the start.
        ("alpelisib", "PIK3CA", Some("COAD"), Inactive, 2),
        ("alpelisib", "PIK3CA", Some("UCEC"), Low, 2),
        ("alpelisib", "PIK3CA", None, Low, 2),
        ("larotrectinib", "NTRK1FUS", None, High, 2),
        ("entrectinib", "NTRK3FUS", None, High, 2),
        ("erdafitinib", "FGFR3", Some("BLCA"), Moderate, 2),
        ("erdafitinib", "FGFR3", None, Low, 2),
        ("pemigatinib", "FGFR2FUS", Some("CHOL"), Moderate, 2),
        ("ivosidenib", "IDH1", Some("CHOL"), Low, 2),
        ("ivosidenib", "IDH1", None, Inactive, 2),
        ("niraparib", "BRCA1", Some("PAAD"), Low, 2),
        ("abemaciclib", "CDKN2A", Some("BLCA"), Inactive, 2),
        ("osimertinib", "EGFRL858R", None, Low, 2),
        ("encorafenib+binimetinib", "BRAFG469A", None, Inactive, 2),
        ("atezolizumab", "TMB10", Some("BLCA"), Low, 2),
        ("lorlatinib", "ALKFUS", None, High, 2),
        ("atezolizumab", "TMB10", Some("LUSC"), Moderate, 2),
        (
            "trastuzumab emtansine",
            "ERBB2AMP",
            Some("ESCA"),
            Moderate,
            2,
        ),
        ("trastuzumab+pertuzumab", "ERBB2AMP", Some("STAD"), Low, 2),
        ("alpelisib", "PIK3CA", Some("HNSC"), Low, 2),
        ("everolimus", "PTEN", Some("UCEC"), Low, 2),
        ("olaparib", "BRCA1", Some("HGSOC"), Moderate, 2),
        // Protocol version 3.
        ("sotorasib", "KRASG12C", Some("COAD"), Low, 3),
        ("sotorasib", "KRASG12C", Some("PAAD"), Moderate, 3),
        ("sotorasib", "KRASG12C", None, Moderate, 3),
        ("selpercatinib", "RETFUS", None, High, 3),
        ("capmatinib", "METAMP", Some("STAD"), Low, 3),
        ("capmatinib", "METAMP", None, Low, 3),
        (
            "tucatinib+trastuzumab",
            "ERBB2AMP",
            Some("COAD"),
            Moderate,
            3,
        ),
        ("abemaciclib", "CDK4AMP", None, Low, 3),
        ("niraparib", "ATM", Some("PRAD"), Low, 3),
        ("durvalumab", "TMB10", Some("BLCA"), Moderate, 3),
        ("ribociclib", "CDKN2A", Some("HNSC"), Inactive, 3),
    ]
};

/// The simulated protocol: every cohort with its hidden truth, and when each protocol version
/// comes into force.
#[derive(Clone, Debug)]
pub struct Protocol {
    /// Every cohort of every version, in catalogue order.
    pub cohorts: Vec<CohortSpec>,
    /// Days after the start of accrual at which versions 2, 3, ... come into force.
    pub amendments_after_days: Vec<i32>,
}

impl Protocol {
    /// The DRUP-like protocol: DRUP's 8 / 1 and 24 / 5 stages for every cohort, expansion caps
    /// of [`DEFAULT_EXPANSION_CAP`] (the MSI-high nivolumab cohort [`MSI_EXPANSION_CAP`]);
    /// version 2 after three years, version 3 after five.
    pub fn drup() -> Self {
        let cohorts = COHORTS
            .iter()
            .map(|&(drug, short, tumour, activity, since)| {
                let d = drug_index(drug).unwrap_or_else(|| panic!("unknown drug {drug}"));
                let id = format!("{}.{}.{}", drug_code(drug), short, tumour.unwrap_or("ANY"));
                let cap = if short == "MSI" {
                    MSI_EXPANSION_CAP
                } else {
                    DEFAULT_EXPANSION_CAP
                };
                CohortSpec {
                    definition: CohortDefinition {
                        cohort_id: Name::new(id.clone())
                            .unwrap_or_else(|_| panic!("bad cohort id {id}")),
                        tumour_type: tumour.map(str::to_string),
                        biomarker: rule(short),
                        drug: drug.into(),
                        stage1_size: 8,
                        stage1_threshold: 1,
                        stage2_size: 24,
                        stage2_threshold: 5,
                        expansion_cap: cap,
                    },
                    drug: d,
                    activity,
                    since_version: since,
                }
            })
            .collect();
        Protocol {
            cohorts,
            amendments_after_days: vec![3 * 365, 5 * 365],
        }
    }

    /// The highest protocol version.
    pub fn versions(&self) -> u32 {
        self.amendments_after_days.len() as u32 + 1
    }

    /// The catalogue of a protocol version: every cohort introduced up to it.
    pub fn catalogue(&self, version: u32) -> CohortCatalogue {
        CohortCatalogue {
            cohorts: self
                .cohorts
                .iter()
                .filter(|c| c.since_version <= version)
                .map(|c| c.definition.clone())
                .collect(),
        }
    }

    /// The cohort spec with this id.
    pub fn spec(&self, id: &Name) -> Option<&CohortSpec> {
        self.cohorts.iter().find(|c| &c.definition.cohort_id == id)
    }

    /// The date version `v` (2, 3, ...) comes into force, given the start of accrual.
    pub fn amendment_date(&self, start: Date, version: u32) -> Option<Date> {
        let i = version.checked_sub(2)? as usize;
        self.amendments_after_days.get(i).map(|d| Date(start.0 + d))
    }
}

/// The analysis conventions the simulated trial's format-2 protocol states: scans every 8
/// weeks (56 days) with a 7-day window, the 16-week landmark (day 112) counted from day 105,
/// and the FDA's PFS convention (an event after two missed scans is censored at the last
/// adequate one). The simulator draws scans within 4 days of their schedule, inside the window.
pub const DEMO_CONVENTIONS: AnalysisConventions = AnalysisConventions {
    scan_interval_days: 56,
    scan_window_days: 7,
    benefit_landmark_day: 112,
    benefit_window_days: 7,
    pfs_censoring: PfsCensoring::AfterMissedAssessments { missed: 2 },
};

/// Tumour types of the screened population: OncoTree code and relative frequency.
pub const TUMOUR_TYPES: &[(&str, f64)] = &[
    ("COAD", 0.17),
    ("READ", 0.03),
    ("LUAD", 0.07),
    ("LUSC", 0.02),
    ("BRCA", 0.09),
    ("PRAD", 0.07),
    ("PAAD", 0.06),
    ("BLCA", 0.05),
    ("STAD", 0.03),
    ("ESCA", 0.03),
    ("CHOL", 0.05),
    ("HGSOC", 0.04),
    ("UCEC", 0.05),
    ("HNSC", 0.03),
    ("SKCM", 0.03),
    ("GB", 0.03),
    ("CCRCC", 0.03),
    ("HCC", 0.02),
    ("LMS", 0.03),
    ("CUP", 0.05),
];

/// The treating sites (Dutch academic centres).
pub const SITES: &[(&str, f64)] = &[
    ("NKI-AVL", 0.24),
    ("UMCU", 0.14),
    ("ErasmusMC", 0.14),
    ("Radboudumc", 0.10),
    ("UMCG", 0.10),
    ("AmsterdamUMC", 0.12),
    ("LUMC", 0.08),
    ("MUMC", 0.08),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_seven_drugs_all_used_and_ids_unique() {
        let p = Protocol::drup();
        let mut used: Vec<usize> = p.cohorts.iter().map(|c| c.drug).collect();
        used.sort();
        used.dedup();
        assert_eq!(used.len(), DRUGS.len());
        let mut ids: Vec<&str> = p
            .cohorts
            .iter()
            .map(|c| c.definition.cohort_id.as_str())
            .collect();
        ids.sort();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "cohort ids are unique");
        assert!(p.catalogue(1).cohorts.len() < p.catalogue(3).cohorts.len());
        assert!(ids.contains(&MSI_COHORT));
        for c in &p.cohorts {
            let d = &c.definition;
            let params = tl_clinical::TwoStageParams {
                stage1_size: d.stage1_size.into(),
                stage1_min_benefits: d.stage1_threshold.into(),
                stage2_size: d.stage2_size.into(),
                stage2_min_benefits: d.stage2_threshold.into(),
                expansion_cap: d.expansion_cap,
            };
            params.validate().unwrap();
        }
    }
}
