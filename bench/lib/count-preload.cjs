// The agent's preload for counted runs under valgrind (bench/instructions.mjs): what
// dist/agent/register.js does (the level and stacks from ASYNCMON_TRACK / ASYNCMON_STACKS, then
// the monitor), except that the loop counts as blocked only after BENCH_STALE_MS and that the
// agent's periods are BENCH_CLOCK_SCALE (50) times longer. Under
// valgrind the host runs some 50 times slower, so a turn of its loop that takes 5 ms natively
// outlasts the default 300 ms and the sentinel would record (and capture the stack of) blocks
// that do not exist; what that costs is an artefact of valgrind, not the agent's cost per request.
'use strict';
const { isMainThread } = require('node:worker_threads');
const path = require('node:path');

if (isMainThread) {
  // The agent's own periods (heartbeat, status, loop monitor, promise clock) stretched by the
  // slowdown under valgrind, so that its clock-driven work keeps its native share of each
  // request's instructions (agent/host/clock-scale.ts). Set before the agent loads.
  globalThis[Symbol.for('asyncmon.bench.clockScale')] = Number(process.env.BENCH_CLOCK_SCALE || 50);
  const api = require(path.resolve(__dirname, '..', '..', 'dist', 'agent', 'index.js'));
  api.track(process.env.ASYNCMON_TRACK || 'tasks', process.env.ASYNCMON_STACKS || undefined);
  globalThis[Symbol.for('asyncmon.bench.started')] = api.startMonitor({ staleMs: Number(process.env.BENCH_STALE_MS || 60_000) });
}
