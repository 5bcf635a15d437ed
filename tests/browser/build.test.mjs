// The auditor's page is reproducible from the lock file: the vendored noble files in
// services/web/vendor/ are byte for byte the ones `npm ci` installs from package-lock.json, and
// the committed saved copy is what services/web/build-saved.mjs builds from services/web, with
// the SHA-256 the README gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSaved, OUTPUT, sha256 } from '../../services/web/build-saved.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const web = path.join(root, 'services/web/vendor');
const npm = path.join(here, 'node_modules/@noble');

test('the vendored noble files are the ones the lock file pins', () => {
  const lock = JSON.parse(readFileSync(path.join(here, 'package-lock.json'), 'utf8'));
  const pairs = [
    ['noble-ed25519.js', 'ed25519/index.js'], ['LICENSE-noble-ed25519', 'ed25519/LICENSE'],
    ['noble-hashes/sha2.js', 'hashes/sha2.js'], ['noble-hashes/_md.js', 'hashes/_md.js'],
    ['noble-hashes/_u64.js', 'hashes/_u64.js'], ['noble-hashes/utils.js', 'hashes/utils.js'],
    ['noble-hashes/LICENSE', 'hashes/LICENSE'],
  ];
  for (const [ours, theirs] of pairs) {
    assert.ok(readFileSync(path.join(web, ours)).equals(readFileSync(path.join(npm, theirs))),
      `services/web/vendor/${ours} differs from node_modules/@noble/${theirs}`);
  }
  for (const [name, dir] of [['@noble/ed25519', 'ed25519'], ['@noble/hashes', 'hashes']]) {
    const installed = JSON.parse(readFileSync(path.join(npm, dir, 'package.json'), 'utf8')).version;
    assert.equal(lock.packages[`node_modules/${name}`].version, installed, name);
  }
});

test('the committed saved copy is the build of services/web, and the README gives its SHA-256', () => {
  const built = buildSaved();
  assert.equal(readFileSync(OUTPUT, 'utf8'), built,
    'services/web/saved/trial-ledger-audit.html is stale: run node services/web/build-saved.mjs');
  assert.equal(buildSaved(), built, 'the build is deterministic');
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  assert.ok(readme.includes(sha256(built)), `README.md does not give the saved copy's SHA-256 ${sha256(built)}`);
});
