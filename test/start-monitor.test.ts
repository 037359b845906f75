/**
 * Issue 15: `await startMonitor()` at the top of an ESM app, or in a CommonJS `async main`,
 * with nothing else keeping the process alive yet, goes on to the code after it; afterwards
 * the agent keeps nothing alive, so the process ends by itself.
 */
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES, spawnNode } from './helpers/child.js';
import type { Child } from './helpers/child.js';
import { agentEnv, makeRuntimeDir } from './helpers/wire.js';

const children: Child[] = [];
const dirs: Array<() => void> = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill();
  for (const d of dirs.splice(0)) d();
});

describe('await startMonitor() keeps the app running until it settles', () => {
  for (const script of ['start-esm.mjs', 'start-cjs.cjs']) {
    it(`${script}: the code after it runs, and the process then ends by itself, exit 0`, async () => {
      const rt = makeRuntimeDir();
      dirs.push(rt.remove);
      const child = spawnNode(resolve(FIXTURES, script), { env: agentEnv({ XDG_RUNTIME_DIR: rt.dir }) });
      children.push(child);
      const code = await Promise.race([child.exited, new Promise((r) => setTimeout(() => r('still running after 15 s'), 15_000))]);
      expect(code, child.stderr()).toBe(0);
      expect(child.stdout()).toMatch(/^AFTER \d+\n$/);
    });
  }
});
