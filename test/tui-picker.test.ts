// `asyncmon top` switches between discovered processes without restarting: `p` opens a
// picker of the agents this user can reach (asyncmon ls), Enter watches the selected one.
// Built CLI in a tmux pane, two fixture apps sharing one XDG_RUNTIME_DIR; and the reducer's
// side of the picker, without a terminal.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DIST, FIXTURES, REGISTER, ROOT, exitWithin, spawnNode, waitUntil } from './helpers/child.js';
import type { Child } from './helpers/child.js';
import { HAVE_TMUX, TmuxPane, shellQuote } from './helpers/tmux.js';
import { footerText, intentFor, pickerKeyFor } from '../cli/tui/keys.js';
import { initialState, reduce } from '../cli/tui/state.js';
import type { PickerEntry, State } from '../cli/tui/model.js';
import { pickerLines } from '../cli/tui/view.js';

const STARTUP_MS = 15_000;
vi.setConfig({ testTimeout: 120_000, hookTimeout: 30_000 });
const CLI = resolve(DIST, 'cli', 'main.js');
const APP = resolve(FIXTURES, 'tui-app.cjs');

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const fn of cleanups.splice(0).reverse()) {
    try {
      fn();
    } catch {}
  }
});

const agents: PickerEntry[] = [
  { pid: 100, address: '127.0.0.1:4000', command: 'server.js', node: 'v22.0.0', startedAt: Date.now() - 60_000 },
  { pid: 200, address: '127.0.0.1:4001', command: 'worker.js', node: 'v22.0.0', startedAt: Date.now() - 5_000 },
  { pid: 300, address: '/run/app.sock', command: 'cron.js', node: 'v22.0.0', startedAt: Date.now() - 1_000 },
];

function live(pid: number): State {
  return reduce(initialState(String(pid)), { type: 'connected', pid, node: 'v22.0.0', access: 'control' }).state;
}

describe('the process picker (reducer, keys, view)', () => {
  it('p asks the app to discover; the list opens on the process watched now; moving is bounded; Enter asks to switch', () => {
    expect(intentFor('p', 'p')).toEqual({ type: 'pick-process' });
    expect(footerText()).toContain('p process');
    let s = live(200);
    const asked = reduce(s, { type: 'intent', intent: { type: 'pick-process' } });
    expect(asked.effects).toEqual([{ type: 'discover' }]);
    s = reduce(s, { type: 'processes', agents }).state;
    expect(s.mode).toBe('picker');
    expect(s.picker?.selected).toBe(1);
    s = reduce(s, { type: 'picker-key', key: 'down' }).state;
    s = reduce(s, { type: 'picker-key', key: 'down' }).state;
    expect(s.picker?.selected).toBe(2);
    s = reduce(s, { type: 'picker-key', key: 'top' }).state;
    expect(s.picker?.selected).toBe(0);
    const lines = pickerLines(s, 60);
    expect(lines[0]).toMatch(/PID +ADDRESS +UP +COMMAND/);
    expect(lines[1]).toMatch(/^\{inverse\} +100 +127\.0\.0\.1:4000 +1m00s +server\.js/);
    expect(lines[2]).toMatch(/^\* +200 /);
    for (const l of lines) expect(l.replace(/\{[^}]*\}/g, '').length).toBeLessThanOrEqual(60);
    const chose = reduce(s, { type: 'picker-key', key: 'choose' });
    expect(chose.effects).toEqual([{ type: 'switch', pid: 100 }]);
    expect(chose.state.mode).toBe('normal');
    expect(chose.state.picker).toBeNull();
  });

  it('choosing the process watched now, or Esc, just closes; no agents found says so; a dump has nothing to pick', () => {
    const s = reduce(live(200), { type: 'processes', agents }).state;
    expect(reduce(s, { type: 'picker-key', key: 'choose' })).toMatchObject({ effects: [], state: { mode: 'normal', picker: null } });
    expect(reduce(s, { type: 'picker-key', key: 'close' })).toMatchObject({ effects: [], state: { mode: 'normal', picker: null } });
    expect(reduce(live(1), { type: 'processes', agents: [] }).state).toMatchObject({ mode: 'normal', flash: expect.stringMatching(/no agents found/) });
    const dump = reduce(initialState('d.json', 'file'), { type: 'intent', intent: { type: 'pick-process' } });
    expect(dump.effects).toEqual([]);
    expect(dump.state.flash).toMatch(/a dump is one process/);
  });

  it('after a switch the data starts afresh for the new target; the tab, filters, tree and pause stay', () => {
    let s = live(200);
    s = reduce(s, { type: 'intent', intent: { type: 'tab', index: 3 } }).state;
    s = reduce(s, { type: 'filter-input', text: 'GET', done: true }).state;
    s = reduce(s, { type: 'update', changes: { tasks: { total: 1, items: [{ id: 1, name: 'x', kind: 'task', state: 'running', ageMs: 1, parentId: null, site: null, children: 0 }] } }, dropped: 0, now: 1 }).state;
    const next = reduce(s, { type: 'switched', target: '100' }).state;
    expect(next).toMatchObject({ target: '100', pid: null, tab: 'history', tasks: [], taskTotal: 0, conn: { status: 'connecting' }, mode: 'normal' });
    expect(next.views.history.filter).toBe('GET');
    expect(next.flash).toBe('switched to 100');
  });

  it('keys in the picker: arrows and j/k move, Enter picks, Esc or p closes, q quits', () => {
    expect(['up', 'down', 'enter', 'return', 'escape', 'home', 'end'].map((n) => pickerKeyFor(n))).toEqual(['up', 'down', 'choose', 'choose', 'close', 'top', 'bottom']);
    expect(['k', 'j', 'p', 'q', 'g', 'G', 'x'].map((c) => pickerKeyFor(c, c))).toEqual(['up', 'down', 'close', 'quit', 'top', 'bottom', null]);
  });
});

