//! The embedded backend: an append-only log of opaque records kept in plain
//! files under one folder, for single-node deployments that should not need
//! a database server.
//!
//! Layout under the ledger folder `DIR`:
//!
//! - `meta.json`: format tag and partition count, written once by
//!   [`EmbeddedLog::create`]; its presence is what makes a folder a ledger.
//! - `LOCK`: held by the one writer (see `lock.rs`).
//! - `p00000/`, `p00001/`, ...: one folder per partition, holding segment
//!   files named after the sequence number of their first record
//!   (`00000000000000000000.seg`), each a 16-byte header followed by frames
//!   (see `frame.rs`).
//!
//! The files are the only source of truth: a writer rebuilds its index by
//! scanning them on open, so there is no second structure that could
//! disagree with the data after a crash.
#![warn(missing_docs)]

mod error;
mod frame;
mod lock;
mod repair;
#[cfg(test)]
mod tests;

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::embedded::error::StoreError;
pub use crate::embedded::frame::{
    encode_frame, scan_segment_bytes, ScannedSegment, FRAME_HEADER_LEN, MAX_RECORD_LEN,
    SEGMENT_HEADER_LEN, SEGMENT_MAGIC,
};
pub use crate::embedded::repair::TailRepair;

use crate::embedded::frame::{SegmentEnd, SegmentScan};
use crate::embedded::lock::WriterLock;

/// The value of `format` in `meta.json`; a different value means files this
/// code cannot read safely.
pub const FORMAT: &str = "trial-ledger-embedded/v1";

/// Partition folders are named with five digits, which bounds the count.
pub const MAX_PARTITIONS: u32 = 100_000;

const META_FILE: &str = "meta.json";

/// Tuning that does not change the on-disk format, so it can differ between
/// opens of the same ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Size at which the writer starts a new segment file. Smaller segments
    /// make backups and copies finer-grained; larger ones mean fewer files.
    /// A record bigger than this still gets written, alone in its segment.
    pub segment_bytes: u64,
}

impl Default for StoreOptions {
    /// 64 MiB: large enough that rolling (and its extra directory sync) is
    /// rare, small enough that a segment copies quickly.
    fn default() -> Self {
        StoreOptions {
            segment_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A torn tail: the bytes after the last complete frame of a partition's
/// last segment, left by an interrupted append. [`EmbeddedLog::open_writer`]
/// reports the ones it cut, so the caller can log them: such bytes were
/// never acknowledged (an append returns only after its frames are synced),
/// but an operator may want to know a crash happened mid-write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The partition whose last segment ends in the tail.
    pub partition: u32,
    /// The sequence number the partial record would have had; appending
    /// continues from here.
    pub seq: u64,
    /// How many bytes the tail has.
    pub bytes: u64,
    /// The segment file.
    pub file: PathBuf,
    /// Where the tail starts in `file`: the end of its last complete frame
    /// (0 when not even the segment header is complete).
    pub offset: u64,
}

/// The end of a partition's last segment that is not a complete, valid frame
/// and that an operator may cut ([`TailRepair::cut`]): a torn
/// tail, or a frame whose length runs past the end of the segment although a
/// prefix of it matches its checksum (see [`StoreError::Corrupt`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuspectTail {
    /// Where the tail is and how long it is.
    pub tail: TornTail,
    /// `None` for a torn append; otherwise what was found, for the operator.
    pub damage: Option<String>,
}

/// Everything a read-only scan found in one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionScan {
    /// All complete, checksum-valid records from seq 0, in order, up to
    /// where the scan stopped.
    pub records: Vec<Vec<u8>>,
    /// Why the scan stopped, so a verifier can tell a clean ledger from a
    /// crashed or damaged one.
    pub end: ScanEnd,
}

/// How a partition ends, as seen by [`EmbeddedReader::scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanEnd {
    /// The last segment ends exactly after a complete, valid frame.
    Clean,
    /// The last segment ends part-way through a frame (or through its own
    /// header), and no prefix of the frame's bytes matches its checksum: the
    /// expected result of a crash during an append, harmless because that
    /// append was never acknowledged. The next writer cuts it, unless the
    /// ledger's stored checkpoints show it held a complete record.
    TornTail {
        /// The sequence number the partial record would have had.
        seq: u64,
        /// Bytes after the last complete frame.
        bytes: u64,
    },
    /// Damage that a crash cannot explain: a complete frame with a bad
    /// length or checksum, a frame whose length runs past the end of the
    /// segment although a prefix of it matches its checksum, a bad segment
    /// header, a missing segment, or a short segment that is not the last.
    /// Records from `seq` on are not in `records`.
    Corrupt {
        /// The first sequence number that could not be read.
        seq: u64,
        /// What check failed.
        reason: String,
    },
}

/// The single writer of a ledger. Holds the `LOCK` for its whole lifetime,
/// so while it exists no other writer, in this process or another, can
/// append.
pub struct EmbeddedLog {
    dir: PathBuf,
    opts: StoreOptions,
    partitions: Vec<Partition>,
    // Set when a write or sync failed part-way: from then on the index may
    // not match the files, and only a rescan (reopening) can tell.
    poisoned: bool,
    // Declared last so it is dropped last, after the segment handles.
    _lock: WriterLock,
}

