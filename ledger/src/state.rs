//! The ledger state shared by the sequencer and the verifier: chain heads, subject back-links
//! and states, seen submission ids, and the registry. Both run the same checks through it, in
//! the order of FORMAT.md, so the sequencer never seals what a verifier would refuse.

use crate::crypto::verify_one;
use crate::reason::{Reason, Refusal};
use crate::registry::{Author, Registry};
use crate::rules::{DomainRules, RuleContext};
use std::collections::HashMap;
use std::sync::Arc;
use tl_schemas::events::event_type;
use tl_schemas::roles::core_authority;
use tl_schemas::{
    genesis_hash, partition_of, Hash32, Link, Record, Reference, SignedSubmission, Subject,
    SubmissionId, TrialId, UtcMicros,
};

/// Reads records the ledger already holds, for cited records and duplicate look-ups.
pub trait RecordSource {
    /// The record at a partition and sequence number, if it exists and decodes. Shared, as
    /// sources that keep decoded records hand out the same one to every citation.
    fn record(&self, partition: u32, seq: u64) -> Option<Arc<Record>>;
}

/// A subject's head within its partition.
#[derive(Clone, Debug, PartialEq)]
pub struct SubjectHead<S> {
    /// Its latest record: the next record's `subject_prev`.
    pub last: Link,
    /// The domain rules' state for it.
    pub state: S,
}

/// Looks up submission ids a writer's state no longer holds in memory: the embedded writer's
/// on-disk index (`crate::tilestore`).
pub trait SeenLookup: Send + Sync {
    /// The sequence number recorded for `id` in partition `p`, if the index has it. `Err`:
    /// the index could not be read.
    fn seen(&self, p: u32, id: &SubmissionId) -> Result<Option<u64>, String>;
}

/// The state of one partition.
///
/// A reader (`verify`, the stream verifier, the Kafka sequencer) holds every record hash and
/// seen id here (`base` is 0). The embedded writer keeps only the records after its last
/// commit in memory (from `base`, which is never above the partition's last record, so the
/// chain head stays here); older ones are in its on-disk tile store and seen-id index.
#[derive(Clone, Debug)]
pub struct PartitionState<S> {
    /// Sequence number of `hashes[0]`: the records before it are only on disk.
    pub base: u64,
    /// Record hash by sequence number from `base` on: chain head and references.
    pub hashes: Vec<Hash32>,
    /// Ordering time of the last record; the next may not be earlier.
    pub last_time: UtcMicros,
    /// Registry position of the last record; the next may not be lower.
    pub last_registry_seq: u64,
    /// Each subject's head.
    pub subjects: HashMap<Subject, SubjectHead<S>>,
    /// Submission ids recorded here, with their sequence numbers (idempotent retries): all of
    /// them when `base` is 0, else at least those of the records from `base` on.
    pub seen: HashMap<SubmissionId, u64>,
}

impl<S> PartitionState<S> {
    /// Records in the partition.
    pub fn len(&self) -> u64 {
        self.base + self.hashes.len() as u64
    }

    /// Whether the partition holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The hash of record `seq` if it is held in memory.
    pub fn hash_in_memory(&self, seq: u64) -> Option<Hash32> {
        let i = seq.checked_sub(self.base)?;
        self.hashes.get(usize::try_from(i).ok()?).copied()
    }

    /// The first record whose seen id memory is sure to hold: 0 when `base` is 0 (memory
    /// holds every id), else `base + 1` (the ids up to `base` are in the writer's index).
    pub fn seen_from(&self) -> u64 {
        if self.base == 0 {
            0
        } else {
            self.base + 1
        }
    }

    /// Forgets the hashes and seen ids of the records before `upto` (they are on disk), but
    /// keeps the last one's hash: the chain head.
    pub(crate) fn trim(&mut self, upto: u64) {
        let new_base = upto.min(self.len()).saturating_sub(1);
        if new_base <= self.base {
            return;
        }
        self.hashes.drain(..(new_base - self.base) as usize);
        self.base = new_base;
        self.seen.retain(|_, seq| *seq > new_base);
    }
}

