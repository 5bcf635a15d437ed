//! The pure parsers of what clients send the API: the JSON form of `POST /v1/submissions`, the
//! bearer token of `POST /v1/session` (and of every read), the session cookie, the safety
//! stream's `Last-Event-ID` cursor, and the tile coordinates of the tlog-tiles paths. They depend on nothing but `std`, `serde_json` and `hex`, so
//! that the fuzz targets (`fuzz/`, FUZZING.md) compile this very file without the HTTP stack.

use std::collections::BTreeMap;

/// The JSON form of a submission: its canonical bytes, in hex.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmissionJson {
    /// `encode(SignedSubmission)` (FORMAT.md §11), lowercase or uppercase hex.
    submission: String,
}

/// The submission's canonical bytes from the JSON form of a `POST /v1/submissions` body
/// (`{"submission": "<hex>"}`), or the message of the 400 answer.
pub fn submission_json(body: &[u8]) -> Result<Vec<u8>, String> {
    let form: SubmissionJson = serde_json::from_slice(body).map_err(|e| {
        format!("the body is not a submission in JSON form ({{\"submission\": \"<hex>\"}}): {e}")
    })?;
    hex::decode(form.submission.trim()).map_err(|e| format!("`submission` is not hex: {e}"))
}

/// The token text of an `Authorization` header value of the form `Bearer <token>` (trimmed);
/// `None` for any other form.
pub fn bearer_token(header_value: &str) -> Option<&str> {
    header_value.strip_prefix("Bearer ").map(str::trim)
}

/// The value of the cookie `name` among `Cookie` header values (`a=1; b=2`), the first if it
/// is sent more than once.
pub fn cookie<'a>(header_values: impl IntoIterator<Item = &'a str>, name: &str) -> Option<String> {
    header_values
        .into_iter()
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A parsed `Last-Event-ID`: the last seq delivered per partition, and the events of the last
/// record already delivered (when it gave several).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    pub(super) last: BTreeMap<u32, u64>,
    pub(super) within: Option<usize>,
}

impl Cursor {
    /// Parses `p0:123,p3:45` (optionally `~k`); the empty text is the start of the ledger.
    pub fn parse(text: &str) -> Result<Cursor, String> {
        let text = text.trim();
        let (list, within) = match text.split_once('~') {
            Some((l, k)) => (
                l,
                Some(
                    k.parse::<usize>()
                        .map_err(|_| format!("{k:?} after ~ is not a number"))?,
                ),
            ),
            None => (text, None),
        };
        let mut last = BTreeMap::new();
        for item in list.split(',').filter(|s| !s.is_empty()) {
            let (p, s) = item
                .strip_prefix('p')
                .and_then(|r| r.split_once(':'))
                .ok_or_else(|| format!("{item:?} is not pN:SEQ"))?;
            let p: u32 = p.parse().map_err(|_| format!("{item:?}: bad partition"))?;
            let s: u64 = s.parse().map_err(|_| format!("{item:?}: bad seq"))?;
            if last.insert(p, s).is_some() {
                return Err(format!("partition {p} is named twice"));
            }
        }
        Ok(Cursor { last, within })
    }

    /// The partition list in the stream's own spelling (`p0:123,p3:45`), without `~k`.
    pub fn list_text(&self) -> String {
        let list: Vec<String> = self.last.iter().map(|(p, s)| format!("p{p}:{s}")).collect();
        list.join(",")
    }

    /// The whole cursor in the stream's own spelling, `~k` included: what [`Cursor::parse`]
    /// reads back as this cursor.
    pub fn text(&self) -> String {
        match self.within {
            Some(k) => format!("{}~{k}", self.list_text()),
            None => self.list_text(),
        }
    }
}

/// Hashes in a full tile, and entries in a full entry bundle (C2SP tlog-tiles).
pub const TILE_WIDTH: u64 = 256;

