//! The embedded writer's snapshot of its state, so that opening a writer replays only the
//! records written after it (FORMAT.md §17, "Writer snapshot"; non-normative).
//!
//! A snapshot is a cache, never an authority. It names the position it was taken at (each
//! partition's record count) and the record hash there (the last of each partition's hashes),
//! and is signed by the writer's sequencer key under [`tags::WRITER_SNAPSHOT_SIG`]. On open
//! the signature, the trial, the pinned root and, for every partition, the position and the
//! record hash stored there are checked; a snapshot that fails any check, or does not decode,
//! is ignored (with a log line) and the state is rebuilt from the records. `verify` never
//! reads it: it verifies from the records.
//!
//! Decoding is bounded by the file: the file is read whole under [`MAX_SNAPSHOT_BYTES`], and
//! postcard decodes from that slice, so a length field can claim no more elements than there
//! are bytes left (serde's pre-allocation for sequences and maps is capped as well).

use crate::crypto::{verify_one, SigningKey};
use crate::embedded::{CoveredSegment, EmbeddedLog, FRAME_HEADER_LEN, SEGMENT_HEADER_LEN};
use crate::merkle::Frontier;
use crate::state::StateSnap;
use crate::Error;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tl_schemas::{decode, encode, record_hash, tags, Sig64, TrialId};

/// The snapshot's file name in the ledger folder.
pub const SNAPSHOT_FILE: &str = "snapshot.bin";
/// The file format version (the first field). Versions 1 (no Merkle frontiers, no segment
/// index) and 2 (every record hash and seen id, which version 3 leaves to the tile store)
/// are ignored like any stale cache.
pub const SNAPSHOT_VERSION: u16 = 3;
/// The largest snapshot file read: about 60 bytes a record, so some 70 million records.
pub const MAX_SNAPSHOT_BYTES: u64 = 4 << 30;
/// A writer that appended records saves a snapshot when it closes with at least this many
/// records not covered by the snapshot on disk: replaying fewer costs about as much as loading
/// one.
pub const SNAPSHOT_EVERY: u64 = 1_000;

/// When a long-running writer (`serve`) saves a snapshot between commits: after a commit, once
/// `every_records` records are not covered by the snapshot on disk, or once `every` has passed
/// since the last one and at least one record is not covered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// Uncovered records that make a snapshot due.
    pub every_records: u64,
    /// Time since the last snapshot (or the open) that makes one due, if any record is
    /// uncovered.
    pub every: std::time::Duration,
}

impl SnapshotPolicy {
    /// `serve`'s policy: every 50,000 records or 10 minutes. Saving costs about as much as
    /// loading (tens of milliseconds at 50,000 records), on the sequencer thread.
    pub const SERVE: SnapshotPolicy = SnapshotPolicy {
        every_records: 50_000,
        every: std::time::Duration::from_secs(600),
    };

    /// Whether a snapshot is due with `uncovered` records not covered, `since` the last one.
    pub fn due(&self, uncovered: u64, since: std::time::Duration) -> bool {
        uncovered >= self.every_records.max(1) || (uncovered > 0 && since >= self.every)
    }
}

/// The file: a header, the body's canonical bytes, and the signature over them.
#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    /// [`SNAPSHOT_VERSION`].
    version: u16,
    /// The trial, as in the signing message.
    trial: TrialId,
    /// The public key of the sequencer key that signed.
    signer: [u8; 32],
    /// canonical([`SnapBody`]): the state without the domain rules, then the store's index.
    #[serde(with = "serde_bytes")]
    body: Vec<u8>,
    /// Ed25519 by `signer` over [`signing_message`]`(trial, body)`.
    signature: Sig64,
}

/// A snapshot's body: the writer's state and, per partition of the state, what its store and
/// publisher need to open without reading the covered records.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SnapBody<S> {
    /// The state without the domain rules.
    pub(crate) state: StateSnap<S>,
    /// One per partition of `state`, in order.
    pub(crate) stores: Vec<StoreSnap>,
}

