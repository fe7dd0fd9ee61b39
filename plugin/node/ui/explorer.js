// SPDX-License-Identifier: GPL-3.0-or-later
// Curia Node's panel in Orthanc Explorer (appended to explorer.js by the plugin): on a study's
// page, the Curia jobs of the study with their state, progress, findings and results. Strings go
// into the page as text nodes only.
(function () {
  'use strict';
  var API = '../curia/';

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    var k;
    for (k in attrs || {}) {
      if (Object.prototype.hasOwnProperty.call(attrs, k) && attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, String(attrs[k]));
    }
    (children || []).forEach(function (c) {
      if (c === undefined || c === null) return;
      e.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    });
    return e;
  }

  function getJson(url) {
    return fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } }).then(function (r) {
      if (!r.ok) throw new Error(r.status + ' ' + r.statusText + ' for ' + url);
      return r.json();
    });
  }

  function findingLines(job) {
    var tasks = job.Findings && job.Findings.Tasks ? job.Findings.Tasks : [];
    return tasks.map(function (t) {
      var meaning = t.Finding && t.Finding.Meaning ? t.Finding.Meaning : t.Task;
      var text = t.Probability === undefined ? meaning + ': ' + t.Value
        : meaning + ' (' + t.Task + '): ' + (100 * t.Probability).toFixed(1) + ' % (' + (t.Present ? 'present' : 'absent') + ')';
      return el('div', { 'class': 'curia-finding' + (t.Present ? ' curia-present' : '') }, [text]);
    });
  }

  function jobBlock(job) {
    var p = job.Progress || { Done: 0, Total: 0 };
    var links = [], images = [];
    (job.Outputs || []).forEach(function (o) {
      var base = API + 'jobs/' + job.ID + '/outputs/' + o.ID;
      if (o.Kind === 'SR') links.push(el('a', { href: base + '/html', target: '_blank', 'class': 'curia-sr-link', 'data-ajax': 'false' }, ['Structured report']));
      else images.push(el('a', { href: base + '/image', target: '_blank', 'data-ajax': 'false', 'class': 'curia-image-link' },
        [el('img', { src: base + '/image', alt: 'Key image ' + o.ID, style: 'max-height:96px;margin:2px;border:1px solid #ccc' })]));
    });
    return el('div', { 'class': 'curia-job', 'data-job': job.ID, style: 'border-top:1px solid #ddd;padding:6px 0' }, [
      el('div', {}, [el('strong', {}, ['Job ' + job.ID]), ' \u2014 ' + job.Rule + ' \u2014 ',
        el('span', { 'class': 'curia-state' }, [job.State]),
        p.Total ? ' \u2014 ' + p.Done + '/' + p.Total + ' slices' : '']),
      job.Error ? el('div', { style: 'color:#b00020' }, [job.Error]) : null,
      el('div', {}, findingLines(job)),
      el('div', {}, links),
      el('div', {}, images)
    ]);
  }

  function render(panel, studyId) {
    var body = panel.querySelector('.curia-body');
    getJson(API + 'jobs?study=' + encodeURIComponent(studyId) + '&limit=50').then(function (list) {
      return Promise.all(list.Jobs.map(function (j) { return getJson(API + 'jobs/' + j.ID); }));
    }).then(function (jobs) {
      while (body.firstChild) body.removeChild(body.firstChild);
      if (!jobs.length) body.appendChild(el('div', { style: 'color:#777' }, ['No Curia job for this study.']));
      jobs.forEach(function (j) { body.appendChild(jobBlock(j)); });
    }).catch(function (e) {
      while (body.firstChild) body.removeChild(body.firstChild);
      body.appendChild(el('div', { style: 'color:#b00020' }, ['Curia: ' + e.message]));
    });
  }

  function show() {
    var studyId = ($.mobile.pageData && $.mobile.pageData.uuid) || (location.hash.split('?')[1] || '');
    var old = document.getElementById('curia-panel');
    if (old) old.parentNode.removeChild(old);
    if (!studyId) return;
    var panel = el('div', { id: 'curia-panel', style: 'margin:1em 0;padding:0.5em 1em;border:1px solid #ccc;border-radius:6px;background:#fff;text-shadow:none' }, [
      el('h3', { style: 'margin:0.3em 0' }, ['Curia ', el('span', { style: 'font-size:0.7em;color:#c00' }, ['RESEARCH USE ONLY'])]),
      el('div', { 'class': 'curia-body' }, ['Loading\u2026']),
      el('a', { href: API + 'ui', target: '_blank', 'data-ajax': 'false', style: 'font-size:0.85em' }, ['Curia dashboard'])
    ]);
    var anchor = document.getElementById('list-series');
    if (anchor && anchor.parentNode) anchor.parentNode.appendChild(panel);
    else document.querySelector('#study [data-role="content"]').appendChild(panel);
    render(panel, studyId);
  }

  if ($.fn.on) $(document).on('pagebeforeshow', '#study', show);
  else $('#study').live('pagebeforeshow', show);
})();
