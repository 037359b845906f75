// Host room (the app's main thread): keeps what `console` and `eval` typed from crashing the
// host with an unhandled rejection.
import { types } from 'node:util';
import { promiseHooks } from 'node:v8';

/** Promises made by one evaluation that are watched at most. */
const MAX_COLLECTED = 10_000;
/** Values looked into at most, so a huge result costs little. */
const MAX_VISITED = 1000;
const MAX_DEPTH = 3;

/**
 * Gives every native promise a console or eval result holds (the value itself, and what its
 * arrays, maps, sets and plain objects hold, a few levels deep) a rejection handler, so that
 * `Promise.reject(new Error('x'))` or an unawaited failing `fetch()` typed at the console is
 * reported to whoever typed it instead of ending the host (Node's default for an unhandled
 * rejection). Only native promises are touched, through the intrinsic `then`: a custom
 * thenable's own `then` is app code and is never called. Getters are not run.
 */
export function guardRejections(value: unknown, report: (reason: unknown) => void): void {
  const seen = new Set<unknown>();
  const visit = (v: unknown, depth: number): void => {
    if (v === null || (typeof v !== 'object' && typeof v !== 'function') || seen.has(v) || seen.size >= MAX_VISITED) return;
    seen.add(v);
    if (types.isPromise(v)) {
      try {
        Promise.prototype.then.call(v, undefined, (reason: unknown) => {
          try {
            report(reason);
          } catch {}
        });
      } catch {}
      return;
    }
    if (depth >= MAX_DEPTH || types.isProxy(v)) return;
    try {
      if (Array.isArray(v)) for (const item of v.slice(0, MAX_VISITED)) visit(item, depth + 1);
      else if (types.isMap(v)) {
        for (const [k, item] of v) {
          visit(k, depth + 1);
          visit(item, depth + 1);
        }
      }
      else if (types.isSet(v)) for (const item of v) visit(item, depth + 1);
      else if (typeof v === 'object') {
        for (const key of Object.keys(v).slice(0, MAX_VISITED)) {
          const desc = Object.getOwnPropertyDescriptor(v, key);
          if (desc && 'value' in desc) visit(desc.value, depth + 1);
        }
      }
    } catch {}
  };
  visit(value, 0);
}

/**
 * Runs the synchronous part of an evaluation and returns, with its result, the native promises
 * it made (at most MAX_COLLECTED): `Promise.reject(1); 2` leaves a rejected promise that the
 * result does not hold. Only this synchronous stretch is watched, where no other app code
 * runs, so the app's own promises never get a handler from us.
 */
export function collectPromises<T>(run: () => T): { result: T; promises: Promise<unknown>[] } {
  const promises: Promise<unknown>[] = [];
  let stop: (() => void) | null = null;
  try {
    stop = promiseHooks.onInit((promise: Promise<unknown>) => {
      if (promises.length < MAX_COLLECTED) promises.push(promise);
    }) as () => void;
  } catch {}
  try {
    return { result: run(), promises };
  } finally {
    stop?.();
  }
}
