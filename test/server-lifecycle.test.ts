/**
 * How the agent's server starts and stops, and that it never holds the host: a port in use
 * (explicit: one stderr line and the host runs on; the default one: an ephemeral port instead),
 * startMonitor() called again, close() twice and during a session, the host exiting by itself
 * with clients connected or not, and ASYNCMON=0.
 *
 * Fixtures: test/fixtures/server-work.cjs (a host that knows nothing of asyncmon and finishes on
 * SIGUSR2) under the preload, and test/fixtures/server-api.cjs (startMonitor/close from code).
 */
import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../src/defaults.js';
import { FIXTURES, REGISTER, exitWithin, spawnNode, waitUntil } from './helpers/child.js';
import type { Child } from './helpers/child.js';
import { CONSOLE_PROMPT, WAIT_MS, WireClient, agentEnv, makeRuntimeDir, makeToken, openJson, openText, readDiscovery, tryConnect } from './helpers/wire.js';

/** Once its work is done, a host must be gone within this. */
const EXIT_MS = 5_000;

beforeAll(() => {
  if (!existsSync(REGISTER)) throw new Error(`${REGISTER} is missing: run \`npm run build\` first`);
});

interface Host {
  child: Child;
  pid: number;
  token: string;
  runtime: ReturnType<typeof makeRuntimeDir>;
  /** WORKING's report: whether the preload made the agent and the monitor before line one. */
  report: { pid: number; agent: boolean; monitor: boolean };
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const fn of cleanups.splice(0).reverse()) fn();
});

/** Runs server-work.cjs under the preload (ASYNCMON_PORT=0 unless `env` says otherwise). */
async function host(env: Record<string, string | undefined> = {}, preload = true): Promise<Host> {
  const token = makeToken();
  const runtime = makeRuntimeDir();
  const child = spawnNode(resolve(FIXTURES, 'server-work.cjs'), {
    nodeArgs: preload ? ['--require', REGISTER] : [],
    env: agentEnv({ ASYNCMON_PORT: '0', ASYNCMON_TOKEN: token, XDG_RUNTIME_DIR: runtime.dir, ...env }),
  });
  cleanups.push(() => {
    child.kill();
    runtime.remove();
  });
  const m = await child.waitFor(/^WORKING (.*)$/m);
  return { child, pid: child.proc.pid!, token, runtime, report: JSON.parse(m[1]) as Host['report'] };
}

/** The port from the host's discovery file, once it is there. */
async function discoveredPort(h: Host): Promise<number> {
  const record = await waitUntil(() => readDiscovery(h.runtime.dir, h.pid), WAIT_MS, 'the discovery file');
  return record.port as number;
}

/** Tells server-work.cjs to finish; resolves with its exit code once it has ended by itself. */
async function finish(h: Host): Promise<number | string> {
  h.child.proc.kill('SIGUSR2');
  await h.child.waitFor(/^DONE$/m, WAIT_MS);
  return exitWithin(h.child, EXIT_MS);
}

/** A listener the test holds, on `port` (0: any). */
function hold(port: number): Promise<Server> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer((s) => s.destroy());
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      cleanups.push(() => server.close());
      resolvePromise(server);
    });
  });
}

describe('a port in use', () => {
  it('explicit (ASYNCMON_PORT): exactly one asyncmon: line on stderr, and the host runs on and exits 0', async () => {
    const busy = await hold(0);
    const port = (busy.address() as AddressInfo).port;
    const h = await host({ ASYNCMON_PORT: String(port) });
    await waitUntil(() => h.child.stderr().includes('\n'), WAIT_MS, 'the agent to report on stderr');
    expect(await finish(h)).toBe(0);
    const lines = h.child.stderr().split('\n').filter((l) => l !== '');
    expect(lines, h.child.stderr()).toHaveLength(1);
    expect(lines[0]).toMatch(/^asyncmon: /);
    expect(lines[0]).toContain(`127.0.0.1:${port}`);
    expect(lines[0]).toMatch(/in use/);
    expect(h.child.stdout()).toMatch(/^DONE$/m);
    // No discovery file for an agent that did not start.
    expect(existsSync(h.runtime.discoveryDir) ? readdirSync(h.runtime.discoveryDir) : []).toEqual([]);
  });

  it(`the default (${DEFAULTS.port}) busy and no ASYNCMON_PORT: an ephemeral port, in the discovery file`, async (ctx) => {
    let busy: Server;
    try {
      busy = await hold(DEFAULTS.port);
    } catch (err) {
      ctx.skip(`port ${DEFAULTS.port} cannot be held by the test: ${(err as NodeJS.ErrnoException).code}`);
      return;
    }
    const h = await host({ ASYNCMON_PORT: undefined });
    const port = await discoveredPort(h);
    expect(port).not.toBe(DEFAULTS.port);
    expect(port).toBeGreaterThan(0);
    expect(busy.listening).toBe(true);
    const c = await openJson(port, h.token);
    try {
      expect(await c.ok('health')).toMatchObject({ status: 'ok', pid: h.pid });
    } finally {
      c.close();
    }
    expect(h.child.stderr()).toBe('');
    expect(await finish(h)).toBe(0);
  });
});

