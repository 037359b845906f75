/**
 * The site is the user's line, also when the work runs inside a library: the fixture
 * (test/fixtures/lib-app.cjs) uses real bcryptjs and node-cron from node_modules and a real HTTP
 * server. A stack's first frame there is the library's; every site (promise groups, where, the
 * keep-alive census, the blocked-loop headline of health, stats and check) must name the user's
 * frame, with the library call beside it.
 */
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluate } from '../cli/check.js';
import { renderHealth, renderResult } from '../src/render.js';
import { REGISTER, waitUntil } from './helpers/child.js';
import { markedLine, openJson, openText, startApp } from './helpers/wire.js';
import type { App, WireClient } from './helpers/wire.js';

const SCRIPT = 'lib-app.cjs';
const FILE = 'test/fixtures/lib-app.cjs';
const line = (mark: string) => markedLine(SCRIPT, mark);

/** Sends a request and forgets it (its answer comes after the test has looked). */
function fire(port: number, path: string): void {
  const req = request({ host: '127.0.0.1', port, path });
  req.on('error', () => {});
  req.on('response', (res) => res.resume());
  req.end();
}

beforeAll(() => {
  if (!existsSync(REGISTER)) throw new Error(`${REGISTER} is missing: run \`npm run build\` first`);
});

describe('promises level with stacks on', () => {
  let app: App;
  let json: WireClient;
  let text: WireClient;
  let serverPort: number;

  beforeAll(async () => {
    app = await startApp(SCRIPT, { ASYNCMON_TRACK: 'promises', ASYNCMON_STACKS: 'on' });
    serverPort = JSON.parse(app.child.stdout().match(/^READY (.*)$/m)![1]).serverPort;
    json = await openJson(app.port, app.token);
    text = await openText(app.port, app.token);
  });

  afterAll(() => {
    json?.close();
    text?.close();
    app?.stop();
  });

  it('a request parked in bcryptjs’s hash: its promise group names login’s line, with hash (bcryptjs) beside it', async () => {
    fire(serverPort, '/login');
    const site = { fn: 'login', line: line('login'), via: { fn: 'hash', lib: 'bcryptjs' } };
    // (Which pending promise `where` picks is another matter; the group of bcryptjs's own promise is what this is about.)
    const group = await waitUntil(async () => ((await json.ok('promises', { limit: 100 })).groups.items as Array<{ site: Record<string, unknown> | null }>).find((g) => g.site?.via), 5000, 'a promise group made inside bcryptjs');
    expect(group?.site).toMatchObject(site);
    expect(group?.site?.file).toMatch(/test\/fixtures\/lib-app\.cjs$/);
    const promises = await text.command('promises');
    expect(promises).toMatch(new RegExp(`hash \\(bcryptjs\\) < login \\(${FILE.replace(/\./g, '\\.')}:${line('login')}:\\d+\\)`));
    expect(promises).not.toContain('no stack: track promises on');
  });

  it('promise groups without a site say why, not "track promises on" while stacks are on', async () => {
    const r = await json.ok('promises', { limit: 100 });
    const bare = (r.groups.items as Array<{ site: unknown; note?: string }>).filter((g) => g.site === null);
    for (const g of bare) expect(g.note).toBe('only Node-internal frames');
    expect(renderResult('promises', r, 240)).not.toContain('track promises on');
  });
});

describe('the loop blocked in bcryptjs’s hashSync', () => {
  let app: App;
  let json: WireClient;
  let text: WireClient;

  beforeAll(async () => {
    app = await startApp(SCRIPT);
    const serverPort = JSON.parse(app.child.stdout().match(/^READY (.*)$/m)![1]).serverPort;
    json = await openJson(app.port, app.token);
    text = await openText(app.port, app.token);
    fire(serverPort, '/signup');
    await app.child.waitFor(/^SIGNUP-START/m);
  });

  afterAll(() => {
    json?.close();
    text?.close();
    app?.stop();
  });

  it('health, check and stats say "hashSync (bcryptjs) < signup (lib-app.cjs:N)"', async () => {
    const health = await waitUntil(async () => {
      const h = await json.ok('health');
      return h.status === 'blocked' && h.stack.length > 0 ? h : null;
    }, 5000, 'a blocked health with a stack');
    const headline = new RegExp(`hashSync \\(bcryptjs\\) < signup \\(${FILE.replace(/\./g, '\\.')}:${line('hashSync')}:\\d+\\)`);
    expect(health.stack[0].lib).toBe('bcryptjs');
    expect(renderHealth(health)).toMatch(new RegExp(`^✗ event loop blocked \\S+ in ${headline.source}`));
    const blocked = evaluate(health, { blocked: 100 }).find((c) => c.name === 'blocked')!;
    expect(blocked.message).toMatch(new RegExp(`\\) in ${headline.source}`));
    await app.child.waitFor(/^SIGNUP-END/m, 15_000);
    await waitUntil(async () => (await json.ok('health')).status === 'ok', 5000, 'the loop running again');
    const stats = await text.command('stats');
    // The episode also names the request whose handler blocked.
    expect(stats).toMatch(new RegExp(`\\d+(\\.\\d)?m?s in ${headline.source} while handling GET /signup \\(task \\d+\\)$`, 'm'));
  });
});

describe('a timer node-cron set', () => {
  let apps: App[] = [];
  afterAll(() => {
    for (const a of apps) a.stop();
    apps = [];
  });

  async function heartbeat(env: Record<string, string>) {
    const app = await startApp(SCRIPT, env);
    apps.push(app);
    const c = await openJson(app.port, app.token);
    try {
      const result = await c.ok('handles');
      const handles = result.items as Array<{ kind: string; callback: { fn: string; lib?: string } | null; createdAt?: unknown; createdNote?: string }>;
      const timer = handles.find((h) => h.callback?.lib === 'node-cron');
      // Wide enough that the HTTP server's long DETAIL leaves the CALLBACK column whole.
      return { timer, text: renderResult('handles', result, 240) };
    } finally {
      c.close();
    }
  }

  it('with resources and stacks on, names the user’s cron.schedule line', async () => {
    const { timer, text } = await heartbeat({ ASYNCMON_TRACK: 'resources', ASYNCMON_STACKS: 'on' });
    expect(timer, text).toBeDefined();
    expect(timer!.createdAt).toMatchObject({ fn: 'startJobs', line: line('schedule') });
    expect(text).toMatch(new RegExp(`heartBeat \\(node-cron\\) < startJobs \\(${FILE.replace(/\./g, '\\.')}:${line('schedule')}:\\d+\\)`));
  });

  it('at the default level, says that resources with stacks would name it', async () => {
    const { timer, text } = await heartbeat({});
    expect(timer, text).toBeDefined();
    expect(timer!.createdNote).toMatch(/track resources on/);
    expect(text).toMatch(/heartBeat \(node-cron\) < \? \(track resources on/);
  });
});
