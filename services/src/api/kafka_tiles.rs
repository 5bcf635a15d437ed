//! Each partition of a trial on Kafka as a C2SP tlog-tiles log (FORMAT.md §17c), with its
//! proofs: what `serve --kafka` answers on the routes of [`super::tiles`] and
//! [`super::proofs`], the same answers `serve --data` gives.
//!
//! **Bounded memory.** The server does not hold the records. For each partition asked for, a
//! cache in the server's state folder (`<views folder>/tlog/<p>/`) keeps:
//! - `hashes`: the tree's stored hashes in tlog order (every leaf and complete-subtree hash, 32
//!   bytes each: about 64 bytes per record), which give tiles, roots and proofs;
//! - `offsets`: each record's Kafka offset (8 bytes, big-endian), so that an entry bundle's
//!   records are read back from the ledger topic;
//! - `checkpoints`: the partition's signed checkpoints from `<trial>.checkpoints`, as a note
//!   list (FORMAT.md §17a);
//! - `sequencer-keys.jsonl` (partition 0 only): the enrolments of sequencer keys, which proofs
//!   carry;
//! - `meta.json`: how much of each file is complete, written after the appends; on opening,
//!   longer files are cut back to it, so a server killed mid-append resumes (a shorter file, or
//!   another trial's cache, is thrown away and rebuilt).
//!
//! **Following.** A request first brings its partition up to date: the checkpoints from the
//! offset after the last one cached to the partition's committed end (`read_committed`, last
//! stable offset), then the ledger partition likewise, each record hashed into the files as it
//! is read (one message in memory at a time). The checkpoints are read first: a checkpoint
//! commits in the transaction of the records it covers, so those are read too. Each new
//! checkpoint's root is checked against the cached tree. A mismatch throws the cache away and
//! rebuilds it from offset 0 once; a ledger that still does not give the root is `diverged`
//! (500), as on the embedded store. A partition is asked for its ends at most every
//! [`REFRESH`].
//!
//! Tiles and bundles are those of the latest checkpoint, as on the embedded store; proofs may
//! also use records past it (against their unsigned root), up to the committed end read.

use super::error::ApiError;
use super::tiles::{covered, diverged, unavailable};
use super::wire::{TileCoord, TILE_WIDTH};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tl_kafka::KafkaConfig;
use tl_ledger::audit::{leaf_hash, ProofTree, ProveError, Prover, SequencerKey};
use tl_ledger::checkpoint::{partition_origin, SignedCheckpoint};
use tl_ledger::publish::{note_entry, parse_note_bytes, ListEnd};
use tl_schemas::Hash32;

/// How often a partition is asked for its committed ends at most: a burst of tile requests
/// costs one round trip to the broker.
pub const REFRESH: Duration = Duration::from_millis(100);

/// The per-partition caches of a trial on Kafka, under one folder.
pub struct KafkaTiles {
    cfg: KafkaConfig,
    dir: PathBuf,
    /// Asks the broker for committed ends; made on first use.
    ends: Mutex<Option<tl_kafka::read::CommittedEnds>>,
    parts: Mutex<HashMap<u32, Arc<Mutex<Part>>>>,
}

/// How much of each cache file is complete.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Meta {
    /// The trial the cache is of (another trial's cache is thrown away).
    trial: String,
    /// Records hashed (leaves of the tree).
    leaves: u64,
    /// The ledger topic's offset to read from next.
    ledger_next: i64,
    /// The checkpoints topic's offset to read from next.
    checkpoints_next: i64,
    /// Bytes of the `checkpoints` note list.
    checkpoints_bytes: u64,
    /// Bytes of `sequencer-keys.jsonl`.
    keys_bytes: u64,
}

/// One partition's open cache.
struct Part {
    p: u32,
    dir: PathBuf,
    meta: Meta,
    files: Option<Files>,
    latest: Option<SignedCheckpoint>,
    refreshed: Option<Instant>,
}

struct Files {
    hashes: File,
    offsets: File,
    notes: File,
    keys: File,
}

