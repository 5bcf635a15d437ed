// The safety board's dashboard: live feed over the safety stream, reporting clocks and the
// safety tables, as of the ledger position (or frozen cut) each says.
import { ApiError, asOf, askForToken, cut, el, explain, getJson, positions,
  recordLink, reopenSession, withCut } from '/safety/assets/common.js';
import { renderTables, showRecords } from '/safety/assets/tables.js';

/** Most feed rows shown at once (newest first); narrower filters show the rest. */
const FEED_LIMIT = 500;
const DAY_MS = 86_400_000;

const feed = {
  es: null,          // the EventSource
  cursor: null,      // the id of the last event received (the stream's cursor)
  rows: new Map(),   // key -> {event, order, tr}
  order: 0,          // arrival counter: newest first
  caughtUp: false,   // the history is delivered; later events are live
  received: 0,       // safety events received (history included)
  retracted: 0,
  reconnects: 0,
  retryMs: 1000,
  timer: null,
  drawTimer: null,   // draws the rows while the history arrives
  filters: new URLSearchParams(),
};

const clocks = { rows: [], timer: null };

// ---------------------------------------------------------------- the feed

function feedKey(e) {
  return e.ae_id === null || e.ae_id === undefined ? `${e.patient}#death` : `${e.patient}#${e.ae_id}`;
}

function shortTime(t) {
  return t ? t.replace('T', ' ').replace(/\.\d+/, '').replace(/\+00:00$|Z$/, ' UTC') : '';
}

function feedRow(e, id) {
  const flagged = e.serious || e.grade >= 3;
  const tr = el('tr', {
    class: [e.serious ? 'sae' : '', e.grade >= 3 ? 'g3' : ''].join(' ').trim() || undefined,
    'data-key': feedKey(e), 'data-grade': e.grade, 'data-serious': String(e.serious), 'data-id': id,
  });
  const badges = el('td');
  if (e.serious) badges.append(el('span', { class: 'badge sae' }, e.kind === 'death' ? 'death' : 'serious'), ' ');
  badges.append(e.seriousness.filter((s) => s !== 'Death').join(', '));
  tr.append(
    el('td', {}, shortTime(e.ordering_time)),
    el('td', {}, e.kind),
    el('td', {}, el('a', { href: `/v1/subjects/patient:${encodeURIComponent(e.patient)}/trail` }, e.patient)),
    el('td', {}, e.cohort ?? '—'),
    el('td', {}, e.drug ?? '—'),
    el('td', {}, e.term),
    el('td', {}, flagged && e.grade >= 3 ? el('span', { class: 'badge g3' }, `grade ${e.grade}`) : `grade ${e.grade}`),
    badges,
    el('td', {}, e.susar ? `${e.susar_due} (${e.susar_window_days} d)` : ''),
    el('td', {}, recordLink({ partition: e.partition, seq: e.seq, hash: e.record_hash })),
  );
  return tr;
}

function renderFeedStatus(text) {
  const shown = document.querySelectorAll('#feed-table tbody tr').length;
  const at = feed.cursor ? ` Last event ${feed.cursor}.` : '';
  const section = document.getElementById('feed');
  section.dataset.received = String(feed.received);
  section.dataset.retracted = String(feed.retracted);
  section.dataset.reconnects = String(feed.reconnects);
  document.getElementById('feed-status').textContent =
    `${text} ${feed.rows.size} adverse events and deaths in the filter, ${shown} shown; ` +
    `${feed.received} stream events received, ${feed.retracted} retracted.${at}`;
  document.getElementById('feed-more').textContent = feed.rows.size > shown
    ? `${feed.rows.size - shown} older rows are not shown; narrow the filters to see them.` : '';
}

/** Draws every row at once (after the history arrives). */
function renderFeed() {
  const body = document.querySelector('#feed-table tbody');
  const list = [...feed.rows.values()].sort((a, b) => b.order - a.order).slice(0, FEED_LIMIT);
  body.replaceChildren(...list.map((r) => (r.tr = feedRow(r.event, r.id))));
}

