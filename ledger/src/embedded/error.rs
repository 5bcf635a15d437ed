//! The one error type of the embedded store.
//!
//! Each variant stands for a different thing the caller should do (retry
//! later, run `init`, restore from a replica, fix the request), so callers can
//! match on the variant instead of parsing messages.

use std::io;
use std::path::{Path, PathBuf};

/// Why an embedded-store operation failed, and by the variant, what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The operating system refused a file operation; the path says which
    /// file, because "permission denied" alone does not tell an operator
    /// where to look.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or folder the operation was on.
        path: PathBuf,
        /// What the operating system reported.
        #[source]
        source: io::Error,
    },

    /// Another writer holds the ledger; wait for it to exit or stop it.
    /// Two writers would interleave frames and assign the same sequence
    /// numbers twice, so this is never overridden.
    #[error(
        "ledger at {} is in use by another writer{}; only one writer may append at a time",
        path.display(),
        holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    Locked {
        /// The ledger folder.
        path: PathBuf,
        /// The pid the holder wrote into `LOCK`, when it could be read; an
        /// operator needs it to find the process.
        holder: Option<u32>,
    },

    /// `create` found an existing ledger (or a non-empty partition folder)
    /// and will not overwrite it: open it instead, or pick another folder.
    #[error("a ledger already exists at {}; open it instead of creating a new one", path.display())]
    AlreadyExists {
        /// What was found already in place.
        path: PathBuf,
    },

    /// The folder has no usable `meta.json`, so it was never initialised
    /// (or is something else entirely).
    #[error(
        "{} is not a trial-ledger store ({reason}); run `trial-ledger init` first",
        path.display()
    )]
    NotALedger {
        /// The folder that was given as the ledger.
        path: PathBuf,
        /// What was wrong with it: missing or unreadable `meta.json`, or an
        /// unknown format.
        reason: String,
    },

    /// Stored data fails its own checks and was left exactly as found:
    /// records past `seq` cannot be trusted or repaired automatically, so
    /// the partition has to be restored from a replica or backup and the
    /// cause investigated.
    #[error(
        "partition {partition} is corrupt at seq {seq}: {reason}; \
         the data was left untouched, restore it from a replica or backup"
    )]
    Corrupt {
        /// The partition that is damaged.
        partition: u32,
        /// The first sequence number that could not be read back.
        seq: u64,
        /// What check failed, in words for the operator.
        reason: String,
    },

    /// The caller addressed a partition the ledger does not have; a bug or
    /// a mismatch between the caller's configuration and the ledger.
    #[error("no partition {partition}: this ledger has {count} partition(s)")]
    NoSuchPartition {
        /// The partition that was asked for.
        partition: u32,
        /// How many partitions the ledger has.
        count: u32,
    },

    /// A record is over the frame limit; the whole batch was refused and
    /// nothing was written.
    #[error(
        "record {index} of the batch is {len} bytes, over the limit of {max} bytes; nothing was appended"
    )]
    RecordTooLarge {
        /// Position of the offending record in the batch.
        index: usize,
        /// Its length.
        len: usize,
        /// The largest allowed record.
        max: usize,
    },

    /// An empty record cannot be framed (a zero length marks damage on
    /// disk); the whole batch was refused and nothing was written.
    #[error("record {index} of the batch is empty; nothing was appended")]
    EmptyRecord {
        /// Position of the offending record in the batch.
        index: usize,
    },

    /// An earlier write or sync failed part-way, so this writer no longer
    /// knows what is on disk; drop it and call `open_writer` again, which
    /// rescans the files and cuts any partial frame.
    #[error(
        "an earlier write to {} failed part-way; drop this writer and reopen the ledger to recover",
        path.display()
    )]
    Poisoned {
        /// The ledger folder.
        path: PathBuf,
    },

    /// [`append_partitions`](super::EmbeddedLog::append_partitions) was given two batches for
    /// one partition, whose order it could not know; nothing was written. A caller's bug:
    /// join them into one batch.
    #[error("two batches for partition {partition} in one append; nothing was appended")]
    DuplicateBatch {
        /// The partition named twice.
        partition: u32,
    },

    /// [`append_ordered`](super::EmbeddedLog::append_ordered) was given a write order that
    /// does not name each batch's records exactly once; nothing was written. A caller's bug.
    #[error("the write order does not match the batches: {detail}; nothing was appended")]
    BatchOrder {
        /// How order and batches disagree.
        detail: String,
    },

    /// The arguments to `create` cannot describe a valid ledger.
    #[error("invalid ledger configuration: {reason}")]
    InvalidConfig {
        /// What is wrong with the arguments.
        reason: String,
    },
}

impl StoreError {
    /// Builds the mapper for `map_err`, so every I/O failure carries its path
    /// without repeating the struct literal at each call site.
    pub(crate) fn io(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
        move |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// True when the stored data itself is damaged. Verification tools treat
    /// this as an alarm rather than an operational failure.
    pub fn is_corruption(&self) -> bool {
        matches!(self, StoreError::Corrupt { .. })
    }

    /// True when the same call may succeed later without anyone changing the
    /// ledger: the writer lock can be released by its holder.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Locked { .. })
    }
}
