// Levels: `tasks` < `resources` < `promises`. Each level turns its tracker on; going back down
// removes the hooks and frees what they held. Stacks: off, tasks, on, or one in N.
import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import http from 'node:http';
import net from 'node:net';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { snapshot, task, track, AsyncmonError } from '../agent/index.js';
import type { Snapshot } from '../agent/index.js';
import { getAgent } from '../agent/host/agent.js';
import { waitUntil } from './helpers/child.js';
import { cleanupsAfterEach, found, gate, markLine } from './helpers/in-process.js';

interface SitesFixture {
  pendingPromises(n: number): Array<Promise<never>>;
}
const SITES = resolve(__dirname, 'fixtures', 'core-sites.js');
const sites = createRequire(__filename)(SITES) as SitesFixture;
const agent = getAgent();

function snap(limit = 100_000): Snapshot {
  return snapshot({ handles: false, limit });
}

async function liveTaskId(name: string): Promise<number> {
  const t = await found(() => snap(1000).tasks.items.find((x) => x.name === name), `task ${name}`);
  return t.id;
}

function listen(server: net.Server): Promise<void> {
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r()));
}

const cleanups = cleanupsAfterEach();

describe('the default level', () => {
  it('starts at tasks, stacks off, with no tracker hooked in', () => {
    const s = snap();
    expect(s.tracker).toEqual({ level: 'tasks', stacks: 'off', disabledReason: null });
    expect(s.resources).toEqual({ total: 0, items: [] });
    expect(s.promises).toEqual({ total: 0, items: [] });
    expect(s.promiseGroups).toEqual({ total: 0, items: [] });
    expect(agent.resources.enabled).toBe(false);
    expect(agent.promises.enabled).toBe(false);
  });

  it('parses what it is given and refuses unknown levels and stacks modes', () => {
    expect(track(' Resources ', '10')).toEqual({ level: 'resources', stacks: 10, disabledReason: null });
    expect(track('promises')).toMatchObject({ level: 'promises', stacks: 10 }); // stacks kept when not given
    expect(track('tasks', 'off')).toMatchObject({ level: 'tasks', stacks: 'off' });
    for (const [level, stacks] of [
      ['everything', undefined],
      ['tasks', 'sometimes'],
      ['promises', '-2'],
    ]) {
      let err: unknown;
      try {
        track(level as string, stacks);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AsyncmonError);
      expect((err as AsyncmonError).code).toBe('BAD_ARGUMENT');
    }
    expect(snap().tracker.level).toBe('tasks'); // a refused switch changes nothing
  });
});

describe('resources level', () => {
  it('lists async resources, with the task that created them', async () => {
    expect(track('resources', 'on').level).toBe('resources');
    expect(agent.resources.enabled).toBe(true);
    let server: net.Server | null = null;
    await task('opens-server', async () => {
      server = net.createServer();
      // No host: the handle is made synchronously here (with a host, after a lookup in Node's
      // own code, where the stack has no frame of this file).
      await new Promise<void>((r) => server!.listen(0, () => r()));
    });
    cleanups.push(() => server?.close());
    const taskId = snap().history.items.find((h) => h.name === 'opens-server')!.id;
    const outside = setTimeout(() => {}, 60_000);
    cleanups.push(() => clearTimeout(outside));

    const s = snap();
    const tcp = s.resources.items.filter((r) => r.type === 'TCPSERVERWRAP' && r.taskId === taskId);
    expect(tcp).toHaveLength(1);
    expect(tcp[0].id).toBe(`r${tcp[0].asyncId}`);
    expect(tcp[0].ageMs).toBeGreaterThanOrEqual(0);
    expect(tcp[0].site?.file).toBe(__filename);
    const timer = s.resources.items.find((r) => r.type === 'Timeout' && r.site?.file === __filename && r.taskId === null);
    expect(timer).toBeDefined();
    expect(s.resources.items.some((r) => r.type === 'PROMISE')).toBe(false);
    expect(s.resources.total).toBe(s.resources.items.length);

    // A record leaves when its resource is destroyed.
    await new Promise<void>((r) => server!.close(() => r()));
    await waitUntil(() => !snap().resources.items.some((r) => r.asyncId === tcp[0].asyncId), 5000, 'the closed server to leave');
  });

  it('going back to tasks removes the hook and frees every record', async () => {
    track('resources', 'off');
    const server = net.createServer();
    cleanups.push(() => server.close());
    await listen(server);
    expect(snap().resources.total).toBeGreaterThan(0);

    track('tasks');
    expect(agent.resources.enabled).toBe(false);
    expect(snap().resources).toEqual({ total: 0, items: [] });
    // Nothing new is recorded either: the hook is gone.
    const more = net.createServer();
    cleanups.push(() => more.close());
    await listen(more);
    const t = setTimeout(() => {}, 60_000);
    cleanups.push(() => clearTimeout(t));
    expect(snap().resources.total).toBe(0);
    expect(agent.resources.size).toBe(0);
  });
});