/// Two partition states are equal when they have the same records (count and head), times,
/// subjects, and the same hashes and seen ids for the records both hold in memory: what is
/// older than a writer's `base` is on disk, checked against the log there.
impl<S: PartialEq> PartialEq for PartitionState<S> {
    fn eq(&self, other: &Self) -> bool {
        let from = self.base.max(other.base);
        let tail = |s: &Self| -> Vec<Hash32> {
            s.hashes[(from.min(s.len()) - s.base) as usize..].to_vec()
        };
        let seen_from = self.seen_from().max(other.seen_from());
        let seen = |s: &Self| -> Vec<(SubmissionId, u64)> {
            let mut v: Vec<_> = s
                .seen
                .iter()
                .filter(|(_, q)| **q >= seen_from)
                .map(|(k, q)| (*k, *q))
                .collect();
            v.sort_unstable();
            v
        };
        self.len() == other.len()
            && tail(self) == tail(other)
            && self.last_time == other.last_time
            && self.last_registry_seq == other.last_registry_seq
            && self.subjects == other.subjects
            && seen(self) == seen(other)
    }
}

impl<S> Default for PartitionState<S> {
    fn default() -> Self {
        PartitionState {
            base: 0,
            hashes: Vec::new(),
            last_time: UtcMicros(i64::MIN),
            last_registry_seq: 0,
            subjects: HashMap::new(),
            seen: HashMap::new(),
        }
    }
}

/// How the author's signature is to be judged.
#[derive(Clone, Copy, Debug)]
pub enum AuthorSignature {
    /// Verify it now, singly (the sequencer).
    VerifyNow,
    /// Already verified in a batch: the verdict.
    Verdict(bool),
}

/// Judges a cite against the records as stored (FORMAT.md §14, at verification).
pub trait CiteCheck {
    /// Whether the record at `(p, seq)` may cite `r`: `r` is before it when in the same
    /// partition, and a record is stored at `r`'s position, decodes and has the cited hash.
    fn check_cite(&self, p: u32, seq: u64, r: &Reference) -> Result<(), Refusal>;
}

/// How cited records are to be judged.
#[derive(Clone, Copy)]
pub enum ReferenceCheck<'a> {
    /// Check them now against this state (the sequencer).
    Now,
    /// Check them against the stored records, before the registry and domain rules see
    /// them (the verifier); whether each cited record is itself valid is a later pass, once
    /// every partition's valid prefix is known.
    Stored(&'a dyn CiteCheck),
    /// The caller checked them already (the streaming verifier).
    Deferred,
}

/// The whole ledger's state.
#[derive(Clone)]
pub struct LedgerState<R: DomainRules> {
    /// The trial.
    trial: TrialId,
    /// Keys, roles, partition count and protocol.
    registry: Registry,
    /// One state per partition; only partition 0 until `TrialRegistered` fixes N.
    partitions: Vec<PartitionState<R::SubjectState>>,
    /// The trial's domain rules.
    rules: R,
    /// What to do with event types no authority table knows.
    unknown_types: UnknownTypes,
    /// The on-disk index of the seen ids older than the partitions' `base` (a writer only).
    seen_index: Option<Arc<dyn SeenLookup>>,
}

/// Two states are equal when everything a replay builds is: the trial, the registry, every
/// partition's hashes, times, subjects with their domain state, and seen ids, and the policy
/// for unknown types. The rules are configuration, not state, and are not compared.
impl<R: DomainRules> PartialEq for LedgerState<R>
where
    R::SubjectState: PartialEq,
{
    fn eq(&self, other: &Self) -> bool {
        self.trial == other.trial
            && self.registry == other.registry
            && self.partitions == other.partitions
            && self.unknown_types == other.unknown_types
    }
}

/// What to do with an event type that neither the core nor the domain rules know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownTypes {
    /// Refuse it (the sequencer: it must not record what it cannot judge).
    Refuse,
    /// Accept it without role or domain checks (a verifier older than the type: chains,
    /// signatures, keys and references are still checked; the report counts such records).
    AcceptUnchecked,
}

impl<R: DomainRules> LedgerState<R> {
    /// An empty ledger of `trial` whose root key is pinned to `pinned_root`.
    pub fn new(trial: TrialId, pinned_root: [u8; 32], rules: R) -> Self {
        LedgerState {
            registry: Registry::new(trial.clone(), pinned_root),
            trial,
            partitions: vec![PartitionState::default()],
            rules,
            unknown_types: UnknownTypes::Refuse,
            seen_index: None,
        }
    }

