//! Best overall response with confirmation, clinical benefit and exceptional responders.
//!
//! All three are read from a patient's dated assessment responses (one RECIST response per
//! assessment, from [`crate::recist`] or as reported) and the date of the first dose, which is
//! where DRUP measures durations from.
//!
//! Results name the assessments they rest on by their index in the caller's slice, so a caller
//! holding the assessments in record order can cite the records behind a best response.

use crate::recist::Response;
use serde::{Deserialize, Serialize};
use tl_schemas::Date;

/// A CR or PR counts only if a later assessment at least this many days after it confirms it
/// (RECIST 1.1 section 4.4: "no less than 4 weeks").
pub const CONFIRMATION_MIN_DAYS: i32 = 28;

/// The minimum duration for a best overall response of SD: some assessment showing SD or better
/// at least this many days (6 weeks) after the first dose. RECIST 1.1 leaves the value to the
/// protocol; 6 weeks is about one assessment interval, so SD seen only at an earlier visit is too
/// early to tell apart from a slow start to progression. Below it the best response is NE (or PD
/// when progression follows).
pub const SD_MIN_DAYS_FROM_FIRST_DOSE: i32 = 42;

/// Stable disease is clinical benefit when it lasts at least this many days (16 weeks) from the
/// first dose (DRUP's definition of clinical benefit).
pub const BENEFIT_SD_MIN_DAYS: i32 = 112;

/// A patient is an exceptional responder on progression-free survival when it is *more than*
/// this many days (2 years).
pub const EXCEPTIONAL_PFS_DAYS: u32 = 730;

/// The response of one assessment and its date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DatedResponse {
    /// The date of the assessment (the scan).
    pub date: Date,
    /// The overall response at that assessment.
    pub response: Response,
}

/// A best overall response and the assessments it rests on.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BestOverall {
    /// The best overall response: CR and PR here are always confirmed.
    pub response: Response,
    /// Indices into the assessments given: for CR and PR the first assessment meeting the
    /// criteria and the one confirming it; for SD the first assessment meeting the SD minimum
    /// duration; for PD the first PD; empty for NE.
    pub evidence: Vec<usize>,
}

/// The indices of the assessments that count, in date order: everything before the first PD, and
/// the first PD itself (returned separately). Assessments after progression cannot improve the
/// best response: treatment has failed by then.
fn before_progression(assessments: &[DatedResponse]) -> (Vec<usize>, Option<usize>) {
    let mut order: Vec<usize> = (0..assessments.len()).collect();
    // Stable, so same-day assessments keep the caller's order.
    order.sort_by_key(|&i| assessments[i].date);
    match order
        .iter()
        .position(|&i| assessments[i].response == Response::ProgressiveDisease)
    {
        Some(p) => {
            let pd = order[p];
            order.truncate(p);
            (order, Some(pd))
        }
        None => (order, None),
    }
}

/// The first assessment (in date order) with a response in `first` that a later one with a response
/// in `confirm`, at least [`CONFIRMATION_MIN_DAYS`] later, confirms: the pair of indices.
fn confirmed_pair(
    assessments: &[DatedResponse],
    order: &[usize],
    first: &[Response],
    confirm: &[Response],
) -> Option<[usize; 2]> {
    order.iter().enumerate().find_map(|(k, &i)| {
        if !first.contains(&assessments[i].response) {
            return None;
        }
        order[k + 1..]
            .iter()
            .find(|&&j| {
                confirm.contains(&assessments[j].response)
                    && assessments[i].date.days_until(assessments[j].date) >= CONFIRMATION_MIN_DAYS
            })
            .map(|&j| [i, j])
    })
}

