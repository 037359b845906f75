// The OpenTelemetry metrics' cost (bench/otel.mjs). Keeps BENCH_LIVE tasks pending, then runs
// task() + await for BENCH_MS and prints `RESULT {ops, cpuMs, collectMs[]}` on stdout.
// BENCH_OTEL: `none` no MeterProvider; `provider` a MeterProvider (sdk-metrics, in-memory
// exporter) registered globally, collected every BENCH_INTERVAL ms; the agent's instruments
// are on it unless ASYNCMON_OTEL=0 (the app's provider alone).
'use strict';
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const mode = process.env.BENCH_OTEL || 'none';
const live = Number(process.env.BENCH_LIVE || 0);
const ms = Number(process.env.BENCH_MS || 1000);
const interval = Number(process.env.BENCH_INTERVAL || 100);

let reader = null;
if (mode === 'provider') {
  const { metrics } = require('@opentelemetry/api');
  const { MeterProvider, MetricReader } = require('@opentelemetry/sdk-metrics');
  class Reader extends MetricReader {
    async onForceFlush() {}
    async onShutdown() {}
  }
  reader = new Reader();
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
}
const { task } = require(path.resolve(__dirname, '..', '..', 'dist', 'agent', 'index.js'));

async function main() {
  for (let i = 0; i < live; i++) task(`held ${i}`, () => new Promise(() => {})).catch(() => {});
  const collectMs = [];
  let collecting = false;
  const timer = reader
    ? setInterval(() => {
        if (collecting) return;
        collecting = true;
        const t0 = performance.now();
        reader.collect().then(() => {
          collectMs.push(performance.now() - t0);
          collecting = false;
        });
      }, interval)
    : null;
  const work = async () => {
    await null;
    return 1;
  };
  // Warm-up, then the measured window.
  for (let i = 0; i < 20000; i++) await task('w', work);
  collectMs.length = 0;
  const cpu0 = process.cpuUsage();
  const until = performance.now() + ms;
  let ops = 0;
  while (performance.now() < until) {
    for (let i = 0; i < 500; i++) await task('w', work);
    ops += 500;
    // Let timers (the collection) run, as a service's loop does between requests.
    await new Promise((r) => setImmediate(r));
  }
  const cpu = process.cpuUsage(cpu0);
  if (timer) clearInterval(timer);
  process.stdout.write(`RESULT ${JSON.stringify({ ops, cpuMs: (cpu.user + cpu.system) / 1000, collectMs })}\n`);
}
main();
