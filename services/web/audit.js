// The auditor's page: pins a root key, fetches a subject's audit bundle from the API and runs
// verify.js on it in the browser, then shows every step and every record green or red.
// Served (`/audit/`): same origin, the session cookie of POST /v1/session. Saved copy (one file,
// opened from file://, marked by <meta name="tl-saved-copy">): any API address, the token sent
// as `Authorization: Bearer`.

import { verifyBundle, RECORD_CHECKS } from './verify.js';
import { fromHex, hex, keyId, splitNotes } from './wire.js';
import { recistComparison } from './recist.js';

const saved = !!document.querySelector('meta[name="tl-saved-copy"]');
const $ = (id) => document.getElementById(id);
let pinned = null;
let token = null;

/** An element with text and attributes; children appended. */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') e.textContent = v;
    else if (k === 'className') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function apiBase() {
  if (!saved) return '';
  return $('api-url').value.trim().replace(/\/+$/, '');
}

function authHeaders() {
  return saved && token ? { authorization: `Bearer ${token}` } : {};
}

async function errorText(res) {
  try {
    const j = await res.json();
    return `${j.code}: ${j.message}`;
  } catch {
    return `HTTP ${res.status}`;
  }
}

async function signIn(ev) {
  ev.preventDefault();
  const status = $('access-status');
  const text = $('token').value.trim();
  if (!text) {
    status.textContent = 'Not signed in: paste an API token first.';
    return;
  }
  if (saved) {
    if (!apiBase()) {
      status.textContent = 'Give the API address first.';
      return;
    }
    token = text;
    status.textContent = `The token will be sent to ${apiBase()} with each request.`;
    return;
  }
  try {
    const res = await fetch('/v1/session', { method: 'POST', headers: { authorization: `Bearer ${text}` } });
    if (!res.ok) {
      status.textContent = `Not signed in: the server refused the token (${await errorText(res)}).`;
      return;
    }
    const j = await res.json();
    $('token').value = '';
    status.textContent = `Signed in with token ${j.token} (role ${j.role}) for ${Math.round(j.expires_in / 3600)} hours.`;
  } catch (e) {
    status.textContent = `Not signed in: ${e.message}`;
  }
}

function pinFromHex() {
  const text = $('root-key').value.trim();
  const status = $('pin-status');
  if (!text) {
    pinned = null;
    status.textContent = 'No root key pinned.';
    return;
  }
  try {
    const root = fromHex(text);
    if (root.length !== 32) throw new Error('a root key is 32 bytes (64 hex digits)');
    pinned = { root };
    status.textContent = `Pinned root key ${hex(keyId(root))} (key id).`;
  } catch (e) {
    pinned = null;
    status.textContent = `Not pinned: ${e.message}.`;
  }
}

async function pinFromFile() {
  const file = $('trust-file').files[0];
  const status = $('pin-status');
  if (!file) return;
  try {
    const t = JSON.parse(await file.text());
    if (t.format !== 'trial-ledger-trust/v1') throw new Error(`format ${JSON.stringify(t.format)} is not trial-ledger-trust/v1`);
    const root = fromHex(String(t.root_public_key));
    if (root.length !== 32) throw new Error('root_public_key is not 32 bytes');
    if (hex(keyId(root)) !== String(t.root_key_id).toLowerCase()) throw new Error('root_key_id does not match root_public_key');
    pinned = { root, trial: t.trial_id, partitions: t.partitions };
    $('root-key').value = hex(root);
    status.textContent = `Pinned from ${file.name}: trial ${t.trial_id}, ${t.partitions} partitions, root key ${hex(keyId(root))}.`;
  } catch (e) {
    pinned = null;
    status.textContent = `Not pinned: ${file.name} is not a trust file (${e.message}).`;
  }
}

function setVerdict(cls, text) {
  const v = $('verdict');
  v.className = `verdict ${cls}`;
  v.textContent = text;
}

