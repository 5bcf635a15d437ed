//! A subject's trail and audit bundle, from a ledger that verifies:
//! - `GET /v1/subjects/{subject}/trail`: the content of `trail --json` (every record of a
//!   patient or cohort with signers and checked inclusion proofs), and how far behind the log;
//! - `GET /v1/subjects/{subject}/bundle`: an offline audit bundle of the subject
//!   (`schemas/BUNDLE.md`), the bytes `export --subject` writes.
//!
//! Who may read which (README, "API"): a patient's trail the `auditor`, `safety` and `site`
//! roles (a site only its own patients); a cohort's trail also `sponsor` and `dsmb`; bundles
//! carry records in full, so only the `auditor`. A token scoped to a cohort or site reads only
//! subjects within it. Every read is in the access log.

use super::auth::{ApiRole, Caller};
use super::error::ApiError;
use super::reads::Reads;
use super::ApiState;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;
use tl_ledger::bundle::{self, ExportSource, Scope};
use tl_schemas::Subject;

/// The routes of this concern.
pub fn router() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/v1/subjects/{subject}/trail", get(trail))
        .route("/v1/subjects/{subject}/bundle", get(audit_bundle))
}

/// `patient:ID` or `cohort:ID`.
fn subject(text: &str) -> Result<Subject, ApiError> {
    match Subject::parse(text) {
        Ok(Subject::Trial) | Err(_) => Err(ApiError::bad_request(format!(
            "{text:?} is not a subject: use patient:ID or cohort:ID"
        ))),
        Ok(s) => Ok(s),
    }
}

/// 403 unless the caller may read `subject` with one of the roles given for patients and for
/// cohorts, within its scopes.
fn authorize(
    state: &ApiState,
    caller: &Caller,
    subject: &Subject,
    patient_roles: &[ApiRole],
    cohort_roles: &[ApiRole],
) -> Result<(), ApiError> {
    match subject {
        Subject::Patient(p) => {
            caller.require(patient_roles, "this patient-level route")?;
            if caller.token.site.is_some() || caller.token.cohort.is_some() {
                let (place, _) = state
                    .reads
                    .with_views(|v| Reads::patient_place(v, p.as_str()))?;
                let (site, cohort) = place.unwrap_or((None, None));
                caller.patient_scope(site.as_deref(), cohort.as_deref())?;
            }
            Ok(())
        }
        Subject::Cohort(c) => {
            caller.require(cohort_roles, "this cohort-level route")?;
            if caller.token.site.is_some() {
                return Err(super::auth::forbidden(
                    "a token scoped to a site reads only its own patients",
                ));
            }
            caller.cohort_scope(Some(c.as_str())).map(|_| ())
        }
        Subject::Trial => Err(ApiError::bad_request("not a subject")),
    }
}

async fn trail(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(text): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let subject = subject(&text)?;
    let (st, c, s) = (state.clone(), caller.clone(), subject.clone());
    let answer = tokio::task::spawn_blocking(move || {
        use ApiRole::*;
        authorize(
            &st,
            &c,
            &s,
            &[Auditor, Safety, Site],
            &[Auditor, Sponsor, Safety, Dsmb],
        )?;
        st.reads.with_snapshot(|snap| {
            let t = snap
                .ledger
                .trail(&s)
                .map_err(|e| ApiError::not_found(e.to_string()))?
                .map_err(ApiError::unavailable)?;
            serde_json::to_value(&t).map_err(|e| ApiError::unavailable(e.to_string()))
        })
    })
    .await
    .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let (mut v, fresh) = answer?;
    state
        .audit(
            &caller,
            "/v1/subjects/{subject}/trail",
            &subject.to_string(),
            StatusCode::OK,
        )
        .await?;
    v["trial"] = state.trial.to_string().into();
    v["verified"] = true.into();
    v["freshness"] = serde_json::to_value(&fresh).unwrap_or_default();
    Ok(Json(v))
}

async fn audit_bundle(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(text): Path<String>,
) -> Result<Response, ApiError> {
    let subject = subject(&text)?;
    let (st, c, s) = (state.clone(), caller.clone(), subject.clone());
    let answer = tokio::task::spawn_blocking(move || {
        authorize(&st, &c, &s, &[ApiRole::Auditor], &[ApiRole::Auditor])?;
        st.reads.with_snapshot(|snap| {
            let src = ExportSource {
                trial: &st.trial,
                root: st.root,
                partition_count: st.partitions,
                records: &snap.records,
                published: snap.ledger.published(),
            };
            let b = bundle::export(&src, &Scope::Subject(s.clone())).map_err(|e| {
                // The subject has no records (or the ledger cannot back it): nothing to bundle.
                ApiError::not_found(format!("no bundle of {s}: {e}"))
            })?;
            Ok(bundle::encode_bundle(&b))
        })
    })
    .await
    .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let (bytes, fresh) = answer?;
    state
        .audit(
            &caller,
            "/v1/subjects/{subject}/bundle",
            &subject.to_string(),
            StatusCode::OK,
        )
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::HeaderName::from_static("x-ledger-behind"),
                fresh.behind.to_string(),
            ),
        ],
        bytes,
    )
        .into_response())
}
