//! `trial-ledger submit --kafka BOOTSTRAP --trial ID --key FILE --jsonl EVENTS.jsonl`: bulk
//! submission for sites that upload many events at once.
//!
//! Every line is parsed first (a bad line is named and nothing is submitted). Each line's
//! event is signed and sent through one pipelined [`Writer`] (many in flight at once); the
//! verdicts are printed one per line, in input order, as soon as every earlier line has its
//! own. The exit code is 1 if any line was refused.
//!
//! **Idempotence.** A line without a `submission_id` gets one derived from the trial, the
//! author's public key and the line's text (SHA-256, first 16 bytes), so a rerun of the same
//! file sends the same ids: a line already in the ledger with the same event prints
//! `already-recorded` with its original receipt, and is not sent again. Two identical lines in
//! one file are therefore one event: give each its own `submission_id` to record both.

use crate::cli::event_json::ParsedEvent;
use crate::cli::SubmitArgs;
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::process::ExitCode;
use std::time::Duration;
use tl_kafka::writer::{Verdict, Writer};
use tl_ledger::{Receipt, SigningKey};
use tl_schemas::{Record, SubmissionId, TrialId};

/// The largest bulk file read (each line is still held to the single event file's limit).
const MAX_BULK_FILE_BYTES: u64 = 256 << 20;
/// How long the whole file's verdicts may take after its last line was sent.
const FINISH_TIMEOUT: Duration = Duration::from_secs(600);

/// What became of one line.
enum LineVerdict {
    /// Recorded now (`recorded`) or before (`already-recorded`).
    Receipt(&'static str, Box<Receipt>),
    /// Refused by the sequencer, or a `submission-id-conflict` found here.
    Refused { reason: String, detail: String },
}

/// Runs `submit --jsonl`: only on Kafka (`store` is `None` with `--url`).
pub fn run(a: &SubmitArgs, store: Option<&super::Store>) -> Result<ExitCode> {
    let Some(super::Store::Kafka(k)) = store else {
        anyhow::bail!(
            "--jsonl (bulk submission) needs --kafka BOOTSTRAP --trial ID; submit events one by one to --data or --url"
        );
    };
    let text = tl_ledger::limits::read_capped_text(&a.event, MAX_BULK_FILE_BYTES, "a bulk file")
        .with_context(|| format!("reading {}", a.event.display()))?;
    let (key, _) = crate::cli::secrets::load_key(&a.key)?;
    let lines = parse_lines(&text, &k.trial, &key)
        .with_context(|| format!("in {}; nothing was submitted", a.event.display()))?;
    anyhow::ensure!(!lines.is_empty(), "{} holds no events", a.event.display());
    let mut writer = Writer::connect(k)?;
    // Read the ledger to its end first, so that a rerun finds the lines recorded before.
    writer
        .watcher()
        .read_to_committed_end(Duration::from_secs(120))?;
    let mut out = Printer::new(lines.len(), a.json);
    let mut sealed = Vec::with_capacity(lines.len());
    for (i, (_, parsed)) in lines.iter().enumerate() {
        if let Some(Verdict::Recorded { record, .. }) =
            writer.watcher_ref().recorded(&parsed.draft.submission_id)
        {
            out.set(i, judge_recorded(&record, parsed, &k.trial, &key, false));
            sealed.push(None);
            continue;
        }
        let (draft, s) = super::submit::seal_personal(parsed, &k.trial, a.keystore.as_deref())
            .with_context(|| format!("line {}", lines[i].0))?;
        let signed = draft.sign(&k.trial, &key);
        let ticket = writer.begin(&signed)?;
        out.pending(ticket.number, i, signed);
        sealed.push(Some(s));
        for (t, v) in writer.ready(Duration::ZERO)? {
            out.verdict(t.number, v, &lines, &k.trial, &key);
        }
        out.print_ready(&lines)?;
    }
    for (t, v) in writer.finish(FINISH_TIMEOUT)? {
        out.verdict(t.number, v, &lines, &k.trial, &key);
    }
    out.print_ready(&lines)?;
    // A refused line leaves no record: the personal-data key sealed for it goes again.
    for (i, s) in sealed.into_iter().enumerate() {
        if let Some(s) = s {
            s.release_if(matches!(out.results[i], Some(LineVerdict::Refused { .. })))?;
        }
    }
    Ok(if out.refused > 0 {
        ExitCode::from(crate::EXIT_NEGATIVE)
    } else {
        ExitCode::SUCCESS
    })
}

/// Parses every non-blank line (numbered from 1), giving a line without a `submission_id` the
/// id derived from the trial, the author's key and the line.
fn parse_lines(text: &str, trial: &TrialId, key: &SigningKey) -> Result<Vec<(usize, ParsedEvent)>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        anyhow::ensure!(
            line.len() as u64 <= tl_ledger::limits::MAX_EVENT_FILE_BYTES,
            "line {}: longer than {} bytes",
            n + 1,
            tl_ledger::limits::MAX_EVENT_FILE_BYTES
        );
        let mut parsed =
            crate::cli::event_json::parse(line).with_context(|| format!("line {}", n + 1))?;
        if !parsed.explicit_id {
            parsed.draft.submission_id = derived_id(trial, key, line);
            parsed.explicit_id = true;
        }
        out.push((n + 1, parsed));
    }
    Ok(out)
}

