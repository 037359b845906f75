// Hardening: hosts with more than one thread or process. Under the preload, worker threads get
// no agent of their own (one agent per process, on its main thread), and their work completes;
// every process of a node:cluster tree gets its own agent, discovery file and port, the CLI
// sees all of them, and the tree still exits when the primary disconnects its workers. Workers
// inherit the primary's ASYNCMON_PORT / ASYNCMON_SOCKET: the primary keeps it, each worker
// takes an ephemeral port / `<socket>.<pid>` instead of failing on the same address.
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { exitWithin, FIXTURES, httpGet, isAlive, REGISTER, spawnNode, waitUntil } from './helpers/child.js';
import { Cleanups, cliIn, exitedZero, json, show } from './helpers/cli.js';
import { agentEnv, closedPort, makeToken, openJson, readDiscovery } from './helpers/wire.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

function discoveryPids(dir: string): number[] {
  const d = join(dir, 'asyncmon');
  if (!existsSync(d)) return [];
  return readdirSync(d)
    .filter((f) => f.endsWith('.json'))
    .map((f) => Number(f.slice(0, -5)))
    .sort((a, b) => a - b);
}

describe('worker threads', () => {
  it('under the preload: one agent (one discovery file, the main pid), the workers finish their work, the process exits by itself', async () => {
    const dir = cleanups.runtimeDir();
    const done = join(dir, 'done');
    const token = makeToken();
    const child = spawnNode(resolve(FIXTURES, 'hosts-workers.cjs'), {
      nodeArgs: ['--require', REGISTER],
      env: agentEnv({ ASYNCMON_PORT: '0', ASYNCMON_TOKEN: token, XDG_RUNTIME_DIR: dir, HOSTS_DONE_FILE: done, HOSTS_WORKERS: '3' }),
    });
    cleanups.add(() => child.kill());
    const m = await child.waitFor(/^RESULT (.*)$/m, 20_000);
    const result = JSON.parse(m[1]) as {
      pid: number;
      port: number;
      results: Array<{ index: number; threadId: number; sum: number; agentInWorker: boolean; monitorInWorker: boolean }>;
    };
    expect(result.pid).toBe(child.proc.pid);
    // Every worker did its work, and the preload made no agent in any of them.
    expect(result.results.map((r) => r.index)).toEqual([0, 1, 2]);
    for (const r of result.results) expect(r).toMatchObject({ sum: 190, agentInWorker: false, monitorInWorker: false });

    // One discovery file, the main thread's, naming the port the main thread's agent listens on.
    await waitUntil(() => readDiscovery(dir, result.pid), 10_000, 'the discovery file');
    expect(discoveryPids(dir)).toEqual([result.pid]);
    expect(readDiscovery(dir, result.pid)).toMatchObject({ pid: result.pid, port: result.port });
    const ls = json(exitedZero(await cliIn(dir)('ls', '--json'))) as Array<{ pid: number }>;
    expect(ls.map((a) => a.pid)).toEqual([result.pid]);
    const c = await openJson(result.port, token);
    try {
      expect((await c.ok('health')).pid).toBe(result.pid);
    } finally {
      c.close();
    }

    writeFileSync(done, '');
    expect(await exitWithin(child, 15_000)).toBe(0);
    expect(child.stderr()).toBe('');
    expect(discoveryPids(dir)).toEqual([]);
  }, 45_000);
});

