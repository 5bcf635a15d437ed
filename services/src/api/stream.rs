//! The live safety stream: `GET /v1/safety/stream` (Server-Sent Events).
//!
//! **What.** A follower thread ([`SafetyHub::follow`]) reads the ledger in its merged order
//! (the deciders' [`Follower`], handing out only what the published checkpoints show settled),
//! applies every record to the projections' model, and after each record compares the state of
//! the adverse events and deaths of the patients it touched with their state before it. Every
//! change is an event: an adverse event reported, updated or corrected (or re-derived by
//! another record of the patient, such as the first dose naming the drug), or a death. Each
//! event carries the AE's state after the record (seriousness, worst grade, SUSAR status and
//! due date), the patient's pseudonym, site, cohort and drug, the term, and the record's
//! partition, seq and hash. These are the values the safety view writes, so a client that
//! folds the stream holds the view's adverse events. The follower keeps each patient's facts
//! folded record by record rather than re-deriving them ([`super::safety_fold`]).
//!
//! **Order and resumption.** Events keep the merged order. An event's SSE `id` is the cursor
//! of the merged prefix through its record: the last seq of every partition read so far
//! (`p0:123,p3:45`), with `~k` added when its record produced more events than this one and
//! this is the `k`-th (from 0). The set of records in a prefix is closed under the merged order,
//! so a client that reconnects with `Last-Event-ID` (or `?after=`) gets exactly the events
//! after it. The order depends only on the ledger, so the same holds after a server restart.
//!
//! **Filters** (`cohort`, `drug`, `min_grade`, `serious`) apply to the state after the record;
//! an event whose AE matched before the record and no longer does is still delivered, with
//! `"retract": true`. A death counts as grade 5 and serious. A token scoped to a cohort or a
//! site sees only that cohort's or site's patients.
//!
//! The follower does not re-verify: on the embedded log the server is the sequencer, and the
//! records it reads are the ones it sealed. On Kafka (`serve --kafka`) the rounds come from
//! `hosts::kafka_api::follow_stream`: the committed ledger (`read_committed`, so an aborted
//! transaction is never read), every partition read to its committed end twice per round, and
//! only what `Follower::poll_settled` finds settled handed on; cursors are the same.

use super::auth::{forbidden, ApiRole, Caller};
use super::error::{ApiError, ErrorBody};
use super::safety_fold::Tracker;
use super::ApiState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tl_domain::deciders::{Follower, LedgerRecord, RecordFeed};
use tl_ledger::embedded::{EmbeddedReader, ScanCursor, ScanEnd};

/// How often an idle stream sends a comment line, so proxies keep it open.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// The fields a filter looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Filterable {
    pub(super) site: Option<String>,
    pub(super) cohort: Option<String>,
    pub(super) drug: Option<String>,
    pub(super) grade: u8,
    pub(super) serious: bool,
}

/// One event of the stream, as sent (JSON in the SSE `data` of a `safety` event, with
/// `retract`: true when the AE no longer matches the client's filter).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SafetyEvent {
    /// `reported`, `updated`, `corrected` (the record is a correction) or `death`.
    pub kind: &'static str,
    /// The record's partition.
    pub partition: u32,
    /// The record's seq.
    pub seq: u64,
    /// The record's hash (hex).
    pub record_hash: String,
    /// The record's ordering time.
    pub ordering_time: String,
    /// The record's event type.
    pub event: String,
    /// Patient pseudonym.
    pub patient: String,
    /// The patient's site.
    pub site: Option<String>,
    /// The patient's cohort.
    pub cohort: Option<String>,
    /// The drug (the first dose's).
    pub drug: Option<String>,
    /// The AE's id (none for a death).
    pub ae_id: Option<u32>,
    /// CTCAE term, or the cause of death.
    pub term: String,
    /// Worst grade so far (5 for a death).
    pub grade: u8,
    /// Serious (a death is).
    pub serious: bool,
    /// Seriousness criteria as last reported.
    pub seriousness: Vec<String>,
    /// Whether the AE is a SUSAR as last reported.
    pub susar: bool,
    /// The SUSAR report's due date (the client computes overdue).
    pub susar_due: Option<String>,
    /// The SUSAR reporting window, days.
    pub susar_window_days: Option<i32>,
    /// The state before this record, for retractions (not sent).
    #[serde(skip)]
    pub(super) before: Option<Filterable>,
}

impl SafetyEvent {
    fn after(&self) -> Filterable {
        Filterable {
            site: self.site.clone(),
            cohort: self.cohort.clone(),
            drug: self.drug.clone(),
            grade: self.grade,
            serious: self.serious,
        }
    }
}

