import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FIXTURES, REGISTER, spawnNode } from './child.js';
import type { Child } from './child.js';

/**
 * A small client for the agent's port, for tests: it keeps everything the agent sent in one
 * buffer, and every read waits for a condition with a timeout (never a fixed sleep). The text
 * helpers read up to the `asyncmon> ` prompt; the JSON helpers send requests and pick the
 * response with the same id, keeping pushed `watch` updates aside.
 */

/** The text REPL's prompt, and the console's. */
export const PROMPT = 'asyncmon> ';
export const CONSOLE_PROMPT = '> ';
/** A generous default for anything that waits on a child process on a loaded machine. */
export const WAIT_MS = 10_000;

/** One JSON line from the agent: a response (`id`, `ok`) or a pushed event. */
export interface WireMessage {
  id?: number | string | null;
  ok?: boolean;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  result?: any;
  error?: { code: string; message: string };
  event?: string;
  seq?: number;
  now?: number;
  changes?: Record<string, unknown>;
  dropped?: number;
  /** Set when the line was not JSON. */
  raw?: string;
}

/** A response with the time it took. */
export interface Timed {
  res: WireMessage;
  ms: number;
}

export class WireClient {
  /** Received and not yet read. */
  private buf = '';
  /** Everything received, for failure messages. */
  private log = '';
  private ended = false;
  private readonly waiters = new Set<() => void>();
  /** JSON lines taken from the buffer and not yet claimed. */
  private readonly messages: WireMessage[] = [];
  private nextId = 1;
  /** When each message arrived (performance clock), by object. */
  private readonly arrivals = new WeakMap<WireMessage, number>();
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      this.buf += text;
      this.log += text;
      this.notify();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.ended = true;
        this.notify();
        resolve();
      }),
    );
  }

  /** Connects, or rejects (with the socket error's code, e.g. ECONNREFUSED) within `timeoutMs`. */
  static connect(port: number, host = '127.0.0.1', timeoutMs = WAIT_MS, firstWrite?: string): Promise<WireClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host });
      // Written before the connection completes, so it is the very first thing the agent sees.
      if (firstWrite !== undefined) socket.write(firstWrite);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${host}:${port} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      const client = new WireClient(socket);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(client);
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** Whether the agent (or the network) closed the connection. */
  get isClosed(): boolean {
    return this.ended;
  }

  /** Everything the agent sent so far. */
  transcript(): string {
    return this.log;
  }

  /** What has been received and not read yet. */
  unread(): string {
    return this.buf;
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves with `check()`'s first defined value, re-checked on every chunk and on close. */
  private until<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const run = () => {
        let value: T | undefined;
        try {
          value = check();
        } catch (err) {
          done();
          reject(err as Error);
          return;
        }
        if (value !== undefined) {
          done();
          resolve(value);
        } else if (this.ended) {
          done();
          reject(new Error(`connection closed while waiting for ${what}\nreceived:\n${this.log}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\nreceived:\n${this.log}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(run);
      };
      this.waiters.add(run);
      run();
    });
  }

  /** Sends one line (a newline is added). */
  send(line: string): void {
    this.socket.write(line + '\n');
  }

  /** Sends bytes as they are. */
  sendRaw(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** The next complete line, without its line ending. */
  readLine(timeoutMs = WAIT_MS): Promise<string> {
    return this.until(
      () => {
        const nl = this.buf.indexOf('\n');
        if (nl < 0) return undefined;
        const line = this.buf.slice(0, nl).replace(/\r$/, '');
        this.buf = this.buf.slice(nl + 1);
        return line;
      },
      timeoutMs,
      'a line',
    );
  }

  /** Waits until the unread text matches `pattern`; consumes and returns it up to the match's end. */
  expect(pattern: RegExp, timeoutMs = WAIT_MS): Promise<string> {
    return this.until(
      () => {
        const m = pattern.exec(this.buf);
        if (!m) return undefined;
        const end = m.index + m[0].length;
        const text = this.buf.slice(0, end);
        this.buf = this.buf.slice(end);
        return text;
      },
      timeoutMs,
      String(pattern),
    );
  }

  /**
   * Waits for `prompt` at the start of a line; returns what came before it (without the last
   * newline) and consumes both.
   */
  untilPrompt(prompt = PROMPT, timeoutMs = WAIT_MS): Promise<string> {
    return this.until(
      () => {
        let from = 0;
        for (;;) {
          const at = this.buf.indexOf(prompt, from);
          if (at < 0) return undefined;
          if (at === 0 || this.buf[at - 1] === '\n') {
            const text = this.buf.slice(0, at).replace(/\r?\n$/, '');
            this.buf = this.buf.slice(at + prompt.length);
            return text;
          }
          from = at + 1;
        }
      },
      timeoutMs,
      `the prompt ${JSON.stringify(prompt)}`,
    );
  }

  /** Text dialect: sends a line and returns its output up to the next prompt. */
  async command(line: string, timeoutMs = WAIT_MS, prompt = PROMPT): Promise<string> {
    this.send(line);
    return this.untilPrompt(prompt, timeoutMs);
  }

  /** Text dialect: waits for the banner's prompt, then authenticates. */
  async authText(token: string, timeoutMs = WAIT_MS): Promise<string> {
    const banner = await this.untilPrompt(PROMPT, timeoutMs);
    const answer = await this.command(`auth ${token}`, timeoutMs);
    if (!answer.includes('✓ authenticated')) throw new Error(`auth failed: ${answer}\nreceived:\n${this.log}`);
    return banner;
  }

  /** Moves complete JSON lines from the buffer into the message list. */
  private takeMessages(): void {
    for (;;) {
      const nl = this.buf.indexOf('\n');
      if (nl < 0) return;
      const line = this.buf.slice(0, nl).replace(/\r$/, '');
      this.buf = this.buf.slice(nl + 1);
      if (line.trim() === '') continue;
      let msg: WireMessage;
      try {
        msg = JSON.parse(line) as WireMessage;
        if (typeof msg !== 'object' || msg === null) msg = { raw: line };
      } catch {
        msg = { raw: line };
      }
      this.arrivals.set(msg, performance.now());
      this.messages.push(msg);
    }
  }

  /** JSON: sends `{"id","cmd","args"}`; returns the id used. */
  sendRequest(cmd: string, args?: unknown, id: number | string = this.nextId++): number | string {
    const req: Record<string, unknown> = { id, cmd };
    if (args !== undefined) req.args = args;
    this.send(JSON.stringify(req));
    return id;
  }

  /** JSON: waits for the response that carries `id` (`null` for errors that could not read one). */
  response(id: number | string | null, timeoutMs = WAIT_MS): Promise<WireMessage> {
    return this.until(
      () => {
        this.takeMessages();
        const i = this.messages.findIndex((m) => m.event === undefined && 'ok' in m && m.id === id);
        if (i < 0) return undefined;
        return this.messages.splice(i, 1)[0];
      },
      timeoutMs,
      `the response to id ${JSON.stringify(id)}`,
    );
  }

  /** JSON: a request and its response. */
  async request(cmd: string, args?: unknown, timeoutMs = WAIT_MS): Promise<WireMessage> {
    const id = this.sendRequest(cmd, args);
    return this.response(id, timeoutMs);
  }

  /** JSON: a request, its response, and how long the answer took in milliseconds. */
  async timedRequest(cmd: string, args?: unknown, timeoutMs = WAIT_MS): Promise<Timed> {
    const started = performance.now();
    const id = this.sendRequest(cmd, args);
    const res = await this.response(id, timeoutMs);
    return { res, ms: (this.arrivals.get(res) ?? performance.now()) - started };
  }

  /** JSON: a request whose result must be ok; returns the result. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async ok(cmd: string, args?: unknown, timeoutMs = WAIT_MS): Promise<any> {
    const res = await this.request(cmd, args, timeoutMs);
    if (res.ok !== true) throw new Error(`${cmd} failed: ${JSON.stringify(res)}`);
    return res.result;
  }

  /** JSON: authenticates with `hello`; returns the result. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  hello(token: string, timeoutMs = WAIT_MS): Promise<any> {
    return this.ok('hello', { protocol: 1, token }, timeoutMs);
  }

  /** JSON: the next pushed `watch` update. */
  nextEvent(timeoutMs = WAIT_MS): Promise<WireMessage> {
    return this.until(
      () => {
        this.takeMessages();
        const i = this.messages.findIndex((m) => m.event !== undefined);
        if (i < 0) return undefined;
        return this.messages.splice(i, 1)[0];
      },
      timeoutMs,
      'an event',
    );
  }

  /** JSON: takes the events received so far. */
  drainEvents(): WireMessage[] {
    this.takeMessages();
    const out: WireMessage[] = [];
    for (let i = 0; i < this.messages.length; ) {
      if (this.messages[i].event !== undefined) out.push(...this.messages.splice(i, 1));
      else i++;
    }
    return out;
  }

  /** When a message arrived (performance clock), if it came through this client. */
  arrivedAt(msg: WireMessage): number | undefined {
    return this.arrivals.get(msg);
  }

  /** Resolves when the connection is closed; rejects after `timeoutMs`. */
  waitClosed(timeoutMs = WAIT_MS): Promise<void> {
    return this.until(() => (this.ended ? true : undefined), timeoutMs, 'the connection to close').then(
      () => undefined,
      (err: Error) => {
        if (this.ended) return;
        throw err;
      },
    );
  }

  /** Closes our end. */
  close(): void {
    this.socket.destroy();
  }
}

/** Resolves with the error code of a connection attempt that fails, or `connected`. */
export async function tryConnect(port: number, host = '127.0.0.1', timeoutMs = WAIT_MS): Promise<string> {
  try {
    const c = await WireClient.connect(port, host, timeoutMs);
    c.close();
    return 'connected';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  }
}

/** A token the tests give the agent through ASYNCMON_TOKEN. */
export function makeToken(): string {
  return `test-token-${randomBytes(12).toString('hex')}`;
}

/** A fresh XDG_RUNTIME_DIR, so each test's discovery files are its own. */
export function makeRuntimeDir(): { dir: string; discoveryDir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'asyncmon-test-'));
  return { dir, discoveryDir: join(dir, 'asyncmon'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The discovery record of `pid` under `runtimeDir`, or undefined while there is none. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function readDiscovery(runtimeDir: string, pid: number): any {
  const file = join(runtimeDir, 'asyncmon', `${pid}.json`);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined; // being written
  }
}

/** The environment a fixture gets: the agent's variables cleared, then `env` applied. */
export function agentEnv(env: Record<string, string | undefined>): Record<string, string | undefined> {
  return {
    ASYNCMON: undefined,
    ASYNCMON_TRACK: undefined,
    ASYNCMON_STACKS: undefined,
    ASYNCMON_HOST: undefined,
    ASYNCMON_PORT: undefined,
    ASYNCMON_SOCKET: undefined,
    ASYNCMON_TOKEN: undefined,
    ASYNCMON_READONLY: undefined,
    ...env,
  };
}

/** Display width of a line as a terminal counts it (code points; the tables use no wide characters). */
export function columns(line: string): number {
  return Array.from(line).length;
}

/** A fixture app running with the agent preloaded, and what the tests need to reach it. */
export interface App {
  child: Child;
  port: number;
  pid: number;
  token: string;
  runtime: ReturnType<typeof makeRuntimeDir>;
  /** Kills the app (if it still runs) and removes its runtime directory. */
  stop(): void;
}

/**
 * Runs `test/fixtures/<script>` under `node [nodeArgs] --require dist/agent/register.js` with a
 * known token, ASYNCMON_PORT=0 and a fresh XDG_RUNTIME_DIR, and waits for its `READY {"port",…}`.
 * A `script` may also be an absolute path (a build of a fixture in a temporary directory).
 */
export async function startApp(script: string, env: Record<string, string | undefined> = {}, timeoutMs = WAIT_MS, nodeArgs: string[] = []): Promise<App> {
  const token = makeToken();
  const runtime = makeRuntimeDir();
  const child = spawnNode(resolve(FIXTURES, script), {
    nodeArgs: [...nodeArgs, '--require', REGISTER],
    env: agentEnv({ ASYNCMON_PORT: '0', ASYNCMON_TOKEN: token, XDG_RUNTIME_DIR: runtime.dir, ...env }),
  });
  const stop = () => {
    child.kill();
    runtime.remove();
  };
  try {
    const m = await child.waitFor(/^READY (.*)$/m, timeoutMs);
    const ready = JSON.parse(m[1]) as { port: number; pid: number };
    return { child, port: ready.port, pid: ready.pid, token, runtime, stop };
  } catch (err) {
    stop();
    throw err;
  }
}

/** Opens a JSON session: the `hello` goes out before the connection is even up, so no banner. */
export async function openJson(port: number, token: string, timeoutMs = WAIT_MS): Promise<WireClient> {
  const hello = JSON.stringify({ id: 'hello', cmd: 'hello', args: { protocol: 1, token } }) + '\n';
  const c = await WireClient.connect(port, '127.0.0.1', timeoutMs, hello);
  const res = await c.response('hello', timeoutMs);
  if (res.ok !== true) throw new Error(`hello failed: ${JSON.stringify(res)}`);
  return c;
}

/** Opens a text session and authenticates; returns the client (the banner has been read). */
export async function openText(port: number, token: string, timeoutMs = WAIT_MS): Promise<WireClient> {
  const c = await WireClient.connect(port, '127.0.0.1', timeoutMs);
  await c.authText(token, timeoutMs);
  return c;
}

/** The 1-based line of `test/fixtures/<script>` that ends with `@mark:<name>`. */
export function markedLine(script: string, name: string): number {
  const lines = readFileSync(resolve(FIXTURES, script), 'utf8').split('\n');
  const i = lines.findIndex((l) => l.trimEnd().endsWith(`@mark:${name}`));
  if (i < 0) throw new Error(`no @mark:${name} in ${script}`);
  return i + 1;
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
