// Host room (the app's main thread): live tasks and the history of finished ones.
import { performance } from 'node:perf_hooks';
import { coarseNow } from './coarse-clock.js';
import { traceparentOf } from '../../src/trace.js';
import { AsyncmonError } from '../../src/errors.js';
import type { CancelAction, CancelResult, HistoryEntry, TaskKind, TaskOutcome, TaskState } from '../../src/model.js';
import type { SpanLike } from './otel.js';
import type { RawStack } from './stack-capture.js';

/** What a cancel of a task's underlying work did, when the task is not a plain `task()`. */
export interface CancelEffect {
  action: CancelAction;
  message: string;
}

/** A live task. Internal to the agent: front ends only see `TaskInfo`. */
export interface TaskRecord {
  readonly id: number;
  readonly name: string;
  readonly kind: TaskKind;
  readonly parentId: number | null;
  readonly startMono: number;
  readonly raw: RawStack | null;
  readonly detail?: string;
  state: TaskState;
  ended: boolean;
  traceId?: string;
  spanId?: string;
  /** The span the task started in, held only when span events are on. */
  span?: SpanLike;
  /** A stuck event was added to its span already (one per task). */
  stuckNoted?: boolean;
  controller: AbortController | null;
  /** Rejects the promise `task()` returned, so awaiters are released on cancel. */
  reject: ((err: Error) => void) | null;
  /**
   * Kind-specific cancel (destroy an HTTP request's socket), applied to `target`. Shared
   * functions, not a closure per request: HTTP tasks are created on the hot path.
   */
  stop: ((target: unknown) => CancelEffect) | null;
  target: unknown;
  /** An HTTP request's response status once it ended (0 before, and for other kinds). */
  status: number;
}

/** HTTP requests that finish normally within this are not kept in history: most traffic is. */
export const HTTP_HISTORY_MIN_MS = 1000;

export interface TaskInit {
  /** The task's name; for HTTP requests leave it out and give `method` and `path` instead. */
  name?: string;
  /** An HTTP request's method and path (query string included): named only when first read. */
  method?: string;
  path?: string;
  /** An incoming request's raw headers: its trace id (`traceparent`) is read from them when first asked for. */
  rawHeaders?: unknown;
  kind: TaskKind;
  parentId: number | null;
  raw?: RawStack | null;
  detail?: string;
  controller?: AbortController | null;
}