/// An event and where it stands in the merged order.
#[derive(Debug)]
struct Stamped {
    event: SafetyEvent,
    /// The last seq read of each partition, through this event's record.
    cursor: Vec<Option<u64>>,
    /// Its index among its record's events, and how many the record produced.
    part: (usize, usize),
}

impl Stamped {
    fn id(&self) -> String {
        let base = cursor_text(&self.cursor);
        if self.part.0 + 1 < self.part.1 {
            format!("{base}~{}", self.part.0)
        } else {
            base
        }
    }
}

fn cursor_text(c: &[Option<u64>]) -> String {
    c.iter()
        .enumerate()
        .filter_map(|(p, s)| s.map(|s| format!("p{p}:{s}")))
        .collect::<Vec<_>>()
        .join(",")
}

pub use super::wire::Cursor;

impl Cursor {
    /// Whether the client holding this cursor has had `e`: its record is in the cursor's
    /// prefix, and, for the cursor's own record when it gave several events, `e` is not one
    /// after the `~k`-th.
    fn delivered(&self, e: &Stamped) -> bool {
        let covered = self
            .last
            .get(&e.event.partition)
            .is_some_and(|s| e.event.seq <= *s);
        match self.within {
            Some(k) if covered && e.part.0 > k => {
                let at: Vec<(u32, u64)> = e
                    .cursor
                    .iter()
                    .enumerate()
                    .filter_map(|(p, s)| s.map(|s| (p as u32, s)))
                    .collect();
                let mine: Vec<(u32, u64)> = self.last.iter().map(|(p, s)| (*p, *s)).collect();
                at != mine
            }
            _ => covered,
        }
    }
}

/// Every safety event so far, in the merged order, and a signal for new ones.
pub struct SafetyHub {
    events: RwLock<Vec<Arc<Stamped>>>,
    grew: tokio::sync::watch::Sender<usize>,
    /// Set once the follower has read everything there was when it started.
    caught_up: AtomicBool,
    /// Why the follower stopped, if it did.
    failed: RwLock<Option<String>>,
    /// Set when the server stops: streams end, so the server's graceful shutdown can finish.
    stopped: AtomicBool,
}

/// Most safety streams one token may hold open at once by default (`--max-streams-per-token`).
pub const DEFAULT_MAX_STREAMS_PER_TOKEN: usize = 8;

/// The safety streams each token holds open, and how many it may: a stream beyond the limit
/// is refused with 429 `too-many-streams` (the server issue, "concurrent streams per token").
/// One per server, shared by every stream ([`super::ApiState::streams`]).
pub struct StreamSlots {
    limit: usize,
    open: Mutex<HashMap<String, usize>>,
}

impl StreamSlots {
    /// At most `limit` open streams per token (at least 1).
    pub fn new(limit: usize) -> Self {
        StreamSlots {
            limit: limit.max(1),
            open: Mutex::new(HashMap::new()),
        }
    }

    /// A slot for one more stream of the token with id `token` (its id, never its text), or
    /// 429 `too-many-streams` when it holds its limit already.
    fn take(self: &Arc<Self>, token: &str) -> Result<StreamSlot, ApiError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(token.to_string()).or_insert(0);
        if *n >= self.limit {
            let limit = self.limit;
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-streams",
                format!(
                    "token {token} already holds {limit} open safety streams, the most one \
                     token may hold; close one first (one stream carries every filter's \
                     events)"
                ),
            ));
        }
        *n += 1;
        Ok(StreamSlot {
            slots: self.clone(),
            token: token.to_string(),
        })
    }
}

impl Default for StreamSlots {
    fn default() -> Self {
        StreamSlots::new(DEFAULT_MAX_STREAMS_PER_TOKEN)
    }
}

/// One open stream of a token. It is owned by the SSE response body, so it is given back
/// when the body is dropped: the client disconnected, or the stream ended because the server
/// is stopping.
struct StreamSlot {
    slots: Arc<StreamSlots>,
    token: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.token) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.token);
            }
        }
    }
}

impl Default for SafetyHub {
    fn default() -> Self {
        SafetyHub {
            events: RwLock::new(Vec::new()),
            grew: tokio::sync::watch::channel(0).0,
            caught_up: AtomicBool::new(false),
            failed: RwLock::new(None),
            stopped: AtomicBool::new(false),
        }
    }
}

/// The embedded store, re-scanned when a partition's bytes grew.
struct Feed {
    reader: EmbeddedReader,
    parts: Vec<Vec<Vec<u8>>>,
    bytes: Vec<u64>,
    /// Where each partition's next scan continues: each poll reads only what was appended.
    cursors: Vec<ScanCursor>,
}

