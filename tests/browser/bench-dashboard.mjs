// Benchmark: the safety board dashboard's first load on the demo ledger.
//
//   (cd tests/browser && npm ci) && node tests/browser/bench-dashboard.mjs [--patients N] [--rounds R]
//
// Starts its own `trial-ledger up --data TMP --demo` (the binary `$TL_BIN`, else
// `${CARGO_TARGET_DIR:-target}/release/trial-ledger`, else `.../debug/trial-ledger`), issues a
// `dsmb` token, and loads `/safety` in a fresh Chromium context (cold cache) R times (default
// 5). For each load it measures, from the navigation's start: the first feed row on screen,
// the safety tables rendered, and the feed caught up with the ledger (`caught-up`: the whole
// history delivered); and the bytes the page received (Chrome DevTools Protocol: each
// request's encoded bytes, headers included; the stream's until caught up).
// References measured in the same run, on the same server: the API alone from Node (GET
// /v1/views/safety/tables, and the stream read until `caught-up`), and Chromium loading /healthz.
// Prints a table; median and range over the rounds.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launch } from './harness.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const patients = opt('patients', null);
const rounds = Number(opt('rounds', '5'));

function binary() {
  if (process.env.TL_BIN) return process.env.TL_BIN;
  const target = process.env.CARGO_TARGET_DIR ?? path.resolve(import.meta.dirname, '../../target');
  for (const p of ['release', 'debug']) {
    const b = path.join(target, p, 'trial-ledger');
    if (existsSync(b)) return b;
  }
  throw new Error('no trial-ledger binary: build it (cargo build --release) or set TL_BIN');
}

function startUp(bin, dir) {
  const a = ['up', '--data', dir, '--demo', '--listen', '127.0.0.1:0'];
  if (patients) a.push('--patients', patients);
  const child = spawn(bin, a, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr.on('data', (c) => { out += c; });
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`up exited ${code}: ${out}`)));
    child.stdout.on('data', (c) => {
      out += c;
      const m = /^listening on (\S+)/m.exec(out);
      if (m) {
        child.removeAllListeners('exit');
        resolve({ url: m[1], child });
      }
    });
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs, unit = 'ms') => `${median(xs).toFixed(0)} ${unit} (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`;

/** One cold load of the dashboard: times from navigation start, and bytes received. */
async function loadOnce(browser, url, token) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.request.post(`${url}/v1/session`, { headers: { authorization: `Bearer ${token}` } });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  // Bytes per request: what `loadingFinished` says (headers and body, encoded), else the sum
  // of `dataReceived`. Chromium reports an EventSource's body inconsistently (sometimes no
  // `dataReceived` bytes until it ends), so the stream counts the larger of that sum and its
  // messages as the server wrote them (`id:`, `event:`, `data:` lines and the blank line).
  const bytes = new Map();
  let stream = null;
  let sse = 0;
  cdp.on('Network.requestWillBeSent', (e) => {
    if (e.request.url.includes('/v1/safety/stream')) stream = e.requestId;
  });
  cdp.on('Network.dataReceived', (e) => bytes.set(e.requestId, (bytes.get(e.requestId) ?? 0) + e.encodedDataLength));
  cdp.on('Network.loadingFinished', (e) => bytes.set(e.requestId, Math.max(bytes.get(e.requestId) ?? 0, e.encodedDataLength)));
  cdp.on('Network.eventSourceMessageReceived', (e) => {
    sse += `id: ${e.eventId}\nevent: ${e.eventName}\ndata: ${e.data}\n\n`.length;
  });
  const t0 = Date.now();
  await page.goto(`${url}/safety`, { waitUntil: 'commit' });
  const firstRow = page.waitForSelector('#feed-table tbody tr', { timeout: 300_000 }).then(() => Date.now() - t0);
  const tables = page.waitForSelector('#tables[data-state=loaded]', { timeout: 300_000 }).then(() => Date.now() - t0);
  const live = page.waitForSelector('#feed[data-state=live]', { timeout: 300_000 }).then(() => Date.now() - t0);
  const [row, tab, cau] = await Promise.all([firstRow, tables, live]);
  if (stream) bytes.set(stream, Math.max(bytes.get(stream) ?? 0, sse));
  const total = [...bytes.values()].reduce((a, b) => a + b, 0);
  const rows = await page.locator('#feed-table tbody tr').count();
  const events = Number(await page.getAttribute('#feed', 'data-received'));
  await context.close();
  return { row, tab, cau, total, rows, events };
}

