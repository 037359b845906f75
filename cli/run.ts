import { cleanText } from '../src/clean-text.js';
import { AsyncmonError } from '../src/errors.js';
import { renderResult } from '../src/render.js';
import { AgentClient } from './client.js';
import type { ExpectedPeer } from './peer-check.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { resolveTarget, tokenOf } from './target.js';
import type { Target } from './target.js';

/** Options every command that talks to an agent takes. */
export interface TargetOptions {
  target?: string;
  token?: string;
  tokenFile?: string;
  json?: boolean;
  timeout?: string;
}

export function timeoutMs(opts: TargetOptions, fallback = 5000): number {
  if (opts.timeout === undefined) return fallback;
  const n = Number(opts.timeout);
  if (!Number.isFinite(n) || n <= 0) throw new AsyncmonError('BAD_ARGUMENT', `bad --timeout "${opts.timeout}": milliseconds`);
  return n;
}

/** The process the target's discovery record names, when it has one. */
export function expectedPeer(target: Target): ExpectedPeer | undefined {
  return target.record ? { pid: target.record.pid, startTicks: target.record.startTicks ?? null } : undefined;
}

/** Resolves the target and connects; every failure is an `AsyncmonError` with a code. */
export async function connectTo(opts: TargetOptions, fallbackTimeout?: number, resolved?: Target): Promise<{ client: AgentClient; target: Target }> {
  const target = resolved ?? resolveTarget(opts.target, tokenOf(opts));
  const client = await AgentClient.connect(target.address, { token: target.token, timeoutMs: timeoutMs(opts, fallbackTimeout), expect: expectedPeer(target) });
  return { client, target };
}

/** Prints a result as text (the REPL's rendering) or, with --json, as the data itself. */
export function print(cmd: string, result: unknown, json: boolean | undefined): void {
  process.stdout.write((json ? JSON.stringify(result, null, 2) : renderResult(cmd, result, textWidth())) + '\n');
}

/** A terminal gets tables cut to its width; a pipe or a file gets whole lines (or $COLUMNS). */
export function textWidth(): number {
  return process.stdout.isTTY ? Math.max(60, process.stdout.columns || 80) : Number(process.env.COLUMNS) || 1000;
}

/** Reports an error on stderr (or as JSON on stdout) and sets the exit code. */
export function fail(err: unknown, json?: boolean): void {
  const code = exitCodeFor(err);
  // The message may carry what an agent (or an impostor) said: no control characters.
  const message = cleanText(err instanceof Error ? err.message : String(err), true);
  if (json) {
    const errorCode = err instanceof AsyncmonError ? err.code : 'INTERNAL';
    process.stdout.write(JSON.stringify({ ok: false, error: { code: errorCode, message } }, null, 2) + '\n');
  }
  process.stderr.write(`asyncmon: ${message}\n`);
  process.exitCode = code;
}

/** Runs one command against the agent and prints its result. */
export async function runOneShot(cmd: string, args: Record<string, unknown>, opts: TargetOptions): Promise<void> {
  let client: AgentClient | null = null;
  try {
    ({ client } = await connectTo(opts));
    const result = await client.call(cmd, args, timeoutMs(opts));
    print(cmd, result, opts.json);
    // `health` is a yes/no answer too: a blocked loop is not a pass.
    process.exitCode = cmd === 'health' && (result as { status?: string } | null)?.status === 'blocked' ? EXIT.failed : EXIT.ok;
  } catch (err) {
    fail(err, opts.json);
  } finally {
    client?.close();
  }
}
