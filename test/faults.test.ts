// Faults inside the agent's hooks never reach the app: each is caught and counted, and after
// repeated ones the tracker turns itself off, says why, and can be turned on again. Faults are
// injected through the guard's test seam (`guard.injected = N`: the next N hook calls throw).
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { snapshot, task, track } from '../agent/index.js';
import { getAgent } from '../agent/host/agent.js';
import { DEFAULTS } from '../src/defaults.js';
import { waitUntil } from './helpers/child.js';
import { found, gate } from './helpers/in-process.js';

const agent = getAgent();
const guard = agent.guard;

/** Work an app does: promises, a task, timers, a nested task. Returns what it computed. */
async function appWork(): Promise<number> {
  const a = await Promise.all([1, 2, 3].map(async (n) => n * 2));
  const b = await task('app-work', async () => {
    await sleep(1);
    return task('app-work-inner', () => Promise.resolve(10));
  });
  const c = await new Promise<number>((r) => setTimeout(() => r(100), 1));
  return a.reduce((x, y) => x + y, 0) + b + c;
}

/** A GET against a throwaway local server; resolves with the body. */
async function httpRoundTrip(path: string): Promise<string> {
  const server = http.createServer((req, res) => res.end(`hello ${req.url}`));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    return await new Promise<string>((res, rej) => {
      http
        .get({ host: '127.0.0.1', port, path, agent: false }, (r) => {
          let body = '';
          r.setEncoding('utf8');
          r.on('data', (d: string) => (body += d));
          r.on('end', () => res(body));
        })
        .on('error', rej);
    });
  } finally {
    server.close();
  }
}

const uncaught: unknown[] = [];
const onUncaught = (err: unknown) => uncaught.push(err);
beforeAll(() => {
  // Keep every request in history: these tests look requests up there.
  getAgent().registry.httpHistoryMinMs = 0;
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  return () => {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
  };
});

afterEach(() => {
  guard.injected = 0;
  track('tasks', 'off');
  expect(uncaught).toEqual([]);
});

describe('a few faults', () => {
  it('are caught and counted in promise hooks, and the app’s promises and tasks still work', async () => {
    track('promises', 'on');
    expect(guard.count).toBe(0);
    guard.injected = 3;
    expect(await appWork()).toBe(12 + 10 + 100);
    await waitUntil(() => guard.injected === 0, 5000, 'the injected faults to be hit');
    expect(guard.count).toBe(3);
    const s = snapshot({ handles: false });
    expect(s.counters.faults).toBe(3);
    expect(s.tracker).toEqual({ level: 'promises', stacks: 'on', disabledReason: null });
    expect(agent.promises.enabled).toBe(true);
    // The tracker still tracks after the faults.
    const hold = gate();
    const p = task('after-faults', async () => {
      await hold.promise;
    });
    const { id } = await found(() => snapshot({ handles: false }).tasks.items.find((t) => t.name === 'after-faults'), 'task');
    expect(snapshot({ handles: false, limit: 10_000 }).promises.items.some((x) => x.taskId === id)).toBe(true);
    hold.open();
    await p;
  });

  it('are caught and counted in resource hooks, and timers still fire', async () => {
    track('resources', 'off');
    guard.injected = 2;
    let fired = 0;
    setTimeout(() => fired++, 1);
    setTimeout(() => fired++, 1);
    setImmediate(() => fired++);
    await waitUntil(() => fired === 3, 5000, 'timers and the immediate to fire');
    expect(guard.injected).toBe(0);
    expect(guard.count).toBe(2);
    expect(snapshot({ handles: false }).tracker).toMatchObject({ level: 'resources', disabledReason: null });
    expect(agent.resources.enabled).toBe(true);
  });

  it('are caught and counted in the HTTP subscriptions, and requests are still answered', async () => {
    track('tasks');
    guard.injected = 1;
    expect(await httpRoundTrip('/with-a-fault')).toBe('hello /with-a-fault');
    expect(guard.injected).toBe(0);
    expect(guard.count).toBe(1);
    // The next request, with no fault, is tracked again.
    expect(await httpRoundTrip('/tracked')).toBe('hello /tracked');
    const inHistory = () => snapshot({ handles: false }).history.items.find((h) => h.name === 'GET /tracked' && h.kind === 'http-server');
    await waitUntil(inHistory, 5000, 'request in history');
  });
});

