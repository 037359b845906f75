// The default level's per-request path alone, for the instruction counts (bench/instructions.mjs):
// publishes Node's two HTTP server channels (`http.server.request.start`, then
// `http.server.response.finish`) BENCH_COUNT times, with what Node publishes: a real
// IncomingMessage and ServerResponse per request, on a real (unconnected) net.Socket that
// carries 100 requests, as a keep-alive connection would. No server, no event loop turns: run
// with `node --single-threaded` under valgrind the count is the same from run to run.
//
// BENCH_HANDLERS: `none` (no subscriber: Node skips publishing), `empty` (two subscribers that do
// nothing: what Node's publishing costs), `agent` (the agent at the default level, no monitor, its clock attached as a monitor would).
'use strict';
const dc = require('node:diagnostics_channel');
const { IncomingMessage, ServerResponse } = require('node:http');
const { Socket } = require('node:net');
const path = require('node:path');

const count = Number(process.env.BENCH_COUNT || 0);
const mode = process.env.BENCH_HANDLERS || 'none';
if (!(count > 0) || !['none', 'empty', 'agent'].includes(mode)) {
  process.stderr.write('handlers-count: set BENCH_COUNT > 0 and BENCH_HANDLERS to none, empty or agent\n');
  process.exit(2);
}
if (mode === 'empty') {
  dc.subscribe('http.server.request.start', () => {});
  dc.subscribe('http.server.response.finish', () => {});
}
if (mode === 'agent') {
  const dist = path.resolve(__dirname, '..', '..', 'dist', 'agent');
  require(path.join(dist, 'index.js')).track('tasks');
  // With a monitor, its worker writes the clock requests are timed by (agent/host/coarse-clock.ts);
  // here it is written once: the per-request path only reads it.
  const clock = require(path.join(dist, 'host', 'coarse-clock.js'));
  const view = new Float64Array(new SharedArrayBuffer(8));
  view[0] = require(path.join(dist, '..', 'src', 'clock.js')).monotonicMs();
  clock.attachClock(view);
}

const start = dc.channel('http.server.request.start');
const finish = dc.channel('http.server.response.finish');
const server = {};

/** One request as Node's server publishes it (lib/_http_server.js), its response finished. */
function request(socket, i) {
  const req = new IncomingMessage(socket);
  req.method = 'GET';
  req.url = `/users/${i & 1023}`;
  req.rawHeaders = ['Host', '127.0.0.1', 'Accept', '*/*'];
  const res = new ServerResponse(req);
  if (start.hasSubscribers) start.publish({ request: req, response: res, socket, server });
  res.statusCode = 200;
  if (finish.hasSubscribers) finish.publish({ request: req, response: res, socket, server });
}

/** In a function, not at the top level, so V8 optimizes the loop as it would a server's code. */
function run(n) {
  let socket = null;
  for (let i = 0; i < n; i++) {
    if (i % 100 === 0) {
      socket?.destroy();
      socket = new Socket();
    }
    request(socket, i);
  }
  socket?.destroy();
}

run(count);
