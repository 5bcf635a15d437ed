//! Each partition served as a C2SP tlog-tiles log (<https://c2sp.org/tlog-tiles>, FORMAT.md
//! §17c), under the prefix `/v1/partitions/{p}/`:
//!
//! | path (after the prefix) | what | access | `Cache-Control` |
//! |---|---|---|---|
//! | `checkpoint` | the latest published signed checkpoint (§17a), `text/plain; charset=utf-8` | public | `public, max-age=5` |
//! | `tile/<L>/<N>[.p/<W>]` | Merkle tree tiles, `application/octet-stream` | public | full: `public, max-age=31536000, immutable`; partial: `public, max-age=5` |
//! | `tile/entries/<N>[.p/<W>]` | entry bundles: each record's body (`canonical(body)`, the bytes its leaf hash covers), uint16-length-prefixed | `auditor` token, access log | as tiles, `private` |
//! | `seals/<N>[.p/<W>]` | the 64-byte seals of the same records, concatenated | `auditor` token, access log | as tiles, `private` |
//!
//! Entry bundles (and the checkpoint) are gzip-compressed for a client whose `Accept-Encoding`
//! allows it, as tlog-tiles asks (`super::limits::compression`); hash tiles and seals are
//! random bytes and marked [`super::limits::Incompressible`].
//!
//! The tiles served are those of the latest published checkpoint: a tile, bundle or seal
//! bundle whose last leaf lies beyond its size is 404, so whatever a client fetches is
//! consistent with a checkpoint it can fetch. Bad paths (a non-canonical `N`, `L` over 63, `W`
//! outside 1..=255) are 400, an unknown partition or a partition without a checkpoint 404,
//! always with the API's JSON error.
//!
//! On Kafka (`serve --kafka`) the same routes answer from a per-partition cache of the tree's
//! hashes on disk, fed from the committed ledger ([`super::kafka_tiles`]).
//!
//! **Cost.** Tiles are computed from the stored records, not stored: a [`TileCache`] keeps,
//! per partition served, a [`MerkleTree`] of its records up to the latest checkpoint (every
//! leaf and complete-subtree hash: 64 bytes per record, so 3.5 MB for the 55,000-record demo),
//! checked against that checkpoint's root. When a new checkpoint is published, the next tile
//! request scans the partition's segments once (O(partition bytes) of reading; only the new
//! records are hashed) and extends the tree; a tile is then 256 hash reads from memory. Entry
//! and seal bundles read the partition's segments on each request (like the raw-record
//! routes), and each entry is checked against the tree's leaf before it is served. The
//! partition's checkpoint file is read incrementally: only what was appended since the last
//! request is parsed.

use super::auth::{ApiRole, Caller};
use super::error::{ApiError, ErrorBody};
use super::wire::{tile_coord, tile_level, TileCoord, TILE_WIDTH};
use super::ApiState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tl_ledger::audit::leaf_hash;
use tl_ledger::checkpoint::SignedCheckpoint;
use tl_ledger::embedded::EmbeddedReader;
use tl_ledger::merkle::MerkleTree;

/// The largest entry an entry bundle can hold: its length is a big-endian uint16.
pub const MAX_ENTRY: usize = u16::MAX as usize;

/// `Cache-Control` of the checkpoint and of partial tiles: they change as the log grows.
pub const SHORT_LIVED: &str = "public, max-age=5";

/// `Cache-Control` of full tiles: their bytes never change.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The routes of this concern. The checkpoint is registered through `routes!` like every
/// other route; the tile, entry and seal paths end in a wildcard (`<N>` and `<N>.p/<W>` span
/// one or two segments, which an OpenAPI path cannot spell), so they are routed by hand and
/// described by [`TilesDoc`] with one path parameter `coord` in their place.
pub fn router() -> utoipa_axum::router::OpenApiRouter<Arc<ApiState>> {
    use utoipa::OpenApi;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::with_openapi(TilesDoc::openapi())
        .routes(routes!(checkpoint))
        .route(
            "/v1/partitions/{partition}/tile/entries/{*coord}",
            get(entries),
        )
        .route(
            "/v1/partitions/{partition}/tile/{level}/{*coord}",
            get(hash_tile),
        )
        .route("/v1/partitions/{partition}/seals/{*coord}", get(seals))
}

