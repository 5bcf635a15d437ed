//! Committed reads of whole partitions: the ledger for verification and for the sequencer's
//! rebuild, the rejections for writers.
//!
//! "The end" of a partition is its high watermark once every transaction below it is resolved
//! (committed or aborted): a reader first waits until the last stable offset (LSO) reaches
//! the high watermark, so an open transaction of a stopped or crashed sequencer is never read
//! past, and is not mistaken for the end either. Then it reads with `read_committed` until its
//! position reaches that end.

use crate::retry::retrying;
use crate::{Error, KafkaConfig};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use std::time::{Duration, Instant};

/// One message of a partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// Its Kafka offset.
    pub offset: i64,
    /// Its value (empty for a message without one).
    pub value: Vec<u8>,
}

fn consumer(cfg: ClientConfig) -> Result<BaseConsumer, Error> {
    cfg.create().map_err(|e| Error::kafka("consumer", e))
}

/// High watermarks (read_uncommitted) and last stable offsets (read_committed) of partitions
/// `0..n` of `topic`.
pub fn end_offsets(cfg: &KafkaConfig, topic: &str, n: u32) -> Result<(Vec<i64>, Vec<i64>), Error> {
    let mut uncommitted = cfg.committed_reader();
    uncommitted.set("isolation.level", "read_uncommitted");
    let hw_reader = consumer(uncommitted)?;
    let lso_reader = consumer(cfg.committed_reader())?;
    let mut hw = Vec::with_capacity(n as usize);
    let mut lso = Vec::with_capacity(n as usize);
    for p in 0..n as i32 {
        let (_, h) = retrying("fetch_watermarks", cfg.timeout, || {
            hw_reader.fetch_watermarks(topic, p, cfg.timeout)
        })?;
        let (_, l) = retrying("fetch_watermarks", cfg.timeout, || {
            lso_reader.fetch_watermarks(topic, p, cfg.timeout)
        })?;
        hw.push(h);
        lso.push(l);
    }
    Ok((hw, lso))
}

/// Asks the broker for the committed ends (last stable offsets) of a topic's partitions, on a
/// client of its own that fetches nothing. A consumer that is fetching sends its offset
/// requests on the connection its fetches use, where each one waits behind a fetch held open
/// for up to `fetch.wait.max.ms`: 8 partitions took about 345 ms a round that way, and a few
/// milliseconds on an idle client.
pub struct CommittedEnds {
    reader: BaseConsumer,
    timeout: Duration,
}

impl CommittedEnds {
    /// A client for `cfg`'s broker with `read_committed` (its ends are last stable offsets).
    pub fn new(cfg: &KafkaConfig) -> Result<Self, Error> {
        Ok(CommittedEnds {
            reader: consumer(cfg.committed_reader())?,
            timeout: cfg.timeout,
        })
    }

    /// The last stable offsets of partitions `0..n` of `topic`, asked now.
    pub fn fetch(&self, topic: &str, n: u32) -> Result<Vec<i64>, Error> {
        (0..n as i32)
            .map(|p| {
                retrying("fetch_watermarks", self.timeout, || {
                    self.reader.fetch_watermarks(topic, p, self.timeout)
                })
                .map(|(_, end)| end)
            })
            .collect()
    }

    /// The last stable offset of partition `p` of `topic`, asked now.
    pub fn fetch_one(&self, topic: &str, p: u32) -> Result<i64, Error> {
        retrying("fetch_watermarks", self.timeout, || {
            self.reader.fetch_watermarks(topic, p as i32, self.timeout)
        })
        .map(|(_, end)| end)
    }
}

/// Log-start offsets (low watermarks) of partitions `0..n` of `topic`. Above 0 on the ledger
/// topic means records were deleted from the partition's start (DeleteRecords, or a retention
/// limit): the ledger is not whole.
pub fn log_start_offsets(cfg: &KafkaConfig, topic: &str, n: u32) -> Result<Vec<i64>, Error> {
    let reader = consumer(cfg.committed_reader())?;
    (0..n as i32)
        .map(|p| {
            retrying("fetch_watermarks", cfg.timeout, || {
                reader.fetch_watermarks(topic, p, cfg.timeout)
            })
            .map(|(low, _)| low)
        })
        .collect()
}