/// The cache's stored hashes read through `tlog_tiles`; the first read error is kept, since
/// `tlog_tiles` errors cannot carry it.
struct FileHashes<'a> {
    file: &'a File,
    failed: std::cell::RefCell<Option<String>>,
}

impl<'a> FileHashes<'a> {
    fn new(file: &'a File) -> Self {
        FileHashes {
            file,
            failed: std::cell::RefCell::new(None),
        }
    }

    fn one(&self, index: u64) -> std::io::Result<Hash32> {
        let mut h = [0u8; 32];
        self.file.read_exact_at(&mut h, index * 32)?;
        Ok(Hash32(h))
    }

    /// A `tlog_tiles` error as the prover's: a failed read is `Unreadable`.
    fn prove_error(&self, e: tlog_tiles::Error) -> ProveError {
        match self.failed.borrow_mut().take() {
            Some(m) => ProveError::Unreadable(m),
            None => ProveError::Request(e.to_string()),
        }
    }
}

impl tlog_tiles::HashReader for FileHashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                self.one(i).map(|h| tlog_tiles::Hash(h.0)).map_err(|e| {
                    *self.failed.borrow_mut() = Some(format!("cannot read the tile cache: {e}"));
                    tlog_tiles::Error::IndexesNotInTree
                })
            })
            .collect()
    }
}

/// A partition's cached tree of `size` leaves, as the prover reads it.
struct FileTree<'a> {
    size: u64,
    hashes: FileHashes<'a>,
}

impl FileTree<'_> {
    fn within(&self, size: u64) -> Result<(), ProveError> {
        if size > self.size {
            return Err(ProveError::Request(format!(
                "tree size {size} is beyond the {} leaves known",
                self.size
            )));
        }
        Ok(())
    }
}

impl ProofTree for FileTree<'_> {
    fn size(&self) -> u64 {
        self.size
    }

    fn leaf(&self, index: u64) -> Result<Hash32, ProveError> {
        self.within(index.saturating_add(1))?;
        self.hashes
            .one(tlog_tiles::stored_hash_index(0, index))
            .map_err(|e| ProveError::Unreadable(format!("cannot read the tile cache: {e}")))
    }

    fn root_at(&self, size: u64) -> Result<Hash32, ProveError> {
        self.within(size)?;
        tlog_tiles::tree_hash(size, &self.hashes)
            .map(|h| Hash32(h.0))
            .map_err(|e| self.hashes.prove_error(e))
    }

    fn inclusion_path(&self, index: u64, size: u64) -> Result<Vec<Hash32>, ProveError> {
        self.within(size)?;
        if index >= size {
            return Err(ProveError::Request(format!(
                "leaf index {index} is not in a tree of size {size}"
            )));
        }
        let path = tlog_tiles::prove_record(size, index, &self.hashes)
            .map_err(|e| self.hashes.prove_error(e))?;
        Ok(path.into_iter().map(|h| Hash32(h.0)).collect())
    }

    fn consistency_path(&self, first: u64, second: u64) -> Result<Vec<Hash32>, ProveError> {
        self.within(second)?;
        if first > second {
            return Err(ProveError::Request(format!(
                "consistency from tree size {first} to the smaller size {second}"
            )));
        }
        if first == 0 {
            return Ok(Vec::new());
        }
        let path = tlog_tiles::prove_tree(second, first, &self.hashes)
            .map_err(|e| self.hashes.prove_error(e))?;
        Ok(path.into_iter().map(|h| Hash32(h.0)).collect())
    }
}

fn io(what: &str, e: impl std::fmt::Display) -> ApiError {
    unavailable(format!("the tile cache ({what}): {e}"))
}

fn kafka(e: tl_kafka::Error) -> ApiError {
    unavailable(format!("reading the trial on Kafka: {e}"))
}

impl KafkaTiles {
    /// The caches of `cfg`'s trial in `dir` (made when first needed).
    pub fn new(cfg: &KafkaConfig, dir: &Path) -> Self {
        KafkaTiles {
            cfg: cfg.clone(),
            dir: dir.to_path_buf(),
            ends: Mutex::new(None),
            parts: Mutex::new(HashMap::new()),
        }
    }

