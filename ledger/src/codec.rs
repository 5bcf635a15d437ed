//! Decoding with the format checks (step 1 of FORMAT.md): canonical form, struct versions and
//! algorithm ids, mapped to reason codes.

use crate::reason::{Reason, Refusal};
use tl_schemas::{
    decode, CanonicalError, Record, SignedSubmission, HASH_ALG_SHA256, RECORD_VERSION,
    SIG_ALG_ED25519_ZIP215, SUBMISSION_VERSION,
};

fn refusal(what: &str, e: CanonicalError) -> Refusal {
    match e {
        CanonicalError::NonCanonical => Refusal::new(Reason::NonCanonical, format!("{what}: {e}")),
        _ => Refusal::new(Reason::Malformed, format!("{what}: {e}")),
    }
}

fn check_submission_format(s: &SignedSubmission) -> Result<(), Refusal> {
    let sub = &s.submission;
    if sub.version != SUBMISSION_VERSION {
        return Err(Refusal::new(
            Reason::UnsupportedFormat,
            format!("submission version {} is unknown", sub.version),
        ));
    }
    if sub.envelope.sig_alg != SIG_ALG_ED25519_ZIP215 || sub.envelope.hash_alg != HASH_ALG_SHA256 {
        return Err(Refusal::new(
            Reason::UnsupportedFormat,
            format!(
                "algorithm ids sig={} hash={} are unknown",
                sub.envelope.sig_alg, sub.envelope.hash_alg
            ),
        ));
    }
    Ok(())
}

/// Dispatches on the leading struct version: a version this software does not know is
/// `unsupported-format`, not `malformed`, so a newer ledger is reported for what it is.
fn check_version(what: &str, bytes: &[u8], known: u16) -> Result<(), Refusal> {
    match tl_schemas::canonical::peek_version(bytes) {
        Some(v) if v != known => Err(Refusal::new(
            Reason::UnsupportedFormat,
            format!("{what} version {v} is unknown to this software (it reads version {known})"),
        )),
        _ => Ok(()),
    }
}

/// Decodes a signed submission from the intake.
pub fn decode_submission(bytes: &[u8]) -> Result<SignedSubmission, Refusal> {
    check_version("submission", bytes, SUBMISSION_VERSION)?;
    let s: SignedSubmission = decode(bytes).map_err(|e| refusal("submission", e))?;
    check_submission_format(&s)?;
    Ok(s)
}

/// Decodes a record from the ledger. Returns the record and the length of its body (the
/// bytes before the 64-byte seal), whose hash is the record hash.
pub fn decode_record(bytes: &[u8]) -> Result<(Record, usize), Refusal> {
    check_version("record", bytes, RECORD_VERSION)?;
    let r: Record = decode(bytes).map_err(|e| refusal("record", e))?;
    if r.body.version != RECORD_VERSION {
        return Err(Refusal::new(
            Reason::UnsupportedFormat,
            format!("record version {} is unknown", r.body.version),
        ));
    }
    if r.body.seal_alg != SIG_ALG_ED25519_ZIP215 {
        return Err(Refusal::new(
            Reason::UnsupportedFormat,
            format!("seal algorithm {} is unknown", r.body.seal_alg),
        ));
    }
    check_submission_format(&r.body.submission)?;
    // The seal is the last 64 bytes: the canonical form is body || seal.
    Ok((r, bytes.len() - 64))
}
