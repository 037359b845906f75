// cancel() per kind, and the handles() census it finds timers, sockets, servers and child
// processes in. Real timers, sockets on port 0 and a real child process; nothing is mocked.
import { beforeAll, describe, expect, it } from 'vitest';
import { AsyncResource } from 'node:async_hooks';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { getEventListeners } from 'node:events';
import http from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { resolve, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cancel, handles, snapshot, task, track } from '../agent/index.js';
import type { HandleInfo } from '../agent/index.js';
import { getAgent } from '../agent/host/agent.js';
import { AGENT_DIR } from '../agent/host/stack-capture.js';
import { waitUntil } from './helpers/child.js';
import { cleanupsAfterEach, found, gate, marked, thrown } from './helpers/in-process.js';

interface Timers {
  timeout: NodeJS.Timeout;
  interval: NodeJS.Timeout;
  immediate: NodeJS.Immediate;
}
interface SitesFixture {
  timers(onFire: (kind: string) => void, ms: number): Timers;
}
const SITES = resolve(__dirname, 'fixtures', 'core-sites.js');
const sites = createRequire(__filename)(SITES) as SitesFixture;
const AGENT_SOURCES = resolve(__dirname, '..', 'agent');

/** The `r<asyncId>` id the census gives a timer or an immediate. */
function timerId(t: object): string {
  const sym = Object.getOwnPropertySymbols(t).find((s) => s.description === 'asyncId');
  if (!sym) throw new Error('no asyncId symbol on the timer');
  return `r${(t as Record<symbol, number>)[sym]}`;
}

function findHandle(pred: (h: HandleInfo) => boolean): HandleInfo | undefined {
  return handles().items.find(pred);
}

/** Resolves when `emitter` emits `event`, fails after `ms`. */
function eventWithin(emitter: NodeJS.EventEmitter, event: string, ms = 5000): Promise<unknown[]> {
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`no '${event}' within ${ms} ms`)), ms);
    emitter.once(event, (...args: unknown[]) => {
      clearTimeout(timer);
      res(args);
    });
  });
}