    /// The committed end (last stable offset) of partition `p` of `topic`.
    fn end(&self, topic: &str, p: u32) -> Result<i64, ApiError> {
        let mut ends = self.ends.lock().unwrap_or_else(|e| e.into_inner());
        if ends.is_none() {
            *ends = Some(tl_kafka::read::CommittedEnds::new(&self.cfg).map_err(kafka)?);
        }
        let client = ends.as_ref().expect("made above");
        client.fetch_one(topic, p).map_err(kafka)
    }

    fn part(&self, p: u32) -> Arc<Mutex<Part>> {
        let mut map = self.parts.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(p)
            .or_insert_with(|| {
                Arc::new(Mutex::new(Part {
                    p,
                    dir: self.dir.join(p.to_string()),
                    meta: Meta::default(),
                    files: None,
                    latest: None,
                    refreshed: None,
                }))
            })
            .clone()
    }

    /// Runs `f` on partition `p`'s cache, brought up to date first. Blocking.
    fn with_part<T>(
        &self,
        p: u32,
        f: impl FnOnce(&Part) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let shared = self.part(p);
        let mut part = shared.lock().unwrap_or_else(|e| e.into_inner());
        if part.files.is_none() {
            part.open(self.cfg.trial.as_str())?;
        }
        if part.refreshed.is_none_or(|t| t.elapsed() >= REFRESH) {
            if let Some(mismatch) = part.refresh(self)? {
                tracing::warn!(partition = p, %mismatch, "rebuilding the tile cache from the start");
                part.reset()?;
                if let Some(mismatch) = part.refresh(self)? {
                    return Err(diverged(mismatch));
                }
            }
            part.refreshed = Some(Instant::now());
        }
        f(&part)
    }

    /// The latest checkpoint of partition `p` as stored, or 404 before the first.
    pub fn checkpoint(&self, p: u32) -> Result<SignedCheckpoint, ApiError> {
        self.with_part(p, |part| part.latest_or_404())
    }

    /// The latest checkpoint of partition `p` as stored, if one was published.
    pub fn latest(&self, p: u32) -> Result<Option<SignedCheckpoint>, ApiError> {
        self.with_part(p, |part| Ok(part.latest.clone()))
    }

    /// Every checkpoint of partition `p` as stored, oldest first (each root checked against
    /// the cached tree when read).
    pub fn published(&self, p: u32) -> Result<Vec<SignedCheckpoint>, ApiError> {
        self.with_part(p, |part| part.published())
    }

    /// The Kafka offset just past the first `size` committed records of partition `p` (0
    /// for none): where a read of exactly those records stops. `size` must be cached already
    /// (a checkpoint's size is, once [`KafkaTiles::published`] listed it).
    pub fn end_offset(&self, p: u32, size: u64) -> Result<i64, ApiError> {
        if size == 0 {
            return Ok(0);
        }
        self.with_part(p, |part| {
            if size > part.meta.leaves {
                return Err(unavailable(format!(
                    "partition {p}: {size} records asked for, {} cached",
                    part.meta.leaves
                )));
            }
            let mut b = [0u8; 8];
            part.files()?
                .offsets
                .read_exact_at(&mut b, (size - 1) * 8)
                .map_err(|e| io("offsets", e))?;
            Ok(i64::from_be_bytes(b) + 1)
        })
    }

    /// Hash tile `level`/`coord` of partition `p` at its latest checkpoint.
    pub fn hash_tile(&self, p: u32, level: u8, coord: TileCoord) -> Result<Vec<u8>, ApiError> {
        self.with_part(p, |part| {
            covered(level, coord, part.latest_or_404()?.unverified().size)?;
            let files = part.files()?;
            let hashes = FileHashes::new(&files.hashes);
            let mut bytes = Vec::with_capacity(coord.width as usize * 32);
            for i in 0..coord.width {
                let index = tlog_tiles::stored_hash_index(8 * level, coord.index * TILE_WIDTH + i);
                bytes.extend_from_slice(&hashes.one(index).map_err(|e| io("hashes", e))?.0);
            }
            Ok(bytes)
        })
    }

