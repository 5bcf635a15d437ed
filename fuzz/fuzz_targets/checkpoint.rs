//! Signed notes and note lists (the writer's checkpoint store and an auditor's held-checkpoint
//! file): both list parsers, each note re-parsed alone, its signature checked against the demo
//! sequencer keys, and held checkpoints checked against the demo's partition 0. Every verdict
//! must be deterministic, and a parsed note keeps exactly its own text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tl_ledger::checkpoint::SignedCheckpoint;
use tl_ledger::publish::{parse_note_bytes, sequencer_key_name, ListEnd};

fuzz_target!(|data: &[u8]| {
    let d = tl_fuzz::demo();
    for end in [ListEnd::TornTailAllowed, ListEnd::Strict] {
        let first = parse_note_bytes(data, end).map_err(|e| e.to_string());
        let again = parse_note_bytes(data, end).map_err(|e| e.to_string());
        assert_eq!(
            first.as_ref().map(|l| l.notes.len()),
            again.as_ref().map(|l| l.notes.len())
        );
        let Ok(list) = first else { continue };
        assert!(list.tail_len <= data.len());
        for note in &list.notes {
            let alone = SignedCheckpoint::parse(note.text()).expect("a listed note parses alone");
            assert_eq!(alone.text(), note.text());
            for key in &d.keys {
                let _ = note.verify(&sequencer_key_name(&d.trial), &key.public_key);
            }
        }
        let leaves = [d.leaves.clone()];
        let a = tl_ledger::audit::check_held(&d.trial, &leaves, &d.keys, &list.notes);
        let b = tl_ledger::audit::check_held(&d.trial, &leaves, &d.keys, &list.notes);
        let summary = |v: &[tl_ledger::audit::HeldCheck]| -> Vec<(bool, String)> {
            v.iter().map(|c| (c.ok, c.detail.clone())).collect()
        };
        assert_eq!(summary(&a), summary(&b));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let one = SignedCheckpoint::parse(text).map(|c| c.text().to_string());
        if let Ok(t) = &one {
            assert_eq!(t, text);
        }
    }
});
