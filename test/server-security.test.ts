/**
 * The agent's security defaults and limits, against a fixture app in a child process: read-only
 * mode caps every client at `read`; the discovery folder and file are private (0700 / 0600),
 * hold what the CLI needs, are refused when the folder is a symlink and are removed at exit;
 * HTTP is refused; the 17th connection, and a line over 64 KiB, get one error and are closed,
 * and the agent serves fresh clients afterwards.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, statSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, REGISTER, ROOT, exitWithin, spawnNode, waitUntil } from './helpers/child.js';
import { WAIT_MS, WireClient, agentEnv, makeRuntimeDir, makeToken, openJson, openText, readDiscovery, startApp } from './helpers/wire.js';
import type { App } from './helpers/wire.js';

const MAX_CONNECTIONS = 16;
const MAX_LINE = 64 * 1024;

beforeAll(() => {
  if (!existsSync(REGISTER)) throw new Error(`${REGISTER} is missing: run \`npm run build\` first`);
});

/** Apps started by a test, stopped after it. */
const running: App[] = [];
async function app(script = 'server-app.cjs', env: Record<string, string | undefined> = {}): Promise<App> {
  const a = await startApp(script, env);
  running.push(a);
  return a;
}
afterEach(() => {
  for (const a of running.splice(0)) a.stop();
});

/** The agent's lines on stderr. */
function agentLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('asyncmon:'));
}

/**
 * Connects until the agent takes a new session (closed sessions are let go asynchronously), then
 * authenticates and runs `ps`: the agent still serves.
 */
async function freshClientWorks(port: number, token: string): Promise<void> {
  const c = (await waitUntil(
    async (): Promise<WireClient | undefined> => {
      const probe = await WireClient.connect(port);
      const first = await probe.expect(/too many connections|asyncmon> /);
      if (first.includes('asyncmon> ')) return probe;
      probe.close();
      return undefined;
    },
    WAIT_MS,
    'the agent to accept a new session',
  )) as WireClient;
  try {
    expect(await c.command(`auth ${token}`)).toBe('✓ authenticated');
    expect(await c.command('ps')).toMatch(/^\s*ID\s+KIND/);
  } finally {
    c.close();
  }
}

describe('ASYNCMON_READONLY=1', () => {
  it('caps every client at read: cancel, track, eval and console are FORBIDDEN, ps works', async () => {
    const a = await app('server-app.cjs', { ASYNCMON_READONLY: '1' });
    const json = await openJson(a.port, a.token);
    try {
      const hello = await json.request('hello', { protocol: 1, token: a.token });
      expect(hello.result).toEqual({ protocol: 1, pid: a.pid, node: process.version, access: 'read' });
      const ps = await json.ok('ps');
      const victim = ps.items.find((t: { name: string }) => t.name === 'cancel-me-readonly');
      expect(victim).toBeDefined();
      for (const [cmd, args] of [
        ['cancel', { id: victim.id }],
        ['track', { level: 'promises' }],
        ['eval', { code: 'process.exitCode = 9' }],
      ] as const) {
        const res = await json.request(cmd, args);
        expect(res.ok, cmd).toBe(false);
        expect(res.error, cmd).toEqual({ code: 'FORBIDDEN', message: expect.stringContaining('this session has read') });
      }
      for (const cmd of ['health', 'stats', 'history', 'handles', 'stack', 'snapshot']) expect((await json.request(cmd)).ok, cmd).toBe(true);
      expect((await json.ok('where', { id: victim.id })).name).toBe('cancel-me-readonly');

      const text = await openText(a.port, a.token);
      try {
        expect(await text.command('console')).toBe('✗ console needs eval access; this session has read');
        expect(await text.command(`cancel ${victim.id}`)).toBe('✗ cancel needs control access; this session has read');
        expect(await text.command('track promises')).toBe('✗ track needs control access; this session has read');
        expect(await text.command('ps')).toContain('cancel-me-readonly');
      } finally {
        text.close();
      }
      // Nothing was cancelled or changed.
      expect((await json.ok('ps')).items.map((t: { name: string }) => t.name)).toContain('cancel-me-readonly');
      expect((await json.ok('stats')).tracker.level).toBe('tasks');
      expect(a.child.stdout()).not.toContain('SETTLED cancel-me-readonly');
    } finally {
      json.close();
    }
  });
});

