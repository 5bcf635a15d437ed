//! Conversions from the signed records' types (tl-schemas) to tl-clinical's inputs.

use tl_clinical::{Assessment, Response, TargetMeasurement};
use tl_schemas::clinical::{
    Attribution, NonTargetStatus, OverallResponse, ResponseAssessed, TargetLesion,
};

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
pub fn non_target(s: NonTargetStatus) -> tl_clinical::NonTargetStatus {
    match s {
        NonTargetStatus::NoneAtBaseline | NonTargetStatus::Absent => {
            tl_clinical::NonTargetStatus::Absent
        }
        NonTargetStatus::Present => tl_clinical::NonTargetStatus::Present,
        NonTargetStatus::UnequivocalProgression => {
            tl_clinical::NonTargetStatus::UnequivocalProgression
        }
        NonTargetStatus::NotAssessed => tl_clinical::NonTargetStatus::NotAssessed,
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
pub fn attribution(a: Attribution) -> tl_clinical::Attribution {
    match a {
        Attribution::Unrelated => tl_clinical::Attribution::Unrelated,
        Attribution::Unlikely => tl_clinical::Attribution::Unlikely,
        Attribution::Possible => tl_clinical::Attribution::Possible,
        Attribution::Probable => tl_clinical::Attribution::Probable,
        Attribution::Definite => tl_clinical::Attribution::Definite,
    }
}
