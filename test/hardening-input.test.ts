/**
 * Hostile input on the agent's port, against a real agent preloaded into a child-process host
 * that also serves HTTP on its own port. After every attack the host must still answer HTTP, a
 * fresh client must be able to `hello` and `ps`, and the host's RSS must stay within a bound.
 *
 * The RSS bound: the fixture forces a GC before answering /rss, so the figure is live memory
 * plus allocator slack. Each attack here sends at most ~10 MB; an agent that buffered it (as
 * bytes, then as a UTF-16 string) would grow by 10–30 MB. The agent's own limits allow one
 * 64 KiB line per client and 4 MiB of output per client, so 24 MiB over the baseline leaves room
 * for allocator noise while still catching a 10 MB buffer kept alive; the 10 MB line itself is
 * held to a tighter bound of 8 MiB.
 */
import { connect } from 'node:net';
import { existsSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { httpGet, REGISTER, waitUntil } from './helpers/child.js';
import { WAIT_MS, WireClient, openJson, startApp } from './helpers/wire.js';
import type { App } from './helpers/wire.js';

const MAX_LINE = 64 * 1024;
const MiB = 1024 * 1024;
const RSS_SLACK = 24 * MiB;

let app: App;
let httpPort = 0;
let baselineRss = 0;
const clients: WireClient[] = [];

function track(c: WireClient): WireClient {
  clients.push(c);
  return c;
}

/** GET on the host fixture's own HTTP port. */
const hostGet = (path: string, timeoutMs = WAIT_MS) => httpGet(httpPort, path, timeoutMs);

async function hostRss(): Promise<number> {
  return (JSON.parse(await hostGet('/rss')) as { rss: number }).rss;
}

/** Connects until the agent takes a new session (closed ones are let go asynchronously), then hello + ps. */
async function freshClientWorks(): Promise<void> {
  const c = (await waitUntil(
    async () => {
      try {
        return await openJson(app.port, app.token);
      } catch {
        return undefined;
      }
    },
    WAIT_MS,
    'a fresh JSON session',
  )) as WireClient;
  try {
    const ps = await c.ok('ps');
    expect(ps.total).toBeGreaterThan(0);
  } finally {
    c.close();
  }
}

/** (a) the host answers HTTP, (b) a fresh client can hello and ps, (c) RSS within `slack` of the baseline. */
async function hostIsFine(slack = RSS_SLACK): Promise<void> {
  expect(await hostGet('/')).toBe('ok');
  await freshClientWorks();
  const rss = await hostRss();
  expect(rss - baselineRss, `rss grew from ${baselineRss} to ${rss}`).toBeLessThan(slack);
}

beforeAll(async () => {
  if (!existsSync(REGISTER)) throw new Error(`${REGISTER} is missing: run \`npm run build\` first`);
  app = await startApp('hardening-app.cjs', { HARDEN_TASKS: '200' });
  httpPort = (JSON.parse(/^READY (.*)$/m.exec(app.child.stdout())![1]) as { http: number }).http;
  // Warm up the paths the tests use, then take the baseline.
  for (let i = 0; i < 3; i++) await freshClientWorks();
  baselineRss = await hostRss();
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});
afterAll(() => app?.stop());

/** A JSON client without hello. */
async function raw(): Promise<WireClient> {
  return track(await WireClient.connect(app.port));
}
async function authed(): Promise<WireClient> {
  return track(await openJson(app.port, app.token));
}

describe('long and slow lines', () => {
  it('a 10 MB line with no newline is closed with an error after 64 KiB; memory does not grow by 10 MB', async () => {
    const c = await authed();
    c.sendRaw('{"id":1,"cmd":"ps","args":{"filter":"');
    const chunk = Buffer.alloc(MiB, 'a');
    for (let i = 0; i < 10 && !c.isClosed; i++) {
      c.socket.write(chunk);
      await new Promise((r) => setTimeout(r, 20));
    }
    await c.waitClosed();
    const last = c.transcript().trimEnd().split('\n').pop()!;
    expect(JSON.parse(last)).toEqual({ id: null, ok: false, error: { code: 'BAD_ARGUMENT', message: `line longer than ${MAX_LINE} bytes: closing` } });
    await hostIsFine(8 * MiB);
  });

  it('a line sent one byte at a time, slower than the 10 s per-line deadline, is cut off', async () => {
    const c = await authed();
    const line = JSON.stringify({ id: 'slow', cmd: 'ps', args: { filter: 'x'.repeat(100) } });
    const started = Date.now();
    let i = 0;
    const timer = setInterval(() => {
      if (!c.isClosed && i < line.length) c.sendRaw(line[i++]);
    }, 250);
    try {
      await c.waitClosed(14_000);
    } finally {
      clearInterval(timer);
    }
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThan(9_000);
    expect(elapsed).toBeLessThan(13_500);
    expect(i).toBeLessThan(line.length); // the line was still unfinished
    expect(c.transcript()).toContain('line not finished within 10000 ms: closing');
    await hostIsFine();
  }, 25_000);
});

describe('bytes and line endings', () => {
  it('invalid UTF-8 and NUL bytes get a JSON error and the session continues', async () => {
    const c = await authed();
    c.sendRaw(Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x0a]));
    expect((await c.response(null)).error).toMatchObject({ code: 'BAD_ARGUMENT', message: 'invalid JSON' });
    // A NUL inside a JSON string is a control character: invalid JSON; escaped, a bad command name.
    c.sendRaw(Buffer.concat([Buffer.from('{"id":6,"cmd":"ps'), Buffer.from([0x00]), Buffer.from('"}\n')]));
    expect((await c.response(null)).error).toMatchObject({ code: 'BAD_ARGUMENT', message: 'invalid JSON' });
    c.sendRaw('{"id":7,"cmd":"ps\\u0000"}\n');
    expect((await c.response(7)).error?.code).toBe('UNKNOWN_COMMAND');
    c.sendRaw(Buffer.from([0x00, 0x00, 0x0a]));
    expect((await c.response(null)).error?.code).toBe('BAD_ARGUMENT');
    // Invalid UTF-8 inside a string value: decoded to U+FFFD, a plain (unmatched) filter.
    c.sendRaw(Buffer.concat([Buffer.from('{"id":8,"cmd":"ps","args":{"filter":"'), Buffer.from([0xff, 0xc3]), Buffer.from('"}}\n')]));
    const r8 = await c.response(8);
    expect(r8.ok).toBe(true);
    expect(r8.result.items).toEqual([]);
    expect((await c.ok('ps', { limit: 1 })).items).toHaveLength(1);
    await hostIsFine();
  });

  it('CR, CRLF and LF endings all end a request', async () => {
    const c = await authed();
    c.sendRaw('{"id":"lf","cmd":"ps","args":{"limit":1}}\n');
    c.sendRaw('{"id":"crlf","cmd":"ps","args":{"limit":1}}\r\n');
    c.sendRaw('{"id":"cr","cmd":"ps","args":{"limit":1}}\r');
    c.sendRaw('{"id":"lf2","cmd":"ps","args":{"limit":1}}\n');
    // CRLF split across two writes.
    c.sendRaw('{"id":"split","cmd":"ps","args":{"limit":1}}\r');
    await new Promise((r) => setTimeout(r, 50));
    c.sendRaw('\n{"id":"after","cmd":"ps","args":{"limit":1}}\n');
    for (const id of ['lf', 'crlf', 'cr', 'lf2', 'split', 'after']) expect((await c.response(id)).ok, id).toBe(true);
    // No stray empty request came out of a CRLF.
    await new Promise((r) => setTimeout(r, 100));
    expect(c.unread()).toBe('');
    await hostIsFine();
  });
});

