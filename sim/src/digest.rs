//! A ledger's fingerprint: one SHA-256 over every record of every partition, in order.

use sha2::{Digest, Sha256};
use std::path::Path;

/// SHA-256 over `tl-sim/v1/ledger-digest\0`, then for each partition in order: u32_be(partition),
/// u64_be(record count), and for each record u32_be(length) || record bytes. Two ledgers with
/// the same digest hold the same records in the same partitions and order.
pub fn ledger_digest(ledger_dir: &Path) -> Result<[u8; 32], tl_ledger::Error> {
    let inputs = tl_ledger::log::read_embedded_for_verify(ledger_dir)?;
    let mut h = Sha256::new();
    h.update(b"tl-sim/v1/ledger-digest\0");
    for (p, input) in inputs.iter().enumerate() {
        h.update((p as u32).to_be_bytes());
        h.update((input.records.len() as u64).to_be_bytes());
        for r in &input.records {
            h.update((r.len() as u32).to_be_bytes());
            h.update(r);
        }
    }
    Ok(h.finalize().into())
}

/// A fingerprint of what a ledger says about each subject, independent of where and when it
/// was stored: SHA-256 over `tl-sim/v1/history-digest\0`, then for each subject in the order
/// of its display form (`Subject`'s `Display`), u32_be(length) || that form,
/// u64_be(event count), and for each of its events in ledger order u16_be(event type) ||
/// u32_be(payload length) || payload. Positions, hashes, times and sealed personal data (a
/// fresh nonce per sealing) are left out, so the same simulation on the embedded log and on
/// Kafka has the same history digest while their ledger digests differ.
pub fn history_digest(
    partitions: &[tl_ledger::verify::PartitionInput],
) -> Result<[u8; 32], tl_ledger::Error> {
    let mut by_subject: std::collections::BTreeMap<String, Vec<(u16, Vec<u8>)>> =
        Default::default();
    for input in partitions {
        for bytes in &input.records {
            let (r, _) =
                tl_ledger::codec::decode_record(bytes).map_err(tl_ledger::Error::CorruptLog)?;
            let s = r.body.submission.submission;
            by_subject
                .entry(s.subject.to_string())
                .or_default()
                .push((s.envelope.event_type, s.envelope.payload));
        }
    }
    let mut h = Sha256::new();
    h.update(b"tl-sim/v1/history-digest\0");
    for (subject, events) in &by_subject {
        h.update((subject.len() as u32).to_be_bytes());
        h.update(subject.as_bytes());
        h.update((events.len() as u64).to_be_bytes());
        for (t, payload) in events {
            h.update(t.to_be_bytes());
            h.update((payload.len() as u32).to_be_bytes());
            h.update(payload);
        }
    }
    Ok(h.finalize().into())
}
