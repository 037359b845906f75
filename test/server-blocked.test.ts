/**
 * A blocked event loop, the case the agent's worker thread exists for. The fixture
 * (test/fixtures/server-blocked.cjs) busy-loops for 3 s in `spinForever` when it gets SIGUSR2.
 * While it spins: `health` still answers within 500 ms, says `blocked` and names the frame;
 * `ps`, which needs the main thread, fails at once with BLOCKED and says for how long; `stack`
 * prints the main thread's frames. Afterwards `stats` keeps the episode with its duration and
 * stack.
 */
import { existsSync } from 'node:fs';
import { get } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REGISTER, waitUntil } from './helpers/child.js';
import { WAIT_MS, markedLine, openJson, openText, startApp } from './helpers/wire.js';
import type { App, Timed, WireClient, WireMessage } from './helpers/wire.js';

const SCRIPT = 'server-blocked.cjs';
/** The answer time the agent promises while the loop is blocked. */
const ANSWER_MS = 500;
const SPIN_MS = 3000;

let app: App;
let fixtureFile: string;

beforeAll(async () => {
  if (!existsSync(REGISTER)) throw new Error(`${REGISTER} is missing: run \`npm run build\` first`);
  app = await startApp(SCRIPT, { SPIN_MS: String(SPIN_MS) });
  fixtureFile = app.child.proc.spawnargs[app.child.proc.spawnargs.length - 1];
});

afterAll(() => app?.stop());

interface Frame {
  fn: string;
  file: string;
  line: number;
  column: number;
}

