// Host room (the app's main thread): marks the agent's own work so its listings leave it out.
/**
 * Marks work the agent does for itself, so its own promises, timers and sockets never show up
 * in its listings. Hooks check `ownScope.depth` and the `OWN` mark on objects. The flag lives on
 * a global so that a second copy of the package (the preload from one place, the API from
 * another) raises the flag the first copy's hooks read.
 */
export const ownScope: { depth: number } = ((globalThis as Record<symbol, { depth: number } | undefined>)[Symbol.for('asyncmon.ownScope.v1')] ??= { depth: 0 });

/** A mark the agent puts on its own timers, sockets and servers. */
export const OWN = Symbol.for('asyncmon.own');

/** Runs `fn` with the agent's own-work flag raised; whatever it creates is not tracked. */
export function runOwn<T>(fn: () => T): T {
  ownScope.depth++;
  try {
    return fn();
  } finally {
    ownScope.depth--;
  }
}

/** Marks an object (timer, socket, server, worker) as the agent's own and returns it. */
export function markOwn<T extends object>(obj: T): T {
  try {
    Object.defineProperty(obj, OWN, { value: true, enumerable: false });
  } catch {}
  return obj;
}

/** Whether the agent made `obj` for itself. */
export function isOwn(obj: unknown): boolean {
  return typeof obj === 'object' && obj !== null && (obj as Record<symbol, unknown>)[OWN] === true;
}

/** Counts of `process.getActiveResourcesInfo()` entries that are the agent's own (its worker's port). */
export const ownResourceCounts: Record<string, number> = {};

function resourceCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  try {
    for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1;
  } catch {}
  return counts;
}

function activeHandleList(): object[] {
  try {
    const get = (process as unknown as { _getActiveHandles?: () => object[] })._getActiveHandles;
    return typeof get === 'function' ? get.call(process) : [];
  } catch {
    return [];
  }
}

/**
 * Runs `fn` and marks as the agent's own every handle it left behind (a worker's message port
 * has no public owner to mark), and remembers them for the resource counts.
 */
export function claimNewHandles<T>(fn: () => T): T {
  const before = new Set(activeHandleList());
  const countsBefore = resourceCounts();
  const result = fn();
  for (const h of activeHandleList()) if (!before.has(h)) markOwn(h);
  for (const [name, n] of Object.entries(resourceCounts())) {
    const extra = n - (countsBefore[name] ?? 0);
    if (extra > 0) ownResourceCounts[name] = (ownResourceCounts[name] ?? 0) + extra;
  }
  return result;
}

/** Forgets own resource counts claimed earlier (when the worker is gone). */
export function releaseResourceCounts(counts: Record<string, number>): void {
  for (const [name, n] of Object.entries(counts)) {
    ownResourceCounts[name] = Math.max(0, (ownResourceCounts[name] ?? 0) - n);
  }
}