impl fmt::Debug for EmbeddedLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The frame index can hold millions of offsets; show sizes only.
        let lens: Vec<u64> = self.partitions.iter().map(Partition::len).collect();
        f.debug_struct("EmbeddedLog")
            .field("dir", &self.dir)
            .field("opts", &self.opts)
            .field("lens", &lens)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl EmbeddedLog {
    /// Initialises a new ledger in `dir` (created if missing) with
    /// `partitions` empty partitions, and returns its writer.
    ///
    /// Refuses with [`StoreError::AlreadyExists`] if `dir` already holds a
    /// ledger, because re-initialising would orphan or mix up its records.
    /// `meta.json` is written last, so a crash part-way leaves a folder that
    /// is not yet a ledger and `create` can simply be run again.
    pub fn create(
        dir: &Path,
        partitions: u32,
        opts: StoreOptions,
    ) -> Result<EmbeddedLog, StoreError> {
        if partitions == 0 || partitions > MAX_PARTITIONS {
            return Err(StoreError::InvalidConfig {
                reason: format!(
                    "a ledger needs 1 to {MAX_PARTITIONS} partitions, not {partitions}"
                ),
            });
        }
        let meta_path = dir.join(META_FILE);
        // Checked before touching anything, so creating over an existing
        // ledger does not even take its lock.
        if exists(&meta_path)? {
            return Err(StoreError::AlreadyExists {
                path: dir.to_path_buf(),
            });
        }
        if !exists(dir)? {
            fs::create_dir_all(dir).map_err(StoreError::io(dir))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fsync_dir(parent)?;
            }
        }
        let lock = WriterLock::acquire(dir)?;
        // Again under the lock: another `create` may have won the race.
        if exists(&meta_path)? {
            return Err(StoreError::AlreadyExists {
                path: dir.to_path_buf(),
            });
        }

        let mut parts = Vec::with_capacity(partitions as usize);
        for partition in 0..partitions {
            let pdir = partition_dir(dir, partition);
            match fs::create_dir(&pdir) {
                Ok(()) => {}
                // Left by an earlier `create` that crashed before writing
                // meta.json: reusable only if nothing was put in it.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let mut entries = fs::read_dir(&pdir).map_err(StoreError::io(&pdir))?;
                    if entries.next().is_some() {
                        return Err(StoreError::AlreadyExists { path: pdir });
                    }
                }
                Err(source) => return Err(StoreError::Io { path: pdir, source }),
            }
            parts.push(Partition::empty(partition, pdir));
        }
        // Makes the partition folders' entries durable before meta.json can
        // point at them.
        fsync_dir(dir)?;
        write_meta(dir, partitions)?;
        tracing::info!(dir = %dir.display(), partitions, "created embedded ledger");
        Ok(EmbeddedLog {
            dir: dir.to_path_buf(),
            opts,
            partitions: parts,
            poisoned: false,
            _lock: lock,
        })
    }

    /// Opens an existing ledger for appending.
    ///
    /// Takes the lock, then scans every partition to rebuild the index. A
    /// torn tail, the trace of a crash during an unacknowledged append, is
    /// cut (the segment is truncated back to its last complete frame and
    /// synced) and returned, so appending resumes at the right sequence
    /// number. Anything else that fails its checks is
    /// [`StoreError::Corrupt`], and then nothing at all is modified: damage
    /// needs a human, and cutting it would destroy the evidence.
    ///
    /// This store knows nothing of checkpoints; a caller that can tell a
    /// torn tail from a published record uses
    /// [`EmbeddedLog::open_writer_checked`].
    pub fn open_writer(
        dir: &Path,
        opts: StoreOptions,
    ) -> Result<(EmbeddedLog, Vec<TornTail>), StoreError> {
        let (log, torn, ()) = Self::open_writer_checked(dir, opts, |_, _| Ok(()))?;
        Ok((log, torn))
    }

    /// [`EmbeddedLog::open_writer`], with a check that runs after every
    /// partition was scanned and before any torn tail is cut.
    ///
    /// `check` gets the log, which reads the complete records only (it
    /// cannot append), and the torn tails that would be cut. If it fails,
    /// its error is returned and no byte was changed; otherwise the tails are
    /// cut and its result is returned with the log.
    pub fn open_writer_checked<T, E: From<StoreError>>(
        dir: &Path,
        opts: StoreOptions,
        check: impl FnOnce(&EmbeddedLog, &[TornTail]) -> Result<T, E>,
    ) -> Result<(EmbeddedLog, Vec<TornTail>, T), E> {
        let meta = read_meta(dir)?;
        let lock = WriterLock::acquire(dir)?;

        // Every partition is checked before any is cut, so a corrupt ledger
        // is left exactly as found.
        let mut torn = Vec::new();
        let mut partitions = Vec::with_capacity(meta.partitions as usize);
        for partition in 0..meta.partitions {
            let pdir = partition_dir(dir, partition);
            let scan = scan_partition(&pdir, |_| {})?;
            if let Some(refusal) = scan.end.refusal(partition) {
                return Err(refusal.into());
            }
            torn.extend(scan.end.tail(partition).map(|t| t.tail));
            partitions.push(Partition::open(partition, pdir, scan.segments)?);
        }
        let log = EmbeddedLog {
            dir: dir.to_path_buf(),
            opts,
            partitions,
            poisoned: false,
            _lock: lock,
        };
        let checked = check(&log, &torn)?;

        for tail in &torn {
            cut_tail(&partition_dir(dir, tail.partition), &tail.file, tail.offset)?;
            tracing::warn!(
                partition = tail.partition,
                seq = tail.seq,
                bytes = tail.bytes,
                file = %tail.file.display(),
                "cut torn tail left by an interrupted append"
            );
        }
        tracing::info!(
            dir = %dir.display(),
            partitions = meta.partitions,
            torn_tails = torn.len(),
            "opened embedded ledger for writing"
        );
        Ok((log, torn, checked))
    }

    /// How many partitions the ledger was created with.
    pub fn partition_count(&self) -> u32 {
        // Bounded by MAX_PARTITIONS when created or opened.
        self.partitions.len() as u32
    }

    /// Number of records in `partition`, which is also the sequence number
    /// the next append will get. A partition the ledger does not have
    /// counts as empty; appending to it is what reports the mistake.
    pub fn len(&self, partition: u32) -> u64 {
        self.partitions
            .get(partition as usize)
            .map_or(0, Partition::len)
    }

    /// Appends `records` to `partition` in order and returns the sequence
    /// number of the first (the current length if `records` is empty).
    ///
    /// Returns only after the frames are synced to disk: an acknowledged
    /// append must survive power loss, not just a crash of this process
    /// (for which reaching the page cache would be enough), because callers
    /// tell the outside world that the event is recorded.
    ///
    /// The batch is checked first, so an invalid record means nothing is
    /// written. If writing or syncing fails, a prefix of the batch may be
    /// stored; [`len`](Self::len) shows how much, and the writer refuses
    /// further appends ([`StoreError::Poisoned`]) until reopened.
    pub fn append(&mut self, partition: u32, records: &[Vec<u8>]) -> Result<u64, StoreError> {
        let index = self.index(partition)?;
        self.check_poisoned()?;
        validate_records(records)?;
        let segment_bytes = self.opts.segment_bytes;
        let part = &mut self.partitions[index];
        let first = part.len();
        if let Err(e) = part.append(records, segment_bytes) {
            self.poison(partition, &e);
            return Err(e);
        }
        Ok(first)
    }

    /// Appends to several partitions at once, each like [`append`](Self::append), each
    /// partition's batch written in one go, partition after partition, then the partitions
    /// synced in parallel, one thread each: their fsyncs overlap instead of queueing, so a
    /// batch spread over many partitions costs about one fsync.
    ///
    /// Every batch is checked first (partition, record sizes, one batch per partition), so
    /// an invalid one means nothing is written. If any write or sync fails, the partitions
    /// may each hold a prefix of their batch, and the writer refuses further appends
    /// ([`StoreError::Poisoned`]) until reopened. Records of one partition that depend on
    /// another's records of the same batch need [`append_ordered`](Self::append_ordered).
    pub fn append_partitions(&mut self, batches: &[(u32, &[Vec<u8>])]) -> Result<(), StoreError> {
        let order: Vec<u32> = batches
            .iter()
            .flat_map(|(p, records)| std::iter::repeat_n(*p, records.len()))
            .collect();
        self.append_ordered(batches, &order)
    }

    /// [`append_partitions`](Self::append_partitions) with the records written in a given
    /// order across partitions: `order` names, for each record in the order it was sequenced,
    /// its partition (each partition's records keep their order within their batch).
    ///
    /// Why: a record may depend on records of other partitions sequenced before it in the same
    /// batch (its registry position counts partition 0's records; its citations name records
    /// anywhere). The writes reach the operating system in sequencing order, one write per
    /// run of consecutive records of one partition, and only then are the partitions synced in
    /// parallel. So a process killed at any point leaves in the files a prefix of the batch
    /// in sequencing order, never a record without the records it depends on; a receipt is
    /// handed out only after every sync, so none of an interrupted batch was acknowledged.
    /// (A power loss mid-batch may persist one file's writes and not another's: the syncs of
    /// different files are not ordered.)
    pub fn append_ordered(
        &mut self,
        batches: &[(u32, &[Vec<u8>])],
        order: &[u32],
    ) -> Result<(), StoreError> {
        self.check_poisoned()?;
        let mut by_index: Vec<Option<&[Vec<u8>]>> = vec![None; self.partitions.len()];
        for (partition, records) in batches {
            let index = self.index(*partition)?;
            validate_records(records)?;
            if by_index[index].replace(records).is_some() {
                return Err(StoreError::DuplicateBatch {
                    partition: *partition,
                });
            }
        }
        let runs = write_runs(&by_index, order, |p| self.index(p).ok())?;
        let segment_bytes = self.opts.segment_bytes;
        let mut next = vec![0usize; self.partitions.len()];
        for (index, count) in runs {
            let records = by_index[index].unwrap_or_default();
            let run = &records[next[index]..next[index] + count];
            next[index] += count;
            let part = &mut self.partitions[index];
            if let Err(e) = part.write(run, segment_bytes, SyncMode::Later) {
                let id = part.id;
                self.poison(id, &e);
                return Err(e);
            }
        }
        self.sync_partitions(&next)
    }

    /// Syncs, in parallel, every partition written to (`written[i]` > 0).
    fn sync_partitions(&mut self, written: &[usize]) -> Result<(), StoreError> {
        let failures: Vec<(u32, StoreError)> = std::thread::scope(|s| {
            let running: Vec<_> = self
                .partitions
                .iter_mut()
                .zip(written)
                .filter(|(_, n)| **n > 0)
                .map(|(part, _)| {
                    let id = part.id;
                    (id, s.spawn(move || part.sync()))
                })
                .collect();
            running
                .into_iter()
                // A panic in a syncing thread is a bug: pass it on as the caller's own.
                .filter_map(|(id, t)| match t.join() {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some((id, e)),
                    Err(panic) => std::panic::resume_unwind(panic),
                })
                .collect()
        });
        match failures.into_iter().next() {
            None => Ok(()),
            Some((partition, e)) => {
                self.poison(partition, &e);
                Err(e)
            }
        }
    }

    /// Reads up to `max` records of `partition` starting at `from`. A start
    /// at or past the end gives an empty result, so a follower can poll
    /// with the next sequence number it wants.
    ///
    /// Reads come from disk through the in-memory frame index, and every
    /// frame's checksum is checked again: damage that happened after the
    /// writer opened is reported as [`StoreError::Corrupt`], not returned
    /// as data.
    pub fn read(&self, partition: u32, from: u64, max: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        let index = self.index(partition)?;
        self.partitions[index].read(from, max)
    }

    /// The ledger folder, as given to `create` or `open_writer`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Replaces all of `partition` with `records`, framed with valid
    /// checksums.
    ///
    /// For tests only, and compiled only with the `tamper` feature (which
    /// only the test crates enable): tamper tests need records that get
    /// past the checksum so the layers above (signatures, hash chains) are
    /// what catches the change. Taking `&mut self` means the lock is held. The new segments are written and synced in a staging folder
    /// and then swapped in with two renames; a crash between those renames
    /// leaves the partition folder missing (reported as corrupt), which is
    /// acceptable for a tool that is not used on live ledgers.
    #[cfg(any(test, feature = "tamper"))]
    pub fn rewrite_partition(
        &mut self,
        partition: u32,
        records: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        let index = self.index(partition)?;
        self.check_poisoned()?;
        validate_records(records)?;

        let live = partition_dir(&self.dir, partition);
        let staging = self.dir.join(format!("p{partition:05}.rewrite"));
        let retired = self.dir.join(format!("p{partition:05}.old"));
        remove_dir_if_present(&staging)?;
        remove_dir_if_present(&retired)?;
        fs::create_dir(&staging).map_err(StoreError::io(&staging))?;
        let mut fresh = Partition::empty(partition, staging.clone());
        if let Err(e) = fresh.append(records, self.opts.segment_bytes) {
            // Nothing live was touched yet; the staging folder is just litter.
            drop(fresh);
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }

        // From the first rename on, the live folder is changing; if this
        // fails part-way the index no longer describes the disk.
        let swap = fs::rename(&live, &retired)
            .map_err(StoreError::io(&live))
            .and_then(|()| fs::rename(&staging, &live).map_err(StoreError::io(&staging)))
            .and_then(|()| fsync_dir(&self.dir));
        if let Err(e) = swap {
            self.poison(partition, &e);
            return Err(e);
        }
        // Open handles follow the renamed folder, so only the path changes.
        fresh.dir = live;
        self.partitions[index] = fresh;
        if let Err(e) = fs::remove_dir_all(&retired) {
            tracing::warn!(path = %retired.display(), error = %e, "could not remove the replaced partition folder");
        }
        Ok(())
    }

    fn index(&self, partition: u32) -> Result<usize, StoreError> {
        let index = partition as usize;
        if index < self.partitions.len() {
            Ok(index)
        } else {
            Err(StoreError::NoSuchPartition {
                partition,
                count: self.partition_count(),
            })
        }
    }

    fn check_poisoned(&self) -> Result<(), StoreError> {
        if self.poisoned {
            Err(StoreError::Poisoned {
                path: self.dir.clone(),
            })
        } else {
            Ok(())
        }
    }

    fn poison(&mut self, partition: u32, cause: &StoreError) {
        tracing::error!(
            dir = %self.dir.display(),
            partition,
            error = %cause,
            "write failed part-way; the writer refuses further writes until reopened"
        );
        self.poisoned = true;
    }
}

