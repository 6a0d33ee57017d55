// Shutdown is always clean: `skein serve` gets SIGTERM at a random moment of a busy life (an open
// event stream, a model run, a gate run with an `exec` dep, the gate answered or not), in
// SKEIN_STRESS_CYCLES cycles (200 by default). Every time it exits 0 and leaves no process behind:
// each server runs with a marker in its environment, which every process it starts inherits.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { startServer, call, data } = require('./server.cjs');

const cycles = Number(process.env.SKEIN_STRESS_CYCLES || 200);

// Processes whose environment holds `marker`.
function marked(marker) {
  const out = [];
  for (const pid of fs.readdirSync('/proc').filter(p => /^\d+$/.test(p))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/environ`).includes(marker)) out.push(pid);
    } catch { /* gone, or not ours */ }
  }
  return out;
}

async function settle(marker, ms = 5000) {
  const deadline = Date.now() + ms;
  let left = marked(marker);
  while (left.length && Date.now() < deadline) {
    await new Promise(r => setTimeout(r, 20));
    left = marked(marker);
  }
  return left;
}

test(`SIGTERM at a random moment: exit 0 and no process left, ${cycles} times`, async () => {
  const exits = new Map();
  for (let i = 0; i < cycles; i++) {
    const marker = `SKEIN_STRESS_MARK=${process.pid}-${i}`;
    const server = await startServer([data('approve.yaml'), data('ask.yaml')],
                                     { env: { [marker.split('=')[0]]: marker.split('=')[1] } });
    const stream = new AbortController();
    const events = fetch(server.url + '/api/events', { signal: stream.signal })
      .then(r => r.body.getReader().read()).catch(() => null);
    const moment = Math.random() * 400;  // ms after the submissions
    const work = (async () => {
      const a = call(server, 'POST', '/api/runs', { file: 'ask', input: { text: `cycle ${i}` } });
      const g = call(server, 'POST', '/api/runs', { file: 'approve', input: { title: `cycle ${i}` } });
      const [, gate] = await Promise.all([a, g]);
      if (i % 2 && gate.body.id) {
        await new Promise(r => setTimeout(r, Math.random() * 300));
        await call(server, 'POST', `/api/gates/${gate.body.id}.1`, { value: true });
      }
    })().catch(() => null);  // the server may be gone mid-request: that is the point
    await new Promise(r => setTimeout(r, moment));
    const code = await server.stop();
    stream.abort();
    await Promise.all([work, events]);
    exits.set(code, (exits.get(code) || 0) + 1);
    assert.equal(code, 0, `cycle ${i}: exit ${code} after ${moment.toFixed(0)} ms\n${server.output()}`);
    assert.deepEqual(await settle(marker), [], `cycle ${i}: processes left`);
    fs.rmSync(server.state, { recursive: true, force: true });
  }
  console.log(`# ${cycles} cycles: exit codes ${JSON.stringify([...exits])}`);
});