/// The submission id of a bulk line that gives none: SHA-256 over a domain tag, the trial,
/// the author's public key and the trimmed line, first 16 bytes.
pub fn derived_id(trial: &TrialId, key: &SigningKey, line: &str) -> SubmissionId {
    let mut h = Sha256::new();
    h.update(b"trial-ledger bulk submission id v1\0");
    h.update(trial.as_str().as_bytes());
    h.update([0]);
    h.update(key.public_key());
    h.update(line.as_bytes());
    let d = h.finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&d[..16]);
    SubmissionId(id)
}

/// The verdict on a line whose id is in the ledger: its receipt if the record holds this
/// line's event (`recorded` when it is what this run sent), else a conflict.
fn judge_recorded(
    record: &Record,
    parsed: &ParsedEvent,
    trial: &TrialId,
    key: &SigningKey,
    sent_now: bool,
) -> LineVerdict {
    if super::submit::same_event(record, parsed, trial, key) {
        let status = if sent_now {
            "recorded"
        } else {
            "already-recorded"
        };
        LineVerdict::Receipt(status, Box::new(Receipt::of(record, record.hash())))
    } else {
        LineVerdict::Refused {
            reason: tl_ledger::Reason::SubmissionIdConflict.code().to_string(),
            detail: super::submit::conflict_detail(record, parsed),
        }
    }
}

/// Collects verdicts by line and prints them in input order.
struct Printer {
    /// Each line's verdict, once known.
    results: Vec<Option<LineVerdict>>,
    /// Ticket number to (line index, the bytes sent).
    tickets: std::collections::HashMap<u64, (usize, tl_schemas::SignedSubmission)>,
    /// The first line not printed yet.
    next: usize,
    /// Lines refused.
    refused: usize,
    /// JSON objects instead of text.
    json: bool,
}

impl Printer {
    fn new(n: usize, json: bool) -> Self {
        Printer {
            results: (0..n).map(|_| None).collect(),
            tickets: Default::default(),
            next: 0,
            refused: 0,
            json,
        }
    }

    fn set(&mut self, i: usize, v: LineVerdict) {
        if matches!(v, LineVerdict::Refused { .. }) {
            self.refused += 1;
        }
        self.results[i] = Some(v);
    }

    fn pending(&mut self, ticket: u64, i: usize, signed: tl_schemas::SignedSubmission) {
        self.tickets.insert(ticket, (i, signed));
    }

    fn verdict(
        &mut self,
        ticket: u64,
        v: Verdict,
        lines: &[(usize, ParsedEvent)],
        trial: &TrialId,
        key: &SigningKey,
    ) {
        let Some((i, signed)) = self.tickets.remove(&ticket) else {
            return;
        };
        let v = match v {
            Verdict::Recorded { record, .. } => {
                let sent_now = record.body.submission == signed;
                judge_recorded(&record, &lines[i].1, trial, key, sent_now)
            }
            Verdict::Refused(r) => LineVerdict::Refused {
                reason: r.reason,
                detail: r.detail,
            },
        };
        self.set(i, v);
    }

    /// Prints every line whose verdict and every earlier line's are known.
    fn print_ready(&mut self, lines: &[(usize, ParsedEvent)]) -> Result<()> {
        while let Some(Some(v)) = self.results.get(self.next) {
            let line = lines[self.next].0;
            println!("{}", render(line, v, self.json)?);
            self.next += 1;
        }
        Ok(())
    }
}

/// One output line: `{"line": N, "status": ..., receipt or reason and detail}` with `--json`,
/// else `line N: recorded partition P seq S hash H` or `line N: refused REASON: DETAIL`.
fn render(line: usize, v: &LineVerdict, json: bool) -> Result<String> {
    Ok(match (v, json) {
        (LineVerdict::Receipt(status, r), true) => {
            let mut o = serde_json::to_value(r)?;
            o["status"] = (*status).into();
            o["line"] = line.into();
            serde_json::to_string(&o)?
        }
        (LineVerdict::Refused { reason, detail }, true) => serde_json::json!({
            "line": line, "status": "refused", "reason": reason, "detail": detail
        })
        .to_string(),
        (LineVerdict::Receipt(status, r), false) => format!(
            "line {line}: {status} partition {} seq {} record hash {}",
            r.partition, r.seq, r.record_hash
        ),
        (LineVerdict::Refused { reason, detail }, false) => {
            format!("line {line}: refused {reason}: {detail}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lines_derived_id_depends_on_the_trial_the_key_and_the_line_only() {
        let trial = TrialId::new("t.1").unwrap();
        let key = SigningKey::from_seed([3; 32]);
        let line = r#"{"event":"x"}"#;
        let id = derived_id(&trial, &key, line);
        assert_eq!(
            id,
            derived_id(&trial, &key, line),
            "a rerun derives the same id"
        );
        assert_ne!(id, derived_id(&trial, &key, r#"{"event":"y"}"#));
        assert_ne!(id, derived_id(&TrialId::new("t.2").unwrap(), &key, line));
        assert_ne!(
            id,
            derived_id(&trial, &SigningKey::from_seed([4; 32]), line)
        );
    }

    #[test]
    fn a_bad_line_is_named_and_the_file_is_refused() {
        let trial = TrialId::new("t.1").unwrap();
        let key = SigningKey::from_seed([3; 32]);
        let text = "\n{\"event\":\"PatientRegistered\",\"subject\":\"patient:P-1\",\"payload\":{\"tumour_type\":\"COAD\",\"site\":\"NKI\",\"registered_on\":\"2025-01-15\"}}\nnot json\n";
        let e = parse_lines(text, &trial, &key).unwrap_err();
        assert!(format!("{e:#}").starts_with("line 3"), "{e:#}");
    }
}
