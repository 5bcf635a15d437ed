//! The broker fixture against a real Apache Kafka (KRaft) broker: an idempotent, acks=all
//! transactional producer writes, and a read_committed consumer reads the same bytes back.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::Message;
use std::time::{Duration, Instant};
use tl_tests::kafka::{broker, unique};

#[test]
fn a_transactional_write_is_read_back_committed() {
    let b = broker();
    let topic = unique("fixture");
    // A ThreadedProducer polls its delivery reports in a thread of its own, which
    // transactions need before they can commit or abort.
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &b.bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("transactional.id", unique("txn"))
        .set("transaction.timeout.ms", "10000")
        .create()
        .expect("producer");
    producer
        .init_transactions(Duration::from_secs(30))
        .expect("init_transactions");
    producer.begin_transaction().expect("begin");
    producer
        .send(
            BaseRecord::<[u8], [u8]>::to(&topic)
                .key(b"k".as_slice())
                .payload(b"committed".as_slice()),
        )
        .map_err(|(e, _)| e)
        .expect("send");
    producer
        .commit_transaction(Duration::from_secs(30))
        .expect("commit");
    // An aborted write is never seen by read_committed readers.
    producer.begin_transaction().expect("begin");
    producer
        .send(
            BaseRecord::<[u8], [u8]>::to(&topic)
                .key(b"k".as_slice())
                .payload(b"aborted".as_slice()),
        )
        .map_err(|(e, _)| e)
        .expect("send");
    producer
        .abort_transaction(Duration::from_secs(30))
        .expect("abort");

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &b.bootstrap)
        .set("group.id", unique("group"))
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while Instant::now() < deadline && seen.is_empty() {
        if let Some(m) = consumer.poll(Duration::from_millis(500)) {
            let m = m.expect("consume");
            seen.push(m.payload().unwrap_or_default().to_vec());
        }
    }
    // Give an aborted record a moment to (wrongly) show up.
    let settle = Instant::now() + Duration::from_secs(2);
    while Instant::now() < settle {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            seen.push(m.payload().unwrap_or_default().to_vec());
        }
    }
    assert_eq!(
        seen,
        vec![b"committed".to_vec()],
        "read_committed must see exactly the committed record"
    );
}