async function lookUp(ev) {
  ev.preventDefault();
  const subject = `${$('kind').value}:${$('subject-id').value.trim()}`;
  $('report').replaceChildren();
  // A token typed but not yet used: use it now, as "Sign in" would.
  if ($('token').value.trim() && !(saved && token === $('token').value.trim())) await signIn(ev);
  if (!pinned) {
    setVerdict('bad', 'Pin the trial\'s root key first (step 2): without it nothing is proved.');
    return;
  }
  setVerdict('busy', `Fetching the audit bundle of ${subject}…`);
  let res;
  try {
    res = await fetch(`${apiBase()}/v1/subjects/${encodeURIComponent(subject)}/bundle`, {
      headers: authHeaders(), credentials: saved ? 'omit' : 'same-origin',
    });
  } catch (e) {
    setVerdict('bad', `The API could not be reached (${e.message}).`);
    return;
  }
  if (res.status === 401) {
    setVerdict('bad', `No token: sign in with an auditor's API token first (step 1). The server said ${await errorText(res)}.`);
    return;
  }
  if (!res.ok) {
    setVerdict('bad', `The server gave no bundle of ${subject}: ${await errorText(res)}.`);
    return;
  }
  const bytes = new Uint8Array(await res.arrayBuffer());
  const held = splitNotes($('held').value);
  setVerdict('busy', `Verifying ${bytes.length} bytes…`);
  // Let the status paint before the signatures are checked.
  await new Promise((r) => setTimeout(r, 0));
  const t0 = performance.now();
  let report;
  try {
    report = verifyBundle(bytes, { pinned, held });
  } catch (e) {
    // A fault of this page's code, never a pass.
    setVerdict('bad', `NOT VERIFIED: the verifier stopped on an internal error (${e.message}).`);
    return;
  }
  const ms = Math.round(performance.now() - t0);
  render(report, subject, bytes, ms, res.headers.get('x-ledger-behind'));
}

function verdictText(r, subject, ms) {
  if (r.error) return `NOT VERIFIED: the server's answer is not a readable audit bundle (${r.error}).`;
  if (r.failure) {
    return `NOT VERIFIED: first failure at ${r.failure.item}: ${r.failure.reason}: ${r.failure.detail} (step: ${r.failure.step}).`;
  }
  return `VERIFIED in this browser: ${r.subjectRecords.length} records of ${subject}, ${r.records.length} records in all, ${r.signaturesVerified} signatures and ${r.checkpointsVerified} signed checkpoints checked against the pinned root key (${ms} ms).`;
}

const MARK = { ok: '✔ passed', fail: '✘ failed', 'not-run': '– not run' };

function stepsTable(r) {
  const body = el('tbody');
  for (const s of r.steps) {
    body.append(el('tr', { 'data-step': s.id, 'data-status': s.status },
      el('td', { text: String(s.step) }), el('th', { scope: 'row', text: s.name }),
      el('td', { className: s.status, text: MARK[s.status] }), el('td', { text: s.detail })));
  }
  return el('table', { id: 'steps' }, el('caption', { text: 'Checks, in the order of BUNDLE.md §2 (they stop at the first failure)' }),
    el('thead', {}, el('tr', {}, ...['Step', 'Check', 'Result', 'Detail'].map((h) => el('th', { scope: 'col', text: h })))), body);
}

const failedRecord = (rec) => Object.values(rec.checks).includes('fail');

function recordsTable(list, id, caption) {
  const body = el('tbody');
  for (const rec of list) {
    const failed = failedRecord(rec);
    const row = el('tr', { id: `rec-${rec.partition}-${rec.seq}`, 'data-record': rec.key, 'data-status': failed ? 'fail' : 'ok', className: failed ? 'failed' : '' },
      el('th', { scope: 'row', className: 'mono', text: rec.key }),
      el('td', { text: rec.typeName ?? '?' }), el('td', { className: 'mono', text: rec.subject ?? '?' }),
      el('td', { text: rec.role ? `${rec.authorName ?? ''} (${rec.role})` : (rec.author ?? '?') }),
      el('td', { text: rec.orderingTime == null ? '' : new Date(rec.orderingTime / 1000).toISOString() }));
    for (const [c, label] of RECORD_CHECKS) {
      const s = rec.checks[c];
      row.append(el('td', { className: s, 'data-check': c, title: `${label}: ${MARK[s]}`, text: MARK[s] }));
    }
    if (rec.failure) row.append(el('td', { text: `${rec.failure.reason}: ${rec.failure.detail}` }));
    else row.append(el('td'));
    body.append(row);
  }
  const head = ['Record', 'Type', 'Subject', 'Author (role at the record)', 'Sequenced at (UTC)', ...RECORD_CHECKS.map(([, l]) => l), 'Failure'];
  return el('div', { className: 'scroll', tabindex: '0', role: 'region', 'aria-label': `${caption} (scrollable)` }, el('table', { id },
    el('caption', { text: caption }),
    el('thead', {}, el('tr', {}, ...head.map((h) => el('th', { scope: 'col', text: h })))), body));
}

