//! The safety board's pages (issue 17 §1): the live dashboard (`GET /safety`) and the
//! enrollment funnel (`GET /safety/funnel`), with their scripts, style sheet and icon under
//! `GET /safety/assets/{file}`.
//!
//! The pages are static files from `services/web/`, embedded in the binary with
//! `include_str!`, so `cargo build` alone builds them and nothing is loaded from elsewhere
//! (the server's `Content-Security-Policy: default-src 'self'` would refuse it anyway: no
//! inline script or style). Their data come from the API's own routes (`/v1/views/...`,
//! `/v1/safety/stream`) through the session cookie of `POST /v1/session`, so the pages hold no
//! data and need no token of their own: these routes are public, like `/openapi.json`. They
//! are plain axum routes, not API operations, so the OpenAPI document does not list them.

use super::error::ApiError;
use super::ApiState;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// One embedded file: its name under `/safety/assets/`, its media type and its text.
struct Asset {
    name: &'static str,
    mime: &'static str,
    text: &'static str,
}

/// The assets the pages load.
const ASSETS: &[Asset] = &[
    Asset {
        name: "safety.css",
        mime: "text/css; charset=utf-8",
        text: include_str!("../../web/safety.css"),
    },
    Asset {
        name: "common.js",
        mime: "text/javascript; charset=utf-8",
        text: include_str!("../../web/common.js"),
    },
    Asset {
        name: "dashboard.js",
        mime: "text/javascript; charset=utf-8",
        text: include_str!("../../web/dashboard.js"),
    },
    Asset {
        name: "tables.js",
        mime: "text/javascript; charset=utf-8",
        text: include_str!("../../web/tables.js"),
    },
    Asset {
        name: "funnel.js",
        mime: "text/javascript; charset=utf-8",
        text: include_str!("../../web/funnel.js"),
    },
    Asset {
        name: "icon.svg",
        mime: "image/svg+xml",
        text: include_str!("../../web/icon.svg"),
    },
];

/// The dashboard's HTML.
const DASHBOARD: &str = include_str!("../../web/dashboard.html");
/// The funnel page's HTML.
const FUNNEL: &str = include_str!("../../web/funnel.html");

/// The routes of the safety board's pages (merged into the API's router, outside the OpenAPI
/// document).
pub fn router() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/safety", get(|| async { page(DASHBOARD) }))
        .route("/safety/funnel", get(|| async { page(FUNNEL) }))
        .route("/safety/assets/{file}", get(asset))
}

/// A page: HTML, never cached (it names the assets, which may change with the binary).
fn page(html: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        html,
    )
        .into_response()
}

/// An embedded asset by name; 404 (JSON, as every error) for another.
async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == file) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.mime),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            a.text,
        )
            .into_response(),
        None => {
            ApiError::not_found(format!("no asset {file:?} under /safety/assets/")).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_a_page_names_is_embedded_and_no_page_loads_from_elsewhere() {
        // Given the pages' HTML and scripts,
        for html in [DASHBOARD, FUNNEL] {
            // when they name an asset, then it is one the router serves,
            for part in html.split("/safety/assets/").skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
                    .collect();
                assert!(
                    ASSETS.iter().any(|a| a.name == name),
                    "the page names {name:?}, which is not embedded"
                );
            }
            // and nothing comes from another origin.
            assert!(!html.contains("http://") && !html.contains("https://"));
            assert!(!html.contains("<script>") && !html.contains("style="));
        }
        for a in ASSETS {
            assert!(
                !a.text.contains("https://") || a.name == "icon.svg",
                "{} loads from elsewhere",
                a.name
            );
        }
    }
}
