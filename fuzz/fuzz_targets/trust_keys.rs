//! Trust files and public-key files, read from a real file as the CLI reads them. The first
//! byte picks the reader. Verdicts must be deterministic, and what is accepted must be
//! internally consistent (a trust file's key id matches its key). Encrypted key files are not
//! fuzzed here: their scrypt work factor (up to 2^22) makes each input cost seconds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use tl_ledger::keyfile::read_public_file;
use tl_ledger::trust::TrustFile;
use tl_schemas::KeyId;

fn scratch() -> PathBuf {
    std::env::temp_dir().join(format!("tl-fuzz-trust-keys-{}.json", std::process::id()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let path = scratch();
    std::fs::write(&path, body).expect("scratch file");
    if sel % 2 == 0 {
        let a = TrustFile::read(&path).map_err(|e| e.to_string());
        assert_eq!(a, TrustFile::read(&path).map_err(|e| e.to_string()));
        if let Ok(t) = a {
            let key = t.root_key().expect("an accepted trust file has a root key");
            assert_eq!(KeyId::of_ed25519(&key).to_hex(), t.root_key_id);
        }
    } else {
        let a = read_public_file(&path)
            .map(|f| f.public_key)
            .map_err(|e| e.to_string());
        assert_eq!(
            a,
            read_public_file(&path)
                .map(|f| f.public_key)
                .map_err(|e| e.to_string())
        );
        if let Ok(hex) = a {
            assert_eq!(hex.len(), 64);
        }
    }
});
