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
use super::error::{ApiError, ErrorBody};
use super::reads::Reads;
use super::ApiState;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::Arc;
use tl_ledger::bundle::{self, ExportSource, Scope};
use tl_schemas::Subject;

/// The routes of this concern.
pub fn router() -> utoipa_axum::router::OpenApiRouter<Arc<ApiState>> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(trail))
        .routes(routes!(audit_bundle))
}

/// The path parameter of the subject routes.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // a schema only: the handlers take `Path<String>`
pub struct SubjectPath {
    /// `patient:ID` or `cohort:ID` (400 for anything else).
    #[param(example = "cohort:C01", pattern = "^(patient|cohort):.+$")]
    subject: String,
}

/// A subject's decision trail: the content of `trail --json` (the subject, its header and every
/// record in order with signers, corrections and inclusion proofs; further properties), with
/// the trial, the verdict and how far behind the log the answer is.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema only: the answer is the trail, serialized, with these fields
pub struct TrailBody {
    /// The trial id.
    trial: String,
    /// Always true: trails are answered only from a ledger that verifies.
    verified: bool,
    /// How far behind the log the answer is.
    freshness: super::reads::Freshness,
}

/// An audit bundle's bytes (schemas/BUNDLE.md), `application/octet-stream`.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct BundleBytes(#[allow(dead_code)] Vec<u8>);

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

#[utoipa::path(
    get,
    path = "/v1/subjects/{subject}/trail",
    operation_id = "trail",
    summary = "A subject's decision trail",
    tag = "subjects",
    description = "A patient's or cohort's decision trail from the verified ledger. A patient's: \
                   `auditor`, `safety`, `site` (its own patients); a cohort's: also `sponsor` \
                   and `dsmb`. In the access log.",
    params(SubjectPath),
    responses(
        (status = 200, description = "The trail", body = TrailBody),
        (status = 400, description = "Not `patient:ID` or `cohort:ID` (`bad-request`)", body = ErrorBody),
        (status = 404, description = "No records of the subject (`not-found`)", body = ErrorBody),
        (status = 503, description = "The store cannot be read or does not verify (`unavailable`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
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

#[utoipa::path(
    get,
    path = "/v1/subjects/{subject}/bundle",
    operation_id = "bundle",
    summary = "A subject's audit bundle",
    tag = "subjects",
    description = "An offline audit bundle of a patient or cohort (schemas/BUNDLE.md), the \
                   bytes `export --subject` writes (`auditor`; in the access log).",
    params(SubjectPath),
    responses(
        (status = 200, description = "The bundle", body = BundleBytes, content_type = "application/octet-stream",
            headers(("X-Ledger-Behind" = u64, description = "Records in the log the bundle does not reflect yet"))),
        (status = 400, description = "Not `patient:ID` or `cohort:ID` (`bad-request`)", body = ErrorBody),
        (status = 404, description = "No records of the subject (`not-found`)", body = ErrorBody),
        (status = 503, description = "The store cannot be read or does not verify (`unavailable`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
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
