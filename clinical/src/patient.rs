//! One treated patient's derived outcome from their recorded history, with the records behind
//! every value.
//!
//! The simulator's figures (`tl_sim::figures`) and the projections' dossier and safety views
//! both derive a patient's outcome here, so that they agree by construction. A caller collects
//! a patient's (corrected) records into a [`PatientHistory`], each value tagged with a
//! reference `R` to the record it came from (the projections use `tl_schemas::Reference`; a
//! caller that needs no references uses `()`), and [`derive`] returns a [`PatientOutcome`]
//! whose every figure carries the references that support it.
//!
//! Rules (the same as the DRUP report's denominators, DESIGN.md sections 1 and 7):
//! * **treated**: at least one dose; PFS, OS and durations run from the first dose;
//! * **responses**: RECIST 1.1 from the per-lesion measurements of each follow-up scan, in date
//!   order against the baseline ([`crate::overall_responses`]); the investigator's reported
//!   response is kept and a disagreement flagged;
//! * **response-evaluable**: a best overall response other than NE;
//! * **PFS**: the first of a PD scan, an end of treatment for (clinical) progression, or death,
//!   under the protocol's convention ([`crate::pfs`]); format 1: every event counts, censored at
//!   the last scan without progression (day 0 without one);
//! * **OS**: death, censored at the last day the patient was known alive;
//! * **duration of response** (confirmed CR/PR only): from the first PR or CR scan of the
//!   confirmed response (format 1: the first scan of the best response) to the PFS end, censored
//!   like PFS; duration of complete response from the first CR scan;
//! * **definitions**: [`derive_with`] takes the protocol's [`Definitions`]; [`derive`] reads
//!   with the format-1 ones;
//! * **grade >= 3 treatment-related AE**: an adverse event whose worst reported grade is 3 or
//!   more and whose latest attribution is suspected.

use crate::pfs::{progression_free_survival, PfsEnd};
use crate::records as convert;
use crate::{
    best_overall_response, clinical_benefit_from, exceptional_responder,
    exceptional_responder_evidenced, flag_disagreement, is_grade3_or_worse_treatment_related,
    is_susar, overall_responses, response_onset, target_sum_mm10, ClinicalBenefit, CtcaeGrade,
    DatedResponse, Definitions, Observation, PfsConvention, Response,
};
use std::collections::BTreeMap;
use tl_schemas::clinical::{Attribution, ResponseAssessed};
use tl_schemas::Date;

/// One adverse event as last reported (a report and its follow-ups, corrections applied).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdverseEventState<R> {
    /// The worst grade reported so far (CTCAE 1-5).
    pub worst_grade: u8,
    /// The latest attribution to the drug.
    pub attribution: Attribution,
    /// Whether it is serious, as last reported.
    pub serious: bool,
    /// Whether it is expected (in the reference safety information), as last reported.
    pub expected: bool,
    /// The report and every follow-up, in order.
    pub refs: Vec<R>,
}

impl<R: Copy> AdverseEventState<R> {
    /// Grade >= 3 and suspected to be caused by the drug.
    pub fn is_severe_treatment_related(&self) -> bool {
        CtcaeGrade::try_from(self.worst_grade).is_ok_and(|g| {
            is_grade3_or_worse_treatment_related(g, convert::attribution(self.attribution))
        })
    }
    /// Suspected, serious and unexpected, as last reported.
    pub fn is_susar(&self) -> bool {
        is_susar(
            convert::attribution(self.attribution).is_suspected(),
            self.serious,
            self.expected,
        )
    }
}

/// A patient's recorded history, corrections applied, each value with its record.
#[derive(Clone, Debug)]
pub struct PatientHistory<R> {
    /// The earliest dose and its record.
    pub first_dose: Option<(Date, R)>,
    /// Every response assessment (baseline and follow-ups) in record order.
    pub assessments: Vec<(ResponseAssessed, R)>,
    /// Adverse events by id.
    pub adverse_events: BTreeMap<u32, AdverseEventState<R>>,
    /// The first end of treatment for progression.
    pub progression_end: Option<(Date, R)>,
    /// Death.
    pub death: Option<(Date, R)>,
    /// The last day the patient was known alive (doses, scans, end of treatment, survival
    /// follow-up) and the record that shows it.
    pub alive: Option<(Date, R)>,
}

