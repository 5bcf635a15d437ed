//! The decisions that services make in production: the matcher's proposals and the cohort
//! engine's slots and stage decisions (DESIGN.md section 7).
//!
//! The simulator asks a [`Decider`] for them and signs what it returns with the matcher's or
//! the cohort engine's key. [`InProcessDecider`] decides in process: [`evaluate`] matches a
//! sequencing result against each cohort of the catalogue in force, and each cohort runs
//! tl-clinical's [`TwoStageCohort`]. A later issue puts the real matcher and cohort engine
//! behind the same trait.

use std::collections::{BTreeMap, BTreeSet};
use tl_clinical::{CohortState, Outcome, TwoStageCohort, TwoStageParams};
use tl_schemas::clinical::{
    AlterationKind, BiomarkerRule, CohortCatalogue, CohortDefinition, CohortStageDecided,
    CohortStatus, MatchCandidate, MatchExclusion, MatchProposed, MsiStatus,
    SequencingResultReported, SlotAssigned, SlotRefused,
};
use tl_schemas::ids::Name;

/// The cohort engine's answer to an MTB approval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotDecision {
    /// A slot: record `SlotAssigned` in the cohort's partition, citing the approval.
    Assigned(SlotAssigned),
    /// No slot: record `SlotRefused`, citing the approval.
    Refused(SlotRefused),
}

/// Proposals, slots and stage decisions: what the matcher and the cohort engine decide.
///
/// The caller records every returned payload as a signed event, in order, before it calls
/// again, so the decider's view and the ledger never diverge.
pub trait Decider {
    /// A protocol version with this cohort catalogue is in force from now on.
    fn protocol_in_force(&mut self, version: u32, catalogue: &CohortCatalogue);
    /// The matcher's proposal for a patient's sequencing result: the open cohorts it matches,
    /// ranked, with the rule and evidence of each, and why every other open cohort did not.
    fn propose(&mut self, tumour_type: &str, result: &SequencingResultReported) -> MatchProposed;
    /// The cohort engine's slot decision for a patient the MTB approved for `cohort`.
    fn assign_slot(&mut self, cohort: &Name, patient: &Name) -> SlotDecision;
    /// A patient's outcome in `cohort` became known (benefit, no benefit, or not evaluable).
    /// Returns the stage decisions to record, in order (none when nothing changed).
    fn record_outcome(
        &mut self,
        cohort: &Name,
        patient: &Name,
        outcome: Outcome,
    ) -> Vec<CohortStageDecided>;
}

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

