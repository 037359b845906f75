import { join } from 'node:path';
import { DEFAULTS } from '../src/defaults.js';
import { listDiscovery } from '../src/discovery.js';
import { AsyncmonError } from '../src/errors.js';
import { parseLevel, parseStacks } from '../src/levels.js';
import type { Cdp } from './cdp.js';
import { EXIT } from './exit-codes.js';
import { startGuard } from './inspector-guard.js';
import { otherUsersWithProcesses } from './other-users.js';
import { nodeFlagsOf, ownerOf, portHolder, whyNotNode } from './proc-info.js';
import { fail } from './run.js';
import { busyError, closeNow, openTargetInspector, waitClosed } from './target-inspector.js';

interface AttachOptions {
  level?: string;
  stacks?: string;
  port?: string;
  readOnly?: boolean;
  refuseShared?: boolean;
  json?: boolean;
  timeout?: string;
}

type Address = { host: string; port: number | null; socket: string | null };
/** What the expression evaluated in the target answers. */
type Loaded = { pid: number; already: boolean; address: Address } | { late: true };

// The API entry of this installation; the target loads the same build the CLI runs from.
const AGENT_ENTRY = join(__dirname, '..', 'agent', 'index.js');
const MONITOR_KEY = 'asyncmon.monitor.v1';

/** Refuses what must not get SIGUSR1: no such process, not ours, not Node, or Node that ignores it. */
function checkProcess(pid: number): void {
  try {
    process.kill(pid, 0);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') throw new AsyncmonError('BAD_ARGUMENT', `no such process: ${pid}`);
    if (code === 'EPERM') throw new AsyncmonError('FORBIDDEN', `not permitted to signal process ${pid} (another user's process?)`);
    throw err;
  }
  const why = whyNotNode(pid);
  if (why) throw new AsyncmonError('BAD_ARGUMENT', `process ${pid} is not Node.js (${why}): refusing to send it SIGUSR1, which would most likely kill it`);
}

/**
 * Evaluated in the target: loads the agent on the target's loop (never inside the interrupt a
 * busy loop runs inspector messages in), then closes the inspector on the next turn whatever
 * happened, so the target closes it even when the CLI is gone. Too late (the CLI gave up
 * meanwhile): starts nothing. `require` exists only during the evaluation's first turn
 * (command-line API), so it is kept. `already`: an agent was running before; not ours.
 */
function loadExpression(startOpts: Record<string, unknown>, deadline: number, closeAfter: boolean): string {
  return `(async () => {
    const req = require;
    const close = () => { if (${closeAfter}) setImmediate(() => { try { req('node:inspector').close(); } catch {} }); };
    try {
      await new Promise((r) => setImmediate(r));
      if (Date.now() > ${deadline}) return JSON.stringify({ late: true });
      const already = globalThis[Symbol.for(${JSON.stringify(MONITOR_KEY)})] !== undefined;
      const h = await req(${JSON.stringify(AGENT_ENTRY)}).startMonitor(${JSON.stringify(startOpts)});
      return JSON.stringify({ pid: process.pid, already, address: h.address });
    } finally {
      close();
    }
  })()`;
}

