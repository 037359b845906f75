// End to end: `asyncmon check`, the health check for scripts and probes. Exit codes: 0 pass,
// 1 a check failed (with a line naming the culprit), 2 bad usage, 3 unreachable. The fixtures
// run with the agent preloaded, each test in an XDG_RUNTIME_DIR of its own; the tests wait for
// what `health` reports (it refreshes about once a second), never for a fixed time.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { join } from 'node:path';
import { Cleanups, cliIn, json, runCli, show, waitForHealth } from './helpers/cli.js';
import type { CliResult } from './helpers/cli.js';
import { closedPort, markedLine } from './helpers/wire.js';
import { evaluate } from '../cli/check.js';
import type { HealthResult, TaskInfo } from '../src/model.js';

const APP = 'cli-app.cjs';
const BLOCK = 'cli-block.cjs';
const PROMISES = { ASYNCMON_TRACK: 'promises', ASYNCMON_STACKS: 'on' };
/** Time to start Node and load the CLI on a loaded machine, on top of a --timeout. */
const STARTUP_ALLOWANCE_MS = 4000;

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

async function setup(script = APP, env: Record<string, string | undefined> = PROMISES) {
  const dir = cleanups.runtimeDir();
  const app = await cleanups.fixture(script, { runtimeDir: dir, env });
  return { app, dir, cli: cliIn(dir) };
}

/** The `✗ …` lines a failed check printed, without the summary line. */
function failures(r: CliResult): string[] {
  return r.stdout.split('\n').filter((l) => l.startsWith('✗ ') && !/^✗ pid \d+: /.test(l));
}


/** A server that accepts connections and never says a word. */
async function silentServer(): Promise<{ server: Server; port: number }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.add(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { server, port: (server.address() as AddressInfo).port };
}

/** Writes a discovery file as an agent would (dir 0700, file 0600). */
function writeDiscoveryFile(runtimeDir: string, record: Record<string, unknown> & { pid: number }): string {
  const dir = join(runtimeDir, 'asyncmon');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${record.pid}.json`);
  writeFileSync(file, JSON.stringify(record) + '\n', { mode: 0o600 });
  return file;
}

describe('a healthy app', () => {
  it('passes: exit 0 and a ✓ summary line', async () => {
    const { cli, app } = await setup();
    const r = await cli('check');
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^✓ pid ${app.pid}: all \\d+ checks passed\\n$`));
    expect(r.stderr).toBe('');
  });

  it('--json gives {ok, pid, checks: [...]}', async () => {
    const { cli, app } = await setup();
    const r = await cli('check', '--json', '--max-task-age', '1h');
    expect(r.code, show(r)).toBe(0);
    const data = json(r);
    expect(data).toMatchObject({ ok: true, pid: app.pid });
    expect(data.checks.map((c: { name: string }) => c.name).sort()).toEqual(['blocked', 'task-age']);
    for (const c of data.checks) expect(c).toEqual({ name: expect.any(String), ok: true, value: expect.any(Number), limit: expect.any(Number), message: expect.any(String) });
  });
});

