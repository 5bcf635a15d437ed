// The shared harness of the browser tests. `tests/browser/run` starts ONE real
// `trial-ledger up --data DIR --demo` server, issues tokens, and runs every
// `tests/browser/*.test.mjs` with `node --test` (one file at a time). A test file imports what it
// needs from here:
//
//   import { env, launch, openPage, login, checkA11y, screenshot, assertNoConsoleErrors }
//     from './harness.mjs';
//
// - `env()`: what `run` set up, as
//     { url,            // the server's base URL, e.g. http://127.0.0.1:41234 (no trailing /)
//       bin,            // the trial-ledger binary the server runs
//       data,           // the demo's data folder (DIR/trust.json is the pinned trust file)
//       artifacts,      // where screenshots and logs go: $CARGO_TARGET_DIR/browser-artifacts
//       root,           // the repository's root folder
//       tokens: { auditor, sponsor, safety, dsmb } }   // one read token per API role
//   read from the JSON file `$TL_BROWSER_ENV` (run writes it; the same values are in TL_URL,
//   TL_BIN, TL_DATA, TL_ARTIFACTS, TL_ROOT, TL_TOKEN_AUDITOR, ...). It throws when the file is
//   missing: run the tests through `tests/browser/run`, never `node --test` alone.
//   The demo has 40 patients (seed 7); `TL_DEMO_PATIENTS=N tests/browser/run` changes that.
//   The demo's key files have the passphrases run exports (TRIAL_LEDGER_ROOT_PASSPHRASE,
//   TRIAL_LEDGER_SEQUENCER_PASSPHRASE), so a test may copy `data` and serve the copy with
//   `startUp(dir)` (below), e.g. to restart a server of its own. Never stop the shared one.
// - `launch()`: Debian's Chromium (`/usr/bin/chromium`) through playwright-core, headless.
//   Close it with `await browser.close()` (in an `after` hook).
// - `openPage(browser, { token })`: a new context and page whose console errors, page errors
//   and failed requests are collected in `page.problems` (an array of strings); with `token`,
//   the context first logs in (see `login`).
// - `login(context, token)`: exchanges the token for the session cookie (`POST /v1/session`
//   with `Authorization: Bearer`), as the pages do; the context's pages then send the cookie.
// - `assertNoConsoleErrors(page)`: fails listing `page.problems`.
// - `checkA11y(page, name)`: runs axe-core in the page (injected through the debugging
//   protocol, so the page's CSP stays on) and fails on any `serious` or `critical` violation;
//   returns the full axe result.
// - `screenshot(page, name, { fullPage })`: a PNG at `$artifacts/NAME.png` (the full page by
//   default; `fullPage: false` for the viewport only); returns the path.
// - `startUp(dir, args)`: starts `trial-ledger up --data dir --listen 127.0.0.1:0 ...args`;
//   resolves to { url, process, stop() } (stop sends SIGTERM and waits for a clean exit).

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';
import path from 'node:path';

const require = createRequire(import.meta.url);

let cached = null;

/** What `tests/browser/run` set up (see the top of this file). */
export function env() {
  if (cached) return cached;
  const file = process.env.TL_BROWSER_ENV;
  if (!file) {
    throw new Error('TL_BROWSER_ENV is not set: run the browser tests with tests/browser/run');
  }
  cached = JSON.parse(readFileSync(file, 'utf8'));
  mkdirSync(cached.artifacts, { recursive: true });
  return cached;
}

/** Headless Debian Chromium. */
export async function launch() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    // Root in a container has no user namespace sandbox to give Chromium.
    args: ['--no-sandbox'],
  });
}

/** Exchanges `token` for the session cookie in `context` (the API's `POST /v1/session`). */
export async function login(context, token, url = env().url) {
  const res = await context.request.post(`${url}/v1/session`, {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(res.status(), 200, `POST /v1/session: ${res.status()} ${await res.text()}`);
  return res.json();
}

/** A new context and page collecting problems in `page.problems`; logged in with `token`. */
export async function openPage(browser, { token, viewport } = {}) {
  const context = await browser.newContext({ viewport: viewport ?? { width: 1280, height: 900 } });
  if (token) await login(context, token);
  const page = await context.newPage();
  page.problems = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      const at = msg.location()?.url;
      page.problems.push(`console error: ${msg.text()}${at ? ` (${at})` : ''}`);
    }
  });
  page.on('pageerror', (err) => page.problems.push(`page error: ${err.message}`));
  page.on('requestfailed', (req) => {
    // A stream the test closes on purpose is not a problem.
    if (req.failure()?.errorText !== 'net::ERR_ABORTED') {
      page.problems.push(`request failed: ${req.url()} ${req.failure()?.errorText}`);
    }
  });
  return page;
}

/** Fails, listing them, if the page logged errors or a request failed. */
export function assertNoConsoleErrors(page) {
  assert.deepEqual(page.problems, [], `the page had problems:\n${page.problems.join('\n')}`);
}

/** axe-core in the page: fails on serious or critical violations; returns the result. */
export async function checkA11y(page, name = 'page') {
  const source = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  // page.evaluate goes through the debugging protocol, which the page's CSP does not govern;
  // a <script> tag would be refused by `default-src 'self'`.
  await page.evaluate(source);
  const result = await page.evaluate(() =>
    globalThis.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const text = bad.map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.length} nodes: ${
    v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('; ')})`).join('\n');
  assert.equal(bad.length, 0, `${name}: axe-core found serious violations:\n${text}`);
  return result;
}

/** A screenshot at `$artifacts/NAME.png`, of the full page unless `fullPage: false`. */
export async function screenshot(page, name, { fullPage = true } = {}) {
  const file = path.join(env().artifacts, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  return file;
}

/** Starts `trial-ledger up --data dir` on a free port; resolves once it listens. */
export function startUp(dir, args = []) {
  const child = spawn(env().bin, ['up', '--data', dir, '--listen', '127.0.0.1:0', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`up never listened: ${out}`)), 120_000);
    child.on('exit', (code) => reject(new Error(`up exited with ${code}: ${out}`)));
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /^listening on (\S+)/m.exec(out);
      if (m) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        const stop = () => new Promise((done, fail) => {
          child.on('exit', (code) => (code === 0 ? done() : fail(new Error(`up exited ${code}`))));
          child.kill('SIGTERM');
        });
        resolve({ url: m[1], process: child, stop });
      }
    });
  });
}
