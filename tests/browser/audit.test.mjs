// The auditor's page in Chromium against the shared `up --demo` server: a patient's trail
// verifies green; behind a proxy that flips one byte of one record the page is red at that
// record, naming the check; a wrong pinned root is red; without a token it says so; the saved
// copy opened from file:// verifies the same trail; the RECIST comparison computed in the
// browser flags exactly the assessments the server's trail flags; no console errors; axe-core
// finds no serious violations. Screenshots go to $TL_ARTIFACTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { env, launch, openPage, checkA11y, screenshot, assertNoConsoleErrors } from './harness.mjs';
import { decodeBundle } from '../../services/web/wire.js';
import { OUTPUT as SAVED } from '../../services/web/build-saved.mjs';

let browser;
let patient; // { id, trail } of a demo patient whose trail has a RECIST disagreement
const trustFile = () => path.join(env().data, 'trust.json');

async function api(route, token = env().tokens.auditor) {
  const res = await fetch(`${env().url}${route}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200, `${route}: ${res.status} ${await res.clone().text()}`);
  return res;
}

/** A treated demo patient with response assessments, preferring one with a disagreement. */
async function pickPatient() {
  const text = await (await api('/v1/views/dossier')).text();
  const ids = [...new Set(text.match(/\bPT?-[0-9A-Z]{4,}\b/g) ?? [])];
  assert.ok(ids.length > 0, 'the dossier view names patients');
  let fallback = null;
  for (const id of ids.slice(0, 40)) {
    const trail = await (await api(`/v1/subjects/patient:${id}/trail`)).json();
    const assessed = trail.records.filter((r) => r.event === 'ResponseAssessed').length;
    if (assessed >= 3 && trail.records.some((r) => r.disagreement)) return { id, trail };
    if (assessed >= 3) fallback ??= { id, trail };
  }
  assert.ok(fallback, 'a demo patient with response assessments');
  return fallback;
}

before(async () => {
  browser = await launch();
  patient = await pickPatient();
});
after(async () => { await browser?.close(); });

/** Fills the page's form and verifies `id`; resolves once a verdict is shown. */
async function verify(page, { id, pin = 'file', rootHex } = {}) {
  if (pin === 'file') await page.setInputFiles('#trust-file', trustFile());
  else await page.fill('#root-key', rootHex);
  await page.selectOption('#kind', 'patient');
  await page.fill('#subject-id', id);
  await page.click('#verify');
  await page.waitForFunction(() => {
    const v = document.getElementById('verdict');
    return v.classList.contains('ok') || v.classList.contains('bad');
  }, null, { timeout: 60_000 });
  return page.locator('#verdict').innerText();
}

test('a patient\'s trail verifies green in the browser, RECIST as the server computes it', async () => {
  const { url, tokens } = env();
  const page = await openPage(browser, { token: tokens.auditor });
  await page.goto(`${url}/audit/`);
  await checkA11y(page, 'auditor page (empty)');
  const verdict = await verify(page, { id: patient.id });
  assert.match(verdict, /^VERIFIED in this browser/, verdict);
  const rows = await page.locator('#records tbody tr').evaluateAll((trs) =>
    trs.map((tr) => ({ key: tr.dataset.record, status: tr.dataset.status })));
  assert.deepEqual(rows.filter((r) => r.status !== 'ok'), []);
  // Every record of the trail (as the server lists it) is a green row.
  const keys = new Set(rows.map((r) => r.key));
  // (The trail also lists records of other subjects that concern the patient, such as the
  // cohort's slot; the bundle carries those it cites.)
  const own = patient.trail.records.filter((r) => r.subject === `patient:${patient.id}`);
  assert.ok(own.length >= 3);
  for (const r of own) assert.ok(keys.has(`${r.partition}/${r.seq}`), `${r.partition}/${r.seq}`);
  const linked = await page.locator('#records td[data-check="backlinks"].ok').count();
  assert.equal(linked, own.length, 'back-links checked on exactly the patient\'s records');
  const failedSteps = await page.locator('#steps tr[data-status="fail"]').count();
  assert.equal(failedSteps, 0);
  // RECIST: the assessments the page flags are those the server's trail flags.
  const flagged = await page.locator('#recist tbody tr[data-differs="true"]').evaluateAll((trs) =>
    trs.map((tr) => Number(tr.dataset.seq)).sort((a, b) => a - b));
  const server = patient.trail.records.filter((r) => r.disagreement).map((r) => r.seq).sort((a, b) => a - b);
  assert.deepEqual(flagged, server);
  assert.ok(await page.locator('#recist tbody tr').count() > 0, 'assessments compared');
  await checkA11y(page, 'auditor page (verified)');
  await screenshot(page, 'auditor-page-verified');
  // The README's picture (docs/auditor-page.png): the verdict, the steps and the first records.
  await page.setViewportSize({ width: 1280, height: 1500 });
  await page.locator('#result-h').scrollIntoViewIfNeeded();
  await screenshot(page, 'auditor-page-verified-top', { fullPage: false });
  assertNoConsoleErrors(page);
  await page.context().close();
});

test('a wrong pinned root key is red at the trust anchor', async () => {
  const { url, tokens } = env();
  const page = await openPage(browser, { token: tokens.auditor });
  await page.goto(`${url}/audit/`);
  const trust = JSON.parse(readFileSync(trustFile(), 'utf8'));
  // Another valid key: the golden vectors' root (seed 01 x 32), not this trial's.
  const other = '8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c';
  assert.notEqual(trust.root_public_key, other);
  const verdict = await verify(page, { id: patient.id, pin: 'hex', rootHex: other });
  assert.match(verdict, /^NOT VERIFIED: first failure at trust anchor: trust-anchor/, verdict);
  assert.equal(await page.locator('#steps tr[data-step="anchor"]').getAttribute('data-status'), 'fail');
  assert.equal(await page.locator('#verdict').getAttribute('class'), 'verdict bad');
  assert.match(await page.locator('#records-not-checked').innerText(), /not checked one by one/);
  await screenshot(page, 'auditor-page-wrong-root');
  assertNoConsoleErrors(page);
  await page.context().close();
});

test('without a token the page says that a token is needed', async () => {
  const page = await openPage(browser);
  await page.goto(`${env().url}/audit/`);
  // The page's fetch is refused with 401; the browser logs that as a failed resource load.
  const verdict = await verify(page, { id: patient.id });
  assert.match(verdict, /^No token: sign in with an auditor's API token first/, verdict);
  await page.context().close();
});

/** A proxy to the server that flips one byte of the record `target` in every bundle. */
async function flippingProxy(target) {
  const upstream = new URL(env().url);
  const flipped = [];
  const server = http.createServer(async (req, res) => {
    const headers = { ...req.headers, host: upstream.host };
    const body = req.method === 'GET' || req.method === 'HEAD' ? undefined
      : await new Promise((ok) => { const parts = []; req.on('data', (c) => parts.push(c)); req.on('end', () => ok(Buffer.concat(parts))); });
    const up = await fetch(new URL(req.url, upstream), { method: req.method, headers, body, redirect: 'manual' });
    let bytes = Buffer.from(await up.arrayBuffer());
    if (/^\/v1\/subjects\/[^/]+\/bundle$/.test(req.url) && up.status === 200) {
      bytes = flipInRecord(bytes, target, flipped);
    }
    const out = {};
    up.headers.forEach((v, k) => { if (!['content-length', 'content-encoding', 'transfer-encoding'].includes(k)) out[k] = v; });
    const cookie = up.headers.getSetCookie?.();
    if (cookie?.length) out['set-cookie'] = cookie;
    res.writeHead(up.status, out);
    res.end(bytes);
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${server.address().port}`, server, flipped };
}

