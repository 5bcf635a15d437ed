//! The `EventLog` trait and the embedded ledger built on it.
//!
//! An [`EventLog`] holds the trial's partitions of record bytes; the embedded segment store
//! and (later) Kafka implement it with the same bytes. [`EmbeddedLedger`] puts the sequencer
//! in front of the embedded store: the single-writer deployment for one site, demos and
//! offline bundles. It also publishes the signed checkpoints of its durable records
//! ([`crate::publish`]).

use crate::codec::decode_record;
use crate::crypto::SigningKey;
use crate::embedded::{
    EmbeddedLog, EmbeddedReader, ScanEnd, StoreOptions, SuspectTail, TailRepair, TornTail,
};
use crate::merkle::Frontier;
use crate::publish::{PublishPolicy, Publisher};
use crate::reason::Refusal;
use crate::rules::DomainRules;
use crate::sequencer::{Outcome, Sequencer};
use crate::snapshot::{self, SnapshotUse};
use crate::state::{LedgerState, RecordSource};
use crate::tilestore::TileStore;
use crate::trust::TrustFile;
use crate::verify::{InputEnd, PartitionInput};
use crate::writer::Draft;
use crate::Error;
use std::path::Path;
use tl_schemas::events::{envelope_of, KeyEnrolled, TrialRegistered};
use tl_schemas::{Record, Role, SignedSubmission, Subject, TrialId, UtcMicros};

/// A log of record bytes in partitions, each addressed by sequence number from 0.
pub trait EventLog {
    /// Number of partitions.
    fn partition_count(&self) -> u32;
    /// Records in a partition.
    fn len(&self, partition: u32) -> u64;
    /// Up to `max` records of `partition` from `from` on.
    fn read(&self, partition: u32, from: u64, max: usize) -> Result<Vec<Vec<u8>>, Error>;
    /// Appends records to the end of a partition; they are durable when this returns.
    fn append(&mut self, partition: u32, records: &[Vec<u8>]) -> Result<u64, Error>;
}

impl EventLog for EmbeddedLog {
    fn partition_count(&self) -> u32 {
        EmbeddedLog::partition_count(self)
    }
    fn len(&self, partition: u32) -> u64 {
        EmbeddedLog::len(self, partition)
    }
    fn read(&self, partition: u32, from: u64, max: usize) -> Result<Vec<Vec<u8>>, Error> {
        Ok(EmbeddedLog::read(self, partition, from, max)?)
    }
    fn append(&mut self, partition: u32, records: &[Vec<u8>]) -> Result<u64, Error> {
        Ok(EmbeddedLog::append(self, partition, records)?)
    }
}

/// Reads cited and original records straight from a log.
pub struct LogSource<'a, L: EventLog>(pub &'a L);

impl<L: EventLog> RecordSource for LogSource<'_, L> {
    fn record(&self, partition: u32, seq: u64) -> Option<std::sync::Arc<Record>> {
        let bytes = self.0.read(partition, seq, 1).ok()?.into_iter().next()?;
        decode_record(&bytes).ok().map(|(r, _)| r.into())
    }
}

