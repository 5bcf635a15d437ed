// The safety tables of the dashboard: overview per cohort and per drug, adverse events by
// term and grade, deaths. Every number is a link to the records it counts.
import { el, explain, getJson, recordLink, withCut } from '/safety/assets/common.js';

/** A number that links to the records behind it: `cells` are the safety view's cells
 * ({cohort, drug, term, grade}) whose records it counts, or `refs` the records themselves. */
export function countLink(n, what, { cells = null, refs = null } = {}) {
  if (!n || (!cells?.length && !refs?.length)) return document.createTextNode(String(n ?? 0));
  const a = el('a', { href: '#records', 'data-cell': JSON.stringify({ what, cells, refs }) }, String(n));
  a.setAttribute('aria-label', `${n}: ${what} (show the records)`);
  return a;
}

/** Shows the records behind a linked number (the `cells` route of the API for each cell). */
export async function showRecords(a) {
  const { what, cells, refs } = JSON.parse(a.dataset.cell);
  const box = document.getElementById('records');
  const list = document.getElementById('records-list');
  box.hidden = false;
  document.getElementById('records-what').textContent = `${what}: loading…`;
  list.replaceChildren();
  try {
    let records = refs ? [...refs] : [];
    for (const c of cells ?? []) {
      const q = new URLSearchParams({ term: c.term, grade: String(c.grade) });
      if (c.cohort) q.set('cohort', c.cohort);
      if (c.drug) q.set('drug', c.drug);
      const cell = await getJson(withCut(`/v1/views/safety/cells?${q}`));
      records.push(...cell.records);
    }
    const seen = new Set();
    records = records.filter((r) => {
      const k = `${r.partition}/${r.seq}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
    document.getElementById('records-what').textContent =
      `${what}: ${records.length} records (decoded records need the auditor role).`;
    list.replaceChildren(...records.map((r) => el('li', {}, recordLink(r), ` ${r.hash ?? ''}`)));
  } catch (e) {
    document.getElementById('records-what').textContent = `${what}: ${explain(e)}`;
  }
  document.getElementById('records-h').focus();
}

function table(caption, head, rows, cls) {
  return el('div', { class: 'scroll', tabindex: '0', role: 'region', 'aria-label': caption },
    el('table', { class: cls },
      el('caption', {}, caption),
      el('thead', {}, el('tr', {}, ...head.map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, ...rows)));
}

function overview(view) {
  const groups = view.cohorts ?? [];
  const rows = [
    ['Treated patients', (g) => g.treated],
    ['Adverse events', (g) => g.adverse_events],
    ['Serious adverse events', (g) => g.serious],
    ['Adverse events of grade ≥ 3', (g) => g.grade3plus],
    ['Patients with a grade ≥ 3 treatment-related AE', (g) => g.grade3plus_trae_patients],
    ['Deaths', (g) => g.deaths],
    ['SUSARs', (g) => g.susars],
  ].map(([label, f]) => el('tr', {}, el('th', { scope: 'row' }, label),
    ...groups.map((g) => el('td', { 'data-cohort': g.cohort }, String(f(g))))));
  return table('Overview per cohort', ['', ...groups.map((g) => `${g.cohort} (${g.drug ?? '—'})`)], rows, 'overview');
}

function byTerm(view) {
  const cohorts = (view.cohorts ?? []).map((g) => g.cohort);
  const terms = [...new Set((view.by_term ?? []).map((r) => r.ctcae_term))].sort();
  const bands = [['1–2', [1, 2]], ['3–4', [3, 4]], ['5', [5]]];
  const head = ['Term'];
  for (const c of cohorts) for (const [b] of bands) head.push(`${c} grade ${b}`);
  const rows = terms.map((t) => {
    const tr = el('tr', {}, el('th', { scope: 'row' }, t));
    for (const c of cohorts) {
      for (const [b, grades] of bands) {
        const cells = (view.by_term ?? []).filter((r) => r.cohort === c && r.ctcae_term === t && grades.includes(r.grade));
        const n = cells.reduce((a, r) => a + r.events, 0);
        tr.append(el('td', {}, countLink(n, `${t}, grade ${b}, ${c}`,
          { cells: cells.map((r) => ({ cohort: r.cohort, drug: r.drug, term: r.ctcae_term, grade: r.grade })) })));
      }
    }
    return tr;
  });
  return table('Adverse events by CTCAE term and grade, per cohort (events)', head, rows, 'by-term');
}

function deaths(view) {
  const rows = (view.deaths ?? []).map((d) => el('tr', {},
    el('td', {}, d.patient), el('td', {}, d.cohort ?? '—'), el('td', {}, d.died_on), el('td', {}, d.cause),
    el('td', {}, d.treatment_related ? 'related' : 'not related'),
    el('td', {}, d.record ? recordLink(d.record) : '')));
  return table('Deaths', ['Patient', 'Cohort', 'Died on', 'Cause', 'Relatedness', 'Record'], rows, 'deaths');
}

/** Draws the tables of a safety view answer. */
export function renderTables(view) {
  document.getElementById('tables-body').replaceChildren(
    el('h3', {}, 'Overview'), overview(view),
    el('h3', {}, 'By term and grade'), byTerm(view),
    el('h3', {}, 'Deaths'), deaths(view));
}
