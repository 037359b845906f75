import { expect } from 'vitest';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { DIST, FIXTURES, REGISTER, ROOT, spawnNode, waitUntil } from './child.js';
import type { Child } from './child.js';
import { agentEnv, makeRuntimeDir, makeToken, openJson, readDiscovery } from './wire.js';
import type { HealthResult } from '../../src/model.js';

/**
 * Runs the built CLI (`node dist/cli/main.js …args`) in a child process, the way a user or a
 * script would: stdout and stderr captured with ANSI codes stripped, the exit code, and how
 * long it took. A run that outlives its timeout is killed and fails the test with what it
 * printed so far, so a hung CLI never hangs the suite.
 */

/** The built CLI's entry point. */
export const CLI = resolve(DIST, 'cli', 'main.js');

/** A generous default for one CLI run on a loaded machine. */
export const CLI_TIMEOUT_MS = 15_000;

export interface CliResult {
  /** The exit code; null only if a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, in milliseconds. */
  ms: number;
  /** When the process exited, wall clock (`Date.now()`), comparable with a fixture's clock. */
  endedAt: number;
}

export interface CliOptions {
  /** Added to the environment; `undefined` removes a variable. */
  env?: Record<string, string | undefined>;
  /** Kill the CLI and fail after this long (default 15 s). */
  timeoutMs?: number;
  cwd?: string;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007]*(?:\u0007|\u001b\\)/g;

/** Removes terminal colour and cursor codes. */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

/**
 * The environment every CLI run starts from: the test's own, minus anything that could point
 * the CLI at another agent or change its output (tokens, NODE_OPTIONS, colours).
 */
function baseEnv(): Record<string, string | undefined> {
  return {
    ...process.env,
    NODE_OPTIONS: '',
    ASYNCMON: undefined,
    ASYNCMON_TRACK: undefined,
    ASYNCMON_STACKS: undefined,
    ASYNCMON_HOST: undefined,
    ASYNCMON_PORT: undefined,
    ASYNCMON_SOCKET: undefined,
    ASYNCMON_TOKEN: undefined,
    ASYNCMON_READONLY: undefined,
    FORCE_COLOR: undefined,
    NO_COLOR: '1',
  };
}

