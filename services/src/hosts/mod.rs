//! The long-running services, hosted on each backend: the deciding services on the embedded log
//! ([`decider_embedded`]) and on Kafka ([`decider_kafka`]), the projector's Kafka source
//! ([`kafka_source`]), `serve --kafka`'s writer and stream follower ([`kafka_api`]), the simulator driving a trial on Kafka ([`kafka_sim`]), a broker started
//! from `infra/` for `--kafka-local` ([`local_kafka`]), the trial's ACLs and the production-mode
//! check through infra/kafka's ACL tool ([`kafka_acl`]), and the backoff they share while a
//! broker is away ([`outage`]). The Kafka sequencer itself lives in `tl-kafka`.

pub mod decider_embedded;
pub mod decider_kafka;
pub mod kafka_acl;
pub mod kafka_api;
pub mod kafka_lag;
pub mod kafka_sim;
pub mod kafka_source;
pub mod local_kafka;
pub mod outage;