/// The coordinates of a tile or entry bundle, from a tlog-tiles path: `<N>[.p/<W>]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TileCoord {
    /// The index `N` of the tile within its level.
    pub index: u64,
    /// The width: 256 for a full tile, `W` (1..=255) for a partial one.
    pub width: u64,
}

impl TileCoord {
    /// Whether the tile is partial (its path ends in `.p/<W>`).
    pub fn is_partial(&self) -> bool {
        self.width < TILE_WIDTH
    }

    /// The tile's path elements after the level: what [`tile_coord`] reads back as this tile.
    pub fn path(&self) -> String {
        let mut n = self.index;
        let mut text = format!("{:03}", n % 1000);
        while n >= 1000 {
            n /= 1000;
            text = format!("x{:03}/{text}", n % 1000);
        }
        if self.is_partial() {
            text.push_str(&format!(".p/{}", self.width));
        }
        text
    }
}

/// A decimal ASCII integer with no leading zeroes (`0` itself allowed), as tlog-tiles spells
/// `<L>` and `<W>`; `None` for anything else or a value over `max`.
fn canonical_decimal(text: &str, max: u64) -> Option<u64> {
    let ok = !text.is_empty()
        && text.len() <= 20
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    ok.then(|| text.parse::<u64>().ok())
        .flatten()
        .filter(|&v| v <= max)
}

/// The level `<L>` of a tile path: a decimal integer from 0 to 63 with no leading zeroes, or
/// the message of the 400 answer.
pub fn tile_level(text: &str) -> Result<u8, String> {
    canonical_decimal(text, 63).map(|l| l as u8).ok_or_else(|| {
        format!("tile level {text:?} is not a decimal integer from 0 to 63 without leading zeroes")
    })
}

