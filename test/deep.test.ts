/**
 * Issue 14, what only the heap can tell, at the default level (no promise hooks): `ps --deep`
 * fills WAITS ON from one snapshot (marked, with the pause in a footer), shared and rationed so
 * a client asking in a loop does not pause the host each time; `task()` chains are named after
 * their task whether or not they keep the signal; `check --lost` and `--cycles` fail with the
 * reason, and pass on a process without either. Real processes (test/fixtures/deep-app.cjs).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Cleanups, cliIn, json, ok, show, waitForHealth } from './helpers/cli.js';
import { heapChecks } from '../cli/check.js';
import { FIXTURES } from './helpers/child.js';
import { markedLine, openJson, openText } from './helpers/wire.js';
import { deepTasks, heapSiteOf } from '../agent/worker/deep.js';
import { renderTasks } from '../src/render.js';
import type { AwaitChainInfo, AwaitsResult, TaskInfo } from '../src/model.js';

const APP = 'deep-app.cjs';
const APP_PATH = join(FIXTURES, APP);
const cleanups = new Cleanups();
afterEach(() => cleanups.run());

async function setup(scenes?: string) {
  const dir = cleanups.runtimeDir();
  const app = await cleanups.fixture(APP, { runtimeDir: dir, env: { ASYNCMON_TRACK: 'tasks', ASYNCMON_STACKS: 'off', ...(scenes ? { DEEP_SCENES: scenes } : {}) } });
  return { app, cli: cliIn(dir) };
}

describe('deepTasks and its rendering (pure)', () => {
  const row = (id: number, name: string, extra: Partial<TaskInfo> = {}): TaskInfo => ({ id, name, kind: 'task', state: 'running', ageMs: 1500, parentId: null, site: null, children: 0, ...extra });
  const at = (fn: string, line: number, lib?: string) => ({ fn, site: { fn, file: lib ? `/app/node_modules/${lib}/index.js` : '/app/app.js', line, column: 3, ...(lib ? { lib } : {}) }, asyncGenerator: false });
  const chain = (task: number | null, frames: AwaitChainInfo['frames']): AwaitChainInfo => ({ id: task ?? 0, task: task === null ? null : { id: task, name: `t${task}` }, request: null, frames, waitsFor: { kind: 'nothing' }, awaitedBy: [] });
  const graph = (chains: AwaitChainInfo[]): AwaitsResult => ({ takenAt: 10_000, pauseMs: 180, snapshotBytes: 1, analysisMs: 1, total: chains.length, chains, cycles: [], lost: [] });

  it('names the deepest user frame, with the library call below it beside it', () => {
    expect(heapSiteOf(chain(1, [at('handler', 5), at('load', 9), at('query', 40, 'pg')]))).toEqual({ fn: 'load', file: '/app/app.js', line: 9, column: 3, via: { fn: 'query', lib: 'pg' } });
    expect(heapSiteOf(chain(1, [at('query', 40, 'pg')]))).toMatchObject({ fn: 'query', lib: 'pg' });
    expect(heapSiteOf(chain(1, [{ fn: 'x', site: null, asyncGenerator: false }]))).toBeNull();
  });

  it('fills only the waits the hooks left empty, marks them, and says which snapshot', () => {
    const recorded = { fn: 'hooked', file: '/app/app.js', line: 1, column: 1 };
    const page = { total: 4, items: [row(1, 'a'), row(2, 'b', { waitsOn: recorded }), row(3, 'c'), row(4, 'd')] };
    const out = deepTasks(page, { ...graph([chain(1, [at('a', 7)]), chain(2, [at('b', 8)])]), lost: [{ request: 'GET /d', task: { id: 4, name: 'd' } }] }, 12_500);
    expect(out.items.map((t) => [t.id, t.waitsOn?.line ?? null, t.waitsFrom ?? null, t.lost ?? false])).toEqual([
      [1, 7, 'heap', false],
      [2, 1, null, false],
      [3, null, null, false],
      [4, null, 'heap', true],
    ]);
    expect(out.heap).toEqual({ pauseMs: 180, takenAt: 10_000, ageMs: 2_500 });
    const text = renderTasks(out, 100);
    expect(text).toMatch(/^ +1 task +1\.5s a +a \(\/app\/app\.js:7:3\) \*$/m);
    expect(text).toMatch(/^ +2 task +1\.5s b +hooked \(\/app\/app\.js:1:1\)$/m);
    expect(text).toMatch(/^ +4 task +1\.5s d +nothing left can ever answer it \*$/m);
    expect(text.split('\n').pop()).toBe('* waits from a heap snapshot: host paused 180ms, 2.5s ago');
    expect(renderTasks({ ...page, heap: { error: 'the host\'s heap is 300.0 MB, over the 256.0 MB awaits takes a snapshot of' } }, 100).split('\n').pop()).toBe("(no heap snapshot: the host's heap is 300.0 MB, over the 256.0 MB awaits takes a snapshot of)");
  });
});

interface Task {
  id: number;
  name: string;
  kind: string;
  waitsOn?: { file: string; line: number; fn: string } | null;
  waitsFrom?: string;
}

describe('ps --deep', () => {
  it('fills WAITS ON from one heap snapshot for tasks and requests, marked, with the pause', async () => {
    const { cli } = await setup();
    // Without --deep, the default level knows no waits: no snapshot, the CREATED AT column.
    const plain = json(ok(await cli('ps', '--json')));
    expect(plain.heap).toBeUndefined();
    expect((plain.items as Task[]).every((t) => t.waitsOn === undefined)).toBe(true);

    const page = json(ok(await cli('ps', '--deep', '--json')));
    expect(page.heap).toMatchObject({ pauseMs: expect.any(Number), takenAt: expect.any(Number) });
    const byName = new Map((page.items as Task[]).map((t) => [t.name, t]));
    for (const [name, mark] of [
      ['sync-users', 'sync-await'],
      ['quiet-job', 'quiet-await'],
      ['GET /hang', 'hang-await'],
    ] as const) {
      const t = byName.get(name);
      expect(t, `${name} in ${JSON.stringify(page.items)}`).toBeDefined();
      expect(t!.waitsFrom, name).toBe('heap');
      expect(t!.waitsOn, name).toMatchObject({ file: APP_PATH, line: markedLine(APP, mark) });
    }

    // The lost request says so.
    expect(byName.get('GET /never')).toMatchObject({ kind: 'http-server', waitsOn: null, waitsFrom: 'heap', lost: true });
    const text = ok(await cli('ps', '--deep')).stdout;
    expect(text).toMatch(/^ +\d+ http-server +\S+ GET \/never +nothing left can ever answer it \*$/m);
    expect(text).toMatch(/^ID +KIND +AGE +NAME +WAITS ON$/m);
    expect(text).toMatch(new RegExp(`sync-users +\\S* ?\\(?test/fixtures/deep-app\\.cjs:${markedLine(APP, 'sync-await')}:\\d+\\)? \\*$`, 'm'));
    expect(text).toMatch(/^\* waits from a heap snapshot: host paused [\d.]+m?s/m);
  });

  it('answers in the text REPL and JSON lines, and a client asking in a loop shares one snapshot', async () => {
    const { app } = await setup('tasks');
    const t = await openText(app.port!, app.token!);
    try {
      const out = await t.command('ps --deep');
      expect(out).toContain('* waits from a heap snapshot: host paused');
      expect(out).toMatch(/quiet-job .*deep-app\.cjs:\d+:\d+\) \*/);
    } finally {
      t.close();
    }
    const c = await openJson(app.port!, app.token!);
    try {
      const first = (await c.ok('ps', { deep: true })) as { heap: { takenAt: number; pauseMs: number } };
      // Ten more asks right away: the same snapshot answers every one, the host is not paused again.
      for (let i = 0; i < 10; i++) {
        const again = (await c.ok('ps', { deep: true })) as { heap: { takenAt: number } };
        expect(again.heap.takenAt).toBe(first.heap.takenAt);
      }
      const aw = (await c.ok('awaits')) as { takenAt: number };
      expect(aw.takenAt).toBe(first.heap.takenAt);
      // A bad switch value is refused like any bad argument.
      expect(await c.request('ps', { deep: 'yes' })).toMatchObject({ ok: false, error: { code: 'BAD_ARGUMENT' } });
    } finally {
      c.close();
    }
  });
});

