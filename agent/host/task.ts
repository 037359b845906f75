// Host room (the app's main thread): `task()`, named and cancellable units of work.
import { getAgent } from './agent.js';
import { runOwn } from './own-scope.js';
import { captureStack } from './stack-capture.js';
import type { TaskRecord } from './task-registry.js';
import { activeSpan, activeSpanIds } from './otel.js';

/**
 * What a heap snapshot (`awaits`, `ps --deep`) finds of a running task: its class name is
 * src/await-graph.ts's TASK_MARK, and it carries the task's id as a string, since a snapshot
 * shows strings but no numbers. The task's signal holds it under a symbol (so nothing that
 * lists the signal's keys sees it), and so does the scope of the handlers `task()` puts on fn's
 * promise, so fn's chain of async functions is named after the task whether or not it keeps
 * its signal.
 */
class AsyncmonTask {
  ended = false;
  constructor(readonly id: string) {}
}
const MARK = Symbol('asyncmon.task');

/** Options for `task()`. */
export interface TaskOptions {
  /** An outside signal that, when aborted, cancels the task too. */
  signal?: AbortSignal;
}

/**
 * Runs `fn(signal)` as a named task and returns its promise. The task nests under the task the
 * caller runs in, shows in `ps` with its creation site, and can be cancelled from outside:
 * cancel aborts `signal` AND rejects the returned promise with an AbortError, so whoever awaits
 * the task is released even when `fn` ignores the signal.
 *
 * Cost: tasks use AsyncLocalStorage, which before Node 24 turns on a promise hook for the whole
 * process once the first task runs (see the README's benchmark table).
 */
export function task<T>(name: string, fn: (signal: AbortSignal) => T | PromiseLike<T>, opts: TaskOptions = {}): Promise<T> {
  const agent = getAgent();
  const controller = new AbortController();
  let rec: TaskRecord | null = null;
  try {
    rec = agent.registry.start({
      name: String(name),
      kind: 'task',
      parentId: agent.currentTaskId() || null,
      raw: captureStack(),
      controller,
    });
    if (rec) Object.assign(rec, agent.spanEvents ? activeSpan() : activeSpanIds());
  } catch (err) {
    agent.guard.record(err);
  }
  if (!rec) return Promise.resolve().then(() => fn(controller.signal));
  const record = rec;

  let resolveOuter!: (value: T) => void;
  let rejectOuter!: (err: unknown) => void;
  const outer = runOwn(
    () =>
      new Promise<T>((resolve, reject) => {
        resolveOuter = resolve;
        rejectOuter = reject;
      }),
  );
  record.reject = (err) =>
    runOwn(() => {
      unlink();
      // A cancel must never become an unhandled rejection that takes the host down.
      outer.catch(() => {});
      rejectOuter(err);
    });

  const outside = opts.signal;
  let unlink = () => {};
  if (outside) {
    const onAbort = () => {
      if (!record.ended) agent.registry.cancel(record.id, 'outer signal aborted', 'signal');
    };
    if (outside.aborted) queueMicrotask(onAbort);
    else {
      outside.addEventListener('abort', onAbort, { once: true });
      // A long-lived outside signal must not collect a listener per finished task.
      unlink = () => outside.removeEventListener('abort', onAbort);
    }
  }
  const mark = new AsyncmonTask(String(record.id));
  try {
    Object.defineProperty(controller.signal, MARK, { value: mark });
  } catch {}
  const settle = (outcome: 'finished' | 'failed', value: unknown) => {
    // Read here, so the mark lives in this scope, which the handlers on fn's promise close over.
    mark.ended = true;
    unlink();
    agent.registry.end(record, outcome, outcome === 'failed' ? value : undefined);
    if (outcome === 'finished') resolveOuter(value as T);
    else rejectOuter(value);
  };

  let result: T | PromiseLike<T>;
  try {
    result = agent.runInTask(record, fn, controller.signal);
  } catch (err) {
    settle('failed', err);
    return outer;
  }
  runOwn(() => {
    if (!isThenable(result)) return settle('finished', result);
    try {
      result.then(
        (value) => settle('finished', value),
        (err: unknown) => settle('failed', err),
      );
    } catch (err) {
      // A thenable whose then() throws: a rejection, as `await` would make of it.
      settle('failed', err);
    }
  });
  return outer;
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<T>).then === 'function';
}
