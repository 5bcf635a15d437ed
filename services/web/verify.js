// The audit bundle's verification (schemas/BUNDLE.md §2) in JavaScript, for the auditor's
// page: the same steps, in the same order, stopping at the first failure with the same item
// and reason code as `trial-ledger verify-bundle` (tl_ledger::bundle). Signatures follow
// FORMAT.md §9 (ZIP-215, @noble/ed25519 with zip215: true) and checkpoint signatures §17a
// (ZIP-215 and the cofactorless equation). Nothing here touches the DOM or the network.
//
// verifyBundle(bytes, { pinned, held }) returns a report:
//   { readable, error, ok, decoded (the decoded records, wire.decodeRecord), failure: {item, reason, detail, step} | null, anchorPinned,
//     steps: [{ step, name, status: 'ok' | 'fail' | 'not-run', detail }],
//     records: [{ key: 'p/seq', partition, seq, subject, eventType, typeName, author, role,
//                 orderingTime, checks: { name: 'ok' | 'fail' | 'not-run' }, failure }],
//     lines, held: [{ partition, size, status, detail }], subjectRecords, signaturesVerified,
//     checkpointsVerified, unknownTypeRecords, uncarriedCites, registryPrefix, trial, scope }
// `pinned` = { trial, root (Uint8Array 32), partitions } (a trust file, FORMAT.md §18);
// `held` = signed checkpoint notes (strings) held outside the server (BUNDLE.md §2 step 11).

import * as ed from './vendor/noble-ed25519.js';
import { sha512 } from './vendor/noble-hashes/sha2.js';
import {
  DecodeError, concat, decodeBundle, decodeRecord, equal, genesis, hex, keyEnrolled, keyId,
  keyRevoked, noteKeyHash, parseNote, partitionOf, protocolAmended, rootKeyRotated,
  sealMessage, submissionMessage, trialRegistered,
} from './wire.js';
import { rootOf, verifyConsistency, verifyInclusion } from './merkle.js';

ed.hashes.sha512 = sha512;

const L = 2n ** 252n + 27742317777372353535851937790883648493n;

/** FORMAT.md §9: valid exactly under ZIP-215. */
export function verifySig(pk, msg, sig) {
  try {
    return ed.verify(sig, msg, pk, { zip215: true });
  } catch {
    return false;
  }
}

function leToBig(bytes) {
  let x = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(bytes[i]);
  return x;
}

/** FORMAT.md §17a: a checkpoint signature also satisfies the cofactorless equation. */
export function verifyCheckpointSig(pk, msg, sig) {
  if (!verifySig(pk, msg, sig)) return false;
  try {
    const A = ed.Point.fromBytes(pk, true);
    const s = leToBig(sig.subarray(32));
    if (s >= L) return false;
    const k = leToBig(sha512(concat(sig.subarray(0, 32), pk, msg))) % L;
    const r = ed.Point.BASE.multiply(s, false).subtract(A.multiply(k, false));
    return equal(r.toBytes(), sig.subarray(0, 32));
  } catch {
    return false;
  }
}

/** FORMAT.md §9 "Enrolment is stricter": why `pk` cannot be enrolled, or null. */
export function enrolRefusal(pk) {
  let A;
  try {
    A = ed.Point.fromBytes(pk, false);
  } catch {
    return 'not a canonical curve point';
  }
  if (!equal(A.toBytes(), pk)) return 'not the canonical encoding of its point';
  if (A.isSmallOrder()) return 'of small order';
  if (!A.isTorsionFree()) return 'not in the prime-order subgroup';
  return null;
}

export const ROLES = ['lab', 'matcher', 'mtb', 'investigator', 'safety', 'sequencer',
  'cohort-engine', 'admin'];

export const TYPE_NAMES = {
  0x0001: 'TrialRegistered', 0x0002: 'KeyEnrolled', 0x0003: 'KeyRevoked',
  0x0004: 'RootKeyRotated', 0x0005: 'ProtocolAmended', 0x0101: 'PatientRegistered',
  0x0102: 'ConsentRecorded', 0x0103: 'ConsentWithdrawn', 0x0104: 'SequencingResultReported',
  0x0105: 'MatchProposed', 0x0106: 'MatchDecided', 0x0107: 'SlotAssigned',
  0x0108: 'SlotRefused', 0x0109: 'PatientEnrolled', 0x010a: 'DoseAdministered',
  0x010b: 'DoseModified', 0x010c: 'AdverseEventReported', 0x010d: 'AdverseEventUpdated',
  0x010e: 'ResponseAssessed', 0x010f: 'TreatmentEnded', 0x0110: 'SurvivalStatusRecorded',
  0x0111: 'DeathRecorded', 0x0112: 'CohortStageDecided', 0x0113: 'Corrected',
};

/** FORMAT.md §11: who may author a type: { root, roles } or null for an unknown type. */
export function authority(t) {
  const roles = (...names) => ({ root: false, roles: names });
  if (t >= 1 && t <= 4) return { root: true, roles: [] };
  if (t === 5) return { root: true, roles: ['admin'] };
  if ([0x0101, 0x0102, 0x0103, 0x0109, 0x010a, 0x010b, 0x010e, 0x010f, 0x0110, 0x0111]
    .includes(t)) return roles('investigator');
  if (t === 0x010c || t === 0x010d) return roles('investigator', 'safety');
  if (t === 0x0104) return roles('lab');
  if (t === 0x0105) return roles('matcher');
  if (t === 0x0106) return roles('mtb');
  if ([0x0107, 0x0108, 0x0112].includes(t)) return roles('cohort-engine');
  if (t === 0x0113) return roles('lab', 'matcher', 'mtb', 'investigator', 'safety', 'cohort-engine');
  return null;
}

