//! Creating the trial's topics, and the safety check every service runs on the ledger topic
//! before it starts (DESIGN.md §4).

use crate::retry::retrying;
use crate::{Error, KafkaConfig, TopicSafety};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use std::collections::BTreeMap;

/// Runs a future of the admin API to completion on a small runtime of its own (the rest of
/// the backend is synchronous).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread tokio runtime can always be built")
        .block_on(f)
}

fn admin(cfg: &KafkaConfig) -> Result<AdminClient<DefaultClientContext>, Error> {
    cfg.client()
        .create()
        .map_err(|e| Error::kafka("admin client", e))
}

/// Replication settings of the topics [`create_topics`] makes.
fn replication(safety: TopicSafety) -> (i32, &'static str) {
    match safety {
        TopicSafety::Production => (3, "2"),
        TopicSafety::Dev => (1, "1"),
    }
}

/// Creates the trial's four topics with `partitions` partitions each, as DESIGN.md §4 wants
/// them: delete-only cleanup and unlimited retention everywhere (intake holds submissions
/// until they are sequenced, rejections are part of the audit trail), no unclean leader
/// election, and replication 3 / min ISR 2 (1 / 1 in [`TopicSafety::Dev`]). Topics that exist
/// already are left as they are; [`check_ledger_topic`] judges them.
pub fn create_topics(cfg: &KafkaConfig, partitions: u32) -> Result<(), Error> {
    let (rf, min_isr) = replication(cfg.safety);
    let admin = admin(cfg)?;
    let partitions_i32 = i32::try_from(partitions)
        .map_err(|_| Error::Invalid(format!("{partitions} partitions is too many")))?;
    let topics: Vec<NewTopic<'_>> = cfg
        .topics
        .all()
        .into_iter()
        .map(|name| {
            NewTopic::new(name, partitions_i32, TopicReplication::Fixed(rf))
                .set("cleanup.policy", "delete")
                .set("retention.ms", "-1")
                .set("retention.bytes", "-1")
                .set("min.insync.replicas", min_isr)
                .set("unclean.leader.election.enable", "false")
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(cfg.timeout));
    let results = block_on(admin.create_topics(&topics, &opts))
        .map_err(|e| Error::kafka("create_topics", e))?;
    for r in results {
        match r {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                tracing::error!(%topic, ?code, "cannot create topic");
                return Err(Error::kafka(
                    "create_topics",
                    rdkafka::error::KafkaError::AdminOp(code),
                ));
            }
        }
    }
    // Creation is asynchronous on the broker: wait until every topic has its partitions and
    // leaders, so the first producer does not race it.
    let deadline = std::time::Instant::now() + cfg.timeout;
    loop {
        let ready = cfg
            .topics
            .all()
            .into_iter()
            .all(|t| matches!(partition_count(cfg, t), Ok(Some(n)) if n == partitions));
        if ready {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(Error::Timeout {
                what: "waiting for the trial's topics to be created".into(),
                secs: cfg.timeout.as_secs(),
                bootstrap: cfg.bootstrap.clone(),
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Brokers in the cluster (from its metadata).
pub fn broker_count(cfg: &KafkaConfig) -> Result<usize, Error> {
    let consumer: BaseConsumer = cfg
        .client()
        .create()
        .map_err(|e| Error::kafka("metadata client", e))?;
    let md = retrying("fetch_metadata", cfg.timeout, || {
        consumer.fetch_metadata(None, cfg.timeout)
    })?;
    Ok(md.brokers().len())
}

/// Partitions of `topic` with a leader each, or `None` when the topic does not exist.
pub fn partition_count(cfg: &KafkaConfig, topic: &str) -> Result<Option<u32>, Error> {
    let consumer: BaseConsumer = cfg
        .client()
        .create()
        .map_err(|e| Error::kafka("metadata client", e))?;
    let md = retrying("fetch_metadata", cfg.timeout, || {
        consumer.fetch_metadata(Some(topic), cfg.timeout)
    })?;
    let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
        return Ok(None);
    };
    if t.error().is_some() || t.partitions().is_empty() {
        return Ok(None);
    }
    if t.partitions().iter().any(|p| p.leader() < 0) {
        return Ok(None);
    }
    Ok(Some(t.partitions().len() as u32))
}

/// What the safety check found about one topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicSettings {
    /// Partition count.
    pub partitions: u32,
    /// Smallest replication factor among its partitions.
    pub replication: u32,
    /// The topic's effective configuration (name to value).
    pub configs: BTreeMap<String, String>,
}

/// Reads a topic's partition count, replication and configuration.
pub fn describe_topic(cfg: &KafkaConfig, topic: &str) -> Result<TopicSettings, Error> {
    let consumer: BaseConsumer = cfg
        .client()
        .create()
        .map_err(|e| Error::kafka("metadata client", e))?;
    let md = retrying("fetch_metadata", cfg.timeout, || {
        consumer.fetch_metadata(Some(topic), cfg.timeout)
    })?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        .ok_or_else(|| {
            Error::NotInitialised(format!(
                "topic {topic} does not exist on {}; run `trial-ledger init --kafka` or the demo first",
                cfg.bootstrap
            ))
        })?;
    let replication = t
        .partitions()
        .iter()
        .map(|p| p.replicas().len() as u32)
        .min()
        .unwrap_or(0);
    let admin = admin(cfg)?;
    let opts = AdminOptions::new().request_timeout(Some(cfg.timeout));
    let results = block_on(admin.describe_configs(&[ResourceSpecifier::Topic(topic)], &opts))
        .map_err(|e| Error::kafka("describe_configs", e))?;
    let mut configs = BTreeMap::new();
    for r in results {
        let r = r.map_err(|code| {
            Error::kafka(
                "describe_configs",
                rdkafka::error::KafkaError::AdminOp(code),
            )
        })?;
        for e in r.entries {
            if let Some(v) = e.value {
                configs.insert(e.name, v);
            }
        }
    }
    Ok(TopicSettings {
        partitions: t.partitions().len() as u32,
        replication,
        configs,
    })
}

/// The unsafe settings of a ledger topic, in words (empty when it is safe). Pure, so the rule
/// is tested without a broker.
pub fn ledger_problems(s: &TopicSettings, partitions: u32, safety: TopicSafety) -> Vec<String> {
    let mut problems = Vec::new();
    let get = |k: &str| s.configs.get(k).map(String::as_str);
    if let Some(policy) = get("cleanup.policy") {
        if policy.split(',').any(|p| p.trim() == "compact") {
            problems.push(format!(
                "cleanup.policy={policy}: compaction would delete records"
            ));
        }
    }
    for key in ["retention.ms", "retention.bytes"] {
        match get(key) {
            Some("-1") => {}
            Some(v) => problems.push(format!(
                "{key}={v}: finite retention would delete records (want -1)"
            )),
            None => problems.push(format!("{key} unknown: cannot prove unlimited retention")),
        }
    }
    if get("unclean.leader.election.enable") == Some("true") {
        problems.push(
            "unclean.leader.election.enable=true: an out-of-sync replica could become leader and lose committed records"
                .into(),
        );
    }
    if s.partitions != partitions {
        problems.push(format!(
            "{} partitions, the trial has {partitions}: records would land on the wrong partitions",
            s.partitions
        ));
    }
    if safety == TopicSafety::Production {
        if s.replication < 3 {
            problems.push(format!(
                "replication factor {} (want 3 or more; dev mode accepts 1 on a single node)",
                s.replication
            ));
        }
        let min_isr = get("min.insync.replicas")
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0);
        if min_isr < 2 {
            problems.push(format!(
                "min.insync.replicas={min_isr} (want 2 or more; dev mode accepts 1 on a single node)"
            ));
        }
    }
    problems
}

/// Refuses a ledger topic with unsafe settings ([`ledger_problems`]).
pub fn check_ledger_topic(cfg: &KafkaConfig, partitions: u32) -> Result<(), Error> {
    let settings = describe_topic(cfg, &cfg.topics.ledger)?;
    let problems = ledger_problems(&settings, partitions, cfg.safety);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::UnsafeTopic {
            topic: cfg.topics.ledger.clone(),
            problems,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn safe(rf: u32, min_isr: &str) -> TopicSettings {
        let configs = [
            ("cleanup.policy", "delete"),
            ("retention.ms", "-1"),
            ("retention.bytes", "-1"),
            ("unclean.leader.election.enable", "false"),
            ("min.insync.replicas", min_isr),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        TopicSettings {
            partitions: 8,
            replication: rf,
            configs,
        }
    }

    #[test]
    fn a_production_topic_passes_and_each_unsafe_setting_is_named() {
        assert!(ledger_problems(&safe(3, "2"), 8, TopicSafety::Production).is_empty());
        assert!(ledger_problems(&safe(1, "1"), 8, TopicSafety::Dev).is_empty());
        let p = ledger_problems(&safe(1, "1"), 8, TopicSafety::Production);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("replication factor 1"));
        assert!(p[1].starts_with("min.insync.replicas=1"));
        let cases: [(&str, &str, &str); 4] = [
            ("cleanup.policy", "compact", "compaction"),
            ("cleanup.policy", "delete,compact", "compaction"),
            ("retention.ms", "604800000", "finite retention"),
            ("unclean.leader.election.enable", "true", "unclean"),
        ];
        for (k, v, expect) in cases {
            let mut s = safe(3, "2");
            s.configs.insert(k.into(), v.into());
            let p = ledger_problems(&s, 8, TopicSafety::Dev);
            assert_eq!(p.len(), 1, "{k}={v}: {p:?}");
            assert!(p[0].contains(expect), "{k}={v}: {p:?}");
        }
        let p = ledger_problems(&safe(3, "2"), 4, TopicSafety::Production);
        assert!(p[0].contains("8 partitions, the trial has 4"), "{p:?}");
    }
}