/// The best overall response of a patient (RECIST 1.1 section 4.4, with confirmation).
///
/// The assessments may come in any order; they are read in date order, up to and including the
/// first PD. Then, best first:
/// * CR: a CR confirmed by a later CR at least [`CONFIRMATION_MIN_DAYS`] after it;
/// * PR: a PR or CR confirmed by a later PR or CR at least [`CONFIRMATION_MIN_DAYS`] after it
///   (so a CR followed by a PR gives PR). Assessments in between do not break the confirmation
///   as long as none is PD;
/// * SD: an assessment showing SD or better (an unconfirmed CR or PR meets the SD criteria) at
///   least [`SD_MIN_DAYS_FROM_FIRST_DOSE`] after `first_dose`;
/// * PD: the first PD, when none of the above holds;
/// * NE otherwise (no assessment late enough, or none evaluable).
pub fn best_overall_response(first_dose: Date, assessments: &[DatedResponse]) -> BestOverall {
    use Response::*;
    let (order, first_pd) = before_progression(assessments);
    if let Some(pair) = confirmed_pair(
        assessments,
        &order,
        &[CompleteResponse],
        &[CompleteResponse],
    ) {
        return BestOverall {
            response: CompleteResponse,
            evidence: pair.to_vec(),
        };
    }
    let objective = [CompleteResponse, PartialResponse];
    if let Some(pair) = confirmed_pair(assessments, &order, &objective, &objective) {
        return BestOverall {
            response: PartialResponse,
            evidence: pair.to_vec(),
        };
    }
    if let Some(&i) = order.iter().find(|&&i| {
        assessments[i].response.is_sd_or_better()
            && first_dose.days_until(assessments[i].date) >= SD_MIN_DAYS_FROM_FIRST_DOSE
    }) {
        return BestOverall {
            response: StableDisease,
            evidence: vec![i],
        };
    }
    match first_pd {
        Some(p) => BestOverall {
            response: ProgressiveDisease,
            evidence: vec![p],
        },
        None => BestOverall {
            response: NotEvaluable,
            evidence: Vec::new(),
        },
    }
}

/// The duration of disease control: days from the first dose to the last assessment before
/// progression that still shows SD or better, with that assessment's index; `None` when no
/// assessment before progression shows SD or better. NE assessments in between neither extend nor
/// interrupt it.
pub fn disease_control_days(
    first_dose: Date,
    assessments: &[DatedResponse],
) -> Option<(i32, usize)> {
    let (order, _) = before_progression(assessments);
    order
        .iter()
        .rev()
        .find(|&&i| assessments[i].response.is_sd_or_better())
        .map(|&i| (first_dose.days_until(assessments[i].date), i))
}

/// Why a patient has clinical benefit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ClinicalBenefit {
    /// A confirmed objective response: the best overall response is CR or PR.
    ConfirmedResponse(BestOverall),
    /// Disease control (SD or better) lasting at least [`BENEFIT_SD_MIN_DAYS`] from the first dose.
    DurableStableDisease {
        /// Days from the first dose to the last assessment showing SD or better.
        days: i32,
        /// The index of that assessment.
        evidence: usize,
    },
}

/// Clinical benefit (DRUP): a confirmed CR or PR, or SD lasting at least 16 weeks
/// ([`BENEFIT_SD_MIN_DAYS`]) from the first dose, measured to the last assessment before
/// progression still showing SD or better. `None` means no benefit. This is the format-1
/// reading ([`crate::Definitions::FORMAT_1`]); [`clinical_benefit_from`] takes the landmark
/// window a protocol states.
pub fn clinical_benefit(
    first_dose: Date,
    assessments: &[DatedResponse],
) -> Option<ClinicalBenefit> {
    clinical_benefit_from(first_dose, assessments, BENEFIT_SD_MIN_DAYS)
}

/// Clinical benefit with the landmark window's first day `min_days` (from
/// [`crate::Definitions::benefit_min_days`]): a confirmed CR or PR, or an assessment on or after
/// day `min_days` from the first dose showing SD or better with no progression before it.
/// RECIST 1.1 measures stable disease from the start of treatment and needs no confirmation.
pub fn clinical_benefit_from(
    first_dose: Date,
    assessments: &[DatedResponse],
    min_days: i32,
) -> Option<ClinicalBenefit> {
    let best = best_overall_response(first_dose, assessments);
    if best.response.is_objective() {
        return Some(ClinicalBenefit::ConfirmedResponse(best));
    }
    match disease_control_days(first_dose, assessments) {
        Some((days, evidence)) if days >= min_days => {
            Some(ClinicalBenefit::DurableStableDisease { days, evidence })
        }
        _ => None,
    }
}

