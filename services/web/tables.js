// The safety tables of the dashboard, from the safety view's `tables` (projections'
// `tables.rs`: the same numbers as `view safety --json`): overview, adverse events by system
// organ class, term and highest grade (AET02/AET04 style) with the treatment-related split,
// exposure-adjusted rates, deaths. Columns: each cohort, then each drug pooled over its
// cohorts (single-arm columns, side by side: no comparisons). Every number links to the
// patients and records it counts.
import { el, explain, getJson, recordLink, withCut } from '/safety/assets/common.js';

const BANDS = [['any_grade', 'Any grade'], ['grade_1_2', 'Grade 1–2'], ['grade_3_4', 'Grade 3–4'], ['grade_5', 'Grade 5']];
const RATE_LABELS = {
  any_ae: 'Any adverse event', treatment_related_ae: 'Treatment-related adverse event',
  grade3_or_worse: 'Adverse event of grade ≥ 3', serious_ae: 'Serious adverse event',
};
const state = { tables: null };

function pct(p) {
  return p === null || p === undefined ? '' : ` (${p.toFixed(1)} %)`;
}

/** A count that links to the patients and records behind it. */
export function countLink(count, what) {
  const text = `${count.n}${pct(count.pct)}`;
  if (!count.n || !count.cell) return el('span', { 'data-n': count.n ?? 0 }, text);
  return el('a', { href: '#records', 'data-cell-key': count.cell, 'data-what': what, 'data-n': count.n,
    'aria-label': `${text}: ${what}; show the patients and records` }, text);
}

/** Shows the patients and records behind a linked number: the cell's key resolved by the
 * API, or the records a clock row carries. */
export async function showRecords(a) {
  const box = document.getElementById('records');
  const list = document.getElementById('records-list');
  const what = a.dataset.what ?? 'records';
  box.hidden = false;
  document.getElementById('records-what').textContent = `${what}: loading…`;
  list.replaceChildren();
  try {
    let patients = [];
    let records = [];
    if (a.dataset.cellKey) {
      const cell = await getJson(withCut(`/v1/views/safety/tables/cells?cell=${encodeURIComponent(a.dataset.cellKey)}`));
      patients = cell.patients ?? [];
      records = cell.records ?? [];
    } else if (a.dataset.refs) {
      records = JSON.parse(a.dataset.refs);
    }
    document.getElementById('records-what').textContent =
      `${what}: ${patients.length ? `${patients.length} patients, ` : ''}${records.length} records ` +
      '(a decoded record needs the auditor role; a patient\'s trail the safety or auditor role).';
    list.replaceChildren(
      ...patients.map((p) => el('li', {}, 'patient ',
        el('a', { href: `/v1/subjects/patient:${encodeURIComponent(p)}/trail` }, p))),
      ...records.map((r) => el('li', {}, 'record ', recordLink(r), ` ${r.hash ?? ''}`)));
  } catch (e) {
    document.getElementById('records-what').textContent = `${what}: ${explain(e)}`;
  }
  document.getElementById('records-h').focus();
}

function region(caption, table) {
  return el('div', { class: 'scroll', tabindex: '0', role: 'region', 'aria-label': caption }, table);
}

function colName(c) {
  return c.kind === 'drug' ? `${c.drug} (pooled: ${c.cohorts.length} cohort${c.cohorts.length === 1 ? '' : 's'})` : `${c.cohort} (${c.drug ?? '—'})`;
}

