/**
 * Every default, limit and environment variable name in one place, so the agent, the CLI and the
 * README agree on them.
 */
export const DEFAULTS = {
  host: '127.0.0.1',
  port: 20101,
  level: 'tasks',
  stacks: 'off',
  /** Finished, failed and cancelled tasks kept for `history`. */
  historySize: 1000,
  /** Pending promises tracked at `promises` level before the oldest are evicted. */
  maxPromises: 200_000,
  /** Async resources tracked at `resources` level before the oldest are evicted. */
  maxResources: 100_000,
  /** Live tasks tracked before new ones go untracked (they still run). */
  maxTasks: 50_000,
  /** Frames kept per captured stack (after skipping the hook's own). */
  stackFrames: 12,
  /**
   * Frames captured per stack at most, so the user's frame is reached below a library's (and
   * the hook's own Node frames); only the first user frame is kept past `stackFrames`.
   */
  stackCaptureFrames: 32,
  /** Entries of each list in a default (capped) snapshot. */
  snapshotLimit: 100,
  /** The most entries any list request may ask for (bigger lists would hold the loop). */
  maxListLimit: 10_000,
  /** Internal errors in hooks before the tracker turns itself off. */
  maxFaults: 10,
  /** Keep-alive census: objects inspected at most. */
  censusLimit: 500,
  /** Entries processed per slice when a full listing is built without holding the loop. */
  sliceSize: 5_000,
  /** The main thread's heartbeat period, and how stale it may get before the loop counts as blocked. */
  heartbeatMs: 50,
  /** How often the worker writes the time the main thread reads per request (agent/host/coarse-clock.ts). */
  clockMs: 50,
  staleMs: 300,
  /** `awaits`: refused above this heap (the worker parses the snapshot), chains shown at most, and how long one snapshot answers for. */
  awaitsMaxHeapBytes: 1024 * 1024 * 1024,
  /** `awaits --pid` without an agent: the CLI parses the snapshot (measured: 610 MB peak RSS for a 158 MB heap, a 287 MB snapshot). */
  awaitsCliMaxHeapBytes: 512 * 1024 * 1024,
  awaitsChains: 200,
  awaitsReuseMs: 2_000,
  /** Blocked episodes kept for `stats`. */
  blockedEpisodes: 50,
  /**
   * The Int32 slots of the buffer the two threads share: the heartbeat counter, whether an
   * inspector port is open (1/0), the microseconds of main-thread work done for the agent's
   * clients so far (wrapping), how many blocked episodes have ended, and a ring of the last
   * `episodeRingSize` episodes' durations in ms (episode n at `episodeRing + n % size`), which
   * the OpenTelemetry metrics read on the main thread.
   */
  shared: { heartbeat: 0, inspectorOpen: 1, workMicros: 2, episodesEnded: 3, episodeRing: 4, episodeRingSize: 16, slots: 20 },
  /**
   * The property of the global object where the main thread keeps the function that names the
   * running task; the sentinel calls it while it has the thread paused (a blocked loop).
   */
  blockedTaskKey: '__asyncmonBlockedTask',
  /** How long the sentinel reuses its last capture of the main thread's stack. */
  captureCacheMs: 500,
  /** OpenTelemetry metrics (see agent/host/metrics.ts). */
  otel: {
    /** Tasks older than this count as stuck in `asyncmon.task.stuck.count`. */
    stuckMs: 30_000,
    /** Seconds after the agent starts during which it looks for a global MeterProvider (once a second, on a timer it has anyway). */
    lookoutSeconds: 60,
    /** Distinct task names per collection when names are opted in; the rest count as `(other)`. */
    maxNames: 50,
    /** Distinct handle types per collection; the rest count as `(other)`. */
    maxHandleTypes: 32,
    /** Bucket boundaries (seconds) of `asyncmon.eventloop.blocked.duration`. */
    blockedBuckets: [0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
  },
  limits: {
    /** Logged-in sessions at once; connections beyond it are refused with one line. */
    maxConnections: 16,
    /**
     * Connections that have not logged in yet, in a pool of their own: when it is full a new
     * one pushes out the oldest (silent ones first), so nobody without the token can hold the
     * port shut.
     */
    maxUnauthenticated: 8,
    maxLineBytes: 64 * 1024,
    lineTimeoutMs: 10_000,
    /** To log in on the text REPL (a person typing `auth <token>`). */
    authTimeoutMs: 10_000,
    /** To log in on JSON lines (a program: it needs two round trips). */
    jsonAuthTimeoutMs: 2_000,
    idleTimeoutMs: 30 * 60_000,
    /** Bytes waiting to be written to one client before it counts as not reading and is dropped. */
    maxOutputBytes: 4 * 1024 * 1024,
    /** How long the worker waits for the main thread to answer a command. */
    callTimeoutMs: 5_000,
    /** Requests one connection may have queued before its socket is paused. */
    maxQueuedRequests: 64,
    /**
     * The main-thread budget, across all clients: read-only commands may use about
     * `workBudgetMs` of the host's main thread per `workWindowMs` (a token bucket holding at most
     * `workBurstMs`); the rest wait their turn, at most `maxWaiting` of them for `maxWaitMs`,
     * and then get BUSY.
     */
    workBudgetMs: 5,
    workWindowMs: 100,
    workBurstMs: 250,
    maxWaiting: 64,
    maxWaitMs: 2_000,
    /** `promises-all` listings streaming at once; more get BUSY. */
    maxStreams: 2,
    /** Identical `snapshot`, `stats` and `handles` requests within this get the same answer. */
    answerCacheMs: 250,
  },
  attach: {
    /** The port Node's inspector opens on SIGUSR1 unless its options say otherwise. */
    inspectorPort: 9229,
    /** After a failed attach, how long a guard process watches for the inspector to open, to close it. */
    guardMs: 5 * 60_000,
    /** How long a finished or failed attach waits to see the inspector closed, past --timeout. */
    closeMs: 1_500,
  },
} as const;

/** Names of the environment variables the agent and the CLI read. */
export const ENV = {
  enabled: 'ASYNCMON',
  track: 'ASYNCMON_TRACK',
  stacks: 'ASYNCMON_STACKS',
  host: 'ASYNCMON_HOST',
  port: 'ASYNCMON_PORT',
  socket: 'ASYNCMON_SOCKET',
  token: 'ASYNCMON_TOKEN',
  readonly: 'ASYNCMON_READONLY',
  otel: 'ASYNCMON_OTEL',
  otelStuckMs: 'ASYNCMON_OTEL_STUCK_MS',
  otelTaskNames: 'ASYNCMON_OTEL_TASK_NAMES',
  otelSpanEvents: 'ASYNCMON_OTEL_SPAN_EVENTS',
  awaitsMaxHeapMb: 'ASYNCMON_AWAITS_MAX_HEAP_MB',
} as const;
