// The HTTP API of `skein serve` against a real server process (node's test runner).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startServer, call, until, data } = require('./server.cjs');

const alive = pgid => { try { process.kill(-pgid, 0); return true; } catch { return false; } };
const state = async (server, id) => (await call(server, 'GET', `/api/runs/${id}`)).body.state;

test('a run with a gate: submit, list, refuse a bad answer, answer, trace with timings', async () => {
  const server = await startServer([data('approve.yaml'), data('forever.yaml')]);
  try {
    const files = await call(server, 'GET', '/api/files');
    assert.deepEqual(files.body.files.map(f => f.name), ['approve', 'forever']);
    const sub = await call(server, 'POST', '/api/runs', { file: 'approve', input: { title: 'ship' } });
    assert.equal(sub.status, 201);
    assert.equal(sub.body.id, 'g1');
    await until('WAITING', async () => (await state(server, 'g1')) === 'WAITING');
    const gates = (await call(server, 'GET', '/api/gates')).body.gates;
    assert.equal(gates.length, 1);
    assert.equal(gates[0].id, 'g1.1');
    assert.equal(gates[0].question, 'Ship it?');
    const bad = await call(server, 'POST', '/api/gates/g1.1', { value: 'maybe' });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.code, 'INVALID_VALUE');
    assert.match(bad.body.error, /refused/);
    assert.equal((await call(server, 'GET', '/api/runs')).body.pending_gates, 1);
    assert.equal((await call(server, 'POST', '/api/gates/g1.1', { value: true })).status, 200);
    const twice = await call(server, 'POST', '/api/gates/g1.1', { value: true });
    assert.deepEqual([twice.status, twice.body.code], [409, 'FAILED_PRECONDITION']);
    assert.equal((await call(server, 'POST', '/api/gates/g1.2', { value: true })).status, 404);
    await until('DONE', async () => (await state(server, 'g1')) === 'DONE');
    const run = (await call(server, 'GET', '/api/runs/g1')).body;
    assert.deepEqual(run.trace.map(e => e.type), ['Request', 'Check', 'Approve']);
    assert.equal(run.trace[2].fields.approved, true);
    assert.equal(run.nodes.length, 3);
    for (const t of run.nodes) assert.ok(t.end_ns >= t.start_ns && t.start_ns >= run.started_ns, JSON.stringify(t));
    assert.ok(run.nodes[1].deps_ns >= 150e6, 'the check dep sleeps 0.2 s');
    assert.equal(run.deps.length, 1);
    assert.equal(run.deps[0].dep, 'check');
    const list = (await call(server, 'GET', '/api/runs')).body.runs;
    assert.deepEqual(list.map(r => [r.id, r.state]), [['g1', 'DONE']]);
    const events = (await call(server, 'GET', '/api/runs/g1/events')).body.events.map(e => e.kind);
    assert.deepEqual(events.filter(k => k.startsWith('gate')), ['gate_opened', 'gate_answered']);
    assert.equal(events.at(-1), 'done');
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test('cancel over the API ends a run whose dep runs forever, and errors are JSON with reasons', async () => {
  const server = await startServer([data('forever.yaml')]);
  try {
    const { id } = (await call(server, 'POST', '/api/runs', { file: 'forever.yaml', input: { name: 'n' } })).body;
    const running = await until('the dep process', async () => {
      const r = (await call(server, 'GET', `/api/runs/${id}`)).body;
      return r.processes.length ? r : null;
    });
    assert.equal((await call(server, 'POST', `/api/runs/${id}/cancel`, {})).body.cancelled, true);
    await until('CANCELLED', async () => (await state(server, id)) === 'CANCELLED');
    for (const pgid of running.processes) await until(`process group ${pgid} gone`, async () => !alive(pgid), 5000);
    const again = await call(server, 'POST', `/api/runs/${id}/cancel`, {});
    assert.deepEqual([again.status, again.body.code], [409, 'FAILED_PRECONDITION']);
    assert.match(again.body.error, /CANCELLED/);
    assert.equal((await call(server, 'POST', '/api/runs/g99/cancel', {})).status, 404);
    // Resumed under its id, it runs its dep again (the cancel killed it); an active run is not resumed.
    const resume = await call(server, 'POST', `/api/runs/${id}/resume`, {});
    assert.deepEqual([resume.status, resume.body.id], [201, id]);
    const active = await call(server, 'POST', `/api/runs/${id}/resume`, {});
    assert.deepEqual([active.status, active.body.code], [409, 'FAILED_PRECONDITION']);
    assert.match(active.body.error, /PENDING|RUNNING/);
    await until('the dep process again', async () => (await call(server, 'GET', `/api/runs/${id}`)).body.processes.length);
    assert.equal((await call(server, 'POST', `/api/runs/${id}/cancel`, {})).body.cancelled, true);
    await until('CANCELLED again', async () => (await state(server, id)) === 'CANCELLED');
    const missing = await call(server, 'GET', '/api/runs/g99');
    assert.deepEqual([missing.status, missing.body.code], [404, 'NOT_FOUND']);
    assert.equal((await call(server, 'POST', '/api/gates/g99.1', { value: 1 })).status, 404);
    const unknown = await call(server, 'POST', '/api/runs', { file: 'nope.yaml', input: {} });
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.error, /no file 'nope.yaml'/);
    const badInput = await call(server, 'POST', '/api/runs', { file: 'forever', input: [1] });
    assert.deepEqual([badInput.status, badInput.body.code], [400, 'INVALID_ARGUMENT']);
    const res = await fetch(server.url + '/api/runs',
                            { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{not json' });
    assert.equal(res.status, 400);
    assert.match((await res.json()).error, /not valid JSON/);
    assert.equal((await call(server, 'GET', '/api/runs/g1/cancel')).status, 405);
    assert.equal((await call(server, 'GET', '/api/nothing')).status, 404);
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test('stopping the server cancels its runs and leaves none of their processes', async () => {
  const server = await startServer([data('forever.yaml')]);
  const { id } = (await call(server, 'POST', '/api/runs', { file: 'forever', input: { name: 'n' } })).body;
  const running = await until('the dep process', async () => {
    const r = (await call(server, 'GET', `/api/runs/${id}`)).body;
    return r.processes.length ? r : null;
  });
  assert.equal(await server.stop(), 0);
  // Killed by the server on its way out; gone once their new parent has reaped them.
  for (const pgid of running.processes) await until(`process group ${pgid} gone`, async () => !alive(pgid), 5000);
});

test('a chain run left unfinished by a killed server is CRASHED after a restart, and resumes', async () => {
  const args = [data('slow_chain.yaml')];
  const first = await startServer(args);
  const records = Array.from({ length: 8 }, (_, i) => ({ n: i }));
  const { id } = (await call(first, 'POST', '/api/runs', { file: 'slow', input: records })).body;
  assert.equal(id, 'c1');
  const running = await until('two records done', async () => {
    const r = (await call(first, 'GET', `/api/runs/${id}`)).body;
    return r.progress && r.progress.records_out >= 2 ? r : null;
  });
  assert.equal(running.state, 'RUNNING');
  await first.kill9();

  const second = await startServer(args, { state: first.state });
  try {
    assert.deepEqual((await call(second, 'GET', '/api/runs')).body.crashed, ['c1']);
    const crashed = (await call(second, 'GET', '/api/runs/c1')).body;
    assert.equal(crashed.state, 'CRASHED');
    const resumed = await call(second, 'POST', '/api/runs/c1/resume', {});
    assert.equal(resumed.status, 201, JSON.stringify(resumed.body));
    assert.equal(resumed.body.id, 'c2');
    await until('DONE', async () => (await state(second, 'c2')) === 'DONE');
    const run = (await call(second, 'GET', '/api/runs/c2')).body;
    assert.equal(run.input.resumes, 'c1');
    assert.equal(run.input.output, crashed.input.output);
    const out = path.join(run.input.output, 'echoed');
    const lines = fs.readdirSync(out).flatMap(f => fs.readFileSync(path.join(out, f), 'utf8').split('\n'))
      .filter(l => l.trim());
    assert.equal(lines.length, 8, 'every record once: none lost, none twice');
    const again = await call(second, 'POST', '/api/runs/c2/resume', {});
    assert.equal(again.status, 409);
    assert.match(again.body.error, /DONE/);
  } finally {
    assert.equal(await second.stop(), 0);
  }
});

test('a finished graph run forks at a node with new fields; a fork of the wrong type is refused', async () => {
  const server = await startServer([data('approve.yaml')]);
  try {
    await call(server, 'POST', '/api/runs', { file: 'approve', input: { title: 'to fork' } });
    await until('WAITING', async () => (await state(server, 'g1')) === 'WAITING');
    await call(server, 'POST', '/api/gates/g1.1', { value: true });
    await until('DONE', async () => (await state(server, 'g1')) === 'DONE');
    const bad = await call(server, 'POST', '/api/runs/g1/fork', { at: 2, fields: { approved: 'perhaps' } });
    assert.equal(bad.status, 422, JSON.stringify(bad.body));
    assert.equal(bad.body.code, 'INVALID_VALUE');
    const out = await call(server, 'POST', '/api/runs/g1/fork', { at: 9, fields: {} });
    assert.equal(out.status, 400);
    const fork = await call(server, 'POST', '/api/runs/g1/fork', { at: 2, fields: { approved: false } });
    assert.equal(fork.status, 201, JSON.stringify(fork.body));
    assert.equal(fork.body.id, 'g2');
    await until('DONE', async () => (await state(server, 'g2')) === 'DONE');
    const run = (await call(server, 'GET', '/api/runs/g2')).body;
    const source = (await call(server, 'GET', '/api/runs/g1')).body;
    assert.equal(run.forked_from, 'g1');
    assert.equal(run.forked_at, 2);
    assert.deepEqual(run.trace.slice(0, 2), source.trace.slice(0, 2));
    assert.equal(run.trace[2].fields.approved, false);
    assert.equal(run.deps.length, 0, 'the check dep was resolved by node 2: not run again');
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test('the server-sent event stream carries every run event, in order', async () => {
  const server = await startServer([data('approve.yaml')]);
  const controller = new AbortController();
  try {
    const res = await fetch(server.url + '/api/events', { signal: controller.signal });
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const reader = res.body.getReader();
    const kinds = [];
    const reading = (async () => {
      let text = '';
      const decoder = new TextDecoder();
      while (!kinds.includes('done')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
        let end;
        while ((end = text.indexOf('\n\n')) >= 0) {
          const frame = text.slice(0, end);
          text = text.slice(end + 2);
          const m = frame.match(/^event: (\w+)\ndata: (.*)$/s);
          if (m) kinds.push(JSON.parse(m[2]).kind === m[1] ? m[1] : 'MISMATCH');
        }
      }
    })();
    await until('the stream', async () => true);
    const { id } = (await call(server, 'POST', '/api/runs', { file: 'approve', input: { title: 't' } })).body;
    await until('the gate', async () => (await call(server, 'GET', '/api/gates')).body.gates.length === 1);
    await call(server, 'POST', `/api/gates/${id}.1`, { value: false });
    await reading;
    assert.deepEqual(kinds, ['started', 'node_finished', 'node_finished', 'gate_opened', 'gate_answered',
                             'node_finished', 'done']);
  } finally {
    controller.abort();
    assert.equal(await server.stop(), 0);
  }
});

test('off loopback a token is required, and requests without it are refused', async () => {
  await assert.rejects(startServer([data('approve.yaml'), '--address', '0.0.0.0']),
                       e => e.code === 2 && /needs a token/.test(e.message));
  const server = await startServer([data('approve.yaml'), '--address', '0.0.0.0', '--token', 's3cret'],
                                   { token: 's3cret' });
  try {
    assert.match(server.output(), /token required/);
    for (const route of ['/api/runs', '/api/gates', '/api/engines', '/api/events', '/'])
      assert.equal((await fetch(server.url + route)).status, 401, route);
    const wrong = await call(server, 'GET', '/api/runs', undefined, { Authorization: 'Bearer s3cre' });
    assert.equal(wrong.status, 401);
    assert.equal((await call(server, 'POST', '/api/runs', { file: 'approve', input: { title: 'x' } }, {})).status, 401);
    assert.equal((await call(server, 'GET', '/api/runs')).status, 200);
    assert.equal((await fetch(server.url + '/?token=s3cret')).status, 200);
    assert.equal((await call(server, 'GET', '/api/runs')).body.runs.length, 0, 'the refused submit ran nothing');
  } finally {
    assert.equal(await server.stop(), 0);
  }
});
