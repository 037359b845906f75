// Host room (the app's main thread): the settings the preload reads from the environment.
import { ENV } from '../../src/defaults.js';
import { parseLevel, parseStacks } from '../../src/levels.js';
import type { Level, StacksMode } from '../../src/model.js';

/** What the environment asks of the agent at start. */
export interface EnvConfig {
  enabled: boolean;
  level?: Level;
  stacks?: StacksMode;
}

/** Reads `ASYNCMON`, `ASYNCMON_TRACK` and `ASYNCMON_STACKS`; throws a one-line error on bad values. */
export function readEnv(env: NodeJS.ProcessEnv = process.env): EnvConfig {
  const out: EnvConfig = { enabled: env[ENV.enabled] !== '0' && env[ENV.enabled] !== 'false' };
  const level = env[ENV.track];
  if (level) out.level = parseLevel(level);
  const stacks = env[ENV.stacks];
  if (stacks) out.stacks = parseStacks(stacks);
  return out;
}

/** What the environment asks of the OpenTelemetry side (see agent/host/metrics.ts). */
export interface OtelEnv {
  /** Look for a global MeterProvider and publish there (`ASYNCMON_OTEL`, default on; `0` turns it off). */
  auto: boolean;
  /** `ASYNCMON_OTEL_STUCK_MS`: a task older than this is stuck. */
  stuckMs?: number;
  /** `ASYNCMON_OTEL_TASK_NAMES=1`: task names as an attribute of the stuck count. */
  taskNames: boolean;
  /** `ASYNCMON_OTEL_SPAN_EVENTS=1`: cancel and stuck events on the task's span. */
  spanEvents: boolean;
}

const on = (v: string | undefined) => v === '1' || v === 'true';
const off = (v: string | undefined) => v === '0' || v === 'false';

/**
 * Reads the `ASYNCMON_OTEL*` variables. Never throws: the agent may be created inside the
 * app's first `task()`, so a bad value is named in `problems` and its default used.
 */
export function readOtelEnv(env: NodeJS.ProcessEnv = process.env): OtelEnv & { problems: string[] } {
  const problems: string[] = [];
  const flag = (name: string, fallback: boolean): boolean => {
    const v = env[name];
    if (v === undefined || v === '') return fallback;
    if (on(v)) return true;
    if (off(v)) return false;
    problems.push(`bad ${name} "${v.slice(0, 40)}": use 1 or 0`);
    return fallback;
  };
  const out: OtelEnv & { problems: string[] } = {
    auto: flag(ENV.otel, true),
    taskNames: flag(ENV.otelTaskNames, false),
    spanEvents: flag(ENV.otelSpanEvents, false),
    problems,
  };
  const stuck = env[ENV.otelStuckMs];
  if (stuck !== undefined && stuck !== '') {
    const n = Number(stuck);
    if (/^\s*\d+\s*$/.test(stuck) && n >= 1) out.stuckMs = n;
    else problems.push(`bad ${ENV.otelStuckMs} "${stuck.slice(0, 40)}": a whole number of milliseconds from 1`);
  }
  return out;
}
