//! Hosts a deciding service (tl-domain's matcher or cohort engine) on the embedded log (on
//! Kafka: [`crate::hosts::decider_kafka`]; both share [`run_cli`]): it
//! follows the ledger, lets the service decide on each new record, signs what it decides with
//! the service's key and submits it through the embedded sequencer.
//!
//! **Reading.** The ledger is read without the writer lock ([`EmbeddedReader`], the way
//! `verify` reads), so a service follows a ledger that others write. A partition is scanned
//! again only when its segment files grew; a frame still being written (torn tail) is left for
//! the next poll.
//!
//! **Writing, with several processes on one ledger.** The embedded writer is single: whoever
//! submits holds `DIR/ledger/LOCK` (an OS file lock, released when the holder exits or
//! crashes). A service therefore takes the lock only for a batch: it opens the writer (which
//! rebuilds the sequencer's state from the records), submits every decision due, flushes
//! (publishing checkpoints), and closes, releasing the lock. If another process holds the lock
//! (`submit`, the other service), it waits and tries again (`--once`: up to a minute; when
//! following: at the next poll). Decisions carry submission ids derived from their triggers, so
//! a batch interrupted half-way is simply submitted again: what was recorded comes back as
//! already recorded, never twice.
//!
//! **Restart.** A service keeps no state of its own: on start it replays the ledger from the
//! beginning, recognising the decisions it made before (they are no longer due), and submits
//! only what is missing.

use anyhow::{bail, Context, Result};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tl_domain::deciders::{DeciderError, DecidingService, Follower, LedgerRecord, RecordFeed};
use tl_domain::TrialRules;
use tl_ledger::embedded::{EmbeddedReader, ScanCursor, ScanEnd, StoreError};
use tl_ledger::trust::TrustFile;
use tl_ledger::{EmbeddedLedger, Outcome, SigningKey};
use tl_schemas::events::{event_type, KeyEnrolled, KeyRevoked};
use tl_schemas::{decode, KeyId, Role, SubmissionId, TrialId, UtcMicros};

/// How long a service runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    /// Catch up with the ledger, submit what is due, read it back, exit.
    Once,
    /// Follow the ledger until stopped, polling at this interval.
    Follow {
        /// Time between polls.
        poll: Duration,
    },
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Records read.
    pub records: u64,
    /// Decisions made over the whole ledger (replayed ones included).
    pub decided: u64,
    /// Decisions this run recorded.
    pub recorded: u64,
    /// Decisions found already recorded when submitted.
    pub already: u64,
    /// Decisions the sequencer refused.
    pub refused: u64,
}

/// Everything the ledger holds, read without the lock; partitions are rescanned only when
/// their files grew.
struct ScanFeed {
    /// The reader.
    reader: EmbeddedReader,
    /// Each partition's complete records.
    parts: Vec<Vec<Vec<u8>>>,
    /// Each partition's segment bytes at its last scan.
    bytes: Vec<u64>,
    /// Where each partition's next scan continues: each poll reads only what was appended.
    cursors: Vec<ScanCursor>,
}

impl ScanFeed {
    fn open(dir: &Path) -> Result<Self> {
        let reader = EmbeddedReader::open(dir)
            .with_context(|| format!("opening the ledger in {}", dir.display()))?;
        let n = reader.partition_count() as usize;
        Ok(ScanFeed {
            reader,
            parts: vec![Vec::new(); n],
            bytes: vec![u64::MAX; n],
            cursors: vec![ScanCursor::default(); n],
        })
    }

    fn refresh(&mut self) -> Result<()> {
        for p in 0..self.parts.len() {
            let size = self.reader.stored_bytes(p as u32)?;
            if size == self.bytes[p] {
                continue;
            }
            let scan = self.reader.scan_from(p as u32, &mut self.cursors[p])?;
            if let ScanEnd::Corrupt { seq, reason } = scan.end {
                bail!("partition {p} is damaged at seq {seq}: {reason}; run `trial-ledger verify`");
            }
            // A torn tail is a frame being written: its bytes are counted, so a later poll
            // reads it once it is complete (the cursor stops before it).
            self.bytes[p] = size;
            self.parts[p].extend(scan.records);
        }
        Ok(())
    }
}

impl RecordFeed for ScanFeed {
    fn partition_count(&self) -> u32 {
        self.parts.len() as u32
    }
    fn len(&self, p: u32) -> u64 {
        self.parts[p as usize].len() as u64
    }
    fn read(&self, p: u32, from: u64, max: usize) -> Result<Vec<Vec<u8>>, tl_ledger::Error> {
        let part = &self.parts[p as usize];
        let from = (from as usize).min(part.len());
        Ok(part[from..].iter().take(max).cloned().collect())
    }
}

