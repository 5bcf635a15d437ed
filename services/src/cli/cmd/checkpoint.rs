//! `trial-ledger checkpoint`: print (and optionally sign first, and save) the latest signed
//! checkpoint of each partition, or the sequencer's signed-note verifier key.
//!
//! One checkpoint is printed as exactly one signed note, so Go's `note.Open` takes the output
//! as it is; several are printed as a note list (FORMAT.md §17a), each note followed by an
//! empty line.

use crate::cli::CheckpointArgs;
use anyhow::{bail, Context, Result};
use std::process::ExitCode;
use tl_ledger::audit;
use tl_ledger::checkpoint::SignedCheckpoint;
use tl_ledger::embedded::EmbeddedReader;
use tl_ledger::publish::{note_entry, read_held, read_published};

/// Runs `checkpoint`. Without `--fresh` it only reads the ledger folder; with `--url` it only
/// asks a running server.
pub fn run(a: CheckpointArgs) -> Result<ExitCode> {
    if a.verifier_key {
        return print_verifier_key(&a);
    }
    if let Some(url) = &a.url {
        return remote(url, &a);
    }
    let store = super::store(&a.data)?;
    let mut trust = None;
    let count = match &store {
        super::Store::Embedded(data) => {
            trust = Some(super::read_trust(data)?);
            EmbeddedReader::open(&super::ledger_dir(data))?.partition_count()
        }
        super::Store::Kafka(k) => tl_kafka::topics::partition_count(k, &k.topics.ledger)?
            .with_context(|| format!("no ledger topic {} on {}", k.topics.ledger, k.bootstrap))?,
    };
    check_partition(a.partition, count)?;
    let data = match &store {
        super::Store::Embedded(d) => Some(d.as_path()),
        super::Store::Kafka(_) => None,
    };
    let held_before = held_before(a.save.as_deref(), data)?;
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
    let mut notes = Vec::new();
    for p in partitions {
        let last = published(p)?.last().cloned();
        if let Some(note) = &last {
            check_before_handing_out(&store, trust.as_ref(), count, p, note)?;
        }
        take_note(&mut notes, a.partition, p, last)?;
    }
    hand_out(&a, held_before, &notes)
}

/// `checkpoint --url`: the latest signed checkpoints of a running server
/// (`GET /v1/checkpoints`), printed and saved as from a data folder. Each must parse as a
/// checkpoint of its partition; `verify --against` checks the signatures and the ledger.
fn remote(url: &str, a: &CheckpointArgs) -> Result<ExitCode> {
    let server = crate::cli::remote::Remote::new(url)?;
    let held_before = held_before(a.save.as_deref(), None)?;
    let all = server.checkpoints()?;
    let count = u32::try_from(all.len()).context("the server's partition count")?;
    check_partition(a.partition, count)?;
    let mut notes = Vec::new();
    for (p, text) in all {
        if a.partition.is_some_and(|want| want != p) {
            continue;
        }
        let note = match text {
            Some(text) => {
                let note = SignedCheckpoint::parse(&text).with_context(|| {
                    format!("{}: the checkpoint of partition {p}", server.url())
                })?;
                let origin = &note.unverified().origin;
                let named = tl_ledger::checkpoint::parse_partition_origin(origin);
                if named.map(|(_, q)| q) != Some(p) {
                    bail!(
                        "{}: the checkpoint given for partition {p} is of origin {origin:?}",
                        server.url()
                    );
                }
                Some(note)
            }
            None => None,
        };
        take_note(&mut notes, a.partition, p, note)?;
    }
    hand_out(a, held_before, &notes)
}

/// Refuses a `--partition` the ledger does not have.
fn check_partition(partition: Option<u32>, count: u32) -> Result<()> {
    match partition {
        Some(p) if p >= count => bail!(
            "partition {p} does not exist: the ledger has {count} partitions (0 to {})",
            count.saturating_sub(1)
        ),
        _ => Ok(()),
    }
}

/// The bytes of the `--save` file, checked to be a file of held checkpoints: it is only ever
/// appended to in its own format (empty for a new file, or without `--save`).
fn held_before(save: Option<&std::path::Path>, data: Option<&std::path::Path>) -> Result<Vec<u8>> {
    let Some(save) = save else {
        return Ok(Vec::new());
    };
    crate::cli::output::refuse_protected(save, data)?;
    if !save.exists() {
        return Ok(Vec::new());
    }
    read_held(save).with_context(|| {
        format!(
            "--save {} is not a file of held checkpoints; refusing to append to it",
            save.display()
        )
    })?;
    std::fs::read(save).with_context(|| format!("reading {}", save.display()))
}

