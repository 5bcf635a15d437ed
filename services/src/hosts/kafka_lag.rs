//! The consumer lag `serve --kafka` reports in `/metrics`: of intake (the submissions the
//! sequencers' group has not committed yet) and of the server's own followers of the
//! committed ledger (the writer's, which answers submissions, and the safety stream's).
//!
//! Followers publish their consumer positions as they read ([`FollowerPositions::set`]); a
//! scrape asks the broker for the ends on clients of its own ([`tl_kafka::lag::LagReader`])
//! and sets the gauges. Lags are in Kafka offsets: transaction markers take offsets too, so a
//! caught-up follower may show a lag of the one marker after its last record until it reads
//! on.

use std::collections::BTreeMap;
use std::sync::Mutex;
use tl_kafka::lag::LagReader;
use tl_kafka::KafkaConfig;

/// Where each of the server's followers has read the ledger to, per partition.
#[derive(Default)]
pub struct FollowerPositions {
    at: Mutex<BTreeMap<&'static str, Vec<i64>>>,
}

impl FollowerPositions {
    /// `follower` has read to `positions` (the next offset per partition; `-1` not yet).
    pub fn set(&self, follower: &'static str, positions: Vec<i64>) {
        self.at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(follower, positions);
    }

    fn snapshot(&self) -> BTreeMap<&'static str, Vec<i64>> {
        self.at.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// What a scrape needs on Kafka: the trial, the followers' positions and (made at the first
/// scrape) the clients that ask for the ends.
pub struct KafkaLag {
    cfg: KafkaConfig,
    /// Published by the followers.
    pub followers: std::sync::Arc<FollowerPositions>,
    reader: Mutex<Option<LagReader>>,
}

/// A lag: follower or `intake`, partition, offsets behind.
pub type Lag = (&'static str, u32, i64);

impl KafkaLag {
    /// For the trial `cfg`, with nothing read yet.
    pub fn new(cfg: &KafkaConfig) -> Self {
        KafkaLag {
            cfg: cfg.clone(),
            followers: Default::default(),
            reader: Mutex::new(None),
        }
    }

    /// The lags now, intake's first (`n` partitions). Blocking: asks the broker.
    pub fn measure(&self, n: u32) -> Result<Vec<Lag>, tl_kafka::Error> {
        let mut held = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        let reader = match held.as_mut() {
            Some(r) => r,
            None => held.insert(LagReader::new(
                &self.cfg,
                &tl_kafka::sequencer::default_group_id(self.cfg.trial.as_str()),
            )?),
        };
        let mut out: Vec<Lag> = Vec::new();
        for (p, lag) in reader.intake_lag(n)?.into_iter().enumerate() {
            out.push(("intake", p as u32, lag));
        }
        let ends = reader.ledger_ends(n)?;
        for (name, at) in self.followers.snapshot() {
            for (p, end) in ends.iter().enumerate() {
                let pos = at.get(p).copied().unwrap_or(-1).max(0);
                out.push((name, p as u32, (end - pos).max(0)));
            }
        }
        Ok(out)
    }
}
