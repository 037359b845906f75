/**
 * Issue 12 (low): the agent's Unix socket is created 0600 whatever the umask, and the CLI
 * reaches an agent there, through its discovery file (the peer check looks the socket up in
 * /proc/net/unix) and by path.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Cleanups, cliIn, json, ok } from './helpers/cli.js';
import { FIXTURES, REGISTER, waitUntil } from './helpers/child.js';
import { makeToken, readDiscovery } from './helpers/wire.js';

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
