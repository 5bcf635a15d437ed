//! Following the ledger topic by sequence number: what the projections read on Kafka.
//!
//! Because the sequencer writes in transactions, a partition's Kafka offsets are not its
//! sequence numbers: commit markers (and the records of aborted transactions) take offsets
//! too. A [`LedgerFollower`] reads every partition with `read_committed` from offset 0 and
//! numbers the records it is given in order: the n-th committed record of a partition is its
//! record with sequence number n (the sequencer writes them so; the verifier checks each
//! record's own `seq` against that position, so a gap or a duplicate is a failure, never a
//! silent skip). It keeps the offset of every record it numbered, as runs of consecutive
//! offsets ([`Offsets`]: one entry per committed transaction that touched the partition, not
//! one per record), so a position can be named by its offset and read again.
//!
//! A read never goes past the last stable offset: `read_committed` delivers nothing of an
//! open transaction, and [`LedgerFollower::catch_up`] reads each partition only up to the
//! last stable offset it fetched at the start (more, if more has committed by then).

use crate::{Error, KafkaConfig};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::VecDeque;
use std::time::Instant;

/// One partition as the follower knows it.
#[derive(Default)]
struct Part {
    /// Kafka offset of each committed record read so far, by sequence number.
    offsets: Offsets,
    /// Sequence number of `records[0]`.
    base: u64,
    /// Record bytes from `base` on that the caller may still ask for (it asks again for
    /// records the verifier held back); dropped once the caller reads past them.
    records: VecDeque<Vec<u8>>,
    /// Records from here on were never handed out: the caller has work without a new fetch.
    delivered: u64,
}

/// The Kafka offsets of a partition's records by sequence number, stored as runs of
/// consecutive offsets: a transaction's records have consecutive offsets, and only its commit
/// marker (or an aborted transaction) leaves a gap, so this holds one entry per gap instead
/// of 8 bytes per record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Offsets {
    /// Each run's first sequence number and first offset, in order.
    runs: Vec<(u64, i64)>,
    /// Records numbered.
    len: u64,
}

impl Offsets {
    /// Records numbered.
    fn len(&self) -> u64 {
        self.len
    }

    /// True when no record was numbered.
    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The offset of the last record numbered.
    fn last(&self) -> Option<i64> {
        let &(seq, offset) = self.runs.last()?;
        Some(offset + (self.len - 1 - seq) as i64)
    }

    /// Numbers the next record, stored at `offset` (above the last one's: the caller checks).
    fn push(&mut self, offset: i64) {
        if self.last() != Some(offset - 1) {
            self.runs.push((self.len, offset));
        }
        self.len += 1;
    }

    /// The offset of the record numbered `seq`.
    fn get(&self, seq: u64) -> Option<i64> {
        if seq >= self.len {
            return None;
        }
        // The last run starting at or before `seq` (the first starts at 0, and `seq < len`).
        let i = self.runs.partition_point(|&(s, _)| s <= seq) - 1;
        let (s, o) = self.runs[i];
        Some(o + (seq - s) as i64)
    }

    /// The offsets of the records numbered `from` to the last.
    fn tail_from(&self, from: u64) -> Vec<i64> {
        (from..self.len).filter_map(|s| self.get(s)).collect()
    }
}

/// Follows the ledger topic of a trial with `read_committed`, by sequence number.
pub struct LedgerFollower {
    /// The trial's topics and client settings.
    cfg: KafkaConfig,
    /// Assigned to every ledger partition from offset 0; commits nothing.
    consumer: BaseConsumer,
    /// Asks for the committed ends off the fetching connection.
    ends: crate::read::CommittedEnds,
    /// The per-partition cursors and buffers.
    parts: Vec<Part>,
    /// Per partition, the offset a read stops before ([`LedgerFollower::open_until`]).
    until: Option<Vec<i64>>,
}

