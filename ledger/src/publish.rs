//! Checkpoint publication in the embedded store: where the signed checkpoints live, how they
//! are framed, and the publisher the [`crate::EmbeddedLedger`] drives.
//!
//! # Layout and framing (FORMAT.md §17a)
//!
//! The writer keeps one append-only text file per partition,
//! `<ledger dir>/checkpoints/p00000.ckpt`, `p00001.ckpt`, ... (created with the first checkpoint
//! of the partition). Each file is a *note list*: the signed checkpoints the writer published,
//! oldest first, each signed note ([`crate::checkpoint`]) followed by one empty line. A
//! checkpoint body never contains an empty line, so an entry is: the body lines, an empty
//! line, the signature lines, an empty line. The same framing is used for the checkpoints
//! `trial-ledger checkpoint` prints and for an auditor's file of held checkpoints.
//!
//! An entry is appended with one write and an `fdatasync`; a crash part-way leaves an entry
//! without its final empty line, which the next writer cuts (like a torn segment tail) and
//! readers ignore.
//!
//! # Signing key
//!
//! Checkpoints are signed by the sequencer key the ledger was opened with, under the
//! signed-note key name `trial-ledger/<trial-id>/sequencer` ([`sequencer_key_name`]). A
//! verifier finds the key among the registry's sequencer-role keys by the signed-note key hash.
//!
//! # What is published, and when
//!
//! A checkpoint covers only *durable* records: those appended to the store (with group commit,
//! flushed). The publisher keeps a [`Frontier`] per partition over the durable records, so a
//! root costs O(log n) hashes, and publishes a partition's checkpoint when it has grown since
//! its last one and one of these holds: it grew by [`PublishPolicy::every_records`] records;
//! [`PublishPolicy::every`] has passed since the last round of publication (checked on each
//! submit); [`crate::EmbeddedLedger::flush`] or [`crate::EmbeddedLedger::close`] is called, or
//! the ledger is dropped.

use crate::checkpoint::{partition_origin, Checkpoint, SignedCheckpoint};
use crate::crypto::SigningKey;
use crate::merkle::{Frontier, TransparencyError};
use crate::Error;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tl_schemas::{Hash32, TrialId};

/// The folder of checkpoint files inside the ledger folder.
pub const CHECKPOINT_DIR: &str = "checkpoints";

/// The checkpoint folder of a ledger folder (`DIR/ledger/checkpoints`).
pub fn checkpoint_dir(ledger_dir: &Path) -> PathBuf {
    ledger_dir.join(CHECKPOINT_DIR)
}

/// The checkpoint file of one partition: `checkpoints/p%05u.ckpt`.
pub fn checkpoint_path(ledger_dir: &Path, partition: u32) -> PathBuf {
    checkpoint_dir(ledger_dir).join(format!("p{partition:05}.ckpt"))
}

/// The signed-note key name of a trial's sequencer keys: `trial-ledger/<trial-id>/sequencer`.
pub fn sequencer_key_name(trial: &TrialId) -> String {
    format!(
        "{}/{}/sequencer",
        crate::checkpoint::ORIGIN_PREFIX,
        trial.as_str()
    )
}

/// When the embedded writer publishes checkpoints (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublishPolicy {
    /// Publish a partition's checkpoint once it has this many durable records more than its
    /// last checkpoint. At least 1.
    pub every_records: u64,
    /// Publish every partition that grew once this much time has passed since the last round
    /// of publication; checked on each submit. `Duration::ZERO` publishes after every submit
    /// that made a record durable.
    pub every: Duration,
}

impl Default for PublishPolicy {
    /// Every 1,000 records or 60 seconds.
    fn default() -> Self {
        PublishPolicy {
            every_records: 1_000,
            every: Duration::from_secs(60),
        }
    }
}

/// The entry of a note list for one signed note: the note followed by an empty line.
pub fn note_entry(note: &str) -> String {
    format!("{note}\n")
}

