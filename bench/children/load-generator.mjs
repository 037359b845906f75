// The load generator: keeps a fixed number of requests in flight against 127.0.0.1:<port> over
// keep-alive connections, one request at a time per connection. Lives for the whole HTTP phase
// (so its own JIT is warm for every run) and runs on the other core than the server.
//
// Two clients:
//  - `raw` (default): plain `net` sockets writing a fixed GET and reading just enough of each
//    response (status line, Content-Length) to know where it ends. Several times cheaper per
//    request than node:http, so the server, not the client, is the bottleneck on 2 cores;
//  - `agent`: node:http with `http.Agent({ keepAlive: true })`, the ordinary Node client. On
//    this machine it saturates its core before the server does (server ELU ≈ 0.7), which would
//    hide the agent's cost, so it is kept only for comparison (`--client agent`).
import { Agent, get } from 'node:http';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { serve } from '../lib/child-side.mjs';

/**
 * Counts responses completed inside [measureFrom, stopAt); after stopAt each connection stops
 * issuing and the run ends when all in-flight requests are done (or a bounded time later).
 */
function window({ warmupMs, durationMs }, onDone) {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const w = {
    measureFrom: t0 + warmupMs,
    stopAt: t0 + warmupMs + durationMs,
    ok: 0,
    errors: 0,
    bytes: 0,
    stopping: false,
    done: false,
    /** Records one finished request; returns whether to issue another. */
    record(good, n) {
      const now = performance.now();
      if (now >= w.measureFrom && now < w.stopAt) {
        if (good) {
          w.ok++;
          w.bytes += n;
        } else w.errors++;
      }
      if (now >= w.stopAt) w.stopping = true;
      return !w.stopping;
    },
    finish() {
      if (w.done) return;
      w.done = true;
      clearTimeout(timer);
      const cpu = process.cpuUsage(cpu0);
      const loadCpu = (cpu.user + cpu.system) / 1000 / (performance.now() - t0);
      onDone({ requests: w.ok, errors: w.errors, rps: w.ok / (durationMs / 1000), bytesPerResponse: w.ok ? w.bytes / w.ok : 0, loadCpu });
    },
  };
  // Bounded: whatever happens, the run ends shortly after its window.
  const timer = setTimeout(() => w.finish(), warmupMs + durationMs + 5000);
  return w;
}

const HEADER_END = Buffer.from('\r\n\r\n');

/** One keep-alive connection of the raw client, issuing requests back to back. */
function rawConnection(port, request, w, onClosed) {
  const socket = connect({ host: '127.0.0.1', port, noDelay: true });
  let buf = null;
  let expected = -1; // total bytes of the current response once its headers are in
  let status = 0;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    socket.destroy();
    onClosed();
  };
  const send = () => socket.write(request);
  socket.on('connect', send);
  socket.on('error', () => {
    w.record(false, 0);
    close();
  });
  socket.on('close', close);
  socket.on('data', (chunk) => {
    buf = buf ? Buffer.concat([buf, chunk]) : chunk;
    if (expected < 0) {
      const end = buf.indexOf(HEADER_END);
      if (end < 0) return;
      const head = buf.latin1Slice(0, end);
      status = Number(head.slice(9, 12));
      const m = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (!m) {
        w.record(false, 0);
        close();
        return;
      }
      expected = end + 4 + Number(m[1]);
    }
    if (buf.length < expected) return;
    const n = expected;
    buf = null;
    expected = -1;
    if (w.record(status === 200, n)) send();
    else close();
  });
  return socket;
}

function runRaw({ port, concurrency, path }, w) {
  const request = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: keep-alive\r\n\r\n`, 'latin1');
  let open = concurrency;
  for (let i = 0; i < concurrency; i++) {
    rawConnection(port, request, w, () => {
      if (--open === 0) w.finish();
    });
  }
}

function runAgent({ port, concurrency, path }, w) {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
  let inFlight = 0;
  const one = () => {
    if (w.stopping) {
      if (inFlight === 0) {
        agent.destroy();
        w.finish();
      }
      return;
    }
    inFlight++;
    let settled = false;
    const settle = (good, n) => {
      if (settled) return;
      settled = true;
      inFlight--;
      w.record(good, n);
      one();
    };
    const req = get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let n = 0;
      res.on('data', (chunk) => (n += chunk.length));
      res.on('end', () => settle(res.statusCode === 200, n));
      res.on('error', () => settle(false, 0));
    });
    req.on('error', () => settle(false, 0));
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
  };
  for (let i = 0; i < concurrency; i++) one();
}

function run({ port, concurrency = 48, warmupMs = 300, durationMs = 2500, path = '/users/42', client = 'raw' }) {
  return new Promise((resolve) => {
    const w = window({ warmupMs, durationMs }, resolve);
    if (client === 'agent') runAgent({ port, concurrency, path }, w);
    else runRaw({ port, concurrency, path }, w);
  });
}

serve({ run });
