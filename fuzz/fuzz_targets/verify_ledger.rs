//! Full verification (FORMAT.md §§2-17a) of a small real ledger (2 partitions: the registry and
//! the clinical records of two patients, with the sequencer's checkpoints) one of whose files
//! the fuzzer mutates. The first byte picks the file: partition (byte / 2) mod 2, its segment
//! when the byte is even, its checkpoint file when odd; the rest of the input replaces it. A
//! segment is split into records by the store's scanner and a checkpoint file by the store's
//! note-list parser, as `verify` reads them. The verdict (every failure's position and reason
//! code) must be deterministic, and the unmodified ledger must verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tl_domain::TrialRules;
use tl_ledger::publish::stored_checkpoints_in;
use tl_ledger::verify::PartitionInput;

type Verdict = (bool, Vec<(u32, u64, &'static str)>);

fn verdict(inputs: &[PartitionInput]) -> Verdict {
    let d = tl_fuzz::small();
    let report = tl_ledger::verify_ledger(&d.trial, d.root, inputs, TrialRules);
    let failures = report
        .failures
        .iter()
        .map(|f| (f.partition, f.seq, f.reason))
        .collect();
    (report.ok, failures)
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    let d = tl_fuzz::small();
    let n = d.partitions as usize;
    let (p, checkpoint) = ((sel as usize / 2) % n, sel % 2 == 1);
    // A mutated segment is scanned below; the other partitions keep the fixture's records.
    let mut checkpoints = tl_fuzz::SMALL_CHECKPOINTS;
    if checkpoint {
        checkpoints[p] = bytes;
    }
    let inputs: Vec<_> = (0..n)
        .map(|q| PartitionInput {
            checkpoints: stored_checkpoints_in(&format!("p{q}.ckpt"), checkpoints[q]),
            ..PartitionInput::clean(if q == p && !checkpoint {
                tl_ledger::embedded::scan_segment_bytes(bytes, 0).records
            } else {
                d.parts[q].clone()
            })
        })
        .collect();
    let first = verdict(&inputs);
    assert_eq!(
        first,
        verdict(&inputs),
        "two verifications of the same bytes differ"
    );
    let honest = if checkpoint {
        tl_fuzz::SMALL_CHECKPOINTS[p]
    } else {
        tl_fuzz::SMALL_SEGMENTS[p]
    };
    if bytes == honest {
        assert!(first.0, "the honest fixture must verify: {:?}", first.1);
    }
    assert_eq!(first.0, first.1.is_empty());
});