describe('the discovery file', () => {
  it('is private (folder 0700, file 0600) and holds pid, port, host, token, node, cwd, argv, startedAt, startTicks', async () => {
    const before = Date.now();
    const a = await app();
    const dir = a.runtime.discoveryDir;
    const file = join(dir, `${a.pid}.json`);
    expect(lstatSync(dir).isDirectory()).toBe(true);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(lstatSync(file).isFile()).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual([`${a.pid}.json`]);
    const record = readDiscovery(a.runtime.dir, a.pid);
    expect(record).toEqual({
      pid: a.pid,
      host: '127.0.0.1',
      port: a.port,
      socket: null,
      token: a.token,
      node: process.version,
      cwd: ROOT,
      argv: [resolve(FIXTURES, 'server-app.cjs')],
      startedAt: expect.any(Number),
      version: expect.any(String),
      startTicks: expect.any(Number),
    });
    expect(record.startedAt).toBeGreaterThanOrEqual(before - 1000);
    expect(record.startedAt).toBeLessThanOrEqual(Date.now());
    // The token in the file is the one that works.
    const c = await openJson(record.port, record.token);
    c.close();
  });

  it('tightens a folder that exists with looser permissions to 0700', async () => {
    const runtime = makeRuntimeDir();
    try {
      mkdirSync(runtime.discoveryDir, { mode: 0o755 });
      chmodSync(runtime.discoveryDir, 0o755);
      const a = await app('server-app.cjs', { XDG_RUNTIME_DIR: runtime.dir });
      await waitUntil(() => readDiscovery(runtime.dir, a.pid), WAIT_MS, 'the discovery file');
      expect(statSync(runtime.discoveryDir).mode & 0o777).toBe(0o700);
    } finally {
      runtime.remove();
    }
  });

  it('is refused when the folder is a symlink: one asyncmon: line on stderr, and the host runs on', async () => {
    const runtime = makeRuntimeDir();
    try {
      const target = join(runtime.dir, 'elsewhere');
      mkdirSync(target, { mode: 0o700 });
      symlinkSync(target, runtime.discoveryDir);
      const a = await app('server-app.cjs', { XDG_RUNTIME_DIR: runtime.dir });
      await waitUntil(() => agentLines(a.child.stderr()).length > 0, WAIT_MS, 'the agent to say something on stderr');
      const lines = a.child.stderr().split('\n').filter((l) => l !== '');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^asyncmon: .*symlink/);
      expect(lines[0]).toContain(runtime.discoveryDir);
      // Nothing was written through the link, and the link is left as it was.
      expect(readdirSync(target)).toEqual([]);
      expect(lstatSync(runtime.discoveryDir).isSymbolicLink()).toBe(true);
      // The host keeps running; the server itself runs on too (only the file is refused).
      const c = await openJson(a.port, a.token);
      try {
        expect((await c.ok('ps')).items.length).toBeGreaterThan(0);
        expect((await c.ok('eval', { code: 'fixtureGlobal.answer' }))).toBe('42');
      } finally {
        c.close();
      }
      expect(a.child.proc.exitCode).toBeNull();
    } finally {
      runtime.remove();
    }
  });

  for (const how of ['ends by itself', 'calls process.exit()'] as const) {
    it(`is removed when the process exits (${how})`, async () => {
      const runtime = makeRuntimeDir();
      const child = spawnNode(resolve(FIXTURES, 'server-work.cjs'), {
        nodeArgs: ['--require', REGISTER],
        env: agentEnv({ ASYNCMON_PORT: '0', ASYNCMON_TOKEN: makeToken(), XDG_RUNTIME_DIR: runtime.dir, FINISH: how === 'ends by itself' ? undefined : 'exit' }),
      });
      try {
        await child.waitFor(/^WORKING /m);
        const pid = child.proc.pid!;
        const record = await waitUntil(() => readDiscovery(runtime.dir, pid), WAIT_MS, 'the discovery file');
        expect(record.pid).toBe(pid);
        child.proc.kill('SIGUSR2');
        await child.waitFor(/^DONE$/m);
        expect(await exitWithin(child, WAIT_MS)).toBe(0);
        expect(readdirSync(runtime.discoveryDir)).toEqual([]);
        expect(child.stderr()).toBe('');
      } finally {
        child.kill();
        runtime.remove();
      }
    });
  }
});

