// where(id): the await a task is parked on (its newest pending promise's creation site), why
// that is unknown when it is, and the chain of parents. The parked code lives in a plain JS
// fixture so the expected lines are the lines of the source as written.
import { beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { snapshot, task, track, where } from '../agent/index.js';
import { getAgent } from '../agent/host/agent.js';
import { httpGet, waitUntil } from './helpers/child.js';
import { cleanupsAfterEach, found, gate, markLine, thrown } from './helpers/in-process.js';

type Task = typeof task;
interface SitesFixture {
  parkedOnHelper(t: Task, name: string, gate: Promise<unknown>): Promise<string>;
  parkedOnAsyncHelper(t: Task, name: string, gate: Promise<unknown>): Promise<void>;
  twoSteps(t: Task, first: Promise<unknown>, second: Promise<unknown>): Promise<void>;
  parkedServer(gate: Promise<unknown>): http.Server;
  parkedAfterIoServer(gates: Record<string, Promise<unknown>>, t: Task): http.Server;
}
const SITES = resolve(__dirname, 'fixtures', 'core-sites.js');
const sites = createRequire(__filename)(SITES) as SitesFixture;

async function liveTaskId(pred: (t: { name: string; kind: string }) => boolean, what: string): Promise<number> {
  const t = await found(() => snapshot({ handles: false, limit: 1000 }).tasks.items.find(pred), what);
  return t.id;
}

// The agent subscribes to HTTP requests when it is created, on first use: create it before any
// request is made.
beforeAll(() => {
  getAgent();
});

const cleanups = cleanupsAfterEach();

describe('where a task waits (promises level, stacks on)', () => {
  it('names the line of the await the task is parked on', async () => {
    track('promises', 'on');
    const hold = gate();
    const p = sites.parkedOnHelper(task, 'parked', hold.promise);
    const id = await liveTaskId((t) => t.name === 'parked', 'parked task');

    const w = where(id);
    expect(w).toMatchObject({ id, name: 'parked', kind: 'task', state: 'running', waitsNote: null, parents: [] });
    expect(w.site).toMatchObject({ file: SITES, line: markLine(SITES, 'task-call') });
    expect(w.waitsOn).not.toBeNull();
    expect(w.waitsOn!.promiseId).toMatch(/^p\d+$/);
    expect(w.waitsOn!.site).toMatchObject({ file: SITES, line: markLine(SITES, 'await-helper') });
    expect(w.waitsOn!.stack[0]).toEqual(w.waitsOn!.site);
    expect(w.stack.length).toBeGreaterThan(0);
    // snapshot() reports the same place for the task.
    const listed = snapshot({ handles: false }).tasks.items.find((t) => t.id === id)!;
    expect(listed.waitsOn).toEqual(w.waitsOn!.site);

    hold.open();
    await p;
  });

  it('names the deepest await, inside the async helper, with the caller’s await in its stack', async () => {
    track('promises', 'on');
    const hold = gate();
    const p = sites.parkedOnAsyncHelper(task, 'parked-async', hold.promise);
    const id = await liveTaskId((t) => t.name === 'parked-async', 'parked task');
    const w = where(id).waitsOn!;
    expect(w.site).toMatchObject({ file: SITES, line: markLine(SITES, 'async-helper-await') });
    expect(w.stack.map((f) => f.line)).toContain(markLine(SITES, 'await-async-helper'));
    hold.open();
    await p;
  });

  it('follows the task as it moves on to its next await', async () => {
    track('promises', 'on');
    const first = gate();
    const second = gate();
    const p = sites.twoSteps(task, first.promise, second.promise);
    const id = await liveTaskId((t) => t.name === 'two-steps', 'two-step task');
    expect(where(id).waitsOn!.site!.line).toBe(markLine(SITES, 'first-await'));
    first.open();
    // The second await calls an async helper: the task is parked inside it.
    const secondLine = markLine(SITES, 'async-helper-await');
    await waitUntil(() => where(id).waitsOn?.site?.line === secondLine, 5000, 'the second await');
    expect(where(id).waitsOn!.stack.map((f) => f.line)).toContain(markLine(SITES, 'second-await'));
    second.open();
    await p;
  });

  it('works for an incoming HTTP request whose handler is parked', async () => {
    track('promises', 'on');
    const hold = gate();
    const server = sites.parkedServer(hold.promise);
    cleanups.push(() => server.close());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const body = new Promise<string>((res, rej) => {
      http
        .get({ host: '127.0.0.1', port, path: '/parked?q=1' }, (res2) => {
          let text = '';
          res2.setEncoding('utf8');
          res2.on('data', (d: string) => (text += d));
          res2.on('end', () => res(text));
        })
        .on('error', rej);
    });
    const id = await liveTaskId((t) => t.kind === 'http-server' && t.name === 'GET /parked', 'request task');
    const w = where(id);
    expect(w.kind).toBe('http-server');
    expect(w.waitsOn!.site).toMatchObject({ file: SITES, line: markLine(SITES, 'handler-await') });
    hold.open();
    expect(await body).toBe('ok');
  });
});

// Before Node 24 request tasks do not enter AsyncLocalStorage (it would cost a promise hook for
// the whole process): the code after a handler's first real await is attributed to its request
// through the promise hooks' before/after events instead. These specify that attribution.
describe('promises inside HTTP handlers, after their first real await', () => {
  const get = (port: number, path: string) => httpGet(port, path, 10_000);

  async function start(gates: Record<string, Promise<unknown>>): Promise<number> {
    const server = sites.parkedAfterIoServer(gates, task);
    cleanups.push(() => server.close());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return (server.address() as AddressInfo).port;
  }

  it('belong to their own request when two requests are parked at once', async () => {
    track('promises', 'on');
    const a = gate();
    const b = gate();
    const port = await start({ '/a': a.promise, '/b': b.promise });
    const bodies = [get(port, '/a'), get(port, '/b')];
    const ida = await liveTaskId((t) => t.kind === 'http-server' && t.name === 'GET /a', 'request /a');
    const idb = await liveTaskId((t) => t.kind === 'http-server' && t.name === 'GET /b', 'request /b');
    for (const id of [ida, idb]) {
      const w = await found(() => {
        const x = where(id);
        return x.waitsOn?.site?.line === markLine(SITES, 'after-io-await') ? x : undefined;
      }, `request ${id} parked on the await after its I/O`);
      expect(w.waitsOn!.site!.file).toBe(SITES);
    }
    // Each request's promises are its own: none of /a's is listed under /b.
    const promises = snapshot({ handles: false, limit: 1000 }).promises!.items;
    const waitA = where(ida).waitsOn!.promiseId;
    const waitB = where(idb).waitsOn!.promiseId;
    expect(waitA).not.toBe(waitB);
    expect(promises.find((p) => p.id === waitA)!.taskId).toBe(ida);
    expect(promises.find((p) => p.id === waitB)!.taskId).toBe(idb);
    a.open();
    b.open();
    expect(await Promise.all(bodies)).toEqual(['/a', '/b']);
  });

  it('make a task started there the child of the request', async () => {
    track('promises');
    const hold = gate();
    const port = await start({ '/task-x': hold.promise });
    const body = get(port, '/task-x');
    const outer = await liveTaskId((t) => t.kind === 'http-server' && t.name === 'GET /task-x', 'the request');
    const inner = await found(
      () => snapshot({ handles: false, limit: 1000 }).tasks.items.find((t) => t.name === 'inner /task-x'),
      'the task the handler started after its I/O',
    );
    expect(inner.parentId).toBe(outer);
    hold.open();
    expect(await body).toBe('/task-x');
  });
});

describe('why where cannot say', () => {
  it('at tasks level, explains that the promises level is needed', async () => {
    track('tasks');
    const hold = gate();
    const p = sites.parkedOnHelper(task, 'tasks-level', hold.promise);
    const id = await liveTaskId((t) => t.name === 'tasks-level', 'task');
    const w = where(id);
    expect(w.waitsOn).toBeNull();
    expect(w.waitsNote).toMatch(/promises level/);
    expect(w.site!.line).toBe(markLine(SITES, 'task-call')); // the task's own site is still known
    hold.open();
    await p;
  });

  it('with stacks off, knows the pending promise but says stacks are off', async () => {
    track('promises', 'off');
    const hold = gate();
    const p = sites.parkedOnHelper(task, 'no-stacks', hold.promise);
    const id = await liveTaskId((t) => t.name === 'no-stacks', 'task');
    const w = where(id);
    expect(w.waitsOn).not.toBeNull();
    expect(w.waitsOn!.promiseId).toMatch(/^p\d+$/);
    expect(w.waitsOn!.site).toBeNull();
    expect(w.waitsNote).toMatch(/stacks are off/);
    hold.open();
    await p;
  });

  it('answers NO_SUCH_TASK for unknown tasks, how an ended one ended, BAD_ARGUMENT for garbage', async () => {
    expect(thrown(() => where(987_654)).code).toBe('NO_SUCH_TASK');
    await task('ended', () => 1);
    const id = snapshot({ handles: false }).history.items.find((h) => h.name === 'ended')!.id;
    const w = where(id);
    expect(w.state).toBe('finished');
    expect(w.waitsOn).toBeNull();
    expect(w.waitsNote).toMatch(/^ended finished in [\d.]+(ms|s); what it may still own is known at the resources level: track resources tasks$/);
    for (const bad of ['abc', '', 'p3', 'r3', -1, 0, 1.5]) expect(thrown(() => where(bad)).code).toBe('BAD_ARGUMENT');
  });
});

describe('parents', () => {
  it('lists the chain of parents, nearest first', async () => {
    track('promises', 'on');
    const hold = gate();
    const p = task('grandparent', () => task('parent', () => task('leaf', () => hold.promise)));
    const leaf = await liveTaskId((t) => t.name === 'leaf', 'leaf task');
    const parent = await liveTaskId((t) => t.name === 'parent', 'parent task');
    const grandparent = await liveTaskId((t) => t.name === 'grandparent', 'grandparent task');
    expect(where(leaf).parents).toEqual([
      { id: parent, name: 'parent' },
      { id: grandparent, name: 'grandparent' },
    ]);
    expect(where(parent).parents).toEqual([{ id: grandparent, name: 'grandparent' }]);
    expect(where(grandparent).parents).toEqual([]);
    hold.open();
    await p;
  });

  it('still names a parent that has already ended', async () => {
    const hold = gate();
    let child: Promise<void> | null = null;
    await task('short-parent', () => {
      child = task('outliving-child', () => hold.promise);
    });
    const parentId = snapshot({ handles: false }).history.items.find((h) => h.name === 'short-parent')!.id;
    const childId = await liveTaskId((t) => t.name === 'outliving-child', 'child task');
    expect(where(childId).parents).toEqual([{ id: parentId, name: 'short-parent' }]);
    hold.open();
    await child;
  });
});
