// Host room (the app's main thread): a cheap reading of performance.now()'s timeline, for what
// is timed once per incoming request.
import { performance } from 'node:perf_hooks';
import { monotonicMs } from '../../src/clock.js';

/**
 * Reading a clock costs 200–500 instructions in Node (`performance.now()` counts 210 on Node 20
 * and 22 and 500 on Node 24, `Date.now()` about 250): two per request were a quarter of what the
 * agent's handlers cost (260–400 instructions, 0.4–0.5% of the bench's request). So while the monitor runs, its worker thread writes the monotonic time
 * into shared memory every `DEFAULTS.clockMs` (50 ms, on the timer its sentinel already wakes
 * on), and the main thread reads that: a load and a subtraction. The worker keeps ticking while
 * the main thread is blocked, so a request that blocked the loop still gets its duration.
 *
 * Readings trail performance.now() by up to a tick (more while the worker is busy) and never
 * run backwards. Without a monitor (a bare `track()`), or once it stops, this is
 * performance.now().
 */
let shared: Float64Array | null = null;
/** The worker's reading minus performance.now(), taken once on this thread. */
let offset = 0;

/** performance.now(), to within a tick of the worker's clock when it runs. */
export function coarseNow(): number {
  const s = shared;
  if (s !== null) {
    const t = s[0];
    if (t > 0) return t - offset;
  }
  return performance.now();
}

/** Reads the clock the worker writes at `view[0]` (0 until its first tick). */
export function attachClock(view: Float64Array): void {
  offset = monotonicMs() - performance.now();
  shared = view;
}

/** Back to performance.now() (the monitor stopped, or its worker is gone). */
export function detachClock(): void {
  shared = null;
}