function recistSection(r, subject, bytesOk) {
  const wrap = el('section', { 'aria-labelledby': 'recist-h' }, el('h3', { id: 'recist-h', text: 'The investigator\'s response against RECIST 1.1' }));
  if (!subject.startsWith('patient:')) {
    wrap.append(el('p', { text: 'Only a patient has response assessments.' }));
    return wrap;
  }
  if (!bytesOk) {
    wrap.append(el('p', { text: 'Not computed: the bundle did not verify, so its payloads are not trusted.' }));
    return wrap;
  }
  // The decoded records of the bundle, which verified (so their payloads are the signed ones).
  const own = r.decoded.filter((x) => x.submission.subject.text === subject);
  const cmp = recistComparison(own);
  wrap.append(el('p', { text: `Computed in this browser from the verified ResponseAssessed payloads (corrections applied): ${cmp.note}.` }));
  if (cmp.rows.length) {
    const body = el('tbody');
    for (const row of cmp.rows) {
      body.append(el('tr', { 'data-seq': String(row.seq), 'data-differs': String(row.differs) },
        el('td', { className: 'mono', text: String(row.seq) }),
        el('td', { text: new Date(row.assessedOn * 86400000).toISOString().slice(0, 10) }),
        el('td', { text: row.investigator }), el('td', { text: row.computed }),
        el('td', { className: row.differs ? 'fail' : 'ok', text: row.differs ? 'differs' : 'agrees' })));
    }
    wrap.append(el('table', { id: 'recist' }, el('caption', { text: 'Follow-up assessments' }),
      el('thead', {}, el('tr', {}, ...['Seq', 'Assessed on', 'Investigator', 'RECIST 1.1', ''].map((h) => el('th', { scope: 'col', text: h })))), body));
  }
  return wrap;
}

function checkedSection(r, behind) {
  const list = el('ul', { className: 'lines' });
  for (const l of r.lines) list.append(el('li', { text: l }));
  const not = el('ul', { className: 'lines' },
    el('li', { text: 'Records of the subject ordered after its latest carried record cannot be shown absent by a subject bundle (back-links only reach backwards). A later bundle, or `trail` on the ledger, shows them.' }),
    el('li', { text: r.held.length ? `Held checkpoints: ${r.held.map((h) => `partition ${h.partition ?? '?'} size ${h.size ?? '?'}: ${h.status}`).join('; ')}.` : 'Truncation or rewriting of the ledger behind the bundle\'s newest checkpoint: not checked. Paste a checkpoint you hold outside the server (step 3) to check it.' }),
    el('li', { text: 'The clinical domain rules (FORMAT.md §15a) are not run on a subject bundle; the registry rules, signatures, keys and roles are.' }),
    el('li', { text: `Cites of records outside the bundle by other subjects: ${r.uncarriedCites} not checked.` }),
    el('li', { text: `Records of a type no table knows, accepted unchecked: ${r.unknownTypeRecords}.` }));
  if (behind && behind !== '0') not.append(el('li', { text: `The server said the bundle does not reflect ${behind} newer records of the log yet.` }));
  if (!r.anchorPinned) not.append(el('li', { text: 'The root key was NOT pinned.' }));
  return el('section', { 'aria-labelledby': 'checked-h' }, el('h3', { id: 'checked-h', text: 'What was checked' }), list,
    el('h3', { text: 'What was not checked' }), not);
}

function render(r, subject, bytes, ms, behind) {
  const ok = r.ok && !r.error;
  setVerdict(ok ? 'ok' : 'bad', verdictText(r, subject, ms));
  const out = $('report');
  // The trial-level records (keys, roles, protocol) are the registry every other record is
  // judged under: folded away unless one of them failed.
  const registry = r.records.filter((x) => x.subject === 'trial');
  const others = r.records.filter((x) => x.subject !== 'trial');
  const regFailed = registry.some(failedRecord);
  const reg = el('details', {}, el('summary', { text: `The registry: ${registry.length} trial-level records of partition 0 (trial, keys, roles, protocol), ${regFailed ? 'NOT all verified' : 'all verified'}` }),
    recordsTable(registry, 'registry-records', 'Trial-level records (partition/seq), green or red per check'));
  if (regFailed) reg.open = true;
  // Verification that stopped before the records were decoded has nothing to say per record.
  const tables = r.records.some((x) => x.checks.decode !== 'not-run')
    ? [recordsTable(others, 'records', `Records of ${subject} and the records they cite (partition/seq), green or red per check`), reg]
    : [el('p', { id: 'records-not-checked', text: `The bundle's ${r.records.length} records were not checked one by one: verification stopped before it reached them.` })];
  out.replaceChildren(stepsTable(r), ...tables, recistSection(r, subject, ok), checkedSection(r, behind),
    el('p', { className: 'muted', text: `${bytes.length} bytes from the server; verified by this page's own code (ZIP-215 Ed25519, SHA-256, RFC 9162 proofs).` }));
}

function init() {
  if (saved) {
    $('mode-served').hidden = true;
    $('mode-saved').hidden = false;
    $('api-field').hidden = false;
    $('access-status').textContent = 'No token given: the audit bundle route needs an auditor\'s token.';
  }
  $('access-form').addEventListener('submit', signIn);
  $('root-key').addEventListener('input', pinFromHex);
  $('trust-file').addEventListener('change', pinFromFile);
  $('lookup-form').addEventListener('submit', lookUp);
}

init();