    /// Looks up the seen ids the partitions no longer hold in memory in `index` (the
    /// embedded writer's).
    pub(crate) fn set_seen_index(&mut self, index: Arc<dyn SeenLookup>) {
        self.seen_index = Some(index);
    }

    /// Forgets the hashes and seen ids of partition `p`'s records before `upto`, which the
    /// writer's store now holds (the chain head stays).
    pub(crate) fn trim(&mut self, p: u32, upto: u64) {
        if let Some(ps) = self.partitions.get_mut(p as usize) {
            ps.trim(upto);
        }
    }

    /// The state as a writer's snapshot stores it, without the rules (see `crate::snapshot`);
    /// `None` unless every partition holds only its chain head in memory (the rest is in the
    /// writer's store).
    pub(crate) fn to_snap(&self) -> Option<StateSnap<R::SubjectState>> {
        Some(StateSnap {
            trial: self.trial.clone(),
            registry: self.registry.to_snap(),
            partitions: self
                .partitions
                .iter()
                .map(PartitionSnap::of)
                .collect::<Option<_>>()?,
        })
    }

    /// The state a snapshot holds, with `rules`, for a trial whose root key is pinned to
    /// `root`. Refused (with the rules back) when the snapshot pins another root or is not one
    /// [`LedgerState::to_snap`] could have written (see `PartitionSnap::into_state`).
    pub(crate) fn from_snap(
        snap: StateSnap<R::SubjectState>,
        root: [u8; 32],
        rules: R,
    ) -> Result<Self, (String, R)> {
        let Some(registry) = Registry::from_snap(snap.registry) else {
            return Err(("its registry is inconsistent".into(), rules));
        };
        if registry.pinned_root() != root {
            return Err(("it pins another root key than the trust file".into(), rules));
        }
        let Some(partitions) = snap
            .partitions
            .into_iter()
            .map(PartitionSnap::into_state)
            .collect::<Option<Vec<_>>>()
        else {
            return Err(("a partition's state is inconsistent".into(), rules));
        };
        let want = registry.partition_count().unwrap_or(1) as usize;
        if partitions.len() != want || registry.trial() != &snap.trial {
            return Err((
                "its partition count or trial disagrees with its registry".into(),
                rules,
            ));
        }
        Ok(LedgerState {
            trial: snap.trial,
            registry,
            partitions,
            rules,
            unknown_types: UnknownTypes::Refuse,
            seen_index: None,
        })
    }

    /// The rules, giving up the state.
    pub(crate) fn into_rules(self) -> R {
        self.rules
    }

    /// Sets the policy for unknown event types.
    pub fn set_unknown_types(&mut self, policy: UnknownTypes) {
        self.unknown_types = policy;
    }

    /// The trial.
    pub fn trial(&self) -> &TrialId {
        &self.trial
    }
    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
    /// The domain rules.
    pub fn rules(&self) -> &R {
        &self.rules
    }
    /// Partition count (1 until the trial is registered).
    pub fn partition_count(&self) -> u32 {
        self.partitions.len() as u32
    }
    /// A partition's state.
    pub fn partition(&self, p: u32) -> Option<&PartitionState<R::SubjectState>> {
        self.partitions.get(p as usize)
    }
    /// Records in a partition.
    pub fn len(&self, p: u32) -> u64 {
        self.partition(p).map_or(0, PartitionState::len)
    }
    /// Whether the ledger holds no record at all.
    pub fn is_empty(&self) -> bool {
        self.partitions.iter().all(PartitionState::is_empty)
    }
    /// Hash the next record of `p` must link to.
    pub fn head_hash(&self, p: u32) -> Hash32 {
        self.partition(p)
            .and_then(|s| s.hashes.last().copied())
            .unwrap_or_else(|| genesis_hash(&self.trial, p))
    }
    /// The partition a subject belongs to.
    pub fn partition_of(&self, subject: &Subject) -> u32 {
        partition_of(&self.trial, subject, self.partition_count())
    }
    /// The sequence number an earlier record with this submission id got in `p` (an index
    /// that cannot be read counts as not knowing it: see [`LedgerState::lookup_seen`]).
    pub fn seen(&self, p: u32, id: &SubmissionId) -> Option<u64> {
        self.lookup_seen(p, id).ok().flatten()
    }

