// Clients of the agent for the load benchmark: C JSON-lines clients, each asking `ps` at a fixed
// rate for a while, like many dashboards watching one process. Reports answers, errors and the
// median answer time.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { serve } from '../lib/child-side.mjs';

const { AgentClient } = createRequire(import.meta.url)(join(process.cwd(), 'dist', 'cli', 'client.js'));

serve({
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
