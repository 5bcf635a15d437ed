//! `trial-ledger checkpoint`: print (and optionally sign first, and save) the latest signed
//! checkpoint of each partition.

use crate::cli::CheckpointArgs;
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::process::ExitCode;
use tl_ledger::embedded::EmbeddedReader;
use tl_ledger::publish::{note_entry, read_held, read_published};

/// Runs `checkpoint`. Without `--fresh` it only reads the ledger folder.
pub fn run(a: CheckpointArgs) -> Result<ExitCode> {
    let data = &a.data.data;
    super::read_trust(data)?;
    let dir = super::ledger_dir(data);
    let count = EmbeddedReader::open(&dir)?.partition_count();
    if let Some(p) = a.partition {
        if p >= count {
            bail!(
                "partition {p} does not exist: the ledger has {count} partitions (0 to {})",
                count - 1
            );
        }
    }
    // A file of held checkpoints is only ever appended to in its own format.
    if let Some(save) = &a.save {
        if save.exists() {
            read_held(save).with_context(|| {
                format!(
                    "--save {} is not a file of held checkpoints; refusing to append to it",
                    save.display()
                )
            })?;
        }
    }
    if a.fresh {
        let mut ledger = super::open_writer(data)?;
        let notes = ledger.publish_now()?;
        ledger.close()?;
        eprintln!(
            "published: a checkpoint of the current size of {} non-empty partitions",
            notes.len()
        );
    }
    let partitions = match a.partition {
        Some(p) => p..p + 1,
        None => 0..count,
    };
    let mut out = String::new();
    let mut printed = 0;
    for p in partitions {
        match read_published(&dir, p)?.last() {
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
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(save)
            .with_context(|| format!("opening {}", save.display()))?;
        f.write_all(out.as_bytes())
            .and_then(|()| f.sync_all())
            .with_context(|| format!("writing {}", save.display()))?;
        eprintln!(
            "saved: {printed} checkpoint(s) appended to {}",
            save.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
