// Instruction counts (`npm run bench -- --instructions`): CPU instructions per HTTP request at
// each setting, counted by valgrind's cachegrind (`--cache-sim=no`: a plain count of every
// instruction the process executes, all threads, the agent's worker included). Unlike
// throughput, a count does not move when other processes take the core; only JIT and GC timing
// move it, by a few percent a run.
//
// One count is a server (children/http-count.mjs) that serves exactly N requests from the load
// generator and exits. Two N cancel start-up: (I(N2) − I(N1)) / (N2 − N1). The agent runs with
// its periods stretched by the slowdown under valgrind (lib/count-preload.cjs): its
// clock-driven work then weighs on each request about as much as it does natively, and nothing
// is subtracted. Each setting is counted `reps` times, every setting once per rep in turn; the
// figure is the median of the per-rep ratios to the first setting, the spread is min–max.
//
// Beside it, the default level's idle cost as users run it (dist/agent/register.js, its real
// periods): instructions per second under valgrind, and the share of a core from CPU time
// measured without valgrind.
import { execFileSync, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BENCH_DIR, CHILDREN, NODE, REGISTER, childEnv, startChild } from './lib/procs.mjs';
import { max, median, min, round } from './lib/stats.mjs';

const log = (line = '') => process.stderr.write(`${line}\n`);

