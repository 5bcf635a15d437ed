//! The records behind every count of the enrollment and dossier views, so that each number can
//! become a link: `GET /v1/views/enrollment/cells?cell=KEY[&cohort=ID][&at=CUT]` and `GET
//! /v1/views/dossier/cells?...` ([`tl_projections::cells`] names the keys; the views list
//! them under `cells`, each with its count), brought up to date from the verified log first,
//! or as of a frozen cut (`at`, [`super::asof`]).
//!
//! Who may read (README, "API"): as the view. The enrollment view's cells `auditor` and
//! `sponsor`; the dossier's also `hta`, which reads aggregates only: for it the patients are
//! `null` and each record's `patient` too (as the safety tables' cells are for `dsmb`). A
//! token scoped to a cohort reads that cohort only; one scoped to a site is refused. Every
//! read is in the access log.

use super::auth::{forbidden, ApiRole, Caller};
use super::error::{ApiError, ErrorBody};
use super::ApiState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use std::collections::BTreeMap;
use std::sync::Arc;
use tl_projections::cells::{dossier_cells, enrollment_cells, ViewCell};
use tl_projections::{LogSource, Projector, ViewKind};

/// The routes of this concern.
pub fn router() -> utoipa_axum::router::OpenApiRouter<Arc<ApiState>> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(enrollment_cell))
        .routes(routes!(dossier_cell))
}

/// `?cell=KEY&cohort=&at=` of one cell.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct CellQuery {
    /// The cell's key, as the view's `cells` lists it (for example `funnel|enrolled`).
    cell: String,
    /// As in the view the key came from (a token scoped to a cohort reads only its own).
    cohort: Option<String>,
    /// As in the view the key came from: a frozen data cut, `p0:N,p1:M,...`.
    at: Option<String>,
}

/// A record behind a count.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema only: the handler builds the JSON
pub struct CellRecordDoc {
    /// The partition.
    partition: u32,
    /// The seq.
    seq: u64,
    /// The record hash (hex).
    hash: String,
    /// The patient the record is about (`null` for `hta`).
    patient: Option<String>,
}

/// The patients and records behind one count of the enrollment or dossier view.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema only
pub struct ViewCellBody {
    /// `enrollment` or `dossier`.
    view: String,
    /// The cell's key.
    cell: String,
    /// What `n` counts: `patients`, or `records` (slots, refusals, disagreeing scans).
    #[schema(pattern = "^(patients|records)$")]
    counts: String,
    /// The count, as the view reports it.
    n: u64,
    /// The patients counted (`null` for `hta`).
    patients: Option<Vec<String>>,
    /// The records behind the count, in ledger order.
    records: Vec<CellRecordDoc>,
    /// How far behind the log the answer is.
    freshness: super::reads::Freshness,
}

/// Every cell of the enrollment or dossier view from any projector (`None` for the safety
/// view, whose cells are its tables').
pub(super) fn cells_of<S: LogSource>(
    p: &Projector<S>,
    kind: ViewKind,
    cohort: Option<&str>,
) -> Result<Option<BTreeMap<String, ViewCell>>, ApiError> {
    let fail = |e: rusqlite::Error| ApiError::unavailable(format!("reading the view: {e}"));
    let dossier = p.view(ViewKind::Dossier).conn();
    match kind {
        ViewKind::Enrollment => enrollment_cells(p.view(kind).conn(), dossier, cohort).map(Some),
        ViewKind::Dossier => dossier_cells(dossier, cohort).map(Some),
        ViewKind::Safety => Ok(None),
    }
    .map_err(fail)
}

/// The cells of a view within a known cohort (404 for an unknown one).
fn cells_in<S: LogSource>(
    p: &Projector<S>,
    kind: ViewKind,
    cohort: Option<&str>,
) -> Result<BTreeMap<String, ViewCell>, ApiError> {
    if let Some(c) = cohort {
        super::views::known_cohort(p, c)?;
    }
    Ok(cells_of(p, kind, cohort)?.unwrap_or_default())
}

