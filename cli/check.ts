import { AsyncmonError } from '../src/errors.js';
import { formatChain, formatDuration, formatSite, parseDuration } from '../src/format.js';
import type { AwaitsResult, HealthResult, Page, SuspendedFrame, TaskInfo } from '../src/model.js';
import { blockedTaskText } from '../src/render.js';
import type { Outcome } from './all.js';
import type { AgentClient } from './client.js';
import { EXIT } from './exit-codes.js';
import { connectTo, fail, timeoutMs } from './run.js';
import type { TargetOptions } from './run.js';
import type { Target } from './target.js';

interface CheckOptions extends TargetOptions {
  maxLag?: string;
  maxBlocked?: string;
  maxTaskAge?: string;
  maxPending?: string;
  maxElu?: string;
  lost?: boolean;
  cycles?: boolean;
  deep?: boolean;
  /** Whether --timeout is commander's default (a heap snapshot then gets HEAP_TIMEOUT_MS). */
  timeoutIsDefault?: boolean;
  /** Every agent this user can discover (cli/all.ts). */
  all?: boolean;
}

/** How long the heap checks may take when --timeout is not given: a snapshot, its parse, its lines. */
const HEAP_TIMEOUT_MS = 15_000;

/** One check's verdict, with the culprit named when it failed. */
export interface CheckResult {
  name: 'blocked' | 'lag' | 'task-age' | 'pending' | 'elu' | 'lost' | 'cycles';
  ok: boolean;
  value: number | null;
  limit: number;
  message: string;
  /** How many culprits (tasks over the age), when a check can have several. */
  count?: number;
  /** The culprits listed under the message: every one up to a screenful, else the oldest few. */
  tasks?: TaskInfo[];
  /** One line per listed culprit, printed under the message. */
  details?: string[];
}

/** Up to this many tasks over the age are all listed; beyond it, a count and the oldest few. */
export const TASKS_LISTED = 10;
const TASKS_SUMMARISED = 5;

function number(text: string | undefined, flag: string, max = Infinity, what = 'a number from 0'): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0 || n > max) throw new AsyncmonError('BAD_ARGUMENT', `bad ${flag} "${text}": ${max === Infinity ? what : `${what} to ${max}`}`);
  return n;
}

/**
 * A duration with its unit (500ms, 30s, 2m): a bare number is refused, since `30` could mean
 * 30 ms or 30 s. `msAllowed`: a flag whose name says milliseconds takes a bare number as such.
 */
function duration(text: string | undefined, flag: string, msAllowed = false): number | undefined {
  if (text === undefined) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(text) && !msAllowed) throw new AsyncmonError('BAD_ARGUMENT', `bad ${flag} "${text}": give a unit, e.g. ${text.trim()}s or ${text.trim()}ms`);
  try {
    return parseDuration(text);
  } catch {
    throw new AsyncmonError('BAD_ARGUMENT', `bad ${flag} "${text}": use e.g. 500ms, 30s, 2m`);
  }
}

function taskLine(t: TaskInfo, max: string): string {
  const waits = t.lost
    ? ', can never be answered (from the heap)'
    : t.waitsOn
      ? `, waits on ${formatSite(t.waitsOn)}${t.waitsFrom === 'heap' ? ' (from the heap)' : ''}`
      : t.site
        ? `, created at ${formatSite(t.site)}`
        : '';
  return `task ${t.id} ${t.name} is ${formatDuration(t.ageMs)} old${max}${waits}`;
}

/**
 * The task-age check: one check however many tasks fail it. `old` is what `ps --older` found
 * (every task over the age, oldest first, with their count); without it (the loop is blocked)
 * the oldest tasks `health` carries.
 */
function taskAge(h: HealthResult, limit: number, old: Page<TaskInfo> | null): CheckResult {
  const max = formatDuration(limit);
  const known = old ? old.items : h.oldestTasks.filter((t) => t.ageMs > limit);
  // From health alone (the oldest few): when all of them are over, more may be.
  const atLeast = !old && known.length === h.oldestTasks.length && (h.tasks ?? 0) > known.length;
  const count = old ? old.total : known.length;
  if (count === 0) return { name: 'task-age', ok: true, value: h.oldestTasks[0]?.ageMs ?? 0, limit, message: `no task older than ${max}` };
  const value = known[0]?.ageMs ?? limit;
  if (count === 1 && known.length === 1) {
    return { name: 'task-age', ok: false, value, limit, message: taskLine(known[0], ` (max ${max})`), count, tasks: known };
  }
  const listed = count > TASKS_LISTED ? known.slice(0, TASKS_SUMMARISED) : known.slice(0, TASKS_LISTED);
  const message = `${atLeast ? 'at least ' : ''}${count} tasks over ${max}${listed.length < count ? `; the ${listed.length} oldest:` : ':'}`;
  return { name: 'task-age', ok: false, value, limit, message, count, tasks: listed, details: listed.map((t) => taskLine(t, '')) };
}