/// A read-only view for verification. Takes no lock and never modifies
/// anything, so it can inspect a ledger while its writer is running, or a
/// copy on read-only media, without risk to the evidence.
#[derive(Debug, Clone)]
pub struct EmbeddedReader {
    dir: PathBuf,
    partitions: u32,
}

impl EmbeddedReader {
    /// Opens the ledger in `dir`, reading only `meta.json`.
    pub fn open(dir: &Path) -> Result<EmbeddedReader, StoreError> {
        let meta = read_meta(dir)?;
        Ok(EmbeddedReader {
            dir: dir.to_path_buf(),
            partitions: meta.partitions,
        })
    }

    /// How many partitions the ledger was created with.
    pub fn partition_count(&self) -> u32 {
        self.partitions
    }

    /// Scans one partition: all complete, checksum-valid records in order,
    /// plus how the partition ends.
    ///
    /// Damage in the data is reported in [`PartitionScan::end`], not as an
    /// error, so a verifier still gets the intact prefix; `Err` means the
    /// files could not be read at all. While a writer is appending, the
    /// scan may end in a [`ScanEnd::TornTail`] for the frame being written.
    pub fn scan(&self, partition: u32) -> Result<PartitionScan, StoreError> {
        if partition >= self.partitions {
            return Err(StoreError::NoSuchPartition {
                partition,
                count: self.partitions,
            });
        }
        let mut records = Vec::new();
        let scan = scan_partition(&partition_dir(&self.dir, partition), |payload| {
            records.push(payload.to_vec());
        })?;
        let end = match scan.end {
            PartitionEnd::Clean => ScanEnd::Clean,
            PartitionEnd::Tail {
                seq,
                bytes,
                damage: None,
                ..
            } => ScanEnd::TornTail { seq, bytes },
            PartitionEnd::Tail {
                seq,
                damage: Some(damage),
                file,
                offset,
                ..
            } => ScanEnd::Corrupt {
                seq,
                reason: tail_damage(&file, offset, &damage),
            },
            PartitionEnd::Corrupt { seq, reason } => ScanEnd::Corrupt { seq, reason },
        };
        Ok(PartitionScan { records, end })
    }

