//! The auditor's page (README, "For the auditor"): `GET /audit/` and its plain ES modules,
//! embedded in the binary from `services/web/` (nothing is loaded from elsewhere). The page
//! fetches a subject's audit bundle (`GET /v1/subjects/{subject}/bundle`) and verifies it in the
//! browser; `GET /audit/saved.html` is the same page as one self-contained file
//! (`services/web/saved/trial-ledger-audit.html`, built by `node services/web/build-saved.mjs`),
//! for an auditor to keep and open from disk. These are pages, not API operations: plain axum
//! routes, outside the OpenAPI document, public (the data they show needs a token).

use super::error::ApiError;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// The page's files, by their path under `/audit/`.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("", HTML, include_bytes!("../../web/audit.html")),
    ("audit.css", CSS, include_bytes!("../../web/audit.css")),
    ("favicon.svg", SVG, include_bytes!("../../web/favicon.svg")),
    ("audit.js", JS, include_bytes!("../../web/audit.js")),
    ("verify.js", JS, include_bytes!("../../web/verify.js")),
    ("wire.js", JS, include_bytes!("../../web/wire.js")),
    ("merkle.js", JS, include_bytes!("../../web/merkle.js")),
    ("recist.js", JS, include_bytes!("../../web/recist.js")),
    (
        "vendor/noble-ed25519.js",
        JS,
        include_bytes!("../../web/vendor/noble-ed25519.js"),
    ),
    (
        "vendor/noble-hashes/sha2.js",
        JS,
        include_bytes!("../../web/vendor/noble-hashes/sha2.js"),
    ),
    (
        "vendor/noble-hashes/_md.js",
        JS,
        include_bytes!("../../web/vendor/noble-hashes/_md.js"),
    ),
    (
        "vendor/noble-hashes/_u64.js",
        JS,
        include_bytes!("../../web/vendor/noble-hashes/_u64.js"),
    ),
    (
        "vendor/noble-hashes/utils.js",
        JS,
        include_bytes!("../../web/vendor/noble-hashes/utils.js"),
    ),
];

/// The saved copy: one HTML file with everything inline.
const SAVED: &[u8] = include_bytes!("../../web/saved/trial-ledger-audit.html");

/// The routes of the auditor's page.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/audit", get(|| async { Redirect::permanent("/audit/") }))
        .route("/audit/", get(|| async { asset("") }))
        .route(
            "/audit/{*path}",
            get(|Path(path): Path<String>| async move { asset(&path) }),
        )
}

/// One embedded file, or 404 (JSON, as every error).
fn asset(path: &str) -> Response {
    if path == "saved.html" {
        return (
            [
                (header::CONTENT_TYPE, HTML),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"trial-ledger-audit.html\"",
                ),
            ],
            SAVED,
        )
            .into_response();
    }
    match ASSETS.iter().find(|(p, _, _)| *p == path) {
        Some((_, mime, bytes)) => (
            [
                (header::CONTENT_TYPE, *mime),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *bytes,
        )
            .into_response(),
        None => ApiError::not_found(format!("no page file /audit/{path}")).into_response(),
    }
}
