//! Keys, signing, and the one signature-validity rule.
//!
//! # The rule
//!
//! Every Ed25519 signature in trial-ledger, author or sequencer, single or batched, is valid
//! exactly when it satisfies the **ZIP-215** rule (as implemented by `ed25519-zebra`):
//!
//! * `A` and `R` may be any 32-byte strings that decode to curve points, including
//!   non-canonical encodings and small-order points;
//! * `S` must be canonical (`S < L`);
//! * the cofactored equation `[8][S]B = [8]R + [8][k]A` must hold, with
//!   `k = SHA-512(R_bytes || A_bytes || M)` over the bytes exactly as given.
//!
//! Single and batch verification follow the same equation, so they cannot disagree; the
//! speccheck test (`tests/speccheck.rs`) shows it on the twelve "Taming the many EdDSAs" cases.
//! ed25519-dalek's `verify` (cofactorless) and `verify_batch` (cofactored) do disagree on
//! crafted signatures, which is why verification does not use them. Signing uses
//! ed25519-dalek: Ed25519 signing is deterministic and produces the same bytes in every
//! library, and the C2SP crates for checkpoints build on it.
//!
//! Keys are stricter than the rule at enrolment: a key that is small-order, has a
//! small-order component, or is not the canonical encoding of a point, is refused when it is
//! enrolled, so the key-side corners of ZIP-215 (speccheck cases 0-5 and 8-11 use such keys)
//! are never reachable with an enrolled key.

use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::Signer as _;
use rayon::prelude::*;
use tl_schemas::{KeyId, Sig64};

/// Number of signatures per batch. Large enough to amortise the multiscalar multiplication,
/// small enough that a bad signature costs only this many single checks to locate.
pub const BATCH_SIZE: usize = 256;

/// A signing key with its public half and key id.
#[derive(Clone)]
pub struct SigningKey {
    /// The secret key. `ed25519_dalek` zeroizes it on drop.
    inner: ed25519_dalek::SigningKey,
    /// Cached key id, since every submission and record names it.
    key_id: KeyId,
}

impl SigningKey {
    /// Wraps an ed25519-dalek key.
    pub fn new(inner: ed25519_dalek::SigningKey) -> Self {
        let key_id = KeyId::of_ed25519(&inner.verifying_key().to_bytes());
        SigningKey { inner, key_id }
    }
    /// A key from a 32-byte seed (deterministic keys for tests and the simulator).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self::new(ed25519_dalek::SigningKey::from_bytes(&seed))
    }
    /// A fresh random key.
    pub fn generate() -> Self {
        Self::new(ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng))
    }
    /// The public key bytes.
    pub fn public_key(&self) -> [u8; 32] {
        self.inner.verifying_key().to_bytes()
    }
    /// The key id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }
    /// Signs a message.
    pub fn sign(&self, message: &[u8]) -> Sig64 {
        Sig64(self.inner.sign(message).to_bytes())
    }
    /// The wrapped ed25519-dalek key (for signed notes and key files).
    pub fn dalek(&self) -> &ed25519_dalek::SigningKey {
        &self.inner
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.key_id)
    }
}

/// Verifies one signature under the ZIP-215 rule.
pub fn verify_one(public_key: &[u8; 32], message: &[u8], signature: &Sig64) -> bool {
    let Ok(vk) = ed25519_zebra::VerificationKey::try_from(*public_key) else {
        return false;
    };
    vk.verify(&ed25519_zebra::Signature::from_bytes(&signature.0), message)
        .is_ok()
}

/// One signature to check.
#[derive(Clone, Debug)]
pub struct SigCheck {
    /// Public key bytes.
    pub public_key: [u8; 32],
    /// The signature.
    pub signature: Sig64,
    /// The exact signed message.
    pub message: Vec<u8>,
}

/// Verifies one batch under the ZIP-215 rule: `true` only if every signature is valid.
pub fn verify_batch(checks: &[SigCheck]) -> bool {
    let mut verifier = ed25519_zebra::batch::Verifier::new();
    for c in checks {
        verifier.queue((
            ed25519_zebra::VerificationKeyBytes::from(c.public_key),
            ed25519_zebra::Signature::from_bytes(&c.signature.0),
            &c.message,
        ));
    }
    verifier.verify(rand::thread_rng()).is_ok()
}

