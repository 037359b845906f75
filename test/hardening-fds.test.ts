/**
 * Out of file descriptors: when the host hits its open-file limit, the connections that come
 * then cannot be accepted (libuv accepts and closes them with a descriptor it keeps in reserve).
 * Those are lost, and only those: once descriptors are free again the agent accepts as before.
 *
 * The limit is lowered on the running host with `prlimit` (util-linux), to a few descriptors
 * above what it has open.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openJson, startApp } from './helpers/wire.js';
import type { App } from './helpers/wire.js';

const PRLIMIT = ['/usr/bin/prlimit', '/bin/prlimit'].find((p) => existsSync(p));
let app: App;

beforeAll(async () => {
  app = await startApp('stream-app.cjs', { STREAM_N: '10' });
});
afterAll(() => app?.stop());

function openSocket(port: number): Promise<{ socket: Socket; closedSoon: Promise<boolean> }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    const closedSoon = new Promise<boolean>((r) => {
      socket.once('close', () => r(true));
      setTimeout(() => r(socket.destroyed), 500);
    });
    socket.once('connect', () => resolve({ socket, closedSoon }));
    socket.once('error', () => resolve({ socket, closedSoon: Promise.resolve(true) }));
  });
}

describe('the host runs out of file descriptors', () => {
  it.skipIf(!PRLIMIT)('connections refused meanwhile are lost; the agent accepts again afterwards', async () => {
    const open = readdirSync(`/proc/${app.pid}/fd`).length;
    // The soft limit only: lowering the hard one could not be undone without privileges.
    const soft = execFileSync(PRLIMIT!, ['--pid', String(app.pid), '--nofile', '--output=SOFT', '--noheadings', '--raw'], { encoding: 'utf8' }).trim();
    execFileSync(PRLIMIT!, ['--pid', String(app.pid), `--nofile=${open + 3}:`]);
    const sockets: Socket[] = [];
    try {
      // More connections than descriptors left: some are accepted, the rest fail to be.
      const results = [];
      for (let i = 0; i < 12; i++) {
        const s = await openSocket(app.port);
        sockets.push(s.socket);
        results.push(s);
      }
      const closed = await Promise.all(results.map((r) => r.closedSoon));
      expect(closed.filter(Boolean).length, 'connections the agent could not accept').toBeGreaterThan(0);
    } finally {
      for (const s of sockets) s.destroy();
      execFileSync(PRLIMIT!, ['--pid', String(app.pid), `--nofile=${soft}:`]);
    }
    // Descriptors are free again: a new client is served as usual.
    const c = await openJson(app.port, app.token);
    try {
      expect((await c.ok('health')).status).toBe('ok');
    } finally {
      c.close();
    }
  });
});
