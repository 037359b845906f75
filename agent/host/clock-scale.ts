// Host room (the app's main thread): the periods of the agent's clock-driven work, and how the
// instruction bench stretches them.

/**
 * How many times longer the agent's own periods are than their defaults (1 everywhere but in
 * the instruction bench). Under valgrind the host runs some 50 times slower than natively, so a
 * heartbeat every 50 ms would weigh 50 times more against each request than it does in a real
 * process; the bench's preload (`bench/lib/count-preload.cjs`) sets this global before the agent
 * loads, so its periodic work keeps its native share of the counted instructions. Read once;
 * anything but a number from 1 to 1000 is ignored.
 */
const KEY = Symbol.for('asyncmon.bench.clockScale');

function readScale(): number {
  try {
    const v = (globalThis as Record<symbol, unknown>)[KEY];
    return typeof v === 'number' && v >= 1 && v <= 1000 ? v : 1;
  } catch {
    return 1;
  }
}

const CLOCK_SCALE = readScale();

/** A period of the agent's own timers, stretched by CLOCK_SCALE. */
export function period(ms: number): number {
  return Math.round(ms * CLOCK_SCALE);
}