describe('while the main thread spins for 3 s', () => {
  let json: WireClient;
  let text: WireClient;
  /** Watching every 200 ms from before the block. */
  let watcher: WireClient;
  /** Every health answer during the block, with how long it took. */
  const healths: Timed[] = [];
  let blockedHealth: Timed;
  let ps: Timed;
  let stackText: string;
  let textPs: string;
  let spinEndBefore: boolean;

  beforeAll(async () => {
    // Both sessions are authenticated before the loop stops.
    json = await openJson(app.port, app.token);
    text = await openText(app.port, app.token);
    expect((await json.ok('health')).status).toBe('ok');
    expect(await text.command('stack')).toMatch(/not blocked/);
    watcher = await openJson(app.port, app.token);
    await watcher.ok('watch', { interval: 200 });
    await watcher.nextEvent();

    process.kill(app.pid, 'SIGUSR2');
    await app.child.waitFor(/^SPIN-START/m);
    // Ask until the sentinel notices (its threshold is 300 ms), then ask the rest.
    for (;;) {
      const h = await json.timedRequest('health');
      healths.push(h);
      if (h.res.ok && h.res.result.status === 'blocked') break;
      if (/^SPIN-END/m.test(app.child.stdout())) throw new Error(`never reported blocked: ${JSON.stringify(healths.map((x) => x.res))}`);
    }
    blockedHealth = healths[healths.length - 1];
    ps = await json.timedRequest('ps');
    stackText = await text.command('stack');
    textPs = await text.command('ps');
    healths.push(await json.timedRequest('health'));
    spinEndBefore = /^SPIN-END/m.test(app.child.stdout());
  });

  afterAll(() => {
    json?.close();
    text?.close();
    watcher?.close();
  });

  it('everything below was asked while the loop was still blocked', () => {
    expect(spinEndBefore, app.child.stdout()).toBe(false);
  });

  it(`health answers within ${ANSWER_MS} ms, every time`, () => {
    for (const h of healths) {
      expect(h.res.ok, JSON.stringify(h.res)).toBe(true);
      expect(h.ms, `health took ${Math.round(h.ms)} ms`).toBeLessThan(ANSWER_MS);
    }
    expect(blockedHealth.ms).toBeLessThan(ANSWER_MS);
  });

  it('health says blocked, for how long, and the stack names spinForever in the fixture', () => {
    const h = blockedHealth.res.result;
    expect(h.status).toBe('blocked');
    expect(h.pid).toBe(app.pid);
    expect(h.blockedMs).toBeGreaterThanOrEqual(300);
    const frames = h.stack as Frame[];
    expect(frames[0]).toEqual({ fn: 'spinForever', file: fixtureFile, line: markedLine(SCRIPT, 'spin'), column: expect.any(Number) });
    expect(frames[1]).toEqual({ fn: 'blockTheLoop', file: fixtureFile, line: markedLine(SCRIPT, 'call'), column: expect.any(Number) });
    // What the worker knew before the block is still there.
    expect(h.loop).not.toBeNull();
    expect(h.tracker).toEqual({ level: 'tasks', stacks: 'off', disabledReason: null });
    const last = healths[healths.length - 1].res.result;
    expect(last.status).toBe('blocked');
    expect(last.blockedMs).toBeGreaterThan(h.blockedMs);
  });

  it('ps answers at once with BLOCKED, saying how long and where', () => {
    expect(ps.ms, `ps took ${Math.round(ps.ms)} ms`).toBeLessThan(ANSWER_MS);
    expect(ps.res.ok).toBe(false);
    expect(ps.res.error?.code).toBe('BLOCKED');
    expect(ps.res.error?.message).toMatch(/^event loop blocked \d+(\.\d+)?(ms|s) in spinForever \(test\/fixtures\/server-blocked\.cjs:\d+:\d+\)/);
    expect(textPs).toMatch(/^✗ event loop blocked \d+(\.\d+)?(ms|s) in spinForever/);
  });

  it('watch keeps streaming during the block, and its updates say the loop is blocked', async () => {
    await app.child.waitFor(/^SPIN-END/m, SPIN_MS + WAIT_MS);
    const start = Number(/^SPIN-START (\d+)/m.exec(app.child.stdout())![1]);
    const end = Number(/^SPIN-END (\d+)/m.exec(app.child.stdout())![1]);
    // The first update after the block shows how long the stream was quiet.
    const events = [...watcher.drainEvents(), await watcher.nextEvent()];
    const during = events.filter((e) => e.now! > start + 500 && e.now! < end);
    const summary = events.map((e) => `${e.now! - start}ms: ${Object.keys(e.changes!).join(',')} ${JSON.stringify(e.changes!.health ?? '')}`).join('\n');
    // 2.5 s at one update per 200 ms: allow for a slow machine, but not for silence.
    expect(during.length, `updates relative to SPIN-START (block lasted ${end - start} ms):\n${summary}`).toBeGreaterThanOrEqual(3);
    expect(during.some((e) => (e.changes!.health as { status?: string } | undefined)?.status === 'blocked'), summary).toBe(true);
  });

  it("text stack prints the main thread's frames", () => {
    const lines = stackText.split('\n');
    expect(lines[0]).toMatch(/^event loop blocked \d+(\.\d+)?(ms|s)$/);
    expect(lines[1].startsWith(`    at spinForever (${fixtureFile}:${markedLine(SCRIPT, 'spin')}:`), lines[1]).toBe(true);
    expect(lines[1]).toMatch(/:\d+\)$/);
    expect(lines[2]).toMatch(new RegExp(`^ {4}at blockTheLoop \\(.*server-blocked\\.cjs:${markedLine(SCRIPT, 'call')}:\\d+\\)$`));
  });
});

