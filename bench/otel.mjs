// What asyncmon's OpenTelemetry metrics cost (`node bench/run.mjs --only otel`): task() + await
// throughput with no MeterProvider (the agent creates nothing and only looks for one for its
// first minute), with the app's MeterProvider collected ten times a second and asyncmon's
// instruments on it, and with the same provider but ASYNCMON_OTEL=0 (the app's own cost);
// rounds interleaved, each figure the median of per-round ratios to no provider. Then how long
// one collection takes with 1k, 10k and 50k live tasks (the observable callbacks walk them).
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { BENCH_DIR, NODE } from './lib/procs.mjs';
import { median, round } from './lib/stats.mjs';

const CHILD = resolve(BENCH_DIR, 'children', 'otel-metrics.cjs');

function run(env, timeoutMs = 60_000) {
  return new Promise((res, rej) => {
    const p = spawn(NODE, [CHILD], { env: { ...process.env, NODE_OPTIONS: '', ASYNCMON_OTEL_STUCK_MS: '1000', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      rej(new Error('otel bench child timed out'));
    }, timeoutMs);
    p.stdout.on('data', (d) => (out += d));
    p.on('exit', () => {
      clearTimeout(t);
      const m = /RESULT (.*)/.exec(out);
      if (m) res(JSON.parse(m[1]));
      else rej(new Error(`otel bench child printed no result: ${out}`));
    });
  });
}

const SETTINGS = [
  { key: 'none', label: 'no MeterProvider', env: { BENCH_OTEL: 'none' } },
  { key: 'provider', label: "app's MeterProvider, asyncmon's instruments on it", env: { BENCH_OTEL: 'provider' } },
  { key: 'provider-off', label: "app's MeterProvider, ASYNCMON_OTEL=0", env: { BENCH_OTEL: 'provider', ASYNCMON_OTEL: '0' } },
];

export async function benchOtel({ rounds = 5, durationMs = 1000 } = {}, log = (l) => process.stderr.write(`${l}\n`)) {
  log(`otel: task() throughput, ${SETTINGS.length} settings × ${rounds} rounds × ${durationMs} ms; a collection every 100 ms`);
  const samples = Object.fromEntries(SETTINGS.map((s) => [s.key, []]));
  for (let r = 0; r < rounds; r++) {
    const order = [...SETTINGS.slice(r % SETTINGS.length), ...SETTINGS.slice(0, r % SETTINGS.length)];
    for (const s of order) samples[s.key][r] = await run({ ...s.env, BENCH_MS: String(durationMs) });
  }
  const throughput = {};
  for (const s of SETTINGS) {
    const perCpu = samples[s.key].map((x, r) => x.ops / x.cpuMs / (samples.none[r].ops / samples.none[r].cpuMs));
    const wall = samples[s.key].map((x, r) => x.ops / samples.none[r].ops);
    throughput[s.key] = { label: s.label, ops: samples[s.key].map((x) => x.ops), ratio: round(median(wall), 3), ratioPerCpu: round(median(perCpu), 3), collectMedianMs: s.key === 'none' ? null : round(median(samples[s.key].flatMap((x) => x.collectMs)), 3) };
    log(`  ${s.label}: ${throughput[s.key].ratio} of no provider (per CPU-second ${throughput[s.key].ratioPerCpu})${throughput[s.key].collectMedianMs !== null ? `, a collection ${throughput[s.key].collectMedianMs} ms` : ''}`);
  }
  const collection = {};
  for (const live of [1000, 10_000, 50_000]) {
    const on = await run({ BENCH_OTEL: 'provider', BENCH_LIVE: String(live), BENCH_MS: '1000' });
    const off = await run({ BENCH_OTEL: 'provider', ASYNCMON_OTEL: '0', BENCH_LIVE: String(live), BENCH_MS: '1000' });
    collection[live] = { withAsyncmonMs: round(median(on.collectMs), 3), appAloneMs: round(median(off.collectMs), 3) };
    log(`  one collection with ${live} live tasks: ${collection[live].withAsyncmonMs} ms (the app's provider alone: ${collection[live].appAloneMs} ms)`);
  }
  return { rounds, durationMs, throughput, collection };
}
