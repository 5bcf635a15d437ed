//! `trial-ledger submit`: sign and submit one event.

use crate::cli::SubmitArgs;
use anyhow::{Context, Result};
use std::process::ExitCode;

/// Runs `submit`. Everything that can fail on input (the JSON, the key file, the passphrase)
/// is checked before the ledger is opened, so a bad submission never touches it.
pub fn run(a: SubmitArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&a.event)
        .with_context(|| format!("reading event file {}", a.event.display()))?;
    let draft =
        crate::event_json::parse(&text).with_context(|| format!("in {}", a.event.display()))?;
    let (key, _) = crate::secrets::load_key(&a.key)?;
    let mut ledger = super::open_writer(&a.data.data)?;
    let signed = draft.sign(ledger.state().trial(), &key);
    super::submit_and_report(&mut ledger, signed, a.json)
}