/** Runs `asyncmon …args`; resolves when it exits, rejects if it outlives `timeoutMs`. */
export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  const timeoutMs = opts.timeoutMs ?? CLI_TIMEOUT_MS;
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...baseEnv(), ...opts.env })) if (v !== undefined) env[k] = v;
  const started = performance.now();
  const proc = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`asyncmon ${args.join(' ')} still running after ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    proc.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    // 'close', not 'exit': all output has been read by then.
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout: stripAnsi(stdout), stderr: stripAnsi(stderr), ms: performance.now() - started, endedAt: Date.now() });
    });
  });
}

/** A compact description of a run, for assertion messages. */
export function show(r: CliResult): string {
  return `exit ${r.code}${r.signal ? ` (${r.signal})` : ''} after ${Math.round(r.ms)} ms\n--- stdout ---\n${r.stdout}--- stderr ---\n${r.stderr}`;
}

/** Parses the CLI's `--json` output, failing with the whole run when it is not JSON. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function json(r: CliResult): any {
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`stdout is not JSON\n${show(r)}`);
  }
}

/** Runs the CLI against the discovery files under `runtimeDir` (its XDG_RUNTIME_DIR). */
export function cliIn(runtimeDir: string, opts: Omit<CliOptions, 'env'> & { env?: Record<string, string | undefined> } = {}) {
  return (...args: string[]) => runCli(args, { ...opts, env: { XDG_RUNTIME_DIR: runtimeDir, ...opts.env } });
}

/** A fixture app in a child process, and what the CLI tests need to reach it. */
export interface Fixture {
  child: Child;
  pid: number;
  /** The agent's port (null for an app that has no agent yet). */
  port: number | null;
  /** The agent's token (ASYNCMON_TOKEN), or null for a plain app. */
  token: string | null;
  /** Its XDG_RUNTIME_DIR: the discovery file is `<runtimeDir>/asyncmon/<pid>.json`. */
  runtimeDir: string;
  /** The parsed `READY {…}` line. */
  ready: Record<string, unknown>;
}

export interface FixtureOptions {
  /** XDG_RUNTIME_DIR for the app; the CLI must be given the same one to find it. */
  runtimeDir: string;
  env?: Record<string, string | undefined>;
  /** Preload the agent (`--require dist/agent/register.js`); default true. */
  preload?: boolean;
  /** More options for Node, before the script (e.g. `--inspect-port=…`), and another Node binary. */
  nodeArgs?: string[];
  node?: string;
  /** How long to wait for `READY` and the discovery file (default 15 s). */
  timeoutMs?: number;
}

/** Startup is slow on a loaded machine: wait generously for READY and the discovery file. */
export const START_TIMEOUT_MS = 15_000;

/**
 * Runs `test/fixtures/<script>` with ASYNCMON_PORT=0, a known token and the given
 * XDG_RUNTIME_DIR, waits for its `READY {…}` line and, with the agent preloaded, for its
 * discovery file. The caller stops it (`child.kill()`).
 */
export async function startFixture(script: string, opts: FixtureOptions): Promise<Fixture> {
  const preload = opts.preload ?? true;
  const timeoutMs = opts.timeoutMs ?? START_TIMEOUT_MS;
  const token = preload ? makeToken() : null;
  const child = spawnNode(resolve(FIXTURES, script), {
    node: opts.node,
    nodeArgs: [...(preload ? ['--require', REGISTER] : []), ...(opts.nodeArgs ?? [])],
    env: agentEnv({ ASYNCMON_PORT: '0', ASYNCMON_TOKEN: token ?? undefined, XDG_RUNTIME_DIR: opts.runtimeDir, ...opts.env }),
  });
  try {
    const m = await child.waitFor(/^READY (.*)$/m, timeoutMs);
    const ready = JSON.parse(m[1]) as Record<string, unknown>;
    const pid = Number(ready.pid);
    if (pid !== child.proc.pid) throw new Error(`READY names pid ${pid}, but the child is ${child.proc.pid}`);
    if (preload) await waitUntil(() => readDiscovery(opts.runtimeDir, pid), timeoutMs, `the discovery file of ${script} (pid ${pid})`);
    return { child, pid, port: typeof ready.port === 'number' ? ready.port : null, token, runtimeDir: opts.runtimeDir, ready };
  } catch (err) {
    child.kill();
    throw err;
  }
}

/**
 * Cleanups registered by a test, run after it (newest first) whatever happened: kill the
 * fixtures, remove the temporary directories.
 */
export class Cleanups {
  private readonly fns: Array<() => void> = [];

  add(fn: () => void): void {
    this.fns.push(fn);
  }

  /** A fresh XDG_RUNTIME_DIR of this test's own, removed afterwards. */
  runtimeDir(): string {
    const rt = makeRuntimeDir();
    this.add(rt.remove);
    return rt.dir;
  }

  /** Starts a fixture that is killed after the test. */
  async fixture(script: string, opts: FixtureOptions): Promise<Fixture> {
    const f = await startFixture(script, opts);
    this.add(() => f.child.kill());
    return f;
  }

  run(): void {
    for (const fn of this.fns.splice(0).reverse()) {
      try {
        fn();
      } catch {}
    }
  }
}

/**
 * Polls the fixture's `health` over its port until `pred` holds, and returns that answer. The
 * agent's worker refreshes what `health` knows of the main thread (tasks, loop figures,
 * pending promises) about once a second, so tests wait for it instead of sleeping.
 */
export async function waitForHealth(f: Fixture, pred: (h: HealthResult) => boolean, what: string, timeoutMs = START_TIMEOUT_MS): Promise<HealthResult> {
  if (f.port === null || f.token === null) throw new Error('waitForHealth needs a fixture with a preloaded agent');
  const c = await openJson(f.port, f.token);
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const h = (await c.ok('health')) as HealthResult;
      if (pred(h)) return h;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last health:\n${JSON.stringify(h, null, 2)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    c.close();
  }
}

/** Asserts the command succeeded, with nothing on stderr, and returns it. */
export function ok(r: CliResult): CliResult {
  expect(r.code, show(r)).toBe(0);
  expect(r.stderr, show(r)).toBe('');
  return r;
}

/** Asserts the command exited 0 (stderr may carry warnings) and returns it. */
export function exitedZero(r: CliResult): CliResult {
  expect(r.code, show(r)).toBe(0);
  return r;
}