    /// The stored records of entry bundle `coord` of partition `p`, read back from the ledger
    /// topic by their cached offsets and each checked against its leaf.
    pub fn bundle_records(&self, p: u32, coord: TileCoord) -> Result<Vec<Vec<u8>>, ApiError> {
        self.with_part(p, |part| {
            let (first, end) = covered(0, coord, part.latest_or_404()?.unverified().size)?;
            let files = part.files()?;
            let offset = |seq: u64| -> Result<i64, ApiError> {
                let mut b = [0u8; 8];
                files
                    .offsets
                    .read_exact_at(&mut b, seq * 8)
                    .map_err(|e| io("offsets", e))?;
                Ok(i64::from_be_bytes(b))
            };
            let (from, to) = (offset(first)?, offset(end - 1)? + 1);
            let mut records = Vec::with_capacity((end - first) as usize);
            read_one(&self.cfg, &self.cfg.topics.ledger, p, from, to, |_, value| {
                records.push(value.to_vec());
                Ok(())
            })?;
            let hashes = FileHashes::new(&files.hashes);
            if records.len() as u64 != end - first {
                return Err(diverged(format!(
                    "partition {p} offsets {from}..{to} hold {} committed records, not the {} cached",
                    records.len(),
                    end - first
                )));
            }
            for (seq, record) in (first..).zip(&records) {
                let leaf = hashes
                    .one(tlog_tiles::stored_hash_index(0, seq))
                    .map_err(|e| io("hashes", e))?;
                if leaf_hash(record) != Some(leaf) {
                    return Err(diverged(format!(
                        "record {p}/{seq} no longer hashes to the leaf its checkpoint covers"
                    )));
                }
            }
            Ok(records)
        })
    }

    /// Runs `f` on a prover of partition `p` from its cache: its tree up to the committed end
    /// read, every checkpoint published for it, and the sequencer keys of partition 0.
    pub fn with_prover<T>(
        &self,
        p: u32,
        f: impl FnOnce(&Prover<'_>) -> Result<T, ProveError>,
    ) -> Result<T, ApiError> {
        // Partition 0 after `p`: a key that signed one of `p`'s checkpoints was enrolled before.
        self.with_part(p, |_| Ok(()))?;
        let keys = self.with_part(0, |part| part.sequencer_keys())?;
        self.with_part(p, |part| {
            let files = part.files()?;
            let published = part.published()?;
            let tree = FileTree {
                size: part.meta.leaves,
                hashes: FileHashes::new(&files.hashes),
            };
            let prover = Prover {
                trial: &self.cfg.trial,
                partition: p,
                tree: &tree,
                published: &published,
                keys: &keys,
            };
            f(&prover).map_err(super::proofs::prove_error)
        })
    }
}

/// The first `len` bytes of `file` (its position is the end: it is opened to append).
fn read_start(file: &File, len: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = vec![0u8; len as usize];
    file.read_exact_at(&mut bytes, 0)?;
    Ok(bytes)
}

/// Reads partition `p` of `topic` from offset `from` to `to` (exclusive), committed messages
/// only, one at a time.
fn read_one(
    cfg: &KafkaConfig,
    topic: &str,
    p: u32,
    from: i64,
    to: i64,
    mut each: impl FnMut(i64, &[u8]) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    let n = p as usize + 1;
    let (mut starts, mut ends) = (vec![0i64; n], vec![0i64; n]);
    starts[p as usize] = from;
    ends[p as usize] = to;
    tl_kafka::read::read_range_each(cfg, topic, &starts, &ends, |_, offset, value| {
        each(offset, value)
    })
}

impl From<tl_kafka::Error> for ApiError {
    fn from(e: tl_kafka::Error) -> Self {
        kafka(e)
    }
}

impl Part {
    fn files(&self) -> Result<&Files, ApiError> {
        self.files
            .as_ref()
            .ok_or_else(|| unavailable("the tile cache is not open"))
    }

    fn latest_or_404(&self) -> Result<SignedCheckpoint, ApiError> {
        self.latest.clone().ok_or_else(|| {
            ApiError::not_found(format!(
                "partition {} has no published checkpoint yet, so no tiles",
                self.p
            ))
        })
    }

