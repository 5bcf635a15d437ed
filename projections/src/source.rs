//! Where the verifying reader gets record bytes: one partition at a time, from a position.
//!
//! [`LogSource`] is the whole contract: a partition count, each partition's length (the log
//! end, for lag), and the record bytes of a partition from a sequence number on. The Kafka
//! source (in the `trial-ledger` binary, over `tl_kafka::follow::LedgerFollower`) numbers the
//! committed records of each ledger-topic partition itself, as offsets are not sequence
//! numbers there; the embedded source here reads the segment files without taking the writer
//! lock.

use crate::Error;
use std::path::{Path, PathBuf};
use tl_ledger::embedded::{EmbeddedReader, ScanEnd};

/// How a read ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChunkEnd {
    /// At the end of what is stored now, or at the requested maximum.
    Clean,
    /// At a complete but corrupt frame at `seq` (an embedded store's damage): the reader
    /// reports it once every record before it is verified.
    Corrupt {
        /// Position of the corrupt frame.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
}

/// Record bytes of one partition from a position.
#[derive(Clone, Debug)]
pub struct Chunk {
    /// Records from the requested position on, in order.
    pub records: Vec<Vec<u8>>,
    /// How the read ended.
    pub end: ChunkEnd,
}

/// A log of record bytes in partitions, read from positions (the embedded store, Kafka).
pub trait LogSource {
    /// Number of partitions the log holds.
    fn partition_count(&mut self) -> Result<u32, Error>;
    /// Records stored in `partition` (the log end, as of the last refresh).
    fn len(&mut self, partition: u32) -> Result<u64, Error>;
    /// Up to `max` records of `partition` from `from` on.
    fn read(&mut self, partition: u32, from: u64, max: usize) -> Result<Chunk, Error>;
    /// Refreshes what the source knows of the log (a new poll starts).
    fn refresh(&mut self) -> Result<(), Error>;
    /// Where the record at `seq` of `partition` is stored, when that differs from `seq` (a
    /// Kafka offset): failures name it beside the sequence number.
    fn offset(&mut self, _partition: u32, _seq: u64) -> Option<u64> {
        None
    }
}

/// One partition's scan, kept until the reader has consumed it.
#[derive(Default)]
struct Cached {
    /// Sequence number of `records[0]`.
    base: u64,
    /// Complete, checksum-valid records from `base` on.
    records: Vec<Vec<u8>>,
    /// Length of the partition at the scan (including records before `base`).
    len: u64,
    /// A corrupt frame found by the scan.
    corrupt: Option<(u64, String)>,
    /// The partition's segment files (name, length, modification time) at the scan: an idle
    /// poll of an unchanged partition reads nothing.
    fingerprint: Fingerprint,
}

/// Segment files: name, length, modification time.
type Fingerprint = Vec<(std::ffi::OsString, u64, Option<std::time::SystemTime>)>;

/// The embedded store, read without the writer lock (the writer may be appending: a torn
/// final frame is simply not there yet). A partition is scanned again only once the reader
/// has consumed the previous scan.
pub struct EmbeddedSource {
    /// The ledger folder (`DIR/ledger`).
    dir: PathBuf,
    /// The read-only view of the store.
    reader: EmbeddedReader,
    /// Per partition, the records of the last scan not consumed yet.
    cache: Vec<Cached>,
}

impl EmbeddedSource {
    /// Opens the embedded ledger in `ledger_dir` for reading.
    pub fn open(ledger_dir: &Path) -> Result<Self, Error> {
        let reader = EmbeddedReader::open(ledger_dir).map_err(|e| Error::Source {
            detail: format!("{}: {e}", ledger_dir.display()),
        })?;
        let n = reader.partition_count() as usize;
        Ok(EmbeddedSource {
            dir: ledger_dir.to_path_buf(),
            reader,
            cache: (0..n).map(|_| Cached::default()).collect(),
        })
    }

    /// Scans a partition, keeping the records from `keep_from` on.
    fn scan(&mut self, partition: u32, keep_from: u64) -> Result<(), Error> {
        scan_into(
            &self.reader,
            &self.dir,
            partition,
            keep_from,
            &mut self.cache[partition as usize],
        )
    }
}

/// The segment files of a partition as they are now (the store's layout: `pNNNNN/`).
fn fingerprint(dir: &Path, partition: u32) -> Fingerprint {
    let dir = dir.join(format!("p{partition:05}"));
    let mut v: Fingerprint = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let m = e.metadata().ok()?;
                    Some((e.file_name(), m.len(), m.modified().ok()))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Scans one partition into its cache, keeping the records from `keep_from` on.
fn scan_into(
    reader: &EmbeddedReader,
    dir: &Path,
    partition: u32,
    keep_from: u64,
    c: &mut Cached,
) -> Result<(), Error> {
    let fingerprint = fingerprint(dir, partition);
    let scan = reader.scan(partition).map_err(|e| Error::Source {
        detail: format!("{} partition {partition}: {e}", dir.display()),
    })?;
    let len = scan.records.len() as u64;
    c.corrupt = match scan.end {
        ScanEnd::Corrupt { seq, reason } => Some((seq, reason)),
        ScanEnd::Clean | ScanEnd::TornTail { .. } => None,
    };
    let keep = keep_from.min(len);
    let mut records = scan.records;
    records.drain(..keep as usize);
    c.base = keep;
    c.records = records;
    c.len = len;
    c.fingerprint = fingerprint;
    Ok(())
}

impl LogSource for EmbeddedSource {
    fn partition_count(&mut self) -> Result<u32, Error> {
        Ok(self.reader.partition_count())
    }

    fn len(&mut self, partition: u32) -> Result<u64, Error> {
        self.cache
            .get(partition as usize)
            .map(|c| c.len)
            .ok_or(Error::Source {
                detail: format!("no partition {partition}"),
            })
    }

    fn read(&mut self, partition: u32, from: u64, max: usize) -> Result<Chunk, Error> {
        let Some(c) = self.cache.get(partition as usize) else {
            return Err(Error::Source {
                detail: format!("no partition {partition}"),
            });
        };
        if from < c.base {
            self.scan(partition, from)?;
        }
        let c = &mut self.cache[partition as usize];
        // Drop what the reader has consumed.
        let consumed = from.saturating_sub(c.base).min(c.records.len() as u64);
        c.records.drain(..consumed as usize);
        c.base += consumed;
        let take = c.records.len().min(max);
        let records: Vec<Vec<u8>> = c.records.drain(..take).collect();
        c.base += take as u64;
        let next = from + take as u64;
        let end = match &c.corrupt {
            Some((seq, reason)) if next >= *seq => ChunkEnd::Corrupt {
                seq: *seq,
                reason: reason.clone(),
            },
            _ => ChunkEnd::Clean,
        };
        Ok(Chunk { records, end })
    }

    fn refresh(&mut self) -> Result<(), Error> {
        use rayon::prelude::*;
        // Partitions are scanned in parallel: each is its own files.
        let (reader, dir) = (&self.reader, &self.dir);
        self.cache
            .par_iter_mut()
            .enumerate()
            .try_for_each(|(p, c)| {
                let unchanged = c.len > 0 && c.fingerprint == fingerprint(dir, p as u32);
                if c.records.is_empty() && !unchanged {
                    let from = c.base;
                    scan_into(reader, dir, p as u32, from, c)?;
                }
                Ok(())
            })
    }
}