impl LedgerFollower {
    /// Starts following `cfg`'s ledger topic from the beginning (nothing is read until
    /// [`LedgerFollower::catch_up`]). The topic must exist ([`Error::NotInitialised`]).
    pub fn open(cfg: &KafkaConfig) -> Result<Self, Error> {
        let topic = &cfg.topics.ledger;
        let Some(n) = crate::topics::partition_count(cfg, topic)? else {
            return Err(Error::NotInitialised(format!(
                "no ledger topic {topic} on {}: is the trial id right, and was `trial-ledger init --kafka` run?",
                cfg.bootstrap
            )));
        };
        let consumer: BaseConsumer = cfg
            .committed_reader()
            .create()
            .map_err(|e| Error::kafka("consumer", e))?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..n as i32 {
            tpl.add_partition_offset(topic, p, Offset::Offset(0))
                .map_err(|e| Error::kafka("assign", e))?;
        }
        consumer
            .assign(&tpl)
            .map_err(|e| Error::kafka("assign", e))?;
        Ok(LedgerFollower {
            cfg: cfg.clone(),
            consumer,
            ends: crate::read::CommittedEnds::new(cfg)?,
            parts: (0..n).map(|_| Part::default()).collect(),
            until: None,
        })
    }

    /// [`LedgerFollower::open`], reading each partition `p` only before offset `until[p]`
    /// (a frozen cut: what was committed after it is never read, so it cannot change what is
    /// read). Every partition must be named.
    pub fn open_until(cfg: &KafkaConfig, until: Vec<i64>) -> Result<Self, Error> {
        let mut f = Self::open(cfg)?;
        if until.len() != f.parts.len() {
            return Err(Error::Invalid(format!(
                "a cut of {} partitions for a ledger of {}",
                until.len(),
                f.parts.len()
            )));
        }
        f.until = Some(until);
        Ok(f)
    }

    /// The ledger topic's partition count.
    pub fn partition_count(&self) -> u32 {
        self.parts.len() as u32
    }

    /// Committed records of `partition` read so far (its length, as of the last catch-up).
    pub fn len(&self, partition: u32) -> u64 {
        self.parts
            .get(partition as usize)
            .map_or(0, |p| p.offsets.len())
    }

    /// True when no record has been read yet.
    pub fn is_empty(&self) -> bool {
        self.parts.iter().all(|p| p.offsets.is_empty())
    }

    /// The Kafka offset of the record with sequence number `seq` in `partition`, once read.
    pub fn offset_of(&self, partition: u32, seq: u64) -> Option<i64> {
        self.parts.get(partition as usize)?.offsets.get(seq)
    }

    /// True when records were read that were never handed out by [`LedgerFollower::read`].
    pub fn has_unread(&self) -> bool {
        self.parts.iter().any(|p| p.delivered < p.offsets.len())
    }