/// The `<N>[.p/<W>]` part of a tile or entry-bundle path (everything after the level, or after
/// `entries/`), in exactly the spelling tlog-tiles gives it: `N` in 3-digit path elements, all
/// but the last prefixed with `x`, no leading `x000` element (one spelling per index); `W` a
/// decimal integer from 1 to 255 without leading zeroes. Or the message of the 400 answer.
pub fn tile_coord(text: &str) -> Result<TileCoord, String> {
    let bad = |why: &str| format!("tile path {text:?}: {why}");
    let (n_text, width) = match text.rsplit_once(".p/") {
        Some((n, w)) => {
            let w = canonical_decimal(w, TILE_WIDTH - 1)
                .filter(|&w| w >= 1)
                .ok_or_else(|| bad("the width after .p/ must be a decimal integer from 1 to 255 without leading zeroes"))?;
            (n, w)
        }
        None => (text, TILE_WIDTH),
    };
    let elements: Vec<&str> = n_text.split('/').collect();
    // u64::MAX has 20 digits: at most 7 elements of 3.
    if elements.len() > 7 {
        return Err(bad("the index has more than 7 path elements"));
    }
    let last = elements.len() - 1;
    let mut index: u64 = 0;
    for (i, element) in elements.iter().enumerate() {
        let digits = if i < last {
            element
                .strip_prefix('x')
                .ok_or_else(|| bad("every index element but the last starts with x"))?
        } else {
            element
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("index elements are 3 decimal digits (xNNN/.../NNN)"));
        }
        if i == 0 && i < last && digits == "000" {
            return Err(bad("the index has a leading x000 element"));
        }
        let v: u64 = digits.parse().map_err(|_| bad("bad digits"))?;
        index = index
            .checked_mul(1000)
            .and_then(|n| n.checked_add(v))
            .ok_or_else(|| bad("the index is larger than 2^64 - 1"))?;
    }
    Ok(TileCoord { index, width })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_paths_have_one_spelling() {
        let c = |t: &str| tile_coord(t);
        assert_eq!(
            c("000"),
            Ok(TileCoord {
                index: 0,
                width: 256
            })
        );
        assert_eq!(
            c("x001/x234/067"),
            Ok(TileCoord {
                index: 1_234_067,
                width: 256
            })
        );
        assert_eq!(
            c("x001/x234/067.p/8"),
            Ok(TileCoord {
                index: 1_234_067,
                width: 8
            })
        );
        assert_eq!(c("x001/x234/067.p/8").unwrap().path(), "x001/x234/067.p/8");
        assert_eq!(
            c("x018/x446/x744/x073/x709/x551/615").unwrap().index,
            u64::MAX
        );
        for bad in [
            "",
            "0",
            "00",
            "0000",
            "1",
            "x000/001",
            "001/002",
            "x1/002",
            "x001/02",
            "000.p/0",
            "000.p/256",
            "000.p/07",
            "000.p/",
            "000.p/+5",
            "+00",
            "0a0",
            "x018/x446/x744/x073/x709/x551/616",
            "x001/x001/x001/x001/x001/x001/x001/001",
            "000/",
            "/000",
            "000.p/1/2",
            "x000",
        ] {
            assert!(c(bad).is_err(), "{bad:?} parsed as {:?}", c(bad));
        }
        assert_eq!(tile_level("0"), Ok(0));
        assert_eq!(tile_level("63"), Ok(63));
        for bad in [
            "",
            "00",
            "01",
            "64",
            "-1",
            "+1",
            "1000000000000000000000",
            "a",
        ] {
            assert!(tile_level(bad).is_err(), "{bad:?}");
        }
        for i in [0, 1, 999, 1000, 1_000_000, 123_456_789, u64::MAX] {
            for width in [1, 255, 256] {
                let t = TileCoord { index: i, width };
                assert_eq!(c(&t.path()), Ok(t));
            }
        }
    }

    #[test]
    fn a_cursor_reads_back_from_its_own_spelling() {
        let c = Cursor::parse(" p3:45,p0:12~1 ").unwrap();
        assert_eq!(c.text(), "p0:12,p3:45~1");
        assert_eq!(c.list_text(), "p0:12,p3:45");
        assert_eq!(Cursor::parse(&c.text()), Ok(c));
        assert!(Cursor::parse("p0:1,p0:2").unwrap_err().contains("twice"));
        assert_eq!(Cursor::parse(""), Ok(Cursor::default()));
    }

    #[test]
    fn the_session_inputs_parse() {
        assert_eq!(bearer_token("Bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(
            cookie(["a=1; tl_session=xyz", "tl_session=later"], "tl_session").as_deref(),
            Some("xyz")
        );
        assert_eq!(
            submission_json(br#"{"submission":" 0aFF "}"#),
            Ok(vec![10, 255])
        );
        assert!(submission_json(br#"{"submission":"0"}"#)
            .unwrap_err()
            .contains("not hex"));
    }

    /// Replays the api_wire fuzz target's seeds and minimised findings (`fuzz/seeds/api_wire`,
    /// `fuzz/regressions/api_wire`, FUZZING.md): the first byte picks the parser.
    #[test]
    fn the_fuzz_corpus_parses_consistently() {
        let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let mut seen = 0;
        for kind in ["seeds", "regressions"] {
            let Ok(dir) = std::fs::read_dir(fuzz.join(kind).join("api_wire")) else {
                continue;
            };
            for entry in dir {
                let path = entry.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                let Some((&sel, rest)) = data.split_first() else {
                    continue;
                };
                let text = String::from_utf8_lossy(rest);
                let verdict = || match sel % 5 {
                    0 => format!("{:?}", Cursor::parse(&text).map(|c| c.text())),
                    1 => format!("{:?}", submission_json(rest)),
                    2 => format!("{:?}", bearer_token(&text)),
                    3 => format!("{:?}", cookie(text.lines(), "tl_session")),
                    _ => {
                        let (l, c) = text.split_once('/').unwrap_or((&text, ""));
                        format!("{:?}", (tile_level(l), tile_coord(c)))
                    }
                };
                assert_eq!(verdict(), verdict(), "{}", path.display());
                seen += 1;
            }
        }
        assert!(seen >= 6, "{seen}");
    }
}