fn describe(a: &tl_schemas::clinical::Alteration) -> String {
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

/// The cohort's rule in words, e.g. `BRAF p.V600E (SNV/indel); tumour type COAD`.
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

/// Whether a patient's tumour type and sequencing result satisfy a cohort's rule: the match,
/// or the reason it does not.
pub fn evaluate(
    def: &CohortDefinition,
    tumour_type: &str,
    result: &SequencingResultReported,
) -> Result<CohortMatch, String> {
    if let Some(t) = &def.tumour_type {
        if t != tumour_type {
            return Err(format!("tumour type {tumour_type}; the cohort is for {t}"));
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

/// The schema's status for a tl-clinical cohort state.
pub fn status_of(state: CohortState) -> CohortStatus {
    match state {
        CohortState::Stage1 => CohortStatus::Stage1,
        CohortState::Stage2 => CohortStatus::Stage2,
        CohortState::ClosedForFutility => CohortStatus::ClosedForFutility,
        CohortState::CompletedNegative => CohortStatus::CompletedNegative,
        CohortState::Positive => CohortStatus::Positive,
        CohortState::Expansion => CohortStatus::Expansion,
        CohortState::ExpansionComplete => CohortStatus::ExpansionComplete,
    }
}

/// tl-clinical's two-stage parameters of a catalogue cohort.
pub fn params_of(def: &CohortDefinition) -> TwoStageParams {
    TwoStageParams {
        stage1_size: def.stage1_size.into(),
        stage1_min_benefits: def.stage1_threshold.into(),
        stage2_size: def.stage2_size.into(),
        stage2_min_benefits: def.stage2_threshold.into(),
        expansion_cap: def.expansion_cap,
    }
}

/// One cohort as the in-process cohort engine sees it.
#[derive(Clone, Debug)]
pub struct EngineCohort {
    /// The catalogue entry.
    pub definition: CohortDefinition,
    /// The two-stage state machine.
    pub machine: TwoStageCohort,
    /// Slots handed out so far (the last slot number).
    pub slots: u32,
    /// Patients holding a slot whose outcome is not known yet.
    pub awaiting: BTreeSet<Name>,
}

/// The in-process matcher and cohort engine.
///
/// Matching: a cohort is a candidate when it has a free slot and [`evaluate`] matches it.
/// Candidates rank tumour-specific cohorts before tumour-agnostic ones, then by the rule's
/// specificity, then in catalogue order. Every other cohort that is open, or that matches but
/// is closed or full, is listed with its reason. Slots and stage decisions follow tl-clinical's
/// two-stage rule. The stage-3 expansion is the sponsor's decision; the standing policy here
/// opens it at once when a cohort turns positive with a benefit rate of at least
/// [`InProcessDecider::expansion_min_benefit_pct`] among its evaluable patients and its cap
/// allows more; otherwise the cohort stays positive, without new slots.
#[derive(Clone, Debug)]
pub struct InProcessDecider {
    /// The smallest benefit rate (percent of evaluable patients) at which a positive cohort's
    /// expansion is opened.
    pub expansion_min_benefit_pct: u32,
    protocol_version: u32,
    cohorts: BTreeMap<Name, EngineCohort>,
    /// Catalogue order of the cohort ids.
    order: Vec<Name>,
}

/// The default expansion policy: positive cohorts with at least 30 % benefit expand.
pub const DEFAULT_EXPANSION_MIN_BENEFIT_PCT: u32 = 30;

impl Default for InProcessDecider {
    fn default() -> Self {
        InProcessDecider {
            expansion_min_benefit_pct: DEFAULT_EXPANSION_MIN_BENEFIT_PCT,
            protocol_version: 0,
            cohorts: BTreeMap::new(),
            order: Vec::new(),
        }
    }
}

impl InProcessDecider {
    /// A decider with no protocol yet and the default expansion policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// The cohort engine's view of a cohort.
    pub fn cohort(&self, id: &Name) -> Option<&EngineCohort> {
        self.cohorts.get(id)
    }

    /// Every cohort, in catalogue order.
    pub fn cohorts(&self) -> impl Iterator<Item = &EngineCohort> {
        self.order.iter().filter_map(|id| self.cohorts.get(id))
    }

    fn decided(c: &EngineCohort) -> CohortStageDecided {
        let counts = c.machine.counts();
        CohortStageDecided {
            status: status_of(c.machine.state()),
            enrolled: counts.enrolled,
            evaluable: counts.evaluable,
            benefits: counts.benefits,
            not_evaluable: counts.not_evaluable,
        }
    }
}

impl Decider for InProcessDecider {
    fn protocol_in_force(&mut self, version: u32, catalogue: &CohortCatalogue) {
        self.protocol_version = version;
        for def in &catalogue.cohorts {
            if let Some(c) = self.cohorts.get_mut(&def.cohort_id) {
                c.definition = def.clone();
                continue;
            }
            let Ok(machine) = TwoStageCohort::new(params_of(def)) else {
                // A cohort whose parameters the rule cannot run never opens.
                continue;
            };
            self.order.push(def.cohort_id.clone());
            self.cohorts.insert(
                def.cohort_id.clone(),
                EngineCohort {
                    definition: def.clone(),
                    machine,
                    slots: 0,
                    awaiting: BTreeSet::new(),
                },
            );
        }
    }

    fn propose(&mut self, tumour_type: &str, result: &SequencingResultReported) -> MatchProposed {
        let mut candidates: Vec<(u8, u8, usize, Name, CohortMatch)> = Vec::new();
        let mut not_matched = Vec::new();
        for (i, id) in self.order.iter().enumerate() {
            let c = &self.cohorts[id];
            let open = c.machine.may_enroll();
            match (evaluate(&c.definition, tumour_type, result), open) {
                (Ok(m), true) => {
                    let agnostic = u8::from(c.definition.tumour_type.is_none());
                    candidates.push((agnostic, m.specificity, i, id.clone(), m));
                }
                (Ok(_), false) => {
                    let counts = c.machine.counts();
                    let state = c.machine.state();
                    let reason = match state {
                        CohortState::Stage1 | CohortState::Stage2 | CohortState::Expansion => {
                            format!(
                                "matches, but no slot is free ({state}: {} enrolled, {} awaiting an outcome)",
                                counts.enrolled,
                                counts.awaiting_outcome()
                            )
                        }
                        _ => format!("matches, but the cohort is closed ({state})"),
                    };
                    not_matched.push(MatchExclusion {
                        cohort_id: id.clone(),
                        reason,
                    });
                }
                (Err(reason), true) => not_matched.push(MatchExclusion {
                    cohort_id: id.clone(),
                    reason,
                }),
                (Err(_), false) => {}
            }
        }
        candidates.sort_by_key(|(agnostic, spec, i, _, _)| (*agnostic, *spec, *i));
        MatchProposed {
            protocol_version: self.protocol_version,
            candidates: candidates
                .into_iter()
                .enumerate()
                .map(|(rank, (_, _, _, id, m))| MatchCandidate {
                    rank: rank as u16 + 1,
                    cohort_id: id,
                    rule: m.rule,
                    evidence: m.evidence,
                })
                .collect(),
            not_matched,
        }
    }

    fn assign_slot(&mut self, cohort: &Name, patient: &Name) -> SlotDecision {
        let refuse = |reason: String| {
            SlotDecision::Refused(SlotRefused {
                patient: patient.clone(),
                reason,
            })
        };
        let Some(c) = self.cohorts.get_mut(cohort) else {
            return refuse(format!("cohort {cohort} is not in the protocol in force"));
        };
        let state = c.machine.state();
        match c.machine.assign_slot() {
            Ok(_) => {
                c.slots += 1;
                c.awaiting.insert(patient.clone());
                SlotDecision::Assigned(SlotAssigned {
                    patient: patient.clone(),
                    stage: match state {
                        CohortState::Stage1 => 1,
                        CohortState::Stage2 => 2,
                        _ => 3,
                    },
                    slot: c.slots,
                })
            }
            Err(e) => refuse(e.to_string()),
        }
    }

    fn record_outcome(
        &mut self,
        cohort: &Name,
        patient: &Name,
        outcome: Outcome,
    ) -> Vec<CohortStageDecided> {
        let Some(c) = self.cohorts.get_mut(cohort) else {
            return Vec::new();
        };
        if !c.awaiting.remove(patient) {
            return Vec::new();
        }
        let Ok(decision) = c.machine.record_outcome(outcome) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        // A non-evaluable patient frees a slot only once the ledger records the new count.
        if decision.changed() || outcome == Outcome::NotEvaluable {
            out.push(Self::decided(c));
        }
        let counts = c.machine.counts();
        if decision.changed()
            && c.machine.state() == CohortState::Positive
            && counts.evaluable < c.definition.expansion_cap
            && counts.benefits * 100 >= self.expansion_min_benefit_pct * counts.evaluable
            && c.machine.open_expansion().is_ok()
        {
            out.push(Self::decided(c));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Protocol;
    use tl_schemas::clinical::Alteration;
    use tl_schemas::{Date, Hash32};

    fn result(msi: MsiStatus, tmb: u32, alterations: Vec<Alteration>) -> SequencingResultReported {
        SequencingResultReported {
            sample_id: "S-1".into(),
            purity_pct: 60,
            msi,
            tmb_mut_per_mb_x100: tmb,
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

    fn decider() -> InProcessDecider {
        let p = Protocol::drup();
        let mut d = InProcessDecider::new();
        d.protocol_in_force(3, &p.catalogue(3));
        d
    }

    fn name(s: &str) -> Name {
        Name::new(s).unwrap()
    }

    #[test]
    fn braf_v600e_colorectal_patient_matches_the_braf_cohort_first() {
        let mut d = decider();
        let r = result(
            MsiStatus::Stable,
            420,
            vec![snv("BRAF", "p.V600E"), snv("TP53", "p.R175H")],
        );
        let p = d.propose("COAD", &r);
        let first = &p.candidates[0];
        assert_eq!(first.cohort_id.as_str(), "VEMU-COBI.BRAFV600E.COAD");
        assert_eq!(first.rank, 1);
        assert!(first.rule.contains("BRAF p.V600E"), "{}", first.rule);
        assert!(first.evidence.contains("VAF 31.2 %"), "{}", first.evidence);
        // The tumour-agnostic BRAF cohort matches too, ranked after the COAD one.
        assert!(p
            .candidates
            .iter()
            .any(|c| c.cohort_id.as_str() == "VEMU-COBI.BRAFV600E.ANY" && c.rank > 1));
        // The glioblastoma BRAF cohort is excluded by tumour type, the MSI cohort by MSI.
        let why = |id: &str| {
            p.not_matched
                .iter()
                .find(|e| e.cohort_id.as_str() == id)
                .map(|e| e.reason.clone())
                .unwrap_or_else(|| panic!("{id} not listed"))
        };
        assert_eq!(
            why("DABR-TRAM.BRAFV600E.GB"),
            "tumour type COAD; the cohort is for GB"
        );
        assert_eq!(why("NIVO.MSI.ANY"), "microsatellite stable");
        assert_eq!(why("DURV.TMB10.ANY"), "TMB 4.20 mut/Mb, below 10.00");
        assert_eq!(why("SOTO.KRASG12C.COAD"), "no KRAS alteration");
        // Every open cohort is either a candidate or explained.
        assert_eq!(
            p.candidates.len() + p.not_matched.len(),
            Protocol::drup().catalogue(3).cohorts.len()
        );
    }

    #[test]
    fn msi_high_patient_matches_the_msi_cohort() {
        let mut d = decider();
        let r = result(MsiStatus::High, 4210, vec![]);
        let p = d.propose("UCEC", &r);
        let ids: Vec<&str> = p.candidates.iter().map(|c| c.cohort_id.as_str()).collect();
        assert_eq!(ids, ["NIVO.MSI.ANY", "DURV.TMB10.ANY"]);
        assert!(p.candidates[0].evidence.starts_with("MSI high"));
    }

    #[test]
    fn exclusions_name_why() {
        let def = |id: &str| Protocol::drup().spec(&name(id)).unwrap().definition.clone();
        let v600k = result(MsiStatus::Stable, 100, vec![snv("BRAF", "p.V600K")]);
        assert_eq!(
            evaluate(&def("VEMU-COBI.BRAFV600E.ANY"), "SKCM", &v600k).unwrap_err(),
            "BRAF p.V600K, VAF 31.2 % is not p.V600E"
        );
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
            evaluate(&def("TRAS-PERT.ERBB2AMP.ANY"), "BRCA", &gain).unwrap_err(),
            "ERBB2 copy number 4.20, below 6.00"
        );
        let mut low = result(MsiStatus::Indeterminate, 0, vec![]);
        low.purity_pct = 12;
        assert_eq!(
            evaluate(&def("NIVO.MSI.ANY"), "COAD", &low).unwrap_err(),
            "MSI status indeterminate (tumour purity 12 %)"
        );
        assert_eq!(
            evaluate(&def("ALEC.ALKFUS.ANY"), "COAD", &low).unwrap_err(),
            "no ALK fusion"
        );
    }

    #[test]
    fn slots_and_stage_decisions_follow_the_two_stage_rule() {
        let mut d = decider();
        let cohort = name("NIVO.MSI.ANY");
        let patients: Vec<Name> = (0..9).map(|i| name(&format!("P{i}"))).collect();
        for p in &patients[..8] {
            assert!(matches!(
                d.assign_slot(&cohort, p),
                SlotDecision::Assigned(SlotAssigned { stage: 1, .. })
            ));
        }
        // Stage 1 is full while 8 outcomes are awaited.
        match d.assign_slot(&cohort, &patients[8]) {
            SlotDecision::Refused(r) => assert!(r.reason.contains("no slot open"), "{}", r.reason),
            other => panic!("expected a refusal, got {other:?}"),
        }
        // A non-evaluable patient is recorded (frees a slot), then a benefit expands the cohort.
        let ne = d.record_outcome(&cohort, &patients[0], Outcome::NotEvaluable);
        assert_eq!(ne.len(), 1);
        assert_eq!(
            (ne[0].status, ne[0].not_evaluable),
            (CohortStatus::Stage1, 1)
        );
        assert!(d
            .record_outcome(&cohort, &patients[1], Outcome::NoBenefit)
            .is_empty());
        let up = d.record_outcome(&cohort, &patients[2], Outcome::Benefit);
        assert_eq!(up.len(), 1);
        assert_eq!(up[0].status, CohortStatus::Stage2);
        assert_eq!((up[0].evaluable, up[0].benefits), (2, 1));
        assert!(matches!(
            d.assign_slot(&cohort, &patients[8]),
            SlotDecision::Assigned(SlotAssigned {
                stage: 2,
                slot: 9,
                ..
            })
        ));
        // An outcome for a patient without a slot changes nothing.
        assert!(d
            .record_outcome(&cohort, &name("P-none"), Outcome::Benefit)
            .is_empty());
    }

    #[test]
    fn a_positive_cohort_opens_its_expansion_at_once() {
        let mut d = decider();
        let cohort = name("NIVO.MSI.ANY");
        let mut decisions = Vec::new();
        for i in 0..5 {
            let p = name(&format!("P{i}"));
            assert!(matches!(
                d.assign_slot(&cohort, &p),
                SlotDecision::Assigned(_)
            ));
            decisions.extend(d.record_outcome(&cohort, &p, Outcome::Benefit));
        }
        let statuses: Vec<CohortStatus> = decisions.iter().map(|s| s.status).collect();
        assert_eq!(
            statuses,
            [
                CohortStatus::Stage2,
                CohortStatus::Positive,
                CohortStatus::Expansion
            ]
        );
    }
}
