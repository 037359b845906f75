// End to end: every one-shot command of the built CLI, as text and as --json, against the
// fixture app test/fixtures/cli-app.cjs (a task parked on a marked await, nested tasks, a task
// to cancel, an HTTP server with a hanging request, an interval) running with the agent
// preloaded. Every test has an XDG_RUNTIME_DIR of its own, shared by its fixture and its CLI
// runs, so discovery files never mix with other agents on the machine.
import { afterEach, describe, expect, it } from 'vitest';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FIXTURES } from './helpers/child.js';
import { Cleanups, cliIn, exitedZero, json, ok, show } from './helpers/cli.js';
import { markedLine } from './helpers/wire.js';

const APP = 'cli-app.cjs';
const APP_PATH = resolve(FIXTURES, APP);
/** Where a task waits needs the promises level, and its site needs stacks. */
const PROMISES = { ASYNCMON_TRACK: 'promises', ASYNCMON_STACKS: 'on' };
const TASK_NAMES = ['cli-waiter', 'cli-parent', 'cli-child', 'cli-cancel-me', 'GET /hang'];

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

/** A fresh runtime dir, the fixture app in it, and a CLI runner pointed at that dir. */
async function setup(env: Record<string, string | undefined> = PROMISES) {
  const dir = cleanups.runtimeDir();
  const app = await cleanups.fixture(APP, { runtimeDir: dir, env });
  return { app, dir, cli: cliIn(dir) };
}

/** The id `ps --json` gives the live task called `name`. */
async function taskId(cli: ReturnType<typeof cliIn>, name: string): Promise<number> {
  const items = json(ok(await cli('ps', '--json'))).items as Array<{ id: number; name: string; kind: string }>;
  const t = items.find((i) => i.name === name && i.kind === 'task');
  if (!t) throw new Error(`no task ${name} in ${JSON.stringify(items)}`);
  return t.id;
}

/** `file:line:column` of the fixture as the CLI prints it (relative to its cwd, the repo root). */
function siteOf(line: number): RegExp {
  return new RegExp(`test/fixtures/cli-app\\.cjs:${line}:\\d+`);
}

describe('ps', () => {
  it('prints a table with every live task by name, and --json gives items with id, name and kind', async () => {
    const { cli } = await setup();
    const text = ok(await cli('ps'));
    expect(text.stdout.split('\n')[0]).toMatch(/^\s*ID\s+KIND\s+AGE\s+NAME\s+WAITS ON$/);
    for (const name of TASK_NAMES) expect(text.stdout, show(text)).toContain(name);
    expect(text.stdout).toMatch(/\bhttp-server\b.*GET \/hang/);

    const data = json(ok(await cli('ps', '--json')));
    expect(data.total).toBe(data.items.length);
    for (const item of data.items) {
      expect(item).toEqual(expect.objectContaining({ id: expect.any(Number), name: expect.any(String), kind: expect.any(String) }));
    }
    const names = data.items.map((i: { name: string }) => i.name);
    for (const name of TASK_NAMES) expect(names).toContain(name);
    expect(data.items).toContainEqual(expect.objectContaining({ name: 'cli-waiter', kind: 'task', state: 'running' }));
    expect(data.items).toContainEqual(expect.objectContaining({ name: 'GET /hang', kind: 'http-server' }));
  });

  it('filters by name', async () => {
    const { cli } = await setup();
    const data = json(ok(await cli('ps', 'cli-c', '--json')));
    expect(data.items.map((i: { name: string }) => i.name).sort()).toEqual(['cli-cancel-me', 'cli-child']);
  });
});

