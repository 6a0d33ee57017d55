// Hosts on several machines sharing one run store in PostgreSQL (`skein serve --store
// postgresql://…`, SPEC §9), each with a state directory of its own as on machines of their own:
// each lists and loads the other's runs, no id is taken twice, a host killed with -9 has exactly its
// unfinished runs CRASHED by the host still running, and a host started later resumes one of them
// to its end.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, call, until, data } = require('./server.cjs');
const { startPostgres } = require('./postgres.cjs');

const submit = async (host, title) => {
  const r = await call(host, 'POST', '/api/runs', { file: 'approve', input: { title } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
};
const listed = async host => new Map((await call(host, 'GET', '/api/runs')).body.runs.map(r => [r.id, r.state]));
const stateOn = async (host, id) => (await call(host, 'GET', `/api/runs/${id}`)).body.state;

test('two hosts on one PostgreSQL store list each other\'s runs; a killed host\'s runs are resumed elsewhere', async () => {
  const pg = startPostgres();
  const hosts = [];
  try {
    const store = ['--store', pg.url];
    const a = await startServer([data('approve.yaml'), ...store]);
    hosts.push(a);
    const b = await startServer([data('approve.yaml'), ...store]);
    hosts.push(b);
    const [onA, onB] = await Promise.all([
      Promise.all(Array.from({ length: 10 }, (_, i) => submit(a, `a ${i}`))),
      Promise.all(Array.from({ length: 10 }, (_, i) => submit(b, `b ${i}`))),
    ]);
    assert.equal(new Set([...onA, ...onB]).size, 20, 'no id taken twice');

    // Each host loads and lists the other's runs, as their host left them (at the gate).
    await until('every run WAITING, seen from the other host', async () => {
      for (const [host, ids] of [[b, onA], [a, onB]])
        for (const id of ids) if (await stateOn(host, id) !== 'WAITING') return { ok: false, id };
      return true;
    }, 60000);
    for (const [host, own, other] of [[a, onA, onB], [b, onB, onA]]) {
      const runs = await listed(host);
      for (const id of [...own, ...other]) assert.equal(runs.get(id), 'WAITING', id);
    }

    // B dies. A, still running, finds B's unfinished runs CRASHED within seconds (its keeper), and
    // only those; a host started later lists them so, and A's still WAITING.
    await b.kill9();
    hosts.splice(hosts.indexOf(b), 1);
    // (B is gone once unseen for 15 s; A's keeper looks every 5 s.)
    await until('B\'s runs CRASHED, seen from A', async () => {
      const runs = await listed(a);
      return onB.every(id => runs.get(id) === 'CRASHED') || { ok: false, runs: [...runs] };
    }, 45000);
    const c = await startServer([data('approve.yaml'), ...store]);
    hosts.push(c);
    for (const id of onA) assert.equal(await stateOn(c, id), 'WAITING', id);
    for (const id of onB) assert.equal(await stateOn(c, id), 'CRASHED', id);

    // A's own run goes on there; C resumes one of B's at its gate and finishes it.
    assert.equal((await call(a, 'POST', `/api/gates/${onA[0]}.1`, { value: true })).status, 200);
    await until('A\'s run DONE, seen from C', async () => await stateOn(c, onA[0]) === 'DONE', 30000);
    const resumed = await call(c, 'POST', `/api/runs/${onB[0]}/resume`);
    assert.equal(resumed.status, 201, JSON.stringify(resumed.body));
    assert.equal(resumed.body.id, onB[0]);
    await until('the resumed run at its gate on C', async () => await stateOn(c, onB[0]) === 'WAITING', 30000);
    assert.equal((await call(a, 'POST', `/api/runs/${onB[0]}/resume`)).status, 409, 'resumed once only');
    assert.equal((await call(c, 'POST', `/api/gates/${onB[0]}.1`, { value: true })).status, 200);
    await until('the resumed run DONE, seen from A', async () => await stateOn(a, onB[0]) === 'DONE', 30000);
    const run = (await call(a, 'GET', `/api/runs/${onB[0]}`)).body;
    assert.deepEqual(run.trace.map(t => t.type), ['Request', 'Check', 'Approve']);
  } finally {
    for (const h of hosts) assert.equal(await h.stop(), 0, h.output());
    pg.stop();
  }
});
