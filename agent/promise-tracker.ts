import { performance } from 'node:perf_hooks';
import { promiseHooks } from 'node:v8';
import { formatSite } from '../src/format.js';
import type { PromiseGroup, PromiseInfo, Site } from '../src/model.js';
import type { FaultGuard } from './fault-guard.js';
import { ownScope } from './own-scope.js';
import { captureStack, stackSite } from './stack-capture.js';
import type { RawStack } from './stack-capture.js';
import type { StackPolicy } from './stack-policy.js';
import type { TaskContext, TaskRef } from './task-context.js';

/** The task the current code runs in, if any. */
export type CurrentTask = () => TaskRef | undefined;

/**
 * Pending promises at `promises` level, through `v8.promiseHooks` (init/settled: about 0.85 of
 * HTTP throughput, against about 0.5 for async_hooks with promises; it has no destroy event).
 * Its `before`/`after` hooks also tell the task context which task a reaction runs in, so
 * promises are attributed to tasks without AsyncLocalStorage (see `TaskContext`).
 *
 * Memory: a record is a slot in typed arrays plus one Map entry (~60 B), not an object per
 * promise. The Map holds promises strongly, so a never-settled, unreachable promise would be
 * kept alive by the tracker itself: the Map is capped and the oldest entries are evicted (and
 * counted) so tracking never becomes the leak it is meant to find.
 */
export class PromiseTracker {
  private slots = new Map<Promise<unknown>, number>();
  private ids = new Float64Array(0);
  private created = new Float64Array(0);
  /** The task each promise was created in. */
  private owners: Array<TaskRef | undefined> = [];
  private parents = new Float64Array(0);
  private readonly stacks = new Map<number, RawStack>();
  /** The promise in each slot, so the oldest can be evicted without walking the Map. */
  private keys: Array<Promise<unknown> | undefined> = [];
  /** Creation order as (slot, id) pairs; entries whose slot was freed are skipped lazily. */
  private orderSlots: number[] = [];
  private orderIds: number[] = [];
  private orderHead = 0;
  private free: number[] = [];
  private used = 0;
  private nextId = 0;
  private stop: (() => void) | null = null;
  evicted = 0;

  constructor(
    private readonly max: number,
    private readonly guard: FaultGuard,
    private readonly policy: StackPolicy,
    private readonly context: TaskContext,
  ) {
    this.onInit = this.onInit.bind(this);
    this.onSettled = this.onSettled.bind(this);
    this.onBefore = this.onBefore.bind(this);
    this.onAfter = this.onAfter.bind(this);
  }

  get enabled(): boolean {
    return this.stop !== null;
  }

  enable(): this {
    if (this.stop) return this;
    this.stop = promiseHooks.createHook({
      init: this.onInit,
      before: this.onBefore,
      after: this.onAfter,
      settled: this.onSettled,
    }) as () => void;
    return this;
  }

  /** Removes the hooks and frees every record. */
  disable(): this {
    if (this.stop) {
      this.stop();
      this.stop = null;
      this.context.reset();
    }
    this.slots = new Map();
    this.ids = new Float64Array(0);
    this.created = new Float64Array(0);
    this.owners = [];
    this.parents = new Float64Array(0);
    this.stacks.clear();
    this.keys = [];
    this.orderSlots = [];
    this.orderIds = [];
    this.orderHead = 0;
    this.free = [];
    this.used = 0;
    return this;
  }

  get size(): number {
    return this.slots.size;
  }

