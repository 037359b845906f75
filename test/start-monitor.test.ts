/**
 * Issue 15: `await startMonitor()` at the top of an ESM app, or in a CommonJS `async main`,
 * with nothing else keeping the process alive yet, goes on to the code after it; afterwards
 * the agent keeps nothing alive, so the process ends by itself. And a Unix socket file left
 * by a killed host is replaced at the next start, never a live socket or a plain file.
 */
import { spawn } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
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

describe('a Unix socket left by a killed host', () => {
  async function agentOn(socket: string): Promise<Child> {
    const rt = makeRuntimeDir();
    dirs.push(rt.remove);
    const child = spawnNode(resolve(FIXTURES, 'cli-app.cjs'), { nodeArgs: ['--require', resolve(FIXTURES, '..', '..', 'dist', 'agent', 'register.js')], env: agentEnv({ ASYNCMON_SOCKET: socket, XDG_RUNTIME_DIR: rt.dir }) });
    children.push(child);
    return child;
  }

  it('is replaced: the next start listens there; a live socket and a plain file are left alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'asyncmon-stale-'));
    dirs.push(() => rmSync(dir, { recursive: true, force: true }));
    // A host killed with SIGKILL leaves its socket file behind.
    const stale = join(dir, 'stale.sock');
    const dead = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    await new Promise((r) => dead.on('exit', r));
    expect(lstatSync(stale).isSocket()).toBe(true);
    const app = await agentOn(stale);
    await app.waitFor(/^READY /m, 15_000);
    expect(app.stderr()).not.toContain('already in use');
    await new Promise<void>((r, j) => connect(stale).on('connect', function (this: Socket) { this.destroy(); r(); }).on('error', j));

    // A live socket: someone listens there. The agent says so and removes nothing.
    const live = join(dir, 'live.sock');
    const server = createServer((s) => s.on('error', () => {}).end('mine\n'));
    await new Promise<void>((r) => server.listen(live, r));
    try {
      const second = await agentOn(live);
      // The app's own startMonitor() rejects with the reason (and the preload said it on stderr).
      await second.waitFor(/^FAILED .*already in use/m, 15_000);
      expect(second.stderr()).toContain(`${live} is already in use`);
      const answer = await new Promise<string>((r, j) => connect(live).on('data', (d) => r(String(d))).on('error', j));
      expect(answer).toBe('mine\n');
    } finally {
      server.close();
    }

    // A file that is not a socket is never removed.
    const plain = join(dir, 'plain.txt');
    writeFileSync(plain, 'keep me');
    const third = await agentOn(plain);
    await third.waitFor(/^FAILED .*already in use/m, 15_000);
    expect(readFileSync(plain, 'utf8')).toBe('keep me');
  });
});
