// The harness itself, against the shared server: a browser logs in with a token through the
// session cookie and reads a protected route with it; without a token the route is refused.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { env, launch, openPage } from './harness.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('a token becomes a session cookie that the page sends on protected reads', async () => {
  const { url, tokens } = env();
  const page = await openPage(browser, { token: tokens.auditor });
  await page.goto(`${url}/healthz`);
  const status = await page.evaluate(async () =>
    (await fetch('/v1/partitions/0/records?from=0&limit=1')).status);
  assert.equal(status, 200);
  await page.context().close();
});

test('without a token a protected read is 401 with a JSON error', async () => {
  const page = await openPage(browser);
  await page.goto(`${env().url}/healthz`);
  const body = await page.evaluate(async () => {
    const r = await fetch('/v1/partitions/0/records?from=0&limit=1');
    return { status: r.status, json: await r.json() };
  });
  assert.equal(body.status, 401);
  assert.equal(body.json.code, 'unauthorized');
  await page.context().close();
});

test('startUp serves a demo folder of its own, stops it, and serves it again after a restart', async () => {
  const { mkdtempSync } = await import('node:fs');
  const path = await import('node:path');
  const { startUp } = await import('./harness.mjs');
  const dir = path.join(mkdtempSync(path.join(env().artifacts, 'restart-')), 'demo');
  const first = await startUp(dir, ['--demo', '--patients', '3', '--seed', '1']);
  const before = await (await fetch(`${first.url}/v1/checkpoints`)).json();
  await first.stop();
  // The demo's key files have the passphrases tests/browser/run exports, so it reopens.
  const second = await startUp(dir);
  const after = await (await fetch(`${second.url}/v1/checkpoints`)).json();
  await second.stop();
  assert.deepEqual(after, before, 'the same published checkpoints after the restart');
});
