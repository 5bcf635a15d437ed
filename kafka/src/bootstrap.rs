//! Writing a new trial's first two records to an empty ledger topic (FORMAT.md §13): the
//! trial registration and the sequencer key's enrolment, both sealed by the root key, exactly
//! as the embedded ledger writes them.

use crate::sequencer::MemoryLedger;
use crate::{Error, KafkaConfig};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use tl_ledger::log::bootstrap_submission_id;
use tl_ledger::state::LedgerState;
use tl_ledger::writer::Draft;
use tl_ledger::{CoreOnly, Outcome, Receipt, Sequencer, SigningKey};
use tl_schemas::events::{envelope_of, KeyEnrolled, TrialRegistered};
use tl_schemas::{Role, Subject, UtcMicros};

/// Creates the trial's topics with `partitions` partitions and writes the two bootstrap
/// records to ledger partition 0 in one transaction ([`write_bootstrap`]), with one client
/// configuration for both steps. Refuses a ledger topic that already holds records.
pub fn init_trial(
    cfg: &KafkaConfig,
    partitions: u32,
    title: &str,
    root: &SigningKey,
    sequencer_public_key: [u8; 32],
    now: UtcMicros,
) -> Result<Vec<Receipt>, Error> {
    crate::topics::create_topics(cfg, partitions)?;
    write_bootstrap(cfg, partitions, title, root, sequencer_public_key, now)
}

/// Writes the two bootstrap records to the existing, empty ledger topic in one transaction,
/// under the transactional id `<trial>.sequencer.bootstrap`. On a secured cluster `cfg`
/// authenticates as the sequencer's principal, the only one that may write the ledger; the
/// topics were created before by the admin ([`crate::topics::create_topics`]).
pub fn write_bootstrap(
    cfg: &KafkaConfig,
    partitions: u32,
    title: &str,
    root: &SigningKey,
    sequencer_public_key: [u8; 32],
    now: UtcMicros,
) -> Result<Vec<Receipt>, Error> {
    crate::topics::check_ledger_topic(cfg, partitions)?;
    let (hw, _) = crate::read::end_offsets(cfg, &cfg.topics.ledger, partitions)?;
    if hw.iter().any(|&h| h > 0) {
        return Err(Error::Invalid(format!(
            "the ledger topic {} already holds records; the trial exists",
            cfg.topics.ledger
        )));
    }
    let trial = &cfg.trial;
    let mut seq = Sequencer::new(
        LedgerState::new(trial.clone(), root.public_key(), CoreOnly),
        root.clone(),
    );
    let mut store = MemoryLedger {
        parts: vec![Vec::new(); partitions as usize],
    };
    let registered = TrialRegistered {
        partition_count: partitions,
        root_public_key: root.public_key(),
        title: title.into(),
    };
    let enrol = KeyEnrolled {
        public_key: sequencer_public_key,
        name: "sequencer".into(),
        role: Role::Sequencer,
    };
    let drafts = [envelope_of(&registered), envelope_of(&enrol)];
    let mut out = Vec::new();
    for (i, envelope) in drafts.into_iter().enumerate() {
        let mut draft = Draft::new(Subject::Trial, envelope);
        draft.submission_id = bootstrap_submission_id(trial, i as u32);
        draft.client_time = now;
        match seq.order_decoded(draft.sign(trial, root), Some(0), now, &store)? {
            Outcome::Sealed(s) => {
                out.push((s.receipt(), s.bytes));
            }
            Outcome::Duplicate(_) => unreachable!("a fresh state has seen nothing"),
            Outcome::Refused(r) => return Err(Error::Ledger(tl_ledger::Error::Refused(r))),
        }
        let bytes = out.last().expect("pushed").1.clone();
        store.parts[0].push(bytes);
    }
    let producer: ThreadedProducer<DefaultProducerContext> = cfg
        .client()
        // Under the sequencer's transactional-id prefix: on a secured cluster only the
        // sequencer's principal may write the ledger (FORMAT.md §17b).
        .set(
            "transactional.id",
            format!("{}.sequencer.bootstrap", trial.as_str()),
        )
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()
        .map_err(|e| Error::kafka("producer", e))?;
    producer
        .init_transactions(cfg.timeout)
        .map_err(|e| Error::kafka("init_transactions", e))?;
    producer
        .begin_transaction()
        .map_err(|e| Error::kafka("begin_transaction", e))?;
    for (i, (_, bytes)) in out.iter().enumerate() {
        let key = bootstrap_submission_id(trial, i as u32);
        producer
            .send(
                BaseRecord::<[u8], [u8]>::to(&cfg.topics.ledger)
                    .partition(0)
                    .key(&key.0[..])
                    .payload(bytes.as_slice()),
            )
            .map_err(|(e, _)| Error::kafka("send", e))?;
    }
    producer
        .commit_transaction(cfg.timeout)
        .map_err(|e| Error::kafka("commit_transaction", e))?;
    Ok(out.into_iter().map(|(r, _)| r).collect())
}