function onSafety(ev) {
  const e = JSON.parse(ev.data);
  feed.cursor = ev.lastEventId || feed.cursor;
  feed.received += 1;
  const key = feedKey(e);
  const old = feed.rows.get(key);
  if (old?.tr) old.tr.remove();
  if (e.retract) {
    feed.rows.delete(key);
    feed.retracted += 1;
  } else {
    const row = { event: e, id: ev.lastEventId, order: ++feed.order, tr: null };
    feed.rows.set(key, row);
    if (feed.caughtUp) {
      const body = document.querySelector('#feed-table tbody');
      row.tr = feedRow(e, row.id);
      body.prepend(row.tr);
      while (body.rows.length > FEED_LIMIT) body.lastElementChild.remove();
    }
  }
  if (feed.caughtUp) {
    renderFeedStatus('Live.');
    if (e.susar || e.serious) scheduleClocksReload();
  } else if (!feed.drawTimer) {
    // While the history arrives, the rows are drawn a few times a second, not per event.
    feed.drawTimer = setTimeout(() => {
      feed.drawTimer = null;
      if (!feed.caughtUp) {
        renderFeed();
        renderFeedStatus('Loading the history.');
      }
    }, 150);
  }
}

function onCaughtUp() {
  if (!feed.caughtUp) {
    feed.caughtUp = true;
    renderFeed();
  }
  feed.retryMs = 1000;
  document.getElementById('feed').dataset.state = 'live';
  renderFeedStatus('Live.');
}

function streamUrl() {
  const q = new URLSearchParams(feed.filters);
  if (feed.cursor) q.set('after', feed.cursor);
  const s = q.toString();
  return '/v1/safety/stream' + (s ? `?${s}` : '');
}

/** Opens the stream from the last cursor (none: from the start). The browser's own
 * reconnection sends `Last-Event-ID`; when it gives up (the server refused the reconnection,
 * for example a restarted server that forgot the session) this opens a new session with the
 * tab's token and a new stream after the last cursor. Either way nothing is missed or repeated. */
function connect() {
  clearTimeout(feed.timer);
  feed.es?.close();
  const es = new EventSource(streamUrl(), { withCredentials: true });
  feed.es = es;
  es.addEventListener('safety', onSafety);
  es.addEventListener('caught-up', onCaughtUp);
  es.addEventListener('open', () => {
    document.getElementById('feed').dataset.state = feed.caughtUp ? 'live' : 'loading';
    renderFeedStatus(feed.caughtUp ? 'Reconnected; catching up.' : 'Connected; loading the history.');
  });
  es.addEventListener('error', (ev) => {
    if (ev.data) {            // the stream's own `error` event: the follower stopped
      renderFeedStatus(`The server's stream failed: ${JSON.parse(ev.data).message}.`);
    }
    if (es !== feed.es) return;
    document.getElementById('feed').dataset.state = 'reconnecting';
    if (es.readyState === EventSource.CLOSED) {
      feed.reconnects += 1;
      renderFeedStatus(`Connection lost; reconnecting in ${Math.round(feed.retryMs / 1000)} s.`);
      feed.timer = setTimeout(manualReconnect, feed.retryMs);
      feed.retryMs = Math.min(feed.retryMs * 2, 10_000);
    } else {
      renderFeedStatus('Connection lost; the browser is reconnecting.');
    }
  });
}

async function manualReconnect() {
  // Why did the stream end? A missing session is 401: open a new one if this tab has a token.
  try {
    await getJson('/v1/views/safety/cells?term=-&grade=0');
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      if (!(await reopenSession())) {
        feed.es?.close();
        askForToken(e.message, () => { connect(); loadViews(); });
        return;
      }
    } else if (!(e instanceof ApiError)) {
      // The server is still down.
      feed.timer = setTimeout(manualReconnect, feed.retryMs);
      feed.retryMs = Math.min(feed.retryMs * 2, 10_000);
      renderFeedStatus('The server does not answer; trying again.');
      return;
    }
  }
  connect();
}

function applyFilters(ev) {
  ev?.preventDefault();
  const form = document.getElementById('feed-filters');
  const q = new URLSearchParams();
  for (const name of ['cohort', 'drug', 'min_grade']) {
    const v = form.elements[name].value;
    if (v) q.set(name, v);
  }
  if (form.elements.serious.checked) q.set('serious', 'true');
  feed.filters = q;
  feed.rows.clear();
  feed.cursor = null;
  feed.caughtUp = false;
  feed.received = 0;
  feed.retracted = 0;
  document.getElementById('feed').dataset.state = 'loading';
  document.querySelector('#feed-table tbody').replaceChildren();
  connect();
}

