// Reaching the inspector of one process, and only that process's: wait for its port to open,
// check that the target itself holds it (not a stand-in another local user bound first), follow
// only a WebSocket URL on the loopback address and port that were polled, and close it again.
import { connect } from 'node:net';
import { AsyncmonError } from '../src/errors.js';
import { Cdp, listTargets } from './cdp.js';
import { portHolder, somethingListens } from './proc-info.js';

/** How often the inspector's port is looked at while waiting for it to open or close. */
const POLL_MS = 2;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** 'open' when something accepts on 127.0.0.1:`port`, else the error code. Bounded by `timeoutMs`. */
function probe(port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    const done = (state: string) => {
      clearTimeout(timer);
      s.destroy();
      resolve(state);
    };
    const timer = setTimeout(() => done('timeout'), Math.max(1, timeoutMs));
    s.once('connect', () => done('open'));
    s.on('error', (err: NodeJS.ErrnoException) => done(err.code ?? 'error'));
  });
}

/** Whether 127.0.0.1:`port` takes connections: from /proc when it can tell, else by connecting. */
export async function isListening(pid: number, port: number): Promise<boolean> {
  const seen = somethingListens(pid, port);
  if (seen !== null) return seen;
  return (await probe(port, 200)) === 'open';
}

/** Refuses a port that someone other than `pid` holds. */
export function busyError(pid: number, port: number): AsyncmonError {
  return new AsyncmonError('UNAVAILABLE', `inspector port 127.0.0.1:${port} is held by another process, not by process ${pid}: refusing to talk to it (process ${pid} cannot open its inspector there)`);
}

/**
 * Waits until `pid`'s inspector listens on 127.0.0.1:`port` (or `deadline`), and opens a
 * session to it. Rejects, with a reason, when someone else holds the port or the inspector
 * offers a WebSocket anywhere but the address polled.
 */
export async function openTargetInspector(pid: number, port: number, deadline: number): Promise<Cdp> {
  const what = `process ${pid}`;
  let lastError = 'nothing listens there';
  while (Date.now() < deadline) {
    if (!(await isListening(pid, port))) {
      await sleep(POLL_MS);
      continue;
    }
    const holder = portHolder(pid, port);
    if (holder === 'other') throw busyError(pid, port);
    try {
      const targets = await listTargets(port, Math.min(1000, deadline - Date.now()));
      const url = targets[0]?.webSocketDebuggerUrl;
      if (url) {
        checkUrl(url, port, pid);
        const cdp = await Cdp.open(url, what, Math.max(1, deadline - Date.now()));
        if (holder === 'unknown') {
          // No /proc to tell who holds the port: ask, as the next best check.
          const actual = await cdp.evaluate('process.pid', Math.max(1, deadline - Date.now())).catch((err: unknown) => {
            cdp.close();
            throw err;
          });
          if (actual !== pid) {
            cdp.close();
            throw busyError(pid, port);
          }
        }
        return cdp;
      }
      lastError = 'its target list was empty';
    } catch (err) {
      if (err instanceof AsyncmonError) throw err;
      lastError = err instanceof Error ? err.message : String(err);
    }
    await sleep(POLL_MS * 5);
  }
  throw new AsyncmonError('UNAVAILABLE', `process ${pid} did not open its inspector on 127.0.0.1:${port} in time (${lastError}): its loop may be blocked, or it ignores SIGUSR1`);
}

/** Only ws://127.0.0.1:<the polled port>/…: anything else could hand the session to someone else. */
function checkUrl(url: string, port: number, pid: number): void {
  let u: URL | null = null;
  try {
    u = new URL(url);
  } catch {}
  if (!u || u.protocol !== 'ws:' || u.hostname !== '127.0.0.1' || u.port !== String(port)) {
    throw new AsyncmonError('UNAVAILABLE', `the inspector on 127.0.0.1:${port} offered ${url.slice(0, 200)}, not an address on 127.0.0.1:${port}: refusing to follow it (process ${pid})`);
  }
}

/**
 * Closes the inspector of the session's process right away, even while its main thread runs a
 * long JavaScript loop (the inspector runs the evaluation in an interrupt). Resolves when the
 * session is gone or after `timeoutMs`; never throws.
 */
export async function closeNow(cdp: Cdp, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expression = `(() => { try { require('node:inspector').close(); } catch {} return 'closed'; })()`;
  await Promise.race([
    cdp.evaluate(expression, timeoutMs, false).catch(() => undefined),
    cdp.closed,
    new Promise((r) => (timer = setTimeout(r, timeoutMs))),
  ]);
  clearTimeout(timer);
  cdp.close();
}

/** Waits until nothing listens on the inspector's port; the time it closed (Date.now()), or null if it is still open after `timeoutMs`. */
export async function waitClosed(pid: number, port: number, timeoutMs: number): Promise<number | null> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (!(await isListening(pid, port))) return Date.now();
    if (Date.now() >= until) return null;
    await sleep(POLL_MS);
  }
}
