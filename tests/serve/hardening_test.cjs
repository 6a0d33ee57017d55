// `skein serve` against a hostile web page and sloppy or abusive clients: foreign Origin and Host,
// text/plain and invalid UTF-8 bodies, a 100 MiB body, 1,000 idle connections and a stalled
// half-sent request. Each gets its status (or is closed after the header timeout), and the server
// answers a normal request within 100 ms throughout.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const { spawn } = require('node:child_process');
const { startServer, call, until, data } = require('./server.cjs');

// 100 ms in the regular build; sanitizer builds (several times slower) set a looser bound.
const limit = Number(process.env.SKEIN_LATENCY_LIMIT_MS || 100);

// One raw request: {status, body (Buffer), json}. `headers` are sent as given (Host included).
function raw(server, method, route, { headers = {}, body } = {}) {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path: route, headers, agent: false },
                             res => {
                               const chunks = [];
                               res.on('data', c => chunks.push(c));
                               res.on('end', () => {
                                 const buf = Buffer.concat(chunks);
                                 let json;
                                 try { json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf)); }
                                 catch (e) { json = { unparsable: String(e) }; }
                                 resolve({ status: res.statusCode, headers: res.headers, body: buf, json });
                               });
                             });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// Measures GET /api/runs every 20 ms, from a process of its own (this one is busy with the abuse),
// until stopped: the slowest answer in ms.
const PROBE = `
  let worst = 0, count = 0, failure = null, running = true;
  process.stdin.on('end', () => { running = false; });
  process.stdin.resume();
  (async () => {
    await (await fetch(process.argv[1] + '/api/runs')).json();  // loads fetch itself: not timed
    console.log('ready');
    while (running) {
      const t0 = process.hrtime.bigint();
      try {
        const r = await fetch(process.argv[1] + '/api/runs');
        await r.json();
        if (r.status !== 200) failure = 'status ' + r.status;
      } catch (e) { failure = String(e); }
      worst = Math.max(worst, Number(process.hrtime.bigint() - t0) / 1e6);
      count++;
      await new Promise(r => setTimeout(r, 20));
    }
    console.log(JSON.stringify({ worst, count, failure, max: 0 }));
  })();`;