// ---------------------------------------------------------------- reporting clocks

/** The instant a clock runs out: the end (24:00 UTC) of its last day on time. */
function deadline(dueDate) {
  return Date.parse(`${dueDate}T00:00:00Z`) + DAY_MS;
}

function left(ms) {
  const neg = ms < 0;
  let s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60);
  const text = d > 0 ? `${d} d ${h} h` : h > 0 ? `${h} h ${m} min` : `${m} min`;
  return neg ? `${text} overdue` : `${text} left`;
}

/** Time left and overdue, from this browser's clock (Playwright's `page.clock` moves it). */
function tickClocks() {
  const now = Date.now();
  for (const c of clocks.rows) {
    for (const k of c.perClock) {
      const over = k.deadline - now <= 0;
      k.badge.replaceChildren(over ? el('span', { class: 'badge overdue' }, 'overdue') : '');
    }
    if (c.deadline === null) continue;
    const ms = c.deadline - now;
    const over = ms <= 0;
    c.left.textContent = left(ms);
    c.status.replaceChildren(over
      ? el('span', { class: 'badge overdue' }, 'overdue')
      : el('span', { class: 'badge ontime' }, 'open'));
    c.tr.classList.toggle('overdue', over);
    c.tr.dataset.overdue = String(over);
  }
}

// The clock kinds as the tables serialise them (serde's snake_case of `Susar7Day` is
// `susar7_day`; tables.rs documents `susar_7_day`: both are named).
const CLOCK_NAMES = {
  susar7_day: 'SUSAR 7-day report', susar7_day_follow_up: 'its follow-up (8 further days)',
  susar15_day: 'SUSAR 15-day report',
  susar_7_day: 'SUSAR 7-day report', susar_7_day_follow_up: 'its follow-up (8 further days)',
  susar_15_day: 'SUSAR 15-day report',
};

/** One case's row: its clocks, and the cells `tickClocks` keeps current. */
function clockRow(c) {
  const key = `${c.patient}#${c.ae_id}`;
  const deadlineOf = c.next_due ? deadline(c.next_due) : null;
  const tr = el('tr', { 'data-case': key, 'data-due': c.next_due ?? '', 'data-susar': String(c.susar),
    'data-deadline': deadlineOf ? new Date(deadlineOf).toISOString() : '' });
  const perClock = [];
  const list = el('ul', { class: 'clocks' });
  for (const k of c.susar_clocks) {
    const badge = el('span');
    perClock.push({ deadline: deadline(k.due), badge });
    list.append(el('li', { 'data-kind': k.kind }, `${CLOCK_NAMES[k.kind] ?? k.kind}: due ${k.due} (day 0 ${k.day0}, ${k.window_days} days; started by `,
      recordLink(k.started_by), ` at ${shortTime(k.started_recorded_at)}) `, badge));
  }
  if (c.sae_clock) {
    const s = c.sae_clock;
    list.append(el('li', { 'data-kind': 'sae_24h' }, `Investigator's SAE report to the sponsor within 24 h: onset ${s.day0}, due ${s.due}; sponsor aware ${s.sponsor_aware_on}: `,
      s.on_time ? el('span', { class: 'badge ontime' }, 'on time') : el('span', { class: 'badge overdue' }, 'late (check)')));
  } else {
    list.append(el('li', { 'data-kind': 'sae_24h' }, 'Investigator\'s 24-hour SAE clock: no full onset date, no day 0'));
  }
  const leftCell = el('td', {}, c.next_due ? '' : '—');
  const status = el('td', {}, c.next_due ? '' : 'no SUSAR clock');
  const refs = el('td');
  for (const r of c.records) refs.append(recordLink(r), ' ');
  const serious = c.seriousness.length ? c.seriousness.join(', ') : 'not serious';
  tr.append(
    el('th', { scope: 'row' }, el('a', { href: `/v1/subjects/patient:${encodeURIComponent(c.patient)}/trail` }, c.patient), ` AE ${c.ae_id}`),
    el('td', {}, c.cohort ?? '—'),
    el('td', {}, `${c.ctcae_term}, grade ${c.grade}`),
    el('td', {}, c.susar ? el('span', { class: 'badge sae' }, 'SUSAR') : '', c.susar ? ' ' : '', serious,
      `; ${c.expected ? 'expected' : 'unexpected'} (${c.expectedness_by})`),
    el('td', {}, c.day0),
    el('td', {}, shortTime(c.recorded_at)),
    el('td', {}, list),
    el('td', {}, c.next_due ? `${c.next_due} (24:00 UTC)` : '—'),
    leftCell, status,
    el('td', { class: 'later' }, c.reported_at ?? '—'),
    refs,
  );
  return { tr, left: leftCell, status, perClock, deadline: deadlineOf };
}

