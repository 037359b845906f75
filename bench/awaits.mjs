// The await graph's cost (`asyncmon awaits`): a host holding 10 MB and 100 MB of live objects
// plus 1000 suspended functions; each run asks the agent for `awaits` over the wire and records
// the pause of the host's main thread while V8 writes the snapshot (the agent's own figure), the
// whole answer's wall time, the snapshot's size, and the host's RSS before and after.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AgentClient } from '../dist/cli/client.js';
import { BENCH_DIR, NODE } from './lib/procs.mjs';
import { median, round } from './lib/stats.mjs';

function rssOf(pid) {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
  } catch {
    return null;
  }
}

async function one(heapMb, runs) {
  const samples = [];
  let heapUsedMB = 0;
  // A fresh app per run: one snapshot's answer is shared for a while after it (longer after a
  // long pause), so a second ask of the same app would measure the shared answer.
  for (let i = 0; i < runs; i++) {
    const s = await sample(heapMb);
    heapUsedMB = s.heapUsedMB;
    samples.push(s.sample);
  }
  return { heapMb, heapUsedMB, pauseMedianMs: median(samples.map((s) => s.pauseMs)), wallMedianMs: round(median(samples.map((s) => s.wallMs)), 1), samples };
}

async function sample(heapMb) {
  const runtime = mkdtempSync(join(tmpdir(), 'asyncmon-bench-awaits-'));
  const token = `bench-token-${process.pid}-${heapMb}`;
  const env = { ...process.env, XDG_RUNTIME_DIR: runtime, NODE_OPTIONS: '', ASYNCMON_PORT: '0', ASYNCMON_TOKEN: token, BENCH_HEAP_MB: String(heapMb) };
  const app = spawn(NODE, ['--max-old-space-size=1024', '--require', resolve(BENCH_DIR, '..', 'dist', 'agent', 'register.js'), resolve(BENCH_DIR, 'children', 'heap-app.cjs')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const ready = await new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error('heap app did not start')), 60_000);
      let out = '';
      app.stdout.on('data', (d) => {
        out += d;
        const m = /READY (.*)/.exec(out);
        if (m) {
          clearTimeout(t);
          res(JSON.parse(m[1]));
        }
      });
    });
    const client = await AgentClient.connect({ host: '127.0.0.1', port: ready.port }, { token, timeoutMs: 60_000 });
    try {
      const before = rssOf(ready.pid);
      const t0 = performance.now();
      const r = await client.call('awaits', { limit: 50 }, 60_000);
      const wallMs = performance.now() - t0;
      // The analysis thread is gone: the host's RSS a moment later.
      await new Promise((res) => setTimeout(res, 500));
      const sample = { pauseMs: r.pauseMs, wallMs: round(wallMs, 1), analysisMs: r.analysisMs, snapshotMB: round(r.snapshotBytes / 1048576, 1), chains: r.total, rssBeforeMB: round(before / 1048576, 1), rssAfterMB: round(rssOf(ready.pid) / 1048576, 1) };
      return { heapUsedMB: round(ready.heap / 1048576, 1), sample };
    } finally {
      client.close();
    }
  } finally {
    app.kill('SIGKILL');
    rmSync(runtime, { recursive: true, force: true });
  }
}

export async function benchAwaits({ runs }) {
  return { runs, sizes: [await one(10, runs), await one(100, runs)] };
}
