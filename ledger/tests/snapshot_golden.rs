//! The golden vectors of the writer snapshot's signature (FORMAT.md §8 `WRITER_SNAPSHOT_SIG`,
//! §17 "Writer snapshot"): the tag, the signing message over a fixed body of the golden trial,
//! and the signature by the golden sequencer key (seed `02`x32). `GOLDEN_APPEND=1` adds them
//! if missing (never under `CI`); they are never edited.

use tl_ledger::snapshot::signing_message;
use tl_ledger::SigningKey;
use tl_schemas::{tags, TrialId};

#[path = "../../schemas/tests/support/golden_file.rs"]
mod golden_file;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/golden/vectors.txt");

/// The body bytes the vectors sign (any bytes: the signature covers their SHA-256).
const BODY: &[u8] = b"a writer snapshot's body";

#[test]
fn the_snapshot_signature_vectors_are_frozen_and_verify() {
    let trial = TrialId::new("drup-golden").unwrap();
    let key = SigningKey::from_seed([2; 32]);
    let message = signing_message(&trial, BODY);
    // the message is the tag, the trial id, a NUL and the body's SHA-256
    assert!(message.starts_with(b"trial-ledger/v1/writer-snapshot\0drup-golden\0"));
    assert_eq!(tags::WRITER_SNAPSHOT_SIG.len(), 32);
    assert_eq!(message.len(), 32 + 11 + 1 + 32);
    let sig = key.sign(&message);
    assert!(tl_ledger::crypto::verify_one(
        &key.public_key(),
        &message,
        &sig
    ));
    // another body, another trial: another message
    assert_ne!(signing_message(&trial, b"another body"), message);
    let other = TrialId::new("drup-other").unwrap();
    assert_ne!(signing_message(&other, BODY)[32..], message[32..]);
    let computed = vec![
        ("snapshot.tag", tags::WRITER_SNAPSHOT_SIG.to_vec()),
        ("snapshot.signing_message", message),
        ("snapshot.signature", sig.0.to_vec()),
    ];
    if let Err(e) = golden_file::check(
        std::path::Path::new(VECTORS),
        &computed,
        golden_file::append_requested(),
    ) {
        panic!("{e}");
    }
}
