// Host room (the app's main thread): asyncmon's figures as OpenTelemetry metrics, published
// through the app's own MeterProvider.
import { performance } from 'node:perf_hooks';
import type { BatchObservableCallback, BatchObservableResult, Histogram, Meter, MeterProvider, Observable } from '@opentelemetry/api';
import { DEFAULTS } from '../../src/defaults.js';
import { AsyncmonError } from '../../src/errors.js';
import type { TaskKind } from '../../src/model.js';
import { getAgent, whenAgentExists } from './agent.js';
import type { Agent } from './agent.js';
import { readOtelEnv } from './config.js';
import { countResources } from './loop-monitor.js';
import { version, warn } from './monitor.js';
import { otelGlobal } from './otel.js';

/** Options of `registerMetrics` and `asyncmonInstrumentation`. */
export interface MetricsOptions {
  /** A live task older than this (ms) counts in `asyncmon.task.stuck.count` (default 30 000, or `ASYNCMON_OTEL_STUCK_MS`). */
  stuckMs?: number;
  /**
   * Also give `asyncmon.task.stuck.count` an `asyncmon.task.name` attribute (default off, or
   * `ASYNCMON_OTEL_TASK_NAMES=1`). Names hold URLs (`GET /users/42`): at most 50 distinct
   * names per collection, the rest as `(other)`.
   */
  taskNames?: boolean;
  /**
   * Add an event to a task's span when asyncmon cancels it (`asyncmon.task.cancelled`) or
   * `check` finds it stuck (`asyncmon.task.stuck`), while that span still records. Default
   * off (or `ASYNCMON_OTEL_SPAN_EVENTS=1`); tasks started after it is on hold their span.
   */
  spanEvents?: boolean;
}

/** A registration of asyncmon's instruments with one MeterProvider. */
export interface MetricsHandle {
  readonly meterProvider: MeterProvider;
  /** Stops observing (the instruments stay with the provider, and report nothing more). */
  unregister(): void;
}

const KINDS: readonly TaskKind[] = ['task', 'http-server', 'http-client'];
const OTHER = '(other)';

interface Registration extends MetricsHandle {
  auto: boolean;
}

/** One per process, shared by every copy of the package (like the agent). */
interface MetricsState {
  regs: Map<MeterProvider, Registration>;
  lookout: boolean;
  explicit: boolean;
}

const STATE_KEY = Symbol.for('asyncmon.metrics.v1');

function state(): MetricsState {
  const g = globalThis as Record<symbol, MetricsState | undefined>;
  let s = g[STATE_KEY];
  if (!s) {
    s = { regs: new Map(), lookout: false, explicit: false };
    Object.defineProperty(globalThis, STATE_KEY, { value: s, configurable: true, enumerable: false });
  }
  return s;
}

interface Resolved {
  stuckMs: number;
  taskNames: boolean;
}

function resolve(opts: MetricsOptions): Resolved {
  const env = readOtelEnv();
  const stuckMs = opts.stuckMs ?? env.stuckMs ?? DEFAULTS.otel.stuckMs;
  if (typeof stuckMs !== 'number' || !Number.isFinite(stuckMs) || stuckMs < 1) throw new AsyncmonError('BAD_ARGUMENT', `stuckMs must be a number of milliseconds from 1, not ${String(stuckMs)}`);
  return { stuckMs, taskNames: opts.taskNames ?? env.taskNames };
}

function isMeterProvider(p: unknown): p is MeterProvider {
  return typeof p === 'object' && p !== null && typeof (p as MeterProvider).getMeter === 'function';
}

/**
 * Publishes asyncmon's figures through `meterProvider` (default: the one registered with
 * `@opentelemetry/api`, which must then exist): observable instruments, read only when the
 * provider collects. Registering the same provider again replaces the earlier registration.
 * Throws a clear error for a bad provider or option; never afterwards.
 */
export function registerMetrics(meterProvider?: MeterProvider, opts: MetricsOptions = {}): MetricsHandle {
  const provider = meterProvider ?? (otelGlobal()?.metrics as MeterProvider | undefined);
  if (provider === undefined) throw new AsyncmonError('UNAVAILABLE', 'no MeterProvider is registered with @opentelemetry/api: pass one, or call this after the SDK has started');
  if (!isMeterProvider(provider)) throw new AsyncmonError('BAD_ARGUMENT', 'registerMetrics takes a MeterProvider (an object with getMeter)');
  const s = state();
  s.explicit = true;
  return register(getAgent(), provider, opts, false);
}

