//! `trial-ledger checkpoint`: print (and optionally sign first, and save) the latest signed
//! checkpoint of each partition.

use crate::cli::CheckpointArgs;
use anyhow::{bail, Context, Result};
use std::process::ExitCode;
use tl_ledger::embedded::EmbeddedReader;
use tl_ledger::publish::{note_entry, read_held, read_published};

/// Runs `checkpoint`. Without `--fresh` it only reads the ledger folder.
pub fn run(a: CheckpointArgs) -> Result<ExitCode> {
    let store = super::store(&a.data)?;
    let count = match &store {
        super::Store::Embedded(data) => {
            super::read_trust(data)?;
            EmbeddedReader::open(&super::ledger_dir(data))?.partition_count()
        }
        super::Store::Kafka(k) => tl_kafka::topics::partition_count(k, &k.topics.ledger)?
            .with_context(|| format!("no ledger topic {} on {}", k.topics.ledger, k.bootstrap))?,
    };
    if let Some(p) = a.partition {
        if p >= count {
            bail!(
                "partition {p} does not exist: the ledger has {count} partitions (0 to {})",
                count - 1
            );
        }
    }
    // A file of held checkpoints is only ever appended to in its own format.
    let mut held_before = Vec::new();
    if let Some(save) = &a.save {
        let data = match &store {
            super::Store::Embedded(d) => Some(d.as_path()),
            super::Store::Kafka(_) => None,
        };
        crate::cli::output::refuse_protected(save, data)?;
        if save.exists() {
            read_held(save).with_context(|| {
                format!(
                    "--save {} is not a file of held checkpoints; refusing to append to it",
                    save.display()
                )
            })?;
            held_before =
                std::fs::read(save).with_context(|| format!("reading {}", save.display()))?;
        }
    }
    if a.fresh {
        let super::Store::Embedded(data) = &store else {
            bail!("--fresh signs with the sequencer key of an embedded ledger; on Kafka the sequencer publishes checkpoints itself (every --checkpoint-every records, every --checkpoint-secs, and when it stops)");
        };
        let mut ledger = super::open_writer(data)?;
        let notes = ledger.publish_now()?;
        ledger.close()?;
        eprintln!(
            "published: a checkpoint of the current size of {} non-empty partitions",
            notes.len()
        );
    }
    let published = |p: u32| -> Result<Vec<tl_ledger::checkpoint::SignedCheckpoint>> {
        Ok(match &store {
            super::Store::Embedded(data) => read_published(&super::ledger_dir(data), p)?,
            super::Store::Kafka(k) => {
                tl_kafka::read::checkpoints(k, p, std::time::Duration::from_secs(150))?
            }
        })
    };
    let partitions = match a.partition {
        Some(p) => p..p + 1,
        None => 0..count,
    };
    let mut out = String::new();
    let mut printed = 0;
    for p in partitions {
        match published(p)?.last() {
            Some(note) => {
                out.push_str(&note_entry(note.text()));
                printed += 1;
            }
            None if a.partition.is_some() => bail!(
                "partition {p} has no published checkpoint yet (it has no records, or none was published: `--fresh` signs one for its current size)"
            ),
            None => eprintln!("note: partition {p} has no published checkpoint (no records yet)"),
        }
    }
    if printed == 0 {
        bail!("no checkpoint has been published yet: the ledger has no records beyond its bootstrap, or run with --fresh");
    }
    print!("{out}");
    if let Some(save) = &a.save {
        // The whole file again, through a temporary file and a rename: an interrupted save
        // leaves the held checkpoints as they were.
        held_before.extend_from_slice(out.as_bytes());
        crate::cli::output::write_new(save, &held_before, true, None)?;
        eprintln!(
            "saved: {printed} checkpoint(s) appended to {}",
            save.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
