// One visit to the inspector of a Node process that loaded nothing, shared by `attach` and the
// no-agent `awaits`/`where`: refuse what must not get SIGUSR1, find the port it will open, open
// it (or use it as it is, when it was open already), and close it again afterwards or, when
// that cannot be made sure of, leave a guard that closes it when it opens late.
import { DEFAULTS } from '../src/defaults.js';
import { AsyncmonError } from '../src/errors.js';
import type { Cdp } from './cdp.js';
import { startGuard } from './inspector-guard.js';
import { otherUsersWithProcesses } from './other-users.js';
import { nodeFlagsOf, ownerOf, portHolder, whyNotNode } from './proc-info.js';
import { busyError, closeNow, openTargetInspector, waitClosed } from './target-inspector.js';

/** Refuses what must not get SIGUSR1: no such process, not ours, not Node, or Node that ignores it. */
export function checkProcess(pid: number): void {
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

/** What the visit is for, in its messages: `attach` loads the agent, `awaits` reads the heap. */
export interface VisitPurpose {
  /** The command, as the user typed it (`attach`, `awaits`, `where`). */
  command: string;
  /** What it could not do without the inspector: "load the agent". */
  doing: string;
  /** What a user who raced in first could also get, besides running code ("and read the agent's token"). */
  alsoAtRisk: string;
}

/**
 * The inspector of `pid`, opened for one purpose and closed again. `open` reads the target's
 * flags (the port, and whether SIGUSR1 is disabled), refuses a non-loopback or random port and a
 * port someone else holds, warns (or refuses) when other users could race in, sends SIGUSR1 and
 * connects. `close` closes what this visit opened and says how long it was open; `cleanup`
 * does the same after a failure, leaving a guard when it cannot be sure.
 */
export class InspectorVisit {
  cdp: Cdp | null = null;
  port = 0;
  /** Set once SIGUSR1 was sent: this visit opened the inspector and must close it. */
  signalled: { at: number } | null = null;

  constructor(
    readonly pid: number,
    private readonly purpose: VisitPurpose,
  ) {}

  /** Whether the inspector was open before this visit (then it is left as it was). */
  get wasOpen(): boolean {
    return this.cdp !== null && this.signalled === null;
  }

  async open(deadline: number, opts: { refuseShared?: boolean }): Promise<Cdp> {
    const { pid, purpose } = this;
    const flags = nodeFlagsOf(pid);
    if (flags.sigusr1Disabled) {
      throw new AsyncmonError('UNAVAILABLE', `process ${pid} runs with --disable-sigusr1 (${flags.sigusr1Disabled === 'NODE_OPTIONS' ? 'in its NODE_OPTIONS' : 'on its command line'}): it will not open its inspector, so ${purpose.command} cannot ${purpose.doing}; start it with --require asyncmon/register instead`);
    }
    const port = (this.port = flags.inspectPort);
    if (flags.inspectHost !== '127.0.0.1' && flags.inspectHost !== 'localhost') {
      throw new AsyncmonError('FORBIDDEN', `process ${pid}'s inspector would listen on ${flags.inspectHost}:${port} (${flags.portFrom}), not on 127.0.0.1: refusing to open it there`);
    }
    if (port === 0) throw new AsyncmonError('UNAVAILABLE', `process ${pid}'s inspector would listen on a random port (${flags.portFrom}), which ${purpose.command} cannot find`);
    const holder = portHolder(pid, port);
    if (holder === 'other') throw busyError(pid, port);
    // Already open (started with --inspect, or inspector.open()): use it, and leave it as it was.
    if (holder !== 'target') {
      this.checkOtherUsers(opts.refuseShared === true);
      try {
        (process as unknown as { _debugProcess(pid: number): void })._debugProcess(pid);
      } catch (err) {
        throw new AsyncmonError('FORBIDDEN', `cannot signal process ${pid}: ${err instanceof Error ? err.message : String(err)}`);
      }
      this.signalled = { at: Date.now() };
    }
    this.cdp = await openTargetInspector(pid, port, deadline);
    return this.cdp;
  }

  /**
   * Ends the visit after success: closes the inspector when this visit opened it (unless
   * `closedByTarget`: the target was told to close it itself) and waits until nothing listens
   * on its port. Resolves with how long it was open, or null when it was open before.
   */
  async close(closedByTarget = false): Promise<number | null> {
    const cdp = this.cdp;
    this.cdp = null;
    if (!this.signalled) {
      cdp?.close();
      return null;
    }
    if (cdp && !closedByTarget) await closeNow(cdp, 1000);
    cdp?.close();
    const closedAt = await waitClosed(this.pid, this.port, DEFAULTS.attach.closeMs);
    if (closedAt === null) throw new AsyncmonError('UNAVAILABLE', `process ${this.pid}'s inspector on 127.0.0.1:${this.port} did not close after ${this.purpose.command}`);
    const openMs = closedAt - this.signalled.at;
    this.signalled = null;
    return openMs;
  }

  /**
   * Closes the inspector a failed visit opened, and checks from outside that it is closed. When
   * it cannot be sure (not open yet, or open with the target's loop busy), leaves a guard that
   * closes it if it opens within DEFAULTS.attach.guardMs, and says so in the error. `settled`:
   * the target's loop already ran what closes it.
   */
  async cleanup(err: unknown, settled = false): Promise<unknown> {
    const cdp = this.cdp;
    this.cdp = null;
    if (!this.signalled) {
      cdp?.close();
      return err;
    }
    const { pid, port } = this;
    this.signalled = null;
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

  /** Warns, or with --refuse-shared refuses, when other regular users could race into the inspector. */
  private checkOtherUsers(refuseShared: boolean): void {
    const { pid, port, purpose } = this;
    const others = otherUsersWithProcesses(ownerOf(pid));
    if (others.length === 0) return;
    const who = others.slice(0, 3).map((u) => u.name).join(', ') + (others.length > 3 ? ` and ${others.length - 3} more` : '');
    const risk = `other users have processes on this machine (${who}): while ${purpose.command} runs, process ${pid}'s inspector listens on 127.0.0.1:${port} without authentication, and a user who connects first can run code in it${purpose.alsoAtRisk}`;
    if (refuseShared) throw new AsyncmonError('FORBIDDEN', `refusing to ${purpose.command} (--refuse-shared): ${risk}; start the app with --require asyncmon/register instead`);
    process.stderr.write(`asyncmon: warning: ${risk}; on a shared machine prefer the preload (--require asyncmon/register), and --refuse-shared makes ${purpose.command} refuse\n`);
  }
}
