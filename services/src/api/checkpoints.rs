//! `GET /v1/checkpoints`: each partition's latest published checkpoint (a C2SP signed note,
//! FORMAT.md §17a), as the sequencer stored it. Public: checkpoints reveal sizes and roots only.

use super::backend::Backend;
use super::error::{ApiError, ErrorBody};
use super::ApiState;
use axum::extract::State;
use axum::Json;
use std::sync::Arc;

/// The routes of this concern.
pub fn router() -> utoipa_axum::router::OpenApiRouter<Arc<ApiState>> {
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(latest))
}

/// Each partition's latest published checkpoint.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Checkpoints {
    /// The trial the server sequences for (every submission is signed for it): known before
    /// the first checkpoint is published, so writers with `--url` need not wait for one.
    pub trial: String,
    /// One per partition, in order.
    pub checkpoints: Vec<PartitionCheckpoint>,
}

/// A partition's latest published checkpoint.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PartitionCheckpoint {
    /// The partition.
    pub partition: u32,
    /// The checkpoint, a C2SP signed note (FORMAT.md §17a); null before the first is published.
    pub checkpoint: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/checkpoints",
    operation_id = "checkpoints",
    summary = "Each partition's latest signed checkpoint",
    tag = "audit",
    description = "The server's trial, and each partition's latest published checkpoint, as \
                   the sequencer signed it. Public: checkpoints reveal sizes and roots only.",
    responses(
        (status = 200, description = "The checkpoints", body = Checkpoints),
        (status = 503, description = "The store cannot be read (`unavailable`)", body = ErrorBody),
    ),
)]
async fn latest(State(state): State<Arc<ApiState>>) -> Result<Json<Checkpoints>, ApiError> {
    let trial = state.trial.clone();
    let list = tokio::task::spawn_blocking(move || {
        (0..state.partitions)
            .map(|p| {
                let held = match &state.backend {
                    Backend::Embedded(dir) => tl_ledger::publish::read_published(dir, p)
                        .map_err(|e| ApiError::unavailable(format!("partition {p}: {e}")))?,
                    // The tile cache's, so that this route and the partition's own agree.
                    Backend::Kafka(_, _, tiles) => tiles.latest(p)?.into_iter().collect(),
                };
                Ok(PartitionCheckpoint {
                    partition: p,
                    checkpoint: held.last().map(|c| c.text().to_string()),
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()
    })
    .await
    .map_err(|e| ApiError::unavailable(e.to_string()))??;
    Ok(Json(Checkpoints {
        trial: trial.as_str().to_string(),
        checkpoints: list,
    }))
}
