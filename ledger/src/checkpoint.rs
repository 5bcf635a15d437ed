//! Signed checkpoints: a partition's tree head in the C2SP tlog-checkpoint format, signed as a
//! C2SP signed note.
//!
//! # Format
//!
//! A signed checkpoint is a note whose text is the checkpoint body,
//!
//! ```text
//! trial-ledger/<trial-id>/<partition>
//! <tree size, decimal, no leading zeros>
//! <base64 of the 32-byte root, standard alphabet, padded>
//! ```
//!
//! every line ending in `\n`, followed by a blank line and one or more signature lines
//!
//! ```text
//! — <key name> <base64(key hash (4 bytes) || Ed25519 signature (64 bytes))>
//! ```
//!
//! (the dash is U+2014). The signature is over the body's bytes, final newline included. The
//! key hash is the first four bytes of `SHA-256(key name || "\n" || 0x01 || public key)`
//! ([`key_hash`]); `0x01` is signed-note's algorithm byte for Ed25519. The root is the
//! partition's RFC 9162 Merkle root ([`crate::merkle`]) over the first `size` records.
//!
//! Parsing is strict: trial-ledger writes no extension lines, so a checkpoint with any is
//! refused, and the body must be exactly the one [`Checkpoint::body`] writes.
//!
//! # Origin
//!
//! The origin is `trial-ledger/<trial-id>/<partition>` ([`partition_origin`]), for example
//! `trial-ledger/drup-golden/0`. C2SP asks that the origin identify one log uniquely; each
//! partition is its own Merkle tree, so each is its own log, and the trial id keeps two trials'
//! partition 0 apart. The parts cannot be read two ways: a trial id is `[a-z0-9._-]` and never
//! contains `/`, and the partition is a `u32` in decimal without leading zeros. The origin is not
//! a URL (C2SP's recommendation): a ledger has no canonical host name, and the `trial-ledger/`
//! prefix keeps the name apart from other ecosystems' logs.
//!
//! # Key names
//!
//! The key name is the signer's choice; name and public key together make the key hash that
//! a verifier looks the signature up by. A verifier names the key it trusts; signature lines
//! by any other key (another name, or another key hash) are ignored, which is how witness
//! cosignatures can be added next to the sequencer's.
//!
//! # The signature rule
//!
//! Notes are parsed, formatted and signed with the `signed_note` crate, and its `Note::verify`
//! decides which signature lines count (unknown keys are ignored; a bad signature by the
//! expected key is rejected). A checkpoint signature by the expected key must satisfy both
//! trial-ledger's signature rule ([`crate::crypto::verify_one`], ZIP-215) and the
//! cofactorless equation `[S]B = R + [k]A` (ed25519-dalek's `verify`, which RFC 8032 §5.1.7
//! permits and Go's `crypto/ed25519` uses). Checkpoints are read by witnesses and Go tools,
//! which check them the cofactorless way; requiring both means that a signature whose R has
//! a small-order component, valid under ZIP-215 alone, is refused here as it is there, so no
//! checkpoint verifies for us and fails for them. Ed25519 signing (RFC 8032) makes
//! `R = [r]B`, which satisfies both. Author signatures and seals keep the ZIP-215 rule alone.

use crate::crypto::{verify_one, SigningKey};
use crate::merkle::TransparencyError;
use serde::{Deserialize, Serialize};
use signed_note::{Note, NoteError, VerifierList};
use tl_schemas::{Hash32, Sig64, TrialId};

/// The first component of every trial-ledger checkpoint origin.
pub const ORIGIN_PREFIX: &str = "trial-ledger";

/// signed-note's algorithm byte for Ed25519 keys.
const ALG_ED25519: u8 = 0x01;

/// The checkpoint origin of a trial's partition: `trial-ledger/<trial-id>/<partition>`.
pub fn partition_origin(trial: &TrialId, partition: u32) -> String {
    format!("{ORIGIN_PREFIX}/{}/{partition}", trial.as_str())
}

