/**
 * `--all` (`check --all`, `ps --all`): one command against every agent this user can discover
 * on the machine (a cluster's primary and workers, several services), in parallel, each with
 * the same `--timeout`. One block per process, or with `--json` one document with a row per
 * process; the exit code is the worst of theirs.
 */
import { cleanText } from '../src/clean-text.js';
import { ENV } from '../src/defaults.js';
import { scanDiscovery } from '../src/discovery.js';
import type { DiscoveryRecord } from '../src/discovery.js';
import { AsyncmonError } from '../src/errors.js';
import { renderResult } from '../src/render.js';
import { describe } from './client.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { connectTo, fail, textWidth, timeoutMs } from './run.js';
import type { TargetOptions } from './run.js';
import { fromRecord, tokenOf } from './target.js';
import type { Target } from './target.js';

export interface AllOptions extends TargetOptions {
  all?: boolean;
}

/** What one process answered: its lines of text, its JSON row's fields, its exit code. */
export interface Outcome {
  exit: number;
  lines: string[];
  data: Record<string, unknown>;
}

/** A process's row in the JSON document. */
export interface ProcessRow {
  pid: number;
  address: string;
  command: string;
  exit: number;
  ok: boolean;
  error?: { code: string; message: string };
  [field: string]: unknown;
}

/**
 * How bad an exit code is, for the worst of several: a pass (0) < a failed check or a refusal
 * (1) < unreachable or no answer in time (3: nothing is known about that process, which may be
 * gone) < usage (2: the command itself is wrong, so no process could be judged).
 */
const SEVERITY: Record<number, number> = { [EXIT.ok]: 0, [EXIT.failed]: 1, [EXIT.unreachable]: 2, [EXIT.usage]: 3 };

/** The worst of several exit codes (see SEVERITY); 0 for none. */
export function worstExit(codes: readonly number[]): number {
  let worst: number = EXIT.ok;
  for (const c of codes) if ((SEVERITY[c] ?? SEVERITY[EXIT.failed]) > (SEVERITY[worst] ?? 0)) worst = c;
  return worst;
}

/** Every agent this user can discover, as targets; says on stderr which records were refused. */
export function allTargets(opts: AllOptions): Array<{ record: DiscoveryRecord; target: Target }> {
  if (opts.target !== undefined) throw new AsyncmonError('BAD_ARGUMENT', '--all and -t exclude each other: --all runs against every agent asyncmon ls lists');
  const token = tokenOf(opts) ?? process.env[ENV.token] ?? undefined;
  const { records, refused } = scanDiscovery();
  for (const why of refused) process.stderr.write(`asyncmon: refused ${cleanText(why)}: not this user's, or not private\n`);
  if (records.length === 0) {
    throw new AsyncmonError('NO_TARGET', 'no asyncmon agent found for this user: start one with node --require asyncmon/register app.js, or asyncmon attach <pid>');
  }
  return records.sort((a, b) => a.pid - b.pid).map((record) => ({ record, target: fromRecord(record, token) }));
}

function command(record: DiscoveryRecord): string {
  return cleanText(record.argv.join(' '));
}

/** A process's header line in the text output: pid, address, command line, cut to the width. */
function header(record: DiscoveryRecord, target: Target, width: number): string {
  const line = `── pid ${record.pid} · ${describe(target.address)} · ${command(record)}`;
  return line.length > width ? line.slice(0, Math.max(1, width - 1)) + '…' : line;
}

/**
 * Runs `one` against every agent at once and prints the blocks (or the document); sets the
 * worst exit code. `summary` may add a last line to the text.
 */
export async function runAll(opts: AllOptions, one: (target: Target) => Promise<Outcome>, summary?: (rows: ProcessRow[]) => string): Promise<void> {
  let agents: ReturnType<typeof allTargets>;
  try {
    timeoutMs(opts);
    agents = allTargets(opts);
  } catch (err) {
    fail(err, opts.json);
    return;
  }
  const outcomes = await Promise.all(
    agents.map(({ target }) =>
      one(target).catch((err: unknown): Outcome & { err: unknown } => {
        const message = cleanText(err instanceof Error ? err.message : String(err));
        const code = err instanceof AsyncmonError ? err.code : 'INTERNAL';
        return { exit: exitCodeFor(err), lines: [`✗ ${message}`], data: { error: { code, message } }, err };
      }),
    ),
  );
  // The same usage error from every process (a bad --trace, a bad limit) is said once.
  const errs = outcomes.map((o) => ('err' in o ? (o as { err: unknown }).err : null));
  const first = errs[0];
  if (first && outcomes.every((o, i) => o.exit === EXIT.usage && errs[i] instanceof Error && (errs[i] as Error).message === (first as Error).message)) {
    fail(first, opts.json);
    return;
  }
  const rows: ProcessRow[] = agents.map(({ record, target }, i) => ({
    pid: record.pid,
    address: describe(target.address),
    command: command(record),
    exit: outcomes[i].exit,
    ok: outcomes[i].exit === EXIT.ok,
    ...outcomes[i].data,
  }));
  const exit = worstExit(rows.map((r) => r.exit));
  if (opts.json) {
    process.stdout.write(JSON.stringify({ ok: exit === EXIT.ok, exit, processes: rows }, null, 2) + '\n');
  } else {
    const width = textWidth();
    const blocks = agents.map(({ record, target }, i) => [header(record, target, width), ...outcomes[i].lines].join('\n'));
    process.stdout.write(blocks.join('\n\n') + '\n' + (summary ? `\n${summary(rows)}\n` : ''));
  }
  process.exitCode = exit;
}

/** `ps --all` (and any one-shot command with --all): the command's answer from every agent. */
export async function oneShotAll(cmd: string, args: Record<string, unknown>, opts: AllOptions): Promise<void> {
  await runAll(opts, async (target) => {
    const { client } = await connectTo(opts, undefined, target);
    try {
      const result = await client.call(cmd, args, timeoutMs(opts));
      return { exit: EXIT.ok, lines: [renderResult(cmd, result, textWidth())], data: { result } };
    } finally {
      client.close();
    }
  });
}

/** The last line of `check --all`: how many processes passed, failed, were unreachable. */
export function checkSummary(rows: ProcessRow[]): string {
  const n = (exit: number) => rows.filter((r) => r.exit === exit).length;
  const parts = [`${n(EXIT.ok)} passed`];
  if (n(EXIT.failed) > 0) parts.push(`${n(EXIT.failed)} failed`);
  if (n(EXIT.unreachable) > 0) parts.push(`${n(EXIT.unreachable)} unreachable`);
  if (n(EXIT.usage) > 0) parts.push(`${n(EXIT.usage)} refused the command`);
  const all = rows.length === 1 ? '1 process' : `${rows.length} processes`;
  return `${rows.every((r) => r.ok) ? '✓' : '✗'} ${all}: ${parts.join(', ')}`;
}
