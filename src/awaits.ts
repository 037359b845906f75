// `awaits`, the await graph from a heap snapshot: what to look up, and the answer assembled from
// it. Shared by the agent's worker (a snapshot of its host's main thread) and the CLI (a snapshot
// of a process that loaded no agent, through its inspector); taking the snapshot is theirs.
import { fileURLToPath } from 'node:url';
import { awaitGraph } from './await-graph.js';
import type { AwaitChain, AwaitFrame, WaitTarget } from './await-graph.js';
import { DEFAULTS, ENV } from './defaults.js';
import { AsyncmonError } from './errors.js';
import { formatBytes } from './format.js';
import { withLibrary } from './frames.js';
import type { Captured, SuspendedAt } from './heap-capture.js';
import { HeapSnapshotParser } from './heap-snapshot.js';
import type { AwaitChainInfo, AwaitWait, AwaitsResult, SuspendedFrame, WhereInfo } from './model.js';

/** A live task as `ps` lists it: enough to match a chain's request to it. */
export interface TaskRow {
  id: number;
  name: string;
  kind: string;
}

/**
 * Frames looked up in the inspector at most per answer. Each lookup finds the object by its
 * heap id, which V8 does by walking the heap: tens of milliseconds each on a 10 MB heap. The
 * rest are shown at the line their function starts, from the snapshot.
 */
const MAX_LOCATED = 40;

/** Takes a snapshot, streaming its text to `onChunk`, then looks up the lines of what `pick` chooses. */
export type TakeSnapshot = (onChunk: (chunk: string) => void, pick: () => number[]) => Promise<Captured>;

/** What `takeAwaits` needs besides the snapshot. */
export interface AwaitsOptions {
  limit: number;
  /** The target's used heap, when known: over `maxHeapBytes` no snapshot is taken. */
  heapUsedBytes: number | null;
  maxHeapBytes?: number;
  /** How the refusal of a bigger heap says to raise the limit (after a `;`), or nothing. */
  raise?: string;
  /** The live tasks, to name the chains' requests by task (none without an agent). */
  tasks: () => Promise<TaskRow[]>;
  /** Wraps the snapshot (the agent's sentinel must not count the pause as a blocked loop). */
  pausing?: <T>(work: () => Promise<T>) => Promise<T>;
}

/** Refuses, before any snapshot is taken, a heap over `max` bytes (when its size is known). */
export function refuseBigHeap(heapUsedBytes: number | null, max: number, raise = `; ${ENV.awaitsMaxHeapMb} in the host's environment raises it`): void {
  if (heapUsedBytes !== null && heapUsedBytes > max) {
    throw new AsyncmonError('BAD_ARGUMENT', `the host's heap is ${formatBytes(heapUsedBytes)}, over the ${formatBytes(max)} awaits takes a snapshot of${raise}`);
  }
}

/**
 * Takes a heap snapshot of the target, parses it here as it streams (never one `JSON.parse` of
 * the whole text, never on the target's thread), finds the chains of suspended async functions
 * (src/await-graph.ts), asks the inspector for the line each shown one is suspended on, and
 * names the tasks the chains work for. The target pays only the pause while V8 writes the
 * snapshot, which the answer reports.
 */