describe('failing checks name the culprit', () => {
  it('--max-task-age 1s: exit 1, one check, and every task over the age listed with its age and the await it waits on', async () => {
    const { cli, app } = await setup();
    // Six tasks: four task()s, then the outgoing GET /hang and the request it makes. The last,
    // the HTTP request the README's example is about, is the sixth oldest.
    await waitForHealth(app, (h) => h.tasks === 6 && h.oldestTasks.some((t) => t.name === 'cli-waiter' && t.ageMs > 1500), 'cli-waiter older than 1.5s');
    const r = await cli('check', '--max-task-age', '1s');
    expect(r.code, show(r)).toBe(1);
    const lines = r.stdout.split('\n');
    expect(lines[0], show(r)).toBe('✗ 6 tasks over 1.0s:');
    const listed = lines.filter((l) => l.startsWith('    task '));
    expect(listed, show(r)).toHaveLength(6);
    const site = `test/fixtures/cli-app\\.cjs:${markedLine(APP, 'waiter-await')}:\\d+`;
    expect(listed[0]).toMatch(new RegExp(`^ {4}task \\d+ cli-waiter is \\d+(\\.\\d)?s old, waits on (\\S+ \\()?${site}\\)?$`));
    expect(listed.filter((l) => / GET \/hang is /.test(l)), show(r)).toHaveLength(2);
    // The count is about checks (blocked and task-age), not rows.
    expect(r.stdout).toMatch(new RegExp(`^✗ pid ${app.pid}: 1 of 2 checks failed$`, 'm'));

    const data = json(await cli('check', '--max-task-age', '1s', '--json'));
    expect(data.ok).toBe(false);
    const check = data.checks.find((c: { name: string }) => c.name === 'task-age');
    expect(data.checks.filter((c: { name: string }) => c.name === 'task-age')).toHaveLength(1);
    expect(check).toMatchObject({ ok: false, limit: 1000, count: 6, message: '6 tasks over 1.0s:' });
    expect(check.tasks.map((t: { name: string }) => t.name)).toEqual(['cli-waiter', 'cli-parent', 'cli-child', 'cli-cancel-me', 'GET /hang', 'GET /hang']);
    expect(check.tasks.map((t: { kind: string }) => t.kind).slice(4).sort()).toEqual(['http-client', 'http-server']);
  });

  it('--max-task-age beyond a screenful: a count, then the 5 oldest', async () => {
    const { cli, app } = await setup(APP, { ...PROMISES, CLI_APP_EXTRA: '12' });
    await waitForHealth(app, (h) => h.tasks === 18 && (h.oldestTasks[0]?.ageMs ?? 0) > 1500, '18 tasks, the oldest over 1.5s');
    const r = await cli('check', '--max-task-age', '1s');
    expect(r.code, show(r)).toBe(1);
    const lines = r.stdout.split('\n').filter(Boolean);
    expect(lines[0], show(r)).toBe('✗ 18 tasks over 1.0s; the 5 oldest:');
    expect(lines.slice(1, 6).map((l) => /^ {4}task \d+ (.+?) is /.exec(l)?.[1]), show(r)).toEqual(['cli-waiter', 'cli-parent', 'cli-child', 'cli-cancel-me', 'GET /hang']);
    expect(lines[6]).toBe(`✗ pid ${app.pid}: 1 of 2 checks failed`);
    expect(lines).toHaveLength(7);
  });

  it('--max-pending 1 at promises level with pending promises: exit 1', async () => {
    const { cli, app } = await setup();
    await waitForHealth(app, (h) => (h.pendingPromises ?? 0) > 1, 'more than one pending promise');
    const r = await cli('check', '--max-pending', '1');
    expect(r.code, show(r)).toBe(1);
    expect(failures(r)).toContainEqual(expect.stringMatching(/^✗ \d+ pending promises \(max 1\)$/));
  });

  it('--max-pending at tasks level fails and says promises are not tracked', async () => {
    const { cli } = await setup(APP, {});
    const r = await cli('check', '--max-pending', '1000');
    expect(r.code, show(r)).toBe(1);
    expect(failures(r)).toContainEqual(expect.stringContaining('not tracked at this level'));
  });

  it('--max-lag 0.001: exit 1 (the loop always lags more than a microsecond)', async (ctx) => {
    const { cli, app } = await setup();
    await waitForHealth(app, (h) => h.loop !== null, 'loop figures');
    const first = await cli('check', '--max-lag', '0.001', '--json');
    const lag = json(first).checks.find((c: { name: string }) => c.name === 'lag');
    if (lag?.value === 0) {
      ctx.skip(`the agent reports an event-loop delay p99 of exactly 0 ms, so no limit above 0 can fail: ${lag.message}`);
    }
    expect(first.code, show(first)).toBe(1);
    expect(lag).toMatchObject({ ok: false, limit: 0.001 });
    const r = await cli('check', '--max-lag', '0.001');
    expect(r.code, show(r)).toBe(1);
    expect(failures(r)).toContainEqual(expect.stringMatching(/^✗ event-loop delay p99 [\d.]+ms \(max 0\.001ms\)$/));
  });

  it('--max-elu 0 with a busy app: exit 1', async () => {
    const { cli, app } = await setup(APP, { ...PROMISES, CLI_APP_BUSY: '1' });
    await waitForHealth(app, (h) => (h.loop?.utilization ?? 0) > 0, 'a utilization above 0');
    const r = await cli('check', '--max-elu', '0');
    expect(r.code, show(r)).toBe(1);
    expect(failures(r)).toContainEqual(expect.stringMatching(/^✗ event-loop utilization 0?\.\d+ \(max 0\)$/));
  });
});

