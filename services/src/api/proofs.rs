//! Merkle proofs of a partition, the JSON files `prove` writes (FORMAT.md §17a) that
//! `check-proof` verifies offline:
//! - `GET /v1/partitions/{p}/proofs/inclusion?seq=N[&size=M]`: record `seq` in the tree of
//!   `size` records (default: the latest published checkpoint covering it);
//! - `GET /v1/partitions/{p}/proofs/consistency?from=A&to=B`: the tree of `A` records is a
//!   prefix of the tree of `B`.
//!
//! Public, like checkpoints: a proof carries hashes only, no record content. On Kafka they
//! come from the tile cache ([`super::kafka_tiles`]): the tree of the records committed so
//! far, and the checkpoints published on `<trial>.checkpoints`.

use super::error::{ApiError, ErrorBody};
use super::ApiState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use std::sync::Arc;
use tl_ledger::audit::{self, ProofFile, ProveError, Prover};
use tl_ledger::embedded::EmbeddedReader;
use tl_ledger::merkle::MerkleTree;
use tl_ledger::publish::read_published;

/// The routes of this concern.
pub fn router() -> utoipa_axum::router::OpenApiRouter<Arc<ApiState>> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(inclusion))
        .routes(routes!(consistency))
}

/// A proof file (FORMAT.md §17a), as `prove` writes it and `check-proof` reads it: an
/// inclusion or a consistency proof, told apart by `type`.
#[derive(utoipa::ToSchema)]
#[schema(as = ProofFile)]
#[allow(dead_code)] // a schema only: the answer is `tl_ledger::audit::ProofFile`, serialized
pub struct ProofDoc {
    /// `inclusion` or `consistency`.
    #[schema(pattern = "^(inclusion|consistency)$")]
    r#type: String,
    /// The proof format's name.
    format: String,
    /// The trial id.
    trial: String,
    /// The partition.
    partition: u32,
    /// Inclusion: the record's seq (the leaf index).
    seq: Option<u64>,
    /// Inclusion: the record hash (hex).
    record_hash: Option<String>,
    /// Inclusion: the tree size the proof is for.
    tree_size: Option<u64>,
    /// Inclusion: that tree's root (hex).
    root: Option<String>,
    /// Inclusion: `checkpoint` (a signed, published root) or `unsigned-root`.
    against: Option<String>,
    /// Inclusion: the signed checkpoint of `tree_size`, a signed note.
    checkpoint: Option<String>,
    /// Consistency: the earlier tree size.
    first_size: Option<u64>,
    /// Consistency: its root (hex).
    first_root: Option<String>,
    /// Consistency: the later tree size.
    second_size: Option<u64>,
    /// Consistency: its root (hex).
    second_root: Option<String>,
    /// Consistency: the signed checkpoint of `first_size`, if published.
    first_checkpoint: Option<String>,
    /// Consistency: the signed checkpoint of `second_size`, if published.
    second_checkpoint: Option<String>,
    /// The audit or consistency path, hashes in hex (RFC 9162 §2.1.3, §2.1.4).
    path: Vec<String>,
    /// The sequencer keys that signed the checkpoints, with their enrolment records.
    sequencer_keys: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// `?seq=&size=` of an inclusion proof.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct InclusionQuery {
    /// The record's seq.
    seq: u64,
    /// The tree size to prove it in (default: the latest checkpoint covering it).
    size: Option<u64>,
}

/// `?from=&to=` of a consistency proof.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
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
    if let Some(kafka) = state.backend.kafka_tiles() {
        return kafka.with_prover(p, f);
    }
    let fail =
        |e: &dyn std::fmt::Display| ApiError::unavailable(format!("cannot read the store: {e}"));
    let dir = state.backend.ledger_dir("a proof")?;
    let reader = EmbeddedReader::open(dir).map_err(|e| fail(&e))?;
    let records = reader.scan(p).map_err(|e| fail(&e))?.records;
    let zero = if p == 0 {
        records.clone()
    } else {
        reader.scan(0).map_err(|e| fail(&e))?.records
    };
    let keys = audit::sequencer_keys(&state.trial, &zero);
    let published = read_published(dir, p).map_err(|e| fail(&e))?;
    let tree = MerkleTree::from_leaves(audit::leaf_hashes(&records));
    let prover = Prover {
        trial: &state.trial,
        partition: p,
        tree: &tree,
        published: &published,
        keys: &keys,
    };
    f(&prover).map_err(prove_error)
}

/// Why no proof was made, as the API's error.
pub(super) fn prove_error(e: ProveError) -> ApiError {
    match e {
        ProveError::Request(m) => ApiError::bad_request(m),
        // The ledger no longer extends what it published: an integrity failure to investigate.
        ProveError::Diverged(m) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "diverged", m),
        ProveError::Unreadable(m) => ApiError::unavailable(m),
    }
}

#[utoipa::path(
    get,
    path = "/v1/partitions/{partition}/proofs/inclusion",
    operation_id = "inclusionProof",
    summary = "An inclusion proof of one record",
    tag = "audit",
    description = "An inclusion proof of record `seq` in the tree of `size` records (default: \
                   the latest published checkpoint covering it, else the current unsigned \
                   root). Public: a proof carries hashes only.",
    params(super::records::PartitionPath, InclusionQuery),
    responses(
        (status = 200, description = "The proof file", body = ProofDoc),
        (status = 400, description = "A seq or size that does not fit the partition (`bad-request`)", body = ErrorBody),
        (status = 404, description = "No such partition (`not-found`)", body = ErrorBody),
        (status = 500, description = "The ledger no longer extends a checkpoint it published (`diverged`)", body = ErrorBody),
        (status = 503, description = "The store cannot be read (`unavailable`)", body = ErrorBody),
    ),
)]
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

#[utoipa::path(
    get,
    path = "/v1/partitions/{partition}/proofs/consistency",
    operation_id = "consistencyProof",
    summary = "A consistency proof between two tree sizes",
    tag = "audit",
    description = "A consistency proof that the tree of `from` records is a prefix of the \
                   tree of `to`, with the signed checkpoints of those sizes where published. \
                   Public.",
    params(super::records::PartitionPath, ConsistencyQuery),
    responses(
        (status = 200, description = "The proof file", body = ProofDoc),
        (status = 400, description = "Sizes out of order or beyond the partition (`bad-request`)", body = ErrorBody),
        (status = 404, description = "No such partition (`not-found`)", body = ErrorBody),
        (status = 500, description = "The ledger no longer extends a checkpoint it published (`diverged`)", body = ErrorBody),
        (status = 503, description = "The store cannot be read (`unavailable`)", body = ErrorBody),
    ),
)]
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
