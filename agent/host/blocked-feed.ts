// Host room (the app's main thread): the blocked-loop episodes the worker's sentinel has seen
// end, read from the buffer the two threads share.
import { DEFAULTS } from '../../src/defaults.js';

const SLOT = DEFAULTS.shared;

/**
 * The sentinel (in the agent's worker) writes each ended episode's duration into a ring of the
 * shared buffer and then bumps a counter; this reads them on the main thread, at an
 * OpenTelemetry collection (which cannot run while the loop is blocked, so only ended episodes
 * matter). Counts survive a monitor being stopped and started again (a new buffer).
 */
export class BlockedFeed {
  private beats: Int32Array | null = null;
  /** Episodes counted in earlier buffers. */
  private base = 0;

  attach(beats: Int32Array): void {
    this.detach();
    this.beats = beats;
  }

  detach(): void {
    if (!this.beats) return;
    this.base += Atomics.load(this.beats, SLOT.episodesEnded);
    this.beats = null;
  }

  /** Whether a sentinel watches the loop (the monitor runs); without it no episode is seen. */
  get watching(): boolean {
    return this.beats !== null;
  }

  /** Ended episodes so far. */
  total(): number {
    return this.base + (this.beats ? Atomics.load(this.beats, SLOT.episodesEnded) : 0);
  }

  /**
   * Appends to `out` the durations (ms) of the episodes after `cursor` (a `total()` seen
   * before) that are still in the ring, and returns the new total to pass next time.
   */
  since(cursor: number, out: number[]): number {
    const beats = this.beats;
    if (!beats) return this.base;
    const n = Atomics.load(beats, SLOT.episodesEnded);
    const size = SLOT.episodeRingSize;
    for (let i = Math.max(cursor - this.base, n - size, 0); i < n; i++) out.push(Atomics.load(beats, SLOT.episodeRing + (i % size)));
    return this.base + n;
  }
}