function startOptions(opts: AttachOptions): Record<string, unknown> {
  const startOpts: Record<string, unknown> = {};
  if (opts.level) startOpts.level = parseLevel(opts.level);
  if (opts.stacks) startOpts.stacks = parseStacks(opts.stacks);
  if (opts.port) {
    const port = Number(opts.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new AsyncmonError('BAD_ARGUMENT', `bad --port "${opts.port}"`);
    startOpts.port = port;
  }
  if (opts.readOnly) startOpts.readOnly = true;
  return startOpts;
}

/** Warns, or with --refuse-shared refuses, when other regular users could race into the inspector. */
function checkOtherUsers(pid: number, port: number, opts: AttachOptions): void {
  const others = otherUsersWithProcesses(ownerOf(pid));
  if (others.length === 0) return;
  const who = others.slice(0, 3).map((u) => u.name).join(', ') + (others.length > 3 ? ` and ${others.length - 3} more` : '');
  const risk = `other users have processes on this machine (${who}): while attach runs, process ${pid}'s inspector listens on 127.0.0.1:${port} without authentication, and a user who connects first can run code in it and read the agent's token`;
  if (opts.refuseShared) throw new AsyncmonError('FORBIDDEN', `refusing to attach (--refuse-shared): ${risk}; start the app with --require asyncmon/register instead`);
  process.stderr.write(`asyncmon: warning: ${risk}; on a shared machine prefer the preload (--require asyncmon/register), and --refuse-shared makes attach refuse\n`);
}

/**
 * `asyncmon attach <pid>`: opens the target's inspector (SIGUSR1 through
 * `process._debugProcess`), loads this installation's agent with `require` (in scope there
 * for ESM mains too), starts its server, closes the inspector again and prints the address.
 * The inspector has no authentication, so the time it is open is kept short and reported; on
 * every failure the CLI closes it, or leaves a guard to close it when it opens later.
 */
export async function attach(pidText: string, opts: AttachOptions): Promise<void> {
  const started = Date.now();
  let cdp: Cdp | null = null;
  let signalled: { pid: number; port: number; at: number } | null = null;
  let settled = false; // the target's loop ran our expression, which closes the inspector
  try {
    if (!/^\d+$/.test(pidText)) throw new AsyncmonError('BAD_ARGUMENT', `not a pid: "${pidText}"`);
    const pid = Number(pidText);
    const timeout = Number(opts.timeout ?? 10000);
    if (!Number.isFinite(timeout) || timeout <= 0) throw new AsyncmonError('BAD_ARGUMENT', `bad --timeout "${opts.timeout}": milliseconds`);
    const deadline = started + timeout;
    const startOpts = startOptions(opts);
    checkProcess(pid);
    const present = listDiscovery().find((r) => r.pid === pid);
    if (present) return report(opts, pid, { host: present.host, port: present.port, socket: present.socket }, true, null);

    const flags = nodeFlagsOf(pid);
    if (flags.sigusr1Disabled) {
      throw new AsyncmonError('UNAVAILABLE', `process ${pid} runs with --disable-sigusr1 (${flags.sigusr1Disabled === 'NODE_OPTIONS' ? 'in its NODE_OPTIONS' : 'on its command line'}): it will not open its inspector, so attach cannot load the agent; start it with --require asyncmon/register instead`);
    }
    const port = flags.inspectPort;
    if (flags.inspectHost !== '127.0.0.1' && flags.inspectHost !== 'localhost') {
      throw new AsyncmonError('FORBIDDEN', `process ${pid}'s inspector would listen on ${flags.inspectHost}:${port} (${flags.portFrom}), not on 127.0.0.1: refusing to open it there`);
    }
    if (port === 0) throw new AsyncmonError('UNAVAILABLE', `process ${pid}'s inspector would listen on a random port (${flags.portFrom}), which attach cannot find`);
    const holder = portHolder(pid, port);
    if (holder === 'other') throw busyError(pid, port);
    // Already open (started with --inspect, or inspector.open()): use it, and leave it as it was.
    const wasOpen = holder === 'target';
    if (!wasOpen) checkOtherUsers(pid, port, opts);

    if (!wasOpen) {
      try {
        (process as unknown as { _debugProcess(pid: number): void })._debugProcess(pid);
      } catch (err) {
        throw new AsyncmonError('FORBIDDEN', `cannot signal process ${pid}: ${err instanceof Error ? err.message : String(err)}`);
      }
      signalled = { pid, port, at: Date.now() };
    }
    cdp = await openTargetInspector(pid, port, deadline);
    const answer = await cdp.evaluate(loadExpression(startOpts, deadline, !wasOpen), Math.max(1, deadline - Date.now()));
    settled = true;
    cdp.close();
    cdp = null;
    const loaded = JSON.parse(String(answer)) as Loaded;
    if ('late' in loaded) throw new AsyncmonError('UNAVAILABLE', `process ${pid} answered too late (after ${timeout} ms); nothing was started`);
    if (loaded.pid !== pid) throw new AsyncmonError('UNAVAILABLE', `the inspector on 127.0.0.1:${port} belongs to process ${String(loaded.pid)}, not ${pid}`);
    let openMs: number | null = null;
    if (signalled) {
      const closedAt = await waitClosed(pid, port, DEFAULTS.attach.closeMs);
      if (closedAt === null) throw new AsyncmonError('UNAVAILABLE', `process ${pid}'s inspector on 127.0.0.1:${port} did not close after the agent started`);
      openMs = closedAt - signalled.at;
      signalled = null;
    }
    report(opts, pid, loaded.address, loaded.already, openMs === null ? null : { port, openMs });
  } catch (err) {
    fail(await withCleanup(err, cdp, signalled, settled), opts.json);
  } finally {
    cdp?.close();
  }
}

/**
 * Closes the inspector a failed attach opened, and checks from outside that it is closed. When
 * it cannot be sure (not open yet, or open with the target's loop busy), leaves a guard that
 * closes it if it opens within DEFAULTS.attach.guardMs, and says so in the error.
 */
async function withCleanup(err: unknown, cdp: Cdp | null, signalled: { pid: number; port: number } | null, settled: boolean): Promise<unknown> {
  if (!signalled) return err;
  const { pid, port } = signalled;
  if (cdp) await closeNow(cdp, 700);
  const closed = (await waitClosed(pid, port, settled ? 800 : 100)) !== null;
  if (settled && closed) return err;
  const guard = startGuard(pid, port, DEFAULTS.attach.guardMs);
  const message = err instanceof Error ? err.message : String(err);
  const note = guard
    ? `; a guard (pid ${guard}) closes its inspector on 127.0.0.1:${port} if it opens in the next ${DEFAULTS.attach.guardMs / 60_000} min`
    : `; its inspector on 127.0.0.1:${port} may open later and stay open: kill -USR1 cannot undo it, restart the process`;
  return new AsyncmonError(err instanceof AsyncmonError ? err.code : 'UNAVAILABLE', message + note);
}

function report(opts: AttachOptions, pid: number, address: Address, already: boolean, inspector: { port: number; openMs: number } | null): void {
  const where = address.socket ?? `${address.host}:${address.port}`;
  if (opts.json) {
    process.stdout.write(JSON.stringify({ pid, address, alreadyRunning: already, inspector }, null, 2) + '\n');
  } else if (already) {
    process.stdout.write(`✓ process ${pid} already runs an agent at ${where} (not started by this attach)\n`);
  } else {
    const open = inspector ? `  its inspector (127.0.0.1:${inspector.port}) was open for ${inspector.openMs} ms\n` : '';
    process.stdout.write(`✓ agent started in process ${pid} at ${where}\n${open}  try: asyncmon ps -t ${pid}\n`);
  }
  process.exitCode = EXIT.ok;
}
