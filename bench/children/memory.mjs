// Memory per pending promise: creates N never-settling promises (kept in an array) and measures
// what the heap grew by, after full GCs. Run once without the agent and once per agent setting;
// run.mjs subtracts, so what is left is what tracking adds per promise. Needs --expose-gc.
// Typed arrays keep their data outside the JS heap, so `arrayBuffers` is counted alongside
// `heapUsed` (the promise tracker keeps its per-slot fields in typed arrays).
import { createRequire } from 'node:module';
import { serve, fullGc } from '../lib/child-side.mjs';

function usage() {
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers };
}

function tracked() {
  if (!process.env.ASYNCMON_TRACK) return null;
  // Same module instance as the preload's (and the agent is a per-process singleton anyway).
  const require = createRequire(import.meta.url);
  return require(process.env.BENCH_AGENT_JS).getAgent().promises.size;
}

const noop = () => {};

function run({ n = 100_000 }) {
  const keep = new Array(n).fill(null); // allocated before the first reading: not counted
  fullGc();
  const before = usage();
  const trackedBefore = tracked();
  for (let i = 0; i < n; i++) keep[i] = new Promise(noop);
  fullGc();
  const after = usage();
  const trackedAfter = tracked();
  const result = {
    n,
    heapBytes: after.heapUsed - before.heapUsed,
    arrayBufferBytes: after.arrayBuffers - before.arrayBuffers,
    tracked: trackedAfter === null ? null : trackedAfter - trackedBefore,
  };
  result.totalBytes = result.heapBytes + result.arrayBufferBytes;
  result.perPromise = result.totalBytes / n;
  if (keep.length !== n) throw new Error('unreachable'); // keeps `keep` alive to here
  return result;
}

serve({ run });