    /// Opens the cache, cut back to its `meta.json`; one of another trial, or shorter than
    /// its meta says, is emptied.
    fn open(&mut self, trial: &str) -> Result<(), ApiError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| io("folder", e))?;
        let open = |name: &str| {
            OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .open(self.dir.join(name))
                .map_err(|e| io(name, e))
        };
        self.files = Some(Files {
            hashes: open("hashes")?,
            offsets: open("offsets")?,
            notes: open("checkpoints")?,
            keys: open("sequencer-keys.jsonl")?,
        });
        let meta: Option<Meta> = std::fs::read(self.dir.join("meta.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        match meta.filter(|m| m.trial == trial) {
            Some(m) if self.cut_to(&m)? => self.meta = m,
            _ => {
                self.meta = Meta {
                    trial: trial.to_string(),
                    ..Meta::default()
                };
                self.reset()?;
            }
        }
        self.latest = self.published()?.pop();
        Ok(())
    }

    /// Cuts every file back to what `m` says is complete; false when one is shorter.
    fn cut_to(&self, m: &Meta) -> Result<bool, ApiError> {
        let f = self.files()?;
        let want = [
            (&f.hashes, 32 * tlog_tiles::stored_hash_count(m.leaves)),
            (&f.offsets, 8 * m.leaves),
            (&f.notes, m.checkpoints_bytes),
            (&f.keys, m.keys_bytes),
        ];
        for (file, len) in want {
            let have = file.metadata().map_err(|e| io("metadata", e))?.len();
            if have < len {
                return Ok(false);
            }
            if have > len {
                file.set_len(len).map_err(|e| io("truncate", e))?;
            }
        }
        Ok(true)
    }

    /// Empties the cache (it is rebuilt from offset 0).
    fn reset(&mut self) -> Result<(), ApiError> {
        self.meta = Meta {
            trial: std::mem::take(&mut self.meta.trial),
            ..Meta::default()
        };
        self.latest = None;
        self.cut_to(&self.meta.clone())?;
        self.save_meta()
    }

    fn save_meta(&self) -> Result<(), ApiError> {
        let tmp = self.dir.join("meta.json.tmp");
        let bytes = serde_json::to_vec(&self.meta).map_err(|e| io("meta", e))?;
        std::fs::write(&tmp, bytes).map_err(|e| io("meta", e))?;
        std::fs::rename(&tmp, self.dir.join("meta.json")).map_err(|e| io("meta", e))
    }

    /// Every checkpoint cached, oldest first.
    fn published(&self) -> Result<Vec<SignedCheckpoint>, ApiError> {
        let bytes = read_start(&self.files()?.notes, self.meta.checkpoints_bytes)
            .map_err(|e| io("checkpoints", e))?;
        Ok(parse_note_bytes(&bytes, ListEnd::TornTailAllowed)
            .map_err(|e| io("checkpoints", e))?
            .notes)
    }

