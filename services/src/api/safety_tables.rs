//! The safety board's tables: `GET /v1/views/safety/tables?cohort=&drug=&at=` (the `tables` of
//! `view safety --json`, [`tl_projections::tables`]) and `GET /v1/views/safety/tables/cells?cell=
//! KEY&...` (the patients and records behind one count), brought up to date from the verified
//! log first, or as of a frozen cut (`at`, [`super::asof`]).
//!
//! Who may read (README, "API"): the aggregate tables `auditor`, `sponsor`, `safety` and
//! `dsmb`; the patient-level parts (the deaths listing, the reporting clocks, a cell's patient
//! names) `auditor`, `sponsor` and `safety` only: for `dsmb` they are `null`. A token scoped to
//! a cohort reads that cohort only; one scoped to a site is refused. Every read is in the
//! access log.

use super::auth::{forbidden, ApiRole, Caller};
use super::error::{ApiError, ErrorBody};
use super::ApiState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use std::sync::Arc;
use tl_projections::tables::{safety_tables, Filter, SafetyTables};
use tl_projections::{LogSource, Projector, ViewKind};

type JsonMap = serde_json::Map<String, serde_json::Value>;

const AGGREGATE: &[ApiRole] = &[
    ApiRole::Auditor,
    ApiRole::Sponsor,
    ApiRole::Safety,
    ApiRole::Dsmb,
];
const PATIENT_LEVEL: &[ApiRole] = &[ApiRole::Auditor, ApiRole::Sponsor, ApiRole::Safety];

/// The routes of this concern.
pub fn router() -> utoipa_axum::router::OpenApiRouter<Arc<ApiState>> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(tables))
        .routes(routes!(cell))
}

/// `?cohort=&drug=&at=` of the tables.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct TablesQuery {
    /// Only this cohort (a token scoped to a cohort reads only its own).
    cohort: Option<String>,
    /// Only this drug's cohorts (and its pooled column).
    drug: Option<String>,
    /// A frozen data cut, `p0:N,p1:M,...` (as for the views).
    at: Option<String>,
}

/// `?cell=KEY&cohort=&drug=&at=` of one cell.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct CellQuery {
    /// The cell's key, as a count's `cell` in the tables gives it (opaque).
    cell: String,
    /// As in the tables the key came from.
    cohort: Option<String>,
    /// As in the tables the key came from.
    drug: Option<String>,
    /// As in the tables the key came from.
    at: Option<String>,
}

/// The safety board's tables (README, "The safety board's tables", documents every field).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema only: the handler builds the JSON
pub struct SafetyTablesBody {
    /// `safety`.
    view: String,
    /// Each definition behind the numbers, by name.
    definitions: std::collections::BTreeMap<String, String>,
    /// The columns: each cohort, then each drug pooled over its cohorts.
    #[schema(value_type = Vec<Object>)]
    columns: Vec<JsonMap>,
    /// Overview rows, one count per column.
    #[schema(value_type = Vec<Object>)]
    overview: Vec<JsonMap>,
    /// Causes of deaths within 30 days of the last dose, one count per column.
    #[schema(value_type = Vec<Object>)]
    death_causes: Vec<JsonMap>,
    /// Class and term rows, by highest grade per patient, all and treatment-related.
    #[schema(value_type = Vec<Object>)]
    by_term: Vec<JsonMap>,
    /// Exposure-adjusted rates (EAIR, EAER) per kind of event.
    #[schema(value_type = Vec<Object>)]
    rates: Vec<JsonMap>,
    /// Deaths, patient by patient (`null` for `dsmb`).
    #[schema(value_type = Option<Vec<Object>>)]
    deaths: Option<Vec<JsonMap>>,
    /// Reporting clocks, one row per serious case (`null` for `dsmb`).
    #[schema(value_type = Option<Vec<Object>>)]
    clocks: Option<Vec<JsonMap>>,
    /// The safety view's lag in each partition.
    lag: Vec<super::views::LagDoc>,
    /// How far behind the log the answer is.
    freshness: super::reads::Freshness,
}

/// The patients and records behind one count.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema only
pub struct TableCellBody {
    /// The cell's key.
    cell: String,
    /// The count: patients.
    n: u64,
    /// The patients counted (`null` for `dsmb`).
    patients: Option<Vec<String>>,
    /// The records behind the count (partition, seq, hash).
    records: Vec<super::views::RecordRef>,
    /// How far behind the log the answer is.
    freshness: super::reads::Freshness,
}

/// Checks the caller and the filter; returns the filter and whether the caller sees patients.
fn admit(
    caller: &Caller,
    cohort: Option<&str>,
    drug: Option<&str>,
) -> Result<(Filter, bool), ApiError> {
    caller.require(AGGREGATE, "the safety tables")?;
    if caller.token.site.is_some() {
        return Err(forbidden(
            "a token scoped to a site reads only its own patients",
        ));
    }
    let filter = Filter {
        cohort: caller.cohort_scope(cohort)?,
        drug: drug.map(str::to_string),
    };
    Ok((filter, PATIENT_LEVEL.contains(&caller.token.role)))
}

