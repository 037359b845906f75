/**
 * Issue 13, part 1: `where` and `ps` name the await a request is parked on in real frameworks,
 * not the newest promise of its task. Express 5's router chains `.then(noop, next)` on the
 * handler's promise, Fastify wraps it, `handle(req, res).catch(…)` does the same, and
 * `events.once` or a library's internal `return await` (under the fixture's node_modules) make
 * promises newer than the user's await. A request that was already parked when tracking began
 * says so. The fixture (test/fixtures/parked/app.cjs) runs real Express and Fastify.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Cleanups, cliIn, json, ok } from './helpers/cli.js';
import type { Fixture } from './helpers/cli.js';
import { FIXTURES } from './helpers/child.js';
import { markedLine } from './helpers/wire.js';

const APP = 'parked/app.cjs';
const APP_PATH = join(FIXTURES, APP);
const cleanups = new Cleanups();
afterEach(() => cleanups.run());

async function setup(env: Record<string, string> = { ASYNCMON_TRACK: 'promises', ASYNCMON_STACKS: 'tasks' }): Promise<{ app: Fixture; cli: ReturnType<typeof cliIn> }> {
  const dir = cleanups.runtimeDir();
  const app = await cleanups.fixture(APP, { runtimeDir: dir, env });
  return { app, cli: cliIn(dir) };
}

interface Row {
  id: number;
  name: string;
  kind: string;
  waitsOn?: { file: string; line: number } | null;
}

async function serverTask(cli: ReturnType<typeof cliIn>, name: string): Promise<Row> {
  const items = json(ok(await cli('ps', '--json'))).items as Row[];
  const row = items.find((t) => t.name === name && t.kind === 'http-server');
  if (!row) throw new Error(`no request ${name} in ${JSON.stringify(items.map((t) => t.name))}`);
  return row;
}

const CASES: Array<[string, string, string]> = [
  ['Express 5 (the router chains .then(noop, next) on the handler)', 'GET /express/42', 'express-await'],
  ['Fastify (wrapThenable)', 'GET /fastify', 'fastify-await'],
  ['handle(req, res).catch(…)', 'GET /catch', 'catch-await'],
  ['events.once', 'GET /once', 'once-await'],
  ["a library's internal return await, under node_modules", 'GET /lib', 'lib-await'],
];

describe('where and ps name the await the request is parked on', () => {
  it.each(CASES)('%s', async (_what, name, mark) => {
    const { cli } = await setup();
    const line = markedLine(APP, mark);
    const row = await serverTask(cli, name);
    expect(row.waitsOn, JSON.stringify(row)).toMatchObject({ file: APP_PATH, line });
    const where = json(ok(await cli('where', String(row.id), '--json')));
    expect(where.waitsOn.site, JSON.stringify(where)).toMatchObject({ file: APP_PATH, line });
    expect(where.waitsNote).toBeNull();
    const text = ok(await cli('where', String(row.id))).stdout;
    expect(text).toContain(`waits on ${where.waitsOn.promiseId} at `);
    expect(text).toContain(`test/fixtures/parked/app.cjs:${line}:`);
  });

  it("shows the library's own await beside the user's line, not instead of it", async () => {
    const { cli } = await setup();
    const row = await serverTask(cli, 'GET /lib');
    const where = json(ok(await cli('where', String(row.id), '--json')));
    expect(where.waitsOn.via).toEqual([expect.objectContaining({ fn: 'request', file: join(FIXTURES, 'parked', 'node_modules', 'fake-http-lib', 'index.js') })]);
    const text = ok(await cli('where', String(row.id))).stdout;
    expect(text).toMatch(/and below it, in libraries:\n\s+at request \(.*fake-http-lib\/index\.js:\d+:\d+\)/);
  });

  it('a request already parked when promise tracking began: the heap names its line, retroactively', async () => {
    const { cli } = await setup({ ASYNCMON_TRACK: 'tasks', ASYNCMON_STACKS: 'off' });
    const row = await serverTask(cli, 'GET /catch');
    ok(await cli('track', 'promises', 'tasks'));
    const where = json(ok(await cli('where', String(row.id), '--json')));
    expect(where.waitsOn.site).toMatchObject({ file: APP_PATH, line: markedLine(APP, 'catch-await') });
    expect(where.waitsNote).toMatch(/^from a heap snapshot: the host paused \S+ to write it$/);
  });

  it('with stacks off, the heap names the line the hooks could not', async () => {
    const { cli } = await setup({ ASYNCMON_TRACK: 'promises', ASYNCMON_STACKS: 'off' });
    const row = await serverTask(cli, 'GET /express/42');
    const where = json(ok(await cli('where', String(row.id), '--json')));
    expect(where.waitsOn.site).toMatchObject({ file: APP_PATH, line: markedLine(APP, 'express-await') });
    expect(where.waitsNote).toMatch(/^from a heap snapshot/);
  });
});