/// The trial and partition named by an origin written by [`partition_origin`], or `None` for
/// any other origin.
pub fn parse_partition_origin(origin: &str) -> Option<(TrialId, u32)> {
    let rest = origin.strip_prefix(ORIGIN_PREFIX)?.strip_prefix('/')?;
    let (trial, partition) = rest.split_once('/')?;
    let trial = TrialId::new(trial).ok()?;
    let p: u32 = partition.parse().ok()?;
    (p.to_string() == partition).then_some((trial, p))
}

/// The signed-note key hash of an Ed25519 key: the first four bytes of
/// `SHA-256(name || "\n" || 0x01 || public_key)`, read as a big-endian `u32` (so that its
/// `to_be_bytes` are those digest bytes, in order).
pub fn key_hash(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut key = [0u8; 33];
    key[0] = ALG_ED25519;
    key[1..].copy_from_slice(public_key);
    signed_note::key_id(name, &key)
}

/// The signed-note verifier key, `<name>+<key hash, 8 hex digits>+<base64(0x01 || public key)>`,
/// the form Go's `golang.org/x/mod/sumdb/note` and other signed-note tools take.
pub fn verifier_key(name: &str, public_key: &[u8; 32]) -> Result<String, TransparencyError> {
    check_key_name(name)?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(public_key)
        .map_err(|_| TransparencyError::InvalidPublicKey)?;
    Ok(signed_note::new_ed25519_verifier_key(name, &key))
}

fn check_key_name(name: &str) -> Result<(), TransparencyError> {
    if signed_note::is_key_name_valid(name) {
        Ok(())
    } else {
        Err(TransparencyError::InvalidKeyName(name.to_string()))
    }
}

/// A tree head: the root of the partition's Merkle tree over its first `size` records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The log's name: `trial-ledger/<trial-id>/<partition>` (see the module documentation).
    pub origin: String,
    /// The tree size: the number of records covered.
    pub size: u64,
    /// The RFC 9162 root of the first `size` records.
    pub root: Hash32,
}

impl Checkpoint {
    /// The checkpoint of a trial's partition, with the origin of [`partition_origin`].
    pub fn for_partition(trial: &TrialId, partition: u32, size: u64, root: Hash32) -> Self {
        Checkpoint {
            origin: partition_origin(trial, partition),
            size,
            root,
        }
    }

    /// The trial and partition the origin names, if it is a partition origin.
    pub fn partition(&self) -> Option<(TrialId, u32)> {
        parse_partition_origin(&self.origin)
    }

    /// The checkpoint body (the signed note's text): `origin\nsize\nbase64(root)\n`. Fails when
    /// the origin is empty or contains a control character.
    pub fn body(&self) -> Result<String, TransparencyError> {
        if self.origin.is_empty() || self.origin.chars().any(char::is_control) {
            return Err(TransparencyError::InvalidOrigin(self.origin.clone()));
        }
        let c =
            tlog_tiles::Checkpoint::new(&self.origin, self.size, tlog_tiles::Hash(self.root.0), "")
                .map_err(|_| TransparencyError::InvalidOrigin(self.origin.clone()))?;
        String::from_utf8(c.to_bytes())
            .map_err(|_| TransparencyError::InvalidOrigin(self.origin.clone()))
    }

    /// Signs the checkpoint and returns the signed note's text: the body, a blank line and one
    /// signature line by `key` under `key_name`. Fails on an invalid origin or key name.
    pub fn sign(&self, key_name: &str, key: &SigningKey) -> Result<String, TransparencyError> {
        check_key_name(key_name)?;
        let body = self.body()?;
        let mut note = Note::new(body.as_bytes(), &[])
            .map_err(|_| TransparencyError::InvalidOrigin(self.origin.clone()))?;
        let signer = NoteSigner {
            name: key_name,
            key_hash: key_hash(key_name, &key.public_key()),
            key,
        };
        note.add_sigs(&[&signer])
            .map_err(|_| TransparencyError::InvalidKeyName(key_name.to_string()))?;
        Ok(String::from_utf8(note.to_bytes()).expect("a note is UTF-8"))
    }
}

