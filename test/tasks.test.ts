// task(): values and errors pass through, tasks nest, ended ones go to history, and snapshot()
// lists live ones with where they were started. Real promises and timers throughout.
import { afterEach, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { snapshot, task, track, tree } from '../agent/index.js';
import type { HistoryEntry, TaskInfo } from '../agent/index.js';
import { waitUntil } from './helpers/child.js';
import { found, gate, markLine } from './helpers/in-process.js';

type Task = typeof task;
interface SitesFixture {
  parkedOnHelper(t: Task, name: string, gate: Promise<unknown>): Promise<string>;
}
const SITES = resolve(__dirname, 'fixtures', 'core-sites.js');
const sites = createRequire(__filename)(SITES) as SitesFixture;

/**
 * Where V8 says this file called the function that calls this one, read the way the agent
 * reads stacks (raw call sites). Vitest runs this file transformed, so V8's lines are not the
 * source lines; called synchronously inside a task's fn, it names the position of the task()
 * call as V8 sees it, which is what the agent must report.
 */
function callerInThisFile(): { line: number; column: number } {
  const saved = Error.prepareStackTrace;
  const holder: { stack?: unknown } = {};
  try {
    Error.prepareStackTrace = (_err, callSites) => callSites;
    Error.captureStackTrace(holder, callerInThisFile);
    // [0] is the fn that called us; the next frame of this file is the one that called task().
    const frames = (holder.stack as NodeJS.CallSite[]).slice(1);
    const caller = frames.find((f) => f.getFileName() === __filename);
    if (!caller) throw new Error('no caller in this file');
    return { line: caller.getLineNumber() ?? -1, column: caller.getColumnNumber() ?? -1 };
  } finally {
    Error.prepareStackTrace = saved;
  }
}

function live(id: number): TaskInfo | undefined {
  return snapshot({ handles: false, limit: 1000 }).tasks.items.find((t) => t.id === id);
}

function ended(id: number): HistoryEntry | undefined {
  return snapshot({ handles: false, limit: 1000 }).history.items.find((h) => h.id === id);
}

/** The id of the live task called `name` (names are unique per test). */
async function idOf(name: string): Promise<number> {
  const t = await found(() => snapshot({ handles: false, limit: 1000 }).tasks.items.find((x) => x.name === name), `task ${name}`);
  return t.id;
}

afterEach(() => {
  track('tasks', 'off');
});

describe('task()', () => {
  it('returns what fn returns, sync or async, and passes fn an AbortSignal', async () => {
    expect(await task('sync-value', () => 42)).toBe(42);
    expect(await task('async-value', async () => 'hello')).toBe('hello');
    let seen: unknown;
    await task('sees-signal', (signal) => {
      seen = signal;
    });
    expect(seen).toBeInstanceOf(AbortSignal);
    expect((seen as AbortSignal).aborted).toBe(false);
  });

  it('propagates an async error and records the task as failed with the message', async () => {
    const p = task('fails-async', async () => {
      await sleep(1);
      throw new Error('boom');
    });
    const id = await idOf('fails-async');
    await expect(p).rejects.toThrow('boom');
    expect(live(id)).toBeUndefined();
    expect(ended(id)).toMatchObject({ id, name: 'fails-async', kind: 'task', outcome: 'failed', error: 'Error: boom' });
  });

  it('propagates a synchronous throw as a rejection, and records it as failed', async () => {
    const err = new TypeError('sync boom');
    const p = task('fails-sync', () => {
      throw err;
    });
    await expect(p).rejects.toBe(err);
    const entry = snapshot({ handles: false }).history.items.find((h) => h.name === 'fails-sync');
    expect(entry).toMatchObject({ outcome: 'failed', error: 'TypeError: sync boom' });
  });

  it('records a rejection that is not an Error by its text', async () => {
    await expect(task('rejects-string', () => Promise.reject('plain text'))).rejects.toBe('plain text');
    expect(snapshot({ handles: false }).history.items.find((h) => h.name === 'rejects-string')).toMatchObject({
      outcome: 'failed',
      error: 'plain text',
    });
  });

  // task() calls `result.then(...)` outside any try/catch: a thenable whose then() throws
  // makes task() itself throw synchronously (it promises a promise), and the task is never
  // ended, so it stays listed as running forever. Promise.resolve(thenable) would reject.
  it('turns a thenable whose then() throws into a rejection, and ends the task', async () => {
    const bad = {
      then() {
        throw new Error('bad thenable');
      },
    } as unknown as PromiseLike<number>;
    let p: Promise<number> | undefined;
    let thrownSync: unknown;
    try {
      p = task('bad-thenable', () => bad);
    } catch (err) {
      thrownSync = err;
    }
    expect.soft(thrownSync).toBeUndefined();
    if (p) await expect(p).rejects.toThrow('bad thenable');
    expect.soft(snapshot({ handles: false }).tasks.items.some((t) => t.name === 'bad-thenable')).toBe(false);
    expect(snapshot({ handles: false }).history.items.find((h) => h.name === 'bad-thenable')).toMatchObject({ outcome: 'failed' });
  });

  it('records finished tasks in history with outcome and duration, newest first', async () => {
    const a = await task('timed', async () => {
      await sleep(30);
      return 1;
    });
    expect(a).toBe(1);
    await task('after-timed', () => 2);
    const history = snapshot({ handles: false }).history.items;
    const timed = history.find((h) => h.name === 'timed')!;
    expect(timed.outcome).toBe('finished');
    expect(timed.error).toBeUndefined();
    expect(timed.durationMs).toBeGreaterThanOrEqual(25);
    expect(timed.endedAt).toBeLessThanOrEqual(Date.now());
    const positions = ['after-timed', 'timed'].map((n) => history.findIndex((h) => h.name === n));
    expect(positions[0]).toBeLessThan(positions[1]);
  });

  it('nests: a task started inside another has the outer as parent, and tree() shows it', async () => {
    const hold = gate();
    let innerId = 0;
    const outer = task('outer', async () => {
      await sleep(1); // the context must survive an await
      const inner = task('inner', async () => {
        await hold.promise;
      });
      innerId = await idOf('inner');
      await inner;
    });
    const sibling = task('sibling', () => hold.promise);
    const outerId = await idOf('outer');
    await waitUntil(() => innerId !== 0, 5000, 'inner task');

    const inner = live(innerId)!;
    expect(inner.parentId).toBe(outerId);
    expect(live(outerId)).toMatchObject({ parentId: null, children: 1 });
    expect(live(await idOf('sibling'))!.parentId).toBeNull();

    const roots = tree();
    const outerNode = roots.find((n) => n.id === outerId)!;
    expect(outerNode).toMatchObject({ name: 'outer', kind: 'task' });
    expect(outerNode.children.map((c) => c.id)).toEqual([innerId]);
    expect(roots.some((n) => n.id === innerId)).toBe(false);
    expect(roots.some((n) => n.name === 'sibling')).toBe(true);

    const sub = tree(outerId);
    expect(sub).toHaveLength(1);
    expect(sub[0].id).toBe(outerId);
    expect(sub[0].children).toHaveLength(1);
    expect(sub[0].children[0]).toMatchObject({ id: innerId, name: 'inner', children: [] });
    expect(tree(String(innerId))[0]).toMatchObject({ id: innerId, children: [] });

    hold.open();
    await Promise.all([outer, sibling]);
    expect(ended(innerId)).toMatchObject({ outcome: 'finished', parentId: outerId });
    expect(tree().some((n) => n.id === outerId)).toBe(false);
  });

  it('lists live tasks in snapshot() with id, name, kind, state, age, parent and site', async () => {
    const hold = gate();
    let caller = { line: 0, column: 0 };
    const p = task('listed', () => {
      caller = callerInThisFile();
      return hold.promise;
    });
    const id = await idOf('listed');
    const info = live(id)!;
    expect(info).toMatchObject({ id, name: 'listed', kind: 'task', state: 'running', parentId: null, children: 0 });
    expect(info.ageMs).toBeGreaterThanOrEqual(0);
    expect(info.site).toMatchObject({ file: __filename, line: caller.line, column: caller.column });
    await sleep(30);
    expect(live(id)!.ageMs).toBeGreaterThanOrEqual(25);
    hold.open();
    await p;
  });

  it('gives as site the exact source line of the task() call (a plain JS caller)', async () => {
    const hold = gate();
    const p = sites.parkedOnHelper(task, 'from-fixture', hold.promise);
    const info = live(await idOf('from-fixture'))!;
    expect(info.site).toMatchObject({ file: SITES, line: markLine(SITES, 'task-call') });
    expect(info.site!.column).toBeGreaterThan(0);
    hold.open();
    expect(await p).toBe('from-fixture done');
  });

  it('takes a snapshot that survives a JSON round trip unchanged', async () => {
    track('promises', 'on');
    const hold = gate();
    const p = task('json-outer', () => task('json-inner', () => hold.promise));
    await idOf('json-inner');
    await task('json-done', () => 1);
    const s = snapshot();
    expect(s.tasks.total).toBeGreaterThanOrEqual(2);
    expect(s.promises.total).toBeGreaterThan(0);
    expect(s.handles.total).toBeGreaterThan(0);
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
    hold.open();
    await p;
  });

  it('keeps tasks across level changes: still listed, and still completes', async () => {
    const hold = gate<string>();
    const p = task('survivor', () => hold.promise);
    const id = await idOf('survivor');
    for (const level of ['promises', 'resources', 'tasks', 'promises', 'tasks']) {
      expect(track(level).level).toBe(level);
      expect(live(id)).toMatchObject({ name: 'survivor', state: 'running' });
    }
    hold.open('made it');
    expect(await p).toBe('made it');
    expect(ended(id)).toMatchObject({ outcome: 'finished' });
  });
});
