// The enrollment funnel: registered -> sequenced -> matched -> MTB-approved -> slot ->
// enrolled -> treated, and each cohort's stage and status, from the enrollment view.
import { ApiError, asOf, askForToken, el, explain, getJson, reopenSession, withCut } from '/safety/assets/common.js';

const STEPS = [
  ['registered', 'Registered'], ['sequenced', 'Sequenced'], ['matched', 'Matched'],
  ['mtb_approved', 'MTB-approved'], ['slot', 'Slot assigned'], ['enrolled', 'Enrolled'], ['treated', 'Treated'],
];
const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A horizontal bar per step, scaled to the registered patients. */
function chart(funnel) {
  const max = Math.max(1, funnel.registered);
  const rowH = 30, labelW = 130, barW = 520;
  const s = svg('svg', { viewBox: `0 0 ${labelW + barW + 80} ${STEPS.length * rowH + 10}`, role: 'img',
    'aria-labelledby': 'funnel-title' });
  s.append(svg('title', { id: 'funnel-title' },
    'Enrollment funnel: ' + STEPS.map(([k, l]) => `${l} ${funnel[k]}`).join(', ')));
  STEPS.forEach(([k, label], i) => {
    const y = 5 + i * rowH;
    const w = Math.round((barW * funnel[k]) / max);
    s.append(svg('text', { x: 0, y: y + 19 }, label));
    s.append(svg('rect', { class: 'bar', x: labelW, y: y + 4, width: Math.max(w, 1), height: rowH - 10 }));
    s.append(svg('text', { x: labelW + w + 6, y: y + 19 }, String(funnel[k])));
  });
  return s;
}

function funnelTable(funnel) {
  const rows = STEPS.map(([k, label], i) => {
    const prev = i === 0 ? null : funnel[STEPS[i - 1][0]];
    const share = prev ? `${Math.round((100 * funnel[k]) / prev)} %` : '—';
    return el('tr', { 'data-step': k }, el('th', { scope: 'row' }, label), el('td', {}, String(funnel[k])), el('td', {}, share));
  });
  return el('table', {}, el('caption', {}, 'Patients per step, and the share of the step before'),
    el('thead', {}, el('tr', {}, ...['Step', 'Patients', 'Of the step before'].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, ...rows));
}

function cohortsTable(cohorts) {
  const head = ['Cohort', 'Drug', 'Status', 'Stage', 'Slots', 'Enrolled', 'Treated', 'Evaluable', 'Benefit'];
  const rows = cohorts.map((c) => el('tr', { 'data-cohort': c.cohort },
    el('th', { scope: 'row' }, el('a', { href: `/v1/subjects/cohort:${encodeURIComponent(c.cohort)}/trail` }, c.cohort)),
    el('td', {}, c.drug ?? '—'), el('td', {}, c.status), el('td', {}, String(c.stage)),
    el('td', {}, String(c.slots)), el('td', {}, String(c.enrolled)), el('td', {}, String(c.treated)),
    el('td', {}, String(c.evaluable)), el('td', {}, String(c.benefits))));
  return el('div', { class: 'scroll', tabindex: '0', role: 'region', 'aria-label': 'Cohorts' },
    el('table', {}, el('caption', {}, 'Each cohort: its stage (1 or 2 of the two-stage rule) and status'),
      el('thead', {}, el('tr', {}, ...head.map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, ...rows)));
}

async function start() {
  try {
    const v = await getJson(withCut('/v1/views/enrollment'));
    document.getElementById('funnel-asof').textContent = asOf(v.freshness);
    document.getElementById('funnel-chart').replaceChildren(chart(v.funnel));
    document.getElementById('funnel-table').replaceChildren(funnelTable(v.funnel));
    document.getElementById('cohorts-table').replaceChildren(cohortsTable(v.cohorts));
    document.querySelector('main').dataset.state = 'loaded';
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      if (await reopenSession()) return start();
      askForToken(e.message, start);
      return;
    }
    document.getElementById('funnel-chart').replaceChildren(el('p', { class: 'error', role: 'alert' }, explain(e)));
  }
}

start();
