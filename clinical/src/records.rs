//! Conversions from the signed records' types (tl-schemas) to the rules' inputs, in one place
//! for every reader of the ledger (the simulator's figures, the projections).

use crate::{Assessment, Response, TargetMeasurement};
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
