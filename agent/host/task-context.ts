// Host room (the app's main thread): which task the running code belongs to.
import type { AsyncLocalStorage } from 'node:async_hooks';
import { executionAsyncId } from 'node:async_hooks';

/** What the trackers need to know of a task: its id, and whether it is a named `task()`. */
export interface TaskRef {
  readonly id: number;
  readonly kind: string;
  readonly ended?: boolean;
}

/**
 * Which task the running code belongs to, without paying for AsyncLocalStorage on every promise.
 *
 * Before Node 24, entering AsyncLocalStorage per request turns on async_hooks' promise hook for
 * the whole process (about half of an HTTP service's throughput together with the promise
 * tracker). So at `promises` level the task of running code is worked out from three sources,
 * the first that applies wins:
 *
 * 1. A promise reaction (an `await` continuation or a `then` callback): the task its promise was
 *    created in. The promise tracker's `before`/`after` hooks set this; `task()` sets it too for
 *    the synchronous part of its function.
 * 2. The synchronous start of an HTTP request: from `diagnostics_channel`'s request start to the
 *    end of that callback, recognised by the callback's `executionAsyncId()`.
 * 3. AsyncLocalStorage, where it is entered: `task()` everywhere; request tasks on Node ≥ 24 at
 *    the `resources` and `promises` levels.
 *
 * On Node 24+, where AsyncLocalStorage rides on AsyncContextFrame, request tasks enter it at
 * those levels and the tracker does not follow reactions: the store alone says which task runs.
 * At the default level nothing asks per promise, and a frame per request would cost more than
 * its budget, so there a request is current for its synchronous part, as before Node 24.
 *
 * What this misses before Node 24, and AsyncLocalStorage would catch: code a request runs from
 * a timer or an I/O callback of its own (not a promise reaction) is not attributed to it.
 */
export class TaskContext {
  /** Inside a promise reaction (or a `task()` function's synchronous run). */
  inReaction = false;
  /** The task of that reaction, if known. */
  reactionTask: TaskRef | undefined = undefined;
  private syncTask: TaskRef | undefined = undefined;
  private syncAsyncId = -1;

  constructor(private readonly als: AsyncLocalStorage<TaskRef>) {}

  /** The task the calling code runs in, if any. */
  current(): TaskRef | undefined {
    if (this.inReaction) return this.reactionTask ?? this.als.getStore();
    const sync = this.syncTask;
    if (sync !== undefined && !sync.ended && executionAsyncId() === this.syncAsyncId) return sync;
    return this.als.getStore();
  }

  /**
   * `task` is current for the rest of the running callback (an HTTP request's start). Later
   * callbacks of the same resource (the next data on a keep-alive socket) still see it until it
   * ends or another request starts.
   */
  enterCallback(task: TaskRef): void {
    this.syncTask = task;
    this.syncAsyncId = executionAsyncId();
  }

  /** Runs `fn(arg)` with `task` current for its synchronous part, then restores what was. */
  run<A, R>(task: TaskRef, fn: (arg: A) => R, arg: A): R {
    const { inReaction, reactionTask } = this;
    this.inReaction = true;
    this.reactionTask = task;
    try {
      return fn(arg);
    } finally {
      this.inReaction = inReaction;
      this.reactionTask = reactionTask;
    }
  }

  /** Back to no reaction (when the promise hooks are removed mid-reaction). */
  reset(): void {
    this.inReaction = false;
    this.reactionTask = undefined;
    this.syncTask = undefined;
  }
}