describe('where', () => {
  it('names the line of the await the task is parked on (promises level, stacks on)', async () => {
    const { cli } = await setup();
    const id = await taskId(cli, 'cli-waiter');
    const line = markedLine(APP, 'waiter-await');

    const text = ok(await cli('where', String(id)));
    expect(text.stdout).toContain(`task ${id} cli-waiter (task, running,`);
    expect(text.stdout, show(text)).toMatch(new RegExp(`waits on p\\d+ at ${siteOf(line).source}`));

    const data = json(ok(await cli('where', String(id), '--json')));
    expect(data).toMatchObject({ id, name: 'cli-waiter', kind: 'task', state: 'running', waitsNote: null });
    expect(data.waitsOn.promiseId).toMatch(/^p\d+$/);
    expect(data.waitsOn.site).toMatchObject({ file: APP_PATH, line });
  });

  it('names the await of a hanging HTTP handler', async () => {
    const { cli } = await setup();
    const items = json(ok(await cli('ps', 'http-server', '--json'))).items as Array<{ id: number; name: string }>;
    expect(items.map((i) => i.name)).toEqual(['GET /hang']);
    const data = json(ok(await cli('where', String(items[0].id), '--json')));
    expect(data.kind).toBe('http-server');
    expect(data.waitsOn.site).toMatchObject({ file: APP_PATH, line: markedLine(APP, 'handler-await') });
  });

  it('exits 1 with "no task 999" for a task that does not exist, as text and as --json', async () => {
    const { cli } = await setup();
    const text = await cli('where', '999');
    expect(text.code, show(text)).toBe(1);
    expect(text.stderr).toContain('no task 999');
    expect(text.stdout).toBe('');

    const data = await cli('where', '999', '--json');
    expect(data.code, show(data)).toBe(1);
    expect(json(data)).toEqual({ ok: false, error: { code: 'NO_SUCH_TASK', message: 'no task 999' } });
  });
});

