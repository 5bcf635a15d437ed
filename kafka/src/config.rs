//! Where the trial's topics are and how clients talk to them.

use rdkafka::ClientConfig;
use std::collections::BTreeMap;
use std::path::Path;
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
    /// librdkafka properties every client gets on top of the defaults (`security.protocol`,
    /// `sasl.*`, `ssl.*`, ...), usually from a `--kafka-config` file ([`load_properties`]).
    pub properties: BTreeMap<String, String>,
}

/// Properties a `--kafka-config` file may not set: each client sets them for its role.
const ROLE_PROPERTIES: [&str; 6] = [
    "bootstrap.servers",
    "group.id",
    "group.instance.id",
    "transactional.id",
    "isolation.level",
    "enable.idempotence",
];

/// Reads a librdkafka client properties file: `name=value` lines; blank lines and lines
/// starting with `#` or `!` are ignored; spaces around the name and the value are trimmed.
/// Refuses a line without `=`, a name given twice, and the properties each client sets for its
/// role (`bootstrap.servers` comes from `--kafka`; `group.id`, `transactional.id`, ...).
pub fn load_properties(path: &Path) -> Result<BTreeMap<String, String>, crate::Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        crate::Error::Invalid(format!(
            "cannot read the Kafka client properties {}: {e}",
            path.display()
        ))
    })?;
    parse_properties(&text).map_err(|e| crate::Error::Invalid(format!("{}: {e}", path.display())))
}

/// The parsing rule of [`load_properties`], on text.
pub fn parse_properties(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(format!("line {}: expected name=value", i + 1));
        };
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() {
            return Err(format!("line {}: a property needs a name", i + 1));
        }
        if ROLE_PROPERTIES.contains(&name) {
            return Err(format!(
                "line {}: {name} cannot be set here (each client sets it for its role; the brokers come from --kafka)",
                i + 1
            ));
        }
        if out.insert(name.to_string(), value.to_string()).is_some() {
            return Err(format!("line {}: {name} is set twice", i + 1));
        }
    }
    Ok(out)
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
            properties: BTreeMap::new(),
        }
    }

    /// Settings every client shares.
    pub fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap)
            // Loopback brokers in tests come and go; do not wait long between reconnects.
            .set("reconnect.backoff.max.ms", "1000")
            .set("log_level", "3");
        // The operator's properties (security, tuning) after the defaults, before each role's
        // own settings.
        for (k, v) in &self.properties {
            c.set(k, v);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_properties_file_is_read_and_role_settings_are_refused() {
        let p = parse_properties(
            "# a comment\n\nsecurity.protocol = SASL_SSL\nsasl.password=a=b\n! also a comment\n",
        )
        .unwrap();
        assert_eq!(p["security.protocol"], "SASL_SSL");
        assert_eq!(p["sasl.password"], "a=b");
        assert_eq!(p.len(), 2);
        assert!(parse_properties("transactional.id=x\n")
            .unwrap_err()
            .contains("transactional.id cannot be set"));
        assert!(parse_properties("a=1\na=2\n")
            .unwrap_err()
            .contains("set twice"));
        assert!(parse_properties("novalue\n")
            .unwrap_err()
            .contains("line 1: expected name=value"));
    }

    #[test]
    fn the_properties_reach_every_client() {
        let mut cfg = KafkaConfig::new("127.0.0.1:1", TrialId::new("t").unwrap());
        cfg.properties
            .insert("security.protocol".into(), "SASL_SSL".into());
        assert_eq!(
            cfg.idempotent_producer().get("security.protocol"),
            Some("SASL_SSL")
        );
        assert_eq!(
            cfg.committed_reader().get("security.protocol"),
            Some("SASL_SSL")
        );
    }
}
