/**
 * The agent's JSON-lines dialect, the one the CLI, the TUI and scripts use: `hello` with the
 * token first, then `{"id","cmd","args"}` requests answered by `{"id","ok":true,"result"}` or
 * `{"id","ok":false,"error":{"code","message"}}`, the same command names and arguments as the
 * text dialect, results in the shapes of src/model.ts, and `watch`, which pushes
 * `{"event":"update",…}` lines at the chosen interval until paused or stopped.
 *
 * One fixture app (test/fixtures/server-app.cjs) runs with the agent preloaded on an ephemeral
 * port; every test opens its own connection to it over a real socket.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REGISTER } from './helpers/child.js';
import { WAIT_MS, WireClient, markedLine, openJson, startApp } from './helpers/wire.js';
import type { App, WireMessage } from './helpers/wire.js';

const SCRIPT = 'server-app.cjs';
let app: App;
let fixtureFile: string;

beforeAll(async () => {
  if (!existsSync(REGISTER)) throw new Error(`${REGISTER} is missing: run \`npm run build\` first`);
  app = await startApp(SCRIPT);
  fixtureFile = app.child.proc.spawnargs[app.child.proc.spawnargs.length - 1];
});

afterAll(() => app?.stop());

// Shapes of src/model.ts, as matchers.
const num = expect.any(Number);
const str = expect.any(String);
const siteShape = { fn: str, file: str, line: num, column: num };
const nullable = (m: unknown) => expect.toSatisfy((v: unknown) => v === null || expect.objectContaining({ v: m }).asymmetricMatch({ v }));
const orNull = (shape: unknown) => expect.toSatisfy((v: unknown) => v === null || expect.objectContaining(shape as object).asymmetricMatch(v));
const site = orNull(siteShape);
const page = (item: unknown) => ({ total: num, items: expect.toSatisfy((a: unknown[]) => Array.isArray(a) && a.every((x) => expect.objectContaining(item as object).asymmetricMatch(x))) });
const taskShape = { id: num, name: str, kind: expect.stringMatching(/^(task|http-server|http-client)$/), state: expect.stringMatching(/^(running|cancelling)$/), ageMs: num, parentId: expect.toSatisfy((v: unknown) => v === null || typeof v === 'number'), site, children: num };
const historyShape = { id: num, name: str, kind: str, parentId: expect.toSatisfy((v: unknown) => v === null || typeof v === 'number'), outcome: expect.stringMatching(/^(finished|failed|cancelled)$/), durationMs: num, endedAt: num };
const handleShape = { id: expect.stringMatching(/^r\d+$/), asyncId: num, kind: str, type: str, refed: expect.any(Boolean), callback: site, detail: str };
const loopShape = { delayMs: { p50: num, p90: num, p99: num, max: num, mean: num }, utilization: num, heapUsedBytes: num, rssBytes: num, activeResources: expect.any(Object) };
const trackerShape = { level: expect.stringMatching(/^(tasks|resources|promises)$/), stacks: expect.anything(), disabledReason: expect.toSatisfy((v: unknown) => v === null || typeof v === 'string') };
const countersShape = { tasksDropped: num, promisesEvicted: num, resourcesEvicted: num, faults: num };
const frameShape = { fn: str, file: str, line: num, column: num };

/** A task's id from `ps`. */
async function taskId(c: WireClient, name: string): Promise<number> {
  const ps = await c.ok('ps', { filter: name });
  const t = (ps.items as Array<{ id: number; name: string }>).find((x) => x.name === name);
  if (!t) throw new Error(`no task ${name}: ${JSON.stringify(ps)}`);
  return t.id;
}

