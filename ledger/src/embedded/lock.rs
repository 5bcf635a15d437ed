//! The single-writer lock on `DIR/LOCK`.
//!
//! Sequence numbers are assigned from the writer's in-memory index, so two
//! writers on one folder would hand out the same numbers and interleave
//! frames. An OS file lock (rather than a lock file that merely exists)
//! is released by the kernel when the holder dies, so a crash never leaves
//! the ledger locked for good.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::embedded::error::StoreError;

/// Name of the lock file inside the ledger folder.
pub(crate) const LOCK_FILE: &str = "LOCK";

/// Holds the exclusive lock until dropped.
#[derive(Debug)]
pub(crate) struct WriterLock {
    // Never read: the open, locked handle is the lock, and dropping it (or
    // the process dying) releases it.
    _file: File,
}

impl WriterLock {
    /// Takes the lock on `dir/LOCK` without waiting: a writer that queued
    /// behind another would start from a stale view of the partitions.
    pub(crate) fn acquire(dir: &Path) -> Result<WriterLock, StoreError> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(StoreError::io(&path))?;
        // The lock belongs to the open file description, so a second
        // `acquire` in the same process is refused just like another
        // process would be.
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::Locked {
                    path: dir.to_path_buf(),
                    holder: read_holder(&mut file),
                });
            }
            Err(TryLockError::Error(source)) => return Err(StoreError::Io { path, source }),
        }
        // The pid is only a hint for the operator reading a `Locked` error;
        // the lock itself is what excludes, so it is not fsynced.
        write_pid(&mut file).map_err(StoreError::io(&path))?;
        Ok(WriterLock { _file: file })
    }
}

fn write_pid(file: &mut File) -> std::io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    write!(file, "{}", std::process::id())?;
    file.flush()
}

/// Best effort: the holder may be between truncating and writing its pid,
/// or an older version may have written something else.
fn read_holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}
