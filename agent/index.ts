/**
 * The in-process API of asyncmon: run named tasks, cancel them, choose how much to track, and
 * read what is pending. Everything returns plain data (see `src/model.ts`).
 */
import { parseLevel, parseStacks } from '../src/levels.js';
import type { CancelResult, Level, Snapshot, StacksMode, TrackerStatus, TreeNode, WhereInfo, HandleInfo, Page } from '../src/model.js';
import { getAgent } from './host/agent.js';
import { cancelById, listHandles, takeSnapshot, taskTree, whereTask } from './host/queries.js';
import type { SnapshotOptions } from './host/queries.js';

export { task } from './host/task.js';
export { startMonitor } from './host/monitor.js';
export { registerMetrics, asyncmonInstrumentation } from './host/metrics.js';
export type { AsyncmonInstrumentation, MetricsHandle, MetricsOptions } from './host/metrics.js';
export type { MonitorHandle, MonitorOptions } from './host/monitor.js';
export type { TaskOptions } from './host/task.js';
export type { SnapshotOptions } from './host/queries.js';
export { AsyncmonError } from '../src/errors.js';
export type { ErrorCode } from '../src/errors.js';
export type {
  CancelResult,
  Frame,
  HandleInfo,
  HistoryEntry,
  Level,
  LoopStats,
  Page,
  PromiseGroup,
  PromiseInfo,
  ResourceInfo,
  Site,
  Snapshot,
  StacksMode,
  TaskInfo,
  TrackerStatus,
  TreeNode,
  WhereInfo,
} from '../src/model.js';

/**
 * Cancels a task (`17`), a timer, immediate, socket, server or child process (`r42`), and
 * says what it did. A promise (`p9`) cannot be cancelled: the error names what can be.
 */
export function cancel(id: number | string, reason = 'cancelled', by = 'api'): CancelResult {
  return cancelById(getAgent(), id, reason, by);
}

/**
 * Sets the tracking level (`tasks` < `resources` < `promises`) and optionally stacks
 * (`off`, `tasks` for what runs inside tasks, `on`, or N for one in N). Turning a level off removes its hooks and frees its data.
 */
export function track(level: Level | string, stacks?: StacksMode | string): TrackerStatus {
  return getAgent().track(parseLevel(level), stacks === undefined ? undefined : parseStacks(stacks));
}

/** A bounded, synchronous, JSON-serialisable picture of the process. */
export function snapshot(opts?: SnapshotOptions): Snapshot {
  return takeSnapshot(getAgent(), opts);
}

/** Where task `id` waits: its newest pending promise's site and stack, and its parents. */
export function where(id: number | string): WhereInfo {
  return whereTask(getAgent(), id);
}

/** Task nesting: every root task with its children, or the subtree under `id`. */
export function tree(id?: number | string): TreeNode[] {
  return taskTree(getAgent(), id);
}

/** What keeps the process alive, each with the source location of the callback it will run. */
export function handles(limit?: number): Page<HandleInfo> {
  return listHandles(getAgent(), limit);
}
