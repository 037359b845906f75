// Hardening at scale: the promise tracker's cap holds with a million never-settling promises
// (eviction counted, memory bounded, the agent still answers, the host still exits by itself),
// and `asyncmon attach` works on a process that already holds 10,000 pending promises.
import { afterEach, describe, expect, it } from 'vitest';
import type { TestContext } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULTS } from '../src/defaults.js';
import { exitWithin, FIXTURES, httpGet, REGISTER, spawnNode, waitUntil } from './helpers/child.js';
import type { Child } from './helpers/child.js';
import { Cleanups, cliIn, exitedZero, json, show } from './helpers/cli.js';
import { agentEnv, makeToken, openJson, readDiscovery, tryConnect } from './helpers/wire.js';

const INSPECTOR_PORT = 9229;
const cleanups = new Cleanups();
afterEach(() => cleanups.run());

interface ScaleResult {
  pid: number;
  port: number | null;
  kept: number;
  before: number;
  after: number;
  delta: number;
  released: number;
  snapshot: { tracker: { level: string }; promisesTotal: number; counters: { promisesEvicted: number; faults: number } } | null;
}

/** Runs scale-promises.cjs under the preload with `env`; returns the child, its result and its done file. */
async function runScale(env: Record<string, string>, dir: string, name: string): Promise<{ child: Child; result: ScaleResult; done: string }> {
  const done = join(dir, `${name}.done`);
  const token = makeToken();
  const child = spawnNode(resolve(FIXTURES, 'scale-promises.cjs'), {
    nodeArgs: ['--expose-gc', '--require', REGISTER],
    env: agentEnv({ ASYNCMON_PORT: '0', ASYNCMON_TOKEN: token, XDG_RUNTIME_DIR: dir, SCALE_DONE_FILE: done, ...env }),
  });
  cleanups.add(() => child.kill());
  const m = await child.waitFor(/^RESULT (.*)$/m, 40_000);
  return { child, result: JSON.parse(m[1]) as ScaleResult, done };
}

describe('promises level at scale', () => {
  it('1,000,000 never-settling promises: capped at 200,000, evictions counted, heap bounded, health answers, exits by itself', async () => {
    expect(DEFAULTS.maxPromises).toBe(200_000);
    const dir = cleanups.runtimeDir();
    // Both at once (two cores): the measurement is of heap, not time.
    const [tracked, control] = await Promise.all([
      runScale({ ASYNCMON_TRACK: 'promises' }, dir, 'tracked'),
      runScale({ ASYNCMON: '0' }, dir, 'control'),
    ]);
    const t = tracked.result;
    expect(t.kept).toBe(1_000_000);
    expect(t.snapshot, tracked.child.stderr()).not.toBeNull();
    expect(t.snapshot!.tracker.level).toBe('promises');
    expect(t.snapshot!.promisesTotal).toBe(200_000);
    expect(t.snapshot!.counters.promisesEvicted).toBeGreaterThanOrEqual(800_000);
    expect(t.snapshot!.counters.faults).toBe(0);
    expect(control.result.snapshot).toBeNull();
    expect(control.result.port).toBeNull();

    // The tracker's share of the heap: what the tracked run grew by beyond the control run
    // (which holds the same million promises and their array). Records live in typed arrays
    // (outside heapUsed) plus an owner reference per slot (8 B × 200,000); each promise the
    // tracker saw carries its slot number in a private field, about 40 B that live and die with
    // the promise, evicted or not. So ≤ 48 B × 1,000,000 + 16 B × 200,000 + 10 MB for GC noise
    // and the agent's own allocations (status pushes, the snapshot). (Measured: ~43 MB on
    // Node 20.)
    const trackerBytes = t.delta - control.result.delta;
    const bound = 1_000_000 * 48 + 200_000 * 16 + 10 * 1024 * 1024;
    expect(trackerBytes, `tracked grew ${t.delta} B, control ${control.result.delta} B`).toBeLessThanOrEqual(bound);
    // Dropped, the million promises are garbage: the tracker holds none of them (a Map keyed by
    // promise would keep the newest 200,000 alive, about 48 B each and whatever they hold).
    // What is left is the records' slots: 16 B × 200,000, plus 4 MB for noise.
    const kept = t.released - control.result.released;
    expect(kept, `tracked kept ${t.released} B, control ${control.result.released} B`).toBeLessThanOrEqual(200_000 * 16 + 4 * 1024 * 1024);

    // The tracked host still answers over the agent port, and reports the capped count.
    const c = await openJson(t.port!, readDiscovery(dir, t.pid).token as string);
    try {
      const deadline = Date.now() + 10_000;
      let h = await c.ok('health');
      while (h.pendingPromises !== 200_000 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        h = await c.ok('health');
      }
      expect(h.status).toBe('ok');
      expect(h.pid).toBe(t.pid);
      expect(h.pendingPromises).toBe(200_000);
    } finally {
      c.close();
    }

    // Its work ends: both exit by themselves, cleanly, and the discovery file is gone.
    writeFileSync(tracked.done, '');
    writeFileSync(control.done, '');
    expect(await exitWithin(tracked.child, 15_000)).toBe(0);
    expect(await exitWithin(control.child, 15_000)).toBe(0);
    expect(tracked.child.stdout()).toMatch(/^DONE$/m);
    expect(tracked.child.stderr()).toBe('');
    expect(readDiscovery(dir, t.pid)).toBeUndefined();
  }, 60_000);
});

describe('attach at scale', () => {
  it('attach --level promises to a process holding 10k pending promises: ps and promises answer, new promises are tracked, the host keeps serving', async (ctx: TestContext) => {
    if ((await tryConnect(INSPECTOR_PORT, '127.0.0.1', 2000)) === 'connected') {
      ctx.skip(`127.0.0.1:${INSPECTOR_PORT} is already in use by another program on this machine; attach needs it free`);
    }
    const dir = cleanups.runtimeDir();
    const app = await cleanups.fixture('scale-attach.cjs', { runtimeDir: dir, preload: false });
    expect(app.ready.pending).toBe(10_000);
    const httpPort = app.ready.http as number;
    const cli = cliIn(dir);
    expect(readDiscovery(dir, app.pid)).toBeUndefined();

    const attached = exitedZero(await cli('attach', String(app.pid), '--level', 'promises', '--json'));
    const a = json(attached);
    expect(a, show(attached)).toMatchObject({ pid: app.pid, alreadyRunning: false });
    await waitUntil(() => readDiscovery(dir, app.pid), 10_000, 'the discovery file after attach');

    const ps = exitedZero(await cli('ps', '-t', String(app.pid), '--json'));
    expect(Array.isArray(json(ps).items), show(ps)).toBe(true);
    const before = json(exitedZero(await cli('promises', '-t', String(app.pid), '--json')));
    expect(before.newest.total, JSON.stringify(before)).toBeLessThan(10_000);

    // Promises made after attach are tracked.
    expect(await httpGet(httpPort, '/make?n=500')).toBe('made 500 total 500');
    const afterMake = json(exitedZero(await cli('promises', '-t', String(app.pid), '--json')));
    expect(afterMake.newest.total - before.newest.total, JSON.stringify(afterMake).slice(0, 2000)).toBeGreaterThanOrEqual(500);

    // The host is fine: it still serves its own port, and it is still running.
    expect(await httpGet(httpPort, '/')).toBe('ok 10000');
    expect(app.child.proc.exitCode).toBeNull();
    expect(app.child.stderr()).not.toMatch(/Error|asyncmon:/);
  }, 60_000);
});