/// Reads every partition of an embedded ledger for verification, with the checkpoints the
/// writer stored for it, without taking the lock and without repairing anything.
pub fn read_embedded_for_verify(dir: &Path) -> Result<Vec<PartitionInput>, Error> {
    let reader = EmbeddedReader::open(dir)?;
    // Checkpoints first: a writer publishes one only over records already durable, so every
    // checkpoint read now covers records the scans below will find, even if it keeps writing.
    let mut checkpoints = (0..reader.partition_count())
        .map(|p| crate::publish::stored_checkpoints(dir, p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    for p in 0..reader.partition_count() {
        let scan = reader.scan(p)?;
        let end = match scan.end {
            ScanEnd::Clean => InputEnd::Clean,
            ScanEnd::TornTail { seq, .. } => InputEnd::TornTail {
                seq,
                // The writer refuses a tail that a stored checkpoint covers, or when it
                // cannot read the checkpoints.
                writer_cuts: stored_checkpoint_size(dir, p).is_ok_and(|size| size <= seq),
            },
            ScanEnd::Corrupt { seq, reason } => InputEnd::Corrupt { seq, reason },
        };
        out.push(PartitionInput {
            records: scan.records,
            offsets: None,
            end,
            checkpoints: std::mem::take(&mut checkpoints[p as usize]),
        });
    }
    Ok(out)
}

/// The size of the last checkpoint stored for `partition` (0: none).
fn stored_checkpoint_size(dir: &Path, partition: u32) -> Result<u64, Error> {
    Ok(crate::publish::read_published(dir, partition)?
        .last()
        .map_or(0, |c| c.unverified().size))
}

/// Refuses to cut any torn tail that a stored checkpoint covers: the checkpoint proves the
/// bytes held a complete, published record, so only an operator may decide (nothing is cut).
fn check_tails_against_checkpoints(dir: &Path, torn: &[TornTail]) -> Result<(), Error> {
    for t in torn {
        let size = stored_checkpoint_size(dir, t.partition)?;
        if size <= t.seq {
            continue;
        }
        return Err(Error::Checkpoint {
            path: crate::publish::checkpoint_path(dir, t.partition),
            detail: format!(
                "partition {}: segment {} ends at byte offset {} in {} bytes that look like an interrupted append of record {}, but this ledger published a checkpoint of {size} records, so they held a complete record; the writer refused to open and changed nothing: restore the partition from a replica or backup",
                t.partition,
                t.file.display(),
                t.offset,
                t.bytes,
                t.seq
            ),
        });
    }
    Ok(())
}

/// A tail found by [`cut_tails`], and where its bytes were kept if it was cut.
#[derive(Clone, Debug)]
pub struct TailCut {
    /// The tail: partition, segment, offset, length, and what was found.
    pub tail: SuspectTail,
    /// The copy of the cut bytes beside the segment; `None` on a dry run.
    pub copy: Option<std::path::PathBuf>,
}

/// `trial-ledger repair --cut-torn-tail`: cuts the tail of every partition whose last segment
/// does not end in a complete, valid frame, keeping a copy of the cut bytes beside the segment
/// (see [`TailRepair`]). Unlike the writer, it also cuts a tail whose frame length runs past
/// the end of the segment although a prefix of it matches its checksum: the operator has
/// looked and decided.
///
/// Refuses, changing nothing, when the ledger is in use, when a partition is damaged
/// anywhere else, or when a stored checkpoint covers a tail's first record: the checkpoint
/// proves a complete record was there, and a ledger cut below its checkpoint would not open.
/// `announce` is called with every tail after all checks and before the first cut, so the
/// operator is told what will be removed; with `dry_run`, nothing is cut.
pub fn cut_tails(
    dir: &Path,
    dry_run: bool,
    mut announce: impl FnMut(&SuspectTail),
) -> Result<Vec<TailCut>, Error> {
    let repair = TailRepair::open(dir)?;
    for t in repair.tails() {
        let size = stored_checkpoint_size(dir, t.tail.partition)?;
        if size > t.tail.seq {
            return Err(Error::Checkpoint {
                path: crate::publish::checkpoint_path(dir, t.tail.partition),
                detail: format!(
                    "partition {}: the tail at byte offset {} of {} would remove record {} and later ones, but this ledger published a checkpoint of {size} records; nothing was cut: restore the partition from a replica or backup",
                    t.tail.partition,
                    t.tail.offset,
                    t.tail.file.display(),
                    t.tail.seq
                ),
            });
        }
    }
    repair.tails().iter().for_each(&mut announce);
    let mut out = Vec::new();
    for t in repair.tails() {
        let copy = if dry_run { None } else { Some(repair.cut(t)?) };
        out.push(TailCut {
            tail: t.clone(),
            copy,
        });
    }
    Ok(out)
}

/// The submission id of bootstrap record `index` (0: `TrialRegistered`, 1: the first
/// sequencer key): the first 16 bytes of SHA-256(`trial-ledger/v1/bootstrap\0` || trial id ||
/// 0x00 || u32_be(index)). Derived, not random, so that the same keys, trial id and clock
/// give byte-identical bootstrap records (golden vectors, deterministic simulations).
pub fn bootstrap_submission_id(trial: &TrialId, index: u32) -> tl_schemas::SubmissionId {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"trial-ledger/v1/bootstrap\0");
    h.update(trial.as_str().as_bytes());
    h.update([0u8]);
    h.update(index.to_be_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&h.finalize()[..16]);
    tl_schemas::SubmissionId(id)
}

/// Replays the records of the log from `from[p]` on (0 for a partition `from` does not name)
/// into the sequencer, partition 0 first: it fixes the partition count and the registry the
/// others rely on. Returns how many records were replayed.
fn replay<R: DomainRules>(
    log: &EmbeddedLog,
    sequencer: &mut Sequencer<R>,
    from: &[u64],
) -> Result<u64, Error> {
    let mut replayed = 0;
    for p in 0..log.partition_count() {
        let n = log.len(p);
        let mut at = from.get(p as usize).copied().unwrap_or(0);
        while at < n {
            let batch = EventLog::read(log, p, at, 4096)?;
            for bytes in &batch {
                sequencer.replay(bytes, &LogSource(log))?;
            }
            at += batch.len() as u64;
            replayed += batch.len() as u64;
        }
    }
    Ok(replayed)
}

/// A snapshot read and authenticated before the store was opened, or why it is ignored.
type ReadSnapshot<R> = Result<Option<snapshot::SnapBody<<R as DomainRules>::SubjectState>>, String>;

/// What the writer's open rebuilt: the sequencer, how the snapshot was used, and each
/// partition's Merkle frontier at the snapshot's position when it was used.
type Rebuilt<R> = (Sequencer<R>, SnapshotUse, Vec<Option<Frontier>>);

/// Why a writer's open inside the store's check stopped.
enum OpenStop<R> {
    /// An error of the open.
    Fail(Error),
    /// The snapshot whose segment index spared reading the covered frames was ignored (the
    /// reason): the store is to be opened again and scanned whole, with the rules back.
    Rescan(String, R),
}

impl<R> From<Error> for OpenStop<R> {
    fn from(e: Error) -> Self {
        OpenStop::Fail(e)
    }
}

impl<R> From<crate::embedded::StoreError> for OpenStop<R> {
    fn from(e: crate::embedded::StoreError) -> Self {
        OpenStop::Fail(e.into())
    }
}

/// The writer's state rebuilt from its snapshot and the records after it, or, when there is
/// no snapshot or it fails a check (logged), from every record. Returns the sequencer, how
/// the snapshot was used and its frontiers. With `rescan_if_ignored` (the store trusted the
/// snapshot's segment index), a snapshot that fails a check stops the open instead.
fn rebuild<R: DomainRules>(
    log: &EmbeddedLog,
    store: &mut TileStore,
    trust: (&TrialId, [u8; 32]),
    rules: R,
    sealer: &SigningKey,
    snap: ReadSnapshot<R>,
    rescan_if_ignored: bool,
) -> Result<Rebuilt<R>, OpenStop<R>> {
    let (trial, root) = trust;
    let (why, rules) = match snap {
        Ok(None) => (None, rules),
        Err(why) => (Some(why), rules),
        Ok(Some(snap)) => match from_snapshot(log, store, root, rules, sealer, snap) {
            Ok(done) => return Ok(done),
            Err((why, rules)) if rescan_if_ignored => return Err(OpenStop::Rescan(why, rules)),
            Err((why, rules)) => (Some(why), rules),
        },
    };
    if let Some(why) = &why {
        tracing::warn!(
            file = %snapshot::snapshot_path(log.dir()).display(),
            "writer snapshot ignored, rebuilding the state from every record: {why}"
        );
    }
    // The store is rewritten from every record at the first commit.
    store.reset();
    let mut state = LedgerState::new(trial.clone(), root, rules);
    state.set_seen_index(store.seen());
    let mut sequencer = Sequencer::new(state, sealer.clone());
    replay(log, &mut sequencer, &[])?;
    let used = why.map_or(SnapshotUse::Absent, SnapshotUse::Ignored);
    Ok((sequencer, used, Vec::new()))
}

/// The state from the snapshot and the records after it, or why the snapshot is ignored
/// (with the rules back, for a full replay).
fn from_snapshot<R: DomainRules>(
    log: &EmbeddedLog,
    store: &mut TileStore,
    root: [u8; 32],
    rules: R,
    sealer: &SigningKey,
    snap: snapshot::SnapBody<R::SubjectState>,
) -> Result<Rebuilt<R>, (String, R)> {
    if let Err(why) = snapshot::check_position(&snap.state, log) {
        return Err((why, rules));
    }
    let from: Vec<u64> = snap.state.partitions.iter().map(|p| p.len).collect();
    let frontiers: Option<Vec<Frontier>> = (snap.stores.len() == from.len())
        .then(|| {
            snap.stores
                .iter()
                .zip(&from)
                .map(|(s, n)| s.frontier(*n))
                .collect()
        })
        .flatten();
    let Some(frontiers) = frontiers else {
        return Err(("its Merkle frontiers do not fit its position".into(), rules));
    };
    if let Err(why) = check_store(log.dir(), store, &snap.state, &frontiers) {
        store.reset();
        return Err((format!("its tile store does not match it: {why}"), rules));
    }
    let mut state = LedgerState::from_snap(snap.state, root, rules)?;
    state.set_seen_index(store.seen());
    let mut sequencer = Sequencer::new(state, sealer.clone());
    match replay(log, &mut sequencer, &from) {
        Ok(replayed) => {
            let covered = from.iter().sum();
            let used = SnapshotUse::Loaded { covered, replayed };
            Ok((sequencer, used, frontiers.into_iter().map(Some).collect()))
        }
        // A full replay decides whether the records themselves are at fault.
        Err(e) => Err((
            format!("the records after it do not continue it: {e}"),
            sequencer.into_state().into_rules(),
        )),
    }
}

/// Checks the tile store against the snapshot (FORMAT.md §17, "Tile store"): for every
/// partition, its leaves and tree up to the snapshot's position, its seen-id index's coverage,
/// and the root of the last published checkpoint when that is older than the position (the
/// publisher then reads it from the store).
fn check_store<S>(
    dir: &Path,
    store: &mut TileStore,
    state: &crate::state::StateSnap<S>,
    frontiers: &[Frontier],
) -> Result<(), String> {
    for (p, (ps, frontier)) in state.partitions.iter().zip(frontiers).enumerate() {
        let p = p as u32;
        store.check(p, ps.len, ps.head, frontier)?;
        let last = crate::publish::read_published(dir, p)
            .map_err(|e| e.to_string())?
            .last()
            .map(|c| (c.unverified().size, c.unverified().root));
        if let Some((size, root)) = last.filter(|(size, _)| *size < ps.len) {
            if store.root_at(p, size)? != root {
                return Err(format!(
                    "its root of partition {p} at {size} records is not the checkpoint's"
                ));
            }
        }
    }
    Ok(())
}

/// What opening the store for the writer gives: the log, the torn tails cut, and the
/// sequencer, publisher and snapshot use rebuilt before they were cut.
type OpenedStore<R> = (
    EmbeddedLog,
    Vec<TornTail>,
    (Sequencer<R>, Publisher, SnapshotUse),
);

/// What the writer's open passes down: the ledger folder, the segment index the snapshot
/// gives, and the tile store.
struct OpenPlan<'a> {
    dir: &'a Path,
    covered: &'a [Vec<crate::embedded::CoveredSegment>],
    store: &'a mut TileStore,
}

