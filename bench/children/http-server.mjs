// The HTTP service under test: a handler with a few awaits (two async "lookups" and one real hop
// through the event loop, like an I/O call) and a JSON body. Started by run.mjs with or without
// the asyncmon preload; it reports its port, and on request how busy it was between two marks
// (event-loop utilization and CPU), so the report can show the server was the bottleneck.
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import { serve } from '../lib/child-side.mjs';
import { withContext } from '../lib/otel-wrap.mjs';

async function loadUser(id) {
  await null;
  return { id, name: `user${id}`, roles: ['reader', 'writer'] };
}

async function loadPosts(user) {
  await null;
  const posts = [];
  for (let i = 0; i < 5; i++) posts.push({ id: i, title: `post ${i}`, author: user.id });
  return posts;
}

async function handle(req, res) {
  const id = Number(req.url.split('/')[2]) || 0;
  const user = await loadUser(id);
  const posts = await loadPosts(user);
  await new Promise((resolve) => setImmediate(resolve));
  const body = JSON.stringify({ user, posts, count: posts.length });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

// BENCH_PENDING=N: N promises that never settle, made at start, so that the agent's listings of
// pending promises have something to list (the readers benchmark).
const pending = [];
for (let i = 0, n = Number(process.env.BENCH_PENDING || 0); i < n; i++) pending.push(new Promise(() => {}));

let served = 0;
const respond = (req, res) =>
  handle(req, res).catch(() => {
    res.statusCode = 500;
    res.end();
  });
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
