// The loop monitor's delay figures, on the real event loop: a block shows in them, read on
// demand (its per-second tick keeps only the loop's utilization).
import { afterEach, expect, test } from 'vitest';
import { LoopMonitor } from '../agent/host/loop-monitor.js';

let monitor: LoopMonitor | null = null;
afterEach(() => {
  monitor?.disable();
  monitor = null;
});

/** Runs until `cond()` holds or `ms` pass, checking every few milliseconds. */
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return cond();
}

test('a 120 ms block shows in p99, max and mean, read on demand', async () => {
  monitor = new LoopMonitor().enable();
  // Let the histogram's 10 ms timer record a few ordinary turns first.
  await new Promise((r) => setTimeout(r, 50));
  const t0 = Date.now();
  let spins = 0;
  while (Date.now() - t0 < 120) spins++;
  expect(spins).toBeGreaterThan(0);
  // The timer records the late turn once the loop runs again.
  expect(await until(() => monitor!.stats().delayMs.max >= 100, 2000)).toBe(true);
  const s = monitor.stats();
  expect(s.delayMs.p99).toBeGreaterThanOrEqual(100);
  expect(s.delayMs.mean).toBeGreaterThan(0);
  expect(s.delayMs.p50).toBeLessThanOrEqual(s.delayMs.p99);
  expect(s.utilization).toBeGreaterThanOrEqual(0);
});

test('before any turn was measured the figures are zero, not NaN', () => {
  monitor = new LoopMonitor().enable();
  const d = monitor.stats().delayMs;
  for (const v of Object.values(d)) expect(Number.isFinite(v)).toBe(true);
});