/// The view's cells, live or as of `at`. Blocking work on the blocking pool.
async fn read(
    state: &Arc<ApiState>,
    kind: ViewKind,
    cohort: Option<String>,
    at: Option<String>,
) -> Result<(BTreeMap<String, ViewCell>, super::reads::Freshness), ApiError> {
    let st = state.clone();
    tokio::task::spawn_blocking(move || {
        let c = cohort.as_deref();
        match at {
            None => st.reads.with_views(|p| cells_in(p, kind, c)),
            Some(text) => {
                let caps = super::asof::parse_cut(&st, &text)?;
                let out = super::asof::with_views_at(&st, caps.clone(), |p| cells_in(p, kind, c))?;
                Ok((out, super::asof::freshness(&st, caps)?))
            }
        }
    })
    .await
    .map_err(|e| ApiError::unavailable(e.to_string()))?
}

/// Checks the caller against the view's roles and scopes, reads the cell and logs the read.
async fn answer(
    state: Arc<ApiState>,
    caller: Caller,
    kind: ViewKind,
    q: CellQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (_, roles) = super::views::kind(kind.name())?;
    caller.require(roles, &format!("the {} view's cells", kind.name()))?;
    if caller.token.site.is_some() {
        return Err(forbidden(
            "a token scoped to a site reads only its own patients",
        ));
    }
    let cohort = caller.cohort_scope(q.cohort.as_deref())?;
    let what = format!(
        "cohort:{}/cell:{}",
        cohort.as_deref().unwrap_or("*"),
        q.cell
    );
    let (mut cells, fresh) = read(&state, kind, cohort, q.at).await?;
    let Some(cell) = cells.remove(&q.cell) else {
        return Err(ApiError::not_found(format!(
            "no cell {:?} in the {} view (its `cells` lists every key)",
            q.cell,
            kind.name()
        )));
    };
    let route = format!("/v1/views/{}/cells", kind.name());
    state.audit(&caller, &route, &what, StatusCode::OK).await?;
    // Aggregate-only roles get the counts and the records, not who they are about.
    let patients = caller.token.role != ApiRole::Hta;
    let records: Vec<serde_json::Value> = cell
        .records
        .iter()
        .map(|r| {
            serde_json::json!({
                "partition": r.partition, "seq": r.seq, "hash": r.hash,
                "patient": if patients { r.patient.clone() } else { None },
            })
        })
        .collect();
    Ok(Json(serde_json::json!({
        "view": kind.name(),
        "cell": q.cell,
        "counts": cell.counts,
        "n": cell.n,
        "patients": patients.then_some(&cell.patients),
        "records": records,
        "freshness": fresh,
    })))
}

/// The patients and records behind one count of the enrollment view.
#[utoipa::path(
    get,
    path = "/v1/views/enrollment/cells",
    operation_id = "enrollmentCell",
    summary = "The records behind a count of the enrollment view",
    tag = "views",
    description = "The patients and records (partition, seq, hash, patient) behind one count \
                   of `/v1/views/enrollment`, named by its key in the view's `cells`, under the \
                   same `cohort` and `at`. `auditor`, `sponsor`. In the access log.",
    params(CellQuery),
    responses(
        (status = 200, description = "The cell", body = ViewCellBody),
        (status = 400, description = "A missing cell or a malformed cut (`bad-request`)", body = ErrorBody),
        (status = 404, description = "No such cell or cohort, or no checkpoint of a size in the cut (`not-found`)", body = ErrorBody),
        (status = 503, description = "The store or the views cannot be read (`unavailable`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn enrollment_cell(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(q): Query<CellQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    answer(state, caller, ViewKind::Enrollment, q).await
}

/// The patients and records behind one count of the dossier view.
#[utoipa::path(
    get,
    path = "/v1/views/dossier/cells",
    operation_id = "dossierCell",
    summary = "The records behind a count of the dossier view",
    tag = "views",
    description = "The patients (not for `hta`) and records (partition, seq, hash, patient) \
                   behind one count of `/v1/views/dossier`, named by its key in the view's \
                   `cells`, under the same `cohort` and `at`. `auditor`, `sponsor`, `hta`. In \
                   the access log.",
    params(CellQuery),
    responses(
        (status = 200, description = "The cell", body = ViewCellBody),
        (status = 400, description = "A missing cell or a malformed cut (`bad-request`)", body = ErrorBody),
        (status = 404, description = "No such cell or cohort, or no checkpoint of a size in the cut (`not-found`)", body = ErrorBody),
        (status = 503, description = "The store or the views cannot be read (`unavailable`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn dossier_cell(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(q): Query<CellQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    answer(state, caller, ViewKind::Dossier, q).await
}
