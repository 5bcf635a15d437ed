//! Incremental verification of a growing ledger, for readers that follow it (the projections).
//!
//! [`StreamVerifier`] runs the checks of [`crate::verify::verify_ledger`] (FORMAT.md,
//! "Verification") on records as they arrive, partition by partition, keeping the state they
//! need (chain heads, back-links, seen submission ids, the registry, the domain rules' state) in
//! memory. It reuses the full verifier's per-record check ([`crate::verify`]'s `check_record`),
//! its signature batches ([`crate::crypto::verify_serial`], the batches of `verify_many`) and
//! [`LedgerState`], so the two cannot drift apart.
//!
//! What differs from a one-shot verification is time: a reader sees each partition at a
//! slightly different moment, so a record may cite a record (or a registry position) that its
//! reader has not seen yet. Such a record is **held**: not verified, not delivered, offered again
//! with the next feed. Only a reference to a record that was read and has another hash, or that
//! points at or after the citing record, is a failure. A caller that knows the log holds no more
//! records (a finished ledger) turns what is still held into a failure with
//! [`StreamVerifier::held_failure`].
//!
//! The first failure stops the verifier for good: it is returned by every later feed, and no
//! record of its partition after it is ever delivered.

use crate::codec::decode_record;
use crate::crypto::{verify_serial, SigCheck};
use crate::reason::{Reason, Refusal};
use crate::rules::DomainRules;
use crate::state::{LedgerState, RecordSource, ReferenceCheck, UnknownTypes};
use crate::verify::{check_record, Decoded, Failure, Place};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use tl_schemas::events::{event_type, KeyEnrolled, RootKeyRotated};
use tl_schemas::record::seal_message;
use tl_schemas::submission::signing_message;
use tl_schemas::{decode, record_hash, Hash32, KeyId, Record, TrialId};

/// Signature checks per chunk verified while the replay runs (two batches of 256): small, so
/// that when the last chunk is verified the replay has little left to do on its own.
const OVERLAP_CHUNK: usize = 512;

/// A record that passed every check, in the order it was applied.
#[derive(Clone, Debug)]
pub struct VerifiedRecord {
    /// Its partition.
    pub partition: u32,
    /// Its sequence number.
    pub seq: u64,
    /// Its record hash (what references cite).
    pub hash: Hash32,
    /// The decoded record (shared with the verifier, which keeps it for cited content).
    pub record: Arc<Record>,
}

/// What one feed produced.
#[derive(Debug, Default)]
pub struct FeedOutcome {
    /// Records verified by this feed, in an order where every cited record comes first.
    pub verified: Vec<VerifiedRecord>,
    /// Records held back because they cite what has not been read yet: (partition, seq, why).
    pub held: Vec<(u32, u64, String)>,
    /// The failure that stopped verification, if any (this feed's or an earlier one's).
    pub failure: Option<Failure>,
}

/// Verified records by partition: cited content for the domain rules.
struct Store<'a>(&'a [Vec<Arc<Record>>]);

impl RecordSource for Store<'_> {
    fn record(&self, partition: u32, seq: u64) -> Option<Arc<Record>> {
        self.0.get(partition as usize)?.get(seq as usize).cloned()
    }
}

/// Verifies a growing ledger incrementally (see the module documentation).
pub struct StreamVerifier<R: DomainRules> {
    /// The trial: every signature's domain separation and genesis hashes depend on it.
    trial: TrialId,
    /// The pinned root public key: the first record must be signed and sealed by it.
    pinned_root: [u8; 32],
    /// Chain heads, back-links, seen ids, registry and domain state of the verified prefix.
    state: LedgerState<R>,
    /// Public keys named by partition 0 so far (enrolments, root rotations), to batch-verify
    /// signatures before the registry judges their status in order.
    keys: HashMap<KeyId, [u8; 32]>,
    /// Verified records per partition, for cited content (domain rules). Kept decoded: the
    /// rules look at cited records often, and decoding is several times dearer than a clone.
    bytes: Vec<Vec<Arc<Record>>>,
    /// The failure that stopped verification.
    failure: Option<Failure>,
}