describe('malformed JSON', () => {
  it('invalid JSON, a bare scalar and deep nesting under the line limit each get a JSON error; the session continues', async () => {
    const c = await authed();
    for (const bad of ['{"id":1,', '42', '"text"', 'null', 'true', '[1,2]', '['.repeat(60_000), '{"a":'.repeat(13_000), '[]'.repeat(30_000)]) {
      c.send(bad);
      const res = await c.response(null);
      expect(res.ok, bad.slice(0, 20)).toBe(false);
      expect(res.error?.code, bad.slice(0, 20)).toBe('BAD_ARGUMENT');
    }
    expect((await c.ok('ps', { limit: 1 })).items).toHaveLength(1);
    await hostIsFine();
  });

  it('an array nested 100k deep (100 KB, over the line limit) gets a JSON error and a clean close', async () => {
    const c = await authed();
    c.send('['.repeat(100_000));
    await c.waitClosed();
    expect(c.transcript()).toContain('{"id":null,"ok":false,"error":{"code":"BAD_ARGUMENT","message":"line longer than 65536 bytes: closing"}}');
    await hostIsFine();
  });

  it('an array nested 60k deep as the very first line (dialect sniffing) does not hurt the agent', async () => {
    const c = await raw();
    c.send('['.repeat(60_000)); // under the 64 KiB line limit
    // Not `{`: the text dialect answers it as an unknown command.
    await c.expect(/✗ [^\n]*\n/);
    expect(c.isClosed).toBe(false);
    await hostIsFine();
  });

  it('__proto__ and constructor keys in args are refused and Object.prototype is not polluted', async () => {
    const c = await authed();
    const attacks = [
      '{"id":"p1","cmd":"ps","args":{"__proto__":{"polluted":"yes"}}}',
      '{"id":"p2","cmd":"ps","args":{"constructor":{"prototype":{"polluted":"yes"}}}}',
      '{"id":"p3","cmd":"eval","args":{"code":"1","__proto__":{"polluted":"yes"}}}',
      '{"id":"p4","cmd":"ps","__proto__":{"polluted":"yes"},"args":{"limit":1}}',
      '{"id":"p5","cmd":"hello","args":{"__proto__":{"token":"x"},"protocol":1}}',
    ];
    for (const line of attacks) c.send(line);
    for (const id of ['p1', 'p2', 'p3']) {
      const res = await c.response(id);
      expect(res.ok, id).toBe(false);
      expect(res.error?.code, id).toBe('BAD_ARGUMENT');
    }
    // A top-level __proto__ is not an argument: the request runs, and pollutes nothing.
    expect((await c.response('p4')).ok).toBe(true);
    const p5 = await c.response('p5');
    expect(p5.ok).toBe(false);
    expect(p5.error?.code).toBe('BAD_ARGUMENT');
    expect(await c.ok('eval', { code: '({}).polluted' })).toBe('undefined');
    expect(await c.ok('eval', { code: 'Object.prototype.hasOwnProperty("polluted")' })).toBe('false');
    await hostIsFine();
  });
});

