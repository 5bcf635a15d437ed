//! The one verifying reader: reads every partition from a [`LogSource`], verifies each record
//! once ([`tl_ledger::stream_verify::StreamVerifier`]: chains, back-links, signatures in
//! batches on every core, the registry and roles, the trial's domain rules, references) and
//! hands the verified records to every view.

use crate::source::{ChunkEnd, LogSource};
use crate::Error;
use tl_domain::TrialRules;
use tl_ledger::reason::Reason;
use tl_ledger::stream_verify::{StreamVerifier, VerifiedRecord};
use tl_ledger::verify::Failure;
use tl_schemas::TrialId;

/// What one poll produced.
#[derive(Debug, Default)]
pub struct Polled {
    /// Records verified by this poll, cited records first.
    pub verified: Vec<VerifiedRecord>,
    /// Records read but held back: they cite what is not readable yet.
    pub held: usize,
    /// Records read from the source by this poll.
    pub read: usize,
}

/// The verifying reader over a source.
pub struct VerifyingReader<S: LogSource> {
    /// Where the record bytes come from.
    source: S,
    /// The incremental verifier and its state.
    verifier: StreamVerifier<TrialRules>,
    /// The most records read from one partition per poll (bounds a poll's memory and the
    /// views' transaction size).
    max_per_partition: usize,
}

impl<S: LogSource> VerifyingReader<S> {
    /// A reader of `trial`'s ledger in `source`, verified against the pinned root key.
    pub fn new(source: S, trial: TrialId, pinned_root: [u8; 32], max_per_partition: usize) -> Self {
        VerifyingReader {
            source,
            verifier: StreamVerifier::new(trial, pinned_root, TrialRules),
            max_per_partition: max_per_partition.max(1),
        }
    }

    /// Records of partition `p` verified so far.
    pub fn verified_len(&self, p: u32) -> u64 {
        self.verifier.verified_len(p)
    }

    /// The source's partition count.
    pub fn partition_count(&mut self) -> Result<u32, Error> {
        self.source.partition_count()
    }

    /// Records stored in partition `p` (as of the last poll).
    pub fn log_len(&mut self, p: u32) -> Result<u64, Error> {
        self.source.len(p)
    }

    /// Reads what is new in every partition (up to the per-partition maximum), verifies it,
    /// and returns the verified records. A record that fails verification is an
    /// [`Error::Verification`] naming it; it and everything after it in its partition are
    /// never returned, then or later.
    pub fn poll(&mut self) -> Result<Polled, Error> {
        let mut verified = Vec::new();
        match self.poll_into(&mut |v| verified.push(v)) {
            Ok(p) => Ok(Polled { verified, ..p }),
            Err(Error::VerificationAfter { failure, .. }) => {
                Err(Error::VerificationAfter { failure, verified })
            }
            Err(e) => Err(e),
        }
    }

    /// [`VerifyingReader::poll`], handing each verified record to `sink` as soon as it
    /// passes (while the poll's later signatures are still being checked), in the order
    /// [`VerifyingReader::poll`] would return them. The returned [`Polled`] and an
    /// [`Error::VerificationAfter`] carry no records: they all went to `sink`. Any other
    /// error comes before the first record.
    pub fn poll_into(&mut self, sink: &mut dyn FnMut(VerifiedRecord)) -> Result<Polled, Error> {
        if let Some(f) = self.verifier.failure() {
            return Err(Error::Verification(f.clone()));
        }
        self.source.refresh()?;
        let n = self.source.partition_count()?;
        let mut batch = Vec::new();
        let mut corrupt: Vec<Failure> = Vec::new();
        let mut read = 0;
        // Partition 0 (registry) last: what the others cite there was written before them.
        for p in (0..n).rev() {
            let from = self.verifier.verified_len(p);
            let chunk = self.source.read(p, from, self.max_per_partition)?;
            if let ChunkEnd::Corrupt { seq, reason } = &chunk.end {
                corrupt.push(Failure {
                    partition: p,
                    seq: *seq,
                    offset: None,
                    reason: Reason::FrameCorrupt.code(),
                    detail: reason.clone(),
                });
            }
            read += chunk.records.len();
            if !chunk.records.is_empty() {
                batch.push((p, from, chunk.records));
            }
        }
        let out = self.verifier.feed_into(batch, sink);
        if let Some(f) = out.failure {
            let f = self.locate(f);
            // Records verified before the failure went to the sink; the caller applies them,
            // then stops.
            return Err(Error::VerificationAfter {
                failure: f,
                verified: Vec::new(),
            });
        }
        // A corrupt frame counts once everything before it is verified.
        if let Some(f) = corrupt
            .into_iter()
            .find(|f| self.verifier.verified_len(f.partition) == f.seq)
        {
            return Err(Error::VerificationAfter {
                failure: self.locate(f),
                verified: Vec::new(),
            });
        }
        Ok(Polled {
            held: out.held.len(),
            read,
            verified: Vec::new(),
        })
    }

    /// For a log known to be complete: turns held records into a failure (they cite records
    /// that do not exist).
    pub fn finish_held(&mut self) -> Result<(), Error> {
        let mut held = Vec::new();
        let n = self.source.partition_count()?;
        for p in 0..n {
            let v = self.verifier.verified_len(p);
            if self.source.len(p)? > v {
                held.push((
                    p,
                    v,
                    "it cites a record or registry position the ledger does not hold".to_string(),
                ));
            }
        }
        match self.verifier.held_failure(&held) {
            Some(f) => Err(Error::Verification(self.locate(f))),
            None => Ok(()),
        }
    }

    /// Adds the failing record's storage offset, where the source has one (Kafka).
    fn locate(&mut self, mut f: Failure) -> Failure {
        if f.offset.is_none() {
            f.offset = self.source.offset(f.partition, f.seq);
        }
        f
    }
}
