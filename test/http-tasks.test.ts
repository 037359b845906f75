// Incoming and outgoing HTTP requests as tasks, with no code change in the app: through
// diagnostics_channel. Real servers on port 0, real http.request and fetch.
import { beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { snapshot, task, track } from '../agent/index.js';
import type { HistoryEntry, TaskInfo } from '../agent/index.js';
import { getAgent } from '../agent/host/agent.js';
import { waitUntil } from './helpers/child.js';
import { cleanupsAfterEach, found, gate } from './helpers/in-process.js';


function liveTasks(): TaskInfo[] {
  return snapshot({ handles: false, limit: 1000 }).tasks.items;
}

function history(): HistoryEntry[] {
  return snapshot({ handles: false, limit: 1000 }).history.items;
}

function waitForTask(pred: (t: TaskInfo) => boolean, what: string): Promise<TaskInfo> {
  return found(() => liveTasks().find(pred), what);
}

function waitForEnd(id: number, what: string): Promise<HistoryEntry> {
  return found(() => !liveTasks().some((t) => t.id === id) && history().find((h) => h.id === id), what);
}

/** A server on 127.0.0.1:<port 0>, closed (connections too) after the test. */
async function serve(handler: http.RequestListener): Promise<{ server: http.Server; port: number; origin: string }> {
  const server = http.createServer(handler);
  cleanups.push(() => {
    server.closeAllConnections();
    server.close();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { server, port, origin: `http://127.0.0.1:${port}` };
}

/** An http.request whose body is collected; resolves with status and body. */
function request(opts: http.RequestOptions, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const req = http.request({ host: '127.0.0.1', agent: false, ...opts }, (r) => {
      let text = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => (text += d));
      r.on('end', () => res({ status: r.statusCode ?? 0, body: text }));
    });
    req.on('error', rej);
    req.end(body);
  });
}

// The agent subscribes to HTTP requests when it is created, on first use: create it before any
// request is made.
beforeAll(() => {
  // Keep every request in history here; the default (quick successes are not kept) has its own test.
  getAgent().registry.httpHistoryMinMs = 0;
});

const cleanups = cleanupsAfterEach();

