// OpenTelemetry metrics through the app's own MeterProvider, with the real SDK: a fixture app
// (test/fixtures/otel-app.cjs) with known stuck work (two tasks that never settle, an HTTP
// request nobody answers, the loop blocked twice for ~400 ms) registers a MeterProvider with an
// in-memory reader, or the Prometheus exporter, each of the ways the README shows; the test
// reads what the app's reader collects, or scrapes the exporter over HTTP on loopback.
import { afterEach, describe, expect, it } from 'vitest';
import { Cleanups, cliIn } from './helpers/cli.js';
import type { Fixture } from './helpers/cli.js';
import { httpGet, waitUntil } from './helpers/child.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

interface Point {
  attributes: Record<string, string>;
  value: number | { count: number; sum: number; min: number; max: number; buckets: { boundaries: number[]; counts: number[] } };
}
interface Collected {
  metrics: Record<string, { scope: string; unit: string; type: number; points: Point[] }>;
  errors: string[];
}

// sdk-metrics' DataPointType
const HISTOGRAM = 0;
const GAUGE = 2;
const SUM = 3;

async function start(env: Record<string, string>): Promise<{ app: Fixture; ctl: number; dir: string }> {
  const dir = cleanups.runtimeDir();
  const app = await cleanups.fixture('otel-app.cjs', { runtimeDir: dir, preload: false, env: { ASYNCMON_OTEL_STUCK_MS: '500', ...env } });
  return { app, ctl: Number(app.ready.ctl), dir };
}

async function collect(ctl: number): Promise<Collected> {
  return JSON.parse(await httpGet(ctl, '/collect')) as Collected;
}

/** Collects until `pred` holds (the stuck request passes the threshold, the lookout finds the provider). */
async function collectUntil(ctl: number, pred: (c: Collected) => boolean, what: string, timeoutMs = 10_000): Promise<Collected> {
  let last: Collected | null = null;
  try {
    const got = await waitUntil(async () => {
      const c = await collect(ctl);
      last = c;
      return pred(c) ? c : null;
    }, timeoutMs, what);
    return got as Collected;
  } catch (err) {
    throw new Error(`${(err as Error).message}\nlast collection: ${JSON.stringify(last, null, 1)}`);
  }
}

function value(c: Collected, name: string, attrs: Record<string, string> = {}): number | undefined {
  const p = c.metrics[name]?.points.find((pt) => Object.entries(attrs).every(([k, v]) => pt.attributes[k] === v));
  return typeof p?.value === 'number' ? p.value : undefined;
}

const stuckRequest = (c: Collected) => value(c, 'asyncmon.task.stuck.count', { 'asyncmon.task.kind': 'http-server' }) === 1;

