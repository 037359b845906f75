/**
 * Issue 12, finding 5: a user without the token must not be able to lock the owner out.
 * Connections that have not logged in have a pool of their own (8), where a new one pushes out
 * the oldest; logged-in sessions have theirs (16); a JSON client must log in within 2 s; and
 * the CLI prints the agent's refusal instead of hiding it.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Cleanups, cliIn, show } from './helpers/cli.js';
import { WireClient, openJson, openText } from './helpers/wire.js';
import type { App } from './helpers/wire.js';
import { startApp } from './helpers/wire.js';

const cleanups = new Cleanups();
const apps: App[] = [];
afterEach(() => {
  cleanups.run();
  for (const a of apps.splice(0)) a.stop();
});

async function app(): Promise<App> {
  const a = await startApp('server-app.cjs', {});
  apps.push(a);
  return a;
}

/**
 * A hog without the token: keeps `n` silent connections open and opens a new one as soon as
 * any closes, until stopped. Returns how many connections it has made.
 */
function hog(port: number, n: number): { stop: () => void; made: () => number } {
  let stopped = false;
  let made = 0;
  const open = new Set<Socket>();
  const one = () => {
    if (stopped) return;
    made++;
    const s = connect(port, '127.0.0.1');
    open.add(s);
    s.on('error', () => {});
    s.resume(); // read, so that it sees the agent close it, and comes back
    s.on('close', () => {
      open.delete(s);
      setImmediate(one);
    });
  };
  for (let i = 0; i < n; i++) one();
  return {
    stop: () => {
      stopped = true;
      for (const s of open) s.destroy();
    },
    made: () => made,
  };
}

describe('finding 5: a user without the token can lock the owner out', () => {
  it('with a reconnecting hog holding 40 silent connections, asyncmon check passes 10 times in 10', async () => {
    const a = await app();
    const h = hog(a.port, 40);
    cleanups.add(h.stop);
    const cli = cliIn(a.runtime.dir);
    const codes: number[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await cli('check', '-t', `127.0.0.1:${a.port}`, '--token', a.token);
      if (r.code !== 0) console.log(show(r));
      codes.push(r.code ?? -1);
    }
    expect(codes).toEqual(Array(10).fill(0));
    expect(h.made()).toBeGreaterThan(40); // the hog was pushed out and came back
  }, 60_000);

  it('the hog never takes a logged-in session: the owner logged in before it keeps working', async () => {
    const a = await app();
    const mine = await openJson(a.port, a.token);
    cleanups.add(() => mine.close());
    const h = hog(a.port, 40);
    cleanups.add(h.stop);
    for (let i = 0; i < 5; i++) expect((await mine.request('health')).ok).toBe(true);
    expect(mine.isClosed).toBe(false);
  });

  it('a JSON client that has not logged in within 2 s is closed, a person on the text REPL gets longer', async () => {
    const a = await app();
    const json = await WireClient.connect(a.port, '127.0.0.1', 5000, '{"id":1,"cmd":"help"}\n');
    const text = await WireClient.connect(a.port, '127.0.0.1', 5000, 'help\n');
    await json.waitClosed(5000);
    expect(json.transcript()).toContain('authentication timeout');
    expect(text.isClosed).toBe(false);
    text.close();
  });

  it('the CLI prints the agent’s refusal when every session is taken', async () => {
    const a = await app();
    const held: WireClient[] = [];
    cleanups.add(() => held.forEach((c) => c.close()));
    for (let i = 0; i < 16; i++) held.push(i % 2 ? await openJson(a.port, a.token) : await openText(a.port, a.token));
    const r = await cliIn(a.runtime.dir)('check', '-t', `127.0.0.1:${a.port}`, '--token', a.token);
    expect(r.code, show(r)).toBe(3);
    expect(r.stderr, show(r)).toContain('too many connections (limit 16 sessions)');
  });
});