/** A negative verdict: the first failing item. */
class Failure extends Error {
  constructor(item, reason, detail) {
    super(`${item}: ${reason}: ${detail}`);
    this.item = item;
    this.reason = reason;
    this.detail = detail;
  }
}

const short = (h) => hex(h.subarray(0, 8));
const recFail = (p, seq, reason, detail) => new Failure(`record ${p}/${seq}`, reason, detail);

/** The key registry of FORMAT.md §12, built from partition 0 in order. */
class Registry {
  constructor(trial, root) {
    this.trial = trial;
    this.pinnedRoot = root;
    this.position = 0;
    this.roots = [{ from: 0, pk: root }];
    this.keys = new Map(); // hex(key id) -> { pk, name, role, enrolledAt, revoked }
    this.protocols = [];
    this.partitionCount = null;
  }

  rootAt(pos) {
    let r = this.pinnedRoot;
    for (const x of this.roots) if (x.from <= pos) r = x.pk;
    return r;
  }

  publicKey(id) {
    const e = this.keys.get(hex(id));
    if (e) return e.pk;
    return this.roots.map((x) => x.pk).find((pk) => equal(keyId(pk), id)) ?? null;
  }

  /** { root: true } or { role } at `pos`, else throws [reason, detail]. */
  authorAt(id, pos) {
    if (equal(keyId(this.rootAt(pos)), id)) return { root: true, role: null };
    const e = this.keys.get(hex(id));
    if (!e) {
      const i = this.roots.findIndex((x) => equal(keyId(x.pk), id));
      if (i >= 0 && i + 1 < this.roots.length) {
        throw ['unknown-key', `key ${hex(id)} was the trial root until registry position ${
          this.roots[i + 1].from}, when it was rotated out`];
      }
      throw ['unknown-key', `key ${hex(id)} is not enrolled`];
    }
    if (pos < e.enrolledAt) {
      throw ['key-not-yet-enrolled', `key ${hex(id)} (${e.name}) is enrolled from registry position ${e.enrolledAt}, record is at ${pos}`];
    }
    if (e.revoked && pos >= e.revoked.at) {
      throw ['key-revoked', `key ${hex(id)} (${e.name}) was revoked at registry position ${e.revoked.at}: ${e.revoked.reason}`];
    }
    return { root: false, role: ROLES[e.role], name: e.name };
  }

  /** The registry rules (FORMAT.md §10, §12); throws [reason, detail]. */
  check(sub) {
    const t = sub.envelope.eventType;
    const core = t >= 1 && t <= 5;
    const rule = (d) => { throw ['registry-rule', d]; };
    if (core && sub.subject.kind !== 0) rule(`${TYPE_NAMES[t]} must have the subject trial`);
    if (this.position === 0 && t !== 1) rule("the trial's first record must be TrialRegistered");
    if (!core) return;
    if (sub.envelope.eventVersion !== 1) {
      throw ['unsupported-format', `event version ${sub.envelope.eventVersion} of type ${t} is unknown`];
    }
    const payload = sub.envelope.payload;
    const decoded = (f) => {
      try { return f(payload); } catch (e) { throw ['malformed', `payload: ${e.message}`]; }
    };
    if (t === 1) {
      const ev = decoded(trialRegistered);
      if (this.position !== 0) rule('TrialRegistered may only be the first record');
      if (ev.partitionCount < 1 || ev.partitionCount > 65536) rule('bad partition count');
      if (!equal(ev.root, this.pinnedRoot)) {
        throw ['root-mismatch', 'TrialRegistered names a root key other than the pinned one'];
      }
    } else if (t === 2) {
      const ev = decoded(keyEnrolled);
      const why = enrolRefusal(ev.publicKey);
      if (why) rule(`key ${hex(ev.publicKey)} cannot be enrolled: ${why}`);
      if (this.publicKey(keyId(ev.publicKey))) rule('the key is already known');
      if (ev.name.trim() === '' || new TextEncoder().encode(ev.name).length > 200) {
        rule('a key needs a printed name of 1-200 bytes');
      }
    } else if (t === 3) {
      const ev = decoded(keyRevoked);
      const e = this.keys.get(hex(ev.key));
      if (!e) rule(`cannot revoke ${hex(ev.key)}: not an enrolled key`);
      if (e.revoked) rule(`key ${hex(ev.key)} is already revoked`);
    } else if (t === 4) {
      const ev = decoded(rootKeyRotated);
      const old = this.rootAt(this.position);
      const why = enrolRefusal(ev.newRoot);
      if (why) rule(`the new root key cannot be a root: ${why}`);
      if (equal(ev.newRoot, old)) rule('the new root key is the root key in force');
      if (this.publicKey(keyId(ev.newRoot))) rule('the new root key is already known');
      const msg = concat('trial-ledger/v1/root-rotation\0', this.trial, Uint8Array.of(0), old, ev.newRoot);
      if (!verifySig(ev.newRoot, msg, ev.cosignature)) rule('the co-signature of the new root does not verify');
    } else if (t === 5) {
      const ev = decoded(protocolAmended);
      const last = this.protocols.at(-1);
      if (last && ev.protocolVersion <= last.protocolVersion) rule('the protocol version does not increase');
    }
  }

