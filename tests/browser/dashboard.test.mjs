// The safety board's dashboard (/safety) and funnel (/safety/funnel) in real Chromium against
// the shared `up --demo` server (tests/browser/run), and one server of this file's own (a copy
// of the demo folder) that it restarts. Adverse events are signed with an investigator key
// this file makes and enrols with the demo's root key (`keys enrol --url`), and submitted with
// `submit --url`, as a site would.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { env, launch, openPage, checkA11y, screenshot, assertNoConsoleErrors } from './harness.mjs';

const KEY_PASSPHRASE = 'browser-dashboard-investigator';
let browser;
let work;
let aeCounter = 900;

/** Runs the CLI; fails the test on a non-zero exit. Returns stdout. */
function cli(args) {
  const r = spawnSync(env().bin, args, {
    encoding: 'utf8',
    env: { ...process.env, TRIAL_LEDGER_PASSPHRASE: KEY_PASSPHRASE },
  });
  assert.equal(r.status, 0, `trial-ledger ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function today() {
  return new Date().toISOString().slice(0, 10);
}

function addDays(date, n) {
  return new Date(Date.parse(`${date}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
}

/** Signs and submits an AdverseEventReported through the server at `url`; the receipt. */
function submitAe(url, patient, { grade, serious = [], expected = true, term = 'Pneumonitis' }) {
  const ae_id = ++aeCounter;
  const file = path.join(work, `ae-${ae_id}.json`);
  writeFileSync(file, JSON.stringify({
    event: 'AdverseEventReported', subject: `patient:${patient}`,
    payload: { ae_id, ctcae_term: term, grade, serious, expected, attribution: 'Probable',
      onset: { Full: today() }, awareness: today(), outcome: 'Ongoing' },
  }));
  const out = cli(['submit', '--url', url, '--key', path.join(work, 'inv.key'), file, '--json']);
  return { ae_id, key: `${patient}#${ae_id}`, receipt: JSON.parse(out) };
}

/** Signs and submits an AdverseEventUpdated of `ae_id` (a follow-up) through `url`. */
function updateAe(url, patient, ae_id, { grade, serious = [], expected = true }) {
  const file = path.join(work, `ae-${ae_id}-update-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify({
    event: 'AdverseEventUpdated', subject: `patient:${patient}`,
    payload: { ae_id, grade, serious, expected, attribution: 'Probable', outcome: 'Ongoing',
      awareness: today(), resolved_on: null },
  }));
  return JSON.parse(cli(['submit', '--url', url, '--key', path.join(work, 'inv.key'), file, '--json']));
}

/** A treated patient, alive, in a cohort (from the dossier view). */
async function treatedPatient(url, token) {
  const get = async (p) => (await fetch(`${url}${p}`, { headers: { authorization: `Bearer ${token}` } })).json();
  const dossier = await get('/v1/views/dossier');
  const safety = await get('/v1/views/safety');
  const dead = new Set(safety.deaths.map((d) => d.patient));
  const p = dossier.patients.find((x) => x.cohort && !dead.has(x.patient));
  assert.ok(p, 'the demo has a living treated patient in a cohort');
  return p;
}

async function openDashboard(url, token) {
  const page = await openPage(browser, { token });
  await page.goto(`${url}/safety`);
  await page.waitForSelector('#feed[data-state=live]', { timeout: 30_000 });
  await page.waitForSelector('#tables[data-state=loaded]');
  return page;
}

before(async () => {
  browser = await launch();
  work = mkdtempSync(path.join(env().artifacts, 'dashboard-'));
  // An investigator's key, enrolled through the shared server with the demo's root key.
  cli(['keys', 'new', '--name', 'Dashboard test investigator', '--role', 'investigator',
    '--out', path.join(work, 'inv.key')]);
  cli(['keys', 'enrol', '--url', env().url, '--key', path.join(env().data, 'keys', 'root.key'),
    path.join(work, 'inv.key.pub.json')]);
});

after(async () => { await browser?.close(); });

test('dashboard loads with no console errors, says its ledger position, and is axe-clean', async () => {
  const { url, tokens } = env();
  const page = await openDashboard(url, tokens.dsmb);
  for (const id of ['#tables-asof', '#clocks-asof']) {
    assert.match(await page.textContent(id), /as of ledger position p0:\d+/);
  }
  assert.ok(await page.locator('#feed-table tbody tr').count() > 0, 'the feed shows the history');
  await checkA11y(page, 'dashboard');
  await screenshot(page, 'dashboard');
  assertNoConsoleErrors(page);
  await page.context().close();
});

test('without a session the dashboard asks for a token, and the form opens one', async () => {
  const { url, tokens } = env();
  const page = await openPage(browser);
  await page.goto(`${url}/safety`);
  await page.waitForSelector('#auth:not([hidden])');
  assert.match(await page.textContent('#auth'), /read token is needed/);
  await checkA11y(page, 'dashboard without a token');
  await page.fill('#token', tokens.safety);
  await page.press('#token', 'Enter');
  await page.waitForSelector('#feed[data-state=live]', { timeout: 30_000 });
  assert.equal(await page.isHidden('#auth'), true);
  // The 401 before the token was given is the only failed request.
  page.problems = page.problems.filter((p) => !/401/.test(p));
  assertNoConsoleErrors(page);
  await page.context().close();
});

test('a new serious grade-4 AE appears in the feed within 2 s, flagged; its SUSAR clock turns overdue', async () => {
  const { url, tokens } = env();
  const patient = await treatedPatient(url, tokens.auditor);
  const page = await openDashboard(url, tokens.safety);
  const ae = submitAe(url, patient.patient, { grade: 4, serious: ['LifeThreatening'], expected: false });
  const submitted = Date.now();
  const row = page.locator(`#feed-table tbody tr[data-key="${ae.key}"]`);
  await row.waitFor({ timeout: 2000 });
  const latency = Date.now() - submitted;
  assert.ok(latency <= 2000, `the AE took ${latency} ms`);
  assert.match(await row.getAttribute('class'), /\bsae\b/);
  assert.match(await row.getAttribute('class'), /\bg3\b/);
  assert.match(await row.textContent(), /serious/);
  assert.match(await row.textContent(), /grade 4/);
  // The SUSAR's clock: 7 days (life-threatening) from the awareness date, day 0.
  const due = addDays(today(), 7);
  const clock = page.locator(`#clocks-table tbody tr[data-case="${ae.key}"]`);
  await clock.waitFor({ timeout: 5000 });
  assert.equal(await clock.getAttribute('data-due'), due);
  assert.match(await clock.textContent(), new RegExp(`${due} \\(24:00 UTC\\)`));
  assert.match(await clock.textContent(), new RegExp(`SUSAR 7-day report: due ${due} \\(day 0 ${today()}, 7 days`));
  assert.match(await clock.textContent(), new RegExp(`follow-up \\(8 further days\\): due ${addDays(today(), 15)}`));
  assert.match(await clock.textContent(), /unexpected \(investigator\)/);
  assert.equal(await clock.getAttribute('data-overdue'), 'false');
  await page.locator('#feed').scrollIntoViewIfNeeded();
  await screenshot(page, 'dashboard-feed', { fullPage: false });
  const deadline = Date.parse(`${addDays(due, 1)}T00:00:00Z`);
  // A minute before the deadline it is still open; a minute after, overdue.
  await page.clock.setFixedTime(new Date(deadline - 60_000));
  await page.waitForFunction((k) => document.querySelector(`tr[data-case="${k}"]`)?.textContent.includes('1 min left'), ae.key);
  assert.equal(await clock.getAttribute('data-overdue'), 'false');
  await page.clock.setFixedTime(new Date(deadline + 60_000));
  await page.waitForSelector(`#clocks-table tr[data-case="${ae.key}"][data-overdue=true]`, { timeout: 3000 });
  assert.match(await clock.textContent(), /overdue/);
  await screenshot(page, 'dashboard-overdue');
  assertNoConsoleErrors(page);
  await page.context().close();
});

/** What the page's tables show for column `col`: overview row -> n, and by-term
 * `soc|term|set|band` -> n. */
async function pageTables(page, col) {
  return page.evaluate((col) => {
    const n = (td) => Number(td.firstElementChild?.dataset.n ?? td.textContent);
    const overview = {};
    for (const tr of document.querySelectorAll('#tables-body table.overview tbody tr')) {
      const td = [...tr.querySelectorAll('td')].find((x) => x.dataset.col === col);
      if (td && tr.dataset.row !== 'patient_years') overview[tr.dataset.row] = n(td);
    }
    const byTerm = {};
    for (const tr of document.querySelectorAll('#tables-body table.by-term tbody tr')) {
      for (const td of tr.querySelectorAll('td')) {
        if (td.dataset.col !== col) continue;
        byTerm[`${tr.dataset.soc}|${tr.dataset.term}|${td.dataset.set}|${td.dataset.band}`] = n(td);
      }
    }
    return { overview, byTerm };
  }, col);
}

test('the overview and by-term tables of one cohort equal `view safety --json` for that cohort', async () => {
  const { url, tokens, data } = env();
  const patient = await treatedPatient(url, tokens.auditor);
  const page = await openDashboard(url, tokens.safety);
  const col = `cohort:${patient.cohort}`;
  await page.selectOption('#t-columns', `col:${col}`);
  const shown = await pageTables(page, col);
  const j = JSON.parse(cli(['view', 'safety', '--data', data, '--db', path.join(work, 'views-cli'),
    '--cohort', patient.cohort, '--json', '--trust', path.join(data, 'trust.json')])).tables;
  const i = j.columns.findIndex((c) => c.key === col);
  assert.ok(i >= 0, `the CLI's tables have the column ${col}`);
  const overview = { treated: j.columns[i].treated.n };
  for (const line of j.overview) overview[line.row] = line.cells[i].n;
  for (const c of j.death_causes) overview[`cause:${c.cause}`] = c.cells[i].n;
  // Rows of other cohorts' causes are 0 in this column.
  for (const [k, v] of Object.entries(shown.overview)) if (!(k in overview)) assert.equal(v, 0, k);
  for (const [k, v] of Object.entries(overview)) assert.equal(shown.overview[k], v, `overview ${k}`);
  const byTerm = {};
  for (const line of j.by_term) {
    for (const set of ['all', 'related']) {
      for (const band of ['any_grade', 'grade_1_2', 'grade_3_4', 'grade_5']) {
        byTerm[`${line.soc}|${line.term ?? ''}|${set}|${band}`] = line.cells[i][set][band].n;
      }
    }
  }
  assert.ok(Object.values(byTerm).some((n) => n > 0), 'the cohort has adverse events');
  for (const [k, v] of Object.entries(shown.byTerm)) if (!(k in byTerm)) assert.equal(v, 0, `by term ${k}`);
  for (const [k, v] of Object.entries(byTerm)) assert.equal(shown.byTerm[k], v, `by term ${k}`);
  // A number links to the patients and records it counts.
  const link = page.locator(`#tables-body table.overview td[data-col="${col}"] a`).first();
  await link.click();
  await page.waitForSelector('#records:not([hidden]) #records-list li');
  assert.match(await page.textContent('#records-what'), /\d+ patients, \d+ records/);
  await checkA11y(page, 'dashboard tables');
  assertNoConsoleErrors(page);
  await page.context().close();
});

test('a frozen data cut opens at the latest checkpoints and says so', async () => {
  const { url, tokens } = env();
  const page = await openDashboard(url, tokens.dsmb);
  await page.click('#cut-freeze');
  await page.waitForURL(/[?]at=/);
  await page.waitForSelector('#tables[data-state=loaded]');
  const at = new URL(page.url()).searchParams.get('at');
  assert.match(at, /^p0:\d+(,p\d+:\d+)+$/);
  assert.equal(await page.textContent('#tables-asof').then((t) => t.match(/^Frozen cut: as of ledger position (\S+) /)?.[1]), at);
  assert.match(await page.textContent('#cut-state'), new RegExp(`frozen data cut ${at}`));
  await checkA11y(page, 'dashboard, frozen cut');
  assertNoConsoleErrors(page);
  await page.context().close();
});

test('filters: a minimum grade hides lower grades, and serious-only shows only serious events', async () => {
  const { url, tokens } = env();
  const page = await openDashboard(url, tokens.dsmb);
  await page.selectOption('#f-grade', '3');
  await page.click('#feed-filters button[type=submit]');
  await page.waitForSelector('#feed[data-state=live]');
  const grades = await page.$$eval('#feed-table tbody tr', (rs) => rs.map((r) => Number(r.dataset.grade)));
  assert.ok(grades.length > 0 && grades.every((g) => g >= 3), `grades ${grades}`);
  await page.check('#f-serious');
  await page.click('#feed-filters button[type=submit]');
  await page.waitForSelector('#feed[data-state=live]');
  const serious = await page.$$eval('#feed-table tbody tr', (rs) => rs.map((r) => r.dataset.serious));
  assert.ok(serious.every((s) => s === 'true'), `serious ${serious}`);
  assertNoConsoleErrors(page);
  await page.context().close();
});

test('an update that takes an AE out of the filter removes its row (the stream retracts it)', async () => {
  const { url, tokens } = env();
  const patient = await treatedPatient(url, tokens.auditor);
  const page = await openDashboard(url, tokens.safety);
  await page.selectOption('#f-cohort', patient.cohort);
  await page.check('#f-serious');
  await page.click('#feed-filters button[type=submit]');
  await page.waitForSelector('#feed[data-state=live]');
  const ae = submitAe(url, patient.patient, { grade: 3, serious: ['Hospitalisation'], term: 'Diarrhea' });
  const row = page.locator(`#feed-table tbody tr[data-key="${ae.key}"]`);
  await row.waitFor({ timeout: 2000 });
  const retracted = Number(await page.getAttribute('#feed', 'data-retracted'));
  // The follow-up says it is no longer serious: out of the serious-only filter.
  updateAe(url, patient.patient, ae.ae_id, { grade: 3, serious: [] });
  await row.waitFor({ state: 'detached', timeout: 2000 });
  assert.equal(Number(await page.getAttribute('#feed', 'data-retracted')), retracted + 1);
  // Serious again, it is back.
  updateAe(url, patient.patient, ae.ae_id, { grade: 3, serious: ['Hospitalisation'] });
  await row.waitFor({ timeout: 2000 });
  assertNoConsoleErrors(page);
  await page.context().close();
});

/** `up` over `dir` on `listen` (127.0.0.1:0 for a free port); resolves once it listens. */
function startOwn(dir, listen) {
  const child = spawn(env().bin, ['up', '--data', dir, '--listen', listen, '--poll-ms', '100'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stderr.on('data', (c) => { out += c; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`up never listened: ${out}`)), 60_000);
    child.on('exit', (code) => reject(new Error(`up exited with ${code}: ${out}`)));
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /^listening on (\S+)/m.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      const stop = () => (child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve()
        : new Promise((done, fail) => {
          child.on('exit', (code) => (code === 0 ? done() : fail(new Error(`up exited ${code}: ${out}`))));
          child.kill('SIGTERM');
        }));
      const me = { url: m[1], stop, child };
      let current = me;
      me.current = () => current;
      me.replace = (next) => { current = next; };
      resolve(me);
    });
  });
}