impl<R> Default for PatientHistory<R> {
    fn default() -> Self {
        PatientHistory {
            first_dose: None,
            assessments: Vec::new(),
            adverse_events: BTreeMap::new(),
            progression_end: None,
            death: None,
            alive: None,
        }
    }
}

impl<R: Copy> PatientHistory<R> {
    /// A dose on `d`: the first dose is the earliest; the patient was alive.
    pub fn dose(&mut self, d: Date, r: R) {
        if self.first_dose.is_none_or(|(f, _)| d < f) {
            self.first_dose = Some((d, r));
        }
        self.seen_alive(d, r);
    }
    /// The patient was known alive on `d` (the latest such day counts; the first record
    /// showing it is kept).
    pub fn seen_alive(&mut self, d: Date, r: R) {
        if self.alive.is_none_or(|(a, _)| d > a) {
            self.alive = Some((d, r));
        }
    }
    /// A response assessment.
    pub fn assessment(&mut self, a: ResponseAssessed, r: R) {
        self.seen_alive(a.assessed_on, r);
        self.assessments.push((a, r));
    }
    /// An end of treatment on `d`, for progression or not.
    pub fn treatment_ended(&mut self, d: Date, progression: bool, r: R) {
        self.seen_alive(d, r);
        if progression && self.progression_end.is_none() {
            self.progression_end = Some((d, r));
        }
    }
    /// A new adverse event report (replaces an earlier report of the same id).
    pub fn ae_reported(
        &mut self,
        ae_id: u32,
        grade: u8,
        attribution: Attribution,
        serious: bool,
        expected: bool,
        r: R,
    ) {
        self.adverse_events.insert(
            ae_id,
            AdverseEventState {
                worst_grade: grade,
                attribution,
                serious,
                expected,
                refs: vec![r],
            },
        );
    }
    /// A follow-up of an adverse event: the worst grade so far, the latest of the rest.
    pub fn ae_updated(
        &mut self,
        ae_id: u32,
        grade: u8,
        attribution: Attribution,
        serious: bool,
        expected: bool,
        r: R,
    ) {
        let e = self
            .adverse_events
            .entry(ae_id)
            .or_insert(AdverseEventState {
                worst_grade: 0,
                attribution,
                serious: false,
                expected: true,
                refs: Vec::new(),
            });
        e.worst_grade = e.worst_grade.max(grade);
        e.attribution = attribution;
        e.serious = serious;
        e.expected = expected;
        e.refs.push(r);
    }
}

/// A value and the records that support it.
#[derive(Clone, Debug, PartialEq)]
pub struct Supported<T, R> {
    /// The value.
    pub value: T,
    /// The records behind it.
    pub refs: Vec<R>,
}

/// A follow-up scan where the investigator's reported response differs from the computed one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disagreement<R> {
    /// The scan's record.
    pub record: R,
    /// Its date.
    pub assessed_on: Date,
    /// What the investigator reported.
    pub reported: Response,
    /// What RECIST 1.1 gives from the measurements.
    pub computed: Response,
}