describe('startMonitor() and close() from code', () => {
  it('startMonitor twice gives the same monitor; close twice frees the port and ends open sessions', async () => {
    const token = makeToken();
    const runtime = makeRuntimeDir();
    const child = spawnNode(resolve(FIXTURES, 'server-api.cjs'), { env: agentEnv({ ASYNCMON_TOKEN: token, XDG_RUNTIME_DIR: runtime.dir }) });
    cleanups.push(() => {
      child.kill();
      runtime.remove();
    });
    const addr = JSON.parse((await child.waitFor(/^ADDR (.*)$/m))[1]) as { port: number; same: boolean; addresses: unknown[]; discovery: string };
    expect(addr.same).toBe(true);
    expect(addr.addresses).toEqual([
      { host: '127.0.0.1', port: addr.port, socket: null },
      { host: '127.0.0.1', port: addr.port, socket: null },
      { host: '127.0.0.1', port: addr.port, socket: null },
    ]);
    expect(addr.discovery).toBe(resolve(runtime.discoveryDir, `${child.proc.pid}.json`));
    expect(readDiscovery(runtime.dir, child.proc.pid!)).toMatchObject({ port: addr.port, token });

    // Sessions in both dialects, one of them in the console.
    const json = await openJson(addr.port, token);
    const text = await openText(addr.port, token);
    await json.ok('watch', { interval: 100 });
    text.send('console');
    await text.untilPrompt(CONSOLE_PROMPT);

    child.proc.kill('SIGUSR2');
    const closed = JSON.parse((await child.waitFor(/^CLOSED (.*)$/m))[1]) as { discoveryLeft: boolean };
    await json.waitClosed();
    await text.waitClosed();
    expect(closed.discoveryLeft).toBe(false);
    expect(existsSync(addr.discovery)).toBe(false);
    expect(await tryConnect(addr.port)).toBe('ECONNREFUSED');
    expect(child.proc.exitCode).toBeNull();

    // The port is free: a new monitor can take it, and then the host ends by itself.
    child.proc.kill('SIGUSR2');
    const reopened = JSON.parse((await child.waitFor(/^REOPENED (.*)$/m))[1]) as { port: number; fresh: boolean };
    expect(reopened).toEqual({ port: addr.port, fresh: true });
    expect(await exitWithin(child, EXIT_MS)).toBe(0);
    expect(child.stdout()).not.toMatch(/^FAILED/m);
    expect(child.stderr()).toBe('');
  });
});

describe('the agent never keeps the host alive', () => {
  it('no client ever connected: exits 0 by itself', async () => {
    const h = await host();
    expect(h.report).toMatchObject({ agent: true, monitor: true });
    await discoveredPort(h);
    expect(await finish(h)).toBe(0);
    expect(h.child.stderr()).toBe('');
  });

  it('a client connected, worked and disconnected: exits 0 by itself', async () => {
    const h = await host();
    const port = await discoveredPort(h);
    const text = await openText(port, h.token);
    expect(await text.command('ps')).toBe('no live tasks');
    expect(await text.command('handles')).toMatch(/interval every 1000ms work/);
    text.send('quit');
    await text.waitClosed();
    const json = await openJson(port, h.token);
    await json.ok('snapshot');
    json.close();
    expect(await finish(h)).toBe(0);
  });

  it('clients still connected (watching, in the console, not authenticated): exits 0 by itself, and they are closed', async () => {
    const h = await host();
    const port = await discoveredPort(h);
    const json = await openJson(port, h.token);
    await json.ok('watch', { interval: 100 });
    await json.nextEvent();
    const text = await openText(port, h.token);
    text.send('console');
    await text.untilPrompt(CONSOLE_PROMPT);
    expect(await text.command('1+1', WAIT_MS, CONSOLE_PROMPT)).toBe('2');
    const idle = await WireClient.connect(port);
    await idle.untilPrompt();
    expect(await finish(h)).toBe(0);
    await Promise.all([json.waitClosed(), text.waitClosed(), idle.waitClosed()]);
  });
});

describe('ASYNCMON=0', () => {
  it('no agent, no listener, no discovery file; the host runs as usual', async () => {
    const free = await hold(0);
    const port = (free.address() as AddressInfo).port;
    await new Promise((r) => free.close(r));
    const h = await host({ ASYNCMON: '0', ASYNCMON_PORT: String(port) });
    expect(h.report).toMatchObject({ agent: false, monitor: false });
    expect(await tryConnect(port)).toBe('ECONNREFUSED');
    expect(await finish(h)).toBe(0);
    expect(existsSync(h.runtime.discoveryDir)).toBe(false);
    expect(h.child.stderr()).toBe('');
  });
});