function frameText(f: SuspendedFrame): string {
  return f.site ? formatSite(f.site) : f.start ? formatSite(f.start) : f.fn || '(anonymous)';
}

function list(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/**
 * `--lost` and `--cycles`, from one heap snapshot (`awaits`): a live request nothing left in the
 * process can answer, and async functions that can only be resolved by each other. `a` is the
 * error message when no snapshot could be taken: the check could not be made, so it fails.
 */
export function heapChecks(a: AwaitsResult | string, want: { lost?: boolean; cycles?: boolean }): CheckResult[] {
  const out: CheckResult[] = [];
  const failed = (name: 'lost' | 'cycles', message: string): CheckResult => ({ name, ok: false, value: null, limit: 0, message });
  if (typeof a === 'string') {
    if (want.lost) out.push(failed('lost', `lost requests not checked: ${a}`));
    if (want.cycles) out.push(failed('cycles', `await cycles not checked: ${a}`));
    return out;
  }
  if (want.lost) {
    const lines = a.lost.map((l) => `${l.request ?? l.task?.name ?? 'a request'}${l.task ? ` (task ${l.task.id})` : ''} can never be answered`);
    const why = ": nothing left in the process can resolve what it waited on (its handler's chain was collected)";
    out.push(
      lines.length === 0
        ? { name: 'lost', ok: true, value: 0, limit: 0, message: 'no request that nothing can answer' }
        : lines.length === 1
          ? { name: 'lost', ok: false, value: 1, limit: 0, message: lines[0] + why }
          : { name: 'lost', ok: false, value: lines.length, limit: 0, message: `${lines.length} requests can never be answered${why}:`, count: lines.length, details: lines.slice(0, TASKS_LISTED) },
    );
  }
  if (want.cycles) {
    const lines = a.cycles.map((c) => `${list(c.frames.map(frameText))} can only be resolved by each other`);
    out.push(
      lines.length === 0
        ? { name: 'cycles', ok: true, value: 0, limit: 0, message: 'no async functions waiting on each other' }
        : lines.length === 1
          ? { name: 'cycles', ok: false, value: 1, limit: 0, message: `${lines[0]}: a deadlock` }
          : { name: 'cycles', ok: false, value: lines.length, limit: 0, message: `${lines.length} deadlocks:`, count: lines.length, details: lines.slice(0, TASKS_LISTED) },
    );
  }
  return out;
}

/** Evaluates the thresholds against what `health` (and `ps --older`) reported. Pure, so it is easy to test. */
export function evaluate(
  h: HealthResult,
  limits: { lag?: number; blocked: number; taskAge?: number; pending?: number; elu?: number },
  old: Page<TaskInfo> | null = null,
): CheckResult[] {
  const out: CheckResult[] = [];
  const blockedTop = formatChain(h.stack, 3);
  // Stopped by a developer's debugger is not the app's fault, but the loop does not run either.
  const paused = h.status === 'paused';
  out.push(
    paused
      ? { name: 'blocked', ok: h.blockedMs <= limits.blocked, value: h.blockedMs, limit: limits.blocked, message: `paused in a debugger ${formatDuration(h.blockedMs)} (max ${formatDuration(limits.blocked)})${blockedTop ? ` at ${blockedTop}` : ''}` }
      : h.blockedMs > limits.blocked
      ? { name: 'blocked', ok: false, value: h.blockedMs, limit: limits.blocked, message: `event loop blocked ${formatDuration(h.blockedMs)} (max ${formatDuration(limits.blocked)})${blockedTop ? ` in ${blockedTop}` : ' outside JavaScript'}${blockedTaskText(h.task)}` }
      : { name: 'blocked', ok: true, value: h.blockedMs, limit: limits.blocked, message: h.blockedMs > 0 ? `event loop blocked ${formatDuration(h.blockedMs)}, within ${formatDuration(limits.blocked)}` : 'event loop not blocked' },
  );
  if (limits.lag !== undefined) {
    const p99 = h.loop?.delayMs.p99 ?? null;
    const ok = p99 !== null && p99 <= limits.lag;
    out.push({ name: 'lag', ok, value: p99, limit: limits.lag, message: p99 === null ? 'no loop figures yet' : `event-loop delay p99 ${p99}ms (max ${limits.lag}ms)` });
  }
  if (limits.elu !== undefined) {
    const elu = h.loop?.utilization ?? null;
    const ok = elu !== null && elu <= limits.elu;
    out.push({ name: 'elu', ok, value: elu, limit: limits.elu, message: elu === null ? 'no loop figures yet' : `event-loop utilization ${elu} (max ${limits.elu})` });
  }
  if (limits.pending !== undefined) {
    const n = h.pendingPromises;
    out.push(
      n === null
        ? { name: 'pending', ok: false, value: null, limit: limits.pending, message: 'pending promises are not tracked at this level: asyncmon track promises' }
        : { name: 'pending', ok: n <= limits.pending, value: n, limit: limits.pending, message: `${n} pending promises (max ${limits.pending})` },
    );
  }
  if (limits.taskAge !== undefined) out.push(taskAge(h, limits.taskAge, old));
  return out;
}

/**
 * `asyncmon check`: prints a line per failing check naming the culprit, then a summary. With
 * `one` (a process of `check --all`), it checks that target and leaves its lines, JSON row and
 * exit code in `one.outcome` instead of printing them.
 */
export async function check(opts: CheckOptions, one?: { target: Target; outcome: Outcome }): Promise<void> {
  if (opts.all && !one) {
    const all = await import('./all.js');
    return all.runAll(
      opts,
      async (target) => {
        const run = { target, outcome: { exit: EXIT.ok, lines: [] as string[], data: {} } };
        await check(opts, run);
        return run.outcome;
      },
      all.checkSummary,
    );
  }
  const write = (text: string) => (one ? one.outcome.lines.push(text.replace(/\n$/, '')) : process.stdout.write(text));
  let client: AgentClient | null = null;
  try {
    const limits = {
      lag: duration(opts.maxLag, '--max-lag', true),
      blocked: duration(opts.maxBlocked ?? '1000', '--max-blocked', true) ?? 1000,
      taskAge: duration(opts.maxTaskAge, '--max-task-age'),
      pending: number(opts.maxPending, '--max-pending', Infinity, 'a whole number from 0'),
      elu: number(opts.maxElu, '--max-elu', 1, 'a fraction from 0'),
    };
    if (opts.deep && limits.taskAge === undefined) throw new AsyncmonError('BAD_ARGUMENT', '--deep goes with --max-task-age: it says where the old tasks are parked');
    const heap = opts.lost === true || opts.cycles === true;
    // A heap snapshot takes seconds on a big heap: without a --timeout of the user's, room for it.
    const total = heap || opts.deep ? (opts.timeoutIsDefault ? HEAP_TIMEOUT_MS : timeoutMs(opts, HEAP_TIMEOUT_MS)) : timeoutMs(opts, 2000);
    ({ client } = await connectTo({ ...opts, timeout: String(total) }, 2000, one?.target));
    // One --timeout for every call.
    const deadline = Date.now() + total;
    const left = () => Math.max(100, deadline - Date.now());
    const health = (await client.call('health', {}, left())) as HealthResult;
    // Every task over the age, from the main thread; while it is blocked, health's oldest few.
    let old: Page<TaskInfo> | null = null;
    if (limits.taskAge !== undefined && health.status === 'ok') {
      old = (await client.call('ps', { older: Math.floor(limits.taskAge), limit: TASKS_LISTED, stuck: true, ...(opts.deep ? { deep: true } : {}) }, left()).catch(() => null)) as Page<TaskInfo> | null;
    }
    const results = evaluate(health, limits, old);
    // The same snapshot answers --deep's ps above, if it took one.
    let snapshot: AwaitsResult | null = null;
    if (heap) {
      const a = await client.call('awaits', { limit: 0 }, left()).then(
        (r) => r as AwaitsResult,
        (err: unknown) => `no heap snapshot: ${err instanceof Error ? err.message : String(err)}`,
      );
      if (typeof a !== 'string') snapshot = a;
      results.push(...heapChecks(a, opts));
    }
    const failed = results.filter((r) => !r.ok);
    const heapInfo = snapshot ? { heap: { pauseMs: snapshot.pauseMs, takenAt: snapshot.takenAt } } : {};
    if (one) one.outcome.data = { checks: results, ...heapInfo };
    if (opts.json && !one) {
      process.stdout.write(JSON.stringify({ ok: failed.length === 0, pid: health.pid, checks: results, ...heapInfo }, null, 2) + '\n');
    } else {
      for (const r of failed) {
        write(`✗ ${r.message}\n`);
        for (const line of r.details ?? []) write(`    ${line}\n`);
      }
      write(
        failed.length === 0
          ? `✓ pid ${health.pid}: all ${results.length} checks passed\n`
          : `✗ pid ${health.pid}: ${failed.length} of ${results.length} checks failed\n`,
      );
      if (snapshot) write(`(the host paused ${formatDuration(snapshot.pauseMs)} for a heap snapshot)\n`);
    }
    if (one) one.outcome.exit = failed.length === 0 ? EXIT.ok : EXIT.failed;
    else process.exitCode = failed.length === 0 ? EXIT.ok : EXIT.failed;
  } catch (err) {
    if (one) throw err;
    fail(err, opts.json);
  } finally {
    client?.close();
  }
}
