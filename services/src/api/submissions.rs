//! `POST /v1/submissions`: a signed submission in, its receipt out, once it is durable.
//!
//! Writing needs no token: a submission must carry a valid signature by an enrolled key whose
//! ledger role may author its event type, and the sequencer checks exactly that before
//! anything is written.

use super::error::ApiError;
use super::ApiState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use std::sync::Arc;
use tl_ledger::{Reason, Submitted};

/// The routes of this concern.
pub fn router() -> Router<Arc<ApiState>> {
    Router::new().route("/v1/submissions", post(submit))
}

/// Takes the bytes (`application/octet-stream`) or the JSON form (`application/json`),
/// sequences them through the submit handle, and answers with the receipt (201 for a new
/// record, 200 for a known submission id), or the refusal (4xx, FORMAT.md reason code).
async fn submit(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let bytes = submission_bytes(&headers, &body)?;
    let submitted = state
        .handle
        .submit(bytes)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(answer(submitted))
}

/// The submission's canonical bytes from either form of the body.
fn submission_bytes(headers: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/json") {
        super::wire::submission_json(body).map_err(ApiError::bad_request)
    } else if content_type.starts_with("application/octet-stream") {
        Ok(body.to_vec())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the submission as application/octet-stream (its canonical bytes) or as \
             application/json ({\"submission\": \"<hex>\"})",
        ))
    }
}

/// The HTTP answer to what the sequencer made of a submission.
fn answer(submitted: Submitted) -> Response {
    match submitted {
        Submitted::Recorded(receipt) => receipt_response(StatusCode::CREATED, "recorded", receipt),
        Submitted::Duplicate(receipt) => {
            receipt_response(StatusCode::OK, "already-recorded", receipt)
        }
        Submitted::Refused(r) => {
            ApiError::new(refusal_status(r.reason), r.reason.code(), r.detail).into_response()
        }
    }
}

/// 400 for bytes that are not a submission at all, 409 for an id already used by other
/// content, 422 for a well-formed submission the ledger's rules refuse.
pub fn refusal_status(reason: Reason) -> StatusCode {
    match reason {
        Reason::Malformed | Reason::NonCanonical | Reason::UnsupportedFormat => {
            StatusCode::BAD_REQUEST
        }
        Reason::SubmissionIdConflict => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

fn receipt_response(status: StatusCode, what: &str, receipt: tl_ledger::Receipt) -> Response {
    let mut v = serde_json::to_value(&receipt).unwrap_or_default();
    v["status"] = what.into();
    (status, Json(v)).into_response()
}