/** The valgrind to run, or an error saying how to install it. */
export function findValgrind() {
  try {
    return execFileSync('valgrind', ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim();
  } catch {
    throw new Error(
      'bench --instructions needs valgrind (cachegrind), which is not installed: ' +
        'on Debian or Ubuntu `apt-get install valgrind`, on Fedora `dnf install valgrind`, on macOS it is not available',
    );
  }
}

/**
 * Valgrind's options. cachegrind without cache simulation only counts instructions.
 * `--smc-check=all-non-file` makes it notice code V8 writes at run time (its default on x86-64,
 * stated so it stays true elsewhere); `--fair-sched=yes` lets the agent's worker have its turns
 * while the main thread is busy, as a second thread would on a real core.
 */
export const VALGRIND_ARGS = ['--tool=cachegrind', '--cache-sim=no', '--smc-check=all-non-file', '--fair-sched=yes', '--cachegrind-out-file=/dev/null'];

/**
 * The preload of counted runs: the agent as dist/agent/register.js starts it, but with the loop
 * counted as blocked only after STALE_MS (see lib/count-preload.cjs: under valgrind every busy
 * turn of the loop would look blocked) and its periods CLOCK_SCALE times longer. The agent's
 * idle cost is counted with the real preload.
 */
const COUNT_PRELOAD = resolve(BENCH_DIR, 'lib', 'count-preload.cjs');
const STALE_MS = 60_000;
/**
 * How long one counted run may take, in minutes (one of promises with stacks in tasks has taken
 * over 4 with two counts running at once). The load generator sends for as long, and the
 * server (children/http-count.mjs) gives up a minute later.
 */
export const RUN_LIMIT_MIN = 15;
/** How much longer the counted agent's periods are: about the slowdown under valgrind. */
const CLOCK_SCALE = 50;
/**
 * V8's own clock-driven work, stretched the same way in every counted run (no agent included).
 * Its memory reducer starts a full GC in an isolate whose allocation has gone quiet 8 s after
 * the last one (then up to three). The agent's worker is such an isolate: counted per thread
 * with callgrind on Node 20, its thread did a full GC more in a 48000-request run than in a
 * 16000-request one (about 70 and 30 s under valgrind, a few seconds natively), 1.4k instructions a
 * request of the difference; with the delay stretched, nothing (the loaded main thread's
 * reducer never starts: its allocation never goes quiet). The idle cost is measured without it.
 */
export const COUNT_V8_ARGS = [`--gc-memory-reducer-start-delay-ms=${8000 * CLOCK_SCALE}`];

/**
 * Watches a counted child: kills it (and rejects) when it outlives `limitMin` minutes or cannot
 * start, and keeps the tail of its stderr, where valgrind writes its count. Returns that tail.
 */
function supervise(proc, limitMin, what, rej) {
  const tail = { err: '' };
  const timer = setTimeout(() => {
    proc.kill('SIGKILL');
    rej(new Error(`instructions: ${what} did not end within ${limitMin} min: ${tail.err.slice(-2000)}`));
  }, limitMin * 60_000);
  proc.stderr.on('data', (d) => {
    tail.err += d;
    if (tail.err.length > 100_000) tail.err = tail.err.slice(-50_000);
  });
  proc.on('error', (e) => {
    clearTimeout(timer);
    rej(new Error(`instructions: ${what} could not start: ${e.message}`));
  });
  proc.on('exit', () => clearTimeout(timer));
  return tail;
}

/** Valgrind's instruction count in its report, or null. */
function instructionsIn(report) {
  const m = /I\s+refs:\s+([\d,]+)/.exec(report);
  return m ? Number(m[1].replace(/,/g, '')) : null;
}

/**
 * One counted run of http-count.mjs: `count` requests (with the load generator `load`) or
 * `idleMs` of nothing. Resolves with the instructions, the wall-clock seconds from listening
 * to exit and the child's CPU time in them; `valgrind: false` runs it natively (for CPU time only).
 */
export function countRun({ agent = null, peer = null, count = 0, idleMs = 0, load = null, concurrency = 48, valgrind = true, preload = COUNT_PRELOAD }) {
  const nodeArgs = [...(peer?.nodeArgs ?? [])];
  const env = { ...(peer?.env ?? {}), BENCH_LIMIT_MIN: String(RUN_LIMIT_MIN + 1), BENCH_COUNT: String(count), BENCH_IDLE_MS: String(idleMs), BENCH_STALE_MS: String(STALE_MS), BENCH_CLOCK_SCALE: String(CLOCK_SCALE) };
  if (agent) {
    nodeArgs.push('--require', preload);
    env.ASYNCMON_TRACK = agent.track;
    if (agent.stacks !== undefined) env.ASYNCMON_STACKS = String(agent.stacks);
  }
  // Counted requests: V8's clock stretched too (idle runs measure the cost as users run it).
  if (valgrind && count > 0) nodeArgs.unshift(...COUNT_V8_ARGS);
  const argv = [...nodeArgs, resolve(CHILDREN, 'http-count.mjs')];
  const [cmd, args] = valgrind ? ['valgrind', [...VALGRIND_ARGS, NODE, ...argv]] : [NODE, argv];
  return new Promise((res, rej) => {
    const proc = spawn(cmd, args, { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    const tail = supervise(proc, RUN_LIMIT_MIN, 'a counted run', rej);
    let out = '';
    let loading = null;
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /LISTENING (\d+)/.exec(out);
      if (m && count > 0 && !loading) {
        // Until the server exits: its sockets close and the generator's run ends.
        loading = load.request('run', { port: Number(m[1]), concurrency, client: 'raw', warmupMs: 0, durationMs: RUN_LIMIT_MIN * 60_000 }, (RUN_LIMIT_MIN + 1) * 60_000);
        // A generator that stops (or dies) before the server has its requests: fail now, not
        // when the run's time is up.
        loading.catch((e) => {
          if (proc.exitCode !== null || proc.signalCode !== null) return;
          proc.kill('SIGKILL');
          rej(new Error(`instructions: the load generator stopped before the server had its ${count} requests: ${e?.message ?? e}`));
        });
      }
    });
    proc.on('exit', async (code, signal) => {
      const instructions = instructionsIn(tail.err);
      const cpu = /CPU (\d+)/.exec(out);
      const ms = /MS ([\d.]+)/.exec(out);
      if (code !== 0 || (valgrind && instructions === null) || !cpu || !ms) {
        rej(new Error(`instructions: counted run ended with ${code ?? signal}: ${tail.err.slice(-2000)}`));
        return;
      }
      const served = loading ? await loading.then((r) => r.requests, () => null) : null;
      res({ instructions, seconds: Number(ms[1]) / 1000, cpuMicros: Number(cpu[1]), served });
    });
  });
}

/**
 * One counted run of the `awaits` bench's host (children/heap-app.cjs: about `heapMb` MB of
 * live objects, 1000 suspended functions) at the default level: it is asked for `awaits` once
 * over the wire (`ask`), or left idle for `holdMs`; then ended with SIGTERM (valgrind still
 * reports). Resolves with the instructions and how long it ran after it was ready.
 */
function awaitsRun({ heapMb, ask, holdMs = 0 }) {
  const token = `bench-count-${process.pid}`;
  const env = childEnv({ ASYNCMON_TRACK: 'tasks', ASYNCMON_TOKEN: token, BENCH_HEAP_MB: String(heapMb), BENCH_STALE_MS: String(STALE_MS), BENCH_CLOCK_SCALE: String(CLOCK_SCALE) });
  const args = [...VALGRIND_ARGS, NODE, '--max-old-space-size=1024', '--require', COUNT_PRELOAD, resolve(CHILDREN, 'heap-app.cjs')];
  return new Promise((res, rej) => {
    const proc = spawn('valgrind', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail = supervise(proc, 10, 'the awaits host', rej);
    let out = '';
    let ready = null;
    let ranMs = 0;
    let answer = null;
    proc.stdout.on('data', async (d) => {
      out += d;
      const m = /READY (.*)/.exec(out);
      if (!m || ready) return;
      ready = JSON.parse(m[1]);
      const t0 = performance.now();
      try {
        if (ask) {
          const { AgentClient } = await import(resolve(BENCH_DIR, '..', 'dist', 'cli', 'client.js'));
          const client = await AgentClient.connect({ host: '127.0.0.1', port: ready.port }, { token, timeoutMs: 5 * 60_000 });
          try {
            answer = await client.call('awaits', { limit: 50 }, 5 * 60_000);
          } finally {
            client.close();
          }
        } else await new Promise((r) => setTimeout(r, holdMs));
      } catch (e) {
        tail.err += `\n${e.message}`;
      }
      ranMs = performance.now() - t0;
      proc.kill('SIGTERM');
    });
    proc.on('exit', () => {
      const instructions = instructionsIn(tail.err);
      if (instructions === null || (ask && !answer)) rej(new Error(`instructions: the awaits host gave no count: ${tail.err.slice(-2000)}`));
      else res({ instructions, ranMs, chains: answer?.total ?? null, snapshotBytes: answer?.snapshotBytes ?? null });
    });
  });
}

/**
 * What one `awaits` costs the host process (V8 writing the heap snapshot on the main thread, the
 * worker parsing it and building the graph): a host asked once, less the same host left idle
 * as long, median of `reps`; also as a number of requests of no agent.
 */
export async function countAwaits({ heapMb = 10, reps = 1 } = {}) {
  findValgrind();
  const runs = [];
  for (let i = 0; i < reps; i++) {
    const asked = await awaitsRun({ heapMb, ask: true });
    const idle = await awaitsRun({ heapMb, ask: false, holdMs: asked.ranMs });
    runs.push({ instructions: asked.instructions - idle.instructions, asked, idle });
  }
  return { heapMb, reps, instructions: median(runs.map((r) => r.instructions)), runs };
}

/** One counted run of children/handlers-count.cjs (`node --single-threaded`: one thread, so the count repeats). */
function handlersRun(mode, count) {
  const args = [...VALGRIND_ARGS, NODE, '--single-threaded', resolve(CHILDREN, 'handlers-count.cjs')];
  return new Promise((res, rej) => {
    const proc = spawn('valgrind', args, { env: childEnv({ BENCH_COUNT: String(count), BENCH_HANDLERS: mode }), stdio: ['ignore', 'ignore', 'pipe'] });
    const tail = supervise(proc, 5, `the ${mode} handlers run`, rej);
    proc.on('exit', (code) => {
      const instructions = instructionsIn(tail.err);
      if (code !== 0 || instructions === null) rej(new Error(`instructions: the ${mode} handlers run gave no count (exit ${code}): ${tail.err.slice(-2000)}`));
      else res(instructions);
    });
  });
}

/**
 * The default level's per-request path alone: Node publishing its two HTTP server channels with
 * a real request and response, without subscribers, with two that do nothing, and with the
 * agent's (children/handlers-count.cjs). What Node's publishing costs is `empty − none`, what
 * the agent's handlers cost is `agent − empty`, each per request (two N, so start-up cancels).
 * One thread and no I/O: unlike the server's counts these repeat within a few dozen, so they
 * show changes of a few hundred instructions that the server's spread hides.
 */
export async function countHandlers(counts = [50_000, 250_000]) {
  findValgrind();
  const [n1, n2] = counts;
  const per = {};
  for (const mode of ['none', 'empty', 'agent']) per[mode] = Math.round(((await handlersRun(mode, n2)) - (await handlersRun(mode, n1))) / (n2 - n1));
  return { counts, perRequest: per, publishing: per.empty - per.none, agent: per.agent - per.empty };
}

/** Instructions per second of an idle process under valgrind: two idle times, so start-up cancels. */
async function idleRate(opts, [t1, t2]) {
  const a = await countRun({ ...opts, idleMs: t1 });
  const b = await countRun({ ...opts, idleMs: t2 });
  return { rate: (b.instructions - a.instructions) / (b.seconds - a.seconds), runs: [a, b] };
}

/** CPU share of a core of an idle process without valgrind (median of 3 pairs of idle times). */
async function idleShare(opts, [t1, t2]) {
  const shares = [];
  for (let i = 0; i < 3; i++) {
    const a = await countRun({ ...opts, idleMs: t1, valgrind: false });
    const b = await countRun({ ...opts, idleMs: t2, valgrind: false });
    shares.push((b.cpuMicros - a.cpuMicros) / 1e6 / (b.seconds - a.seconds));
  }
  return median(shares);
}

/**
 * Counts every setting in `configs` (the first is the baseline): instructions per request, as a
 * ratio to the baseline's in the same rep; and the default level's idle cost as users run it,
 * as instructions per second more than no agent's (valgrind) and as the share of a core it
 * takes (CPU time without valgrind).
 */
export async function benchInstructions({ configs, counts, idleMs, nativeIdleMs, reps, concurrency, awaitsHeapMb = 10 }) {
  const valgrind = findValgrind();
  const [n1, n2] = counts;
  log(`instructions: ${valgrind} cachegrind, ${configs.length} settings × ${reps} reps × ${n1} and ${n2} requests (${concurrency} in flight)`);
  const started = performance.now();
  const base = configs[0];
  const out = {};
  for (const c of configs) out[c.key] = { label: c.label, agent: c.agent ?? null, runs: [] };
  for (let r = 0; r < reps; r++) {
    for (const c of configs) {
      // A setting whose request costs several times as much may be counted at a fraction of N.
      const [m1, m2] = counts.map((n) => Math.round(n / (c.countDivisor ?? 1)));
      // A load generator per pair of counts: a bench child lives at most 15 minutes
      // (lib/child-side.mjs), and a whole rep may take longer with two versions counted at once.
      const load = startChild('load-generator.mjs');
      try {
        const a = await countRun({ agent: c.agent, peer: c.peer, count: m1, load, concurrency });
        const b = await countRun({ agent: c.agent, peer: c.peer, count: m2, load, concurrency });
        out[c.key].runs.push({ perRequest: Math.round((b.instructions - a.instructions) / (m2 - m1)), counts: [m1, m2], small: a, large: b });
      } finally {
        await load.kill();
      }
    }
    log(`  rep ${r + 1}/${reps}: ${configs.map((c) => `${c.key} ${Math.round(out[c.key].runs[r].perRequest / 1000)}k`).join(', ')}`);
  }
  for (const c of configs) {
    const o = out[c.key];
    const per = o.runs.map((x) => x.perRequest);
    const ratios = o.runs.map((x, i) => x.perRequest / out[base.key].runs[i].perRequest);
    Object.assign(o, {
      perRequest: Math.round(median(per)),
      perRequestMin: min(per),
      perRequestMax: max(per),
      ratios: ratios.map((x) => round(x, 4)),
      ratio: round(median(ratios), 3),
      ratioMin: round(min(ratios), 3),
      ratioMax: round(max(ratios), 3),
    });
  }
  // The default level idle, as users run it (the real preload and periods): instructions per
  // second under valgrind, less no agent's, and the share of a core without valgrind.
  log(`  idle, ${idleMs.join(' and ')} ms: no agent, then the default level`);
  const idleNone = await idleRate({}, idleMs);
  const idleAgent = await idleRate({ agent: { track: 'tasks' }, preload: REGISTER }, idleMs);
  log(`  idle: ${round(idleNone.rate / 1e6, 2)}M instructions/s without the agent, ${round(idleAgent.rate / 1e6, 2)}M with it; share of a core without valgrind`);
  const shareAgent = await idleShare({ agent: { track: 'tasks' }, preload: REGISTER }, nativeIdleMs);
  const shareNone = await idleShare({}, nativeIdleMs);
  // The heap snapshot behind the await graph, once, at the default level.
  log(`  one awaits of a ${awaitsHeapMb} MB heap`);
  const awaits = await countAwaits({ heapMb: awaitsHeapMb, reps: 1 });
  awaits.requestsOfNoAgent = Math.round(awaits.instructions / out[base.key].perRequest);
  return {
    valgrind,
    valgrindArgs: VALGRIND_ARGS,
    staleMs: STALE_MS,
    clockScale: CLOCK_SCALE,
    countV8Args: COUNT_V8_ARGS,
    counts,
    idleMs,
    nativeIdleMs,
    reps,
    concurrency,
    idle: {
      // No agent's own idle rate is noise around zero (the two runs' start-ups differ by ±10M
      // instructions): a negative one is not taken off.
      instructionsPerSec: Math.round(idleAgent.rate - Math.max(0, idleNone.rate)),
      instructionsPerSecAgent: Math.round(idleAgent.rate),
      instructionsPerSecNone: Math.round(idleNone.rate),
      runs: { none: idleNone.runs, agent: idleAgent.runs },
      coreShare: round(shareAgent - shareNone, 5),
      coreShareAgent: round(shareAgent, 5),
      coreShareNone: round(shareNone, 5),
    },
    awaits,
    elapsedSeconds: Math.round((performance.now() - started) / 1000),
    unit: 'instructions per request',
    results: out,
  };
}