/** A JSON session for one test, closed after it. */
async function session<T>(fn: (c: WireClient) => Promise<T>): Promise<T> {
  const c = await openJson(app.port, app.token);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

describe('hello', () => {
  it('with the token: ok, protocol 1, access eval; no banner ever', async () => {
    const c = await WireClient.connect(app.port, '127.0.0.1', WAIT_MS, JSON.stringify({ id: 1, cmd: 'hello', args: { protocol: 1, token: app.token } }) + '\n');
    try {
      const res = await c.response(1);
      expect(res).toEqual({ id: 1, ok: true, result: { protocol: 1, pid: app.pid, node: process.version, access: 'eval' } });
      expect(c.transcript()).not.toContain('asyncmon: pid');
      expect(c.transcript()).not.toContain('asyncmon> ');
    } finally {
      c.close();
    }
  });

  it('requests before hello are FORBIDDEN; a wrong token or protocol is refused', async () => {
    const c = await WireClient.connect(app.port, '127.0.0.1', WAIT_MS, JSON.stringify({ id: 1, cmd: 'ps' }) + '\n');
    try {
      const first = await c.response(1);
      expect(first.ok).toBe(false);
      expect(first.error).toEqual({ code: 'FORBIDDEN', message: expect.stringContaining('hello') });
      for (const [cmd, args] of [['where', { id: 1 }], ['cancel', { id: 1 }], ['stats', {}], ['health', {}], ['eval', { code: '1' }], ['watch', { interval: 100 }]] as const) {
        const res = await c.request(cmd, args);
        expect(res.error?.code, cmd).toBe('FORBIDDEN');
      }
      const bad = await c.request('hello', { protocol: 1, token: 'wrong-token-value' });
      expect(bad.error).toEqual({ code: 'FORBIDDEN', message: 'authentication failed' });
      expect((await c.request('ps')).error?.code).toBe('FORBIDDEN');
      const proto = await c.request('hello', { protocol: 2, token: app.token });
      expect(proto.error?.code).toBe('BAD_ARGUMENT');
      expect(proto.error?.message).toMatch(/protocol 2/);
      expect((await c.request('ps')).error?.code).toBe('FORBIDDEN');
      // help needs no access.
      expect((await c.request('help')).ok).toBe(true);
      const good = await c.request('hello', { protocol: 1, token: app.token });
      expect(good.result.access).toBe('eval');
      expect((await c.request('ps')).ok).toBe(true);
    } finally {
      c.close();
    }
  });
});

describe('every command, with the data shapes of src/model.ts', () => {
  it('help lists the JSON commands (no auth/console) and explains one', () =>
    session(async (c) => {
      const help = (await c.ok('help')) as Array<{ name: string }>;
      const names = help.map((h) => h.name);
      expect(names).toEqual(expect.arrayContaining(['help', 'hello', 'ps', 'where', 'tree', 'cancel', 'handles', 'promises', 'stack', 'stats', 'history', 'track', 'health', 'snapshot', 'watch', 'eval', 'quit']));
      expect(names).not.toContain('auth');
      expect(names).not.toContain('console');
      expect(await c.ok('help', { command: 'cancel' })).toEqual([{ name: 'cancel', aliases: ['ca'], usage: 'cancel <id> [--force] [reason]', summary: str, access: 'control' }]);
    }));

  it('ps: a page of tasks; filter and limit as in text', () =>
    session(async (c) => {
      const ps = await c.ok('ps');
      expect(ps).toEqual(page(taskShape));
      expect(ps.items.map((t: { name: string }) => t.name)).toEqual(expect.arrayContaining(['outer-job', 'inner-job-1', 'inner-job-2', 'cancel-me-json']));
      const outer = ps.items.find((t: { name: string }) => t.name === 'outer-job');
      expect(outer).toMatchObject({ kind: 'task', state: 'running', parentId: null, children: 2, site: { fn: 'main', file: fixtureFile, line: markedLine(SCRIPT, 'outer') } });
      const limited = await c.ok('ps', { limit: 2 });
      expect(limited.items).toHaveLength(2);
      expect(limited.total).toBe(ps.total);
      const filtered = await c.ok('ps', { filter: 'inner' });
      expect(filtered.items.map((t: { name: string }) => t.name).sort()).toEqual(['inner-job-1', 'inner-job-2']);
      // The alias works too.
      expect((await c.ok('p', { limit: 1 })).items).toHaveLength(1);
    }));

  it('where: a WhereInfo; tree: TreeNodes, whole or under one id', () =>
    session(async (c) => {
      const outer = await taskId(c, 'outer-job');
      const inner = await taskId(c, 'inner-job-2');
      const where = await c.ok('where', { id: inner });
      expect(where).toEqual(
        expect.objectContaining({ id: inner, name: 'inner-job-2', kind: 'task', state: 'running', ageMs: num, site, waitsOn: null, waitsNote: str, stack: expect.any(Array), parents: [{ id: outer, name: 'outer-job' }] }),
      );
      expect(where.stack.length).toBeGreaterThan(0);
      for (const f of where.stack) expect(f).toEqual(frameShape);
      // The id may also come as a string, as the text dialect sends it.
      expect((await c.ok('where', { id: String(inner) })).id).toBe(inner);
      const tree = await c.ok('tree');
      const node = tree.find((n: { id: number }) => n.id === outer);
      expect(node).toEqual({ id: outer, name: 'outer-job', kind: 'task', ageMs: num, children: [expect.objectContaining({ name: 'inner-job-1', children: [] }), expect.objectContaining({ name: 'inner-job-2', children: [] })] });
      expect(tree.some((n: { name: string }) => n.name === 'inner-job-1')).toBe(false);
      const sub = await c.ok('tree', { id: outer });
      expect(sub).toHaveLength(1);
      const shape = (n: { id: number; name: string; children: unknown[] }): unknown => ({ id: n.id, name: n.name, children: n.children.map((k) => shape(k as typeof n)) });
      expect(shape(sub[0])).toEqual(shape(node));
    }));

  it('cancel: a CancelResult; the awaiting code in the app sees an AbortError', () =>
    session(async (c) => {
      const id = await taskId(c, 'cancel-me-json');
      const result = await c.ok('cancel', { id, reason: 'json says stop' });
      expect(result).toEqual({ id: String(id), kind: 'task', action: 'aborted', message: expect.stringContaining(`task ${id} (cancel-me-json) cancelled`) });
      await app.child.waitFor(/^SETTLED cancel-me-json .*$/m);
      expect(app.child.stdout()).toMatch(/^SETTLED cancel-me-json AbortError: json says stop$/m);
      const again = await c.request('cancel', { id });
      expect(again.error).toEqual({ code: 'NO_SUCH_TASK', message: expect.stringContaining('already cancelled') });
      const history = await c.ok('history');
      expect(history).toEqual(page(historyShape));
      expect(history.items[0]).toMatchObject({ id, name: 'cancel-me-json', outcome: 'cancelled', reason: 'json says stop', cancelledBy: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
    }));

  it('handles: a page of HandleInfo with the fixture interval and its callback site', () =>
    session(async (c) => {
      const handles = await c.ok('handles');
      expect(handles).toEqual(page(handleShape));
      expect(handles.items).toContainEqual(
        expect.objectContaining({ kind: 'interval', type: 'Timeout', refed: true, detail: 'every 100ms', callback: { fn: 'fixtureTick', file: fixtureFile, line: markedLine(SCRIPT, 'tick'), column: num } }),
      );
    }));

  it('handles: nothing the agent itself created shows up (the app opened no stdio stream)', () =>
    session(async (c) => {
      // The fixture writes with fs.writeSync only, so the interval is all it holds. The agent's
      // own timers, worker and message port must not be listed, nor a stdio stream it opened.
      const handles = await c.ok('handles');
      expect(handles.items, `handles: ${JSON.stringify(handles.items)}`).toEqual([expect.objectContaining({ kind: 'interval', detail: 'every 100ms' })]);
    }));

  it('history: a page of HistoryEntry, newest first, limit applies', () =>
    session(async (c) => {
      const history = await c.ok('history');
      expect(history).toEqual(page(historyShape));
      const outcomes = history.items.map((h: { outcome: string }) => h.outcome);
      expect(outcomes).toEqual(expect.arrayContaining(['finished', 'failed']));
      const failed = history.items.find((h: { outcome: string }) => h.outcome === 'failed');
      expect(failed.error).toMatch(/^Error: a failure message/);
      const one = await c.ok('history', { limit: 1 });
      expect(one).toEqual({ total: history.total, items: [history.items[0]] });
    }));

  it('stats: a StatsResult; health: a HealthResult; stack: a StackResult', () =>
    session(async (c) => {
      const stats = await c.ok('stats');
      expect(stats).toEqual({ pid: app.pid, node: process.version, uptimeMs: num, tracker: trackerShape, loop: loopShape, counts: { tasks: num, promises: num, resources: num, history: num }, counters: countersShape, blocked: [] });
      const health = await c.ok('health');
      expect(health).toEqual({ status: 'ok', pid: app.pid, node: process.version, uptimeMs: num, blockedMs: 0, stack: [], loop: loopShape, tracker: trackerShape, tasks: num, pendingPromises: expect.toSatisfy((v: unknown) => v === null || typeof v === 'number'), oldestTasks: expect.any(Array) });
      for (const t of health.oldestTasks) expect(t).toEqual(expect.objectContaining(taskShape));
      expect(await c.ok('stack')).toEqual({ blocked: false, blockedMs: 0, frames: [], message: str });
    }));

  it('track, then promises: TrackerStatus and PromisesResult with the fixture site', () =>
    session(async (c) => {
      expect(await c.ok('track', { level: 'promises', stacks: 'on' })).toEqual({ level: 'promises', stacks: 'on', disabledReason: null });
      const line = markedLine(SCRIPT, 'pending');
      let result: { level: string; groups: { items: Array<{ site: { line: number } | null }> } } | null = null;
      const deadline = Date.now() + WAIT_MS;
      while (Date.now() < deadline) {
        result = await c.ok('promises', { limit: 5 });
        if (result!.groups.items.some((g) => g.site?.line === line)) break;
      }
      expect(result).toEqual({ level: 'promises', groups: page({ site: orNull(siteShape), count: num, oldestMs: num }), newest: page({ id: expect.stringMatching(/^p\d+$/), parentId: nullable(str), taskId: nullable(num), ageMs: num, site }), evicted: num });
      expect(result!.groups.items).toContainEqual({ site: { fn: 'fixtureTick', file: fixtureFile, line, column: num }, count: num, oldestMs: num });
      expect(await c.ok('track', { level: 'tasks', stacks: 'off' })).toEqual({ level: 'tasks', stacks: 'off', disabledReason: null });
      expect((await c.ok('promises')).level).toBe('tasks');
    }));

  it('snapshot: a bounded Snapshot', () =>
    session(async (c) => {
      const snap = await c.ok('snapshot', { limit: 2 });
      expect(snap).toEqual({
        format: 'asyncmon-snapshot',
        version: 1,
        pid: app.pid,
        node: process.version,
        uptimeMs: num,
        takenAt: num,
        tracker: trackerShape,
        loop: loopShape,
        tasks: page(taskShape),
        resources: page({}),
        promises: page({}),
        promiseGroups: page({}),
        handles: page(handleShape),
        history: page(historyShape),
        counters: countersShape,
      });
      expect(snap.tasks.items).toHaveLength(2);
      expect(snap.tasks.total).toBeGreaterThan(2);
      expect(snap.history.items.length).toBeLessThanOrEqual(2);
    }));

  it('eval: runs in the main thread, awaits, reads globals; errors come back as errors', () =>
    session(async (c) => {
      expect(await c.ok('eval', { code: '1+1' })).toBe('2');
      expect(await c.ok('eval', { code: 'await new Promise(r => setTimeout(() => r(42), 10))' })).toBe('42');
      expect(await c.ok('eval', { code: 'fixtureGlobal.name' })).toBe("'server-app'");
      expect(await c.ok('eval', { code: 'process.pid' })).toBe(String(app.pid));
      const thrown = await c.request('eval', { code: "throw new Error('boom')" });
      expect(thrown.ok).toBe(false);
      expect(thrown.error).toEqual({ code: 'EVAL_FAILED', message: expect.stringContaining('boom') });
      // The host survived it.
      expect(await c.ok('eval', { code: '2+2' })).toBe('4');
    }));
});

describe('errors: {code, message}, with the id echoed', () => {
  it('UNKNOWN_COMMAND, BAD_ARGUMENT and NO_SUCH_TASK', () =>
    session(async (c) => {
      const expectError = (res: WireMessage, id: unknown, code: string, message?: RegExp) => {
        expect(res.id).toEqual(id);
        expect(res.ok).toBe(false);
        expect(res).not.toHaveProperty('result');
        expect(res.error).toEqual({ code, message: message ? expect.stringMatching(message) : str });
      };
      c.sendRequest('frobnicate', undefined, 11);
      expectError(await c.response(11), 11, 'UNKNOWN_COMMAND', /frobnicate/);
      // Text-only commands are unknown here.
      for (const cmd of ['auth', 'console']) expectError(await c.request(cmd), expect.any(Number), 'UNKNOWN_COMMAND');
      // Lines that are not requests: answered with id null, and the session goes on.
      c.send('{this is not json');
      expectError(await c.response(null), null, 'BAD_ARGUMENT', /invalid JSON/);
      c.send('42');
      expectError(await c.response(null), null, 'BAD_ARGUMENT', /JSON object/);
      c.send('"ps"');
      expectError(await c.response(null), null, 'BAD_ARGUMENT', /JSON object/);
      c.send('[1,2]');
      expectError(await c.response(null), null, 'BAD_ARGUMENT', /JSON object/);
      c.send('{"cmd":"ps"}');
      expectError(await c.response(null), null, 'BAD_ARGUMENT', /id/);
      c.send('{"id":{"x":1},"cmd":"ps"}');
      expectError(await c.response(null), null, 'BAD_ARGUMENT', /id/);
      c.send('{"id":12}');
      expectError(await c.response(12), 12, 'BAD_ARGUMENT', /cmd/);
      // Arguments: unknown keys, wrong types, missing required ones.
      c.sendRequest('ps', { bogus: 1 }, 13);
      expectError(await c.response(13), 13, 'BAD_ARGUMENT', /bogus/);
      c.sendRequest('ps', { limit: 'many' }, 14);
      expectError(await c.response(14), 14, 'BAD_ARGUMENT', /limit/);
      c.sendRequest('ps', { limit: -3 }, 15);
      expectError(await c.response(15), 15, 'BAD_ARGUMENT', /limit/);
      c.sendRequest('ps', { limit: 1.5 }, 16);
      expectError(await c.response(16), 16, 'BAD_ARGUMENT', /limit/);
      c.sendRequest('where', { id: { nested: true } }, 17);
      expectError(await c.response(17), 17, 'BAD_ARGUMENT', /id/);
      c.sendRequest('where', {}, 18);
      expectError(await c.response(18), 18, 'BAD_ARGUMENT', /missing id/);
      c.sendRequest('where', undefined, 19);
      expectError(await c.response(19), 19, 'BAD_ARGUMENT', /missing id/);
      c.sendRequest('ps', [1], 20);
      expectError(await c.response(20), 20, 'BAD_ARGUMENT', /args/);
      c.sendRequest('ps', 'x', 21);
      expectError(await c.response(21), 21, 'BAD_ARGUMENT', /args/);
      c.sendRequest('where', { id: 'abc' }, 22);
      expectError(await c.response(22), 22, 'BAD_ARGUMENT', /not a task id/);
      c.sendRequest('track', { level: 'everything' }, 23);
      expectError(await c.response(23), 23, 'BAD_ARGUMENT', /everything/);
      c.sendRequest('watch', { action: 'sideways' }, 24);
      expectError(await c.response(24), 24, 'BAD_ARGUMENT', /sideways/);
      // No such task.
      c.sendRequest('where', { id: 987654 }, 25);
      expectError(await c.response(25), 25, 'NO_SUCH_TASK', /987654/);
      c.sendRequest('cancel', { id: 987654 }, 26);
      expectError(await c.response(26), 26, 'NO_SUCH_TASK', /987654/);
      c.sendRequest('tree', { id: 987654 }, 27);
      expectError(await c.response(27), 27, 'NO_SUCH_TASK', /987654/);
      // Still fine after all that.
      expect((await c.request('health')).ok).toBe(true);
    }));

  it('echoes string and number ids as given, in order', () =>
    session(async (c) => {
      const ids: Array<number | string> = ['alpha', 7, 'req-42', 0, '', 3.5];
      for (const id of ids) c.sendRequest('health', undefined, id);
      for (const id of ids) {
        const res = await c.response(id);
        expect(res.id).toBe(id);
        expect(res.ok).toBe(true);
      }
      c.sendRequest('nope', undefined, 'err-id');
      expect(await c.response('err-id')).toMatchObject({ id: 'err-id', ok: false, error: { code: 'UNKNOWN_COMMAND' } });
    }));

  it('quit answers ok and closes', () =>
    session(async (c) => {
      c.sendRequest('quit', undefined, 'bye');
      expect(await c.response('bye')).toEqual({ id: 'bye', ok: true, result: null });
      await c.waitClosed();
    }));
});

describe('watch', () => {
  const updateShape = { event: 'update', seq: num, now: num, changes: expect.any(Object), dropped: num };

  /** Waits `ms` and returns the events that arrived meanwhile. */
  async function eventsDuring(c: WireClient, ms: number): Promise<WireMessage[]> {
    await new Promise((r) => setTimeout(r, ms));
    return c.drainEvents();
  }

  /** A request round trip: any update already in flight is written before its answer. */
  async function sync(c: WireClient): Promise<void> {
    await c.ok('ps', { limit: 1 });
    c.drainEvents();
  }

  function medianGap(events: WireMessage[]): number {
    const gaps = events.slice(1).map((e, i) => e.now! - events[i].now!);
    gaps.sort((a, b) => a - b);
    return gaps[Math.floor(gaps.length / 2)];
  }

  it('streams updates at the chosen interval; pause stops them, resume restarts, stop ends', () =>
    session(async (c) => {
      expect(await c.ok('watch', { interval: 200 })).toEqual({ watching: true, paused: false, interval: 200 });
      const fast: WireMessage[] = [];
      for (let i = 0; i < 6; i++) fast.push(await c.nextEvent());
      for (const e of fast) expect(e).toEqual(updateShape);
      expect(fast.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
      // The first update carries everything; later ones only what changed.
      expect(Object.keys(fast[0].changes!)).toEqual(expect.arrayContaining(['health', 'tracker', 'loop', 'tasks', 'handles', 'history', 'counters']));
      expect(fast[0].changes!.health).toEqual({ status: 'ok', blockedMs: 0, stack: [] });
      expect(fast[0].changes!.tasks).toEqual(page(taskShape));
      // Timers never fire early; a loaded machine may make them late, but not five times late.
      const fastGap = medianGap(fast);
      expect(fastGap).toBeGreaterThanOrEqual(160);
      expect(fastGap).toBeLessThan(1000);

      // A new interval applies at once.
      expect(await c.ok('watch', { interval: 700 })).toEqual({ watching: true, paused: false, interval: 700 });
      c.drainEvents();
      const slow: WireMessage[] = [];
      for (let i = 0; i < 4; i++) slow.push(await c.nextEvent());
      const slowGap = medianGap(slow);
      expect(slowGap).toBeGreaterThanOrEqual(560);
      expect(slowGap).toBeGreaterThan(fastGap);
      expect(slow[slow.length - 1].seq).toBeGreaterThan(fast[fast.length - 1].seq!);

      await c.ok('watch', { interval: 200 });
      await c.nextEvent();
      expect(await c.ok('watch', { action: 'pause' })).toEqual({ watching: true, paused: true, interval: 200 });
      await sync(c);
      expect(await eventsDuring(c, 800)).toEqual([]);

      expect(await c.ok('watch', { action: 'resume' })).toEqual({ watching: true, paused: false, interval: 200 });
      const resumed = await c.nextEvent();
      expect(resumed).toEqual(updateShape);
      // After a resume the client gets the whole picture again.
      expect(Object.keys(resumed.changes!)).toEqual(expect.arrayContaining(['health', 'tasks', 'handles']));
      await c.nextEvent();

      expect(await c.ok('watch', { action: 'stop' })).toEqual({ watching: false, paused: false, interval: 0 });
      await sync(c);
      expect(await eventsDuring(c, 800)).toEqual([]);
      const paused = await c.request('watch', { action: 'pause' });
      expect(paused.error?.code).toBe('BAD_ARGUMENT');
      // Requests still work after all that.
      expect((await c.request('health')).ok).toBe(true);
    }));

  it('updates and responses share the connection without mixing', () =>
    session(async (c) => {
      await c.ok('watch', { interval: 100 });
      for (let i = 0; i < 10; i++) {
        const res = await c.request('health');
        expect(res.ok).toBe(true);
        expect(res.result.status).toBe('ok');
      }
      const events = c.drainEvents();
      for (const e of events) expect(e).toEqual(updateShape);
      await c.ok('watch', { action: 'stop' });
    }));
});
