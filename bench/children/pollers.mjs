// Clients of the agent for the load benchmark: C JSON-lines clients, each asking `ps` at a fixed
// rate for a while, like many dashboards watching one process. Reports answers, errors and the
// median answer time.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { serve } from '../lib/child-side.mjs';

const { AgentClient } = createRequire(import.meta.url)(join(process.cwd(), 'dist', 'cli', 'client.js'));

/**
 * The most expensive read-only commands, back to back: what a buggy dashboard or a curious
 * script with a read token can do. Odd clients vary `limit`, so identical-request caches do
 * not help them.
 */
const EXPENSIVE = ['snapshot', 'handles', 'stats', 'promises-all', 'stack', 'promises', 'ps'];

async function hammer(c, k, end, counts) {
  for (let i = k; performance.now() < end; i++) {
    const cmd = EXPENSIVE[i % EXPENSIVE.length];
    const args = cmd === 'stats' || cmd === 'stack' || cmd === 'promises-all' ? {} : k % 2 ? { limit: 100 + (i % 50) } : {};
    try {
      if (cmd === 'promises-all') await c.stream(cmd, args, () => {}, 30_000);
      else await c.call(cmd, args, 30_000);
      counts.answers++;
    } catch (err) {
      if (err && err.code === 'BUSY') counts.busy++;
      else counts.errors++;
    }
  }
}

serve({
  /** `clients` connections, each sending expensive commands back to back for `durationMs`. */
  hammer: async ({ pid, clients, durationMs }) => {
    const rec = JSON.parse(readFileSync(join(process.env.XDG_RUNTIME_DIR, 'asyncmon', `${pid}.json`), 'utf8'));
    const conns = await Promise.all(Array.from({ length: clients }, () => AgentClient.connect({ host: rec.host, port: rec.port }, { token: rec.token, timeoutMs: 10_000 })));
    const counts = { answers: 0, busy: 0, errors: 0 };
    const end = performance.now() + durationMs;
    await Promise.all(conns.map((c, k) => hammer(c, k, end, counts)));
    for (const c of conns) c.close();
    return counts;
  },
  run: async ({ pid, clients, perSecond, durationMs }) => {
    const rec = JSON.parse(readFileSync(join(process.env.XDG_RUNTIME_DIR, 'asyncmon', `${pid}.json`), 'utf8'));
    const conns = await Promise.all(Array.from({ length: clients }, () => AgentClient.connect({ host: rec.host, port: rec.port }, { token: rec.token, timeoutMs: 10_000 })));
    let answers = 0;
    let errors = 0;
    const times = [];
    const end = performance.now() + durationMs;
    await Promise.all(
      conns.map(async (c) => {
        while (performance.now() < end) {
          const t0 = performance.now();
          try {
            await c.call('ps', {}, 10_000);
            answers++;
            if (times.length < 100_000) times.push(performance.now() - t0);
          } catch {
            errors++;
          }
          const wait = 1000 / perSecond - (performance.now() - t0);
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
      }),
    );
    for (const c of conns) c.close();
    times.sort((a, b) => a - b);
    return { answers, errors, medianMs: times.length ? times[Math.floor(times.length / 2)] : null };
  },
});
