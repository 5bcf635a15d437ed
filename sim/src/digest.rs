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
