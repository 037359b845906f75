// What `attach` reads about a process from outside, before it sends anything: is it Node, how
// was it started (command line, NODE_OPTIONS), who owns it, and who holds a TCP port. Linux
// /proc; where there is none, `ps` for the name and nothing else.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { nodeOptionsOf, readNodeFlags, splitNodeOptions } from './node-flags.js';
import type { NodeFlags } from './node-flags.js';

const NODE_NAMES = new Set(['node', 'nodejs']);

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function sameFile(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

/**
 * Null when `pid` runs a Node binary, else why not. The executable decides (`/proc/<pid>/exe`
 * named exactly `node` or `nodejs`, or the very binary running this CLI); a name that merely
 * contains "node" (node_exporter, nodemon-helper, inode-scan) does not: SIGUSR1 kills them.
 */
export function whyNotNode(pid: number): string | null {
  let exe: string | null = null;
  try {
    exe = readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '');
  } catch {}
  if (exe !== null) {
    if (NODE_NAMES.has(basename(exe)) || sameFile(exe, process.execPath)) return null;
    return `its executable is ${exe}, not node or nodejs`;
  }
  // No readable exe link (no /proc, or not permitted): the program's name, exactly.
  let name = (readOrNull(`/proc/${pid}/cmdline`) ?? '').split('\0')[0] ?? '';
  if (!name) {
    try {
      name = execFileSync('ps', ['-o', 'comm=', '-p', String(pid)], { encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {}
  }
  if (!name) return 'its executable could not be read';
  return NODE_NAMES.has(basename(name)) ? null : `its program is ${basename(name)}, not node or nodejs`;
}

/** The process's inspector options from /proc/<pid>/cmdline and its NODE_OPTIONS (/proc/<pid>/environ), when readable. */
export function nodeFlagsOf(pid: number): NodeFlags {
  const cmdline = (readOrNull(`/proc/${pid}/cmdline`) ?? '').split('\0');
  if (cmdline[cmdline.length - 1] === '') cmdline.pop();
  const environ = (readOrNull(`/proc/${pid}/environ`) ?? '').split('\0');
  const nodeOptions = environ.find((e) => e.startsWith('NODE_OPTIONS='))?.slice('NODE_OPTIONS='.length) ?? '';
  return readNodeFlags(nodeOptionsOf(cmdline.slice(1)), splitNodeOptions(nodeOptions));
}

/** The uid that owns `pid`, or null when /proc does not say. */
export function ownerOf(pid: number): number | null {
  try {
    return statSync(`/proc/${pid}`).uid;
  } catch {
    return null;
  }
}

/** Socket inodes listening on `port` at an address that takes connections to 127.0.0.1, in `pid`'s network namespace; null without /proc. */
function listenerInodes(pid: number, port: number): Set<string> | null {
  const v4 = readOrNull(`/proc/${pid}/net/tcp`);
  if (v4 === null) return null;
  const v6 = readOrNull(`/proc/${pid}/net/tcp6`) ?? '';
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  // 127.0.0.1 and 0.0.0.0; :: and ::ffff:127.0.0.1 (a dual-stack listener takes IPv4 too).
  const accepts = new Set(['0100007F', '00000000', '00000000000000000000000000000000', '0000000000000000FFFF00000100007F']);
  const inodes = new Set<string>();
  for (const line of `${v4}\n${v6}`.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== '0A') continue; // 0A: LISTEN
    const [addr, p] = (f[1] ?? '').split(':');
    if (p === hexPort && accepts.has(addr ?? '')) inodes.add(f[9]!);
  }
  return inodes;
}

/**
 * Who takes connections to 127.0.0.1:`port`: `pid` itself, another process, nobody, or
 * 'unknown' when /proc cannot tell. This is how `attach` knows the inspector it talks to is
 * the target's, and not a stand-in that another local user put on the port first.
 */
export function portHolder(pid: number, port: number): 'target' | 'other' | 'none' | 'unknown' {
  const inodes = listenerInodes(pid, port);
  if (inodes === null) return 'unknown';
  if (inodes.size === 0) return 'none';
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return 'unknown';
  }
  const mine = new Set<string>();
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m && inodes.has(m[1]!)) mine.add(m[1]!);
    } catch {}
  }
  // Every listener there must be the target's: one of someone else's would take some connections.
  return mine.size === inodes.size ? 'target' : 'other';
}

/** True when something listens on 127.0.0.1:`port` as far as /proc shows (null: cannot tell). */
export function somethingListens(pid: number, port: number): boolean | null {
  const inodes = listenerInodes(pid, port);
  return inodes === null ? null : inodes.size > 0;
}