/// Opens the store (trusting the frames `covered` indexes, FORMAT.md §17), checks the torn
/// tails against the checkpoints, rebuilds the state and the publisher, and only then lets
/// the store cut the tails.
fn open_store<R: DomainRules>(
    plan: OpenPlan<'_>,
    trust: (&TrialId, [u8; 32]),
    rules: R,
    sealer: &SigningKey,
    snap: ReadSnapshot<R>,
    rescan_if_ignored: bool,
) -> Result<OpenedStore<R>, OpenStop<R>> {
    let OpenPlan {
        dir,
        covered,
        store,
    } = plan;
    EmbeddedLog::open_writer_covered(dir, StoreOptions::default(), covered, |log, torn| {
        check_tails_against_checkpoints(dir, torn)?;
        let (sequencer, used, frontiers) =
            rebuild(log, store, trust, rules, sealer, snap, rescan_if_ignored)?;
        let state = sequencer.state();
        let store = &*store;
        let roots: Vec<_> = (0..state.partition_count())
            .map(|p| move |n: u64| store.root_at(p, n))
            .collect();
        let leaves: Vec<crate::publish::OpenLeaves<'_>> = (0..state.partition_count())
            .map(|p| {
                let ps = state.partition(p);
                crate::publish::OpenLeaves {
                    len: state.len(p),
                    base: ps.map_or(0, |s| s.base),
                    tail: ps.map_or(&[][..], |s| &s.hashes[..]),
                    start: frontiers
                        .get(p as usize)
                        .and_then(Option::as_ref)
                        .filter(|f| f.size() <= state.len(p)),
                    stored_root: &roots[p as usize],
                }
            })
            .collect();
        let publisher = Publisher::open(dir, state.trial(), sealer.clone(), &leaves)?;
        Ok((sequencer, publisher, used))
    })
}

