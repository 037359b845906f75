/**
 * The plain, JSON-serialisable data the agent returns and every front end renders. Nothing here
 * holds a live object of the host process.
 */

/** How much the agent instruments; each level includes the ones before it. */
export type Level = 'tasks' | 'resources' | 'promises';
/** Stack capture: never, always, or for one in N records. */
/** `off`; `tasks`: promises and resources made inside a task; `on`: all; N: one in N. */
export type StacksMode = 'off' | 'tasks' | 'on' | number;

/**
 * One stack frame, already resolved to text-friendly parts: at the original source (a `.ts`
 * file) when the process has source maps. Lines and columns are 1-based.
 */
export interface Frame {
  fn: string;
  file: string;
  line: number;
  column: number;
  /** The package whose code this is, for a file under `node_modules` (`bcryptjs`); absent for the user's own. */
  lib?: string;
}

/**
 * Where something was created or will run: the first frame in the user's own code (outside
 * Node, asyncmon and `node_modules`), else the first library frame. `via` is the library call
 * that frame was in (`hashSync` of `bcryptjs`), when that is what ran above it.
 */
export interface Site extends Frame {
  via?: { fn: string; lib: string };
}

export type TaskKind = 'task' | 'http-server' | 'http-client';
export type TaskState = 'running' | 'cancelling';
export type TaskOutcome = 'finished' | 'failed' | 'cancelled';

export interface TaskInfo {
  id: number;
  name: string;
  kind: TaskKind;
  state: TaskState;
  ageMs: number;
  parentId: number | null;
  site: Site | null;
  /** For HTTP tasks, the origin of an outgoing request. */
  detail?: string;
  /**
   * Where an outgoing HTTP request is: `connecting`, `sending the request`, `request sent,
   * waiting for response headers`, `receiving body (N bytes so far)`.
   */
  phase?: string;
  /**
   * The OpenTelemetry trace the task runs in: the active span's when it started (`task()`, an
   * outgoing request), or an incoming request's `traceparent` header (then no `spanId`: the
   * server's own span is made later, by the app's instrumentation).
   */
  traceId?: string;
  spanId?: string;
  /** What the task is parked on, when known (promises level, or `ps --deep`). */
  waitsOn?: Site | null;
  /** `heap`: `waitsOn` was read from a heap snapshot (`ps --deep`), not recorded by hooks. */
  waitsFrom?: 'heap';
  /** From the heap (`ps --deep`): a request nothing left in the process can ever answer. */
  lost?: true;
  children: number;
}

/**
 * `ps`'s answer. With `--deep`, `heap` says which snapshot filled in the waits the hooks did
 * not record (how long the host paused for it, how old it is), or why none could be taken;
 * with `--trace`, `trace` is the trace it was filtered by.
 */
export interface TaskPage extends Page<TaskInfo> {
  heap?: { pauseMs: number; takenAt: number; ageMs: number } | { error: string };
  trace?: string;
}

export interface HistoryEntry {
  id: number;
  name: string;
  kind: TaskKind;
  parentId: number | null;
  outcome: TaskOutcome;
  durationMs: number;
  endedAt: number;
  /** An HTTP request's response status. */
  status?: number;
  error?: string;
  cancelledBy?: string;
  reason?: string;
  /** Live resources it still owns (at `resources` level), when listed. */
  owns?: ResourceInfo[];
}

/** An async resource from async_hooks (`resources` level). Ids are `r<asyncId>`. */
export interface ResourceInfo {
  id: string;
  asyncId: number;
  type: string;
  triggerId: number;
  taskId: number | null;
  ageMs: number;
  site: Site | null;
  /** What it is, when it is a live handle (`socket 127.0.0.1:5432 (local :41234)`). */
  detail?: string;
}

/** A pending promise (`promises` level). Ids are `p<n>`. */
export interface PromiseInfo {
  id: string;
  parentId: string | null;
  taskId: number | null;
  ageMs: number;
  site: Site | null;
}

/** Pending promises that share a creation site. */
export interface PromiseGroup {
  site: Site | null;
  count: number;
  oldestMs: number;
  /** Why `site` is null: no stack was captured (and what would capture one), or it had only Node's frames. */
  note?: string;
}