/** Flips one byte inside the author signature of record `target` (a `p/seq` key). */
function flipInRecord(bytes, target, flipped) {
  const b = decodeBundle(new Uint8Array(bytes));
  const [p, seq] = target.split('/').map(Number);
  const rec = b.sections.find((s) => s.partition === p).records.find((r) => r.seq === seq).record;
  const at = Buffer.from(bytes).indexOf(Buffer.from(rec));
  assert.ok(at > 0, 'the record is in the bundle');
  const out = Buffer.from(bytes);
  const offset = at + rec.length - 64 - 40;
  out[offset] ^= 0x01;
  flipped.push(offset);
  return out;
}

test('behind a proxy that flips one byte of one record, the page is red at that record', async () => {
  const own = patient.trail.records.filter((r) => r.subject === `patient:${patient.id}`);
  const rec = own[Math.floor(own.length / 2)];
  const target = `${rec.partition}/${rec.seq}`;
  const proxy = await flippingProxy(target);
  try {
    const page = await openPage(browser, { token: env().tokens.auditor });
    await page.goto(`${proxy.url}/audit/`);
    const verdict = await verify(page, { id: patient.id });
    assert.equal(proxy.flipped.length, 1, 'the proxy changed the bundle');
    assert.match(verdict, new RegExp(`^NOT VERIFIED: first failure at record ${target}: not-in-checkpoint`), verdict);
    const row = page.locator(`#records tr[data-record="${target}"]`);
    assert.equal(await row.getAttribute('data-status'), 'fail');
    assert.equal(await row.locator('td[data-check="inclusion"]').getAttribute('class'), 'fail');
    // It is the only red record, and the step that caught it is named.
    assert.deepEqual(await page.locator('#records tr[data-status="fail"]').evaluateAll((t) => t.map((x) => x.dataset.record)), [target]);
    assert.equal(await page.locator('#steps tr[data-step="inclusion"]').getAttribute('data-status'), 'fail');
    await screenshot(page, 'auditor-page-tampered');
    assertNoConsoleErrors(page);
    await page.context().close();
  } finally {
    proxy.server.close();
  }
});

