//! Simulated whole-genome sequencing results: tumour purity, MSI status, TMB, and alterations
//! drawn from tumour-type-specific frequencies, with passenger alterations that match no
//! cohort and near misses (an ERBB2 gain below the amplification threshold, BRAF V600K where a
//! cohort needs V600E) that give the matcher something to explain.

use crate::rng::SimRng;
use tl_schemas::clinical::{Alteration, AlterationKind, MsiStatus, SequencingResultReported};
use tl_schemas::{Date, Hash32};

/// An actionable (or near-actionable) molecular feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Marker {
    BrafV600e,
    BrafV600k,
    BrafG469a,
    KrasG12c,
    NrasQ61k,
    Erbb2Amp,
    Erbb2Gain,
    Erbb2Mut,
    EgfrL858r,
    EgfrAmp,
    Pik3ca,
    Pten,
    Cdkn2a,
    Cdk4Amp,
    Brca1,
    Brca2,
    Atm,
    Fgfr3,
    Fgfr2Fusion,
    Idh1,
    MetAmp,
    AlkFusion,
    Ros1Fusion,
    RetFusion,
    Ntrk1Fusion,
    Ntrk3Fusion,
    Tsc1,
    Kit,
    Pdgfra,
    Ptch1,
    Nf1,
}

/// DRUP-like trials screen patients referred because a routine panel found something: the
/// population is enriched for actionable alterations relative to unselected tumours.
const REFERRAL_ENRICHMENT: f64 = 2.0;

/// The probability of a marker in a tumour type (unselected tumours).
fn marker_probability(tumour: &str, m: Marker) -> f64 {
    use Marker::*;
    match (m, tumour) {
        (BrafV600e, "COAD" | "READ") => 0.09,
        (BrafV600e, "CHOL") => 0.05,
        (BrafV600e, "GB") => 0.06,
        (BrafV600e, "CUP") => 0.04,
        (BrafV600e, "LUAD") => 0.02,
        (BrafV600e, _) => 0.012,
        (BrafV600k, "SKCM") => 0.08,
        (BrafV600k, _) => 0.004,
        (BrafG469a, "LUAD") => 0.02,
        (BrafG469a, _) => 0.006,
        (KrasG12c, "LUAD") => 0.12,
        (KrasG12c, "COAD" | "READ") => 0.04,
        (KrasG12c, "PAAD") => 0.02,
        (KrasG12c, _) => 0.01,
        (NrasQ61k, "SKCM") => 0.2,
        (NrasQ61k, "COAD") => 0.03,
        (NrasQ61k, _) => 0.006,
        (Erbb2Amp, "BRCA") => 0.15,
        (Erbb2Amp, "STAD" | "ESCA") => 0.12,
        (Erbb2Amp, "BLCA") => 0.09,
        (Erbb2Amp, "COAD" | "READ") => 0.05,
        (Erbb2Amp, "CHOL" | "UCEC") => 0.07,
        (Erbb2Amp, "LUAD") => 0.04,
        (Erbb2Amp, _) => 0.02,
        (Erbb2Gain, _) => 0.03,
        (Erbb2Mut, "BLCA") => 0.07,
        (Erbb2Mut, "BRCA") => 0.04,
        (Erbb2Mut, _) => 0.012,
        (EgfrL858r, "LUAD") => 0.02,
        (EgfrL858r, _) => 0.008,
        (EgfrAmp, "GB") => 0.3,
        (EgfrAmp, "HNSC" | "ESCA") => 0.08,
        (EgfrAmp, _) => 0.01,
        (Pik3ca, "BRCA") => 0.3,
        (Pik3ca, "UCEC") => 0.3,
        (Pik3ca, "COAD" | "READ") => 0.14,
        (Pik3ca, "HNSC" | "BLCA") => 0.16,
        (Pik3ca, _) => 0.05,
        (Pten, "PRAD") => 0.2,
        (Pten, "UCEC") => 0.3,
        (Pten, "GB") => 0.3,
        (Pten, _) => 0.04,
        (Cdkn2a, "PAAD") => 0.25,
        (Cdkn2a, "GB") => 0.45,
        (Cdkn2a, "BLCA" | "HNSC" | "LUSC") => 0.25,
        (Cdkn2a, _) => 0.06,
        (Cdk4Amp, "LMS") => 0.15,
        (Cdk4Amp, "GB") => 0.1,
        (Cdk4Amp, _) => 0.012,
        (Brca1, "HGSOC") => 0.12,
        (Brca1, "BRCA") => 0.05,
        (Brca1, _) => 0.012,
        (Brca2, "PRAD") => 0.12,
        (Brca2, "PAAD") => 0.07,
        (Brca2, "HGSOC" | "BRCA") => 0.06,
        (Brca2, _) => 0.015,
        (Atm, "PRAD") => 0.06,
        (Atm, _) => 0.02,
        (Fgfr3, "BLCA") => 0.18,
        (Fgfr3, _) => 0.008,
        (Fgfr2Fusion, "CHOL") => 0.12,
        (Fgfr2Fusion, _) => 0.003,
        (Idh1, "CHOL") => 0.15,
        (Idh1, "GB") => 0.08,
        (Idh1, _) => 0.005,
        (MetAmp, "STAD" | "ESCA") => 0.05,
        (MetAmp, "LUAD") => 0.03,
        (MetAmp, _) => 0.008,
        (AlkFusion, "LUAD") => 0.015,
        (AlkFusion, _) => 0.003,
        (Ros1Fusion, "LUAD") => 0.01,
        (Ros1Fusion, _) => 0.002,
        (RetFusion, "LUAD") => 0.015,
        (RetFusion, _) => 0.004,
        (Ntrk1Fusion, "CUP" | "LMS") => 0.01,
        (Ntrk1Fusion, _) => 0.003,
        (Ntrk3Fusion, "CUP" | "LMS") => 0.008,
        (Ntrk3Fusion, _) => 0.002,
        (Tsc1, "BLCA") => 0.07,
        (Tsc1, "CCRCC" | "HCC") => 0.04,
        (Tsc1, _) => 0.01,
        (Kit, "SKCM") => 0.04,
        (Kit, _) => 0.005,
        (Pdgfra, "GB") => 0.05,
        (Pdgfra, _) => 0.004,
        (Ptch1, "SKCM") => 0.04,
        (Ptch1, _) => 0.006,
        (Nf1, "SKCM") => 0.12,
        (Nf1, "GB") => 0.1,
        (Nf1, _) => 0.02,
    }
}

