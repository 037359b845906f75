// The guard a failed `attach` leaves behind: a detached process that watches the target's
// inspector port for a bounded time and closes the inspector whenever it finds it open. Needed
// because SIGUSR1 is served by the target's main thread: a target blocked in a synchronous call
// opens its inspector only once the call returns, after the CLI gave up; and one that runs a
// long JavaScript loop opens it at once but opens it again, after attach closed it, when the
// loop ends (Node handles the signal both in an interrupt and on the loop). Run as
// `node inspector-guard.js <pid> <port> <until (ms since the epoch)>`.
import { spawn } from 'node:child_process';
import { isAlive } from '../src/discovery.js';
import { portHolder } from './proc-info.js';
import { closeNow, isListening, openTargetInspector } from './target-inspector.js';

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Watches until `until` or until the target is gone. */
async function guard(pid: number, port: number, until: number): Promise<void> {
  while (Date.now() < until && isAlive(pid)) {
    if ((await isListening(pid, port)) && portHolder(pid, port) !== 'other') {
      try {
        const cdp = await openTargetInspector(pid, port, Math.min(until, Date.now() + 2000));
        await closeNow(cdp, 1000);
      } catch {}
    }
    await sleep(5);
  }
}

/**
 * Starts a guard for `pid`'s inspector on `port` for `forMs`, detached (it outlives the CLI, and
 * never keeps it alive). Returns its pid, or null when it could not be started.
 */
export function startGuard(pid: number, port: number, forMs: number): number | null {
  try {
    const child = spawn(process.execPath, [__filename, String(pid), String(port), String(Date.now() + forMs)], { detached: true, stdio: 'ignore' });
    child.on('error', () => {});
    child.unref();
    return child.pid ?? null;
  } catch {
    return null;
  }
}

if (require.main === module) {
  const [pid, port, until] = process.argv.slice(2).map(Number);
  if (pid && port && until) void guard(pid, port, until).finally(() => process.exit(0));
}
