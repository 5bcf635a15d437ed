//! The multi-core pipeline that orders a batch of submissions for the submit handle.
//!
//! Of the work per record, only ordering needs one thread: each record links to the one
//! before it and is judged against the state all earlier ones left. The two signatures per
//! record, which cost most, do not:
//! 1. decode every submission and batch-verify the authors' signatures, on every core
//!    ([`Sequencer::preverify_some`]);
//! 2. order and validate them one after the other, in arrival order, with those verdicts;
//! 3. link and hash each record as it is ordered (a chain: one after the other, too);
//! 4. sign every record's seal, on every core ([`Unsealed::seal_with`]);
//! 5. write the batch with [`EmbeddedLedger::commit`]: the records in the order they were
//!    sequenced (one write per run of one partition's records), then every partition's
//!    fsync in parallel (`EmbeddedLog::append_ordered`).
//!
//! The answers are those of [`EmbeddedLedger::submit`] called for each submission in turn
//! with the same clock: the same checks run in the same order on the same state, a verdict
//! from a batch is the verdict of a single check (one signature rule), and Ed25519 seals are
//! deterministic. Between stages 2 and 4 a record sits in the group-commit buffer with a zero
//! seal; nothing reads a seal there (references and duplicates compare hashes and bodies), and
//! a duplicate's receipt for a record of the same batch gets the real seal in stage 4.

use crate::codec::decode_submission;
use crate::log::{EmbeddedLedger, PendingSource};
use crate::rules::DomainRules;
use crate::sequencer::{Ordered, Outcome, Sequencer, Unsealed};
use crate::state::AuthorSignature;
use crate::{Error, Refusal};
use rayon::prelude::*;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tl_schemas::{Sig64, SignedSubmission, UtcMicros};

impl<R: DomainRules> EmbeddedLedger<R> {
    /// Orders a batch of submissions (canonical bytes of [`SignedSubmission`]s) through the
    /// multi-core pipeline (see the module). `clock` is called once per submission, in order,
    /// for its ordering time. Returns one answer per submission, in order.
    ///
    /// The sealed records are only buffered, whatever the [`crate::Durability`]: nothing is
    /// durable until [`EmbeddedLedger::commit`] (or `flush`) returns, so receipts must not be
    /// handed out before.
    pub fn order_batch(
        &mut self,
        batch: &[Vec<u8>],
        clock: &mut dyn FnMut() -> UtcMicros,
    ) -> Vec<Result<Outcome, Error>> {
        self.order_batch_timed(batch, clock, &mut BatchProfile::default())
    }

    /// [`EmbeddedLedger::order_batch`], adding each stage's time to `profile`.
    pub fn order_batch_timed(
        &mut self,
        batch: &[Vec<u8>],
        clock: &mut dyn FnMut() -> UtcMicros,
        profile: &mut BatchProfile,
    ) -> Vec<Result<Outcome, Error>> {
        let mut lap = Lap::new();
        // 1. Decode and batch-verify, on every core.
        let decoded: Vec<Result<SignedSubmission, Refusal>> =
            batch.par_iter().map(|b| decode_submission(b)).collect();
        let verdicts = {
            let present: Vec<Option<&SignedSubmission>> =
                decoded.iter().map(|d| d.as_ref().ok()).collect();
            self.sequencer.preverify_some(&present)
        };
        profile.verify += lap.next();
        // 2-3. Order, validate, link and hash, one after the other.
        let ordered: Vec<Result<Ordered, Error>> = decoded
            .into_iter()
            .zip(verdicts)
            .map(|(d, verdict)| {
                let now = clock();
                match d {
                    Ok(signed) => self.order_one(signed, now, verdict),
                    Err(r) => Ok(Ordered::Refused(r)),
                }
            })
            .collect();
        profile.order += lap.next();
        // 4. Seal, on every core.
        let seals = seal_all(&self.sequencer, &ordered);
        profile.seal += lap.next();
        let outcomes = self.finish(ordered, seals);
        profile.finish += lap.next();
        outcomes
    }

    /// [`EmbeddedLedger::commit`], adding the store's time (write and fdatasync) and the
    /// checkpoints' to `profile`.
    pub fn commit_timed(&mut self, profile: &mut BatchProfile) -> Result<(), Error> {
        let mut lap = Lap::new();
        let grown = self.flush_records();
        profile.store += lap.next();
        for p in grown? {
            self.publish_by_policy(p);
        }
        self.snapshot_by_policy();
        profile.publish += lap.next();
        Ok(())
    }

    /// Stages 2 and 3 for one submission: a new record joins the buffer, unsealed.
    fn order_one(
        &mut self,
        signed: SignedSubmission,
        now: UtcMicros,
        verdict: AuthorSignature,
    ) -> Result<Ordered, Error> {
        self.check_not_poisoned()?;
        let source = PendingSource {
            log: &self.log,
            pending: &self.pending,
        };
        let ordered = self
            .sequencer
            .order_unsealed(signed, None, now, &source, verdict)?;
        if let Ordered::Unsealed(u) = &ordered {
            let mut bytes = u.body_bytes.clone();
            bytes.extend_from_slice(&[0; 64]);
            let p = u.record.body.partition;
            self.pending.entry(p).or_default().push(bytes);
            self.pending_order.push(p);
        }
        Ok(ordered)
    }

