// Host room (the app's main thread): runs the commands the worker forwards, against the app's
// state.
import { performance } from 'node:perf_hooks';
import { inspect } from 'node:util';
import { runInThisContext } from 'node:vm';
import type { Args } from '../../src/commands.js';
import { DEFAULTS } from '../../src/defaults.js';
import { AsyncmonError } from '../../src/errors.js';
import { parseLevel, parseStacks } from '../../src/levels.js';
import type { PromisesResult, StatsResult, TaskPage } from '../../src/model.js';
import { traceFilter, traceMatches } from '../../src/trace.js';
import type { Agent } from './agent.js';
import { spanEvent } from './otel.js';
import { collectPromises, guardRejections } from './rejection-guard.js';
import { cancelById, listHandles, listHistory, listTasks, takeSnapshot, taskTree, whereTask } from './queries.js';

type Handler = (agent: Agent, args: Args, by: string) => unknown;

/** A client-given limit, capped: a list is built on the host's main thread. */
const num = (v: unknown, fallback: number) => Math.min(DEFAULTS.maxListLimit, typeof v === 'number' ? v : fallback);

function ps(agent: Agent, args: Args): TaskPage {
  const limit = num(args.limit, DEFAULTS.snapshotLimit);
  const filter = typeof args.filter === 'string' ? args.filter.toLowerCase() : '';
  // `older`: what `check --max-task-age` asks, to name every task over the age and count them.
  const startedBefore = typeof args.older === 'number' ? performance.now() - args.older : Infinity;
  // `trace`: the tasks of the trace a user is looking at in their tracing backend.
  const trace = typeof args.trace === 'string' ? traceFilter(args.trace) : null;
  if (!filter && startedBefore === Infinity && trace === null) return listTasks(agent, limit);
  const page: TaskPage = listTasks(
    agent,
    limit,
    (rec) => rec.startMono < startedBefore && (!filter || rec.name.toLowerCase().includes(filter) || rec.kind.includes(filter)) && (trace === null || traceMatches(rec.traceId, trace)),
  );
  if (trace !== null) page.trace = trace;
  // `check --max-task-age` says the tasks it found are stuck: each one's span hears of it, once.
  if (args.stuck === true && startedBefore !== Infinity && agent.spanEvents) noteStuck(agent, startedBefore, filter, typeof args.older === 'number' ? args.older : 0);
  return page;
}

/** A `asyncmon.task.stuck` event on the span of every task started before `startedBefore`, once per task. */
function noteStuck(agent: Agent, startedBefore: number, filter: string, olderMs: number): void {
  const now = performance.now();
  for (const rec of agent.registry.all()) {
    if (rec.startMono >= startedBefore || rec.stuckNoted || !rec.span) continue;
    if (filter && !rec.name.toLowerCase().includes(filter) && !rec.kind.includes(filter)) continue;
    rec.stuckNoted = true;
    spanEvent(rec.span, 'asyncmon.task.stuck', { 'asyncmon.task.id': rec.id, 'asyncmon.task.age': (now - rec.startMono) / 1000, 'asyncmon.task.threshold': olderMs / 1000, 'asyncmon.found_by': 'check' });
  }
}

function promises(agent: Agent, args: Args): PromisesResult {
  const limit = num(args.limit, 20);
  const groups = agent.promises.groups(limit, 5000);
  return {
    level: agent.level,
    groups,
    newest: { total: agent.promises.size, items: agent.promises.newest(limit) },
    evicted: agent.promises.evicted,
  };
}

/** Everything but blocked episodes, which the worker knows and adds. */
export function stats(agent: Agent): StatsResult {
  return {
    pid: process.pid,
    node: process.version,
    uptimeMs: Math.round(process.uptime() * 1000),
    tracker: agent.status(),
    loop: agent.loop.stats(),
    counts: { tasks: agent.registry.size, promises: agent.promises.size, resources: agent.resources.size, history: agent.registry.historySize },
    counters: {
      tasksDropped: agent.registry.dropped,
      promisesEvicted: agent.promises.evicted,
      resourcesEvicted: agent.resources.evicted,
      faults: agent.guard.count,
    },
    blocked: [],
  };
}

