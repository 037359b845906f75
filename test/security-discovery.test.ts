/**
 * Issue 12, finding 1: the CLI must not trust discovery records another user planted, and must
 * never hand its token to a listener that is not the agent. Folders and files "of another
 * user" are made by chown to another uid, which needs root; those tests say why they skip
 * when not root. The impostors are real TCP servers on port 0 that record every byte they get.
 */
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Cleanups, runCli, show } from './helpers/cli.js';
import { FIXTURES, REGISTER, spawnNode, waitUntil } from './helpers/child.js';
import { agentEnv, makeToken } from './helpers/wire.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;
const OTHER_UID = 4242;
const rootOnly = (name: string) => {
  if (!IS_ROOT) console.log(`skipped "${name}": needs root to make files owned by another user`);
  return IS_ROOT ? it : it.skip;
};

/** A fresh folder removed after the test. */
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.add(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A listener that is not the agent. It records every byte it gets; with `act`, it plays an
 * agent that accepts any login: a challenge for a nonce, "ok" for any proof or token, and a
 * healthy `health`.
 */
async function impostor(act: boolean): Promise<{ port: number; received: () => string; connections: () => number }> {
  let received = '';
  let connections = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('data', (d: Buffer) => {
      received += d.toString('utf8');
      if (!act) return;
      for (const line of d.toString('utf8').split('\n').filter(Boolean)) {
        if (!line.startsWith('{')) {
          if (line.startsWith('challenge')) s.write(`asyncmon: pid 1, node v0\nchallenge ${'ab'.repeat(16)}\nasyncmon> `);
          else s.write('✓ authenticated; agent proof 00\nasyncmon> ');
          continue;
        }
        const req = JSON.parse(line) as { id: number; cmd: string; args: Record<string, unknown> };
        const result =
          req.cmd === 'hello'
            ? { protocol: 1, pid: 1, node: 'v0', access: 'eval', challenge: 'ab'.repeat(16), proof: 'cd'.repeat(32) }
            : req.cmd === 'health'
              ? { status: 'ok', pid: 1, node: 'v0', uptimeMs: 1, blockedMs: 0, stack: [], loop: null, tracker: null, tasks: 0, pendingPromises: null, oldestTasks: [] }
              : { items: [], total: 0 };
        s.write(JSON.stringify({ id: req.id, ok: true, result }) + '\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.add(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, received: () => received, connections: () => connections };
}

/** A record as an agent writes it, for a process of our own that is not an agent. */
function record(pid: number, port: number, token: string): Record<string, unknown> {
  return { pid, host: '127.0.0.1', port, socket: null, token, node: process.version, cwd: '/', argv: ['app.js'], startedAt: Date.now(), version: '0.0.0' };
}

/**
 * A private folder (0700) holding a record (0600) for a live process of ours that holds no
 * socket, pointing at `port`: the folder, the record's file and its pid.
 */
function plant(folder: string, port: number, extra: Record<string, unknown> = {}): { folder: string; file: string; pid: number } {
  mkdirSync(folder, { mode: 0o700 });
  const pid = bystander();
  const file = join(folder, `${pid}.json`);
  writeFileSync(file, JSON.stringify({ ...record(pid, port, 'planted-token-123'), ...extra }), { mode: 0o600 });
  return { folder, file, pid };
}

/** A live process of ours that holds no socket: the pid a planted or stale record names. */
function bystander(): number {
  const p = spawn('sleep', ['60'], { stdio: 'ignore' });
  cleanups.add(() => p.kill('SIGKILL'));
  return p.pid!;
}

/** The environment of a user whose XDG_RUNTIME_DIR is unset (sudo, cron, CI): HOME and TMPDIR of the test's own. */
function noXdg(home: string, tmp: string): Record<string, string | undefined> {
  return { XDG_RUNTIME_DIR: undefined, HOME: home, TMPDIR: tmp };
}

describe('finding 1: the CLI trusts discovery records that another user planted', () => {
  rootOnly('a folder another user created first')('a folder another user created first is refused, said why, and nothing is sent to the address it names', async () => {
    const home = tempDir('asyncmon-home-');
    const tmp = tempDir('asyncmon-tmp-');
    const fake = await impostor(true);
    const { folder: planted } = plant(join(tmp, 'asyncmon-0'), fake.port);
    for (const name of readdirSync(planted)) chownSync(join(planted, name), OTHER_UID, OTHER_UID);
    chownSync(planted, OTHER_UID, OTHER_UID);
    const r = await runCli(['ps'], { env: { ...noXdg(home, tmp), ASYNCMON_TOKEN: 'my-real-secret-token' } });
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr, show(r)).toContain(`folder ${planted} belongs to uid ${OTHER_UID}`);
    const check = await runCli(['check'], { env: noXdg(home, tmp) });
    expect(check.code, show(check)).not.toBe(0);
    expect(fake.connections()).toBe(0);
  });

  rootOnly('a file another user owns')('a record file another user owns, or one others can read, is refused', async () => {
    const dir = tempDir('asyncmon-rt-');
    const fake = await impostor(true);
    const { file } = plant(join(dir, 'asyncmon'), fake.port);
    chownSync(file, OTHER_UID, OTHER_UID);
    let r = await runCli(['ps'], { env: { XDG_RUNTIME_DIR: dir } });
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr, show(r)).toContain(`file ${file} belongs to uid ${OTHER_UID}`);
    chownSync(file, 0, 0);
    // Group or world bits: someone else may have written it (or read its token).
    chmodSync(file, 0o644);
    r = await runCli(['ps'], { env: { XDG_RUNTIME_DIR: dir } });
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr, show(r)).toContain(`file ${file} has mode 0644, not 0600`);
    expect(fake.connections()).toBe(0);
  });

  rootOnly('the agent starts despite a planted temp folder')('the agent starts despite a planted temp folder: it uses ~/.asyncmon/run, and the CLI finds it there', async () => {
    const home = tempDir('asyncmon-home-');
    const tmp = tempDir('asyncmon-tmp-');
    const planted = join(tmp, `asyncmon-${process.getuid!()}`);
    mkdirSync(planted, { mode: 0o777 });
    chownSync(planted, OTHER_UID, OTHER_UID);
    const app = spawnNode(join(FIXTURES, 'cli-app.cjs'), { nodeArgs: ['--require', REGISTER], env: agentEnv({ ASYNCMON_PORT: '0', ...noXdg(home, tmp) }) });
    cleanups.add(() => app.kill());
    await app.waitFor(/^READY /m, 15_000);
    const file = join(home, '.asyncmon', 'run', `${app.proc.pid}.json`);
    await waitUntil(() => existsSync(file), 10_000, file);
    expect(app.stderr()).not.toContain('not started');
    const r = await runCli(['ps', '--json'], { env: noXdg(home, tmp) });
    expect(r.code, show(r)).toBe(0);
  });

  it('a record whose process does not own the listener: the CLI stops before it sends anything but its nonce', async () => {
    const dir = tempDir('asyncmon-rt-');
    const fake = await impostor(true);
    const { pid } = plant(join(dir, 'asyncmon'), fake.port);
    for (const cmd of [['ps'], ['check'], ['console']]) {
      const r = await runCli(cmd, { env: { XDG_RUNTIME_DIR: dir } });
      expect(r.code, show(r)).toBe(3);
      expect(r.stderr, show(r)).toContain(`does not belong to process ${pid}, named by the discovery record`);
    }
    await waitUntil(() => fake.connections() >= 3, 5000, 'the three connections');
    // Only the first step of the login, nothing secret: no token, no proof, no command.
    const lines = fake.received().split('\n').filter(Boolean);
    expect(lines).toHaveLength(3);
    expect(lines.filter((l) => /^\{"id":1,"cmd":"hello","args":\{"protocol":1,"nonce":"[0-9a-f]{32}"\}\}$/.test(l))).toHaveLength(2);
    expect(lines.filter((l) => /^challenge [0-9a-f]{32}$/.test(l))).toHaveLength(1);
  });

  it('a listener that is not the agent never sees the token, and check does not pass on its word', async () => {
    const fake = await impostor(true);
    const token = makeToken();
    const env = { XDG_RUNTIME_DIR: tempDir('asyncmon-rt-') };
    const check = await runCli(['check', '-t', `127.0.0.1:${fake.port}`, '--token', token], { env });
    expect(check.code, show(check)).toBe(3);
    expect(check.stderr, show(check)).toContain('without proving it knows the token');
    const ps = await runCli(['ps', '-t', `127.0.0.1:${fake.port}`], { env: { ...env, ASYNCMON_TOKEN: token } });
    expect(ps.code, show(ps)).toBe(3);
    const con = await runCli(['console', '-t', `127.0.0.1:${fake.port}`, '--token', token], { env });
    expect(con.code, show(con)).toBe(3);
    expect(con.stderr, show(con)).toContain('without proving it knows the token');
    expect(fake.received()).toContain('hello');
    expect(fake.received()).toContain('challenge');
    expect(fake.received()).not.toContain(token);
    // The commands stopped at the login: nothing after it reached the impostor.
    expect(fake.received()).not.toMatch(/"cmd":"(health|ps|stats)"/);
  });

  it('the real agent proves itself: ps, check and console work with the challenge', async () => {
    const dir = tempDir('asyncmon-rt-');
    const app = await cleanups.fixture('cli-app.cjs', { runtimeDir: dir });
    const ps = await runCli(['ps', '--json'], { env: { XDG_RUNTIME_DIR: dir } });
    expect(ps.code, show(ps)).toBe(0);
    const check = await runCli(['check', '-t', `127.0.0.1:${app.port}`, '--token', app.token!], { env: { XDG_RUNTIME_DIR: dir } });
    expect(check.code, show(check)).toBe(0);
    const bad = await runCli(['check', '-t', `127.0.0.1:${app.port}`, '--token', 'wrong-token-123'], { env: { XDG_RUNTIME_DIR: dir } });
    expect(bad.code, show(bad)).toBe(1);
    expect(bad.stderr, show(bad)).toContain('authentication failed');
    const con = await runCli(['console', '-t', `127.0.0.1:${app.port}`, '--token', app.token!], { env: { XDG_RUNTIME_DIR: dir } });
    expect(con.code, show(con)).toBe(0);
    expect(con.stdout, show(con)).toMatch(/^asyncmon: pid \d+, node v\d+/);
  });

  it('a record of a pid that was reused by a later process is skipped', async () => {
    const dir = tempDir('asyncmon-rt-');
    const fake = await impostor(true);
    const { file } = plant(join(dir, 'asyncmon'), fake.port, { startTicks: 1 });
    const r = await runCli(['ps'], { env: { XDG_RUNTIME_DIR: dir } });
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toContain('no asyncmon agent found');
    expect(existsSync(file)).toBe(false);
    expect(fake.connections()).toBe(0);
  });
});
