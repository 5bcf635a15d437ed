//! Conversions from the signed records' types (tl-schemas) to the rules' inputs, in one place
//! for every reader of the ledger (the simulator's figures, the projections).

use crate::{Assessment, Definitions, PfsConvention, Response, TargetMeasurement};
use tl_schemas::clinical::{
    AnalysisConventions, Attribution, NonTargetStatus, OverallResponse, PfsCensoring,
    ResponseAssessed, TargetLesion,
};

/// The definitions a protocol document states: `None` (a format-1 catalogue, or none) reads
/// with [`Definitions::FORMAT_1`]; a format-2 document's conventions give its landmark window
/// and PFS convention, with duration of response from the first response and exceptional
/// responders shown by evidence (FORMAT.md §10a.4).
pub fn definitions(conventions: Option<&AnalysisConventions>) -> Definitions {
    let Some(c) = conventions else {
        return Definitions::FORMAT_1;
    };
    Definitions {
        benefit_landmark_day: u32::from(c.benefit_landmark_day),
        benefit_window_days: u32::from(c.benefit_window_days),
        pfs: match c.pfs_censoring {
            PfsCensoring::EveryEventObserved => PfsConvention::EveryEventObserved,
            PfsCensoring::AfterMissedAssessments { missed } => {
                PfsConvention::CensorAfterMissedAssessments {
                    interval_days: u32::from(c.scan_interval_days),
                    window_days: u32::from(c.scan_window_days),
                    missed: u32::from(missed),
                }
            }
        },
        dor_from_first_response: true,
        exceptional_needs_evidence: true,
    }
}

/// tl-clinical's target measurement of a recorded target lesion.
pub fn target(t: &TargetLesion) -> TargetMeasurement {
    TargetMeasurement {
        lesion_id: t.lesion_id,
        nodal: t.nodal,
        diameter_mm10: t.diameter_mm10,
    }
}

/// tl-clinical's non-target status. "None at baseline" counts as absent (there is no
/// non-target disease to keep a response from being complete).
pub fn non_target(s: NonTargetStatus) -> crate::NonTargetStatus {
    match s {
        NonTargetStatus::NoneAtBaseline | NonTargetStatus::Absent => crate::NonTargetStatus::Absent,
        NonTargetStatus::Present => crate::NonTargetStatus::Present,
        NonTargetStatus::UnequivocalProgression => crate::NonTargetStatus::UnequivocalProgression,
        NonTargetStatus::NotAssessed => crate::NonTargetStatus::NotAssessed,
    }
}

/// tl-clinical's assessment of a recorded `ResponseAssessed`.
pub fn assessment(a: &ResponseAssessed) -> Assessment {
    Assessment {
        targets: a.targets.iter().map(target).collect(),
        new_lesions: a.new_lesions,
        non_target: non_target(a.non_target),
    }
}

/// tl-clinical's response of a recorded overall response.
pub fn response(r: OverallResponse) -> Response {
    match r {
        OverallResponse::CompleteResponse => Response::CompleteResponse,
        OverallResponse::PartialResponse => Response::PartialResponse,
        OverallResponse::StableDisease => Response::StableDisease,
        OverallResponse::ProgressiveDisease => Response::ProgressiveDisease,
        OverallResponse::NotEvaluable => Response::NotEvaluable,
    }
}

/// The recorded form of a tl-clinical response.
pub fn overall(r: Response) -> OverallResponse {
    match r {
        Response::CompleteResponse => OverallResponse::CompleteResponse,
        Response::PartialResponse => OverallResponse::PartialResponse,
        Response::StableDisease => OverallResponse::StableDisease,
        Response::ProgressiveDisease => OverallResponse::ProgressiveDisease,
        Response::NotEvaluable => OverallResponse::NotEvaluable,
    }
}

/// tl-clinical's attribution of a recorded one.
pub fn attribution(a: Attribution) -> crate::Attribution {
    match a {
        Attribution::Unrelated => crate::Attribution::Unrelated,
        Attribution::Unlikely => crate::Attribution::Unlikely,
        Attribution::Possible => crate::Attribution::Possible,
        Attribution::Probable => crate::Attribution::Probable,
        Attribution::Definite => crate::Attribution::Definite,
    }
}