/** Lets any due unhandled-rejection report happen: a few loop turns and a short timer. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  await sleep(20);
}

async function liveTaskId(pred: (t: { name: string; kind: string }) => boolean, what: string): Promise<number> {
  const t = await found(() => snapshot({ handles: false, limit: 1000 }).tasks.items.find(pred), what);
  return t.id;
}

function historyOf(id: number) {
  return snapshot({ handles: false, limit: 1000 }).history.items.find((h) => h.id === id);
}

function listen(server: net.Server): Promise<number> {
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res((server.address() as AddressInfo).port)));
}

// The agent subscribes to HTTP requests when it is created, on first use: create it before any
// request is made.
beforeAll(() => {
  getAgent();
});

const cleanups = cleanupsAfterEach();

describe('cancel a task', () => {
  it('rejects the promise with an AbortError even when fn ignores its signal, and records who and why', async () => {
    let signal!: AbortSignal;
    const p = task('stubborn', (s) => {
      signal = s;
      return new Promise(() => {}); // never settles, never looks at the signal
    });
    const id = await liveTaskId((t) => t.name === 'stubborn', 'stubborn task');

    const result = cancel(id, 'operator said so', 'tester');
    expect(result).toMatchObject({ id: String(id), kind: 'task', action: 'aborted' });
    expect(result.message).toContain(`task ${id} (stubborn) cancelled`);
    expect(result.message).toContain('signal aborted');

    const err = await p.then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err).not.toBeNull();
    expect(err!.name).toBe('AbortError');
    expect(err!.message).toBe('operator said so');
    expect(signal.aborted).toBe(true);
    expect((signal.reason as Error).name).toBe('AbortError');

    expect(snapshot({ handles: false }).tasks.items.some((t) => t.id === id)).toBe(false);
    expect(historyOf(id)).toMatchObject({ name: 'stubborn', outcome: 'cancelled', cancelledBy: 'tester', reason: 'operator said so' });
  });

  it('stops a task that honours its signal, recorded as cancelled rather than failed', async () => {
    const p = task('polite', (signal) => sleep(60_000, undefined, { signal }));
    const id = await liveTaskId((t) => t.name === 'polite', 'polite task');
    cancel(String(id));
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(historyOf(id)).toMatchObject({ outcome: 'cancelled', cancelledBy: 'api', reason: 'cancelled' });
  });

  it('cancels through an outside signal passed in the options', async () => {
    const outside = new AbortController();
    const p = task('linked', () => new Promise(() => {}), { signal: outside.signal });
    const id = await liveTaskId((t) => t.name === 'linked', 'linked task');
    outside.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(historyOf(id)).toMatchObject({ outcome: 'cancelled', cancelledBy: 'signal' });
  });

  // task() adds an 'abort' listener to the outside signal and never removes it: every task
  // that ends keeps its record reachable from a long-lived signal (a shutdown signal shared by
  // all requests, say), and after 10 Node warns "Possible EventTarget memory leak detected".
  it('removes its listener from the outside signal when the task ends', async () => {
    const shared = new AbortController();
    // Three are enough to show it (eleven would also print Node's leak warning).
    for (let i = 0; i < 3; i++) expect(await task(`short-${i}`, () => i, { signal: shared.signal })).toBe(i);
    expect(getEventListeners(shared.signal, 'abort')).toHaveLength(0);
  });

  it('cancels a task nobody awaits without an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    cleanups.push(() => process.off('unhandledRejection', onUnhandled));

    void task('orphan', () => new Promise(() => {}));
    const id = await liveTaskId((t) => t.name === 'orphan', 'orphan task');
    cancel(id, 'orphan cancelled');
    await settle();
    expect(unhandled).toEqual([]);
    expect(historyOf(id)).toMatchObject({ outcome: 'cancelled', reason: 'orphan cancelled' });
  });

  it('cancels a child task without ending its parent', async () => {
    const hold = gate<string>();
    const outer = task('parent', async () => {
      const child = task('child', () => new Promise(() => {}));
      const out = await child.catch((e: Error) => `child ended: ${e.name}`);
      return `${out}; ${await hold.promise}`;
    });
    const childId = await liveTaskId((t) => t.name === 'child', 'child task');
    cancel(childId);
    hold.open('parent done');
    expect(await outer).toBe('child ended: AbortError; parent done');
  });
});

describe('cancel a timer, an interval, an immediate', () => {
  it('clears a setTimeout, which then never fires', async () => {
    let fired = false;
    const t = setTimeout(() => (fired = true), 150);
    cleanups.push(() => clearTimeout(t));
    const id = timerId(t);
    const h = findHandle((x) => x.id === id);
    expect(h).toMatchObject({ kind: 'timeout', type: 'Timeout', detail: 'after 150ms', refed: true });

    expect(cancel(id)).toMatchObject({ id, kind: 'timeout', action: 'cleared' });
    expect(findHandle((x) => x.id === id)).toBeUndefined();
    await sleep(300); // past its due time: timers run in order, so it would have run by now
    expect(fired).toBe(false);
  });

  it('clears a setInterval that has been firing', async () => {
    let runs = 0;
    const t = setInterval(() => runs++, 10);
    cleanups.push(() => clearInterval(t));
    await waitUntil(() => runs >= 2, 5000, 'two interval runs');
    const id = timerId(t);
    expect(findHandle((x) => x.id === id)).toMatchObject({ kind: 'interval', detail: 'every 10ms' });
    expect(cancel(id)).toMatchObject({ kind: 'interval', action: 'cleared' });
    const after = runs;
    await sleep(100);
    expect(runs).toBe(after);
    expect(findHandle((x) => x.id === id)).toBeUndefined();
  });

  it('clears a setImmediate before it runs', async () => {
    let fired = false;
    const im = setImmediate(() => (fired = true));
    cleanups.push(() => clearImmediate(im));
    const id = timerId(im);
    expect(findHandle((x) => x.id === id)).toMatchObject({ kind: 'immediate', type: 'Immediate' });
    expect(cancel(id)).toMatchObject({ kind: 'immediate', action: 'cleared' });
    await settle();
    expect(fired).toBe(false);
  });
});

describe('cancel a socket, a server, a child process', () => {
  it('destroys a TCP socket, and the peer sees it close', async () => {
    const peers: net.Socket[] = [];
    const server = net.createServer((s) => peers.push(s));
    cleanups.push(() => server.close());
    const port = await listen(server);
    const client = net.connect(port, '127.0.0.1');
    cleanups.push(() => client.destroy());
    await eventWithin(client, 'connect');
    await waitUntil(() => peers.length === 1, 5000, 'the server side of the connection');
    const peerClosed = eventWithin(peers[0], 'close');

    const h = findHandle((x) => x.kind === 'socket' && x.detail === `127.0.0.1:${port} (local :${client.localPort})`);
    expect(h).toBeDefined();
    expect(cancel(h!.id)).toMatchObject({ id: h!.id, kind: 'socket', action: 'destroyed' });
    expect(client.destroyed).toBe(true);
    await peerClosed;
  });

  it('closes a TCP server', async () => {
    const server = net.createServer();
    cleanups.push(() => server.close());
    const port = await listen(server);
    const h = findHandle((x) => x.kind === 'server' && x.detail === `listening 127.0.0.1:${port}`);
    expect(h).toMatchObject({ type: 'Server', refed: true });
    const closed = eventWithin(server, 'close');
    expect(cancel(h!.id)).toMatchObject({ kind: 'server', action: 'closed' });
    await closed;
    expect(server.listening).toBe(false);
    expect(findHandle((x) => x.id === h!.id)).toBeUndefined();
  });

  it('closes an HTTP server, dropping a connection that is still open', async () => {
    const server = http.createServer(() => {}); // never answers
    cleanups.push(() => server.close());
    const port = await listen(server);
    const req = http.get({ host: '127.0.0.1', port, path: '/stuck' });
    req.on('error', () => {});
    const reqClosed = eventWithin(req, 'close');
    await liveTaskId((t) => t.kind === 'http-server' && t.name === 'GET /stuck', 'request on the server');

    const h = findHandle((x) => x.kind === 'server' && x.detail === `listening 127.0.0.1:${port}`);
    expect(h).toBeDefined();
    const closed = eventWithin(server, 'close');
    expect(cancel(h!.id)).toMatchObject({ kind: 'server', action: 'closed' });
    await closed;
    await reqClosed;
  });

  it('kills a child process', async () => {
    const child: ChildProcess = spawn('sleep', ['30'], { stdio: 'ignore' });
    cleanups.push(() => child.kill('SIGKILL'));
    const exited = eventWithin(child, 'exit');
    await eventWithin(child, 'spawn');
    const h = findHandle((x) => x.kind === 'child-process' && x.detail === `pid ${child.pid} sleep 30`);
    expect(h).toBeDefined();
    const result = cancel(h!.id);
    expect(result).toMatchObject({ kind: 'child-process', action: 'killed' });
    expect(result.message).toContain('SIGTERM');
    const [code, signal] = await exited;
    expect(code).toBeNull();
    expect(signal).toBe('SIGTERM');
  });

  it('cancels an incoming HTTP request task: its socket is destroyed and the client sees the end', async () => {
    const server = http.createServer(() => {}); // the handler never answers
    cleanups.push(() => server.close());
    const port = await listen(server);
    const req = http.get({ host: '127.0.0.1', port, path: '/hang?x=1' });
    let clientError: Error | null = null;
    req.on('error', (e) => (clientError = e));
    const reqClosed = eventWithin(req, 'close');

    const id = await liveTaskId((t) => t.kind === 'http-server' && t.name === 'GET /hang', 'http-server task');
    const result = cancel(id, 'hung request', 'tester');
    expect(result).toMatchObject({ id: String(id), kind: 'http-server', action: 'destroyed' });
    await reqClosed;
    expect(clientError).toMatchObject({ code: 'ECONNRESET' });
    expect(historyOf(id)).toMatchObject({ name: 'GET /hang', outcome: 'cancelled', cancelledBy: 'tester', reason: 'hung request' });
  });

  it('cancels an outgoing HTTP request task: the request is destroyed', async () => {
    const server = http.createServer(() => {});
    cleanups.push(() => {
      server.closeAllConnections();
      server.close();
    });
    const port = await listen(server);
    const req = http.get({ host: '127.0.0.1', port, path: '/out' });
    const errored = eventWithin(req, 'error');
    const id = await liveTaskId((t) => t.kind === 'http-client' && t.name === 'GET /out', 'http-client task');
    expect(cancel(id)).toMatchObject({ kind: 'http-client', action: 'destroyed' });
    const [err] = await errored;
    expect((err as Error).message).toContain('cancelled by asyncmon');
    expect(historyOf(id)).toMatchObject({ outcome: 'cancelled' });
  });
});

describe('what cancel refuses', () => {
  it('refuses a promise with NOT_CANCELLABLE, naming the task it belongs to', async () => {
    track('promises', 'on');
    const hold = gate();
    const p = task('owner', async () => {
      await hold.promise;
    });
    const id = await liveTaskId((t) => t.name === 'owner', 'owner task');
    const promise = snapshot({ handles: false, limit: 10_000 }).promises.items.find((x) => x.taskId === id);
    expect(promise).toBeDefined();
    expect(promise!.id).toMatch(/^p\d+$/);
    const err = thrown(() => cancel(promise!.id));
    expect(err.code).toBe('NOT_CANCELLABLE');
    expect(err.message).toContain(`${promise!.id} is a promise`);
    expect(err.message).toContain(`task ${id} (owner): cancel ${id}`);
    hold.open();
    await p;
  });

  it('refuses a promise of no task with NOT_CANCELLABLE, saying where it was made', () => {
    track('promises', 'on');
    const orphan = new Promise(() => {});
    const info = snapshot({ handles: false, limit: 10 }).promises.items.find((x) => x.taskId === null && x.site?.file === __filename);
    expect(info).toBeDefined();
    const err = thrown(() => cancel(info!.id));
    expect(err.code).toBe('NOT_CANCELLABLE');
    expect(err.message).toContain('in no task');
    expect(err.message).toContain('created at test/cancel.test.ts:');
    void orphan;
  });

  it('refuses an async resource it cannot stop with NOT_CANCELLABLE, naming its type', () => {
    track('resources', 'off');
    const resource = new AsyncResource('CORE_TEST_THING');
    cleanups.push(() => resource.emitDestroy());
    const id = `r${resource.asyncId()}`;
    expect(snapshot({ handles: false, limit: 10_000 }).resources.items.find((r) => r.id === id)).toMatchObject({ type: 'CORE_TEST_THING' });
    const err = thrown(() => cancel(id));
    expect(err.code).toBe('NOT_CANCELLABLE');
    expect(err.message).toContain(`${id} is a CORE_TEST_THING`);
  });

  it('answers NO_SUCH_TASK for ids that name nothing', () => {
    for (const id of [999_999, '999999', 'r999999', 'p999999']) {
      const err = thrown(() => cancel(id));
      expect(err.code).toBe('NO_SUCH_TASK');
    }
    expect(thrown(() => cancel(999_999)).message).toBe('no task 999999');
  });

  it('answers BAD_ARGUMENT for what is not an id', () => {
    for (const id of ['', 'abc', '12x', 'r', 'p', 'x12', 'r-1', -3, 1.5, 'r1.5']) {
      const err = thrown(() => cancel(id));
      expect(err.code).toBe('BAD_ARGUMENT');
    }
  });

  it('answers NO_SUCH_TASK naming the outcome for a task that already ended', async () => {
    await task('done-already', () => 1);
    await task('failed-already', () => Promise.reject(new Error('x'))).catch(() => {});
    const p = task('cancelled-already', () => new Promise(() => {}));
    const cancelledId = await liveTaskId((t) => t.name === 'cancelled-already', 'task to cancel');
    cancel(cancelledId);
    await p.catch(() => {});
    const history = snapshot({ handles: false, limit: 1000 }).history.items;
    for (const [name, outcome] of [
      ['done-already', 'finished'],
      ['failed-already', 'failed'],
      ['cancelled-already', 'cancelled'],
    ]) {
      const id = history.find((h) => h.name === name)!.id;
      const err = thrown(() => cancel(id));
      expect(err.code).toBe('NO_SUCH_TASK');
      expect(err.message).toBe(`task ${id} (${name}) already ${outcome}`);
    }
  });
});

describe('handles()', () => {
  it('lists timers, intervals and immediates with the file:line:column of their callbacks', () => {
    const t = sites.timers(() => {}, 60_000);
    cleanups.push(() => {
      clearTimeout(t.timeout);
      clearInterval(t.interval);
      clearImmediate(t.immediate);
    });
    const list = handles().items;
    const timeout = list.find((h) => h.id === timerId(t.timeout));
    const interval = list.find((h) => h.id === timerId(t.interval));
    const immediate = list.find((h) => h.id === timerId(t.immediate));

    const tm = marked(SITES, 'timeout-cb');
    expect(timeout).toMatchObject({ kind: 'timeout', detail: 'after 60000ms', refed: true });
    // V8 places a function at the start of its parameter list: `() => …` starts at its `(`.
    expect(timeout!.callback).toEqual({ fn: '', file: SITES, line: tm.line, column: tm.text.indexOf('() =>') + 1 });

    const iv = marked(SITES, 'interval-cb');
    expect(interval).toMatchObject({ kind: 'interval', detail: 'every 60000ms' });
    expect(interval!.callback).toEqual({
      fn: 'onInterval',
      file: SITES,
      line: iv.line,
      column: iv.text.indexOf('function onInterval(') + 'function onInterval'.length + 1,
    });

    const im = marked(SITES, 'immediate-cb');
    expect(immediate).toMatchObject({ kind: 'immediate', detail: '' });
    expect(immediate!.callback).toEqual({ fn: '', file: SITES, line: im.line, column: im.text.indexOf('() =>') + 1 });
  });

  it('names a callback defined in this file, and says when a timer is unref’d', () => {
    function namedInTest() {}
    const t = setTimeout(namedInTest, 60_000).unref();
    cleanups.push(() => clearTimeout(t));
    const h = findHandle((x) => x.id === timerId(t));
    expect(h).toMatchObject({ kind: 'timeout', refed: false });
    expect(h!.callback).toMatchObject({ fn: 'namedInTest', file: __filename });
    expect(h!.callback!.line).toBeGreaterThan(0);
    expect(h!.callback!.column).toBeGreaterThan(0);
  });

  it('lists sockets, servers and child processes', async () => {
    const server = net.createServer();
    cleanups.push(() => server.close());
    const port = await listen(server);
    const client = net.connect(port, '127.0.0.1');
    cleanups.push(() => client.destroy());
    await eventWithin(client, 'connect');
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    cleanups.push(() => child.kill('SIGKILL'));
    await eventWithin(child, 'spawn');

    const list = handles().items;
    expect(list.find((h) => h.detail === `listening 127.0.0.1:${port}`)).toMatchObject({ kind: 'server', type: 'Server' });
    const sock = list.find((h) => h.detail === `127.0.0.1:${port} (local :${client.localPort})`);
    expect(sock).toMatchObject({ kind: 'socket', type: 'Socket', callback: null });
    expect(sock!.id).toBe(`r${sock!.asyncId}`);
    expect(sock!.asyncId).toBeGreaterThan(0);
    expect(list.find((h) => h.detail === `pid ${child.pid} sleep 30`)).toMatchObject({ kind: 'child-process', type: 'ChildProcess' });
  });

  it('bounds the list by limit and counts every handle in total', () => {
    const ts = Array.from({ length: 5 }, () => setTimeout(() => {}, 60_000));
    cleanups.push(() => ts.forEach((t) => clearTimeout(t)));
    const all = handles();
    expect(all.total).toBeGreaterThanOrEqual(5);
    const two = handles(2);
    expect(two.items).toHaveLength(2);
    expect(two.total).toBe(all.total);
  });

  it('never lists the agent’s own timer (the loop monitor’s 1 s interval)', () => {
    const loopTimer = (getAgent().loop as unknown as { timer: NodeJS.Timeout | null }).timer;
    expect(loopTimer).not.toBeNull(); // it exists, so its absence below means something
    expect(loopTimer!.hasRef()).toBe(false);
    const list = handles().items;
    expect(list.some((h) => h.id === timerId(loopTimer!))).toBe(false);
    expect(list.filter((h) => h.callback?.file.startsWith(AGENT_SOURCES + sep))).toEqual([]);
    expect(list.filter((h) => h.kind === 'interval' && h.detail === 'every 1000ms')).toEqual([]);
  });

  // AGENT_DIR is documented as "the folder the agent's own code lives in (for tests and
  // diagnostics)", but dirname() of `<root>/agent/` is `<root>`, the whole repository.
  it('exports AGENT_DIR as the agent’s own folder', () => {
    expect(AGENT_DIR).toBe(AGENT_SOURCES);
  });
});
