// Host room (the app's main thread): what the listings read from the registry and trackers.
import { performance } from 'node:perf_hooks';
import { DEFAULTS } from '../../src/defaults.js';
import { AsyncmonError } from '../../src/errors.js';
import { formatSite } from '../../src/format.js';
import type { CancelResult, HandleInfo, Page, Snapshot, TaskInfo, TreeNode, WhereInfo } from '../../src/model.js';
import type { Agent } from './agent.js';
import type { LiveHandle } from './census.js';
import { clientPhase } from './http-tasks.js';
import { stackFrames, stackSite } from './stack-capture.js';
import type { RawStack } from './stack-capture.js';
import type { TaskRecord } from './task-registry.js';

/** Options for `snapshot()`. */
export interface SnapshotOptions {
  /** Entries per list (tasks, resources, promises, groups, history). Default 100. */
  limit?: number;
  /** Take the keep-alive census (timers with callback sites; uses the inspector). Default true. */
  handles?: boolean;
}

function page<T>(items: T[], total: number): Page<T> {
  return { total, items };
}

function taskInfo(rec: TaskRecord, now: number, children: Map<number, number>, waits: Map<number, RawStack | null> | null): TaskInfo {
  const info: TaskInfo = {
    id: rec.id,
    name: rec.name,
    kind: rec.kind,
    state: rec.state,
    ageMs: Math.round(now - rec.startMono),
    parentId: rec.parentId,
    site: stackSite(rec.raw),
    children: children.get(rec.id) ?? 0,
  };
  if (rec.detail) info.detail = rec.detail;
  if (rec.kind === 'http-client') {
    const phase = clientPhase(rec.target);
    if (phase) info.phase = phase;
  }
  if (rec.traceId) info.traceId = rec.traceId;
  if (rec.spanId) info.spanId = rec.spanId;
  if (waits) info.waitsOn = stackSite(waits.get(rec.id));
  return info;
}

function childCounts(agent: Agent): Map<number, number> {
  const counts = new Map<number, number>();
  for (const rec of agent.registry.all()) {
    if (rec.parentId !== null) counts.set(rec.parentId, (counts.get(rec.parentId) ?? 0) + 1);
  }
  return counts;
}

/** Live tasks, oldest first, at most `limit`, optionally only those `keep` accepts. */
export function listTasks(agent: Agent, limit: number, keep?: (rec: TaskRecord) => boolean): Page<TaskInfo> {
  const now = performance.now();
  const children = childCounts(agent);
  const waits = agent.promises.enabled ? agent.promises.newestByTask() : null;
  const items: TaskInfo[] = [];
  let total = 0;
  for (const rec of agent.registry.all()) {
    if (keep && !keep(rec)) continue;
    total++;
    if (items.length < limit) items.push(taskInfo(rec, now, children, waits));
  }
  return page(items, total);
}

/** The keep-alive census: timers, immediates, sockets, servers, child processes. */
export function listHandles(agent: Agent, limit: number = DEFAULTS.censusLimit): Page<HandleInfo> {
  const all = agent.census.take(DEFAULTS.censusLimit);
  return page(
    all.slice(0, limit).map((h) => h.info),
    all.length,
  );
}

/**
 * A bounded, synchronous picture of the process: everything is capped at `limit` per list
 * with the totals alongside, so it takes a few milliseconds however much is pending.
 */
export function takeSnapshot(agent: Agent, opts: SnapshotOptions = {}): Snapshot {
  const limit = Math.min(DEFAULTS.maxListLimit, Math.max(0, opts.limit ?? DEFAULTS.snapshotLimit));
  const groups = agent.promises.groups(limit, 2000);
  return {
    format: 'asyncmon-snapshot',
    version: 1,
    pid: process.pid,
    node: process.version,
    uptimeMs: Math.round(process.uptime() * 1000),
    takenAt: Date.now(),
    tracker: agent.status(),
    loop: agent.loop.stats(),
    tasks: listTasks(agent, limit),
    resources: page(agent.resources.newest(limit), agent.resources.size),
    promises: page(agent.promises.newest(limit), agent.promises.size),
    promiseGroups: page(groups.items, groups.total),
    handles: opts.handles === false ? page([], 0) : listHandles(agent, limit),
    history: page(agent.registry.recentHistory(limit), agent.registry.historySize),
    counters: {
      tasksDropped: agent.registry.dropped,
      promisesEvicted: agent.promises.evicted,
      resourcesEvicted: agent.resources.evicted,
      faults: agent.guard.count,
    },
  };
}