  apply(sub) {
    const at = this.position + 1;
    const p = sub.envelope.payload;
    const t = sub.envelope.eventType;
    try {
      if (t === 1) this.partitionCount = trialRegistered(p).partitionCount;
      if (t === 2) {
        const ev = keyEnrolled(p);
        this.keys.set(hex(keyId(ev.publicKey)), {
          pk: ev.publicKey, name: ev.name, role: ev.role, enrolledAt: at, revoked: null,
        });
      }
      if (t === 3) {
        const ev = keyRevoked(p);
        const e = this.keys.get(hex(ev.key));
        if (e) e.revoked = { at, reason: ev.reason };
      }
      if (t === 4) this.roots.push({ from: at, pk: rootKeyRotated(p).newRoot });
      if (t === 5) this.protocols.push(protocolAmended(p));
    } catch { /* a payload that does not decode changes nothing (checked before) */ }
    this.position = at;
  }
}

/** The steps of BUNDLE.md §2, in order, with the names the page shows. */
export const STEPS = [
  [0, 'read', 'Read the bundle (magic, version, canonical decoding)'],
  [1, 'anchor', 'Trust anchor: trial, root key and partition count pinned'],
  [2, 'layout', 'Layout: sections, record order, the registry prefix'],
  [3, 'decode', 'Records decode canonically; signatures checked under ZIP-215'],
  [4, 'registry', 'Registry prefix (partition 0): chain, seals, authors, keys, roles, registry rules'],
  [5, 'checkpoints', 'Checkpoints: signed by an enrolled sequencer key, one growing history'],
  [6, 'inclusion', 'Inclusion: every record is in its partition\'s signed checkpoint'],
  [7, 'records', 'Other records: chain, seals, author signatures, key status and role at their registry position'],
  [8, 'backlinks', 'Back-links (subject_prev): no record of the subject left out'],
  [9, 'references', 'References: cited records carried with the cited hash'],
  [10, 'whole', 'Everything (--all bundles only)'],
  [11, 'held', 'Checkpoints held outside the server (truncation, rewriting)'],
];

/** The record-level checks the page shows per record, and the step that sets each. */
export const RECORD_CHECKS = [
  ['decode', 'decodes'], ['chain', 'chain'], ['seal', 'seal'], ['author', 'author signature'],
  ['key', 'key and role'], ['inclusion', 'in checkpoint'], ['backlinks', 'back-links'],
  ['references', 'references'],
];

const REASON_CHECK = {
  malformed: 'decode', 'non-canonical': 'decode', 'unsupported-format': 'decode',
  'seq-gap': 'chain', 'wrong-trial': 'chain', 'wrong-partition': 'chain', 'prev-hash': 'chain',
  'subject-prev': 'chain', 'registry-seq': 'chain', 'time-regressed': 'chain',
  'duplicate-submission': 'chain', 'out-of-order': 'chain', 'root-mismatch': 'key',
  'unknown-sequencer': 'seal', 'bad-seal': 'seal', 'sequencer-not-authorized': 'seal',
  'unknown-key': 'author', 'bad-author-signature': 'author', 'key-not-yet-enrolled': 'key',
  'key-revoked': 'key', 'role-not-permitted': 'key', 'registry-rule': 'key',
  'not-in-checkpoint': 'inclusion', 'incomplete-trail': 'backlinks',
  'reference-missing': 'references', 'reference-mismatch': 'references', layout: 'chain',
};

/** Verifies an audit bundle's bytes; see the top of this file for the report. */
export function verifyBundle(bytes, { pinned = null, held = [] } = {}) {
  const v = new Verifier(bytes, pinned);
  v.run(held);
  return v.report;
}

class Verifier {
  constructor(bytes, pinned) {
    this.bytes = bytes;
    this.pinned = pinned;
    this.report = {
      readable: false, error: null, ok: false, failure: null, anchorPinned: !!pinned,
      steps: STEPS.map(([step, id, name]) => ({ step, id, name, status: 'not-run', detail: '' })),
      records: [], decoded: [], lines: [], held: [], subjectRecords: [], signaturesVerified: 0,
      checkpointsVerified: 0, unknownTypeRecords: 0, uncarriedCites: 0, registryPrefix: 0,
      trial: null, scope: null,
    };
    this.byKey = new Map();
    this.step = 0;
  }

  pass(id, detail = '') {
    const s = this.report.steps.find((x) => x.id === id);
    s.status = 'ok';
    if (detail) s.detail = detail;
  }

  /** Marks `check` ok on every record not already failed on it. */
  passRecords(check, keys = null) {
    for (const r of this.report.records) {
      if (keys && !keys.has(r.key)) continue;
      if (r.checks[check] === 'not-run') r.checks[check] = 'ok';
    }
  }

  run(heldNotes) {
    const rep = this.report;
    try {
      this.b = decodeBundle(this.bytes);
    } catch (e) {
      rep.error = e.message;
      rep.steps[0].status = 'fail';
      rep.steps[0].detail = e.message;
      return;
    }
    rep.readable = true;
    const b = this.b;
    rep.trial = b.trial;
    rep.scope = b.scope.kind === 'all' ? 'all' : b.scope.subjects.map((s) => s.text).join(', ');
    this.pass('read', `${this.bytes.length} bytes, trial ${b.trial}, scope ${rep.scope}`);
    for (const s of b.sections) {
      for (const r of s.records) {
        const rec = {
          key: `${s.partition}/${r.seq}`, partition: s.partition, seq: r.seq, subject: null,
          eventType: null, typeName: null, author: null, role: null, orderingTime: null,
          checks: Object.fromEntries(RECORD_CHECKS.map(([c]) => [c, 'not-run'])), failure: null,
        };
        rep.records.push(rec);
        this.byKey.set(rec.key, rec);
      }
    }
    try {
      this.steps(heldNotes);
      rep.ok = !rep.held.some((h) => ['truncated', 'rewritten', 'bad-signature'].includes(h.status));
    } catch (e) {
      if (!(e instanceof Failure)) throw e;
      const step = rep.steps[this.step];
      step.status = 'fail';
      step.detail = `${e.item}: ${e.reason}: ${e.detail}`;
      rep.failure = { item: e.item, reason: e.reason, detail: e.detail, step: step.name };
      const m = /^record (\d+)\/(\d+)$/.exec(e.item);
      const rec = m && this.byKey.get(`${m[1]}/${m[2]}`);
      if (rec) {
        rec.checks[REASON_CHECK[e.reason] ?? 'chain'] = 'fail';
        rec.failure = rep.failure;
      }
    }
  }

