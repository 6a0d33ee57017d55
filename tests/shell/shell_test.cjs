// `skein shell` driven through tmux (send-keys, capture-pane): a run with a gate answered, a bad
// answer refused, notifications printed above the line being typed without garbling it, list,
// inspect, the Ctrl-C menu cancelling a run, Ctrl-C with nothing active leaving, the history and
// the store surviving a restart, a fork and a resume of graph runs.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const { tempState } = require('../serve/server.cjs');

const skein = process.env.SKEIN_BIN;
const data = name => path.join(process.env.SKEIN_SOURCE_DIR, 'tests', 'data', name);
const socket = `skein-test-${process.pid}`;
const tmux = (...args) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
const pane = () => tmux('capture-pane', '-p', '-J', '-S', '-200', '-t', 's').split('\n').filter(l => l.trim());
const keys = (...k) => tmux('send-keys', '-t', 's', ...k);
const type = text => keys('-l', text);  // literally, no key names

// Waits until a line of the pane matches (after `from` lines); returns its index.
async function line(re, from = 0, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const lines = pane();
    const i = lines.findIndex((l, k) => k >= from && re.test(l));
    if (i >= 0) return i;
    if (Date.now() > deadline) throw new Error(`no line matching ${re} in:\n${lines.join('\n')}`);
    await new Promise(r => setTimeout(r, 20));
  }
}

function startShell(state) {
  const cmd = `${skein} shell ${data('approve.yaml')} ${data('forever.yaml')} --state-dir ${state}; ` +
              'echo SHELL-EXIT $?; sleep 600';
  tmux('new-session', '-d', '-s', 's', '-x', '200', '-y', '60', cmd);
}

test('the shell runs, answers gates, notifies, cancels from the Ctrl-C menu and keeps its history', async () => {
  const state = tempState('skein-shell-');
  startShell(state);
  try {
    await line(/^skein> $/);

    // A run reaches its gate; the notification is printed above what is being typed.
    type('run approve {"title": "from the shell"}');
    keys('Enter');
    type('lis');
    const gate = await line(/^\* gate g1\.1 open: Approve\.approved: Ship it\?/);
    const after = await line(/^skein> lis$/, gate + 1);
    assert.equal(after, gate + 1, pane().join('\n'));
    assert.ok(!pane().some(l => /lis\* gate/.test(l)), 'the typed text and the notification are not mixed');
    type('t');
    keys('Enter');  // what was typed before the notification is still the line: "list"
    await line(/^g1\s+WAITING\s+approve\s+2 nodes.*at Approve$/);
    await line(/^1 gate\(s\) waiting/);

    // A bad answer is refused with the reason; the gate stays open. Then answered.
    type('input g1.1 maybe');
    keys('Enter');
    await line(/^error: answer to g1\.1 refused/);
    type('gates');
    keys('Enter');
    await line(/^\s+g1\.1\s+Approve\.approved: Ship it\?/);
    type('input g1.1 true');
    keys('Enter');
    await line(/^\* g1\s+DONE\s+approve\s+3 nodes/);
    type('inspect g1');
    keys('Enter');
    const check = await line(/^\s+2\. Check\s+[\d.]+ ms\s+deps [\d.]+ ms$/);
    await line(/^\s+result: Approve \{"approved":true\}$/, check);
    await line(/^\s+dep check\s+[\d.]+ ms\s+ok$/, check);

    // Ctrl-C with a run active: the menu; choosing it cancels it.
    type('run forever {"name": "n"}');
    keys('Enter');
    await line(/^g2 submitted/);
    keys('C-c');
    const menu = await line(/^\^C active runs:$/);
    await line(/^\s+1\) g2\s+(PENDING|RUNNING)\s+forever/, menu);
    await line(/^cancel which\? $/, menu);
    type('1');
    keys('Enter');
    await line(/^\* g2\s+CANCELLED\s+forever/, menu);

    // Ctrl-C with nothing active leaves.
    keys('C-c');
    await line(/^SHELL-EXIT 0$/);
    tmux('kill-session', '-t', 's');

    // A new shell on the same state: its history recalls the last command, the store the runs.
    startShell(state);
    await line(/^skein> $/);
    keys('Up');
    await line(/^skein> run forever \{"name": "n"\}$/);
    keys('C-u');
    type('inspect g1');
    keys('Enter');
    await line(/^g1\s+DONE\s+approve\s+3 nodes/);
    type('run approve {"title": "again"}');
    keys('Enter');
    await line(/^g3 submitted/);

    // A finished graph run forked at its gate node with the other answer; a cancelled one resumed.
    type('fork g1 2 {"approved": false}');
    keys('Enter');
    await line(/^g4 forks g1 at node 2$/);
    await line(/^\* g4\s+DONE\s+approve\s+3 nodes/);
    type('resume g2');
    keys('Enter');
    await line(/^g2 resumed from its last checkpoint$/);
    type('quit');
    keys('Enter');
    await line(/^cancelling 2 active run\(s\)$/);
    await line(/^SHELL-EXIT 0$/);
  } finally {
    try { tmux('kill-server'); } catch { /* already gone */ }
  }
});