function parseTaskId(id: number | string): number {
  const n = typeof id === 'number' ? id : /^\d+$/.test(id.trim()) ? Number(id) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw new AsyncmonError('BAD_ARGUMENT', `"${id}" is not a task id (a number, as ps shows)`);
  return n;
}

function liveTask(agent: Agent, id: number): TaskRecord {
  const rec = agent.registry.get(id);
  if (rec) return rec;
  const past = agent.registry.ended(id);
  if (past) throw new AsyncmonError('NO_SUCH_TASK', `task ${id} (${past.name}) already ${past.outcome}`);
  throw new AsyncmonError('NO_SUCH_TASK', `no task ${id}`);
}

/** Where a task is parked: its newest pending promise's site and stack, and its parent chain. */
export function whereTask(agent: Agent, id: number | string): WhereInfo {
  const rec = liveTask(agent, parseTaskId(id));
  let waitsOn: WhereInfo['waitsOn'] = null;
  let waitsNote: string | null = null;
  if (!agent.promises.enabled) {
    waitsNote = 'where a task waits needs the promises level: track promises';
  } else {
    const wait = agent.promises.newestOfTask(rec.id);
    if (!wait) waitsNote = 'no pending promise was created in this task';
    else {
      waitsOn = { promiseId: wait.id, site: stackSite(wait.raw), stack: stackFrames(wait.raw) };
      if (!wait.raw) waitsNote = 'stacks are off, so the site is unknown: track promises on';
    }
  }
  const parents: WhereInfo['parents'] = [];
  const seen = new Set<number>([rec.id]);
  for (let pid = rec.parentId; pid !== null && !seen.has(pid); ) {
    seen.add(pid);
    const parent = agent.registry.get(pid);
    const past = parent ? undefined : agent.registry.ended(pid);
    parents.push({ id: pid, name: parent?.name ?? past?.name ?? '?' });
    pid = parent?.parentId ?? past?.parentId ?? null;
  }
  const info: WhereInfo = {
    id: rec.id,
    name: rec.name,
    kind: rec.kind,
    state: rec.state,
    ageMs: Math.round(performance.now() - rec.startMono),
    site: stackSite(rec.raw),
    waitsOn,
    waitsNote,
    stack: stackFrames(rec.raw),
    parents,
  };
  if (rec.traceId) info.traceId = rec.traceId;
  if (rec.spanId) info.spanId = rec.spanId;
  return info;
}

/** Task nesting: the whole forest, or the subtree under `id`. */
export function taskTree(agent: Agent, id?: number | string): TreeNode[] {
  const now = performance.now();
  const kids = new Map<number | null, TaskRecord[]>();
  for (const rec of agent.registry.all()) {
    const parent = rec.parentId !== null && agent.registry.get(rec.parentId) ? rec.parentId : null;
    const list = kids.get(parent);
    if (list) list.push(rec);
    else kids.set(parent, [rec]);
  }
  const build = (rec: TaskRecord, depth: number): TreeNode => ({
    id: rec.id,
    name: rec.name,
    kind: rec.kind,
    ageMs: Math.round(now - rec.startMono),
    children: depth > 64 ? [] : (kids.get(rec.id) ?? []).map((c) => build(c, depth + 1)),
  });
  if (id !== undefined) return [build(liveTask(agent, parseTaskId(id)), 0)];
  return (kids.get(null) ?? []).map((r) => build(r, 0));
}