/// One partition's Merkle frontier and segment index at the snapshot's position.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct StoreSnap {
    /// The frontier of the tree of the partition's records up to the position: its hashes,
    /// 32 bytes each, largest subtree first (one per one bit of the record count).
    #[serde(with = "serde_bytes")]
    pub(crate) frontier: Vec<u8>,
    /// The segments holding those records, in order.
    pub(crate) segments: Vec<SegmentSnap>,
}

/// One segment's covered frames: the first frame is right after the segment header, and each
/// next one right after the one before.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SegmentSnap {
    /// The segment's base seq.
    pub(crate) base: u64,
    /// The payload length of each covered frame, u32 little-endian.
    #[serde(with = "serde_bytes")]
    pub(crate) lengths: Vec<u8>,
}

impl StoreSnap {
    /// The snapshot of a partition's `frontier` and `covered` segments.
    pub(crate) fn of(frontier: &Frontier, covered: &[CoveredSegment]) -> Self {
        let segments = covered
            .iter()
            .map(|c| {
                let ends = c.offsets.iter().skip(1).copied().chain([c.end]);
                let lengths = c
                    .offsets
                    .iter()
                    .zip(ends)
                    .flat_map(|(o, e)| {
                        (e.saturating_sub(o + FRAME_HEADER_LEN) as u32).to_le_bytes()
                    })
                    .collect();
                SegmentSnap {
                    base: c.base,
                    lengths,
                }
            })
            .collect();
        StoreSnap {
            frontier: frontier.hashes().iter().flat_map(|h| h.0).collect(),
            segments,
        }
    }

    /// The frontier at `size` records, if the hashes fit that size.
    pub(crate) fn frontier(&self, size: u64) -> Option<Frontier> {
        if !self.frontier.len().is_multiple_of(32) {
            return None;
        }
        let hashes = self
            .frontier
            .chunks_exact(32)
            .map(|c| tl_schemas::Hash32(c.try_into().unwrap_or([0; 32])))
            .collect();
        Frontier::from_parts(size, hashes).ok()
    }

    /// The segment index, or `None` when it is malformed (a length not whole, a segment
    /// without frames, segments that do not follow on, or other than `records` frames).
    pub(crate) fn covered(&self, records: u64) -> Option<Vec<CoveredSegment>> {
        let mut out = Vec::with_capacity(self.segments.len());
        let mut next = 0u64;
        for seg in &self.segments {
            if seg.base != next || seg.lengths.is_empty() || !seg.lengths.len().is_multiple_of(4) {
                return None;
            }
            let mut offsets = Vec::with_capacity(seg.lengths.len() / 4);
            let mut at = SEGMENT_HEADER_LEN;
            for l in seg.lengths.chunks_exact(4) {
                offsets.push(at);
                let len = u32::from_le_bytes(l.try_into().unwrap_or_default());
                at = at.checked_add(FRAME_HEADER_LEN + u64::from(len))?;
            }
            next = seg.base + offsets.len() as u64;
            out.push(CoveredSegment {
                base: seg.base,
                offsets,
                end: at,
            });
        }
        (next == records).then_some(out)
    }
}

/// The message a snapshot's signature covers: `WRITER_SNAPSHOT_SIG || trial_id || 0x00 ||
/// SHA-256(body)`.
pub fn signing_message(trial: &TrialId, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(tags::WRITER_SNAPSHOT_SIG.len() + trial.as_str().len() + 33);
    m.extend_from_slice(tags::WRITER_SNAPSHOT_SIG);
    m.extend_from_slice(trial.as_str().as_bytes());
    m.push(0);
    m.extend_from_slice(&Sha256::digest(body));
    m
}

/// The snapshot file of the ledger in `dir`.
pub fn snapshot_path(dir: &Path) -> PathBuf {
    dir.join(SNAPSHOT_FILE)
}

/// What a writer made of the snapshot when it opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotUse {
    /// There was none: the state was rebuilt from every record.
    Absent,
    /// It was used: it covered `covered` records, and the `replayed` after it were replayed.
    Loaded {
        /// Records the snapshot covered (all partitions).
        covered: u64,
        /// Records replayed after it.
        replayed: u64,
    },
    /// It failed a check (the reason) and was ignored: the state was rebuilt from every
    /// record.
    Ignored(String),
}