function renderClocks(view) {
  const body = document.querySelector('#clocks-table tbody');
  const cases = view.clocks;
  document.getElementById('clocks-asof').textContent = asOf(view.freshness);
  clearInterval(clocks.timer);
  if (!cases) {
    clocks.rows = [];
    body.replaceChildren(el('tr', {}, el('td', { colspan: 12 },
      'The clocks are patient-level: this token\'s role sees the counts in the tables only.')));
    return;
  }
  const order = (c) => (c.next_due ? deadline(c.next_due) : Infinity);
  const sorted = [...cases].sort((a, b) => order(a) - order(b) || a.day0.localeCompare(b.day0));
  clocks.rows = sorted.map(clockRow);
  body.replaceChildren(...clocks.rows.map((c) => c.tr));
  tickClocks();
  clocks.timer = setInterval(tickClocks, 1000);
}

let reloadTimer = null;
function scheduleClocksReload() {
  if (cut()) return; // a frozen cut does not move
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(loadViews, 500);
}

// ---------------------------------------------------------------- the cut and the views

function showCut() {
  const at = cut();
  const stateText = at
    ? `Showing the frozen data cut ${at}: tables and clocks as of these signed checkpoints.`
    : 'Showing the live ledger: tables and clocks as of the latest position, which each table states.';
  document.getElementById('cut-state').textContent = stateText;
  document.getElementById('cut-at').value = at ?? '';
  document.getElementById('cut-live').hidden = !at;
  document.body.dataset.cut = at ?? '';
}

async function freezeCut() {
  const { checkpoints } = await getJson('/v1/checkpoints');
  const sizes = checkpoints.map((c) => (c.checkpoint ? Number(c.checkpoint.split('\n')[1]) : 0));
  location.search = `?at=${encodeURIComponent(positions(sizes))}`;
}

function fillFilterChoices(t) {
  const cohortSel = document.getElementById('f-cohort');
  const drugSel = document.getElementById('f-drug');
  if (cohortSel.options.length > 1) return;
  for (const c of t.columns.filter((x) => x.kind === 'cohort')) cohortSel.append(el('option', { value: c.cohort }, c.cohort));
  for (const c of t.columns.filter((x) => x.kind === 'drug')) drugSel.append(el('option', { value: c.drug }, c.drug));
}

async function loadViews() {
  try {
    // The safety board's tables and clocks (GET /v1/views/safety/tables: the `tables` of
    // `view safety --json`; the clocks and the deaths listing are null for a dsmb token).
    const t = await getJson(withCut('/v1/views/safety/tables'));
    fillFilterChoices(t);
    renderClocks(t);
    renderTables(t);
    document.getElementById('tables-asof').textContent = asOf(t.freshness);
    document.getElementById('tables').dataset.state = 'loaded';
    return true;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      if (await reopenSession()) return loadViews();
      askForToken(e.message, start);
      return false;
    }
    document.getElementById('tables-body').replaceChildren(el('p', { class: 'error', role: 'alert' }, explain(e)));
    return true;
  }
}

async function start() {
  showCut();
  // The stream and the views load side by side; without a session both are refused, and the
  // page asks for a token (then starts again).
  connect();
  if (!(await loadViews())) {
    clearTimeout(feed.timer);
    feed.es?.close();
  }
}

document.getElementById('feed-filters').addEventListener('submit', applyFilters);
document.getElementById('cut-freeze').addEventListener('click', () => freezeCut().catch((e) => {
  document.getElementById('cut-state').textContent = explain(e);
}));
document.getElementById('cut-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const at = document.getElementById('cut-at').value.trim();
  location.search = at ? `?at=${encodeURIComponent(at)}` : '';
});
document.addEventListener('click', (ev) => {
  const a = ev.target.closest('a[data-cell-key], a[data-refs]');
  if (!a) return;
  ev.preventDefault();
  showRecords(a);
});
start();