impl<R: DomainRules> StreamVerifier<R> {
    /// A verifier of an empty ledger of `trial` whose root key is pinned to `pinned_root`.
    pub fn new(trial: TrialId, pinned_root: [u8; 32], rules: R) -> Self {
        let mut state = LedgerState::new(trial.clone(), pinned_root, rules);
        state.set_unknown_types(UnknownTypes::AcceptUnchecked);
        let mut keys = HashMap::new();
        keys.insert(KeyId::of_ed25519(&pinned_root), pinned_root);
        StreamVerifier {
            trial,
            pinned_root,
            state,
            keys,
            bytes: vec![Vec::new()],
            failure: None,
        }
    }

    /// Records of partition `p` verified so far: the position the next feed of `p` starts at.
    pub fn verified_len(&self, p: u32) -> u64 {
        self.state.len(p)
    }

    /// The trial's partition count once `TrialRegistered` is verified (1 before).
    pub fn partition_count(&self) -> u32 {
        self.state.partition_count()
    }

    /// The failure that stopped verification, if any.
    pub fn failure(&self) -> Option<&Failure> {
        self.failure.as_ref()
    }

    /// The verified state (registry, chain heads).
    pub fn state(&self) -> &LedgerState<R> {
        &self.state
    }

    /// Turns the first of `held` into a failure: for a caller that knows no more records are
    /// coming, a held record cites something that does not exist.
    pub fn held_failure(&mut self, held: &[(u32, u64, String)]) -> Option<Failure> {
        if self.failure.is_none() {
            let (p, seq, why) = held.iter().min_by_key(|(p, s, _)| (*p, *s))?;
            self.failure = Some(failure(
                *p,
                *seq,
                Refusal::new(Reason::ReferenceMissing, why.clone()),
            ));
        }
        self.failure.clone()
    }

    /// Feeds record bytes: for each partition, the records stored from
    /// [`StreamVerifier::verified_len`] on (records before that position are ignored, so a
    /// caller may offer held records again). Verifies what it can and returns it.
    pub fn feed(&mut self, batch: Vec<(u32, u64, Vec<Vec<u8>>)>) -> FeedOutcome {
        let mut verified = Vec::new();
        let mut out = self.feed_into(batch, &mut |v| verified.push(v));
        out.verified = verified;
        out
    }

