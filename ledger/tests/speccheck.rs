//! The twelve edge cases of "Taming the many EdDSAs" (Chalkias, Garillot, Nikolaenko; SSR 2020)
//! against the project's one signature rule.
//!
//! Shows, on every case, that
//! * single verification ([`verify_one`]) and batch verification ([`verify_batch`]) agree,
//!   alone and inside a batch with three valid signatures of an ordinary key;
//! * the verdicts are exactly the normative ZIP-215 column (the "Zebra" row of the paper's
//!   results table);
//! * enrolment ([`check_enrollable`]) refuses the small-order and non-canonical public keys
//!   the cases use, so those corners of ZIP-215 are unreachable with an enrolled key.
//!
//! The cases live outside the workspace, in `shared/data/ed25519-speccheck/cases.json`. A
//! missing file fails the test: it is never skipped.

use std::path::{Path, PathBuf};
use tl_ledger::crypto::{
    check_enrollable, verify_batch, verify_one, KeyRejection, SigCheck, SigningKey,
};
use tl_schemas::Sig64;

/// Overrides where `cases.json` is looked for.
const CASES_ENV: &str = "TL_SPECCHECK_CASES";
/// The file, relative to the folder that holds `shared/`.
const CASES_REL: &str = "shared/data/ed25519-speccheck/cases.json";

/// The normative ZIP-215 verdicts for cases 0..=11 (`true` = valid): the "Zebra" row of the
/// paper's table.
const ZIP215: [bool; 12] = [
    true, true, true, true, true, true, false, false, false, true, true, true,
];

/// One case as stored.
struct Case {
    message: Vec<u8>,
    public_key: [u8; 32],
    signature: Sig64,
}

/// Finds `cases.json`: `$TL_SPECCHECK_CASES` if set, else `CARGO_MANIFEST_DIR/../../shared/...`,
/// else the same relative path under any ancestor of the manifest folder.
fn cases_path() -> PathBuf {
    if let Some(p) = std::env::var_os(CASES_ENV) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "{CASES_ENV} is set to {}, which is not a file",
            p.display()
        );
        return p;
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut tried = Vec::new();
    // `ancestors()` starts at the manifest folder itself; `../..` is the documented place.
    for base in manifest.ancestors() {
        let candidate = base.join(CASES_REL);
        if candidate.is_file() {
            return candidate;
        }
        tried.push(candidate);
    }
    panic!(
        "the Ed25519 speccheck cases are missing: looked for {CASES_REL} in every ancestor of {} \
         (tried {}). Put the twelve cases of \"Taming the many EdDSAs\" there, or point \
         {CASES_ENV} at cases.json. This test is never skipped.",
        manifest.display(),
        tried
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
}

fn hex_field(case: &serde_json::Value, i: usize, field: &str) -> Vec<u8> {
    let s = case[field]
        .as_str()
        .unwrap_or_else(|| panic!("case {i}: field {field:?} is missing or not a string"));
    hex::decode(s).unwrap_or_else(|e| panic!("case {i}: field {field:?} is not hex: {e}"))
}

fn load_cases() -> Vec<Case> {
    let path = cases_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()));
    let list = json
        .as_array()
        .unwrap_or_else(|| panic!("{} is not a JSON array of cases", path.display()));
    assert_eq!(
        list.len(),
        12,
        "{} should hold the 12 speccheck cases",
        path.display()
    );
    list.iter()
        .enumerate()
        .map(|(i, c)| Case {
            message: hex_field(c, i, "message"),
            public_key: hex_field(c, i, "pub_key")
                .try_into()
                .unwrap_or_else(|v: Vec<u8>| panic!("case {i}: pub_key has {} bytes", v.len())),
            signature: Sig64(
                hex_field(c, i, "signature")
                    .try_into()
                    .unwrap_or_else(|v: Vec<u8>| {
                        panic!("case {i}: signature has {} bytes", v.len())
                    }),
            ),
        })
        .collect()
}

fn check_of(case: &Case) -> SigCheck {
    SigCheck {
        public_key: case.public_key,
        signature: case.signature,
        message: case.message.clone(),
    }
}

/// Three valid signatures by an ordinary (prime-order, canonical) key.
fn valid_checks() -> Vec<SigCheck> {
    let key = SigningKey::from_seed([42; 32]);
    (0..3u8)
        .map(|i| {
            let message = format!("an ordinary message {i}").into_bytes();
            SigCheck {
                public_key: key.public_key(),
                signature: key.sign(&message),
                message,
            }
        })
        .collect()
}

fn show(v: &[bool]) -> String {
    v.iter()
        .map(|&b| if b { "V" } else { "X" })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn single_and_batch_agree_and_follow_zip215() {
    let cases = load_cases();
    let normal = valid_checks();
    assert!(
        verify_batch(&normal),
        "the three ordinary signatures must verify as a batch"
    );

    let mut singles = Vec::new();
    let mut disagreements = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let single = verify_one(&case.public_key, &case.message, &case.signature);
        let batch = verify_batch(&[check_of(case)]);
        // The case among valid signatures, at the front, middle and end of the batch.
        let mixed: Vec<bool> = (0..=normal.len())
            .map(|at| {
                let mut checks = normal.clone();
                checks.insert(at, check_of(case));
                verify_batch(&checks)
            })
            .collect();
        if single != batch || mixed.iter().any(|&m| m != single) {
            disagreements.push(format!(
                "case {i}: single {single}, batch of one {batch}, mixed batches {mixed:?}"
            ));
        }
        singles.push(single);
    }
    assert!(
        disagreements.is_empty(),
        "single and batch verification disagree:\n{}",
        disagreements.join("\n")
    );
    assert_eq!(
        singles,
        ZIP215.to_vec(),
        "verdicts for cases 0..11 are [{}], ZIP-215 says [{}]",
        show(&singles),
        show(&ZIP215)
    );
}

#[test]
fn enrolment_refuses_the_small_order_and_non_canonical_keys() {
    use KeyRejection::{MixedOrder, NonCanonical, SmallOrder};
    let cases = load_cases();
    // Cases 0-1: A is a small-order point (canonical). Cases 10-11: A is the order-2 point
    // (0, -1) encoded with the sign bit set, a non-canonical encoding. Cases 2 and 8-9 share a
    // *mixed-order* A (a torsion component), as do cases 3-5: refused too. Only the
    // prime-order key of cases 6-7 is enrollable.
    let expected: [Result<(), KeyRejection>; 12] = [
        Err(SmallOrder),
        Err(SmallOrder),
        Err(MixedOrder),
        Err(MixedOrder),
        Err(MixedOrder),
        Err(MixedOrder),
        Ok(()),
        Ok(()),
        Err(MixedOrder),
        Err(MixedOrder),
        Err(NonCanonical),
        Err(NonCanonical),
    ];
    let observed: Vec<Result<(), KeyRejection>> = cases
        .iter()
        .map(|c| check_enrollable(&c.public_key))
        .collect();
    assert_eq!(observed, expected.to_vec());
    // The ordinary key of the mixed batches is enrollable.
    assert_eq!(
        check_enrollable(&SigningKey::from_seed([42; 32]).public_key()),
        Ok(())
    );
}