function register(agent: Agent, provider: MeterProvider, opts: MetricsOptions, auto: boolean): Registration {
  const settings = resolve(opts);
  if (opts.spanEvents !== undefined) agent.spanEvents = opts.spanEvents === true;
  const s = state();
  s.regs.get(provider)?.unregister();
  const meter = provider.getMeter('asyncmon', version());
  const instruments = create(meter);
  const observables = instruments.observables;
  const callback: BatchObservableCallback = (result) => {
    try {
      observe(agent, instruments, settings, result);
    } catch {}
  };
  meter.addBatchObservableCallback(callback, observables);
  let done = false;
  const reg: Registration = {
    meterProvider: provider,
    auto,
    unregister() {
      if (done) return;
      done = true;
      try {
        meter.removeBatchObservableCallback(callback, observables);
      } catch {}
      if (s.regs.get(provider) === reg) s.regs.delete(provider);
    },
  };
  s.regs.set(provider, reg);
  return reg;
}

interface Instruments {
  tasks: Observable;
  stuck: Observable;
  oldest: Observable;
  episodes: Observable;
  pending: Observable;
  handles: Observable;
  faults: Observable;
  evictions: Observable;
  observables: Observable[];
  duration: Histogram;
  /** Blocked episodes already recorded in `duration`. */
  cursor: number;
  /** The last value of each counter, so a counter never goes down. */
  last: Map<string, number>;
}

function create(meter: Meter): Instruments {
  const tasks = meter.createObservableUpDownCounter('asyncmon.task.count', { description: 'Live tasks: task(), incoming and outgoing HTTP requests, by kind', unit: '{task}' });
  const stuck = meter.createObservableUpDownCounter('asyncmon.task.stuck.count', { description: 'Live tasks older than the stuck threshold, by kind', unit: '{task}' });
  const oldest = meter.createObservableGauge('asyncmon.task.oldest.age', { description: 'Age of the oldest live task (0 when there is none)', unit: 's' });
  const episodes = meter.createObservableCounter('asyncmon.eventloop.blocked.episodes', { description: "Episodes of the event loop blocked past the monitor's staleMs, seen by its worker (ended ones)", unit: '{episode}' });
  const duration = meter.createHistogram('asyncmon.eventloop.blocked.duration', {
    description: 'How long each blocked-loop episode lasted (recorded at collection)',
    unit: 's',
    advice: { explicitBucketBoundaries: [...DEFAULTS.otel.blockedBuckets] },
  });
  const pending = meter.createObservableUpDownCounter('asyncmon.promise.pending.count', { description: 'Pending promises, while the promises level tracks them', unit: '{promise}' });
  const handles = meter.createObservableUpDownCounter('asyncmon.handle.count', { description: "Handles keeping the process alive, by type (the agent's own left out)", unit: '{handle}' });
  const faults = meter.createObservableCounter('asyncmon.agent.faults', { description: "Internal errors caught in the agent's hooks", unit: '{fault}' });
  const evictions = meter.createObservableCounter('asyncmon.agent.evictions', { description: "Entries the agent's bounded tables dropped, by table", unit: '{entry}' });
  return {
    tasks,
    stuck,
    oldest,
    episodes,
    pending,
    handles,
    faults,
    evictions,
    observables: [tasks, stuck, oldest, episodes, pending, handles, faults, evictions],
    duration,
    cursor: 0,
    last: new Map(),
  };
}

/** A counter's value, never below what it reported before (a table's count restarting). */
function monotonic(ins: Instruments, key: string, value: number): number {
  const prev = ins.last.get(key) ?? 0;
  const v = Math.max(prev, value);
  ins.last.set(key, v);
  return v;
}

/** One pass over what the agent holds; bounded by its tables' caps. */
function observe(agent: Agent, ins: Instruments, settings: Resolved, r: BatchObservableResult): void {
  const now = performance.now();
  const before = now - settings.stuckMs;
  const live: Record<string, number> = { task: 0, 'http-server': 0, 'http-client': 0 };
  const stuck: Record<string, number> = { task: 0, 'http-server': 0, 'http-client': 0 };
  const named = settings.taskNames ? new Map<string, number>() : null;
  let oldest = now;
  for (const rec of agent.registry.all()) {
    live[rec.kind] = (live[rec.kind] ?? 0) + 1;
    if (rec.startMono < oldest) oldest = rec.startMono;
    if (rec.startMono <= before) {
      if (named) {
        const name = named.has(`${rec.kind}\n${rec.name}`) || named.size < DEFAULTS.otel.maxNames ? rec.name : OTHER;
        const key = `${rec.kind}\n${name}`;
        named.set(key, (named.get(key) ?? 0) + 1);
      } else stuck[rec.kind] = (stuck[rec.kind] ?? 0) + 1;
    }
  }
  for (const kind of KINDS) r.observe(ins.tasks, live[kind], { 'asyncmon.task.kind': kind });
  if (named) {
    for (const [key, n] of named) {
      const at = key.indexOf('\n');
      r.observe(ins.stuck, n, { 'asyncmon.task.kind': key.slice(0, at), 'asyncmon.task.name': key.slice(at + 1) });
    }
  } else {
    for (const kind of KINDS) r.observe(ins.stuck, stuck[kind], { 'asyncmon.task.kind': kind });
  }
  r.observe(ins.oldest, (now - oldest) / 1000);

  // Episodes are seen by the monitor's worker: without it, no figure rather than a false 0.
  const feed = agent.blocked;
  if (feed.watching || feed.total() > 0) {
    const durations: number[] = [];
    ins.cursor = feed.since(ins.cursor, durations);
    for (const ms of durations) ins.duration.record(ms / 1000);
    r.observe(ins.episodes, monotonic(ins, 'episodes', feed.total()));
  }

  if (agent.promises.enabled) r.observe(ins.pending, agent.promises.size);

  const types = countResources();
  let other = 0;
  let distinct = 0;
  for (const type of Object.keys(types)) {
    if (distinct++ < DEFAULTS.otel.maxHandleTypes) r.observe(ins.handles, types[type], { 'asyncmon.handle.type': type });
    else other += types[type];
  }
  if (other > 0) r.observe(ins.handles, other, { 'asyncmon.handle.type': OTHER });

  r.observe(ins.faults, monotonic(ins, 'faults', agent.guard.total));
  r.observe(ins.evictions, monotonic(ins, 'tasks', agent.registry.dropped), { 'asyncmon.table': 'tasks' });
  r.observe(ins.evictions, monotonic(ins, 'promises', agent.promises.evicted), { 'asyncmon.table': 'promises' });
  r.observe(ins.evictions, monotonic(ins, 'resources', agent.resources.evicted), { 'asyncmon.table': 'resources' });
}