    /// The sequencer keys enrolled in partition 0, as cached.
    fn sequencer_keys(&self) -> Result<Vec<SequencerKey>, ApiError> {
        let bytes = read_start(&self.files()?.keys, self.meta.keys_bytes)
            .map_err(|e| io("sequencer keys", e))?;
        bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).map_err(|e| io("sequencer keys", e)))
            .collect()
    }

    /// Reads what was committed since the last refresh. `Some(why)`: a new checkpoint's root
    /// is not the cached tree's.
    fn refresh(&mut self, k: &KafkaTiles) -> Result<Option<String>, ApiError> {
        let read = self.read_checkpoints(k).and_then(|new| {
            let end = k.end(&k.cfg.topics.ledger, self.p)?;
            if end > self.meta.ledger_next {
                self.read_ledger(k, end)?;
            }
            Ok(new)
        });
        // A read that failed part-way leaves appends its meta does not count: cut them off.
        let new = read.inspect_err(|_| {
            let _ = self.cut_to(&self.meta);
        })?;
        self.save_meta()?;
        let files = self.files()?;
        let hashes = FileHashes::new(&files.hashes);
        let origin = partition_origin(&k.cfg.trial, self.p);
        for c in &new {
            let (size, root) = (c.unverified().size, c.unverified().root);
            let got = (size <= self.meta.leaves && c.unverified().origin == origin)
                .then(|| tlog_tiles::tree_hash(size, &hashes))
                .transpose()
                .map_err(|e| io("hashes", e))?;
            if got.map(|h| Hash32(h.0)) != Some(root) {
                return Ok(Some(format!(
                    "partition {}: the checkpoint of size {size} (origin {}) has root {}, but the first {size} of the {} committed records read give another",
                    self.p,
                    c.unverified().origin,
                    root.to_hex(),
                    self.meta.leaves
                )));
            }
        }
        if let Some(c) = new.into_iter().last() {
            self.latest = Some(c);
        }
        Ok(None)
    }

    /// Appends the checkpoints committed since the last read; returns them.
    fn read_checkpoints(&mut self, k: &KafkaTiles) -> Result<Vec<SignedCheckpoint>, ApiError> {
        let topic = &k.cfg.topics.checkpoints;
        let end = k.end(topic, self.p)?;
        let mut new = Vec::new();
        if end <= self.meta.checkpoints_next {
            return Ok(new);
        }
        let (p, mut meta) = (self.p, self.meta.clone());
        let mut notes = &self.files()?.notes;
        read_one(
            &k.cfg,
            topic,
            p,
            meta.checkpoints_next,
            end,
            |offset, value| {
                meta.checkpoints_next = offset + 1;
                match std::str::from_utf8(value)
                    .ok()
                    .and_then(|t| SignedCheckpoint::parse(t).ok())
                {
                    Some(c) => {
                        let entry = note_entry(c.text());
                        notes
                            .write_all(entry.as_bytes())
                            .map_err(|e| io("checkpoints", e))?;
                        meta.checkpoints_bytes += entry.len() as u64;
                        new.push(c);
                    }
                    None => tracing::warn!(partition = p, offset, "not a signed checkpoint"),
                }
                Ok(())
            },
        )?;
        self.meta = meta;
        Ok(new)
    }

    /// Hashes the ledger partition's committed records from `ledger_next` to `end` into the
    /// cache.
    fn read_ledger(&mut self, k: &KafkaTiles, end: i64) -> Result<(), ApiError> {
        let (p, mut meta) = (self.p, self.meta.clone());
        let files = self.files()?;
        read_one(
            &k.cfg,
            &k.cfg.topics.ledger,
            p,
            meta.ledger_next,
            end,
            |offset, value| append_record(files, &mut meta, (&k.cfg.trial, p), offset, value),
        )?;
        self.meta = meta;
        Ok(())
    }
}