/** The text drawn in inverse video on each line of a `capture-pane -e` screen (SGR 7 on, 0/27 off). */
function inverseText(screenWithAttributes: string): string[] {
  return screenWithAttributes.split('\n').map((line) => {
    let on = false;
    let text = '';
    // eslint-disable-next-line no-control-regex
    for (const m of line.matchAll(/\x1b\[([0-9;]*)m|\x1b[^\x1b]*?[A-Za-z]|[^\x1b]+/g)) {
      if (m[1] !== undefined) {
        for (const c of m[1] === '' ? ['0'] : m[1].split(';')) {
          if (c === '7') on = true;
          else if (c === '0' || c === '27') on = false;
        }
      } else if (on && !m[0].startsWith('\x1b')) text += m[0];
    }
    // eslint-disable-next-line no-control-regex
    return text.replace(/[\x0e\x0f]/g, '');
  });
}

interface App {
  child: Child;
  pid: number;
}

async function startApp(runtime: string): Promise<App> {
  const child = spawnNode(APP, {
    nodeArgs: ['--require', REGISTER],
    env: { XDG_RUNTIME_DIR: runtime, ASYNCMON_PORT: '0', ASYNCMON_TRACK: 'promises', ASYNCMON_STACKS: 'on', ASYNCMON_TOKEN: undefined },
  });
  cleanups.push(() => child.kill());
  const pid = (JSON.parse((await child.waitFor(/^READY (.*)$/m, STARTUP_MS))[1]) as { pid: number }).pid;
  await waitUntil(() => existsSync(join(runtime, 'asyncmon', `${pid}.json`)), STARTUP_MS, 'the discovery file');
  return { child, pid };
}

/** The header's first line names the pid watched and says live. */
const watching = (pid: number) => (s: string) => new RegExp(`^asyncmon +pid ${pid} .*\\blive\\b`).test(s.split('\n')[0]);

describe.skipIf(!HAVE_TMUX)(HAVE_TMUX ? 'asyncmon top switches process (tmux)' : 'asyncmon top switches process (skipped: tmux is not installed)', () => {
  it('p lists both apps, Enter watches the other one without restarting; a process that goes away is shown reconnecting, and p picks another', async () => {
    const runtime = mkdtempSync(join(tmpdir(), 'asyncmon-picker-'));
    cleanups.push(() => rmSync(runtime, { recursive: true, force: true }));
    const [a, b] = await Promise.all([startApp(runtime), startApp(runtime)]);
    const pane = new TmuxPane('asyncmon-picker');
    cleanups.push(() => pane.kill());
    pane.start(`${[process.execPath, CLI, 'top', '-t', String(a.pid)].map(shellQuote).join(' ')}; echo TUI-EXIT $?; sleep 30`, { width: 100, height: 30, cwd: ROOT, env: { XDG_RUNTIME_DIR: runtime, NODE_OPTIONS: '' } });
    await pane.waitFor((s) => watching(a.pid)(s) && s.includes('tui-waiter'), STARTUP_MS, `top watching ${a.pid}`);

    pane.keys('p');
    const list = await pane.waitFor(/processes/, 5_000, 'the picker');
    expect(list).toMatch(new RegExp(`\\* +${a.pid} +127\\.0\\.0\\.1:\\d+ `));
    expect(list).toMatch(new RegExp(`  +${b.pid} +127\\.0\\.0\\.1:\\d+ .*tui-app\\.cjs`));
    pane.keys(b.pid > a.pid ? 'Down' : 'Up');
    await pane.waitFor(() => inverseText(pane.screenWithAttributes()).some((t) => new RegExp(`^ +${b.pid} `).test(t)), 5_000, `${b.pid} selected`);
    pane.keys('Enter');
    await pane.waitFor((s) => watching(b.pid)(s) && s.includes('tui-waiter') && !/ processes /.test(s), STARTUP_MS, `top watching ${b.pid}`);

    // The first app's data is gone from the view; the picker now marks b.
    pane.keys('p');
    await pane.waitFor(new RegExp(`\\* +${b.pid} `), 5_000, `the picker marking ${b.pid}`);
    pane.keys('Escape');
    await pane.waitForGone(/ processes /, 5_000);

    // b goes away: top stays, says it is reconnecting; p lists only a, Enter goes back to it.
    b.child.kill();
    await exitWithin(b.child, 10_000);
    await pane.waitFor(/reconnecting/, 15_000, 'reconnecting');
    // (Killed with SIGKILL, b leaves its discovery file behind: the picker skips dead pids.)
    pane.keys('p');
    const only = await pane.waitFor(/processes/, 5_000, 'the picker');
    expect(only).not.toMatch(new RegExp(`\\b${b.pid}\\b.*tui-app`));
    pane.keys('Enter');
    await pane.waitFor((s) => watching(a.pid)(s), STARTUP_MS, `top back on ${a.pid}`);
    pane.keys('q');
    await pane.waitFor(/TUI-EXIT 0/, 5_000, 'top to exit 0');
  });
});
