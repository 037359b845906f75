import { join } from 'node:path';
import { listDiscovery } from '../src/discovery.js';
import { AsyncmonError } from '../src/errors.js';
import { parseLevel, parseStacks } from '../src/levels.js';
import { EXIT } from './exit-codes.js';
import { checkProcess, InspectorVisit } from './inspector-visit.js';
import { fail } from './run.js';

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

/**
 * `asyncmon attach <pid>`: opens the target's inspector (SIGUSR1 through
 * `process._debugProcess`), loads this installation's agent with `require` (in scope there
 * for ESM mains too), starts its server, closes the inspector again and prints the address.
 * The inspector has no authentication, so the time it is open is kept short and reported; on
 * every failure the CLI closes it, or leaves a guard to close it when it opens later.
 */
export async function attach(pidText: string, opts: AttachOptions): Promise<void> {
  const started = Date.now();
  let visit: InspectorVisit | null = null;
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

    visit = new InspectorVisit(pid, { command: 'attach', doing: 'load the agent', alsoAtRisk: " and read the agent's token" });
    const cdp = await visit.open(deadline, opts);
    const closeAfter = !visit.wasOpen;
    const answer = await cdp.evaluate(loadExpression(startOpts, deadline, closeAfter), Math.max(1, deadline - Date.now()));
    settled = true;
    // Done with the session: whatever the answer, nothing more is said to that inspector.
    cdp.close();
    visit.cdp = null;
    const loaded = JSON.parse(String(answer)) as Loaded;
    if ('late' in loaded) throw new AsyncmonError('UNAVAILABLE', `process ${pid} answered too late (after ${timeout} ms); nothing was started`);
    if (loaded.pid !== pid) throw new AsyncmonError('UNAVAILABLE', `the inspector on 127.0.0.1:${visit.port} belongs to process ${String(loaded.pid)}, not ${pid}`);
    // The expression closes the inspector on the target's next turn: wait until it has.
    const port = visit.port;
    const openMs = await visit.close(true);
    report(opts, pid, loaded.address, loaded.already, openMs === null ? null : { port, openMs });
  } catch (err) {
    fail(visit ? await visit.cleanup(err, settled) : err, opts.json);
  }
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
