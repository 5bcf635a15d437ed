//! RECIST 1.1 overall response at one assessment, from per-lesion measurements.
//!
//! Measurements are integers in tenths of a millimetre (`_mm10`), as CRFs record them to one
//! decimal. Every percentage threshold is checked by cross-multiplying, never by dividing, so the
//! same inputs give the same answer on every platform and in every language an auditor re-implements
//! this in.
//!
//! The investigator's reported response stays the record; [`flag_disagreement`] only raises a flag
//! when the response computed here differs, for data management to query.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Ten millimetres in tenths of a millimetre: a lymph node whose short axis is below this is
/// normal (RECIST 1.1 section 4.3.1).
pub const NORMAL_NODE_SHORT_AXIS_MM10: u32 = 100;

/// Five millimetres in tenths of a millimetre: the smallest absolute increase of the sum that
/// counts as progression (RECIST 1.1 section 4.3.1).
pub const PD_MIN_ABSOLUTE_INCREASE_MM10: u64 = 50;

/// One target lesion measured at one assessment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TargetMeasurement {
    /// The lesion's identifier, stable across assessments.
    pub lesion_id: u32,
    /// Whether the lesion is a lymph node (then `diameter_mm10` is its short axis).
    pub nodal: bool,
    /// Tenths of a millimetre: the longest diameter of a non-nodal lesion, the short axis of a
    /// nodal one; 0 when the lesion has disappeared.
    pub diameter_mm10: u32,
}

/// The status of the non-target lesions at one assessment, as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NonTargetStatus {
    /// No non-target lesion is present: all have disappeared (and nodes are normal), or there were
    /// none at baseline.
    Absent,
    /// Non-target lesions persist without unequivocal progression (non-CR/non-PD).
    Present,
    /// Unequivocal progression of non-target lesions.
    UnequivocalProgression,
    /// Non-target lesions were not (all) assessed.
    NotAssessed,
}

/// One tumour assessment: the target measurements, new lesions and non-target status.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Assessment {
    /// The target lesions measured; empty when the targets were not assessed.
    pub targets: Vec<TargetMeasurement>,
    /// Whether any unequivocal new lesion was found.
    pub new_lesions: bool,
    /// The non-target lesions' status.
    pub non_target: NonTargetStatus,
}

/// A RECIST 1.1 response, at one assessment or as a best overall response.
///
/// The variant order is frozen (postcard encodes the index): `CompleteResponse` = 0,
/// `PartialResponse` = 1, `StableDisease` = 2, `ProgressiveDisease` = 3, `NotEvaluable` = 4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Response {
    /// CR: all target lesions gone (nodes < 10 mm short axis) and no non-target disease.
    CompleteResponse,
    /// PR: the target sum decreased by at least 30 % from baseline.
    PartialResponse,
    /// SD: neither PR nor PD.
    StableDisease,
    /// PD: new lesions, unequivocal non-target progression, or the target sum grew by at least
    /// 20 % and 5 mm over its nadir.
    ProgressiveDisease,
    /// NE: the assessment cannot be evaluated (no target measurement), and shows no PD.
    NotEvaluable,
}

impl Response {
    /// The usual abbreviation: `CR`, `PR`, `SD`, `PD` or `NE`.
    pub fn abbreviation(self) -> &'static str {
        match self {
            Response::CompleteResponse => "CR",
            Response::PartialResponse => "PR",
            Response::StableDisease => "SD",
            Response::ProgressiveDisease => "PD",
            Response::NotEvaluable => "NE",
        }
    }

    /// Whether this is an objective response (CR or PR).
    pub fn is_objective(self) -> bool {
        matches!(self, Response::CompleteResponse | Response::PartialResponse)
    }

    /// Whether this is SD or better (CR, PR or SD): disease control at this assessment. An
    /// unconfirmed CR or PR still meets the SD criteria, which is why they count here.
    pub fn is_sd_or_better(self) -> bool {
        matches!(
            self,
            Response::CompleteResponse | Response::PartialResponse | Response::StableDisease
        )
    }
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.abbreviation())
    }
}

