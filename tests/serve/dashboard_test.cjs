// The dashboard in headless Chromium (Debian's package, driven by playwright-core): the runs table
// follows the runs live (over the event stream: every wait here is shorter than the page's 5 s
// poll), a run's timeline renders its node bars, a gate is answered from the page, and a run is
// cancelled from it. Saves a screenshot to $SKEIN_SCREENSHOT.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');
const { startServer, call, until, data } = require('./server.cjs');

const live = { timeout: 3000 };  // below the page's poll interval: only the event stream is that quick

const launch = () => chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
                                       args: ['--no-sandbox'] });

// The dashboard open and live, and the page errors it reports as they come.
async function openDashboard(browser, server) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', e => errors.push(e.message));
  await page.goto(server.url + '/');
  await page.locator('#conn.live').waitFor(live);
  return { page, errors };
}

test('the dashboard shows runs live, renders a timeline, answers a gate and cancels a run', async () => {
  const server = await startServer([data('approve.yaml'), data('forever.yaml')]);
  const browser = await launch();
  try {
    const { page, errors } = await openDashboard(browser, server);

    // A run submitted elsewhere appears, and reaches its gate, without a reload.
    await call(server, 'POST', '/api/runs', { file: 'approve', input: { title: 'from the API' } });
    await page.locator('#runs tr[data-id="g1"][data-state="WAITING"]').waitFor(live);
    const gate = page.locator('#gates .gate[data-id="g1.1"]');
    await gate.waitFor(live);
    assert.match(await gate.locator('.q').innerText(), /Ship it\?/);

    // A bad answer is refused with the reason, the gate stays; a good one lets the run finish.
    await gate.locator('input.answer').fill('"maybe"');
    await gate.locator('button.answer').click();
    await gate.locator('.reason', { hasText: 'refused' }).waitFor(live);
    assert.equal((await call(server, 'GET', '/api/runs/g1')).body.state, 'WAITING');
    await gate.locator('input.answer').fill('true');
    await gate.locator('button.answer').click();
    await page.locator('#runs tr[data-id="g1"][data-state="DONE"]').waitFor(live);
    await gate.waitFor({ state: 'detached', ...live });
    const run = (await call(server, 'GET', '/api/runs/g1')).body;
    assert.equal(run.trace[2].fields.approved, true);

    // The timeline: a bar per node and per dep, the dep's bar about as wide as its 0.2 s.
    await page.locator('#runs tr[data-id="g1"]').click();
    await page.locator('#detail-id', { hasText: 'g1' }).waitFor(live);
    const labels = await page.locator('#timeline .row').evaluateAll(rows => rows.map(r => r.dataset.label));
    assert.deepEqual(labels, ['Request', 'Check', 'Approve', 'dep check']);
    const share = await page.locator('#timeline .row[data-label="dep check"] .bar')
      .evaluate(bar => bar.getBoundingClientRect().width / bar.parentElement.getBoundingClientRect().width);
    const expected = (run.deps[0].end_ns - run.deps[0].start_ns) / (run.finished_ns - run.started_ns);
    assert.ok(Math.abs(share - expected) < 0.02, `dep bar ${share} of the track, expected ${expected}`);

    // Submitted from the page, then cancelled from it.
    await page.selectOption('#file', data('forever.yaml'));
    await page.fill('#input', '{"name": "from the page"}');
    await page.click('#submit');
    await page.locator('#runs tr[data-id="g2"][data-state="RUNNING"]').waitFor(live);
    await page.locator('#runs tr[data-id="g2"] button.cancel').click();
    await page.locator('#runs tr[data-id="g2"][data-state="CANCELLED"]').waitFor(live);

    await page.locator('#runs tr[data-id="g1"]').click();
    await page.locator('#detail-id', { hasText: 'g1' }).waitFor(live);
    await page.locator('#engines tr[data-name="local"]').waitFor(live);
    await page.screenshot({ path: process.env.SKEIN_SCREENSHOT || 'dashboard.png', fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    assert.equal(await server.stop(), 0);
  }
});

test('with a token, the page works and its event stream uses the cookie, not the URL', async () => {
  const server = await startServer([data('approve.yaml'), '--token', 's3cret'], { token: 's3cret' });
  const browser = await launch();
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors = [], streams = [];
    page.on('pageerror', e => errors.push(e.message));
    page.on('console', m => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('request', r => { if (r.url().includes('/api/events')) streams.push(r.url()); });
    page.on('response', r => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
    await page.goto(server.url + '/?token=s3cret');
    await page.locator('#conn.live').waitFor(live);
    assert.ok(streams.length >= 1);
    for (const url of streams) assert.doesNotMatch(url, /token/);
    const cookie = (await context.cookies()).find(c => c.name === 'skein_token');
    assert.ok(cookie && cookie.httpOnly && cookie.sameSite === 'Strict', JSON.stringify(cookie));

    await call(server, 'POST', '/api/runs', { file: 'approve', input: { title: 'with a token' } });
    await page.locator('#runs tr[data-id="g1"][data-state="WAITING"]').waitFor(live);
    const gate = page.locator('#gates .gate[data-id="g1.1"]');
    await gate.locator('input.answer').fill('true');
    await gate.locator('button.answer').click();
    await page.locator('#runs tr[data-id="g1"][data-state="DONE"]').waitFor(live);
    assert.deepEqual(errors, []);
    // The cookie opens the stream only: not the API.
    assert.equal((await fetch(server.url + '/api/runs', { headers: { Cookie: `skein_token=s3cret` } })).status, 401);
  } finally {
    await browser.close();
    assert.equal(await server.stop(), 0);
  }
});

test('a graph run killed at its gate is resumed from the page and reopens the same gate; a chain run has a bar per node',
     async () => {
  const files = [data('approve.yaml'), data('two_nodes.yaml')];
  const first = await startServer(files);
  await call(first, 'POST', '/api/runs', { file: 'approve', input: { title: 'killed at its gate' } });
  await until('WAITING', async () => (await call(first, 'GET', '/api/runs/g1')).body.state === 'WAITING');
  assert.equal((await call(first, 'GET', '/api/gates')).body.gates[0].id, 'g1.1');
  await first.kill9();

  const server = await startServer(files, { state: first.state });
  const browser = await launch();
  try {
    const { page, errors } = await openDashboard(browser, server);
    await page.locator('#crashed button.resume').click();
    await page.locator('#runs tr[data-id="g1"][data-state="WAITING"]').waitFor(live);
    const gate = page.locator('#gates .gate[data-id="g1.1"]');
    await gate.locator('input.answer').fill('true');
    await gate.locator('button.answer').click();
    await page.locator('#runs tr[data-id="g1"][data-state="DONE"]').waitFor(live);
    const run = (await call(server, 'GET', '/api/runs/g1')).body;
    assert.deepEqual(run.trace.map(e => e.type), ['Request', 'Check', 'Approve']);
    assert.equal(run.trace[2].fields.approved, true);

    const records = Array.from({ length: 6 }, (_, i) => ({ n: i }));
    const { id } = (await call(server, 'POST', '/api/runs', { file: 'twonodes', input: records })).body;
    // The chain's own time (six `sh` records) is the machine's, not the page's: under a sanitizer
    // beside other tests it took over 3 s. The page must then show the end within `live`.
    await until(`${id} DONE`, async () => (await call(server, 'GET', `/api/runs/${id}`)).body.state === 'DONE', 60000);
    await page.locator(`#runs tr[data-id="${id}"][data-state="DONE"]`).waitFor(live);
    await page.locator(`#runs tr[data-id="${id}"]`).click();
    await page.locator('#detail-id', { hasText: id }).waitFor(live);
    const labels = await page.locator('#timeline .row').evaluateAll(rows => rows.map(r => r.dataset.label));
    assert.equal(labels.length, 2, JSON.stringify(labels));
    assert.match(labels[0], /^echoed · \d+ records\/s$/);
    assert.match(labels[1], /^kept · \d+ records\/s$/);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    assert.equal(await server.stop(), 0);
  }
});