test('the saved copy opened from file:// verifies the same trail against the API URL given', async () => {
  const { url, tokens } = env();
  const page = await openPage(browser);
  await page.goto(`file://${SAVED}`);
  assert.equal(await page.locator('#api-field').isVisible(), true);
  await page.fill('#api-url', url);
  await page.fill('#token', tokens.auditor);
  await page.click('#sign-in');
  await page.waitForFunction(() => /will be sent/.test(document.getElementById('access-status').textContent));
  const verdict = await verify(page, { id: patient.id });
  assert.match(verdict, /^VERIFIED in this browser/, verdict);
  const statuses = await page.locator('#records tbody tr').evaluateAll((t) => t.map((x) => x.dataset.status));
  assert.ok(statuses.length >= patient.trail.records.filter((r) => r.partition === patient.trail.partition).length);
  assert.ok(statuses.every((s) => s === 'ok'));
  await checkA11y(page, 'saved copy (verified)');
  await screenshot(page, 'auditor-saved-copy-verified');
  assertNoConsoleErrors(page);
  await page.context().close();
});

test('a checkpoint held outside the server is compared with the bundle', async () => {
  const { url, tokens } = env();
  const p = patient.trail.partition;
  const note = await (await fetch(`${url}/v1/partitions/${p}/checkpoint`)).text();
  const page = await openPage(browser, { token: tokens.auditor });
  await page.goto(`${url}/audit/`);
  await page.locator('details summary').click();
  await page.fill('#held', note);
  const verdict = await verify(page, { id: patient.id });
  assert.match(verdict, /^VERIFIED/, verdict);
  const held = await page.locator('#steps tr[data-step="held"]').innerText();
  assert.match(held, new RegExp(`partition ${p} size \\d+: consistent`), held);
  assertNoConsoleErrors(page);
  await page.context().close();
});

test('a cohort\'s bundle verifies too', async () => {
  const cohort = patient.trail.records.map((r) => r.subject).find((s) => s.startsWith('cohort:'));
  assert.ok(cohort, 'the patient\'s trail names its cohort');
  const { url, tokens } = env();
  const page = await openPage(browser, { token: tokens.auditor });
  await page.goto(`${url}/audit/`);
  await page.setInputFiles('#trust-file', trustFile());
  await page.selectOption('#kind', 'cohort');
  await page.fill('#subject-id', cohort.slice('cohort:'.length));
  await page.click('#verify');
  await page.waitForFunction(() => /ok|bad/.test(document.getElementById('verdict').className), null, { timeout: 60_000 });
  const verdict = await page.locator('#verdict').innerText();
  assert.match(verdict, new RegExp(`^VERIFIED in this browser: \\d+ records of ${cohort}`), verdict);
  assert.match(await page.locator('#recist-h + p').innerText(), /Only a patient/);
  assertNoConsoleErrors(page);
  await page.context().close();
});

test('the page works from the keyboard alone, every control labelled', async () => {
  const { url, tokens } = env();
  // No session yet: the token typed into the page is used when the lookup is submitted.
  const page = await openPage(browser);
  await page.goto(`${url}/audit/`);
  const order = [];
  for (let i = 0; i < 12; i++) {
    await page.keyboard.press('Tab');
    order.push(await page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName));
  }
  for (const id of ['token', 'sign-in', 'root-key', 'trust-file', 'kind', 'subject-id', 'verify']) {
    assert.ok(order.includes(id), `Tab never reaches #${id}: ${order.join(', ')}`);
  }
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
    .filter((e) => !e.labels?.length).map((e) => e.id));
  assert.deepEqual(unlabelled, []);
  const trust = JSON.parse(readFileSync(trustFile(), 'utf8'));
  await page.focus('#token');
  await page.keyboard.type(tokens.auditor);
  await page.focus('#root-key');
  await page.keyboard.type(trust.root_public_key);
  await page.focus('#subject-id');
  await page.keyboard.type(patient.id);
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /ok|bad/.test(document.getElementById('verdict').className), null, { timeout: 60_000 });
  assert.match(await page.locator('#verdict').innerText(), /^VERIFIED in this browser/);
  assert.match(await page.locator('#access-status').innerText(), /^Signed in with token \w+ \(role auditor\)/);
  assertNoConsoleErrors(page);
  await page.context().close();
});
