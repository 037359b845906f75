#!/usr/bin/env node
// `npm run bench`: what asyncmon costs the process it watches, measured against budgets.
//
//   node bench/run.mjs [--quick] [--only http,loop,memory,listing,latency,clients,readers,attach,awaits] [--rounds N]
//                      [--settings tasks,promises,...] [--out FILE] [--no-pin] [--concurrency N]
//                      [--client raw|agent]
//   node bench/run.mjs --instructions [--reps N] [--settings ...]   instruction counts (valgrind;
//                      `--only handlers` for the default level's per-request path alone)
//   BENCH_NODE=/path/to/node   runs every child under that Node binary
//
// Every figure is measured in child processes: throughput of an HTTP service and of an
// await-heavy loop at each tracking level, and under peers (why-is-node-running, OpenTelemetry's
// context managers), as a ratio to no agent (side by side, interleaved, median of the per-round
// ratios); memory per tracked pending promise; how long a sliced listing of 100k pending
// promises holds the main thread; latency of check and of replies while the loop is blocked.
// Prints a table and writes bench/results.json. See bench/README.md for what each figure means.
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BENCH_DIR, NODE, canPin, installExitGuards, killAll, runOnce, startChild } from './lib/procs.mjs';
import { max, median, min, round } from './lib/stats.mjs';
import { benchAttach } from './attach.mjs';
import { benchAwaits } from './awaits.mjs';
import { benchInstructions, countHandlers } from './instructions.mjs';
import { benchLatency } from './latency.mjs';
import { benchOtel } from './otel.mjs';

// ---------------------------------------------------------------------------------------------
// Settings

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const option = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
};

const QUICK = flag('--quick');
const SECTIONS = 'http,loop,memory,listing,latency,clients,readers,attach,awaits';
// Sections counted under valgrind, never in a default run: `instructions` (the HTTP service's
// instructions per request) and `handlers` (the default level's per-request path alone).
const COUNTED = 'instructions,handlers';
// --instructions: the instruction counts alone (unless --only names more sections).
const ONLY = new Set(option('--only', flag('--instructions') ? COUNTED : SECTIONS).split(','));
if (flag('--instructions')) for (const name of COUNTED.split(',')) ONLY.add(name);
// Only when asked for: `otel` (the OpenTelemetry metrics' cost).
const OPTIONAL = 'otel';
for (const name of ONLY) {
  if (!`${SECTIONS},${COUNTED},${OPTIONAL}`.split(',').includes(name)) throw new Error(`--only: unknown section ${name} (${SECTIONS}, ${OPTIONAL}, ${COUNTED})`);
}
const PIN = !flag('--no-pin') && canPin();
const OUT = resolve(option('--out', resolve(BENCH_DIR, 'results.json')));

const S = {
  rounds: Number(option('--rounds', QUICK ? 3 : 5)),
  http: {
    concurrency: Number(option('--concurrency', 48)),
    client: option('--client', 'raw'),
    firstWarmupMs: QUICK ? 500 : 1000,
    warmupMs: QUICK ? 300 : 500,
    durationMs: QUICK ? 1000 : 2000,
  },
  loop: { firstWarmupMs: QUICK ? 300 : 500, warmupMs: QUICK ? 100 : 200, durationMs: QUICK ? 400 : 1000 },
  memory: { n: 100_000, reps: QUICK ? 1 : 3 },
  listing: { reps: QUICK ? 1 : 5 },
  latency: { checkRuns: QUICK ? 5 : 15, blocks: QUICK ? 1 : 3 },
  attach: { runs: QUICK ? 3 : 7 },
  awaits: { runs: QUICK ? 1 : 3 },
  // Instruction counts under valgrind: servers that serve exactly N requests and exit, at two N;
  // idle for two durations; each setting `reps` times. Both N past V8's warm-up: on Node 24 its
  // compiler threads still counted 42–52k instructions a request between 4000 and 16000
  // requests, 2–6k between 16000 and 48000 (bench/README.md). Five reps: a run's count moves
  // with where V8 happens to place its maps and when its helper threads run (±1.5–2k a
  // request on Node 20), so a median of three was still at the mercy of one run.
  instructions: {
    reps: Number(option('--reps', QUICK ? 1 : 5)),
    counts: QUICK ? [1000, 4000] : [16_000, 48_000],
    idleMs: QUICK ? [2000, 8000] : [10_000, 20_000],
    nativeIdleMs: [1000, 4000],
    concurrency: Number(option('--concurrency', 48)),
  },
  // 64 dashboards asking ps ten times a second, as 16 connections (the agent's limit) at 40/s.
  clients: { connections: 16, perSecond: 40, durationMs: QUICK ? 5000 : 20_000, rounds: QUICK ? 1 : 2 },
  // 16 read-only clients (the agent's connection limit) sending expensive commands back to back,
  // at promises level with 20k pending promises to list.
  readers: { connections: 16, pending: 20_000, durationMs: QUICK ? 4000 : 8000, rounds: QUICK ? 2 : 3 },
};
if (!(S.rounds >= 1)) throw new Error('--rounds must be ≥ 1');
if (!(S.instructions.reps >= 1)) throw new Error('--reps must be ≥ 1');

