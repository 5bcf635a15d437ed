//! `GET /v1/checkpoints`: each partition's latest published checkpoint (a C2SP signed note,
//! FORMAT.md §17a), as the sequencer stored it. Public: checkpoints reveal sizes and roots only.

use super::error::ApiError;
use super::ApiState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

/// The routes of this concern.
pub fn router() -> Router<Arc<ApiState>> {
    Router::new().route("/v1/checkpoints", get(latest))
}

async fn latest(State(state): State<Arc<ApiState>>) -> Result<Json<serde_json::Value>, ApiError> {
    let list = tokio::task::spawn_blocking(move || {
        (0..state.partitions)
            .map(|p| {
                let held = tl_ledger::publish::read_published(&state.ledger_dir, p)
                    .map_err(|e| ApiError::unavailable(format!("partition {p}: {e}")))?;
                Ok(serde_json::json!({
                    "partition": p,
                    "checkpoint": held.last().map(|c| c.text().to_string()),
                }))
            })
            .collect::<Result<Vec<_>, ApiError>>()
    })
    .await
    .map_err(|e| ApiError::unavailable(e.to_string()))??;
    Ok(Json(serde_json::json!({"checkpoints": list})))
}
