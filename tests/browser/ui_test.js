// SPDX-License-Identifier: GPL-3.0-or-later
// Drives Chromium through the node's web UI (run by run_browser_test.py, which prepares a done job
// whose Patient's Name is HTML/JS and a dead-lettered job). Argument: JSON parameters.
'use strict';
const assert = require('assert');
const path = require('path');

const P = JSON.parse(process.argv[2]);
const { chromium } = require(P.playwright);

function step(text) { console.log(`[ui_test] ${text}`); }

async function noScriptRan(page, dialogs, where) {
  assert.strictEqual(await page.evaluate(() => typeof window.pwned), 'undefined', `${where}: an injected script ran`);
  assert.deepStrictEqual(dialogs, [], `${where}: an injected handler opened a dialog`);
  assert.strictEqual(await page.locator('img[src="x"]').count(), 0, `${where}: an injected <img> is in the page`);
}

(async () => {
  const browser = await chromium.launch({ executablePath: P.chromium, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const context = await browser.newContext({
      httpCredentials: { username: P.user, password: P.password },
      viewport: { width: 1360, height: 900 },
    });
    const dialogs = [];
    context.on('page', p => p.on('dialog', d => { dialogs.push(d.message()); d.dismiss().catch(() => {}); }));
    const page = await context.newPage();
    const pageErrors = [];
    page.on('pageerror', e => pageErrors.push(String(e)));

    // --- the dashboard: the done job, its finding, the patient's name as text ---
    step('dashboard');
    await page.goto(`${P.base}/curia/ui`);
    const done = page.locator(`#recent tr[data-job="${P.doneJob}"]`);
    await done.locator('.state', { hasText: 'done' }).waitFor({ timeout: 20000 });
    await done.locator('.finding', { hasText: P.findingMeaning }).waitFor({ timeout: 20000 });
    const findingText = await done.locator('.finding').first().textContent();
    assert.match(findingText, /\d+\.\d %/, `the finding shows a probability: ${findingText}`);
    await done.locator('.patient', { hasText: 'window.pwned' }).waitFor({ timeout: 20000 });
    assert.strictEqual((await done.locator('.patient').textContent()).trim(), P.patientText, 'the patient name is shown as text');
    await noScriptRan(page, dialogs, 'dashboard');
    const dead = page.locator(`#problems tr[data-job="${P.deadJob}"]`);
    await dead.locator('.state', { hasText: 'dead' }).waitFor({ timeout: 20000 });
    assert.match(await dead.textContent(), /pacs/i, 'the dead job shows its error naming the destination');
    for (const id of ['#model', '#heads', '#rules', '#queue']) {
      assert.ok((await page.locator(id).textContent()).trim().length > 0, `${id} is empty`);
    }
    assert.match(await page.locator('#rules').textContent(), /ct-and-mr|\w/, 'per-rule counters');
    // The cluster panel: with SQLite one node, this one, alive (its heartbeat at start-up).
    const me = page.locator('#cluster tbody tr.alive');
    await me.first().waitFor({ timeout: 20000 });
    assert.strictEqual(await page.locator('#cluster tbody tr').count(), 1, 'one node in the cluster panel');
    assert.match(await me.textContent(), /\(this node\).*alive/, 'the cluster panel shows this node alive');
    await page.screenshot({ path: path.join(P.screenshots, 'dashboard.png'), fullPage: true });

    // --- the SR view ---
    step('SR view');
    const srHref = await done.locator('a.sr-link').getAttribute('href');
    const sr = await context.newPage();
    const answer = await sr.goto(new URL(srHref, page.url()).href);
    assert.strictEqual(answer.status(), 200, 'SR view status');
    assert.strictEqual(await sr.locator('body > pre').count(), 0, 'the SR is rendered as HTML (not the escaped fallback)');
    const srText = await sr.locator('body').innerText();
    assert.match(srText, /RESEARCH USE ONLY/i, 'the SR view shows the research-use statement');
    assert.ok(srText.includes(P.findingMeaning), `the SR view shows the finding "${P.findingMeaning}"`);
    // DCMTK shows the name's first component group ("=" separates groups in a DICOM PN), as text.
    assert.ok(srText.includes('<img src'), 'the SR view shows the patient name as text');
    await noScriptRan(sr, dialogs, 'SR view');
    await sr.screenshot({ path: path.join(P.screenshots, 'sr-view.png'), fullPage: true });
    await sr.close();

    // --- a key image decodes as a picture ---
    step('key image');
    const imageHref = await done.locator('a.image-link').first().getAttribute('href');
    const size = await page.evaluate(src => new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve([img.naturalWidth, img.naturalHeight]);
      img.onerror = () => reject(new Error(`${src} is not a picture`));
      img.src = src;
    }), imageHref);
    assert.ok(size[0] > 16 && size[1] > 16, `key image size ${size}`);

    // --- retry of the dead-lettered job: delivered ---
    step('retry');
    await dead.locator('button.retry').click();
    await page.locator(`#recent tr[data-job="${P.deadJob}"] .state`, { hasText: 'done' }).waitFor({ timeout: 60000 });
    assert.strictEqual(await page.locator(`#problems tr[data-job="${P.deadJob}"]`).count(), 0, 'the retried job left the failures');
    await noScriptRan(page, dialogs, 'dashboard after retry');

    // --- Orthanc Explorer's study page: the Curia panel ---
    step('Orthanc Explorer panel');
    const explorer = await context.newPage();
    explorer.on('pageerror', e => pageErrors.push(`explorer: ${e}`));
    await explorer.goto(`${P.base}/app/explorer.html#study?uuid=${P.doneStudy}`);
    const job = explorer.locator(`#curia-panel .curia-job[data-job="${P.doneJob}"]`);
    await job.waitFor({ timeout: 30000 });
    assert.match(await job.locator('.curia-state').textContent(), /done/);
    assert.ok((await job.textContent()).includes(P.findingMeaning), 'the panel shows the finding');
    assert.strictEqual(await job.locator('a.curia-sr-link').count(), 1, 'the panel links the SR');
    const img = job.locator('a.curia-image-link img').first();
    await img.waitFor();
    await explorer.waitForFunction(e => e.complete && e.naturalWidth > 0, await img.elementHandle(), { timeout: 20000 });
    assert.ok((await explorer.locator('body').innerText()).includes('<img src=x'), 'Orthanc Explorer shows the name as text');
    await noScriptRan(explorer, dialogs, 'Orthanc Explorer');
    await explorer.locator('#curia-panel').scrollIntoViewIfNeeded();
    await explorer.screenshot({ path: path.join(P.screenshots, 'explorer-panel.png') });

    assert.deepStrictEqual(pageErrors, [], 'JavaScript errors in the pages');
    step('all checks passed');
  } finally {
    await browser.close();
  }
})().catch(e => {
  console.error(`[ui_test] FAILED: ${e.stack || e}`);
  process.exit(1);
});