  steps(heldNotes) {
    const { b, report: rep } = this;
    this.step = 1;
    this.anchor();
    this.step = 2;
    this.layout();
    this.pass('layout', `${b.sections.length} sections`);
    this.step = 3;
    this.carried = this.decodeAll();
    this.pass('decode', `${rep.records.length} records`);
    this.step = 4;
    this.registry = this.replayRegistry();
    this.step = 5;
    this.anchors = this.checkpoints();
    this.step = 6;
    this.inclusion();
    this.step = 7;
    this.others();
    this.step = 8;
    for (const s of b.scope.subjects) this.subjectChain(s);
    if (b.scope.kind === 'all') rep.steps[8].detail = 'not applicable: an --all bundle';
    else this.pass('backlinks');
    // Back-links are checked for the scope's subjects' records only (not for cited records).
    this.passRecords('backlinks', new Set(rep.subjectRecords));
    this.step = 9;
    this.references();
    this.step = 10;
    if (b.scope.kind === 'all') this.whole();
    else rep.steps[10].detail = 'not applicable: a subject bundle';
    this.step = 11;
    this.held(heldNotes);
  }

  anchor() {
    const { b, pinned, report: rep } = this;
    const n = b.partitionCount;
    if (pinned) {
      // A pasted root key pins the key alone; a trust file also the trial and partition count.
      const other = (pinned.trial != null && pinned.trial !== b.trial) || !equal(pinned.root, b.root)
        || (pinned.partitions != null && pinned.partitions !== n);
      if (other) {
        throw new Failure('trust anchor', 'trust-anchor', `the bundle is of trial ${b.trial} with root key ${hex(keyId(b.root))} and ${n} partitions; the pinned anchor says root key ${hex(keyId(pinned.root))}${pinned.trial != null ? `, trial ${pinned.trial}, ${pinned.partitions} partitions` : ''}`);
      }
      rep.lines.push(`trust anchor: root key ${hex(keyId(pinned.root))} pinned by you`);
    } else {
      rep.lines.push(`trust anchor: root key ${hex(keyId(b.root))} as the bundle carries it (NOT pinned)`);
    }
    if (n < 1 || n > 65536) throw new Failure('trust anchor', 'layout', `partition count ${n} is not in 1..=65536`);
    this.pass('anchor', pinned ? `root key ${hex(keyId(b.root))}` : 'NOT pinned: the bundle\'s own root');
  }

  layout() {
    const b = this.b;
    let last = null;
    for (const s of b.sections) {
      const p = s.partition;
      if (p >= b.partitionCount) throw new Failure(`partition ${p}`, 'layout', `the trial has ${b.partitionCount} partitions`);
      if (last !== null && last >= p) throw new Failure(`partition ${p}`, 'layout', 'sections are not in increasing partition order');
      last = p;
      if (s.checkpoints.length === 0 && s.records.length > 0) {
        throw new Failure(`partition ${p}`, 'layout', 'records without a checkpoint to prove them against');
      }
      let prev = null;
      for (const r of s.records) {
        if (prev !== null && prev >= r.seq) {
          throw new Failure(`record ${p}/${r.seq}`, 'out-of-order', `carried after record ${p}/${prev}: records must be in increasing seq order (reordered records)`);
        }
        prev = r.seq;
      }
      if (s.coverage.prefix) {
        s.records.forEach((r, i) => {
          if (r.seq !== i) throw new Failure(`partition ${p}`, 'seq-gap', `the prefix must carry every record from seq 0; record ${p}/${i} is missing (the next carried is ${r.seq})`);
          if (r.path.length) throw new Failure(`record ${p}/${r.seq}`, 'layout', 'a record of a prefix carries an inclusion path');
        });
      }
    }
    const first = b.sections[0];
    if (!first || first.partition !== 0 || !first.coverage.prefix || first.records.length === 0) {
      throw new Failure('partition 0', 'registry-prefix', 'a bundle must carry partition 0 as a prefix from seq 0 (the registry)');
    }
  }

