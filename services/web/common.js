// Shared by the safety board's pages: the session (token form), API reads, the data cut and
// small DOM helpers. Plain ES module; no dependencies; nothing loaded from elsewhere.

const TOKEN_KEY = 'trial-ledger.token';

/** An error the API answered (its JSON `{code, message}`), with the HTTP status. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Creates an element: `el('td', {class: 'x'}, 'text', child)`. */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

/** GET a JSON route of the API with the session cookie; throws `ApiError` for a 4xx/5xx. */
export async function getJson(path) {
  const res = await fetch(path, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  let body = null;
  try { body = await res.json(); } catch { body = null; }
  if (!res.ok) {
    throw new ApiError(res.status, body?.code ?? 'unknown', body?.message ?? `HTTP ${res.status}`);
  }
  return body;
}

/** Opens a session for `token` (POST /v1/session); keeps the token in this tab's storage. */
export async function openSession(token) {
  const res = await fetch('/v1/session', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { Authorization: `Bearer ${token}` },
  });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, body?.code ?? 'unknown', body?.message ?? `HTTP ${res.status}`);
  sessionStorage.setItem(TOKEN_KEY, token);
  return body;
}

/** Opens a new session with the token kept in this tab (after a server restart forgot the
 * old one). Resolves to true when a session is open again. */
export async function reopenSession() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return false;
  try {
    await openSession(token);
    return true;
  } catch {
    return false;
  }
}

/** Shows the token form (with why), and calls `onSession` once a session is open. */
export function askForToken(why, onSession) {
  const box = document.getElementById('auth');
  box.hidden = false;
  if (why) document.getElementById('auth-why').dataset.reason = why;
  const err = document.getElementById('token-error');
  err.textContent = why ? `The server said: ${why}` : '';
  const form = document.getElementById('token-form');
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const token = form.elements.token.value.trim();
    try {
      const s = await openSession(token);
      form.reset();
      box.hidden = true;
      err.textContent = '';
      showWho(s);
      onSession();
    } catch (e) {
      err.textContent = `The token was refused: ${e.message}`;
    }
  };
  document.getElementById('token').focus();
}

/** Says who the session stands for. */
export function showWho(s) {
  const who = document.getElementById('who');
  if (who && s) who.textContent = `Session: token ${s.token}, role ${s.role}.`;
}

/** Whether a stored token exists; opens its session at load (a new tab of the same session
 * has no cookie problem: the cookie is shared; this is for a restarted server). */
export function hasStoredToken() {
  return sessionStorage.getItem(TOKEN_KEY) !== null;
}

/** The frozen data cut of this page's address (`?at=p0:N,...`), or null for live. */
export function cut() {
  const at = new URLSearchParams(location.search).get('at');
  return at && at.trim() ? at.trim() : null;
}

/** `path` with the page's cut added as `at`. */
export function withCut(path) {
  const at = cut();
  if (!at) return path;
  return path + (path.includes('?') ? '&' : '?') + 'at=' + encodeURIComponent(at);
}

/** Records per partition as a cut text: `p0:12,p1:40`. */
export function positions(list) {
  return (list ?? []).map((n, p) => `p${p}:${n}`).join(',');
}

/** "As of ..." for an answer's `freshness`. */
export function asOf(freshness) {
  if (!freshness) return '';
  const total = (freshness.as_of ?? []).reduce((a, b) => a + b, 0);
  const behind = freshness.behind ? `, ${freshness.behind} records behind the log` : ', up to date with the log';
  const mode = cut() ? 'Frozen cut' : 'Live';
  return `${mode}: as of ledger position ${positions(freshness.as_of)} (${total} records${behind}).`;
}

/** A link to one record: decoded (auditor role), with its position as text. */
export function recordLink(r) {
  const p = r.partition, s = r.seq;
  return el('a', { href: `/v1/partitions/${p}/records/${s}/decoded`, title: r.hash ? `record hash ${r.hash}` : undefined },
    `p${p}/${s}`);
}

/** The message of an API error for a person. */
export function explain(e) {
  if (e instanceof ApiError) {
    if (e.status === 403) return `Your token's role cannot read this: ${e.message}`;
    return `${e.message} (${e.code})`;
  }
  return String(e?.message ?? e);
}