describe('what the port refuses', () => {
  it('HTTP gets one line and is closed', async () => {
    const a = await app();
    for (const request of ['GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 'POST /api HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n']) {
      const c = await WireClient.connect(a.port, '127.0.0.1', WAIT_MS, request);
      await c.waitClosed();
      const lines = c.transcript().split('\n').filter((l) => l !== '');
      expect(lines, c.transcript()).toHaveLength(1);
      expect(lines[0]).toMatch(/^asyncmon: .*not HTTP/);
    }
    await freshClientWorks(a.port, a.token);
  });

  it(`with ${MAX_CONNECTIONS} sessions logged in, the next connection gets one line, "too many connections", and is closed`, async () => {
    const a = await app();
    const held: WireClient[] = [];
    try {
      // A mix of authenticated text and JSON sessions.
      for (let i = 0; i < MAX_CONNECTIONS; i++) held.push(i % 2 === 0 ? await openText(a.port, a.token) : await openJson(a.port, a.token));
      const extra = await WireClient.connect(a.port);
      await extra.waitClosed();
      const lines = extra.transcript().split('\n').filter((l) => l !== '');
      expect(lines, extra.transcript()).toHaveLength(1);
      expect(lines[0]).toMatch(/too many connections \(limit 16 sessions\)/);
      // The ones inside were not disturbed.
      expect(await held[0].command('health')).toMatch(/^✓ ok/);
      expect((await held[1].request('health')).ok).toBe(true);
      expect(held.some((c) => c.isClosed)).toBe(false);
    } finally {
      for (const c of held) c.close();
    }
    await freshClientWorks(a.port, a.token);
  });

  it(`a line over 64 KiB gets an error and is closed; one of exactly 64 KiB is fine`, async () => {
    const a = await app();
    // Before the dialect is known (text).
    const text = await WireClient.connect(a.port);
    text.sendRaw('x'.repeat(MAX_LINE + 1));
    await text.waitClosed();
    expect(text.transcript()).toMatch(/✗ line longer than 65536 bytes: closing\n$/);

    // An authenticated text session.
    const authed = await openText(a.port, a.token);
    authed.sendRaw(`ps ${'y'.repeat(MAX_LINE * 2)}\n`);
    await authed.waitClosed();
    expect(authed.transcript()).toMatch(/✗ line longer than 65536 bytes: closing\n$/);

    // JSON: an error response, then close.
    const json = await openJson(a.port, a.token);
    const exact = `{"id":"exact","cmd":"ps","args":{"limit":1}`;
    json.sendRaw(exact + ' '.repeat(MAX_LINE - exact.length - 1) + '}\n');
    expect((await json.response('exact')).ok).toBe(true);
    json.sendRaw(`{"id":"big","cmd":"eval","args":{"code":"${'z'.repeat(MAX_LINE)}"}}\n`);
    const res = await json.response(null);
    expect(res.error).toEqual({ code: 'BAD_ARGUMENT', message: expect.stringContaining('line longer than 65536 bytes') });
    await json.waitClosed();

    await freshClientWorks(a.port, a.token);
  });
});