describe('after the block', () => {
  it('stats lists the episode with its duration and stack; health is ok again', async () => {
    await app.child.waitFor(/^SPIN-END/m, SPIN_MS + WAIT_MS);
    const json = await openJson(app.port, app.token);
    try {
      // The first heartbeat after the block may take a moment to be seen.
      const stats = await waitUntil(
        async () => {
          const res = await json.request('stats');
          return res.ok ? res.result : undefined;
        },
        WAIT_MS,
        'stats to answer after the block',
      );
      expect(stats.blocked.length).toBeGreaterThanOrEqual(1);
      const episode = stats.blocked[0];
      expect(episode).toEqual({ startedAt: expect.any(Number), durationMs: expect.any(Number), ongoing: false, stack: expect.any(Array) });
      expect(episode.durationMs).toBeGreaterThanOrEqual(2500);
      expect(episode.durationMs).toBeLessThan(SPIN_MS + 2000);
      expect(episode.stack[0]).toMatchObject({ fn: 'spinForever', file: fixtureFile, line: markedLine(SCRIPT, 'spin') });
      const spinStart = Number(/^SPIN-START (\d+)/m.exec(app.child.stdout())![1]);
      expect(Math.abs(episode.startedAt - spinStart)).toBeLessThan(1000);

      const health = await json.ok('health');
      expect(health).toMatchObject({ status: 'ok', blockedMs: 0, stack: [] });
      expect((await json.request('ps')).ok).toBe(true);
    } finally {
      json.close();
    }
    const text = await openText(app.port, app.token);
    try {
      const stats = await text.command('stats');
      expect(stats).toMatch(/^blocked episodes \(newest first\):$/m);
      expect(stats).toMatch(/^ {2}\S+Z {2}\d+\.\ds in spinForever \(test\/fixtures\/server-blocked\.cjs:\d+:\d+\)$/m);
      expect(await text.command('stack')).toMatch(/not blocked/);
    } finally {
      text.close();
    }
  });
});

/**
 * Blocked outside JavaScript (a synchronous child process here; a slow sync fs call or a native
 * addon are the same): the main thread runs no JavaScript, so the inspector cannot pause it and
 * no stack can be read. The agent must still answer — after at most its own pause timeout of
 * 1 s, not when the block ends — and say the loop is blocked outside JavaScript.
 */
describe('while the main thread waits in native code for 4 s', () => {
  const NATIVE_MS = 4000;
  /** The sentinel gives a capture 1 s before it gives up; allow that and a margin. */
  const CAPTURE_LIMIT_MS = 1500;
  let native: App;
  /** One session per question, asked all at once, so a stuck answer cannot hold up the others. */
  let answers: { health: Answer<WireMessage>; stack: Answer<string>; ps: Answer<WireMessage> };

  interface Answer<T> {
    value: T;
    ms: number;
    /** Whether the block had already ended when the answer came. */
    late: boolean;
  }

  async function timed<T>(fn: () => Promise<T>): Promise<Answer<T>> {
    const started = performance.now();
    const value = await fn();
    return { value, ms: performance.now() - started, late: /^SPIN-END/m.test(native.child.stdout()) };
  }

  beforeAll(async () => {
    native = await startApp(SCRIPT, { SPIN_MS: String(NATIVE_MS), BLOCK: 'native' });
    const json = await openJson(native.port, native.token);
    const probe = await openJson(native.port, native.token);
    const text = await openText(native.port, native.token);
    try {
      expect((await json.ok('health')).status).toBe('ok');
      process.kill(native.pid, 'SIGUSR2');
      await native.child.waitFor(/^SPIN-START/m);
      // ps fails fast with BLOCKED once the sentinel notices; one asked before that waits for
      // the main thread, so each try gets a short deadline and a session of its own.
      await waitUntil(
        async () => {
          const c = await openJson(native.port, native.token);
          try {
            return (await c.request('ps', undefined, 250)).error?.code === 'BLOCKED';
          } catch {
            return false;
          } finally {
            c.close();
          }
        },
        WAIT_MS,
        'ps to say BLOCKED',
      );
      const [health, stack, ps] = await Promise.all([
        timed(() => json.request('health', undefined, NATIVE_MS + WAIT_MS)),
        timed(() => text.command('stack', NATIVE_MS + WAIT_MS)),
        timed(() => probe.request('ps')),
      ]);
      answers = { health, stack, ps };
    } finally {
      json.close();
      probe.close();
      text.close();
    }
  });

  afterAll(() => native?.stop());

  it('health answers while still blocked, says blocked, with no stack', () => {
    const { value, ms, late } = answers.health;
    expect(late, `health answered only after the block ended, in ${Math.round(ms)} ms: ${JSON.stringify(value)}`).toBe(false);
    expect(ms).toBeLessThan(CAPTURE_LIMIT_MS);
    expect(value.result).toMatchObject({ status: 'blocked', stack: [] });
  });

  it('text stack answers while still blocked: blocked outside JavaScript', () => {
    const { value, ms, late } = answers.stack;
    expect(late, `stack answered only after the block ended, in ${Math.round(ms)} ms: ${value}`).toBe(false);
    expect(ms).toBeLessThan(CAPTURE_LIMIT_MS);
    expect(value).toMatch(/^event loop blocked \d+(\.\d+)?(ms|s) outside JavaScript/);
  });

  it('ps answers at once with BLOCKED', () => {
    const { value, ms, late } = answers.ps;
    expect(late).toBe(false);
    expect(ms).toBeLessThan(ANSWER_MS);
    expect(value.error?.code).toBe('BLOCKED');
  });
});

