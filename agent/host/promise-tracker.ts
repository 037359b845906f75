// Host room (the app's main thread): pending promises, from v8.promiseHooks (`promises`
// level).
import { performance } from 'node:perf_hooks';
import { promiseHooks } from 'node:v8';
import { formatSite } from '../../src/format.js';
import type { Frame, PromiseGroup, PromiseInfo, Site, StacksMode } from '../../src/model.js';
import { parkedAwait } from '../../src/parked.js';
import type { PendingPromise } from '../../src/parked.js';
import type { FaultGuard } from './fault-guard.js';
import { markOwn, ownScope, runOwn } from './own-scope.js';
import { captureStack, functionKey, stackFrames, stackSite } from './stack-capture.js';
import type { RawStack } from './stack-capture.js';
import { period } from './clock-scale.js';
import type { StackPolicy } from './stack-policy.js';
import type { TaskContext, TaskRef } from './task-context.js';

/** Pending promises `parkedByTask` looks at, newest first: bounded, for a listing of many tasks. */
const PARKED_SCAN = 50_000;

/** Where a task is parked, as `where` and `ps` show it. */
export interface ParkedAt {
  promiseId: string;
  /** The named await's creation stack; null without one. */
  frames: Frame[] | null;
  /** Library awaits below it, innermost last (their first frame each). */
  via: Frame[];
  /** No await of its chain is in the user's code. */
  libraryOnly: boolean;
  /** False when the task has no pending await or then: this is just its newest promise. */
  reaction: boolean;
}

/** The task the current code runs in, if any. */
export type CurrentTask = () => TaskRef | undefined;

/** Slot numbers take the low bits of a promise's tag, a generation the high ones (a Smi). */
const SLOT_BITS = 18;
const SLOT_MASK = (1 << SLOT_BITS) - 1;
const GEN_MASK = 0xfff;
/** The most promises one tracker can hold: slot numbers must fit their bits. */
export const MAX_TRACKED_PROMISES = SLOT_MASK;
const NONE = -1;
/**
 * Creation times come from a clock read every CLOCK_EVERY promises and refreshed every
 * CLOCK_MS by a timer: reading it per promise was about a third of the tracker's cost. An age
 * is then at most CLOCK_MS too old, never too young.
 */
const CLOCK_EVERY = 32;
const CLOCK_MS = period(50);

/** A base class whose constructor returns its argument, so a subclass can stamp any object. */
class Stamped {
  constructor(target: object) {
    return target as Stamped;
  }
}

/**
 * Stamps a promise with its record's tag in a private field: no Map lookup, nothing the
 * application can see (no property, symbol or `util.inspect` output), and no reference from the
 * tracker to the promise, so tracking never keeps one alive.
 */
class PromiseTag extends Stamped {
  #tag: number;
  private constructor(target: object, tag: number) {
    super(target);
    this.#tag = tag;
  }

  static stamp(target: object, tag: number): void {
    new PromiseTag(target, tag);
  }

  /** The promise's tag, or -1 when it was never stamped. */
  static of(target: object): number {
    return #tag in target ? (target as unknown as PromiseTag).#tag : NONE;
  }
}

/**
 * Pending promises at `promises` level, through `v8.promiseHooks` (init/settled: about 0.85 of
 * HTTP throughput, against about 0.5 for async_hooks with promises; it has no destroy event).
 * Its `before`/`after` hooks also tell the task context which task a reaction runs in, so
 * promises are attributed to tasks without AsyncLocalStorage (see `TaskContext`).
 *
 * Memory: a record is a slot in typed arrays (creation order as a doubly linked list through
 * them), and the promise carries its slot number in a private field. The tracker holds no
 * reference to any promise: one that is never settled and becomes unreachable is collected as
 * usual, and its record stays until it is the oldest when the table is full, then is evicted
 * (and counted). A tag carries a 12-bit generation besides the slot, so a late settle of an
 * evicted promise almost never frees the record now in its slot (one chance in 4096 when it
 * does, and only after evictions).
 */