describe('task() chains from the heap', () => {
  it('awaits names the task of a chain that holds its signal and of one that ignores it', async () => {
    const { cli } = await setup('tasks');
    const r = json(ok(await cli('awaits', '--json')));
    const chains = r.chains as Array<{ task: { id: number; name: string } | null; frames: Array<{ fn: string; site: { line: number } | null }> }>;
    const at = (mark: string) => chains.find((c) => c.frames.some((f) => f.site?.line === markedLine(APP, mark)));
    expect(at('sync-await')?.task?.name, JSON.stringify(chains)).toBe('sync-users');
    expect(at('quiet-await')?.task?.name, JSON.stringify(chains)).toBe('quiet-job');
    expect(at('quiet-await')!.frames.map((f) => f.fn)).toEqual(['(anonymous)', 'step']);
    const text = ok(await cli('awaits')).stdout;
    expect(text).toMatch(/^#\d+ +sync-users \(task \d+\)$/m);
  });
});

describe('check --lost and --cycles', () => {
  it('fail with the reason, naming the request and both lines of the cycle', async () => {
    const { cli } = await setup();
    const r = await cli('check', '--lost', '--cycles');
    expect(r.code, show(r)).toBe(1);
    expect(r.stdout).toMatch(/^✗ GET \/never \(task \d+\) can never be answered: nothing left in the process can resolve what it waited on \(its handler's chain was collected\)$/m);
    expect(r.stdout).toMatch(new RegExp(`✗ deadlockA \\(test/fixtures/deep-app\\.cjs:${markedLine(APP, 'cycle-a')}:\\d+\\) and deadlockB \\(test/fixtures/deep-app\\.cjs:${markedLine(APP, 'cycle-b')}:\\d+\\) can only be resolved by each other`));
    expect(r.stdout).toMatch(/host paused [\d.]+m?s for a heap snapshot/);
    const j = await cli('check', '--lost', '--cycles', '--json');
    expect(j.code, show(j)).toBe(1);
    const doc = json(j);
    expect(doc.ok).toBe(false);
    expect(doc.checks.find((c: { name: string }) => c.name === 'lost')).toMatchObject({ ok: false, value: 1, limit: 0 });
    expect(doc.checks.find((c: { name: string }) => c.name === 'cycles')).toMatchObject({ ok: false, value: 1, limit: 0 });
    // --deep says of an old request that it can never be answered.
    const old = await cli('check', '--max-task-age', '1ms', '--deep');
    expect(old.stdout, show(old)).toMatch(/task \d+ GET \/never is \S+ old, can never be answered \(from the heap\)/);
  });

  it('pass on a process with neither, and --max-task-age --deep says where the old tasks are parked', async () => {
    const { cli } = await setup('tasks');
    const r = ok(await cli('check', '--lost', '--cycles'));
    expect(r.stdout).toMatch(/✓ pid \d+: all 3 checks passed/);
    const old = await cli('check', '--max-task-age', '1ms', '--deep');
    expect(old.code, show(old)).toBe(1);
    expect(old.stdout).toMatch(new RegExp(`task \\d+ sync-users is \\S+ old, waits on \\S* ?\\(?test/fixtures/deep-app\\.cjs:${markedLine(APP, 'sync-await')}:\\d+\\)? \\(from the heap\\)`));
  });
});

describe('check --lost and --cycles when no snapshot can be taken', () => {
  it('fail with the reason while the loop is blocked, answered by the worker meanwhile', async () => {
    const dir = cleanups.runtimeDir();
    const app = await cleanups.fixture('cli-block.cjs', { runtimeDir: dir, env: { CLI_BLOCK_MS: '6000' } });
    const cli = cliIn(dir);
    await waitForHealth(app, (h) => h.status === 'blocked' && h.blockedMs > 400, 'the loop blocked');
    const r = await cli('check', '--lost', '--cycles', '--max-blocked', '60000');
    expect(r.code, show(r)).toBe(1);
    expect(r.stdout).toMatch(/^✗ lost requests not checked: no heap snapshot: event loop blocked /m);
    expect(r.stdout).toMatch(/^✗ await cycles not checked: no heap snapshot: event loop blocked /m);
    expect(r.stdout).toMatch(/2 of 3 checks failed/);
    expect(app.child.stdout()).not.toMatch(/^UNBLOCKED/m);
  });

  it('--deep goes with --max-task-age, and the verdicts read as the README shows', async () => {
    const r = await cliIn(cleanups.runtimeDir())('check', '--deep');
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toMatch(/--deep goes with --max-task-age/);
    const none = { takenAt: 1, pauseMs: 1, snapshotBytes: 1, analysisMs: 1, total: 0, chains: [], cycles: [], lost: [] };
    expect(heapChecks(none, { lost: true, cycles: true }).map((c) => [c.name, c.ok, c.message])).toEqual([
      ['lost', true, 'no request that nothing can answer'],
      ['cycles', true, 'no async functions waiting on each other'],
    ]);
    const two = heapChecks({ ...none, lost: [{ request: 'GET /a', task: { id: 3, name: 'GET /a' } }, { request: null, task: null }] }, { lost: true });
    expect(two).toEqual([expect.objectContaining({ ok: false, value: 2, count: 2, details: ['GET /a (task 3) can never be answered', 'a request can never be answered'] })]);
  });
});
