/**
 * The await forest (src/await-graph.ts) on real heaps: a child process on Node 20, 22 and 24
 * builds known shapes of waiting, snapshots itself through node:inspector, and the chains are
 * checked by function names. Also measures parse and analysis of 10k suspended functions and of
 * a ~100 MB heap (printed, not asserted).
 */
import { createReadStream, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { awaitGraph } from '../src/await-graph.js';
import type { AwaitChain, AwaitGraph } from '../src/await-graph.js';
import { HeapSnapshotParser } from '../src/heap-snapshot.js';
import type { HeapGraph } from '../src/heap-graph.js';
import { nodeBinaries, snapshotOf } from './helpers/heap-child.js';

const SCENES = `
const http = require('node:http');

// A three-deep chain parked on a promise nothing can resolve (held, so it is not collected).
globalThis.gate = new Promise(() => {});
async function level3() { await globalThis.gate; }
async function level2() { await level3(); }
async function level1() { await level2(); }
globalThis.deep = level1();

// A pool whose waiters sit in an array.
class Pool {
  constructor() { this._pendingQueue = []; }
  acquire() { return new Promise((resolve) => this._pendingQueue.push(resolve)); }
}
const pool = new Pool();
async function useConnection() { await pool.acquire(); }
for (let i = 0; i < 4; i++) useConnection();

// A deadlock: each awaits what only the other's suspended frame can resolve. Unrooted, V8
// collects the pair as garbage; here something holds the promises, as a task registry would.
function lock() { let release; const p = new Promise((r) => (release = r)); return [p, release]; }
async function deadlockA(release, wait) { await wait; release(); }
async function deadlockB(release, wait) { await wait; release(); }
(function () {
  const [pa, releaseA] = lock();
  const [pb, releaseB] = lock();
  deadlockA(releaseA, pb);
  deadlockB(releaseB, pa);
  globalThis.locks = [pa, pb];
})();

// Fan-in and a combinator: two functions await one shared task, one awaits Promise.all.
async function sharedWork() { await new Promise((r) => setTimeout(r, 1e6)); }
globalThis.shared = sharedWork();
async function fanA() { await globalThis.shared; }
async function fanB() { await globalThis.shared; }
fanA(); fanB();
async function part() { await new Promise((r) => setTimeout(r, 1e6)); }
async function gather() { await Promise.all([part(), part(), Promise.resolve(3)]); }
gather();

// An async generator consumed by for await.
async function* ticks() { await new Promise((r) => setTimeout(r, 1e6)); yield 1; }
async function consume() { for await (const t of ticks()) void t; }
consume();

// HTTP: an Express-style framework chains .then on the handler's promise; one handler waits
// on the pool, one on a promise nobody can resolve (a lost continuation).
async function poolHandler(req, res) { await pool.acquire(); res.end('ok'); }
async function lostHandler(req, res) { await new Promise(() => {}); res.end('never'); }
let arrived = 0;
let allArrived;
globalThis.ready = new Promise((r) => (allArrived = r));
const server = http.createServer((req, res) => {
  const handler = req.url === '/lost' ? lostHandler : poolHandler;
  handler(req, res).then(() => {}, (err) => res.destroy(err));
  if (++arrived === 2) allArrived();
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  for (const path of ['/users/42', '/lost']) http.get({ host: '127.0.0.1', port, path }, () => {}).on('error', () => {});
});
`;

// Requests parked in ways that can still answer, and three that cannot (their handlers wait on
// nothing; only listeners of their own response's late events, or nothing, hold them).
const HTTP_SCENES = `
const http = require('node:http');
const net = require('node:net');
const clients = new Set();
const waiting = new Map();
let leader = null;
const routes = {
  // A response timeout can answer; the close listener beside it cannot, and must not hide it.
  '/timeout': (req, res) => { res.on('close', () => {}); res.setTimeout(1e6, () => res.end('timed out')); },
  // An upload still coming: its end answers, whatever listens to aborted first.
  '/upload': (req, res) => { let n = 0; req.on('aborted', () => { n = -1; }); req.on('data', (c) => { n += c.length; }); req.on('end', () => res.end(String(n))); },
  // A request closes once its body is read (autoDestroy): that can answer too.
  '/upload-close': (req, res) => { req.resume(); req.on('close', () => res.end('read')); },
  // Server-sent events: the response kept in a Set, removed when the request closes.
  '/sse': (req, res) => { res.writeHead(200, { 'content-type': 'text/event-stream' }); clients.add(res); req.on('close', () => clients.delete(res)); },
  // Answered when a backend connection closes (another socket's close, not this request's).
  '/backend': (req, res) => { net.connect(globalThis.backendPort, '127.0.0.1').on('close', () => res.end('backend done')).on('error', () => {}); },
  // Coalesced: answered when the leader's response finishes (another response's finish).
  '/leader': (req, res) => { leader = res; },
  '/follower': (req, res) => { leader.on('finish', () => res.end('cached')); },
  // Bound functions and timer arguments.
  '/bound': (req, res) => { setTimeout(res.end.bind(res, 'late'), 1e6); },
  '/timer-arg': (req, res) => { setTimeout((r) => r.end('late'), 1e6, res); },
  // A Map's value.
  '/map': (req, res) => { waiting.set(req.url, res); },
  // Lost: nothing, or only their own response's close or finish, holds them.
  '/lost': async (req, res) => { await new Promise(() => {}); res.end('never'); },
  '/lost-close': async (req, res) => { res.on('close', () => console.log('closed', res.statusCode)); await new Promise(() => {}); res.end('never'); },
  '/lost-finish': async (req, res) => { res.on('finish', () => console.log('finished', res.statusCode)); await new Promise(() => {}); res.end('never'); },
};
const posts = new Set(['/upload', '/upload-close']);
let arrived = 0;
let allArrived;
globalThis.ready = new Promise((r) => (allArrived = r));
const backend = net.createServer(() => {}).listen(0, '127.0.0.1', () => {
  globalThis.backendPort = backend.address().port;
  const server = http.createServer((req, res) => {
    routes[req.url](req, res);
    if (++arrived === Object.keys(routes).length) allArrived();
  });
  server.listen(0, '127.0.0.1', async () => {
    const { port } = server.address();
    for (const path of Object.keys(routes)) {
      const req = http.request({ host: '127.0.0.1', port, path, method: posts.has(path) ? 'POST' : 'GET', headers: posts.has(path) ? { 'content-length': '100' } : {} });
      req.on('error', () => {});
      if (posts.has(path)) req.write('part of it');
      else req.end();
      // The leader first: the follower listens on its response.
      await new Promise((r) => setTimeout(r, 20));
    }
  });
});
`;

async function parseFile(file: string): Promise<{ graph: HeapGraph; parseMs: number; bytes: number }> {
  const t0 = performance.now();
  const p = new HeapSnapshotParser();
  for await (const chunk of createReadStream(file, { encoding: 'utf8', highWaterMark: 64 * 1024 })) p.push(chunk as string);
  const graph = p.end();
  return { graph, parseMs: performance.now() - t0, bytes: statSync(file).size };
}

const names = (c: AwaitChain) => c.frames.map((f) => f.fn).join(' > ');
const chainsNamed = (a: AwaitGraph, line: string) => a.chains.filter((c) => names(c) === line);

describe.each(nodeBinaries())('the await forest of a real process ($name)', ({ path }) => {
  let forest: AwaitGraph;

  it('is read from a snapshot the process took of itself', async () => {
    const { graph } = await parseFile(snapshotOf(SCENES, path));
    forest = awaitGraph(graph);
    expect(JSON.parse(JSON.stringify(forest))).toEqual(forest);
  });

  it('follows a three-deep chain down to a promise nothing can resolve', () => {
    const [deep] = chainsNamed(forest, 'level1 > level2 > level3');
    expect(deep).toBeDefined();
    expect(deep.waitsFor).toEqual({ kind: 'nothing' });
    expect(deep.frames.every((f) => !f.asyncGenerator && f.start?.url?.endsWith('app.js'))).toBe(true);
    // Zero-based: level3 starts on line 6 of the script (the 1-based 7th line after the blank first).
    expect(deep.frames[2].start?.line).toBe(5);
  });

  it('names where pool waiters sit: the array of a named object', () => {
    const waiters = chainsNamed(forest, 'useConnection');
    expect(waiters).toHaveLength(4);
    for (const w of waiters) expect(w.waitsFor).toMatchObject({ kind: 'promise', heldBy: [expect.stringMatching(/^app\.js: pool → Pool#_pendingQueue\[[0-3]\]$/)] });
  });

  it('finds the deadlock as a cycle of both frames', () => {
    const cycle = forest.cycles.find((c) => c.frames.some((f) => f.fn === 'deadlockA'));
    expect(cycle?.frames.map((f) => f.fn).sort()).toEqual(['deadlockA', 'deadlockB']);
    const [a] = chainsNamed(forest, 'deadlockA');
    expect(a.waitsFor).toEqual({ kind: 'promise', heldBy: ['suspended deadlockB()'] });
  });

  it('shows fan-in as chains waiting on a shared chain, and Promise.all with pending and total', () => {
    const [shared] = chainsNamed(forest, 'sharedWork');
    expect(shared.waitsFor).toEqual({ kind: 'promise', heldBy: ['Timeout#_onTimeout'] });
    const fans = [...chainsNamed(forest, 'fanA'), ...chainsNamed(forest, 'fanB')];
    expect(fans.map((c) => c.waitsFor)).toEqual([{ kind: 'chain', nodeId: shared.id }, { kind: 'chain', nodeId: shared.id }]);
    expect(shared.awaitedBy).toEqual(fans.map((c) => c.id).sort((x, y) => x - y));
    const [gather] = chainsNamed(forest, 'gather');
    const parts = chainsNamed(forest, 'part');
    expect(parts).toHaveLength(2);
    expect(gather.waitsFor).toEqual({ kind: 'combinator', name: 'all', pending: 2, total: 3, chains: parts.map((c) => c.id).sort((x, y) => x - y) });
  });

  it('follows for await into an async generator', () => {
    const [c] = chainsNamed(forest, 'consume > ticks');
    expect(c.frames.map((f) => f.asyncGenerator)).toEqual([false, true]);
    expect(c.waitsFor).toEqual({ kind: 'promise', heldBy: ['Timeout#_onTimeout'] });
  });

  it('ties a handler under a framework .then to its request, and reports the lost continuation', () => {
    const [h] = chainsNamed(forest, 'poolHandler');
    expect(h.waitsFor).toMatchObject({ kind: 'promise', heldBy: [expect.stringMatching(/Pool#_pendingQueue\[4\]$/)] });
    expect(h.hints.map((x) => [x.kind, x.detail])).toEqual([
      ['request', 'GET /users/42'],
      ['response', undefined],
    ]);
    expect(chainsNamed(forest, 'lostHandler')).toEqual([]);
    expect(forest.lostResponses).toHaveLength(1);
    expect(forest.lostResponses[0].detail).toBe('GET /lost');
  });
});

describe.each(nodeBinaries())('requests that can never be answered, in a real process ($name)', ({ path }) => {
  it('are told from requests that a listener, a timer, a bound function or a collection can still answer', async () => {
    const { graph } = await parseFile(snapshotOf(HTTP_SCENES, path));
    const lost = awaitGraph(graph).lostResponses.map((l) => l.detail).sort();
    expect(lost).toEqual(['GET /lost', 'GET /lost-close', 'GET /lost-finish']);
  });
});

describe('cost on large heaps (measured, not asserted)', () => {
  const measure = async (what: string, setup: string) => {
    const file = snapshotOf(setup);
    const { graph, parseMs, bytes } = await parseFile(file);
    const t0 = performance.now();
    const forest = awaitGraph(graph);
    const ms = performance.now() - t0;
    const mem = process.memoryUsage();
    console.log(`${what}: snapshot ${(bytes / 1e6).toFixed(1)} MB, ${graph.nodeCount} nodes; parse ${parseMs.toFixed(0)} ms, typed arrays ${(graph.arrayBytes / 1e6).toFixed(1)} MB; analysis ${ms.toFixed(0)} ms (${forest.stats.frames} frames, ${forest.chains.length} chains); this process: heap ${(mem.heapUsed / 1e6).toFixed(0)} MB, array buffers ${(mem.arrayBuffers / 1e6).toFixed(0)} MB`);
    return forest;
  };

  it('10k suspended functions', async () => {
    const forest = await measure('10k suspended functions', `
      const waiters = [];
      async function leaf(i) { await new Promise((r) => waiters.push(r)); }
      async function job(i) { await leaf(i); }
      for (let i = 0; i < 10000; i++) job(i);
    `);
    expect(forest.chains).toHaveLength(10000);
    expect(forest.chains.every((c) => c.frames.map((f) => f.fn).join() === 'job,leaf')).toBe(true);
  }, 120_000);

  it('a ~100 MB heap', async () => {
    const forest = await measure('~100 MB heap', `
      globalThis.big = Array.from({ length: 250000 }, (_, i) => new Array(50).fill(i + 0.5));
      async function wait() { await new Promise((r) => setTimeout(r, 1e6)); }
      wait();
      if (process.memoryUsage().heapUsed < 90e6) throw new Error('heap too small: ' + process.memoryUsage().heapUsed);
    `);
    expect(forest.chains.map((c) => c.frames[0].fn)).toEqual(['wait']);
  }, 180_000);
});