/** References: the API alone from Node, and Chromium loading a tiny page of the same server. */
async function references(browser, url, token) {
  const h = { authorization: `Bearer ${token}` };
  let t = Date.now();
  const view = await (await fetch(`${url}/v1/views/safety/tables`, { headers: h })).arrayBuffer();
  const viewMs = Date.now() - t;
  t = Date.now();
  const res = await fetch(`${url}/v1/safety/stream`, { headers: h });
  const reader = res.body.getReader();
  let text = '';
  let streamBytes = 0;
  for (;;) {
    const { value } = await reader.read();
    streamBytes += value.length;
    text += new TextDecoder().decode(value);
    if (text.includes('event: caught-up')) break;
  }
  const streamMs = Date.now() - t;
  await reader.cancel();
  const context = await browser.newContext();
  const page = await context.newPage();
  t = Date.now();
  await page.goto(`${url}/healthz`);
  const healthMs = Date.now() - t;
  await context.close();
  return { viewMs, viewBytes: view.byteLength, streamMs, streamBytes, healthMs };
}

const bin = binary();
const dir = mkdtempSync(path.join(os.tmpdir(), 'tl-bench-dashboard-'));
const data = path.join(dir, 'demo');
const t0 = Date.now();
const server = await startUp(bin, data);
const demoS = (Date.now() - t0) / 1000;
const token = spawnSync(bin, ['tokens', 'new', '--data', data, '--name', 'bench', '--role', 'dsmb'],
  { encoding: 'utf8' }).stdout.trim();
const browser = await launch();
try {
  await loadOnce(browser, server.url, token); // warm the server's views once (not counted)
  const loads = [];
  const refs = [];
  for (let i = 0; i < rounds; i++) {
    loads.push(await loadOnce(browser, server.url, token));
    refs.push(await references(browser, server.url, token));
  }
  const l = loads[0];
  console.log(`dashboard first load: ${bin}, demo of ${patients ?? 'the default'} patients (written in ${demoS.toFixed(0)} s), ` +
    `${l.events} stream events in the history, ${l.rows} feed rows drawn; ${rounds} cold loads; ` +
    `${os.cpus().length} cores (${os.cpus()[0].model}), load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log('| figure | median (range) |');
  console.log('|---|---:|');
  console.log(`| navigation → first feed row | ${fmt(loads.map((x) => x.row))} |`);
  console.log(`| navigation → safety tables rendered | ${fmt(loads.map((x) => x.tab))} |`);
  console.log(`| navigation → feed caught up (history delivered) | ${fmt(loads.map((x) => x.cau))} |`);
  console.log(`| bytes received by the page (until caught up) | ${fmt(loads.map((x) => x.total / 1024), 'KiB')} |`);
  console.log(`| reference: GET /v1/views/safety/tables from Node (the page's tables) | ${fmt(refs.map((x) => x.viewMs))}, ${(refs[0].viewBytes / 1024).toFixed(0)} KiB |`);
  console.log(`| reference: the stream until caught-up, from Node | ${fmt(refs.map((x) => x.streamMs))}, ${(refs[0].streamBytes / 1024).toFixed(0)} KiB |`);
  console.log(`| reference: Chromium loads /healthz | ${fmt(refs.map((x) => x.healthMs))} |`);
} finally {
  await browser.close();
  server.child.kill('SIGTERM');
  await new Promise((r) => server.child.on('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