/// Waits until no transaction is open on partitions `0..n` of `topic` and returns their ends
/// (the high watermarks). An open transaction of a dead or stopped producer is resolved by the
/// broker when its transaction timeout passes (or when a producer with the same
/// `transactional.id` starts), so `wait` should exceed the transaction timeout.
pub fn stable_ends(
    cfg: &KafkaConfig,
    topic: &str,
    n: u32,
    wait: Duration,
) -> Result<Vec<i64>, Error> {
    let deadline = Instant::now() + wait;
    loop {
        let (hw, lso) = end_offsets(cfg, topic, n)?;
        if hw.iter().zip(&lso).all(|(h, l)| l >= h) {
            return Ok(hw);
        }
        if Instant::now() > deadline {
            let open: Vec<String> = hw
                .iter()
                .zip(&lso)
                .enumerate()
                .filter(|(_, (h, l))| l < h)
                .map(|(p, (h, l))| format!("partition {p}: stable to {l}, written to {h}"))
                .collect();
            return Err(Error::Timeout {
                what: format!(
                    "waiting for open transactions on {topic} to resolve ({})",
                    open.join(", ")
                ),
                secs: wait.as_secs(),
                bootstrap: cfg.bootstrap.clone(),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Reads partitions `0..from.len()` of `topic` with `read_committed`, partition p from offset
/// `from[p]` up to `ends[p]` (exclusive).
pub fn read_range(
    cfg: &KafkaConfig,
    topic: &str,
    from: &[i64],
    ends: &[i64],
) -> Result<Vec<Vec<Stored>>, Error> {
    let mut out: Vec<Vec<Stored>> = vec![Vec::new(); from.len()];
    read_range_each(cfg, topic, from, ends, |p, offset, value| {
        out[p].push(Stored {
            offset,
            value: value.to_vec(),
        });
        Ok::<(), Error>(())
    })?;
    Ok(out)
}

/// [`read_range`] without keeping the messages: `each(partition, offset, value)` is called on
/// every committed message in offset order per partition, so a caller can read a long range
/// in bounded memory. The first error `each` returns stops the read and is returned.
pub fn read_range_each<E: From<Error>>(
    cfg: &KafkaConfig,
    topic: &str,
    from: &[i64],
    ends: &[i64],
    mut each: impl FnMut(usize, i64, &[u8]) -> Result<(), E>,
) -> Result<(), E> {
    let n = from.len();
    let todo: Vec<usize> = (0..n).filter(|&p| from[p] < ends[p]).collect();
    if todo.is_empty() {
        return Ok(());
    }
    let reader = consumer(cfg.committed_reader())?;
    let mut tpl = TopicPartitionList::new();
    for &p in &todo {
        tpl.add_partition_offset(topic, p as i32, Offset::Offset(from[p]))
            .map_err(|e| Error::kafka("assign", e))?;
    }
    reader.assign(&tpl).map_err(|e| Error::kafka("assign", e))?;
    let mut done: Vec<bool> = (0..n).map(|p| !todo.contains(&p)).collect();
    let mut last_progress = Instant::now();
    while !done.iter().all(|d| *d) {
        match reader.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let p = m.partition() as usize;
                if p < n && m.offset() < ends[p] {
                    each(p, m.offset(), m.payload().unwrap_or_default())?;
                    if m.offset() + 1 >= ends[p] {
                        done[p] = true;
                    }
                }
                last_progress = Instant::now();
            }
            // A report (a broker went away, a leader moved): the client recovers by itself,
            // and no progress at all ends in the timeout below.
            Some(Err(e)) => tracing::warn!(error = %e, %topic, "consumer error while reading"),
            None => {}
        }
        // Commit markers take offsets too, so the last data message may end before the end:
        // the consumer's position (which moves past markers) tells.
        if let Ok(pos) = reader.position() {
            for e in pos.elements_for_topic(topic) {
                let p = e.partition() as usize;
                if let Offset::Offset(o) = e.offset() {
                    if p < n && o >= ends[p] {
                        done[p] = true;
                    }
                }
            }
        }
        if last_progress.elapsed() > cfg.timeout {
            let missing: Vec<usize> = (0..n).filter(|&p| !done[p]).collect();
            return Err(Error::Timeout {
                what: format!("reading {topic} partitions {missing:?} to their ends"),
                secs: cfg.timeout.as_secs(),
                bootstrap: cfg.bootstrap.clone(),
            }
            .into());
        }
    }
    Ok(())
}

/// Reads only the partitions `which` of `topic` (of `n`), from the beginning to their stable
/// ends; the others come back empty.
pub fn read_some(
    cfg: &KafkaConfig,
    topic: &str,
    n: u32,
    which: &[u32],
    wait: Duration,
) -> Result<Vec<Vec<Stored>>, Error> {
    let ends = stable_ends(cfg, topic, n, wait)?;
    let from: Vec<i64> = (0..n)
        .map(|p| {
            if which.contains(&p) {
                0
            } else {
                ends[p as usize]
            }
        })
        .collect();
    read_range(cfg, topic, &from, &ends)
}

/// The signed checkpoints of ledger partition `p`, oldest first (unverified: callers check
/// signatures against the registry). Messages that are not checkpoints are skipped with a
/// warning.
pub fn checkpoints(
    cfg: &KafkaConfig,
    p: u32,
    wait: Duration,
) -> Result<Vec<tl_ledger::checkpoint::SignedCheckpoint>, Error> {
    let Some(n) = crate::topics::partition_count(cfg, &cfg.topics.checkpoints)? else {
        return Ok(Vec::new());
    };
    if p >= n {
        return Ok(Vec::new());
    }
    let parts = read_some(cfg, &cfg.topics.checkpoints, n, &[p], wait)?;
    let mut out = Vec::new();
    for m in &parts[p as usize] {
        match std::str::from_utf8(&m.value)
            .ok()
            .and_then(|t| tl_ledger::checkpoint::SignedCheckpoint::parse(t).ok())
        {
            Some(c) => out.push(c),
            None => tracing::warn!(partition = p, offset = m.offset, "not a signed checkpoint"),
        }
    }
    Ok(out)
}

/// Reads partitions `0..n` of `topic` from the beginning to their stable ends.
pub fn read_all(
    cfg: &KafkaConfig,
    topic: &str,
    n: u32,
    wait: Duration,
) -> Result<Vec<Vec<Stored>>, Error> {
    let ends = stable_ends(cfg, topic, n, wait)?;
    read_range(cfg, topic, &vec![0; n as usize], &ends)
}

/// The ledger topic as verification input: every partition's records with their offsets.
pub fn ledger_for_verify(
    cfg: &KafkaConfig,
    n: u32,
    wait: Duration,
) -> Result<Vec<tl_ledger::verify::PartitionInput>, Error> {
    // Checkpoints first: each commits with the records it covers, so the ledger read after it
    // holds them all, even while a sequencer keeps committing.
    let mut checkpoints = stored_checkpoints(cfg, n, wait)?;
    let parts = read_all(cfg, &cfg.topics.ledger, n, wait)?;
    Ok(parts
        .into_iter()
        .zip(checkpoints.iter_mut())
        .map(|(msgs, checkpoints)| {
            let offsets = msgs.iter().map(|m| m.offset as u64).collect();
            let records = msgs.into_iter().map(|m| m.value).collect();
            tl_ledger::verify::PartitionInput {
                records,
                offsets: Some(offsets),
                end: tl_ledger::verify::InputEnd::Clean,
                checkpoints: std::mem::take(checkpoints),
            }
        })
        .collect())
}

/// Every committed message of the checkpoints topic (partitions `0..n`) as verification
/// input: a message that is not a signed checkpoint is an entry saying so. No topic: none.
fn stored_checkpoints(
    cfg: &KafkaConfig,
    n: u32,
    wait: Duration,
) -> Result<Vec<Vec<tl_ledger::verify::StoredCheckpoint>>, Error> {
    use tl_ledger::checkpoint::SignedCheckpoint;
    let topic = &cfg.topics.checkpoints;
    let mut out: Vec<Vec<_>> = (0..n).map(|_| Vec::new()).collect();
    let Some(m) = crate::topics::partition_count(cfg, topic)? else {
        return Ok(out);
    };
    for (p, msgs) in read_all(cfg, topic, m.min(n), wait)?
        .into_iter()
        .enumerate()
    {
        out[p] = msgs
            .into_iter()
            .map(|msg| tl_ledger::verify::StoredCheckpoint {
                at: format!("{topic} partition {p} offset {}", msg.offset),
                note: std::str::from_utf8(&msg.value)
                    .map_err(|e| format!("not UTF-8 text: {e}"))
                    .and_then(|t| SignedCheckpoint::parse(t).map_err(|e| e.to_string())),
            })
            .collect();
    }
    Ok(out)
}
