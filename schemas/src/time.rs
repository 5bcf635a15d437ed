//! Instants, dates and partial dates. All integers: signed structs carry no floats.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An instant: microseconds since 1970-01-01T00:00:00Z (UTC, no leap seconds), as a postcard
/// zigzag varint; RFC 3339 text in human-readable formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcMicros(pub i64);

impl Serialize for UtcMicros {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_rfc3339())
        } else {
            self.0.serialize(s)
        }
    }
}
impl<'de> Deserialize<'de> for UtcMicros {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            UtcMicros::parse_rfc3339(&text).map_err(serde::de::Error::custom)
        } else {
            i64::deserialize(d).map(UtcMicros)
        }
    }
}

impl UtcMicros {
    /// The current system time.
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        UtcMicros(d.as_micros() as i64)
    }
    /// RFC 3339 text in UTC with microseconds, e.g. `2026-11-24T04:06:58.123456Z`.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1000;
        match ::time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(t) => t
                .format(&::time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| format!("{}us", self.0)),
            Err(_) => format!("{}us", self.0),
        }
    }
    /// Parses RFC 3339 text.
    pub fn parse_rfc3339(s: &str) -> Result<Self, ::time::error::Parse> {
        let t = ::time::OffsetDateTime::parse(s, &::time::format_description::well_known::Rfc3339)?;
        Ok(UtcMicros((t.unix_timestamp_nanos() / 1000) as i64))
    }
}

impl fmt::Display for UtcMicros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// A calendar date: days since 1970-01-01 (proleptic Gregorian), as a zigzag varint;
/// `YYYY-MM-DD` in human-readable formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub i32);

impl Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_string())
        } else {
            self.0.serialize(s)
        }
    }
}
impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            Date::parse(&text).ok_or_else(|| {
                serde::de::Error::custom(format!("{text:?} is not a date (YYYY-MM-DD)"))
            })
        } else {
            i32::deserialize(d).map(Date)
        }
    }
}

impl Date {
    /// The date of a year, month (1-12) and day, or `None` if there is no such day.
    pub fn from_ymd(year: i32, month: u8, day: u8) -> Option<Self> {
        let m = ::time::Month::try_from(month).ok()?;
        let d = ::time::Date::from_calendar_date(year, m, day).ok()?;
        Some(Date(d.to_julian_day() - UNIX_EPOCH_JULIAN_DAY))
    }
    /// Year, month and day.
    pub fn ymd(self) -> Option<(i32, u8, u8)> {
        let d = ::time::Date::from_julian_day(self.0.checked_add(UNIX_EPOCH_JULIAN_DAY)?).ok()?;
        Some((d.year(), d.month() as u8, d.day()))
    }
    /// Parses `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut it = text.splitn(3, '-');
        let (y, m, d) = (it.next()?, it.next()?, it.next()?);
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        Date::from_ymd(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
    }
    /// Whole days from `self` to `later` (negative if `later` is earlier).
    pub fn days_until(self, later: Date) -> i32 {
        later.0 - self.0
    }
}

const UNIX_EPOCH_JULIAN_DAY: i32 = 2_440_588;

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ymd() {
            Some((y, m, d)) => write!(f, "{y:04}-{m:02}-{d:02}"),
            None => write!(f, "day{}", self.0),
        }
    }
}

/// A date known only in part, as clinical data often is. Variant order is frozen:
/// `Year` = 0, `YearMonth` = 1, `Full` = 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PartialDate {
    /// Only the year is known.
    Year(i16),
    /// Year and month (1-12) are known.
    YearMonth(i16, u8),
    /// The full date is known.
    Full(Date),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_round_trip() {
        assert_eq!(Date::from_ymd(1970, 1, 1), Some(Date(0)));
        let d = Date::from_ymd(2025, 3, 1).unwrap();
        assert_eq!(d.ymd(), Some((2025, 3, 1)));
        assert_eq!(d.to_string(), "2025-03-01");
        assert_eq!(Date::from_ymd(2025, 2, 30), None);
    }

    #[test]
    fn human_readable_forms() {
        let d = Date::from_ymd(2025, 3, 1).unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"2025-03-01\"");
        assert_eq!(serde_json::from_str::<Date>("\"2025-03-01\"").unwrap(), d);
        assert!(serde_json::from_str::<Date>("\"2025-02-30\"").is_err());
        assert_eq!(
            crate::encode(&d),
            crate::encode(&d.0),
            "postcard form is the plain integer"
        );
        let t = UtcMicros(1_000_000);
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"1970-01-01T00:00:01Z\""
        );
        let h = crate::Hash32([0xab; 32]);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{}\"", "ab".repeat(32)));
        assert_eq!(serde_json::from_str::<crate::Hash32>(&json).unwrap(), h);
        assert_eq!(crate::encode(&h), vec![0xab; 32]);
        let sig = crate::Sig64([7; 64]);
        assert_eq!(
            serde_json::from_str::<crate::Sig64>(&serde_json::to_string(&sig).unwrap()).unwrap(),
            sig
        );
        assert_eq!(crate::encode(&sig), vec![7; 64]);
    }

    #[test]
    fn instant_text() {
        assert_eq!(UtcMicros(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        let t = UtcMicros::parse_rfc3339("2026-11-24T04:06:58.5Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-24T04:06:58.5Z");
    }
}