/** Hard ceiling for the whole run, so nothing can hang a CI job. */
const WATCHDOG_MS = (ONLY.has('instructions') ? 75 : 15) * 60_000;

/** Cores: the service (or loop) runs on SERVER_CPU, the load generator on LOAD_CPU. */
const SERVER_CPU = PIN ? 0 : null;
const LOAD_CPU = PIN ? 1 : null;

const PEERS_DIR = resolve(BENCH_DIR, 'peers');
const BASELINE = { key: 'none', label: 'no agent', agent: null };
/**
 * Every setting measured. Peers are loaded as their READMEs say: why-is-node-running imported
 * first thing; OpenTelemetry's context managers registered as the global one, with the work
 * run inside `context.with()` as its HTTP instrumentation does (BENCH_OTEL, lib/otel-wrap.mjs).
 */
const ALL_CONFIGS = [
  BASELINE,
  { key: 'tasks', label: 'tasks (default)', agent: { track: 'tasks' } },
  { key: 'resources', label: 'resources', agent: { track: 'resources' } },
  { key: 'promises', label: 'promises', agent: { track: 'promises' } },
  // Counted at a quarter of the instruction bench's N: a request costs 4–8 times as much, and
  // the ratio is far from its budget either way.
  { key: 'promises-st', label: 'promises + stacks in tasks', agent: { track: 'promises', stacks: 'tasks' }, countDivisor: 4 },
  { key: 'promises-s64', label: 'promises + stacks 1/64', agent: { track: 'promises', stacks: 64 } },
  { key: 'promises-on', label: 'promises + stacks on', agent: { track: 'promises', stacks: 'on' } },
  { key: 'why', label: 'peer: why-is-node-running', peer: { nodeArgs: ['--import', 'why-is-node-running'] } },
  {
    key: 'otel-ah',
    label: 'peer: OTel AsyncHooks',
    peer: { nodeArgs: ['--require', resolve(PEERS_DIR, 'otel-async-hooks.cjs')], env: { BENCH_OTEL: '1' } },
  },
  {
    key: 'otel-als',
    label: 'peer: OTel AsyncLocalStorage',
    peer: { nodeArgs: ['--require', resolve(PEERS_DIR, 'otel-als.cjs')], env: { BENCH_OTEL: '1' } },
  },
];
const SETTINGS = option('--settings', null)?.split(',').filter(Boolean) ?? null;
for (const key of SETTINGS ?? []) {
  if (!ALL_CONFIGS.some((c) => c.key === key)) throw new Error(`--settings: unknown setting ${key} (${ALL_CONFIGS.map((c) => c.key).join(', ')})`);
}
const CONFIGS = SETTINGS ? ALL_CONFIGS.filter((c) => c === BASELINE || SETTINGS.includes(c.key)) : ALL_CONFIGS;
/** Counted with --instructions unless --settings says otherwise: the budgeted settings. */
const INSTRUCTION_CONFIGS = SETTINGS ? CONFIGS : ALL_CONFIGS.filter((c) => ['none', 'tasks', 'promises', 'promises-st'].includes(c.key));

/** How to start a measured child for setting `c`: the agent's preload, a peer's, or neither. */
const childOptions = (c) => ({ agent: c.agent ?? null, nodeArgs: c.peer?.nodeArgs ?? [], env: c.peer?.env ?? {} });

const BUDGETS = {
  httpDefault: { label: 'HTTP, tasks (default) ≥ 0.97 of no agent', op: '>=', limit: 0.97 },
  loopDefault: { label: 'await loop, tasks (default) ≥ 0.97 of no agent', op: '>=', limit: 0.97 },
  httpPromises: { label: 'HTTP, promises without stacks ≥ 0.85 of no agent', op: '>=', limit: 0.85 },
  httpStacksInTasks: { label: 'HTTP, promises + stacks in tasks ≥ 0.50 of no agent', op: '>=', limit: 0.5 },
  memory: { label: 'memory per tracked pending promise, no stacks ≤ 120 B', op: '<=', limit: 120 },
  listing: { label: 'promises-all of 100k to a client ≤ 150 ms', op: '<=', limit: 150 },
  listingHold: { label: 'main thread held ≤ 10 ms at a time while listing 100k', op: '<=', limit: 10 },
  check: { label: 'asyncmon check, median wall time ≤ 300 ms', op: '<=', limit: 300 },
  blocked: { label: 'health reply while the loop is blocked ≤ 250 ms (max)', op: '<=', limit: 250 },
  clients: { label: 'HTTP with agent clients polling ps (640/s) ≥ 0.90 of without', op: '>=', limit: 0.9 },
  readers: { label: 'HTTP with 16 read-only clients sending expensive commands back to back ≥ 0.90 of without', op: '>=', limit: 0.9 },
  // The same budgets on instructions per request: a throughput ratio r is 1/r the instructions.
  instrDefault: { label: 'HTTP instructions per request, tasks (default) ≤ 1.03 of no agent', op: '<=', limit: 1.03 },
  instrPromises: { label: 'HTTP instructions per request, promises ≤ 1.18 (1/0.85) of no agent', op: '<=', limit: 1.18 },
  instrStacksInTasks: { label: 'HTTP instructions per request, promises + stacks in tasks ≤ 2.00 (1/0.50) of no agent', op: '<=', limit: 2 },
};