/// The file's bytes as a writer saves them: `state` signed by `key`.
pub(crate) fn file_bytes<S: Serialize>(state: &SnapBody<S>, key: &SigningKey) -> Vec<u8> {
    let body = encode(state);
    let signature = key.sign(&signing_message(&state.state.trial, &body));
    encode(&SnapshotFile {
        version: SNAPSHOT_VERSION,
        trial: state.state.trial.clone(),
        signer: key.public_key(),
        body,
        signature,
    })
}

/// Writes the snapshot of `state` into `dir`, replacing any: a temporary file renamed over
/// it, so a reader sees the old file or the new one. Not synced: a file lost or torn by a
/// crash fails its checks and is ignored.
pub(crate) fn save<S: Serialize>(
    dir: &Path,
    state: &SnapBody<S>,
    key: &SigningKey,
) -> Result<(), Error> {
    let bytes = file_bytes(state, key);
    let path = snapshot_path(dir);
    let tmp = dir.join(format!("{SNAPSHOT_FILE}.tmp"));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    std::fs::write(&tmp, &bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))
}

/// Removes the snapshot of `dir`, if any (a new ledger in a folder that held an old one).
pub(crate) fn remove(dir: &Path) -> Result<(), Error> {
    let path = snapshot_path(dir);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Io { path, source }),
    }
}

/// Reads and authenticates the snapshot of the ledger in `dir` for a writer of `trial` whose
/// sealing key is `signer`, before the store is opened (its segment index tells the store
/// which frames need no reading). `Ok(None)`: there is none. `Err`: why it is to be ignored.
/// The domain state is checked by decoding only; the caller checks the registry's pinned root
/// against its trust file, and the position with [`check_position`] once the store is open.
pub(crate) fn read<S: Serialize + DeserializeOwned>(
    dir: &Path,
    trial: &TrialId,
    signer: &[u8; 32],
) -> Result<Option<SnapBody<S>>, String> {
    let path = snapshot_path(dir);
    if !path.exists() {
        return Ok(None);
    }
    let bytes = crate::limits::read_capped(&path, MAX_SNAPSHOT_BYTES, "writer snapshot")
        .map_err(|e| e.to_string())?;
    let body = open_bytes(&bytes, trial, signer)?;
    Ok(Some(body))
}

/// Every partition's segment index, if the body has a well-formed one for each partition of
/// its state (one per partition, covering exactly the records of its position).
pub(crate) fn covered<S>(body: &SnapBody<S>) -> Option<Vec<Vec<CoveredSegment>>> {
    if body.stores.len() != body.state.partitions.len() {
        return None;
    }
    body.state
        .partitions
        .iter()
        .zip(&body.stores)
        .map(|(p, s)| s.covered(p.len))
        .collect()
}

/// Decodes and authenticates a snapshot file's bytes (everything but its position).
pub(crate) fn open_bytes<S: Serialize + DeserializeOwned>(
    bytes: &[u8],
    trial: &TrialId,
    signer: &[u8; 32],
) -> Result<SnapBody<S>, String> {
    match tl_schemas::canonical::peek_version(bytes) {
        Some(SNAPSHOT_VERSION) => {}
        Some(v) => return Err(format!("format version {v} is not {SNAPSHOT_VERSION}")),
        None => return Err("the file is empty".into()),
    }
    let file: SnapshotFile = decode(bytes).map_err(|e| format!("the file does not decode: {e}"))?;
    if &file.trial != trial {
        return Err(format!(
            "it is of trial {:?}, not {:?}",
            file.trial.as_str(),
            trial.as_str()
        ));
    }
    if &file.signer != signer {
        return Err(format!(
            "it is signed by key {}, not by this writer's key {}",
            tl_schemas::KeyId::of_ed25519(&file.signer),
            tl_schemas::KeyId::of_ed25519(signer)
        ));
    }
    if !verify_one(signer, &signing_message(trial, &file.body), &file.signature) {
        return Err("its signature does not verify".into());
    }
    let body: SnapBody<S> =
        decode(&file.body).map_err(|e| format!("its body does not decode: {e}"))?;
    if &body.state.trial != trial {
        return Err("its body names another trial".into());
    }
    Ok(body)
}