/// The sum of the target diameters in tenths of a millimetre (short axis for nodes, as measured).
///
/// `u64` so that no realistic number of lesions can overflow it, and so that the cross-multiplied
/// comparisons in [`overall_response`] cannot either.
pub fn target_sum_mm10(targets: &[TargetMeasurement]) -> u64 {
    targets.iter().map(|t| u64::from(t.diameter_mm10)).sum()
}

/// Whether the target lesions alone meet CR: every non-nodal lesion gone and every node below
/// 10 mm short axis. A node keeps a measurement at CR, so nodes are tested against the threshold
/// rather than against zero.
fn targets_complete(targets: &[TargetMeasurement]) -> bool {
    targets.iter().all(|t| {
        if t.nodal {
            t.diameter_mm10 < NORMAL_NODE_SHORT_AXIS_MM10
        } else {
            t.diameter_mm10 == 0
        }
    })
}

/// The RECIST 1.1 overall response at one assessment.
///
/// * `baseline_sum_mm10`: the target sum at baseline (PR is measured against it);
/// * `nadir_sum_mm10`: the smallest target sum before this assessment, baseline included (PD is
///   measured against it);
/// * `current`: this assessment.
///
/// In order of precedence:
/// 1. PD: a new lesion, unequivocal non-target progression, or a target sum at least 20 % above
///    the nadir *and* at least 5 mm above it. New lesions and non-target progression make PD even
///    when the targets were not measured.
/// 2. NE: no target measurement.
/// 3. CR: every non-nodal target 0, every nodal target < 10 mm short axis, non-target `Absent`.
///    When the targets meet CR but non-target disease is present or was not assessed, the
///    response is PR (RECIST 1.1 table 1), whatever the sum did.
/// 4. PR: a target sum at least 30 % below baseline.
/// 5. SD otherwise.
pub fn overall_response(
    baseline_sum_mm10: u64,
    nadir_sum_mm10: u64,
    current: &Assessment,
) -> Response {
    if current.new_lesions || current.non_target == NonTargetStatus::UnequivocalProgression {
        return Response::ProgressiveDisease;
    }
    if current.targets.is_empty() {
        return Response::NotEvaluable;
    }
    let sum = target_sum_mm10(&current.targets);
    // sum >= 1.2 * nadir  <=>  5 * sum >= 6 * nadir.
    let grew_20_percent = sum * 5 >= nadir_sum_mm10 * 6;
    let grew_5_mm = sum >= nadir_sum_mm10 + PD_MIN_ABSOLUTE_INCREASE_MM10;
    if grew_20_percent && grew_5_mm {
        return Response::ProgressiveDisease;
    }
    if targets_complete(&current.targets) {
        return if current.non_target == NonTargetStatus::Absent {
            Response::CompleteResponse
        } else {
            Response::PartialResponse
        };
    }
    // sum <= 0.7 * baseline  <=>  10 * sum <= 7 * baseline. A zero baseline has nothing to shrink
    // from, so it can never give PR.
    if baseline_sum_mm10 > 0 && sum * 10 <= baseline_sum_mm10 * 7 {
        return Response::PartialResponse;
    }
    Response::StableDisease
}

/// The overall response at each follow-up assessment, in the order given, tracking the nadir.
///
/// The nadir starts at `baseline_sum_mm10` and takes each evaluated assessment's sum once that
/// assessment has been scored, so each assessment is compared with the smallest sum *before* it.
/// Assessments without target measurements have no sum and leave the nadir alone.
pub fn overall_responses(baseline_sum_mm10: u64, follow_ups: &[Assessment]) -> Vec<Response> {
    let mut nadir = baseline_sum_mm10;
    follow_ups
        .iter()
        .map(|a| {
            let r = overall_response(baseline_sum_mm10, nadir, a);
            if !a.targets.is_empty() {
                nadir = nadir.min(target_sum_mm10(&a.targets));
            }
            r
        })
        .collect()
}

/// A disagreement between the investigator's reported response and the computed one. The
/// reported response stays the record; this is a flag for a data-management query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResponseDisagreement {
    /// The investigator's response: the one of record.
    pub reported: Response,
    /// The response computed from the measurements.
    pub computed: Response,
}