const log = (line = '') => process.stderr.write(`${line}\n`);

// ---------------------------------------------------------------------------------------------
// Throughput: HTTP and the await loop, every setting side by side, rounds interleaved

/** The settings in round `r`'s order: rotated each round so no setting always runs first. */
function roundOrder(r) {
  const k = r % CONFIGS.length;
  return [...CONFIGS.slice(k), ...CONFIGS.slice(0, k)];
}

/** The median of `samples[key][*][field]` and of its per-round ratios to no agent. */
function ratios(samples, key, field) {
  const values = samples[key].map((s) => s[field]);
  const rs = samples[key].map((s, r) => s[field] / samples[BASELINE.key][r][field]);
  return {
    values: values.map((v) => round(v, 1)),
    median: round(median(values), 1),
    ratios: rs.map((x) => round(x, 4)),
    ratio: round(median(rs), 3),
    ratioMin: round(min(rs), 3),
    ratioMax: round(max(rs), 3),
  };
}

/**
 * Per setting: throughput per wall-clock second (`wallField`, the figure budgets are judged on)
 * and per CPU-second of the measured process (`cpuField`, robust to other processes taking the
 * core), each as a median and as the median of per-round ratios to no agent.
 */
function summarize(samples, wallField, cpuField) {
  const out = {};
  for (const c of CONFIGS) {
    out[c.key] = { label: c.label, agent: c.agent, ...ratios(samples, c.key, wallField), perCpuSecond: ratios(samples, c.key, cpuField) };
  }
  return out;
}

async function benchHttp() {
  const { concurrency, client, firstWarmupMs, warmupMs, durationMs } = S.http;
  log(`HTTP: ${CONFIGS.length} settings × ${S.rounds} rounds × ${durationMs} ms, ${concurrency} in flight (${client} client)`);
  const load = startChild('load-generator.mjs', { cpu: LOAD_CPU });
  const servers = {};
  for (const c of CONFIGS) servers[c.key] = startChild('http-server.mjs', { ...childOptions(c), cpu: SERVER_CPU });
  const ports = {};
  let node = null;
  for (const c of CONFIGS) {
    const { port, node: v } = await servers[c.key].request('listen');
    ports[c.key] = port;
    node = v;
  }
  const runTimeout = warmupMs + durationMs + 15_000;
  // One longer warm-up per server: JIT, connection setup, the tracker's tables at full size.
  for (const c of CONFIGS) {
    await load.request('run', { port: ports[c.key], concurrency, client, warmupMs: 0, durationMs: firstWarmupMs }, runTimeout + firstWarmupMs);
  }
  const samples = Object.fromEntries(CONFIGS.map((c) => [c.key, []]));
  for (let r = 0; r < S.rounds; r++) {
    for (const c of roundOrder(r)) {
      await servers[c.key].request('mark');
      const res = await load.request('run', { port: ports[c.key], concurrency, client, warmupMs, durationMs }, runTimeout);
      const busy = await servers[c.key].request('busy');
      if (res.requests === 0) throw new Error(`HTTP ${c.label}: no request completed (${res.errors} errors)`);
      samples[c.key][r] = { ...res, ...busy };
    }
    log(`  round ${r + 1}/${S.rounds}: ${CONFIGS.map((c) => `${c.key} ${Math.round(samples[c.key][r].rps)}`).join(', ')}`);
  }
  await Promise.all([load.kill(), ...Object.values(servers).map((s) => s.kill())]);
  const table = summarize(samples, 'rps', 'servedPerCpuSec');
  for (const c of CONFIGS) {
    table[c.key].serverElu = round(median(samples[c.key].map((s) => s.elu)), 3);
    table[c.key].serverCpu = round(median(samples[c.key].map((s) => s.cpu)), 3);
    table[c.key].loadCpu = round(median(samples[c.key].map((s) => s.loadCpu)), 3);
    table[c.key].connections = max(samples[c.key].map((s) => s.connections));
    table[c.key].errors = samples[c.key].reduce((a, s) => a + s.errors, 0);
  }
  return { node, settings: S.http, rounds: S.rounds, unit: 'requests/s', results: table };
}

