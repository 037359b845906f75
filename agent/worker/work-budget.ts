// Worker room (the agent's own thread): the budget for main-thread work across all clients.
import { AsyncmonError } from '../../src/errors.js';
import { formatDuration } from '../../src/format.js';

/** The budget's settings; see `src/defaults.ts` for the values. */
export interface BudgetLimits {
  /** Main-thread milliseconds allowed per `windowMs` of wall time. */
  workBudgetMs: number;
  workWindowMs: number;
  /** The most the bucket holds after a quiet spell. */
  workBurstMs: number;
  /** Turns that may wait at once; more get BUSY at once. */
  maxWaiting: number;
  /** How long a turn may wait before it gets BUSY. */
  maxWaitMs: number;
}

interface Waiter {
  grant: () => void;
  refuse: (err: AsyncmonError) => void;
  /** Date.now() after which it gets BUSY; Infinity for turns that were already admitted. */
  deadline: number;
}

/**
 * A token bucket of main-thread milliseconds, shared by every session: the bucket fills at
 * `workBudgetMs` per `workWindowMs` up to `workBurstMs`, and is drained by what the main thread
 * really spent for the agent (a counter in shared memory that the main thread adds to after
 * each piece of work, so streamed slices and the clone of each answer count too). A turn is
 * given when the bucket is not in debt and no earlier turn is still running; the cost of a turn
 * is unknown until it is done, so the bucket may go into debt, and later turns wait it off.
 * Turns wait in order, at most `maxWaiting` of them and each at most `maxWaitMs`; beyond that,
 * BUSY. Its only timer is unref'd.
 */
export class WorkBudget {
  private tokens: number;
  private lastAt = Date.now();
  private lastSpent: number;
  private running = 0;
  private readonly waiting: Waiter[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly rate: number;

  constructor(
    /** Main-thread milliseconds spent for the agent so far (may wrap; only differences count). */
    private readonly spentMs: () => number,
    private readonly limits: BudgetLimits,
  ) {
    this.rate = limits.workBudgetMs / limits.workWindowMs;
    this.tokens = limits.workBurstMs;
    this.lastSpent = spentMs();
  }

  /**
   * Waits for a turn on the main thread; resolves with the function that ends it (call it once
   * the main thread has answered). `wait: false` is for a turn that is part of work already
   * admitted (the next slice of a listing): it waits for the bucket but never gets BUSY.
   */
  turn(what: string, wait = true): Promise<() => void> {
    return new Promise((resolve, reject) => {
      if (wait && this.waiting.length >= this.limits.maxWaiting) {
        reject(this.busy(what));
        return;
      }
      let ended = false;
      const release = () => {
        if (ended) return;
        ended = true;
        this.running--;
        this.pump();
      };
      this.waiting.push({
        grant: () => {
          this.running++;
          resolve(release);
        },
        refuse: reject,
        deadline: wait ? Date.now() + this.limits.maxWaitMs : Infinity,
      });
      this.pump();
    });
  }

  /** How many turns wait (for tests and stats). */
  get queued(): number {
    return this.waiting.length;
  }

  /** Refuses every waiting turn (the agent is closing, or the loop is blocked). */
  refuseAll(err: AsyncmonError): void {
    for (const w of this.waiting.splice(0)) w.refuse(err);
    this.schedule();
  }

  private busy(what: string): AsyncmonError {
    const { workBudgetMs, workWindowMs } = this.limits;
    return new AsyncmonError(
      'BUSY',
      `the agent is busy: ${what} would wait more than ${formatDuration(this.limits.maxWaitMs)} for the host's main thread ` +
        `(clients share ${workBudgetMs} ms of it per ${workWindowMs} ms; ${this.waiting.length} requests waiting); try again shortly`,
    );
  }

  private refill(): void {
    const now = Date.now();
    const spent = this.spentMs();
    const used = spent - this.lastSpent;
    this.lastSpent = spent;
    this.tokens = Math.min(this.limits.workBurstMs, this.tokens + (now - this.lastAt) * this.rate - (used > 0 ? used : 0));
    this.lastAt = now;
  }

  private pump(): void {
    this.refill();
    const now = Date.now();
    for (let i = 0; i < this.waiting.length; ) {
      const w = this.waiting[i];
      if (w.deadline < now) {
        this.waiting.splice(i, 1);
        w.refuse(this.busy('a request'));
      } else i++;
    }
    while (this.waiting.length > 0 && this.running === 0 && this.tokens > 0) this.waiting.shift()!.grant();
    this.schedule();
  }

  /** Wakes up when the debt is paid off or the first deadline passes, whichever is sooner. */
  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.waiting.length === 0) return;
    const now = Date.now();
    // While a turn runs, only a deadline can wake us: its end pumps again.
    let at = this.running > 0 ? Infinity : this.tokens > 0 ? now : now + -this.tokens / this.rate + 1;
    for (const w of this.waiting) at = Math.min(at, w.deadline + 1);
    if (at === Infinity) return;
    this.timer = setTimeout(() => this.pump(), Math.max(1, at - now));
    this.timer.unref();
  }
}
