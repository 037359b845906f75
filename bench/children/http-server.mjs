// The HTTP service under test: the handler in lib/http-handler.mjs (two awaited lookups, an I/O
// hop, a JSON body). Started by run.mjs with or without the asyncmon preload; it reports its port, and on request how busy it was between two marks
// (event-loop utilization and CPU), so the report can show the server was the bottleneck.
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import { serve } from '../lib/child-side.mjs';
import { respond } from '../lib/http-handler.mjs';
import { withContext } from '../lib/otel-wrap.mjs';

// BENCH_PENDING=N: N promises that never settle, made at start, so that the agent's listings of
// pending promises have something to list (the readers benchmark).
const pending = [];
for (let i = 0, n = Number(process.env.BENCH_PENDING || 0); i < n; i++) pending.push(new Promise(() => {}));

let served = 0;
const server = createServer((req, res) => {
  served++;
  withContext(() => respond(req, res), served);
});
server.keepAliveTimeout = 60_000;
let connections = 0;
server.on('connection', () => connections++);

let mark = null;
serve({
  listen: () =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve({ port: server.address().port, node: process.version, pid: process.pid }));
    }),
  /** Starts a measurement window. */
  mark: () => {
    mark = { elu: performance.eventLoopUtilization(), cpu: process.cpuUsage(), at: performance.now(), connections, served };
    return true;
  },
  /**
   * Ends it: how busy the loop and the CPU were since `mark`, and requests served per
   * CPU-second of this process (all its threads) — robust to other processes taking the core.
   */
  busy: () => {
    if (!mark) return null;
    const elu = performance.eventLoopUtilization(mark.elu).utilization;
    const cpu = process.cpuUsage(mark.cpu);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const seconds = (performance.now() - mark.at) / 1000;
    return {
      elu,
      cpu: cpuSeconds / seconds,
      servedPerCpuSec: (served - mark.served) / cpuSeconds,
      connections: connections - mark.connections,
      heapMB: process.memoryUsage().heapUsed / 2 ** 20,
      rssMB: process.memoryUsage().rss / 2 ** 20,
    };
  },
});
