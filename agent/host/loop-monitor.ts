// Host room (the app's main thread): event-loop delay and utilization.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { EventLoopUtilization, IntervalHistogram } from 'node:perf_hooks';
import type { LoopStats } from '../../src/model.js';
import { period } from './clock-scale.js';
import { markOwn, ownResourceCounts, runOwn } from './own-scope.js';

/** The delay figures of a window, in milliseconds. */
interface Figures {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

const NS_PER_MS = 1e6;
/** How old a read of the histogram may be and still serve the status push (under a second). */
export const FRESH_MS = period(900);
/** Seconds a delay window lasts. */
const REPORT_SECONDS = 10;
/** A window's length in milliseconds (stretched in the instruction bench, see clock-scale.ts). */
const WINDOW_MS = period(REPORT_SECONDS * 1000);
/**
 * How old the mean may be. The histogram's mean walks every bucket (about 85 µs, against 6 µs
 * for a percentile and nothing for max): read once a second it was the agent's largest
 * clock-driven cost, so it is read at most this often within a window.
 */
const MEAN_MAX_AGE_MS = period(5000);

/**
 * Event-loop delay (`monitorEventLoopDelay`, measured natively) and utilization. The delay
 * histogram covers windows of ten seconds; reported percentiles are the current window's, or,
 * early in a window, the worse of it and the previous one. An unref'd timer takes the loop's
 * utilization once a second and turns the window; the histogram is read only when someone asks
 * (and when a window ends), never per tick for nothing.
 */
export class LoopMonitor {
  private histogram: IntervalHistogram | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastElu: EventLoopUtilization | null = null;
  /** The loop's utilization over each of the last REPORT_SECONDS seconds, oldest first. */
  private readonly utilizations: number[] = [];
  private windowStart = 0;
  private previous: Figures | null = null;
  /**
   * Run once a tick, on the timer the monitor has anyway, until it returns true (the
   * OpenTelemetry metrics looking for a MeterProvider the app registers after the agent started).
   */
  lookout: (() => boolean) | null = null;
  /**
   * This window's figures as last read, and when (the mean separately, see MEAN_MAX_AGE_MS):
   * the worker's status, once a second, shares a read younger than FRESH_MS.
   */
  private read: { at: number; figures: Figures } | null = null;
  private meanRead: { at: number; mean: number } | null = null;

  enable(): this {
    if (this.histogram) return this;
    runOwn(() => {
      this.histogram = monitorEventLoopDelay({ resolution: period(10) });
      this.histogram.enable();
      this.windowStart = Date.now();
      this.lastElu = performance.eventLoopUtilization();
      this.timer = markOwn(setInterval(() => this.tick(), period(1000)));
      this.timer.unref();
    });
    return this;
  }

  disable(): this {
    this.histogram?.disable();
    this.histogram = null;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.utilizations.length = 0;
    this.previous = null;
    this.read = this.meanRead = null;
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
      this.utilizations.push(this.lastElu ? performance.eventLoopUtilization(elu, this.lastElu).utilization : 0);
      this.lastElu = elu;
      if (this.utilizations.length > REPORT_SECONDS) this.utilizations.shift();
      if (Date.now() - this.windowStart >= WINDOW_MS) {
        this.read = this.meanRead = null;
        this.previous = this.figures(0);
        h.reset();
        this.read = this.meanRead = null;
        this.windowStart = Date.now();
      }
    } catch {}
  }

  /** This window's figures, or the worse of it and the last window's early in a window. */
  private current(maxAgeMs: number): Figures {
    const now = this.figures(maxAgeMs);
    const prev = this.previous;
    if (!prev || Date.now() - this.windowStart >= WINDOW_MS / 2) return now;
    return {
      p50: Math.max(now.p50, prev.p50),
      p90: Math.max(now.p90, prev.p90),
      p99: Math.max(now.p99, prev.p99),
      max: Math.max(now.max, prev.max),
      mean: Math.max(now.mean, prev.mean),
    };
  }

  /**
   * This window's figures, read again only when the last read is older than `maxAgeMs`; the
   * mean only when older than MEAN_MAX_AGE_MS.
   */
  private figures(maxAgeMs: number): Figures {
    const at = performance.now();
    if (this.read && at - this.read.at <= maxAgeMs) return this.read.figures;
    const h = this.histogram;
    if (!h || h.count === 0) return { p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
    if (!this.meanRead || at - this.meanRead.at > MEAN_MAX_AGE_MS) this.meanRead = { at, mean: h.mean / NS_PER_MS };
    const f = {
      p50: h.percentile(50) / NS_PER_MS,
      p90: h.percentile(90) / NS_PER_MS,
      p99: h.percentile(99) / NS_PER_MS,
      max: h.max / NS_PER_MS,
      mean: this.meanRead.mean,
    };
    this.read = { at, figures: f };
    return f;
  }

  /**
   * Loop health now. `maxAgeMs` lets a periodic caller (the worker's status, once a second)
   * share a recent read of the histogram; other callers read it afresh (but for the mean).
   */
  stats(maxAgeMs = 0): LoopStats {
    const f = this.current(maxAgeMs);
    let utilization = 0;
    const recent = this.utilizations;
    if (recent.length > 0) utilization = recent.reduce((a, u) => a + u, 0) / recent.length;
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
