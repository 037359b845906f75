// A full listing of many pending promises, built the way the agent builds large answers: in
// slices through `agent.promises.slices(size)`, yielding to the loop between slices. Measures the
// total time and how long the main thread was held at once, two ways: the synchronous section of
// each slice (from the setImmediate that resumes the generator to the slice's arrival; in wall
// and in CPU time), and a setImmediate probe that records the longest gap between its turns.
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { serve, fullGc } from '../lib/child-side.mjs';

const require = createRequire(import.meta.url);
const noop = () => {};

async function run({ n = 100_000, sliceSize = 5000, serialize = false }) {
  const agent = require(process.env.BENCH_AGENT_JS).getAgent();
  if (!agent.promises.enabled) throw new Error('the promise tracker is off: start with ASYNCMON_TRACK=promises');
  const keep = [];
  for (let i = 0; i < n; i++) keep.push(new Promise(noop));
  const pending = agent.promises.size;
  // Settle the creation burst's GC debt (promoting 100k promises) before timing, so the holds
  // measured are the listing's own, including the scavenges its allocations cause.
  fullGc();
  await new Promise((resolve) => setTimeout(resolve, 20));

  // The probe: a chain of immediates; a long gap between two turns is a long hold.
  let probing = true;
  let lastTurn = performance.now();
  let lastTurnCpu = process.cpuUsage();
  let maxGap = 0;
  let maxGapCpu = 0;
  const probe = () => {
    const now = performance.now();
    const cpu = process.cpuUsage(lastTurnCpu);
    if (now - lastTurn > maxGap) maxGap = now - lastTurn;
    if ((cpu.user + cpu.system) / 1000 > maxGapCpu) maxGapCpu = (cpu.user + cpu.system) / 1000;
    lastTurn = now;
    lastTurnCpu = process.cpuUsage();
    if (probing) setImmediate(probe);
  };
  setImmediate(probe);

  let entries = 0;
  let slices = 0;
  let maxSlice = 0;
  let maxSliceCpu = 0;
  const sliceMs = [];
  let bytes = 0;
  const t0 = performance.now();
  // The generator resumes in a setImmediate callback and runs synchronously until it yields;
  // the probe's turn just before is the closest start we can see from outside.
  for await (const chunk of agent.promises.slices(sliceSize)) {
    if (serialize) bytes += JSON.stringify(chunk).length;
    const held = performance.now() - lastTurn;
    if (held > maxSlice) maxSlice = held;
    sliceMs.push(Math.round(held * 100) / 100);
    // The same section in CPU time of the process: what the slice costs when nothing else
    // competes for the core (a preempted slice looks long on the wall clock only).
    const cpu = process.cpuUsage(lastTurnCpu);
    const heldCpu = (cpu.user + cpu.system) / 1000;
    if (heldCpu > maxSliceCpu) maxSliceCpu = heldCpu;
    slices++;
    entries += chunk.length;
  }
  const totalMs = performance.now() - t0;
  probing = false;
  if (keep.length !== n) throw new Error('unreachable');
  return { n, pending, entries, slices, sliceSize, totalMs, maxSliceMs: maxSlice, maxSliceCpuMs: maxSliceCpu, maxProbeGapMs: maxGap, maxProbeGapCpuMs: maxGapCpu, sliceMs, serialize, bytes };
}

serve({ run });