describe('tree', () => {
  it('shows cli-child under cli-parent, as text and as --json', async () => {
    const { cli } = await setup();
    const text = ok(await cli('tree'));
    const lines = text.stdout.split('\n');
    const parent = lines.findIndex((l) => /^\d+ cli-parent \(task, /.test(l));
    expect(parent, show(text)).toBeGreaterThanOrEqual(0);
    expect(lines[parent + 1]).toMatch(/^└─ \d+ cli-child \(task, /);

    const data = json(ok(await cli('tree', '--json')));
    const node = data.find((n: { name: string }) => n.name === 'cli-parent');
    expect(node).toMatchObject({ kind: 'task', children: [expect.objectContaining({ name: 'cli-child', kind: 'task', children: [] })] });
    expect(data.find((n: { name: string }) => n.name === 'cli-child')).toBeUndefined();
  });
});

describe('cancel and history', () => {
  it('cancel <id> aborts the task (its promise rejects with AbortError) and history shows it cancelled', async () => {
    const { cli, app } = await setup();
    const before = ok(await cli('history'));
    expect(before.stdout).toContain('no finished tasks yet');

    const id = await taskId(cli, 'cli-cancel-me');
    const text = ok(await cli('cancel', String(id), 'from', 'the', 'cli', 'test'));
    expect(text.stdout).toMatch(new RegExp(`^✓ task ${id} \\(cli-cancel-me\\) cancelled`));
    await app.child.waitFor(/^SETTLED cli-cancel-me AbortError: /m, 10_000);

    const history = ok(await cli('history'));
    expect(history.stdout, show(history)).toMatch(new RegExp(`^\\s*${id} task +cancelled .*cli-cancel-me .*from the cli test`, 'm'));
    const data = json(ok(await cli('history', '--json')));
    expect(data.items).toContainEqual(expect.objectContaining({ id, name: 'cli-cancel-me', outcome: 'cancelled', reason: 'from the cli test' }));

    const ps = json(ok(await cli('ps', '--json')));
    expect(ps.items.map((i: { name: string }) => i.name)).not.toContain('cli-cancel-me');
  });

  it('cancel --json says what it did', async () => {
    const { cli, app } = await setup();
    const id = await taskId(cli, 'cli-cancel-me');
    const data = json(ok(await cli('cancel', String(id), '--json')));
    expect(data).toMatchObject({ id: String(id), kind: 'task', action: 'aborted' });
    await app.child.waitFor(/^SETTLED cli-cancel-me AbortError: /m, 10_000);
    const again = await cli('cancel', String(id));
    expect(again.code, show(again)).toBe(1);
    expect(again.stderr).toMatch(/cancelled|no task/);
  });
});

describe('ps: the phase of an outgoing request', () => {
  it('the fixture’s own GET /hang says it is waiting for the response headers, as text and --json', async () => {
    const { cli } = await setup({});
    const data = json(ok(await cli('ps', '--json')));
    const client = data.items.find((i: { kind: string }) => i.kind === 'http-client');
    expect(client, JSON.stringify(data.items)).toMatchObject({ name: 'GET /hang', phase: 'request sent, waiting for response headers' });
    const text = ok(await cli('ps'));
    expect(text.stdout, show(text)).toMatch(/\bhttp-client\b.*GET \/hang\s+http:\/\/127\.0\.0\.1:\d+ · request sent, waiting for response headers$/m);
  });
});

describe('handles', () => {
  it('shows a child process with its command and arguments', async () => {
    const { cli } = await setup({ ...PROMISES, CLI_APP_CHILD: '1' });
    const data = json(ok(await cli('handles', '--json')));
    const child = data.items.find((h: { kind: string }) => h.kind === 'child-process');
    const command = `-e 'process.stdin.resume().on("end", () => process.exit())' cli-app-child`;
    expect(child, JSON.stringify(data.items)).toMatchObject({ type: 'ChildProcess', detail: `pid ${child.detail.split(' ')[1]} ${process.execPath} ${command}` });
    const text = ok(await cli('handles'));
    expect(text.stdout, show(text)).toMatch(/child-process\s+pid \d+ \S+ -e 'process\.stdin\.resume\(\)\.on\("end", \(\) => process\.exit\(\)\)' cli-app-child/);
  });

  it("shows the fixture's interval with its callback's file:line, as text and as --json", async () => {
    const { cli } = await setup();
    const line = markedLine(APP, 'interval');

    const data = json(ok(await cli('handles', '--json')));
    const interval = data.items.find((h: { kind: string; callback: { fn: string } | null }) => h.kind === 'interval' && h.callback?.fn === 'cliAppTick');
    expect(interval, JSON.stringify(data.items)).toMatchObject({ id: expect.stringMatching(/^r\d+$/), refed: true, detail: 'every 50ms' });
    expect(interval.callback).toMatchObject({ file: APP_PATH, line });
    expect(data.items).toContainEqual(expect.objectContaining({ kind: 'server' }));

    const text = ok(await cli('handles'));
    const row = text.stdout.split('\n').find((l) => /\binterval\b/.test(l) && l.includes('cliAppTick'));
    expect(row, show(text)).toBeDefined();
    expect(row).toContain('every 50ms');
    // The callback's location is what this command is for: it must be there, not cut off.
    expect(row, show(text)).toMatch(siteOf(line));
  });

  it("labels the HTTP server's own timer (it enforces headersTimeout), and cancel asks for --force before clearing it", async () => {
    const { cli, app } = await setup();
    const data = json(ok(await cli('handles', '--json')));
    const own = data.items.find((h: { role?: string | null }) => typeof h.role === 'string');
    expect(own, JSON.stringify(data.items)).toMatchObject({ kind: 'interval', role: `the HTTP server on 127.0.0.1:${app.ready.serverPort} enforces headersTimeout and requestTimeout with it` });
    expect(own.detail).toContain('enforces headersTimeout');
    const refused = await cli('cancel', own.id);
    expect(refused.code, show(refused)).toBe(1);
    expect(refused.stderr).toContain(`cancel ${own.id} --force`);
    expect(json(ok(await cli('handles', '--json'))).items.map((h: { id: string }) => h.id)).toContain(own.id);
    const forced = ok(await cli('cancel', own.id, '--force'));
    expect(forced.stdout).toContain('cleared');
    expect(json(ok(await cli('handles', '--json'))).items.map((h: { id: string }) => h.id)).not.toContain(own.id);
  });
});

describe('promises', () => {
  it('lists pending promises by creation site at promises level, as text and as --json', async () => {
    const { cli } = await setup();
    const line = markedLine(APP, 'waiter-await');
    const text = ok(await cli('promises'));
    expect(text.stdout).toMatch(/^\d+ pending promises/);
    expect(text.stdout, show(text)).toMatch(siteOf(line));

    const data = json(ok(await cli('promises', '--json')));
    expect(data.level).toBe('promises');
    expect(data.newest.total).toBeGreaterThan(0);
    expect(data.groups.items).toContainEqual(expect.objectContaining({ count: expect.any(Number), site: expect.objectContaining({ file: APP_PATH, line }) }));
  });

  it('says the level is too low when promises are not tracked', async () => {
    const { cli } = await setup({});
    const text = ok(await cli('promises'));
    expect(text.stdout).toContain('promises are not tracked at level tasks');
    expect(json(ok(await cli('promises', '--json'))).level).toBe('tasks');
  });
});

describe('stack, stats, health', () => {
  it('stack says the loop is not blocked', async () => {
    const { cli } = await setup();
    expect(ok(await cli('stack')).stdout).toContain('the event loop is not blocked');
    expect(json(ok(await cli('stack', '--json')))).toMatchObject({ blocked: false, blockedMs: 0, frames: [] });
  });

  it('stats reports the pid, level, loop and counts', async () => {
    const { cli, app } = await setup();
    const text = ok(await cli('stats'));
    expect(text.stdout).toMatch(new RegExp(`^pid ${app.pid}  node v\\d+\\.\\d+\\.\\d+ .* level promises  stacks on$`, 'm'));
    expect(text.stdout).toMatch(/^loop delay {2}p50 [\d.]+ms/m);
    expect(text.stdout).toMatch(/^blocked {5}never$/m);
    const data = json(ok(await cli('stats', '--json')));
    expect(data).toMatchObject({ pid: app.pid, node: process.version, tracker: { level: 'promises', stacks: 'on' }, blocked: [] });
    expect(data.counts.tasks).toBeGreaterThanOrEqual(TASK_NAMES.length);
    expect(data.counts.promises).toBeGreaterThan(0);
  });

  it('health says ok', async () => {
    const { cli, app } = await setup();
    expect(ok(await cli('health')).stdout).toMatch(new RegExp(`^✓ ok  pid ${app.pid}  up `));
    expect(json(ok(await cli('health', '--json')))).toMatchObject({ status: 'ok', pid: app.pid, node: process.version, blockedMs: 0, stack: [] });
  });
});

describe('track', () => {
  it('track promises on switches the level, as text and as --json', async () => {
    const { cli } = await setup({});
    expect(json(ok(await cli('stats', '--json'))).tracker.level).toBe('tasks');
    expect(ok(await cli('track', 'promises', 'on')).stdout).toBe('✓ level promises, stacks on\n');
    expect(json(ok(await cli('track', 'promises', 'on', '--json')))).toEqual({ level: 'promises', stacks: 'on', disabledReason: null });
    expect(json(ok(await cli('stats', '--json'))).tracker).toMatchObject({ level: 'promises', stacks: 'on' });
  });

  it('refuses a level that does not exist (exit 2)', async () => {
    const { cli } = await setup({});
    const r = await cli('track', 'everything');
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toMatch(/everything/);
  });
});

describe('targets and tokens', () => {
  it('-t <pid> picks the agent of that process', async () => {
    const { cli, app } = await setup();
    const r = ok(await cli('health', '-t', String(app.pid), '--json'));
    expect(json(r).pid).toBe(app.pid);
  });

  it('-t host:port with --token reaches the agent without its discovery file, and warns that --token is visible', async () => {
    const { app } = await setup();
    // An empty runtime dir of its own: only the address and the token lead to the agent.
    const elsewhere = cliIn(cleanups.runtimeDir());
    const r = exitedZero(await elsewhere('ps', '-t', `127.0.0.1:${app.port}`, '--token', app.token!, '--json'));
    expect(json(r).items.map((i: { name: string }) => i.name)).toContain('cli-waiter');
    expect(r.stderr).toBe('asyncmon: warning: --token is visible to every local user (in the process list) while this runs; use --token-file or ASYNCMON_TOKEN\n');
  });

  it('--token-file reads the token from a file, silently when the file is private (finding 9)', async () => {
    const { app } = await setup();
    const dir = cleanups.runtimeDir();
    const file = join(dir, 'token');
    writeFileSync(file, `${app.token}\n`, { mode: 0o600 });
    const r = ok(await cliIn(dir)('ps', '-t', `127.0.0.1:${app.port}`, '--token-file', file, '--json'));
    expect(json(r).items.map((i: { name: string }) => i.name)).toContain('cli-waiter');
    chmodSync(file, 0o644);
    const loose = exitedZero(await cliIn(dir)('ps', '-t', `127.0.0.1:${app.port}`, '--token-file', file));
    expect(loose.stderr).toContain(`${file} can be read by other users`);
    const missing = await cliIn(dir)('ps', '-t', `127.0.0.1:${app.port}`, '--token-file', join(dir, 'nope'));
    expect(missing.code, show(missing)).toBe(2);
    expect(missing.stderr).toContain('cannot read --token-file');
  });

  it('with no -t, uses the only agent there is', async () => {
    const { cli, app } = await setup();
    expect(json(ok(await cli('health', '--json'))).pid).toBe(app.pid);
  });

  it('a wrong --token exits 1 with "authentication failed", promptly', async () => {
    const { cli, app } = await setup();
    const text = await cli('ps', '--token', 'wrong-token-0123456789', '--timeout', '2000');
    expect(text.code, show(text)).toBe(1);
    expect(text.stderr).toContain('authentication failed');
    // The agent answered; the CLI has nothing left to wait for. Well within its --timeout plus
    // a generous allowance for starting Node on a loaded machine.
    expect(text.ms, show(text)).toBeLessThan(2000 + 3000);

    const data = await cli('ps', '-t', `127.0.0.1:${app.port}`, '--token', 'wrong-token-0123456789', '--json', '--timeout', '2000');
    expect(data.code, show(data)).toBe(1);
    expect(json(data)).toEqual({ ok: false, error: { code: 'FORBIDDEN', message: 'authentication failed' } });
    expect(data.ms, show(data)).toBeLessThan(2000 + 3000);
  });

  it('-t with a pid that runs no agent exits 2', async () => {
    const { cli } = await setup();
    const r = await cli('ps', '-t', '999999');
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toContain('no process 999999');
  });
});

describe('dump', () => {
  it('--out writes versioned JSON with the snapshot, mode 0600, without the token', async () => {
    const { cli, dir, app } = await setup();
    const out = join(dir, 'dump.json');
    const r = await cli('dump', '--out', out);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`wrote ${out}`);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const text = readFileSync(out, 'utf8');
    const doc = JSON.parse(text);
    expect(doc).toMatchObject({ format: 'asyncmon-dump', version: 1, health: { pid: app.pid }, snapshot: { format: 'asyncmon-snapshot', pid: app.pid } });
    expect(Date.parse(doc.createdAt)).not.toBeNaN();
    expect(doc.snapshot.tasks.items).toContainEqual(expect.objectContaining({ name: 'cli-waiter', kind: 'task' }));
    expect(doc.stats.pid).toBe(app.pid);
    expect(text).not.toContain(app.token!);
  });

  it('--out over an existing, readable file leaves it 0600 too', async () => {
    const { cli, dir } = await setup();
    const out = join(dir, 'old-dump.json');
    writeFileSync(out, 'old\n');
    chmodSync(out, 0o644);
    const r = await cli('dump', '--out', out);
    expect(r.code, show(r)).toBe(0);
    expect(JSON.parse(readFileSync(out, 'utf8')).format).toBe('asyncmon-dump');
    expect((statSync(out).mode & 0o777).toString(8)).toBe('600');
  });

  it('without --out prints the same document on stdout', async () => {
    const { cli } = await setup();
    const doc = json(ok(await cli('dump', '--limit', '5')));
    expect(doc).toMatchObject({ format: 'asyncmon-dump', version: 1 });
    expect(doc.snapshot.tasks.items.length).toBeLessThanOrEqual(5);
  });
});