function overview(t, cols) {
  const head = el('tr', {}, el('th', { scope: 'col' }, 'Patients'),
    ...cols.map((i) => el('th', { scope: 'col' }, colName(t.columns[i]))));
  const treated = el('tr', { 'data-row': 'treated' }, el('th', { scope: 'row' }, 'Treated (N)'),
    ...cols.map((i) => el('td', { 'data-col': t.columns[i].key }, countLink(t.columns[i].treated, `treated, ${colName(t.columns[i])}`))));
  const years = el('tr', { 'data-row': 'patient_years' }, el('th', { scope: 'row' }, 'Patient-years of exposure'),
    ...cols.map((i) => el('td', { 'data-col': t.columns[i].key }, t.columns[i].patient_years_exposure.toFixed(2))));
  const rows = [treated, years];
  for (const line of t.overview) {
    rows.push(el('tr', { 'data-row': line.row }, el('th', { scope: 'row' }, line.label),
      ...cols.map((i) => el('td', { 'data-col': t.columns[i].key },
        countLink(line.cells[i], `${line.label}, ${colName(t.columns[i])}`)))));
    if (line.row === 'death_within_30_days' || line.row === 'death_within30_days') {
      for (const c of t.death_causes) {
        rows.push(el('tr', { 'data-row': `cause:${c.cause}` }, el('th', { scope: 'row', class: 'sub' }, `cause: ${c.cause}`),
          ...cols.map((i) => el('td', { 'data-col': t.columns[i].key },
            countLink(c.cells[i], `deaths within 30 days of the last dose from ${c.cause}, ${colName(t.columns[i])}`)))));
      }
    }
  }
  return region('Overview', el('table', { class: 'overview' },
    el('caption', {}, 'Overview: patients (% of treated) per column'),
    el('thead', {}, head), el('tbody', {}, ...rows)));
}

function byTerm(t, cols) {
  const top = el('tr', {}, el('th', { scope: 'col', rowspan: 3 }, 'System organ class / CTCAE term'),
    ...cols.map((i) => el('th', { scope: 'colgroup', colspan: 8 }, colName(t.columns[i]))));
  const mid = el('tr', {}, ...cols.flatMap(() => [
    el('th', { scope: 'colgroup', colspan: 4 }, 'All adverse events'),
    el('th', { scope: 'colgroup', colspan: 4 }, 'Treatment-related')]));
  const low = el('tr', {}, ...cols.flatMap(() => [...BANDS, ...BANDS].map(([, l]) => el('th', { scope: 'col' }, l))));
  const rows = t.by_term.map((line) => {
    const label = line.term ?? line.soc;
    const tr = el('tr', { 'data-soc': line.soc, 'data-term': line.term ?? '', class: line.term ? undefined : 'soc' },
      el('th', { scope: 'row', class: line.term ? 'sub' : undefined }, label));
    for (const i of cols) {
      for (const set of ['all', 'related']) {
        for (const [band, bl] of BANDS) {
          tr.append(el('td', { 'data-col': t.columns[i].key, 'data-set': set, 'data-band': band },
            countLink(line.cells[i][set][band], `${label}, ${set === 'all' ? 'any attribution' : 'treatment-related'}, ${bl.toLowerCase()} (highest per patient), ${colName(t.columns[i])}`)));
        }
      }
    }
    return tr;
  });
  return region('Adverse events by system organ class, term and highest grade', el('table', { class: 'by-term' },
    el('caption', {}, 'Patients with adverse events by MedDRA system organ class (CTCAE v5.0) and term, counted once at their highest grade (AET02/AET04 style)'),
    el('thead', {}, top, mid, low), el('tbody', {}, ...rows)));
}

function rateText(r) {
  return r === null || r === undefined ? '—' : r.toFixed(1);
}

function rates(t, cols) {
  const head = el('tr', {}, el('th', { scope: 'col' }, 'Events'),
    ...cols.flatMap((i) => [el('th', { scope: 'col' }, `EAIR, ${colName(t.columns[i])}`), el('th', { scope: 'col' }, `EAER, ${colName(t.columns[i])}`)]));
  const rows = t.rates.map((line) => el('tr', { 'data-row': line.row },
    el('th', { scope: 'row' }, RATE_LABELS[line.row] ?? line.row),
    ...cols.flatMap((i) => {
      const r = line.cells[i];
      const n = countLink({ n: r.patients_with_event, pct: null, cell: r.cell }, `patients with ${RATE_LABELS[line.row] ?? line.row} within exposure, ${colName(t.columns[i])}`);
      return [
        el('td', { 'data-col': t.columns[i].key, 'data-rate': 'eair' }, rateText(r.eair_per_100py), ' (', n, ` / ${r.patient_years_at_risk.toFixed(2)} PY at risk)`),
        el('td', { 'data-col': t.columns[i].key, 'data-rate': 'eaer' }, rateText(r.eaer_per_100py), ` (${r.events} events / ${r.patient_years_exposure.toFixed(2)} PY)`),
      ];
    })));
  return region('Exposure-adjusted rates', el('table', { class: 'rates' },
    el('caption', {}, 'Exposure-adjusted rates per 100 patient-years (PY)'),
    el('thead', {}, head), el('tbody', {}, ...rows)));
}

