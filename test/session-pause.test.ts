/**
 * The per-line deadline against the agent's own back-pressure, on a real socket: a Session (the
 * worker's connection handler) on a TCP server on port 0, with short limits, whose host holds
 * every command until the test lets them go. A client that pipelines past the queue limit is
 * paused by the agent; the half line it sent last is unread because of the agent, so the line
 * deadline must not cut it off then, and must run again once reading resumes.
 *
 * (CI found this: 2000 pipelined `ps` on a loaded machine had the agent paused for more than
 * the 10 s deadline, and the client was dropped with "line not finished".)
 */
import { createServer, connect } from 'node:net';
import type { Server, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../src/defaults.js';
import { Session } from '../agent/worker/session.js';
import type { SessionHost } from '../agent/worker/session.js';
import type { Limits } from '../agent/messages.js';
import { waitUntil } from './helpers/child.js';

const LINE_MS = 300;
const QUEUE = 4;
const TOKEN = 't'.repeat(32);

interface Rig {
  port: number;
  server: Server;
  sessions: Session[];
  /** Commands waiting for `release`. */
  held: Array<() => void>;
  release(): void;
}

const rigs: Rig[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const r of rigs.splice(0)) {
    r.release();
    for (const s of r.sessions) s.close();
    await new Promise((resolve) => r.server.close(resolve));
  }
});

async function rig(): Promise<Rig> {
  const limits: Limits = { ...DEFAULTS.limits, lineTimeoutMs: LINE_MS, maxQueuedRequests: QUEUE };
  const held: Array<() => void> = [];
  let open = false;
  const host: SessionHost = {
    limits,
    pid: process.pid,
    node: process.version,
    authenticate: (token) => (token === TOKEN ? 'read' : null),
    authenticateProof: () => null,
    agentProof: () => '',
    failureDelayMs: () => 0,
    loggedIn: () => null,
    run: (spec) =>
      open
        ? Promise.resolve({ cmd: spec.name })
        : new Promise((resolve) => {
            held.push(() => resolve({ cmd: spec.name }));
          }),
    consoleOpen: () => {},
    consoleLine: () => {},
    consoleClose: () => {},
    closed: () => {},
  };
  const sessions: Session[] = [];
  const server = createServer((socket) => {
    socket.on('error', () => {});
    sessions.push(new Session(socket, host));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const r: Rig = {
    port: (server.address() as { port: number }).port,
    server,
    sessions,
    held,
    release() {
      open = true;
      for (const go of held.splice(0)) go();
    },
  };
  rigs.push(r);
  return r;
}

/** A JSON-lines client that logs in; keeps every line it reads and whether the agent closed. */
async function client(port: number) {
  const s = connect(port, '127.0.0.1');
  sockets.push(s);
  const lines: string[] = [];
  let rest = '';
  let closed = false;
  s.on('error', () => {});
  s.on('close', () => (closed = true));
  s.on('data', (d: Buffer) => {
    const parts = (rest + d.toString()).split('\n');
    rest = parts.pop()!;
    lines.push(...parts);
  });
  await new Promise<void>((resolve) => s.once('connect', () => resolve()));
  s.write(`${JSON.stringify({ id: 0, cmd: 'hello', args: { protocol: 1, token: TOKEN } })}\n`);
  await waitUntil(() => lines.length >= 1, 5_000, 'the hello answer');
  expect(JSON.parse(lines[0]).ok).toBe(true);
  return {
    s,
    lines,
    get closed() {
      return closed;
    },
  };
}

const psLine = (id: number) => `${JSON.stringify({ id, cmd: 'ps', args: {} })}\n`;
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the per-line deadline and a paused client', () => {
  it('does not cut off a half line while the agent has paused the socket; the line is answered later', async () => {
    const r = await rig();
    const c = await client(r.port);
    const N = QUEUE * 3;
    let batch = '';
    for (let i = 1; i <= N; i++) batch += psLine(i);
    const last = psLine(N + 1);
    const half = Math.floor(last.length / 2);
    c.s.write(batch + last.slice(0, half));
    await waitUntil(() => r.held.length === 1 && r.sessions[0].socket.isPaused(), 5_000, 'the agent to pause the client');
    // The spec is about time passing: three deadlines with the socket paused and the line unfinished.
    await delay(LINE_MS * 3);
    expect(c.closed).toBe(false);
    expect(c.lines.length).toBe(1);
    r.release();
    await waitUntil(() => c.lines.length === N + 1, 5_000, 'every pipelined answer');
    c.s.write(last.slice(half));
    await waitUntil(() => c.lines.length === N + 2, 5_000, 'the answer to the finished line');
    const ids = c.lines.slice(1).map((l) => JSON.parse(l) as { id: number; ok: boolean });
    expect(ids.every((m) => m.ok)).toBe(true);
    expect(ids.map((m) => m.id)).toEqual(Array.from({ length: N + 1 }, (_, i) => i + 1));
    expect(c.closed).toBe(false);
  });

  it('runs again once reading resumes: the half line left unfinished is then cut off', async () => {
    const r = await rig();
    const c = await client(r.port);
    let batch = '';
    for (let i = 1; i <= QUEUE * 2; i++) batch += psLine(i);
    c.s.write(batch + '{"id":99,"cmd":');
    await waitUntil(() => r.sessions[0].socket.isPaused(), 5_000, 'the agent to pause the client');
    await delay(LINE_MS * 2);
    expect(c.closed).toBe(false);
    const resumedAt = Date.now();
    r.release();
    await waitUntil(() => c.closed, 5_000, 'the line deadline to close the connection');
    expect(Date.now() - resumedAt).toBeGreaterThanOrEqual(LINE_MS - 20);
    expect(c.lines.at(-1)).toBe(JSON.stringify({ id: null, ok: false, error: { code: 'BAD_ARGUMENT', message: `line not finished within ${LINE_MS} ms: closing` } }));
  });

  it('still cuts off a half line from a client that is not paused', async () => {
    const r = await rig();
    const c = await client(r.port);
    const sentAt = Date.now();
    c.s.write('{"id":1,"cmd":"ps"');
    await waitUntil(() => c.closed, 5_000, 'the line deadline to close the connection');
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(LINE_MS - 20);
    expect(c.lines.at(-1)).toContain(`line not finished within ${LINE_MS} ms`);
  });
});
