/**
 * Issue 13, part 4: who owns a resource that outlived its task. At the `resources` level,
 * `handles` names each handle's owning task and creation site; a request that ended but left
 * a socket open stays findable (`history`, `where <id>`) with what it still owns; history keeps
 * failed (5xx) requests; and a socket a client library opens from `process.nextTick` (real
 * ioredis) is traced back to the user's `new Redis()` through the trigger chain.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Cleanups, cliIn, json, ok } from './helpers/cli.js';
import { FIXTURES } from './helpers/child.js';
import { markedLine } from './helpers/wire.js';

const APP = 'owners.cjs';
const APP_PATH = join(FIXTURES, APP);
const cleanups = new Cleanups();
afterEach(() => cleanups.run());

async function setup() {
  const dir = cleanups.runtimeDir();
  const app = await cleanups.fixture(APP, { runtimeDir: dir, env: { ASYNCMON_TRACK: 'resources', ASYNCMON_STACKS: 'on' } });
  return { app, cli: cliIn(dir), dbPort: Number(app.ready.dbPort) };
}

interface Entry {
  id: number;
  name: string;
  outcome: string;
  status?: number;
  owns?: Array<{ id: string; detail?: string; site: { file: string; line: number } | null }>;
}

describe('resources that outlive their task', () => {
  it('history keeps a quick request that left a socket open, with what it still owns, and a 5xx one', async () => {
    const { cli, dbPort } = await setup();
    const items = json(ok(await cli('history', '--json'))).items as Entry[];
    const report = items.find((e) => e.name === 'GET /report/500');
    expect(report, JSON.stringify(items)).toMatchObject({ outcome: 'finished', status: 404 });
    expect(report!.owns).toEqual([expect.objectContaining({ detail: expect.stringContaining(`socket 127.0.0.1:${dbPort}`), site: expect.objectContaining({ file: APP_PATH, line: markedLine(APP, 'leak-socket') }) })]);
    expect(items.find((e) => e.name === 'GET /boom')).toMatchObject({ outcome: 'finished', status: 500 });
    const text = ok(await cli('history')).stdout;
    expect(text).toMatch(new RegExp(`GET /report/500 +404 · still owns socket 127\\.0\\.0\\.1:${dbPort}`));
  });

  it('where <id> of the ended request says how it ended and what it still owns', async () => {
    const { cli, dbPort } = await setup();
    const report = (json(ok(await cli('history', '--json'))).items as Entry[]).find((e) => e.name === 'GET /report/500')!;
    const where = json(ok(await cli('where', String(report.id), '--json')));
    expect(where.state).toBe('finished');
    expect(where.waitsNote).toMatch(/^GET \/report\/500 finished 404 in (<50|\d+(\.\d+)?)ms, and still owns a live resource$/);
    const text = ok(await cli('where', String(report.id))).stdout;
    expect(text).toContain(`still owns socket 127.0.0.1:${dbPort}`);
    expect(text).toContain(`created at test/fixtures/owners.cjs:${markedLine(APP, 'leak-socket')}:`);
  });

  it('handles name the owning task of the leaked socket, and the user’s new Redis() for ioredis’s socket', async () => {
    const { cli, dbPort } = await setup();
    const handles = json(ok(await cli('handles', '--json'))).items as Array<{ id: string; kind: string; detail: string; owner?: { name: string; ended: boolean } | null; site?: { file: string; line: number } | null }>;
    const outgoing = handles.filter((h) => h.kind === 'socket' && h.detail.startsWith(`127.0.0.1:${dbPort} `));
    const leak = outgoing.find((h) => h.owner);
    expect(leak, JSON.stringify(outgoing)).toMatchObject({ owner: { name: 'GET /report/500', ended: true }, site: { file: APP_PATH, line: markedLine(APP, 'leak-socket') } });
    const redis = outgoing.find((h) => !h.owner);
    expect(redis, JSON.stringify(outgoing)).toMatchObject({ site: { file: APP_PATH, line: markedLine(APP, 'new-redis') } });
    const text = ok(await cli('handles')).stdout;
    expect(text).toMatch(/OWNER/);
    expect(text).toMatch(/GET \/report\/500 \(ended\)/);
  });
});
