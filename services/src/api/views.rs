//! The three read models as JSON: `GET /v1/views/{enrollment|safety|dossier}[?cohort=ID]`,
//! the content of `view ... --json`, brought up to date from the verified log first (or, with
//! `?at=p0:N,...`, as of a frozen cut of published checkpoints: [`super::asof`]), with
//! each view's lag per partition and how far behind the log the answer is. The enrollment and
//! dossier views add `cells`: every count's cell key with the count, which
//! [`super::view_cells`] resolves to its records.
//!
//! Who may read which (README, "API"): enrollment the `auditor` and `sponsor`; safety also
//! `safety` and `dsmb`; the dossier `auditor`, `sponsor` and `hta`. A token scoped to a cohort
//! reads that cohort only (it is the default filter). Every read is in the access log.

use super::auth::{forbidden, ApiRole, Caller};
use super::error::{ApiError, ErrorBody};
use super::ApiState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use std::sync::Arc;
use tl_projections::report;
use tl_projections::ViewKind;

/// The routes of this concern.
pub fn router() -> utoipa_axum::router::OpenApiRouter<Arc<ApiState>> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(view))
        .routes(routes!(safety_cell))
}

/// `?cohort=&drug=&term=&grade=&at=` of a cell of the safety view's `by_term` table; an absent
/// cohort or drug is the cell whose cohort or drug is null.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct CellQuery {
    /// The cell's cohort (absent: the cell without one). A token scoped to a cohort must name it.
    cohort: Option<String>,
    /// The cell's drug (absent: the cell without one).
    drug: Option<String>,
    /// The cell's CTCAE term.
    term: String,
    /// The cell's grade.
    grade: i64,
    /// A frozen data cut, `p0:N,p1:M,...` (as for the views).
    at: Option<String>,
}

/// The records behind one cell of the safety view's `by_term` table.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema only: `cell_of` builds the JSON
pub struct SafetyCell {
    /// The cell's cohort.
    cohort: Option<String>,
    /// The cell's drug.
    drug: Option<String>,
    /// The cell's CTCAE term.
    ctcae_term: String,
    /// The cell's grade.
    grade: i64,
    /// Adverse events in the cell.
    events: u64,
    /// Serious ones among them.
    serious: u64,
    /// Every record the cell's adverse events were built from, in ledger order.
    records: Vec<RecordRef>,
    /// How far behind the log the answer is.
    freshness: super::reads::Freshness,
}

/// A record's position and hash.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema only
pub struct RecordRef {
    /// The partition.
    partition: u32,
    /// The seq.
    seq: u64,
    /// The record hash (hex).
    hash: String,
}

/// A view's report (the content of `view NAME --json`: further properties), with its lag per
/// partition and how far behind the log the answer is.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema only: `view` builds the JSON
pub struct ViewBody {
    /// `enrollment`, `safety` or `dossier`.
    #[schema(pattern = "^(enrollment|safety|dossier)$")]
    view: String,
    /// The view's lag in each partition.
    lag: Vec<LagDoc>,
    /// How far behind the log the answer is.
    freshness: super::reads::Freshness,
    /// Enrollment and dossier: every count's cell key with the count (`GET
    /// /v1/views/enrollment/cells?cell=KEY`, `.../dossier/cells` list its records).
    cells: Option<std::collections::BTreeMap<String, u64>>,
}

/// One view's lag in one partition ([`tl_projections::Lag`]).
#[derive(utoipa::ToSchema)]
#[schema(as = Lag)]
#[allow(dead_code)] // a schema only
pub struct LagDoc {
    /// The view.
    view: String,
    /// The partition.
    partition: u32,
    /// Records in the log.
    log: u64,
    /// Records the view consumed.
    consumed: u64,
    /// `log - consumed`.
    behind: u64,
}

