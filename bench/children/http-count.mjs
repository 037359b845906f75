// The HTTP service of lib/http-handler.mjs for the instruction counts (bench/instructions.mjs),
// run under valgrind with no IPC: it prints `LISTENING <port>` on stdout, then either serves
// exactly BENCH_COUNT requests and exits once the last handler has ended its response, or (BENCH_IDLE_MS)
// serves nothing and exits after that long. At exit it prints `CPU <µs>` and `MS <ms>`: its CPU time (all
// threads) and the milliseconds from listening to exit. With the agent preloaded it listens only
// once the agent has started (its worker and port), so start-up never falls into the idle time.
import { writeSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { respond } from '../lib/http-handler.mjs';
import { withContext } from '../lib/otel-wrap.mjs';

const require = createRequire(import.meta.url);

const count = Number(process.env.BENCH_COUNT || 0);
const idleMs = Number(process.env.BENCH_IDLE_MS || 0);
if (!(count > 0) === !(idleMs > 0)) {
  process.stderr.write('http-count: set exactly one of BENCH_COUNT and BENCH_IDLE_MS\n');
  process.exit(2);
}

let cpu0 = null;
let t0 = 0;
const exit = () => {
  const cpu = process.cpuUsage(cpu0);
  writeSync(1, `CPU ${cpu.user + cpu.system}\nMS ${performance.now() - t0}\n`);
  process.exit(0);
};

let served = 0;
const onDone = () => {
  if (++served === count) exit();
};
let started = 0;
const server = createServer((req, res) => {
  withContext(() => respond(req, res).then(onDone), ++started);
});
server.keepAliveTimeout = 600_000;
// With the agent preloaded, the clock starts once it is listening (its worker started).
if (process.env.ASYNCMON_TRACK) await require(process.env.BENCH_AGENT_JS.replace(/host[\/]agent\.js$/, 'index.js')).startMonitor();
server.listen(0, '127.0.0.1', () => {
  cpu0 = process.cpuUsage();
  t0 = performance.now();
  writeSync(1, `LISTENING ${server.address().port}\n`);
  if (idleMs > 0) setTimeout(exit, idleMs);
});
// Never outlives a lost orchestrator.
setTimeout(() => process.exit(3), Number(process.env.BENCH_LIMIT_MIN || 16) * 60_000).unref();
