//! The matcher's decision, as pure functions: a patient's sequencing result against the
//! cohort catalogue in force.
//!
//! [`evaluate`] says whether one cohort's rule matches (with the rule and the evidence) or
//! why not; [`propose`] turns that over every cohort of the catalogue, with each cohort's
//! availability as the ledger states it, into the `MatchProposed` the matcher signs:
//! * a cohort is a **candidate** when it is open (a slot is free) and its rule matches;
//! * candidates rank tumour-specific cohorts before tumour-agnostic ones, then by the rule's
//!   specificity ([`CohortMatch::specificity`]), then in catalogue order;
//! * every other open cohort is listed in `not_matched` with why it does not match, and so is
//!   every cohort that matches but is closed or full (its reason starts with `matches, but`);
//!   a closed or full cohort that does not match is not listed (it could not take the patient
//!   anyway).

use tl_schemas::clinical::{
    Alteration, AlterationKind, BiomarkerRule, CohortDefinition, CohortStatus, MatchCandidate,
    MatchExclusion, MatchProposed, MsiStatus, SequencingResultReported,
};

/// Why a cohort matches a sequencing result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CohortMatch {
    /// The catalogue rule, in words.
    pub rule: String,
    /// The finding(s) that satisfy it.
    pub evidence: String,
    /// How specific the rule is: 0 a named protein change; 1 a fusion or MSI-high; 2 an
    /// amplification; 3 any alteration of a gene; 4 a TMB threshold. Lower ranks first.
    pub specificity: u8,
}

/// Whether a cohort can take a patient now, as the ledger's cohort records state it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Availability {
    /// A slot is free.
    Open,
    /// The open stage's slots are all taken (patients in flight).
    Full {
        /// The cohort's status.
        status: CohortStatus,
        /// Slots assigned so far.
        slots: u32,
        /// The slots the status allows (its size plus the patients replaced).
        capacity: u32,
    },
    /// The cohort is closed, or awaits the sponsor's decision on an expansion.
    Closed {
        /// The cohort's status.
        status: CohortStatus,
    },
}

/// One cohort of the catalogue in force, as the matcher sees it.
#[derive(Clone, Copy, Debug)]
pub struct CohortView<'a> {
    /// The catalogue entry.
    pub definition: &'a CohortDefinition,
    /// Whether it can take a patient now.
    pub availability: &'a Availability,
}

/// A stable snake-case name of a cohort status (the names of tl-clinical's states).
pub fn status_name(s: CohortStatus) -> &'static str {
    match s {
        CohortStatus::Stage1 => "stage_1",
        CohortStatus::Stage2 => "stage_2",
        CohortStatus::ClosedForFutility => "closed_for_futility",
        CohortStatus::CompletedNegative => "completed_negative",
        CohortStatus::Positive => "positive",
        CohortStatus::Expansion => "expansion",
        CohortStatus::ExpansionComplete => "expansion_complete",
    }
}

fn x100(v: u32) -> String {
    format!("{}.{:02}", v / 100, v % 100)
}

fn kind_name(k: AlterationKind) -> &'static str {
    match k {
        AlterationKind::SnvIndel => "SNV/indel",
        AlterationKind::Amplification => "amplification",
        AlterationKind::Deletion => "deletion",
        AlterationKind::Fusion => "fusion",
        AlterationKind::Splice => "splice variant",
        AlterationKind::Other => "other alteration",
    }
}

/// An alteration in words, e.g. `BRAF p.V600E, VAF 31.2 %`.
pub fn describe(a: &Alteration) -> String {
    let mut s = format!("{} {}", a.gene, kind_name(a.kind));
    if let Some(p) = &a.protein_change {
        s = format!("{} {p}", a.gene);
    }
    if let Some(partner) = &a.fusion_partner {
        s = format!("{partner}-{} fusion", a.gene);
    }
    if let Some(cn) = a.copy_number_x100 {
        s.push_str(&format!(", copy number {}", x100(cn)));
    }
    if let Some(v) = a.vaf_bp {
        s.push_str(&format!(", VAF {}.{} %", v / 100, (v % 100) / 10));
    }
    s
}

