import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { ENV } from '../src/defaults.js';
import { AsyncmonError } from '../src/errors.js';
import { LineDecoder } from '../src/line-decoder.js';
import { agentProof, clientProof, isNonce, newNonce, sameProof } from '../src/auth-proof.js';
import { PROTOCOL_VERSION, toError } from '../src/protocol.js';
import type { Response, UpdateEvent } from '../src/protocol.js';
import { peerProblem } from './peer-check.js';
import type { ExpectedPeer } from './peer-check.js';

/** Where an agent listens. */
export type Address = { host: string; port: number } | { socket: string };

export interface ClientOptions {
  token: string;
  /** Connect + hello, and each call, must finish within this (default 5 s). */
  timeoutMs?: number;
  /** The process a discovery record names: checked before anything is sent (see peer-check). */
  expect?: ExpectedPeer;
}

const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

/**
 * A JSON-lines client of the agent: connect, `hello` with the token, then `call(cmd, args)`.
 * Errors are `AsyncmonError`s with the agent's code, or `UNAVAILABLE` when the agent cannot be
 * reached or does not answer in time.
 */
export class AgentClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  /** Parts of streamed answers, by request id. */
  private readonly parts = new Map<number, { onItems: (items: unknown[]) => void; rearm: () => void }>();
  private readonly updateListeners = new Set<(e: UpdateEvent) => void>();
  private closeListeners = new Set<(err?: Error) => void>();
  private closed = false;
  /** The agent's last word outside any answer (a refusal such as "too many connections"). */
  private notice: string | null = null;
  access: string | null = null;
  pid: number | null = null;
  node: string | null = null;

  private constructor(
    private readonly socket: Socket,
    private readonly timeoutMs: number,
  ) {
    const decoder = new LineDecoder(MAX_RESPONSE_BYTES);
    socket.on('data', (chunk: Buffer) => {
      for (const line of decoder.push(chunk)) this.onLine(line);
      if (decoder.overflowed) this.shutdown(new AsyncmonError('UNAVAILABLE', 'response too large'));
    });
    socket.on('error', (err) => this.shutdown(new AsyncmonError('UNAVAILABLE', err.message)));
    socket.on('close', () => this.shutdown(new AsyncmonError('UNAVAILABLE', `the agent closed the connection${this.notice ? `: ${this.notice}` : ''}`)));
  }

  /**
   * Connects and logs in by challenge and response (src/auth-proof.ts): the token never
   * crosses the socket. The first `hello` (a nonce, nothing secret) is written at once, so the
   * agent sees a client that speaks and never takes it for a silent one to push out. The peer
   * is checked against the discovery record before the proof is sent, and the agent must prove
   * it knows the token too before the client sends any command.
   */
  static async connect(address: Address, opts: ClientOptions): Promise<AgentClient> {
    const timeoutMs = opts.timeoutMs ?? 5000;
    const s = 'socket' in address ? connect(address.socket) : connect(address.port, address.host);
    s.setNoDelay(true);
    const client = new AgentClient(s, timeoutMs);
    const nonce = newNonce();
    const first = client.call('hello', { protocol: PROTOCOL_VERSION, nonce }) as Promise<{ challenge?: unknown }>;
    first.catch(() => {});
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new AsyncmonError('UNAVAILABLE', `no answer from ${describe(address)} within ${timeoutMs} ms`)), timeoutMs);
        s.once('connect', () => {
          clearTimeout(timer);
          resolve();
        });
        s.once('error', (err: NodeJS.ErrnoException) => {
          clearTimeout(timer);
          reject(new AsyncmonError('UNAVAILABLE', `cannot connect to ${describe(address)}: ${err.code ?? err.message}`));
        });
      });
      if (opts.expect) {
        const problem = peerProblem(s, address, opts.expect);
        if (problem) throw new AsyncmonError('UNAVAILABLE', `${problem}; not logging in to ${describe(address)}`);
      }
      // Reachable, but nothing to log in with (the address was given without a token).
      if (!opts.token) throw noToken(address);
      const { challenge } = await first;
      if (!isNonce(challenge)) throw new AsyncmonError('UNAVAILABLE', `${describe(address)} did not answer with a challenge: it is not an asyncmon agent of this version`);
      const hello = (await client.call('hello', { protocol: PROTOCOL_VERSION, proof: clientProof(opts.token, challenge, nonce) })) as { access: string; pid: number; node: string; proof?: unknown };
      if (typeof hello?.proof !== 'string' || !sameProof(hello.proof, agentProof(opts.token, nonce, challenge))) {
        throw new AsyncmonError('UNAVAILABLE', `${describe(address)} accepted the login without proving it knows the token: it is not the agent; nothing more was sent`);
      }
      client.access = hello.access;
      client.pid = hello.pid;
      client.node = hello.node;
      return client;
    } catch (err) {
      // Never leave the socket open behind a failed hello: the CLI would wait on it.
      client.close();
      throw err;
    }
  }

  /** Sends one request and resolves with its result. */
  call(cmd: string, args: Record<string, unknown> = {}, timeoutMs = this.timeoutMs): Promise<unknown> {
    if (this.closed) return Promise.reject(new AsyncmonError('UNAVAILABLE', 'not connected'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new AsyncmonError('UNAVAILABLE', `the agent did not answer ${cmd} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.socket.write(JSON.stringify({ id, cmd, args }) + '\n');
    });
  }

  /**
   * A streamed request (`promises-all`): `onItems` gets each slice as it arrives, and the
   * promise resolves with the final result. The timeout applies between parts, not to the whole.
   */
  stream(cmd: string, args: Record<string, unknown>, onItems: (items: unknown[]) => void, timeoutMs = this.timeoutMs): Promise<unknown> {
    if (this.closed) return Promise.reject(new AsyncmonError('UNAVAILABLE', 'not connected'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const expire = () => {
        this.pending.delete(id);
        this.parts.delete(id);
        reject(new AsyncmonError('UNAVAILABLE', `the agent did not answer ${cmd} within ${timeoutMs} ms`));
      };
      const entry = { resolve, reject, timer: setTimeout(expire, timeoutMs) };
      const rearm = () => {
        clearTimeout(entry.timer);
        entry.timer = setTimeout(expire, timeoutMs);
      };
      this.pending.set(id, entry);
      this.parts.set(id, { onItems, rearm });
      this.socket.write(JSON.stringify({ id, cmd, args }) + '\n');
    });
  }

  onUpdate(fn: (e: UpdateEvent) => void): () => void {
    this.updateListeners.add(fn);
    return () => this.updateListeners.delete(fn);
  }

  onClose(fn: (err?: Error) => void): void {
    this.closeListeners.add(fn);
  }

  close(): void {
    this.shutdown();
    this.socket.destroy();
  }

  private onLine(line: string): void {
    let msg: Response | UpdateEvent;
    try {
      msg = JSON.parse(line) as Response | UpdateEvent;
    } catch {
      if (line.trim()) this.notice = line.trim().replace(/^✗ /, '').slice(0, 500);
      return;
    }
    if ('event' in msg) {
      const { id, items } = msg as { id?: unknown; items?: unknown };
      const part = typeof id === 'number' ? this.parts.get(id) : undefined;
      if (part) {
        part.rearm();
        if (Array.isArray(items)) part.onItems(items);
        return;
      }
      for (const fn of this.updateListeners) fn(msg);
      return;
    }
    if (typeof msg.id !== 'number') {
      if (msg.ok === false && typeof msg.error?.message === 'string') this.notice = msg.error.message.slice(0, 500);
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    this.parts.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.ok) p.resolve(msg.result);
    else p.reject(toError(msg));
  }

  private shutdown(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err ?? new AsyncmonError('UNAVAILABLE', 'connection closed'));
    }
    this.pending.clear();
    for (const fn of this.closeListeners) fn(err);
    this.closeListeners.clear();
  }
}

/** The error for a reachable target with no token to log in with. */
export function noToken(address: Address): AsyncmonError {
  return new AsyncmonError('BAD_ARGUMENT', `no token for ${describe(address)}: pass --token-file or set ${ENV.token}`);
}

/** `127.0.0.1:20101`, `[::1]:20101` or the socket path: what `-t` accepts. */
export function describe(address: Address): string {
  if ('socket' in address) return address.socket;
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