/// The first assessment of a confirmed objective response: the first PR or CR (in date order,
/// before progression) that a later PR or CR at least [`CONFIRMATION_MIN_DAYS`] after it
/// confirms. Duration of response runs from here (RECIST 1.1: "from the time measurement
/// criteria are first met for CR or PR"), also for a patient whose best response is a CR reached
/// after a PR. `None` without a confirmed response.
pub fn response_onset(assessments: &[DatedResponse]) -> Option<usize> {
    use Response::*;
    let (order, _) = before_progression(assessments);
    let objective = [CompleteResponse, PartialResponse];
    confirmed_pair(assessments, &order, &objective, &objective).map(|[first, _]| first)
}

/// Whether, and on which grounds, a patient is an exceptional responder. Both grounds are kept
/// so a dossier can show each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExceptionalResponder {
    /// The best overall response is a confirmed CR.
    pub confirmed_complete_response: bool,
    /// Progression-free survival is more than [`EXCEPTIONAL_PFS_DAYS`].
    pub long_progression_free: bool,
}

impl ExceptionalResponder {
    /// Whether either ground holds.
    pub fn is_exceptional(&self) -> bool {
        self.confirmed_complete_response || self.long_progression_free
    }
}

/// Exceptional responder (DRUP): a confirmed CR, or PFS over 2 years.
///
/// `best` must be a best overall response from [`best_overall_response`], whose CR is always
/// confirmed. `progression_free_days` is the time from the first dose to progression or death, or
/// to the last assessment without progression when censored: a patient known to be progression-free
/// for more than 2 years qualifies either way.
pub fn exceptional_responder(best: Response, progression_free_days: u32) -> ExceptionalResponder {
    ExceptionalResponder {
        confirmed_complete_response: best == Response::CompleteResponse,
        long_progression_free: progression_free_days > EXCEPTIONAL_PFS_DAYS,
    }
}

