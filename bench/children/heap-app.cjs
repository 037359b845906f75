// A host for the `awaits` bench: it holds about BENCH_HEAP_MB of live objects and 1000
// suspended async functions (waiters in an array, like a pool's queue), runs under the agent
// (preloaded) and prints `READY {"port","pid"}`; it runs until killed.
'use strict';
const { writeSync } = require('node:fs');
const path = require('node:path');
const api = require(path.resolve(__dirname, '..', '..', 'dist', 'agent', 'index.js'));

const mb = Number(process.env.BENCH_HEAP_MB || 10);
const ballast = [];
for (let i = 0; i < mb * 1024; i++) ballast.push({ i, text: `row ${i} `.repeat(40), list: [i, i + 1, i + 2] }); // ~1 KB each
const queue = [];
async function waiter(n) {
  await new Promise((resolve) => queue.push({ n, resolve }));
}
for (let i = 0; i < 1000; i++) void waiter(i);
setInterval(() => {}, 1 << 30);
api.startMonitor().then((m) => writeSync(1, `READY ${JSON.stringify({ port: m.address.port, pid: process.pid, heap: process.memoryUsage().heapUsed, held: ballast.length })}\n`));