/// The embedded ledger: the sequencer in front of the embedded store, as one writer.
pub struct EmbeddedLedger<R: DomainRules> {
    /// The segment store; holds the writer lock.
    pub(crate) log: EmbeddedLog,
    /// The sequencer with the state rebuilt from the log.
    pub(crate) sequencer: Sequencer<R>,
    /// Set when an append failed after the state advanced: the in-memory state is then ahead
    /// of the disk, so the ledger must be reopened before it orders anything else.
    poisoned: bool,
    /// How sealed records reach the disk.
    durability: Durability,
    /// Sealed records not yet appended (group commit), per partition, in order.
    pub(crate) pending: std::collections::BTreeMap<u32, Vec<Vec<u8>>>,
    /// The partition of each record in `pending`, in the order they were sequenced: the
    /// order the store writes them in, so that a crash mid-batch never leaves a record on
    /// disk without a record of another partition it depends on.
    pub(crate) pending_order: Vec<u32>,
    /// Signs and stores the checkpoints of the durable records.
    publisher: Publisher,
    /// The on-disk tile store and seen-id index, appended after each commit.
    store: TileStore,
    /// Set by [`EmbeddedLedger::close`]: nothing is left for `Drop` to do.
    closed: bool,
    /// What the writer made of the snapshot when it opened.
    snapshot_use: SnapshotUse,
    /// Records (all partitions) the snapshot on disk covers, as far as this writer knows.
    snapshot_covers: u64,
    /// Records (all partitions) when this writer opened: a writer that appended nothing saves
    /// no snapshot, so that a refused command leaves the folder exactly as it found it.
    records_at_open: u64,
    /// When a long-running writer saves snapshots between its commits (`None`: only on
    /// closing), and when it last saved one.
    snapshot_policy: Option<(snapshot::SnapshotPolicy, std::time::Instant)>,
}

/// When a sealed record is made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// Append and fsync each record before its receipt is returned.
    #[default]
    EachRecord,
    /// Group commit: buffer sealed records and append them, one fsync per partition, on
    /// [`EmbeddedLedger::flush`] (or every `max_pending` records). Receipts returned before
    /// the flush are only promises: a crash loses the buffered records, which a writer then
    /// resubmits (their submission ids make that idempotent). For bulk loads and the demo.
    Grouped {
        /// Flush automatically once this many records are pending.
        max_pending: usize,
    },
}

/// Reads records from the log, or from the not-yet-flushed buffer.
pub(crate) struct PendingSource<'a> {
    pub(crate) log: &'a EmbeddedLog,
    pub(crate) pending: &'a std::collections::BTreeMap<u32, Vec<Vec<u8>>>,
}

impl RecordSource for PendingSource<'_> {
    fn record(&self, partition: u32, seq: u64) -> Option<std::sync::Arc<Record>> {
        let on_disk = self.log.len(partition);
        if seq < on_disk {
            return LogSource(self.log).record(partition, seq);
        }
        let bytes = self
            .pending
            .get(&partition)?
            .get((seq - on_disk) as usize)?;
        decode_record(bytes).ok().map(|(r, _)| r.into())
    }
}