export async function takeAwaits(take: TakeSnapshot, opts: AwaitsOptions): Promise<AwaitsResult> {
  refuseBigHeap(opts.heapUsedBytes, opts.maxHeapBytes ?? DEFAULTS.awaitsMaxHeapBytes, opts.raise);
  // The live tasks first: right after the pause the main thread has a backlog to clear.
  const tasks = await opts.tasks().catch(() => [] as TaskRow[]);
  const parser = new HeapSnapshotParser();
  let chains: AwaitChain[] = [];
  let graph: ReturnType<typeof awaitGraph> | null = null;
  let analysisMs = 0;
  const pausing = opts.pausing ?? (<T>(work: () => Promise<T>) => work());
  const { pauseMs, at } = await pausing(() => take(
    (chunk) => {
      const t = performance.now();
      parser.push(chunk);
      analysisMs += performance.now() - t;
    },
    () => {
      const t = performance.now();
      graph = awaitGraph(parser.end());
      analysisMs += performance.now() - t;
      // Chains with a request first (what users look for), then those of a task, then the
      // longest; between equals, the order of the heap.
      const rank = (c: AwaitChain) => (c.hints.some((h) => h.kind === 'request') ? 2 : c.hints.length > 0 ? 1 : 0);
      chains = [...graph.chains].sort((a, b) => rank(b) - rank(a) || b.frames.length - a.frames.length).slice(0, opts.limit);
      // The innermost frame of each chain first (where it is parked), then cycles, then the rest.
      const ids = new Set<number>();
      for (const c of chains) if (c.frames.length > 0) ids.add(c.frames[c.frames.length - 1].nodeId);
      for (const cy of graph.cycles) for (const f of cy.frames) ids.add(f.nodeId);
      for (const c of chains) for (const f of c.frames) ids.add(f.nodeId);
      return [...ids].slice(0, MAX_LOCATED);
    },
  ));
  const g = graph as ReturnType<typeof awaitGraph> | null;
  if (!g) throw new AsyncmonError('INTERNAL', 'the heap snapshot could not be read');
  const frame = (f: AwaitFrame | { nodeId: number; fn: string }): SuspendedFrame => {
    const where: SuspendedAt | undefined = at.get(f.nodeId);
    const out: SuspendedFrame = { fn: f.fn, site: where ? withLibrary({ fn: f.fn, file: where.file, line: where.line, column: where.column }) : null, asyncGenerator: 'asyncGenerator' in f ? f.asyncGenerator : false };
    // Not looked up: where the function starts, from the snapshot (zero-based there).
    const start = 'start' in f ? f.start : null;
    if (!where && start?.url) out.start = withLibrary({ fn: f.fn, file: start.url.startsWith('file://') ? fileURLToPath(start.url) : start.url, line: start.line + 1, column: start.column + 1 });
    return out;
  };
  const requestOf = (c: AwaitChain) => c.hints.find((h) => h.kind === 'request' && h.detail)?.detail ?? null;
  const taskOf = (request: string | null) => {
    if (!request) return null;
    // A request task is named `METHOD /path` without the query string.
    const name = request.replace(/[?#].*$/, '');
    const matches = tasks.filter((t) => t.kind === 'http-server' && t.name === name);
    return matches.length === 1 ? { id: matches[0].id, name: matches[0].name } : null;
  };
  const out: AwaitChainInfo[] = chains.map((c) => {
    const request = requestOf(c);
    return { id: c.id, task: markedTask(c, tasks) ?? taskOf(request), request, frames: c.frames.map(frame), waitsFor: waitOf(c.waitsFor), awaitedBy: c.awaitedBy };
  });
  return {
    takenAt: Date.now(),
    pauseMs: Math.round(pauseMs),
    snapshotBytes: parser.textLength,
    analysisMs: Math.round(analysisMs),
    total: g.chains.length,
    chains: out,
    cycles: g.cycles.map((cy) => ({ frames: fromFirstSite(cy.frames.map(frame)) })),
    lost: g.lostResponses.map((l) => ({ request: l.detail ?? null, task: taskOf(l.detail ?? null) })),
  };
}

/**
 * The `task()` a chain works for, by the mark it left in the heap (src/await-graph.ts
 * TASK_MARK): the outermost frame's first, as an inner function may hold an outer task's signal.
 */
export function markedTask(c: AwaitChain, tasks: TaskRow[]): { id: number; name: string } | null {
  for (const h of c.hints) {
    if (h.kind !== 'task' || !h.detail || !/^\d+$/.test(h.detail)) continue;
    const t = tasks.find((x) => x.id === Number(h.detail) && x.kind === 'task');
    if (t) return { id: t.id, name: t.name };
  }
  return null;
}

/**
 * A cycle has no first frame: start it at the earliest line (file, then line), keeping its
 * order, so the same deadlock reads the same on every run and Node version (the heap's order
 * differs between them).
 */
function fromFirstSite(frames: SuspendedFrame[]): SuspendedFrame[] {
  const key = (f: SuspendedFrame) => {
    const at = f.site ?? f.start;
    return at ? `${at.file}\u0000${String(at.line).padStart(9, '0')}\u0000${String(at.column).padStart(9, '0')}` : `\uffff${f.fn}`;
  };
  let first = 0;
  for (let i = 1; i < frames.length; i++) if (key(frames[i]) < key(frames[first])) first = i;
  return [...frames.slice(first), ...frames.slice(0, first)];
}

function waitOf(w: WaitTarget): AwaitWait {
  switch (w.kind) {
    case 'chain':
      return { kind: 'chain', chain: w.nodeId };
    case 'combinator':
      return { kind: 'combinator', name: w.name, pending: w.pending, total: w.total };
    case 'promise':
      return { kind: 'promise', heldBy: w.heldBy };
    default:
      return { kind: 'nothing' };
  }
}

/**
 * Where a chain is parked: the index (among its located frames, outermost first) of its deepest
 * suspended function in the user's code, or of the deepest one of all when every one is a
 * library's; -1 when none was located.
 */
export function parkedFrame(chain: AwaitChainInfo): { located: SuspendedFrame[]; at: number } {
  const located = chain.frames.filter((f) => f.site !== null);
  for (let i = located.length - 1; i >= 0; i--) if (!located[i].site!.lib) return { located, at: i };
  return { located, at: located.length - 1 };
}

/**
 * `where`'s answer completed from the heap: the deepest suspended function of the task's chain
 * in the user's code is where it waits, the library functions below it beside it.
 */
export function whereFromHeap(w: WhereInfo, chain: AwaitChainInfo, pauseMs: number): WhereInfo {
  const { located, at } = parkedFrame(chain);
  if (at < 0) return w;
  const stack = located
    .slice(0, at + 1)
    .reverse()
    .map((f) => f.site!);
  const via = located.slice(at + 1).map((f) => f.site!);
  return { ...w, waitsOn: { promiseId: `heap:${chain.id}`, site: stack[0], stack, via }, waitsNote: `from a heap snapshot: the host paused ${pauseMs}ms to write it` };
}