describe('evaluate (pure)', () => {
  const task = (id: number, name: string, ageMs: number): TaskInfo => ({ id, name, kind: 'http-server', state: 'running', ageMs, parentId: null, site: null, waitsOn: { fn: 'handleUser', file: 'demo/app.js', line: 14, column: 22 }, children: 0 });
  const health = (over: Partial<HealthResult> = {}): HealthResult => ({ status: 'ok', pid: 4242, node: 'v20', uptimeMs: 1, blockedMs: 0, stack: [], loop: null, tracker: null, tasks: 1, pendingPromises: null, oldestTasks: [], ...over });

  it('one task over the age: the one line the README shows', () => {
    const old = { total: 1, items: [task(6, 'GET /users/42', 125_000)] };
    const [, age] = evaluate(health(), { blocked: 1000, taskAge: 30_000 }, old);
    expect(age).toMatchObject({ ok: false, count: 1, message: '✗ task 6 GET /users/42 is 2m05s old (max 30.0s), waits on handleUser (demo/app.js:14:22)'.slice(2) });
    expect(age.details).toBeUndefined();
  });

  it('without ps (the loop blocked), health’s oldest five: "at least" when all of them are over', () => {
    const oldestTasks = [1, 2, 3, 4, 5].map((i) => task(i, `t${i}`, 60_000));
    const [, age] = evaluate(health({ tasks: 9, oldestTasks }), { blocked: 1000, taskAge: 30_000 });
    expect(age.message).toBe('at least 5 tasks over 30.0s:');
    expect(age.details).toHaveLength(5);
  });

  it('the blocked line names the task that was running', () => {
    const stack = [{ fn: 'spin', file: 'app.js', line: 26, column: 3 }];
    const [blocked] = evaluate(health({ status: 'blocked', blockedMs: 1600, stack, task: { id: 12, name: 'GET /slow', kind: 'http-server' } }), { blocked: 1000 });
    expect(blocked.message).toMatch(/^event loop blocked 1\.6s \(max 1\.0s\) in spin \(app\.js:26(:3)?\) while handling GET \/slow \(task 12\)$/);
  });
});

describe('a blocked event loop', () => {
  it('--max-blocked 500: exit 1 naming blockTheLoop with file:line, answered while the loop is still blocked', async () => {
    const { cli, app } = await setup(BLOCK, {});
    const started = await app.child.waitFor(/^BLOCKING (.*)$/m, 15_000);
    const blocking = JSON.parse(started[1]) as { at: number; ms: number };
    // Wait until the agent sees the loop blocked for longer than the limit, then ask.
    await waitForHealth(app, (h) => h.status === 'blocked' && h.blockedMs > 600, 'the loop blocked for more than 600ms', blocking.ms);
    const r = await cli('check', '--max-blocked', '500');
    const unblocked = app.child.stdout().match(/^UNBLOCKED (.*)$/m);
    // The CLI answered while blockTheLoop still held the main thread.
    if (unblocked) expect(r.endedAt, `the CLI finished after the loop was released\n${show(r)}`).toBeLessThan((JSON.parse(unblocked[1]) as { at: number }).at);
    else expect(r.endedAt).toBeLessThan(blocking.at + blocking.ms);
    expect(r.code, show(r)).toBe(1);
    const spin = `test/fixtures/cli-block\\.cjs:${markedLine(BLOCK, 'spin')}:\\d+`;
    expect(failures(r), show(r)).toContainEqual(expect.stringMatching(new RegExp(`^✗ event loop blocked \\d+(\\.\\d)?(m?s) \\(max 500ms\\) in blockTheLoop \\(${spin}\\)`)));
    await app.child.waitFor(/^UNBLOCKED /m, 15_000);
  });
});