/** `GET /users/42` from a method and a path that may carry a query string. */
export function requestName(method: string | undefined, path: string | undefined): string {
  const p = path ?? '/';
  const q = p.search(/[?#]/);
  return `${method ?? 'GET'} ${q >= 0 ? p.slice(0, q) : p}`;
}

/**
 * A live task's record. An HTTP request's name and trace id are worked out when something first
 * reads them (a listing, a history entry, `ps --trace`): most requests end unlisted, and looking
 * through the headers is per-request work (about 40 instructions a header).
 */
class Record implements TaskRecord {
  readonly kind: TaskKind;
  readonly parentId: number | null;
  readonly raw: RawStack | null;
  readonly detail: string | undefined;
  readonly controller: AbortController | null;
  state: TaskState = 'running';
  ended = false;
  spanId: string | undefined = undefined;
  reject: ((err: Error) => void) | null = null;
  stop: ((target: unknown) => CancelEffect) | null = null;
  target: unknown = null;
  status = 0;
  /** Its neighbours in the registry's list of live tasks (oldest first); null once ended. */
  prev: Record | null = null;
  next: Record | null = null;
  private label: string | undefined;
  private readonly method: string | undefined;
  private readonly path: string | undefined;
  private trace: string | undefined = undefined;
  /** An incoming request's raw headers until its trace id is read; dropped when it ends. */
  rawHeaders: unknown;

  constructor(
    readonly id: number,
    init: TaskInit,
    readonly startMono: number,
  ) {
    this.kind = init.kind;
    this.parentId = init.parentId;
    this.raw = init.raw ?? null;
    this.detail = init.detail;
    this.controller = init.controller ?? null;
    this.label = init.name;
    this.method = init.method;
    this.path = init.path;
    this.rawHeaders = init.rawHeaders ?? null;
  }

  get name(): string {
    return (this.label ??= requestName(this.method, this.path));
  }

  get traceId(): string | undefined {
    const raw = this.rawHeaders;
    if (raw !== null) {
      this.rawHeaders = null;
      this.trace = traceparentOf(raw) ?? undefined;
    }
    return this.trace;
  }

  set traceId(id: string | undefined) {
    this.rawHeaders = null;
    this.trace = id;
  }
}

/** A bounded ring of finished, failed and cancelled tasks, newest last. */
class HistoryRing {
  private readonly items: HistoryEntry[] = [];
  private start = 0;
  constructor(readonly capacity: number) {}
  push(entry: HistoryEntry): void {
    if (this.capacity <= 0) return;
    if (this.items.length < this.capacity) this.items.push(entry);
    else {
      this.items[this.start] = entry;
      this.start = (this.start + 1) % this.capacity;
    }
  }
  /** Newest first. */
  newest(limit = Infinity): HistoryEntry[] {
    const out: HistoryEntry[] = [];
    const n = this.items.length;
    for (let i = 0; i < n && out.length < limit; i++) {
      out.push(this.items[(this.start + n - 1 - i) % n]);
    }
    return out;
  }
  get size(): number {
    return this.items.length;
  }
  find(id: number): HistoryEntry | undefined {
    return this.items.find((e) => e.id === id);
  }
}

/**
 * The time a task of this kind starts and ends at. Incoming requests come with every request
 * the host serves: they read the worker's clock (coarse-clock.ts: within 50 ms, a few
 * instructions where performance.now() counts hundreds). Tasks and outgoing calls, whose
 * durations users read to the millisecond, read performance.now().
 */
function clockOf(kind: TaskKind): number {
  return kind === 'http-server' ? coarseNow() : performance.now();
}

/** An error with `name === 'AbortError'`, as `fetch` and `AbortSignal` use. */
export function abortError(message: string): Error {
  return new DOMException(message, 'AbortError') as unknown as Error;
}

/**
 * Live tasks and the history of ended ones. Tasks survive level changes: only this registry
 * owns them, never a tracker.
 *
 * Live tasks are a list linked through the records themselves, oldest first: starting and
 * ending one (once per HTTP request) only relinks neighbours. A `Map` by id counted 2–3.5k more
 * main-thread instructions per request in the bench's HTTP server on Node 24 (of about 61k),
 * far more than its `set` and `delete` count alone (about 450).
 * Lookups by id (a command naming a task) use an index built when first asked for and dropped
 * at the next start or end.
 */
export class TaskRegistry {
  private head: Record | null = null;
  private tail: Record | null = null;
  private count = 0;
  /** Live tasks by id, built by `get` and dropped when the list changes. */
  private index: Map<number, Record> | null = null;
  private readonly history: HistoryRing;
  private nextId = 1;
  dropped = 0;
  /** See HTTP_HISTORY_MIN_MS; 0 keeps every request (tests do). */
  httpHistoryMinMs = HTTP_HISTORY_MIN_MS;
  /**
   * Whether an ended task must stay findable whatever its outcome (it still owns live
   * resources, say): asked only for quick successful requests, which history skips otherwise.
   */
  keepEnded: ((rec: TaskRecord) => boolean) | null = null;

  constructor(
    historySize: number,
    private readonly maxLive: number,
  ) {
    this.history = new HistoryRing(historySize);
  }

  /** Registers a task; returns null (and counts it) when the live table is full. */
  start(init: TaskInit): TaskRecord | null {
    if (this.count >= this.maxLive) {
      this.dropped++;
      return null;
    }
    const rec = new Record(this.nextId++, init, clockOf(init.kind));
    const tail = this.tail;
    if (tail) {
      tail.next = rec;
      rec.prev = tail;
    } else this.head = rec;
    this.tail = rec;
    this.count++;
    this.index = null;
    return rec;
  }

  /** Takes an ended record out of the live list; one not in it (none should be) is left alone. */
  private unlink(rec: Record): void {
    const { prev, next } = rec;
    if (!prev ? this.head !== rec : prev.next !== rec) return;
    if (prev) prev.next = next;
    else this.head = next;
    if (next) next.prev = prev;
    else this.tail = prev;
    // An ended record may live on in async contexts: it must not keep the live list reachable.
    rec.prev = rec.next = null;
    this.count--;
    this.index = null;
  }

  /** Ends a task once; later calls (a close after a cancel) are ignored. */
  end(rec: TaskRecord, outcome: TaskOutcome, err?: unknown, cancelledBy?: string, reason?: string): void {
    if (rec.ended) return;
    rec.ended = true;
    rec.reject = null;
    rec.stop = null;
    rec.target = null;
    (rec as Record).rawHeaders = null;
    // An ended task's record may live on in async contexts: it must not keep the span too.
    if (rec.span) rec.span = undefined;
    this.unlink(rec as Record);
    const durationMs = Math.max(0, Math.round((clockOf(rec.kind) - rec.startMono) * 10) / 10);
    // Keeping every quick, successful request would promote an entry per request to the old
    // generation (measured: a third of HTTP throughput lost to GC at the default level).
    // Failed requests (a 5xx: the handler threw, or gave up) are kept, as are those that leave
    // live resources behind.
    if (rec.kind !== 'task' && outcome === 'finished' && durationMs < this.httpHistoryMinMs && rec.status < 500 && !this.keepEnded?.(rec)) return;
    const entry: HistoryEntry = {
      id: rec.id,
      name: rec.name,
      kind: rec.kind,
      parentId: rec.parentId,
      outcome,
      durationMs,
      endedAt: Date.now(),
    };
    if (rec.status) entry.status = rec.status;
    if (err !== undefined) entry.error = errorMessage(err);
    if (cancelledBy !== undefined) entry.cancelledBy = cancelledBy;
    if (reason !== undefined) entry.reason = reason;
    this.history.push(entry);
  }

  get(id: number): TaskRecord | undefined {
    let index = this.index;
    if (!index) {
      index = this.index = new Map();
      for (let rec = this.head; rec; rec = rec.next) index.set(rec.id, rec);
    }
    return index.get(id);
  }

  ended(id: number): HistoryEntry | undefined {
    return this.history.find(id);
  }

  /** Live tasks, oldest first: a copy, so a caller may end or cancel tasks as it goes. */
  all(): IterableIterator<TaskRecord> {
    const out: TaskRecord[] = [];
    for (let rec = this.head; rec; rec = rec.next) out.push(rec);
    return out.values();
  }

  get size(): number {
    return this.count;
  }

  recentHistory(limit?: number): HistoryEntry[] {
    return this.history.newest(limit);
  }

  get historySize(): number {
    return this.history.size;
  }

  /**
   * Cancels a live task: aborts its signal, rejects its promise with an AbortError (even when
   * the task ignores the signal) or destroys the request it stands for, and records who did it.
   */
  cancel(id: number, reasonGiven: string, by: string): CancelResult {
    // Kept in history and sent to every watcher: bounded.
    const reason = reasonGiven.length > 200 ? reasonGiven.slice(0, 199) + '…' : reasonGiven;
    const rec = this.get(id);
    if (!rec) {
      const past = this.history.find(id);
      if (past) throw new AsyncmonError('NO_SUCH_TASK', `task ${id} (${past.name}) already ${past.outcome}`);
      throw new AsyncmonError('NO_SUCH_TASK', `no task ${id}`);
    }
    rec.state = 'cancelling';
    const err = abortError(reason);
    const done: string[] = [];
    let action: CancelAction = 'none';
    if (rec.controller && !rec.controller.signal.aborted) {
      try {
        rec.controller.abort(err);
      } catch {}
      done.push('signal aborted');
      action = 'aborted';
    }
    const reject = rec.reject;
    if (reject) {
      reject(err);
      done.push('its promise rejected with AbortError');
      action = 'aborted';
    }
    const stop = rec.stop;
    if (stop) {
      const effect = stop(rec.target);
      done.push(effect.message);
      if (effect.action !== 'none') action = effect.action;
    }
    this.end(rec, 'cancelled', undefined, by, reason);
    return {
      id: String(id),
      kind: rec.kind,
      action,
      message: `task ${id} (${rec.name}) cancelled: ${done.length > 0 ? done.join(', ') : 'nothing to stop'}`,
    };
  }
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  try {
    return String(err);
  } catch {
    return 'unprintable error';
  }
}
