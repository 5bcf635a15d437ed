//! Views as of a frozen data cut (`GET /v1/views/{view}?at=p0:N,p1:M,...`): the views
//! projected from the first `N` records of partition 0, `M` of partition 1, and so on, each
//! size that of a checkpoint the sequencer published for that partition (a signed cut, for a
//! safety board meeting). The projection runs in a temporary folder from position 0 through
//! the same verifying reader as the live views; records of the cut that cite a record beyond
//! it are held out, as the live views hold them until their citation arrives.

use super::error::ApiError;
use super::ApiState;
use std::collections::BTreeMap;
use tl_projections::source::{Chunk, ChunkEnd};
use tl_projections::{EmbeddedSource, LogSource, LogState, Projector};

/// The embedded store, seen only up to the cut.
pub struct Capped {
    inner: EmbeddedSource,
    caps: Vec<u64>,
}

impl LogSource for Capped {
    fn partition_count(&mut self) -> Result<u32, tl_projections::Error> {
        Ok(self.caps.len() as u32)
    }

    fn len(&mut self, partition: u32) -> Result<u64, tl_projections::Error> {
        let cap = self.caps[partition as usize];
        Ok(self.inner.len(partition)?.min(cap))
    }

    fn read(
        &mut self,
        partition: u32,
        from: u64,
        max: usize,
    ) -> Result<Chunk, tl_projections::Error> {
        let cap = self.caps[partition as usize];
        if from >= cap {
            return Ok(Chunk {
                records: Vec::new(),
                end: ChunkEnd::Clean,
            });
        }
        let room = usize::try_from(cap - from).unwrap_or(usize::MAX);
        let mut chunk = self.inner.read(partition, from, max.min(room))?;
        chunk.records.truncate(room);
        Ok(chunk)
    }

    fn refresh(&mut self) -> Result<(), tl_projections::Error> {
        self.inner.refresh()
    }
}

/// Parses `p0:N,p1:M,...` and checks it is a cut of published checkpoints: every partition
/// named once, each size one the sequencer published. Returns the sizes by partition.
pub fn parse_cut(state: &ApiState, text: &str) -> Result<Vec<u64>, ApiError> {
    let mut sizes = BTreeMap::new();
    for item in text.split(',').filter(|s| !s.trim().is_empty()) {
        let (p, n) = item
            .trim()
            .strip_prefix('p')
            .and_then(|r| r.split_once(':'))
            .and_then(|(p, n)| Some((p.parse::<u32>().ok()?, n.parse::<u64>().ok()?)))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{item:?} in `at` is not pN:SIZE (for example at=p0:120,p1:45)"
                ))
            })?;
        if sizes.insert(p, n).is_some() {
            return Err(ApiError::bad_request(format!(
                "partition {p} is named twice in `at`"
            )));
        }
    }
    let all: Vec<u32> = (0..state.partitions).collect();
    if sizes.keys().copied().collect::<Vec<_>>() != all {
        return Err(ApiError::bad_request(format!(
            "`at` must name every partition once, p0 to p{} (the sizes of their checkpoints, \
             as GET /v1/checkpoints lists them)",
            state.partitions.saturating_sub(1)
        )));
    }
    let dir = state.backend.ledger_dir("a view as of a checkpoint")?;
    for (p, n) in &sizes {
        let held = tl_ledger::publish::read_published(dir, *p)
            .map_err(|e| ApiError::unavailable(format!("partition {p}: {e}")))?;
        if *n != 0 && !held.iter().any(|c| c.unverified().size == *n) {
            return Err(ApiError::not_found(format!(
                "partition {p} has no published checkpoint of size {n}"
            )));
        }
    }
    Ok(sizes.into_values().collect())
}

/// Projects the cut into a temporary folder and runs `f` on its views. Blocking.
pub fn with_views_at<T>(
    state: &ApiState,
    caps: Vec<u64>,
    f: impl FnOnce(&mut Projector<Capped>) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let fail =
        |what: &str, e: &dyn std::fmt::Display| ApiError::unavailable(format!("{what}: {e}"));
    let dir = tempfile::tempdir().map_err(|e| fail("a folder for the cut's views", &e))?;
    let ledger = state.backend.ledger_dir("a view as of a checkpoint")?;
    let inner = EmbeddedSource::open(ledger).map_err(|e| fail("cannot read the store", &e))?;
    let source = Capped { inner, caps };
    let mut p = Projector::open(source, state.trial.clone(), state.root, dir.path(), 4096)
        .map_err(|e| fail("cannot open the cut's views", &e))?;
    p.catch_up(LogState::Live)
        .map_err(|e| fail("the cut does not project", &e))?;
    f(&mut p)
}
