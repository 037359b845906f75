// The demo app: a small service with the kinds of trouble asyncmon is for. Run it under the
// agent (demo/run.js does): node --require ./dist/agent/register.js demo/app.js
'use strict';
const http = require('node:http');
const { task } = require('../dist/agent/index.js');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// 1. A handler that hangs on an await: /users/:id waits on a lookup that never answers.
const pendingReplies = new Map();
function lookupUser(id) {
  return new Promise((resolve) => pendingReplies.set(id, resolve)); // the driver lost the reply
}
async function handleUser(req, res, id) {
  const user = await lookupUser(id); // <- every /users request parks here
  res.end(JSON.stringify(user));
}

// 2. A queue whose waiting promises pile up: jobs arrive faster than one worker serves them.
const waiting = [];
function enqueue(job) {
  return new Promise((resolve) => waiting.push({ job, resolve }));
}
async function runJob(n) {
  await enqueue({ n }); // <- each job waits here for its turn
}
setInterval(function produceJobs() {
  for (let i = 0; i < 5; i++) runJob(i).catch(() => {});
}, 1000);
setInterval(function serveOneJob() {
  const next = waiting.shift();
  if (next) next.resolve();
}, 1000);

// 3. A named task that ignores its AbortSignal: cancel still releases whoever awaits it.
async function syncUsers(signal) {
  for (;;) await sleep(5000); // never looks at signal
}
task('sync-users', syncUsers).catch((err) => console.log(`demo: sync-users ended: ${err.name}`));

// 4. A one-second loop stall every so often.
function crunchReport() {
  const end = Date.now() + 1000;
  while (Date.now() < end) {} // synchronous work that blocks the event loop
}
setInterval(crunchReport, 15_000);

// 5. An outgoing request that never gets an answer: a server that accepts and stays silent.
const silent = http.createServer(() => {});
silent.listen(0, '127.0.0.1', () => {
  const { port } = silent.address();
  http.get({ host: '127.0.0.1', port, path: '/reports/daily' }, () => {}).on('error', () => {});
});

const server = http.createServer((req, res) => {
  const m = /^\/users\/(\d+)/.exec(req.url);
  if (m) return void handleUser(req, res, m[1]);
  res.end('ok\n');
});
server.listen(Number(process.env.DEMO_PORT || 0), '127.0.0.1', () => {
  const { port } = server.address();
  console.log(`demo: listening on http://127.0.0.1:${port}`);
  // Some traffic that hangs.
  for (const id of [42, 7]) http.get({ host: '127.0.0.1', port, path: `/users/${id}?verbose=1` }, () => {}).on('error', () => {});
});
