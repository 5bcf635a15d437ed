//! Encrypted key files (`read_key_file_allowing`, what every signing command reads), from a
//! real file as the CLI reads them, with the passphrase `fuzz`. The harness caps the scrypt
//! work factor at log2(N) = [`CHEAP_LOG_N`] (16 iterations): the committed seeds are encrypted
//! at log2(N) = 2, and any file asking for more work must be refused before scrypt runs (a
//! `WorkFactorTooHigh` verdict), so no input costs more than a cheap derivation. Verdicts must
//! be deterministic (the reader itself checks an accepted file's public key against its secret).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use tl_ledger::keyfile::{read_key_file_allowing, KeyFileError};

/// The largest scrypt log2(N) the harness lets a key file ask for.
const CHEAP_LOG_N: u8 = 4;

fn scratch() -> PathBuf {
    let dir = PathBuf::from("/dev/shm");
    let dir = if dir.is_dir() {
        dir
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("tl-fuzz-key-file-{}.age", std::process::id()))
}

fn verdict(path: &std::path::Path) -> Result<(String, String, [u8; 32]), String> {
    read_key_file_allowing(path, "fuzz", CHEAP_LOG_N)
        .map(|k| (k.name.clone(), k.role.clone(), k.public_key()))
        .map_err(|e| match e {
            KeyFileError::WorkFactorTooHigh { limit, .. } => {
                assert_eq!(limit, CHEAP_LOG_N);
                "work factor too high".to_string()
            }
            other => other.to_string(),
        })
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    std::fs::write(&path, data).expect("scratch file");
    let first = verdict(&path);
    assert_eq!(first, verdict(&path), "two reads of the same file differ");
});