describe('bad requests', () => {
  it('unknown commands, wrong argument types and a missing id each get a clear error', async () => {
    const c = await authed();
    const cases: Array<[unknown, string | number | null, string]> = [
      [{ id: 1, cmd: 'rm -rf' }, 1, 'UNKNOWN_COMMAND'],
      [{ id: 2, cmd: 'console' }, 2, 'UNKNOWN_COMMAND'], // text-only
      [{ id: 3, cmd: 'ps', args: { limit: 'many' } }, 3, 'BAD_ARGUMENT'],
      [{ id: 4, cmd: 'ps', args: { limit: -1 } }, 4, 'BAD_ARGUMENT'],
      [{ id: 5, cmd: 'ps', args: { limit: 1.5 } }, 5, 'BAD_ARGUMENT'],
      [{ id: 6, cmd: 'ps', args: { filter: { a: 1 } } }, 6, 'BAD_ARGUMENT'],
      [{ id: 7, cmd: 'ps', args: [1] }, 7, 'BAD_ARGUMENT'],
      [{ id: 8, cmd: 'ps', args: 'x' }, 8, 'BAD_ARGUMENT'],
      [{ id: 9, cmd: 42 }, 9, 'BAD_ARGUMENT'],
      [{ id: 10, cmd: 'where' }, 10, 'BAD_ARGUMENT'],
      [{ id: 11, cmd: 'ps', args: { nope: 1 } }, 11, 'BAD_ARGUMENT'],
      [{ cmd: 'ps' }, null, 'BAD_ARGUMENT'],
      [{ id: { x: 1 }, cmd: 'ps' }, null, 'BAD_ARGUMENT'],
      [{ id: 'x'.repeat(65), cmd: 'ps' }, null, 'BAD_ARGUMENT'],
    ];
    for (const [req, id, code] of cases) {
      c.send(JSON.stringify(req));
      const res = await c.response(id);
      expect(res.ok, JSON.stringify(req)).toBe(false);
      expect(res.error?.code, JSON.stringify(req)).toBe(code);
      expect(res.error?.message.length).toBeGreaterThan(0);
    }
    await hostIsFine();
  });

  it('duplicate ids are both answered, in order', async () => {
    const c = await authed();
    c.send(JSON.stringify({ id: 5, cmd: 'ps', args: { limit: 1 } }));
    c.send(JSON.stringify({ id: 5, cmd: 'health' }));
    const first = await c.response(5);
    const second = await c.response(5);
    expect(first.ok && second.ok).toBe(true);
    expect(first.result.items).toHaveLength(1);
    expect(second.result.status).toBe('ok');
    await hostIsFine();
  });

  it('an HTTP request on the agent port is refused and closed', async () => {
    const body = await new Promise<string>((resolve) => {
      let text = '';
      const s = connect({ port: app.port, host: '127.0.0.1' }, () => s.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'));
      s.setEncoding('utf8');
      s.on('data', (d: string) => (text += d));
      s.on('error', () => {});
      s.on('close', () => resolve(text));
    });
    expect(body).toContain('not HTTP');
    await hostIsFine();
  });

  it('commands before auth are refused, in both dialects', async () => {
    const c = await raw();
    c.send(JSON.stringify({ id: 1, cmd: 'ps' }));
    c.send(JSON.stringify({ id: 2, cmd: 'eval', args: { code: 'globalThis.beforeAuth = 1' } }));
    for (const id of [1, 2]) {
      const res = await c.response(id);
      expect(res.ok).toBe(false);
      expect(res.error?.code).toBe('FORBIDDEN');
    }
    const t = await raw();
    await t.untilPrompt();
    expect(await t.command('ps')).toContain('authenticate first');
    const a = await authed();
    expect(await a.ok('eval', { code: 'globalThis.beforeAuth' })).toBe('undefined');
    await hostIsFine();
  });
});

// Last: failures are counted for a minute across connections, so this slows later failures only.
describe('wrong tokens', () => {
  it('20 wrong tokens get the same generic answer, with a growing delay', async () => {
    const answers: string[] = [];
    const delays: number[] = [];
    // Six in a row: the delay doubles each time, across connections (a JSON client has 2 s to
    // log in, so each guess takes a connection of its own; the answer still comes before the
    // deadline closes it).
    for (let i = 0; i < 6; i++) {
      const c = await raw();
      const { res, ms } = await c.timedRequest('hello', { protocol: 1, token: `wrong-${i}-${'z'.repeat(i * 10)}` });
      answers.push(JSON.stringify(res.error));
      delays.push(ms);
    }
    // The other fourteen in two waves of seven connections (each waits the capped delay;
    // seven fit the pool of connections logging in).
    for (let wave = 0; wave < 2; wave++) {
      const more = await Promise.all(
        Array.from({ length: 7 }, async (_, k) => {
          const m = await raw();
          const res = await m.request('hello', { protocol: 1, token: k % 2 ? '' : `${app.token.slice(0, -1)}x` }, 15_000);
          return JSON.stringify(res.error);
        }),
      );
      answers.push(...more);
    }
    expect(answers).toHaveLength(20);
    expect(new Set(answers)).toEqual(new Set([JSON.stringify({ code: 'FORBIDDEN', message: 'authentication failed' })]));
    for (let i = 1; i < delays.length; i++) expect(delays[i], `delays ${delays.join(', ')}`).toBeGreaterThan(delays[i - 1]);
    expect(delays[0]).toBeGreaterThanOrEqual(90);
    // The right token still works right away, and the host is fine.
    const { ms } = await (await raw()).timedRequest('hello', { protocol: 1, token: app.token });
    expect(ms).toBeLessThan(1000);
    await hostIsFine();
  }, 30_000);
});
