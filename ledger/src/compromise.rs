//! Compromised keys (FORMAT.md §12, "Compromised keys"). Revoking a key at registry position r
//! leaves valid every record it signed before r; when the key was stolen, the records a thief
//! signed before r are suspect too. A revocation records when the compromise began in its
//! reason, as a marker `[compromised-since registry-seq N]` or `[compromised-since
//! YYYY-MM-DDTHH:MM:SSZ]` at its end (in the spirit of RFC 5280's invalidityDate).
//!
//! The marker changes no verdict: ledgers that verify keep verifying. `verify`, `trail` and
//! the tools flag the key's records from that point on, so a reader knows which to doubt.

use crate::registry::Registry;
use tl_schemas::{KeyId, Record, UtcMicros};

/// From when a revoked key counts as compromised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompromisedSince {
    /// Records validated at this registry position or later.
    RegistrySeq(u64),
    /// Records ordered at this instant or later.
    Time(UtcMicros),
}

const OPEN: &str = "[compromised-since ";

impl CompromisedSince {
    /// Parses the command-line form: a registry position (digits), a date `YYYY-MM-DD` (its
    /// start, UTC), or an RFC 3339 instant.
    pub fn parse_arg(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            return t
                .parse()
                .map(CompromisedSince::RegistrySeq)
                .map_err(|_| format!("{t:?} is not a registry position"));
        }
        if let Some(d) = tl_schemas::Date::parse(t) {
            return Ok(CompromisedSince::Time(UtcMicros(
                i64::from(d.0) * 86_400_000_000,
            )));
        }
        UtcMicros::parse_rfc3339(t)
            .map(CompromisedSince::Time)
            .map_err(|_| {
                format!("{t:?} is neither a registry position, a date (YYYY-MM-DD) nor an RFC 3339 instant")
            })
    }

    /// The marker appended to a revocation's reason.
    pub fn marker(self) -> String {
        match self {
            CompromisedSince::RegistrySeq(n) => format!("{OPEN}registry-seq {n}]"),
            CompromisedSince::Time(t) => format!("{OPEN}{}]", t.to_rfc3339()),
        }
    }

    /// The marker at the end of a revocation's reason, if there is one.
    pub fn from_reason(reason: &str) -> Option<Self> {
        let start = reason.rfind(OPEN)?;
        let inner = reason[start + OPEN.len()..].strip_suffix(']')?;
        match inner.strip_prefix("registry-seq ") {
            Some(n) => n.parse().ok().map(CompromisedSince::RegistrySeq),
            None => UtcMicros::parse_rfc3339(inner)
                .ok()
                .map(CompromisedSince::Time),
        }
    }

    /// Whether a record at `registry_seq`, ordered at `ordering_time`, falls after the point.
    pub fn covers(self, registry_seq: u64, ordering_time: UtcMicros) -> bool {
        match self {
            CompromisedSince::RegistrySeq(n) => registry_seq >= n,
            CompromisedSince::Time(t) => ordering_time >= t,
        }
    }
}

/// If `record`'s author was revoked as compromised from a point the record falls after, that
/// point.
pub fn flag(registry: &Registry, record: &Record) -> Option<CompromisedSince> {
    let b = &record.body;
    flag_key(
        registry,
        &b.submission.submission.author,
        b.registry_seq,
        b.ordering_time,
    )
}

/// [`flag`] for an author key and a record's position and time.
pub fn flag_key(
    registry: &Registry,
    key: &KeyId,
    registry_seq: u64,
    ordering_time: UtcMicros,
) -> Option<CompromisedSince> {
    let (_, why) = registry.keys().get(key)?.revoked.as_ref()?;
    CompromisedSince::from_reason(why).filter(|s| s.covers(registry_seq, ordering_time))
}

/// A record signed by a key after its compromise.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Flagged {
    /// Partition.
    pub partition: u32,
    /// Sequence number.
    pub seq: u64,
    /// The author's key id (hex).
    pub key_id: String,
    /// From when the key counts as compromised, as recorded.
    pub since: String,
}

/// The keys partition 0's revocations (`p0`, record bytes in order) mark as compromised, with
/// from when. Cheap to ask before reading the other partitions.
pub fn marked_keys(p0: &[Vec<u8>]) -> std::collections::HashMap<KeyId, CompromisedSince> {
    use tl_schemas::events::{event_type, KeyRevoked};
    let mut marked = std::collections::HashMap::new();
    for bytes in p0 {
        let Ok((r, _)) = crate::codec::decode_record(bytes) else {
            continue;
        };
        let env = &r.body.submission.submission.envelope;
        if env.event_type != event_type::KEY_REVOKED {
            continue;
        }
        if let Ok(ev) = tl_schemas::decode::<KeyRevoked>(&env.payload) {
            if let Some(since) = CompromisedSince::from_reason(&ev.reason) {
                marked.insert(ev.key, since);
            }
        }
    }
    marked
}

/// Every record (of `partitions`, each a list of record bytes, partition 0 first) whose author
/// a revocation in partition 0 marks as compromised from a point the record falls after.
/// Undecodable records are skipped: verification reports them.
pub fn flagged_records(partitions: &[&[Vec<u8>]]) -> Vec<Flagged> {
    let decode = |bytes: &Vec<u8>| crate::codec::decode_record(bytes).ok().map(|(r, _)| r);
    let marked = marked_keys(partitions.first().copied().unwrap_or_default());
    if marked.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for records in partitions {
        for r in records.iter().filter_map(decode) {
            let b = &r.body;
            let key = b.submission.submission.author;
            if let Some(since) = marked.get(&key) {
                if since.covers(b.registry_seq, b.ordering_time) {
                    out.push(Flagged {
                        partition: b.partition,
                        seq: b.seq,
                        key_id: key.to_hex(),
                        since: since.marker(),
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_and_cover_what_follows() {
        for arg in ["42", "2025-03-01", "2025-03-01T10:00:00Z"] {
            let s = CompromisedSince::parse_arg(arg).unwrap();
            let reason = format!("laptop stolen {}", s.marker());
            assert_eq!(CompromisedSince::from_reason(&reason), Some(s), "{reason}");
        }
        assert!(CompromisedSince::parse_arg("yesterday").is_err());
        assert_eq!(CompromisedSince::from_reason("left the trial"), None);
        let s = CompromisedSince::RegistrySeq(42);
        assert!(s.covers(42, UtcMicros(0)) && !s.covers(41, UtcMicros(i64::MAX)));
        let t = CompromisedSince::parse_arg("2025-03-01").unwrap();
        let day = UtcMicros::parse_rfc3339("2025-03-01T00:00:00Z").unwrap();
        assert!(t.covers(0, day) && !t.covers(u64::MAX, UtcMicros(day.0 - 1)));
    }
}
