/**
 * Incoming requests are timed by the clock the agent's worker writes into shared memory
 * (agent/host/coarse-clock.ts), not by a clock read per request. Against a real agent preloaded
 * into a child-process host (test/fixtures/clock-app.cjs) serving real HTTP: the clock trails
 * performance.now() by about a tick and never runs backwards; a request that blocked the loop
 * still gets its duration (the worker ticks meanwhile); history keeps requests over a second and
 * not quicker ones, as before.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../src/defaults.js';
import { httpGet, REGISTER, waitUntil } from './helpers/child.js';
import { WAIT_MS, openJson, startApp } from './helpers/wire.js';
import type { App, WireClient } from './helpers/wire.js';

let app: App;
let httpPort = 0;
let c: WireClient;

interface Entry {
  name: string;
  kind: string;
  outcome: string;
  durationMs: number;
}

/** The entry named so in history; undefined while the agent still says the loop is blocked. */
async function historyOf(name: string): Promise<Entry | undefined> {
  const h = await c.request('history', { limit: 100 });
  if (!h.ok && h.error?.code === 'BLOCKED') return undefined;
  expect(h.ok, JSON.stringify(h)).toBe(true);
  return (h.result.items as Entry[]).find((e) => e.name === name);
}

beforeAll(async () => {
  if (!existsSync(REGISTER)) throw new Error(`${REGISTER} is missing: run \`npm run build\` first`);
  app = await startApp('clock-app.cjs');
  httpPort = (JSON.parse(/^READY (.*)$/m.exec(app.child.stdout())![1]) as { http: number }).http;
  c = await openJson(app.port, app.token);
});

afterAll(() => {
  c?.close();
  app?.stop();
});

describe('the clock incoming requests are timed by', () => {
  it('trails performance.now() by about a tick and never runs backwards', async () => {
    // The fixture samples every 5 ms; wait for a second's worth.
    const stats = (await waitUntil(
      async () => {
        const s = JSON.parse(await httpGet(httpPort, '/lag')) as { lags: number[]; backwards: number };
        return s.lags.length >= 150 ? s : undefined;
      },
      WAIT_MS,
      '150 samples of the clock',
    ))!;
    expect(stats.backwards).toBe(0);
    // Never ahead of performance.now() (beyond float rounding)…
    expect(stats.lags[0]).toBeGreaterThan(-0.01);
    // …and behind it by less than a tick most of the time (a loaded machine delays some ticks).
    const median = stats.lags[Math.floor(stats.lags.length / 2)];
    expect(median).toBeLessThan(DEFAULTS.clockMs + 10);
    expect(stats.lags.at(-1)).toBeLessThan(1000);
  });

  it('gives a request that blocked the loop its duration, and history keeps it', async () => {
    expect(await httpGet(httpPort, '/block?ms=1300')).toBe('blocked');
    const entry = (await waitUntil(() => historyOf('GET /block'), WAIT_MS, 'GET /block in history'))!;
    expect(entry).toMatchObject({ kind: 'http-server', outcome: 'finished' });
    expect(entry.durationMs).toBeGreaterThanOrEqual(1300 - DEFAULTS.clockMs);
    expect(entry.durationMs).toBeLessThan(1300 + 1000);
  });

  it('keeps a request that waited over a second, with its duration, and not one that waited 300 ms', async () => {
    expect(await httpGet(httpPort, '/wait?ms=300')).toBe('waited');
    expect(await httpGet(httpPort, '/wait?ms=1200')).toBe('waited');
    const slow = (await waitUntil(() => historyOf('GET /wait'), WAIT_MS, 'GET /wait in history'))!;
    expect(slow.durationMs).toBeGreaterThanOrEqual(1200 - DEFAULTS.clockMs);
    expect(slow.durationMs).toBeLessThan(1200 + 1000);
    const h = await c.ok('history', { limit: 100 });
    expect((h.items as Entry[]).filter((e) => e.name === 'GET /wait')).toHaveLength(1);
    expect((h.items as Entry[]).some((e) => e.name === 'GET /lag')).toBe(false);
  });
});