    /// Scans one partition from where an earlier call left off: the complete, checksum-valid
    /// records appended since, in order. `cursor` starts at [`ScanCursor::default`] (seq 0)
    /// and moves past what is returned, so a follower that polls reads each record once
    /// instead of the whole partition on every poll.
    ///
    /// A frame still being written (a torn tail of the last segment) is left for a later
    /// call; damage is reported in [`PartitionScan::end`] as [`EmbeddedReader::scan`] reports
    /// it, with the records before it.
    pub fn scan_from(
        &self,
        partition: u32,
        cursor: &mut ScanCursor,
    ) -> Result<PartitionScan, StoreError> {
        if partition >= self.partitions {
            return Err(StoreError::NoSuchPartition {
                partition,
                count: self.partitions,
            });
        }
        let pdir = partition_dir(&self.dir, partition);
        let mut records = Vec::new();
        let files = list_segments(&pdir)?.unwrap_or_default();
        let count = files.len();
        for (i, (base, path)) in files.into_iter().enumerate() {
            if base < cursor.segment_base || (base > cursor.segment_base && base != cursor.next_seq)
            {
                if base > cursor.segment_base {
                    let reason = format!(
                        "segment {} does not follow on: expected one starting at seq {}",
                        frame::segment_file_name(base),
                        cursor.next_seq
                    );
                    let end = ScanEnd::Corrupt {
                        seq: cursor.next_seq,
                        reason,
                    };
                    return Ok(PartitionScan { records, end });
                }
                continue;
            }
            let mut file = File::open(&path).map_err(StoreError::io(&path))?;
            // Within the segment the cursor is in, continue after its last complete frame: the
            // frames that follow are scanned as if they began a segment at the next seq.
            let skip = if base == cursor.segment_base {
                cursor.offset
            } else {
                0
            };
            let header_len = if skip > 0 { SEGMENT_HEADER_LEN } else { 0 };
            file.seek(SeekFrom::Start(skip))
                .map_err(StoreError::io(&path))?;
            let synthetic = frame::segment_header(cursor.next_seq);
            let input = io::Cursor::new(&synthetic[..header_len as usize])
                .chain(BufReader::with_capacity(1 << 20, file));
            let scan = frame::scan_segment(input, cursor.next_seq, |r| records.push(r.to_vec()))
                .map_err(StoreError::io(&path))?;
            let read = scan.valid_len.saturating_sub(header_len);
            if scan.valid_len >= SEGMENT_HEADER_LEN {
                cursor.segment_base = base;
                cursor.offset = skip + read;
                cursor.next_seq += scan.offsets.len() as u64;
            }
            let last = i + 1 == count;
            match scan.end {
                SegmentEnd::Clean => {}
                // A frame still being written: read it once it is complete.
                SegmentEnd::Torn { .. } if last => break,
                SegmentEnd::Torn { bytes } => {
                    let reason = format!(
                        "segment {} ends part-way through a frame ({bytes} stray bytes) but is not the last segment",
                        frame::segment_file_name(base)
                    );
                    let end = ScanEnd::Corrupt {
                        seq: cursor.next_seq,
                        reason,
                    };
                    return Ok(PartitionScan { records, end });
                }
                SegmentEnd::Corrupt { seq, reason }
                | SegmentEnd::DamagedLength { seq, reason, .. } => {
                    let reason = format!("{}: {reason}", frame::segment_file_name(base));
                    return Ok(PartitionScan {
                        records,
                        end: ScanEnd::Corrupt { seq, reason },
                    });
                }
            }
        }
        Ok(PartitionScan {
            records,
            end: ScanEnd::Clean,
        })
    }

