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
  /** Entries of each list in a default (capped) snapshot. */
  snapshotLimit: 100,
  /** Internal errors in hooks before the tracker turns itself off. */
  maxFaults: 10,
  /** Keep-alive census: objects inspected at most. */
  censusLimit: 500,
  /** Entries processed per slice when a full listing is built without holding the loop. */
  sliceSize: 5_000,
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
} as const;
