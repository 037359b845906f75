import type { BlockedEpisode, BlockedTask, Frame, HandleInfo, HistoryEntry, PromiseGroup, ResourceInfo, Site, TaskInfo } from '../../src/model.js';

/**
 * Turns what arrived on the wire into well-formed model values, or drops it. The agent is a
 * separate program (maybe another version): a malformed update must never crash the view.
 */

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
const str = (v: unknown, fallback = ''): string => (typeof v === 'string' ? v : fallback);
const num = (v: unknown, fallback = 0): number => (typeof v === 'number' && Number.isFinite(v) ? v : fallback);
/** Epoch milliseconds a Date can show. */
const time = (v: unknown): number => {
  const n = num(v, 0);
  return Math.abs(n) < 8.64e15 ? n : 0;
};

export function site(v: unknown): Site | null {
  if (!isObj(v) || typeof v.file !== 'string') return null;
  return { fn: str(v.fn), file: v.file, line: num(v.line), column: num(v.column) };
}

export function frames(v: unknown): Frame[] {
  return Array.isArray(v) ? v.map(site).filter((f): f is Frame => f !== null) : [];
}

/** The items of a page (or a bare array), each sanitised; null when the value is no list. */
export function list<T>(v: unknown, one: (x: Obj) => T | null): T[] | null {
  const raw = isObj(v) && Array.isArray(v.items) ? v.items : Array.isArray(v) ? v : null;
  if (!raw) return null;
  const out: T[] = [];
  for (const x of raw) {
    if (!isObj(x)) continue;
    const item = one(x);
    if (item !== null) out.push(item);
  }
  return out;
}

export function task(x: Obj): TaskInfo | null {
  if (typeof x.id !== 'number' || typeof x.name !== 'string') return null;
  const t: TaskInfo = {
    id: x.id,
    name: x.name,
    kind: str(x.kind, '?') as TaskInfo['kind'],
    state: x.state === 'cancelling' ? 'cancelling' : 'running',
    ageMs: num(x.ageMs),
    parentId: typeof x.parentId === 'number' ? x.parentId : null,
    site: site(x.site),
    children: num(x.children),
  };
  if ('waitsOn' in x) t.waitsOn = site(x.waitsOn);
  if (typeof x.detail === 'string') t.detail = x.detail;
  if (typeof x.phase === 'string') t.phase = x.phase;
  if (typeof x.traceId === 'string') t.traceId = x.traceId;
  if (typeof x.spanId === 'string') t.spanId = x.spanId;
  return t;
}

export function group(x: Obj): PromiseGroup | null {
  return typeof x.count === 'number' ? { site: site(x.site), count: x.count, oldestMs: num(x.oldestMs) } : null;
}

export function handle(x: Obj): HandleInfo | null {
  if (typeof x.id !== 'string' || typeof x.kind !== 'string') return null;
  return { id: x.id, asyncId: num(x.asyncId, -1), kind: x.kind as HandleInfo['kind'], type: str(x.type), refed: x.refed !== false, callback: site(x.callback), detail: str(x.detail) };
}

export function resource(x: Obj): ResourceInfo | null {
  if (typeof x.id !== 'string' || typeof x.type !== 'string') return null;
  return { id: x.id, asyncId: num(x.asyncId, -1), type: x.type, triggerId: num(x.triggerId), taskId: typeof x.taskId === 'number' ? x.taskId : null, ageMs: num(x.ageMs), site: site(x.site) };
}

export function historyEntry(x: Obj): HistoryEntry | null {
  if (typeof x.id !== 'number' || typeof x.outcome !== 'string') return null;
  const h: HistoryEntry = {
    id: x.id,
    name: str(x.name, '?'),
    kind: str(x.kind, '?') as HistoryEntry['kind'],
    parentId: typeof x.parentId === 'number' ? x.parentId : null,
    outcome: x.outcome as HistoryEntry['outcome'],
    durationMs: num(x.durationMs),
    endedAt: time(x.endedAt),
  };
  if (typeof x.error === 'string') h.error = x.error;
  if (typeof x.cancelledBy === 'string') h.cancelledBy = x.cancelledBy;
  if (typeof x.reason === 'string') h.reason = x.reason;
  return h;
}

/** The task a blocked loop was running, or null. */
export function blockedTask(v: unknown): BlockedTask | null {
  if (!isObj(v) || typeof v.id !== 'number' || typeof v.name !== 'string') return null;
  return { id: v.id, name: v.name, kind: v.kind === 'http-server' || v.kind === 'http-client' ? v.kind : 'task' };
}

export function episode(x: Obj): BlockedEpisode | null {
  if (typeof x.durationMs !== 'number') return null;
  const e: BlockedEpisode = { startedAt: time(x.startedAt), durationMs: num(x.durationMs), ongoing: x.ongoing === true, stack: frames(x.stack) };
  const task = blockedTask(x.task);
  if (task) e.task = task;
  return e;
}
