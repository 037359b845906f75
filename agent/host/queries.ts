// Host room (the app's main thread): what the listings read from the registry and trackers.
import { performance } from 'node:perf_hooks';
import { DEFAULTS } from '../../src/defaults.js';
import { AsyncmonError } from '../../src/errors.js';
import { formatDuration, formatSite, formatTook } from '../../src/format.js';
import type { CancelResult, HandleInfo, HistoryEntry, Page, ResourceInfo, Snapshot, TaskInfo, TreeNode, WhereInfo } from '../../src/model.js';
import type { Agent } from './agent.js';
import { liveHandlesById } from './census.js';
import type { LiveHandle } from './census.js';
import { clientPhase } from './http-tasks.js';
import { spanEvent } from './otel.js';
import { stackFrames, stackSite } from './stack-capture.js';
import type { ParkedAt } from './promise-tracker.js';
import { libraryOf } from '../../src/frames.js';
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

function taskInfo(rec: TaskRecord, now: number, children: Map<number, number>, waits: Map<number, ParkedAt> | null): TaskInfo {
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
  if (waits) info.waitsOn = waits.get(rec.id)?.frames?.[0] ?? null;
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
  const waits = agent.promises.enabled ? agent.promises.parkedByTask() : null;
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
    all.slice(0, limit).map((h) => withCreator(agent, withOwner(agent, h.info))),
    all.length,
  );
}

/** A handle with the task that created it and where, when `resources` tracking knows them. */
function withOwner(agent: Agent, info: HandleInfo): HandleInfo {
  if (!agent.resources.enabled) return info;
  const r = agent.resources.get(info.asyncId);
  if (!r) return info;
  const out: HandleInfo = { ...info, site: r.site };
  if (r.taskId !== null) out.owner = ownerOf(agent, r.taskId);
  return out;
}

function ownerOf(agent: Agent, taskId: number): { taskId: number; name: string; ended: boolean } {
  const live = agent.registry.get(taskId);
  if (live) return { taskId, name: live.name, ended: false };
  return { taskId, name: agent.registry.ended(taskId)?.name ?? '?', ended: true };
}

/** The live resources an ended task still owns, each with what it is (a socket's peer). */
export function stillOwned(agent: Agent, taskId: number, limit = 5): ResourceInfo[] {
  if (!agent.resources.enabled || agent.resources.countOf(taskId) === 0) return [];
  const handles = liveHandlesById();
  return agent.resources.ofTask(taskId, limit, true).map((r) => {
    const h = handles.get(r.asyncId);
    return h ? { ...r, detail: `${h.kind} ${h.detail}`.trim() } : r;
  });
}

/** History, newest first, with what each ended task still owns. */
export function listHistory(agent: Agent, limit: number): Page<HistoryEntry> {
  const items = agent.registry.recentHistory(limit).map((e) => {
    const owns = stillOwned(agent, e.id);
    return owns.length > 0 ? { ...e, owns } : e;
  });
  return page(items, agent.registry.historySize);
}

/**
 * A timer whose callback is a library's (`node-cron`'s heartbeat) says little by itself: the
 * user's line that set the library up is in the timer's creation stack, when the resources
 * tracker captured one. Otherwise the answer says what would capture it.
 */
function withCreator(agent: Agent, info: HandleInfo): HandleInfo {
  if (!info.callback?.lib) return info;
  // `withOwner` has already read the creation site from the resources tracker.
  const site = info.site ?? null;
  if (site && !site.lib) return { ...info, createdAt: site };
  const createdNote = !agent.resources.enabled
    ? 'track resources on to name the line that set it up'
    : site
      ? `its creation stack has only library frames (${site.lib})`
      : 'no creation stack: track resources on';
  return { ...info, createdAt: null, createdNote };
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
  const taskId = parseTaskId(id);
  const past = agent.registry.get(taskId) ? undefined : agent.registry.ended(taskId);
  if (past) return whereEnded(agent, past);
  const rec = liveTask(agent, taskId);
  let waitsOn: WhereInfo['waitsOn'] = null;
  let waitsNote: string | null = null;
  const since = agent.promises.since;
  if (since === null) {
    waitsNote = 'where a task waits needs the promises level: track promises';
  } else {
    const parked = agent.promises.parkedByTask(new Set([rec.id])).get(rec.id);
    const before = rec.startMono < since;
    const restarted = `tracking of promises started ${formatDuration(performance.now() - since)} ago`;
    if (!parked) {
      waitsNote = before
        ? `${restarted}, after this task began: the await it is parked on was made before that and is not known (those it makes from now on will be)`
        : 'no pending promise was created in this task';
    } else {
      const frames = parked.frames ?? [];
      waitsOn = { promiseId: parked.promiseId, site: frames[0] ?? null, stack: frames, via: parked.via };
      if (!parked.frames) {
        waitsNote =
          agent.policy.mode === 'off'
            ? 'stacks are off, so the line of the await is unknown: track promises tasks'
            : `stacks are sampled (${agent.policy.mode}), and this promise's was not taken: track promises tasks for every task's await`;
      } else if (parked.libraryOnly) {
        const pkg = frames[0] ? libraryOf(frames[0].file) : null;
        waitsNote = `only library frames: the await is inside ${pkg ?? 'a library'}, and no caller in your code is pending`;
      } else if (!parked.reaction) {
        waitsNote = before ? `no await is pending that began after ${restarted}; this is the task's newest pending promise` : 'no await or then is pending in this task; this is its newest pending promise';
      }
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

/**
 * An ended task, as `where` shows it: its outcome, and the live resources it still owns (a
 * pool client never released, a socket left open), which is why one looks for it.
 */
function whereEnded(agent: Agent, e: HistoryEntry): WhereInfo {
  const owns = stillOwned(agent, e.id);
  const how = `${e.name} ${e.outcome}${e.status ? ` ${e.status}` : ''} in ${formatTook(e)}`;
  const note = owns.length > 0
    ? `${how}, and still owns ${owns.length === 1 ? 'a live resource' : `${owns.length} live resources`}`
    : agent.resources.enabled
      ? `${how}; it owns nothing that is still live`
      : `${how}; what it may still own is known at the resources level: track resources tasks`;
  return { id: e.id, name: e.name, kind: e.kind, state: e.outcome, ageMs: Math.round(Date.now() - e.endedAt + e.durationMs), site: null, waitsOn: null, waitsNote: note, stack: [], parents: [], owns };
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
  if (/^\d+$/.test(text)) {
    const rec = agent.registry.get(Number(text));
    const span = rec?.span;
    const ageS = rec ? (performance.now() - rec.startMono) / 1000 : 0;
    const result = agent.registry.cancel(Number(text), reason, by);
    if (span) spanEvent(span, 'asyncmon.task.cancelled', { 'asyncmon.task.id': Number(text), 'asyncmon.task.age': ageS, 'asyncmon.cancel.by': by, 'asyncmon.cancel.reason': reason.slice(0, 200), 'asyncmon.cancel.action': result.action });
    return result;
  }
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
