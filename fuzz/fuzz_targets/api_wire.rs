//! The HTTP API's request parsers (`services/src/api/wire.rs`, compiled from its own file).
//! The first byte picks one: the safety stream's `Last-Event-ID` cursor, the JSON form of a
//! `POST /v1/submissions` body (whose bytes then go to the submission decoder, as the submit
//! handle takes them), the bearer token of `POST /v1/session`, the session cookie among
//! `Cookie` header values (one per line), or a tlog-tiles path after `tile/`
//! (`<L>/<N>[.p/<W>]`). Each verdict must be deterministic, and whatever parses must come back
//! the same from its own spelling.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tl_fuzz::api_wire::{bearer_token, cookie, submission_json, tile_coord, tile_level, Cursor};

fn cursor(text: &str) {
    let first = Cursor::parse(text);
    assert_eq!(first, Cursor::parse(text));
    if let Ok(c) = first {
        let spelled = c.text();
        assert_eq!(Cursor::parse(&spelled).as_ref(), Ok(&c), "{spelled:?}");
    }
}

fn submission(body: &[u8]) {
    let first = submission_json(body);
    assert_eq!(first, submission_json(body));
    let Ok(bytes) = first else { return };
    assert!(2 * bytes.len() <= body.len(), "more bytes than hex digits");
    let again = serde_json::json!({ "submission": hex::encode(&bytes) }).to_string();
    assert_eq!(submission_json(again.as_bytes()).as_ref(), Ok(&bytes));
    let decoded = |b: &[u8]| {
        tl_ledger::codec::decode_submission(b)
            .map(|_| ())
            .map_err(|e| e.reason)
    };
    assert_eq!(decoded(&bytes), decoded(&bytes));
}

fn bearer(text: &str) {
    let first = bearer_token(text);
    assert_eq!(first, bearer_token(text));
    if let Some(t) = first {
        assert_eq!(bearer_token(&format!("Bearer {t}")), Some(t));
    }
}

fn session(text: &str) {
    const NAME: &str = "tl_session";
    let first = cookie(text.lines(), NAME);
    assert_eq!(first, cookie(text.lines(), NAME));
    if let Some(v) = first {
        assert!(!v.contains(';'));
        assert_eq!(
            cookie([format!("{NAME}={v}").as_str()], NAME).as_ref(),
            Some(&v)
        );
    }
}

fn tile(text: &str) {
    let (level, coord) = text.split_once('/').unwrap_or((text, ""));
    let first = (tile_level(level), tile_coord(coord));
    assert_eq!(first, (tile_level(level), tile_coord(coord)));
    if let (Ok(l), Ok(c)) = first {
        // One spelling per tile: the parsed tile spells back to the very text.
        assert!(l <= 63 && (1..=256).contains(&c.width));
        assert_eq!(format!("{l}/{}", c.path()), text);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    if sel % 5 == 1 {
        return submission(rest);
    }
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match sel % 5 {
        0 => cursor(text),
        2 => bearer(text),
        3 => session(text),
        _ => tile(text),
    }
});