    /// The sequence number an earlier record with this submission id got in `p`: from memory,
    /// else from the writer's on-disk index, whose answers for records whose ids memory holds
    /// are ignored (memory has every id from [`PartitionState::seen_from`] on, so such an
    /// answer is a stale row).
    /// `Err`: the index could not be read.
    pub fn lookup_seen(&self, p: u32, id: &SubmissionId) -> Result<Option<u64>, String> {
        let Some(ps) = self.partition(p) else {
            return Ok(None);
        };
        if let Some(seq) = ps.seen.get(id) {
            return Ok(Some(*seq));
        }
        match (&self.seen_index, ps.base) {
            (Some(index), base) if base > 0 => {
                Ok(index.seen(p, id)?.filter(|seq| *seq < ps.seen_from()))
            }
            _ => Ok(None),
        }
    }

    /// Checks the trial id and partition of a submission that is (or is to be) in `p`.
    pub fn check_placement(&self, p: u32, signed: &SignedSubmission) -> Result<(), Refusal> {
        let sub = &signed.submission;
        if sub.trial_id != self.trial {
            return Err(Refusal::new(
                Reason::WrongTrial,
                format!(
                    "submission is for trial {:?}, this ledger is {:?}",
                    sub.trial_id.as_str(),
                    self.trial.as_str()
                ),
            ));
        }
        let want = self.partition_of(&sub.subject);
        if want != p {
            return Err(Refusal::new(
                Reason::WrongPartition,
                format!(
                    "subject {} belongs to partition {want}, not {p}",
                    sub.subject
                ),
            ));
        }
        Ok(())
    }

    /// Runs checks 4 to 8 of FORMAT.md on an authenticated-or-not submission destined for
    /// partition `p` at `seq`, validated under `registry_seq`. Returns the author.
    #[allow(clippy::too_many_arguments)]
    pub fn check_submission(
        &self,
        p: u32,
        seq: u64,
        signed: &SignedSubmission,
        registry_seq: u64,
        ordering_time: UtcMicros,
        signature: AuthorSignature,
        references: ReferenceCheck<'_>,
        source: &dyn RecordSource,
    ) -> Result<Author, Refusal> {
        let sub = &signed.submission;
        // 4. The author's signature, under the one rule.
        let Some(public_key) = self.registry.public_key(&sub.author) else {
            return Err(Refusal::new(
                Reason::UnknownKey,
                format!("author key {} is not in the registry", sub.author),
            ));
        };
        let ok = match signature {
            AuthorSignature::VerifyNow => {
                verify_one(&public_key, &sub.signing_message(), &signed.signature)
            }
            AuthorSignature::Verdict(v) => v,
        };
        if !ok {
            return Err(Refusal::new(
                Reason::BadAuthorSignature,
                format!("author signature by key {} does not verify", sub.author),
            ));
        }
        // 5. Enrolled and not revoked at the registry position.
        let author = self.registry.author_at(&sub.author, registry_seq)?;
        // 6. The role may author this type.
        let t = sub.envelope.event_type;
        let Some(authority) = core_authority(t).or_else(|| self.rules.authority(t)) else {
            if self.unknown_types == UnknownTypes::AcceptUnchecked {
                // No role or domain judgement is possible, but cites and the registry's
                // structural rules (the trial starts with TrialRegistered) still hold.
                self.cited(p, seq, sub, references, source)?;
                self.registry_check_at(p, sub)?;
                return Ok(author);
            }
            return Err(Refusal::new(
                Reason::UnknownEventType,
                format!("event type {t} is not in any authority table"),
            ));
        };
        if !authority.permits(author.role()) {
            let who = author
                .role()
                .map_or("the root key".to_string(), |r| format!("role {r}"));
            return Err(Refusal::new(
                Reason::RoleNotPermitted,
                format!("{who} may not author {}", self.type_name(t)),
            ));
        }
        // 7. Cited records exist, in any partition.
        let cited = self.cited(p, seq, sub, references, source)?;
        // 8. Registry rules, then the domain rules.
        self.registry_check_at(p, sub)?;
        let default_state = R::SubjectState::default();
        let state = self
            .partition(p)
            .and_then(|s| s.subjects.get(&sub.subject))
            .map_or(&default_state, |h| &h.state);
        let ctx = RuleContext {
            submission: sub,
            partition: p,
            seq,
            ordering_time,
            author,
            registry: &self.registry,
            registry_seq,
            cited: &cited,
        };
        self.rules.check(state, &ctx)?;
        Ok(author)
    }