    /// The bytes of a partition's segment files: an append-only log only grows, so a follower
    /// that polls can skip [`EmbeddedReader::scan`] while this has not changed.
    pub fn stored_bytes(&self, partition: u32) -> Result<u64, StoreError> {
        if partition >= self.partitions {
            return Err(StoreError::NoSuchPartition {
                partition,
                count: self.partitions,
            });
        }
        let mut total = 0;
        for (_, path) in list_segments(&partition_dir(&self.dir, partition))?.unwrap_or_default() {
            total += fs::metadata(&path).map_err(StoreError::io(&path))?.len();
        }
        Ok(total)
    }
}

/// Where [`EmbeddedReader::scan_from`] continues in a partition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanCursor {
    /// The base seq of the segment it is in.
    segment_base: u64,
    /// Bytes of that segment read: its header and complete frames (0 before the header).
    offset: u64,
    /// The seq of the next record.
    next_seq: u64,
}

impl ScanCursor {
    /// The seq of the next record the cursor will read: the records read so far.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

/// Index of one segment file: where each of its frames starts.
#[derive(Debug)]
struct Segment {
    base: u64,
    offsets: Vec<u64>,
    /// Bytes of header and complete frames: where the next frame goes.
    size: u64,
}

impl Segment {
    fn end_seq(&self) -> u64 {
        self.base + self.offsets.len() as u64
    }

    fn path(&self, pdir: &Path) -> PathBuf {
        pdir.join(frame::segment_file_name(self.base))
    }

    fn has_room(&self, payload_len: usize, segment_bytes: u64) -> bool {
        // A record too big for any segment still has to go somewhere: into
        // one of its own.
        self.offsets.is_empty() || self.size + frame::frame_len(payload_len) <= segment_bytes
    }

    /// Appends the payloads of records `from..end` (clamped to this
    /// segment) to `out`, rechecking each frame.
    fn read_into(
        &self,
        pdir: &Path,
        partition: u32,
        from: u64,
        end: u64,
        out: &mut Vec<Vec<u8>>,
    ) -> Result<(), StoreError> {
        let lo = from.saturating_sub(self.base) as usize;
        let hi = (end.min(self.end_seq()).saturating_sub(self.base)) as usize;
        let Some(&start) = self.offsets.get(lo) else {
            return Ok(());
        };
        if lo >= hi {
            return Ok(());
        }
        let frame_end = |i: usize| self.offsets.get(i).copied().unwrap_or(self.size);
        let stop = frame_end(hi);
        let damaged = |i: usize, reason: String| StoreError::Corrupt {
            partition,
            seq: self.base + i as u64,
            reason: format!("{}: {reason}", frame::segment_file_name(self.base)),
        };

        let path = self.path(pdir);
        let mut file = File::open(&path).map_err(StoreError::io(&path))?;
        file.seek(SeekFrom::Start(start))
            .map_err(StoreError::io(&path))?;
        let mut buf = vec![0; (stop - start) as usize];
        match file.read_exact(&mut buf) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(damaged(
                    lo,
                    "file is shorter than when it was indexed (truncated behind the writer's back)"
                        .to_string(),
                ));
            }
            Err(source) => return Err(StoreError::Io { path, source }),
        }
        for i in lo..hi {
            let range = (frame_end(i) - start) as usize..(frame_end(i + 1) - start) as usize;
            let frame = buf
                .get(range)
                .ok_or_else(|| damaged(i, "frame index out of range".to_string()))?;
            let payload = frame::decode_exact(frame).map_err(|reason| damaged(i, reason))?;
            out.push(payload.to_vec());
        }
        Ok(())
    }
}

