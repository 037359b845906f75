/**
 * Issue 14: `awaits`, the await graph from a heap snapshot, at the default level (no promise
 * hooks at all): every suspended handler at the line it is suspended on, the request (task) it
 * works for, and what it waits for; `where <id>` uses it when hooks recorded nothing; a request
 * whose handler was collected is reported as one that can never be answered. Real Express and
 * Fastify in the fixture (test/fixtures/parked/app.cjs).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Cleanups, cliIn, json, ok } from './helpers/cli.js';
import { FIXTURES, waitUntil } from './helpers/child.js';
import { markedLine } from './helpers/wire.js';

const APP = 'parked/app.cjs';
const APP_PATH = join(FIXTURES, APP);
const cleanups = new Cleanups();
afterEach(() => cleanups.run());

async function setup() {
  const dir = cleanups.runtimeDir();
  const app = await cleanups.fixture(APP, { runtimeDir: dir, env: { ASYNCMON_TRACK: 'tasks', ASYNCMON_STACKS: 'off' } });
  return { app, cli: cliIn(dir) };
}

interface Chain {
  task: { id: number; name: string } | null;
  request: string | null;
  frames: Array<{ fn: string; site: { file: string; line: number; lib?: string } | null }>;
  waitsFor: { kind: string; heldBy?: string[] };
}

describe('awaits at the default level', () => {
  it('names every parked handler at its line, with its request and what it waits for', async () => {
    const { cli } = await setup();
    const r = json(ok(await cli('awaits', '--json')));
    expect(r.pauseMs).toBeGreaterThan(0);
    expect(r.snapshotBytes).toBeGreaterThan(100_000);
    const chains = r.chains as Chain[];
    const at = (line: number) => chains.find((c) => c.frames.some((f) => f.site?.file === APP_PATH && f.site.line === line));
    for (const [mark, task] of [
      ['express-await', 'GET /express/42'],
      ['catch-await', 'GET /catch'],
      ['once-await', 'GET /once'],
      ['lib-await', 'GET /lib'],
      ['fastify-await', null],
    ] as const) {
      const chain = at(markedLine(APP, mark));
      expect(chain, `${mark} in ${JSON.stringify(chains.map((c) => c.frames))}`).toBeDefined();
      if (task) expect(chain!.task?.name).toBe(task);
    }
    // The database's waiters sit in an array: the chain says who holds the resolver.
    expect(at(markedLine(APP, 'catch-await'))!.waitsFor).toEqual({ kind: 'promise', heldBy: [expect.stringMatching(/app\.cjs: db\.waiting\[\d\]\.resolve/)] });
    // The library's own async function is shown beside the user's, by package.
    expect(at(markedLine(APP, 'lib-await'))!.frames.map((f) => f.site?.lib ?? null)).toEqual([null, 'fake-http-lib']);
    // The handlers that await a promise nothing holds were collected: their requests are lost,
    // the plain server's, Express 5's (its router's `next` on the request holds the response, and
    // morgan listens on it) and Fastify's; every other one is parked on something that can answer.
    const lost = r.lost as Array<{ request: string; task: { id: number; name: string } | null }>;
    expect(lost.map((l) => l.request).sort()).toEqual(['GET /express-never', 'GET /fastify-never', 'GET /never']);
    expect(lost.find((l) => l.request === 'GET /express-never')!.task).toMatchObject({ name: 'GET /express-never' });
    const text = ok(await cli('awaits')).stdout;
    expect(text).toMatch(/^\d+ chains of suspended async functions; the host paused \S+ to write a [\d.]+ [KM]B heap snapshot$/m);
    expect(text).toContain(`› handle (test/fixtures/parked/app.cjs:${markedLine(APP, 'catch-await')}:`);
    expect(text).toMatch(/GET \/never \(task \d+\) can never be answered: nothing left in the process can resolve what it waited on/);
    // The README's example is this run's output: each of its paragraphs is one of these (chain
    // numbers and the pause's figures aside, which vary between runs and Node versions).
    const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
    const example = /```text\n\$ asyncmon awaits\n([\s\S]*?)```/.exec(readme)![1];
    const norm = (p: string) => p.trim().replace(/^#\d+ /, '#N ').replace(/paused \S+ to write a [\d.]+ MB/, 'paused Nms to write a N MB');
    const actual = new Set(text.split('\n\n').map(norm));
    for (const paragraph of example.split('\n\n')) expect([...actual], paragraph).toContain(norm(paragraph));
  });

  it('where <id> names the line from the heap when no hook recorded it', async () => {
    const { cli } = await setup();
    const items = json(ok(await cli('ps', '--json'))).items as Array<{ id: number; name: string; kind: string }>;
    const id = items.find((t) => t.name === 'GET /catch' && t.kind === 'http-server')!.id;
    const w = json(ok(await cli('where', String(id), '--json')));
    expect(w.waitsOn.site).toMatchObject({ file: APP_PATH, line: markedLine(APP, 'catch-await') });
    expect(w.waitsNote).toMatch(/^from a heap snapshot: the host paused \S+ to write it$/);
  });

  it("parses in a thread of its own that is gone after the answer (the host's thread count is back)", async () => {
    const { app, cli } = await setup();
    const threads = () => Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${app.pid}/status`, 'utf8'))![1]);
    const before = threads();
    ok(await cli('awaits'));
    await waitUntil(() => threads() <= before, 5_000, `the host back to ${before} threads (has ${threads()})`);
  });

  it('refuses a heap over ASYNCMON_AWAITS_MAX_HEAP_MB before taking a snapshot, saying how to raise it', async () => {
    const dir = cleanups.runtimeDir();
    await cleanups.fixture(APP, { runtimeDir: dir, env: { ASYNCMON_TRACK: 'tasks', ASYNCMON_AWAITS_MAX_HEAP_MB: '1' } });
    const cli = cliIn(dir);
    // The worker learns the heap's size from the main thread's status, about once a second.
    const r = (await waitUntil(async () => {
      const x = await cli('awaits');
      return x.code !== 0 ? x : null;
    }, 10_000, 'awaits refused'))!;
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^asyncmon: the host's heap is [\d.]+ MB, over the 1(\.0)? MB awaits takes a snapshot of; ASYNCMON_AWAITS_MAX_HEAP_MB in the host's environment raises it$/m);
    // `where` still answers, without the heap.
    const items = json(ok(await cli('ps', '--json'))).items as Array<{ id: number; name: string }>;
    const w = json(ok(await cli('where', String(items.find((t) => t.name === 'GET /catch')!.id), '--json')));
    expect(w.waitsNote ?? '').not.toMatch(/heap snapshot/);
  });
});
