//! Bundle files as `verify-bundle` reads them: a bundle that decodes re-encodes byte for byte,
//! and its verification against the small fixture's trust anchor gives the same verdict and
//! reason code every time. The seeds are that ledger's `--all` bundle and one patient's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tl_domain::TrialRules;
use tl_ledger::bundle::{decode_bundle, encode_bundle, verify_bundle, Pinned};

fuzz_target!(|data: &[u8]| {
    let Ok(bundle) = decode_bundle(data) else {
        return;
    };
    assert_eq!(
        encode_bundle(&bundle),
        data,
        "a decoded bundle re-encodes differently"
    );
    let d = tl_fuzz::small();
    let pinned = Pinned {
        trial: d.trial.clone(),
        root: d.root,
        partitions: d.partitions,
    };
    let verdict = || {
        let r = verify_bundle(&bundle, Some(&pinned), &[], TrialRules);
        (
            r.ok,
            r.records_verified,
            r.failure.map(|f| (f.item, f.reason)),
        )
    };
    let first = verdict();
    assert_eq!(
        first,
        verdict(),
        "two verifications of the same bundle differ"
    );
    assert_eq!(first.0, first.2.is_none());
});