async function benchLoop() {
  const { firstWarmupMs, warmupMs, durationMs } = S.loop;
  log(`await loop: ${CONFIGS.length} settings × ${S.rounds} rounds × ${durationMs} ms`);
  const loops = {};
  for (const c of CONFIGS) loops[c.key] = startChild('await-loop.mjs', { ...childOptions(c), cpu: SERVER_CPU });
  const timeout = warmupMs + durationMs + 15_000;
  for (const c of CONFIGS) await loops[c.key].request('run', { warmupMs: 0, durationMs: firstWarmupMs }, timeout + firstWarmupMs);
  const samples = Object.fromEntries(CONFIGS.map((c) => [c.key, []]));
  for (let r = 0; r < S.rounds; r++) {
    for (const c of roundOrder(r)) samples[c.key][r] = await loops[c.key].request('run', { warmupMs, durationMs }, timeout);
    log(`  round ${r + 1}/${S.rounds}: ${CONFIGS.map((c) => `${c.key} ${Math.round(samples[c.key][r].opsPerSec / 1000)}k`).join(', ')}`);
  }
  await Promise.all(Object.values(loops).map((l) => l.kill()));
  const table = summarize(samples, 'opsPerSec', 'opsPerCpuSec');
  for (const c of CONFIGS) table[c.key].cpuShare = round(median(samples[c.key].map((s) => s.cpuShare)), 3);
  return { settings: S.loop, rounds: S.rounds, unit: 'iterations/s', results: table };
}

// ---------------------------------------------------------------------------------------------
// Memory per pending promise

const MEMORY_CONFIGS = ALL_CONFIGS.filter((c) => ['none', 'promises', 'promises-on'].includes(c.key));

async function benchMemory() {
  const { n, reps } = S.memory;
  log(`memory: ${n} pending promises, ${reps} rep(s) per setting`);
  const raw = Object.fromEntries(MEMORY_CONFIGS.map((c) => [c.key, []]));
  for (let i = 0; i < reps; i++) {
    for (const c of MEMORY_CONFIGS) {
      const res = await runOnce('memory.mjs', { agent: c.agent, nodeArgs: ['--expose-gc'], runArgs: { n } }, 120_000);
      if (c.agent && res.tracked < n) throw new Error(`memory ${c.label}: only ${res.tracked} of ${n} promises tracked`);
      raw[c.key].push(res);
    }
  }
  const base = median(raw[BASELINE.key].map((r) => r.perPromise));
  const baseHeap = median(raw[BASELINE.key].map((r) => r.heapBytes / n));
  const results = {};
  for (const c of MEMORY_CONFIGS) {
    const per = median(raw[c.key].map((r) => r.perPromise));
    const heap = median(raw[c.key].map((r) => r.heapBytes / n));
    results[c.key] = {
      label: c.label,
      bytesPerPromise: round(per, 1),
      heapBytesPerPromise: round(heap, 1),
      arrayBufferBytesPerPromise: round(median(raw[c.key].map((r) => r.arrayBufferBytes / n)), 1),
      // What tracking adds per promise: JS heap plus typed-array storage (the budgeted figure),
      // and the JS heap alone.
      addedBytesPerPromise: c === BASELINE ? 0 : round(per - base, 1),
      addedHeapBytesPerPromise: c === BASELINE ? 0 : round(heap - baseHeap, 1),
      tracked: raw[c.key][0].tracked,
    };
  }
  return { n, reps, results };
}

// ---------------------------------------------------------------------------------------------
// Sliced listing of 100k pending promises

const LISTING_CASES = [
  { key: 'stacks-off', label: 'stacks off', agent: { track: 'promises', stacks: 'off' }, sizes: [1000, 10_000, 100_000] },
  { key: 'stacks-on', label: 'stacks on', agent: { track: 'promises', stacks: 'on' }, sizes: [100_000] },
];

/** `promises-all` over the agent's port, counted; resolves with the wall time and entries. */
async function listOnce(client) {
  let entries = 0;
  const t0 = performance.now();
  const result = await client.stream('promises-all', {}, (items) => (entries += items.length), 60_000);
  return { ms: performance.now() - t0, entries, total: result.total };
}

async function benchListing() {
  const { reps } = S.listing;
  const { AgentClient } = await import(resolve(BENCH_DIR, '..', 'dist', 'cli', 'client.js'));
  log(`listing: promises-all to a client, ${LISTING_CASES.map((c) => `${c.label} × ${c.sizes.join('/')}`).join(', ')}, ${reps} rep(s) each`);
  const results = {};
  for (const lc of LISTING_CASES) {
    const host = startChild('listing.mjs', { agent: lc.agent, nodeArgs: ['--expose-gc'], cpu: SERVER_CPU });
    try {
      const { port, token } = await host.request('start');
      const client = await AgentClient.connect({ host: '127.0.0.1', port }, { token, timeoutMs: 10_000 });
      try {
        for (const n of lc.sizes) {
          const { pending } = await host.request('fill', { n }, 60_000);
          const runs = [];
          for (let i = 0; i < reps; i++) {
            await host.request('probeStart');
            const r = await listOnce(client);
            const probe = await host.request('probeStop');
            if (r.entries < n) throw new Error(`listing ${lc.label} ${n}: ${r.entries} entries listed`);
            runs.push({ ...r, ...probe });
          }
          // The figure is the median over runs, so one preemption by another process on a
          // shared machine does not decide it; the worst run is kept alongside.
          results[`${lc.key}-${n}`] = {
            label: `${lc.label}, ${n} pending`,
            n,
            pending,
            entries: runs[0].entries,
            totalMs: round(median(runs.map((r) => r.ms)), 1),
            maxHoldMs: round(median(runs.map((r) => r.maxGapMs)), 2),
            worstHoldMs: round(max(runs.map((r) => r.maxGapMs)), 2),
            maxHoldCpuMs: round(median(runs.map((r) => r.maxGapCpuMs)), 2),
            runs: runs.map((r) => ({ totalMs: round(r.ms, 1), maxGapMs: round(r.maxGapMs, 2), maxGapCpuMs: round(r.maxGapCpuMs, 2) })),
          };
        }
      } finally {
        client.close();
      }
    } finally {
      await host.kill();
    }
  }
  return { reps, results };
}

