import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { Socket } from 'node:net';
import { processStartTicks } from '../src/discovery.js';

/** The process a discovery record names: who the CLI expects to answer. */
export interface ExpectedPeer {
  pid: number;
  startTicks?: number | null;
}

/** `0100007F:4E85` (hex, IPv4 in host byte order) → `127.0.0.1`, and IPv6 the same way. */
function hexAddress(hex: string): string {
  if (hex.length === 8) return [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');
  const words: string[] = [];
  for (let i = 0; i < 32; i += 8) {
    const w = hex.slice(i, i + 8);
    const le = w.slice(6, 8) + w.slice(4, 6) + w.slice(2, 4) + w.slice(0, 2);
    words.push(le.slice(0, 4), le.slice(4, 8));
  }
  const full = words.map((w) => w.replace(/^0+(?=.)/, '')).join(':').toLowerCase();
  if (full === '0:0:0:0:0:0:0:1') return '::1';
  if (full === '0:0:0:0:0:0:0:0') return '::';
  const v4 = /^0:0:0:0:0:ffff:([0-9a-f]+):([0-9a-f]+)$/.exec(full);
  if (v4) {
    const n = (parseInt(v4[1], 16) << 16) | parseInt(v4[2], 16);
    return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
  }
  return full;
}

const ANY = new Set(['0.0.0.0', '::']);

/** Inodes of the TCP sockets listening on `port` at `address` (or at any address). */
function tcpListeners(address: string, port: number): string[] | null {
  const out: string[] = [];
  let seen = false;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    seen = true;
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A: LISTEN
      const [addrHex, portHex] = f[1].split(':');
      if (parseInt(portHex, 16) !== port) continue;
      const a = hexAddress(addrHex);
      if (a === address || ANY.has(a) || (address === '127.0.0.1' && a === '::ffff:127.0.0.1')) out.push(f[9]);
    }
  }
  return seen ? out : null;
}

/** Inodes of the Unix sockets listening at `path`. */
function unixListeners(path: string): string[] | null {
  let text: string;
  try {
    text = readFileSync('/proc/net/unix', 'utf8');
  } catch {
    return null;
  }
  const out: string[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // Flags 00010000: accepting connections (listening).
    if (f.length >= 8 && f.slice(7).join(' ') === path && (parseInt(f[3], 16) & 0x10000) !== 0) out.push(f[6]);
  }
  return out;
}

/** Whether process `pid` holds one of the socket inodes; null when its fds cannot be read. */
function holdsSocket(pid: number, inodes: string[]): boolean | null {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return null;
  }
  const wanted = new Set(inodes.map((i) => `socket:[${i}]`));
  for (const fd of fds) {
    try {
      if (wanted.has(readlinkSync(`/proc/${pid}/fd/${fd}`))) return true;
    } catch {}
  }
  return false;
}

/**
 * Why the process at the other end of `socket` is not the one a discovery record names, or
 * null when it is (or when this system cannot tell: no /proc, or its tables unreadable). On
 * Linux the listening socket's inode is looked up in /proc/net and searched for among the
 * record's process's file descriptors; its start time must match the record's too, so a reused
 * pid is not taken for the agent.
 */
export function peerProblem(socket: Socket, target: { socket: string } | { host: string; port: number }, expected: ExpectedPeer): string | null {
  if (process.platform !== 'linux') return null;
  const ticks = processStartTicks(expected.pid);
  if (ticks === null) return `process ${expected.pid}, named by the discovery record, is gone`;
  if (typeof expected.startTicks === 'number' && ticks !== expected.startTicks) return `process ${expected.pid} is not the one that wrote the discovery record (it started at another time)`;
  const inodes = 'socket' in target ? unixListeners(target.socket) : tcpListeners(socket.remoteAddress ?? target.host, target.port);
  if (inodes === null || inodes.length === 0) return null;
  const held = holdsSocket(expected.pid, inodes);
  if (held === false) return `the listener at ${'socket' in target ? target.socket : `${target.host}:${target.port}`} does not belong to process ${expected.pid}, named by the discovery record`;
  return null;
}