/// The OpenAPI description of the wildcard routes ([`router`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(hash_tile, entries, seals))]
pub struct TilesDoc;

/// A tile's, entry bundle's or seal bundle's bytes, `application/octet-stream`.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct TileBytes(#[allow(dead_code)] Vec<u8>);

/// The path of one tile of a partition.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // a schema only: the handler takes `Path<(u32, String, String)>`
pub struct TilePath {
    /// The partition, 0 to the trial's partition count minus one (404 beyond).
    partition: u32,
    /// The tile's level `L`, 0 to 63, in decimal without leading zeros.
    level: String,
    /// The tile's index `N` in tlog-tiles' spelling (`x001/x234/067`), followed by `.p/<W>`
    /// for a partial tile of `W` (1 to 255) hashes.
    coord: String,
}

/// The path of one entry or seal bundle of a partition.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // a schema only: the handlers take `Path<(u32, String)>`
pub struct BundlePath {
    /// The partition, 0 to the trial's partition count minus one (404 beyond).
    partition: u32,
    /// The bundle's index `N` in tlog-tiles' spelling (`x001/x234/067`), followed by
    /// `.p/<W>` for a partial bundle of `W` (1 to 255) entries.
    coord: String,
}

/// What the tiles of one partition are answered from.
#[derive(Default)]
struct PartitionTiles {
    /// The bytes of the checkpoint file read so far: its complete entries.
    parsed: u64,
    /// The latest published checkpoint.
    latest: Option<SignedCheckpoint>,
    /// The tree of the partition's records, up to the size of `latest` (checked against its
    /// root); never larger.
    tree: MerkleTree,
}

/// The per-partition trees tiles are answered from (see the module documentation for the
/// cost). Shared by every request; each partition has its own lock.
#[derive(Default)]
pub struct TileCache {
    partitions: Mutex<HashMap<u32, Arc<Mutex<PartitionTiles>>>>,
}

impl TileCache {
    fn partition(&self, p: u32) -> Arc<Mutex<PartitionTiles>> {
        let mut map = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(p).or_default().clone()
    }
}

pub(super) fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable(format!("cannot read the store: {e}"))
}

/// The ledger no longer extends what it published: an integrity failure to investigate
/// (as for proofs).
pub(super) fn diverged(message: String) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "diverged", message)
}

fn check_partition(state: &ApiState, p: u32) -> Result<(), ApiError> {
    if p >= state.partitions {
        return Err(ApiError::not_found(format!(
            "partition {p} does not exist; the trial has {} partitions",
            state.partitions
        )));
    }
    Ok(())
}

/// Brings `tiles.latest` up to the latest checkpoint published for `p`, reading only what was
/// appended to the checkpoint file since the last call (the file is an append-only note list,
/// FORMAT.md §17a; an append in progress is left for the next call).
fn refresh_latest(state: &ApiState, p: u32, tiles: &mut PartitionTiles) -> Result<(), ApiError> {
    use std::io::{Read, Seek, SeekFrom};
    let path =
        tl_ledger::publish::checkpoint_path(state.backend.ledger_dir("a tlog-tiles log")?, p);
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(unavailable(e)),
    };
    let len = file.metadata().map_err(unavailable)?.len();
    if len < tiles.parsed {
        // Only a torn entry is ever cut, never a complete one; read it all again if it was.
        *tiles = PartitionTiles::default();
    }
    if len == tiles.parsed {
        return Ok(());
    }
    let mut appended = Vec::new();
    file.seek(SeekFrom::Start(tiles.parsed))
        .and_then(|_| file.take(len - tiles.parsed).read_to_end(&mut appended))
        .map_err(unavailable)?;
    let list = tl_ledger::publish::parse_note_bytes(
        &appended,
        tl_ledger::publish::ListEnd::TornTailAllowed,
    )
    .map_err(|e| unavailable(format!("{}: {e}", path.display())))?;
    if let Some(last) = list.notes.into_iter().last() {
        tiles.latest = Some(last);
    }
    tiles.parsed += list.complete_len as u64;
    Ok(())
}

