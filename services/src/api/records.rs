//! Reading stored records: `GET /v1/partitions/{p}/records?from=&limit=` (JSON, with each
//! record's bytes in hex and its record hash) and `GET /v1/partitions/{p}/records/{seq}` (the
//! record's bytes, `application/octet-stream`), and `.../records/{seq}/decoded` (the record as
//! JSON: its submission in the form `submit` reads, and the sequencer's fields).
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
        .route(
            "/v1/partitions/{partition}/records/{seq}/decoded",
            get(decoded),
        )
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

/// One durable record's bytes, after the role check and the access log.
async fn record_bytes(
    state: Arc<ApiState>,
    caller: &Caller,
    partition: u32,
    seq: u64,
    route: &str,
) -> Result<Vec<u8>, ApiError> {
    caller.require(&[ApiRole::Auditor], "raw records")?;
    state
        .audit(
            caller,
            route,
            &format!("record:{partition}/{seq}"),
            StatusCode::OK,
        )
        .await?;
    let records = tokio::task::spawn_blocking(move || stored(&state, partition))
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))??;
    let size = records.len();
    usize::try_from(seq)
        .ok()
        .and_then(|i| records.into_iter().nth(i))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "partition {partition} has {size} records; there is no seq {seq}"
            ))
        })
}

async fn one(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path((partition, seq)): Path<(u32, u64)>,
) -> Result<Response, ApiError> {
    let route = "/v1/partitions/{partition}/records/{seq}";
    let bytes = record_bytes(state, &caller, partition, seq, route).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

async fn decoded(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path((partition, seq)): Path<(u32, u64)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let route = "/v1/partitions/{partition}/records/{seq}/decoded";
    let bytes = record_bytes(state, &caller, partition, seq, route).await?;
    decode_record(&bytes).map(Json)
}

/// A record as JSON: `submission`, in the form `submit` reads (event, subject, payload,
/// meaning, cites, submission_id, min_registry_seq), and `record`, what the sequencer added
/// (position, hashes, times, keys, signatures). Payloads of the clinical types are their
/// fields; other types (trial-level events, corrections) carry `payload_hex`, the canonical
/// payload bytes.
pub fn decode_record(bytes: &[u8]) -> Result<serde_json::Value, ApiError> {
    use tl_schemas::clinical::clinical_type;
    use tl_schemas::event_type;
    let record: tl_schemas::Record = tl_schemas::decode(bytes)
        .map_err(|e| ApiError::unavailable(format!("a stored record does not decode: {e}")))?;
    let signed = &record.body.submission;
    let sub = &signed.submission;
    let t = sub.envelope.event_type;
    let name = event_type::core_name(t)
        .or_else(|| clinical_type::name(t))
        .map_or_else(|| format!("0x{t:04x}"), str::to_string);
    let mut form = serde_json::json!({
        "event": name,
        "subject": sub.subject.to_string(),
        "meaning": sub.meaning.as_str(),
        "cites": sub.cites.iter().map(|c| serde_json::json!({
            "partition": c.partition, "seq": c.seq, "hash": c.hash.to_hex(),
        })).collect::<Vec<_>>(),
        "submission_id": sub.submission_id.to_hex(),
        "min_registry_seq": sub.min_registry_seq,
    });
    let typed = clinical_type::name(t).is_some() && t != clinical_type::CORRECTED;
    let payload = tl_projections::model::render(t, &sub.envelope.payload);
    match serde_json::from_str::<serde_json::Value>(&payload) {
        Ok(v) if typed && v.get("hex").is_none() => form["payload"] = v,
        _ => form["payload_hex"] = hex::encode(&sub.envelope.payload).into(),
    }
    let hash = tl_ledger::audit::leaf_hash(bytes).map(|h| h.to_hex());
    Ok(serde_json::json!({
        "submission": form,
        "record": {
            "partition": record.body.partition,
            "seq": record.body.seq,
            "record_hash": hash,
            "prev_hash": record.body.prev_hash.to_hex(),
            "ordering_time": record.body.ordering_time.to_string(),
            "client_time": sub.client_time.to_string(),
            "registry_seq": record.body.registry_seq,
            "event_type": t,
            "event_version": sub.envelope.event_version,
            "author": sub.author.to_hex(),
            "signature": hex::encode(signed.signature.0),
            "sequencer": record.body.sequencer.to_hex(),
            "seal": hex::encode(record.seal.0),
        },
    }))
}
