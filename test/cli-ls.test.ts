// End to end: `asyncmon ls`, and how commands pick an agent without -t. Each test has an
// XDG_RUNTIME_DIR of its own with exactly the agents (and stale files) it starts or writes.
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cleanups, cliIn, json, ok, show } from './helpers/cli.js';

const APP = 'cli-app.cjs';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

/** A pid no process has: the kernel's pid_max is far below it, or nothing runs under it. */
function deadPid(): number {
  const pid = 999_999;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return pid;
  }
  throw new Error(`pid ${pid} exists on this machine; the stale-file test needs a dead one`);
}

/** Writes `<dir>/asyncmon/<pid>.json` as an agent that has since died would have left it. */
function writeStale(runtimeDir: string, pid: number): string {
  const dir = join(runtimeDir, 'asyncmon');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${pid}.json`);
  const record = {
    pid,
    host: '127.0.0.1',
    port: 1,
    socket: null,
    token: 'stale-token-0123456789',
    node: process.version,
    cwd: '/',
    argv: ['/gone/app.js'],
    startedAt: Date.now() - 60_000,
    version: '0.0.0',
  };
  writeFileSync(file, JSON.stringify(record) + '\n', { mode: 0o600 });
  return file;
}

describe('ls', () => {
  it('with no agents, says none were found (text) and prints [] (--json)', async () => {
    const cli = cliIn(cleanups.runtimeDir());
    expect(ok(await cli('ls')).stdout).toMatch(/^no agents found/);
    expect(json(ok(await cli('ls', '--json')))).toEqual([]);
  });

  it('lists one agent: pid, address, node and command line', async () => {
    const dir = cleanups.runtimeDir();
    const app = await cleanups.fixture(APP, { runtimeDir: dir });
    const cli = cliIn(dir);
    const text = ok(await cli('ls'));
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\s*PID\s+ADDRESS\s+UP\s+NODE\s+COMMAND$/);
    expect(lines).toHaveLength(2);
    // The command column takes what is left of 80 columns: a deep checkout's path may be cut.
    expect(lines[1]).toMatch(new RegExp(`^\\s*${app.pid} 127\\.0\\.0\\.1:${app.port} +\\S+ ${process.version} .*(cli-app\\.cjs|…)$`));

    const data = json(ok(await cli('ls', '--json')));
    expect(data).toHaveLength(1);
    expect(data[0]).toMatchObject({ pid: app.pid, host: '127.0.0.1', port: app.port, socket: null, node: process.version, uptimeMs: expect.any(Number) });
    expect(data[0].argv.join(' ')).toContain('cli-app.cjs');
  });

  it('lists two agents; a command without -t then exits 2 and lists both', async () => {
    const dir = cleanups.runtimeDir();
    const [a, b] = await Promise.all([cleanups.fixture(APP, { runtimeDir: dir }), cleanups.fixture(APP, { runtimeDir: dir })]);
    const cli = cliIn(dir);
    const text = ok(await cli('ls'));
    for (const app of [a, b]) expect(text.stdout).toMatch(new RegExp(`^\\s*${app.pid} 127\\.0\\.0\\.1:${app.port} `, 'm'));
    expect(json(ok(await cli('ls', '--json'))).map((r: { pid: number }) => r.pid).sort()).toEqual([a.pid, b.pid].sort());

    const ps = await cli('ps');
    expect(ps.code, show(ps)).toBe(2);
    expect(ps.stderr).toContain('several agents found; pick one with -t <pid>');
    for (const app of [a, b]) expect(ps.stderr).toMatch(new RegExp(`^\\s+${app.pid}\\s+127\\.0\\.0\\.1:${app.port}\\s`, 'm'));

    // And -t picks either.
    for (const app of [a, b]) expect(json(ok(await cli('health', '-t', String(app.pid), '--json'))).pid).toBe(app.pid);
  });

  it('skips and removes the discovery file of a dead process', async () => {
    const dir = cleanups.runtimeDir();
    const app = await cleanups.fixture(APP, { runtimeDir: dir });
    const stale = writeStale(dir, deadPid());
    const cli = cliIn(dir);
    const text = ok(await cli('ls'));
    expect(text.stdout).not.toContain('999999');
    expect(text.stdout).toContain(String(app.pid));
    expect(existsSync(stale)).toBe(false);
    expect(readdirSync(join(dir, 'asyncmon'))).toEqual([`${app.pid}.json`]);

    // With the stale file gone, the live agent is the only one: no -t needed.
    writeStale(dir, deadPid());
    expect(json(ok(await cli('health', '--json'))).pid).toBe(app.pid);
    expect(existsSync(stale)).toBe(false);
  });

  it('--json never contains the token', async () => {
    const dir = cleanups.runtimeDir();
    const app = await cleanups.fixture(APP, { runtimeDir: dir });
    const cli = cliIn(dir);
    const r = ok(await cli('ls', '--json'));
    expect(r.stdout).not.toContain(app.token!);
    expect(r.stdout).not.toMatch(/"token"/);
    for (const record of json(r)) expect(Object.keys(record)).not.toContain('token');
    expect(ok(await cli('ls')).stdout).not.toContain(app.token!);
  });
});
