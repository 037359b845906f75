/**
 * Load on the agent's port, against a real agent preloaded into a child-process host that also
 * serves HTTP on its own port: a connection storm, a client that never reads, clients that
 * reset mid-response, 10k pipelined requests, and cancel of things that cannot be cancelled.
 * After each, the host still answers HTTP, a fresh client can hello and ps, and the host's RSS
 * stays within a bound.
 *
 * The RSS bound: the fixture forces a GC before answering /rss. The agent holds at most
 * 4 MiB of unread output and 64 queued requests per client, 16 clients; 48 MiB over the baseline
 * covers that plus allocator noise, while the never-reading client asks for ~100 MiB of
 * listings, which an agent that buffered without bound would keep.
 */
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { httpGet, REGISTER, waitUntil } from './helpers/child.js';
import { WAIT_MS, openJson, startApp } from './helpers/wire.js';
import type { App, WireClient } from './helpers/wire.js';

const MiB = 1024 * 1024;
const RSS_SLACK = 48 * MiB;
const TASKS = 1000;

let app: App;
let httpPort = 0;
let finishedId: string | number;
let baselineRss = 0;
const clients: WireClient[] = [];

/** GET on the host fixture's own HTTP port. */
const hostGet = (path: string, timeoutMs = WAIT_MS) => httpGet(httpPort, path, timeoutMs);

async function hostRss(): Promise<number> {
  return (JSON.parse(await hostGet('/rss')) as { rss: number }).rss;
}

async function freshClientWorks(): Promise<void> {
  const c = (await waitUntil(
    async () => {
      try {
        return await openJson(app.port, app.token, 3_000);
      } catch {
        return undefined;
      }
    },
    WAIT_MS,
    'a fresh JSON session',
  )) as WireClient;
  try {
    const ps = await c.ok('ps', { limit: 1 });
    expect(ps.total).toBeGreaterThanOrEqual(TASKS);
  } finally {
    c.close();
  }
}

async function hostIsFine(slack = RSS_SLACK): Promise<void> {
  expect(await hostGet('/')).toBe('ok');
  await freshClientWorks();
  const rss = await hostRss();
  expect(rss - baselineRss, `rss grew from ${baselineRss} to ${rss}`).toBeLessThan(slack);
}

async function authed(): Promise<WireClient> {
  const c = await openJson(app.port, app.token);
  clients.push(c);
  return c;
}

beforeAll(async () => {
  if (!existsSync(REGISTER)) throw new Error(`${REGISTER} is missing: run \`npm run build\` first`);
  app = await startApp('hardening-app.cjs', { HARDEN_TASKS: String(TASKS) });
  httpPort = (JSON.parse(/^READY (.*)$/m.exec(app.child.stdout())![1]) as { http: number }).http;
  const c = await openJson(app.port, app.token);
  const hist = await c.ok('history', { limit: 50 });
  finishedId = hist.items.find((t: { name: string }) => t.name === 'hardening-finished').id;
  // Warm up: a big listing once, so the baseline includes what a normal big answer costs.
  await c.ok('ps', { limit: 10_000 });
  c.close();
  baselineRss = await hostRss();
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});
afterAll(() => app?.stop());

describe('connection storm', () => {
  it('500 connection attempts at once: each gets a line or a close, none hangs, the host keeps serving', async () => {
    const N = 500;
    const sockets: Socket[] = [];
    const outcomes = Array.from({ length: N }, () =>
      new Promise<string>((resolve) => {
        const s = connect({ port: app.port, host: '127.0.0.1' });
        sockets.push(s);
        let text = '';
        const timer = setTimeout(() => resolve(`hung: ${JSON.stringify(text)}`), 15_000);
        const done = (what: string) => {
          clearTimeout(timer);
          resolve(what);
        };
        s.setEncoding('utf8');
        s.on('data', (d: string) => {
          text += d;
          if (text.includes('\n')) done(text.includes('too many connections') ? 'refused' : 'line');
        });
        s.on('error', (err: NodeJS.ErrnoException) => done(`error ${err.code}`));
        s.on('close', () => done(text.includes('too many connections') ? 'refused' : 'closed'));
      }),
    );
    // The host answers HTTP during the storm.
    const during = hostGet('/');
    const results = await Promise.all(outcomes);
    expect(await during).toBe('ok');
    for (const s of sockets) s.destroy();
    const counts: Record<string, number> = {};
    for (const r of results) counts[r.startsWith('error') || r.startsWith('hung') ? r.split(':')[0] : r] = (counts[r] ?? 0) + 1;
    expect(results.filter((r) => r.startsWith('hung')), JSON.stringify(counts)).toEqual([]);
    // At most 16 sessions got the banner; the rest were refused or closed.
    expect(results.filter((r) => r === 'line').length, JSON.stringify(counts)).toBeLessThanOrEqual(16);
    expect(results.filter((r) => r === 'refused').length, JSON.stringify(counts)).toBeGreaterThan(0);
    await hostIsFine();
  }, 45_000);
});