    /// Checks the cites of the record at `(p, seq)` as `references` says, and returns the
    /// cited records `source` holds, for the domain rules.
    fn cited(
        &self,
        p: u32,
        seq: u64,
        sub: &tl_schemas::Submission,
        references: ReferenceCheck<'_>,
        source: &dyn RecordSource,
    ) -> Result<Vec<(Reference, Arc<Record>)>, Refusal> {
        let mut cited = Vec::with_capacity(sub.cites.len());
        for r in &sub.cites {
            match references {
                ReferenceCheck::Now => self.check_reference_in(p, seq, r, source)?,
                ReferenceCheck::Stored(c) => c.check_cite(p, seq, r)?,
                ReferenceCheck::Deferred => {}
            }
            if let Some(rec) = source.record(r.partition, r.seq) {
                cited.push((*r, rec));
            }
        }
        Ok(cited)
    }

    fn registry_check_at(&self, p: u32, sub: &tl_schemas::Submission) -> Result<(), Refusal> {
        if p == 0 || event_type::core_name(sub.envelope.event_type).is_some() {
            self.registry.check(sub)
        } else {
            Ok(())
        }
    }

    /// Checks one reference made by the record at `(p, seq)` against this state's record
    /// hashes in memory (all of them, for a reader).
    pub fn check_reference(&self, p: u32, seq: u64, r: &Reference) -> Result<(), Refusal> {
        self.check_reference_in(p, seq, r, &NoRecords)
    }

    /// [`LedgerState::check_reference`], hashing the cited record read from `source` when
    /// its hash is no longer in memory (the log is the authority, not the tile store).
    fn check_reference_in(
        &self,
        p: u32,
        seq: u64,
        r: &Reference,
        source: &dyn RecordSource,
    ) -> Result<(), Refusal> {
        if r.partition == p && r.seq >= seq {
            return Err(Refusal::new(
                Reason::ReferenceMissing,
                format!("reference {r} points at or after the citing record"),
            ));
        }
        let hash = self.partition(r.partition).and_then(|s| {
            if r.seq >= s.len() {
                None
            } else if r.seq >= s.base {
                s.hash_in_memory(r.seq)
            } else {
                source.record(r.partition, r.seq).map(|rec| rec.hash())
            }
        });
        match hash.as_ref() {
            None => Err(Refusal::new(
                Reason::ReferenceMissing,
                format!("cited record {}/{} does not exist", r.partition, r.seq),
            )),
            Some(h) if *h != r.hash => Err(Refusal::new(
                Reason::ReferenceMismatch,
                format!(
                    "cited record {}/{} has hash {}, not {}",
                    r.partition, r.seq, h, r.hash
                ),
            )),
            Some(_) => Ok(()),
        }
    }

    /// A readable name for an event type: its name and number (`PatientRegistered (event
    /// type 257)`), or the number alone for a type this build does not know.
    pub fn type_name(&self, t: u16) -> String {
        match event_type::core_name(t).or_else(|| tl_schemas::clinical::clinical_type::name(t)) {
            Some(name) => format!("{name} (event type {t})"),
            None => format!("event type {t}"),
        }
    }

    /// Links in a partition-0 record that failed only checks that leave the registry valid
    /// (a verifier, FORMAT.md §16.2): it becomes the chain head and its subject's back-link
    /// target, its id is seen and the registry position advances, but no registry or domain
    /// state changes (the subject keeps the state it had).
    pub fn link_only(&mut self, record: &Record, hash: Hash32) {
        let body = &record.body;
        let sub = &body.submission.submission;
        if body.partition != 0 {
            return;
        }
        // A non-core event changes nothing in the registry but its position.
        self.registry.advance();
        let ps = &mut self.partitions[0];
        ps.hashes.push(hash);
        ps.last_time = body.ordering_time;
        ps.last_registry_seq = body.registry_seq;
        ps.seen.insert(sub.submission_id, body.seq);
        let last = Link {
            seq: body.seq,
            hash,
        };
        match ps.subjects.get_mut(&sub.subject) {
            Some(h) => h.last = last,
            None => {
                ps.subjects.insert(
                    sub.subject.clone(),
                    SubjectHead {
                        last,
                        state: R::SubjectState::default(),
                    },
                );
            }
        }
    }

