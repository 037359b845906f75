// Host room (the app's main thread): names the running task for the sentinel, which can ask
// only while it has this thread paused (the loop is blocked, so no message would be answered).
import { DEFAULTS } from '../../src/defaults.js';
import type { BlockedTask } from '../../src/model.js';
import type { TaskContext } from './task-context.js';
import type { TaskRecord } from './task-registry.js';

/** The context the installed function reads; `null` once the agent is stopped. */
let source: TaskContext | null = null;

/**
 * What the sentinel's `Runtime.evaluate` calls: the task of the code the thread was paused in.
 * It runs no app code: the context's own fields, AsyncLocalStorage and `executionAsyncId()`, and
 * the record's own properties (a task's store is always its `TaskRecord`). Never throws.
 */
function runningTask(): BlockedTask | null {
  try {
    const rec = source?.current() as TaskRecord | undefined;
    if (!rec || rec.ended) return null;
    return { id: rec.id, name: rec.name, kind: rec.kind };
  } catch {
    return null;
  }
}

/**
 * Makes `runningTask` reachable as `this[DEFAULTS.blockedTaskKey]` of the global object: a
 * plain data property, neither writable nor configurable, so the lookup can never run a getter
 * the app put there, and nothing runs until a block happens. Installed once per process (a
 * second copy of the package shares the agent, and so the context).
 */
export function exposeRunningTask(context: TaskContext | null): void {
  source = context;
  const g = globalThis as Record<string, unknown>;
  if (g[DEFAULTS.blockedTaskKey] === runningTask) return;
  try {
    Object.defineProperty(globalThis, DEFAULTS.blockedTaskKey, { value: runningTask, writable: false, configurable: false, enumerable: false });
  } catch {}
}