/// Signs note text with a trial-ledger key.
struct NoteSigner<'a> {
    name: &'a str,
    key_hash: u32,
    key: &'a SigningKey,
}

impl signed_note::Signer for NoteSigner<'_> {
    fn name(&self) -> &str {
        self.name
    }
    fn key_id(&self) -> u32 {
        self.key_hash
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        Ok(self.key.sign(msg).0.to_vec())
    }
}

/// Checks checkpoint signatures: trial-ledger's signature rule ([`crate::crypto::verify_one`])
/// and the cofactorless equation (see the module documentation).
struct CheckpointVerifier {
    name: String,
    key_hash: u32,
    public_key: [u8; 32],
}

impl signed_note::Verifier for CheckpointVerifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.key_hash
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match <[u8; 64]>::try_from(sig) {
            Ok(sig) => {
                verify_one(&self.public_key, msg, &Sig64(sig))
                    && cofactorless(&self.public_key, msg, &sig)
            }
            Err(_) => false,
        }
    }
}

/// Whether `[S]B = R + [k]A` holds, compared on the encoding of R as Go's `crypto/ed25519` does
/// (ed25519-dalek's `verify`).
fn cofactorless(public_key: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    use ed25519_dalek::Verifier as _;
    ed25519_dalek::VerifyingKey::from_bytes(public_key).is_ok_and(|key| {
        key.verify(msg, &ed25519_dalek::Signature::from_bytes(sig))
            .is_ok()
    })
}

/// Verifies that the signed note `text` carries a valid signature by the key `name` /
/// `public_key`. Signature lines by other keys are ignored.
fn verify_note(text: &[u8], name: &str, public_key: &[u8; 32]) -> Result<(), TransparencyError> {
    check_key_name(name)?;
    let note = Note::from_bytes(text).map_err(malformed_note)?;
    let key_hash = key_hash(name, public_key);
    let verifier = CheckpointVerifier {
        name: name.to_string(),
        key_hash,
        public_key: *public_key,
    };
    match note.verify(&VerifierList::new(vec![Box::new(verifier)])) {
        Ok(_) => Ok(()),
        Err(NoteError::UnverifiedNote) => Err(TransparencyError::NoSignature {
            name: name.to_string(),
            key_hash,
        }),
        Err(NoteError::InvalidSignature { .. }) => Err(TransparencyError::BadSignature {
            name: name.to_string(),
            key_hash,
        }),
        Err(e) => Err(malformed_note(e)),
    }
}

fn malformed_note(e: NoteError) -> TransparencyError {
    TransparencyError::MalformedCheckpoint(format!(
        "not a signed note (text, a blank line, then `— <name> <signature>` lines): {e}"
    ))
}

/// A parsed signed checkpoint: the checkpoint and the exact note text, signatures included.
/// Parsing does not check signatures; [`SignedCheckpoint::verify`] does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    checkpoint: Checkpoint,
    text: String,
}

impl SignedCheckpoint {
    /// Parses a signed checkpoint: a signed note whose text is a checkpoint body without
    /// extension lines, written exactly as [`Checkpoint::body`] writes it.
    pub fn parse(text: &str) -> Result<Self, TransparencyError> {
        let note = Note::from_bytes(text.as_bytes()).map_err(malformed_note)?;
        let body = std::str::from_utf8(note.text()).expect("a note's text is UTF-8");
        let parsed = tlog_tiles::Checkpoint::from_bytes(body.as_bytes()).map_err(|_| {
            TransparencyError::MalformedCheckpoint(
                "the note's text is not `origin\\nsize\\nbase64(root)\\n`".into(),
            )
        })?;
        if !parsed.extension().is_empty() {
            return Err(TransparencyError::MalformedCheckpoint(
                "trial-ledger checkpoints have no extension lines".into(),
            ));
        }
        let checkpoint = Checkpoint {
            origin: parsed.origin().to_string(),
            size: parsed.size(),
            root: Hash32(parsed.hash().0),
        };
        if checkpoint.body()? != body {
            return Err(TransparencyError::MalformedCheckpoint(
                "the checkpoint body is not in canonical form".into(),
            ));
        }
        Ok(SignedCheckpoint {
            checkpoint,
            text: text.to_string(),
        })
    }