describe('incoming requests', () => {
  it('are tasks named by method and path (no query string) while pending, then finished in history', async () => {
    const answer = gate();
    const { port } = await serve(async (_req, res) => {
      await answer.promise;
      res.end('done');
    });
    const response = request({ port, path: '/users/42?expand=1&x=y#frag' });
    const t = await waitForTask((x) => x.kind === 'http-server' && x.name.includes('/users/'), 'the request task');
    expect(t).toMatchObject({ name: 'GET /users/42', kind: 'http-server', state: 'running', parentId: null });
    expect(t.ageMs).toBeGreaterThanOrEqual(0);
    expect(liveTasks().filter((x) => x.kind === 'http-server' && x.name.includes('/users/'))).toHaveLength(1);

    answer.open();
    expect(await response).toEqual({ status: 200, body: 'done' });
    const entry = await waitForEnd(t.id, 'the request task to end');
    expect(entry).toMatchObject({ name: 'GET /users/42', kind: 'http-server', outcome: 'finished' });
    expect(entry.error).toBeUndefined();
    expect(entry.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('use the method as sent', async () => {
    const { port } = await serve((req, res) => {
      req.resume();
      req.on('end', () => res.end('created'));
    });
    expect(await request({ port, method: 'POST', path: '/things?dry=1' }, 'payload')).toEqual({ status: 200, body: 'created' });
    await waitUntil(() => history().find((h) => h.kind === 'http-server' && h.name === 'POST /things'), 5000, 'POST task in history');
  });

  it('that the client abandons end as failed', async () => {
    const { port } = await serve(() => {}); // never answers
    const req = http.request({ host: '127.0.0.1', port, path: '/abandoned', agent: false });
    req.on('error', () => {});
    req.end();
    const t = await waitForTask((x) => x.kind === 'http-server' && x.name === 'GET /abandoned', 'the request task');
    req.destroy();
    const entry = await waitForEnd(t.id, 'the abandoned request to end');
    expect(entry).toMatchObject({ outcome: 'failed', error: 'connection closed before the response was finished' });
  });

  it('on a keep-alive connection end when each response is sent, while the connection stays open', async () => {
    const { port } = await serve((req, res) => res.end(req.url));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    for (const path of ['/ka/1', '/ka/2', '/ka/3']) expect((await request({ port, path, agent })).body).toBe(path);
    for (const name of ['GET /ka/1', 'GET /ka/2', 'GET /ka/3']) {
      const entry = await found(() => history().find((h) => h.kind === 'http-server' && h.name === name), name);
      expect(entry).toMatchObject({ outcome: 'finished', status: 200 });
    }
    expect(liveTasks().filter((t) => t.kind === 'http-server' && t.name.startsWith('GET /ka/'))).toEqual([]);
  });

  it('pipelined on one connection are each a task, ended in order as their responses are sent', async () => {
    const first = gate();
    const { port } = await serve(async (req, res) => {
      if (req.url === '/pipe/1') await first.promise;
      res.end(`${req.url} `);
    });
    const socket = net.connect(port, '127.0.0.1');
    cleanups.push(() => socket.destroy());
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString()));
    socket.on('error', () => {});
    socket.write('GET /pipe/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /pipe/2 HTTP/1.1\r\nHost: x\r\n\r\n');
    const one = await waitForTask((t) => t.name === 'GET /pipe/1', 'the first pipelined request');
    const two = await waitForTask((t) => t.name === 'GET /pipe/2', 'the second pipelined request');
    first.open();
    const ended = [await waitForEnd(one.id, 'the first to end'), await waitForEnd(two.id, 'the second to end')];
    expect(ended.map((e) => [e.name, e.outcome, e.status])).toEqual([
      ['GET /pipe/1', 'finished', 200],
      ['GET /pipe/2', 'finished', 200],
    ]);
    await waitUntil(() => text.includes('/pipe/2 '), 5000, 'both responses');
    expect(text.indexOf('/pipe/1 ')).toBeLessThan(text.indexOf('/pipe/2 '));
  });

  it('pipelined behind a request the client abandons end as failed when the connection closes', async () => {
    const { port } = await serve(() => {}); // never answers
    const socket = net.connect(port, '127.0.0.1');
    cleanups.push(() => socket.destroy());
    socket.on('error', () => {});
    socket.write('GET /stuck/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /stuck/2 HTTP/1.1\r\nHost: x\r\n\r\n');
    const one = await waitForTask((t) => t.name === 'GET /stuck/1', 'the first request');
    const two = await waitForTask((t) => t.name === 'GET /stuck/2', 'the second request');
    socket.destroy();
    for (const t of [one, two]) {
      expect(await waitForEnd(t.id, `${t.name} to end`)).toMatchObject({ outcome: 'failed', error: 'connection closed before the response was finished' });
    }
  });

  it('add no listener per request: one close listener per connection, however many requests it carries', async () => {
    const counts: Array<[number, number]> = [];
    const { port } = await serve((req, res) => {
      counts.push([res.listenerCount('close') + res.listenerCount('finish'), req.socket.listenerCount('close')]);
      res.end('x');
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    const http_ = getAgent().http;
    // Without the agent's subscriptions: what Node itself adds.
    http_.disable();
    try {
      await request({ port, path: '/bare', agent: false });
    } finally {
      http_.enable();
    }
    for (let i = 0; i < 4; i++) await request({ port, path: `/listeners/${i}`, agent });
    const [bare, ...tracked] = counts;
    for (const [perResponse, perSocket] of tracked) {
      expect(perResponse).toBe(bare[0]);
      expect(perSocket).toBe(bare[1] + 1);
    }
  });

  it('become the parent of tasks the handler starts (promises level)', async () => {
    track('promises');
    const answer = gate();
    const { port } = await serve(async (_req, res) => {
      const inner = await task('handler-work', async () => {
        await answer.promise;
        return 'worked';
      });
      res.end(inner);
    });
    const response = request({ port, path: '/nested' });
    const inner = await waitForTask((x) => x.name === 'handler-work', 'the handler’s task');
    const outer = liveTasks().find((x) => x.kind === 'http-server' && x.name === 'GET /nested')!;
    expect(inner.parentId).toBe(outer.id);
    answer.open();
    expect((await response).body).toBe('worked');
  });
  // What a request's handler starts after an `await` is known to be the request's only where a
  // tracker follows it: the `promises` level everywhere, `resources` too on Node 24+ (requests
  // enter AsyncLocalStorage there). The default level enters nothing per request on any
  // version (a frame per request would cost more than its budget): there the request is the
  // parent of what its handler starts synchronously.
  const major = Number(process.versions.node.split('.')[0]);
  it.each([
    ['tasks', false],
    ['resources', major >= 24],
    ['promises', true],
  ] as const)('at the %s level, the parent of what the handler starts synchronously, and after an await: %s', async (level, afterAwait) => {
    track(level);
    const answer = gate();
    const { port } = await serve(async (_req, res) => {
      const before = task(`sync-child-${level}`, () => answer.promise);
      await new Promise((r) => setImmediate(r));
      const after = task(`later-child-${level}`, () => answer.promise);
      await Promise.all([before, after]);
      res.end('done');
    });
    const response = request({ port, path: `/levels/${level}` });
    const later = await waitForTask((x) => x.name === `later-child-${level}`, 'the task started after the await');
    const sync = liveTasks().find((x) => x.name === `sync-child-${level}`)!;
    const outer = liveTasks().find((x) => x.kind === 'http-server' && x.name === `GET /levels/${level}`)!;
    expect(sync.parentId).toBe(outer.id);
    expect(later.parentId).toBe(afterAwait ? outer.id : null);
    answer.open();
    expect((await response).body).toBe('done');
  });

  // Before Node 24, AsyncLocalStorage.enterWith() stores the task on the async resource that
  // is running (the connection's socket), so it outlives the request: the next request on the
  // same keep-alive connection is taken for a child of the previous one, which has ended.
  it('on one keep-alive connection are not nested under each other (promises level)', async () => {
    track('promises');
    const { port } = await serve((_req, res) => res.end('k'));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    await request({ port, path: '/first', agent });
    await request({ port, path: '/second', agent });
    const first = await found(() => history().find((h) => h.kind === 'http-server' && h.name === 'GET /first'), 'first');
    const second = await found(() => history().find((h) => h.kind === 'http-server' && h.name === 'GET /second'), 'second');
    expect(first.parentId).toBeNull();
    expect(second.parentId).toBeNull();
  });
});

describe('outgoing http.request', () => {
  it('is an http-client task while pending, finished in history when the response is complete', async () => {
    const answer = gate();
    const { port } = await serve(async (_req, res) => {
      await answer.promise;
      res.end('slow');
    });
    const response = request({ port, path: '/slow?page=2' });
    const t = await waitForTask((x) => x.kind === 'http-client' && x.name.startsWith('GET /slow'), 'the outgoing request task');
    expect(t).toMatchObject({ name: 'GET /slow', kind: 'http-client', state: 'running' });
    expect(t.detail).toMatch(/^http:\/\/127\.0\.0\.1/);
    answer.open();
    expect((await response).body).toBe('slow');
    expect(await waitForEnd(t.id, 'the outgoing request to end')).toMatchObject({ kind: 'http-client', outcome: 'finished' });
  });

  // The model documents detail as "the origin of an outgoing request"; fetch tasks carry
  // `http://127.0.0.1:<port>`, but http.request tasks drop the port (`request.host` has none).
  it('carries the full origin, port included, in detail', async () => {
    const answer = gate();
    const { port, origin } = await serve(async (_req, res) => {
      await answer.promise;
      res.end();
    });
    const response = request({ port, path: '/origin' });
    const t = await waitForTask((x) => x.kind === 'http-client' && x.name === 'GET /origin', 'the outgoing request task');
    answer.open();
    await response;
    expect(t.detail).toBe(origin);
  });

  it('nests under the task that makes it', async () => {
    const { port } = await serve((_req, res) => res.end('x'));
    let parentId = 0;
    await task('caller', async () => {
      parentId = liveTasks().find((x) => x.name === 'caller')!.id;
      await request({ port, path: '/from-task' });
    });
    const entry = await found(() => history().find((h) => h.kind === 'http-client' && h.name === 'GET /from-task'), 'client task');
    expect(entry.parentId).toBe(parentId);
  });

  it('that fails to connect ends as failed', async () => {
    const { server, port } = await serve(() => {});
    await new Promise<void>((r) => server.close(() => r()));
    await expect(request({ port, path: '/refused' })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const entry = await found(() => history().find((h) => h.kind === 'http-client' && h.name === 'GET /refused'), 'client task');
    expect(entry.outcome).toBe('failed');
    expect(liveTasks().some((t) => t.name === 'GET /refused')).toBe(false);
  });
});

describe('outgoing fetch()', () => {
  it('is an http-client task until its body has been read', async () => {
    const rest = gate();
    const { port, origin } = await serve(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first part, ');
      await rest.promise;
      res.end('last part');
    });
    const response = await fetch(`${origin}/data?v=1`);
    expect(response.status).toBe(200);
    const t = liveTasks().find((x) => x.kind === 'http-client' && x.name === 'GET /data');
    expect(t).toBeDefined();
    expect(t!.detail).toBe(origin);
    expect(port).toBeGreaterThan(0);

    rest.open();
    expect(await response.text()).toBe('first part, last part');
    const entry = await waitForEnd(t!.id, 'the fetch task to end');
    expect(entry).toMatchObject({ name: 'GET /data', kind: 'http-client', outcome: 'finished' });
  });

  it('that fails to connect leaves no live task behind', async () => {
    const { server, origin } = await serve(() => {});
    await new Promise<void>((r) => server.close(() => r()));
    await expect(fetch(`${origin}/nowhere`)).rejects.toThrow();
    await waitUntil(() => !liveTasks().some((t) => t.name === 'GET /nowhere'), 5000, 'no live fetch task');
    expect(history().find((h) => h.name === 'GET /nowhere')).toMatchObject({ kind: 'http-client', outcome: 'failed' });
  });
});

/**
 * Issue 13, part 5: an outgoing request says where it is. Each server below stops at one point
 * of the exchange (never accepts the body, never answers, sends part of the body), and the
 * listed task must say so, for http.request and fetch.
 */
describe('the phase of an outgoing request', () => {
  /** Holds every request open: reads it, then never answers (or answers in part). */
  async function stuck(answer: (res: http.ServerResponse) => void = () => {}) {
    const got = gate();
    const { origin } = await serve((req, res) => {
      req.resume();
      req.on('end', () => {
        answer(res);
        got.open();
      });
    });
    return { origin, got: got.promise };
  }

  /** Writes the headers and the first 1000 of 5000 bytes, then waits. */
  const partBody = (res: http.ServerResponse) => {
    res.writeHead(200, { 'content-length': '5000' });
    res.write('x'.repeat(1000));
  };

  async function phaseOf(name: string, pattern: RegExp): Promise<TaskInfo> {
    return found(() => liveTasks().find((t) => t.name === name && t.kind === 'http-client' && pattern.test(t.phase ?? '')), `${name} ${pattern} (tasks: ${JSON.stringify(liveTasks().map((t) => [t.name, t.phase]))})`);
  }

  it('http.request: connecting while the name is being looked up', async () => {
    const req = http.request({ host: 'never.invalid', path: '/dns', agent: false, lookup: () => {} });
    req.on('error', () => {});
    cleanups.push(() => req.destroy());
    req.end();
    expect((await phaseOf('GET /dns', /./)).phase).toBe('connecting');
  });

  it('http.request: sending the request (a body the server does not read), then waiting for the response headers', async () => {
    // Node publishes an http.request when it is ended: a body too large for the socket's buffers
    // is then still being sent.
    const { origin: deaf } = await serve(() => {});
    const big = http.request(`${deaf}/upload`, { method: 'POST', agent: false });
    big.on('error', () => {});
    cleanups.push(() => big.destroy());
    big.end(Buffer.alloc(16 * 1024 * 1024));
    await phaseOf('POST /upload', /^sending the request$/);

    const { origin, got } = await stuck();
    const small = http.request(`${origin}/form`, { method: 'POST', agent: false });
    small.on('error', () => {});
    cleanups.push(() => small.destroy());
    small.end('a=1');
    await got;
    await phaseOf('POST /form', /^request sent, waiting for response headers$/);
  });

  it('http.request: receiving the body, with the bytes so far', async () => {
    const { origin } = await stuck(partBody);
    const req = http.get(`${origin}/big`, { agent: false }, (res) => res.resume());
    req.on('error', () => {});
    cleanups.push(() => req.destroy());
    expect((await phaseOf('GET /big', /^receiving/)).phase).toBe('receiving body (1000 bytes so far)');
  });

  it('fetch: waiting for the response headers, then receiving the body', async () => {
    const quiet = await stuck();
    const ac = new AbortController();
    cleanups.push(() => ac.abort());
    fetch(`${quiet.origin}/slow-headers`, { signal: ac.signal }).catch(() => {});
    await quiet.got;
    await phaseOf('GET /slow-headers', /^request sent, waiting for response headers$/);

    const partial = await stuck(partBody);
    fetch(`${partial.origin}/slow-body`, { signal: ac.signal }).then((r) => r.arrayBuffer()).catch(() => {});
    expect((await phaseOf('GET /slow-body', /^receiving/)).phase).toBe('receiving body (1000 bytes so far)');
  });
});

describe('history of HTTP requests by default', () => {
  it('keeps failed requests but not quick successful ones (they are most of the traffic)', async () => {
    const agent = getAgent();
    agent.registry.httpHistoryMinMs = 1000;
    try {
      const { server, port } = await serve((req, res) => {
        if (req.url === '/quick') res.end('ok');
        else req.socket.destroy();
      });
      cleanups.push(() => server.close());
      await request({ port, path: '/quick' });
      await request({ port, path: '/broken' }).catch(() => undefined);
      await waitUntil(() => history().some((h) => h.name === 'GET /broken'), 5000, 'the failed request in history');
      expect(history().find((h) => h.name === 'GET /broken')).toMatchObject({ kind: 'http-server', outcome: 'failed' });
      expect(history().some((h) => h.name === 'GET /quick')).toBe(false);
      expect(liveTasks().some((t) => t.name === 'GET /quick')).toBe(false);
    } finally {
      agent.registry.httpHistoryMinMs = 0;
    }
  });
});