function deaths(t) {
  if (!t.deaths) return el('p', { class: 'note' }, 'The deaths listing is patient-level: this token\'s role sees the counts only.');
  const head = ['Patient', 'Cohort', 'Drug', 'Died on', 'Cause', 'Relatedness', 'Last dose', 'Days from last dose', 'Within 30 days', 'Record'];
  const rows = t.deaths.map((d) => el('tr', { 'data-patient': d.patient },
    el('th', { scope: 'row' }, el('a', { href: `/v1/subjects/patient:${encodeURIComponent(d.patient)}/trail` }, d.patient)),
    el('td', {}, d.cohort ?? '—'), el('td', {}, d.drug ?? '—'), el('td', {}, d.died_on), el('td', {}, d.cause),
    el('td', {}, d.treatment_related ? 'treatment-related' : 'not related'),
    el('td', {}, d.last_dose_on ?? '—'), el('td', {}, d.days_from_last_dose ?? '—'),
    el('td', {}, d.within_30_days ? 'yes' : 'no'), el('td', {}, recordLink(d.record))));
  return region('Deaths', el('table', { class: 'deaths' }, el('caption', {}, 'Deaths, with cause, relatedness (the investigator\'s) and days from the last dose'),
    el('thead', {}, el('tr', {}, ...head.map((h) => el('th', { scope: 'col' }, h)))), el('tbody', {}, ...rows)));
}

function definitions(t) {
  const names = { eair: 'EAIR (exposure-adjusted incidence rate)', eaer: 'EAER (exposure-adjusted event rate)' };
  const order = ['eair', 'eaer', 'exposure', ...Object.keys(t.definitions).filter((k) => !['eair', 'eaer', 'exposure'].includes(k))];
  return el('dl', { class: 'defs' }, ...order.filter((k) => t.definitions[k]).flatMap((k) => [
    el('dt', { id: `def-${k}` }, names[k] ?? k.replaceAll('_', ' ')), el('dd', {}, t.definitions[k])]));
}

/** The column indexes the chooser selects. */
function chosen(t, choice) {
  const all = t.columns.map((_, i) => i);
  if (choice === 'all') return all;
  if (choice === 'cohorts') return all.filter((i) => t.columns[i].kind === 'cohort');
  if (choice === 'drugs') return all.filter((i) => t.columns[i].kind === 'drug');
  if (choice.startsWith('drug:')) {
    const d = choice.slice(5);
    return all.filter((i) => t.columns[i].drug === d);
  }
  return all.filter((i) => t.columns[i].key === choice.slice(4));
}

function fillChooser(t) {
  const sel = document.getElementById('t-columns');
  const before = sel.value;
  const opts = [['all', 'Every cohort and every drug pooled'], ['cohorts', 'Every cohort'], ['drugs', 'Every drug, pooled over its cohorts']];
  const drugs = [...new Set(t.columns.filter((c) => c.kind === 'drug').map((c) => c.drug))];
  for (const d of drugs) opts.push([`drug:${d}`, `${d}: its cohorts and pooled`]);
  for (const c of t.columns.filter((x) => x.kind === 'cohort')) opts.push([`col:${c.key}`, `${c.cohort} alone`]);
  sel.replaceChildren(...opts.map(([v, l]) => el('option', { value: v }, l)));
  sel.value = opts.some(([v]) => v === before) ? before : (t.columns.length <= 8 ? 'all' : 'drugs');
}

function draw() {
  const t = state.tables;
  const cols = chosen(t, document.getElementById('t-columns').value);
  document.getElementById('tables-body').replaceChildren(
    el('h3', {}, 'Overview'), overview(t, cols),
    el('h3', {}, 'Adverse events by system organ class, term and highest grade'), byTerm(t, cols),
    el('h3', {}, 'Exposure-adjusted rates: EAIR and EAER'), rates(t, cols),
    el('h3', {}, 'Deaths'), deaths(t),
    el('h3', {}, 'Definitions'), definitions(t));
}

/** Draws the tables (an answer of GET /v1/views/safety/tables). */
export function renderTables(t) {
  state.tables = t;
  fillChooser(t);
  draw();
}

document.getElementById('t-columns').addEventListener('change', () => state.tables && draw());