/// The segment being appended to, with its open handle.
#[derive(Debug)]
struct Active {
    seg: Segment,
    file: File,
}

impl Active {
    /// Writes the first of `records` (the caller checked it has room) and
    /// as many more as fit, in one write and one sync, then indexes them;
    /// returns how many were written, always at least one.
    fn write_run(
        &mut self,
        pdir: &Path,
        records: &[Vec<u8>],
        segment_bytes: u64,
        mode: SyncMode,
    ) -> Result<usize, StoreError> {
        let mut buf = Vec::new();
        let mut offsets = Vec::new();
        let mut size = self.seg.size;
        for record in records {
            let len = frame::frame_len(record.len());
            if !offsets.is_empty() && size + len > segment_bytes {
                break;
            }
            offsets.push(size);
            frame::encode_frame_into(&mut buf, record);
            size += len;
        }
        let path = self.seg.path(pdir);
        let io = StoreError::io(&path);
        // Seeking to the indexed end (rather than trusting the cursor) keeps
        // every write at the position the index says it is at.
        self.file
            .seek(SeekFrom::Start(self.seg.size))
            .and_then(|_| self.file.write_all(&buf))
            // Durability point of `append`: an acknowledged record must
            // survive power loss, and the page cache alone does not. Data
            // sync suffices: it also persists the grown file size.
            .and_then(|()| match mode {
                SyncMode::Now => self.file.sync_data(),
                SyncMode::Later => Ok(()),
            })
            .map_err(io)?;
        let written = offsets.len();
        self.seg.offsets.extend(offsets);
        self.seg.size = size;
        Ok(written)
    }

    /// Syncs what was written to this segment (data and grown size).
    fn sync(&self, pdir: &Path) -> Result<(), StoreError> {
        self.file
            .sync_data()
            .map_err(StoreError::io(&self.seg.path(pdir)))
    }
}

/// Whether a write is synced before it returns, or later by its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SyncMode {
    /// Synced before the write returns: `append`'s durability point.
    Now,
    /// Left for the caller to sync (`append_ordered` syncs every partition after all its
    /// writes); a segment that fills up is still synced before it is closed.
    Later,
}

/// Splits a write order (the partition of each record, in sequencing order) into runs of
/// consecutive records of one partition: (partition index, record count). Checks that the
/// order names exactly the batches' records.
fn write_runs(
    by_index: &[Option<&[Vec<u8>]>],
    order: &[u32],
    index_of: impl Fn(u32) -> Option<usize>,
) -> Result<Vec<(usize, usize)>, StoreError> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut named = vec![0usize; by_index.len()];
    for &p in order {
        let index = index_of(p).ok_or_else(|| StoreError::BatchOrder {
            detail: format!("partition {p} does not exist"),
        })?;
        named[index] += 1;
        match runs.last_mut() {
            Some((last, count)) if *last == index => *count += 1,
            _ => runs.push((index, 1)),
        }
    }
    for (index, (batch, n)) in by_index.iter().zip(&named).enumerate() {
        let len = batch.map_or(0, <[Vec<u8>]>::len);
        if len != *n {
            return Err(StoreError::BatchOrder {
                detail: format!("{n} records named for partition index {index}, {len} given"),
            });
        }
    }
    Ok(runs)
}

/// One partition's folder and index, as kept by the writer.
#[derive(Debug)]
struct Partition {
    id: u32,
    dir: PathBuf,
    /// Full segments, in order; never written again.
    sealed: Vec<Segment>,
    /// The last segment, if the partition has any.
    active: Option<Active>,
}

impl Partition {
    fn empty(id: u32, dir: PathBuf) -> Partition {
        Partition {
            id,
            dir,
            sealed: Vec::new(),
            active: None,
        }
    }

    /// Builds the writer's view from a scan, opening the last segment for
    /// appending.
    fn open(id: u32, dir: PathBuf, mut segments: Vec<Segment>) -> Result<Partition, StoreError> {
        let active = match segments.pop() {
            Some(seg) => {
                let path = seg.path(&dir);
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(StoreError::io(&path))?;
                Some(Active { seg, file })
            }
            None => None,
        };
        Ok(Partition {
            id,
            dir,
            sealed: segments,
            active,
        })
    }

    fn len(&self) -> u64 {
        match (&self.active, self.sealed.last()) {
            (Some(active), _) => active.seg.end_seq(),
            (None, Some(last)) => last.end_seq(),
            (None, None) => 0,
        }
    }

    fn append(&mut self, records: &[Vec<u8>], segment_bytes: u64) -> Result<(), StoreError> {
        self.write(records, segment_bytes, SyncMode::Now)
    }

    /// Writes `records` at the end, starting new segments as they fill; `mode` says whether
    /// each write is synced before this returns.
    fn write(
        &mut self,
        records: &[Vec<u8>],
        segment_bytes: u64,
        mode: SyncMode,
    ) -> Result<(), StoreError> {
        let mut rest = records;
        while let Some(first) = rest.first() {
            let mut active = match self.active.take() {
                Some(active) if active.seg.has_room(first.len(), segment_bytes) => active,
                full => {
                    if let (Some(full), SyncMode::Later) = (&full, mode) {
                        // Its file handle closes here: what was written to it unsynced
                        // must be synced now, or no later sync reaches it.
                        full.sync(&self.dir)?;
                    }
                    self.sealed.extend(full.map(|active| active.seg));
                    self.start_segment()?
                }
            };
            let written = active.write_run(&self.dir, rest, segment_bytes, mode);
            self.active = Some(active);
            rest = &rest[written?..];
        }
        Ok(())
    }