/// The latest checkpoint of `p`, and the tree up to its size, checked against its root.
/// Blocking: it may scan the partition.
fn current(
    state: &ApiState,
    p: u32,
) -> Result<(SignedCheckpoint, Arc<Mutex<PartitionTiles>>), ApiError> {
    check_partition(state, p)?;
    let shared = state.tiles.partition(p);
    let mut tiles = shared.lock().unwrap_or_else(|e| e.into_inner());
    refresh_latest(state, p, &mut tiles)?;
    let latest = tiles.latest.clone().ok_or_else(|| {
        ApiError::not_found(format!(
            "partition {p} has no published checkpoint yet, so no tiles"
        ))
    })?;
    let (size, root) = (latest.unverified().size, latest.unverified().root);
    if tiles.tree.size() < size {
        let reader = EmbeddedReader::open(state.backend.ledger_dir("a tlog-tiles log")?)
            .map_err(unavailable)?;
        let records = reader.scan(p).map_err(unavailable)?.records;
        if (records.len() as u64) < size {
            return Err(diverged(format!(
                "partition {p} holds {} readable records, fewer than its checkpoint's {size}",
                records.len()
            )));
        }
        // Only the new records are hashed; on a failure the tree keeps the leaves it has, a
        // prefix of the partition, and the root check below keeps refusing a damaged store.
        let known = tiles.tree.size() as usize;
        for (seq, record) in records.iter().enumerate().take(size as usize).skip(known) {
            let leaf = leaf_hash(record)
                .ok_or_else(|| diverged(format!("record {p}/{seq} is too short to be a record")))?;
            tiles.tree.push(leaf);
        }
    }
    let got = tiles
        .tree
        .root_at(size)
        .map_err(|e| diverged(e.to_string()))?;
    if got != root {
        return Err(diverged(format!(
            "partition {p}: the root of its first {size} records is {}, not the published checkpoint's {}",
            got.to_hex(),
            root.to_hex()
        )));
    }
    drop(tiles);
    Ok((latest, shared))
}

/// The leaves `[first, end)` a tile at `level` covers, or the 404 when its last leaf lies
/// beyond the checkpoint's `size`.
pub(super) fn covered(level: u8, coord: TileCoord, size: u64) -> Result<(u64, u64), ApiError> {
    let span = |n: u64| {
        n.checked_mul(TILE_WIDTH)
            .and_then(|n| n.checked_mul(1u64.checked_shl(8 * u32::from(level))?))
    };
    let first = span(coord.index);
    let end = coord
        .index
        .checked_mul(TILE_WIDTH)
        .and_then(|n| n.checked_add(coord.width))
        .and_then(|n| n.checked_mul(1u64.checked_shl(8 * u32::from(level))?));
    match (first, end) {
        (Some(first), Some(end)) if end <= size => Ok((first, end)),
        _ => Err(ApiError::not_found(format!(
            "tile {level}/{} is beyond the latest checkpoint's {size} records",
            coord.path()
        ))),
    }
}

/// An `application/octet-stream` answer with its `Cache-Control`.
fn octets(bytes: Vec<u8>, cache: &str) -> Response {
    let mut res = bytes.into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(cache) {
        headers.insert(header::CACHE_CONTROL, v);
    }
    res
}