    /// Reads every partition up to its last stable offset as of now (what is committed;
    /// never into an open transaction). Fails with [`Error::Timeout`] when a partition makes
    /// no progress for the configured timeout, and with [`Error::CorruptLedger`] if the
    /// broker hands out an offset at or below one already read (which would repeat records).
    pub fn catch_up(&mut self) -> Result<(), Error> {
        let topic = self.cfg.topics.ledger.clone();
        let n = self.parts.len();
        // On a read_committed client the high mark is the last stable offset.
        let mut stable = self.ends.fetch(&topic, n as u32)?;
        if let Some(until) = &self.until {
            for (s, u) in stable.iter_mut().zip(until) {
                *s = (*s).min(*u);
            }
        }
        let mut last_progress = Instant::now();
        loop {
            // Done once each partition's position (which moves past commit markers and
            // aborted records) or its last record reaches its stable offset.
            let positions = self
                .consumer
                .position()
                .map_err(|e| Error::kafka("position", e))?;
            let mut reached = vec![false; n];
            for e in positions.elements_for_topic(&topic) {
                let p = e.partition() as usize;
                if let (Some(r), Offset::Offset(o)) = (reached.get_mut(p), e.offset()) {
                    *r = o >= stable[p];
                }
            }
            let missing: Vec<usize> = (0..n)
                .filter(|&p| {
                    let next = self.parts[p].offsets.last().map_or(0, |o| o + 1);
                    !reached[p] && next < stable[p]
                })
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            match self.consumer.poll(std::time::Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    let p = m.partition() as usize;
                    let Some(part) = self.parts.get_mut(p) else {
                        continue;
                    };
                    let offset = m.offset();
                    if offset >= stable[p] && self.until.is_some() {
                        continue; // past the cut
                    }
                    if let Some(last) = part.offsets.last() {
                        if offset <= last {
                            return Err(Error::CorruptLedger {
                                partition: p as u32,
                                offset,
                                detail: format!(
                                    "the broker handed out offset {offset} after offset {last}: the topic was truncated or rewritten, reading on would repeat records"
                                ),
                            });
                        }
                    }
                    part.offsets.push(offset);
                    part.records
                        .push_back(m.payload().unwrap_or_default().to_vec());
                    last_progress = Instant::now();
                }
                // A report (a broker went away, a leader moved): the client recovers by
                // itself, and no progress at all ends in the timeout below.
                Some(Err(e)) => {
                    tracing::warn!(error = %e, %topic, "consumer error while following")
                }
                None => {}
            }
            if last_progress.elapsed() > self.cfg.timeout {
                let which: Vec<String> = missing
                    .iter()
                    .map(|&p| {
                        format!(
                            "partition {p}: {} records read, stable to offset {}",
                            self.parts[p].offsets.len(),
                            stable[p]
                        )
                    })
                    .collect();
                return Err(Error::Timeout {
                    what: format!("reading {topic} ({})", which.join("; ")),
                    secs: self.cfg.timeout.as_secs(),
                    bootstrap: self.cfg.bootstrap.clone(),
                });
            }
        }
    }

    /// Up to `max` records of `partition` from sequence number `from` on (fewer at the end
    /// of what has been read). Records before `from` are forgotten: the caller reads each
    /// partition forward (and may ask for the same position again). Asking for an earlier
    /// position than that reads the partition again from that record's offset.
    pub fn read(&mut self, partition: u32, from: u64, max: usize) -> Result<Vec<Vec<u8>>, Error> {
        let Some(part) = self.parts.get_mut(partition as usize) else {
            return Err(Error::Invalid(format!(
                "no ledger partition {partition} (the topic has {})",
                self.parts.len()
            )));
        };
        let len = part.offsets.len();
        if from >= len {
            return Ok(Vec::new());
        }
        if from < part.base {
            // Forgotten already: read it again from its offset, with a reader of its own,
            // up to the last record this follower numbered.
            let (Some(start), Some(last)) = (part.offsets.get(from), part.offsets.last()) else {
                return Ok(Vec::new());
            };
            let end = last + 1;
            let mut from_offsets = Vec::new();
            let mut ends = Vec::new();
            for p in 0..=partition as usize {
                from_offsets.push(if p == partition as usize { start } else { 0 });
                ends.push(if p == partition as usize { end } else { 0 });
            }
            let mut again =
                crate::read::read_range(&self.cfg, &self.cfg.topics.ledger, &from_offsets, &ends)?;
            let again = std::mem::take(&mut again[partition as usize]);
            let part = &mut self.parts[partition as usize];
            let want = part.offsets.tail_from(from);
            let got: Vec<i64> = again.iter().map(|m| m.offset).collect();
            if got != want {
                return Err(Error::CorruptLedger {
                    partition,
                    offset: start,
                    detail: "reading the partition again gave other offsets than the first read: the topic was rewritten".into(),
                });
            }
            part.base = from;
            part.records = again.into_iter().map(|m| m.value).collect();
        }
        let part = &mut self.parts[partition as usize];
        let consumed = (from - part.base) as usize;
        part.records.drain(..consumed.min(part.records.len()));
        part.base = from;
        let out: Vec<Vec<u8>> = part.records.iter().take(max).cloned().collect();
        part.delivered = part.delivered.max(from + out.len() as u64);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::Offsets;

    /// Runs give back every offset pushed, across gaps (commit markers), and store one entry
    /// per gap.
    #[test]
    fn offsets_as_runs() {
        let pushed = [0i64, 1, 2, 4, 5, 9, 11, 12, 13, 14];
        let mut o = Offsets::default();
        assert!(o.is_empty() && o.last().is_none() && o.get(0).is_none());
        for &x in &pushed {
            o.push(x);
        }
        assert_eq!(o.len(), pushed.len() as u64);
        assert_eq!(o.runs.len(), 4);
        for (seq, &x) in pushed.iter().enumerate() {
            assert_eq!(o.get(seq as u64), Some(x), "seq {seq}");
        }
        assert_eq!(o.get(pushed.len() as u64), None);
        assert_eq!(o.last(), Some(14));
        assert_eq!(o.tail_from(4), pushed[4..].to_vec());
        assert_eq!(o.tail_from(10), Vec::<i64>::new());
    }
}
