// Host room (the app's main thread): event-loop delay and utilization.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { EventLoopUtilization, IntervalHistogram } from 'node:perf_hooks';
import type { LoopStats } from '../../src/model.js';
import { markOwn, ownResourceCounts, runOwn } from './own-scope.js';

/** One second of loop health, for percentiles over a window and the TUI's sparkline. */
export interface LoopSample {
  at: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  utilization: number;
}

const NS_PER_MS = 1e6;
/** How old a read of the histogram may be and still serve the tick or the status (under a second). */
export const FRESH_MS = 900;
const WINDOW = 60;
/** Seconds a delay window lasts. */
const REPORT_SECONDS = 10;

type Figures = Omit<LoopSample, 'at' | 'utilization'>;

/**
 * Event-loop delay (`monitorEventLoopDelay`, measured natively) and utilization. The delay
 * histogram covers windows of ten seconds; reported percentiles are the current window's, or,
 * early in a window, the worse of it and the previous one. An unref'd timer takes a sample a
 * second for the TUI's sparkline of the last minute.
 */
export class LoopMonitor {
  private histogram: IntervalHistogram | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastElu: EventLoopUtilization | null = null;
  private readonly samples: LoopSample[] = [];
  private windowStart = 0;
  private previous: Figures | null = null;
  /**
   * Run once a tick, on the timer the monitor has anyway, until it returns true (the
   * OpenTelemetry metrics looking for a MeterProvider the app registers after the agent started).
   */
  lookout: (() => boolean) | null = null;
  /**
   * This window's figures as last read, and when: each read walks the whole histogram (five
   * walks, one per figure), so the tick and `stats()` (the worker's status, once a second)
   * share one read a second.
   */
  private read: { at: number; figures: Figures } | null = null;

  enable(): this {
    if (this.histogram) return this;
    runOwn(() => {
      this.histogram = monitorEventLoopDelay({ resolution: 10 });
      this.histogram.enable();
      this.windowStart = Date.now();
      this.lastElu = performance.eventLoopUtilization();
      this.timer = markOwn(setInterval(() => this.tick(), 1000));
      this.timer.unref();
    });
    return this;
  }

  disable(): this {
    this.histogram?.disable();
    this.histogram = null;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.samples.length = 0;
    this.previous = null;
    this.read = null;
    return this;
  }

  private tick(): void {
    const look = this.lookout;
    if (look) {
      try {
        if (look()) this.lookout = null;
      } catch {
        this.lookout = null;
      }
    }
    try {
      const h = this.histogram;
      if (!h) return;
      const elu = performance.eventLoopUtilization();
      const utilization = this.lastElu ? performance.eventLoopUtilization(elu, this.lastElu).utilization : 0;
      this.lastElu = elu;
      this.samples.push({ at: Date.now(), ...this.current(FRESH_MS), utilization });
      if (this.samples.length > WINDOW) this.samples.shift();
      if (Date.now() - this.windowStart >= REPORT_SECONDS * 1000) {
        this.previous = this.figures(0);
        h.reset();
        this.read = null;
        this.windowStart = Date.now();
      }
    } catch {}
  }

  /** This window's figures, or the worse of it and the last window's early in a window. */
  private current(maxAgeMs: number): Figures {
    const now = this.figures(maxAgeMs);
    const prev = this.previous;
    if (!prev || Date.now() - this.windowStart >= (REPORT_SECONDS * 1000) / 2) return now;
    return {
      p50: Math.max(now.p50, prev.p50),
      p90: Math.max(now.p90, prev.p90),
      p99: Math.max(now.p99, prev.p99),
      max: Math.max(now.max, prev.max),
      mean: Math.max(now.mean, prev.mean),
    };
  }

  /** This window's figures, read again only when the last read is older than `maxAgeMs`. */
  private figures(maxAgeMs: number): Figures {
    const at = performance.now();
    if (this.read && at - this.read.at <= maxAgeMs) return this.read.figures;
    const f = figures(this.histogram);
    this.read = { at, figures: f };
    return f;
  }

  /** The last minute, one sample a second, oldest first. */
  history(): LoopSample[] {
    return this.samples.slice();
  }

  /**
   * Loop health now. `maxAgeMs` lets a periodic caller (the worker's status, once a second)
   * share the tick's read of the histogram; other callers read it afresh.
   */
  stats(maxAgeMs = 0): LoopStats {
    const f = this.current(maxAgeMs);
    let utilization = 0;
    const recent = this.samples.slice(-REPORT_SECONDS);
    if (recent.length > 0) utilization = recent.reduce((a, s) => a + s.utilization, 0) / recent.length;
    else if (this.lastElu) utilization = performance.eventLoopUtilization(performance.eventLoopUtilization(), this.lastElu).utilization;
    const mem = process.memoryUsage();
    return {
      delayMs: { p50: round(f.p50), p90: round(f.p90), p99: round(f.p99), max: round(f.max), mean: round(f.mean) },
      utilization: Math.round(utilization * 1000) / 1000,
      heapUsedBytes: mem.heapUsed,
      rssBytes: mem.rss,
      activeResources: countResources(),
    };
  }
}

function figures(h: IntervalHistogram | null): Figures {
  if (!h || h.count === 0) return { p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
  return {
    p50: h.percentile(50) / NS_PER_MS,
    p90: h.percentile(90) / NS_PER_MS,
    p99: h.percentile(99) / NS_PER_MS,
    max: h.max / NS_PER_MS,
    mean: h.mean / NS_PER_MS,
  };
}

/** What `process.getActiveResourcesInfo()` counts (refed resources), less the agent's own. */
export function countResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  try {
    for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1;
  } catch {}
  for (const [name, n] of Object.entries(ownResourceCounts)) {
    if (counts[name] === undefined) continue;
    counts[name] -= n;
    if (counts[name] <= 0) delete counts[name];
  }
  return counts;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