    /// Puts each seal into its buffered record and its outcome; gives a duplicate of a
    /// record of this batch that record's seal.
    fn finish(
        &mut self,
        ordered: Vec<Result<Ordered, Error>>,
        seals: Vec<Option<Sig64>>,
    ) -> Vec<Result<Outcome, Error>> {
        let mut sealed_now: HashMap<(u32, u64), Sig64> = HashMap::new();
        ordered
            .into_iter()
            .zip(seals)
            .map(|(o, seal)| {
                Ok(match o? {
                    Ordered::Unsealed(u) => {
                        let seal = seal.expect("every unsealed record was sealed");
                        let (p, seq) = (u.record.body.partition, u.record.body.seq);
                        self.put_seal(p, seq, &seal);
                        sealed_now.insert((p, seq), seal);
                        Outcome::Sealed(Box::new(u.into_sealed(seal)))
                    }
                    Ordered::Duplicate(mut receipt) => {
                        if let Some(seal) = sealed_now.get(&(receipt.partition, receipt.seq)) {
                            receipt.seal = seal.to_hex();
                        }
                        Outcome::Duplicate(receipt)
                    }
                    Ordered::Refused(r) => Outcome::Refused(r),
                })
            })
            .collect()
    }

    /// Writes `seal` over the zero seal of buffered record `p`/`seq`.
    fn put_seal(&mut self, p: u32, seq: u64, seal: &Sig64) {
        let index = (seq - self.log.len(p)) as usize;
        let bytes = &mut self
            .pending
            .get_mut(&p)
            .expect("an unsealed record is buffered")[index];
        let at = bytes.len() - 64;
        bytes[at..].copy_from_slice(&seal.0);
    }
}

/// The seal of every unsealed record of a batch (`None` for the other outcomes), signed on
/// every core.
fn seal_all<R: DomainRules>(
    sequencer: &Sequencer<R>,
    ordered: &[Result<Ordered, Error>],
) -> Vec<Option<Sig64>> {
    let sealer = sequencer.sealer();
    let trial = sequencer.state().trial();
    let unsealed: Vec<Option<&Unsealed>> = ordered
        .iter()
        .map(|o| match o {
            Ok(Ordered::Unsealed(u)) => Some(&**u),
            _ => None,
        })
        .collect();
    unsealed
        .par_iter()
        .map(|u| u.map(|u| u.seal_with(sealer, trial)))
        .collect()
}

/// Where the submit handle's sequencer thread spent its time, summed over batches: the
/// profile `bench --grouped` prints. Timing costs two clock reads per stage and batch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BatchProfile {
    /// Batches ordered and committed.
    pub batches: u64,
    /// Submissions in them.
    pub submissions: u64,
    /// Waiting for a batch's first submission (the thread had nothing to do).
    pub idle: Duration,
    /// Gathering the rest of a batch (what was queued, and the short wait for submitters the
    /// last batch answered).
    pub gather: Duration,
    /// Stage 1: decoding and batch-verifying the authors' signatures, on every core.
    pub verify: Duration,
    /// Stages 2-3: ordering, validating, linking and hashing, one thread.
    pub order: Duration,
    /// Stage 4: signing the seals, on every core.
    pub seal: Duration,
    /// Putting the seals into the buffered records and the outcomes.
    pub finish: Duration,
    /// Stage 5: writing the batch and fdatasyncing every partition it touched.
    pub store: Duration,
    /// Publishing checkpoints (and periodic snapshots) after the commit.
    pub publish: Duration,
    /// Sending the answers to the submitters.
    pub answer: Duration,
}

impl BatchProfile {
    /// The stages with their names, in pipeline order.
    pub fn stages(&self) -> [(&'static str, Duration); 9] {
        [
            ("idle (waiting for a first submission)", self.idle),
            ("gather the batch", self.gather),
            ("1 decode + batch-verify (all cores)", self.verify),
            ("2-3 order, validate, hash (one thread)", self.order),
            ("4 sign seals (all cores)", self.seal),
            ("seals into records", self.finish),
            ("5 write + fdatasync", self.store),
            ("checkpoints", self.publish),
            ("answer the submitters", self.answer),
        ]
    }

    /// Adds another profile's counts and times to this one.
    pub fn add(&mut self, other: &BatchProfile) {
        self.batches += other.batches;
        self.submissions += other.submissions;
        self.idle += other.idle;
        self.gather += other.gather;
        self.verify += other.verify;
        self.order += other.order;
        self.seal += other.seal;
        self.finish += other.finish;
        self.store += other.store;
        self.publish += other.publish;
        self.answer += other.answer;
    }

    /// The sum of every stage: the sequencer thread's whole time.
    pub fn total(&self) -> Duration {
        self.stages().iter().map(|(_, d)| *d).sum()
    }
}

/// A stopwatch that returns the time since its last lap.
struct Lap(Instant);

impl Lap {
    fn new() -> Self {
        Lap(Instant::now())
    }

    fn next(&mut self) -> Duration {
        let now = Instant::now();
        let took = now - self.0;
        self.0 = now;
        took
    }
}
