/**
 * Issue 12 (low): the agent's Unix socket is created 0600 whatever the umask, and the CLI
 * reaches an agent there, through its discovery file (the peer check looks the socket up in
 * /proc/net/unix) and by path. And a host run with --frozen-intrinsics (Error.stackTraceLimit
 * cannot be set) is told so once, with no faults counted.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Cleanups, cliIn, json, ok } from './helpers/cli.js';
import { FIXTURES, REGISTER, spawnNode, waitUntil } from './helpers/child.js';
import { agentEnv, makeToken, markedLine, readDiscovery } from './helpers/wire.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

describe('the Unix socket', () => {
  it('is 0600 under umask 000, and the CLI reaches the agent there by discovery and by path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'asyncmon-sock-'));
    cleanups.add(() => rmSync(dir, { recursive: true, force: true }));
    const socket = join(dir, 'agent.sock');
    const runtime = cleanups.runtimeDir();
    const token = makeToken();
    // umask 000: what a careless service manager might leave the app with.
    const child = spawn('sh', ['-c', `umask 000; exec "${process.execPath}" --require "${REGISTER}" "${join(FIXTURES, 'cli-app.cjs')}"`], {
      env: { ...process.env, NODE_OPTIONS: '', ASYNCMON_SOCKET: socket, ASYNCMON_TOKEN: token, XDG_RUNTIME_DIR: runtime, ASYNCMON_PORT: undefined },
      stdio: 'ignore',
    });
    cleanups.add(() => child.kill('SIGKILL'));
    const record = await waitUntil(() => readDiscovery(runtime, child.pid!), 15_000, 'the discovery file');
    expect(record.socket).toBe(socket);
    expect(statSync(socket).isSocket()).toBe(true);
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    const cli = cliIn(runtime);
    expect(json(ok(await cli('ps', '--json'))).items.map((t: { name: string }) => t.name)).toContain('cli-waiter');
    expect(json(ok(await cli('health', '-t', socket, '--json'))).status).toBe('ok');
  });
});

describe('--frozen-intrinsics', () => {
  it('is said once, is never a fault, and where still names the await', async () => {
    const runtime = cleanups.runtimeDir();
    const app = spawnNode(join(FIXTURES, 'cli-app.cjs'), {
      nodeArgs: ['--frozen-intrinsics', '--require', REGISTER],
      env: agentEnv({ ASYNCMON_PORT: '0', ASYNCMON_TRACK: 'promises', ASYNCMON_STACKS: 'on', XDG_RUNTIME_DIR: runtime }),
    });
    cleanups.add(() => app.kill());
    await app.waitFor(/^READY /m, 15_000);
    const cli = cliIn(runtime);
    const ps = json(ok(await cli('ps', '--json')));
    const waiter = ps.items.find((t: { name: string }) => t.name === 'cli-waiter');
    const where = json(ok(await cli('where', String(waiter.id), '--json')));
    expect(where.waitsOn?.site?.line, JSON.stringify(where)).toBe(markedLine('cli-app.cjs', 'waiter-await'));
    const health = json(ok(await cli('health', '--json')));
    expect(health.tracker.disabledReason).toBeNull();
    const lines = app.stderr().split('\n').filter((l) => l.startsWith('asyncmon:'));
    expect(lines).toEqual(["asyncmon: Error.stackTraceLimit cannot be set in this process (node --frozen-intrinsics): creation stacks keep V8's default depth"]);
  });
});