/** What the feed shows: each row's key, grade and the id of the event that drew it. */
async function feedState(page) {
  return page.$$eval('#feed-table tbody tr', (rs) => rs.map((r) => `${r.dataset.key} g${r.dataset.grade} ${r.dataset.id}`));
}

test('the feed reconnects after a server restart with no duplicated or missing rows', async () => {
  const { data, tokens } = env();
  // A copy of the demo folder, served by a server of this test's own on a fixed port.
  const dir = path.join(work, 'restart');
  cpSync(data, dir, { recursive: true });
  for (const f of ['serve.url', 'access.log']) rmSync(path.join(dir, f), { force: true });
  let server = await startOwn(dir, '127.0.0.1:0');
  try {
    await restartRound(server, dir, tokens);
  } finally {
    await server.current().stop().catch(() => {});
  }
});

async function restartRound(server, dir, tokens) {
  const { url } = server;
  const listen = url.replace(/^http:\/\//, '');
  const patient = await treatedPatient(url, tokens.auditor);
  // The board member opens the page and gives the token in its form.
  const page = await openPage(browser);
  await page.goto(`${url}/safety`);
  await page.fill('#token', tokens.dsmb);
  await page.press('#token', 'Enter');
  await page.waitForSelector('#feed[data-state=live]', { timeout: 30_000 });
  const before = submitAe(url, patient.patient, { grade: 3, serious: ['Hospitalisation'] });
  await page.locator(`tr[data-key="${before.key}"]`).waitFor({ timeout: 5000 });
  // The server stops and comes back on the same address (its sessions are gone).
  await server.stop();
  await page.waitForSelector('#feed[data-state=reconnecting]', { timeout: 10_000 });
  server.replace(await startOwn(dir, listen));
  const during = submitAe(url, patient.patient, { grade: 2, term: 'Fatigue' });
  await page.locator(`tr[data-key="${during.key}"]`).waitFor({ timeout: 20_000 });
  await page.waitForSelector('#feed[data-state=live]');
  const after = submitAe(url, patient.patient, { grade: 4, serious: ['LifeThreatening'], term: 'Colitis' });
  await page.locator(`tr[data-key="${after.key}"]`).waitFor({ timeout: 5000 });
  // A page opened now, from scratch, sees the same rows; the reconnected page received
  // exactly as many stream events (a repeat would be one more, a gap one fewer).
  const fresh = await openPage(browser);
  await fresh.context().request.post(`${url}/v1/session`, { headers: { authorization: `Bearer ${tokens.dsmb}` } });
  await fresh.goto(`${url}/safety`);
  await fresh.waitForSelector(`tr[data-key="${after.key}"]`, { timeout: 30_000 });
  assert.deepEqual(await feedState(page), await feedState(fresh));
  assert.equal(await page.getAttribute('#feed', 'data-received'), await fresh.getAttribute('#feed', 'data-received'));
  await fresh.context().close();
  // The connection errors while the server was down are expected; nothing else.
  page.problems = page.problems.filter((p) => !/ERR_CONNECTION_REFUSED|401|ERR_INCOMPLETE_CHUNKED_ENCODING|ERR_EMPTY_RESPONSE/.test(p));
  assertNoConsoleErrors(page);
  await page.context().close();
}

test('the funnel page shows each step and each cohort, axe-clean', async () => {
  const { url, tokens } = env();
  const page = await openPage(browser, { token: tokens.sponsor });
  await page.goto(`${url}/safety/funnel`);
  await page.waitForSelector('main[data-state=loaded]');
  const view = await (await fetch(`${url}/v1/views/enrollment`, { headers: { authorization: `Bearer ${tokens.sponsor}` } })).json();
  for (const step of ['registered', 'sequenced', 'matched', 'mtb_approved', 'slot', 'enrolled', 'treated']) {
    const n = await page.textContent(`tr[data-step=${step}] td`);
    assert.equal(Number(n), view.funnel[step], step);
  }
  assert.equal(await page.locator('tr[data-cohort]').count(), view.cohorts.length);
  await checkA11y(page, 'funnel');
  await screenshot(page, 'funnel');
  assertNoConsoleErrors(page);
  await page.context().close();
});