/// `Cache-Control` of a tile: immutable when full, short-lived when partial; `private` for the
/// bundles that need a token.
fn cache_control(coord: TileCoord, private: bool) -> String {
    let base = if coord.is_partial() {
        SHORT_LIVED
    } else {
        IMMUTABLE
    };
    if private {
        base.replace("public", "private")
    } else {
        base.to_string()
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?
}

/// `GET /v1/partitions/{p}/checkpoint`: the latest published checkpoint, as stored.
#[utoipa::path(
    get,
    path = "/v1/partitions/{partition}/checkpoint",
    operation_id = "tlogCheckpoint",
    summary = "The partition's latest signed checkpoint (tlog-tiles)",
    tag = "audit",
    description = "The latest published signed checkpoint of the partition, as stored: a C2SP \
                   signed note (FORMAT.md §17a), the `checkpoint` of the tlog-tiles log with \
                   prefix `/v1/partitions/{partition}/` (§17c). Public; cached for 5 s.",
    params(super::records::PartitionPath),
    responses(
        (status = 200, description = "The signed note", body = String, content_type = "text/plain; charset=utf-8"),
        (status = 404, description = "No such partition, or no checkpoint yet (`not-found`)", body = ErrorBody),
        (status = 503, description = "The store cannot be read (`unavailable`)", body = ErrorBody),
    ),
)]
async fn checkpoint(
    State(state): State<Arc<ApiState>>,
    Path(partition): Path<u32>,
) -> Result<Response, ApiError> {
    let note = blocking(move || {
        check_partition(&state, partition)?;
        if let Some(kafka) = state.backend.kafka_tiles() {
            return Ok(kafka.checkpoint(partition)?.text().to_string());
        }
        let shared = state.tiles.partition(partition);
        let mut tiles = shared.lock().unwrap_or_else(|e| e.into_inner());
        refresh_latest(&state, partition, &mut tiles)?;
        tiles
            .latest
            .as_ref()
            .map(|c| c.text().to_string())
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "partition {partition} has no published checkpoint yet"
                ))
            })
    })
    .await?;
    let mut res = note.into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(SHORT_LIVED));
    Ok(res)
}

/// `GET /v1/partitions/{p}/tile/<L>/<N>[.p/<W>]`: a Merkle tree tile.
#[utoipa::path(
    get,
    path = "/v1/partitions/{partition}/tile/{level}/{coord}",
    operation_id = "tlogTile",
    summary = "A Merkle tree tile (tlog-tiles)",
    tag = "audit",
    description = "Tile `<L>/<N>[.p/<W>]` of the partition's tree at its latest checkpoint \
                   (C2SP tlog-tiles, FORMAT.md §17c): `W` (256 when full) concatenated 32-byte \
                   hashes. Public; full tiles are immutable, partial ones cached for 5 s. A \
                   tile beyond the latest checkpoint is 404.",
    params(TilePath),
    responses(
        (status = 200, description = "The tile", body = TileBytes, content_type = "application/octet-stream"),
        (status = 404, description = "No such partition, no checkpoint yet, or a tile beyond it (`not-found`)", body = ErrorBody),
        (status = 500, description = "The store no longer matches its published checkpoint (`diverged`): an integrity failure", body = ErrorBody),
        (status = 503, description = "The store cannot be read (`unavailable`)", body = ErrorBody),
    ),
)]
async fn hash_tile(
    State(state): State<Arc<ApiState>>,
    Path((partition, level, coord)): Path<(u32, String, String)>,
) -> Result<Response, ApiError> {
    let level = tile_level(&level).map_err(ApiError::bad_request)?;
    let coord = tile_coord(&coord).map_err(ApiError::bad_request)?;
    let bytes = blocking(move || {
        if let Some(kafka) = state.backend.kafka_tiles() {
            check_partition(&state, partition)?;
            return kafka.hash_tile(partition, level, coord);
        }
        let (latest, shared) = current(&state, partition)?;
        covered(level, coord, latest.unverified().size)?;
        let tiles = shared.lock().unwrap_or_else(|e| e.into_inner());
        let mut bytes = Vec::with_capacity(coord.width as usize * 32);
        for i in 0..coord.width {
            let hash = tiles
                .tree
                .subtree_hash(8 * level, coord.index * TILE_WIDTH + i)
                .ok_or_else(|| {
                    diverged(format!("tile {level}/{} is missing a hash", coord.path()))
                })?;
            bytes.extend_from_slice(&hash.0);
        }
        Ok(bytes)
    })
    .await?;
    let mut res = octets(bytes, &cache_control(coord, false));
    res.extensions_mut().insert(super::limits::Incompressible);
    Ok(res)
}