/// Whether the service's key is enrolled (and not revoked) with the service's role, from the
/// registry records read so far.
#[derive(Default)]
pub(crate) struct KeyStatus {
    /// The role it was enrolled with, if it was.
    enrolled: Option<Role>,
    /// Revoked since.
    revoked: bool,
}

impl KeyStatus {
    /// Reads a record (only registry records count).
    pub(crate) fn read(&mut self, r: &LedgerRecord, me: &KeyId) {
        if r.record.body.partition != 0 {
            return;
        }
        let payload = &r.record.body.submission.submission.envelope.payload;
        match r.event_type() {
            event_type::KEY_ENROLLED => {
                if let Ok(k) = decode::<KeyEnrolled>(payload) {
                    if KeyId::of_ed25519(&k.public_key) == *me {
                        self.enrolled = Some(k.role);
                    }
                }
            }
            event_type::KEY_REVOKED => {
                if let Ok(k) = decode::<KeyRevoked>(payload) {
                    if k.key == *me {
                        self.revoked = true;
                    }
                }
            }
            _ => {}
        }
    }
}

impl KeyStatus {
    /// Whether the registry read so far lets `key` sign for `service`: enrolled with its
    /// role and not revoked; else the error to stop with.
    pub(crate) fn check<S: DecidingService>(
        &self,
        key: &KeyId,
        trial: &TrialId,
        service: &S,
    ) -> Result<()> {
        let role = service.role();
        let name = service.name();
        match self.enrolled {
            _ if self.revoked => {
                bail!("key {key} is revoked in trial {trial}: the {name} cannot sign with it")
            }
            Some(r) if r == role => Ok(()),
            Some(r) => bail!(
                "key {key} is enrolled as {r:?}, not {role:?}: the {name} signs with a {name} key"
            ),
            None => bail!(
                "key {key} is not enrolled in trial {trial} (enrol it with `trial-ledger keys enrol`)"
            ),
        }
    }
}

/// Where a host's decisions are sequenced.
enum Sink {
    /// The embedded writer, opened (taking the writer lock) for each batch with this
    /// sequencer key.
    Writer(Box<SigningKey>),
    /// The submit handle of a sequencer running in this process (`trial-ledger up`), which
    /// holds the writer lock for good.
    Handle(tl_ledger::SubmitHandle),
    /// A running `trial-ledger serve` (`--url`), which holds the writer lock: decisions are
    /// posted to its API, the ledger is still read from the data folder without the lock.
    Remote(Box<crate::cli::remote::Remote>),
}

/// A decision's fate, whichever way it was sequenced.
enum Fate {
    Recorded(u32, u64),
    Already(u32, u64),
    Refused(String, String),
}

/// A deciding service on a data folder's embedded ledger.
pub struct Host<S: DecidingService> {
    /// The service's core.
    service: S,
    /// The data folder.
    data: PathBuf,
    /// The trial (from the trust file).
    trust: TrustFile,
    /// The service's signing key.
    key: SigningKey,
    /// Where decisions go: the embedded writer, opened per batch, or a running sequencer.
    sink: Sink,
    /// Where the service is in the ledger.
    follower: Follower,
    /// The ledger as read.
    feed: ScanFeed,
    /// Decisions this process already submitted (recorded or found recorded), awaiting
    /// read-back: not submitted again.
    submitted: HashSet<SubmissionId>,
    /// The key's registry status.
    key_status: KeyStatus,
    /// What the run did.
    summary: RunSummary,
}

impl<S: DecidingService> Host<S> {
    /// A host for `service` on the data folder `data`, signing with `key`.
    pub fn new(data: &Path, service: S, key: SigningKey, sealer: SigningKey) -> Result<Self> {
        Self::with_sink(data, service, key, Sink::Writer(Box::new(sealer)))
    }

    /// A host whose decisions go through `handle`, the submit handle of the sequencer running
    /// in this process over the data folder `data` (`trial-ledger up`).
    pub fn with_handle(
        data: &Path,
        service: S,
        key: SigningKey,
        handle: tl_ledger::SubmitHandle,
    ) -> Result<Self> {
        Self::with_sink(data, service, key, Sink::Handle(handle))
    }

    /// A host whose decisions are posted to a running `trial-ledger serve` (`--url`), reading
    /// the data folder `data` without its lock; no sequencer key is needed.
    pub fn with_remote(
        data: &Path,
        service: S,
        key: SigningKey,
        remote: crate::cli::remote::Remote,
    ) -> Result<Self> {
        Self::with_sink(data, service, key, Sink::Remote(Box::new(remote)))
    }

    fn with_sink(data: &Path, service: S, key: SigningKey, sink: Sink) -> Result<Self> {
        let trust = crate::cli::cmd::read_trust(data)?;
        let feed = ScanFeed::open(&crate::cli::cmd::ledger_dir(data))?;
        Ok(Host {
            service,
            data: data.to_path_buf(),
            trust,
            key,
            sink,
            follower: Follower::new(),
            feed,
            submitted: HashSet::new(),
            key_status: KeyStatus::default(),
            summary: RunSummary::default(),
        })
    }