export type HandleKind = 'timeout' | 'interval' | 'immediate' | 'socket' | 'server' | 'child-process' | 'other';

/** One thing that keeps (or could keep) the process alive. Ids are `r<asyncId>`. */
export interface HandleInfo {
  id: string;
  asyncId: number;
  kind: HandleKind;
  type: string;
  refed: boolean;
  /** Where the callback it will run lives (timers, immediates), or what it is (sockets). */
  callback: Site | null;
  /**
   * Where the user's code created it, when its callback is a library's (a timer `node-cron`
   * set): from its creation stack (`resources` level with stacks); null when there is none.
   */
  createdAt?: Site | null;
  /** Why `createdAt` is missing for a library's callback, and what would name it. */
  createdNote?: string;
  detail: string;
  /**
   * What Node itself uses it for, when it is not the app's own (an HTTP server's timer that
   * enforces headersTimeout): cancel then asks for `--force`.
   */
  role?: string | null;
  /** The task that created it and where (at `resources` level, when known). */
  owner?: { taskId: number; name: string; ended: boolean } | null;
  site?: Site | null;
}

export interface LoopStats {
  /**
   * Event-loop delay over the current 10 s window (early in a window, the worse of it and the
   * last one), in milliseconds; the mean may be up to 5 s older than the rest.
   */
  delayMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  utilization: number;
  heapUsedBytes: number;
  rssBytes: number;
  activeResources: Record<string, number>;
}

export interface Counters {
  tasksDropped: number;
  promisesEvicted: number;
  resourcesEvicted: number;
  faults: number;
}

export interface TrackerStatus {
  level: Level;
  stacks: StacksMode;
  /** Set when the tracker turned itself off after repeated internal faults. */
  disabledReason: string | null;
}

/** A bounded list: the first `items` and how many more there were. */
export interface Page<T> {
  total: number;
  items: T[];
}

export interface Snapshot {
  format: 'asyncmon-snapshot';
  version: 1;
  pid: number;
  node: string;
  uptimeMs: number;
  takenAt: number;
  tracker: TrackerStatus;
  loop: LoopStats;
  tasks: Page<TaskInfo>;
  resources: Page<ResourceInfo>;
  promises: Page<PromiseInfo>;
  promiseGroups: Page<PromiseGroup>;
  handles: Page<HandleInfo>;
  history: Page<HistoryEntry>;
  counters: Counters;
}

export interface WhereInfo {
  id: number;
  name: string;
  kind: TaskKind;
  state: TaskState | TaskOutcome;
  ageMs: number;
  site: Site | null;
  /** The newest still-pending promise created in the task's context. */
  /**
   * The await it is parked on: the deepest pending one in the user's code (see src/parked.ts),
   * with `via`, the library awaits below it, innermost last.
   */
  waitsOn: { promiseId: string; site: Site | null; stack: Frame[]; via?: Frame[] } | null;
  /** Why `waitsOn` is empty, when it is (or, for an ended task, how it ended and what it left). */
  waitsNote: string | null;
  /** For an ended task: the live resources it still owns (at `resources` level). */
  owns?: ResourceInfo[];
  stack: Frame[];
  parents: Array<{ id: number; name: string }>;
  traceId?: string;
  spanId?: string;
}

export interface TreeNode {
  id: number;
  name: string;
  kind: TaskKind;
  ageMs: number;
  children: TreeNode[];
}

export type CancelAction =
  | 'aborted'
  | 'cleared'
  | 'destroyed'
  | 'closed'
  | 'killed'
  | 'none';

export interface CancelResult {
  id: string;
  kind: string;
  action: CancelAction;
  message: string;
}

/** `promises`: groups by site and the newest pending ones. */
export interface PromisesResult {
  level: Level;
  groups: Page<PromiseGroup>;
  newest: Page<PromiseInfo>;
  evicted: number;
}

/**
 * The task whose code held the main thread when its loop blocked (the request whose handler
 * blocked), as the sentinel read it while it had the thread paused.
 */
export interface BlockedTask {
  id: number;
  name: string;
  kind: TaskKind;
}

