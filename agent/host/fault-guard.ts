// Host room (the app's main thread): counts the hooks' internal errors and trips the trackers
// off.
import { writeSync } from 'node:fs';

/**
 * Counts internal errors caught inside hooks. Hooks must never throw into the host: each one
 * catches, reports here, and after `max` faults the guard trips and the tracker turns itself off.
 */
export class FaultGuard {
  count = 0;
  /** Every fault since the process started (`count` restarts when the level is set). */
  total = 0;
  lastMessage: string | null = null;
  tripped: string | null = null;
  /** Test seam: make the next N hook invocations fail, to prove faults are contained. */
  injected = 0;

  constructor(
    private readonly max: number,
    private readonly onTrip: (reason: string) => void,
  ) {}

  /** Called from a hook's catch block; never throws. */
  record(err: unknown): void {
    try {
      this.count++;
      this.total++;
      this.lastMessage = err instanceof Error ? err.message : String(err);
      if (this.tripped === null && this.count >= this.max) {
        this.tripped = `tracker disabled after ${this.count} internal errors (last: ${this.lastMessage})`;
        // One line, written synchronously: no I/O machinery that could re-enter the hooks.
        try {
          writeSync(2, `asyncmon: ${this.tripped}\n`);
        } catch {}
        this.onTrip(this.tripped);
      }
    } catch {}
  }

  /** Throws when a fault was injected for testing; called at the top of each hook's try block. */
  check(): void {
    if (this.injected > 0) {
      this.injected--;
      throw new Error('injected fault');
    }
  }

  reset(): void {
    this.count = 0;
    this.lastMessage = null;
    this.tripped = null;
  }
}