/// A treated patient's derived outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct PatientOutcome<R> {
    /// The first dose (day 0 of PFS, OS and DoR).
    pub first_dose: Date,
    /// Best overall response (28-day confirmation); refs: the first dose, the baseline and the
    /// scans that make it.
    pub best: Supported<Response, R>,
    /// Response-evaluable: best overall response other than NE.
    pub evaluable: bool,
    /// Clinical benefit (confirmed CR/PR, or SD for at least 16 weeks); refs: the first dose
    /// and the scans that show it (none without benefit).
    pub benefit: Supported<bool, R>,
    /// Objective response: best CR or PR.
    pub objective: bool,
    /// Progression-free survival from the first dose under the protocol's primary convention
    /// ([`Definitions::pfs`]); refs: the first dose and the event (or the assessment it is
    /// censored at).
    pub pfs: Supported<Observation, R>,
    /// Progression-free survival with every progression or death counted at its date
    /// ([`PfsConvention::EveryEventObserved`], the sensitivity analysis; equal to `pfs` under a
    /// format-1 catalogue).
    pub pfs_sensitivity: Supported<Observation, R>,
    /// Overall survival from the first dose; refs: the first dose and the death (or the record
    /// of the last day known alive, when censored).
    pub os: Supported<Observation, R>,
    /// Duration of response (confirmed CR/PR only) to the end of `pfs` (event or censoring):
    /// from the first PR or CR assessment of the confirmed response when the protocol says so
    /// ([`Definitions::dor_from_first_response`]), else (format 1) from the first assessment of
    /// the best response. Refs: that assessment and the PFS end's record.
    pub duration_of_response: Option<Supported<Observation, R>>,
    /// Duration of complete response (confirmed CR only): from the first CR assessment to the
    /// end of `pfs`. Under format 1 it equals `duration_of_response` for complete responders.
    pub duration_of_complete_response: Option<Supported<Observation, R>>,
    /// Exceptional responder (confirmed CR, or PFS over two years) among the evaluable;
    /// refs: the best response's, or the PFS's (format 1) or the baseline and the assessment
    /// after day 730 that shows it (when [`Definitions::exceptional_needs_evidence`]).
    pub exceptional: Supported<bool, R>,
    /// At least one grade >= 3 treatment-related adverse event; refs: those events' records.
    pub severe_related_ae: Supported<bool, R>,
    /// Scans where the investigator's response disagrees with the computed one.
    pub disagreements: Vec<Disagreement<R>>,
}

fn days(from: Date, to: Date) -> u32 {
    from.days_until(to).max(0) as u32
}

/// Derives a patient's outcome under the format-1 definitions ([`Definitions::FORMAT_1`]);
/// `None` if the patient was never dosed (not treated).
pub fn derive<R: Copy>(h: &PatientHistory<R>) -> Option<PatientOutcome<R>> {
    derive_with(h, &Definitions::FORMAT_1)
}

/// The follow-up responses in date order, with their records, and the disagreements found.
fn dated_responses<R: Copy>(
    h: &PatientHistory<R>,
    disagreements: &mut Vec<Disagreement<R>>,
) -> Vec<(DatedResponse, R)> {
    let Some((b, _)) = h.assessments.iter().find(|(a, _)| a.baseline) else {
        return Vec::new();
    };
    // Follow-ups in date order (stable: record order within a day).
    let mut follow_ups: Vec<&(ResponseAssessed, R)> =
        h.assessments.iter().filter(|(a, _)| !a.baseline).collect();
    follow_ups.sort_by_key(|(a, _)| a.assessed_on);
    let base_sum = target_sum_mm10(&b.targets.iter().map(convert::target).collect::<Vec<_>>());
    let assessed: Vec<_> = follow_ups
        .iter()
        .map(|(a, _)| convert::assessment(a))
        .collect();
    overall_responses(base_sum, &assessed)
        .into_iter()
        .zip(&follow_ups)
        .map(|(response, (a, r))| {
            let reported = convert::response(a.investigator_response);
            if flag_disagreement(reported, response).is_some() {
                disagreements.push(Disagreement {
                    record: *r,
                    assessed_on: a.assessed_on,
                    reported,
                    computed: response,
                });
            }
            let dated = DatedResponse {
                date: a.assessed_on,
                response,
            };
            (dated, *r)
        })
        .collect()
}

/// A PFS observation with its records: the first dose and the event's (or the censoring
/// assessment's) record; also the date it ends on.
fn supported_pfs<R: Copy>(
    h: &PatientHistory<R>,
    first_dose: (Date, R),
    scans: &[(DatedResponse, R)],
    convention: PfsConvention,
) -> (Supported<Observation, R>, Date, Option<R>) {
    let dated: Vec<DatedResponse> = scans.iter().map(|(d, _)| *d).collect();
    let p = progression_free_survival(
        first_dose.0,
        &dated,
        h.progression_end.map(|(d, _)| d),
        h.death.map(|(d, _)| d),
        convention,
    );
    let (date, r) = match p.end {
        PfsEnd::ProgressionScan(i) | PfsEnd::CensoredAtAssessment(i) => {
            (scans[i].0.date, Some(scans[i].1))
        }
        PfsEnd::ClinicalProgression => h
            .progression_end
            .map_or((first_dose.0, None), |(d, r)| (d, Some(r))),
        PfsEnd::Death => h.death.map_or((first_dose.0, None), |(d, r)| (d, Some(r))),
        PfsEnd::CensoredAtFirstDose => (first_dose.0, None),
    };
    let refs = std::iter::once(first_dose.1).chain(r).collect();
    (
        Supported {
            value: p.observation,
            refs,
        },
        date,
        r,
    )
}