/// The records behind one cell of the safety view's adverse events by cohort, drug, term and
/// grade: the cell's counts and every record (partition, seq, hash) its adverse events were
/// built from, so that each number can become a link.
#[utoipa::path(
    get,
    path = "/v1/views/safety/cells",
    operation_id = "safetyCell",
    summary = "The records behind a cell of the safety table",
    tag = "views",
    description = "The records behind one cell of the safety view's adverse events by cohort, \
                   drug, term and grade, so that each number can become a link (the safety \
                   view's roles; in the access log).",
    params(CellQuery),
    responses(
        (status = 200, description = "The cell and its records", body = SafetyCell),
        (status = 400, description = "A malformed cut (`bad-request`)", body = ErrorBody),
        (status = 404, description = "No such cell, or no checkpoint of a size in the cut (`not-found`)", body = ErrorBody),
        (status = 503, description = "The store or the views cannot be read (`unavailable`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn safety_cell(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(q): Query<CellQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (kind, roles) = kind("safety")?;
    caller.require(roles, "the safety view")?;
    if caller.token.site.is_some() {
        return Err(forbidden(
            "a token scoped to a site reads only its own patients",
        ));
    }
    if let Some(mine) = &caller.token.cohort {
        if q.cohort.as_deref() != Some(mine.as_str()) {
            return Err(forbidden(format!(
                "this token is scoped to cohort {mine}; name it as the cell's cohort"
            )));
        }
    }
    let st = state.clone();
    let subject = format!(
        "cell:{}/{}/{}/{}",
        q.cohort.as_deref().unwrap_or("-"),
        q.drug.as_deref().unwrap_or("-"),
        q.term,
        q.grade
    );
    let answer = tokio::task::spawn_blocking(move || {
        let read = |p: &tl_projections::ViewDb| cell_of(p.conn(), &q);
        match &q.at {
            None => st.reads.with_views(|p| read(p.view(kind))),
            Some(text) => {
                let caps = super::asof::parse_cut(&st, text)?;
                let out = super::asof::with_views_at(&st, caps.clone(), |p| read(p.view(kind)))?;
                Ok((out, super::asof::freshness(&st, caps)?))
            }
        }
    })
    .await
    .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let (mut v, fresh) = answer?;
    state
        .audit(&caller, "/v1/views/safety/cells", &subject, StatusCode::OK)
        .await?;
    v["freshness"] = serde_json::to_value(&fresh).unwrap_or_default();
    Ok(Json(v))
}

fn cell_of(conn: &rusqlite::Connection, q: &CellQuery) -> Result<serde_json::Value, ApiError> {
    let fail = |e: rusqlite::Error| ApiError::unavailable(format!("reading the view: {e}"));
    let mut st = conn
        .prepare(
            "SELECT serious, refs FROM adverse_events
             WHERE cohort IS ?1 AND drug IS ?2 AND ctcae_term = ?3 AND grade = ?4",
        )
        .map_err(fail)?;
    let rows: Vec<(i64, String)> = st
        .query_map(rusqlite::params![q.cohort, q.drug, q.term, q.grade], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(fail)?
        .collect::<Result<_, _>>()
        .map_err(fail)?;
    if rows.is_empty() {
        return Err(ApiError::not_found(
            "no such cell in the safety view (its by_term table lists the cells)",
        ));
    }
    let mut records: Vec<serde_json::Value> = Vec::new();
    for (_, refs) in &rows {
        let list: Vec<serde_json::Value> = serde_json::from_str(refs)
            .map_err(|e| ApiError::unavailable(format!("a view's references: {e}")))?;
        records.extend(list);
    }
    records.sort_by_key(|r| (r["partition"].as_u64(), r["seq"].as_u64()));
    records.dedup();
    Ok(serde_json::json!({
        "cohort": q.cohort, "drug": q.drug, "ctcae_term": q.term, "grade": q.grade,
        "events": rows.len(),
        "serious": rows.iter().filter(|(s, _)| *s != 0).count(),
        "records": records,
    }))
}

/// `?cohort=&at=` of a view.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ViewQuery {
    /// Only this cohort.
    cohort: Option<String>,
    /// A frozen data cut: `p0:N,p1:M,...`, every partition once, each size one of its
    /// published checkpoints (or 0).
    at: Option<String>,
}

/// The view named in the path, and the roles that may read it.
pub(super) fn kind(name: &str) -> Result<(ViewKind, &'static [ApiRole]), ApiError> {
    use ApiRole::*;
    match name {
        "enrollment" => Ok((ViewKind::Enrollment, &[Auditor, Sponsor])),
        "safety" => Ok((ViewKind::Safety, &[Auditor, Sponsor, Safety, Dsmb])),
        "dossier" => Ok((ViewKind::Dossier, &[Auditor, Sponsor, Hta])),
        other => Err(ApiError::not_found(format!(
            "no view {other:?}: the views are enrollment, safety and dossier"
        ))),
    }
}

fn report_of(
    kind: ViewKind,
    conn: &rusqlite::Connection,
    cohort: Option<&str>,
) -> Result<serde_json::Value, ApiError> {
    let fail = |e: rusqlite::Error| ApiError::unavailable(format!("reading the view: {e}"));
    let v = match kind {
        ViewKind::Enrollment => {
            serde_json::to_value(report::enrollment(conn, cohort).map_err(fail)?)
        }
        ViewKind::Safety => serde_json::to_value(report::safety(conn, cohort).map_err(fail)?),
        ViewKind::Dossier => serde_json::to_value(report::dossier(conn, cohort).map_err(fail)?),
    };
    v.map_err(|e| ApiError::unavailable(e.to_string()))
}

/// The path parameter of the view route.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // a schema only: the handler takes `Path<String>`
pub struct ViewPath {
    /// `enrollment`, `safety` or `dossier` (404 for another).
    #[param(pattern = "^(enrollment|safety|dossier)$")]
    view: String,
}

#[utoipa::path(
    get,
    path = "/v1/views/{view}",
    operation_id = "view",
    summary = "A view: enrollment, safety or dossier",
    tag = "views",
    description = "A view as JSON, brought up to date from the verified log first, or as of a \
                   frozen cut (`at`). Enrollment: `auditor`, `sponsor`; safety: also `safety`, \
                   `dsmb`; dossier: `auditor`, `sponsor`, `hta`. A token scoped to a cohort \
                   reads that cohort only. The enrollment and dossier views list every count's \
                   cell key under `cells` (`/v1/views/enrollment/cells`, \
                   `/v1/views/dossier/cells`). In the access log.",
    params(ViewPath, ViewQuery),
    responses(
        (status = 200, description = "The view", body = ViewBody),
        (status = 400, description = "A malformed cut (`bad-request`)", body = ErrorBody),
        (status = 404, description = "No such view or cohort, or no checkpoint of a size in the cut (`not-found`)", body = ErrorBody),
        (status = 503, description = "The store or the views cannot be read (`unavailable`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn view(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<ViewQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (kind, roles) = kind(&name)?;
    caller.require(roles, &format!("the {name} view"))?;
    if caller.token.site.is_some() {
        return Err(forbidden(
            "a token scoped to a site reads only its own patients",
        ));
    }
    let cohort = caller.cohort_scope(q.cohort.as_deref())?;
    let st = state.clone();
    let c = cohort.clone();
    let at = q.at.clone();
    let answer = tokio::task::spawn_blocking(move || match at {
        None => st.reads.with_views(|p| answer_from(p, kind, c.as_deref())),
        Some(text) => {
            let caps = super::asof::parse_cut(&st, &text)?;
            let out = super::asof::with_views_at(&st, caps.clone(), |p| {
                answer_from(p, kind, c.as_deref())
            })?;
            Ok((out, super::asof::freshness(&st, caps)?))
        }
    })
    .await
    .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let ((body, lag), fresh) = answer?;
    let subject = cohort.map_or_else(|| "*".to_string(), |c| format!("cohort:{c}"));
    state
        .audit(
            &caller,
            &format!("/v1/views/{}", kind.name()),
            &subject,
            StatusCode::OK,
        )
        .await?;
    let mut v = serde_json::json!({ "view": kind.name(), "lag": lag, "freshness": fresh });
    if let (Some(o), serde_json::Value::Object(b)) = (v.as_object_mut(), body) {
        o.extend(b);
    }
    // The board's tables inside the safety view: their patient-level parts only for the
    // roles that read patients (as `GET /v1/views/safety/tables` serves them).
    if caller.token.role == ApiRole::Dsmb {
        if let Some(t) = v.get_mut("tables").and_then(|t| t.as_object_mut()) {
            t.insert("deaths".into(), serde_json::Value::Null);
            t.insert("clocks".into(), serde_json::Value::Null);
        }
    }
    Ok(Json(v))
}

/// 404 unless the ledger has the cohort `c`.
pub(super) fn known_cohort<S: tl_projections::LogSource>(
    p: &tl_projections::Projector<S>,
    c: &str,
) -> Result<(), ApiError> {
    let known: bool = p
        .view(ViewKind::Enrollment)
        .conn()
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM cohorts WHERE cohort = ?1)",
            [c],
            |r| r.get(0),
        )
        .unwrap_or(false);
    if known {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "no cohort {c:?} in the ledger (GET /v1/views/enrollment lists them)"
        )))
    }
}

/// A view's report and its lag, from any projector (the live one or a cut's).
fn answer_from<S: tl_projections::LogSource>(
    p: &mut tl_projections::Projector<S>,
    kind: ViewKind,
    cohort: Option<&str>,
) -> Result<(serde_json::Value, Vec<tl_projections::Lag>), ApiError> {
    if let Some(c) = cohort {
        known_cohort(p, c)?;
    }
    let mut body = report_of(kind, p.view(kind).conn(), cohort)?;
    // Every count of the enrollment and dossier views names its cell (the safety view's
    // counts are named in its tables): `cells`, each key with its count.
    if let (Some(cells), Some(o)) = (
        super::view_cells::cells_of(p, kind, cohort)?,
        body.as_object_mut(),
    ) {
        let counts: serde_json::Map<String, serde_json::Value> =
            cells.into_iter().map(|(k, c)| (k, c.n.into())).collect();
        o.insert("cells".into(), counts.into());
    }
    let lag = p
        .lag()
        .map_err(|e| ApiError::unavailable(format!("the views' lag: {e}")))?;
    let lag: Vec<_> = lag.into_iter().filter(|l| l.view == kind.name()).collect();
    Ok((body, lag))
}
