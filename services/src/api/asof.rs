//! Views as of a frozen data cut (`GET /v1/views/{view}?at=p0:N,p1:M,...`): the views
//! projected from the first `N` records of partition 0, `M` of partition 1, and so on, each
//! size that of a checkpoint the sequencer published for that partition (a signed cut, for a
//! safety board meeting). The projection runs in a temporary folder from position 0 through
//! the same verifying reader as the live views; records of the cut that cite a record beyond
//! it are held out, as the live views hold them until their citation arrives.
//!
//! On Kafka the checkpoints are those of `<trial>.checkpoints` as the tile cache holds them
//! ([`super::kafka_tiles`]: each root checked against the committed records), and the
//! projection follows the committed ledger from offset 0 only up to the offset after each
//! partition's last record of the cut (from the same cache), so that nothing appended later
//! is even read.

use super::backend::Backend;
use super::error::ApiError;
use super::reads::Freshness;
use super::ApiState;
use crate::hosts::kafka_source::{KafkaSource, Source};
use std::collections::BTreeMap;
use tl_ledger::checkpoint::SignedCheckpoint;
use tl_projections::source::{Chunk, ChunkEnd};
use tl_projections::{EmbeddedSource, LogSource, LogState, Projector};

/// The ledger (the embedded store or the trial on Kafka), seen only up to the cut.
pub struct Capped {
    inner: Source,
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

    fn offset(&mut self, partition: u32, seq: u64) -> Option<u64> {
        self.inner.offset(partition, seq)
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
    for (p, n) in &sizes {
        let held = published(state, *p)?;
        if *n != 0 && !held.iter().any(|c| c.unverified().size == *n) {
            return Err(ApiError::not_found(format!(
                "partition {p} has no published checkpoint of size {n}"
            )));
        }
    }
    Ok(sizes.into_values().collect())
}

/// Every checkpoint published for partition `p`, oldest first.
fn published(state: &ApiState, p: u32) -> Result<Vec<SignedCheckpoint>, ApiError> {
    match &state.backend {
        Backend::Embedded(dir) => tl_ledger::publish::read_published(dir, p)
            .map_err(|e| ApiError::unavailable(format!("partition {p}: {e}"))),
        Backend::Kafka(_, _, tiles) => tiles.published(p),
    }
}

/// How far the cut `caps` is behind each partition's latest published checkpoint.
pub fn freshness(state: &ApiState, caps: Vec<u64>) -> Result<Freshness, ApiError> {
    let log = (0..caps.len() as u32)
        .map(|p| {
            Ok(published(state, p)?
                .last()
                .map_or(0, |c| c.unverified().size))
        })
        .collect::<Result<Vec<u64>, ApiError>>()?;
    let behind = log
        .iter()
        .zip(&caps)
        .map(|(l, a)| l.saturating_sub(*a))
        .sum();
    Ok(Freshness {
        as_of: caps,
        log,
        behind,
    })
}

/// The ledger read only up to the cut `caps`.
fn capped_source(state: &ApiState, caps: Vec<u64>) -> Result<Capped, ApiError> {
    let fail =
        |e: &dyn std::fmt::Display| ApiError::unavailable(format!("cannot read the log: {e}"));
    let inner = match &state.backend {
        Backend::Embedded(dir) => {
            Source::Embedded(EmbeddedSource::open(dir).map_err(|e| fail(&e))?)
        }
        Backend::Kafka(cfg, _, tiles) => {
            let until = (0u32..)
                .zip(&caps)
                .map(|(p, n)| tiles.end_offset(p, *n))
                .collect::<Result<Vec<i64>, ApiError>>()?;
            let s = KafkaSource::open_until(cfg, until).map_err(|e| fail(&e))?;
            Source::Kafka(Box::new(s))
        }
    };
    Ok(Capped { inner, caps })
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
    let source = capped_source(state, caps)?;
    let mut p = Projector::open(source, state.trial.clone(), state.root, dir.path(), 4096)
        .map_err(|e| fail("cannot open the cut's views", &e))?;
    p.catch_up(LogState::Live)
        .map_err(|e| fail("the cut does not project", &e))?;
    f(&mut p)
}
