// `asyncmon awaits --pid <pid>` and `asyncmon where --pid <pid> <text>`: the await graph of a
// Node process, from a heap snapshot taken through its inspector when it runs no agent (the
// agent answers when it has one). The target runs no asyncmon code: the CLI opens its inspector
// as `attach` does, takes the snapshot over the WebSocket, parses it here as it streams, asks the
// target only for the lines of the functions shown, and closes the inspector again.
import { takeAwaits } from '../src/awaits.js';
import { DEFAULTS } from '../src/defaults.js';
import { listDiscovery } from '../src/discovery.js';
import { AsyncmonError } from '../src/errors.js';
import { HeapCapture } from '../src/heap-capture.js';
import type { InspectorChannel } from '../src/heap-capture.js';
import type { AwaitChainInfo, AwaitsResult, SuspendedFrame } from '../src/model.js';
import type { Cdp } from './cdp.js';
import { EXIT } from './exit-codes.js';
import { checkProcess, InspectorVisit } from './inspector-visit.js';
import { connectTo, fail, print, runOneShot, timeoutMs } from './run.js';
import type { TargetOptions } from './run.js';

/** Options of `awaits --pid` / `where --pid`. */
export interface HeapAwaitsOptions extends TargetOptions {
  pid: string;
  refuseShared?: boolean;
}

/** The inspector's session as the channel src/heap-capture.ts speaks, every call bounded by `deadline`. */
function cdpChannel(cdp: Cdp, deadline: number): InspectorChannel {
  return {
    post: <T>(method: string, params: Record<string, unknown> = {}) => cdp.send(method, params, Math.max(1, deadline - Date.now())) as Promise<T>,
    on: (event, listener) => cdp.on(event, listener),
  };
}

function parsePid(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) <= 0) throw new AsyncmonError('BAD_ARGUMENT', `--pid takes a process id, not "${text}"`);
  return Number(text);
}

/**
 * The chains of the process `--pid` names: from its agent when it has one (as `-t <pid>`
 * would), else from a snapshot through its inspector. `match` keeps only the chains whose
 * request, function or site contains the text (`where --pid`).
 */
async function chainsOf(opts: HeapAwaitsOptions, limit: number, match: string | null): Promise<AwaitsResult> {
  if (opts.target !== undefined) throw new AsyncmonError('BAD_ARGUMENT', '--pid and -t/--target name the target twice: give one');
  const pid = parsePid(opts.pid);
  const timeout = timeoutMs(opts, 10_000);
  const deadline = Date.now() + timeout;
  checkProcess(pid);
  // Searched for a match, every chain is read; shown, only `limit`.
  const wanted = match === null ? limit : DEFAULTS.maxListLimit;
  let result: AwaitsResult;
  if (listDiscovery().some((r) => r.pid === pid)) {
    const { client } = await connectTo({ ...opts, target: String(pid) });
    try {
      result = (await client.call('awaits', { limit: wanted }, Math.max(1, deadline - Date.now()))) as AwaitsResult;
    } finally {
      client.close();
    }
  } else {
    result = await fromInspector(pid, wanted, deadline, opts);
  }
  if (match === null) return result;
  const chains = result.chains.filter((c) => chainMatches(c, match));
  if (chains.length === 0 && !result.cycles.some((cy) => cy.frames.some((f) => frameMatches(f, match)))) {
    throw new AsyncmonError('NO_SUCH_TASK', `no suspended async function of process ${pid} matches "${match}" (${result.total} chain${result.total === 1 ? '' : 's'}; asyncmon awaits --pid ${pid} lists them)`);
  }
  return { ...result, match, total: chains.length, chains: chains.slice(0, limit), cycles: result.cycles.filter((cy) => cy.frames.some((f) => frameMatches(f, match))), lost: result.lost.filter((l) => l.request?.includes(match)) };
}

function frameMatches(f: SuspendedFrame, text: string): boolean {
  const at = f.site ?? f.start;
  return f.fn.includes(text) || (at !== null && at !== undefined && `${at.file}:${at.line}`.includes(text));
}

function chainMatches(c: AwaitChainInfo, text: string): boolean {
  return (c.request?.includes(text) ?? false) || c.frames.some((f) => frameMatches(f, text));
}

/** The snapshot and the lines through the target's inspector, opened for this and closed again. */
async function fromInspector(pid: number, limit: number, deadline: number, opts: HeapAwaitsOptions): Promise<AwaitsResult> {
  const visit = new InspectorVisit(pid, { command: 'awaits', doing: 'read its heap', alsoAtRisk: '' });
  try {
    const cdp = await visit.open(deadline, opts);
    const channel = cdpChannel(cdp, deadline);
    const usage = await channel.post<{ usedSize?: number }>('Runtime.getHeapUsage').catch(() => ({}) as { usedSize?: number });
    const capture = new HeapCapture();
    const result = await takeAwaits((onChunk, pick) => capture.take(channel, onChunk, pick), {
      limit,
      heapUsedBytes: typeof usage.usedSize === 'number' ? usage.usedSize : null,
      maxHeapBytes: DEFAULTS.awaitsCliMaxHeapBytes,
      raise: ' without an agent (the CLI parses it)',
      // No agent, no tasks: chains are named by the request they hold.
      tasks: async () => [],
    });
    await channel.post('Runtime.disable').catch(() => {});
    const port = visit.port;
    const openMs = await visit.close();
    return { ...result, inspector: { port, openMs } };
  } catch (err) {
    throw await visit.cleanup(err);
  }
}

/** `asyncmon awaits --pid <pid> [limit]`. */
export async function awaitsByPid(limitText: string | undefined, opts: HeapAwaitsOptions): Promise<void> {
  try {
    const limit = limitOf(limitText);
    print('awaits', await chainsOf(opts, limit, null), opts.json);
    process.exitCode = EXIT.ok;
  } catch (err) {
    fail(err, opts.json);
  }
}

/**
 * `asyncmon where --pid <pid> <id-or-text>`: with an agent and a task id, the agent's `where`;
 * else the chains whose request (`GET /users`), function (`loadUser`) or site (`app.js:42`)
 * contains the text.
 */
export async function whereByPid(text: string, opts: HeapAwaitsOptions): Promise<void> {
  try {
    const pid = parsePid(opts.pid);
    if (/^\d+$/.test(text) && listDiscovery().some((r) => r.pid === pid)) {
      if (opts.target !== undefined) throw new AsyncmonError('BAD_ARGUMENT', '--pid and -t/--target name the target twice: give one');
      return await runOneShot('where', { id: text }, { ...opts, target: String(pid) });
    }
    print('awaits', await chainsOf(opts, DEFAULTS.awaitsChains, text), opts.json);
    process.exitCode = EXIT.ok;
  } catch (err) {
    fail(err, opts.json);
  }
}

function limitOf(text: string | undefined): number {
  if (text === undefined) return DEFAULTS.awaitsChains;
  if (!/^\d+$/.test(text) || Number(text) <= 0) throw new AsyncmonError('BAD_ARGUMENT', `bad limit "${text}": a positive number of chains`);
  return Math.min(Number(text), DEFAULTS.maxListLimit);
}
