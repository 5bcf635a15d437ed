//! The embedded store's segment scanner over arbitrary bytes: no panic, allocation bounded by
//! one maximal frame (MAX_RECORD_LEN, checked by -malloc_limit_mb), a deterministic verdict,
//! and every frame it accepts re-encodes to the bytes it came from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tl_ledger::embedded::{encode_frame, scan_segment_bytes, SEGMENT_HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let scan = scan_segment_bytes(data, 0);
    assert_eq!(
        scan,
        scan_segment_bytes(data, 0),
        "two scans of the same bytes differ"
    );
    assert!(scan.valid_len <= data.len() as u64);
    if !scan.records.is_empty() {
        let mut rebuilt = data[..SEGMENT_HEADER_LEN as usize].to_vec();
        for r in &scan.records {
            rebuilt.extend_from_slice(&encode_frame(r));
        }
        assert_eq!(&rebuilt[..], &data[..scan.valid_len as usize]);
    }
});
