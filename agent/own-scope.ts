/**
 * Marks work the agent does for itself, so its own promises, timers and sockets never show up
 * in its listings. Hooks check `ownScope.depth` and the `OWN` mark on objects.
 */
export const ownScope = { depth: 0 };

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