describe('node:cluster', () => {
  it('primary + 2 workers under NODE_OPTIONS: three agents, three discovery files, three distinct ports; ls and ps see each; the tree exits on disconnect', async () => {
    const dir = cleanups.runtimeDir();
    const done = join(dir, 'done');
    const child = spawnNode(resolve(FIXTURES, 'hosts-cluster.cjs'), {
      env: agentEnv({ NODE_OPTIONS: `--require ${REGISTER}`, ASYNCMON_PORT: '0', ASYNCMON_TOKEN: makeToken(), XDG_RUNTIME_DIR: dir, HOSTS_DONE_FILE: done }),
    });
    cleanups.add(() => child.kill());
    const m = await child.waitFor(/^READY (.*)$/m, 20_000);
    const ready = JSON.parse(m[1]) as { pid: number; workers: number[]; http: number; httpPorts: number[] };
    cleanups.add(() => {
      for (const pid of ready.workers) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
    });
    expect(ready.pid).toBe(child.proc.pid);
    expect(ready.workers).toHaveLength(2);
    // The workers share one HTTP port, as cluster does.
    expect(ready.httpPorts).toHaveLength(1);
    const pids = [ready.pid, ...ready.workers].sort((a, b) => a - b);

    // Each process has its own agent: its own discovery file and its own port.
    const records = (await waitUntil(
      () => {
        const rs = pids.map((pid) => readDiscovery(dir, pid));
        return rs.every((r) => r !== undefined) ? (rs as Array<{ pid: number; port: number }>) : undefined;
      },
      15_000,
      'a discovery file for the primary and both workers',
    )) as Array<{ pid: number; port: number }>;
    expect(discoveryPids(dir)).toEqual(pids);
    const ports = records.map((r) => r.port);
    for (const p of ports) expect(p).toBeGreaterThan(0);
    expect(new Set(ports).size, JSON.stringify(records)).toBe(3);
    expect(ports).not.toContain(ready.http);

    const cli = cliIn(dir);
    const ls = json(exitedZero(await cli('ls', '--json'))) as Array<{ pid: number; port: number }>;
    expect(ls.map((a) => a.pid).sort((a, b) => a - b)).toEqual(pids);
    for (const pid of pids) {
      const ps = exitedZero(await cli('ps', '-t', String(pid), '--json'));
      expect(Array.isArray(json(ps).items), show(ps)).toBe(true);
    }
    // The app itself serves, from a worker.
    const body = await httpGet(ready.http, '/');
    expect(ready.workers.map((p) => `pid ${p}`)).toContain(body);

    writeFileSync(done, '');
    expect(await exitWithin(child, 20_000)).toBe(0);
    expect(child.stdout()).toMatch(/^DISCONNECTED$/m);
    for (const pid of ready.workers) expect(child.stdout()).toMatch(new RegExp(`^WORKER-EXIT ${pid} 0 null$`, 'm'));
    await waitUntil(() => ready.workers.every((pid) => !isAlive(pid)), 10_000, 'the workers to be gone');
    expect(child.stderr()).toBe('');
    expect(discoveryPids(dir)).toEqual([]);
  }, 60_000);
});

describe('node:cluster workers inheriting an explicit address', () => {
  async function tree(env: Record<string, string>) {
    const dir = cleanups.runtimeDir();
    const done = join(dir, 'done');
    const token = makeToken();
    const child = spawnNode(resolve(FIXTURES, 'hosts-cluster.cjs'), {
      env: agentEnv({ NODE_OPTIONS: `--require ${REGISTER}`, ASYNCMON_TOKEN: token, XDG_RUNTIME_DIR: dir, HOSTS_DONE_FILE: done, ...env }),
    });
    cleanups.add(() => child.kill());
    const ready = JSON.parse((await child.waitFor(/^READY (.*)$/m, 20_000))[1]) as { pid: number; workers: number[] };
    cleanups.add(() => {
      for (const pid of ready.workers) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
    });
    const pids = [ready.pid, ...ready.workers];
    const records = (await waitUntil(
      () => {
        const rs = pids.map((pid) => readDiscovery(dir, pid));
        return rs.every((r) => r !== undefined) ? rs : undefined;
      },
      15_000,
      'a discovery file for the primary and both workers',
    )) as Array<{ pid: number; port: number | null; socket: string | null }>;
    return { dir, done, child, ready, records };
  }

  it('ASYNCMON_PORT=<port>: the primary listens there, each worker on an ephemeral port of its own, no error line; check --all passes', async () => {
    const port = await closedPort();
    const { dir, done, child, ready, records } = await tree({ ASYNCMON_PORT: String(port) });
    expect(records[0]).toMatchObject({ pid: ready.pid, port });
    const workerPorts = records.slice(1).map((r) => r.port);
    for (const p of workerPorts) expect(p).toBeGreaterThan(0);
    expect(new Set([port, ...workerPorts]).size).toBe(3);
    const r = await cliIn(dir)('check', '--all', '--json');
    expect(r.code, show(r)).toBe(0);
    expect((json(r).processes as Array<{ pid: number }>).length).toBe(3);
    writeFileSync(done, '');
    expect(await exitWithin(child, 20_000)).toBe(0);
    expect(child.stderr()).toBe('');
  }, 60_000);

  it('ASYNCMON_SOCKET=<path>: the primary listens on it, each worker on <path>.<pid>; all files are gone after exit', async () => {
    const base = join(cleanups.runtimeDir(), 'agent.sock');
    const { dir, done, child, ready, records } = await tree({ ASYNCMON_SOCKET: base });
    expect(records.map((r) => r.socket)).toEqual([base, ...ready.workers.map((pid) => `${base}.${pid}`)]);
    const r = await cliIn(dir)('check', '--all');
    expect(r.code, show(r)).toBe(0);
    writeFileSync(done, '');
    expect(await exitWithin(child, 20_000)).toBe(0);
    expect(child.stderr()).toBe('');
    await waitUntil(() => [base, ...ready.workers.map((pid) => `${base}.${pid}`)].every((f) => !existsSync(f)), 10_000, 'the sockets to be removed');
  }, 60_000);
});