/// Adds partition `p`'s latest checkpoint to `notes`; a missing one is an error only when
/// that partition was asked for.
fn take_note(
    notes: &mut Vec<String>,
    asked: Option<u32>,
    p: u32,
    last: Option<SignedCheckpoint>,
) -> Result<()> {
    match last {
        Some(note) => notes.push(note.text().to_string()),
        None if asked.is_some() => bail!(
            "partition {p} has no published checkpoint yet (it has no records, or none was published: `--fresh` signs one for its current size)"
        ),
        None => eprintln!("note: partition {p} has no published checkpoint (no records yet)"),
    }
    Ok(())
}

/// Prints the notes (one as a single signed note, several as a note list) and saves them.
fn hand_out(a: &CheckpointArgs, held_before: Vec<u8>, notes: &[String]) -> Result<ExitCode> {
    match notes {
        [] => bail!("no checkpoint has been published yet: the ledger has no records beyond its bootstrap, or run with --fresh"),
        [one] => print!("{one}"),
        several => several.iter().for_each(|n| print!("{}", note_entry(n))),
    }
    if let Some(save) = &a.save {
        save_held(save, held_before, notes)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Appends notes to a file of held checkpoints as note-list entries (each note followed by an
/// empty line). A file that does not end in an empty line (one note saved as printed, say)
/// first gets one, so the first new note does not run into the last old one.
fn save_held(save: &std::path::Path, held_before: Vec<u8>, notes: &[String]) -> Result<()> {
    let mut bytes = held_before;
    if !bytes.is_empty() && !bytes.ends_with(b"\n\n") {
        bytes.push(b'\n');
    }
    notes
        .iter()
        .for_each(|n| bytes.extend_from_slice(note_entry(n).as_bytes()));
    // The whole file again, through a temporary file and a rename: an interrupted save leaves
    // the held checkpoints as they were.
    crate::cli::output::write_new(save, &bytes, true, None)?;
    eprintln!(
        "saved: {} checkpoint(s) appended to {}",
        notes.len(),
        save.display()
    );
    Ok(())
}

/// `--verifier-key`: the signed-note verifier key of the data folder's sequencer key under the
/// trial's checkpoint key name. Every partition's origin is verified with this one key.
fn print_verifier_key(a: &CheckpointArgs) -> Result<ExitCode> {
    let Some(data) = &a.data.data else {
        bail!("--verifier-key reads the sequencer's public key from a data folder: give --data DIR (keys/sequencer.key.pub.json)");
    };
    let trial = super::read_trust(data)?.trial();
    let path = tl_ledger::keyfile::public_path(&data.join("keys").join("sequencer.key"));
    let file = tl_ledger::keyfile::read_public_file(&path)
        .with_context(|| format!("reading the sequencer's public key {}", path.display()))?;
    let public_key = file
        .public_key_bytes()
        .with_context(|| format!("{}: not a public key", path.display()))?;
    let name = tl_ledger::publish::sequencer_key_name(&trial);
    println!(
        "{}",
        tl_ledger::checkpoint::verifier_key(&name, &public_key)?
    );
    Ok(ExitCode::SUCCESS)
}

/// Refuses a checkpoint that does not verify (FORMAT.md §17a): it must be signed by a
/// sequencer key partition 0 enrols (on an embedded ledger, enrolled by the trust file's root
/// key), and the partition's stored records must extend it.
fn check_before_handing_out(
    store: &super::Store,
    trust: Option<&tl_ledger::trust::TrustFile>,
    count: u32,
    p: u32,
    note: &SignedCheckpoint,
) -> Result<()> {
    let (trial, mut parts) = match store {
        super::Store::Embedded(data) => {
            let reader = EmbeddedReader::open(&super::ledger_dir(data))?;
            let trial = trust.map(|t| t.trial()).context("the trust file")?;
            let read = |q: u32| reader.scan(q).map(|s| s.records);
            let p0 = read(0)?;
            let records = if p == 0 { p0.clone() } else { read(p)? };
            (trial, vec![p0, records])
        }
        super::Store::Kafka(k) => {
            let wait = std::time::Duration::from_secs(150);
            let mut parts = tl_kafka::read::read_some(k, &k.topics.ledger, count, &[0, p], wait)?;
            let mut take = |q: u32| -> Vec<Vec<u8>> {
                std::mem::take(&mut parts[q as usize])
                    .into_iter()
                    .map(|m| m.value)
                    .collect()
            };
            let p0 = take(0);
            let records = if p == 0 { p0.clone() } else { take(p) };
            (k.trial.clone(), vec![p0, records])
        }
    };
    let records = parts.pop().unwrap_or_default();
    let p0 = parts.pop().unwrap_or_default();
    let root = trust
        .map(|t| t.root_key())
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let check = audit::check_published(
        &trial,
        root.as_ref(),
        p,
        &p0,
        &records,
        std::slice::from_ref(note),
    );
    match check.first() {
        Some(c) if !c.ok => bail!(
            "refusing to hand out the last published checkpoint of partition {p} (size {}): {}; run `trial-ledger verify`",
            c.size,
            c.detail
        ),
        _ => Ok(()),
    }
}
