// End to end: one command over every agent of a machine (`check --all`, `ps --all`) against a
// real node:cluster tree (a primary and two workers, each with the agent preloaded through
// NODE_OPTIONS): one block per process, in parallel with one --timeout, --json one document
// with a row per process, the exit code the worst of theirs (usage 2 > unreachable 3 > failed
// 1 > ok 0). A worker stopped with SIGSTOP is a process whose agent cannot answer.
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { worstExit } from '../cli/all.js';
import { FIXTURES, REGISTER, spawnNode, waitUntil } from './helpers/child.js';
import type { Child } from './helpers/child.js';
import { Cleanups, cliIn, json, show } from './helpers/cli.js';
import { agentEnv, makeToken, readDiscovery } from './helpers/wire.js';
import { request } from 'node:http';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

interface Ready {
  pid: number;
  workers: number[];
  http: number;
}

interface Row {
  pid: number;
  address: string;
  command: string;
  exit: number;
  ok: boolean;
  checks?: Array<{ name: string; ok: boolean; message: string }>;
  result?: { total: number; items: unknown[] };
  error?: { code: string; message: string };
}

/** The cluster fixture under NODE_OPTIONS, its three discovery files written. */
async function cluster(env: Record<string, string> = {}): Promise<{ dir: string; ready: Ready; child: Child; pids: number[] }> {
  const dir = cleanups.runtimeDir();
  const child = spawnNode(resolve(FIXTURES, 'hosts-cluster.cjs'), {
    env: agentEnv({ NODE_OPTIONS: `--require ${REGISTER}`, ASYNCMON_PORT: '0', ASYNCMON_TOKEN: makeToken(), XDG_RUNTIME_DIR: dir, HOSTS_DONE_FILE: join(dir, 'done'), ...env }),
  });
  cleanups.add(() => child.kill());
  const ready = JSON.parse((await child.waitFor(/^READY (.*)$/m, 20_000))[1]) as Ready;
  cleanups.add(() => {
    for (const pid of ready.workers) {
      try {
        process.kill(pid, 'SIGCONT');
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
  });
  const pids = [ready.pid, ...ready.workers].sort((a, b) => a - b);
  await waitUntil(() => pids.every((pid) => readDiscovery(dir, pid)), 15_000, 'the three discovery files');
  return { dir, ready, child, pids };
}

/** Sends a request and does not wait for the answer (a spin answers only when it ends). */
function fire(port: number, path: string): void {
  const req = request({ host: '127.0.0.1', port, path, agent: false });
  req.on('error', () => {});
  req.on('response', (res) => res.resume());
  req.end();
  cleanups.add(() => req.destroy());
}

describe('worstExit', () => {
  it('orders usage over unreachable over a failed check over a pass', () => {
    expect(worstExit([])).toBe(0);
    expect(worstExit([0, 0])).toBe(0);
    expect(worstExit([0, 1, 0])).toBe(1);
    expect(worstExit([1, 3, 0])).toBe(3);
    expect(worstExit([3, 1])).toBe(3);
    expect(worstExit([3, 2, 1])).toBe(2);
  });
});

describe('check --all and ps --all over a node:cluster tree', () => {
  it('all healthy: one block per process and a summary, exit 0; --json a row per process; ps --all the tasks of each', async () => {
    const { dir, pids } = await cluster();
    const cli = cliIn(dir);
    const text = await cli('check', '--all');
    expect(text.code, show(text)).toBe(0);
    const blocks = text.stdout.trimEnd().split('\n\n');
    expect(blocks).toHaveLength(pids.length + 1);
    pids.forEach((pid, i) => {
      expect(blocks[i]).toMatch(new RegExp(`^── pid ${pid} · 127\\.0\\.0\\.1:\\d+ · .*hosts-cluster\\.cjs\\n✓ pid ${pid}: all 1 checks passed$`));
    });
    expect(blocks[pids.length]).toBe('✓ 3 processes: 3 passed');

    const doc = json(await cli('check', '--all', '--json'));
    expect(doc).toMatchObject({ ok: true, exit: 0 });
    expect((doc.processes as Row[]).map((r) => [r.pid, r.exit, r.ok, r.checks?.[0]?.name])).toEqual(pids.map((pid) => [pid, 0, true, 'blocked']));
    for (const r of doc.processes as Row[]) expect(r.address).toBe(`127.0.0.1:${readDiscovery(dir, r.pid).port}`);

    const ps = json(await cli('ps', '--all', '--json'));
    expect(ps.exit).toBe(0);
    expect((ps.processes as Row[]).map((r) => [r.pid, Array.isArray(r.result?.items)])).toEqual(pids.map((pid) => [pid, true]));
    const psText = await cli('ps', '--all');
    expect(psText.code, show(psText)).toBe(0);
    for (const pid of pids) expect(psText.stdout).toMatch(new RegExp(`^── pid ${pid} · .*\\n(no live tasks|\\s*ID KIND)`, 'm'));

    // -t and --all exclude each other; a bad limit is said once, not per process.
    const both = await cli('check', '--all', '-t', String(pids[0]));
    expect(both.code, show(both)).toBe(2);
    expect(both.stderr).toMatch(/--all and -t exclude each other/);
    const bad = await cli('check', '--all', '--max-lag', 'soon');
    expect(bad.code, show(bad)).toBe(2);
    expect(bad.stderr).toBe('asyncmon: bad --max-lag "soon": use e.g. 500ms, 30s, 2m\n');
    expect(bad.stdout).toBe('');
    const badTrace = await cli('ps', '--all', '--trace', 'nothex!!');
    expect(badTrace.code, show(badTrace)).toBe(2);
    expect(badTrace.stderr.match(/bad trace/g)).toHaveLength(1);
  }, 60_000);

  it('a blocked worker fails (exit 1), a stopped one is unreachable within the one --timeout (exit 3: the worst); the others pass', async () => {
    const { dir, ready, pids } = await cluster();
    const cli = cliIn(dir);
    fire(ready.http, '/spin?ms=15000');
    // Which worker spins: the one whose row fails the blocked check.
    const spinning = (await waitUntil(
      async () => {
        const doc = json(await cli('check', '--all', '--max-blocked', '300', '--json'));
        return (doc.processes as Row[]).find((r) => r.exit === 1)?.pid;
      },
      12_000,
      'a worker blocked for more than 300 ms',
    )) as number;
    expect(ready.workers).toContain(spinning);
    const stopped = ready.workers.find((p) => p !== spinning) as number;
    process.kill(stopped, 'SIGSTOP');

    const started = Date.now();
    const text = await cli('check', '--all', '--max-blocked', '300', '--timeout', '1500');
    const took = Date.now() - started;
    expect(text.code, show(text)).toBe(3);
    // In parallel: one timeout for all, not one per process (Node's start-up on top).
    expect(took, show(text)).toBeLessThan(1500 + 4000);
    const blocks = text.stdout.trimEnd().split('\n\n');
    const block = (pid: number) => blocks.find((b) => b.startsWith(`── pid ${pid} `)) ?? '';
    expect(block(ready.pid)).toMatch(/✓ pid \d+: all 1 checks passed$/);
    expect(block(spinning)).toMatch(new RegExp(`\\n✗ event loop blocked [\\d.]+m?s \\(max 300ms\\)[^\\n]*\\n✗ pid ${spinning}: 1 of 1 checks failed$`));
    expect(block(stopped)).toMatch(/\n✗ the agent did not answer hello within 1500 ms$/);
    expect(blocks[blocks.length - 1]).toBe('✗ 3 processes: 1 passed, 1 failed, 1 unreachable');

    const doc = json(await cli('check', '--all', '--max-blocked', '300', '--timeout', '1500', '--json'));
    expect(doc).toMatchObject({ ok: false, exit: 3 });
    const byPid = new Map((doc.processes as Row[]).map((r) => [r.pid, r]));
    expect(byPid.get(ready.pid)).toMatchObject({ exit: 0, ok: true });
    expect(byPid.get(spinning)).toMatchObject({ exit: 1, ok: false });
    expect(byPid.get(spinning)?.checks?.find((c) => c.name === 'blocked')?.ok).toBe(false);
    expect(byPid.get(stopped)).toMatchObject({ exit: 3, ok: false, error: { code: 'UNAVAILABLE' } });
    expect([...byPid.keys()].sort((a, b) => a - b)).toEqual(pids);

    // ps --all: the stopped worker's row says so, the others answer; exit 3.
    const ps = await cli('ps', '--all', '--timeout', '1500', '--json');
    expect(ps.code, show(ps)).toBe(3);
    expect((json(ps).processes as Row[]).find((r) => r.pid === stopped)).toMatchObject({ exit: 3, error: { code: 'UNAVAILABLE' } });
    process.kill(stopped, 'SIGCONT');
    writeFileSync(join(dir, 'done'), '');
  }, 60_000);
});

describe('--all with no agent', () => {
  it('says none was found, exit 2, like a check without -t', async () => {
    const dir = cleanups.runtimeDir();
    const r = await cliIn(dir)('check', '--all');
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toMatch(/^asyncmon: no asyncmon agent found for this user/);
  });
});