describe('unreachable targets: exit 3 within the --timeout', () => {
  it('a discovery file pointing at a closed port', async () => {
    const dir = cleanups.runtimeDir();
    const port = await closedPort();
    // A live pid (this test process), so the CLI does not drop the file as stale.
    writeDiscoveryFile(dir, {
      pid: process.pid,
      host: '127.0.0.1',
      port,
      socket: null,
      token: 'some-token-0123456789',
      node: process.version,
      cwd: process.cwd(),
      argv: ['app.js'],
      startedAt: Date.now(),
      version: '0.0.0',
    });
    const r = await runCli(['check', '--timeout', '2000'], { env: { XDG_RUNTIME_DIR: dir } });
    expect(r.code, show(r)).toBe(3);
    expect(r.stderr).toContain(`127.0.0.1:${port}`);
    expect(r.ms, show(r)).toBeLessThan(2000 + STARTUP_ALLOWANCE_MS);
  });

  it('-t 127.0.0.1:1 --token x', async () => {
    const r = await runCli(['check', '-t', '127.0.0.1:1', '--token', 'x', '--timeout', '2000'], { env: { XDG_RUNTIME_DIR: cleanups.runtimeDir() } });
    expect(r.code, show(r)).toBe(3);
    expect(r.stderr).toContain('cannot connect to 127.0.0.1:1');
    expect(r.ms, show(r)).toBeLessThan(2000 + STARTUP_ALLOWANCE_MS);
  });

  it('-t at a server that accepts and never answers', async () => {
    const { port } = await silentServer();
    const r = await runCli(['check', '-t', `127.0.0.1:${port}`, '--token', 'some-token-0123456789', '--timeout', '1000'], {
      env: { XDG_RUNTIME_DIR: cleanups.runtimeDir() },
      timeoutMs: 1000 + STARTUP_ALLOWANCE_MS + 10_000,
    });
    expect(r.code, show(r)).toBe(3);
    expect(r.stderr).toContain('did not answer');
    expect(r.ms, show(r)).toBeGreaterThanOrEqual(1000);
    expect(r.ms, show(r)).toBeLessThan(1000 + STARTUP_ALLOWANCE_MS);
  });

  it('--json still prints {ok: false, error} on stdout', async () => {
    const r = await runCli(['check', '-t', '127.0.0.1:1', '--token', 'x', '--json'], { env: { XDG_RUNTIME_DIR: cleanups.runtimeDir() } });
    expect(r.code, show(r)).toBe(3);
    expect(json(r)).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
  });
});

describe('bad usage: exit 2', () => {
  it('--max-task-age banana', async () => {
    const r = await runCli(['check', '--max-task-age', 'banana'], { env: { XDG_RUNTIME_DIR: cleanups.runtimeDir() } });
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toContain('--max-task-age "banana"');
  });

  it('--max-elu above 1, a negative --max-pending, an unknown option', async () => {
    const env = { XDG_RUNTIME_DIR: cleanups.runtimeDir() };
    for (const args of [['--max-elu', '1.5'], ['--max-pending', '-1'], ['--max-banana', '3']]) {
      const r = await runCli(['check', ...args], { env });
      expect(r.code, `check ${args.join(' ')}\n${show(r)}`).toBe(2);
    }
  });

  it('no agent at all', async () => {
    const r = await runCli(['check'], { env: { XDG_RUNTIME_DIR: cleanups.runtimeDir() } });
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toContain('no asyncmon agent found');
  });
});