describe('slow and vanishing readers', () => {
  it('a client that never reads while asking for big listings is disconnected; the host memory stays flat', async () => {
    const one = await (async () => {
      const c = await authed();
      const id = c.sendRequest('ps', { limit: 10_000 });
      const line = JSON.stringify(await c.response(id));
      c.close();
      return Buffer.byteLength(line) + 1;
    })();
    expect(one).toBeGreaterThan(300 * TASKS); // ~1000 long names per answer
    const REQUESTS = Math.ceil((100 * MiB) / one);
    const s = connect({ port: app.port, host: '127.0.0.1' });
    s.pause(); // never read
    let closed = false;
    s.on('error', () => {});
    s.on('close', () => (closed = true));
    await new Promise<void>((r) => s.once('connect', () => r()));
    let batch = `${JSON.stringify({ id: 'h', cmd: 'hello', args: { protocol: 1, token: app.token } })}\n`;
    for (let i = 0; i < REQUESTS; i++) batch += `${JSON.stringify({ id: i, cmd: 'ps', args: { limit: 10_000 } })}\n`;
    s.write(batch);
    // While it is stuck, the host still serves and its memory stays bounded.
    let peak = 0;
    const deadline = Date.now() + 8_000;
    while (Date.now() < deadline) {
      peak = Math.max(peak, await hostRss());
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(peak - baselineRss, `peak rss ${peak}, baseline ${baselineRss}`).toBeLessThan(RSS_SLACK);
    // Now read what the agent sent: far less than was asked for, then the end.
    let received = 0;
    s.on('data', (d: Buffer) => (received += d.length));
    s.resume();
    await waitUntil(() => closed, WAIT_MS, 'the never-reading client to be disconnected');
    expect(received).toBeLessThan(REQUESTS * one / 2);
    expect(received).toBeGreaterThan(0);
    await hostIsFine();
  }, 40_000);

  it('clients that reset mid-response do not hurt the agent', async () => {
    const resets = Array.from({ length: 12 }, (_, k) =>
      new Promise<void>((resolve) => {
        const hello = JSON.stringify({ id: 'h', cmd: 'hello', args: { protocol: 1, token: app.token } });
        const s = connect({ port: app.port, host: '127.0.0.1' }, () => {
          s.write(`${hello}\n`);
          for (let i = 0; i < 5; i++) s.write(`${JSON.stringify({ id: i, cmd: i % 2 ? 'snapshot' : 'ps', args: { limit: 10_000 } })}\n`);
        });
        let got = 0;
        s.on('error', () => {});
        s.on('close', () => resolve());
        s.on('data', (d: Buffer) => {
          got += d.length;
          // After the hello answer and a bit of the first listing: cut the connection.
          if (got > 2_000) {
            if (k % 2 === 0 && typeof s.resetAndDestroy === 'function') s.resetAndDestroy();
            else s.destroy();
          }
        });
      }),
    );
    await Promise.all(resets);
    await hostIsFine();
    // And the listings still work for someone who reads.
    const c = await authed();
    expect((await c.ok('ps', { limit: 10_000 })).items.length).toBeGreaterThanOrEqual(TASKS);
  }, 30_000);
});

describe('pipelining', () => {
  it('2000 pipelined ps requests on one connection are all answered, in order', async () => {
    const c = await authed();
    // 30 times the queue limit. Not 10k: the main-thread budget paces a client that sends
    // back to back (each ps here costs the host ~0.1 ms, the budget allows 5 ms per 100 ms),
    // and with the socket paused the batch's unread half-line meets the 10 s line deadline.
    const N = 2000;
    let batch = '';
    for (let i = 0; i < N; i++) batch += `${JSON.stringify({ id: i, cmd: 'ps', args: { limit: 1, filter: 'hardening-live-7-' } })}\n`;
    c.sendRaw(batch);
    const seen: number[] = [];
    // Read lines as they come, in order.
    while (seen.length < N) {
      const line = await c.readLine(20_000);
      const msg = JSON.parse(line) as { id: number; ok: boolean; result: { items: unknown[] } };
      expect(msg.ok, line).toBe(true);
      seen.push(msg.id);
    }
    expect(seen).toEqual(Array.from({ length: N }, (_, i) => i));
    await hostIsFine();
  }, 50_000);
});

describe('cancel of things that cannot be cancelled', () => {
  it('a missing task, a finished task, and ids of nothing each give a clear error', async () => {
    const c = await authed();
    const missing = await c.request('cancel', { id: '999999' });
    expect(missing.ok).toBe(false);
    expect(missing.error).toEqual({ code: 'NO_SUCH_TASK', message: 'no task 999999' });

    const finished = await c.request('cancel', { id: String(finishedId) });
    expect(finished.ok).toBe(false);
    expect(['NO_SUCH_TASK', 'NOT_CANCELLABLE']).toContain(finished.error?.code);
    expect(finished.error?.message).toContain(String(finishedId));

    for (const id of ['r999999', 'p999999', 'r0', 'rx', '-1', '']) {
      const res = await c.request('cancel', { id });
      expect(res.ok, id).toBe(false);
      expect(['NO_SUCH_TASK', 'NOT_CANCELLABLE', 'BAD_ARGUMENT'], `${id}: ${JSON.stringify(res.error)}`).toContain(res.error?.code);
      expect(res.error?.message.length, id).toBeGreaterThan(0);
    }
    // The live tasks were not touched.
    expect((await c.ok('ps', { limit: 1 })).total).toBeGreaterThanOrEqual(TASKS);
    await hostIsFine();
  });
});