    fn trial(&self) -> TrialId {
        self.trust.trial()
    }

    /// Reads what is new and lets the service decide; returns how many records were read.
    fn read(&mut self) -> Result<usize> {
        self.feed.refresh()?;
        let records = self
            .follower
            .poll(&self.feed)
            .map_err(|e: DeciderError| anyhow::anyhow!(e))?;
        let me = self.key.key_id();
        for r in &records {
            self.key_status.read(r, &me);
            self.service.apply(r);
        }
        // Decisions read back are no longer awaited.
        let pending: HashSet<SubmissionId> = self
            .service
            .pending()
            .iter()
            .map(|d| d.submission_id)
            .collect();
        self.submitted.retain(|id| pending.contains(id));
        self.summary.records += records.len() as u64;
        self.summary.decided = self.service.decided();
        Ok(records.len())
    }

    fn check_key(&self) -> Result<()> {
        self.key_status
            .check(&self.key.key_id(), &self.trial(), &self.service)
    }

    /// The decisions due: pending and not submitted by this process yet.
    fn due(&self) -> usize {
        self.service
            .pending()
            .iter()
            .filter(|d| !self.submitted.contains(&d.submission_id))
            .count()
    }

    /// Submits every decision due: through the submit handle, or by opening the writer,
    /// submitting, flushing and closing. `Ok(false)` when the ledger is locked by another
    /// writer.
    fn submit_due(&mut self) -> Result<bool> {
        let mut ledger = match &self.sink {
            Sink::Handle(_) | Sink::Remote(_) => None,
            Sink::Writer(sealer) => {
                let dir = crate::cli::cmd::ledger_dir(&self.data);
                match EmbeddedLedger::open(&dir, &self.trust, TrialRules, (**sealer).clone()) {
                    Ok((l, _)) => Some(l),
                    Err(tl_ledger::Error::Store(StoreError::Locked { holder, .. })) => {
                        tracing::info!(?holder, "the ledger is locked by another writer; retrying");
                        return Ok(false);
                    }
                    Err(e) => return Err(e).context("opening the ledger's writer"),
                }
            }
        };
        let trial = self.trial();
        let due: Vec<_> = self
            .service
            .pending()
            .iter()
            .filter(|d| !self.submitted.contains(&d.submission_id))
            .cloned()
            .collect();
        let mut refused = Vec::new();
        for d in due {
            let now = UtcMicros::now();
            let signed = d.sign(&trial, &self.key, now);
            let fate = match (&mut ledger, &self.sink) {
                (Some(l), _) => match l.submit_decoded(signed, now)? {
                    Outcome::Sealed(s) => {
                        Fate::Recorded(s.record.body.partition, s.record.body.seq)
                    }
                    Outcome::Duplicate(r) => Fate::Already(r.partition, r.seq),
                    Outcome::Refused(r) => Fate::Refused(r.reason.code().to_string(), r.detail),
                },
                (None, Sink::Handle(h)) => match h.submit_blocking(tl_schemas::encode(&signed))? {
                    tl_ledger::Submitted::Recorded(r) => Fate::Recorded(r.partition, r.seq),
                    tl_ledger::Submitted::Duplicate(r) => Fate::Already(r.partition, r.seq),
                    tl_ledger::Submitted::Refused(r) => {
                        Fate::Refused(r.reason.code().to_string(), r.detail)
                    }
                },
                (None, Sink::Remote(r)) => remote_fate(r.submit(&signed)?),
                (None, Sink::Writer(_)) => unreachable!("the writer was opened above"),
            };
            match fate {
                Fate::Recorded(partition, seq) => {
                    self.summary.recorded += 1;
                    println!(
                        "recorded {} for {} at {partition}/{seq} (cites {})",
                        d.event_name,
                        d.subject,
                        d.cites.len()
                    );
                    self.submitted.insert(d.submission_id);
                }
                Fate::Already(partition, seq) => {
                    self.summary.already += 1;
                    tracing::info!(partition, seq, "decision already recorded");
                    self.submitted.insert(d.submission_id);
                }
                Fate::Refused(code, detail) => {
                    self.summary.refused += 1;
                    eprintln!(
                        "refused: {} for {}: {code}: {detail}",
                        d.event_name, d.subject
                    );
                    refused.push(d.submission_id);
                }
            }
        }
        if let Some(l) = ledger {
            l.close().context("closing the ledger's writer")?;
        }
        for id in refused {
            self.service.forget(&id);
        }
        Ok(true)
    }