/// The stored records a level-0 tile covers, each checked against the tree's leaf. Blocking.
fn bundle_records(
    state: &ApiState,
    partition: u32,
    coord: TileCoord,
) -> Result<Vec<Vec<u8>>, ApiError> {
    if let Some(kafka) = state.backend.kafka_tiles() {
        check_partition(state, partition)?;
        return kafka.bundle_records(partition, coord);
    }
    let (latest, shared) = current(state, partition)?;
    let (first, end) = covered(0, coord, latest.unverified().size)?;
    let reader =
        EmbeddedReader::open(state.backend.ledger_dir("a tlog-tiles log")?).map_err(unavailable)?;
    let records = reader.scan(partition).map_err(unavailable)?.records;
    let tiles = shared.lock().unwrap_or_else(|e| e.into_inner());
    (first..end)
        .map(|seq| {
            let record = records.get(seq as usize).ok_or_else(|| {
                diverged(format!("record {partition}/{seq} is no longer readable"))
            })?;
            if leaf_hash(record) != tiles.tree.leaf(seq) {
                return Err(diverged(format!(
                    "record {partition}/{seq} no longer hashes to the leaf its checkpoint covers"
                )));
            }
            Ok(record.clone())
        })
        .collect()
}

/// The entry bundle of stored `records` (wire bytes, `canonical(body) || seal`) from seq
/// `first` of `partition`: each record's body, the bytes its leaf hash covers, after its length
/// as a big-endian uint16 (FORMAT.md §17c). A body over 65,535 bytes cannot be written: 422
/// `entry-too-large`, naming the record.
pub fn entry_bundle(partition: u32, first: u64, records: &[Vec<u8>]) -> Result<Vec<u8>, ApiError> {
    let mut bytes = Vec::new();
    for (seq, record) in (first..).zip(records) {
        let body = record
            .len()
            .checked_sub(64)
            .filter(|&n| n > 0)
            .map(|n| &record[..n])
            .ok_or_else(|| {
                diverged(format!(
                    "record {partition}/{seq} is too short to be a record"
                ))
            })?;
        let len = u16::try_from(body.len()).map_err(|_| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "entry-too-large",
                format!(
                    "record {partition}/{seq} has a {}-byte body, over the {MAX_ENTRY} bytes an entry of an entry bundle can hold (FORMAT.md §17c); its hash tiles are served, and the record itself at /v1/partitions/{partition}/records/{seq}",
                    body.len()
                ),
            )
        })?;
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(body);
    }
    Ok(bytes)
}

/// Checks the auditor role and writes the access log for a bundle read.
async fn audit_bundle(
    state: &Arc<ApiState>,
    caller: &Caller,
    route: &str,
    partition: u32,
    what: &str,
) -> Result<(), ApiError> {
    caller.require(&[ApiRole::Auditor], what)?;
    state
        .audit(
            caller,
            route,
            &format!("partition:{partition}"),
            StatusCode::OK,
        )
        .await
}

