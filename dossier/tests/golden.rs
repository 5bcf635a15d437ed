//! The golden vectors of the dossier manifest's signature (FORMAT.md §8 `DOSSIER_MANIFEST_SIG`,
//! §20): the signing message over a fixed `manifest.json` of the golden trial, and the
//! signature by the golden admin key (seed `07`x32). `GOLDEN_APPEND=1` adds them if missing
//! (never under `CI`); they are never edited.

use tl_dossier::manifest::{sign, signing_message, verify};
use tl_ledger::SigningKey;
use tl_schemas::TrialId;

#[path = "../../schemas/tests/support/golden_file.rs"]
mod golden_file;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/golden/vectors.txt");

/// The manifest bytes the vectors sign (any bytes: the signature covers their SHA-256).
const MANIFEST: &[u8] =
    b"{\n  \"format\": \"trial-ledger-dossier-manifest/1\",\n  \"trial\": \"drup-golden\"\n}\n";

#[test]
fn the_manifest_signature_vectors_are_frozen_and_verify() {
    let trial = TrialId::new("drup-golden").unwrap();
    let key = SigningKey::from_seed([7; 32]);
    let message = signing_message(&trial, MANIFEST);
    // the message is the tag, the trial id, a NUL and the manifest's SHA-256
    assert!(message.starts_with(b"trial-ledger/v1/dossier-manifest\0drup-golden\0"));
    assert_eq!(message.len(), 33 + 11 + 1 + 32);
    let sig = sign(&trial, MANIFEST, &key);
    assert!(verify(&trial, MANIFEST, &sig, &key.public_key()));
    let computed = vec![
        (
            "dossier.manifest.tag",
            b"trial-ledger/v1/dossier-manifest\0".to_vec(),
        ),
        ("dossier.manifest.signing_message", message),
        (
            "dossier.manifest.signature",
            hex::decode(&sig.signature).unwrap(),
        ),
    ];
    if let Err(e) = golden_file::check(
        std::path::Path::new(VECTORS),
        &computed,
        golden_file::append_requested(),
    ) {
        panic!("{e}");
    }
}