impl Feed {
    fn refresh(&mut self) -> Result<(), String> {
        for p in 0..self.parts.len() {
            let size = self
                .reader
                .stored_bytes(p as u32)
                .map_err(|e| e.to_string())?;
            if size == self.bytes[p] {
                continue;
            }
            let scan = self
                .reader
                .scan_from(p as u32, &mut self.cursors[p])
                .map_err(|e| e.to_string())?;
            if let ScanEnd::Corrupt { seq, reason } = scan.end {
                return Err(format!("partition {p} is damaged at seq {seq}: {reason}"));
            }
            self.bytes[p] = size;
            self.parts[p].extend(scan.records);
        }
        Ok(())
    }
}

/// The size of each partition's newest published checkpoint, read from the checkpoint files
/// as they grow. `serve` publishes after every group commit while idle (at most every 20 ms
/// while busy), so the files grow by one note per batch or period: each poll reads only the bytes appended since the last one, not the whole file
/// (which made every poll cost in proportion to the ledger's history).
struct Published {
    /// Each partition's checkpoint file.
    paths: Vec<PathBuf>,
    /// How many bytes of each file are read: the end of its last complete note.
    read: Vec<u64>,
    /// The size of each partition's newest checkpoint read so far.
    sizes: Vec<u64>,
}

impl Published {
    fn new(dir: &std::path::Path, n: usize) -> Self {
        Published {
            paths: (0..n as u32)
                .map(|p| tl_ledger::publish::checkpoint_path(dir, p))
                .collect(),
            read: vec![0; n],
            sizes: vec![0; n],
        }
    }

    /// Reads what each file gained; the newest sizes. A file that cannot be read now (not
    /// yet written, or an append in progress) keeps the size last read.
    fn refresh(&mut self) -> Vec<u64> {
        use std::io::{Read, Seek, SeekFrom};
        for p in 0..self.paths.len() {
            let Ok(mut f) = std::fs::File::open(&self.paths[p]) else {
                continue;
            };
            let mut fresh = Vec::new();
            if f.seek(SeekFrom::Start(self.read[p])).is_err() || f.read_to_end(&mut fresh).is_err()
            {
                continue;
            }
            let end = tl_ledger::publish::ListEnd::TornTailAllowed;
            if let Ok(list) = tl_ledger::publish::parse_note_bytes(&fresh, end) {
                self.read[p] += list.complete_len as u64;
                if let Some(last) = list.notes.last() {
                    self.sizes[p] = last.unverified().size;
                }
            }
        }
        self.sizes.clone()
    }
}

impl RecordFeed for Feed {
    fn partition_count(&self) -> u32 {
        self.parts.len() as u32
    }
    fn len(&self, partition: u32) -> u64 {
        self.parts[partition as usize].len() as u64
    }
    fn read(
        &self,
        partition: u32,
        from: u64,
        max: usize,
    ) -> Result<Vec<Vec<u8>>, tl_ledger::Error> {
        let all = &self.parts[partition as usize];
        let from = (from as usize).min(all.len());
        Ok(all[from..(from + max).min(all.len())].to_vec())
    }
}