// ---------------------------------------------------------------------------------------------
// Agent clients under load: the host's HTTP throughput with and without clients polling `ps`

async function benchClients() {
  const { connections, perSecond, durationMs, rounds } = S.clients;
  const { concurrency, client } = S.http;
  log(`clients: HTTP under ${connections} agent clients × ${perSecond} ps/s, ${rounds} × ${durationMs} ms with and without`);
  const load = startChild('load-generator.mjs', { cpu: LOAD_CPU });
  const server = startChild('http-server.mjs', { agent: { track: 'tasks' }, cpu: SERVER_CPU });
  const pollers = startChild('pollers.mjs', { cpu: LOAD_CPU });
  const { port, pid } = await server.request('listen');
  const timeout = durationMs + 30_000;
  await load.request('run', { port, concurrency, client, warmupMs: 0, durationMs: 1000 }, timeout);
  await server.request('mark');
  const before = await server.request('busy');
  const without = [];
  const withClients = [];
  let answers = 0;
  let errors = 0;
  const medians = [];
  for (let r = 0; r < rounds; r++) {
    without.push((await load.request('run', { port, concurrency, client, warmupMs: 300, durationMs }, timeout)).rps);
    const polling = pollers.request('run', { pid, clients: connections, perSecond, durationMs: durationMs + 600 }, timeout);
    withClients.push((await load.request('run', { port, concurrency, client, warmupMs: 300, durationMs }, timeout)).rps);
    const p = await polling;
    answers += p.answers;
    errors += p.errors;
    if (p.medianMs !== null) medians.push(p.medianMs);
  }
  await server.request('mark');
  const after = await server.request('busy');
  await Promise.all([load.kill(), server.kill(), pollers.kill()]);
  return {
    connections,
    perSecond,
    durationMs,
    rounds,
    withoutRps: Math.round(median(without)),
    withRps: Math.round(median(withClients)),
    ratio: round(median(withClients.map((w, i) => w / without[i])), 3),
    answers,
    errors,
    medianMs: round(median(medians), 1),
    rssBeforeMB: round(before.rssMB, 1),
    rssAfterMB: round(after.rssMB, 1),
  };
}

// ---------------------------------------------------------------------------------------------
// Read-only clients that never pause: the host's HTTP throughput while 16 clients send snapshot,
// handles, stats, promises-all, stack, promises and ps back to back, against the same server with
// no clients, in alternating windows of the same run.

async function benchReaders() {
  const { connections, pending, durationMs, rounds } = S.readers;
  const { concurrency, client } = S.http;
  log(`readers: HTTP under ${connections} read-only clients sending expensive commands back to back, ${rounds} × ${durationMs} ms with and without`);
  const load = startChild('load-generator.mjs', { cpu: LOAD_CPU });
  const server = startChild('http-server.mjs', { agent: { track: 'promises' }, cpu: SERVER_CPU, env: { BENCH_PENDING: String(pending) } });
  const readers = startChild('pollers.mjs', { cpu: LOAD_CPU });
  try {
    const { port, pid } = await server.request('listen');
    const timeout = durationMs + 60_000;
    await load.request('run', { port, concurrency, client, warmupMs: 0, durationMs: 1000 }, timeout);
    const without = [];
    const withReaders = [];
    const counts = { answers: 0, busy: 0, errors: 0 };
    for (let r = 0; r < rounds; r++) {
      without.push((await load.request('run', { port, concurrency, client, warmupMs: 300, durationMs }, timeout)).rps);
      const hammering = readers.request('hammer', { pid, clients: connections, durationMs: durationMs + 600 }, timeout);
      withReaders.push((await load.request('run', { port, concurrency, client, warmupMs: 300, durationMs }, timeout)).rps);
      const c = await hammering;
      for (const k of Object.keys(counts)) counts[k] += c[k];
    }
    return {
      connections,
      pending,
      durationMs,
      rounds,
      withoutRps: Math.round(median(without)),
      withRps: Math.round(median(withReaders)),
      ratio: round(median(withReaders.map((w, i) => w / without[i])), 3),
      ratios: withReaders.map((w, i) => round(w / without[i], 3)),
      ...counts,
    };
  } finally {
    await Promise.all([load.kill(), server.kill(), readers.kill()]);
  }
}