    /// Syncs the active segment (after writes made with [`SyncMode::Later`]).
    fn sync(&mut self) -> Result<(), StoreError> {
        match &self.active {
            Some(active) => active.sync(&self.dir),
            None => Ok(()),
        }
    }

    /// Creates the next segment file with its header, durably.
    fn start_segment(&self) -> Result<Active, StoreError> {
        let base = self.len();
        let seg = Segment {
            base,
            offsets: Vec::new(),
            size: SEGMENT_HEADER_LEN,
        };
        let path = seg.path(&self.dir);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(StoreError::io(&path))?;
        file.write_all(&frame::segment_header(base))
            .and_then(|()| file.sync_data())
            .map_err(StoreError::io(&path))?;
        // A synced file is not enough: after power loss its directory entry
        // could be missing, taking every record in it along.
        fsync_dir(&self.dir)?;
        Ok(Active { seg, file })
    }

    fn read(&self, from: u64, max: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        let end = from
            .saturating_add(u64::try_from(max).unwrap_or(u64::MAX))
            .min(self.len());
        let mut out = Vec::new();
        if from >= end {
            return Ok(out);
        }
        let first = self.sealed.partition_point(|seg| seg.end_seq() <= from);
        let segments = self.sealed[first..]
            .iter()
            .chain(self.active.as_ref().map(|active| &active.seg));
        for seg in segments {
            if seg.base >= end {
                break;
            }
            seg.read_into(&self.dir, self.id, from, end, &mut out)?;
        }
        Ok(out)
    }
}

/// What a scan of one partition folder found.
struct ScannedPartition {
    /// Index of every segment with at least a complete header, in order.
    segments: Vec<Segment>,
    end: PartitionEnd,
}

enum PartitionEnd {
    Clean,
    /// The last segment ends in `bytes` bytes that are not a complete, valid
    /// frame: a torn append (`damage` is `None`), or a frame whose length runs
    /// past the end although a prefix of it matches its checksum.
    Tail {
        seq: u64,
        bytes: u64,
        /// The segment to cut and where to cut it; a cut below the header
        /// length removes the file.
        file: PathBuf,
        offset: u64,
        damage: Option<String>,
    },
    Corrupt {
        seq: u64,
        reason: String,
    },
}

impl PartitionEnd {
    /// The tail, if the partition ends in one, with what was found in it.
    fn tail(&self, partition: u32) -> Option<SuspectTail> {
        let PartitionEnd::Tail {
            seq,
            bytes,
            file,
            offset,
            damage,
        } = self
        else {
            return None;
        };
        let tail = TornTail {
            partition,
            seq: *seq,
            bytes: *bytes,
            file: file.clone(),
            offset: *offset,
        };
        Some(SuspectTail {
            tail,
            damage: damage.clone(),
        })
    }

    /// Why a writer may not open this partition: damage, or a tail that a
    /// crash does not explain. `None` when it may (clean, or a torn tail).
    fn refusal(&self, partition: u32) -> Option<StoreError> {
        let (seq, reason) = match self {
            PartitionEnd::Clean | PartitionEnd::Tail { damage: None, .. } => return None,
            PartitionEnd::Tail {
                seq,
                file,
                offset,
                damage: Some(damage),
                ..
            } => (
                *seq,
                format!(
                    "{} (if no valid frames follow and the last append is known to have been \
                     interrupted, `trial-ledger repair --cut-torn-tail` cuts it, keeping a copy \
                     of the bytes)",
                    tail_damage(file, *offset, damage)
                ),
            ),
            PartitionEnd::Corrupt { seq, reason } => (*seq, reason.clone()),
        };
        Some(StoreError::Corrupt {
            partition,
            seq,
            reason,
        })
    }
}

/// Names what was found at the end of a segment: file, offset and finding.
fn tail_damage(file: &Path, offset: u64, damage: &str) -> String {
    let name = file.file_name().unwrap_or(file.as_os_str());
    format!(
        "{} at byte offset {offset}: {damage}",
        name.to_string_lossy()
    )
}

/// Scans a partition folder from seq 0, calling `on_record` for each valid
/// payload, and stops at the first problem. Only trouble reading the files
/// is an `Err`; what the bytes say is in the result.
fn scan_partition(
    pdir: &Path,
    mut on_record: impl FnMut(&[u8]),
) -> Result<ScannedPartition, StoreError> {
    let mut segments = Vec::new();
    let Some(files) = list_segments(pdir)? else {
        return Ok(ScannedPartition {
            segments,
            end: PartitionEnd::Corrupt {
                seq: 0,
                reason: format!("partition folder {} is missing", pdir.display()),
            },
        });
    };
    let count = files.len();
    let mut next = 0u64;
    for (i, (base, path)) in files.into_iter().enumerate() {
        let name = frame::segment_file_name(base);
        if base != next {
            // A gap means a segment was removed; an overlap, that one was
            // added. Either way the sequence is no longer the one written.
            let end = PartitionEnd::Corrupt {
                seq: next,
                reason: format!(
                    "segment {name} does not follow on: expected one starting at seq {next}"
                ),
            };
            return Ok(ScannedPartition { segments, end });
        }
        let file = File::open(&path).map_err(StoreError::io(&path))?;
        let SegmentScan {
            offsets,
            valid_len,
            end,
        } = frame::scan_segment(
            BufReader::with_capacity(1 << 20, file),
            base,
            &mut on_record,
        )
        .map_err(StoreError::io(&path))?;
        let stop_seq = base + offsets.len() as u64;
        if valid_len >= SEGMENT_HEADER_LEN {
            segments.push(Segment {
                base,
                offsets,
                size: valid_len,
            });
        }
        let end = match end {
            SegmentEnd::Clean => {
                next = stop_seq;
                continue;
            }
            // Only the segment being appended to can be cut short by a
            // crash; earlier ones were complete before the next was begun.
            SegmentEnd::Torn { bytes } if i + 1 == count => PartitionEnd::Tail {
                seq: stop_seq,
                bytes,
                file: path,
                offset: valid_len,
                damage: None,
            },
            SegmentEnd::DamagedLength { bytes, reason, .. } if i + 1 == count => {
                PartitionEnd::Tail {
                    seq: stop_seq,
                    bytes,
                    file: path,
                    offset: valid_len,
                    damage: Some(reason),
                }
            }
            SegmentEnd::Torn { bytes } => PartitionEnd::Corrupt {
                seq: stop_seq,
                reason: format!(
                    "segment {name} ends part-way through a frame ({bytes} stray bytes) but is not the last segment"
                ),
            },
            SegmentEnd::Corrupt { seq, reason } | SegmentEnd::DamagedLength { seq, reason, .. } => PartitionEnd::Corrupt {
                seq,
                reason: format!("{name}: {reason}"),
            },
        };
        return Ok(ScannedPartition { segments, end });
    }
    Ok(ScannedPartition {
        segments,
        end: PartitionEnd::Clean,
    })
}

