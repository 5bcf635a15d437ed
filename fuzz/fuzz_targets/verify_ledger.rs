//! Full verification (FORMAT.md §§2-16) of a small real ledger (the demo's 8 partitions) one of
//! whose segments the fuzzer mutates: the first byte picks the partition, the rest replace its
//! segment file, which the store's scanner splits into records as `verify` reads them. The
//! verdict (every failure's position and reason code) must be deterministic, and the
//! unmodified ledger must verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tl_domain::TrialRules;
use tl_ledger::verify::PartitionInput;

type Verdict = (bool, Vec<(u32, u64, &'static str)>);

fn verdict(parts: &[Vec<Vec<u8>>]) -> Verdict {
    let d = tl_fuzz::demo();
    let inputs: Vec<_> = parts
        .iter()
        .map(|r| PartitionInput::clean(r.clone()))
        .collect();
    let report = tl_ledger::verify_ledger(&d.trial, d.root, &inputs, TrialRules);
    let failures = report
        .failures
        .iter()
        .map(|f| (f.partition, f.seq, f.reason))
        .collect();
    (report.ok, failures)
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, segment)) = data.split_first() else {
        return;
    };
    let d = tl_fuzz::demo();
    let p = sel as usize % d.parts.len();
    let mut parts = d.parts.clone();
    parts[p] = tl_ledger::embedded::scan_segment_bytes(segment, 0).records;
    let first = verdict(&parts);
    assert_eq!(
        first,
        verdict(&parts),
        "two verifications of the same bytes differ"
    );
    if segment == tl_fuzz::SEGMENTS[p] {
        assert!(first.0, "the honest fixture must verify: {:?}", first.1);
    }
    assert_eq!(first.0, first.1.is_empty());
});
