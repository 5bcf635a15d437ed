//! Where the trial's topics are and how clients talk to them.

use rdkafka::ClientConfig;
use std::time::Duration;
use tl_schemas::TrialId;

/// Whether the ledger topic must meet the production durability settings (DESIGN.md §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TopicSafety {
    /// Replication factor at least 3, `min.insync.replicas` at least 2, no compaction, unlimited
    /// retention, no unclean leader election, exactly N partitions. The default.
    #[default]
    Production,
    /// A single-node broker for development, tests and the demo: replication factor 1 and
    /// `min.insync.replicas` 1 are accepted. Compaction, finite retention, unclean leader
    /// election and a wrong partition count are still refused.
    Dev,
}

/// The trial's topic names: `<trial>.intake`, `<trial>.ledger`, `<trial>.rejections`,
/// `<trial>.checkpoints` (DESIGN.md §4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topics {
    /// Signed submissions from writers; partition p feeds ledger partition p.
    pub intake: String,
    /// Sealed records: the ledger. Never compacted, never expired.
    pub ledger: String,
    /// Refused submissions with their reason, so nothing is dropped silently.
    pub rejections: String,
    /// Signed checkpoints of each ledger partition.
    pub checkpoints: String,
}

impl Topics {
    /// The topic names of `trial`.
    pub fn of(trial: &TrialId) -> Self {
        let t = trial.as_str();
        Topics {
            intake: format!("{t}.intake"),
            ledger: format!("{t}.ledger"),
            rejections: format!("{t}.rejections"),
            checkpoints: format!("{t}.checkpoints"),
        }
    }

    /// All four, in creation order.
    pub fn all(&self) -> [&str; 4] {
        [
            &self.intake,
            &self.ledger,
            &self.rejections,
            &self.checkpoints,
        ]
    }
}

/// How to reach one trial on Kafka.
#[derive(Clone, Debug)]
pub struct KafkaConfig {
    /// `host:port[,host:port...]`.
    pub bootstrap: String,
    /// The trial; it names the topics and is in every signature.
    pub trial: TrialId,
    /// The topics (by default [`Topics::of`] the trial).
    pub topics: Topics,
    /// Which ledger-topic settings are accepted.
    pub safety: TopicSafety,
    /// How long a client call may wait for the broker before it is an error.
    pub timeout: Duration,
}

impl KafkaConfig {
    /// The trial's topics on `bootstrap`, production safety, 30 s timeouts.
    pub fn new(bootstrap: impl Into<String>, trial: TrialId) -> Self {
        let topics = Topics::of(&trial);
        KafkaConfig {
            bootstrap: bootstrap.into(),
            trial,
            topics,
            safety: TopicSafety::Production,
            timeout: Duration::from_secs(30),
        }
    }

    /// Settings every client shares.
    pub fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap)
            // Loopback brokers in tests come and go; do not wait long between reconnects.
            .set("reconnect.backoff.max.ms", "1000")
            .set("log_level", "3");
        c
    }

    /// A consumer that reads only committed records and commits nothing itself.
    pub fn committed_reader(&self) -> ClientConfig {
        let mut c = self.client();
        c.set("group.id", format!("{}.reader", self.trial.as_str()))
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "50");
        c
    }

    /// An idempotent producer with acks=all (writers, rejections of tools).
    pub fn idempotent_producer(&self) -> ClientConfig {
        let mut c = self.client();
        c.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "1")
            .set(
                "message.timeout.ms",
                (self.timeout.as_millis() as u64).max(1).to_string(),
            );
        c
    }

    /// A description for error messages.
    pub fn describe(&self) -> String {
        format!(
            "trial {} on {} (ledger topic {})",
            self.trial.as_str(),
            self.bootstrap,
            self.topics.ledger
        )
    }
}