export class PromiseTracker {
  private ids = new Float64Array(0);
  private created = new Float64Array(0);
  private parents = new Float64Array(0);
  /** Creation order, oldest at `head`; `next` also chains the free slots. */
  private prev = new Int32Array(0);
  private next = new Int32Array(0);
  /** The task each promise was created in. */
  private owners: Array<TaskRef | undefined> = [];
  private readonly stacks = new Map<number, RawStack>();
  private head = NONE;
  private tail = NONE;
  private freeHead = NONE;
  private used = 0;
  private live = 0;
  private nextId = 0;
  private readonly max: number;
  private stop: (() => void) | null = null;
  private clock = 0;
  private clockTimer: NodeJS.Timeout | null = null;
  private enabledAt = 0;
  evicted = 0;

  constructor(
    max: number,
    private readonly guard: FaultGuard,
    private readonly policy: StackPolicy,
    private readonly context: TaskContext,
    /**
     * Whether to follow reactions with `before`/`after` hooks to know their task. Not needed
     * where AsyncLocalStorage is cheap enough for requests to enter it at this level (Node 24+):
     * two hook calls per reaction cost more there than a store lookup per promise.
     */
    private readonly followReactions = true,
  ) {
    this.max = Math.max(1, Math.min(max, MAX_TRACKED_PROMISES));
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
    this.clock = performance.now();
    this.enabledAt = this.clock;
    runOwn(() => {
      this.clockTimer = markOwn(setInterval(() => (this.clock = performance.now()), CLOCK_MS));
      this.clockTimer.unref();
    });
    this.stop = promiseHooks.createHook(
      this.followReactions
        ? { init: this.onInit, before: this.onBefore, after: this.onAfter, settled: this.onSettled }
        : { init: this.onInit, settled: this.onSettled },
    ) as () => void;
    return this;
  }

  /** Removes the hooks and frees every record. */
  disable(): this {
    if (this.stop) {
      this.stop();
      this.stop = null;
      this.context.reset();
    }
    if (this.clockTimer) {
      clearInterval(this.clockTimer);
      this.clockTimer = null;
    }
    this.ids = new Float64Array(0);
    this.created = new Float64Array(0);
    this.parents = new Float64Array(0);
    this.prev = new Int32Array(0);
    this.next = new Int32Array(0);
    this.owners = [];
    this.stacks.clear();
    this.head = this.tail = this.freeHead = NONE;
    this.used = 0;
    this.live = 0;
    return this;
  }

  get size(): number {
    return this.live;
  }

  /** The slot of a tracked, still-pending promise, or -1. */
  private slotOf(promise: Promise<unknown>): number {
    const tag = PromiseTag.of(promise);
    if (tag < 0) return NONE;
    const slot = tag & SLOT_MASK;
    const id = this.ids[slot];
    return id !== 0 && (id & GEN_MASK) === tag >>> SLOT_BITS ? slot : NONE;
  }

  /** V8 calls this synchronously whenever a promise is created (`new`, `then`, `await`, async fn). */
  private onInit(promise: Promise<unknown>, parent: Promise<unknown> | undefined): void {
    if (ownScope.depth > 0) return;
    try {
      this.guard.check();
      if (this.live >= this.max) this.evictOldest();
      const slot = this.alloc();
      let task = this.context.current();
      const id = ++this.nextId;
      this.ids[slot] = id;
      if (id % CLOCK_EVERY === 0) this.clock = performance.now();
      this.created[slot] = this.clock;
      let parentId = 0;
      if (parent !== undefined) {
        const ps = this.slotOf(parent);
        if (ps !== NONE) {
          parentId = this.ids[ps];
          // Chained outside any known task (a timer's callback, say): the parent's task.
          if (task === undefined) task = this.owners[ps];
        }
      }
      this.owners[slot] = task;
      this.parents[slot] = parentId;
      if (this.policy.shouldCapture(task)) this.stacks.set(slot, captureStack());
      this.link(slot);
      PromiseTag.stamp(promise, ((id & GEN_MASK) << SLOT_BITS) | slot);
    } catch (err) {
      this.guard.record(err);
    }
  }

