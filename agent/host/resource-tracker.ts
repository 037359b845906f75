// Host room (the app's main thread): async resources, from async_hooks (`resources` level).
import { createHook } from 'node:async_hooks';
import type { AsyncHook } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import type { ResourceInfo, Site } from '../../src/model.js';
import { isUserFrame } from '../../src/frames.js';
import type { FaultGuard } from './fault-guard.js';
import { ownScope } from './own-scope.js';
import { captureStack, stackFrames, stackSite } from './stack-capture.js';
import type { RawStack } from './stack-capture.js';
import type { StackPolicy } from './stack-policy.js';
import type { CurrentTask } from './promise-tracker.js';

interface ResourceRecord {
  type: string;
  triggerId: number;
  taskId: number;
  created: number;
  raw: RawStack | null;
  /**
   * The creation stack of what scheduled this one (its trigger's, or the trigger's origin),
   * kept when this one's own has no frame of the user's: a client library that connects from
   * `process.nextTick` made the socket, but the user's `new Redis()` made the tick.
   */
  origin: RawStack | null;
}

/**
 * Resource types that hold something open (a socket, a server, a process, a file): what a task
 * "still owns" when it has ended. Requests and callbacks in flight (connect, write, DNS) end
 * by themselves; timers are left out too, since Node sets them for a request itself (the
 * connection's keep-alive timeout is made by the handler's `res.end()`).
 */
const HOLDING = new Set(['TCPWRAP', 'PIPEWRAP', 'TTYWRAP', 'UDPWRAP', 'TCPSERVERWRAP', 'PIPESERVERWRAP', 'PROCESSWRAP', 'SIGNALWRAP', 'FSEVENTWRAP', 'STATWATCHER', 'FILEHANDLE', 'WORKER', 'HTTP2SESSION', 'MESSAGEPORT']);

/** The first frame of a stack in the user's own code (not Node's, asyncmon's or node_modules'). */
function userSite(raw: RawStack | null): Site | null {
  if (!raw) return null;
  for (const f of stackFrames(raw)) if (isUserFrame(f)) return f;
  return null;
}

/**
 * Every async resource except promises, from `async_hooks` (`resources` level). On Node
 * versions that accept `createHook({ trackPromises: false })` (24.x) this costs nothing per
 * promise; on older ones any `init` hook turns on a promise hook too, and we return early for
 * PROMISE. Records leave on `destroy`; the map is capped for resources that never report one.
 */
export class ResourceTracker {
  private records = new Map<number, ResourceRecord>();
  /** Live resources per owning task, so a task's end can ask in O(1) whether it leaves any. */
  private readonly owned = new Map<number, number>();
  private hook: AsyncHook | null = null;
  evicted = 0;

  constructor(
    private readonly max: number,
    private readonly guard: FaultGuard,
    private readonly policy: StackPolicy,
    private readonly currentTask: CurrentTask,
  ) {
    this.onInit = this.onInit.bind(this);
    this.onDestroy = this.onDestroy.bind(this);
  }

  get enabled(): boolean {
    return this.hook !== null;
  }

  get size(): number {
    return this.records.size;
  }

  enable(): this {
    if (this.hook) return this;
    // `trackPromises` is read by Node 24+ and ignored by older versions.
    const options = { init: this.onInit, destroy: this.onDestroy, trackPromises: false };
    this.hook = createHook(options).enable();
    return this;
  }

  /** Removes the hook and frees every record. */
  disable(): this {
    this.hook?.disable();
    this.hook = null;
    this.records = new Map();
    this.owned.clear();
    return this;
  }

  /** Node calls this synchronously when an async resource is constructed. */
  private onInit(asyncId: number, type: string, triggerId: number): void {
    if (type === 'PROMISE' || ownScope.depth > 0) return;
    try {
      this.guard.check();
      if (this.records.size >= this.max) this.evictOldest();
      const task = this.currentTask();
      // Work scheduled by something that belongs to a task (or was made in the user's code)
      // belongs there too: the trigger chain.
      const trigger = this.records.get(triggerId);
      const taskId = task !== undefined ? task.id : (trigger?.taskId ?? 0);
      const raw = this.policy.shouldCapture(task) ? captureStack() : null;
      this.records.set(asyncId, { type, triggerId, taskId, created: performance.now(), raw, origin: trigger ? (trigger.raw ?? trigger.origin) : null });
      if (taskId && HOLDING.has(type)) this.owned.set(taskId, (this.owned.get(taskId) ?? 0) + 1);
    } catch (err) {
      this.guard.record(err);
    }
  }

  /**
   * Forgets the oldest 1% at once: a Map iterator walks the holes deletions leave at its
   * front, so evicting one at a time would cost more with every eviction.
   */
  private evictOldest(): void {
    let n = Math.max(1, Math.floor(this.max / 100));
    for (const id of this.records.keys()) {
      this.forget(id);
      this.evicted++;
      if (--n === 0) break;
    }
  }

  /** Node calls this after the resource's last callback, or when it is garbage collected. */
  private onDestroy(asyncId: number): void {
    try {
      this.forget(asyncId);
    } catch (err) {
      this.guard.record(err);
    }
  }

  private forget(asyncId: number): void {
    const rec = this.records.get(asyncId);
    if (!rec) return;
    this.records.delete(asyncId);
    if (rec.taskId && HOLDING.has(rec.type)) {
      const n = (this.owned.get(rec.taskId) ?? 1) - 1;
      if (n > 0) this.owned.set(rec.taskId, n);
      else this.owned.delete(rec.taskId);
    }
  }

  /** How many live resources that hold something open task `taskId` owns (O(1)). */
  countOf(taskId: number): number {
    return this.owned.get(taskId) ?? 0;
  }

  private info(asyncId: number, rec: ResourceRecord, now: number): ResourceInfo {
    return {
      id: `r${asyncId}`,
      asyncId,
      type: rec.type,
      triggerId: rec.triggerId,
      taskId: rec.taskId || null,
      ageMs: Math.round(now - rec.created),
      // The user's frame of its own stack, else of what scheduled it, else its first frame.
      site: userSite(rec.raw) ?? userSite(rec.origin) ?? stackSite(rec.raw),
    };
  }

  /** The newest live resources, newest first. */
  newest(limit: number): ResourceInfo[] {
    const all = Array.from(this.records);
    const now = performance.now();
    const out: ResourceInfo[] = [];
    for (let i = all.length - 1; i >= 0 && out.length < limit; i--) out.push(this.info(all[i][0], all[i][1], now));
    return out;
  }

  get(asyncId: number): ResourceInfo | null {
    const rec = this.records.get(asyncId);
    return rec ? this.info(asyncId, rec, performance.now()) : null;
  }

  /** Resources owned by a task, for "what can be cancelled instead"; `holding`: only those that hold something open. */
  ofTask(taskId: number, limit: number, holding = false): ResourceInfo[] {
    const now = performance.now();
    const out: ResourceInfo[] = [];
    for (const [id, rec] of this.records) {
      if (rec.taskId === taskId && (!holding || HOLDING.has(rec.type))) out.push(this.info(id, rec, now));
      if (out.length >= limit) break;
    }
    return out;
  }
}
