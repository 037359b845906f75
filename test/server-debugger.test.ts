/**
 * Issue 12, finding 8: the agent resumed a developer's debugger. The fixture runs under
 * `node --inspect=127.0.0.1:0 --require dist/agent/register.js`; the test is the developer: a
 * CDP client over the inspector's WebSocket that pauses the main thread. The heartbeat then
 * goes stale and the sentinel wakes up; it must leave the pause alone (no `Debugger.resumed`
 * reaches the developer until they resume), and `health`, `stack` and `check` must say
 * "paused in a debugger" rather than "blocked". Once the developer resumes, health is ok again.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FIXTURES, REGISTER, spawnNode, waitUntil } from './helpers/child.js';
import type { Child } from './helpers/child.js';
import { json, runCli } from './helpers/cli.js';
import { WAIT_MS, agentEnv, makeRuntimeDir, makeToken, openJson, openText } from './helpers/wire.js';
import type { WireClient } from './helpers/wire.js';

/** Well past the sentinel's stale threshold (300 ms) and its capture timeout (500 ms). */
const PAUSED_FOR_MS = 1500;

let child: Child;
let runtime: ReturnType<typeof makeRuntimeDir>;
let port = 0;
let token = '';

/** The developer's debugger: a CDP client that records every event it receives. */
class Cdp {
  private nextId = 1;
  readonly events: { method: string; at: number }[] = [];
  private readonly replies = new Map<number, (r: unknown) => void>();
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { id?: number; method?: string; result?: unknown };
      if (msg.method) {
        if (msg.method !== 'Debugger.scriptParsed') this.events.push({ method: msg.method, at: Date.now() });
      } else if (msg.id !== undefined) this.replies.get(msg.id)?.(msg.result);
    });
  }

  static async open(url: string): Promise<Cdp> {
    const ws = new WebSocket(url);
    await new Promise<void>((res, rej) => {
      ws.once('open', () => res());
      ws.once('error', rej);
    });
    return new Cdp(ws);
  }

  send(method: string, params?: object): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((res) => {
      this.replies.set(id, res);
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  count(method: string): number {
    return this.events.filter((e) => e.method === method).length;
  }

  close(): void {
    this.ws.close();
  }
}

beforeAll(async () => {
  if (!existsSync(REGISTER)) throw new Error(`${REGISTER} is missing: run \`npm run build\` first`);
  token = makeToken();
  runtime = makeRuntimeDir();
  child = spawnNode(resolve(FIXTURES, 'server-blocked.cjs'), {
    nodeArgs: ['--inspect=127.0.0.1:0', '--require', REGISTER],
    env: agentEnv({ ASYNCMON_PORT: '0', ASYNCMON_TOKEN: token, XDG_RUNTIME_DIR: runtime.dir }),
  });
  const m = await child.waitFor(/^READY (.*)$/m);
  port = (JSON.parse(m[1]) as { port: number }).port;
});

afterAll(() => {
  child?.kill();
  runtime?.remove();
});

describe('the agent leaves a developer\'s paused debugger alone', () => {
  let cdp: Cdp;
  let client: WireClient;
  let text: WireClient;

  beforeAll(async () => {
    const url = (await waitUntil(() => /ws:\/\/127\.0\.0\.1:\d+\/[\w-]+/.exec(child.stderr())?.[0], WAIT_MS, 'the inspector URL on stderr')) as string;
    // Sessions are opened while the loop runs: the main thread does hello's work.
    client = await openJson(port, token);
    text = await openText(port, token);
    expect((await client.ok('health')).status).toBe('ok');
    cdp = await Cdp.open(url);
    await cdp.send('Debugger.enable');
    await cdp.send('Debugger.pause');
    await waitUntil(() => cdp.count('Debugger.paused') > 0, WAIT_MS, 'the main thread to pause');
  });

  afterAll(() => {
    cdp?.close();
    client?.close();
    text?.close();
  });

  it(`stays paused for ${PAUSED_FOR_MS} ms, and health says "paused in a debugger", not "blocked"`, async () => {
    const pausedAt = cdp.events.find((e) => e.method === 'Debugger.paused')!.at;
    const h = await waitUntil(
      async () => {
        const r = await client.ok('health');
        return r.status !== 'ok' && r.blockedMs >= PAUSED_FOR_MS ? r : undefined;
      },
      WAIT_MS,
      `health to report a pause of ${PAUSED_FOR_MS} ms`,
    );
    expect(h.status).toBe('paused');
    expect(cdp.count('Debugger.resumed'), `resumed ${JSON.stringify(cdp.events)} (paused at ${pausedAt})`).toBe(0);
    expect((await text.command('health'))).toMatch(/^⏸ paused in a debugger \d/);
  });

  it('stack and ps say it is paused in a debugger', async () => {
    const st = await client.ok('stack');
    expect(st.blocked).toBe(true);
    expect(st.pausedInDebugger).toBe(true);
    expect(st.message).toMatch(/^paused in a debugger for /);
    const ps = await client.request('ps');
    expect(ps.ok).toBe(false);
    expect(ps.error?.code).toBe('BLOCKED');
    expect(ps.error?.message).toMatch(/paused in a debugger/);
    expect(cdp.count('Debugger.resumed')).toBe(0);
  });

  it('check names the debugger pause', async () => {
    const r = await runCli(['check', '--json', '--max-blocked', '60000', '--target', String(child.proc.pid)], { env: { XDG_RUNTIME_DIR: runtime.dir } });
    const blocked = json(r).checks.find((c: { name: string }) => c.name === 'blocked');
    expect(blocked.message).toMatch(/^paused in a debugger \d/);
    expect(blocked.ok).toBe(true);
    expect(cdp.count('Debugger.resumed')).toBe(0);
  });

  it('after the developer resumes, health is ok again', async () => {
    await cdp.send('Debugger.resume');
    await waitUntil(async () => (await client.ok('health')).status === 'ok', WAIT_MS, 'health ok after resume');
    expect(cdp.count('Debugger.resumed')).toBe(1);
  });
});