function probe(server) {
  const child = spawn(process.execPath, ['-e', PROBE, server.url], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', d => { out += d; });
  const exit = new Promise(resolve => child.on('exit', resolve));
  const ready = until('the probe', async () => out.startsWith('ready\n'));
  return { ready, async stop() { child.stdin.end(); await exit; return JSON.parse(out.slice('ready\n'.length)); } };
}

test('foreign origins and hosts, wrong content types and bad bytes get their status as JSON', async () => {
  const server = await startServer([data('approve.yaml')]);
  const host = new URL(server.url).host;
  const json = { 'Content-Type': 'application/json', Host: host };
  const submit = JSON.stringify({ file: 'approve', input: { title: 'x' } });
  try {
    // A page of another site: refused for every API call, whatever its content type.
    for (const type of ['text/plain', 'application/json']) {
      const r = await raw(server, 'POST', '/api/runs',
                          { headers: { Host: host, Origin: 'http://evil.example', 'Content-Type': type }, body: submit });
      assert.deepEqual([r.status, r.json.code], [403, 'PERMISSION_DENIED'], type);
      assert.match(r.json.error, /evil\.example/);
    }
    assert.equal((await raw(server, 'GET', '/api/runs', { headers: { Host: host, Origin: 'null' } })).status, 403);
    assert.equal((await raw(server, 'POST', '/api/gates/g1.1',
                            { headers: { ...json, Origin: 'http://evil.example' }, body: '{"value":true}' })).status,
                 403);
    // ... but the dashboard page itself may be opened from a link anywhere.
    const page = await raw(server, 'GET', '/', { headers: { Host: host, Origin: 'http://evil.example' } });
    assert.equal(page.status, 200);
    assert.match(page.headers['content-security-policy'], /default-src 'none'.*connect-src 'self'/);
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    assert.equal(page.headers['referrer-policy'], 'no-referrer');
    // Its own origin is fine.
    const own = await raw(server, 'POST', '/api/runs', { headers: { ...json, Origin: `http://${host}` }, body: submit });
    assert.equal(own.status, 201, JSON.stringify(own.json));

    // DNS rebinding: a foreign name in Host is refused, even for the page; the names of loopback are not.
    const port = new URL(server.url).port;
    for (const name of [`evil.example:${port}`, 'evil.example', `127.0.0.1.evil.example:${port}`]) {
      const r = await raw(server, 'GET', '/api/runs', { headers: { Host: name } });
      assert.deepEqual([r.status, r.json.code], [403, 'PERMISSION_DENIED'], name);
      assert.equal((await raw(server, 'GET', '/', { headers: { Host: name } })).status, 403);
    }
    for (const name of [`localhost:${port}`, `127.0.0.1:${port}`, 'LOCALHOST'])
      assert.equal((await raw(server, 'GET', '/api/runs', { headers: { Host: name } })).status, 200, name);

    // Bodies: JSON only, and any bytes give a JSON answer that is valid UTF-8.
    const plain = await raw(server, 'POST', '/api/runs', { headers: { Host: host, 'Content-Type': 'text/plain' },
                                                           body: submit });
    assert.equal(plain.status, 415);
    assert.equal((await raw(server, 'POST', '/api/runs', { headers: { Host: host }, body: submit })).status, 415);
    for (const bytes of [Buffer.from([0xff, 0xfe]), Buffer.from('{"file": "\xff\xfe"}', 'latin1'),
                         Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d])]) {
      const r = await raw(server, 'POST', '/api/runs', { headers: json, body: bytes });
      assert.equal(r.status, 400, bytes.toString('hex'));
      assert.equal(r.json.code, 'INVALID_ARGUMENT', JSON.stringify(r.json));
    }
    const gate = await raw(server, 'POST', '/api/gates/\xff.1', { headers: json, body: '{"value": 1}' });
    assert.equal(gate.status, 404);
    assert.ok(gate.json.error, 'a JSON error, valid UTF-8');
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test('allowed hosts and origins are served', async () => {
  const server = await startServer([data('approve.yaml'), '--allow-host', 'skein.internal',
                                    '--allow-origin', 'https://ops.example.com']);
  try {
    const r = await raw(server, 'POST', '/api/runs',
                        { headers: { Host: 'skein.internal:443', Origin: 'https://ops.example.com',
                                     'Content-Type': 'application/json' },
                          body: JSON.stringify({ file: 'approve', input: { title: 'x' } }) });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    assert.equal((await raw(server, 'GET', '/api/runs',
                            { headers: { Host: 'skein.internal', Origin: 'https://other.example.com' } })).status, 403);
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test('a 100 MiB body, 1,000 idle connections and a stalled request do not slow a normal request', async () => {
  const server = await startServer([data('approve.yaml'), '--header-timeout', '2']);
  const url = new URL(server.url);
  const watch = probe(server);
  await watch.ready;
  try {
    // 100 MiB: refused with 413 from its header, without reading it.
    const big = await new Promise((resolve, reject) => {
      const req = http.request({ host: url.hostname, port: url.port, method: 'POST', path: '/api/runs', agent: false,
                                 headers: { 'Content-Type': 'application/json', 'Content-Length': 100 * 1024 * 1024 } },
                               res => {
                                 let body = '';
                                 res.on('data', c => { body += c; });
                                 res.on('end', () => resolve({ status: res.statusCode, body }));
                               });
      // The server answers from the header and closes: the upload may fail after the answer came.
      req.on('error', e => reject(e));
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      let sent = 0;
      const pump = () => {
        while (sent < 100 && req.write(chunk)) sent++;
        if (sent < 100) req.once('drain', () => { sent++; pump(); });
        else req.end();
      };
      pump();
    });
    assert.equal(big.status, 413);
    assert.equal(JSON.parse(big.body).code, 'RESOURCE_EXHAUSTED');

    // 1,000 connections that send nothing, and one that stops halfway through its header.
    const sockets = await Promise.all(Array.from({ length: 1000 }, () => new Promise((resolve, reject) => {
      const s = net.connect(url.port, url.hostname, () => resolve(s));
      s.on('error', reject);
    })));
    const stalled = net.connect(url.port, url.hostname);
    stalled.write('POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le');
    const closed = s => new Promise(resolve => { if (s.destroyed || s.readableEnded) resolve(); else s.on('close', resolve); });
    for (const s of sockets) s.resume();
    stalled.resume();
    // Everything still answers; then the server closes them after its header timeout (2 s).
    assert.equal((await call(server, 'GET', '/api/runs')).status, 200);
    await Promise.all([...sockets, stalled].map(closed));
  } finally {
    const seen = await watch.stop();
    console.log(`# probes: ${seen.count}, slowest ${seen.worst.toFixed(1)} ms`);
    assert.equal(seen.failure, null);
    assert.ok(seen.count > 20, `${seen.count} probes`);
    assert.ok(seen.worst < limit, `a normal request took ${seen.worst.toFixed(1)} ms (limit ${limit} ms)`);
    assert.equal(await server.stop(), 0);
  }
});