/// Verifies many signatures on every core, in batches of at most [`BATCH_SIZE`]. A batch that
/// fails is re-checked one signature at a time, so the result names each bad signature; by the
/// shared rule, those single verdicts are the batch's verdicts.
///
/// Fewer checks than [`BATCH_SIZE`] per core (a sequencer's batch of a few dozen) are split
/// evenly over the cores, down to [`MIN_BATCH`] per batch, so that they do not all land on one.
pub fn verify_many(checks: &[SigCheck]) -> Vec<bool> {
    let per_core = checks.len().div_ceil(rayon::current_num_threads().max(1));
    let size = per_core.clamp(MIN_BATCH, BATCH_SIZE);
    checks
        .par_chunks(size)
        .flat_map_iter(verify_chunk)
        .collect()
}

/// The smallest batch [`verify_many`] makes to spread few checks over the cores: below it, a
/// batch saves too little over single checks to be worth a thread.
pub const MIN_BATCH: usize = 16;

/// [`verify_many`] on the calling thread only: the same batches and the same verdicts, for
/// callers that schedule the work across cores themselves (the streaming verifier hands out
/// chunks in the order its replay needs them).
pub fn verify_serial(checks: &[SigCheck]) -> Vec<bool> {
    let mut out = Vec::with_capacity(checks.len());
    for chunk in checks.chunks(BATCH_SIZE) {
        out.extend(verify_chunk(chunk));
    }
    out
}

/// One batch of at most [`BATCH_SIZE`]: all `true` when the batch verifies, else each
/// signature's own verdict.
fn verify_chunk(chunk: &[SigCheck]) -> Vec<bool> {
    if verify_batch(chunk) {
        vec![true; chunk.len()]
    } else {
        chunk
            .iter()
            .map(|c| verify_one(&c.public_key, &c.message, &c.signature))
            .collect()
    }
}

/// Why a public key may not be enrolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyRejection {
    /// The bytes are not the encoding of a curve point.
    #[error("not a valid Ed25519 point")]
    NotAPoint,
    /// The point is canonical only under another encoding.
    #[error("non-canonical point encoding")]
    NonCanonical,
    /// The point has small order: signatures under it prove nothing.
    #[error("small-order public key")]
    SmallOrder,
    /// The point has a small-order (torsion) component: under it, the cofactored rule we use
    /// and the cofactorless rule of many other libraries can disagree on the same signature.
    #[error("public key with a small-order component (not in the prime-order subgroup)")]
    MixedOrder,
}

/// Checks that a public key is fit to enrol: the canonical encoding of a point in the
/// prime-order subgroup (not small-order, no torsion component). Honest keys always are;
/// refusing the others means that, under an enrolled key, a signature valid by our
/// cofactored rule is judged the same by cofactorless verifiers except where the *signer*
/// crafted a small-order component into R.
pub fn check_enrollable(public_key: &[u8; 32]) -> Result<(), KeyRejection> {
    let point = CompressedEdwardsY(*public_key)
        .decompress()
        .ok_or(KeyRejection::NotAPoint)?;
    if point.compress().to_bytes() != *public_key {
        return Err(KeyRejection::NonCanonical);
    }
    if point.is_small_order() {
        return Err(KeyRejection::SmallOrder);
    }
    if !point.is_torsion_free() {
        return Err(KeyRejection::MixedOrder);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_single_and_batch() {
        let k = SigningKey::from_seed([7; 32]);
        let sig = k.sign(b"hello");
        assert!(verify_one(&k.public_key(), b"hello", &sig));
        assert!(!verify_one(&k.public_key(), b"hellO", &sig));
        let good = SigCheck {
            public_key: k.public_key(),
            signature: sig,
            message: b"hello".to_vec(),
        };
        let mut bad = good.clone();
        bad.message = b"other".to_vec();
        assert!(verify_batch(&[good.clone(), good.clone()]));
        assert!(!verify_batch(&[good.clone(), bad.clone()]));
        assert_eq!(
            verify_many(&[good.clone(), bad, good]),
            vec![true, false, true]
        );
    }

    #[test]
    fn small_order_and_non_points_are_not_enrollable() {
        let identity = {
            let mut b = [0u8; 32];
            b[0] = 1;
            b
        };
        assert_eq!(check_enrollable(&identity), Err(KeyRejection::SmallOrder));
        assert!(check_enrollable(&SigningKey::from_seed([1; 32]).public_key()).is_ok());
        // y = 2 is not on the curve.
        let mut not_point = [0u8; 32];
        not_point[0] = 2;
        assert_eq!(check_enrollable(&not_point), Err(KeyRejection::NotAPoint));
    }
}
