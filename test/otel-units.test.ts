// The OpenTelemetry side in-process: the blocked-episode feed over a real SharedArrayBuffer,
// the lookout's bound, registerMetrics' errors, and a collection that fails inside asyncmon
// (it reports nothing and throws nothing into the app's SDK).
import { afterEach, describe, expect, it } from 'vitest';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { registerMetrics, task } from '../agent/index.js';
import { getAgent } from '../agent/host/agent.js';
import { BlockedFeed } from '../agent/host/blocked-feed.js';
import { readOtelEnv } from '../agent/host/config.js';
import { DEFAULTS } from '../src/defaults.js';
import { thrown } from './helpers/in-process.js';

const SLOT = DEFAULTS.shared;

/** What the sentinel does when an episode ends (agent/worker/sentinel.ts `publish`). */
function episodeEnded(beats: Int32Array, ms: number): void {
  const n = Atomics.load(beats, SLOT.episodesEnded);
  Atomics.store(beats, SLOT.episodeRing + (n % SLOT.episodeRingSize), ms);
  Atomics.store(beats, SLOT.episodesEnded, n + 1);
}

describe('BlockedFeed', () => {
  it('reads ended episodes once per cursor, keeps the last ring-full when more ended, and counts on across monitors', () => {
    const feed = new BlockedFeed();
    expect(feed.watching).toBe(false);
    expect(feed.since(0, [])).toBe(0);
    const beats = new Int32Array(new SharedArrayBuffer(4 * SLOT.slots));
    feed.attach(beats);
    expect(feed.watching).toBe(true);
    episodeEnded(beats, 400);
    episodeEnded(beats, 1200);
    const out: number[] = [];
    let cursor = feed.since(0, out);
    expect(out).toEqual([400, 1200]);
    expect(cursor).toBe(2);
    expect(feed.since(cursor, [])).toBe(2);
    for (let i = 0; i < 20; i++) episodeEnded(beats, 1000 + i);
    const many: number[] = [];
    cursor = feed.since(cursor, many);
    expect(cursor).toBe(22);
    expect(many).toEqual(Array.from({ length: SLOT.episodeRingSize }, (_, i) => 1004 + i));
    // The monitor stops and starts again with a new buffer: the count goes on.
    feed.detach();
    expect(feed.total()).toBe(22);
    const next = new Int32Array(new SharedArrayBuffer(4 * SLOT.slots));
    feed.attach(next);
    episodeEnded(next, 700);
    const after: number[] = [];
    expect(feed.since(cursor, after)).toBe(23);
    expect(after).toEqual([700]);
  });
});

describe('the lookout and registerMetrics', () => {
  const providers: MeterProvider[] = [];
  afterEach(async () => {
    for (const p of providers.splice(0)) await p.shutdown();
  });

  it('looks for a global MeterProvider for a bounded number of ticks, then never again', () => {
    const agent = getAgent();
    const look = agent.loop.lookout;
    expect(typeof look).toBe('function');
    let calls = 0;
    while (!look!() && calls < 1000) calls++;
    expect(calls + 1).toBe(DEFAULTS.otel.lookoutSeconds);
  });

  it('refuses a missing provider, something that is not one, and a bad stuckMs, with clear errors', () => {
    expect(thrown(() => registerMetrics()).message).toMatch(/no MeterProvider is registered/);
    expect(thrown(() => registerMetrics({} as never)).code).toBe('BAD_ARGUMENT');
    expect(thrown(() => registerMetrics(new MeterProvider(), { stuckMs: -1 })).message).toMatch(/stuckMs must be a number of milliseconds from 1/);
  });

  it('bad ASYNCMON_OTEL* values are named, and the defaults used', () => {
    const env = readOtelEnv({ ASYNCMON_OTEL: 'maybe', ASYNCMON_OTEL_STUCK_MS: '5s', ASYNCMON_OTEL_SPAN_EVENTS: '1' });
    expect(env).toEqual({ auto: true, taskNames: false, spanEvents: true, problems: ['bad ASYNCMON_OTEL "maybe": use 1 or 0', 'bad ASYNCMON_OTEL_STUCK_MS "5s": a whole number of milliseconds from 1'] });
  });

  it('a collection that fails inside asyncmon throws nothing at the SDK (no collection error); unregister stops observing', async () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const provider = new MeterProvider({ readers: [reader] });
    providers.push(provider);
    void task('held', () => new Promise(() => {})).catch(() => {});
    const handle = registerMetrics(provider, { stuckMs: 1 });
    const names = async () => (await reader.collect()).resourceMetrics.scopeMetrics.flatMap((s) => s.metrics.map((m) => m.descriptor.name));
    expect(await names()).toContain('asyncmon.task.count');
    const registry = getAgent().registry;
    const all = registry.all;
    registry.all = () => {
      throw new Error('broken');
    };
    try {
      const r = await reader.collect();
      expect(r.errors).toEqual([]);
    } finally {
      registry.all = all;
    }
    handle.unregister();
    handle.unregister();
    let reads = 0;
    registry.all = () => {
      reads++;
      return all.call(registry);
    };
    try {
      await reader.collect();
    } finally {
      registry.all = all;
    }
    expect(reads).toBe(0);
  });
});
