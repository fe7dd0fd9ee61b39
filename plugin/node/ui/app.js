// SPDX-License-Identifier: GPL-3.0-or-later
// The Curia Node dashboard (/curia/ui): plain JavaScript, no framework, no build step.
// Every string from the node or from DICOM goes into the page through el() as a text node: never
// as HTML.
'use strict';

// Orthanc's root ("/" or a reverse proxy's prefix): the page is <root>curia/ui.
const ROOT = location.pathname.slice(0, location.pathname.indexOf('/curia/') + 1) || '/';
const API = ROOT + 'curia/';
const REFRESH_MS = 3000;
const STATES = ['queued', 'running', 'exporting', 'done', 'failed', 'dead', 'cancelled', 'superseded'];

// el('td', {class: 'num'}, 'text', child, ...): strings become text nodes (escaped by the DOM).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'onclick') e.addEventListener('click', v);
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    e.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function fill(tbody, rows, columns, emptyText) {
  tbody.replaceChildren(...(rows.length ? rows : [el('tr', { class: 'empty' }, el('td', { colspan: columns }, emptyText))]));
}

async function getJson(path) {
  const r = await fetch(path, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (!r.ok) throw new Error(`${r.status} ${r.statusText} for ${path}`);
  return r.json();
}

function percent(p) { return p && p.Total > 0 ? Math.round((100 * p.Done) / p.Total) : 0; }
function time(t) { return t ? new Date(t * 1000).toLocaleString() : ''; }
function stateBadge(state) { return el('span', { class: `state state-${state}` }, state); }

// Patient's Name and Study Description from Orthanc (the node stores no names), by Orthanc study ID.
const studies = new Map();
async function studyInfo(id) {
  if (!studies.has(id)) {
    studies.set(id, getJson(`${ROOT}studies/${encodeURIComponent(id)}`).then(
      s => ({ patient: (s.PatientMainDicomTags || {}).PatientName || '', description: (s.MainDicomTags || {}).StudyDescription || '' }),
      () => ({ patient: '', description: '(not in Orthanc)' })));
  }
  return studies.get(id);
}

// Job details (findings, outputs) of finished jobs, by ID and state.
const details = new Map();
async function jobDetail(job) {
  const key = `${job.ID}:${job.State}`;
  if (!details.has(key)) details.set(key, getJson(`${API}jobs/${job.ID}`).catch(() => null));
  return details.get(key);
}

async function studyCell(job) {
  const s = await studyInfo(job.Study);
  return el('td', {}, el('span', { class: 'patient' }, s.patient.replace(/\^/g, ' ').trim() || '(no name)'), el('br'),
    el('span', { class: 'muted' }, s.description || job.StudyInstanceUID));
}

function findingsCell(detail) {
  const tasks = detail && detail.Findings ? detail.Findings.Tasks || [] : [];
  return el('td', {}, tasks.map(t => {
    const meaning = t.Finding && t.Finding.Meaning ? t.Finding.Meaning : t.Task;
    if (t.Probability === undefined) return el('span', { class: 'finding' }, `${meaning}: ${t.Value}`);
    return el('span', { class: `finding${t.Present ? ' present' : ''}` },
      `${meaning} (${t.Task}): ${(100 * t.Probability).toFixed(1)} % — ${t.Present ? 'present' : 'absent'}`);
  }));
}

function resultsCell(job, detail) {
  const outputs = detail ? detail.Outputs || [] : [];
  let images = 0;
  return el('td', { class: 'results' }, outputs.map(o => o.Kind === 'SR'
    ? el('a', { class: 'sr-link', href: `${API}jobs/${job.ID}/outputs/${o.ID}/html`, target: '_blank' }, 'Structured report')
    : el('a', { class: 'image-link', href: `${API}jobs/${job.ID}/outputs/${o.ID}/image`, target: '_blank' }, `Key image ${++images}`)));
}

async function retry(job, button) {
  button.disabled = true;
  try {
    const r = await fetch(`${API}jobs/${job.ID}/retry`, { method: 'POST', credentials: 'same-origin' });
    if (!r.ok) throw new Error(`retry of job ${job.ID}: ${r.status} ${await r.text()}`);
    await refresh();
  } catch (e) {
    showError(e);
    button.disabled = false;
  }
}

function showError(e) {
  const p = document.getElementById('error');
  p.hidden = !e;
  p.textContent = e ? String(e.message || e) : '';
}

function renderHealth(health, stats) {
  document.getElementById('version').textContent = `version ${health.Version}`;
  // Passing problems (the database's disk full, ...) first, then the configuration's warnings.
  const warnings = (health.Problems || []).map(p => `Now: ${p}`).concat(stats.Warnings || []);
  document.getElementById('warnings-section').hidden = warnings.length === 0;
  document.getElementById('warnings').replaceChildren(...warnings.map(w => el('li', {}, w)));

  const queue = health.Queue || {};
  fill(document.querySelector('#queue tbody'), Object.keys(queue).map(p => el('tr', {}, el('td', {}, p), el('td', { class: 'num' }, queue[p]))), 2, 'none');
  const jobs = health.Jobs || {};
  fill(document.querySelector('#states tbody'), STATES.filter(s => jobs[s]).map(s => el('tr', {}, el('td', {}, stateBadge(s)), el('td', { class: 'num' }, jobs[s]))), 2, 'no job yet');

  const m = health.Model || {};
  document.getElementById('model').replaceChildren(
    el('dt', {}, 'Path'), el('dd', {}, m.Path),
    el('dt', {}, 'Backbone digest'), el('dd', { class: 'digest' }, m.Digest),
    el('dt', {}, 'Devices'), el('dd', {}, (m.Devices || []).join(', ')),
    el('dt', {}, 'Weights'), el('dd', {}, m.Demo ? 'DEMO (meaningless output)' : 'released'),
    el('dt', {}, 'Database'), el('dd', {}, health.Database));
  fill(document.querySelector('#heads tbody'), (m.Tasks || []).map(t => el('tr', {}, el('td', {}, t.Task), el('td', {}, t.Head), el('td', { class: 'digest' }, (t.Digest || '').slice(0, 16)))), 3, 'no head');

  fill(document.querySelector('#rules tbody'), (stats.Rules || []).map(r => el('tr', {},
    el('td', {}, r.Name, r.Configured && !r.Enabled ? ' (disabled)' : ''), el('td', {}, r.Priority || ''),
    el('td', {}, (r.Tasks || []).join(', ')), el('td', {}, (r.Destinations || []).join(', ')),
    STATES.map(s => el('td', { class: 'num' }, r.Jobs[s] || 0)))), 12, 'no rule');
}

// The nodes using this node's database (one with SQLite: this one): when each last beat, whether it
// is alive (a heartbeat within the last three intervals), what it runs, its leases lost and taken back.
function renderCluster(cluster) {
  const c = cluster || {};
  fill(document.querySelector('#cluster tbody'), (c.Nodes || []).map(n => el('tr', { 'data-node': n.Name, class: n.Alive ? 'alive' : 'gone' },
    el('td', {}, n.Name, n.This ? el('span', { class: 'muted' }, ' (this node)') : null),
    el('td', {}, n.LastSeen === null || n.LastSeen === undefined ? 'never' : `${Math.round(n.LastSeen)} s ago`),
    el('td', {}, el('span', { class: `state state-${n.Alive ? 'done' : 'dead'}` }, n.Alive ? 'alive' : 'not seen')),
    el('td', { class: 'num' }, n.Running), el('td', { class: 'num' }, n.LeasesLost), el('td', { class: 'num' }, n.LeasesRecovered),
    el('td', {}, n.Version), el('td', {}, n.Role), el('td', {}, n.Host))), 9, 'no heartbeat yet');
}

// The rule of a job; a region job (issue 17) also names the kind of its region object (the Orthanc
// ID of the SEG or RTSTRUCT instance in the tooltip).
function ruleCell(j) {
  const kind = (j.RegionScope || '').split(':')[1];
  return el('td', {}, j.Rule, kind ? [el('br'), el('span', { class: 'muted', title: j.RegionInstance }, `${kind} regions`)] : []);
}

async function renderJobs(running, recent, problems) {
  const runningRows = await Promise.all(running.map(async j => el('tr', { 'data-job': j.ID },
    el('td', {}, j.ID), await studyCell(j), ruleCell(j), el('td', {}, stateBadge(j.State)),
    el('td', {}, el('progress', { max: 100, value: percent(j.Progress) }), ` ${j.Progress.Done}/${j.Progress.Total}`))));
  fill(document.querySelector('#running tbody'), runningRows, 5, 'nothing running');

  const recentRows = await Promise.all(recent.map(async j => {
    const detail = ['done', 'exporting', 'dead'].includes(j.State) ? await jobDetail(j) : null;
    return el('tr', { 'data-job': j.ID },
      el('td', {}, j.ID, el('br'), el('span', { class: 'muted' }, time(j.FinishedAt || j.CreatedAt))),
      await studyCell(j), ruleCell(j), el('td', {}, stateBadge(j.State)), findingsCell(detail), resultsCell(j, detail));
  }));
  fill(document.querySelector('#recent tbody'), recentRows, 6, 'no job yet');

  const problemRows = await Promise.all(problems.map(async j => {
    const button = el('button', { class: 'retry', type: 'button' }, 'Retry');
    button.addEventListener('click', () => retry(j, button));
    return el('tr', { 'data-job': j.ID }, el('td', {}, j.ID), await studyCell(j), ruleCell(j),
      el('td', {}, stateBadge(j.State)), el('td', {}, j.Error), el('td', {}, button));
  }));
  fill(document.querySelector('#problems tbody'), problemRows, 6, 'none');
}

let refreshing = null;
async function refresh() {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    try {
      const [health, stats, running, exporting, recent, failed, dead] = await Promise.all([
        getJson(`${API}health`), getJson(`${API}stats`),
        getJson(`${API}jobs?state=running&limit=50`), getJson(`${API}jobs?state=exporting&limit=50`),
        getJson(`${API}jobs?limit=15`), getJson(`${API}jobs?state=failed&limit=50`), getJson(`${API}jobs?state=dead&limit=50`)]);
      renderHealth(health, stats);
      renderCluster(health.Cluster);
      const problems = dead.Jobs.concat(failed.Jobs).sort((a, b) => b.ID - a.ID);
      await renderJobs(running.Jobs.concat(exporting.Jobs), recent.Jobs, problems);
      document.getElementById('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
      showError(null);
    } catch (e) {
      showError(e);
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

document.querySelector('header a').setAttribute('href', `${ROOT}app/explorer.html`);
refresh();
setInterval(refresh, REFRESH_MS);