describe('promises level', () => {
  it('lists pending promises with age and owning task', async () => {
    track('promises', 'on');
    expect(agent.promises.enabled).toBe(true);
    const hold = gate();
    const p = task('holder', async () => {
      await hold.promise;
    });
    const id = await liveTaskId('holder');
    const mine = snap().promises.items.filter((x) => x.taskId === id);
    expect(mine.length).toBeGreaterThan(0);
    for (const info of mine) {
      expect(info.id).toMatch(/^p\d+$/);
      expect(info.ageMs).toBeGreaterThanOrEqual(0);
    }
    const oldest = mine[mine.length - 1].id;
    await sleep(30);
    expect(snap().promises.items.find((x) => x.id === oldest)!.ageMs).toBeGreaterThanOrEqual(25);
    hold.open();
    await p;
    await waitUntil(() => !snap().promises.items.some((x) => x.taskId === id), 5000, 'the task’s promises to settle');
  });

  it('groups pending promises by creation site when stacks are on', () => {
    track('promises', 'on');
    const pending = sites.pendingPromises(7);
    const group = snap().promiseGroups.items.find((g) => g.site?.file === SITES);
    expect(group).toBeDefined();
    expect(group!.site!.line).toBe(markLine(SITES, 'pending-loop'));
    expect(group!.count).toBe(7);
    expect(group!.oldestMs).toBeGreaterThanOrEqual(0);
    // Largest group first.
    const counts = snap().promiseGroups.items.map((g) => g.count);
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
    expect(pending).toHaveLength(7);
  });

  it('with stacks off, tracks promises without sites', () => {
    track('promises', 'off');
    const before = agent.promises.size;
    const pending = sites.pendingPromises(5);
    expect(agent.promises.size - before).toBe(5);
    const s = snap();
    expect(s.promises.items.slice(0, 5).every((x) => x.site === null)).toBe(true);
    expect(s.promiseGroups.items.some((g) => g.site?.file === SITES)).toBe(false);
    expect(s.promiseGroups.items.find((g) => g.site === null)!.count).toBeGreaterThanOrEqual(5);
    expect(pending).toHaveLength(5);
  });

  it('going back to tasks removes the hook and frees every record', () => {
    track('promises', 'on');
    const pending = sites.pendingPromises(10);
    expect(snap().promises.total).toBeGreaterThanOrEqual(10);

    track('tasks');
    expect(agent.promises.enabled).toBe(false);
    const s = snap();
    expect(s.promises).toEqual({ total: 0, items: [] });
    expect(s.promiseGroups).toEqual({ total: 0, items: [] });
    sites.pendingPromises(10);
    expect(agent.promises.size).toBe(0);
    expect(pending).toHaveLength(10);
  });

  it('samples one stack in N outside tasks, and keeps every stack inside a task', async () => {
    track('promises', 4);
    expect(snap().tracker.stacks).toBe(4);
    const before = agent.promises.size;
    const pending = sites.pendingPromises(40);
    expect(agent.promises.size - before).toBe(40);
    const withSite = snap().promises.items.filter((x) => x.site?.file === SITES);
    expect(withSite.length).toBe(10);

    const hold = gate();
    const p = task('sampled-task', async () => {
      sites.pendingPromises(6);
      await hold.promise;
    });
    const id = await liveTaskId('sampled-task');
    const inTask = snap().promises.items.filter((x) => x.taskId === id);
    expect(inTask.length).toBeGreaterThanOrEqual(6);
    expect(inTask.every((x) => x.site !== null)).toBe(true);
    hold.open();
    await p;
    expect(pending).toHaveLength(40);
  });

  it('with stacks tasks, captures inside tasks (HTTP requests included) and nowhere else', async () => {
    track('promises', 'tasks');
    expect(snap().tracker.stacks).toBe('tasks');
    const before = agent.promises.size;
    const outside = sites.pendingPromises(8);
    expect(agent.promises.size - before).toBe(8);
    expect(snap().promises.items.slice(0, 8).every((x) => x.site === null && x.taskId === null)).toBe(true);

    const hold = gate();
    const p = task('stacked-task', async () => {
      sites.pendingPromises(3);
      await hold.promise;
    });
    const id = await liveTaskId('stacked-task');
    const inTask = snap().promises.items.filter((x) => x.taskId === id);
    expect(inTask.length).toBeGreaterThanOrEqual(3);
    expect(inTask.every((x) => x.site !== null)).toBe(true);

    // An incoming request is a task too: its handler's promises get stacks, after an await as well.
    const server = http.createServer(async (_req, res) => {
      await new Promise((r) => setImmediate(r));
      sites.pendingPromises(2);
      await hold.promise;
      res.end('ok');
    });
    cleanups.push(() => server.close());
    await listen(server);
    const req = http.get({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, path: '/stacked', agent: false });
    req.on('error', () => {});
    cleanups.push(() => req.destroy());
    const request = await found(() => snap(1000).tasks.items.find((t) => t.kind === 'http-server' && t.name === 'GET /stacked'), 'the request task');
    const inRequest = await found(() => {
      const items = snap().promises.items.filter((x) => x.taskId === request.id && x.site?.file === SITES);
      return items.length >= 2 ? items : undefined;
    }, 'the handler’s pending promises, with sites');
    expect(inRequest.every((x) => x.site!.line === markLine(SITES, 'pending-loop'))).toBe(true);
    hold.open();
    await p;
    expect(outside).toHaveLength(8);
  });
});

