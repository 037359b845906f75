import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { basename, join } from 'node:path';
import WebSocket from 'ws';
import { listDiscovery } from '../src/discovery.js';
import { AsyncmonError } from '../src/errors.js';
import { parseLevel, parseStacks } from '../src/levels.js';
import { EXIT } from './exit-codes.js';
import { fail } from './run.js';

interface AttachOptions {
  level?: string;
  stacks?: string;
  port?: string;
  readOnly?: boolean;
  json?: boolean;
  timeout?: string;
}

const INSPECTOR_PORT = 9229;
// The API entry of this installation; the target loads the same build the CLI runs from.
const AGENT_ENTRY = join(__dirname, '..', 'agent', 'index.js');

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Refuses pids that are not Node processes: SIGUSR1 would kill most other programs. */
function checkProcess(pid: number): void {
  try {
    process.kill(pid, 0);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') throw new AsyncmonError('BAD_ARGUMENT', `no such process: ${pid}`);
    if (code === 'EPERM') throw new AsyncmonError('FORBIDDEN', `not permitted to signal process ${pid} (another user's process?)`);
    throw err;
  }
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
    if (argv0 && !/node|nodejs/i.test(basename(argv0))) {
      throw new AsyncmonError('BAD_ARGUMENT', `process ${pid} (${basename(argv0)}) does not look like Node.js; refusing to send it SIGUSR1`);
    }
  } catch (err) {
    if (err instanceof AsyncmonError) throw err;
  }
}

function listTargets(port: number): Promise<Array<{ webSocketDebuggerUrl?: string }>> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/json/list', timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body) as Array<{ webSocketDebuggerUrl?: string }>);
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** A minimal Chrome DevTools Protocol session over the inspector's WebSocket. */
class Cdp {
  private nextId = 1;
  private readonly pending = new Map<number, (msg: { result?: unknown; error?: { message: string } }) => void>();
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      try {
        const msg = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string } };
        if (msg.id !== undefined) this.pending.get(msg.id)?.(msg);
      } catch {}
    });
  }
  static open(url: string): Promise<Cdp> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.once('open', () => resolve(new Cdp(ws)));
      ws.once('error', reject);
    });
  }
  send(method: string, params: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new AsyncmonError('UNAVAILABLE', `the target did not answer ${method} in time`)), timeoutMs);
      this.pending.set(id, (msg) => {
        clearTimeout(timer);
        this.pending.delete(id);
        if (msg.error) reject(new Error(msg.error.message));
        else resolve(msg.result);
      });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }
  /** Evaluates an expression in the target, awaiting a promise result, returning its value. */
  async evaluate(expression: string, timeoutMs: number): Promise<unknown> {
    const res = (await this.send('Runtime.evaluate', { expression, includeCommandLineAPI: true, awaitPromise: true, returnByValue: true }, timeoutMs)) as {
      result?: { value?: unknown };
      exceptionDetails?: { exception?: { description?: string }; text?: string };
    };
    if (res.exceptionDetails) {
      throw new AsyncmonError('UNAVAILABLE', res.exceptionDetails.exception?.description?.split('\n')[0] ?? res.exceptionDetails.text ?? 'evaluation failed');
    }
    return res.result?.value;
  }
  close(): void {
    this.ws.terminate();
  }
}

/** Waits for the target's inspector and returns a session to it, checking it is the right pid. */
async function openInspector(pid: number, deadline: number): Promise<Cdp> {
  let lastError = '';
  while (Date.now() < deadline) {
    try {
      const targets = await listTargets(INSPECTOR_PORT);
      const url = targets[0]?.webSocketDebuggerUrl;
      if (url) {
        const cdp = await Cdp.open(url);
        const actual = await cdp.evaluate('process.pid', 2000);
        if (actual === pid) return cdp;
        cdp.close();
        throw new AsyncmonError('UNAVAILABLE', `inspector port ${INSPECTOR_PORT} is busy: process ${String(actual)} holds it, so process ${pid} could not open its inspector`);
      }
    } catch (err) {
      if (err instanceof AsyncmonError) throw err;
      lastError = err instanceof Error ? err.message : String(err);
    }
    await sleep(100);
  }
  throw new AsyncmonError(
    'UNAVAILABLE',
    `process ${pid} did not open its inspector on 127.0.0.1:${INSPECTOR_PORT} (${lastError || 'no answer'}): it may run with --disable-sigusr1, or the port is busy`,
  );
}

/**
 * `asyncmon attach <pid>`: opens the target's inspector (SIGUSR1 through
 * `process._debugProcess`), loads this installation's agent with `require` (in scope there
 * for ESM mains too), starts its server, closes the inspector again and prints the address.
 */
export async function attach(pidText: string, opts: AttachOptions): Promise<void> {
  let cdp: Cdp | null = null;
  try {
    if (!/^\d+$/.test(pidText)) throw new AsyncmonError('BAD_ARGUMENT', `not a pid: "${pidText}"`);
    const pid = Number(pidText);
    const timeout = Number(opts.timeout ?? 10000);
    const startOpts: Record<string, unknown> = {};
    if (opts.level) startOpts.level = parseLevel(opts.level);
    if (opts.stacks) startOpts.stacks = parseStacks(opts.stacks);
    if (opts.port) {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new AsyncmonError('BAD_ARGUMENT', `bad --port "${opts.port}"`);
      startOpts.port = port;
    }
    if (opts.readOnly) startOpts.readOnly = true;
    checkProcess(pid);
    const present = listDiscovery().find((r) => r.pid === pid);
    if (present) {
      report(opts, pid, { host: present.host, port: present.port, socket: present.socket }, true);
      return;
    }
    try {
      (process as unknown as { _debugProcess(pid: number): void })._debugProcess(pid);
    } catch (err) {
      throw new AsyncmonError('FORBIDDEN', `cannot signal process ${pid}: ${err instanceof Error ? err.message : String(err)}`);
    }
    cdp = await openInspector(pid, Date.now() + timeout);
    const expression = `(async () => {
      const m = require(${JSON.stringify(AGENT_ENTRY)});
      const h = await m.startMonitor(${JSON.stringify(startOpts)});
      return JSON.stringify(h.address);
    })()`;
    let address: { host: string; port: number | null; socket: string | null };
    try {
      address = JSON.parse(String(await cdp.evaluate(expression, timeout))) as typeof address;
    } finally {
      // Close the inspector again whatever happened: an open debug port is a risk.
      // Closed on the target's next turn, so this evaluation still gets its answer.
      // `require` exists only while the evaluation runs (command-line API), so take the module
      // now; never let a throw escape into the target.
      const closeLater = `(() => { const inspector = require('node:inspector'); setImmediate(() => { try { inspector.close(); } catch {} }); return 'closing'; })()`;
      await cdp.evaluate(closeLater, 2000).catch(() => undefined);
      cdp.close();
      cdp = null;
    }
    report(opts, pid, address, false);
  } catch (err) {
    cdp?.close();
    fail(err, opts.json);
  }
}

function report(opts: AttachOptions, pid: number, address: { host: string; port: number | null; socket: string | null }, already: boolean): void {
  const where = address.socket ?? `${address.host}:${address.port}`;
  if (opts.json) process.stdout.write(JSON.stringify({ pid, address, alreadyRunning: already }, null, 2) + '\n');
  else process.stdout.write(already ? `✓ process ${pid} already runs an agent at ${where}\n` : `✓ agent started in process ${pid} at ${where}\n  try: asyncmon ps -t ${pid}\n`);
  process.exitCode = EXIT.ok;
}