/// A parsed note list.
#[derive(Clone, Debug)]
pub struct NoteList {
    /// The complete entries, in order.
    pub notes: Vec<SignedCheckpoint>,
    /// Bytes up to the end of the last complete entry.
    pub complete_len: usize,
    /// Bytes after it: an entry without its final empty line (a torn append), or nothing.
    pub tail_len: usize,
}

/// How a note list may end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListEnd {
    /// The writer's store: an unterminated last entry is a torn append, reported in
    /// [`NoteList::tail_len`] and not parsed.
    TornTailAllowed,
    /// A file a person keeps (held checkpoints): the last entry may lack its final empty line,
    /// but anything that is not a complete signed checkpoint is an error.
    Strict,
}

/// Parses a note list: signed checkpoints, each followed by an empty line. Extra empty lines
/// between entries are skipped. A complete entry that is not a signed checkpoint is an error
/// naming the entry and its line.
pub fn parse_note_list(text: &str, end: ListEnd) -> Result<NoteList, TransparencyError> {
    let mut notes = Vec::new();
    let mut pos = 0;
    let mut complete_len = 0;
    let line_of = |at: usize| text[..at].matches('\n').count() + 1;
    let malformed = |n: usize, at: usize, e: TransparencyError| {
        let detail = match e {
            TransparencyError::MalformedCheckpoint(d) => d,
            other => other.to_string(),
        };
        TransparencyError::MalformedCheckpoint(format!(
            "checkpoint {n} (line {}): {detail}",
            line_of(at)
        ))
    };
    loop {
        while text[pos..].starts_with('\n') {
            pos += 1;
        }
        if pos == text.len() {
            complete_len = pos;
            break;
        }
        let rest = &text[pos..];
        // The body ends at the first empty line, the signatures at the next one.
        let entry_len = rest.find("\n\n").and_then(|body_end| {
            let sigs = body_end + 2;
            rest[sigs..].find("\n\n").map(|e| sigs + e + 1)
        });
        let (len, next) = match (entry_len, end) {
            (Some(len), _) => (len, pos + len + 1),
            (None, ListEnd::Strict) => (rest.len(), text.len()),
            (None, ListEnd::TornTailAllowed) => break,
        };
        let note = SignedCheckpoint::parse(&rest[..len])
            .map_err(|e| malformed(notes.len() + 1, pos, e))?;
        notes.push(note);
        pos = next;
        complete_len = pos;
    }
    Ok(NoteList {
        notes,
        complete_len,
        tail_len: text.len() - complete_len,
    })
}

/// Parses the bytes of a note list file. A torn append can end part-way through a UTF-8
/// character (the signature lines start with U+2014), which is part of the torn tail where
/// one is allowed; any other invalid UTF-8 is an error.
pub fn parse_note_bytes(bytes: &[u8], end: ListEnd) -> Result<NoteList, TransparencyError> {
    let (text, cut) = match std::str::from_utf8(bytes) {
        Ok(text) => (text, 0),
        Err(e) if end == ListEnd::TornTailAllowed && e.error_len().is_none() => {
            let valid = e.valid_up_to();
            let text = std::str::from_utf8(&bytes[..valid]).expect("valid up to here");
            (text, bytes.len() - valid)
        }
        Err(e) => {
            return Err(TransparencyError::MalformedCheckpoint(format!(
                "not UTF-8 text (at byte {})",
                e.valid_up_to()
            )))
        }
    };
    let mut list = parse_note_list(text, end)?;
    list.tail_len += cut;
    Ok(list)
}