/** A time the main thread's loop was blocked, with what it was running. */
export interface BlockedEpisode {
  startedAt: number;
  durationMs: number;
  /** Still blocked when reported. */
  ongoing: boolean;
  stack: Frame[];
  /** The task that was running, when the blocking code runs in one. */
  task?: BlockedTask | null;
  /** It was another debugger session that stopped the thread, not the app's own code. */
  inDebugger?: boolean;
}

/** `stack`: the main thread's stack while its loop is blocked. */
export interface StackResult {
  blocked: boolean;
  /** Stopped by another debugger session (a breakpoint, a pause): the agent leaves it alone. */
  pausedInDebugger?: boolean;
  blockedMs: number;
  frames: Frame[];
  /** The task that was running, when the blocking code runs in one. */
  task?: BlockedTask | null;
  message: string;
}

export interface StatsResult {
  pid: number;
  node: string;
  uptimeMs: number;
  tracker: TrackerStatus;
  loop: LoopStats;
  counts: { tasks: number; promises: number; resources: number; history: number };
  counters: Counters;
  blocked: BlockedEpisode[];
}

/** `health`: answered by the agent's worker, also while the main loop is blocked. */
export interface HealthResult {
  /** `paused`: another debugger session has the main thread stopped (blockedMs says how long). */
  status: 'ok' | 'blocked' | 'paused';
  pid: number;
  node: string;
  uptimeMs: number;
  /** How long the loop has been blocked right now (0 when it is not). */
  blockedMs: number;
  /** The blocking stack when blocked; where the debugger stopped it when paused. */
  stack: Frame[];
  /** While blocked: the task that was running, when the blocking code runs in one. */
  task?: BlockedTask | null;
  /** The latest loop figures (as of the last heartbeat when blocked). */
  loop: LoopStats | null;
  tracker: TrackerStatus | null;
  tasks: number | null;
  pendingPromises: number | null;
  /** The oldest live tasks, for checks that name culprits. */
  oldestTasks: TaskInfo[];
}

export interface HelpEntry {
  name: string;
  aliases: string[];
  usage: string;
  summary: string;
  access: string;
}

/** One suspended async function, at the line it is suspended on (`awaits`). */
export interface SuspendedFrame {
  fn: string;
  /** Where it is suspended (source-mapped), or null when it was not looked up or could not be. */
  site: Frame | null;
  /** Without `site`: where its function starts, from the snapshot. */
  start?: Frame;
  asyncGenerator: boolean;
}

/** What a chain's innermost function waits for (`awaits`). */
export type AwaitWait =
  | { kind: 'chain'; chain: number }
  | { kind: 'combinator'; name: 'all' | 'allSettled' | 'any' | 'race'; pending: number; total: number | null }
  | { kind: 'promise'; heldBy: string[] }
  | { kind: 'nothing' };

/** One chain of suspended async functions, outermost first, innermost last (`awaits`). */
export interface AwaitChainInfo {
  id: number;
  /** The task its frames work for, when they hold its request or signal. */
  task: { id: number; name: string } | null;
  /** The request its frames hold (`GET /users/42`), when the heap says. */
  request: string | null;
  frames: SuspendedFrame[];
  waitsFor: AwaitWait;
  /** Chains awaiting this one (fan-in). */
  awaitedBy: number[];
}

/** The await graph from a heap snapshot (`awaits`). */
export interface AwaitsResult {
  takenAt: number;
  /** How long the host's main thread was paused while V8 wrote the snapshot. */
  pauseMs: number;
  snapshotBytes: number;
  /** Parsing and analysis, on the agent's own thread. */
  analysisMs: number;
  total: number;
  chains: AwaitChainInfo[];
  /** Chains that can only be resolved by each other. */
  cycles: Array<{ frames: SuspendedFrame[] }>;
  /** Requests still open that nothing left in the process can answer. */
  lost: Array<{ request: string | null; task: { id: number; name: string } | null }>;
  /** `where --pid <pid> <text>`: only the chains that contain this text. */
  match?: string;
  /** Taken without an agent, through the process's inspector: its port, and how long this opened it for (null: it was open before). */
  inspector?: { port: number; openMs: number | null };
}
