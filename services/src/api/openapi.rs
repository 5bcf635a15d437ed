//! `GET /openapi.json`: the API's OpenAPI 3.1 document, generated from the code.
//!
//! - Every route is registered through [`utoipa_axum`]'s `routes!` from its handler's
//!   `#[utoipa::path]` description ([`super::routes`]), so a route cannot be served without
//!   being described, and the path, method and parameters in the document are the router's.
//! - Bodies are [`utoipa::ToSchema`] types; where a handler builds its JSON by hand, the schema
//!   type sits beside it and the API test checks every live answer against the document
//!   (`services/tests/openapi.rs`, schemathesis' `response_schema_conformance`).
//! - The answers every operation can give for the same reason are added by rule in
//!   [`document`]: `408` to all (the request timeout), `400` to those with parameters or a body
//!   (malformed input), `401` to those that need a token and `403` to such reads, `413` to
//!   those with a body.
//! - Errors are one schema, [`ErrorBody`], whose `code` lists every code the API answers with:
//!   its own ([`super::error::CODES`]) and the FORMAT.md reason codes of refused submissions.
//! - Security schemes: `bearer` (`Authorization: Bearer tlt_...`, from `trial-ledger tokens
//!   new`) and `session` (the `tl_session` cookie of `POST /v1/session`, for browsers).
//!
//! The route is public: the document describes the API, not the trial's data.

use super::error::{ErrorBody, CODES};
use axum::response::{IntoResponse, Response};
use std::sync::OnceLock;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The document's fixed parts: info, tags, the error schema and the security schemes; the
/// paths come from the handlers ([`super::routes`]).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "trial-ledger",
        description = "The HTTP API of `trial-ledger serve`: signed submissions in, receipts \
                       out once durable; records, proofs, checkpoints, trails, audit bundles, \
                       the three views and the live safety stream out, to the API roles that \
                       may read them (README, \"API\"). Every 4xx and 5xx is an `ErrorBody`.",
        license(name = "Apache-2.0"),
    ),
    components(schemas(ErrorBody, super::stream::SafetyEvent)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "submissions", description = "Signed submissions and their receipts; no token, \
                                              the signature is the authority"),
        (name = "records", description = "Stored records, raw and decoded (`auditor`)"),
        (name = "audit", description = "Checkpoints and Merkle proofs (public)"),
        (name = "subjects", description = "Decision trails and audit bundles of patients and cohorts"),
        (name = "views", description = "The enrollment, safety and dossier views"),
        (name = "safety", description = "The live safety stream (Server-Sent Events)"),
        (name = "access", description = "Sessions for browsers"),
        (name = "service", description = "Health, readiness, metrics and this document"),
    )
)]
pub struct ApiDoc;

/// Adds the two ways of presenting a token.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("tlt_ followed by 64 hex digits (`trial-ledger tokens new`)")
                    .description(Some(
                        "A read token issued per named person; its API role decides what it reads.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                super::auth::SESSION_COOKIE,
                "The session cookie `POST /v1/session` sets (HttpOnly, SameSite=Strict), for \
                 browsers' EventSource, which cannot send an Authorization header.",
            ))),
        );
    }
}

/// A reference to the error schema, as a response of `description`.
fn error_response(description: &str) -> serde_json::Value {
    serde_json::json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    })
}

/// The whole document, as served: the handlers' paths with the answers every operation gives
/// by rule (module docs) added where the handler did not describe them itself.
pub fn document() -> serde_json::Value {
    let (_, doc) = super::routes().split_for_parts();
    let mut v = serde_json::to_value(&doc).unwrap_or_default();
    let codes: Vec<String> = CODES
        .iter()
        .map(|(code, status, what)| format!("| `{code}` | {status} | {what} |"))
        .collect();
    if let Some(d) = v["info"]["description"].as_str() {
        v["info"]["description"] = format!(
            "{d}\n\nThe API's own error codes (a refused submission has its FORMAT.md reason \
             code instead, with 400, 409 or 422):\n\n| code | status | meaning |\n|---|---|---|\n{}",
            codes.join("\n")
        )
        .into();
    }
    let Some(paths) = v["paths"].as_object_mut() else {
        return v;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let has_input = op["parameters"].as_array().is_some_and(|p| !p.is_empty())
                || op.get("requestBody").is_some();
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            let post = method == "post";
            let read = method == "get";
            let Some(responses) = op["responses"].as_object_mut() else {
                continue;
            };
            let mut add = |status: &str, description: &str| {
                responses
                    .entry(status)
                    .or_insert_with(|| error_response(description));
            };
            if has_input {
                add(
                    "400",
                    "Malformed request: a parameter or body that does not parse (`bad-request`)",
                );
            }
            if secured {
                add(
                    "401",
                    "No token, an unknown, revoked or expired one (`unauthorized`)",
                );
            }
            if secured && read {
                add(
                    "403",
                    "The token's role or scope does not cover this read (`forbidden`)",
                );
            }
            if post {
                add(
                    "413",
                    "The body is larger than the server reads (`too-large`)",
                );
            }
            add(
                "408",
                "The answer did not start within the request timeout (`timeout`)",
            );
        }
    }
    v
}

/// The document's JSON text, made once.
fn text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| serde_json::to_string_pretty(&document()).unwrap_or_default())
}

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    summary = "This OpenAPI 3.1 document",
    tag = "service",
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object)),
)]
pub async fn openapi_json() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        text(),
    )
        .into_response()
}