  decodeAll() {
    const { b, report: rep } = this;
    const carried = new Map(); // partition -> Map(seq -> rec)
    for (const s of b.sections) {
      const part = new Map();
      carried.set(s.partition, part);
      for (const r of s.records) {
        let rec;
        try {
          rec = decodeRecord(r.record);
        } catch (e) {
          if (!(e instanceof DecodeError)) throw e;
          throw recFail(s.partition, r.seq, e.code, e.message);
        }
        if (rec.seq !== r.seq) {
          throw recFail(s.partition, r.seq, 'seq-gap', `the bundle lists it as seq ${r.seq}, the record says seq ${rec.seq}`);
        }
        rec.path = r.path;
        part.set(r.seq, rec);
        rep.decoded.push(rec);
        const shown = this.byKey.get(`${s.partition}/${r.seq}`);
        const sub = rec.submission;
        Object.assign(shown, {
          subject: sub.subject.text, eventType: sub.envelope.eventType,
          typeName: TYPE_NAMES[sub.envelope.eventType] ?? `type 0x${sub.envelope.eventType.toString(16)}`,
          author: hex(sub.author), orderingTime: rec.orderingTime, hash: hex(rec.hash),
        });
        shown.checks.decode = 'ok';
      }
    }
    // The public keys partition 0 names (status is judged in the replay).
    this.keyset = new Map([[hex(keyId(b.root)), b.root]]);
    for (const rec of carried.get(0).values()) {
      const env = rec.submission.envelope;
      try {
        if (env.eventType === 2) {
          const pk = keyEnrolled(env.payload).publicKey;
          if (!this.keyset.has(hex(keyId(pk)))) this.keyset.set(hex(keyId(pk)), pk);
        } else if (env.eventType === 4) {
          const pk = rootKeyRotated(env.payload).newRoot;
          if (!this.keyset.has(hex(keyId(pk)))) this.keyset.set(hex(keyId(pk)), pk);
        }
      } catch { /* not a key: judged in the replay */ }
    }
    for (const part of carried.values()) {
      for (const rec of part.values()) {
        const sealer = this.keyset.get(hex(rec.sequencer));
        if (sealer) {
          rec.sealOk = verifySig(sealer, sealMessage(b.trial, rec.hash), rec.seal);
          rep.signaturesVerified++;
        }
        const author = this.keyset.get(hex(rec.submission.author));
        if (author) {
          rec.authorOk = verifySig(author, submissionMessage(rec.submission), rec.signature);
          rep.signaturesVerified++;
        }
      }
    }
    return carried;
  }

  placement(p, seq, rec) {
    const b = this.b;
    const sub = rec.submission;
    if (sub.trial !== b.trial) throw recFail(p, seq, 'wrong-trial', `the record is of trial ${JSON.stringify(sub.trial)}, the bundle of ${JSON.stringify(b.trial)}`);
    if (rec.partition !== p) throw recFail(p, seq, 'wrong-partition', `carried in partition ${p}, the record says partition ${rec.partition}`);
    const want = partitionOf(b.trial, sub.subject, b.partitionCount);
    if (want !== p) throw recFail(p, seq, 'wrong-partition', `subject ${sub.subject.text} belongs to partition ${want}`);
  }

  seal(p, seq, rec, reg) {
    const shown = this.byKey.get(`${p}/${seq}`);
    if (rec.sealOk === undefined) throw recFail(p, seq, 'unknown-sequencer', `sealing key ${hex(rec.sequencer)} is neither the root nor a key the registry prefix enrols`);
    if (!rec.sealOk) throw recFail(p, seq, 'bad-seal', `the seal by key ${hex(rec.sequencer)} does not verify`);
    let a;
    try {
      a = reg.authorAt(rec.sequencer, rec.registrySeq);
    } catch ([, detail]) {
      throw recFail(p, seq, 'sequencer-not-authorized', detail);
    }
    if (!a.root && a.role !== 'sequencer') throw recFail(p, seq, 'sequencer-not-authorized', `sealing key ${hex(rec.sequencer)} has role ${a.role}, not sequencer`);
    shown.checks.seal = 'ok';
  }

  author(p, seq, rec, reg) {
    const shown = this.byKey.get(`${p}/${seq}`);
    const sub = rec.submission;
    if (!reg.publicKey(sub.author) || rec.authorOk === undefined) throw recFail(p, seq, 'unknown-key', `author key ${hex(sub.author)} is not in the registry`);
    if (!rec.authorOk) throw recFail(p, seq, 'bad-author-signature', `the author signature by key ${hex(sub.author)} does not verify`);
    shown.checks.author = 'ok';
    let a;
    try {
      a = reg.authorAt(sub.author, rec.registrySeq);
    } catch ([reason, detail]) {
      throw recFail(p, seq, reason, detail);
    }
    shown.role = a.root ? 'root' : a.role;
    shown.authorName = a.root ? 'trial root' : a.name;
    const t = sub.envelope.eventType;
    const auth = authority(t);
    if (!auth) this.report.unknownTypeRecords++;
    else if (!(a.root ? auth.root : auth.roles.includes(a.role))) {
      throw recFail(p, seq, 'role-not-permitted', `${a.root ? 'the root key' : `role ${a.role}`} may not author event type ${t}`);
    }
  }