/// Exceptional responder with the evidence a format-2 protocol requires: a confirmed CR, or
/// progression-free survival beyond two years *shown* by an assessment more than
/// [`EXCEPTIONAL_PFS_DAYS`] after the first dose that shows SD or better with no progression
/// before it. A late death or a long censored follow-up without such an assessment is no
/// evidence. Returns the grounds and the index of that assessment (`None` on the CR ground
/// alone).
///
/// Either ground implies clinical benefit under any landmark up to two years (a confirmed CR is
/// an objective response; disease control beyond day 730 passes the landmark); the caller still
/// requires benefit, so that the implication holds by construction whatever the protocol says.
pub fn exceptional_responder_evidenced(
    first_dose: Date,
    assessments: &[DatedResponse],
) -> (ExceptionalResponder, Option<usize>) {
    let best = best_overall_response(first_dose, assessments);
    let evidence = disease_control_days(first_dose, assessments)
        .filter(|&(days, _)| i64::from(days) > i64::from(EXCEPTIONAL_PFS_DAYS))
        .map(|(_, i)| i);
    (
        ExceptionalResponder {
            confirmed_complete_response: best.response == Response::CompleteResponse,
            long_progression_free: evidence.is_some(),
        },
        evidence,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use Response::*;

    fn dose() -> Date {
        Date::from_ymd(2025, 1, 6).unwrap()
    }

    /// An assessment `days` after the first dose.
    fn at(days: i32, response: Response) -> DatedResponse {
        DatedResponse {
            date: Date(dose().0 + days),
            response,
        }
    }

    #[test]
    fn unconfirmed_partial_response_is_not_best_response_pr() {
        // given a single PR at day 56 and nothing after it
        let a = [at(56, PartialResponse)];
        // when the best overall response is taken
        let best = best_overall_response(dose(), &a);
        // then it is not PR; the PR still meets SD criteria after 42 days
        assert_ne!(best.response, PartialResponse);
        assert_eq!(best.response, StableDisease);
        assert_eq!(best.evidence, vec![0]);
    }

    #[test]
    fn partial_response_confirmed_at_28_days_is_pr() {
        // given a PR at day 56
        // when a PR follows 28 days later
        let a = [at(56, PartialResponse), at(84, PartialResponse)];
        let best = best_overall_response(dose(), &a);
        // then the best overall response is PR, citing both assessments
        assert_eq!(best.response, PartialResponse);
        assert_eq!(best.evidence, vec![0, 1]);
    }

    #[test]
    fn partial_response_confirmed_at_27_days_is_not_pr() {
        // given a PR at day 56
        // when a PR follows only 27 days later
        let a = [at(56, PartialResponse), at(83, PartialResponse)];
        let best = best_overall_response(dose(), &a);
        // then the best overall response is not PR
        assert_ne!(best.response, PartialResponse);
        assert_eq!(best.response, StableDisease);
    }

    #[test]
    fn complete_response_confirmed_by_complete_response_is_cr() {
        // given a CR at day 56
        // when a CR follows 35 days later
        let a = [at(56, CompleteResponse), at(91, CompleteResponse)];
        // then CR
        assert_eq!(best_overall_response(dose(), &a).response, CompleteResponse);
    }

    #[test]
    fn complete_response_followed_by_partial_response_is_pr() {
        // given a CR at day 56
        // when a PR follows 28 days later
        let a = [at(56, CompleteResponse), at(84, PartialResponse)];
        // then PR (RECIST 1.1 table 3)
        assert_eq!(best_overall_response(dose(), &a).response, PartialResponse);
    }

    #[test]
    fn partial_response_confirmed_by_complete_response_is_pr() {
        // given a PR at day 56
        // when a single CR follows 28 days later (itself unconfirmed)
        let a = [at(56, PartialResponse), at(84, CompleteResponse)];
        // then PR
        assert_eq!(best_overall_response(dose(), &a).response, PartialResponse);
    }

    #[test]
    fn assessments_are_read_in_date_order() {
        // given a confirmed PR whose assessments arrive out of order
        let a = [at(84, PartialResponse), at(56, PartialResponse)];
        // when the best response is taken
        let best = best_overall_response(dose(), &a);
        // then it is PR, citing the earlier assessment first
        assert_eq!(best.response, PartialResponse);
        assert_eq!(best.evidence, vec![1, 0]);
    }

    #[test]
    fn confirmation_after_progression_does_not_count() {
        // given a PR at day 56 and progression at day 70
        // when a PR is recorded after the progression
        let a = [
            at(56, PartialResponse),
            at(70, ProgressiveDisease),
            at(90, PartialResponse),
        ];
        let best = best_overall_response(dose(), &a);
        // then it is SD from the day-56 PR (>= 42 days), not PR
        assert_eq!(best.response, StableDisease);
        assert_eq!(best.evidence, vec![0]);
    }

    #[test]
    fn stable_disease_before_minimum_duration_then_progression_is_pd() {
        // given SD at day 41, one day short of the SD minimum
        // when progression follows
        let a = [at(41, StableDisease), at(80, ProgressiveDisease)];
        let best = best_overall_response(dose(), &a);
        // then PD, citing the progression
        assert_eq!(best.response, ProgressiveDisease);
        assert_eq!(best.evidence, vec![1]);
    }

    #[test]
    fn stable_disease_before_minimum_duration_alone_is_not_evaluable() {
        // given SD at day 41 and nothing after
        let a = [at(41, StableDisease)];
        // when the best response is taken
        // then NE
        assert_eq!(best_overall_response(dose(), &a).response, NotEvaluable);
    }

    #[test]
    fn stable_disease_at_minimum_duration_is_sd() {
        // given SD exactly 42 days after the first dose
        let a = [at(42, StableDisease)];
        // when the best response is taken
        // then SD
        assert_eq!(best_overall_response(dose(), &a).response, StableDisease);
    }

    #[test]
    fn no_assessments_is_not_evaluable() {
        // given no assessment
        // when the best response is taken
        let best = best_overall_response(dose(), &[]);
        // then NE with no evidence
        assert_eq!(best.response, NotEvaluable);
        assert!(best.evidence.is_empty());
    }

    #[test]
    fn stable_disease_for_111_days_is_not_clinical_benefit() {
        // given SD up to day 111, then progression
        let a = [
            at(56, StableDisease),
            at(111, StableDisease),
            at(160, ProgressiveDisease),
        ];
        // when clinical benefit is judged
        // then there is none
        assert_eq!(disease_control_days(dose(), &a), Some((111, 1)));
        assert_eq!(clinical_benefit(dose(), &a), None);
    }

    #[test]
    fn stable_disease_for_112_days_is_clinical_benefit() {
        // given SD up to day 112, then progression
        let a = [
            at(56, StableDisease),
            at(112, StableDisease),
            at(160, ProgressiveDisease),
        ];
        // when clinical benefit is judged
        // then it is durable SD, citing the day-112 assessment
        assert_eq!(
            clinical_benefit(dose(), &a),
            Some(ClinicalBenefit::DurableStableDisease {
                days: 112,
                evidence: 1
            })
        );
    }

    #[test]
    fn confirmed_response_is_clinical_benefit() {
        // given a PR confirmed at day 84, then progression at day 100
        let a = [
            at(56, PartialResponse),
            at(84, PartialResponse),
            at(100, ProgressiveDisease),
        ];
        // when clinical benefit is judged
        let b = clinical_benefit(dose(), &a);
        // then it is the confirmed response, although disease control lasted under 16 weeks
        match b {
            Some(ClinicalBenefit::ConfirmedResponse(best)) => {
                assert_eq!(best.response, PartialResponse)
            }
            other => panic!("expected a confirmed response, got {other:?}"),
        }
    }

    #[test]
    fn unconfirmed_response_counts_as_disease_control_for_benefit() {
        // given SD at day 56 and an unconfirmed PR at day 120
        let a = [at(56, StableDisease), at(120, PartialResponse)];
        // when clinical benefit is judged
        // then the PR extends disease control to 120 days: durable SD
        assert_eq!(
            clinical_benefit(dose(), &a),
            Some(ClinicalBenefit::DurableStableDisease {
                days: 120,
                evidence: 1
            })
        );
    }

    #[test]
    fn confirmed_complete_response_is_exceptional() {
        // given a confirmed CR
        let best = best_overall_response(
            dose(),
            &[at(56, CompleteResponse), at(84, CompleteResponse)],
        );
        // when judged with a short PFS
        let e = exceptional_responder(best.response, 200);
        // then exceptional, on the CR ground only
        assert!(e.is_exceptional());
        assert!(e.confirmed_complete_response);
        assert!(!e.long_progression_free);
    }

    #[test]
    fn unconfirmed_complete_response_is_not_exceptional() {
        // given a CR never confirmed (the best response falls back to SD)
        let best = best_overall_response(dose(), &[at(56, CompleteResponse)]);
        // when judged with a short PFS
        let e = exceptional_responder(best.response, 200);
        // then not exceptional
        assert_eq!(best.response, StableDisease);
        assert!(!e.is_exceptional());
    }

    #[test]
    fn pfs_of_731_days_is_exceptional() {
        // given SD as best response
        // when PFS is 731 days, just over 2 years
        let e = exceptional_responder(StableDisease, 731);
        // then exceptional, on the PFS ground
        assert!(e.is_exceptional());
        assert!(e.long_progression_free);
        assert!(!e.confirmed_complete_response);
    }

    #[test]
    fn pfs_of_exactly_730_days_is_not_exceptional() {
        // given a confirmed PR
        // when PFS is exactly 730 days: not *more than* 2 years
        let e = exceptional_responder(PartialResponse, 730);
        // then not exceptional
        assert!(!e.is_exceptional());
    }

    #[test]
    fn given_sd_at_day_105_when_the_window_starts_at_105_then_benefit() {
        // given SD at day 105 then progression (a week-16 scan drawn a week early)
        let a = [
            at(56, StableDisease),
            at(105, StableDisease),
            at(160, ProgressiveDisease),
        ];
        // when benefit is judged with the landmark 112 and a 7-day window
        // then benefit; with a strict day 112 (format 1), none
        assert_eq!(
            clinical_benefit_from(dose(), &a, 105),
            Some(ClinicalBenefit::DurableStableDisease {
                days: 105,
                evidence: 1
            })
        );
        assert_eq!(clinical_benefit(dose(), &a), None);
    }

    #[test]
    fn given_sd_at_day_104_when_the_window_starts_at_105_then_no_benefit() {
        // given SD at day 104, one day before the window opens, then progression
        let a = [
            at(56, StableDisease),
            at(104, StableDisease),
            at(160, ProgressiveDisease),
        ];
        // when benefit is judged with the window from day 105
        // then none
        assert_eq!(clinical_benefit_from(dose(), &a, 105), None);
    }

    #[test]
    fn given_progression_before_the_window_when_sd_follows_then_no_benefit() {
        // given progression at day 56 and an SD scan at day 110
        let a = [at(56, ProgressiveDisease), at(110, StableDisease)];
        // when benefit is judged with the window from day 105
        // then none: the SD comes after progression
        assert_eq!(clinical_benefit_from(dose(), &a, 105), None);
    }

    #[test]
    fn given_pr_then_cr_then_pd_when_the_onset_is_taken_then_it_is_the_first_pr() {
        // given PR at day 56, CR at 112 and 168, PD at 224
        let a = [
            at(56, PartialResponse),
            at(112, CompleteResponse),
            at(168, CompleteResponse),
            at(224, ProgressiveDisease),
        ];
        // when the best response and the response onset are taken
        let best = best_overall_response(dose(), &a);
        // then the best response is a CR from day 112, but the response began at day 56
        assert_eq!(best.response, CompleteResponse);
        assert_eq!(best.evidence, vec![1, 2]);
        assert_eq!(response_onset(&a), Some(0));
    }

    #[test]
    fn given_an_unconfirmed_pr_before_a_confirmed_one_when_the_onset_is_taken_then_the_confirmed_one(
    ) {
        // given a PR at 56 followed within 28 days by SD only, then a PR pair at 168 and 224
        // (the day-56 PR is confirmed by the day-168 PR: SD in between does not break it)
        let a = [
            at(56, PartialResponse),
            at(70, StableDisease),
            at(168, PartialResponse),
            at(224, PartialResponse),
        ];
        // when the onset is taken
        // then it is day 56, the first PR that a later PR confirms
        assert_eq!(response_onset(&a), Some(0));
        // and a lone PR, never confirmed, has no onset
        assert_eq!(response_onset(&[at(56, PartialResponse)]), None);
    }

    #[test]
    fn given_sd_until_day_731_when_judged_with_evidence_then_exceptional_citing_that_scan() {
        // given SD scans up to day 731 and nothing after
        let a = [at(56, StableDisease), at(731, StableDisease)];
        // when judged with evidence
        let (e, scan) = exceptional_responder_evidenced(dose(), &a);
        // then exceptional on the PFS ground, citing the day-731 scan
        assert!(e.long_progression_free && !e.confirmed_complete_response);
        assert_eq!(scan, Some(1));
    }

    #[test]
    fn given_a_last_scan_on_day_52_and_a_late_death_when_judged_with_evidence_then_not_exceptional()
    {
        // given SD at day 52 and no later scan (the patient died on day 818)
        let a = [at(52, StableDisease)];
        // when judged with evidence
        let (e, scan) = exceptional_responder_evidenced(dose(), &a);
        // then not exceptional: no progression-free assessment after day 730
        assert!(!e.is_exceptional());
        assert_eq!(scan, None);
        // while the format-1 reading, on a PFS of 818 days, says exceptional
        assert!(
            exceptional_responder(best_overall_response(dose(), &a).response, 818).is_exceptional()
        );
    }

    #[test]
    fn given_a_scan_on_day_730_exactly_when_judged_with_evidence_then_not_exceptional() {
        // given SD up to day 730 exactly, not more than two years
        let a = [at(56, StableDisease), at(730, StableDisease)];
        // when judged with evidence
        // then not exceptional
        assert!(!exceptional_responder_evidenced(dose(), &a)
            .0
            .is_exceptional());
    }
}
