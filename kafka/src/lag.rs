//! Consumer lag on a trial, for the server's metrics: how far the sequencers' group is behind
//! `<trial>.intake`, and the committed ends of `<trial>.ledger` that a follower's position is
//! compared with.
//!
//! Both are asked on clients of their own that fetch nothing, so a scrape neither waits
//! behind a follower's fetches nor joins the sequencers' group (reading a group's committed
//! offsets does not make a member).

use crate::read::CommittedEnds;
use crate::retry::retrying;
use crate::{Error, KafkaConfig};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

/// Asks the broker for a trial's intake lag and ledger ends.
pub struct LagReader {
    cfg: KafkaConfig,
    ledger: CommittedEnds,
    /// `read_uncommitted`, in the sequencers' group: intake's high marks and the group's
    /// committed offsets.
    group: BaseConsumer,
}

impl LagReader {
    /// Clients for `cfg`'s trial; `sequencer_group` is the sequencers' consumer group
    /// (`<trial>.sequencer` unless `trial-ledger sequencer --group` said otherwise).
    pub fn new(cfg: &KafkaConfig, sequencer_group: &str) -> Result<Self, Error> {
        let mut c = cfg.committed_reader();
        c.set("isolation.level", "read_uncommitted")
            .set("group.id", sequencer_group);
        Ok(LagReader {
            cfg: cfg.clone(),
            ledger: CommittedEnds::new(cfg)?,
            group: c.create().map_err(|e| Error::kafka("consumer", e))?,
        })
    }

    /// The committed ends (last stable offsets) of ledger partitions `0..n`.
    pub fn ledger_ends(&self, n: u32) -> Result<Vec<i64>, Error> {
        self.ledger.fetch(&self.cfg.topics.ledger, n)
    }

    /// Per intake partition `0..n`: its high mark minus the offset the sequencers' group has
    /// committed (the submissions produced but not sequenced yet). A partition the group has
    /// committed nothing for counts from its log start.
    pub fn intake_lag(&self, n: u32) -> Result<Vec<i64>, Error> {
        let topic = &self.cfg.topics.intake;
        let mut tpl = TopicPartitionList::new();
        for p in 0..n as i32 {
            tpl.add_partition(topic, p);
        }
        let committed = retrying("committed_offsets", self.cfg.timeout, || {
            self.group.committed_offsets(tpl.clone(), self.cfg.timeout)
        })?;
        (0..n as i32)
            .map(|p| {
                let (low, high) = retrying("fetch_watermarks", self.cfg.timeout, || {
                    self.group.fetch_watermarks(topic, p, self.cfg.timeout)
                })?;
                let done = match committed.find_partition(topic, p).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => o.max(low),
                    _ => low,
                };
                Ok((high - done).max(0))
            })
            .collect()
    }
}