/**
 * Cancels a task (`17`), a resource (`r42`: timer or immediate cleared, socket destroyed,
 * server closed, child process killed), and says what it did. A promise (`p9`) cannot be
 * cancelled: the error names what it belongs to that can be.
 */
export function cancelById(agent: Agent, id: number | string, reason = 'cancelled', by = 'api', force = false): CancelResult {
  const text = String(id).trim();
  if (/^\d+$/.test(text)) return agent.registry.cancel(Number(text), reason, by);
  if (/^r\d+$/.test(text)) return cancelResource(agent, Number(text.slice(1)), force);
  if (/^p\d+$/.test(text)) {
    const found = agent.promises.enabled ? agent.promises.lookup(text) : null;
    if (!found) throw new AsyncmonError('NO_SUCH_TASK', `no pending promise ${text}`);
    const hints: string[] = [];
    if (found.taskId !== null) {
      const owner = agent.registry.get(found.taskId);
      if (owner) hints.push(`it belongs to task ${owner.id} (${owner.name}): cancel ${owner.id}`);
      for (const r of agent.resources.ofTask(found.taskId, 3)) hints.push(`that task also holds ${r.type} ${r.id}: cancel ${r.id}`);
    }
    if (hints.length === 0) hints.push(`it was created at ${formatSite(found.site)} in no task; cancel the timer, socket or task it waits on (see handles)`);
    throw new AsyncmonError('NOT_CANCELLABLE', `${text} is a promise, and a promise cannot be cancelled; ${hints.join('; ')}`);
  }
  throw new AsyncmonError('BAD_ARGUMENT', `"${text}" is not an id: use a task id (17), a resource (r42) or a promise (p9)`);
}

function cancelResource(agent: Agent, asyncId: number, force: boolean): CancelResult {
  const handle = agent.census.take(DEFAULTS.censusLimit).find((h) => h.info.asyncId === asyncId);
  if (!handle) {
    const known = agent.resources.enabled ? agent.resources.get(asyncId) : null;
    if (known) {
      throw new AsyncmonError('NOT_CANCELLABLE', `r${asyncId} is a ${known.type}: only timers, immediates, sockets, servers and child processes can be cancelled`);
    }
    throw new AsyncmonError('NO_SUCH_TASK', `no live timer, socket, server or child process r${asyncId}`);
  }
  if (handle.info.role && !force) {
    throw new AsyncmonError('NOT_CANCELLABLE', `r${asyncId} is not the app's own timer: ${handle.info.role}; clearing it leaves slow clients connected for good. Cancel it anyway with cancel r${asyncId} --force`);
  }
  return stopHandle(handle);
}

function stopHandle({ info, object }: LiveHandle): CancelResult {
  const o = object as Record<string, unknown>;
  const call = (name: string, ...args: unknown[]) => (o[name] as (...a: unknown[]) => unknown).apply(object, args);
  const label = `${info.kind} ${info.id}`;
  switch (info.kind) {
    case 'timeout':
      clearTimeout(object as NodeJS.Timeout);
      return { id: info.id, kind: info.kind, action: 'cleared', message: `${label} cleared` };
    case 'interval':
      clearInterval(object as NodeJS.Timeout);
      return { id: info.id, kind: info.kind, action: 'cleared', message: `${label} cleared` };
    case 'immediate':
      clearImmediate(object as NodeJS.Immediate);
      return { id: info.id, kind: info.kind, action: 'cleared', message: `${label} cleared` };
    case 'socket':
      call('destroy');
      return { id: info.id, kind: info.kind, action: 'destroyed', message: `${label} destroyed` };
    case 'server':
      call('close');
      if (typeof o.closeAllConnections === 'function') call('closeAllConnections');
      return { id: info.id, kind: info.kind, action: 'closed', message: `${label} closed` };
    case 'child-process':
      call('kill');
      return { id: info.id, kind: info.kind, action: 'killed', message: `${label} (${info.detail}) sent SIGTERM` };
    default:
      throw new AsyncmonError('NOT_CANCELLABLE', `${info.id} is a ${info.type}, which cancel does not know how to stop`);
  }
}
