import { isUserFrame } from './frames.js';
import type { Frame } from './model.js';

/**
 * Which await a task is parked on, from the pending promises promise hooks recorded: pure, so
 * it is tested on hand-made promise graphs.
 *
 * What V8's promise hooks say (`init(promise, parent)`): an async function's outer promise is
 * made when it is called, with no parent; each `await x` makes a throwaway promise whose parent
 * is `x`; `p.then(…)` makes one whose parent is `p`. So in
 *
 *     async function inner() { await gate; }       // A1: parent gate
 *     async function handle() { await inner(); }   // A2: parent inner's outer promise
 *     handle().then(noop, next);                   // T:  parent handle's outer promise
 *
 * the newest promise is the framework's `.then` (T), but the code is parked at A1. The chain is
 * followed from any reaction down: a reaction waits on its parent; when the parent is the outer
 * promise of an async function that is itself suspended at an await (its newest pending await
 * inside the same function), the wait goes on there. The deepest await of the longest chain is
 * where the task is parked; of its chain, the deepest await in the user's own code is named,
 * and the library awaits below it are shown beside it, never instead.
 */

/** A pending promise as the analysis sees it. */
export interface PendingPromise {
  /** Creation order: a larger id was made later. */
  id: number;
  /** The promise it was chained from (`await`, `then`), 0 for none or one not tracked. */
  parentId: number;
  /**
   * The function that made it, as `file:line:column` of that function's start (two promises
   * made in one function share it), or null without a stack.
   */
  fnKey: string | null;
  /** Its creation stack (Node's and asyncmon's frames removed), or null without one. */
  frames: Frame[] | null;
}

/** Where a task is parked. */
export interface Parked {
  /** The await named: the deepest one in the user's code (else the deepest of all). */
  at: PendingPromise;
  /** Deeper awaits below `at`, in libraries, innermost last. */
  via: PendingPromise[];
  /** The chain, outermost first, ending at the deepest await. */
  chain: PendingPromise[];
  /** True when no await of the chain has a frame in the user's code. */
  libraryOnly: boolean;
}

/**
 * The await a task is parked on, among `own` (the task's pending promises); `lookup` finds
 * any pending promise by id (a parent may belong to another task or to none). Null when the
 * task has no pending reaction (no await or then) at all.
 */
export function parkedAwait(own: readonly PendingPromise[], lookup: (id: number) => PendingPromise | undefined): Parked | null {
  /** Newest pending reaction made inside the function `fnKey` after `after`, if any. */
  const suspendedIn = (fnKey: string, after: number): PendingPromise | undefined => {
    let best: PendingPromise | undefined;
    for (const p of byFunction.get(fnKey) ?? []) if (p.parentId !== 0 && p.id > after && (!best || p.id > best.id)) best = p;
    return best;
  };
  const byFunction = new Map<string, PendingPromise[]>();
  for (const p of own) {
    if (p.fnKey === null) continue;
    const list = byFunction.get(p.fnKey);
    if (list) list.push(p);
    else byFunction.set(p.fnKey, [p]);
  }
  const chainFrom = (start: PendingPromise): PendingPromise[] => {
    const chain = [start];
    const seen = new Set([start.id]);
    for (let a = start; ; ) {
      const parent = lookup(a.parentId);
      // A parent with a parent of its own is a reaction, not an async function's outer promise.
      if (!parent || parent.parentId !== 0 || parent.fnKey === null) return chain;
      const next = suspendedIn(parent.fnKey, parent.id);
      if (!next || seen.has(next.id)) return chain;
      seen.add(next.id);
      chain.push(next);
      a = next;
    }
  };
  let best: PendingPromise[] | null = null;
  for (const p of own) {
    if (p.parentId === 0) continue;
    const chain = chainFrom(p);
    // Longest chain; between equals, the newest start (the latest thing the task did).
    if (!best || chain.length > best.length || (chain.length === best.length && p.id > best[0].id)) best = chain;
  }
  if (!best) return null;
  let at = -1;
  for (let i = best.length - 1; i >= 0; i--) {
    const frames = best[i].frames;
    if (frames && frames.length > 0 && isUserFrame(frames[0])) {
      at = i;
      break;
    }
  }
  if (at < 0) return { at: best[best.length - 1], via: [], chain: best, libraryOnly: best.some((p) => p.frames !== null && p.frames.length > 0) };
  return { at: best[at], via: best.slice(at + 1), chain: best, libraryOnly: false };
}
