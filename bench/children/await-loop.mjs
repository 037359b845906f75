// An await-heavy loop with no I/O: nested async functions awaiting already-resolved values, so
// nearly all the time goes into creating and settling promises — the worst case for promise
// hooks. About every 2 ms it yields to the event loop, as real code does: a microtask chain
// that never yields is a blocked loop, and the agent's sentinel would then (rightly) pause the
// main thread to read its stack, which is not what this figure is about. Started with or
// without the preload; each `run` reports iterations per second (wall clock) and per
// CPU-second of the process.
import { performance } from 'node:perf_hooks';
import { serve } from '../lib/child-side.mjs';
import { withContext } from '../lib/otel-wrap.mjs';

async function leaf(i) {
  await null;
  return i + 1;
}

async function middle(i) {
  const a = await leaf(i);
  const b = await Promise.resolve(a);
  return b;
}

async function step(i) {
  const x = await middle(i);
  return leaf(x);
}

const BATCH = 64;
/** Yield to the event loop when this much time has passed since the last turn. */
const TURN_MS = 2;
const turn = () => new Promise((resolve) => setImmediate(resolve));

async function run({ warmupMs = 200, durationMs = 1000 }) {
  let i = 0;
  let n = 0;
  let cpu0 = null;
  let t0 = 0;
  let now = performance.now();
  const warmEnd = now + warmupMs;
  const end = warmEnd + durationMs;
  let lastTurn = now;
  while (now < end) {
    for (let k = 0; k < BATCH; k++) i = (await step(i)) & 0xffff;
    if (cpu0) n += BATCH;
    now = performance.now();
    if (now - lastTurn >= TURN_MS) {
      await turn();
      now = lastTurn = performance.now();
    }
    if (!cpu0 && now >= warmEnd) {
      cpu0 = process.cpuUsage();
      t0 = now;
    }
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const seconds = (now - t0) / 1000;
  // Per CPU-second as well as per second: robust to other processes taking the core from us.
  return { iterations: n, opsPerSec: n / seconds, opsPerCpuSec: n / cpuSeconds, cpuShare: cpuSeconds / seconds };
}

serve({ run: (args) => withContext(() => run(args), 'loop'), hello: () => ({ node: process.version }) });