impl<R: DomainRules> EmbeddedLedger<R> {
    /// Creates a trial's embedded ledger in `dir`: `TrialRegistered` and the enrolment of the
    /// sequencer key, both signed and sealed by the root key (FORMAT.md, "Bootstrap").
    // Every argument is a distinct fact of the new trial; a builder would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        dir: &Path,
        trial: &TrialId,
        partitions: u32,
        title: &str,
        root: &SigningKey,
        sequencer_key: SigningKey,
        rules: R,
        now: UtcMicros,
    ) -> Result<Self, Error> {
        // Checkpoints left in the folder by an earlier ledger would be appended to; an
        // existing ledger is refused by the store itself.
        if !dir.join("meta.json").exists() && crate::publish::has_checkpoints(dir)? {
            return Err(Error::Checkpoint {
                path: crate::publish::checkpoint_dir(dir),
                detail: "a new ledger's folder holds checkpoints of an earlier one; remove them or choose another folder".into(),
            });
        }
        let log = EmbeddedLog::create(dir, partitions, StoreOptions::default())?;
        // A snapshot or store left by an earlier ledger in this folder would only be ignored;
        // remove them.
        snapshot::remove(dir)?;
        TileStore::remove(dir)?;
        let store = TileStore::open(dir);
        let mut state = LedgerState::new(trial.clone(), root.public_key(), rules);
        state.set_seen_index(store.seen());
        let mut ledger = EmbeddedLedger {
            log,
            sequencer: Sequencer::new(state, root.clone()),
            poisoned: false,
            durability: Durability::EachRecord,
            pending: Default::default(),
            pending_order: Vec::new(),
            publisher: Publisher::new(dir, trial),
            store,
            closed: false,
            snapshot_use: SnapshotUse::Absent,
            snapshot_covers: 0,
            records_at_open: 0,
            snapshot_policy: None,
        };
        let registered = TrialRegistered {
            partition_count: partitions,
            root_public_key: root.public_key(),
            title: title.into(),
        };
        let mut draft = Draft::new(Subject::Trial, envelope_of(&registered));
        draft.submission_id = bootstrap_submission_id(trial, 0);
        draft.client_time = now;
        ledger.submit_as_root(draft.sign(trial, root), now)?;
        let enrol = KeyEnrolled {
            public_key: sequencer_key.public_key(),
            name: "sequencer".into(),
            role: Role::Sequencer,
        };
        let mut draft = Draft::new(Subject::Trial, envelope_of(&enrol));
        draft.submission_id = bootstrap_submission_id(trial, 1);
        draft.client_time = now;
        ledger.submit_as_root(draft.sign(trial, root), now)?;
        ledger.sequencer.set_sealer(sequencer_key.clone());
        // Checkpoints are the sequencer key's, so they start once it is enrolled.
        ledger.publisher.set_key(sequencer_key);
        Ok(ledger)
    }

    fn submit_as_root(&mut self, s: SignedSubmission, now: UtcMicros) -> Result<(), Error> {
        match self.submit_decoded(s, now)? {
            Outcome::Sealed(_) => Ok(()),
            Outcome::Duplicate(_) => Ok(()),
            Outcome::Refused(r) => Err(Error::Refused(r)),
        }
    }

    /// Opens an existing ledger as its single writer: takes the lock, rebuilds the sequencer's
    /// state (from the writer snapshot and the records after it, or from every record when
    /// there is no usable snapshot: [`EmbeddedLedger::snapshot_use`] says which) and each
    /// partition's Merkle frontier from their hashes, checks the stored checkpoints, and only
    /// then cuts torn tails. Returns what was cut. It saves no snapshot: a writer that appends
    /// saves one when it closes, once [`snapshot::SNAPSHOT_EVERY`] records are uncovered.
    ///
    /// Everything is checked before any byte is changed, so every refusal leaves every file as
    /// it was:
    /// - damage in a partition, including a frame whose length runs past the end of its segment
    ///   although a prefix of it matches its checksum, is [`Error::Store`];
    /// - a torn tail where a stored checkpoint says a complete record was is
    ///   [`Error::Checkpoint`] (it names the partition, the segment and the byte offset);
    /// - the ledger must still extend the last checkpoint it published for each partition (same
    ///   root at that size); a partition truncated or rewritten behind the writer's back is
    ///   [`Error::Checkpoint`].
    ///
    /// Then the torn tails of the record segments are cut, and a torn final checkpoint entry
    /// (an interrupted append) too.
    pub fn open(
        dir: &Path,
        trust: &TrustFile,
        rules: R,
        sealer: SigningKey,
    ) -> Result<(Self, Vec<TornTail>), Error> {
        let root = trust.root_key().map_err(|detail| Error::Trust {
            path: std::path::PathBuf::from(format!("of trial {}", trust.trial_id)),
            detail,
        })?;
        let trial = trust.trial();
        let snap = snapshot::read(dir, &trial, &sealer.public_key());
        let covered = match &snap {
            Ok(Some(body)) => snapshot::covered(body).unwrap_or_default(),
            _ => Vec::new(),
        };
        let trusted = (&trial, root);
        let rescan = !covered.is_empty();
        let mut store = TileStore::open(dir);
        let plan = OpenPlan {
            dir,
            covered: &covered,
            store: &mut store,
        };
        let opened = open_store(plan, trusted, rules, &sealer, snap, rescan);
        let (log, torn, (sequencer, mut publisher, used)) = match opened {
            Ok(done) => done,
            Err(OpenStop::Fail(e)) => return Err(e),
            // Nothing was changed: open again, reading every frame, and replay everything.
            Err(OpenStop::Rescan(why, rules)) => {
                let plan = OpenPlan {
                    dir,
                    covered: &[],
                    store: &mut store,
                };
                match open_store(plan, trusted, rules, &sealer, Err(why), false) {
                    Ok(done) => done,
                    Err(OpenStop::Fail(e)) => return Err(e),
                    // Not reached: a whole scan never asks for another.
                    Err(OpenStop::Rescan(why, _)) => {
                        return Err(Error::Store(crate::embedded::StoreError::Io {
                            path: dir.to_path_buf(),
                            source: std::io::Error::other(why),
                        }))
                    }
                }
            }
        };
        publisher.cut_torn_entries()?;
        let snapshot_covers = match used {
            SnapshotUse::Loaded { covered, .. } => covered,
            _ => 0,
        };
        let mut ledger = EmbeddedLedger {
            log,
            sequencer,
            poisoned: false,
            durability: Durability::EachRecord,
            pending: Default::default(),
            pending_order: Vec::new(),
            publisher,
            store,
            closed: false,
            snapshot_use: used,
            snapshot_covers,
            records_at_open: 0,
            snapshot_policy: None,
        };
        // No snapshot is saved here, even after a long replay: the command may yet be refused,
        // and a refusal changes nothing. The first writer that appends saves one when it closes.
        ledger.records_at_open = ledger.total_records();
        Ok((ledger, torn))
    }

    /// What this writer made of the snapshot when it opened (see [`SnapshotUse`]).
    pub fn snapshot_use(&self) -> &SnapshotUse {
        &self.snapshot_use
    }

    /// Records in the ledger (all partitions, the group-commit buffer included).
    fn total_records(&self) -> u64 {
        let state = self.sequencer.state();
        (0..state.partition_count()).map(|p| state.len(p)).sum()
    }

    /// Saves a snapshot of the state (FORMAT.md §17, "Writer snapshot"), replacing the one on
    /// disk. Buffered records are flushed first, so the snapshot covers durable records only.
    /// Refused while the ledger is poisoned or while the sealing key is not an active
    /// sequencer key (before the bootstrap's enrolment).
    pub fn save_snapshot(&mut self) -> Result<(), Error> {
        self.check_not_poisoned()?;
        self.flush_records()?;
        // After a full replay and no commit, the store has yet to be written.
        self.sync_store();
        if !self.may_publish() {
            let key = self.sequencer.sealer().key_id().to_hex();
            return Err(Error::SealerNotAuthorized {
                key_id: key,
                position: self.sequencer.state().registry().position(),
            });
        }
        let unstored = || Error::Io {
            path: crate::tilestore::store_dir(self.log.dir()),
            source: std::io::Error::other(
                "the tile store is behind the records (an earlier write failed); no snapshot saved",
            ),
        };
        let state = self.sequencer.state().to_snap().ok_or_else(unstored)?;
        let stores = (0..state.partitions.len() as u32)
            .map(|p| {
                let n = self.sequencer.state().len(p);
                let frontier = self.frontier_at(p, n).ok_or_else(unstored)?;
                Ok(snapshot::StoreSnap::of(&frontier, &self.log.covered(p, n)))
            })
            .collect::<Result<_, Error>>()?;
        let body = snapshot::SnapBody { state, stores };
        snapshot::save(self.log.dir(), &body, self.sequencer.sealer())?;
        self.snapshot_covers = self.total_records();
        Ok(())
    }

    /// The Merkle frontier of partition `p`'s first `n` records: the publisher's, which covers
    /// the durable records, or the tile store's, when one is at `n` (always, after a flush
    /// and a store sync). `None`: neither is.
    fn frontier_at(&self, p: u32, n: u64) -> Option<Frontier> {
        [self.publisher.frontier(p), self.store.frontier(p)]
            .into_iter()
            .flatten()
            .find(|f| f.size() == n)
            .cloned()
    }

    /// Appends what the log now holds durably to the tile store and the seen-id index, then
    /// forgets those hashes and ids in memory (after moving the publisher's frontier past
    /// them). A failure is logged, not returned: the store is a cache, and the state keeps
    /// what was not stored until a later commit stores it.
    fn sync_store(&mut self) {
        for p in 0..self.sequencer.state().partition_count() {
            self.advance_frontier(p);
            let durable = self.log.len(p);
            let valid = self.store.valid(p);
            let Some(ps) = self.sequencer.state().partition(p) else {
                continue;
            };
            if valid >= durable.min(ps.len()) || valid < ps.seen_from() {
                continue;
            }
            let leaves = &ps.hashes[(valid - ps.base) as usize..(durable - ps.base) as usize];
            let mut seen: Vec<_> = ps
                .seen
                .iter()
                .filter(|(_, seq)| (valid..durable).contains(*seq))
                .map(|(id, seq)| (*id, *seq))
                .collect();
            seen.sort_unstable_by_key(|s| s.1);
            match self.store.append(p, leaves, &seen) {
                Ok(()) => self.sequencer.state_mut().trim(p, durable),
                Err(e) => tracing::warn!(
                    partition = p,
                    "the tile store was not appended to (the state keeps the hashes): {e}"
                ),
            }
        }
    }

    /// Saves a snapshot when this writer appended records and at least
    /// [`snapshot::SNAPSHOT_EVERY`] records are not covered by the one on disk. A failure is
    /// logged, not returned: the snapshot is a cache.
    fn snapshot_if_behind(&mut self) {
        if self.poisoned
            || self.total_records() == self.records_at_open
            || self.total_records() < self.snapshot_covers + snapshot::SNAPSHOT_EVERY
            || !self.may_publish()
        {
            return;
        }
        if let Err(e) = self.save_snapshot() {
            tracing::warn!("the writer snapshot was not saved (the next writer replays more): {e}");
        }
    }

    /// Chooses when checkpoints are published (see [`PublishPolicy`]).
    pub fn set_publish_policy(&mut self, policy: PublishPolicy) {
        self.publisher.set_policy(policy);
    }

    /// The checkpoint publication policy.
    pub fn publish_policy(&self) -> PublishPolicy {
        self.publisher.policy()
    }

    /// The size and RFC 9162 root of a partition's durable records: what a checkpoint
    /// published now would say.
    pub fn durable_root(&self, partition: u32) -> (u64, tl_schemas::Hash32) {
        self.publisher.durable_root(partition)
    }

    /// The last checkpoint published for a partition (a signed note), if any.
    pub fn last_checkpoint(&self, partition: u32) -> Option<&str> {
        self.publisher.last_note(partition)
    }

    /// Moves each partition's frontier up to its durable records: those in the store, not in
    /// the group-commit buffer.
    fn advance_frontiers(&mut self) {
        for p in 0..self.sequencer.state().partition_count() {
            self.advance_frontier(p);
        }
    }

    fn advance_frontier(&mut self, p: u32) {
        let state = self.sequencer.state();
        let buffered = self.pending.get(&p).map_or(0, Vec::len) as u64;
        let durable = state.len(p) - buffered;
        if let Some(ps) = state.partition(p) {
            self.publisher.advance(p, ps.base, &ps.hashes, durable);
        }
    }

    /// Whether the checkpoint key may sign now: it is an active sequencer key. Checkpoints
    /// signed by any other key would not verify.
    fn may_publish(&self) -> bool {
        let Some(key) = self.publisher.key() else {
            return false;
        };
        let registry = self.sequencer.state().registry();
        matches!(
            registry.author_at(&key.key_id(), registry.position()),
            Ok(crate::registry::Author::Key(Role::Sequencer))
        )
    }

    /// Publishes a checkpoint for every partition whose durable records grew since its last
    /// one. Returns how many were published.
    fn publish_grown(&mut self) -> Result<usize, Error> {
        if self.poisoned {
            return Ok(0);
        }
        self.advance_frontiers();
        if !self.may_publish() {
            if let Some(key) = self.publisher.key() {
                tracing::warn!(
                    key = %key.key_id(),
                    "no checkpoint published: the key is not an active sequencer key"
                );
            }
            return Ok(0);
        }
        self.publisher.publish_grown()
    }

    /// After a submit: publishes what the policy asks for. A failure is logged, not returned:
    /// the record is already recorded, and the next trigger (at the latest `flush` or
    /// `close`, which report errors) tries again.
    pub(crate) fn publish_by_policy(&mut self, partition: u32) {
        let policy = self.publisher.policy();
        self.advance_frontier(partition);
        let result = if self.publisher.round_due() {
            self.publish_grown().map(|_| ())
        } else if self.publisher.uncovered(partition) >= policy.every_records && self.may_publish()
        {
            self.publisher.publish(partition)
        } else {
            Ok(())
        };
        if let Err(e) = result {
            tracing::error!("publishing checkpoints failed (retried at the next trigger): {e}");
        }
    }

    /// Flushes, then publishes and returns a checkpoint of each non-empty partition for its
    /// current size: a new one where the partition grew since its last checkpoint, else the
    /// last one (which covers the current size). `trial-ledger checkpoint --fresh`.
    pub fn publish_now(&mut self) -> Result<Vec<(u32, String)>, Error> {
        self.flush()?;
        if !self.may_publish() {
            let key = self.publisher.key().map(|k| k.key_id().to_hex());
            return Err(Error::SealerNotAuthorized {
                key_id: key.unwrap_or_default(),
                position: self.sequencer.state().registry().position(),
            });
        }
        self.publish_grown()?;
        Ok((0..self.sequencer.state().partition_count())
            .filter_map(|p| self.publisher.last_note(p).map(|n| (p, n.to_string())))
            .collect())
    }

    /// Flushes buffered records and publishes the checkpoints of every partition that grew,
    /// reporting any failure; after this, dropping the ledger has nothing left to do.
    pub fn close(mut self) -> Result<(), Error> {
        self.closed = true;
        self.flush()?;
        self.snapshot_if_behind();
        Ok(())
    }

    /// Chooses when sealed records are made durable (see [`Durability`]).
    pub fn set_durability(&mut self, durability: Durability) -> Result<(), Error> {
        self.flush()?;
        self.durability = durability;
        Ok(())
    }

    /// Appends every buffered record, one fsync per partition, then publishes a checkpoint of
    /// every partition whose durable records grew since its last one.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.flush_records()?;
        self.publish_grown().map(|_| ())
    }

    /// Appends every buffered record, each partition's in one append and fsync, the
    /// partitions in parallel. Returns the partitions written.
    pub(crate) fn flush_records(&mut self) -> Result<Vec<u32>, Error> {
        let pending = std::mem::take(&mut self.pending);
        let order = std::mem::take(&mut self.pending_order);
        let batches: Vec<(u32, &[Vec<u8>])> =
            pending.iter().map(|(p, r)| (*p, r.as_slice())).collect();
        if let Err(e) = self.log.append_ordered(&batches, &order) {
            self.poisoned = true;
            return Err(e.into());
        }
        if !pending.is_empty() {
            self.sync_store();
        }
        Ok(pending.into_keys().collect())
    }

    /// Makes every buffered record durable ([`EmbeddedLedger::flush`]'s appends), then
    /// publishes checkpoints as the [`PublishPolicy`] asks, as `submit` does, rather than for
    /// every partition that grew: what the submit handle calls after each batch.
    pub fn commit(&mut self) -> Result<(), Error> {
        for p in self.flush_records()? {
            self.publish_by_policy(p);
        }
        self.snapshot_by_policy();
        Ok(())
    }

    /// Makes a long-running writer save a snapshot after a commit when `policy` says it is
    /// due (see [`snapshot::SnapshotPolicy`]); `None`: only when it closes (the default).
    pub fn set_snapshot_policy(&mut self, policy: Option<snapshot::SnapshotPolicy>) {
        self.snapshot_policy = policy.map(|p| (p, std::time::Instant::now()));
    }

    /// Saves a snapshot if the snapshot policy says it is due. A failure is logged, not
    /// returned: the snapshot is a cache.
    pub(crate) fn snapshot_by_policy(&mut self) {
        let Some((policy, last)) = self.snapshot_policy else {
            return;
        };
        let uncovered = self.total_records().saturating_sub(self.snapshot_covers);
        if self.poisoned || !policy.due(uncovered, last.elapsed()) || !self.may_publish() {
            return;
        }
        self.snapshot_policy = Some((policy, std::time::Instant::now()));
        match self.save_snapshot() {
            Ok(()) => tracing::info!(records = self.snapshot_covers, "writer snapshot saved"),
            Err(e) => tracing::warn!("the periodic writer snapshot was not saved: {e}"),
        }
    }

    /// Refuses to order anything once an append failed: the state may be ahead of the disk.
    pub(crate) fn check_not_poisoned(&self) -> Result<(), Error> {
        if self.poisoned {
            return Err(Error::CorruptLog(Refusal::new(
                crate::Reason::FrameCorrupt,
                "an earlier append failed; reopen the ledger",
            )));
        }
        Ok(())
    }

    /// The sequencer's state.
    pub fn state(&self) -> &LedgerState<R> {
        self.sequencer.state()
    }

    /// Up to `max` records of `partition` from `from` on, durable or still in the group-commit
    /// buffer: what a follower in the writer's own process (a deciding service driven step by
    /// step) reads right after a submission.
    pub fn read(&self, partition: u32, from: u64, max: usize) -> Result<Vec<Vec<u8>>, Error> {
        let on_disk = self.log.len(partition);
        let mut out = if from < on_disk {
            EventLog::read(&self.log, partition, from, max)?
        } else {
            Vec::new()
        };
        if out.len() < max {
            if let Some(buffered) = self.pending.get(&partition) {
                let skip = from.saturating_sub(on_disk) as usize;
                let want = max - out.len();
                out.extend(buffered.iter().skip(skip).take(want).cloned());
            }
        }
        Ok(out)
    }

    /// The underlying log.
    pub fn log(&self) -> &EmbeddedLog {
        &self.log
    }

    /// The underlying log, mutably: for tests that tamper with stored records behind the
    /// sequencer's back, so compiled only with the `tamper` feature (test crates only).
    #[cfg(feature = "tamper")]
    pub fn log_mut(&mut self) -> &mut EmbeddedLog {
        &mut self.log
    }

    /// Orders one submission's bytes and, if sealed, appends it durably before returning.
    pub fn submit(&mut self, bytes: &[u8], now: UtcMicros) -> Result<Outcome, Error> {
        match crate::codec::decode_submission(bytes) {
            Ok(s) => self.submit_decoded(s, now),
            Err(r) => Ok(Outcome::Refused(r)),
        }
    }

    /// [`EmbeddedLedger::submit`] for a decoded submission.
    pub fn submit_decoded(
        &mut self,
        signed: SignedSubmission,
        now: UtcMicros,
    ) -> Result<Outcome, Error> {
        self.check_not_poisoned()?;
        let source = PendingSource {
            log: &self.log,
            pending: &self.pending,
        };
        let outcome = self.sequencer.order_decoded(signed, None, now, &source)?;
        if let Outcome::Sealed(s) = &outcome {
            let p = s.record.body.partition;
            match self.durability {
                Durability::EachRecord => {
                    if let Err(e) = self.log.append(p, std::slice::from_ref(&s.bytes)) {
                        self.poisoned = true;
                        return Err(e.into());
                    }
                    self.sync_store();
                }
                Durability::Grouped { max_pending } => {
                    self.pending.entry(p).or_default().push(s.bytes.clone());
                    self.pending_order.push(p);
                    if self.pending.values().map(Vec::len).sum::<usize>() >= max_pending {
                        self.flush_records()?;
                        self.advance_frontiers();
                    }
                }
            }
            self.publish_by_policy(p);
        }
        Ok(outcome)
    }
}

impl<R: DomainRules> Drop for EmbeddedLedger<R> {
    /// Buffered records are flushed and checkpoints published on a clean drop; a failure can
    /// only be logged here, which is why writers call [`EmbeddedLedger::close`] (or
    /// [`EmbeddedLedger::flush`]) themselves and check it.
    fn drop(&mut self) {
        if self.closed || self.poisoned {
            return;
        }
        if !self.pending.is_empty() {
            if let Err(e) = self.flush_records() {
                tracing::error!(
                    "buffered records were not written when the ledger was closed: {e}"
                );
                return;
            }
        }
        if let Err(e) = self.publish_grown() {
            tracing::error!("checkpoints were not published when the ledger was closed: {e}");
        }
        self.snapshot_if_behind();
    }
}