/// The tables from any projector (the live one or a cut's), with the safety view's lag.
fn tables_from<S: LogSource>(
    p: &mut Projector<S>,
    filter: &Filter,
) -> Result<(SafetyTables, Vec<tl_projections::Lag>), ApiError> {
    if let Some(c) = &filter.cohort {
        super::views::known_cohort(p, c)?;
    }
    let t = safety_tables(p.view(ViewKind::Safety).conn(), filter)
        .map_err(|e| ApiError::unavailable(format!("reading the view: {e}")))?;
    let lag = p
        .lag()
        .map_err(|e| ApiError::unavailable(format!("the views' lag: {e}")))?;
    let lag = lag.into_iter().filter(|l| l.view == "safety").collect();
    Ok((t, lag))
}

type Answer = (
    (SafetyTables, Vec<tl_projections::Lag>),
    super::reads::Freshness,
);

/// The tables, live or as of `at`. Blocking work on the blocking pool.
async fn read(
    state: &Arc<ApiState>,
    filter: Filter,
    at: Option<String>,
) -> Result<Answer, ApiError> {
    let st = state.clone();
    tokio::task::spawn_blocking(move || match at {
        None => st.reads.with_views(|p| tables_from(p, &filter)),
        Some(text) => {
            let caps = super::asof::parse_cut(&st, &text)?;
            let out = super::asof::with_views_at(&st, caps.clone(), |p| tables_from(p, &filter))?;
            Ok((out, super::asof::freshness(&st, caps)?))
        }
    })
    .await
    .map_err(|e| ApiError::unavailable(e.to_string()))?
}

fn subject(f: &Filter) -> String {
    format!(
        "cohort:{}/drug:{}",
        f.cohort.as_deref().unwrap_or("*"),
        f.drug.as_deref().unwrap_or("*")
    )
}

/// The safety board's tables: overview, by class/term/highest grade, exposure-adjusted rates
/// per cohort and per drug pooled, the deaths listing and the reporting clocks.
#[utoipa::path(
    get,
    path = "/v1/views/safety/tables",
    operation_id = "safetyTables",
    summary = "The safety board's tables",
    tag = "views",
    description = "The safety tables per cohort and per drug pooled across its cohorts (the \
                   `tables` of `view safety --json`): overview, adverse events by system organ \
                   class, term and highest grade per patient, exposure-adjusted rates, and for \
                   `auditor`, `sponsor` and `safety` the deaths listing and the reporting \
                   clocks (`null` for `dsmb`). Every count names a cell that \
                   `/v1/views/safety/tables/cells` resolves. In the access log.",
    params(TablesQuery),
    responses(
        (status = 200, description = "The tables", body = SafetyTablesBody),
        (status = 400, description = "A malformed cut (`bad-request`)", body = ErrorBody),
        (status = 404, description = "No such cohort, or no checkpoint of a size in the cut (`not-found`)", body = ErrorBody),
        (status = 503, description = "The store or the views cannot be read (`unavailable`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn tables(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(q): Query<TablesQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (filter, patients) = admit(&caller, q.cohort.as_deref(), q.drug.as_deref())?;
    let what = subject(&filter);
    let ((t, lag), fresh) = read(&state, filter, q.at).await?;
    let t = if patients { t } else { t.aggregate_only() };
    state
        .audit(&caller, "/v1/views/safety/tables", &what, StatusCode::OK)
        .await?;
    let mut v = serde_json::to_value(&t).map_err(|e| ApiError::unavailable(e.to_string()))?;
    v["view"] = "safety".into();
    v["lag"] = serde_json::to_value(&lag).unwrap_or_default();
    v["freshness"] = serde_json::to_value(&fresh).unwrap_or_default();
    Ok(Json(v))
}

/// The patients and records behind one count of the safety tables.
#[utoipa::path(
    get,
    path = "/v1/views/safety/tables/cells",
    operation_id = "safetyTableCell",
    summary = "The records behind a count of the safety tables",
    tag = "views",
    description = "The patients (not for `dsmb`) and records behind one count of \
                   `/v1/views/safety/tables`, named by its `cell` key, under the same `cohort`, \
                   `drug` and `at`. In the access log.",
    params(CellQuery),
    responses(
        (status = 200, description = "The cell", body = TableCellBody),
        (status = 400, description = "A malformed cut (`bad-request`)", body = ErrorBody),
        (status = 404, description = "No such cell or cohort, or no checkpoint of a size in the cut (`not-found`)", body = ErrorBody),
        (status = 503, description = "The store or the views cannot be read (`unavailable`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn cell(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(q): Query<CellQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (filter, patients) = admit(&caller, q.cohort.as_deref(), q.drug.as_deref())?;
    let what = format!("{}/cell:{}", subject(&filter), q.cell);
    let ((t, _), fresh) = read(&state, filter, q.at).await?;
    let Some(c) = t.cell(&q.cell) else {
        return Err(ApiError::not_found(
            "no such cell in these tables (each count's `cell` names one)",
        ));
    };
    state
        .audit(
            &caller,
            "/v1/views/safety/tables/cells",
            &what,
            StatusCode::OK,
        )
        .await?;
    Ok(Json(serde_json::json!({
        "cell": q.cell,
        "n": c.n(),
        "patients": patients.then_some(&c.patients),
        "records": c.records,
        "freshness": fresh,
    })))
}