/// Compares the investigator's reported response with the computed one: `None` when they agree,
/// otherwise the disagreement to flag.
pub fn flag_disagreement(reported: Response, computed: Response) -> Option<ResponseDisagreement> {
    (reported != computed).then_some(ResponseDisagreement { reported, computed })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One non-nodal target lesion of the given size in millimetres.
    fn lesion(id: u32, mm10: u32) -> TargetMeasurement {
        TargetMeasurement {
            lesion_id: id,
            nodal: false,
            diameter_mm10: mm10,
        }
    }

    fn node(id: u32, mm10: u32) -> TargetMeasurement {
        TargetMeasurement {
            lesion_id: id,
            nodal: true,
            diameter_mm10: mm10,
        }
    }

    fn assessment(targets: Vec<TargetMeasurement>) -> Assessment {
        Assessment {
            targets,
            new_lesions: false,
            non_target: NonTargetStatus::Present,
        }
    }

    #[test]
    fn sum_adds_long_axes_and_node_short_axes() {
        // given two non-nodal lesions and one node
        let targets = [lesion(1, 234), lesion(2, 101), node(3, 155)];
        // when summed
        let sum = target_sum_mm10(&targets);
        // then the node's short axis is added like any diameter
        assert_eq!(sum, 490);
    }

    #[test]
    fn sum_from_100_to_70_mm_is_partial_response() {
        // given a 100 mm baseline (also the nadir)
        let current = assessment(vec![lesion(1, 400), lesion(2, 300)]);
        // when the sum is 70 mm: exactly -30 %
        let r = overall_response(1000, 1000, &current);
        // then PR
        assert_eq!(r, Response::PartialResponse);
    }

    #[test]
    fn sum_from_100_to_71_mm_is_stable_disease() {
        // given a 100 mm baseline
        let current = assessment(vec![lesion(1, 410), lesion(2, 300)]);
        // when the sum is 71 mm: -29 %
        let r = overall_response(1000, 1000, &current);
        // then SD
        assert_eq!(r, Response::StableDisease);
    }

    #[test]
    fn nadir_20_to_24_mm_is_not_progression() {
        // given a nadir of 20 mm (baseline 40 mm)
        let current = assessment(vec![lesion(1, 240)]);
        // when the sum rises to 24 mm: +20 % but only +4 mm
        let r = overall_response(400, 200, &current);
        // then not PD (it is PR against the 40 mm baseline: 24 <= 28)
        assert_ne!(r, Response::ProgressiveDisease);
        assert_eq!(r, Response::PartialResponse);
    }

    #[test]
    fn nadir_30_to_36_mm_is_progression() {
        // given a nadir of 30 mm (baseline 50 mm)
        let current = assessment(vec![lesion(1, 360)]);
        // when the sum rises to 36 mm: +20 % and +6 mm
        let r = overall_response(500, 300, &current);
        // then PD, although the sum is still below baseline
        assert_eq!(r, Response::ProgressiveDisease);
    }

    #[test]
    fn increase_just_below_20_percent_is_not_progression() {
        // given a nadir of 50 mm
        let current = assessment(vec![lesion(1, 599)]);
        // when the sum rises to 59.9 mm: +9.9 mm but +19.8 %
        let r = overall_response(500, 500, &current);
        // then SD
        assert_eq!(r, Response::StableDisease);
    }

    #[test]
    fn new_lesion_is_progression_even_with_shrinking_sum() {
        // given a sum that fell from 100 mm to 10 mm
        let mut current = assessment(vec![lesion(1, 100)]);
        // when a new lesion appears
        current.new_lesions = true;
        // then PD
        assert_eq!(
            overall_response(1000, 1000, &current),
            Response::ProgressiveDisease
        );
    }

    #[test]
    fn unequivocal_non_target_progression_is_progression() {
        // given shrinking targets
        let mut current = assessment(vec![lesion(1, 100)]);
        // when the non-target lesions progress unequivocally
        current.non_target = NonTargetStatus::UnequivocalProgression;
        // then PD
        assert_eq!(
            overall_response(1000, 1000, &current),
            Response::ProgressiveDisease
        );
    }

    #[test]
    fn node_of_exactly_10_mm_is_not_complete_response() {
        // given every non-nodal target gone and no non-target disease
        let current = Assessment {
            targets: vec![lesion(1, 0), node(2, 100)],
            new_lesions: false,
            non_target: NonTargetStatus::Absent,
        };
        // when the node measures exactly 10.0 mm short axis
        let r = overall_response(600, 600, &current);
        // then not CR (it is PR: 10 mm <= 70 % of 60 mm)
        assert_ne!(r, Response::CompleteResponse);
        assert_eq!(r, Response::PartialResponse);
    }

    #[test]
    fn node_of_9_9_mm_with_everything_else_gone_is_complete_response() {
        // given every non-nodal target gone and no non-target disease
        let current = Assessment {
            targets: vec![lesion(1, 0), node(2, 99)],
            new_lesions: false,
            non_target: NonTargetStatus::Absent,
        };
        // when the node measures 9.9 mm short axis
        let r = overall_response(600, 600, &current);
        // then CR
        assert_eq!(r, Response::CompleteResponse);
    }

    #[test]
    fn target_complete_response_with_non_target_present_is_partial_response() {
        // given targets that meet CR: the lesion gone, the node (15 mm at baseline) now 9 mm
        let mut current = Assessment {
            targets: vec![lesion(1, 0), node(2, 90)],
            new_lesions: false,
            non_target: NonTargetStatus::Present,
        };
        // when non-target disease persists, or was not assessed
        let present = overall_response(350, 350, &current);
        current.non_target = NonTargetStatus::NotAssessed;
        let not_assessed = overall_response(350, 350, &current);
        // then PR, not CR (RECIST 1.1 table 1)
        assert_eq!(present, Response::PartialResponse);
        assert_eq!(not_assessed, Response::PartialResponse);
    }

    #[test]
    fn assessment_without_target_measurements_is_not_evaluable() {
        // given an assessment where no target was measured
        let current = assessment(vec![]);
        // when scored
        let r = overall_response(1000, 800, &current);
        // then NE
        assert_eq!(r, Response::NotEvaluable);
    }

    #[test]
    fn new_lesion_without_target_measurements_is_still_progression() {
        // given an assessment where no target was measured
        let mut current = assessment(vec![]);
        // when a new lesion is seen
        current.new_lesions = true;
        // then PD, not NE
        assert_eq!(
            overall_response(1000, 800, &current),
            Response::ProgressiveDisease
        );
    }

    #[test]
    fn series_tracks_the_nadir_before_each_assessment() {
        // given a 50 mm baseline, then 30 mm, an unmeasured visit, then 36 mm
        let follow_ups = [
            assessment(vec![lesion(1, 300)]),
            assessment(vec![]),
            assessment(vec![lesion(1, 360)]),
        ];
        // when scored in order
        let rs = overall_responses(500, &follow_ups);
        // then the 36 mm visit is PD against the 30 mm nadir, not SD against the baseline
        assert_eq!(
            rs,
            vec![
                Response::PartialResponse,
                Response::NotEvaluable,
                Response::ProgressiveDisease
            ]
        );
    }

    #[test]
    fn investigator_agreement_is_not_flagged() {
        // given an investigator who reported PR
        // when the measurements also compute PR
        let flag = flag_disagreement(Response::PartialResponse, Response::PartialResponse);
        // then nothing is flagged
        assert_eq!(flag, None);
    }

    #[test]
    fn investigator_disagreement_is_flagged_and_keeps_reported_response() {
        // given an investigator who reported PR
        let computed = overall_response(1000, 1000, &assessment(vec![lesion(1, 710)]));
        // when the measurements compute SD
        let flag = flag_disagreement(Response::PartialResponse, computed);
        // then the disagreement is flagged, with the reported response as the one of record
        let d = flag.expect("disagreement flagged");
        assert_eq!(d.reported, Response::PartialResponse);
        assert_eq!(d.computed, Response::StableDisease);
    }
}
