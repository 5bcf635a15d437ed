//! Caps on input (FORMAT.md, "Intake limits"): what a new submission may weigh, and how large
//! each kind of file the tools read may be. A cap is checked before the work it bounds, gives
//! a clear error, and writes nothing.

use crate::Error;
use std::io::Read;
use std::path::Path;

/// The largest record (canonical body and seal) the sequencer seals for a new submission:
/// records are served as C2SP tlog-tiles entries, whose length prefix is 16 bits. `verify`
/// keeps the 16 MiB frame limit for records already in a ledger.
pub const MAX_INTAKE_RECORD_BYTES: usize = 65_535;
/// A trust file is a few hundred bytes.
pub const MAX_TRUST_FILE_BYTES: u64 = 64 << 10;
/// An event file for `submit`: its record must fit [`MAX_INTAKE_RECORD_BYTES`], and JSON with
/// hex takes at most a few times as much.
pub const MAX_EVENT_FILE_BYTES: u64 = 1 << 20;
/// A proof file (`prove`): Merkle paths, at most two checkpoints, and the sequencer keys'
/// enrolment records.
pub const MAX_PROOF_FILE_BYTES: u64 = 4 << 20;
/// A file of held checkpoints (`checkpoint --save`): about 300 bytes a checkpoint.
pub const MAX_HELD_FILE_BYTES: u64 = 64 << 20;
/// An audit bundle (`export`): the default demo's `--all` bundle is well under a tenth of it.
pub const MAX_BUNDLE_FILE_BYTES: u64 = 1 << 30;

/// Reads a whole file of kind `what`, refusing one larger than `limit` bytes
/// ([`Error::TooLarge`]) without reading past the cap.
pub fn read_capped(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            what,
            limit,
        });
    }
    Ok(bytes)
}

/// [`read_capped`] for a text file.
pub fn read_capped_text(path: &Path, limit: u64, what: &'static str) -> Result<String, Error> {
    String::from_utf8(read_capped(path, limit, what)?).map_err(|_| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_its_cap_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, [b'x'; 11]).unwrap();
        assert_eq!(read_capped(&p, 11, "a test file").unwrap().len(), 11);
        let e = read_capped(&p, 10, "a test file").unwrap_err();
        assert!(matches!(e, Error::TooLarge { limit: 10, .. }), "{e}");
        assert!(e.to_string().contains("a test file"), "{e}");
    }
}