  /** V8 calls this synchronously whenever a promise is created (`new`, `then`, `await`, async fn). */
  private onInit(promise: Promise<unknown>, parent: Promise<unknown> | undefined): void {
    if (ownScope.depth > 0) return;
    try {
      this.guard.check();
      if (this.slots.size >= this.max) this.evictOldest();
      const slot = this.alloc();
      let task = this.context.current();
      const id = ++this.nextId;
      this.ids[slot] = id;
      this.keys[slot] = promise;
      this.pushOrder(slot, id);
      this.created[slot] = performance.now();
      let parentId = 0;
      if (parent !== undefined) {
        const ps = this.slots.get(parent);
        if (ps !== undefined) {
          parentId = this.ids[ps];
          // Chained outside any known task (a timer's callback, say): the parent's task.
          if (task === undefined) task = this.owners[ps];
        }
      }
      this.owners[slot] = task;
      this.parents[slot] = parentId;
      if (this.policy.shouldCapture(task !== undefined && task.kind === 'task')) this.stacks.set(slot, captureStack());
      this.slots.set(promise, slot);
    } catch (err) {
      this.guard.record(err);
    }
  }

  /** V8 calls this before a reaction of `promise` runs (an `await` continuation, a `then`). */
  private onBefore(promise: Promise<unknown>): void {
    const context = this.context;
    context.inReaction = true;
    const slot = this.slots.get(promise);
    context.reactionTask = slot === undefined ? undefined : this.owners[slot];
  }

  private onAfter(): void {
    const context = this.context;
    context.inReaction = false;
    context.reactionTask = undefined;
  }

  /** V8 calls this when a promise resolves or rejects. */
  private onSettled(promise: Promise<unknown>): void {
    try {
      const slot = this.slots.get(promise);
      if (slot === undefined) return;
      this.slots.delete(promise);
      this.release(slot);
    } catch (err) {
      this.guard.record(err);
    }
  }

  private alloc(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if (this.used === this.ids.length) this.grow();
    return this.used++;
  }

  private release(slot: number): void {
    this.stacks.delete(slot);
    this.ids[slot] = 0;
    this.keys[slot] = undefined;
    this.owners[slot] = undefined;
    this.free.push(slot);
  }

  private pushOrder(slot: number, id: number): void {
    this.orderSlots.push(slot);
    this.orderIds.push(id);
    const length = this.orderSlots.length - this.orderHead;
    // Amortised O(1): drop consumed entries, and entries of settled promises once they dominate.
    if (length > 2 * this.max + 1024) this.compactOrder(true);
    else if (this.orderHead > 65_536 && this.orderHead * 2 > this.orderSlots.length) this.compactOrder(false);
  }

  private compactOrder(dropSettled: boolean): void {
    const slots: number[] = [];
    const ids: number[] = [];
    for (let i = this.orderHead; i < this.orderSlots.length; i++) {
      const slot = this.orderSlots[i];
      const id = this.orderIds[i];
      if (dropSettled && this.ids[slot] !== id) continue;
      slots.push(slot);
      ids.push(id);
    }
    this.orderSlots = slots;
    this.orderIds = ids;
    this.orderHead = 0;
  }

  private grow(): void {
    const size = Math.min(Math.max(1024, this.ids.length * 2), this.max + 1);
    const ids = new Float64Array(size);
    ids.set(this.ids);
    this.ids = ids;
    const created = new Float64Array(size);
    created.set(this.created);
    this.created = created;
    const parents = new Float64Array(size);
    parents.set(this.parents);
    this.parents = parents;
  }

  /**
   * Forgets the oldest pending promise. Not through the Map's iterator: after many deletions
   * it walks every hole left at the front, which made eviction quadratic.
   */
  private evictOldest(): void {
    while (this.orderHead < this.orderSlots.length) {
      const slot = this.orderSlots[this.orderHead];
      const id = this.orderIds[this.orderHead];
      this.orderHead++;
      if (this.ids[slot] !== id) continue;
      const key = this.keys[slot];
      if (key !== undefined) this.slots.delete(key);
      this.release(slot);
      this.evicted++;
      return;
    }
  }

  private info(slot: number, now: number): PromiseInfo {
    const parent = this.parents[slot];
    const task = this.owners[slot];
    return {
      id: `p${this.ids[slot]}`,
      parentId: parent ? `p${parent}` : null,
      taskId: task === undefined ? null : task.id,
      ageMs: Math.round(now - this.created[slot]),
      site: stackSite(this.stacks.get(slot)),
    };
  }