/// The cohort's rule in words, e.g. `BRAF p.V600E (SNV/indel); tumour type COAD; drug`.
pub fn rule_text(def: &CohortDefinition) -> String {
    let marker = match &def.biomarker {
        BiomarkerRule::Alteration {
            gene,
            kinds,
            protein_change,
        } => {
            let kinds: Vec<&str> = kinds.iter().map(|k| kind_name(*k)).collect();
            match protein_change {
                Some(p) => format!("{gene} {p} ({})", kinds.join(" or ")),
                None => format!("any {gene} {}", kinds.join(" or ")),
            }
        }
        BiomarkerRule::Amplification {
            gene,
            min_copy_number_x100,
        } => format!(
            "{gene} amplification, copy number >= {}",
            x100(*min_copy_number_x100)
        ),
        BiomarkerRule::Fusion { gene, partner } => match partner {
            Some(p) => format!("{p}-{gene} fusion"),
            None => format!("{gene} fusion, any partner"),
        },
        BiomarkerRule::MsiHigh => "microsatellite instability high".into(),
        BiomarkerRule::TmbAtLeast { mut_per_mb_x100 } => {
            format!("TMB >= {} mut/Mb", x100(*mut_per_mb_x100))
        }
    };
    match &def.tumour_type {
        Some(t) => format!("{marker}; tumour type {t}; {}", def.drug),
        None => format!("{marker}; any tumour type; {}", def.drug),
    }
}

/// Whether a patient's tumour type (`None`: not recorded) and sequencing result satisfy a
/// cohort's rule: the match, or the reason it does not.
pub fn evaluate(
    def: &CohortDefinition,
    tumour_type: Option<&str>,
    result: &SequencingResultReported,
) -> Result<CohortMatch, String> {
    if let Some(t) = &def.tumour_type {
        match tumour_type {
            Some(mine) if mine == t => {}
            Some(mine) => return Err(format!("tumour type {mine}; the cohort is for {t}")),
            None => return Err(format!("tumour type not recorded; the cohort is for {t}")),
        }
    }
    let rule = rule_text(def);
    let ok = |evidence: String, specificity: u8| {
        Ok(CohortMatch {
            rule: rule.clone(),
            evidence,
            specificity,
        })
    };
    match &def.biomarker {
        BiomarkerRule::MsiHigh => match result.msi {
            MsiStatus::High => ok(
                format!("MSI high (TMB {} mut/Mb)", x100(result.tmb_mut_per_mb_x100)),
                1,
            ),
            MsiStatus::Stable => Err("microsatellite stable".into()),
            MsiStatus::Indeterminate => Err(format!(
                "MSI status indeterminate (tumour purity {} %)",
                result.purity_pct
            )),
        },
        BiomarkerRule::TmbAtLeast { mut_per_mb_x100 } => {
            let tmb = result.tmb_mut_per_mb_x100;
            if result.msi == MsiStatus::Indeterminate && tmb == 0 {
                Err(format!(
                    "TMB not determinable (tumour purity {} %)",
                    result.purity_pct
                ))
            } else if tmb >= *mut_per_mb_x100 {
                ok(format!("TMB {} mut/Mb", x100(tmb)), 4)
            } else {
                Err(format!(
                    "TMB {} mut/Mb, below {}",
                    x100(tmb),
                    x100(*mut_per_mb_x100)
                ))
            }
        }
        BiomarkerRule::Alteration {
            gene,
            kinds,
            protein_change,
        } => {
            let of_gene: Vec<_> = result
                .alterations
                .iter()
                .filter(|a| &a.gene == gene)
                .collect();
            if of_gene.is_empty() {
                return Err(format!("no {gene} alteration"));
            }
            let hit = of_gene.iter().find(|a| {
                kinds.contains(&a.kind)
                    && protein_change
                        .as_ref()
                        .is_none_or(|p| a.protein_change.as_ref() == Some(p))
            });
            match (hit, protein_change) {
                (Some(a), Some(_)) => ok(describe(a), 0),
                (Some(a), None) => ok(describe(a), 3),
                (None, Some(p)) => Err(format!("{} is not {p}", describe(of_gene[0]))),
                (None, None) => Err(format!(
                    "{} is not a {}",
                    describe(of_gene[0]),
                    kinds
                        .iter()
                        .map(|k| kind_name(*k))
                        .collect::<Vec<_>>()
                        .join(" or ")
                )),
            }
        }
        BiomarkerRule::Amplification {
            gene,
            min_copy_number_x100,
        } => {
            let best = result
                .alterations
                .iter()
                .filter(|a| &a.gene == gene && a.kind == AlterationKind::Amplification)
                .max_by_key(|a| a.copy_number_x100.unwrap_or(0));
            match best {
                Some(a) if a.copy_number_x100.unwrap_or(0) >= *min_copy_number_x100 => {
                    ok(describe(a), 2)
                }
                Some(a) => Err(format!(
                    "{gene} copy number {}, below {}",
                    x100(a.copy_number_x100.unwrap_or(0)),
                    x100(*min_copy_number_x100)
                )),
                None => Err(format!("no {gene} amplification")),
            }
        }
        BiomarkerRule::Fusion { gene, partner } => {
            let fusions: Vec<_> = result
                .alterations
                .iter()
                .filter(|a| {
                    a.kind == AlterationKind::Fusion
                        && (&a.gene == gene || a.fusion_partner.as_ref() == Some(gene))
                })
                .collect();
            let hit = fusions.iter().find(|a| {
                partner
                    .as_ref()
                    .is_none_or(|p| a.fusion_partner.as_ref() == Some(p) || &a.gene == p)
            });
            match (hit, fusions.first()) {
                (Some(a), _) => ok(describe(a), 1),
                (None, Some(a)) => Err(format!(
                    "{} has another partner than {}",
                    describe(a),
                    partner.as_deref().unwrap_or("required")
                )),
                (None, None) => Err(format!("no {gene} fusion")),
            }
        }
    }
}

