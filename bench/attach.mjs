// The attach window: how long `asyncmon attach` leaves the target's inspector open (it has no
// authentication, so this is the time another local user could race into it). For each run a
// fresh plain app (bench/children/plain.cjs, its inspector on a free port) gets one attach; the
// figure is the CLI's own measurement, from SIGUSR1 until nothing accepts on the inspector's
// port any more (`inspector.openMs` of `attach --json`), and the CLI's wall time beside it.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BENCH_DIR, NODE, ROOT } from './lib/procs.mjs';
import { max, median, min, round } from './lib/stats.mjs';

const CLI = resolve(ROOT, 'dist', 'cli', 'main.js');

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

function startPlain(port, env) {
  const app = spawn(NODE, [`--inspect-port=${port}`, resolve(BENCH_DIR, 'children', 'plain.cjs')], { env, stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((res, rej) => {
    const t = setTimeout(() => (app.kill('SIGKILL'), rej(new Error('plain app did not start'))), 15_000);
    app.on('error', (err) => (clearTimeout(t), rej(err)));
    app.stdout.on('data', (d) => String(d).includes('READY') && (clearTimeout(t), res(app)));
  });
}

function attachOnce(pid, env) {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    execFile(NODE, [CLI, 'attach', String(pid), '--json'], { env, timeout: 15_000 }, (err, stdout, stderr) => {
      if (err) return rej(new Error(`attach exited ${err.code}: ${stderr}`));
      res({ wallMs: performance.now() - t0, openMs: JSON.parse(stdout).inspector.openMs });
    });
  });
}

export async function benchAttach({ runs }) {
  const runtime = mkdtempSync(join(tmpdir(), 'asyncmon-bench-attach-'));
  const env = { ...process.env, XDG_RUNTIME_DIR: runtime, NODE_OPTIONS: '', ASYNCMON_PORT: '0' };
  delete env.ASYNCMON_TOKEN;
  const samples = [];
  try {
    for (let i = 0; i < runs; i++) {
      const app = await startPlain(await freePort(), env);
      try {
        samples.push(await attachOnce(app.pid, env));
      } finally {
        app.kill('SIGKILL');
      }
    }
  } finally {
    rmSync(runtime, { recursive: true, force: true });
  }
  const open = samples.map((s) => s.openMs);
  return {
    runs,
    openMedianMs: round(median(open), 1),
    openMinMs: round(min(open), 1),
    openMaxMs: round(max(open), 1),
    wallMedianMs: round(median(samples.map((s) => s.wallMs)), 1),
    samples: samples.map((s) => ({ openMs: s.openMs, wallMs: round(s.wallMs, 1) })),
  };
}