    /// [`StreamVerifier::feed`], handing each record to `sink` the moment it passes (on the
    /// calling thread, while later records' signatures are still being verified), so that a
    /// reader can apply it while the rest of the batch is checked. The outcome's `verified`
    /// is empty: every verified record went to `sink`, in order.
    pub fn feed_into(
        &mut self,
        batch: Vec<(u32, u64, Vec<Vec<u8>>)>,
        sink: &mut dyn FnMut(VerifiedRecord),
    ) -> FeedOutcome {
        let mut out = FeedOutcome::default();
        let mut passed = 0usize;
        if let Some(f) = &self.failure {
            out.failure = Some(f.clone());
            return out;
        }
        // Keep only what starts at the verified position; order by partition, 0 first.
        let mut parts: Vec<(u32, Vec<Vec<u8>>)> = batch
            .into_iter()
            .filter_map(|(p, from, records)| {
                let have = self.verified_len(p);
                if from > have {
                    return None; // a gap: offered again from `have` next time
                }
                let skip = (have - from) as usize;
                let rest: Vec<Vec<u8>> = records.into_iter().skip(skip).collect();
                (!rest.is_empty()).then_some((p, rest))
            })
            .collect();
        parts.sort_by_key(|(p, _)| *p);

        let t0 = std::time::Instant::now();
        // Decode and hash (in parallel), then collect the keys partition 0 names.
        use rayon::prelude::*;
        let decoded: Vec<Vec<Result<Decoded, Refusal>>> = parts
            .iter()
            .map(|(_, recs)| {
                recs.par_iter()
                    .map(|bytes| {
                        decode_record(bytes).map(|(record, body_len)| Decoded {
                            hash: record_hash(&bytes[..body_len]),
                            record: record.into(),
                        })
                    })
                    .collect()
            })
            .collect();
        for ((p, _), dec) in parts.iter().zip(&decoded) {
            if *p != 0 {
                continue;
            }
            for d in dec.iter().flatten() {
                let env = &d.record.body.submission.submission.envelope;
                if env.event_type == event_type::KEY_ENROLLED {
                    if let Ok(ev) = decode::<KeyEnrolled>(&env.payload) {
                        self.keys
                            .entry(KeyId::of_ed25519(&ev.public_key))
                            .or_insert(ev.public_key);
                    }
                } else if env.event_type == event_type::ROOT_KEY_ROTATED {
                    if let Ok(ev) = decode::<RootKeyRotated>(&env.payload) {
                        self.keys
                            .entry(KeyId::of_ed25519(&ev.new_root_public_key))
                            .or_insert(ev.new_root_public_key);
                    }
                }
            }
        }

        let t_decode = t0.elapsed();
        // Every signature of the feed: the messages are built in parallel (encoding the
        // signed submission is most of the cost), then numbered in order.
        let (keys, trial) = (&self.keys, &self.trial);
        let mut per_record: Vec<Vec<[Option<SigCheck>; 2]>> = decoded
            .iter()
            .zip(&parts)
            .map(|(part, (_, bytes))| {
                part.par_iter()
                    .zip(bytes.par_iter())
                    .map(|(d, bytes)| {
                        let Ok(d) = d else { return [None, None] };
                        let b = &d.record.body;
                        let sub = &b.submission.submission;
                        [
                            keys.get(&b.sequencer).map(|pk| SigCheck {
                                public_key: *pk,
                                signature: d.record.seal,
                                message: seal_message(trial, &d.hash),
                            }),
                            keys.get(&sub.author).map(|pk| SigCheck {
                                public_key: *pk,
                                signature: b.submission.signature,
                                // The record decoded canonically, so its submission's bytes
                                // are the submission's canonical encoding.
                                message: match b.submission_bytes(&bytes[..bytes.len() - 64]) {
                                    Some(s) => signing_message(trial, s),
                                    None => sub.signing_message(),
                                },
                            }),
                        ]
                    })
                    .collect()
            })
            .collect();
        // Numbered in the order the replay below is expected to judge the records, so that
        // the chunks, verified in number order, arrive just as the replay needs them.
        let mut checks = Vec::new();
        let mut slots: Vec<Vec<[Option<usize>; 2]>> = per_record
            .iter()
            .map(|part| vec![[None; 2]; part.len()])
            .collect();
        for (i, j) in self.expected_order(&parts, &decoded) {
            let pair = std::mem::take(&mut per_record[i][j]);
            slots[i][j] = pair.map(|c| {
                c.map(|c| {
                    checks.push(c);
                    checks.len() - 1
                })
            });
        }
        let t_checks = t0.elapsed();
        // The signatures are verified in chunks on the other cores while the replay below
        // runs: each record's verdicts are waited for only when it is judged, so the serial
        // replay overlaps the batch verification instead of following it.
        let cells: Vec<OnceLock<Vec<bool>>> = (0..checks.len().div_ceil(OVERLAP_CHUNK))
            .map(|_| OnceLock::new())
            .collect();
        let verdict = |k: usize| -> bool { cells[k / OVERLAP_CHUNK].wait()[k % OVERLAP_CHUNK] };

        // Replay in order. A partition advances while its next record's citations are
        // verified; rounds repeat while any partition advances. A record that does not decode
        // stops its partition there.
        let mut decode_err: Vec<Option<Refusal>> = vec![None; parts.len()];
        let mut decoded: Vec<Vec<Option<Decoded>>> = decoded
            .into_iter()
            .enumerate()
            .map(|(i, part)| {
                let mut v = Vec::with_capacity(part.len());
                for d in part {
                    match d {
                        Ok(d) => v.push(Some(d)),
                        Err(r) => {
                            decode_err[i] = Some(r);
                            break;
                        }
                    }
                }
                v
            })
            .collect();
        let mut cursor = vec![0usize; parts.len()];
        let mut blocked: Vec<Option<String>> = vec![None; parts.len()];
        let mut stopped: Option<Failure> = None;
        let next_chunk = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            // Chunks are handed out in order (not split in halves as a parallel iterator
            // would), so the verdicts arrive in the order the replay below consumes them.
            let (next, checks, cells) = (&next_chunk, &checks, &cells);
            scope.spawn(move || {
                rayon::scope(|workers| {
                    for _ in 0..rayon::current_num_threads() {
                        workers.spawn(move |_| loop {
                            let k = next.fetch_add(1, Ordering::Relaxed);
                            let Some(cell) = cells.get(k) else { break };
                            let from = k * OVERLAP_CHUNK;
                            let to = (from + OVERLAP_CHUNK).min(checks.len());
                            let _ = cell.set(verify_serial(&checks[from..to]));
                        });
                    }
                });
            });
            loop {
                let mut progress = false;
                for i in 0..parts.len() {
                    let p = parts[i].0;
                    blocked[i] = None;
                    while stopped.is_none() && cursor[i] < decoded[i].len() {
                        let j = cursor[i];
                        let Some(d) = decoded[i][j].as_ref() else {
                            break;
                        };
                        let seq = self.state.len(p);
                        let v = [slots[i][j][0].map(verdict), slots[i][j][1].map(verdict)];
                        match self.judge(p, seq, d, v) {
                            Judged::Hold(why) => {
                                blocked[i] = Some(why);
                                break;
                            }
                            Judged::Fail(r) => {
                                stopped = Some(failure(p, seq, r));
                                break;
                            }
                            Judged::Pass(author) => {
                                let d = decoded[i][j].take().expect("present");
                                let StreamVerifier { state, bytes, .. } = self;
                                state.apply(&d.record, d.hash, author, &Store(bytes));
                                if bytes.len() < state.partition_count() as usize {
                                    bytes.resize_with(state.partition_count() as usize, Vec::new);
                                }
                                let record = d.record;
                                bytes[p as usize].push(Arc::clone(&record));
                                sink(VerifiedRecord {
                                    partition: p,
                                    seq,
                                    hash: d.hash,
                                    record,
                                });
                                passed += 1;
                                cursor[i] += 1;
                                progress = true;
                            }
                        }
                    }
                    if stopped.is_none() && cursor[i] == decoded[i].len() {
                        if let Some(r) = decode_err[i].take() {
                            stopped = Some(failure(p, self.state.len(p), r));
                        }
                    }
                }
                if !progress || stopped.is_some() {
                    break;
                }
            }
        });
        let t_sigs = t_checks;
        for (i, (p, _)) in parts.iter().enumerate() {
            if let Some(why) = &blocked[i] {
                out.held.push((*p, self.state.len(*p), why.clone()));
            }
        }
        if stopped.is_some() {
            out.held.clear();
        }
        tracing::debug!(
            records = passed,
            decode = ?t_decode,
            checks = ?(t_checks - t_decode),
            signatures_and_replay = ?(t0.elapsed() - t_sigs),
            "stream verification"
        );
        self.failure = stopped;
        out.failure = self.failure.clone();
        out
    }

    /// The order in which the replay of [`StreamVerifier::feed`] will judge the fed records
    /// if all of them verify, as (part, index) pairs: the same rounds over the partitions,
    /// advancing a partition while the records its next record cites (and, outside partition
    /// 0, its registry position) are already verified or judged earlier in the order. Only a
    /// schedule for the signature chunks: the replay decides for itself, and a record it
    /// reaches earlier than predicted just waits for its chunk.
    fn expected_order(
        &self,
        parts: &[(u32, Vec<Vec<u8>>)],
        decoded: &[Vec<Result<Decoded, Refusal>>],
    ) -> Vec<(usize, usize)> {
        let mut len: HashMap<u32, u64> = HashMap::new();
        let have = |len: &HashMap<u32, u64>, p: u32| {
            len.get(&p).copied().unwrap_or_else(|| self.state.len(p))
        };
        let mut cursor = vec![0usize; parts.len()];
        let mut order = Vec::with_capacity(decoded.iter().map(Vec::len).sum());
        loop {
            let mut progress = false;
            for (i, (p, _)) in parts.iter().enumerate() {
                while let Some(Ok(d)) = decoded[i].get(cursor[i]) {
                    let b = &d.record.body;
                    let ready = (*p == 0 || b.registry_seq <= have(&len, 0))
                        && b.submission
                            .submission
                            .cites
                            .iter()
                            .all(|r| r.seq < have(&len, r.partition));
                    if !ready {
                        break;
                    }
                    order.push((i, cursor[i]));
                    cursor[i] += 1;
                    let n = have(&len, *p) + 1;
                    len.insert(*p, n);
                    progress = true;
                }
            }
            if !progress {
                break;
            }
        }
        // Whatever the prediction could not place (held or undecodable) goes last.
        for (i, part) in decoded.iter().enumerate() {
            order.extend((cursor[i]..part.len()).map(|j| (i, j)));
        }
        order
    }

    /// The checks of one record, in FORMAT.md's order, with the streaming reader's notion of
    /// "not yet" for registry positions and citations beyond what was verified.
    fn judge(&self, p: u32, seq: u64, d: &Decoded, verdicts: [Option<bool>; 2]) -> Judged {
        let b = &d.record.body;
        let sub = &b.submission.submission;
        // Partitions the trial has not registered yet: wait for TrialRegistered.
        if p >= self.state.partition_count() {
            if self.state.registry().partition_count().is_none() {
                return Judged::Hold("partition 0 does not register the trial yet".into());
            }
            return Judged::Fail(Refusal::new(
                Reason::WrongPartition,
                format!(
                    "partition {p} is beyond the trial's {} partitions",
                    self.state.partition_count()
                ),
            ));
        }
        if p != 0 && b.registry_seq > self.state.len(0) {
            return Judged::Hold(format!(
                "registry position {} is beyond the {} verified records of partition 0",
                b.registry_seq,
                self.state.len(0)
            ));
        }
        for r in &sub.cites {
            if r.partition == p && r.seq >= seq {
                return Judged::Fail(Refusal::new(
                    Reason::ReferenceMissing,
                    format!("reference {r} points at or after the citing record"),
                ));
            }
            if r.partition >= self.state.partition_count().max(1) && r.partition != 0 {
                return Judged::Fail(Refusal::new(
                    Reason::ReferenceMissing,
                    format!("cited record {}/{} does not exist", r.partition, r.seq),
                ));
            }
            match self
                .state
                .partition(r.partition)
                .and_then(|s| s.hashes.get(r.seq as usize))
            {
                Some(h) if *h != r.hash => {
                    return Judged::Fail(Refusal::new(
                        Reason::ReferenceMismatch,
                        format!(
                            "cited record {}/{} has hash {}, not {}",
                            r.partition, r.seq, h, r.hash
                        ),
                    ))
                }
                Some(_) => {}
                None => {
                    return Judged::Hold(format!(
                        "cited record {}/{} is not verified yet",
                        r.partition, r.seq
                    ))
                }
            }
        }
        let at = Place {
            p,
            seq,
            pinned_root: self.pinned_root,
            registry_len: self.state.len(0),
        };
        // The cites were checked above, against what is verified.
        let refs = ReferenceCheck::Deferred;
        match check_record(&self.state, &at, d, verdicts, refs, &Store(&self.bytes)) {
            Ok(author) => Judged::Pass(author),
            Err(r) => Judged::Fail(r),
        }
    }
}

enum Judged {
    Pass(crate::registry::Author),
    Hold(String),
    Fail(Refusal),
}

fn failure(partition: u32, seq: u64, r: Refusal) -> Failure {
    Failure {
        partition,
        seq,
        offset: None,
        reason: r.reason.code(),
        detail: r.detail,
    }
}
