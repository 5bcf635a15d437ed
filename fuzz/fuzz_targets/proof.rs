//! Proof files as `check-proof` reads them: parsed, then checked with the root key pinned and
//! unpinned. The verdict (facts proved, or the failure and its exit class) must be
//! deterministic, and a pinned check never passes where the unpinned one fails.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tl_ledger::audit::{check_proof, parse_proof, KeyPin, ProofFailure};

fn verdict(text: &str, pin: &KeyPin) -> Result<Vec<String>, (bool, String)> {
    let proof =
        parse_proof(text).map_err(|e| (matches!(e, ProofFailure::Malformed(_)), e.to_string()))?;
    check_proof(&proof, pin)
        .map(|c| c.lines)
        .map_err(|e| (matches!(e, ProofFailure::Malformed(_)), e.to_string()))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let d = tl_fuzz::demo();
    let pinned = KeyPin::Root {
        trial: d.trial.clone(),
        root: d.root,
    };
    let a = verdict(text, &pinned);
    assert_eq!(a, verdict(text, &pinned));
    let u = verdict(text, &KeyPin::Unpinned);
    assert_eq!(u, verdict(text, &KeyPin::Unpinned));
    if a.is_ok() {
        assert!(u.is_ok(), "passes pinned but fails unpinned: {u:?}");
    }
});