describe('the sliced full listing', () => {
  it('lists every promise pending throughout once, in slices, and none made after it started', async () => {
    track('tasks'); // a fresh table
    track('promises', 'off');
    const kept = sites.pendingPromises(3000);
    const settleLater: Array<() => void> = [];
    const settling = Array.from({ length: 500 }, () => new Promise<void>((r) => settleLater.push(r)));
    const before = snap(10_000).promises.items.map((p) => p.id);
    expect(before.length).toBeGreaterThanOrEqual(3500);
    const seen = new Set<string>();
    let later: string[] = [];
    let slices = 0;
    let turns = 0;
    const probe = setInterval(() => turns++, 0);
    cleanups.push(() => clearInterval(probe));
    for await (const slice of agent.promises.slices(400)) {
      slices++;
      expect(slice.length).toBeLessThanOrEqual(400);
      for (const p of slice) {
        expect(seen.has(p.id), `listed twice: ${p.id}`).toBe(false);
        seen.add(p.id);
      }
      if (slices === 1) {
        // Between slices the app runs: promises settle and new ones are made.
        for (const r of settleLater) r();
        await Promise.all(settling);
        sites.pendingPromises(200);
        later = snap(10_000).promises.items.slice(0, 200).map((p) => p.id);
      }
    }
    expect(slices).toBeGreaterThan(1);
    expect(turns).toBeGreaterThan(0); // the loop turned while listing
    for (const id of later) expect(seen.has(id), `made after the listing started: ${id}`).toBe(false);
    // Every promise pending from start to end (the 3000 kept among them) was listed.
    const pending = new Set(snap(10_000).promises.items.map((p) => p.id));
    const throughout = before.filter((id) => pending.has(id));
    expect(throughout.length).toBeGreaterThanOrEqual(3000);
    for (const id of throughout) expect(seen.has(id), `missing: ${id}`).toBe(true);
    expect(kept).toHaveLength(3000);
  });
});

describe('snapshot limit', () => {
  it('caps every list at limit while total counts all', async () => {
    track('promises', 'on');
    const hold = gate();
    const running = Array.from({ length: 12 }, (_, i) => task(`capped-${i}`, () => hold.promise));
    await waitUntil(() => snap().tasks.items.filter((t) => t.name.startsWith('capped-')).length === 12, 5000, 'twelve tasks');
    for (let i = 0; i < 8; i++) await task(`ended-${i}`, () => i);
    const pending = sites.pendingPromises(20);

    const s = snapshot({ limit: 5 });
    expect(s.tasks.items).toHaveLength(5);
    expect(s.tasks.total).toBeGreaterThanOrEqual(12);
    expect(s.promises.items).toHaveLength(5);
    expect(s.promises.total).toBeGreaterThanOrEqual(20);
    expect(s.history.items).toHaveLength(5);
    expect(s.history.total).toBeGreaterThanOrEqual(8);
    expect(s.handles.items.length).toBeLessThanOrEqual(5);
    expect(s.promiseGroups.items.length).toBeLessThanOrEqual(5);

    const none = snapshot({ limit: 0, handles: false });
    expect(none.tasks.items).toEqual([]);
    expect(none.tasks.total).toBe(s.tasks.total);
    expect(none.history.items).toEqual([]);

    hold.open();
    await Promise.all(running);
    expect(pending).toHaveLength(20);
  });
});
