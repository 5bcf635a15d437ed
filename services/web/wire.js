// Decoding of trial-ledger's bytes (schemas/FORMAT.md §1-§6, §10, §17a; schemas/BUNDLE.md §1),
// for the auditor's page. Pure functions over Uint8Array: no DOM, no network, so the same file
// runs in the browser and in Node's tests.

import { sha256 } from './vendor/noble-hashes/sha2.js';

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** A decoding failure with FORMAT.md's reason code (`malformed`, `unsupported-format`). */
export class DecodeError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** Bytes of `parts` (Uint8Array or strings, UTF-8) concatenated. */
export function concat(...parts) {
  const arrays = parts.map((p) => (typeof p === 'string' ? enc.encode(p) : p));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

/** SHA-256 of the concatenation of `parts`. */
export function H(...parts) {
  return sha256(concat(...parts));
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function fromHex(text) {
  const t = text.trim();
  if (!/^([0-9a-fA-F]{2})*$/.test(t)) throw new Error('not hexadecimal');
  const out = new Uint8Array(t.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(t.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function equal(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function b64decode(text) {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new Error('not padded standard base64');
  }
  const bin = atob(text);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

export function b64encode(bytes) {
  return btoa(String.fromCharCode(...bytes));
}

/** Postcard under FORMAT.md §1's canonical rule: overlong varints are noted, not refused. */
export class Reader {
  constructor(bytes, at = 0) {
    this.b = bytes;
    this.i = at;
    this.overlong = false;
  }

  fail(what) {
    throw new DecodeError('malformed', `${what} at byte ${this.i}`);
  }

  raw(n) {
    if (this.i + n > this.b.length) this.fail('truncated');
    const v = this.b.subarray(this.i, this.i + n);
    this.i += n;
    return v;
  }

  u8() {
    return this.raw(1)[0];
  }

  /** An unsigned varint of at most `max` bytes whose last byte at full length is <= `limit`. */
  varint(max, limit) {
    let x = 0n;
    for (let k = 0; ; k++) {
      if (k >= max) this.fail('varint too long');
      const c = this.u8();
      if (k === max - 1 && c > limit) this.fail('varint out of range');
      x |= BigInt(c & 0x7f) << BigInt(7 * k);
      if (!(c & 0x80)) {
        if (k > 0 && c === 0) this.overlong = true;
        return x;
      }
    }
  }

  u16() { return Number(this.varint(3, 0x03)); }
  u32() { return Number(this.varint(5, 0x0f)); }
  u64() { return Number(this.varint(10, 0x01)); }
  len() { return this.u64(); }

  i64() {
    const z = this.varint(10, 0x01);
    return Number((z >> 1n) ^ -(z & 1n));
  }

  i32() {
    const z = this.varint(5, 0x0f);
    return Number((z >> 1n) ^ -(z & 1n));
  }

  bool() {
    const t = this.u8();
    if (t > 1) this.fail('bad bool');
    return t === 1;
  }

  option(read) {
    const t = this.u8();
    if (t > 1) this.fail('bad Option tag');
    return t === 1 ? read() : null;
  }

  bytes() {
    return this.raw(this.len());
  }

  string() {
    const raw = this.bytes();
    try {
      return dec.decode(raw);
    } catch {
      return this.fail('invalid UTF-8');
    }
  }

  vec(read) {
    const n = this.len();
    const out = [];
    for (let k = 0; k < n; k++) out.push(read());
    return out;
  }

  /** An enum index below `n`. */
  index(n) {
    const v = this.u32();
    if (v >= n) this.fail(`unknown enum index ${v}`);
    return v;
  }

  end() {
    if (this.i !== this.b.length) this.fail('trailing bytes');
  }
}

/** TrialId: 1-64 bytes of [a-z0-9._-], first [a-z0-9] (FORMAT.md §2). */
export function trialId(r) {
  const s = r.string();
  if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(s)) r.fail(`bad trial id ${JSON.stringify(s)}`);
  return s;
}

function name(r) {
  const s = r.string();
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(s)) r.fail(`bad subject name ${JSON.stringify(s)}`);
  return s;
}

/** Subject: { kind: 0 trial | 1 patient | 2 cohort, name, text, bytes (canonical) }. */
export function subject(r) {
  const start = r.i;
  const kind = r.index(3);
  const nm = kind === 0 ? '' : name(r);
  const text = kind === 0 ? 'trial' : `${kind === 1 ? 'patient' : 'cohort'}:${nm}`;
  return { kind, name: nm, text, bytes: r.b.slice(start, r.i) };
}

/** The canonical bytes of a subject's text form (`patient:ID`, `cohort:ID`). */
export function subjectBytes(text) {
  const m = /^(patient|cohort):([A-Za-z0-9._-]{1,64})$/.exec(text);
  if (!m) throw new Error(`${JSON.stringify(text)} is not patient:ID or cohort:ID`);
  const nm = enc.encode(m[2]);
  return concat(Uint8Array.of(m[1] === 'patient' ? 1 : 2, nm.length), nm);
}

function link(r) {
  return { seq: r.u64(), hash: r.raw(32) };
}

function reference(r) {
  return { partition: r.u32(), seq: r.u64(), hash: r.raw(32) };
}

function envelope(r) {
  return {
    eventType: r.u16(),
    eventVersion: r.u16(),
    sigAlg: r.u8(),
    hashAlg: r.u8(),
    payload: r.bytes(),
    personalData: r.option(() => r.bytes()),
  };
}

function submission(r) {
  const start = r.i;
  const version = r.u16();
  if (version !== 1) throw new DecodeError('unsupported-format', `submission version ${version}`);
  const s = {
    version,
    trial: trialId(r),
    submissionId: r.raw(16),
    subject: subject(r),
    envelope: envelope(r),
    author: r.raw(16),
    meaning: r.index(3),
    clientTime: r.i64(),
    minRegistrySeq: r.u64(),
    cites: r.vec(() => reference(r)),
  };
  s.bytes = r.b.subarray(start, r.i);
  return s;
}

/**
 * A record's wire bytes (FORMAT.md §6.1) decoded canonically, with its hash (§6.2).
 * Throws DecodeError with `malformed`, `non-canonical` or `unsupported-format`.
 */
export function decodeRecord(bytes) {
  if (bytes.length < 64) throw new DecodeError('malformed', 'shorter than a seal');
  const body = bytes.subarray(0, bytes.length - 64);
  const first = new Reader(body);
  const version = first.u16();
  if (version !== 1) throw new DecodeError('unsupported-format', `record version ${version}`);
  const r = new Reader(body);
  r.u16();
  const rec = {
    partition: r.u32(),
    seq: r.u64(),
    prevHash: r.raw(32),
    subjectPrev: r.option(() => link(r)),
    orderingTime: r.i64(),
    registrySeq: r.u64(),
    submission: submission(r),
    signature: r.raw(64),
    sequencer: r.raw(16),
    sealAlg: r.u8(),
  };
  r.end();
  if (r.overlong) throw new DecodeError('non-canonical', 'an overlong varint');
  const env = rec.submission.envelope;
  if (rec.sealAlg !== 1) throw new DecodeError('unsupported-format', `seal_alg ${rec.sealAlg}`);
  if (env.sigAlg !== 1 || env.hashAlg !== 1) {
    throw new DecodeError('unsupported-format', `sig_alg ${env.sigAlg}, hash_alg ${env.hashAlg}`);
  }
  rec.seal = bytes.subarray(bytes.length - 64);
  rec.hash = H(Uint8Array.of(0), body);
  rec.bytes = bytes;
  return rec;
}

/** KeyId of an Ed25519 public key (FORMAT.md §2). */
export function keyId(pk) {
  return H('trial-ledger/v1/key-id\0', Uint8Array.of(1), pk).slice(0, 16);
}

export function genesis(trial, p) {
  const be = new Uint8Array(4);
  new DataView(be.buffer).setUint32(0, p);
  return H('trial-ledger/v1/genesis\0', trial, Uint8Array.of(0), be);
}

/** partition_of (FORMAT.md §7). */
export function partitionOf(trial, subj, n) {
  if (subj.kind === 0 || n === 1) return 0;
  const d = H('trial-ledger/v1/partition\0', trial, Uint8Array.of(0), subj.bytes);
  const x = new DataView(d.buffer, d.byteOffset, 8).getBigUint64(0);
  return Number(x % BigInt(n));
}

export function sealMessage(trial, hash) {
  return concat('trial-ledger/v1/record\0', trial, Uint8Array.of(0), hash);
}

export function submissionMessage(sub) {
  return concat('trial-ledger/v1/submission\0', sub.trial, Uint8Array.of(0), sub.bytes);
}

/** The audit bundle (BUNDLE.md §1); throws Error with `.kind` error text. */
export function decodeBundle(bytes) {
  const magic = 'TLBUNDLE';
  if (bytes.length < 8 || dec.decode(bytes.subarray(0, 8)) !== magic) {
    throw new DecodeError('error', 'not a bundle (no TLBUNDLE magic)');
  }
  const r = new Reader(bytes, 8);
  const version = r.u16();
  if (version !== 1) throw new DecodeError('error', `unsupported bundle version ${version}`);
  const hashes = () => r.vec(() => r.raw(32));
  const b = {
    version,
    trial: trialId(r),
    partitionCount: r.u32(),
    root: r.raw(32),
  };
  const scope = r.index(3);
  b.scope = scope === 0 ? { kind: 'all', subjects: [] }
    : scope === 1 ? { kind: 'subject', subjects: [subject(r)] }
      : { kind: 'subjects', subjects: r.vec(() => subject(r)) };
  b.sections = r.vec(() => ({
    partition: r.u32(),
    checkpoints: r.vec(() => ({ note: r.string(), toAnchor: hashes() })),
    coverage: r.index(2) === 0 ? { prefix: true, toAnchor: hashes() } : { prefix: false },
    records: r.vec(() => ({ seq: r.u64(), record: r.bytes(), path: hashes() })),
  }));
  r.end();
  if (r.overlong) throw new DecodeError('error', 'malformed: not canonical (an overlong varint)');
  return b;
}

/** Payload of KeyEnrolled v1 (FORMAT.md §10). */
export function keyEnrolled(payload) {
  const r = new Reader(payload);
  const v = { publicKey: r.raw(32), name: r.string(), role: r.index(8) };
  r.end();
  if (r.overlong) throw new DecodeError('malformed', 'non-canonical payload');
  return v;
}

export function keyRevoked(payload) {
  const r = new Reader(payload);
  const v = { key: r.raw(16), reason: r.string() };
  r.end();
  if (r.overlong) throw new DecodeError('malformed', 'non-canonical payload');
  return v;
}

export function rootKeyRotated(payload) {
  const r = new Reader(payload);
  const v = { newRoot: r.raw(32), cosignature: r.raw(64) };
  r.end();
  return v;
}

export function trialRegistered(payload) {
  const r = new Reader(payload);
  const v = { partitionCount: r.u32(), root: r.raw(32), title: r.string() };
  r.end();
  if (r.overlong) throw new DecodeError('malformed', 'non-canonical payload');
  return v;
}

export function protocolAmended(payload) {
  const r = new Reader(payload);
  const v = { protocolVersion: r.u32(), documentFormat: r.u16(), document: r.bytes() };
  r.end();
  if (r.overlong) throw new DecodeError('malformed', 'non-canonical payload');
  return v;
}

const RESPONSES = ['CR', 'PR', 'SD', 'PD', 'NE'];
const NON_TARGET = ['NoneAtBaseline', 'Absent', 'Present', 'UnequivocalProgression', 'NotAssessed'];

/** ResponseAssessed v1 (FORMAT.md §10a.3). */
export function responseAssessed(payload) {
  const r = new Reader(payload);
  const v = {
    assessedOn: r.i32(),
    baseline: r.bool(),
    targets: r.vec(() => ({ lesion: r.u32(), nodal: r.bool(), diameterMm10: r.u32() })),
    newLesions: r.bool(),
    nonTarget: NON_TARGET[r.index(5)],
    investigator: RESPONSES[r.index(5)],
  };
  r.end();
  return v;
}

/** Corrected v1: the corrected content (FORMAT.md §10a.3). */
export function corrected(payload) {
  const r = new Reader(payload);
  const v = { reason: r.string(), eventType: r.u16(), eventVersion: r.u16(), payload: r.bytes() };
  r.end();
  return v;
}

/** A signed checkpoint (FORMAT.md §17a): body fields and signature lines. */
export function parseNote(note) {
  const sep = note.indexOf('\n\n');
  if (sep < 0 || !note.endsWith('\n')) throw new Error('not a signed note');
  const body = note.slice(0, sep + 1);
  const lines = body.split('\n').slice(0, -1);
  if (lines.length !== 3) throw new Error('a checkpoint body has exactly three lines');
  const [origin, sizeText, rootText] = lines;
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) throw new Error(`bad size ${JSON.stringify(sizeText)}`);
  const root = b64decode(rootText);
  if (root.length !== 32) throw new Error('the root is not 32 bytes');
  const sigs = [];
  for (const line of note.slice(sep + 2).split('\n').slice(0, -1)) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) throw new Error(`bad signature line ${JSON.stringify(line)}`);
    const raw = b64decode(m[2]);
    if (raw.length < 5) throw new Error('a signature line too short');
    sigs.push({ name: m[1], keyHash: raw.slice(0, 4), sig: raw.slice(4) });
  }
  if (sigs.length === 0) throw new Error('no signature line');
  return { origin, size: Number(sizeText), root, body: enc.encode(body), sigs };
}

/** The signed-note key hash of a sequencer key (FORMAT.md §17a). */
export function noteKeyHash(keyName, pk) {
  return H(keyName, '\n', Uint8Array.of(1), pk).slice(0, 4);
}

/** Splits a note list (a held-checkpoints file, FORMAT.md §17a) into notes. */
export function splitNotes(text) {
  const notes = [];
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  let cur = [];
  let inSigs = false;
  for (const line of lines) {
    if (line === '') {
      if (cur.length && !inSigs) { cur.push(''); inSigs = true; } else if (inSigs) {
        notes.push(`${cur.join('\n')}\n`);
        cur = [];
        inSigs = false;
      }
      continue;
    }
    cur.push(line);
  }
  if (cur.length) notes.push(`${cur.join('\n')}\n`);
  return notes;
}
