import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
export { isAlive } from '../../src/discovery.js';

/** The repository root, and the built package's entry points. */
export const ROOT = resolve(__dirname, '..', '..');
export const DIST = resolve(ROOT, 'dist');
export const REGISTER = resolve(DIST, 'agent', 'register.js');
export const FIXTURES = resolve(ROOT, 'test', 'fixtures');

/** A fixture app in a child process, with its output collected and waits on that output. */
export interface Child {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in stdout, or rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or signal name) when the process ends by itself. */
  exited: Promise<number | string>;
  kill(): void;
}

export interface SpawnOptions {
  /** The Node binary (default: the one running the tests). */
  node?: string;
  nodeArgs?: string[];
  args?: string[];
  env?: Record<string, string | undefined>;
  cwd?: string;
}

/** Runs `node [nodeArgs] <script> [args]` with stdout and stderr captured. */
export function spawnNode(script: string, opts: SpawnOptions = {}): Child {
  const proc = spawn(opts.node ?? process.execPath, [...(opts.nodeArgs ?? []), script, ...(opts.args ?? [])], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, NODE_OPTIONS: '', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of waiters) w();
  });
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | string>((res) => proc.on('exit', (code, signal) => res(code ?? signal ?? -1)));
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    kill: () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    },
    waitFor(pattern, timeoutMs = 10_000) {
      return new Promise((res, rej) => {
        const check = () => {
          const m = out.match(pattern);
          if (m) {
            cleanup();
            res(m);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          rej(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern}\nstdout:\n${out}\nstderr:\n${err}`));
        }, timeoutMs);
        const onExit = () => {
          check();
          if (waiters.has(check)) {
            cleanup();
            rej(new Error(`process exited while waiting for ${pattern}\nstdout:\n${out}\nstderr:\n${err}`));
          }
        };
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
          proc.off('exit', onExit);
        };
        waiters.add(check);
        proc.on('exit', onExit);
        check();
      });
    },
  };
}

/** Polls `fn` until it returns a truthy value, or fails after `timeoutMs`. */
export async function waitUntil<T>(fn: () => T | Promise<T>, timeoutMs = 5_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Resolves with the exit code, or rejects if the process is still running after `timeoutMs`. */
export function exitWithin(child: Child, timeoutMs: number): Promise<number | string> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    child.exited,
    new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new Error(`still running after ${timeoutMs} ms\nstdout:\n${child.stdout()}\nstderr:\n${child.stderr()}`)), timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** GET http://127.0.0.1:<port><path> (a fixture's own HTTP port): the body, or an error. */
export function httpGet(port: number, path: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((res, rej) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => (body += d));
      r.on('end', () => res(body));
      r.on('error', rej);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', rej);
  });
}

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}