  /** The newest pending promises, newest first, at most `limit`. */
  newest(limit: number): PromiseInfo[] {
    const all = Array.from(this.slots.values());
    const now = performance.now();
    const out: PromiseInfo[] = [];
    for (let i = all.length - 1; i >= 0 && out.length < limit; i--) out.push(this.info(all[i], now));
    return out;
  }

  /**
   * Visits pending promises oldest first in slices of at most `sliceSize` entries and about
   * `sliceMs` of work, yielding to the event loop between slices, so a full listing never holds
   * the main thread for long (formatting a site can cost tens of µs per entry).
   */
  async *slices(sliceSize: number, sliceMs = 4): AsyncGenerator<PromiseInfo[]> {
    const stopAt = this.nextId;
    const iter = this.slots.values();
    for (;;) {
      const started = performance.now();
      const chunk: PromiseInfo[] = [];
      let done = false;
      while (chunk.length < sliceSize) {
        const next = iter.next();
        if (next.done) {
          done = true;
          break;
        }
        if (this.ids[next.value] > stopAt) continue;
        chunk.push(this.info(next.value, started));
        if ((chunk.length & 63) === 0 && performance.now() - started > sliceMs) break;
      }
      if (chunk.length > 0) yield chunk;
      if (done) return;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /**
   * Pending promises grouped by creation site, largest group first. Looks at the newest `scan`
   * promises at most (formatting a site costs a few µs each).
   */
  groups(limit: number, scan: number): { total: number; items: PromiseGroup[] } {
    const now = performance.now();
    const bySite = new Map<string, PromiseGroup>();
    const all = Array.from(this.slots.values());
    for (let i = all.length - 1, seen = 0; i >= 0 && seen < scan; i--, seen++) {
      const slot = all[i];
      const site: Site | null = stackSite(this.stacks.get(slot));
      const key = site ? formatSite(site) : '';
      const age = now - this.created[slot];
      const group = bySite.get(key);
      if (group) {
        group.count++;
        if (age > group.oldestMs) group.oldestMs = Math.round(age);
      } else bySite.set(key, { site, count: 1, oldestMs: Math.round(age) });
    }
    const items = [...bySite.values()].sort((a, b) => b.count - a.count || b.oldestMs - a.oldestMs);
    return { total: items.length, items: items.slice(0, limit) };
  }

  /**
   * For every task, its newest still-pending promise: one pass over the table, however many
   * tasks are listed (a pass per task made `ps` quadratic).
   */
  newestByTask(): Map<number, RawStack | null> {
    const best = new Map<number, number>();
    for (const slot of this.slots.values()) {
      const task = this.owners[slot]?.id;
      if (task === undefined) continue;
      const prev = best.get(task);
      if (prev === undefined || this.ids[slot] > this.ids[prev]) best.set(task, slot);
    }
    const out = new Map<number, RawStack | null>();
    for (const [task, slot] of best) out.set(task, this.stacks.get(slot) ?? null);
    return out;
  }

  /** The newest still-pending promise created inside task `taskId`, with its captured stack. */
  newestOfTask(taskId: number): { id: string; raw: RawStack | null } | null {
    let best = -1;
    let bestId = 0;
    for (const slot of this.slots.values()) {
      if (this.owners[slot]?.id === taskId && this.ids[slot] > bestId) {
        best = slot;
        bestId = this.ids[slot];
      }
    }
    if (best < 0) return null;
    return { id: `p${bestId}`, raw: this.stacks.get(best) ?? null };
  }

  /** The task and site of a pending promise, for cancel's "cannot cancel, but…" answer. */
  lookup(id: string): { taskId: number | null; site: Site | null } | null {
    const want = Number(id.slice(1));
    for (const slot of this.slots.values()) {
      if (this.ids[slot] === want) return { taskId: this.owners[slot]?.id ?? null, site: stackSite(this.stacks.get(slot)) };
    }
    return null;
  }
}