/** Evaluates code in the main context; a throw is the caller's, not the agent's, error. */
async function evaluate(code: string): Promise<string> {
  try {
    return await evaluateRaw(code);
  } catch (err) {
    const what = err instanceof Error ? `${err.name}: ${err.message}` : inspect(err, { depth: 1 });
    throw new AsyncmonError('EVAL_FAILED', `Uncaught ${what}`);
  }
}

/** `await` works by wrapping the code in an async function. */
async function evaluateRaw(code: string): Promise<string> {
  // Promises the code made or its result holds (`[Promise.reject(1)]`) must not end the host
  // when they reject: the answer shows their state, and a later rejection has nobody to go to.
  const quiet = () => {};
  const run = (source: string): unknown => {
    const { result, promises } = collectPromises(() => runInThisContext(source, { filename: 'asyncmon-eval' }));
    for (const p of promises) if (p !== result) guardRejections(p, quiet);
    return result;
  };
  let value: unknown;
  if (/\bawait\b/.test(code)) {
    try {
      value = await run(`(async () => (${code}\n))()`);
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
      value = await run(`(async () => {${code}\n})()`);
    }
  } else {
    value = run(code);
    if (value instanceof Promise) value = await value;
  }
  guardRejections(value, quiet);
  return inspect(value, { depth: 3, breakLength: 100, maxArrayLength: 50, maxStringLength: 2000 });
}

/** The commands the main thread answers, by name; each returns plain data. */
export const HANDLERS: Record<string, Handler> = {
  ps: (agent, args) => ps(agent, args),
  where: (agent, args) => whereTask(agent, String(args.id)),
  tree: (agent, args) => taskTree(agent, args.id === undefined ? undefined : String(args.id)),
  cancel: (agent, args, by) => cancelById(agent, String(args.id), typeof args.reason === 'string' ? args.reason : 'cancelled', by, args.force === true),
  handles: (agent, args) => listHandles(agent, num(args.limit, DEFAULTS.censusLimit)),
  promises: (agent, args) => promises(agent, args),
  stats: (agent) => stats(agent),
  history: (agent, args) => listHistory(agent, num(args.limit, DEFAULTS.snapshotLimit)),
  track: (agent, args) => agent.track(parseLevel(String(args.level)), args.stacks === undefined ? undefined : parseStacks(String(args.stacks))),
  snapshot: (agent, args) => takeSnapshot(agent, { limit: num(args.limit, DEFAULTS.snapshotLimit) }),
  eval: (_agent, args) => evaluate(String(args.code)),
};

/** Items per slice of a streamed listing: about 0.5 MB of JSON, a few ms to build. */
const STREAM_SLICE = 2000;

/** A streamed command; `spent` is told the main-thread time each slice took to build. */
type Stream = (agent: Agent, args: Args, spent: (ms: number) => void) => AsyncGenerator<unknown[], unknown>;

/** Every pending promise, in slices built between turns of the host's loop. */
async function* allPromises(agent: Agent, spent: (ms: number) => void): AsyncGenerator<unknown[], unknown> {
  let total = 0;
  if (agent.promises.enabled) {
    for await (const slice of agent.promises.slices(STREAM_SLICE, undefined, spent)) {
      total += slice.length;
      yield slice;
    }
  }
  return { level: agent.level, total, evicted: agent.promises.evicted };
}

/**
 * Commands whose answer is too large for one message: the main thread yields it in slices,
 * each sent once the worker has written the previous one to the client (flow control), so
 * neither the main thread nor the client's buffer ever holds the whole answer.
 */
export const STREAMS: Record<string, Stream> = {
  'promises-all': (agent, _args, spent) => allPromises(agent, spent),
};

export function streamOf(agent: Agent, cmd: string, args: Args, spent: (ms: number) => void = () => {}): AsyncGenerator<unknown[], unknown> | null {
  return Object.prototype.hasOwnProperty.call(STREAMS, cmd) ? STREAMS[cmd](agent, args, spent) : null;
}

/** Runs a command for the worker; errors come back as values, never thrown into the host. */
export async function execute(agent: Agent, cmd: string, args: Args, by: string): Promise<unknown> {
  const handler = Object.prototype.hasOwnProperty.call(HANDLERS, cmd) ? HANDLERS[cmd] : undefined;
  if (!handler) throw new AsyncmonError('UNKNOWN_COMMAND', `the main thread does not answer "${cmd}"`);
  return handler(agent, args, by);
}
