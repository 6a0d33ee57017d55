// Starts `skein serve` for a test: a fresh state directory, any free port (read from its first
// line), and a stop() that ends it with SIGTERM and waits for its exit code.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const skein = process.env.SKEIN_BIN;
const source = process.env.SKEIN_SOURCE_DIR;
if (!skein || !source) throw new Error('set SKEIN_BIN and SKEIN_SOURCE_DIR');

function data(name) { return path.join(source, 'tests', 'data', name); }

// A fresh state directory in the temporary folder, removed when the test process exits after
// every test passed (kept after a failure, for a look).
const made = [];
process.on('exit', code => {
  if (code !== 0 || process.exitCode) return;
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});
function tempState(prefix = 'skein-serve-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

// Resolves with {url, exit} once the server prints where it listens, or rejects with its output.
function startServer(args, { token, env = {}, state = tempState() } = {}) {
  const child = spawn(skein, ['serve', ...args, '--port', '0', '--state-dir', state],
                      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '', err = '';
  const exit = new Promise(resolve => child.on('exit', (code, signal) => resolve(code ?? signal)));
  child.stderr.on('data', d => { err += d; });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', d => {
      out += d;
      const m = out.match(/http:\/\/([^\s/]+)\//);
      if (m) resolve({
        url: `http://${m[1].replace('0.0.0.0', '127.0.0.1')}`,
        exit,
        output: () => out + err,
        state,
        async stop() { child.kill('SIGTERM'); return exit; },
        async kill9() { child.kill('SIGKILL'); return exit; },
        pid: child.pid,
        headers: token ? { Authorization: `Bearer ${token}` } : {},
      });
    });
    exit.then(code => reject(Object.assign(new Error(`skein serve exited ${code}: ${out}${err}`), { code, err })));
  });
}

// The API as JSON: {status, body}.
async function call(server, method, route, body, headers = server.headers) {
  const res = await fetch(server.url + route, {
    method, headers: { ...headers, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

// Polls `check` (an async predicate) until it holds; throws what it last saw after `ms`.
async function until(what, check, ms = 10000) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await check();
    if (last && last.ok !== false) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(last)}`);
    await new Promise(r => setTimeout(r, 20));
  }
}

module.exports = { startServer, call, until, data, tempState };
