//! `trial-ledger repair --cut-torn-tail`: the operator's explicit cut of partition tails that
//! the writer refused to guess about (FORMAT.md §17).

use crate::cli::RepairArgs;
use anyhow::Result;
use std::process::ExitCode;
use tl_ledger::embedded::SuspectTail;
use tl_ledger::log::cut_tails;

/// Runs `repair`. Says what it will remove before removing anything.
pub fn run(a: RepairArgs) -> Result<ExitCode> {
    super::read_trust(&a.data)?;
    let dir = super::ledger_dir(&a.data);
    let verb = if a.dry_run { "would cut" } else { "cutting" };
    let cuts = cut_tails(&dir, a.dry_run, |t| println!("{verb}: {}", describe(t)))?;
    if cuts.is_empty() {
        println!("nothing to cut: every partition ends in a complete frame");
    }
    for c in &cuts {
        if let Some(copy) = &c.copy {
            println!(
                "cut partition {} back to {} records; the {} cut bytes are kept in {}",
                c.tail.tail.partition,
                c.tail.tail.seq,
                c.tail.tail.bytes,
                copy.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line for a tail: where it is, how long, and what was found in it.
fn describe(t: &SuspectTail) -> String {
    let found = t.damage.as_deref().unwrap_or(
        "an incomplete frame (an interrupted append; the writer would cut it by itself)",
    );
    format!(
        "partition {}, {} from byte offset {}: {} bytes where record {} would start: {found}",
        t.tail.partition,
        t.tail.file.display(),
        t.tail.offset,
        t.tail.bytes,
        t.tail.seq
    )
}
