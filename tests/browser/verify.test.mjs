// The auditor's page's verification code (services/web/verify.js) on its own, in Node: the
// golden bundle (schemas/golden/vectors.txt `bundle.v1`), the tamper cases of
// tests/tests/bundle.rs (tests/browser/vectors/, written by the Rust verifier with its verdicts),
// and the ed25519-speccheck cases with FORMAT.md §9's verdicts (those of `verify`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyBundle, verifySig } from '../../services/web/verify.js';
import { fromHex, keyId, hex, decodeBundle } from '../../services/web/wire.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function golden(name) {
  const line = readFileSync(path.join(root, 'schemas/golden/vectors.txt'), 'utf8')
    .split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `no golden vector ${name}`);
  return fromHex(line.split(' ')[1]);
}

const goldenPin = () => ({
  trial: 'drup-golden',
  root: fromHex('8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c'),
  partitions: 8,
});

test('the golden bundle verifies, pinned, with every step but those not applicable', () => {
  const bytes = golden('bundle.v1');
  assert.equal(bytes.length, 942);
  const r = verifyBundle(bytes, { pinned: goldenPin() });
  assert.equal(r.failure, null, JSON.stringify(r.failure));
  assert.ok(r.ok);
  assert.equal(r.records.length, 2);
  assert.equal(r.registryPrefix, 2);
  assert.equal(r.signaturesVerified, 4);
  assert.equal(r.checkpointsVerified, 1);
  assert.equal(hex(keyId(goldenPin().root)), '5a81ff6124f717662e74d1d264565992');
  for (const rec of r.records) {
    for (const c of ['decode', 'chain', 'seal', 'author', 'key']) assert.equal(rec.checks[c], 'ok', `${rec.key} ${c}`);
  }
});

test('the golden bundle under another pinned root is red at the trust anchor', () => {
  const pin = { ...goldenPin(), root: fromHex('ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1') };
  const r = verifyBundle(golden('bundle.v1'), { pinned: pin });
  assert.equal(r.ok, false);
  assert.equal(r.failure.reason, 'trust-anchor');
});

test('a bit flipped in any byte of the golden bundle is caught (an error or a named failure)', () => {
  const bytes = golden('bundle.v1');
  for (let i = 0; i < bytes.length; i++) {
    // One bit per byte, the lowest and the highest in turn (both of every byte took 28 s).
    const bit = i % 2 ? 0x80 : 0x01;
    const t = bytes.slice();
    t[i] ^= bit;
    const r = verifyBundle(t, { pinned: goldenPin() });
    assert.ok(!r.ok && (r.error || r.failure), `flipping bit ${bit} of byte ${i} went unnoticed`);
  }
});

test('the tamper cases of tests/tests/bundle.rs get the Rust verifier\'s verdicts', () => {
  const dir = path.join(root, 'tests/browser/vectors');
  const cases = JSON.parse(readFileSync(path.join(dir, 'cases.json'), 'utf8'));
  assert.ok(cases.cases.length >= 10, 'the tamper vectors are there');
  const pinned = { trial: cases.pinned.trial, root: fromHex(cases.pinned.root), partitions: cases.pinned.partitions };
  for (const c of cases.cases) {
    const bytes = new Uint8Array(readFileSync(path.join(dir, c.file)));
    const held = (c.held ?? []).map((f) => readFileSync(path.join(dir, f), 'utf8'));
    const r = verifyBundle(bytes, { pinned: c.unpinned ? null : pinned, held });
    if (c.error) {
      assert.ok(r.error, `${c.name}: expected an unreadable bundle, got ${JSON.stringify(r.failure)}`);
      continue;
    }
    assert.equal(r.error, null, `${c.name}: ${r.error}`);
    assert.equal(r.ok, c.ok, `${c.name}: ok ${r.ok}, failure ${JSON.stringify(r.failure)}`);
    if (c.reason) {
      assert.equal(r.failure?.reason, c.reason, `${c.name}: ${JSON.stringify(r.failure)}`);
      assert.equal(r.failure.item, c.item, `${c.name}: ${JSON.stringify(r.failure)}`);
    } else if (c.ok) {
      assert.equal(r.failure, null, `${c.name}: ${JSON.stringify(r.failure)}`);
    }
    if (c.held_status) assert.deepEqual(r.held.map((h) => h.status), c.held_status, c.name);
  }
});

function speccheckCases() {
  const env = process.env.TL_SPECCHECK_CASES;
  if (env) return env;
  const rel = 'shared/data/ed25519-speccheck/cases.json';
  for (let d = root; ; d = path.dirname(d)) {
    if (existsSync(path.join(d, rel))) return path.join(d, rel);
    if (path.dirname(d) === d) break;
  }
  throw new Error(`${rel} not found above ${root}; set TL_SPECCHECK_CASES`);
}

test('the ed25519-speccheck cases get FORMAT.md §9\'s verdicts (ZIP-215), as `verify` does', () => {
  const cases = JSON.parse(readFileSync(speccheckCases(), 'utf8'));
  assert.equal(cases.length, 12);
  const verdicts = cases.map((c) =>
    verifySig(fromHex(c.pub_key), fromHex(c.message), fromHex(c.signature)) ? 'V' : 'X');
  assert.equal(verdicts.join(' '), 'V V V V V V X X X V V V');
});