/**
 * Issue 13, part 5: the episode names the task whose code blocked the loop. The main thread
 * cannot answer while it spins, so the sentinel asks while its pause holds the thread. A
 * request whose handler spins (found at the default level on every Node version), and a
 * `task()` that spins after an await (AsyncLocalStorage carries it across the await).
 */
describe('a block inside a task names the task', () => {
  let web: App;
  let httpPort: number;

  beforeAll(async () => {
    web = await startApp(SCRIPT, { SPIN_MS: '1500', HTTP: '1' });
    httpPort = (JSON.parse(/^READY (.*)$/m.exec(web.child.stdout())![1]) as { httpPort: number }).httpPort;
  });

  afterAll(() => web?.stop());

  /** Starts `path` on the fixture's server and returns the first health that says blocked, and the text one. */
  async function blockedBy(path: string, nth: number): Promise<{ health: WireMessage['result']; text: string; stats: string; episode: WireMessage['result'] }> {
    const json = await openJson(web.port, web.token);
    const text = await openText(web.port, web.token);
    try {
      const ended = () => (web.child.stdout().match(/^SPIN-END/gm) ?? []).length >= nth;
      get(`http://127.0.0.1:${httpPort}${path}`, (res) => res.resume()).on('error', () => {});
      const health = await waitUntil(
        async () => {
          if (ended()) throw new Error(`never reported blocked in a task: ${web.child.stdout()}`);
          const h = await json.request('health');
          return h.ok && h.result.status === 'blocked' && h.result.stack.length > 0 ? h.result : undefined;
        },
        WAIT_MS,
        'health to say blocked',
      );
      const healthText = await text.command('health');
      expect(ended(), 'the block ended before the answers came').toBe(false);
      await waitUntil(async () => ended(), WAIT_MS, 'the block to end');
      const stats = await waitUntil(
        async () => {
          const res = await json.request('stats');
          return res.ok && res.result.blocked.length >= nth && !res.result.blocked[0].ongoing ? res.result : undefined;
        },
        WAIT_MS,
        'stats after the block',
      );
      return { health, text: healthText, stats: await text.command('stats'), episode: stats.blocked[0] };
    } finally {
      json.close();
      text.close();
    }
  }

  it('a request whose handler spins: health, text health and stats say "while handling GET /slow (task N)"', async () => {
    const { health, text, stats, episode } = await blockedBy('/slow', 1);
    expect(health.task).toEqual({ id: expect.any(Number), name: 'GET /slow', kind: 'http-server' });
    const id = health.task.id as number;
    expect(text).toMatch(new RegExp(`^✗ event loop blocked \\S+ in spinForever .* while handling GET /slow \\(task ${id}\\)$`));
    expect(episode.task).toEqual({ id, name: 'GET /slow', kind: 'http-server' });
    expect(stats).toMatch(new RegExp(`^ {2}\\S+Z {2}\\d+\\.\\ds in spinForever \\(test/fixtures/server-blocked\\.cjs:\\d+:\\d+\\) while handling GET /slow \\(task ${id}\\)$`, 'm'));
  });

  it('a task() that spins after an await: "while running nightly-report (task N)"', async () => {
    const { health, episode } = await blockedBy('/report', 2);
    expect(health.task).toEqual({ id: expect.any(Number), name: 'nightly-report', kind: 'task' });
    expect(episode.task).toEqual(health.task);
  });
});