describe('OpenTelemetry metrics with the real SDK', () => {
  it('in-memory reader: every instrument with its name, unit, kind and the fixture’s known values; nothing runtime-node publishes; no task name as an attribute', async () => {
    const { ctl } = await start({ OTEL_REGISTER: 'early' });
    const c = await collectUntil(ctl, stuckRequest, 'the hanging request to count as stuck');
    expect(c.errors).toEqual([]);
    const names = Object.keys(c.metrics).sort();
    expect(names).toEqual(
      [
        'asyncmon.agent.evictions',
        'asyncmon.agent.faults',
        'asyncmon.eventloop.blocked.duration',
        'asyncmon.eventloop.blocked.episodes',
        'asyncmon.handle.count',
        'asyncmon.promise.pending.count',
        'asyncmon.task.count',
        'asyncmon.task.oldest.age',
        'asyncmon.task.stuck.count',
      ].sort(),
    );
    for (const [name, m] of Object.entries(c.metrics)) {
      expect(m.scope, name).toBe('asyncmon');
      // OpenTelemetry naming: lowercase, dot-separated, snake_case words.
      expect(name).toMatch(/^asyncmon(\.[a-z][a-z0-9_]*)+$/);
      expect(name).not.toMatch(/^(nodejs|v8js)\./);
    }
    const units = Object.fromEntries(Object.entries(c.metrics).map(([n, m]) => [n, [m.unit, m.type]]));
    expect(units).toEqual({
      'asyncmon.task.count': ['{task}', SUM],
      'asyncmon.task.stuck.count': ['{task}', SUM],
      'asyncmon.task.oldest.age': ['s', GAUGE],
      'asyncmon.eventloop.blocked.episodes': ['{episode}', SUM],
      'asyncmon.eventloop.blocked.duration': ['s', HISTOGRAM],
      'asyncmon.promise.pending.count': ['{promise}', SUM],
      'asyncmon.handle.count': ['{handle}', SUM],
      'asyncmon.agent.faults': ['{fault}', SUM],
      'asyncmon.agent.evictions': ['{entry}', SUM],
    });

    // Two tasks that never settle ('quick' has ended), the hanging request on both sides.
    expect(value(c, 'asyncmon.task.count', { 'asyncmon.task.kind': 'task' })).toBe(2);
    expect(value(c, 'asyncmon.task.count', { 'asyncmon.task.kind': 'http-client' })).toBe(1);
    // The hanging request, and the /collect request being answered.
    expect(value(c, 'asyncmon.task.count', { 'asyncmon.task.kind': 'http-server' })).toBe(2);
    expect(value(c, 'asyncmon.task.stuck.count', { 'asyncmon.task.kind': 'task' })).toBe(2);
    expect(value(c, 'asyncmon.task.stuck.count', { 'asyncmon.task.kind': 'http-client' })).toBe(1);
    expect(value(c, 'asyncmon.task.oldest.age')).toBeGreaterThan(0.5);
    expect(value(c, 'asyncmon.task.oldest.age')).toBeLessThan(60);

    expect(value(c, 'asyncmon.eventloop.blocked.episodes')).toBe(2);
    const hist = c.metrics['asyncmon.eventloop.blocked.duration'].points[0].value as Exclude<Point['value'], number>;
    expect(hist.count).toBe(2);
    expect(hist.min).toBeGreaterThanOrEqual(0.3);
    expect(hist.max).toBeLessThan(2);
    expect(hist.buckets.boundaries).toEqual([0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]);

    expect(value(c, 'asyncmon.promise.pending.count')).toBeGreaterThanOrEqual(2);
    expect(value(c, 'asyncmon.handle.count', { 'asyncmon.handle.type': 'TCPServerWrap' })).toBe(1);
    expect(value(c, 'asyncmon.handle.count', { 'asyncmon.handle.type': 'TCPSocketWrap' })).toBeGreaterThanOrEqual(2);
    expect(value(c, 'asyncmon.agent.faults')).toBe(0);
    for (const table of ['tasks', 'promises', 'resources']) expect(value(c, 'asyncmon.agent.evictions', { 'asyncmon.table': table })).toBe(0);

    // Bounded attributes: kinds, handle types and tables only.
    const keys = new Set(Object.values(c.metrics).flatMap((m) => m.points.flatMap((p) => Object.keys(p.attributes))));
    expect([...keys].sort()).toEqual(['asyncmon.handle.type', 'asyncmon.table', 'asyncmon.task.kind']);
    expect(JSON.stringify(c)).not.toContain('sync-users');

    // A second collection records no episode twice.
    const again = await collect(ctl);
    expect((again.metrics['asyncmon.eventloop.blocked.duration'].points[0].value as { count: number }).count).toBe(2);
    expect(value(again, 'asyncmon.eventloop.blocked.episodes')).toBe(2);
  });

  it('task names as an attribute only when asked (ASYNCMON_OTEL_TASK_NAMES=1)', async () => {
    const { ctl } = await start({ OTEL_REGISTER: 'early', ASYNCMON_OTEL_TASK_NAMES: '1' });
    const c = await collectUntil(ctl, (x) => (x.metrics['asyncmon.task.stuck.count']?.points ?? []).some((p) => p.attributes['asyncmon.task.kind'] === 'http-server'), 'the stuck request');
    const stuck = c.metrics['asyncmon.task.stuck.count'].points.map((p) => [p.attributes['asyncmon.task.kind'], p.attributes['asyncmon.task.name'], p.value]);
    expect(stuck).toEqual(
      expect.arrayContaining([
        ['task', 'sync-users', 1],
        ['task', 'GET /users/42', 1],
      ]),
    );
    // The live counts keep their kind alone.
    expect(c.metrics['asyncmon.task.count'].points.every((p) => p.attributes['asyncmon.task.name'] === undefined)).toBe(true);
  });

  for (const mode of ['explicit', 'instrument', 'late'] as const) {
    it(`${mode === 'explicit' ? 'registerMetrics(meterProvider)' : mode === 'instrument' ? 'asyncmonInstrumentation() through registerInstrumentations' : 'a global provider registered after the agent started (the lookout)'} publishes the same figures`, async () => {
      const { ctl } = await start({ OTEL_REGISTER: mode });
      const c = await collectUntil(ctl, stuckRequest, 'the figures');
      expect(value(c, 'asyncmon.task.count', { 'asyncmon.task.kind': 'task' })).toBe(2);
      expect(value(c, 'asyncmon.eventloop.blocked.episodes')).toBe(2);
      const internals = JSON.parse(await httpGet(ctl, '/internals')) as { registrations: number };
      expect(internals.registrations).toBe(1);
    });
  }

  it('no provider: nothing is registered; ASYNCMON_OTEL=0: a global provider is left alone', async () => {
    const none = await start({ OTEL_REGISTER: 'none' });
    const off = await start({ OTEL_REGISTER: 'early', ASYNCMON_OTEL: '0' });
    // The lookout looks once a second: give it two looks.
    await new Promise((r) => setTimeout(r, 2200));
    for (const { ctl } of [none, off]) {
      expect(JSON.parse(await httpGet(ctl, '/internals'))).toEqual({ registrations: 0 });
      expect(Object.keys((await collect(ctl)).metrics)).toEqual([]);
    }
  });

  it('the real Prometheus exporter, scraped over HTTP on loopback', async () => {
    const { ctl } = await start({ OTEL_REGISTER: 'early', OTEL_READER: 'prometheus' });
    let text = '';
    await waitUntil(async () => {
      text = await httpGet(ctl, '/metrics');
      return /asyncmon_task_stuck_count\{asyncmon_task_kind="http-server"[^}]*\} 1\n/.test(text);
    }, 10_000, 'the stuck request in the scrape').catch((err: Error) => {
      throw new Error(`${err.message}\n${text}`);
    });
    const sample = (name: string, labels = ''): number => {
      const m = text.match(new RegExp(`^${name}\\{${labels}[^}]*\\} (\\S+)$`, 'm'));
      if (!m) throw new Error(`no ${name}{${labels}} in\n${text}`);
      return Number(m[1]);
    };
    expect(text).toContain('# TYPE asyncmon_task_count gauge');
    expect(text).toContain('# UNIT asyncmon_task_oldest_age s');
    expect(text).toContain('# TYPE asyncmon_eventloop_blocked_episodes_total counter');
    expect(text).toContain('# TYPE asyncmon_eventloop_blocked_duration histogram');
    expect(sample('asyncmon_task_count', 'asyncmon_task_kind="task"')).toBe(2);
    expect(sample('asyncmon_task_stuck_count', 'asyncmon_task_kind="task"')).toBe(2);
    expect(sample('asyncmon_task_oldest_age')).toBeGreaterThan(0.5);
    expect(sample('asyncmon_eventloop_blocked_episodes_total')).toBe(2);
    expect(sample('asyncmon_eventloop_blocked_duration_count')).toBe(2);
    expect(sample('asyncmon_eventloop_blocked_duration_bucket', 'otel_scope_name="asyncmon",otel_scope_version="[^"]+",le="0.25"')).toBe(0);
    expect(sample('asyncmon_eventloop_blocked_duration_bucket', 'otel_scope_name="asyncmon",otel_scope_version="[^"]+",le="\\+Inf"')).toBe(2);
    expect(sample('asyncmon_handle_count', 'asyncmon_handle_type="TCPServerWrap"')).toBe(1);
    expect(sample('asyncmon_agent_faults_total')).toBe(0);
    expect(text).not.toMatch(/^(nodejs|v8js)_/m);
  });
});