  /** V8 calls this before a reaction of `promise` runs (an `await` continuation, a `then`). */
  private onBefore(promise: Promise<unknown>): void {
    const context = this.context;
    context.inReaction = true;
    try {
      const slot = this.slotOf(promise);
      context.reactionTask = slot === NONE ? undefined : this.owners[slot];
    } catch (err) {
      context.reactionTask = undefined;
      this.guard.record(err);
    }
  }

  private onAfter(): void {
    const context = this.context;
    context.inReaction = false;
    context.reactionTask = undefined;
  }

  /** V8 calls this when a promise resolves or rejects. */
  private onSettled(promise: Promise<unknown>): void {
    try {
      const slot = this.slotOf(promise);
      if (slot !== NONE) this.release(slot);
    } catch (err) {
      this.guard.record(err);
    }
  }

  private alloc(): number {
    const reused = this.freeHead;
    if (reused !== NONE) {
      this.freeHead = this.next[reused];
      return reused;
    }
    if (this.used === this.ids.length) this.grow();
    return this.used++;
  }

  /** Appends `slot` as the newest record. */
  private link(slot: number): void {
    this.prev[slot] = this.tail;
    this.next[slot] = NONE;
    if (this.tail === NONE) this.head = slot;
    else this.next[this.tail] = slot;
    this.tail = slot;
    this.live++;
  }

  /** Unlinks `slot` from the creation order and puts it on the free list. */
  private release(slot: number): void {
    const p = this.prev[slot];
    const n = this.next[slot];
    if (p === NONE) this.head = n;
    else this.next[p] = n;
    if (n === NONE) this.tail = p;
    else this.prev[n] = p;
    this.live--;
    if (this.stacks.size > 0) this.stacks.delete(slot);
    this.ids[slot] = 0;
    this.owners[slot] = undefined;
    this.next[slot] = this.freeHead;
    this.freeHead = slot;
  }

  private grow(): void {
    const size = Math.min(Math.max(1024, this.ids.length * 2), this.max);
    const grown = <T extends Float64Array | Int32Array>(old: T, fresh: T): T => {
      fresh.set(old);
      return fresh;
    };
    this.ids = grown(this.ids, new Float64Array(size));
    this.created = grown(this.created, new Float64Array(size));
    this.parents = grown(this.parents, new Float64Array(size));
    this.prev = grown(this.prev, new Int32Array(size));
    this.next = grown(this.next, new Int32Array(size));
  }

  /** Forgets the oldest pending promise to make room. */
  private evictOldest(): void {
    if (this.head === NONE) return;
    this.release(this.head);
    this.evicted++;
  }

  /** Slots newest first, at most `scan` of them. */
  private *newestSlots(scan = Infinity): Generator<number> {
    let seen = 0;
    for (let slot = this.tail; slot !== NONE && seen < scan; slot = this.prev[slot], seen++) yield slot;
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
    const now = performance.now();
    const out: PromiseInfo[] = [];
    for (const slot of this.newestSlots(limit)) out.push(this.info(slot, now));
    return out;
  }