    /// Applies a record that passed the checks: chain, subject, seen ids, registry, domain
    /// state. `author` is what `check_submission` returned.
    pub fn apply(
        &mut self,
        record: &Record,
        hash: Hash32,
        author: Author,
        source: &dyn RecordSource,
    ) {
        let body = &record.body;
        let sub = &body.submission.submission;
        let p = body.partition;
        let cited: Vec<(Reference, Arc<Record>)> = sub
            .cites
            .iter()
            .filter_map(|r| source.record(r.partition, r.seq).map(|rec| (*r, rec)))
            .collect();
        let mut state = self
            .partitions
            .get_mut(p as usize)
            .and_then(|s| s.subjects.remove(&sub.subject))
            .map(|h| h.state)
            .unwrap_or_default();
        {
            let ctx = RuleContext {
                submission: sub,
                partition: p,
                seq: body.seq,
                ordering_time: body.ordering_time,
                author,
                registry: &self.registry,
                registry_seq: body.registry_seq,
                cited: &cited,
            };
            self.rules.apply(&mut state, &ctx);
        }
        if p == 0 {
            self.registry.apply(sub);
            if let Some(n) = self.registry.partition_count() {
                while self.partitions.len() < n as usize {
                    self.partitions.push(PartitionState::default());
                }
            }
        }
        let Some(ps) = self.partitions.get_mut(p as usize) else {
            return;
        };
        ps.hashes.push(hash);
        ps.last_time = body.ordering_time;
        ps.last_registry_seq = body.registry_seq;
        ps.seen.insert(sub.submission_id, body.seq);
        ps.subjects.insert(
            sub.subject.clone(),
            SubjectHead {
                last: Link {
                    seq: body.seq,
                    hash,
                },
                state,
            },
        );
    }
}

/// A source without records: every hash a check needs is in memory.
struct NoRecords;

impl RecordSource for NoRecords {
    fn record(&self, _: u32, _: u64) -> Option<Arc<Record>> {
        None
    }
}

/// [`LedgerState`] as a writer's snapshot stores it: everything but the rules, in canonical
/// order (FORMAT.md §17, "Writer snapshot").
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct StateSnap<S> {
    pub(crate) trial: TrialId,
    pub(crate) registry: crate::registry::RegistrySnap,
    pub(crate) partitions: Vec<PartitionSnap<S>>,
}

/// [`PartitionState`] as a snapshot stores it: its record count and the hash of its last
/// record (the seen ids and older hashes are in the writer's tile store, which the snapshot
/// refers to), and its subjects sorted by key.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct PartitionSnap<S> {
    pub(crate) len: u64,
    /// The hash of record `len - 1` (zeros when `len` is 0).
    pub(crate) head: Hash32,
    pub(crate) last_time: UtcMicros,
    pub(crate) last_registry_seq: u64,
    pub(crate) subjects: Vec<(Subject, Link, S)>,
}

impl<S: Clone> PartitionSnap<S> {
    /// The snapshot of `p`, which must hold only the chain head in memory (the writer
    /// commits to its store first); `None` if it holds more.
    fn of(p: &PartitionState<S>) -> Option<Self> {
        if p.hashes.len() > 1 {
            return None;
        }
        let mut subjects: Vec<(Subject, Link, S)> = p
            .subjects
            .iter()
            .map(|(s, h)| (s.clone(), h.last, h.state.clone()))
            .collect();
        subjects.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Some(PartitionSnap {
            len: p.len(),
            head: p.hashes.last().copied().unwrap_or(Hash32([0; 32])),
            last_time: p.last_time,
            last_registry_seq: p.last_registry_seq,
            subjects,
        })
    }

    /// `None` unless subjects are strictly sorted (so no key is given twice). The state holds
    /// the head only: the seen ids are in the store's index.
    fn into_state(self) -> Option<PartitionState<S>> {
        self.subjects
            .windows(2)
            .all(|w| w[0].0 < w[1].0)
            .then_some(())?;
        Some(PartitionState {
            base: self.len.saturating_sub(1),
            hashes: if self.len > 0 {
                vec![self.head]
            } else {
                Vec::new()
            },
            last_time: self.last_time,
            last_registry_seq: self.last_registry_seq,
            subjects: self
                .subjects
                .into_iter()
                .map(|(s, last, state)| (s, SubjectHead { last, state }))
                .collect(),
            seen: HashMap::new(),
        })
    }
}
