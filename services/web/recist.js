// RECIST 1.1 overall response from the measurements of verified ResponseAssessed payloads,
// compared with the investigator's reported response: the same rules as tl_clinical::recist
// (overall_response, overall_responses) and the trail's disagreement flags
// (services/src/trail.rs `derive`), computed here from records whose signatures the page
// checked, so the auditor need not trust the server's figure.

import { corrected, equal, responseAssessed } from './wire.js';

const NORMAL_NODE_MM10 = 100;
const PD_MIN_INCREASE_MM10 = 50;
const RESPONSE_ASSESSED = 0x010e;
const DOSE_ADMINISTERED = 0x010a;
const CORRECTED = 0x0113;

const sum = (targets) => targets.reduce((n, t) => n + t.diameterMm10, 0);

/** tl_clinical::overall_response. */
export function overallResponse(baseline, nadir, a) {
  if (a.newLesions || a.nonTarget === 'UnequivocalProgression') return 'PD';
  if (a.targets.length === 0) return 'NE';
  const s = sum(a.targets);
  if (s * 5 >= nadir * 6 && s >= nadir + PD_MIN_INCREASE_MM10) return 'PD';
  const complete = a.targets.every((t) => (t.nodal ? t.diameterMm10 < NORMAL_NODE_MM10 : t.diameterMm10 === 0));
  if (complete) return a.nonTarget === 'Absent' ? 'CR' : 'PR';
  if (baseline > 0 && s * 10 <= baseline * 7) return 'PR';
  return 'SD';
}

/** The payload in force of record `rec` of `recs` (a later correction citing it first wins). */
function effective(rec, recs) {
  const t = rec.submission.envelope.eventType;
  let best = rec.submission.envelope.payload;
  for (const later of recs) {
    if (later.seq <= rec.seq || later.submission.envelope.eventType !== CORRECTED) continue;
    const c0 = later.submission.cites[0];
    if (!c0 || c0.partition !== rec.partition || c0.seq !== rec.seq || !equal(c0.hash, rec.hash)) continue;
    try {
      const cor = corrected(later.submission.envelope.payload);
      if (cor.eventType === t) best = cor.payload;
    } catch { /* not a correction the rules accept: ignored, as the trail does */ }
  }
  return best;
}

/**
 * The investigator's response against RECIST 1.1 at each follow-up assessment of a patient.
 * `recs`: the patient's decoded records (wire.decodeRecord) in seq order.
 * Returns { note, rows: [{ seq, assessedOn, investigator, computed, differs }] }.
 */
export function recistComparison(recs) {
  let dosed = false;
  let baseline = null;
  const follow = [];
  for (const rec of recs) {
    const t = rec.submission.envelope.eventType;
    if (t === DOSE_ADMINISTERED) dosed = true;
    if (t !== RESPONSE_ASSESSED) continue;
    let a;
    try {
      a = responseAssessed(effective(rec, recs));
    } catch {
      continue;
    }
    if (a.baseline) baseline ??= a;
    else follow.push({ seq: rec.seq, a });
  }
  if (!dosed) return { note: 'no dose recorded: no response is derived', rows: [] };
  if (!baseline) return { note: 'no baseline assessment: no response is derived', rows: [] };
  follow.sort((x, y) => x.a.assessedOn - y.a.assessedOn);
  const base = sum(baseline.targets);
  let nadir = base;
  const rows = follow.map(({ seq, a }) => {
    const computed = overallResponse(base, nadir, a);
    if (a.targets.length) nadir = Math.min(nadir, sum(a.targets));
    return { seq, assessedOn: a.assessedOn, investigator: a.investigator, computed, differs: computed !== a.investigator };
  });
  return { note: `baseline target sum ${base / 10} mm; ${rows.length} follow-up assessments`, rows };
}
