// Host room (the app's main thread): the agent's state, its trackers and the levels that
// switch them.
import { AsyncLocalStorage } from 'node:async_hooks';
import { DEFAULTS } from '../../src/defaults.js';
import type { Level, StacksMode, TrackerStatus } from '../../src/model.js';
import { BlockedFeed } from './blocked-feed.js';
import { Census } from './census.js';
import { readOtelEnv } from './config.js';
import { FaultGuard } from './fault-guard.js';
import { HttpTasks } from './http-tasks.js';
import { LoopMonitor } from './loop-monitor.js';
import { PromiseTracker } from './promise-tracker.js';
import { ResourceTracker } from './resource-tracker.js';
import { StackPolicy } from './stack-policy.js';
import { TaskContext } from './task-context.js';
import { TaskRegistry } from './task-registry.js';
import type { TaskRecord } from './task-registry.js';

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
/** From Node 24 AsyncLocalStorage rides on AsyncContextFrame: no promise hook, a frame per entry. */
const CHEAP_CONTEXT = NODE_MAJOR >= 24;

/**
 * The agent's state inside the host: the task registry (never lost when levels change) and the
 * trackers each level switches on and off. One per process, shared by every copy of the
 * package that gets loaded (see `getAgent`).
 */
export class Agent {
  readonly startedAt = Date.now();
  readonly als = new AsyncLocalStorage<TaskRecord>();
  readonly context = new TaskContext(this.als);
  readonly registry = new TaskRegistry(DEFAULTS.historySize, DEFAULTS.maxTasks);
  readonly policy = new StackPolicy();
  readonly guard = new FaultGuard(DEFAULTS.maxFaults, (reason) => this.trip(reason));
  readonly promises: PromiseTracker;
  readonly resources: ResourceTracker;
  readonly http: HttpTasks;
  readonly loop = new LoopMonitor();
  readonly census = new Census();
  /** Blocked-loop episodes the worker's sentinel has seen end (while the monitor runs). */
  readonly blocked = new BlockedFeed();
  /**
   * Cancel and stuck events on a task's span (`ASYNCMON_OTEL_SPAN_EVENTS=1`, or the metrics'
   * `spanEvents` option). Only then does a task hold its span.
   */
  spanEvents = readOtelEnv().spanEvents;
  level: Level = 'tasks';
  disabledReason: string | null = null;
  /**
   * Whether an incoming request enters AsyncLocalStorage, so that what it runs after an `await`
   * is known to be its own: on Node 24+, at the levels whose trackers ask for the running task
   * (`resources`, `promises`). Otherwise a request is current only for the synchronous part of
   * its callback. Before Node 24 entering it costs a promise hook for the whole process; on
   * Node 24 it is a new AsyncContextFrame per request, counted at 1.4k instructions (2% of the
   * bench's request), more than the default level's whole budget allows.
   */
  private storePerRequest = false;

  constructor() {
    this.currentTaskId = this.currentTaskId.bind(this);
    const context = this.context;
    this.promises = new PromiseTracker(DEFAULTS.maxPromises, this.guard, this.policy, context, !CHEAP_CONTEXT);
    this.resources = new ResourceTracker(DEFAULTS.maxResources, this.guard, this.policy, () => context.current());
    this.http = new HttpTasks({
      registry: this.registry,
      guard: this.guard,
      currentTaskId: this.currentTaskId,
      enter: (rec) => {
        if (this.storePerRequest) this.als.enterWith(rec);
        else context.enterCallback(rec);
      },
    });
    this.http.enable();
    this.loop.enable();
    // A request that leaves a socket or a timer behind stays findable in history.
    this.registry.keepEnded = (rec) => this.resources.enabled && this.resources.countOf(rec.id) > 0;
  }

  /** The id of the task the calling code runs in, or 0. */
  currentTaskId(): number {
    return this.context.current()?.id ?? 0;
  }

  /** Runs `fn(arg)` as task `rec`: AsyncLocalStorage for what it starts, the context for now. */
  runInTask<A, R>(rec: TaskRecord, fn: (arg: A) => R, arg: A): R {
    return this.context.run(rec, (a: A) => this.als.run(rec, fn, a), arg);
  }

  /**
   * Switches the level (and stacks); hooks of other levels are removed and their data freed.
   * `resources` and `promises` each add their own hooks to `tasks`, and are not combined:
   * async_hooks and promise hooks together cost far more than either alone (measured 24 µs
   * against 4 and 7 µs per await on Node 20), and before Node 24 async_hooks also hooks
   * every promise.
   */
  track(level: Level, stacks?: StacksMode): TrackerStatus {
    this.guard.reset();
    this.disabledReason = null;
    this.http.enable();
    if (stacks !== undefined) this.policy.set(stacks);
    if (level === 'resources') this.resources.enable();
    else this.resources.disable();
    if (level === 'promises') this.promises.enable();
    else this.promises.disable();
    this.setLevel(level);
    return this.status();
  }

  /** The level, and what follows from it for every request. */
  private setLevel(level: Level): void {
    this.level = level;
    this.storePerRequest = CHEAP_CONTEXT && level !== 'tasks';
  }

  status(): TrackerStatus {
    return { level: this.level, stacks: this.policy.mode, disabledReason: this.disabledReason };
  }

  /** After repeated internal faults: every hook off, tasks kept, and the reason on record. */
  private trip(reason: string): void {
    this.disabledReason = reason;
    try {
      this.promises.disable();
      this.resources.disable();
      this.http.disable();
      this.setLevel('tasks');
    } catch {}
  }

  /** Removes every hook, subscription and timer (for `close()` and tests). */
  shutdown(): void {
    this.promises.disable();
    this.resources.disable();
    this.http.disable();
    this.loop.disable();
  }
}

const GLOBAL_KEY = Symbol.for('asyncmon.agent.v1');

/** Run once the agent exists (see `whenAgentExists`). */
const onCreate: ((agent: Agent) => void)[] = [];

/** The process's agent, created on first use and shared across copies of the package. */
export function getAgent(): Agent {
  const g = globalThis as Record<symbol, Agent | undefined>;
  let agent = g[GLOBAL_KEY];
  if (!agent) {
    agent = new Agent();
    Object.defineProperty(globalThis, GLOBAL_KEY, { value: agent, configurable: true, enumerable: false });
    for (const fn of onCreate.splice(0)) {
      try {
        fn(agent);
      } catch {}
    }
  }
  return agent;
}

/**
 * Calls `fn` with the agent now if it exists, else once it is created: for what must start with
 * the agent without creating it (importing the package creates nothing).
 */
export function whenAgentExists(fn: (agent: Agent) => void): void {
  const agent = (globalThis as Record<symbol, Agent | undefined>)[GLOBAL_KEY];
  if (!agent) {
    onCreate.push(fn);
    return;
  }
  try {
    fn(agent);
  } catch {}
}