describe('span events (opt-in)', () => {
  interface Events {
    [name: string]: { recording: boolean; events: Array<{ name: string; attributes: Record<string, unknown> }> };
  }

  it('a task cancelled through asyncmon, or found stuck by check, adds an event to its span while it records; once per stuck task', async () => {
    const { app, ctl, dir } = await start({ OTEL_REGISTER: 'none', OTEL_SPANS: '1', ASYNCMON_OTEL_SPAN_EVENTS: '1' });
    const ids = app.ready.ids as { cancel: number; stuck: number; ended: number };
    const cli = cliIn(dir);
    const cancelled = await cli('cancel', String(ids.cancel), 'test', 'says', 'so', '-t', String(app.pid));
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect((await cli('cancel', String(ids.ended), '-t', String(app.pid))).code).toBe(0);
    for (let i = 0; i < 2; i++) {
      const checked = await cli('check', '--max-task-age', '200ms', '-t', String(app.pid));
      expect(checked.code, checked.stdout + checked.stderr).toBe(1);
      expect(checked.stdout).toContain('traced-stuck');
    }
    const events = JSON.parse(await httpGet(ctl, '/events')) as Events;
    expect(events['traced-cancel'].events).toEqual([
      {
        name: 'asyncmon.task.cancelled',
        attributes: expect.objectContaining({ 'asyncmon.task.id': ids.cancel, 'asyncmon.cancel.reason': 'test says so', 'asyncmon.cancel.action': 'aborted', 'asyncmon.cancel.by': expect.any(String) }) as unknown,
      },
    ]);
    expect(events['traced-stuck'].events).toEqual([
      { name: 'asyncmon.task.stuck', attributes: expect.objectContaining({ 'asyncmon.task.id': ids.stuck, 'asyncmon.task.threshold': 0.2, 'asyncmon.found_by': 'check' }) as unknown },
    ]);
    expect((events['traced-stuck'].events[0].attributes['asyncmon.task.age'] as number) > 0.2).toBe(true);
    // Its span had ended before: not recording, no event.
    expect(events['traced-ended']).toEqual({ recording: false, events: [] });
  });

  it('off by default: no event on any span', async () => {
    const { app, ctl, dir } = await start({ OTEL_REGISTER: 'none', OTEL_SPANS: '1' });
    const ids = app.ready.ids as { cancel: number };
    const cli = cliIn(dir);
    expect((await cli('cancel', String(ids.cancel), '-t', String(app.pid))).code).toBe(0);
    expect((await cli('check', '--max-task-age', '200ms', '-t', String(app.pid))).code).toBe(1);
    const events = JSON.parse(await httpGet(ctl, '/events')) as Events;
    for (const name of ['traced-cancel', 'traced-stuck']) expect(events[name].events, name).toEqual([]);
  });
});