/// Checks that every partition the snapshot covers still holds as many records at least, and
/// that the record stored at the snapshot's position has the hash the snapshot names there:
/// the chain of hashes then ties every earlier record to it.
pub(crate) fn check_position<S>(state: &StateSnap<S>, log: &EmbeddedLog) -> Result<(), String> {
    if state.partitions.len() as u64 > u64::from(log.partition_count()) {
        return Err(format!(
            "it has {} partitions, the ledger {}",
            state.partitions.len(),
            log.partition_count()
        ));
    }
    for (p, ps) in state.partitions.iter().enumerate() {
        let p = p as u32;
        let n = ps.len;
        let held = log.len(p);
        if n > held {
            return Err(format!(
                "it was taken at {n} records of partition {p}, which now holds {held}"
            ));
        }
        let Some(last) = n.checked_sub(1) else {
            continue;
        };
        let stored = log
            .read(p, last, 1)
            .map_err(|e| format!("record {p}/{last} could not be read: {e}"))?;
        let Some(bytes) = stored.first().filter(|b| b.len() > 64) else {
            return Err(format!("record {p}/{last} is not stored"));
        };
        let stored_hash = record_hash(&bytes[..bytes.len() - 64]);
        if stored_hash != ps.head {
            return Err(format!(
                "it names record hash {} at {p}/{last}, the ledger holds {stored_hash} there",
                ps.head
            ));
        }
    }
    Ok(())
}

/// Snapshots changed behind the writer's back, for the tests that show they are ignored:
/// compiled only with the `tamper` feature (test crates only).
#[cfg(feature = "tamper")]
pub mod tamper {
    use super::*;
    use crate::registry::KeyEntry;

    /// Decodes a snapshot file without any check but decoding.
    fn parts<S: Serialize + DeserializeOwned>(file: &[u8]) -> (SnapshotFile, SnapBody<S>) {
        let file: SnapshotFile = decode(file).expect("a snapshot file");
        let state = decode(&file.body).expect("a snapshot body");
        (file, state)
    }

    /// The file with `state` as its body and the old signature.
    fn with_body<S: Serialize>(mut file: SnapshotFile, state: &SnapBody<S>) -> Vec<u8> {
        file.body = encode(state);
        encode(&file)
    }

    /// The snapshot with one more enrolled key, and the signature of the original.
    pub fn add_enrolled_key<S: Serialize + DeserializeOwned>(
        file: &[u8],
        entry: KeyEntry,
    ) -> Vec<u8> {
        let (f, mut state) = parts::<S>(file);
        state.state.registry.insert_key(entry);
        with_body(f, &state)
    }

    /// The snapshot without the first subject of the first partition with one (its head and
    /// domain state), and the signature of the original.
    pub fn drop_subject<S: Serialize + DeserializeOwned>(file: &[u8]) -> Vec<u8> {
        let (f, mut state) = parts::<S>(file);
        let p = state
            .state
            .partitions
            .iter_mut()
            .find(|p| !p.subjects.is_empty())
            .expect("a subject");
        p.subjects.remove(0);
        with_body(f, &state)
    }