/// The matcher's proposal for a patient's sequencing result against the cohorts of protocol
/// `protocol_version`, in catalogue order with their availability (see the module's rules).
pub fn propose(
    protocol_version: u32,
    cohorts: &[CohortView<'_>],
    tumour_type: Option<&str>,
    result: &SequencingResultReported,
) -> MatchProposed {
    let mut candidates: Vec<(u8, u8, usize, CohortMatch, &CohortDefinition)> = Vec::new();
    let mut not_matched = Vec::new();
    for (i, c) in cohorts.iter().enumerate() {
        let def = c.definition;
        let exclude = |reason: String| MatchExclusion {
            cohort_id: def.cohort_id.clone(),
            reason,
        };
        match (evaluate(def, tumour_type, result), c.availability) {
            (Ok(m), Availability::Open) => {
                let agnostic = u8::from(def.tumour_type.is_none());
                candidates.push((agnostic, m.specificity, i, m, def));
            }
            (Ok(_), Availability::Full {
                status,
                slots,
                capacity,
            }) => not_matched.push(exclude(format!(
                "matches, but no slot is free ({}: {slots} of {capacity} slots taken, outcomes awaited)",
                status_name(*status)
            ))),
            (Ok(_), Availability::Closed { status }) => not_matched.push(exclude(format!(
                "matches, but the cohort is closed ({})",
                status_name(*status)
            ))),
            (Err(reason), Availability::Open) => not_matched.push(exclude(reason)),
            (Err(_), _) => {}
        }
    }
    candidates.sort_by_key(|(agnostic, spec, i, _, _)| (*agnostic, *spec, *i));
    MatchProposed {
        protocol_version,
        candidates: candidates
            .into_iter()
            .enumerate()
            .map(|(rank, (_, _, _, m, def))| MatchCandidate {
                rank: u16::try_from(rank + 1).unwrap_or(u16::MAX),
                cohort_id: def.cohort_id.clone(),
                rule: m.rule,
                evidence: m.evidence,
            })
            .collect(),
        not_matched,
    }
}