    /// Runs until the mode says stop or `stop` is set (SIGTERM, Ctrl-C); the stop is checked
    /// between batches, never in the middle of one.
    pub fn run(&mut self, mode: RunMode, stop: &AtomicBool) -> Result<RunSummary> {
        let mut checked = false;
        let mut waiting_since: Option<Instant> = None;
        loop {
            self.read()?;
            if !checked {
                self.check_key()?;
                checked = true;
            }
            if self.due() > 0 {
                if self.submit_due()? {
                    waiting_since = None;
                    // Read the decisions back (and anything they trigger) at once.
                    continue;
                }
                let since = *waiting_since.get_or_insert_with(Instant::now);
                if mode == RunMode::Once && since.elapsed() > Duration::from_secs(60) {
                    bail!("the ledger stayed locked by another writer for a minute");
                }
            } else if mode == RunMode::Once {
                return Ok(self.summary.clone());
            }
            let pause = match mode {
                RunMode::Once => Duration::from_millis(200),
                RunMode::Follow { poll } => poll,
            };
            if sleep_unless_stopped(pause, stop) {
                return Ok(self.summary.clone());
            }
        }
    }
}

/// A decision's fate from the server's answer.
fn remote_fate(posted: crate::cli::remote::Posted) -> Fate {
    use crate::cli::remote::Posted;
    match posted {
        Posted::Receipt { status, receipt } if status == "recorded" => {
            Fate::Recorded(receipt.partition, receipt.seq)
        }
        Posted::Receipt { receipt, .. } => Fate::Already(receipt.partition, receipt.seq),
        Posted::Refused { code, message } => Fate::Refused(code, message),
    }
}

/// Sleeps for `pause` in short slices; true if `stop` was set meanwhile.
pub(crate) fn sleep_unless_stopped(pause: Duration, stop: &AtomicBool) -> bool {
    let until = Instant::now() + pause;
    loop {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        let now = Instant::now();
        if now >= until {
            return false;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(50)));
    }
}

/// The command line of `matcher` and `cohort-engine`: checks the ledger (`--data DIR`: the
/// data folder and its sequencer key; `--kafka BOOTSTRAP --trial ID`: the trial's topics) and
/// the key file (its role must be the service's), then runs the service until `--once` is done
/// or SIGTERM / Ctrl-C. Exit code 0, or 1 if the sequencer refused a decision.
pub fn run_cli<S: DecidingService>(
    a: &crate::cli::ServiceArgs,
    service: S,
) -> Result<std::process::ExitCode> {
    let store = crate::cli::cmd::store(&a.store)?;
    if let crate::cli::cmd::Store::Embedded(data) = &store {
        crate::cli::cmd::read_trust(data)?;
        if a.url.is_none() {
            crate::cli::cmd::refuse_if_served(data)?;
        }
    } else if a.url.is_some() {
        bail!("--url posts the decisions of a service that reads the ledger from --data DIR");
    }
    let (key, km) = crate::cli::secrets::load_key(&a.key)?;
    let role = service.role();
    if Role::parse(&km.role) != Some(role) {
        bail!(
            "key file {} has role `{}`; the {} signs with a `{role}` key",
            a.key.display(),
            km.role,
            service.name()
        );
    }
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        // The first signal asks for a stop between batches; a second one, while the first is
        // pending, exits at once (exit code 2).
        signal_hook::flag::register_conditional_shutdown(signal, 2, std::sync::Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(signal, std::sync::Arc::clone(&stop)))
            .context("installing the signal handlers")?;
    }
    let mode = if a.once {
        RunMode::Once
    } else {
        RunMode::Follow {
            poll: Duration::from_millis(a.poll_ms),
        }
    };
    let name = service.name();
    let s = match store {
        crate::cli::cmd::Store::Embedded(data) => match &a.url {
            Some(url) => {
                let remote = crate::cli::remote::Remote::new(url)?;
                let trial = crate::cli::cmd::read_trust(&data)?.trial();
                // The server must be this folder's: decisions are signed for its trial.
                remote.trial(Some(trial.as_str()))?;
                Host::with_remote(&data, service, key, remote)?.run(mode, &stop)?
            }
            None => {
                let sealer = crate::cli::secrets::load_sequencer_key(&data)?;
                Host::new(&data, service, key, sealer)?.run(mode, &stop)?
            }
        },
        crate::cli::cmd::Store::Kafka(cfg) => {
            crate::hosts::decider_kafka::KafkaHost::connect(&cfg, service, key)?.run(mode, &stop)?
        }
    };
    eprintln!(
        "{name}: {} records read, {} decisions in all; {} recorded now, {} already recorded, {} refused",
        s.records, s.decided, s.recorded, s.already, s.refused
    );
    Ok(if s.refused > 0 {
        std::process::ExitCode::from(crate::EXIT_NEGATIVE)
    } else {
        std::process::ExitCode::SUCCESS
    })
}