  /**
   * Visits pending promises in slices of at most `sliceSize` entries and about `sliceMs` of
   * work, yielding to the event loop between slices, so a full listing never holds the main
   * thread for long (formatting a site can cost tens of µs per entry). It walks the table in
   * slot order (creation order, until slots are reused), so no slice has to look at the whole
   * table: every promise pending throughout is listed once, and none made after the listing
   * started. `spent` is told how long each slice took to build (the agent's budget counts it).
   */
  async *slices(sliceSize: number, sliceMs = 4, spent?: (ms: number) => void): AsyncGenerator<PromiseInfo[]> {
    const stopAt = this.nextId;
    let slot = 0;
    for (;;) {
      const started = performance.now();
      const chunk: PromiseInfo[] = [];
      while (chunk.length < sliceSize && slot < this.used) {
        const id = this.ids[slot];
        if (id !== 0 && id <= stopAt) chunk.push(this.info(slot, started));
        slot++;
        if ((slot & 31) === 0 && performance.now() - started > sliceMs) break;
      }
      spent?.(performance.now() - started);
      if (chunk.length > 0) yield chunk;
      if (slot >= this.used) return;
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
    for (const slot of this.newestSlots(scan)) {
      const raw = this.stacks.get(slot);
      const site: Site | null = stackSite(raw);
      const note = site ? undefined : raw ? 'only Node-internal frames' : noStackNote(this.policy.mode);
      const key = site ? formatSite(site) : `(${note})`;
      const age = now - this.created[slot];
      const group = bySite.get(key);
      if (group) {
        group.count++;
        if (age > group.oldestMs) group.oldestMs = Math.round(age);
      } else bySite.set(key, note ? { site, count: 1, oldestMs: Math.round(age), note } : { site, count: 1, oldestMs: Math.round(age) });
    }
    const items = [...bySite.values()].sort((a, b) => b.count - a.count || b.oldestMs - a.oldestMs);
    return { total: items.length, items: items.slice(0, limit) };
  }

  /**
   * Where each task (of `tasks`, or every one) is parked: the await named by `parkedAwait`
   * (src/parked.ts), from one pass over the newest `scan` pending promises however many tasks
   * are asked for. Stacks are read only for the tasks' own promises and the parents looked up.
   */
  parkedByTask(tasks: ReadonlySet<number> | null = null, scan = PARKED_SCAN): Map<number, ParkedAt> {
    const slotOfId = new Map<number, number>();
    const byTask = new Map<number, number[]>();
    for (const slot of this.newestSlots(scan)) {
      slotOfId.set(this.ids[slot], slot);
      const task = this.owners[slot]?.id;
      if (task === undefined || (tasks !== null && !tasks.has(task))) continue;
      const list = byTask.get(task);
      if (list) list.push(slot);
      else byTask.set(task, [slot]);
    }
    const made = new Map<number, PendingPromise>();
    const pending = (slot: number): PendingPromise => {
      let p = made.get(slot);
      if (!p) {
        const raw = this.stacks.get(slot);
        p = { id: this.ids[slot], parentId: this.parents[slot], fnKey: functionKey(raw), frames: raw ? stackFrames(raw) : null };
        made.set(slot, p);
      }
      return p;
    };
    const lookup = (id: number) => {
      const slot = slotOfId.get(id);
      return slot === undefined ? undefined : pending(slot);
    };
    const out = new Map<number, ParkedAt>();
    for (const [task, slots] of byTask) {
      const parked = parkedAwait(slots.map(pending), lookup);
      if (!parked) {
        // No await or then pending: the newest promise the task made is all there is to show.
        const newest = pending(slots[0]);
        out.set(task, { promiseId: `p${newest.id}`, frames: newest.frames, via: [], libraryOnly: false, reaction: false });
        continue;
      }
      out.set(task, {
        promiseId: `p${parked.at.id}`,
        frames: parked.at.frames,
        via: parked.via.map((p) => p.frames?.[0]).filter((f): f is Frame => f !== undefined),
        libraryOnly: parked.libraryOnly,
        reaction: true,
      });
    }
    return out;
  }

  /** When tracking started (performance.now()), or null while it is off. */
  get since(): number | null {
    return this.stop ? this.enabledAt : null;
  }

  /** The task and site of a pending promise, for cancel's "cannot cancel, but…" answer. */
  lookup(id: string): { taskId: number | null; site: Site | null } | null {
    const want = Number(id.slice(1));
    for (const slot of this.newestSlots()) {
      if (this.ids[slot] === want) return { taskId: this.owners[slot]?.id ?? null, site: stackSite(this.stacks.get(slot)) };
    }
    return null;
  }
}

/** Why a pending promise has no creation stack, in words that say what would give it one. */
function noStackNote(mode: StacksMode): string {
  if (mode === 'off') return 'no stack: track promises on';
  if (mode === 'tasks') return 'no stack: made outside a task; track promises on';
  if (typeof mode === 'number') return `no stack: not sampled (1/${mode}); track promises on`;
  return 'no stack: made before stacks were on';
}
