//! The pure parsers of what clients send the API: the JSON form of `POST /v1/submissions`, the
//! bearer token of `POST /v1/session` (and of every read), the session cookie, and the safety
//! stream's `Last-Event-ID` cursor. They depend on nothing but `std`, `serde_json` and `hex`, so
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

#[cfg(test)]
mod tests {
    use super::*;

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
                let verdict = || match sel % 4 {
                    0 => format!("{:?}", Cursor::parse(&text).map(|c| c.text())),
                    1 => format!("{:?}", submission_json(rest)),
                    2 => format!("{:?}", bearer_token(&text)),
                    _ => format!("{:?}", cookie(text.lines(), "tl_session")),
                };
                assert_eq!(verdict(), verdict(), "{}", path.display());
                seen += 1;
            }
        }
        assert!(seen >= 4, "{seen}");
    }
}
