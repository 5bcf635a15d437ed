//! The HTTP API that `trial-ledger serve` runs: one router per concern, state in an `Arc`,
//! limits as layers, and one error type ([`error::ApiError`]) that every handler returns.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/submissions` | a signed submission in, its receipt out once durable ([`submissions`]) |
//! | `GET /v1/partitions/{p}/records` | stored records of a partition, by range ([`records`]) |
//! | `GET /v1/partitions/{p}/records/{seq}` | one stored record's bytes ([`records`]) |
//! | `GET /v1/partitions/{p}/proofs/inclusion`, `.../consistency` | Merkle proofs, the files `prove` writes ([`proofs`]) |
//! | `GET /v1/checkpoints` | each partition's latest published checkpoint ([`checkpoints`]) |
//! | `GET /v1/partitions/{p}/checkpoint`, `.../tile/...`, `.../seals/...` | each partition as a C2SP tlog-tiles log: checkpoint, tiles, entry bundles, seals ([`tiles`]) |
//! | `GET /v1/subjects/{subject}/trail`, `.../bundle` | a subject's trail and audit bundle ([`subjects`]) |
//! | `GET /v1/views/{view}` | the enrollment, safety and dossier views as JSON ([`views`]) |
//! | `GET /v1/views/{enrollment,dossier}/cells` | the records behind a count of those views ([`view_cells`]) |
//! | `GET /v1/safety/stream` | the live safety stream, Server-Sent Events ([`stream`]) |
//! | `POST /v1/session` | a token exchanged for a session cookie ([`auth`]) |
//! | `GET /metrics` | Prometheus metrics, for an `auditor` token ([`metrics`]) |
//! | `GET /healthz`, `GET /readyz` | liveness, and whether the sequencer accepts submissions |
//! | `GET /openapi.json` | the OpenAPI 3.1 document of all of these, public ([`openapi`]) |
//! | `GET /audit/` | the auditor's page, which verifies bundles in the browser; not an API operation ([`web_audit`]) |
//! | `GET /safety`, `/safety/funnel`, `/safety/assets/{file}` | the safety board's pages, public static files outside the OpenAPI document ([`web_safety`]) |
//!
//! Reads other than checkpoints, proofs and hash tiles need a token with a fitting API role ([`auth`]); writing needs
//! none. Limits, rate limits, CORS, CSP and TLS are in [`limits`].

pub mod asof;
pub mod auth;
pub mod backend;
pub mod checkpoints;
pub mod error;
pub mod kafka_tiles;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod proofs;
pub mod reads;
pub mod records;
mod safety_fold;
pub mod safety_tables;
pub mod stream;
pub mod subjects;
pub mod submissions;
pub mod tiles;
pub mod view_cells;
pub mod views;
pub mod web_audit;
pub mod web_safety;
pub mod wire;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use std::sync::Arc;

/// Largest request body read. A submission's canonical bytes are capped well below this; the
/// JSON form doubles them (hex). A larger body gets 413 before it is read whole.
pub const MAX_BODY: usize = 256 * 1024;

/// What every handler shares.
pub struct ApiState {
    /// Submits to the sequencer (embedded or on Kafka); answers once the record is durable.
    pub submit: backend::Submitter,
    /// Where the trial is: the embedded store, read directly (without the writer lock) for
    /// durable records, or Kafka.
    pub backend: backend::Backend,
    /// The trial's partition count, to refuse out-of-range partitions with 404.
    pub partitions: u32,
    /// The trial, for the checkpoint origins.
    pub trial: tl_schemas::TrialId,
    /// The pinned root key (trust anchor of trails and bundles).
    pub root: [u8; 32],
    /// The verified snapshot and the views the protected reads are answered from.
    pub reads: reads::Reads,
    /// The live safety stream's events.
    pub safety: Arc<stream::SafetyHub>,
    /// Whether the server speaks TLS: the session cookie is then `Secure`.
    pub tls: bool,
    /// The safety streams each token holds open, and the limit.
    pub streams: Arc<stream::StreamSlots>,
    /// The read tokens (re-read when the token file changes).
    pub tokens: auth::TokenStore,
    /// Browser sessions standing for tokens.
    pub sessions: auth::Sessions,
    /// The access log of protected reads.
    pub access_log: auth::AccessLog,
    /// The rate limits of submissions per key and per client address.
    pub rate: limits::RateLimits,
    /// The per-partition trees the tlog-tiles routes answer from.
    pub tiles: tiles::TileCache,
}

impl ApiState {
    /// Records a protected read in the access log (synced before the answer leaves).
    pub async fn audit(
        self: &Arc<Self>,
        caller: &auth::Caller,
        route: &str,
        subject: &str,
        status: StatusCode,
    ) -> Result<(), error::ApiError> {
        let (state, caller) = (self.clone(), caller.clone());
        let (route, subject) = (route.to_string(), subject.to_string());
        tokio::task::spawn_blocking(move || {
            state.access_log.record(&caller, &route, &subject, status)
        })
        .await
        .map_err(|e| error::ApiError::unavailable(e.to_string()))?
    }
}

/// Every route with its OpenAPI description: each handler is registered through
/// `utoipa_axum::routes!` from its `#[utoipa::path]`, so the document ([`openapi::document`])
/// and the router cannot disagree on what is served.
pub fn routes() -> utoipa_axum::router::OpenApiRouter<Arc<ApiState>> {
    use utoipa::OpenApi;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(submissions::router())
        .merge(records::router())
        .merge(checkpoints::router())
        .merge(auth::router())
        .merge(subjects::router())
        .merge(views::router())
        .merge(safety_tables::router())
        .merge(view_cells::router())
        .merge(stream::router())
        .merge(metrics::router())
        .merge(proofs::router())
        .merge(tiles::router())
        .routes(routes!(healthz))
        .routes(routes!(ready))
        .routes(routes!(openapi::openapi_json))
}

/// The whole API.
pub fn router(state: Arc<ApiState>) -> Router {
    let (router, _) = routes().split_for_parts();
    router
        .merge(web_audit::router())
        // The safety board's pages: plain routes, outside the OpenAPI document.
        .merge(web_safety::router())
        .fallback(|uri: axum::http::Uri| async move {
            error::ApiError::not_found(format!("no route {}", uri.path()))
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(error::json_rejections))
        .with_state(state)
}

/// The whole API with its limits and the headers every answer carries ([`limits::layers`]).
pub fn app(state: Arc<ApiState>, flags: &limits::ServerFlags) -> Router {
    limits::layers(router(state), flags)
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    summary = "Liveness",
    tag = "service",
    responses((status = 200, description = "The server is alive", body = String, content_type = "text/plain", example = "ok\n")),
)]
async fn healthz() -> &'static str {
    "ok\n"
}

/// Whether the sequencer takes submissions.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// `true`.
    pub ready: bool,
}

/// Ready when the sequencer thread still takes submissions.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    summary = "Whether the sequencer takes submissions",
    tag = "service",
    responses(
        (status = 200, description = "The sequencer takes submissions", body = Ready),
        (status = 503, description = "The sequencer has stopped (`unavailable`; the body also has `\"ready\": false`)", body = error::ErrorBody),
    ),
)]
async fn ready(State(state): State<Arc<ApiState>>) -> (StatusCode, Json<serde_json::Value>) {
    if state.submit.is_running() {
        (StatusCode::OK, Json(serde_json::json!({"ready": true})))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                serde_json::json!({"ready": false, "code": "unavailable", "message": "the sequencer has stopped"}),
            ),
        )
    }
}
