// Latency figures of the agent and the CLI: `asyncmon check` wall time (Node's own start-up
// included) and how fast the agent answers `health` while the host's loop is blocked. Both run
// against bench/children/blocker.cjs started under the agent.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRequire } from 'node:module';
import { BENCH_DIR, NODE, REGISTER, ROOT } from './lib/procs.mjs';
import { max, median, round } from './lib/stats.mjs';

const CLI = resolve(ROOT, 'dist', 'cli', 'main.js');
const { AgentClient } = createRequire(import.meta.url)(resolve(ROOT, 'dist', 'cli', 'client.js'));

function runCli(args, env) {
  return new Promise((res) => {
    const t0 = performance.now();
    execFile(NODE, [CLI, ...args], { env, timeout: 10_000 }, (err, stdout) => res({ ms: performance.now() - t0, code: err ? err.code : 0, stdout }));
  });
}

export async function benchLatency({ checkRuns, blocks }) {
  const runtime = mkdtempSync(join(tmpdir(), 'asyncmon-bench-latency-'));
  const env = { ...process.env, XDG_RUNTIME_DIR: runtime, ASYNCMON_PORT: '0', NODE_OPTIONS: '' };
  delete env.ASYNCMON_TOKEN;
  const app = spawn(NODE, ['--require', REGISTER, resolve(BENCH_DIR, 'children', 'blocker.cjs')], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    await new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error('latency fixture did not start')), 15_000);
      app.stdout.on('data', (d) => String(d).includes('READY') && (clearTimeout(t), res()));
    });
    const target = ['-t', String(app.pid)];
    await runCli(['check', ...target], env); // warm the file cache
    const checks = [];
    for (let i = 0; i < checkRuns; i++) {
      const r = await runCli(['check', ...target], env);
      if (r.code !== 0) throw new Error(`check exited ${r.code}: ${r.stdout}`);
      checks.push(r.ms);
    }
    const rec = JSON.parse((await runCli(['ls', '--json'], env)).stdout)[0];
    const { readFileSync } = await import('node:fs');
    const token = JSON.parse(readFileSync(join(runtime, 'asyncmon', `${app.pid}.json`), 'utf8')).token;
    const client = await AgentClient.connect({ host: rec.host, port: rec.port }, { token, timeoutMs: 5000 });
    const replies = [];
    let sawBlocked = 0;
    for (let i = 0; i < blocks; i++) {
      app.stdin.write('block\n');
      await sleep(700); // the block is on and detected (stale after 300 ms)
      for (let k = 0; k < 3; k++) {
        const t0 = performance.now();
        const h = await client.call('health', {});
        replies.push(performance.now() - t0);
        if (h.status === 'blocked') sawBlocked++;
        await sleep(150);
      }
      await sleep(2600); // let the block end
    }
    client.close();
    return {
      checkRuns,
      checkMedianMs: round(median(checks), 1),
      checkMaxMs: round(max(checks), 1),
      blockedReplies: replies.length,
      blockedSeen: sawBlocked,
      blockedReplyMedianMs: round(median(replies), 1),
      blockedReplyMaxMs: round(max(replies), 1),
    };
  } finally {
    app.kill('SIGKILL');
    rmSync(runtime, { recursive: true, force: true });
  }
}