/// Segment files of a partition sorted by base, or `None` if the folder is
/// missing. Other files are ignored (with a warning) rather than guessed at.
fn list_segments(pdir: &Path) -> Result<Option<Vec<(u64, PathBuf)>>, StoreError> {
    let entries = match fs::read_dir(pdir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StoreError::Io {
                path: pdir.to_path_buf(),
                source,
            })
        }
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(StoreError::io(pdir))?;
        let name = entry.file_name();
        match name.to_str().and_then(frame::parse_segment_file_name) {
            Some(base) => files.push((base, entry.path())),
            None => {
                tracing::warn!(path = %entry.path().display(), "ignoring a file that is not a segment")
            }
        }
    }
    files.sort_unstable_by_key(|(base, _)| *base);
    Ok(Some(files))
}

/// Removes a torn tail found by a scan, durably, so the next append starts
/// right after the last complete frame.
fn cut_tail(pdir: &Path, file: &Path, valid_len: u64) -> Result<(), StoreError> {
    if valid_len < SEGMENT_HEADER_LEN {
        // Not even the header made it: the segment holds nothing, and
        // removing it lets the next append create it afresh.
        fs::remove_file(file).map_err(StoreError::io(file))?;
        return fsync_dir(pdir);
    }
    let handle = OpenOptions::new()
        .write(true)
        .open(file)
        .map_err(StoreError::io(file))?;
    // A cut that is undone by power loss would put the partial frame back
    // under the records appended after it.
    handle
        .set_len(valid_len)
        .and_then(|()| handle.sync_all())
        .map_err(StoreError::io(file))
}

fn validate_records(records: &[Vec<u8>]) -> Result<(), StoreError> {
    for (index, record) in records.iter().enumerate() {
        if record.is_empty() {
            return Err(StoreError::EmptyRecord { index });
        }
        if record.len() > MAX_RECORD_LEN {
            return Err(StoreError::RecordTooLarge {
                index,
                len: record.len(),
                max: MAX_RECORD_LEN,
            });
        }
    }
    Ok(())
}

fn partition_dir(dir: &Path, partition: u32) -> PathBuf {
    dir.join(format!("p{partition:05}"))
}

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    format: String,
    partitions: u32,
}

fn read_meta(dir: &Path) -> Result<Meta, StoreError> {
    let path = dir.join(META_FILE);
    let not_a_ledger = |reason: String| StoreError::NotALedger {
        path: dir.to_path_buf(),
        reason,
    };
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Err(not_a_ledger(format!("no {META_FILE}")));
        }
        Err(source) => return Err(StoreError::Io { path, source }),
    };
    let meta: Meta = serde_json::from_slice(&bytes)
        .map_err(|e| not_a_ledger(format!("{META_FILE} is not valid: {e}")))?;
    if meta.format != FORMAT {
        return Err(not_a_ledger(format!(
            "{META_FILE} says format {:?}, this build reads {FORMAT:?}",
            meta.format
        )));
    }
    if meta.partitions == 0 || meta.partitions > MAX_PARTITIONS {
        return Err(not_a_ledger(format!(
            "{META_FILE} says {} partitions, valid is 1 to {MAX_PARTITIONS}",
            meta.partitions
        )));
    }
    Ok(meta)
}

/// Writes `meta.json` atomically (temp file, sync, rename, sync folder), so
/// a crash leaves either no ledger or a complete one, never a half-written
/// `meta.json` that would make the folder unopenable.
fn write_meta(dir: &Path, partitions: u32) -> Result<(), StoreError> {
    let meta = Meta {
        format: FORMAT.to_string(),
        partitions,
    };
    let tmp = dir.join(format!("{META_FILE}.tmp"));
    let path = dir.join(META_FILE);
    let text = serde_json::to_vec(&meta).map_err(|e| StoreError::Io {
        path: path.clone(),
        source: io::Error::other(e),
    })?;
    let mut file = File::create(&tmp).map_err(StoreError::io(&tmp))?;
    file.write_all(&text)
        .and_then(|()| file.sync_all())
        .map_err(StoreError::io(&tmp))?;
    fs::rename(&tmp, &path).map_err(StoreError::io(&path))?;
    fsync_dir(dir)
}

fn exists(path: &Path) -> Result<bool, StoreError> {
    path.try_exists().map_err(StoreError::io(path))
}

#[cfg(any(test, feature = "tamper"))]
fn remove_dir_if_present(path: &Path) -> Result<(), StoreError> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Makes a folder's entries (new files, renames, removals) durable. Needed
/// because syncing a file persists its contents but not the name under
/// which it can be found after power loss.
fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(StoreError::io(dir))
}
