//! Merkle proofs of a partition, the JSON files `prove` writes (FORMAT.md §17a) that
//! `check-proof` verifies offline:
//! - `GET /v1/partitions/{p}/proofs/inclusion?seq=N[&size=M]`: record `seq` in the tree of
//!   `size` records (default: the latest published checkpoint covering it);
//! - `GET /v1/partitions/{p}/proofs/consistency?from=A&to=B`: the tree of `A` records is a
//!   prefix of the tree of `B`.
//!
//! Public, like checkpoints: a proof carries hashes only, no record content.

use super::error::ApiError;
use super::ApiState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;
use tl_ledger::audit::{self, ProofFile, ProveError, Prover};
use tl_ledger::embedded::EmbeddedReader;
use tl_ledger::merkle::MerkleTree;
use tl_ledger::publish::read_published;

/// The routes of this concern.
pub fn router() -> Router<Arc<ApiState>> {
    Router::new()
        .route(
            "/v1/partitions/{partition}/proofs/inclusion",
            get(inclusion),
        )
        .route(
            "/v1/partitions/{partition}/proofs/consistency",
            get(consistency),
        )
}

/// `?seq=&size=` of an inclusion proof.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InclusionQuery {
    /// The record's seq.
    seq: u64,
    /// The tree size to prove it in (default: the latest checkpoint covering it).
    size: Option<u64>,
}

/// `?from=&to=` of a consistency proof.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyQuery {
    /// The smaller tree size.
    from: u64,
    /// The larger tree size.
    to: u64,
}

/// Runs `f` on a prover of partition `p`, built from the durable records. Blocking.
fn with_prover<T>(
    state: &ApiState,
    p: u32,
    f: impl FnOnce(&Prover<'_>) -> Result<T, ProveError>,
) -> Result<T, ApiError> {
    if p >= state.partitions {
        return Err(ApiError::not_found(format!(
            "partition {p} does not exist; the trial has {} partitions",
            state.partitions
        )));
    }
    let fail =
        |e: &dyn std::fmt::Display| ApiError::unavailable(format!("cannot read the store: {e}"));
    let reader = EmbeddedReader::open(&state.ledger_dir).map_err(|e| fail(&e))?;
    let records = reader.scan(p).map_err(|e| fail(&e))?.records;
    let zero = if p == 0 {
        records.clone()
    } else {
        reader.scan(0).map_err(|e| fail(&e))?.records
    };
    let keys = audit::sequencer_keys(&state.trial, &zero);
    let published = read_published(&state.ledger_dir, p).map_err(|e| fail(&e))?;
    let tree = MerkleTree::from_leaves(audit::leaf_hashes(&records));
    let prover = Prover {
        trial: &state.trial,
        partition: p,
        tree: &tree,
        published: &published,
        keys: &keys,
    };
    f(&prover).map_err(|e| match e {
        ProveError::Request(m) => ApiError::bad_request(m),
        // The ledger no longer extends what it published: an integrity failure to investigate.
        ProveError::Diverged(m) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "diverged", m),
    })
}

async fn inclusion(
    State(state): State<Arc<ApiState>>,
    Path(partition): Path<u32>,
    Query(q): Query<InclusionQuery>,
) -> Result<Json<ProofFile>, ApiError> {
    let proof = tokio::task::spawn_blocking(move || {
        with_prover(&state, partition, |p| p.inclusion(q.seq, q.size))
    })
    .await
    .map_err(|e| ApiError::unavailable(e.to_string()))??;
    Ok(Json(ProofFile::Inclusion(proof)))
}

async fn consistency(
    State(state): State<Arc<ApiState>>,
    Path(partition): Path<u32>,
    Query(q): Query<ConsistencyQuery>,
) -> Result<Json<ProofFile>, ApiError> {
    let proof = tokio::task::spawn_blocking(move || {
        with_prover(&state, partition, |p| p.consistency(q.from, q.to))
    })
    .await
    .map_err(|e| ApiError::unavailable(e.to_string()))??;
    Ok(Json(ProofFile::Consistency(proof)))
}
