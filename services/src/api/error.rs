//! The API's one error type: every 4xx and 5xx is a JSON object with a stable `code` and a
//! human `message` (the server issue, "Errors").

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// The API's own error codes, with their status and meaning (a refused submission carries its
/// FORMAT.md reason code instead, [`tl_ledger::Reason::code`]). `GET /openapi.json` lists
/// them; [`ApiError::new`] takes no other (checked in debug builds).
pub const CODES: &[(&str, u16, &str)] = &[
    (
        "bad-request",
        400,
        "the request is malformed: a parameter, the body or its JSON",
    ),
    (
        "unauthorized",
        401,
        "no token, or an unknown, revoked or expired one",
    ),
    (
        "forbidden",
        403,
        "the token's role or scope does not cover the read",
    ),
    (
        "not-found",
        404,
        "no such route, partition, record, subject, view, cohort or cell",
    ),
    (
        "method-not-allowed",
        405,
        "the route does not take this method",
    ),
    (
        "timeout",
        408,
        "the answer did not start within the request timeout",
    ),
    ("too-large", 413, "the body is larger than the server reads"),
    (
        "unsupported-media-type",
        415,
        "a submission neither as octet-stream nor as JSON",
    ),
    (
        "rate-limited",
        429,
        "too many submissions from one key or address; see Retry-After",
    ),
    (
        "too-many-streams",
        429,
        "the token already holds the most safety streams open one token may",
    ),
    (
        "entry-too-large",
        422,
        "a record written before the intake limit is too large for a tlog-tiles entry bundle",
    ),
    ("internal", 500, "the server failed; a bug to report"),
    (
        "diverged",
        500,
        "the ledger no longer extends a checkpoint it published: investigate",
    ),
    (
        "unavailable",
        503,
        "the sequencer stopped or the store cannot be read; retry later",
    ),
];

/// Whether `code` is one an error may carry: one of [`CODES`] or a FORMAT.md reason code.
pub fn is_known_code(code: &str) -> bool {
    CODES.iter().any(|(c, _, _)| *c == code)
        || tl_ledger::Reason::ALL.iter().any(|r| r.code() == code)
}

/// The JSON body of every 4xx and 5xx answer.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable, machine-readable code: one of the API's own, or the FORMAT.md reason code of
    /// a refused submission.
    #[schema(schema_with = code_schema)]
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
}

/// The schema of [`ErrorBody::code`]: a string, one of every known code.
fn code_schema() -> utoipa::openapi::Object {
    let mut all: Vec<&str> = CODES.iter().map(|(c, _, _)| *c).collect();
    all.extend(tl_ledger::Reason::ALL.iter().map(|r| r.code()));
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(all))
        .description(Some(
            "The API's own codes (the document's description lists them) or a FORMAT.md \
             reason code (a refused submission)",
        ))
        .build()
}

/// A refused or failed request. Nothing was changed by it.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable, machine-readable code: a FORMAT.md reason code for a refused submission,
    /// otherwise one of the API's own (`not-found`, `bad-request`, `unavailable`, ...).
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
    /// Seconds after which a retry may succeed (`Retry-After`), for 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a status, a code and a message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        debug_assert!(is_known_code(code), "undocumented error code {code:?}");
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400: the request itself is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", message)
    }

    /// 404: no such route or resource.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", message)
    }

    /// 503: the sequencer is not running; the client may retry against a restarted server.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code,
            message: self.message,
        };
        let mut res = (self.status, Json(body)).into_response();
        if let Some(v) = self
            .retry_after
            .and_then(|s| axum::http::HeaderValue::from_str(&s.to_string()).ok())
        {
            res.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        res
    }
}

/// Turns axum's own rejections (a body over the limit, a bad path parameter, malformed JSON)
/// into the API's JSON errors, keeping their status.
pub async fn json_rejections(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    let is_json = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too-large",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        StatusCode::NOT_FOUND => "not-found",
        s if s.is_server_error() => "internal",
        _ => "bad-request",
    };
    // The rejection's own text says what was wrong (at most a few hundred bytes).
    let text = axum::body::to_bytes(res.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!(
            "the body is larger than {} bytes; a submission's canonical bytes are far smaller",
            super::MAX_BODY
        )
    } else if status == StatusCode::REQUEST_TIMEOUT {
        "the request took too long to answer; try again".to_string()
    } else if text.trim().is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_string()
    } else {
        text
    };
    ApiError::new(status, code, message).into_response()
}
