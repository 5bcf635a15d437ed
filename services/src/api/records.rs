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
use super::error::{ApiError, ErrorBody as ApiErrorBody};
use super::ApiState;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::Arc;
use tl_ledger::embedded::EmbeddedReader;

/// Most records one range read returns.
pub const MAX_RANGE: u64 = 1000;

/// The routes of this concern.
pub fn router() -> utoipa_axum::router::OpenApiRouter<Arc<ApiState>> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(range))
        .routes(routes!(one))
        .routes(routes!(decoded))
}

/// A range of a partition's stored records.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RecordRange {
    /// The partition.
    pub partition: u32,
    /// How many durable records the partition has.
    pub size: u64,
    /// The first seq asked for.
    pub from: u64,
    /// The records from `from` on, at most `limit` (1,000).
    pub records: Vec<StoredRecord>,
}

/// One stored record of a range.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct StoredRecord {
    /// Its sequence number.
    pub seq: u64,
    /// Its record hash (hex), the Merkle leaf; null for bytes too short to be a record.
    pub record_hash: Option<String>,
    /// Its stored bytes (hex).
    pub bytes: String,
}

/// A record's stored bytes, `application/octet-stream`.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct RecordBytes(#[allow(dead_code)] Vec<u8>);

/// A record decoded ([`decode_record`]).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema only: `decode_record` builds the JSON
pub struct DecodedRecord {
    /// The submission in the form `submit` reads: `event`, `subject`, `meaning`, `cites`,
    /// `submission_id`, `min_registry_seq`, and `payload` (the clinical types' fields) or
    /// `payload_hex` (the canonical payload bytes of other types).
    submission: serde_json::Map<String, serde_json::Value>,
    /// What the sequencer added: position, hashes, times, keys, signatures.
    record: DecodedSeal,
}

/// The sequencer's part of a decoded record.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema only: `decode_record` builds the JSON
pub struct DecodedSeal {
    partition: u32,
    seq: u64,
    /// Hex; null for bytes too short to be a record.
    record_hash: Option<String>,
    prev_hash: String,
    ordering_time: String,
    client_time: String,
    registry_seq: u64,
    event_type: u16,
    event_version: u16,
    author: String,
    signature: String,
    sequencer: String,
    seal: String,
}

/// `?from=&limit=` of a range read.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct RangeQuery {
    /// First sequence number (default 0).
    from: Option<u64>,
    /// How many records at most (default and cap 1,000).
    limit: Option<u64>,
}

/// The durable records of a partition, in order (on Kafka: its committed records, read whole
/// and verified).
fn stored(state: &ApiState, partition: u32) -> Result<Vec<Vec<u8>>, ApiError> {
    if partition >= state.partitions {
        return Err(ApiError::not_found(format!(
            "partition {partition} does not exist; the trial has {} partitions",
            state.partitions
        )));
    }
    if let super::backend::Backend::Kafka(..) = &state.backend {
        // The committed ledger, as the verified snapshot trails and bundles use holds it.
        let (records, _) = state.reads.with_snapshot(|snap| {
            Ok(snap
                .records
                .get(partition as usize)
                .cloned()
                .unwrap_or_default())
        })?;
        return Ok(records);
    }
    let reader = EmbeddedReader::open(state.backend.ledger_dir("a stored record")?)
        .map_err(|e| ApiError::unavailable(format!("cannot read the store: {e}")))?;
    let scan = reader
        .scan(partition)
        .map_err(|e| ApiError::unavailable(format!("cannot read the store: {e}")))?;
    Ok(scan.records)
}

/// The path parameter `partition` of the partition routes.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // a schema only: the handlers take `Path<u32>`
pub struct PartitionPath {
    /// The partition, 0 to the trial's partition count minus one (404 beyond).
    partition: u32,
}

/// The path parameters of one record.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // a schema only: the handlers take `Path<(u32, u64)>`
pub struct RecordPath {
    /// The partition, 0 to the trial's partition count minus one (404 beyond).
    partition: u32,
    /// The record's sequence number in its partition (404 beyond its size).
    seq: u64,
}

#[utoipa::path(
    get,
    path = "/v1/partitions/{partition}/records",
    operation_id = "records",
    summary = "A range of stored records",
    tag = "records",
    description = "A range of a partition's durable records, with their hashes (`auditor`; in \
                   the access log).",
    params(PartitionPath, RangeQuery),
    responses(
        (status = 200, description = "The records", body = RecordRange),
        (status = 404, description = "No such partition (`not-found`)", body = ApiErrorBody),
        (status = 503, description = "The store cannot be read (`unavailable`)", body = ApiErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn range(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(partition): Path<u32>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<RecordRange>, ApiError> {
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
    let records = records
        .into_iter()
        .enumerate()
        .skip(usize::try_from(from).unwrap_or(usize::MAX))
        .take(limit as usize)
        .map(|(seq, bytes)| StoredRecord {
            seq: seq as u64,
            record_hash: tl_ledger::audit::leaf_hash(&bytes).map(|h| h.to_hex()),
            bytes: hex::encode(&bytes),
        })
        .collect();
    Ok(Json(RecordRange {
        partition,
        size,
        from,
        records,
    }))
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

#[utoipa::path(
    get,
    path = "/v1/partitions/{partition}/records/{seq}",
    operation_id = "recordBytes",
    summary = "One stored record's bytes",
    tag = "records",
    description = "One durable record's stored bytes (`auditor`; in the access log).",
    params(RecordPath),
    responses(
        (status = 200, description = "The record's bytes", body = RecordBytes, content_type = "application/octet-stream"),
        (status = 404, description = "No such partition or record (`not-found`)", body = ApiErrorBody),
        (status = 503, description = "The store cannot be read (`unavailable`)", body = ApiErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn one(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path((partition, seq)): Path<(u32, u64)>,
) -> Result<Response, ApiError> {
    let route = "/v1/partitions/{partition}/records/{seq}";
    let bytes = record_bytes(state, &caller, partition, seq, route).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/partitions/{partition}/records/{seq}/decoded",
    operation_id = "recordDecoded",
    summary = "One stored record, decoded",
    tag = "records",
    description = "One durable record as JSON: its submission in the form `submit` reads, and \
                   the sequencer's fields (`auditor`; in the access log).",
    params(RecordPath),
    responses(
        (status = 200, description = "The record, decoded", body = DecodedRecord),
        (status = 404, description = "No such partition or record (`not-found`)", body = ApiErrorBody),
        (status = 503, description = "The store cannot be read (`unavailable`)", body = ApiErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
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
