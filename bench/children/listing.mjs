// The host for the listing figures: the agent preloaded at `promises` level (with or without
// stacks), N pending promises, and a probe of its main thread. The orchestrator is the client:
// it asks for `promises-all` over the agent's port and times the whole listing, while the probe
// (a chain of setImmediate turns) records the longest gap between turns, i.e. the longest time
// nothing else could run on the host's main thread: building slices, posting them to the
// agent's worker, garbage collection.
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { serve, fullGc } from '../lib/child-side.mjs';

const require = createRequire(import.meta.url);
const api = require(process.env.BENCH_AGENT_JS.replace(/host[\/]agent\.js$/, 'index.js'));
const agent = require(process.env.BENCH_AGENT_JS).getAgent();
const noop = () => {};
const keep = [];
// The agent's worker is unref'd: this keeps the host up until the orchestrator leaves.
setInterval(noop, 1000);

let probe = null;

serve({
  /** The agent's address and token. */
  start: async () => {
    const monitor = await api.startMonitor();
    return { port: monitor.address.port, token: monitor.token, node: process.version };
  },
  /** Makes pending promises until the host holds `n`; returns how many the tracker has. */
  fill: async ({ n }) => {
    if (!agent.promises.enabled) throw new Error('the promise tracker is off: start with ASYNCMON_TRACK=promises');
    while (keep.length < n) keep.push(new Promise(noop));
    // Settle the creation burst's GC debt before timing: the holds measured are the listing's.
    fullGc();
    await new Promise((resolve) => setTimeout(resolve, 20));
    return { pending: agent.promises.size };
  },
  probeStart: () => {
    const p = { on: true, last: performance.now(), lastCpu: process.cpuUsage(), maxGap: 0, maxGapCpu: 0 };
    const turn = () => {
      const now = performance.now();
      const cpu = process.cpuUsage(p.lastCpu);
      p.maxGap = Math.max(p.maxGap, now - p.last);
      p.maxGapCpu = Math.max(p.maxGapCpu, (cpu.user + cpu.system) / 1000);
      p.last = now;
      p.lastCpu = process.cpuUsage();
      if (p.on) setImmediate(turn);
    };
    setImmediate(turn);
    probe = p;
    return true;
  },
  probeStop: () => {
    probe.on = false;
    return { maxGapMs: probe.maxGap, maxGapCpuMs: probe.maxGapCpu };
  },
});
