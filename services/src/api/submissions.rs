//! `POST /v1/submissions`: a signed submission in, its receipt out, once it is durable.
//!
//! Writing needs no token: a submission must carry a valid signature by an enrolled key whose
//! ledger role may author its event type, and the sequencer checks exactly that before
//! anything is written. Submissions are rate-limited per author key and per client address
//! (429, [`super::limits::RateLimits`]).

use super::error::ApiError;
use super::{metrics, ApiState};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::net::SocketAddr;
use std::sync::Arc;
use tl_ledger::{Reason, Submitted};
use tl_schemas::KeyId;

/// The routes of this concern.
pub fn router() -> utoipa_axum::router::OpenApiRouter<Arc<ApiState>> {
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(submit))
}

/// The JSON form of a submission's body ([`super::wire::submission_json`]).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema only: the body is parsed by `wire`, which the fuzz targets share
pub struct SubmissionForm {
    /// `encode(SignedSubmission)` (FORMAT.md §11), in hex.
    #[schema(pattern = "^([0-9a-fA-F]{2})*$")]
    submission: String,
}

/// A submission's canonical bytes, `application/octet-stream`.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct SubmissionBytes(#[allow(dead_code)] Vec<u8>);

/// The receipt of a recorded submission ([`tl_ledger::Receipt`] and the status).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema only: the answer is the ledger's receipt, serialized
pub struct ReceiptBody {
    /// `recorded` (201) or `already-recorded` (200, the original receipt of a known id).
    #[schema(pattern = "^(recorded|already-recorded)$")]
    status: String,
    /// The submission id (hex).
    submission_id: String,
    /// The record's partition.
    partition: u32,
    /// The record's sequence number in its partition.
    seq: u64,
    /// The record hash (hex).
    record_hash: String,
    /// The sequencer's ordering time (RFC 3339, UTC).
    ordering_time: String,
    /// The registry position the record was validated under.
    registry_seq: u64,
    /// The sealing key's id (hex).
    sequencer: String,
    /// The sequencer's seal (hex): Ed25519 over the seal message of the record hash.
    seal: String,
}

/// Takes the bytes (`application/octet-stream`) or the JSON form (`application/json`),
/// sequences them through the submit handle, and answers with the receipt (201 for a new
/// record, 200 for a known submission id), or the refusal (4xx, FORMAT.md reason code).
#[utoipa::path(
    post,
    path = "/v1/submissions",
    operation_id = "submit",
    summary = "Submit a signed submission",
    tag = "submissions",
    description = "A signed submission in, its receipt out once the record is durable. No \
                   token: the submission must carry a valid signature by an enrolled key whose \
                   ledger role may author its event type. A known submission id returns its \
                   original receipt. Rate-limited per author key and per client address.",
    request_body(
        description = "The signed submission: its canonical bytes, or the JSON form",
        content(
            (SubmissionBytes = "application/octet-stream"),
            (SubmissionForm = "application/json"),
        ),
    ),
    responses(
        (status = 201, description = "Recorded: the receipt (`status`: `recorded`)", body = ReceiptBody),
        (status = 200, description = "A known submission id: its original receipt (`status`: `already-recorded`)", body = ReceiptBody),
        (status = 400, description = "Not a submission: malformed JSON or hex, bytes that do not decode (`malformed`), non-canonical bytes, an unsupported format", body = super::error::ErrorBody),
        (status = 409, description = "The submission id is already recorded with other content (`submission-id-conflict`)", body = super::error::ErrorBody),
        (status = 415, description = "Neither application/octet-stream nor application/json (`unsupported-media-type`)", body = super::error::ErrorBody),
        (status = 422, description = "Refused by the ledger's rules: its FORMAT.md reason code (for example `bad-author-signature`, `unknown-key`, `role-not-permitted`)", body = super::error::ErrorBody),
        (status = 429, description = "Too many submissions from this key or address (`rate-limited`); retry after `Retry-After` seconds", body = super::error::ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a retry may succeed"))),
        (status = 503, description = "The sequencer has stopped (`unavailable`)", body = super::error::ErrorBody),
    ),
)]
async fn submit(
    State(state): State<Arc<ApiState>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut author = None;
    let answer = accept(&state, client, &headers, &body, &mut author).await;
    let (outcome, reason) = match &answer {
        Ok(r) if r.status() == StatusCode::CREATED => ("recorded", ""),
        Ok(_) => ("duplicate", ""),
        Err(e) if e.status.is_server_error() => ("failed", e.code.as_str()),
        Err(e) => ("refused", e.code.as_str()),
    };
    metrics::submission(outcome, reason);
    if matches!(reason, "bad-author-signature" | "unknown-key") {
        // Repeated attempts with forged or unknown keys must be visible to the operator.
        tracing::warn!(
            %client,
            key = author.map(|k: KeyId| hex::encode(k.0)).unwrap_or_default(),
            reason,
            "submission refused"
        );
    }
    answer.unwrap_or_else(IntoResponse::into_response)
}

/// Rate limits, the body's two forms, then the sequencer; `author` is set once known.
async fn accept(
    state: &ApiState,
    client: SocketAddr,
    headers: &HeaderMap,
    body: &[u8],
    author: &mut Option<KeyId>,
) -> Result<Response, ApiError> {
    state.rate.check_address(client.ip())?;
    let bytes = submission_bytes(headers, body)?;
    // Bytes that do not decode are refused by the sequencer (`malformed`) without a key.
    if let Ok(s) = tl_schemas::decode::<tl_schemas::SignedSubmission>(&bytes) {
        *author = Some(s.submission.author);
        state.rate.check_key(&s.submission.author)?;
    }
    let started = std::time::Instant::now();
    let submitted = state
        .submit
        .submit(bytes)
        .await
        .map_err(ApiError::unavailable)?;
    ::metrics::histogram!("tl_sequencer_latency_seconds").record(started.elapsed().as_secs_f64());
    answer(submitted)
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
fn answer(submitted: Submitted) -> Result<Response, ApiError> {
    match submitted {
        Submitted::Recorded(receipt) => {
            Ok(receipt_response(StatusCode::CREATED, "recorded", receipt))
        }
        Submitted::Duplicate(receipt) => Ok(receipt_response(
            StatusCode::OK,
            "already-recorded",
            receipt,
        )),
        Submitted::Refused(r) => Err(ApiError::new(
            refusal_status(r.reason),
            r.reason.code(),
            r.detail,
        )),
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