  replayRegistry() {
    const b = this.b;
    const rootId = keyId(b.root);
    const reg = new Registry(b.trial, b.root);
    let prev = genesis(b.trial, 0);
    let lastTime = null;
    const heads = new Map();
    const seen = new Set();
    for (const [seq, rec] of this.carried.get(0)) {
      const sub = rec.submission;
      const shown = this.byKey.get(`0/${seq}`);
      this.placement(0, seq, rec);
      if (seq === 0 && (!equal(sub.author, rootId) || !equal(rec.sequencer, rootId))) {
        throw recFail(0, 0, 'root-mismatch', `record 0/0 must be authored and sealed by the anchor's root key ${hex(rootId)}`);
      }
      if (!equal(rec.prevHash, prev)) throw recFail(0, seq, 'prev-hash', `prev_hash ${short(rec.prevHash)} is not the previous record's hash ${short(prev)}`);
      const want = heads.get(sub.subject.text) ?? null;
      const got = rec.subjectPrev;
      if (!!want !== !!got || (want && (want.seq !== got.seq || !equal(want.hash, got.hash)))) {
        throw recFail(0, seq, 'subject-prev', `subject_prev is not ${sub.subject.text}'s previous record in partition 0`);
      }
      if (rec.registrySeq !== seq || rec.registrySeq < sub.minRegistrySeq) {
        throw recFail(0, seq, 'registry-seq', `registry_seq ${rec.registrySeq} (it must be the seq, and at least min_registry_seq ${sub.minRegistrySeq})`);
      }
      if (lastTime !== null && rec.orderingTime < lastTime) throw recFail(0, seq, 'time-regressed', "ordering_time is earlier than the previous record's");
      const id = hex(sub.submissionId);
      if (seen.has(id)) throw recFail(0, seq, 'duplicate-submission', `submission id ${id} is already recorded in partition 0`);
      seen.add(id);
      shown.checks.chain = 'ok';
      this.seal(0, seq, rec, reg);
      this.author(0, seq, rec, reg);
      try {
        reg.check(sub);
      } catch (e) {
        if (!Array.isArray(e)) throw e;
        throw recFail(0, seq, e[0], e[1]);
      }
      reg.apply(sub);
      shown.checks.key = 'ok';
      if (seq === 0 && reg.partitionCount !== b.partitionCount) {
        throw new Failure('trust anchor', 'trust-anchor', `TrialRegistered says ${reg.partitionCount} partitions, the bundle ${b.partitionCount}`);
      }
      prev = rec.hash;
      lastTime = rec.orderingTime;
      heads.set(sub.subject.text, { seq, hash: rec.hash });
    }
    this.report.registryPrefix = reg.position;
    const line = `partition 0 records 0..${reg.position} chained from genesis, sealed, signed, and replayed under the registry rules (${reg.keys.size} keys, ${reg.protocols.length} protocol versions, ${reg.roots.length - 1} root rotations)`;
    this.report.lines.push(`registry: ${line}`);
    this.pass('registry', line);
    return reg;
  }

  /** Sequencer keys the registry prefix enrols: [{ pk, id }]. */
  sequencerKeys() {
    return [...this.registry.keys.values()].filter((e) => ROLES[e.role] === 'sequencer')
      .map((e) => ({ pk: e.pk, id: hex(keyId(e.pk)) }));
  }

  /** The sequencer key that validly signed `note`, or [reason-ish, why]. */
  signerOf(note, keys) {
    const name = `trial-ledger/${this.b.trial}/sequencer`;
    const hashes = keys.map((k) => ({ ...k, kh: noteKeyHash(name, k.pk) }));
    const candidates = note.sigs.filter((s) => s.name === name && s.sig.length === 64);
    let matched = false;
    for (const s of candidates) {
      for (const k of hashes.filter((x) => equal(x.kh, s.keyHash))) {
        matched = true;
        if (verifyCheckpointSig(k.pk, note.body, s.sig)) return { key: k };
      }
    }
    return {
      why: matched ? "the sequencer's signature is invalid"
        : `no signature by a sequencer key the registry prefix enrols (key name ${name})`,
    };
  }

  checkpoints() {
    const { b, report: rep } = this;
    const keys = this.sequencerKeys();
    const anchors = new Map();
    const lines = [];
    for (const s of b.sections) {
      const p = s.partition;
      if (s.checkpoints.length === 0) continue;
      const heads = [];
      const signers = new Set();
      s.checkpoints.forEach((bc, k) => {
        const item = `checkpoint ${k} of partition ${p}`;
        let note;
        try {
          note = parseNote(bc.note);
        } catch (e) {
          throw new Failure(item, 'checkpoint-malformed', e.message);
        }
        const origin = `trial-ledger/${b.trial}/${p}`;
        if (note.origin !== origin) throw new Failure(item, 'checkpoint-origin', `the checkpoint is of log ${JSON.stringify(note.origin)}, not ${JSON.stringify(origin)}`);
        const signed = this.signerOf(note, keys);
        if (!signed.key) throw new Failure(item, 'checkpoint-signature', signed.why);
        signers.add(signed.key.id);
        heads.push({ size: note.size, root: note.root });
        rep.checkpointsVerified++;
      });
      heads.forEach((h, i) => {
        const other = heads.slice(0, i).find((o) => o.size === h.size && !equal(o.root, h.root));
        if (other) throw new Failure(`checkpoints of partition ${p}`, 'split-view', `two signed checkpoints of size ${h.size} with different roots (${short(other.root)} and ${short(h.root)}): the sequencer showed two histories`);
        if (i > 0 && heads[i - 1].size >= h.size) throw new Failure(`checkpoint ${i} of partition ${p}`, 'layout', 'checkpoints must be in strictly increasing size order');
      });
      const a = heads.at(-1);
      heads.forEach((h, k) => {
        const item = `checkpoint ${k} of partition ${p}`;
        const path = s.checkpoints[k].toAnchor;
        if (k + 1 === heads.length) {
          if (path.length) throw new Failure(item, 'layout', 'the anchor carries a consistency path to itself');
          return;
        }
        const e = verifyConsistency(h.size, a.size, h.root, a.root, path);
        if (e) throw new Failure(item, 'inconsistent-checkpoints', `size ${h.size} (root ${short(h.root)}) is not a prefix of the anchor, size ${a.size} (root ${short(a.root)}): ${e}`);
      });
      lines.push(`partition ${p}: ${heads.length} signed checkpoint(s) by sequencer key ${[...signers].join(', ')}, one growing history up to the anchor of size ${a.size} (root ${short(a.root)})`);
      anchors.set(p, heads);
    }
    rep.lines.push(...lines);
    this.pass('checkpoints', `${rep.checkpointsVerified} signed checkpoints`);
    return anchors;
  }

