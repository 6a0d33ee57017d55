// One state directory, several hosts: a `skein serve` and a `skein shell` submit 50 runs each at
// the same time. Every run is stored under its own id, none is CRASHED while its host lives, and
// after `kill -9` of the shell a new host marks exactly the shell's unfinished runs CRASHED.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const { startServer, call, until, data, tempState } = require('./server.cjs');

function startShell(args, state) {
  const child = spawn(process.env.SKEIN_BIN, ['shell', ...args, '--state-dir', state],
                      { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', d => { out += d; });
  child.stderr.on('data', d => { out += d; });
  const exit = new Promise(resolve => child.on('exit', (code, signal) => resolve(code ?? signal)));
  return { child, exit, output: () => out, send: line => child.stdin.write(line + '\n') };
}

test('two hosts on one store: distinct ids, their own runs, crashes found per host', async () => {
  const serve = await startServer([data('approve.yaml')]);
  const shell = startShell([data('approve.yaml')], serve.state);
  let other;
  try {
    await until('the shell', async () => shell.output().includes('Type help'));
    for (let i = 0; i < 50; i++) shell.send(`run approve {"title": "shell ${i}"}`);
    const posted = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      call(serve, 'POST', '/api/runs', { file: 'approve', input: { title: `serve ${i}` } })));
    const served = posted.map(r => { assert.equal(r.status, 201, JSON.stringify(r.body)); return r.body.id; });
    const shelled = await until('the shell\'s 50 runs', async () => {
      const ids = [...shell.output().matchAll(/(g\d+) submitted/g)].map(m => m[1]);
      return ids.length === 50 ? ids : null;
    });
    const all = new Set([...served, ...shelled]);
    assert.equal(all.size, 100, 'no id taken twice');

    // Every run reaches its gate, and is in the store as its own host left it.
    await until('100 runs stored and WAITING', async () => {
      for (const id of all) {
        const r = await call(serve, 'GET', `/api/runs/${id}`);
        if (r.status !== 200 || r.body.state !== 'WAITING') return { ok: false, id, state: r.body.state };
      }
      return true;
    }, 60000);

    // The shell dies; a new host on the store finds exactly its unfinished runs.
    shell.child.kill('SIGKILL');
    await shell.exit;
    other = await startServer([data('approve.yaml')], { state: serve.state });
    const crashed = (await call(other, 'GET', '/api/runs')).body.crashed;
    assert.deepEqual([...crashed].sort(), [...shelled].sort());
    for (const id of served) assert.equal((await call(other, 'GET', `/api/runs/${id}`)).body.state, 'WAITING', id);
    for (const id of shelled) assert.equal((await call(serve, 'GET', `/api/runs/${id}`)).body.state, 'CRASHED', id);
    // The live host's runs go on: one answered finishes.
    assert.equal((await call(serve, 'POST', `/api/gates/${served[0]}.1`, { value: true })).status, 200);
    await until('DONE', async () => (await call(serve, 'GET', `/api/runs/${served[0]}`)).body.state === 'DONE');
    // A new run on either host takes an id no one took.
    const next = (await call(other, 'POST', '/api/runs', { file: 'approve', input: { title: 'later' } })).body.id;
    assert.ok(!all.has(next), next);
  } finally {
    if (shell.child.exitCode === null && shell.child.signalCode === null) shell.child.kill('SIGKILL');
    if (other) assert.equal(await other.stop(), 0);
    assert.equal(await serve.stop(), 0);
  }
});

test('skein shell exits 0 on SIGTERM with runs active, and skein serve on SIGINT', async () => {
  const state = tempState('skein-sig-');
  const shell = startShell([data('approve.yaml'), data('forever.yaml')], state);
  await until('the shell', async () => shell.output().includes('Type help'));
  shell.send('run approve {"title": "t"}');
  shell.send('run forever {"name": "n"}');
  await until('two runs', async () => (shell.output().match(/submitted/g) || []).length === 2);
  shell.child.kill('SIGTERM');
  assert.equal(await shell.exit, 0, shell.output());

  const serve = await startServer([data('forever.yaml')]);
  await call(serve, 'POST', '/api/runs', { file: 'forever', input: { name: 'n' } });
  const exit = serve.exit;
  process.kill(serve.pid, 'SIGINT');
  assert.equal(await exit, 0, serve.output());
});