/**
 * What the app passes to its SDK (`new NodeSDK({ instrumentations: [asyncmonInstrumentation()] })`
 * or `registerInstrumentations`): the SDK hands it its MeterProvider, and the instruments are
 * created on that provider then, the way instrumentation-runtime-node does. The shape of
 * `@opentelemetry/instrumentation`'s `Instrumentation`, without depending on it.
 */
export interface AsyncmonInstrumentation {
  readonly instrumentationName: string;
  readonly instrumentationVersion: string;
  enable(): void;
  disable(): void;
  setTracerProvider(tracerProvider: unknown): void;
  setMeterProvider(meterProvider: MeterProvider): void;
  setConfig(config: MetricsOptions & { enabled?: boolean }): void;
  getConfig(): MetricsOptions & { enabled: boolean };
}

export function asyncmonInstrumentation(opts: MetricsOptions = {}): AsyncmonInstrumentation {
  resolve(opts);
  let config: MetricsOptions & { enabled: boolean } = { ...opts, enabled: true };
  let provider: MeterProvider | null = null;
  let handle: MetricsHandle | null = null;
  const attach = () => {
    handle?.unregister();
    handle = null;
    if (provider && config.enabled) {
      const { enabled: _enabled, ...options } = config;
      void _enabled;
      handle = registerMetrics(provider, options);
    }
  };
  return {
    instrumentationName: 'asyncmon',
    instrumentationVersion: version(),
    enable() {
      config.enabled = true;
      // Enabled before any provider was given: the one registered globally, if there is one.
      if (!provider && isMeterProvider(otelGlobal()?.metrics)) provider = otelGlobal()?.metrics as MeterProvider;
      attach();
    },
    disable() {
      config.enabled = false;
      attach();
    },
    setTracerProvider() {},
    setMeterProvider(meterProvider: MeterProvider) {
      if (!isMeterProvider(meterProvider)) return;
      provider = meterProvider;
      if (config.enabled) attach();
    },
    setConfig(next) {
      resolve(next);
      config = { ...config, ...next, enabled: next.enabled ?? config.enabled };
      if (handle || config.enabled) attach();
    },
    getConfig() {
      return { ...config };
    },
  };
}

/**
 * Without code: once the agent exists, it looks for a MeterProvider registered with
 * `@opentelemetry/api` (a property of its global), now and then once a second on the loop
 * monitor's timer for `DEFAULTS.otel.lookoutSeconds`, then never again. Nothing is created
 * until one is found; `ASYNCMON_OTEL=0`, or any explicit registration, ends the lookout.
 */
function lookout(agent: Agent): void {
  const s = state();
  if (s.lookout) return;
  s.lookout = true;
  const env = readOtelEnv();
  if (env.problems.length > 0) warn(env.problems.join('; '));
  if (!env.auto) return;
  const found = (): boolean => {
    if (s.explicit) return true;
    const provider = otelGlobal()?.metrics;
    if (!isMeterProvider(provider)) return false;
    if (!s.regs.has(provider)) register(agent, provider, {}, true);
    return true;
  };
  if (found()) return;
  let ticks = 0;
  agent.loop.lookout = () => found() || ++ticks >= DEFAULTS.otel.lookoutSeconds;
}

whenAgentExists((agent) => {
  try {
    lookout(agent);
  } catch {}
});