  inclusion() {
    for (const s of this.b.sections) {
      const p = s.partition;
      const heads = this.anchors.get(p);
      if (!heads) continue;
      const a = heads.at(-1);
      const part = this.carried.get(p);
      if (s.coverage.prefix) {
        const hashes = [...part.values()].map((r) => r.hash);
        const m = hashes.length;
        if (m > a.size) throw new Failure(`record ${p}/${a.size}`, 'not-in-checkpoint', `the prefix carries ${m} records, the anchor checkpoint covers ${a.size}`);
        const root = rootOf(hashes);
        const e = verifyConsistency(m, a.size, root, a.root, s.coverage.toAnchor);
        if (e) throw new Failure(`partition ${p}`, 'not-in-checkpoint', `records 0..${m} (root ${short(root)}) are not the first ${m} leaves of the anchor's tree (size ${a.size}, root ${short(a.root)}): ${e}`);
      } else {
        for (const r of s.records) {
          const rec = part.get(r.seq);
          const e = verifyInclusion(rec.hash, r.seq, a.size, r.path, a.root);
          if (e) throw new Failure(`record ${p}/${r.seq}`, 'not-in-checkpoint', `hash ${short(rec.hash)} is not leaf ${r.seq} of the anchor's tree (size ${a.size}, root ${short(a.root)}): ${e}`);
          this.byKey.get(`${p}/${r.seq}`).checks.inclusion = 'ok';
        }
      }
    }
    this.passRecords('inclusion');
    this.report.lines.push("inclusion: every carried record is a leaf of its partition's anchor checkpoint");
    this.pass('inclusion');
  }

  others() {
    const reg = this.registry;
    const regLen = reg.position;
    for (const s of this.b.sections.filter((x) => x.partition !== 0)) {
      const p = s.partition;
      const part = this.carried.get(p);
      let prev = null;
      const heads = new Map();
      const seen = new Set();
      for (const [seq, rec] of part) {
        const sub = rec.submission;
        this.placement(p, seq, rec);
        const wantPrev = seq === 0 ? genesis(this.b.trial, p)
          : prev && prev.seq + 1 === seq ? prev.rec.hash : null;
        if (wantPrev && !equal(wantPrev, rec.prevHash)) throw recFail(p, seq, 'prev-hash', "prev_hash is not the previous record's hash");
        const link = rec.subjectPrev;
        if (link) {
          const t = part.get(link.seq);
          if (link.seq >= seq || (t && (!equal(t.hash, link.hash) || t.submission.subject.text !== sub.subject.text))) {
            throw recFail(p, seq, 'subject-prev', `subject_prev ${p}/${link.seq} is not an earlier record of ${sub.subject.text} with that hash`);
          }
        }
        if (s.coverage.prefix) {
          const want = heads.get(sub.subject.text) ?? null;
          if (!!want !== !!link || (want && (want.seq !== link.seq || !equal(want.hash, link.hash)))) {
            throw recFail(p, seq, 'subject-prev', `subject_prev is not ${sub.subject.text}'s previous record in partition ${p}`);
          }
        }
        const lastReg = prev ? prev.rec.registrySeq : 0;
        if (rec.registrySeq > regLen || rec.registrySeq < sub.minRegistrySeq || rec.registrySeq < lastReg) {
          throw recFail(p, seq, 'registry-seq', `registry_seq ${rec.registrySeq} (the bundle's registry prefix has ${regLen} records; min_registry_seq ${sub.minRegistrySeq}; the previous carried record's ${lastReg})`);
        }
        if (prev && prev.rec.orderingTime > rec.orderingTime) throw recFail(p, seq, 'time-regressed', "ordering_time is earlier than the previous carried record's");
        const id = hex(sub.submissionId);
        if (seen.has(id)) throw recFail(p, seq, 'duplicate-submission', `submission id ${id} is already carried in partition ${p}`);
        seen.add(id);
        this.byKey.get(`${p}/${seq}`).checks.chain = 'ok';
        this.seal(p, seq, rec, reg);
        this.author(p, seq, rec, reg);
        this.byKey.get(`${p}/${seq}`).checks.key = 'ok';
        heads.set(sub.subject.text, { seq, hash: rec.hash });
        prev = { seq, rec };
      }
    }
    const line = `every carried record decodes canonically, is placed in its subject's partition, sealed by an active sequencer key and signed by its author, whose key was active and whose role may author the type at the record's registry position (${this.report.signaturesVerified} signatures, ZIP-215)`;
    this.report.lines.push(`records: ${line}`);
    this.pass('records', line);
  }

  subjectChain(s) {
    const b = this.b;
    if (s.kind === 0) throw new Failure('scope', 'scope', 'a subject bundle is of a patient or a cohort');
    const sp = partitionOf(b.trial, s, b.partitionCount);
    const part = this.carried.get(sp) ?? new Map();
    const own = [...part].filter(([, r]) => r.submission.subject.text === s.text).map(([q]) => q);
    if (own.length === 0) throw new Failure('scope', 'scope', `the bundle carries no record of ${s.text} (partition ${sp})`);
    const latest = own.at(-1);
    const reached = [latest];
    let at = latest;
    for (let link = part.get(at).subjectPrev; link; link = part.get(at).subjectPrev) {
      if (!part.has(link.seq)) {
        throw new Failure(`record ${sp}/${at}`, 'incomplete-trail', `this record of ${s.text} links back (subject_prev) to ${sp}/${link.seq}, which the bundle does not carry: a record of the subject was left out`);
      }
      reached.push(link.seq);
      at = link.seq;
    }
    reached.reverse();
    if (reached.join() !== own.join()) {
      const extra = own.filter((q) => !reached.includes(q)).map((q) => `${sp}/${q}`);
      throw new Failure('scope', 'incomplete-trail', `records of ${s.text} not on its chain of back-links: ${extra.join(', ')}`);
    }
    this.report.subjectRecords.push(...reached.map((q) => `${sp}/${q}`));
    this.report.lines.push(`${s.text}: ${reached.length} records in partition ${sp}, complete by back-links from ${sp}/${latest} to its first record; a record ordered after ${sp}/${latest} cannot be shown absent by a subject bundle`);
  }