    /// The snapshot signed again, by `key`, for `trial` (in the header and the signature; the
    /// body is unchanged).
    pub fn resign(file: &[u8], trial: &TrialId, key: &SigningKey) -> Vec<u8> {
        let mut f: SnapshotFile = decode(file).expect("a snapshot file");
        f.trial = trial.clone();
        f.signer = key.public_key();
        f.signature = key.sign(&signing_message(trial, &f.body));
        encode(&f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::CoreOnly;
    use crate::state::LedgerState;

    fn setup() -> (TrialId, SigningKey, SnapBody<()>) {
        let trial = TrialId::new("snap-unit").unwrap();
        let key = SigningKey::from_seed([2; 32]);
        let state = LedgerState::new(trial.clone(), [1; 32], CoreOnly)
            .to_snap()
            .unwrap();
        let stores = vec![StoreSnap::default(); state.partitions.len()];
        (trial, key, SnapBody { state, stores })
    }

    /// The file with `body` signed by `key`.
    fn signed_file(trial: &TrialId, key: &SigningKey, body: Vec<u8>) -> Vec<u8> {
        let signature = key.sign(&signing_message(trial, &body));
        encode(&SnapshotFile {
            version: SNAPSHOT_VERSION,
            trial: trial.clone(),
            signer: key.public_key(),
            body,
            signature,
        })
    }

    #[test]
    fn a_saved_state_opens_again_and_equals_the_state() {
        // given the snapshot bytes of a state
        let (trial, key, state) = setup();
        let bytes = file_bytes(&state, &key);
        // when they are opened by the same writer
        let back: SnapBody<()> = open_bytes(&bytes, &trial, &key.public_key()).unwrap();
        // then the state is the same
        let rules = |s| LedgerState::from_snap(s, [1; 32], CoreOnly).ok().unwrap();
        assert!(rules(back.state) == rules(state.state));
    }

    #[test]
    fn a_partition_store_snapshot_gives_back_its_frontier_and_segment_index() {
        // given the frontier of 5 leaves and the index of 5 frames in two segments
        let leaves = (0..5u8).map(|i| tl_schemas::Hash32([i; 32]));
        let frontier = Frontier::from_leaves(leaves);
        let covered = vec![
            CoveredSegment {
                base: 0,
                offsets: vec![16, 34, 60],
                end: 70,
            },
            CoveredSegment {
                base: 3,
                offsets: vec![16, 40],
                end: 50,
            },
        ];
        // when they are stored
        let s = StoreSnap::of(&frontier, &covered);
        // then they come back, for that size and that many records only
        assert_eq!(s.frontier(5), Some(frontier));
        assert_eq!(s.frontier(4), None);
        assert_eq!(s.covered(5), Some(covered));
        assert_eq!(s.covered(6), None);
        // and a segment that does not follow on is refused
        let mut gap = s.clone();
        gap.segments[1].base = 4;
        assert_eq!(gap.covered(5), None);
    }

    #[test]
    fn a_huge_body_length_is_refused_without_allocating_it() {
        // given a file whose body length field claims 2^62 bytes, followed by 10 bytes
        let (trial, key, _) = setup();
        let mut bytes = encode(&SNAPSHOT_VERSION);
        bytes.extend(encode(&trial));
        bytes.extend(key.public_key());
        bytes.extend([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40]);
        bytes.extend([0u8; 10]);
        // when it is opened, then it does not decode (and nothing of that size was allocated)
        let e = open_bytes::<()>(&bytes, &trial, &key.public_key()).unwrap_err();
        assert!(e.contains("does not decode"), "{e}");
    }

    #[test]
    fn a_signed_body_with_a_huge_element_count_does_not_decode() {
        // given a correctly signed body whose last field, the subjects of the last partition
        // (empty: one byte 00), claims 2^60 entries
        let (trial, key, state) = setup();
        let mut body = encode(&state.state);
        assert_eq!(body.pop(), Some(0));
        body.extend([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);
        let bytes = signed_file(&trial, &key, body);
        // when it is opened, then its body does not decode
        let e = open_bytes::<()>(&bytes, &trial, &key.public_key()).unwrap_err();
        assert!(e.contains("its body does not decode"), "{e}");
    }

    #[test]
    fn a_signed_body_with_unsorted_or_partial_entries_is_refused() {
        // given a state that gives one subject twice, signed correctly
        let (trial, key, mut state) = setup();
        let link = tl_schemas::Link {
            seq: 0,
            hash: tl_schemas::Hash32([0; 32]),
        };
        state.state.partitions[0].subjects = vec![(tl_schemas::Subject::Trial, link, ()); 2];
        let bytes = file_bytes(&state, &key);
        // then it decodes, but the state refuses it
        let back: SnapBody<()> = open_bytes(&bytes, &trial, &key.public_key()).unwrap();
        let e = LedgerState::from_snap(back.state, [1; 32], CoreOnly)
            .err()
            .unwrap()
            .0;
        assert!(e.contains("inconsistent"), "{e}");
        // and one that pins another root is refused too
        let (_, _, state) = setup();
        let e = LedgerState::from_snap(state.state, [9; 32], CoreOnly)
            .err()
            .unwrap()
            .0;
        assert!(e.contains("another root"), "{e}");
    }
}
