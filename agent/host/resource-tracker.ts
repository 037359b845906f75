// Host room (the app's main thread): async resources, from async_hooks (`resources` level).
import { createHook } from 'node:async_hooks';
import type { AsyncHook } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import type { ResourceInfo } from '../../src/model.js';
import type { FaultGuard } from './fault-guard.js';
import { ownScope } from './own-scope.js';
import { captureStack, stackSite } from './stack-capture.js';
import type { RawStack } from './stack-capture.js';
import type { StackPolicy } from './stack-policy.js';
import type { CurrentTask } from './promise-tracker.js';

interface ResourceRecord {
  type: string;
  triggerId: number;
  taskId: number;
  created: number;
  raw: RawStack | null;
}

/**
 * Every async resource except promises, from `async_hooks` (`resources` level). On Node
 * versions that accept `createHook({ trackPromises: false })` (24.x) this costs nothing per
 * promise; on older ones any `init` hook turns on a promise hook too, and we return early for
 * PROMISE. Records leave on `destroy`; the map is capped for resources that never report one.
 */
export class ResourceTracker {
  private records = new Map<number, ResourceRecord>();
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
    return this;
  }

  /** Node calls this synchronously when an async resource is constructed. */
  private onInit(asyncId: number, type: string, triggerId: number): void {
    if (type === 'PROMISE' || ownScope.depth > 0) return;
    try {
      this.guard.check();
      if (this.records.size >= this.max) this.evictOldest();
      const task = this.currentTask();
      this.records.set(asyncId, {
        type,
        triggerId,
        taskId: task === undefined ? 0 : task.id,
        created: performance.now(),
        raw: this.policy.shouldCapture(task) ? captureStack() : null,
      });
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
      this.records.delete(id);
      this.evicted++;
      if (--n === 0) break;
    }
  }

  /** Node calls this after the resource's last callback, or when it is garbage collected. */
  private onDestroy(asyncId: number): void {
    try {
      this.records.delete(asyncId);
    } catch (err) {
      this.guard.record(err);
    }
  }

  private info(asyncId: number, rec: ResourceRecord, now: number): ResourceInfo {
    return {
      id: `r${asyncId}`,
      asyncId,
      type: rec.type,
      triggerId: rec.triggerId,
      taskId: rec.taskId || null,
      ageMs: Math.round(now - rec.created),
      site: stackSite(rec.raw),
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

  /** Resources owned by a task, for "what can be cancelled instead". */
  ofTask(taskId: number, limit: number): ResourceInfo[] {
    const now = performance.now();
    const out: ResourceInfo[] = [];
    for (const [id, rec] of this.records) {
      if (rec.taskId === taskId) out.push(this.info(id, rec, now));
      if (out.length >= limit) break;
    }
    return out;
  }
}
