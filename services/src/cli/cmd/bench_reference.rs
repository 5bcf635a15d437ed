//! The crypto limit of a sequencer, measured on exactly the records it sequences: the
//! reference that sequencer benchmarks (`bench --grouped`, and the Kafka sequencer's) print
//! beside their rates.
//!
//! Each record costs one author-signature check, batch-verified on every core, and one seal
//! signature, signed on every core. Done one after the other, the most records per second the
//! cores can take is `1 / (1/verify + 1/sign)`, with `verify` and `sign` the all-core rates
//! measured here, each the best of several runs.

use super::bench::{best_of, time_verify_many};
use anyhow::{Context, Result};
use rayon::prelude::*;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tl_ledger::codec::decode_record;
use tl_ledger::crypto::SigCheck;
use tl_ledger::verify::PartitionInput;
use tl_ledger::SigningKey;
use tl_schemas::events::{event_type, KeyEnrolled, RootKeyRotated};
use tl_schemas::record::seal_message;
use tl_schemas::{decode, record_hash, KeyId, TrialId};

/// The two all-core rates and the limit they make.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CryptoLimit {
    /// Records measured.
    pub(crate) records: usize,
    /// Best time to batch-verify every record's author signature, on every core.
    pub(crate) verify: Duration,
    /// Best time to sign every record's seal, on every core.
    pub(crate) sign: Duration,
}

impl CryptoLimit {
    /// Author signatures batch-verified per second.
    pub(crate) fn verify_rate(&self) -> f64 {
        self.records as f64 / self.verify.as_secs_f64().max(1e-9)
    }
    /// Seals signed per second.
    pub(crate) fn sign_rate(&self) -> f64 {
        self.records as f64 / self.sign.as_secs_f64().max(1e-9)
    }
    /// Records per second: `1 / (1/verify + 1/sign)`.
    pub(crate) fn rate(&self) -> f64 {
        1.0 / (1.0 / self.verify_rate() + 1.0 / self.sign_rate())
    }
    /// Keeps the better of two measurements of each rate (runs alternate with the measure
    /// they are the reference of, so that load from other processes affects both alike).
    pub(crate) fn best(self, other: CryptoLimit) -> CryptoLimit {
        CryptoLimit {
            records: self.records,
            verify: self.verify.min(other.verify),
            sign: self.sign.min(other.sign),
        }
    }
}

/// The inputs of the reference: every record's author-signature check and seal message.
pub(crate) struct CryptoWork {
    checks: Vec<SigCheck>,
    seal_messages: Vec<Vec<u8>>,
}

impl CryptoWork {
    /// The work of sequencing `records` (record bytes) of `trial`: `keys` must hold every
    /// author's public key ([`enrolled_keys`]).
    pub(crate) fn of_records<'a>(
        trial: &TrialId,
        records: impl IntoIterator<Item = &'a Vec<u8>>,
        keys: &HashMap<KeyId, [u8; 32]>,
    ) -> Result<CryptoWork> {
        let mut checks = Vec::new();
        let mut seal_messages = Vec::new();
        for bytes in records {
            let (record, body_len) = decode_record(bytes)
                .map_err(|r| anyhow::anyhow!("{}: {}", r.reason.code(), r.detail))?;
            let sub = &record.body.submission;
            let author = sub.submission.author;
            checks.push(SigCheck {
                public_key: *keys
                    .get(&author)
                    .with_context(|| format!("record signed by unknown key {author}"))?,
                signature: sub.signature,
                message: sub.submission.signing_message(),
            });
            seal_messages.push(seal_message(trial, &record_hash(&bytes[..body_len])));
        }
        Ok(CryptoWork {
            checks,
            seal_messages,
        })
    }

    /// Measures both rates, best of several runs each, with `sealer` signing.
    pub(crate) fn measure(&self, sealer: &SigningKey) -> Result<CryptoLimit> {
        let mut verify_error = None;
        let (verify, _) = best_of(|| match time_verify_many(&self.checks) {
            Ok(d) => d,
            Err(e) => {
                verify_error = Some(e);
                Duration::MAX
            }
        });
        if let Some(e) = verify_error {
            return Err(e);
        }
        let (sign, _) = best_of(|| {
            let t = Instant::now();
            let seals: Vec<_> = self
                .seal_messages
                .par_iter()
                .map(|m| sealer.sign(m))
                .collect();
            let took = t.elapsed();
            drop(seals);
            took
        });
        Ok(CryptoLimit {
            records: self.checks.len(),
            verify,
            sign,
        })
    }
}

/// Every key a ledger's records may be signed with: the pinned `root`, the keys its
/// partition-0 records enrol and the roots they rotate to.
pub(crate) fn enrolled_keys(inputs: &[PartitionInput], root: [u8; 32]) -> HashMap<KeyId, [u8; 32]> {
    let mut keys: HashMap<KeyId, [u8; 32]> = HashMap::new();
    keys.insert(KeyId::of_ed25519(&root), root);
    let Some(p0) = inputs.first() else {
        return keys;
    };
    for bytes in &p0.records {
        let Ok((r, _)) = decode_record(bytes) else {
            continue;
        };
        let env = &r.body.submission.submission.envelope;
        let key = if env.event_type == event_type::KEY_ENROLLED {
            decode::<KeyEnrolled>(&env.payload)
                .ok()
                .map(|k| k.public_key)
        } else if env.event_type == event_type::ROOT_KEY_ROTATED {
            decode::<RootKeyRotated>(&env.payload)
                .ok()
                .map(|k| k.new_root_public_key)
        } else {
            None
        };
        if let Some(k) = key {
            keys.insert(KeyId::of_ed25519(&k), k);
        }
    }
    keys
}