/// Reads a note list file; a missing file is an empty list.
fn read_list(path: &Path, end: ListEnd) -> Result<NoteList, Error> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(source) => {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    parse_note_bytes(&bytes, end).map_err(|e| Error::Checkpoint {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

/// The checkpoints the writer published for `partition`, oldest first, read without the lock
/// and without repairing anything (an append in progress is ignored). No file: none.
pub fn read_published(ledger_dir: &Path, partition: u32) -> Result<Vec<SignedCheckpoint>, Error> {
    Ok(read_list(
        &checkpoint_path(ledger_dir, partition),
        ListEnd::TornTailAllowed,
    )?
    .notes)
}

/// The checkpoints stored for `partition`, as verification input: one entry per complete
/// entry of the file (a torn final entry is left out, as an append in progress), or, when an
/// entry is not a signed checkpoint, a single entry saying so. No file: none. Read without
/// the lock; nothing is repaired.
pub fn stored_checkpoints(
    ledger_dir: &Path,
    partition: u32,
) -> Result<Vec<crate::verify::StoredCheckpoint>, Error> {
    let path = checkpoint_path(ledger_dir, partition);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(Error::Io { path, source }),
    };
    Ok(stored_checkpoints_in(&path.display().to_string(), &bytes))
}

/// The verification input of a checkpoint file's bytes, named `name` in messages (what
/// [`stored_checkpoints`] makes of the file it reads; the fuzz targets feed bytes directly).
pub fn stored_checkpoints_in(name: &str, bytes: &[u8]) -> Vec<crate::verify::StoredCheckpoint> {
    use crate::verify::StoredCheckpoint;
    match parse_note_bytes(bytes, ListEnd::TornTailAllowed) {
        Ok(list) => list
            .notes
            .into_iter()
            .enumerate()
            .map(|(i, note)| StoredCheckpoint {
                at: format!("{name}, checkpoint {}", i + 1),
                note: Ok(note),
            })
            .collect(),
        Err(e) => vec![StoredCheckpoint {
            at: name.to_string(),
            note: Err(e.to_string()),
        }],
    }
}

/// Reads a file of held checkpoints (an auditor's, written by `checkpoint --save`): strict,
/// and a missing file is an error.
pub fn read_held(path: &Path) -> Result<Vec<SignedCheckpoint>, Error> {
    let bytes = crate::limits::read_capped(
        path,
        crate::limits::MAX_HELD_FILE_BYTES,
        "a file of held checkpoints",
    )?;
    parse_note_bytes(&held_text(&bytes), ListEnd::Strict)
        .map(|l| l.notes)
        .map_err(|e| Error::Checkpoint {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })
}

/// A held-checkpoints file as the notes were signed: a person's editor may have added a
/// UTF-8 byte-order mark or turned line ends into CRLF. Both are undone here, because a signed
/// note's text is defined with LF line ends (C2SP signed-note) and neither change can alter
/// what a signature covers. A lone CR stays and is reported as malformed.
fn held_text(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if !bytes.windows(2).any(|w| w == b"\r\n") {
        return std::borrow::Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    std::borrow::Cow::Owned(out)
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn fsync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Whether a folder holds any checkpoint file (a leftover a new ledger must not append to).
pub(crate) fn has_checkpoints(ledger_dir: &Path) -> Result<bool, Error> {
    let dir = checkpoint_dir(ledger_dir);
    match fs::read_dir(&dir) {
        Ok(mut entries) => Ok(entries.next().is_some()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(Error::Io { path: dir, source }),
    }
}

/// What the publisher's open knows of one partition's records: how many there are, the
/// hashes of those from `base` on, a snapshot's Merkle frontier, and the writer's tile store
/// for roots before the hashes in memory.
pub(crate) struct OpenLeaves<'a> {
    /// Records in the partition.
    pub(crate) len: u64,
    /// Sequence number of `tail[0]`.
    pub(crate) base: u64,
    /// Record hashes from `base` on.
    pub(crate) tail: &'a [Hash32],
    /// A snapshot's frontier (FORMAT.md §17), when it fits the records.
    pub(crate) start: Option<&'a Frontier>,
    /// The root of the first `n` records from the tile store, when they are not in memory.
    pub(crate) stored_root: &'a dyn Fn(u64) -> Result<Hash32, String>,
}

impl OpenLeaves<'_> {
    /// The leaves `from..to`, if memory holds them.
    fn leaves(&self, from: u64, to: u64) -> Option<&[Hash32]> {
        let a = from.checked_sub(self.base)? as usize;
        let b = to.checked_sub(self.base)? as usize;
        self.tail.get(a..b)
    }

    /// The frontier of the first `size` records: a snapshot's (at or before `size`) extended
    /// with the leaves after it, else rebuilt from every leaf; `None` if memory lacks leaves.
    fn frontier_at(&self, size: u64) -> Option<Frontier> {
        match self.start.filter(|f| f.size() <= size) {
            Some(f) => {
                let mut f = f.clone();
                for leaf in self.leaves(f.size(), size)? {
                    f.push(*leaf);
                }
                Some(f)
            }
            None => Some(Frontier::from_leaves(self.leaves(0, size)?.iter().copied())),
        }
    }

    /// The root of the first `size` records: from memory, else from the tile store.
    fn root_at(&self, size: u64) -> Result<Hash32, String> {
        match self.frontier_at(size) {
            Some(f) => Ok(f.root()),
            None => (self.stored_root)(size),
        }
    }
}

/// One partition's publication state.
#[derive(Clone, Debug, Default)]
struct PartitionPub {
    /// The frontier over the partition's durable records.
    frontier: Frontier,
    /// Size of the last published checkpoint (0: none).
    last_size: u64,
    /// Its signed note.
    last_note: Option<String>,
}

/// The publisher of one embedded writer (see the module documentation).
pub(crate) struct Publisher {
    ledger_dir: PathBuf,
    trial: TrialId,
    key_name: String,
    key: Option<SigningKey>,
    policy: PublishPolicy,
    parts: Vec<PartitionPub>,
    last_round: Instant,
    dir_ready: bool,
    /// Checkpoint files that end in a torn entry: path, bytes to keep, bytes to cut.
    torn_entries: Vec<(PathBuf, u64, usize)>,
}

impl Publisher {
    /// A publisher for a new ledger with no checkpoints; signing starts with
    /// [`Publisher::set_key`].
    pub(crate) fn new(ledger_dir: &Path, trial: &TrialId) -> Self {
        Publisher {
            ledger_dir: ledger_dir.to_path_buf(),
            trial: trial.clone(),
            key_name: sequencer_key_name(trial),
            key: None,
            policy: PublishPolicy::default(),
            parts: Vec::new(),
            last_round: Instant::now(),
            dir_ready: false,
            torn_entries: Vec::new(),
        }
    }

    /// Rebuilds the publisher of an existing ledger: a frontier per partition from its record
    /// hashes (all durable at open), and the last published checkpoint of each from its file,
    /// ignoring a torn final entry. The ledger must still extend that checkpoint: a smaller
    /// partition, or another root at its size, is an error (truncated or rewritten). Changes
    /// nothing on disk: torn entries are cut by [`Publisher::cut_torn_entries`], once the
    /// caller has checked everything else.
    pub(crate) fn open(
        ledger_dir: &Path,
        trial: &TrialId,
        key: SigningKey,
        partitions: &[OpenLeaves<'_>],
    ) -> Result<Self, Error> {
        let mut p = Publisher::new(ledger_dir, trial);
        p.key = Some(key);
        p.dir_ready = checkpoint_dir(ledger_dir).is_dir();
        for (partition, leaves) in partitions.iter().enumerate() {
            let partition = partition as u32;
            let path = checkpoint_path(ledger_dir, partition);
            let list = read_list(&path, ListEnd::TornTailAllowed)?;
            if list.tail_len > 0 {
                p.torn_entries
                    .push((path.clone(), list.complete_len as u64, list.tail_len));
            }
            let bad = |detail: String| Error::Checkpoint {
                path: path.clone(),
                detail,
            };
            let origin = partition_origin(trial, partition);
            let mut last: Option<&SignedCheckpoint> = None;
            for note in &list.notes {
                let c = note.unverified();
                if c.origin != origin {
                    return Err(bad(format!(
                        "a checkpoint of {:?} in the file of {origin:?}",
                        c.origin
                    )));
                }
                if last.is_some_and(|l| l.unverified().size > c.size) {
                    return Err(bad(format!(
                        "checkpoint of size {} follows one of size {}",
                        c.size,
                        last.map_or(0, |l| l.unverified().size)
                    )));
                }
                last = Some(note);
            }
            let mut state = PartitionPub::default();
            if let Some(last) = last {
                let c = last.unverified();
                if c.size > leaves.len {
                    return Err(bad(format!(
                        "this ledger published a checkpoint of {} records, the partition now has {}: it was truncated; run `trial-ledger verify --against` with the held checkpoints",
                        c.size,
                        leaves.len
                    )));
                }
                let root = leaves.root_at(c.size).map_err(|e| {
                    bad(format!(
                        "the root of the first {} records is unknown: {e}",
                        c.size
                    ))
                })?;
                if root != c.root {
                    return Err(bad(format!(
                        "the first {} records no longer have the root this ledger published for them: history was rewritten; run `trial-ledger verify --against` with the held checkpoints",
                        c.size
                    )));
                }
                state.last_size = c.size;
                state.last_note = Some(last.text().to_string());
            }
            state.frontier = leaves.frontier_at(leaves.len).ok_or_else(|| {
                bad("the writer holds neither the leaves nor a frontier of its records".into())
            })?;
            p.parts.push(state);
        }
        Ok(p)
    }

    /// The frontier over a partition's durable records.
    pub(crate) fn frontier(&self, partition: u32) -> Option<&Frontier> {
        self.parts.get(partition as usize).map(|p| &p.frontier)
    }

    /// Cuts the torn final entries [`Publisher::open`] found (`set_len` + fsync), before the
    /// first append.
    pub(crate) fn cut_torn_entries(&mut self) -> Result<(), Error> {
        for (path, complete_len, tail_len) in std::mem::take(&mut self.torn_entries) {
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(io_err(&path))?;
            f.set_len(complete_len)
                .and_then(|()| f.sync_all())
                .map_err(io_err(&path))?;
            tracing::warn!(
                path = %path.display(),
                bytes = tail_len,
                "cut an incomplete checkpoint left by an interrupted append"
            );
        }
        Ok(())
    }

    pub(crate) fn set_key(&mut self, key: SigningKey) {
        self.key = Some(key);
    }

    pub(crate) fn key(&self) -> Option<&SigningKey> {
        self.key.as_ref()
    }

    pub(crate) fn policy(&self) -> PublishPolicy {
        self.policy
    }

    pub(crate) fn set_policy(&mut self, policy: PublishPolicy) {
        self.policy = PublishPolicy {
            every_records: policy.every_records.max(1),
            every: policy.every,
        };
    }

    fn part(&mut self, partition: u32) -> &mut PartitionPub {
        let i = partition as usize;
        if self.parts.len() <= i {
            self.parts.resize_with(i + 1, PartitionPub::default);
        }
        &mut self.parts[i]
    }

    /// Extends the partition's frontier to its first `durable` records (`leaves` are the
    /// partition's record hashes from `base` on, durable or not; the frontier is never
    /// behind `base`, as the writer commits to its store only what this frontier covers).
    pub(crate) fn advance(&mut self, partition: u32, base: u64, leaves: &[Hash32], durable: u64) {
        let part = self.part(partition);
        let from = part.frontier.size().saturating_sub(base) as usize;
        let to = durable.saturating_sub(base) as usize;
        for leaf in &leaves[from.min(leaves.len())..to.min(leaves.len())] {
            part.frontier.push(*leaf);
        }
    }

    /// The durable size and root of a partition, as the frontier has them.
    pub(crate) fn durable_root(&self, partition: u32) -> (u64, Hash32) {
        match self.parts.get(partition as usize) {
            Some(p) => (p.frontier.size(), p.frontier.root()),
            None => (0, crate::merkle::EMPTY_ROOT),
        }
    }

    /// Whether a partition has durable records no checkpoint covers.
    pub(crate) fn grew(&self, partition: u32) -> bool {
        self.parts
            .get(partition as usize)
            .is_some_and(|p| p.frontier.size() > p.last_size)
    }

    /// Durable records of a partition not yet covered by a checkpoint.
    pub(crate) fn uncovered(&self, partition: u32) -> u64 {
        self.parts
            .get(partition as usize)
            .map_or(0, |p| p.frontier.size() - p.last_size)
    }

    /// Whether the time for a round of publication has come.
    pub(crate) fn round_due(&self) -> bool {
        self.last_round.elapsed() >= self.policy.every
    }

    /// The last published checkpoint of a partition.
    pub(crate) fn last_note(&self, partition: u32) -> Option<&str> {
        self.parts
            .get(partition as usize)
            .and_then(|p| p.last_note.as_deref())
    }

    /// Publishes every partition that grew (all partitions the frontier covers); starts a new
    /// round. Returns how many checkpoints were published.
    ///
    /// Each checkpoint is signed first; then the entries are appended and synced in parallel,
    /// one thread per file, because `serve` publishes after every group commit and a batch
    /// touches up to every partition: one `fdatasync` after another made a batch wait for
    /// each partition's sync in turn.
    pub(crate) fn publish_grown(&mut self) -> Result<usize, Error> {
        self.last_round = Instant::now();
        let grown: Vec<u32> = (0..self.parts.len() as u32)
            .filter(|&p| self.grew(p))
            .collect();
        self.publish_all(&grown)?;
        Ok(grown.len())
    }

    /// Signs and appends the checkpoint of a partition's durable records.
    pub(crate) fn publish(&mut self, partition: u32) -> Result<(), Error> {
        self.publish_all(&[partition])
    }

    /// Signs the checkpoints of `partitions`' durable records, then appends each to its file
    /// (in parallel) and records them as published.
    fn publish_all(&mut self, partitions: &[u32]) -> Result<(), Error> {
        let Some(key) = self.key.clone() else {
            return Ok(());
        };
        if partitions.is_empty() {
            return Ok(());
        }
        let mut notes = Vec::with_capacity(partitions.len());
        for &partition in partitions {
            let (size, root) = self.durable_root(partition);
            let note = Checkpoint::for_partition(&self.trial, partition, size, root)
                .sign(&self.key_name, &key)
                .map_err(|e| Error::Checkpoint {
                    path: checkpoint_path(&self.ledger_dir, partition),
                    detail: e.to_string(),
                })?;
            notes.push((partition, size, note));
        }
        self.ensure_dir()?;
        let ledger_dir = &self.ledger_dir;
        let results: Vec<Result<bool, Error>> = std::thread::scope(|s| {
            let running: Vec<_> = notes
                .iter()
                .map(|(p, _, note)| s.spawn(move || append_entry(ledger_dir, *p, note)))
                .collect();
            running
                .into_iter()
                // A panic in an appending thread is a bug: pass it on as the caller's own.
                .map(|t| t.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        let mut created = false;
        let mut first_error = None;
        for ((partition, size, note), result) in notes.into_iter().zip(results) {
            match result {
                Ok(new) => {
                    created |= new;
                    let part = self.part(partition);
                    part.last_size = size;
                    part.last_note = Some(note);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if created {
            fsync_dir(&checkpoint_dir(&self.ledger_dir))?;
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Creates the checkpoint folder on the first publication (and syncs its parent).
    fn ensure_dir(&mut self) -> Result<(), Error> {
        if !self.dir_ready {
            let dir = checkpoint_dir(&self.ledger_dir);
            match fs::create_dir(&dir) {
                Ok(()) => fsync_dir(&self.ledger_dir)?,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(source) => return Err(Error::Io { path: dir, source }),
            }
            self.dir_ready = true;
        }
        Ok(())
    }
}

/// Appends one checkpoint entry to a partition's file with one write and `fdatasync`; whether
/// the file was created (its folder then needs a sync).
fn append_entry(ledger_dir: &Path, partition: u32, note: &str) -> Result<bool, Error> {
    let path = checkpoint_path(ledger_dir, partition);
    let new = !path.exists();
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io_err(&path))?;
    f.write_all(note_entry(note).as_bytes())
        .and_then(|()| f.sync_data())
        .map_err(io_err(&path))?;
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::EMPTY_ROOT;

    fn note(size: u64) -> String {
        let key = SigningKey::from_seed([2; 32]);
        let trial = TrialId::new("t").unwrap();
        Checkpoint::for_partition(&trial, 0, size, EMPTY_ROOT)
            .sign(&sequencer_key_name(&trial), &key)
            .unwrap()
    }

    #[test]
    fn note_lists_round_trip_and_tolerate_torn_tails_only_in_the_store() {
        let text = format!("{}{}", note_entry(&note(1)), note_entry(&note(2)));
        let list = parse_note_list(&text, ListEnd::Strict).unwrap();
        assert_eq!(list.notes.len(), 2);
        assert_eq!(list.notes[1].text(), note(2));
        assert_eq!(list.tail_len, 0);
        assert_eq!(parse_note_list("", ListEnd::Strict).unwrap().notes.len(), 0);
        // Every proper prefix that cuts the last entry is a torn tail for the store.
        let one = note_entry(&note(1)).len();
        for cut in one + 1..text.len() {
            let list = parse_note_bytes(&text.as_bytes()[..cut], ListEnd::TornTailAllowed).unwrap();
            assert_eq!(list.notes.len(), 1, "cut at {cut}");
            assert_eq!(list.complete_len, one);
            assert_eq!(list.tail_len, cut - one);
        }
        // A held file may omit the final empty line, and may have extra ones.
        let held = format!("\n{}\n\n{}", note_entry(&note(1)), note(2));
        assert_eq!(
            parse_note_list(&held, ListEnd::Strict).unwrap().notes.len(),
            2
        );
        // But a torn entry in a held file is an error naming it.
        let e = parse_note_list(&text[..text.len() - 20], ListEnd::Strict).unwrap_err();
        assert!(e.to_string().contains("checkpoint 2 (line 7)"), "{e}");
        let e = parse_note_list("not a checkpoint\n\n", ListEnd::Strict).unwrap_err();
        assert!(e.to_string().contains("checkpoint 1 (line 1)"), "{e}");
        let garbage = format!("{}garbage\n\nmore\n\n", note_entry(&note(1)));
        assert!(parse_note_list(&garbage, ListEnd::TornTailAllowed).is_err());
        // A held file cut inside a character, or with invalid UTF-8 anywhere, is an error.
        let mid_dash = text.rfind('—').unwrap() + 1;
        let e = parse_note_bytes(&text.as_bytes()[..mid_dash], ListEnd::Strict).unwrap_err();
        assert!(e.to_string().contains("not UTF-8"), "{e}");
        let mut bad = text.as_bytes().to_vec();
        bad[3] = 0xff;
        assert!(parse_note_bytes(&bad, ListEnd::TornTailAllowed).is_err());
    }

    #[test]
    fn a_held_file_saved_with_crlf_or_a_bom_reads_as_written_and_a_lone_cr_is_malformed() {
        let text = format!("{}{}", note_entry(&note(1)), note_entry(&note(2)));
        let as_lf = parse_note_bytes(&held_text(text.as_bytes()), ListEnd::Strict).unwrap();
        let edited = format!("\u{FEFF}{}", text.replace('\n', "\r\n"));
        // Without the normalisation the edited file is malformed.
        assert!(parse_note_bytes(edited.as_bytes(), ListEnd::Strict).is_err());
        let list = parse_note_bytes(&held_text(edited.as_bytes()), ListEnd::Strict).unwrap();
        assert_eq!(list.notes, as_lf.notes);
        let lone_cr = text.replacen('\n', "\r", 1);
        assert!(parse_note_bytes(&held_text(lone_cr.as_bytes()), ListEnd::Strict).is_err());
    }
}