/// Appends the record `value` at Kafka `offset` to partition `p`'s cache files, counted in
/// `meta`: its tree hashes, its offset and, in partition 0, a sequencer key it enrols.
fn append_record(
    files: &Files,
    meta: &mut Meta,
    (trial, p): (&tl_schemas::TrialId, u32),
    offset: i64,
    value: &[u8],
) -> Result<(), ApiError> {
    let seq = meta.leaves;
    let leaf = leaf_hash(value).ok_or_else(|| {
        diverged(format!(
            "record {p}/{seq} (offset {offset}) is too short to be a record"
        ))
    })?;
    let stored = tlog_tiles::stored_hashes_for_record_hash(
        seq,
        tlog_tiles::Hash(leaf.0),
        &FileHashes::new(&files.hashes),
    )
    .map_err(|e| io("hashes", e))?;
    let bytes: Vec<u8> = stored.iter().flat_map(|h| h.0).collect();
    (&files.hashes)
        .write_all(&bytes)
        .map_err(|e| io("hashes", e))?;
    (&files.offsets)
        .write_all(&offset.to_be_bytes())
        .map_err(|e| io("offsets", e))?;
    if p == 0 {
        if let Some(key) = SequencerKey::from_record(trial, seq, value) {
            let mut line = serde_json::to_vec(&key).map_err(|e| io("keys", e))?;
            line.push(b'\n');
            (&files.keys).write_all(&line).map_err(|e| io("keys", e))?;
            meta.keys_bytes += line.len() as u64;
        }
    }
    meta.leaves += 1;
    meta.ledger_next = offset + 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tl_ledger::merkle::MerkleTree;

    fn part(dir: &Path) -> Part {
        let mut part = Part {
            p: 3,
            dir: dir.to_path_buf(),
            meta: Meta::default(),
            files: None,
            latest: None,
            refreshed: None,
        };
        part.open("t").unwrap();
        part
    }

    /// Fake stored records: a body and a 64-byte seal.
    fn record(i: u64) -> Vec<u8> {
        let mut r = format!("record {i}").into_bytes();
        r.extend_from_slice(&[7u8; 64]);
        r
    }

    fn tree(part: &Part) -> FileTree<'_> {
        FileTree {
            size: part.meta.leaves,
            hashes: FileHashes::new(&part.files().unwrap().hashes),
        }
    }

    #[test]
    fn the_tree_on_disk_proves_as_the_tree_in_memory_and_resumes_after_a_torn_append() {
        // Given 300 records appended to a partition's cache (past a full level-0 tile)
        let tmp = tempfile::tempdir().unwrap();
        let mut p = part(tmp.path());
        let trial = tl_schemas::TrialId::new("t").unwrap();
        let mut meta = p.meta.clone();
        for i in 0..300u64 {
            append_record(
                p.files().unwrap(),
                &mut meta,
                (&trial, 3),
                10 + 2 * i as i64,
                &record(i),
            )
            .unwrap();
        }
        p.meta = meta;
        p.save_meta().unwrap();
        let memory = MerkleTree::from_leaves((0..300).map(|i| leaf_hash(&record(i)).unwrap()));
        // then every root, leaf and proof read from disk is the in-memory tree's
        let check = |p: &Part| {
            let disk = tree(p);
            assert_eq!(ProofTree::size(&disk), 300);
            for size in [1, 2, 255, 256, 257, 300] {
                assert_eq!(
                    disk.root_at(size).unwrap(),
                    memory.root_at(size).unwrap(),
                    "{size}"
                );
                for seq in [0, size / 2, size - 1] {
                    assert_eq!(
                        disk.inclusion_path(seq, size).unwrap(),
                        ProofTree::inclusion_path(&memory, seq, size).unwrap()
                    );
                }
                assert_eq!(
                    disk.consistency_path(size / 3, size).unwrap(),
                    ProofTree::consistency_path(&memory, size / 3, size).unwrap()
                );
            }
            assert_eq!(disk.leaf(299).unwrap(), memory.leaf(299).unwrap());
            assert!(matches!(disk.root_at(301), Err(ProveError::Request(_))));
            assert!(matches!(disk.leaf(300), Err(ProveError::Request(_))));
        };
        check(&p);
        assert_eq!(p.meta.ledger_next, 10 + 2 * 299 + 1);
        // When appends are torn off after the meta was saved, and the cache is reopened
        let (hashes, offsets) = (tmp.path().join("hashes"), tmp.path().join("offsets"));
        let len = std::fs::metadata(&hashes).unwrap().len();
        let mut f = OpenOptions::new().append(true).open(&hashes).unwrap();
        f.write_all(&[1u8; 45]).unwrap();
        drop(p);
        let p = part(tmp.path());
        // then the files are cut back to the meta and the tree is the same
        assert_eq!(std::fs::metadata(&hashes).unwrap().len(), len);
        check(&p);
        // When a file is shorter than the meta says, the cache is emptied (to be rebuilt)
        drop(p);
        std::fs::write(&offsets, [0u8; 8]).unwrap();
        let p = part(tmp.path());
        assert_eq!(p.meta.leaves, 0);
        assert_eq!(std::fs::metadata(&hashes).unwrap().len(), 0);
        // and the cache of another trial is not taken for this one's
        drop(p);
        let mut q = part(tmp.path());
        let mut meta = q.meta.clone();
        append_record(q.files().unwrap(), &mut meta, (&trial, 3), 0, &record(0)).unwrap();
        q.meta = meta;
        q.save_meta().unwrap();
        drop(q);
        let mut other = part(tmp.path());
        assert_eq!(other.meta.leaves, 1);
        other.files = None;
        other.open("u").unwrap();
        assert_eq!(other.meta.leaves, 0);
    }
}
