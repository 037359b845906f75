import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { EventLoopUtilization, IntervalHistogram } from 'node:perf_hooks';
import type { LoopStats } from '../src/model.js';
import { markOwn, runOwn } from './own-scope.js';

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
const WINDOW = 60;
/** Seconds of samples the reported percentiles cover. */
const REPORT_SECONDS = 10;

/**
 * Event-loop delay (`monitorEventLoopDelay`) and utilization, sampled once a second by an
 * unref'd timer into a ring of the last minute. Reported percentiles are the worst per-second
 * values of the last ten seconds: conservative, and cheap.
 */
export class LoopMonitor {
  private histogram: IntervalHistogram | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastElu: EventLoopUtilization | null = null;
  private readonly samples: LoopSample[] = [];

  enable(): this {
    if (this.histogram) return this;
    runOwn(() => {
      this.histogram = monitorEventLoopDelay({ resolution: 10 });
      this.histogram.enable();
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
    return this;
  }

  private tick(): void {
    try {
      const h = this.histogram;
      if (!h) return;
      const elu = performance.eventLoopUtilization();
      const utilization = this.lastElu ? performance.eventLoopUtilization(elu, this.lastElu).utilization : 0;
      this.lastElu = elu;
      this.samples.push({
        at: Date.now(),
        p50: h.count > 0 ? h.percentile(50) / NS_PER_MS : 0,
        p90: h.count > 0 ? h.percentile(90) / NS_PER_MS : 0,
        p99: h.count > 0 ? h.percentile(99) / NS_PER_MS : 0,
        max: h.count > 0 ? h.max / NS_PER_MS : 0,
        mean: h.count > 0 ? h.mean / NS_PER_MS : 0,
        utilization,
      });
      if (this.samples.length > WINDOW) this.samples.shift();
      h.reset();
    } catch {}
  }

  /** The last minute, oldest first. */
  history(): LoopSample[] {
    return this.samples.slice();
  }

  stats(): LoopStats {
    const h = this.histogram;
    const recent = this.samples.slice(-REPORT_SECONDS);
    // The histogram since the last tick counts too, so a fresh process reports something.
    if (h && h.count > 0) {
      recent.push({
        at: Date.now(),
        p50: h.percentile(50) / NS_PER_MS,
        p90: h.percentile(90) / NS_PER_MS,
        p99: h.percentile(99) / NS_PER_MS,
        max: h.max / NS_PER_MS,
        mean: h.mean / NS_PER_MS,
        utilization: this.lastElu ? performance.eventLoopUtilization(performance.eventLoopUtilization(), this.lastElu).utilization : 0,
      });
    }
    const worst = (key: keyof LoopSample) => round(Math.max(0, ...recent.map((s) => s[key])));
    const mean = recent.length > 0 ? recent.reduce((a, s) => a + s.mean, 0) / recent.length : 0;
    const util = recent.length > 0 ? recent.reduce((a, s) => a + s.utilization, 0) / recent.length : 0;
    const mem = process.memoryUsage();
    return {
      delayMs: { p50: worst('p50'), p90: worst('p90'), p99: worst('p99'), max: worst('max'), mean: round(mean) },
      utilization: Math.round(util * 1000) / 1000,
      heapUsedBytes: mem.heapUsed,
      rssBytes: mem.rss,
      activeResources: countResources(this.timer ? 1 : 0),
    };
  }
}

/** What `process.getActiveResourcesInfo()` counts, less the agent's own sampling timer. */
function countResources(ownTimers: number): Record<string, number> {
  const counts: Record<string, number> = {};
  try {
    for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1;
  } catch {}
  if (counts.Timeout !== undefined) {
    counts.Timeout -= ownTimers;
    if (counts.Timeout <= 0) delete counts.Timeout;
  }
  return counts;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
