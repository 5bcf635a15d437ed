//! Reading stored records: `GET /v1/partitions/{p}/records?from=&limit=` (JSON, with each
//! record's bytes in hex and its record hash) and `GET /v1/partitions/{p}/records/{seq}` (the
//! record's bytes, `application/octet-stream`).
//!
//! Raw records carry patient-level data: only the `auditor` role reads them, and every read is
//! in the access log.
//!
//! Reads go to the store on disk (what is durable), never to the sequencer thread, so readers
//! cannot slow writers down.

use super::auth::{ApiRole, Caller};
use super::error::ApiError;
use super::ApiState;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;
use tl_ledger::embedded::EmbeddedReader;

/// Most records one range read returns.
pub const MAX_RANGE: u64 = 1000;

/// The routes of this concern.
pub fn router() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/v1/partitions/{partition}/records", get(range))
        .route("/v1/partitions/{partition}/records/{seq}", get(one))
}

/// `?from=&limit=` of a range read.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeQuery {
    /// First sequence number (default 0).
    from: Option<u64>,
    /// How many records at most (default and cap [`MAX_RANGE`]).
    limit: Option<u64>,
}

/// The durable records of a partition, in order.
fn stored(state: &ApiState, partition: u32) -> Result<Vec<Vec<u8>>, ApiError> {
    if partition >= state.partitions {
        return Err(ApiError::not_found(format!(
            "partition {partition} does not exist; the trial has {} partitions",
            state.partitions
        )));
    }
    let reader = EmbeddedReader::open(&state.ledger_dir)
        .map_err(|e| ApiError::unavailable(format!("cannot read the store: {e}")))?;
    let scan = reader
        .scan(partition)
        .map_err(|e| ApiError::unavailable(format!("cannot read the store: {e}")))?;
    Ok(scan.records)
}

async fn range(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(partition): Path<u32>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(&[ApiRole::Auditor], "raw records")?;
    state
        .audit(
            &caller,
            "/v1/partitions/{partition}/records",
            &format!("partition:{partition}"),
            StatusCode::OK,
        )
        .await?;
    let from = q.from.unwrap_or(0);
    let limit = q.limit.unwrap_or(MAX_RANGE).min(MAX_RANGE);
    let records = tokio::task::spawn_blocking(move || stored(&state, partition))
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))??;
    let size = records.len() as u64;
    let items: Vec<serde_json::Value> = records
        .into_iter()
        .enumerate()
        .skip(usize::try_from(from).unwrap_or(usize::MAX))
        .take(limit as usize)
        .map(|(seq, bytes)| {
            let hash = tl_ledger::audit::leaf_hash(&bytes).map(|h| h.to_hex());
            serde_json::json!({"seq": seq, "record_hash": hash, "bytes": hex::encode(&bytes)})
        })
        .collect();
    Ok(Json(serde_json::json!({
        "partition": partition,
        "size": size,
        "from": from,
        "records": items,
    })))
}

async fn one(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path((partition, seq)): Path<(u32, u64)>,
) -> Result<Response, ApiError> {
    caller.require(&[ApiRole::Auditor], "raw records")?;
    state
        .audit(
            &caller,
            "/v1/partitions/{partition}/records/{seq}",
            &format!("record:{partition}/{seq}"),
            StatusCode::OK,
        )
        .await?;
    let records = tokio::task::spawn_blocking(move || stored(&state, partition))
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))??;
    let size = records.len();
    let bytes = usize::try_from(seq)
        .ok()
        .and_then(|i| records.into_iter().nth(i))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "partition {partition} has {size} records; there is no seq {seq}"
            ))
        })?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}
