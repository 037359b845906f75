/**
 * `promises-all`: every pending promise, streamed. The main thread builds the listing in slices
 * between turns of the host's loop and hands each to the worker only once the worker has
 * written the previous one to the client, so a listing larger than the client's output limit
 * goes through at the client's pace, and a client that leaves stops it.
 *
 * The fixture (test/fixtures/stream-app.cjs) holds 80,000 pending promises with stacks: about
 * 12 MB of JSON, more than the 4 MiB a session may have buffered plus what the kernel's socket
 * buffers take on the way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../src/defaults.js';
import { cliIn, exitedZero } from './helpers/cli.js';
import { WAIT_MS, openJson, openText, startApp } from './helpers/wire.js';
import type { App, WireClient, WireMessage } from './helpers/wire.js';

const N = 80_000;
let app: App;

beforeAll(async () => {
  app = await startApp('stream-app.cjs', { ASYNCMON_TRACK: 'promises', ASYNCMON_STACKS: 'on', STREAM_N: String(N) }, 20_000);
}, 30_000);

afterAll(() => app?.stop());

/** Every `items` event of request `id` up to its response, and the response. */
async function collect(c: WireClient, id: number | string, timeoutMs = 20_000): Promise<{ items: Array<{ id: string }>; events: WireMessage[]; res: WireMessage }> {
  const res = await c.response(id, timeoutMs);
  const events = c.drainEvents().filter((e) => e.id === id && e.event === 'items');
  return { items: events.flatMap((e) => (e as { items?: Array<{ id: string }> }).items ?? []), events, res };
}

describe('promises-all', () => {
  it('streams every pending promise in slices, then the total', async () => {
    const c = await openJson(app.port, app.token);
    try {
      const id = c.sendRequest('promises-all');
      const { items, events, res } = await collect(c, id);
      expect(res.ok, JSON.stringify(res)).toBe(true);
      const result = res.result as { level: string; total: number; evicted: number };
      expect(result.level).toBe('promises');
      expect(items.length).toBe(result.total);
      expect(result.total).toBeGreaterThanOrEqual(N);
      expect(events.length).toBeGreaterThan(1);
      expect(new Set(items.map((p) => p.id)).size).toBe(items.length);
      const site = { fn: expect.any(String), file: expect.stringMatching(/stream-app\.cjs$/), line: expect.any(Number), column: expect.any(Number) };
      expect(items).toContainEqual({ id: expect.stringMatching(/^p\d+$/), parentId: null, taskId: null, ageMs: expect.any(Number), site });
    } finally {
      c.close();
    }
  }, 30_000);

  it('goes at the pace of a client that stops reading, for longer than a call may take', async () => {
    const c = await openJson(app.port, app.token);
    try {
      c.socket.pause();
      const id = c.sendRequest('promises-all');
      // Unread, the answer would be over the output limit (4 MiB) long before this, and the
      // pause is longer than the deadline for the main thread's answers: the agent waits.
      await new Promise((r) => setTimeout(r, DEFAULTS.limits.callTimeoutMs + 1000));
      expect(c.isClosed).toBe(false);
      c.socket.resume();
      const { items, res } = await collect(c, id);
      expect(res.ok).toBe(true);
      expect(items.length).toBeGreaterThanOrEqual(N);
      expect(JSON.stringify(items).length).toBeGreaterThan(2 * DEFAULTS.limits.maxOutputBytes);
      // And the session is still usable.
      expect((await c.ok('health')).status).toBe('ok');
    } finally {
      c.close();
    }
  }, 30_000);

  it('stops when the client leaves halfway, and the host and agent carry on', async () => {
    const c = await openJson(app.port, app.token);
    c.socket.pause();
    c.sendRequest('promises-all');
    await new Promise((r) => setTimeout(r, 300));
    c.socket.destroy();
    const d = await openJson(app.port, app.token);
    try {
      expect((await d.ok('health')).status).toBe('ok');
      const id = d.sendRequest('promises-all');
      const { items, res } = await collect(d, id);
      expect(res.ok).toBe(true);
      expect(items.length).toBeGreaterThanOrEqual(N);
    } finally {
      d.close();
    }
  }, 30_000);

  it('is JSON only: the text dialect does not know it', async () => {
    const c = await openText(app.port, app.token);
    try {
      const out = await c.command('promises-all');
      expect(out).toMatch(/unknown command "promises-all"/);
    } finally {
      c.close();
    }
  });
});

describe('asyncmon dump at promises level', () => {
  it('holds every pending promise, beyond the list limit', async () => {
    const cli = cliIn(app.runtime.dir);
    const r = exitedZero(await cli('dump', '--target', String(app.pid), '--limit', '100'));
    const doc = JSON.parse(r.stdout) as { snapshot: { promises: { total: number; items: unknown[] }; tasks: { items: unknown[] } } };
    expect(doc.snapshot.promises.items.length).toBe(doc.snapshot.promises.total);
    expect(doc.snapshot.promises.total).toBeGreaterThanOrEqual(N);
  }, 30_000);
});

// Last: going down to tasks level frees the fixture's records for good.
describe('promises-all below promises level', () => {
  it('at tasks level lists nothing, and says so', async () => {
    const c = await openJson(app.port, app.token);
    try {
      await c.ok('track', { level: 'tasks' });
      const id = c.sendRequest('promises-all');
      const { items, res } = await collect(c, id, WAIT_MS);
      expect(res).toMatchObject({ ok: true, result: { level: 'tasks', total: 0 } });
      expect(items).toEqual([]);
    } finally {
      await c.ok('track', { level: 'promises' });
      c.close();
    }
  });
});