// ---------------------------------------------------------------------------------------------
// Budgets and report

function check(budget, value) {
  const pass = Number.isFinite(value) && (budget.op === '>=' ? value >= budget.limit : value <= budget.limit);
  return { ...budget, value, pass };
}

function judge(res) {
  const out = {};
  // A setting left out with --settings has no figure, and so no verdict.
  const ratio = (section, key, name) => {
    const r = section?.results[key];
    if (r) out[name] = check(BUDGETS[name], r.ratio);
  };
  ratio(res.http, 'tasks', 'httpDefault');
  ratio(res.http, 'promises', 'httpPromises');
  ratio(res.http, 'promises-st', 'httpStacksInTasks');
  ratio(res.loop, 'tasks', 'loopDefault');
  ratio(res.instructions, 'tasks', 'instrDefault');
  ratio(res.instructions, 'promises', 'instrPromises');
  ratio(res.instructions, 'promises-st', 'instrStacksInTasks');
  if (res.memory) out.memory = check(BUDGETS.memory, res.memory.results.promises.addedBytesPerPromise);
  if (res.listing) {
    out.listing = check(BUDGETS.listing, res.listing.results['stacks-off-100000'].totalMs);
    out.listingHold = check(BUDGETS.listingHold, res.listing.results['stacks-off-100000'].maxHoldMs);
  }
  if (res.clients) out.clients = check(BUDGETS.clients, res.clients.ratio);
  if (res.readers) out.readers = check(BUDGETS.readers, res.readers.ratio);
  if (res.latency) {
    out.check = check(BUDGETS.check, res.latency.checkMedianMs);
    out.blocked = check(BUDGETS.blocked, res.latency.blockedReplyMaxMs);
  }
  return out;
}

const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);
const verdict = (b) => (b ? (b.pass ? 'PASS' : 'MISS') : '');
const fmtBudget = (b) => (b ? `${b.op === '>=' ? '≥' : '≤'} ${b.limit} ${verdict(b)}` : '');

function throughputTable(title, section, budgets, extra) {
  const lines = [title];
  lines.push(`  ${pad('setting', 30)}${lpad('median/s', 10)}${lpad('ratio', 7)}${lpad('min–max', 11)}${lpad('ratio/CPU-s', 13)}` +
    `${lpad(extra.head, extra.width)}   budget (on ratio)`);
  for (const c of CONFIGS) {
    const r = section.results[c.key];
    const spread = c === BASELINE ? '' : `${r.ratioMin.toFixed(2)}–${r.ratioMax.toFixed(2)}`;
    lines.push(
      `  ${pad(c.label, 30)}${lpad(Math.round(r.median), 10)}${lpad(r.ratio.toFixed(3), 7)}${lpad(spread, 11)}` +
        `${lpad(r.perCpuSecond.ratio.toFixed(3), 13)}${lpad(extra.cell(r), extra.width)}   ${fmtBudget(budgets[c.key])}`,
    );
  }
  return lines;
}