  references() {
    const scoped = new Set(this.b.scope.subjects.map((s) => s.text));
    for (const [p, part] of this.carried) {
      for (const [seq, rec] of part) {
        const sub = rec.submission;
        for (const r of sub.cites) {
          if (r.partition === p && r.seq >= seq) throw recFail(p, seq, 'reference-missing', `reference ${r.partition}/${r.seq} points at or after the citing record`);
          const t = this.carried.get(r.partition)?.get(r.seq);
          if (t && !equal(t.hash, r.hash)) throw recFail(p, seq, 'reference-mismatch', `cited record ${r.partition}/${r.seq} has hash ${short(t.hash)}, not ${short(r.hash)}`);
          if (!t && scoped.has(sub.subject.text)) throw recFail(p, seq, 'reference-missing', `a record of ${sub.subject.text} cites ${r.partition}/${r.seq}, which the bundle does not carry`);
          if (!t) this.report.uncarriedCites++;
        }
      }
    }
    this.passRecords('references');
    this.pass('references', this.report.uncarriedCites ? `${this.report.uncarriedCites} cites of records outside the bundle not checked (not by the subject)` : '');
  }

  whole() {
    const b = this.b;
    for (let p = 0; p < b.partitionCount; p++) {
      const s = b.sections.find((x) => x.partition === p);
      if (!s) throw new Failure(`partition ${p}`, 'scope', 'an --all bundle carries every partition');
      const asz = this.anchors.get(p)?.at(-1)?.size ?? 0;
      if (!s.coverage.prefix || s.records.length !== asz) throw new Failure(`partition ${p}`, 'scope', `an --all bundle carries each partition whole up to its anchor (${asz} records), as a prefix; it carries ${s.records.length}`);
    }
    this.pass('whole', 'every partition carried whole; the clinical domain rules (FORMAT.md §15a) are NOT run in the browser: run `trial-ledger verify-bundle` for them');
  }

  held(notes) {
    const { b, report: rep } = this;
    if (!notes.length) {
      rep.steps[11].detail = 'none given: truncation behind the newest checkpoint, or a rewritten history, is not visible without a checkpoint held outside the server';
      return;
    }
    const keys = this.sequencerKeys();
    for (const text of notes) {
      const h = { partition: null, size: null, status: 'bad-signature', detail: '' };
      rep.held.push(h);
      let note;
      try {
        note = parseNote(text);
      } catch (e) {
        h.detail = `not a signed checkpoint: ${e.message}`;
        continue;
      }
      h.size = note.size;
      const m = new RegExp(`^trial-ledger/${b.trial.replace(/[.]/g, '\\.')}/(0|[1-9][0-9]*)$`).exec(note.origin);
      if (!m || Number(m[1]) >= b.partitionCount) {
        h.status = 'not-covered';
        h.detail = `not a partition of trial ${b.trial}`;
        continue;
      }
      const p = Number(m[1]);
      h.partition = p;
      if (!this.signerOf(note, keys).key) {
        h.detail = 'not validly signed by a sequencer key of the bundle\'s registry';
        continue;
      }
      const heads = this.anchors.get(p);
      if (!heads) {
        h.status = 'not-covered';
        h.detail = `the bundle does not carry partition ${p}`;
        continue;
      }
      const a = heads.at(-1);
      const same = heads.find((x) => x.size === note.size);
      const s = b.sections.find((x) => x.partition === p);
      if (note.size > a.size) {
        h.status = 'truncated';
        h.detail = `the held checkpoint of partition ${p} covers ${note.size} records, the bundle's newest only ${a.size}: the ledger was truncated (or the bundle predates the held checkpoint)`;
      } else if (same) {
        h.status = equal(same.root, note.root) ? 'consistent' : 'rewritten';
        h.detail = h.status === 'consistent' ? `the bundle has a checkpoint of size ${note.size} with the same root`
          : `the bundle's checkpoint of size ${note.size} has root ${short(same.root)}, the held one ${short(note.root)}: history was rewritten (split view)`;
      } else if (s.coverage.prefix && s.records.length >= note.size) {
        const root = rootOf([...this.carried.get(p).values()].slice(0, note.size).map((r) => r.hash));
        h.status = equal(root, note.root) ? 'consistent' : 'rewritten';
        h.detail = h.status === 'consistent' ? `the bundle's first ${note.size} records have the held root`
          : `the bundle's first ${note.size} records of partition ${p} have root ${short(root)}, the held checkpoint ${short(note.root)}: history was rewritten`;
      } else {
        h.status = 'not-covered';
        h.detail = `the bundle neither has a checkpoint of size ${note.size} nor carries partition ${p}'s first ${note.size} records`;
      }
    }
    const bad = rep.held.filter((h) => ['truncated', 'rewritten', 'bad-signature'].includes(h.status));
    const step = rep.steps[11];
    step.status = bad.length ? 'fail' : 'ok';
    step.detail = rep.held.map((h) => `partition ${h.partition ?? '?'} size ${h.size ?? '?'}: ${h.status}: ${h.detail}`).join('; ');
    if (bad.length && !rep.failure) {
      rep.failure = { item: `held checkpoint of partition ${bad[0].partition ?? '?'}`, reason: bad[0].status, detail: bad[0].detail, step: step.name };
    }
  }
}
