//! Canonical encoding: postcard, with a round-trip rule.
//!
//! A byte string is a valid encoding of `T` only if decoding it consumes every byte and
//! re-encoding the value gives back exactly the same bytes. This rejects over-long varints,
//! trailing bytes and any other second spelling of a value, so a value has one encoding and
//! one hash.

use serde::{de::DeserializeOwned, Serialize};

/// Why bytes are not the canonical encoding of a value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CanonicalError {
    /// The bytes do not decode as this type at all (truncated, bad tag, bad UTF-8, ...).
    #[error("malformed encoding: {0}")]
    Malformed(String),
    /// Bytes were left over after the value.
    #[error("{0} trailing byte(s) after the value")]
    Trailing(usize),
    /// The value decodes, but re-encoding it gives different bytes.
    #[error("non-canonical encoding (re-encoding gives different bytes)")]
    NonCanonical,
}

/// Encodes a value in its canonical form.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising our own in-memory structures into a Vec cannot fail: postcard only errors on
    // unsupported serde features (none of our types use them) or on a full fixed buffer.
    postcard::to_stdvec(value).expect("postcard encoding of a schema type cannot fail")
}

/// Decodes bytes that must be the canonical encoding of a `T`.
pub fn decode<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Result<T, CanonicalError> {
    let (value, rest) = postcard::take_from_bytes::<T>(bytes)
        .map_err(|e| CanonicalError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CanonicalError::Trailing(rest.len()));
    }
    if encode(&value) != bytes {
        return Err(CanonicalError::NonCanonical);
    }
    Ok(value)
}

/// The struct version at the start of an encoded top-level structure (its first field, a
/// varint `u16`), read without decoding the rest, so that a decoder can dispatch on it and
/// report an unknown version as such rather than as malformed bytes.
pub fn peek_version(bytes: &[u8]) -> Option<u16> {
    postcard::take_from_bytes::<u16>(bytes).ok().map(|(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlong_varint_is_not_canonical() {
        // 1u64 is 0x01; 0x81 0x00 also decodes to 1 in LEB128 but is a second spelling.
        assert_eq!(decode::<u64>(&[0x01]), Ok(1));
        assert_eq!(
            decode::<u64>(&[0x81, 0x00]),
            Err(CanonicalError::NonCanonical)
        );
    }

    #[test]
    fn out_of_range_varints_are_malformed_and_malformed_wins() {
        // FORMAT.md §1, "Which code, when several apply".
        fn malformed<T>(r: Result<T, CanonicalError>) -> bool {
            matches!(r, Err(CanonicalError::Malformed(_)))
        }
        assert!(malformed(decode::<u16>(&[0xff, 0xff, 0x04])));
        assert!(malformed(decode::<u16>(&[0x80, 0x80, 0x80, 0x00])));
        let mut u64_too_big = vec![0xff; 9];
        u64_too_big.push(0x02);
        assert!(malformed(decode::<u64>(&u64_too_big)));
        assert_eq!(
            decode::<u16>(&[0x80, 0x80, 0x00]),
            Err(CanonicalError::NonCanonical)
        );
        // An overlong varint, then a bad Option tag: malformed, not non-canonical.
        assert!(malformed(decode::<(u16, Option<u8>)>(&[0x81, 0x00, 0x02])));
    }

    #[test]
    fn the_version_is_read_first() {
        assert_eq!(peek_version(&[0x02, 0xff]), Some(2));
        assert_eq!(peek_version(&[]), None);
    }

    #[test]
    fn trailing_bytes_are_refused() {
        assert_eq!(
            decode::<u16>(&[0x01, 0x00]),
            Err(CanonicalError::Trailing(1))
        );
    }

    #[test]
    fn truncated_is_malformed() {
        assert!(matches!(
            decode::<String>(&[0x05, b'a']),
            Err(CanonicalError::Malformed(_))
        ));
    }
}
