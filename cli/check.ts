import { AsyncmonError } from '../src/errors.js';
import { formatDuration, formatSite, parseDuration } from '../src/format.js';
import type { HealthResult } from '../src/model.js';
import { blockedTaskText } from '../src/render.js';
import type { AgentClient } from './client.js';
import { EXIT } from './exit-codes.js';
import { connectTo, fail, timeoutMs } from './run.js';
import type { TargetOptions } from './run.js';

interface CheckOptions extends TargetOptions {
  maxLag?: string;
  maxBlocked?: string;
  maxTaskAge?: string;
  maxPending?: string;
  maxElu?: string;
}

/** One check's verdict, with the culprit named when it failed. */
export interface CheckResult {
  name: 'blocked' | 'lag' | 'task-age' | 'pending' | 'elu';
  ok: boolean;
  value: number | null;
  limit: number;
  message: string;
}

function number(text: string | undefined, flag: string, max = Infinity): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || n > max) throw new AsyncmonError('BAD_ARGUMENT', `bad ${flag} "${text}"`);
  return n;
}

function duration(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  try {
    return parseDuration(text);
  } catch {
    throw new AsyncmonError('BAD_ARGUMENT', `bad ${flag} "${text}": use e.g. 500ms, 30s, 2m`);
  }
}

/** Evaluates the thresholds against what `health` reported. Pure, so it is easy to test. */
export function evaluate(h: HealthResult, limits: { lag?: number; blocked: number; taskAge?: number; pending?: number; elu?: number }): CheckResult[] {
  const out: CheckResult[] = [];
  const blockedTop = h.stack.slice(0, 3).map(formatSite).join(' < ');
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
  if (limits.taskAge !== undefined) {
    const old = h.oldestTasks.filter((t) => t.ageMs > limits.taskAge!);
    if (old.length === 0) out.push({ name: 'task-age', ok: true, value: h.oldestTasks[0]?.ageMs ?? 0, limit: limits.taskAge, message: `no task older than ${formatDuration(limits.taskAge)}` });
    for (const t of old) {
      const waits = t.waitsOn ? `, waits on ${formatSite(t.waitsOn)}` : t.site ? `, created at ${formatSite(t.site)}` : '';
      out.push({ name: 'task-age', ok: false, value: t.ageMs, limit: limits.taskAge, message: `task ${t.id} ${t.name} is ${formatDuration(t.ageMs)} old (max ${formatDuration(limits.taskAge)})${waits}` });
    }
  }
  return out;
}

/** `asyncmon check`: prints a line per failing check naming the culprit, then a summary. */
export async function check(opts: CheckOptions): Promise<void> {
  let client: AgentClient | null = null;
  try {
    const limits = {
      lag: number(opts.maxLag, '--max-lag'),
      blocked: number(opts.maxBlocked ?? '1000', '--max-blocked') ?? 1000,
      taskAge: duration(opts.maxTaskAge, '--max-task-age'),
      pending: number(opts.maxPending, '--max-pending'),
      elu: number(opts.maxElu, '--max-elu', 1),
    };
    ({ client } = await connectTo(opts, 2000));
    const health = (await client.call('health', {}, timeoutMs(opts, 2000))) as HealthResult;
    const results = evaluate(health, limits);
    const failed = results.filter((r) => !r.ok);
    if (opts.json) {
      process.stdout.write(JSON.stringify({ ok: failed.length === 0, pid: health.pid, checks: results }, null, 2) + '\n');
    } else {
      for (const r of failed) process.stdout.write(`✗ ${r.message}\n`);
      process.stdout.write(
        failed.length === 0
          ? `✓ pid ${health.pid}: all ${results.length} checks passed\n`
          : `✗ pid ${health.pid}: ${failed.length} of ${results.length} checks failed\n`,
      );
    }
    process.exitCode = failed.length === 0 ? EXIT.ok : EXIT.failed;
  } catch (err) {
    fail(err, opts.json);
  } finally {
    client?.close();
  }
}
