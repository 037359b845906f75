// `asyncmon top`'s await view end to end: the built CLI in a tmux pane watching
// test/fixtures/deep-app.cjs at the default level. `a` takes one heap snapshot and shows the
// forest (chains with user frames marked, what they wait for, the cycle, the lost request) and
// the pause; it scrolls; Esc goes back to the table. (That nothing fetches it on a timer is the
// reducer's, tested in tui-state.test.ts.)
import { afterEach, describe, expect, it, vi } from 'vitest';
import { resolve } from 'node:path';
import { Cleanups } from './helpers/cli.js';
import { DIST, ROOT } from './helpers/child.js';
import { HAVE_TMUX, TmuxPane, shellQuote } from './helpers/tmux.js';
import { markedLine } from './helpers/wire.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 30_000 });
const STARTUP_MS = 15_000;
const CLI = resolve(DIST, 'cli', 'main.js');
const APP = 'deep-app.cjs';
const cleanups = new Cleanups();
afterEach(() => cleanups.run());

describe.skipIf(!HAVE_TMUX)(HAVE_TMUX ? 'asyncmon top: the await view (tmux)' : 'asyncmon top: the await view (skipped: tmux is not installed)', () => {
  it('a opens the await graph from one snapshot, scrolls, and Esc goes back', async () => {
    const dir = cleanups.runtimeDir();
    const app = await cleanups.fixture(APP, { runtimeDir: dir, env: { ASYNCMON_TRACK: 'tasks', ASYNCMON_STACKS: 'off' } });
    const pane = new TmuxPane('asyncmon-tui-awaits');
    cleanups.add(() => pane.kill());
    const command = `${[process.execPath, CLI, 'top', '-t', String(app.pid)].map(shellQuote).join(' ')}; echo TUI-EXIT $?; sleep 30`;
    // Short, so the forest does not fit and has to scroll.
    pane.start(command, { width: 110, height: 16, cwd: ROOT, env: { XDG_RUNTIME_DIR: dir, NODE_OPTIONS: '' } });
    await pane.waitFor((s) => s.includes('sync-users') && /\blive\b/.test(s.split('\n')[0]), STARTUP_MS, "'sync-users' and 'live'");
    expect(pane.screen()).toMatch(/a awaits/);

    pane.type('a');
    const first = await pane.waitFor(/chains of suspended async functions/, STARTUP_MS);
    expect(first).toMatch(/the host paused [\d.]+m?s to write a [\d.]+ [KM]B heap snapshot/);
    expect(first).toMatch(/host paused [\d.]+m?s +↑\/↓ PgUp\/PgDn scroll/);
    expect(first).toContain('await graph, from a heap snapshot');
    expect(first).toMatch(/#1 +GET \/hang \(task \d+\)/);
    // The user's frame of the first chain, at its line.
    expect(first).toContain(`› handle (test/fixtures/deep-app.cjs:${markedLine(APP, 'hang-await')}:`);

    // The end of the forest: the cycle and the lost request, reached by scrolling.
    expect(first).not.toMatch(/can never be answered/);
    pane.type('G');
    const end = await pane.waitFor(/can never be answered/, 5_000);
    expect(end).toMatch(/GET \/never \(task \d+\) can never be answered/);
    pane.type('g');
    await pane.waitFor(/chains of suspended async functions/, 5_000);
    pane.keys('PageDown');
    await pane.waitForGone(/chains of suspended async functions/, 5_000);
    expect(pane.screen()).toMatch(/sync-users \(task \d+\)|quiet-job \(task \d+\)|cycle:/);

    // Esc: back to the table.
    pane.keys('Escape');
    await pane.waitFor((s) => /ID KIND/.test(s) && !s.includes('await graph, from'), 5_000, 'the task table again');
    pane.type('q');
    await pane.waitFor(/TUI-EXIT 0/, 5_000);
  });
});
