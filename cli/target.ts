import { readFileSync, statSync } from 'node:fs';
import { ENV } from '../src/defaults.js';
import { isAlive, scanDiscovery } from '../src/discovery.js';
import type { DiscoveryRecord } from '../src/discovery.js';
import { AsyncmonError } from '../src/errors.js';
import { describe } from './client.js';
import type { Address } from './client.js';
import { whyNotNode } from './proc-info.js';

/** A resolved target: where to connect, with which token, and what discovery said about it. */
export interface Target {
  address: Address;
  /** '' when none is known: connecting still says whether the target is reachable. */
  token: string;
  record: DiscoveryRecord | null;
}

let warnedToken = false;

/**
 * The token the user gave: `--token-file` (its first line), else `--token`, else none (then
 * `ASYNCMON_TOKEN` or the discovery file). `--token` works but is said to be visible: any
 * local user reads it in `/proc/<pid>/cmdline` for as long as the command runs.
 */
export function tokenOf(opts: { token?: string; tokenFile?: string }): string | undefined {
  if (opts.tokenFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(opts.tokenFile, 'utf8');
    } catch (err) {
      throw new AsyncmonError('BAD_ARGUMENT', `cannot read --token-file ${opts.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    const token = text.split(/\r?\n/)[0].trim();
    if (token.length < 8) throw new AsyncmonError('BAD_ARGUMENT', `--token-file ${opts.tokenFile} holds no token (its first line must have at least 8 characters)`);
    try {
      if ((statSync(opts.tokenFile).mode & 0o077) !== 0) process.stderr.write(`asyncmon: warning: ${opts.tokenFile} can be read by other users (chmod 600 it)\n`);
    } catch {}
    return token;
  }
  if (opts.token !== undefined && !warnedToken) {
    warnedToken = true;
    process.stderr.write(`asyncmon: warning: --token is visible to every local user (in the process list) while this runs; use --token-file or ${ENV.token}\n`);
  }
  return opts.token;
}

/** The target a discovery record names; `token` overrides the record's. */
export function fromRecord(record: DiscoveryRecord, token?: string): Target {
  const address: Address = record.socket ? { socket: record.socket } : { host: record.host, port: record.port ?? 0 };
  return { address, token: token ?? record.token, record };
}

/**
 * Turns `-t` into an address: a pid (through the discovery files), `host:port`, or a Unix
 * socket path. Without `-t` it takes the only agent this user can see, and explains when
 * there are none or several. `--token-file` / `--token` / `ASYNCMON_TOKEN` override the
 * discovered token.
 */
export function resolveTarget(spec: string | undefined, tokenOverride?: string): Target {
  const token = tokenOverride ?? process.env[ENV.token] ?? undefined;
  const { records: agents, refused } = scanDiscovery();
  const why = refused.length > 0 ? `\nrefused (not this user's, or not private): ${refused.join('; ')}` : '';
  if (spec === undefined || spec === '') {
    if (agents.length === 0) {
      throw new AsyncmonError('NO_TARGET', `no asyncmon agent found for this user: start one with node --require asyncmon/register app.js, or asyncmon attach <pid>${why}`);
    }
    if (agents.length > 1) {
      const list = agents.map((a) => `  ${a.pid}  ${describe(fromRecord(a).address)}  ${a.argv.join(' ')}`).join('\n');
      throw new AsyncmonError('NO_TARGET', `several agents found; pick one with -t <pid>:\n${list}`);
    }
    return fromRecord(agents[0], token);
  }
  if (/^\d+$/.test(spec)) {
    const pid = Number(spec);
    const record = agents.find((a) => a.pid === pid);
    if (!record) {
      // Say what is true: no such process, or one that is not Node, cannot have an agent attached.
      if (!isAlive(pid)) throw new AsyncmonError('NO_TARGET', `no process ${pid}${why}`);
      const notNode = whyNotNode(pid);
      throw new AsyncmonError('NO_TARGET', `no agent in process ${pid}${notNode ? ` (${notNode})` : `: is it running with asyncmon? (asyncmon attach ${pid} loads one)`}${why}`);
    }
    return fromRecord(record, token);
  }
  const m = /^(\[[^\]]+\]|[^:/]+):(\d+)$/.exec(spec);
  if (m) {
    const host = m[1].replace(/^\[|\]$/g, '');
    const port = Number(m[2]);
    const record = agents.find((a) => a.port === port && (a.host === host || host === 'localhost')) ?? null;
    // Without a token the address is still tried first: an unreachable target says so (exit 3).
    return { address: { host, port }, token: token ?? record?.token ?? '', record };
  }
  if (spec.includes('/')) {
    const record = agents.find((a) => a.socket === spec) ?? null;
    return { address: { socket: spec }, token: token ?? record?.token ?? '', record };
  }
  throw new AsyncmonError('BAD_ARGUMENT', `bad target "${spec}": use a pid, host:port, or a socket path`);
}