/// `GET /v1/partitions/{p}/tile/entries/<N>[.p/<W>]`: an entry bundle, for `auditor` tokens.
#[utoipa::path(
    get,
    path = "/v1/partitions/{partition}/tile/entries/{coord}",
    operation_id = "tlogEntries",
    summary = "An entry bundle (tlog-tiles)",
    tag = "audit",
    description = "Entry bundle `<N>[.p/<W>]`: each record's `canonical(body)`, the bytes its \
                   leaf hash covers, with a big-endian uint16 length before it (FORMAT.md \
                   §17c). `auditor`; in the access log.",
    params(BundlePath),
    responses(
        (status = 200, description = "The entry bundle", body = TileBytes, content_type = "application/octet-stream"),
        (status = 404, description = "No such partition, no checkpoint yet, or a bundle beyond it (`not-found`)", body = ErrorBody),
        (status = 422, description = "A record too large for an entry bundle (`entry-too-large`)", body = ErrorBody),
        (status = 500, description = "The store no longer matches its published checkpoint (`diverged`): an integrity failure", body = ErrorBody),
        (status = 503, description = "The store or the access log cannot be written or read (`unavailable`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn entries(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path((partition, coord)): Path<(u32, String)>,
) -> Result<Response, ApiError> {
    let coord = tile_coord(&coord).map_err(ApiError::bad_request)?;
    audit_bundle(
        &state,
        &caller,
        "/v1/partitions/{partition}/tile/entries",
        partition,
        "entry bundles",
    )
    .await?;
    let bytes = blocking(move || {
        let records = bundle_records(&state, partition, coord)?;
        entry_bundle(partition, coord.index * TILE_WIDTH, &records)
    })
    .await?;
    Ok(octets(bytes, &cache_control(coord, true)))
}

/// `GET /v1/partitions/{p}/seals/<N>[.p/<W>]`: the seals of an entry bundle's records, for
/// `auditor` tokens.
#[utoipa::path(
    get,
    path = "/v1/partitions/{partition}/seals/{coord}",
    operation_id = "tlogSeals",
    summary = "The seals of an entry bundle's records",
    tag = "audit",
    description = "The 64-byte sequencer seals of the records of entry bundle \
                   `<N>[.p/<W>]`, concatenated in order: an entry and its seal make the stored \
                   record (FORMAT.md §17c). `auditor`; in the access log.",
    params(BundlePath),
    responses(
        (status = 200, description = "The seals", body = TileBytes, content_type = "application/octet-stream"),
        (status = 404, description = "No such partition, no checkpoint yet, or a bundle beyond it (`not-found`)", body = ErrorBody),
        (status = 500, description = "The store no longer matches its published checkpoint (`diverged`): an integrity failure", body = ErrorBody),
        (status = 503, description = "The store or the access log cannot be written or read (`unavailable`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn seals(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path((partition, coord)): Path<(u32, String)>,
) -> Result<Response, ApiError> {
    let coord = tile_coord(&coord).map_err(ApiError::bad_request)?;
    audit_bundle(
        &state,
        &caller,
        "/v1/partitions/{partition}/seals",
        partition,
        "seal bundles",
    )
    .await?;
    let bytes = blocking(move || {
        let records = bundle_records(&state, partition, coord)?;
        Ok(records
            .iter()
            .flat_map(|r| r[r.len() - 64..].iter().copied())
            .collect())
    })
    .await?;
    let mut res = octets(bytes, &cache_control(coord, true));
    res.extensions_mut().insert(super::limits::Incompressible);
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_bundle_is_the_length_prefixed_bodies_and_refuses_what_cannot_fit() {
        let record = |body: usize| {
            let mut r = vec![7u8; body];
            r.extend_from_slice(&[9u8; 64]);
            r
        };
        let bundle = entry_bundle(3, 512, &[record(1), record(MAX_ENTRY)]).unwrap();
        assert_eq!(&bundle[..3], &[0, 1, 7]);
        assert_eq!(&bundle[3..5], &[0xff, 0xff]);
        assert_eq!(bundle.len(), 3 + 2 + MAX_ENTRY);
        let e = entry_bundle(3, 512, &[record(1), record(MAX_ENTRY + 1)]).unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "entry-too-large")
        );
        assert!(e.message.contains("record 3/513"), "{}", e.message);
        assert_eq!(
            entry_bundle(0, 0, &[vec![1u8; 64]]).unwrap_err().code,
            "diverged"
        );
    }
}