    /// The checkpoint, not yet verified.
    pub fn unverified(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The signed note's text, exactly as parsed.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The key name and key hash of every signature line, in order.
    pub fn signers(&self) -> Vec<(String, u32)> {
        // `parse` checked every line; `Note` does not hand its signatures out.
        let lines = self.text.rsplit_once("\n\n").map_or("", |(_, sigs)| sigs);
        lines
            .lines()
            .filter_map(|line| signed_note::Signature::from_bytes(line.as_bytes()).ok())
            .map(|s| (s.name().to_string(), s.id()))
            .collect()
    }

    /// Verifies the signature by the key `name` / `public_key` (ZIP-215 and cofactorless, see
    /// the module documentation) and returns the checkpoint. Signature lines by other keys are ignored;
    /// a missing signature by this key, or an invalid one, is an error. The caller still checks
    /// that the origin is the log it expects.
    pub fn verify(
        &self,
        name: &str,
        public_key: &[u8; 32],
    ) -> Result<&Checkpoint, TransparencyError> {
        verify_note(self.text.as_bytes(), name, public_key)?;
        Ok(&self.checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle;
    use base64::prelude::*;

    const NAME: &str = "drup-golden-sequencer";

    fn golden_checkpoint() -> Checkpoint {
        // The root of the eight RFC 6962 test leaves (transparency-dev/merkle,
        // testonly/constants.go).
        let root =
            Hash32::from_hex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
                .unwrap();
        Checkpoint::for_partition(&TrialId::new("drup-golden").unwrap(), 0, 8, root)
    }

    /// Frozen: the signed checkpoint for fixed inputs and the key from seed `[2; 32]`. The
    /// key hash and signature were also computed independently, with Python's `hashlib` and
    /// `cryptography` (Ed25519 signing is deterministic).
    const GOLDEN: &str = "trial-ledger/drup-golden/0\n\
        8\n\
        XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\
        \n\
        — drup-golden-sequencer 6rWY7cKbZb1n1R/+ik7rod+Nht3eQ2UTzSDhDwy0vdXtIDOEE8FkxmHBEYroGn7+20WMkSNV4ln0QhgVh3MD029uigQ=\n";

    #[test]
    fn golden_signed_checkpoint() {
        let key = SigningKey::from_seed([2; 32]);
        let signed = golden_checkpoint().sign(NAME, &key).unwrap();
        assert_eq!(signed, GOLDEN);

        // Independent checks of the format: the key hash from SHA-256 directly, the signature
        // with ed25519-dalek over the body, and signed_note's own verifier.
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(NAME.as_bytes());
        h.update(b"\n\x01");
        h.update(key.public_key());
        let want_hash = u32::from_be_bytes(h.finalize()[..4].try_into().unwrap());
        assert_eq!(key_hash(NAME, &key.public_key()), want_hash);
        let body = golden_checkpoint().body().unwrap();
        let line = signed.strip_prefix(&format!("{body}\n— {NAME} ")).unwrap();
        let raw = BASE64_STANDARD.decode(line.trim_end()).unwrap();
        assert_eq!(raw.len(), 68);
        assert_eq!(u32::from_be_bytes(raw[..4].try_into().unwrap()), want_hash);
        let sig = ed25519_dalek::Signature::from_bytes(&raw[4..].try_into().unwrap());
        key.dalek()
            .verifying_key()
            .verify_strict(body.as_bytes(), &sig)
            .unwrap();
        let vkey = verifier_key(NAME, &key.public_key()).unwrap();
        let theirs = signed_note::StandardVerifier::new(&vkey).unwrap();
        Note::from_bytes(signed.as_bytes())
            .unwrap()
            .verify(&VerifierList::new(vec![Box::new(theirs)]))
            .unwrap();
    }

    #[test]
    fn round_trip() {
        let key = SigningKey::from_seed([2; 32]);
        let c = golden_checkpoint();
        let text = c.sign(NAME, &key).unwrap();
        let parsed = SignedCheckpoint::parse(&text).unwrap();
        assert_eq!(parsed.text(), text);
        assert_eq!(parsed.unverified(), &c);
        assert_eq!(parsed.verify(NAME, &key.public_key()).unwrap(), &c);
        assert_eq!(
            parsed.signers(),
            vec![(NAME.to_string(), key_hash(NAME, &key.public_key()))]
        );
        assert_eq!(
            c.partition(),
            Some((TrialId::new("drup-golden").unwrap(), 0))
        );
        // The empty tree.
        let empty =
            Checkpoint::for_partition(&TrialId::new("t").unwrap(), 7, 0, merkle::EMPTY_ROOT);
        let text = empty.sign(NAME, &key).unwrap();
        let parsed = SignedCheckpoint::parse(&text).unwrap();
        assert_eq!(parsed.verify(NAME, &key.public_key()).unwrap(), &empty);
    }

    #[test]
    fn tampered_size_root_or_signature_fails() {
        let key = SigningKey::from_seed([2; 32]);
        let pk = key.public_key();
        let text = golden_checkpoint().sign(NAME, &key).unwrap();

        let size = text.replacen("\n8\n", "\n9\n", 1);
        let parsed = SignedCheckpoint::parse(&size).unwrap();
        assert_eq!(parsed.unverified().size, 9);
        assert!(matches!(
            parsed.verify(NAME, &pk),
            Err(TransparencyError::BadSignature { .. })
        ));

        let mut other = golden_checkpoint();
        other.root.0[31] ^= 1;
        let root = text.replacen(
            &BASE64_STANDARD.encode(golden_checkpoint().root.0),
            &BASE64_STANDARD.encode(other.root.0),
            1,
        );
        assert_ne!(root, text);
        assert!(matches!(
            SignedCheckpoint::parse(&root).unwrap().verify(NAME, &pk),
            Err(TransparencyError::BadSignature { .. })
        ));

        // Flip one bit of the signature (past the 4-byte key hash).
        let (head, line) = text.split_once(&format!("— {NAME} ")).unwrap();
        let mut raw = BASE64_STANDARD.decode(line.trim_end()).unwrap();
        raw[10] ^= 1;
        let sig = format!("{head}— {NAME} {}\n", BASE64_STANDARD.encode(&raw));
        assert!(matches!(
            SignedCheckpoint::parse(&sig).unwrap().verify(NAME, &pk),
            Err(TransparencyError::BadSignature { .. })
        ));
        // A truncated signature is a bad signature too.
        let short = format!("{head}— {NAME} {}\n", BASE64_STANDARD.encode(&raw[..40]));
        assert!(matches!(
            SignedCheckpoint::parse(&short).unwrap().verify(NAME, &pk),
            Err(TransparencyError::BadSignature { .. })
        ));
    }

    #[test]
    fn unknown_keys_are_ignored_and_the_expected_key_is_required() {
        let seq = SigningKey::from_seed([2; 32]);
        let witness = SigningKey::from_seed([3; 32]);
        let c = golden_checkpoint();
        let by_seq = c.sign(NAME, &seq).unwrap();
        let by_witness = c.sign("witness.example", &witness).unwrap();
        let witness_line = by_witness.rsplit_once("\n\n").unwrap().1;
        let both = format!("{by_seq}{witness_line}");
        let parsed = SignedCheckpoint::parse(&both).unwrap();
        assert_eq!(parsed.signers().len(), 2);
        parsed.verify(NAME, &seq.public_key()).unwrap();
        parsed
            .verify("witness.example", &witness.public_key())
            .unwrap();

        // Only the witness signed: no signature by the sequencer key.
        let parsed = SignedCheckpoint::parse(&by_witness).unwrap();
        assert!(matches!(
            parsed.verify(NAME, &seq.public_key()),
            Err(TransparencyError::NoSignature { .. })
        ));
        // The right name with another key, or another name with the right key.
        let parsed = SignedCheckpoint::parse(&by_seq).unwrap();
        assert!(matches!(
            parsed.verify(NAME, &witness.public_key()),
            Err(TransparencyError::NoSignature { .. })
        ));
        assert!(matches!(
            parsed.verify("other", &seq.public_key()),
            Err(TransparencyError::NoSignature { .. })
        ));
        // A bad signature by the expected key is rejected even next to an unknown key's.
        let forged_line = witness_line.replacen("— witness.example ", &format!("— {NAME} "), 1);
        let (head, _) = by_seq.rsplit_once("\n\n").unwrap();
        let mixed = format!("{head}\n\n{witness_line}{forged_line}");
        // The forged line carries the witness key's hash, so it is an unknown key: ignored.
        assert!(matches!(
            SignedCheckpoint::parse(&mixed)
                .unwrap()
                .verify(NAME, &seq.public_key()),
            Err(TransparencyError::NoSignature { .. })
        ));
        assert!(matches!(
            parsed.verify("bad name", &seq.public_key()),
            Err(TransparencyError::InvalidKeyName(_))
        ));
    }

    #[test]
    fn malformed_checkpoints_are_errors() {
        let key = SigningKey::from_seed([2; 32]);
        let good = golden_checkpoint().sign(NAME, &key).unwrap();
        let (body, sigs) = good.split_once("\n\n").unwrap();
        let cases = [
            String::new(),
            body.to_string(),
            format!("{body}\n\n"),
            format!("{body}\n"),
            format!("{body}\nextension line\n\n{sigs}"),
            good.replacen("\n8\n", "\n08\n", 1),
            good.replacen("\n8\n", "\n-8\n", 1),
            good.replacen("\n8\n", "\n\n", 1),
            good.replacen("=\n", "\n", 1),
            good.replacen("XcnaeacGWamtVZy3", "XcnaeacGWamtVZy", 1),
            good.replace('\n', "\r\n"),
            good.replacen("— ", "- ", 1),
            good.replacen(&format!("— {NAME} "), &format!("— {NAME}  "), 1),
            "\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n— a AAAAAAA=\n".to_string(),
        ];
        for (i, text) in cases.iter().enumerate() {
            let r = SignedCheckpoint::parse(text);
            assert!(
                matches!(r, Err(TransparencyError::MalformedCheckpoint(_))),
                "case {i}: {text:?} gave {r:?}"
            );
        }
        let bad_origin = Checkpoint {
            origin: "a\nb".into(),
            ..golden_checkpoint()
        };
        assert!(matches!(
            bad_origin.sign(NAME, &key),
            Err(TransparencyError::InvalidOrigin(_))
        ));
        assert!(matches!(
            golden_checkpoint().sign("has space", &key),
            Err(TransparencyError::InvalidKeyName(_))
        ));
        assert!(matches!(
            golden_checkpoint().sign("", &key),
            Err(TransparencyError::InvalidKeyName(_))
        ));
    }

    #[test]
    fn origins() {
        let t = TrialId::new("drup-golden").unwrap();
        assert_eq!(partition_origin(&t, 12), "trial-ledger/drup-golden/12");
        assert_eq!(
            parse_partition_origin("trial-ledger/drup-golden/12"),
            Some((t.clone(), 12))
        );
        for bad in [
            "trial-ledger/drup-golden/012",
            "trial-ledger/drup-golden/+1",
            "trial-ledger/drup-golden/4294967296",
            "trial-ledger/Drup/1",
            "trial-ledger/drup-golden/1/2",
            "trial-ledger/drup-golden",
            "other/drup-golden/1",
            "trial-ledgerx/drup-golden/1",
        ] {
            assert_eq!(parse_partition_origin(bad), None, "{bad}");
        }
    }

    /// The signed-note example from Go's `golang.org/x/mod/sumdb/note` documentation, checked
    /// with our verifier: the key hash and signature-line format agree with Go's.
    #[test]
    fn go_note_example_verifies_under_our_rule() {
        let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
        let text = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n\
                    \n\
                    — PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
        let raw = BASE64_STANDARD
            .decode(vkey.rsplit('+').next().unwrap())
            .unwrap();
        assert_eq!(raw[0], ALG_ED25519);
        let pk: [u8; 32] = raw[1..].try_into().unwrap();
        assert_eq!(key_hash("PeterNeumann", &pk), 0xc74f_20a3);
        assert_eq!(verifier_key("PeterNeumann", &pk).unwrap(), vkey);
        verify_note(text.as_bytes(), "PeterNeumann", &pk).unwrap();
        let tampered = text.replacen("answer", "Answer", 1);
        assert!(matches!(
            verify_note(tampered.as_bytes(), "PeterNeumann", &pk),
            Err(TransparencyError::BadSignature { .. })
        ));
    }

    /// A signature whose R has a small-order component is valid under ZIP-215 (cofactored) and
    /// invalid under the cofactorless equation, which Go's `crypto/ed25519` and signed_note's
    /// own verifier use. A checkpoint must satisfy both, so it is refused, as Go refuses it.
    #[test]
    fn a_mixed_order_r_checkpoint_is_refused_as_go_refuses_it() {
        use curve25519_dalek::{constants, scalar::Scalar};
        use sha2::Digest as _;

        let a = Scalar::from_bytes_mod_order([5; 32]);
        let public = (constants::ED25519_BASEPOINT_POINT * a)
            .compress()
            .to_bytes();
        let body = golden_checkpoint().body().unwrap();
        let r = Scalar::from_bytes_mod_order([9; 32]);
        let big_r = constants::ED25519_BASEPOINT_POINT * r + constants::EIGHT_TORSION[1];
        let big_r = big_r.compress().to_bytes();
        let k = Scalar::from_bytes_mod_order_wide(
            &sha2::Sha512::new()
                .chain_update(big_r)
                .chain_update(public)
                .chain_update(body.as_bytes())
                .finalize()
                .into(),
        );
        let s = r + k * a;
        let mut raw = key_hash(NAME, &public).to_be_bytes().to_vec();
        raw.extend_from_slice(&big_r);
        raw.extend_from_slice(s.as_bytes());
        let text = format!("{body}\n— {NAME} {}\n", BASE64_STANDARD.encode(&raw));

        // Valid under trial-ledger's signature rule for authors and seals...
        let sig = Sig64(raw[4..].try_into().unwrap());
        assert!(verify_one(&public, body.as_bytes(), &sig));
        // ...but not as a checkpoint.
        let parsed = SignedCheckpoint::parse(&text).unwrap();
        assert!(matches!(
            parsed.verify(NAME, &public),
            Err(TransparencyError::BadSignature { .. })
        ));

        let theirs =
            signed_note::StandardVerifier::new(&verifier_key(NAME, &public).unwrap()).unwrap();
        assert!(Note::from_bytes(text.as_bytes())
            .unwrap()
            .verify(&VerifierList::new(vec![Box::new(theirs)]))
            .is_err());
    }

    /// Our signer's checkpoints satisfy both equations: over many keys, sizes and roots, each
    /// verifies with our verifier and with signed_note's cofactorless one.
    #[test]
    fn our_signers_checkpoints_pass_both_rules() {
        let trial = TrialId::new("t").unwrap();
        for i in 0..200u32 {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&i.to_le_bytes());
            let key = SigningKey::from_seed(seed);
            let mut root = Hash32([0; 32]);
            root.0[..4].copy_from_slice(&i.to_be_bytes());
            let text = Checkpoint::for_partition(&trial, i % 7, u64::from(i), root)
                .sign(NAME, &key)
                .unwrap();
            SignedCheckpoint::parse(&text)
                .unwrap()
                .verify(NAME, &key.public_key())
                .unwrap();
            let theirs =
                signed_note::StandardVerifier::new(&verifier_key(NAME, &key.public_key()).unwrap())
                    .unwrap();
            Note::from_bytes(text.as_bytes())
                .unwrap()
                .verify(&VerifierList::new(vec![Box::new(theirs)]))
                .unwrap();
        }
    }
}
