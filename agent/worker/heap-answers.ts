// Worker room (the agent's own thread): one heap snapshot's answer, shared and rationed.
import type { AwaitsResult } from '../../src/model.js';

/**
 * Every answer that needs a heap snapshot (`awaits`, `where` without a recorded await,
 * `ps --deep`, `check --lost`) comes from here. A snapshot pauses the host's main thread for the
 * whole time V8 writes it (a fifth of a second for a small app, most of a second for 100 MB),
 * so askers share one: while one is being taken everybody waits for it, and once it is done it
 * answers everybody for `reuseMs`, or longer after a long pause: a new snapshot is taken only
 * when the pauses so far stay within `share` of the host's time (the read budget's share, 5%),
 * so a client asking in a loop costs the host one pause per `pauseMs / share`, not one per ask.
 * Failures are not kept, nor an answer past its time. It is always taken whole, askers slice it.
 */
export class HeapAnswers {
  private last: { at: number; value: Promise<AwaitsResult>; freshForMs: number } | null = null;

  constructor(
    private readonly take: () => Promise<AwaitsResult>,
    private readonly opts: { reuseMs: number; share: number },
  ) {}

  /** Whether an answer is held (being taken, or fresh). */
  get holds(): boolean {
    return this.last !== null;
  }

  /** How long the answer taken with a pause of `pauseMs` is reused. */
  reuseFor(pauseMs: number): number {
    return Math.max(this.opts.reuseMs, this.opts.share > 0 ? Math.ceil(pauseMs / this.opts.share) : 0);
  }

  /** The shared answer: the one being taken, one young enough, or a new snapshot. */
  get(): Promise<AwaitsResult> {
    const last = this.last;
    if (last && (last.at === Infinity || Date.now() - last.at < last.freshForMs)) return last.value;
    const entry = { at: Infinity, freshForMs: this.opts.reuseMs, value: this.take() };
    entry.value.then(
      (r) => {
        entry.at = Date.now();
        entry.freshForMs = this.reuseFor(r.pauseMs);
        // A forest of thousands of chains is megabytes of the worker's small heap: not kept stale.
        setTimeout(() => {
          if (this.last === entry) this.last = null;
        }, entry.freshForMs).unref();
      },
      () => {
        if (this.last === entry) this.last = null;
      },
    );
    this.last = entry;
    return entry.value;
  }
}

/** `r` with at most `limit` chains (the rest are still counted in `total`). */
export function sliceAwaits(r: AwaitsResult, limit: number): AwaitsResult {
  return r.chains.length > limit ? { ...r, chains: r.chains.slice(0, limit) } : r;
}