const MARKERS: [Marker; 31] = {
    use Marker::*;
    [
        BrafV600e,
        BrafV600k,
        BrafG469a,
        KrasG12c,
        NrasQ61k,
        Erbb2Amp,
        Erbb2Gain,
        Erbb2Mut,
        EgfrL858r,
        EgfrAmp,
        Pik3ca,
        Pten,
        Cdkn2a,
        Cdk4Amp,
        Brca1,
        Brca2,
        Atm,
        Fgfr3,
        Fgfr2Fusion,
        Idh1,
        MetAmp,
        AlkFusion,
        Ros1Fusion,
        RetFusion,
        Ntrk1Fusion,
        Ntrk3Fusion,
        Tsc1,
        Kit,
        Pdgfra,
        Ptch1,
        Nf1,
    ]
};

/// MSI-high frequency by tumour type (a DRUP-like referral population is enriched for it).
pub fn msi_probability(tumour: &str) -> f64 {
    match tumour {
        "UCEC" => 0.32,
        "COAD" | "READ" => 0.13,
        "STAD" => 0.14,
        "CUP" | "CHOL" => 0.08,
        "PRAD" | "BLCA" => 0.05,
        _ => 0.04,
    }
}

/// A high-TMB (>= 10 mut/Mb) frequency among microsatellite-stable tumours.
fn tmb_high_probability(tumour: &str) -> f64 {
    match tumour {
        "SKCM" => 0.45,
        "LUAD" | "LUSC" => 0.3,
        "BLCA" => 0.25,
        "HNSC" => 0.15,
        _ => 0.05,
    }
}