describe('repeated faults', () => {
  it('disable the tracker: reason on record, back to tasks level, promises off, the app unharmed', async () => {
    track('promises', 'on');
    const hold = gate<string>();
    const survivor = task('survives-the-trip', () => hold.promise);
    guard.injected = DEFAULTS.maxFaults;
    expect(DEFAULTS.maxFaults).toBeGreaterThanOrEqual(10);

    // Each promise the app makes runs the init hook, which now throws inside its try/catch.
    const values = await Promise.all(Array.from({ length: 20 }, (_, i) => Promise.resolve(i)));
    expect(values).toHaveLength(20);
    await waitUntil(() => snapshot({ handles: false }).tracker.disabledReason !== null, 5000, 'the tracker to trip');

    const s = snapshot({ handles: false });
    expect(s.tracker.level).toBe('tasks');
    expect(s.tracker.disabledReason).toMatch(new RegExp(`tracker disabled after ${DEFAULTS.maxFaults} internal errors .*injected fault`));
    expect(s.counters.faults).toBeGreaterThanOrEqual(DEFAULTS.maxFaults);
    expect(agent.promises.enabled).toBe(false);
    expect(agent.resources.enabled).toBe(false);
    expect(s.promises).toEqual({ total: 0, items: [] });

    // Tasks are kept, and the app goes on: promises, tasks, timers, HTTP.
    expect(s.tasks.items.some((t) => t.name === 'survives-the-trip')).toBe(true);
    expect(await appWork()).toBe(122);
    expect(await httpRoundTrip('/after-trip')).toBe('hello /after-trip');
    hold.open('still here');
    expect(await survivor).toBe('still here');
    expect(snapshot({ handles: false }).history.items.find((h) => h.name === 'survives-the-trip')).toMatchObject({ outcome: 'finished' });
  });

  it('can be undone: track(promises) turns the tracker on again and clears the reason', async () => {
    track('promises', 'on');
    guard.injected = DEFAULTS.maxFaults;
    await Promise.all(Array.from({ length: 20 }, (_, i) => Promise.resolve(i)));
    await waitUntil(() => agent.disabledReason !== null, 5000, 'the tracker to trip');
    expect(agent.promises.enabled).toBe(false);

    const status = track('promises');
    expect(status).toEqual({ level: 'promises', stacks: 'on', disabledReason: null });
    expect(guard.count).toBe(0);
    expect(agent.promises.enabled).toBe(true);
    const hold = gate();
    const p = task('re-enabled', async () => {
      await hold.promise;
    });
    const { id } = await found(() => snapshot({ handles: false }).tasks.items.find((t) => t.name === 're-enabled'), 'task');
    const s = snapshot({ handles: false, limit: 10_000 });
    expect(s.tracker.disabledReason).toBeNull();
    expect(s.promises.items.some((x) => x.taskId === id)).toBe(true);
    // HTTP requests are tasks again too.
    expect(await httpRoundTrip('/re-enabled')).toBe('hello /re-enabled');
    await waitUntil(() => snapshot({ handles: false }).history.items.find((h) => h.name === 'GET /re-enabled'), 5000, 'request in history');
    hold.open();
    await p;
  });

  it('at resources level disable the resource hook too', async () => {
    track('resources', 'off');
    guard.injected = DEFAULTS.maxFaults;
    let fired = 0;
    for (let i = 0; i < 20; i++) setTimeout(() => fired++, 1);
    await waitUntil(() => fired === 20, 5000, 'the timers to fire');
    await waitUntil(() => agent.disabledReason !== null, 5000, 'the tracker to trip');
    expect(agent.resources.enabled).toBe(false);
    expect(snapshot({ handles: false }).resources).toEqual({ total: 0, items: [] });
    expect(agent.level).toBe('tasks');
  });
});
