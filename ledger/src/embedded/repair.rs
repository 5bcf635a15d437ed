//! An operator's explicit cut of a partition's tail, for the cases in which
//! the writer refuses to guess (`trial-ledger repair --cut-torn-tail`).
//!
//! The writer cuts a torn tail by itself only when a crash explains it. When
//! the last frame's length runs past the end of its segment but a prefix of it
//! matches its checksum (a damaged length, or a 2^-32 coincidence per byte of
//! a torn append), or when the caller knows the tail held a published record,
//! the writer refuses and changes nothing. An operator who has looked may then
//! cut here: the cut bytes are first copied, synced, beside the segment, so
//! nothing is lost even if the judgement was wrong.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{
    cut_tail, fsync_dir, partition_dir, read_meta, scan_partition, StoreError, SuspectTail,
};
use crate::embedded::lock::WriterLock;

/// A ledger held for repair: the writer lock, and the tail of every partition
/// that ends in one. Dropping it releases the lock without changing anything.
#[derive(Debug)]
pub struct TailRepair {
    tails: Vec<SuspectTail>,
    _lock: WriterLock,
}

impl TailRepair {
    /// Takes the writer lock and scans every partition. Refuses, changing
    /// nothing, when a partition is damaged anywhere but in the tail of its
    /// last segment: cutting a tail would not make such a ledger writable.
    pub fn open(dir: &Path) -> Result<TailRepair, StoreError> {
        let meta = read_meta(dir)?;
        let lock = WriterLock::acquire(dir)?;
        let mut tails = Vec::new();
        for partition in 0..meta.partitions {
            let scan = scan_partition(&partition_dir(dir, partition), |_| {})?;
            match scan.end.tail(partition) {
                Some(tail) => tails.push(tail),
                None => {
                    if let Some(refusal) = scan.end.refusal(partition) {
                        return Err(refusal);
                    }
                }
            }
        }
        Ok(TailRepair { tails, _lock: lock })
    }

    /// The partitions' tails, by partition.
    pub fn tails(&self) -> &[SuspectTail] {
        &self.tails
    }

    /// Cuts one of [`TailRepair::tails`]: copies its bytes to a new file
    /// beside the segment (`<segment>.cut-at-<offset>`, synced with its
    /// folder), then truncates the segment at the tail's offset (or removes
    /// it when not even its header is complete). Returns the copy's path.
    /// Refuses, cutting nothing, if that copy already exists or if the
    /// segment changed since the scan.
    pub fn cut(&self, tail: &SuspectTail) -> Result<PathBuf, StoreError> {
        let t = &tail.tail;
        let pdir = t.file.parent().unwrap_or(Path::new(".")).to_path_buf();
        let io = StoreError::io(&t.file);
        let mut segment = File::open(&t.file).map_err(StoreError::io(&t.file))?;
        let len = segment.metadata().map_err(StoreError::io(&t.file))?.len();
        if len != t.offset + t.bytes {
            return Err(StoreError::Corrupt {
                partition: t.partition,
                seq: t.seq,
                reason: format!(
                    "{} is {len} bytes, not the {} it had when scanned; nothing was cut",
                    t.file.display(),
                    t.offset + t.bytes
                ),
            });
        }
        let mut bytes = Vec::new();
        segment
            .seek(SeekFrom::Start(t.offset))
            .and_then(|_| segment.read_to_end(&mut bytes))
            .map_err(io)?;
        let copy = PathBuf::from(format!("{}.cut-at-{}", t.file.display(), t.offset));
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&copy)
            .map_err(StoreError::io(&copy))?;
        out.write_all(&bytes)
            .and_then(|()| out.sync_all())
            .map_err(StoreError::io(&copy))?;
        // The copy must survive power loss before the original bytes go.
        fsync_dir(&pdir)?;
        cut_tail(&pdir, &t.file, t.offset)?;
        tracing::warn!(
            partition = t.partition,
            seq = t.seq,
            bytes = t.bytes,
            file = %t.file.display(),
            copy = %copy.display(),
            "operator cut a partition's tail"
        );
        Ok(copy)
    }
}