function report(res) {
  const b = res.budgets;
  const lines = [];
  lines.push(`asyncmon bench — children on Node ${res.node} (${res.nodeBinary}), ${res.cpus} cores (${res.cpuModel}), ` +
    `pinned: ${res.pinned ? 'server/loop on cpu 0, load on cpu 1' : 'no'}, ${res.quick ? 'quick' : 'full'} run, ${res.date}`);
  lines.push('');
  if (res.http) {
    const h = res.http;
    lines.push(...throughputTable(
      `HTTP throughput (req/s; ${h.settings.client} keep-alive client, ${h.settings.concurrency} in flight; ${h.rounds} interleaved rounds × ${h.settings.durationMs} ms; ratio = median of per-round ratios)`,
      h, { tasks: b.httpDefault, promises: b.httpPromises, 'promises-st': b.httpStacksInTasks },
      { head: 'srv ELU/CPU  load CPU', width: 23, cell: (r) => `${r.serverElu.toFixed(2)}/${r.serverCpu.toFixed(2)}  ${r.loadCpu.toFixed(2)}` },
    ));
    lines.push('');
  }
  if (res.loop) {
    const l = res.loop;
    lines.push(...throughputTable(
      `Await-heavy loop (iterations/s; ${l.rounds} interleaved rounds × ${l.settings.durationMs} ms)`,
      l, { tasks: b.loopDefault },
      { head: 'CPU share', width: 11, cell: (r) => r.cpuShare.toFixed(2) },
    ));
    lines.push('');
  }
  if (res.instructions) {
    const x = res.instructions;
    const [n1, n2] = x.counts;
    lines.push(`Instructions per HTTP request (valgrind cachegrind, all threads; (I(${n2}) − I(${n1})) / ${n2 - n1}, the agent's periods ×${x.clockScale}; ` +
      `${x.concurrency} in flight; median of ${x.reps} reps, ratio = median of per-rep ratios; ${x.elapsedSeconds} s)`);
    lines.push(`  ${pad('setting', 30)}${lpad('per request', 12)}${lpad('min–max', 16)}${lpad('ratio', 8)}${lpad('min–max', 14)}   budget (on ratio)`);
    const budgets = { tasks: b.instrDefault, promises: b.instrPromises, 'promises-st': b.instrStacksInTasks };
    for (const [key, r] of Object.entries(x.results)) {
      const k = (v) => `${Math.round(v / 1000)}k`;
      const spread = key === INSTRUCTION_CONFIGS[0].key ? '' : `${r.ratioMin.toFixed(3)}–${r.ratioMax.toFixed(3)}`;
      lines.push(`  ${pad(r.label, 30)}${lpad(k(r.perRequest), 12)}${lpad(`${k(r.perRequestMin)}–${k(r.perRequestMax)}`, 16)}${lpad(r.ratio.toFixed(3), 8)}` +
        `${lpad(spread, 14)}   ${fmtBudget(budgets[key])}`);
    }
    lines.push(`  the default level idle: ${round(x.idle.instructionsPerSec / 1e6, 2)}M instructions/s more than no agent (valgrind, the real preload), ` +
      `${(x.idle.coreShare * 100).toFixed(2)}% of a core (CPU time without valgrind)`);
    lines.push(`  one awaits (${x.awaits.heapMb} MB heap, the heap snapshot behind the await graph): ${round(x.awaits.instructions / 1e9, 2)}G instructions, ` +
      `as many as ${x.awaits.requestsOfNoAgent} requests of no agent`);
    lines.push('');
  }
  if (res.memory) {
    const m = res.memory;
    lines.push(`Memory per pending promise (N = ${m.n}; heapUsed + arrayBuffers growth after full GC; median of ${m.reps})`);
    lines.push(`  ${pad('setting', 24)}${lpad('B/promise', 11)}${lpad('(heap', 8)}${lpad('+ typed)', 9)}${lpad('added', 9)}${lpad('(heap only)', 13)}   budget (on added)`);
    for (const c of MEMORY_CONFIGS) {
      const r = m.results[c.key];
      const added = c === BASELINE ? ['', ''] : [`+${r.addedBytesPerPromise.toFixed(1)}`, `+${r.addedHeapBytesPerPromise.toFixed(1)}`];
      lines.push(`  ${pad(c.label, 24)}${lpad(r.bytesPerPromise.toFixed(1), 11)}${lpad(r.heapBytesPerPromise.toFixed(1), 8)}` +
        `${lpad(r.arrayBufferBytesPerPromise.toFixed(1), 9)}${lpad(added[0], 9)}${lpad(added[1], 13)}   ${c.key === 'promises' ? fmtBudget(b.memory) : ''}`);
    }
    lines.push('');
  }
  if (res.listing) {
    const l = res.listing;
    lines.push(`Listing: promises-all to a client over the agent's port (median of ${l.reps}; hold = longest gap between turns of the host's loop)`);
    lines.push(`  ${pad('case', 28)}${lpad('entries', 9)}${lpad('total ms', 10)}${lpad('max hold', 10)}${lpad('(CPU)', 8)}${lpad('worst', 8)}   budgets`);
    for (const [key, r] of Object.entries(l.results)) {
      const budgeted = key === 'stacks-off-100000' ? `${fmtBudget(b.listing)}; hold ${fmtBudget(b.listingHold)}` : '';
      lines.push(`  ${pad(r.label, 28)}${lpad(r.entries, 9)}${lpad(r.totalMs.toFixed(1), 10)}${lpad(r.maxHoldMs.toFixed(1), 10)}` +
        `${lpad(r.maxHoldCpuMs.toFixed(1), 8)}${lpad(r.worstHoldMs.toFixed(1), 8)}   ${budgeted}`);
    }
    lines.push('');
  }
  if (res.clients) {
    const c = res.clients;
    lines.push(`Agent clients under HTTP load (${c.connections} connections × ${c.perSecond} ps/s for ${c.durationMs / 1000} s, tasks level): ` +
      `HTTP ${c.withRps} req/s against ${c.withoutRps} without clients, ratio ${c.ratio}; ${c.answers} ps answered (median ${c.medianMs} ms), ${c.errors} errors; ` +
      `server RSS ${c.rssBeforeMB} MB before, ${c.rssAfterMB} MB after`);
    lines.push('');
  }
  if (res.readers) {
    const r = res.readers;
    lines.push(`Read-only clients back to back (${r.connections} connections: snapshot, handles, stats, promises-all, stack, promises, ps; promises level, ${r.pending} pending; ` +
      `${r.rounds} × ${r.durationMs / 1000} s): HTTP ${r.withRps} req/s against ${r.withoutRps} without them, ratio ${r.ratio} (rounds ${r.ratios.join(', ')}); ` +
      `${r.answers} answered, ${r.busy} BUSY, ${r.errors} other errors`);
    lines.push('');
  }
  if (res.latency) {
    const l = res.latency;
    lines.push(`Latency: asyncmon check (wall, Node start-up included) median ${l.checkMedianMs} ms, max ${l.checkMaxMs} ms over ${l.checkRuns} runs; ` +
      `health while blocked median ${l.blockedReplyMedianMs} ms, max ${l.blockedReplyMaxMs} ms (${l.blockedSeen}/${l.blockedReplies} said blocked)`);
    lines.push('');
  }
  if (res.attach) {
    const a = res.attach;
    lines.push(`Attach: the target's inspector (no authentication) open from SIGUSR1 until closed again, median ${a.openMedianMs} ms ` +
      `(min ${a.openMinMs}, max ${a.openMaxMs}) over ${a.runs} attaches; attach wall time (Node start-up included) median ${a.wallMedianMs} ms`);
    lines.push('');
  }
  if (res.awaits) {
    for (const z of res.awaits.sizes) {
      const last = z.samples[z.samples.length - 1];
      lines.push(`Awaits (${z.heapUsedMB} MB heap, ${last.snapshotMB} MB snapshot, ${last.chains} chains): the host paused median ${z.pauseMedianMs} ms; ` +
        `whole answer median ${z.wallMedianMs} ms (of it parsing and analysis ${[...z.samples.map((x) => x.analysisMs ?? 0)].sort((a, b) => a - b)[Math.floor(z.samples.length / 2)]} ms); host RSS ${last.rssBeforeMB} → ${last.rssAfterMB} MB`);
    }
    lines.push('');
  }
  const busiest = Math.max(res.loadAverage.start, res.loadAverage.end);
  if (busiest > res.cpus * 0.75) {
    lines.push(`NOTE: the machine was busy (1-min load average ${res.loadAverage.start} at start, ${res.loadAverage.end} at end, ` +
      `${res.cpus} cores): other processes took CPU from the children. Wall-clock ratios are noisy; ` +
      'the per-CPU-second ratios are the steadier estimate.');
    lines.push('');
  }
  lines.push('Budgets');
  for (const budget of Object.values(b)) lines.push(`  ${verdict(budget)}  ${pad(budget.label, 56)} measured ${budget.value}`);
  lines.push('');
  lines.push(`(${Math.round(res.elapsedMs / 1000)} s; results in ${OUT})`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main() {
  installExitGuards();
  const watchdog = setTimeout(() => {
    killAll();
    log(`bench: gave up after ${WATCHDOG_MS / 60_000} min`);
    process.exit(1);
  }, WATCHDOG_MS);
  watchdog.unref();

  const t0 = performance.now();
  const res = {
    node: null,
    nodeBinary: NODE,
    orchestratorNode: process.version,
    date: new Date().toISOString(),
    quick: QUICK,
    pinned: PIN,
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    loadAverage: { start: round(loadavg()[0], 2), end: null },
  };
  if (ONLY.has('http')) res.http = await benchHttp();
  if (ONLY.has('loop')) res.loop = await benchLoop();
  if (ONLY.has('memory')) res.memory = await benchMemory();
  if (ONLY.has('listing')) res.listing = await benchListing();
  if (ONLY.has('clients')) res.clients = await benchClients();
  if (ONLY.has('readers')) res.readers = await benchReaders();
  if (ONLY.has('latency')) {
    log(`latency: asyncmon check × ${S.latency.checkRuns}, health while blocked × ${S.latency.blocks * 3}`);
    res.latency = await benchLatency(S.latency);
  }
  if (ONLY.has('attach')) {
    log(`attach: the inspector's open window, ${S.attach.runs} attaches to fresh plain apps`);
    res.attach = await benchAttach(S.attach);
  }
  if (ONLY.has('instructions')) res.instructions = await benchInstructions({ configs: INSTRUCTION_CONFIGS, ...S.instructions });
  if (ONLY.has('handlers')) {
    log('handlers: the default level\'s per-request path alone (node --single-threaded under valgrind): no subscriber, empty ones, the agent');
    res.handlers = await countHandlers(QUICK ? [10_000, 50_000] : [50_000, 250_000]);
    log(`  Node publishing: ${res.handlers.publishing} instructions a request; the agent's handlers: ${res.handlers.agent}`);
  }
  if (ONLY.has('awaits')) {
    log(`awaits: the host's pause for a heap snapshot, 10 MB and 100 MB heaps, ${S.awaits.runs} runs each`);
    res.awaits = await benchAwaits(S.awaits);
  }
  if (ONLY.has('otel')) res.otel = await benchOtel({ rounds: S.rounds, durationMs: QUICK ? 500 : 1000 }, log);
  res.node = res.http?.node ?? null;
  if (!res.node) {
    const hello = startChild('await-loop.mjs');
    res.node = (await hello.request('hello')).node;
    await hello.kill();
  }
  res.loadAverage.end = round(loadavg()[0], 2);
  res.budgets = judge(res);
  res.elapsedMs = Math.round(performance.now() - t0);
  writeFileSync(OUT, `${JSON.stringify(res, null, 2)}\n`);
  process.stdout.write(`\n${report(res)}\n`);
  clearTimeout(watchdog);
}

await main();