fn snv(gene: &str, change: &str, vaf_bp: u16) -> Alteration {
    Alteration {
        gene: gene.into(),
        kind: AlterationKind::SnvIndel,
        protein_change: Some(change.into()),
        copy_number_x100: None,
        fusion_partner: None,
        vaf_bp: Some(vaf_bp),
    }
}

fn copy(gene: &str, kind: AlterationKind, cn_x100: u32) -> Alteration {
    Alteration {
        gene: gene.into(),
        kind,
        protein_change: None,
        copy_number_x100: Some(cn_x100),
        fusion_partner: None,
        vaf_bp: None,
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

/// A clonal heterozygous variant's VAF at this purity, with noise; occasionally subclonal.
fn vaf(rng: &mut SimRng, purity_pct: u8) -> u16 {
    let clonal = f64::from(purity_pct) / 2.0;
    let fraction = if rng.chance(0.1) {
        rng.uniform(0.1, 0.4)
    } else {
        rng.uniform(0.8, 1.2)
    };
    let pct = (clonal * fraction + rng.normal() * 2.0).clamp(1.0, 95.0);
    (pct * 100.0).round() as u16
}

fn marker_alteration(rng: &mut SimRng, m: Marker, purity: u8) -> Alteration {
    use AlterationKind::*;
    use Marker::*;
    let v = vaf(rng, purity);
    let loss = |rng: &mut SimRng, gene: &str| {
        if rng.chance(0.5) {
            copy(gene, Deletion, rng.range(0, 40) as u32)
        } else {
            let pos = rng.range(100, 2800);
            snv(gene, &format!("p.R{pos}*"), v)
        }
    };
    match m {
        BrafV600e => snv("BRAF", "p.V600E", v),
        BrafV600k => snv("BRAF", "p.V600K", v),
        BrafG469a => snv("BRAF", "p.G469A", v),
        KrasG12c => snv("KRAS", "p.G12C", v),
        NrasQ61k => snv("NRAS", "p.Q61K", v),
        Erbb2Amp => copy("ERBB2", Amplification, rng.range(650, 4000) as u32),
        Erbb2Gain => copy("ERBB2", Amplification, rng.range(300, 560) as u32),
        Erbb2Mut => snv("ERBB2", choose(rng, &["p.S310F", "p.L755S", "p.V777L"]), v),
        EgfrL858r => snv("EGFR", "p.L858R", v),
        EgfrAmp => copy("EGFR", Amplification, rng.range(850, 5000) as u32),
        Pik3ca => snv(
            "PIK3CA",
            choose(rng, &["p.H1047R", "p.E545K", "p.E542K"]),
            v,
        ),
        Pten => loss(rng, "PTEN"),
        Cdkn2a => copy("CDKN2A", Deletion, rng.range(0, 30) as u32),
        Cdk4Amp => copy("CDK4", Amplification, rng.range(820, 3000) as u32),
        Brca1 => loss(rng, "BRCA1"),
        Brca2 => loss(rng, "BRCA2"),
        Atm => loss(rng, "ATM"),
        Fgfr3 => {
            if rng.chance(0.8) {
                snv("FGFR3", choose(rng, &["p.S249C", "p.R248C", "p.Y373C"]), v)
            } else {
                fusion("FGFR3", "TACC3")
            }
        }
        Fgfr2Fusion => fusion("FGFR2", choose(rng, &["BICC1", "PPHLN1", "AHCYL1"])),
        Idh1 => snv("IDH1", choose(rng, &["p.R132C", "p.R132H", "p.R132L"]), v),
        MetAmp => copy("MET", Amplification, rng.range(1000, 3500) as u32),
        AlkFusion => fusion("ALK", choose(rng, &["EML4", "KIF5B"])),
        Ros1Fusion => fusion("ROS1", choose(rng, &["CD74", "SDC4", "EZR"])),
        RetFusion => fusion("RET", choose(rng, &["KIF5B", "CCDC6", "NCOA4"])),
        Ntrk1Fusion => fusion("NTRK1", choose(rng, &["TPM3", "LMNA"])),
        Ntrk3Fusion => fusion("NTRK3", "ETV6"),
        Tsc1 => loss(rng, "TSC1"),
        Kit => snv("KIT", choose(rng, &["p.L576P", "p.K642E", "p.W557R"]), v),
        Pdgfra => snv("PDGFRA", choose(rng, &["p.D842V", "p.V561D"]), v),
        Ptch1 => loss(rng, "PTCH1"),
        Nf1 => loss(rng, "NF1"),
    }
}

/// Passenger alterations typical of the tumour type (they match no cohort).
fn passengers(rng: &mut SimRng, tumour: &str, purity: u8, out: &mut Vec<Alteration>) {
    if rng.chance(0.7) {
        let change = *rng.pick(&["p.R175H", "p.R248Q", "p.R273H", "p.G245S", "p.R282W"]);
        out.push(snv("TP53", change, vaf(rng, purity)));
    }
    match tumour {
        "COAD" | "READ" => {
            if rng.chance(0.75) {
                out.push(snv("APC", "p.R1450*", vaf(rng, purity)));
            }
            if rng.chance(0.4) {
                let change = *rng.pick(&["p.G12D", "p.G12V", "p.G13D"]);
                out.push(snv("KRAS", change, vaf(rng, purity)));
            }
        }
        "PAAD" => {
            if rng.chance(0.85) {
                let change = *rng.pick(&["p.G12D", "p.G12V", "p.G12R"]);
                out.push(snv("KRAS", change, vaf(rng, purity)));
            }
            if rng.chance(0.3) {
                out.push(copy("SMAD4", AlterationKind::Deletion, 0));
            }
        }
        "LUAD" => {
            if rng.chance(0.2) {
                out.push(snv("STK11", "p.Q37*", vaf(rng, purity)));
            }
        }
        _ => {
            if rng.chance(0.15) {
                out.push(snv("ARID1A", "p.Q563*", vaf(rng, purity)));
            }
        }
    }
}

/// A sequencing result for a patient with this tumour type, reported on `reported_on`.
pub fn sequencing_result(
    rng: &mut SimRng,
    tumour: &str,
    sample_id: &str,
    reported_on: Date,
) -> SequencingResultReported {
    sequencing_result_of(rng, tumour, sample_id, reported_on, false)
}

/// [`sequencing_result`] for a patient referred with a known dMMR/MSI tumour
/// (`msi_known`): the genome shows MSI-high unless the biopsy has too little tumour.
pub fn sequencing_result_of(
    rng: &mut SimRng,
    tumour: &str,
    sample_id: &str,
    reported_on: Date,
    msi_known: bool,
) -> SequencingResultReported {
    // About 5 % of biopsies have too little tumour for a reliable call.
    let low_purity = rng.chance(0.05);
    let purity_pct: u8 = if low_purity {
        rng.range(8, 19) as u8
    } else {
        rng.range(22, 90) as u8
    };
    let mut alterations = Vec::new();
    let (msi, tmb_x100) = if low_purity {
        (MsiStatus::Indeterminate, 0)
    } else if msi_known || rng.chance(msi_probability(tumour)) {
        (MsiStatus::High, rng.lognormal(4000.0, 0.4) as u32)
    } else if rng.chance(tmb_high_probability(tumour)) {
        (MsiStatus::Stable, rng.lognormal(1600.0, 0.35) as u32)
    } else {
        (
            MsiStatus::Stable,
            (rng.lognormal(300.0, 0.6) as u32).min(990),
        )
    };
    if !low_purity {
        for m in MARKERS {
            if rng.chance((REFERRAL_ENRICHMENT * marker_probability(tumour, m)).min(0.9)) {
                alterations.push(marker_alteration(rng, m, purity_pct));
            }
        }
        passengers(rng, tumour, purity_pct, &mut alterations);
    }
    let report_sha256 = Hash32(rng.bytes32());
    SequencingResultReported {
        sample_id: sample_id.into(),
        purity_pct,
        msi,
        tmb_mut_per_mb_x100: tmb_x100,
        alterations,
        report_sha256,
        report_uri: format!("urn:wgs-report:{sample_id}"),
        reported_on,
    }
}

/// One of several names.
fn choose(rng: &mut SimRng, names: &[&'static str]) -> &'static str {
    names[rng.index(names.len())]
}