/// A duration from the assessment `start` to the end of `pfs` (event or censoring, as PFS).
fn duration_from<R: Copy>(
    start: (DatedResponse, R),
    pfs: &Supported<Observation, R>,
    pfs_end: (Date, Option<R>),
) -> Supported<Observation, R> {
    Supported {
        value: Observation {
            time_days: days(start.0.date, pfs_end.0),
            event: pfs.value.event,
        },
        refs: std::iter::once(start.1).chain(pfs_end.1).collect(),
    }
}

/// Derives a patient's outcome under the protocol's `defs`; `None` if the patient was never
/// dosed (not treated).
pub fn derive_with<R: Copy>(
    h: &PatientHistory<R>,
    defs: &Definitions,
) -> Option<PatientOutcome<R>> {
    let (first_dose, dose_ref) = h.first_dose?;
    let mut disagreements = Vec::new();
    let scans = dated_responses(h, &mut disagreements);
    let dated: Vec<DatedResponse> = scans.iter().map(|(d, _)| *d).collect();
    let scan_ref = |i: usize| scans[i].1;
    let baseline = h.assessments.iter().find(|(a, _)| a.baseline);
    let with_base = |mut v: Vec<R>| {
        let mut out = vec![dose_ref];
        if let Some((_, b)) = baseline {
            out.push(*b);
        }
        out.append(&mut v);
        out
    };

    let best = best_overall_response(first_dose, &dated);
    let best_refs = with_base(best.evidence.iter().map(|&i| scan_ref(i)).collect());
    let benefit = clinical_benefit_from(first_dose, &dated, defs.benefit_min_days());
    let benefit_refs = match &benefit {
        Some(ClinicalBenefit::ConfirmedResponse(b)) => {
            with_base(b.evidence.iter().map(|&i| scan_ref(i)).collect())
        }
        Some(ClinicalBenefit::DurableStableDisease { evidence, .. }) => {
            with_base(vec![scan_ref(*evidence)])
        }
        None => Vec::new(),
    };

    let (pfs, pfs_date, pfs_ref) = supported_pfs(h, (first_dose, dose_ref), &scans, defs.pfs);
    let (pfs_sensitivity, ..) = supported_pfs(
        h,
        (first_dose, dose_ref),
        &scans,
        PfsConvention::EveryEventObserved,
    );
    let os = match h.death {
        Some((d, r)) => Supported {
            value: Observation {
                time_days: days(first_dose, d),
                event: true,
            },
            refs: vec![dose_ref, r],
        },
        None => Supported {
            value: Observation {
                time_days: h.alive.map_or(0, |(a, _)| days(first_dose, a)),
                event: false,
            },
            refs: std::iter::once(dose_ref)
                .chain(h.alive.map(|(_, r)| r))
                .collect(),
        },
    };
    let objective = best.response.is_objective();
    let onset = if !objective {
        None
    } else if defs.dor_from_first_response {
        response_onset(&dated)
    } else {
        best.evidence.first().copied()
    };
    let duration_of_response = onset.map(|i| duration_from(scans[i], &pfs, (pfs_date, pfs_ref)));
    let duration_of_complete_response = (best.response == Response::CompleteResponse)
        .then(|| best.evidence.first())
        .flatten()
        .map(|&i| duration_from(scans[i], &pfs, (pfs_date, pfs_ref)));

    let evaluable = best.response != Response::NotEvaluable;
    let (exceptional, exceptional_refs) = if defs.exceptional_needs_evidence {
        let (ex, scan) = exceptional_responder_evidenced(first_dose, &dated);
        let yes = evaluable && benefit.is_some() && ex.is_exceptional();
        let refs = match (yes, scan) {
            (false, _) => Vec::new(),
            (true, _) if ex.confirmed_complete_response => best_refs.clone(),
            (true, Some(i)) => with_base(vec![scan_ref(i)]),
            (true, None) => Vec::new(),
        };
        (yes, refs)
    } else {
        let ex = exceptional_responder(best.response, pfs.value.time_days);
        let yes = evaluable && ex.is_exceptional();
        let refs = if !yes {
            Vec::new()
        } else if ex.confirmed_complete_response {
            best_refs.clone()
        } else {
            pfs.refs.clone()
        };
        (yes, refs)
    };
    let severe_refs: Vec<R> = h
        .adverse_events
        .values()
        .filter(|a| a.is_severe_treatment_related())
        .flat_map(|a| a.refs.iter().copied())
        .collect();
    Some(PatientOutcome {
        first_dose,
        best: Supported {
            value: best.response,
            refs: best_refs,
        },
        evaluable,
        benefit: Supported {
            value: benefit.is_some(),
            refs: benefit_refs,
        },
        objective,
        pfs,
        pfs_sensitivity,
        os,
        duration_of_response,
        duration_of_complete_response,
        exceptional: Supported {
            value: exceptional,
            refs: exceptional_refs,
        },
        severe_related_ae: Supported {
            value: !severe_refs.is_empty(),
            refs: severe_refs,
        },
        disagreements,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tl_schemas::clinical::{NonTargetStatus, OverallResponse, TargetLesion};

    fn scan(day: i32, baseline: bool, mm10: u32, reported: OverallResponse) -> ResponseAssessed {
        ResponseAssessed {
            assessed_on: Date(day),
            baseline,
            targets: vec![TargetLesion {
                lesion_id: 1,
                nodal: false,
                diameter_mm10: mm10,
            }],
            new_lesions: false,
            non_target: NonTargetStatus::NoneAtBaseline,
            investigator_response: reported,
        }
    }

    #[test]
    fn given_a_confirmed_partial_response_then_progression_when_derived_then_every_value_cites_its_records(
    ) {
        let mut h = PatientHistory::<u32>::default();
        h.assessment(scan(0, true, 500, OverallResponse::NotEvaluable), 1);
        h.dose(Date(1), 2);
        h.assessment(scan(57, false, 300, OverallResponse::PartialResponse), 3);
        // The investigator calls SD where the measurements show PR: flagged.
        h.assessment(scan(113, false, 290, OverallResponse::StableDisease), 4);
        h.assessment(
            scan(170, false, 600, OverallResponse::ProgressiveDisease),
            5,
        );
        h.ae_reported(1, 3, Attribution::Probable, false, true, 6);
        let o = derive(&h).expect("treated");
        assert_eq!(o.best.value, Response::PartialResponse);
        assert_eq!(o.best.refs, vec![2, 1, 3, 4]);
        assert!(o.evaluable && o.objective && o.benefit.value);
        assert_eq!(o.pfs.value.time_days, 169);
        assert!(o.pfs.value.event);
        assert_eq!(o.pfs.refs, vec![2, 5]);
        let dor = o.duration_of_response.expect("responder");
        assert_eq!((dor.value.time_days, dor.value.event), (113, true));
        assert_eq!(dor.refs, vec![3, 5]);
        assert!(!o.os.value.event);
        assert_eq!(o.os.refs, vec![2, 5]);
        assert!(!o.exceptional.value);
        assert!(o.severe_related_ae.value);
        assert_eq!(o.severe_related_ae.refs, vec![6]);
        assert_eq!(o.disagreements.len(), 1);
        assert_eq!(o.disagreements[0].record, 4);
    }

    #[test]
    fn given_no_dose_when_derived_then_not_treated() {
        let mut h = PatientHistory::<()>::default();
        h.assessment(scan(0, true, 500, OverallResponse::NotEvaluable), ());
        assert!(derive(&h).is_none());
    }

    /// The format-2 definitions of the demo protocol: landmark 112 - 7, FDA censoring on an
    /// 8-week schedule, DoR from the first response, exceptional with evidence.
    fn format2() -> Definitions {
        Definitions {
            benefit_landmark_day: 112,
            benefit_window_days: 7,
            pfs: PfsConvention::CensorAfterMissedAssessments {
                interval_days: 56,
                window_days: 7,
                missed: 2,
            },
            dor_from_first_response: true,
            exceptional_needs_evidence: true,
        }
    }

    #[test]
    fn given_pr_then_cr_then_pd_when_derived_then_dor_starts_at_the_pr_and_docr_at_the_cr() {
        // given a baseline of 50 mm, first dose day 1, PR (30 mm) day 57, CR (0 mm) days 113
        // and 169, progression (new lesion) day 281
        let mut h = PatientHistory::<u32>::default();
        h.assessment(scan(0, true, 500, OverallResponse::NotEvaluable), 1);
        h.dose(Date(1), 2);
        h.assessment(scan(57, false, 300, OverallResponse::PartialResponse), 3);
        h.assessment(scan(113, false, 0, OverallResponse::CompleteResponse), 4);
        h.assessment(scan(169, false, 0, OverallResponse::CompleteResponse), 5);
        let mut pd = scan(281, false, 0, OverallResponse::ProgressiveDisease);
        pd.new_lesions = true;
        h.assessment(pd, 6);
        // when derived under the format-2 definitions
        let o = derive_with(&h, &format2()).expect("treated");
        // then the best response is CR; DoR runs from the PR (day 57) to day 281: 224 days
        assert_eq!(o.best.value, Response::CompleteResponse);
        let dor = o.duration_of_response.clone().expect("responder");
        assert_eq!((dor.value.time_days, dor.value.event), (224, true));
        assert_eq!(dor.refs, vec![3, 6]);
        // and the duration of complete response from the first CR (day 113): 168 days
        let docr = o.duration_of_complete_response.expect("complete responder");
        assert_eq!((docr.value.time_days, docr.value.event), (168, true));
        assert_eq!(docr.refs, vec![4, 6]);
        // when derived under format 1, DoR is today's figure, from the first CR
        let old = derive(&h).expect("treated");
        assert_eq!(old.duration_of_response.unwrap().value.time_days, 168);
    }

    #[test]
    fn given_sd_then_a_late_death_when_derived_then_pfs_is_censored_and_not_exceptional() {
        // given SD at day 53 (last scan), a toxicity stop and death on day 819
        let mut h = PatientHistory::<u32>::default();
        h.assessment(scan(0, true, 500, OverallResponse::NotEvaluable), 1);
        h.dose(Date(1), 2);
        h.assessment(scan(53, false, 480, OverallResponse::StableDisease), 3);
        h.treatment_ended(Date(60), false, 4);
        h.death = Some((Date(819), 5));
        // when derived under format 2
        let o = derive_with(&h, &format2()).expect("treated");
        // then PFS is censored at the day-53 scan (52 days), the sensitivity PFS is the death
        // (818 days), and the patient is neither benefiting nor exceptional
        assert_eq!((o.pfs.value.time_days, o.pfs.value.event), (52, false));
        assert_eq!(o.pfs.refs, vec![2, 3]);
        assert_eq!(
            (
                o.pfs_sensitivity.value.time_days,
                o.pfs_sensitivity.value.event
            ),
            (818, true)
        );
        assert!(!o.benefit.value && !o.exceptional.value);
        // while format 1 counts 818 days of PFS and calls the patient exceptional
        let old = derive(&h).expect("treated");
        assert_eq!(old.pfs.value.time_days, 818);
        assert!(old.exceptional.value && !old.benefit.value);
        assert_eq!(old.pfs, old.pfs_sensitivity);
    }

    #[test]
    fn given_sd_past_day_730_when_derived_then_exceptional_cites_that_scan() {
        // given SD scans on days 57 and 741 (740 days after the first dose), alive
        let mut h = PatientHistory::<u32>::default();
        h.assessment(scan(0, true, 500, OverallResponse::NotEvaluable), 1);
        h.dose(Date(1), 2);
        h.assessment(scan(57, false, 480, OverallResponse::StableDisease), 3);
        h.assessment(scan(741, false, 470, OverallResponse::StableDisease), 4);
        // when derived under format 2
        let o = derive_with(&h, &format2()).expect("treated");
        // then exceptional with benefit, citing the first dose, the baseline and the day-741 scan
        assert!(o.exceptional.value && o.benefit.value);
        assert_eq!(o.exceptional.refs, vec![2, 1, 4]);
    }
}