impl SafetyHub {
    /// Ends every stream (the server is stopping) and the follower.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        self.grew.send_modify(|_| {});
    }

    /// Follows the ledger in `ledger_dir` until `stop` is set, publishing events. Blocking:
    /// run it on its own thread.
    pub fn follow(self: &Arc<Self>, ledger_dir: PathBuf) {
        let reader = match EmbeddedReader::open(&ledger_dir) {
            Ok(r) => r,
            Err(e) => return self.fail(e.to_string()),
        };
        let n = reader.partition_count() as usize;
        let mut feed = Feed {
            reader,
            parts: vec![Vec::new(); n],
            bytes: vec![u64::MAX; n],
            cursors: vec![ScanCursor::default(); n],
        };
        let mut published = Published::new(&ledger_dir, n);
        self.follow_rounds(n, |follower| {
            // Checkpoints first: a checkpoint is published only over durable records, so
            // everything it covers is read by the scan that follows.
            let settled = published.refresh();
            feed.refresh()?;
            follower
                .poll_settled(&feed, &settled)
                .map_err(|e| e.to_string())
        });
    }

    /// Records why the follower stopped; streams say so and end.
    pub fn fail(&self, why: String) {
        tracing::error!(error = %why, "the safety stream's follower stopped");
        *self.failed.write().unwrap_or_else(|p| p.into_inner()) = Some(why);
        self.grew.send_modify(|_| {});
    }

    /// Follows a ledger of `n` partitions until the hub stops, publishing events: `round`
    /// returns the records the follower finds settled now, in merged order (the embedded
    /// store's checkpoints or Kafka's committed ends say what is settled). Blocking.
    pub fn follow_rounds(
        self: &Arc<Self>,
        n: usize,
        mut round: impl FnMut(&mut Follower) -> Result<Vec<LedgerRecord>, String>,
    ) {
        let mut follower = Follower::new();
        let mut tracker = Tracker::default();
        let mut last: Vec<Option<u64>> = vec![None; n];
        while !self.stopped.load(Ordering::Relaxed) {
            let records = match round(&mut follower) {
                Ok(r) => r,
                Err(e) => return self.fail(e),
            };
            let mut fresh = Vec::new();
            let empty = records.is_empty();
            for r in records {
                let b = &r.record.body;
                last[b.partition as usize] = Some(b.seq);
                let events = tracker.apply(r);
                let count = events.len();
                fresh.extend(events.into_iter().enumerate().map(|(i, event)| {
                    Arc::new(Stamped {
                        event,
                        cursor: last.clone(),
                        part: (i, count),
                    })
                }));
            }
            if !fresh.is_empty() {
                let total = {
                    let mut all = self.events.write().unwrap_or_else(|p| p.into_inner());
                    all.extend(fresh);
                    all.len()
                };
                self.grew.send_replace(total);
            }
            if empty {
                if !self.caught_up.swap(true, Ordering::Relaxed) {
                    // Streams waiting to say `caught-up` wake up.
                    self.grew.send_modify(|_| {});
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// The stream's query: filters, and a cursor for clients that cannot set `Last-Event-ID`.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Only this cohort's patients.
    pub cohort: Option<String>,
    /// Only patients on this drug.
    pub drug: Option<String>,
    /// Only AEs of at least this worst grade (1-5).
    #[param(minimum = 1, maximum = 5)]
    pub min_grade: Option<u8>,
    /// Only serious AEs.
    pub serious: Option<bool>,
    /// Resume after this cursor (as `Last-Event-ID`).
    pub after: Option<String>,
}

/// A client's filter, with its token's scopes folded in.
#[derive(Clone, Debug)]
struct Filter {
    site: Option<String>,
    cohort: Option<String>,
    drug: Option<String>,
    min_grade: u8,
    serious: bool,
}

impl Filter {
    fn matches(&self, f: &Filterable) -> bool {
        self.cohort
            .as_ref()
            .is_none_or(|c| f.cohort.as_ref() == Some(c))
            && self
                .drug
                .as_ref()
                .is_none_or(|d| f.drug.as_ref() == Some(d))
            && f.grade >= self.min_grade
            && (!self.serious || f.serious)
    }

    /// Whether to send `e`, and whether as a retraction. A token's site scope is not a
    /// filter a client chose: events of other sites are never sent, not even as retractions.
    fn decide(&self, e: &SafetyEvent) -> Option<bool> {
        if self
            .site
            .as_ref()
            .is_some_and(|s| e.site.as_ref() != Some(s))
        {
            return None;
        }
        let now = self.matches(&e.after());
        let was = e.before.as_ref().is_some_and(|b| self.matches(b));
        (now || was).then_some(!now)
    }
}

/// The routes of this concern.
pub fn router() -> utoipa_axum::router::OpenApiRouter<Arc<ApiState>> {
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(stream))
}

#[utoipa::path(
    get,
    path = "/v1/safety/stream",
    operation_id = "safetyStream",
    summary = "The live safety stream (Server-Sent Events)",
    tag = "safety",
    description = "The live safety stream, Server-Sent Events in the ledger's merged order: \
                   `safety` events (data: a `SafetyEvent` as JSON, with `retract`), one \
                   `caught-up` once the history is sent, `error` if the follower fails; comment \
                   heartbeats every 15 s. Each event's `id` is a cursor (`p0:123,p3:45`): \
                   reconnect with `Last-Event-ID` (or `?after=`) to get exactly what follows. \
                   Roles `auditor`, `safety`, `dsmb`, `site` (its own patients). In the access \
                   log. A token may hold a limited number of streams open at once (429 \
                   beyond).",
    params(
        StreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this cursor (the `id` of the last event received)"),
    ),
    responses(
        (status = 200, description = "The stream (never ends on its own)", body = String, content_type = "text/event-stream"),
        (status = 400, description = "A cursor this stream did not give, or a grade outside 1-5 (`bad-request`)", body = ErrorBody),
        (status = 404, description = "No such cohort in the ledger (`not-found`)", body = ErrorBody),
        (status = 429, description = "The token already holds its most open streams (`too-many-streams`; `serve --max-streams-per-token`, 8 by default)", body = ErrorBody),
        (status = 503, description = "The views cannot be read (`unavailable`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
async fn stream(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<StreamQuery>,
) -> Result<Sse<impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>>>, ApiError>
{
    use ApiRole::*;
    caller.require(&[Auditor, Safety, Dsmb, Site], "the safety stream")?;
    let cohort = caller.cohort_scope(q.cohort.as_deref())?;
    if let Some(g) = q.min_grade {
        if !(1..=5).contains(&g) {
            return Err(ApiError::bad_request(format!(
                "min_grade {g}: CTCAE grades are 1 to 5"
            )));
        }
    }
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(q.after.clone())
        .unwrap_or_default();
    let cursor = Cursor::parse(&resume).map_err(|e| {
        ApiError::bad_request(format!(
            "the cursor {resume:?} is not one this stream gave: {e}"
        ))
    })?;
    if let Some(p) = cursor.last.keys().find(|p| **p >= state.partitions) {
        // A cursor naming a partition the trial lacks was once taken as the start of the
        // ledger for every other partition (found while probing the OpenAPI document's 400s).
        return Err(ApiError::bad_request(format!(
            "the cursor {resume:?} is not one this stream gave: the trial has no partition {p} \
             (it has {})",
            state.partitions
        )));
    }
    if let Some(c) = &cohort {
        let st = state.clone();
        let c2 = c.clone();
        let known = tokio::task::spawn_blocking(move || {
            st.reads.with_views(|p| {
                Ok(p.view(tl_projections::ViewKind::Enrollment)
                    .conn()
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM cohorts WHERE cohort = ?1)",
                        [&c2],
                        |r| r.get::<_, bool>(0),
                    )
                    .unwrap_or(false))
            })
        })
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))??
        .0;
        if !known {
            return Err(ApiError::not_found(format!(
                "no cohort {c:?} in the ledger"
            )));
        }
    }
    if caller.token.site.is_some() && caller.token.role != Site && caller.token.role != Auditor {
        return Err(forbidden(
            "this token's site scope does not cover the stream",
        ));
    }
    let filter = Filter {
        site: caller.token.site.clone(),
        cohort,
        drug: q.drug,
        min_grade: q.min_grade.unwrap_or(0),
        serious: q.serious.unwrap_or(false),
    };
    // Taken before the read is logged, so a refused stream is not logged as granted.
    let slot = state.streams.take(&caller.token.id)?;
    let subject = format!("stream:{}", cursor.list_text());
    state
        .audit(&caller, "/v1/safety/stream", &subject, StatusCode::OK)
        .await?;
    let hub = state.safety.clone();
    let stream = async_stream::stream! {
        // Counted while the client is connected (dropped with the stream).
        let _client = super::metrics::StreamClient::connect();
        // The slot is moved into the stream, which the response body owns: it is given back
        // when the body is dropped (the client went away, or the stream ended).
        let _slot = slot;
        let mut rx = hub.grew.subscribe();
        // Skipping what the cursor covers is checked per event: after a restart the follower
        // may still be replaying the ledger when the client comes back.
        let mut next = 0;
        let mut told_caught_up = false;
        loop {
            let batch: Vec<Arc<Stamped>> = {
                let all = hub.events.read().unwrap_or_else(|p| p.into_inner());
                all[next.min(all.len())..].to_vec()
            };
            next += batch.len();
            for e in batch {
                if cursor.delivered(&e) {
                    continue;
                }
                if let Some(retract) = filter.decide(&e.event) {
                    let mut v = serde_json::to_value(&e.event).unwrap_or_default();
                    v["retract"] = retract.into();
                    yield Ok::<Event, std::convert::Infallible>(Event::default().id(e.id()).event("safety").data(v.to_string()));
                }
            }
            if !told_caught_up && hub.caught_up.load(Ordering::Relaxed) {
                told_caught_up = true;
                let n = hub.events.read().unwrap_or_else(|p| p.into_inner()).len();
                if next >= n {
                    yield Ok::<Event, std::convert::Infallible>(Event::default().event("caught-up").data("{}"));
                } else {
                    told_caught_up = false;
                    continue;
                }
            }
            if hub.stopped.load(Ordering::Relaxed) {
                break;
            }
            let failed = hub.failed.read().unwrap_or_else(|p| p.into_inner()).clone();
            if let Some(why) = failed {
                yield Ok::<Event, std::convert::Infallible>(Event::default().event("error").data(serde_json::json!({"message": why}).to_string()));
                break;
            }
            if rx.changed().await.is_err() {
                break;
            }
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(HEARTBEAT)))
}
