// A minimal Chrome DevTools Protocol client for a Node inspector on 127.0.0.1: its target list
// over HTTP, and one session over its WebSocket. Every wait is bounded, every socket has an
// error handler, and a dropped connection fails what is pending at once.
import { get } from 'node:http';
import WebSocket from 'ws';
import { AsyncmonError } from '../src/errors.js';

/** GET http://127.0.0.1:<port>/json/list: the inspector's targets. */
export function listTargets(port: number, timeoutMs: number): Promise<Array<{ webSocketDebuggerUrl?: string }>> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/json/list', timeout: Math.max(1, timeoutMs), agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
        if (body.length > 1 << 20) req.destroy(new Error('answer too long'));
      });
      res.on('error', reject);
      res.on('end', () => {
        try {
          const list: unknown = JSON.parse(body);
          resolve(Array.isArray(list) ? (list as Array<{ webSocketDebuggerUrl?: string }>) : []);
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

type Reply = { result?: unknown; error?: { message: string } };
type Listener = (params: Record<string, unknown>) => void;

/** One inspector session. `closed` resolves when the connection is gone, for whatever reason. */
export class Cdp {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (msg: Reply) => void; reject: (err: Error) => void }>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private gone = false;
  readonly closed: Promise<void>;

  private constructor(
    private readonly ws: WebSocket,
    private readonly what: string,
  ) {
    ws.on('message', (data) => {
      try {
        const msg = JSON.parse(String(data)) as Reply & { id?: number; method?: string; params?: Record<string, unknown> };
        if (msg.id !== undefined) this.pending.get(msg.id)?.resolve(msg);
        else if (typeof msg.method === 'string') for (const fn of this.listeners.get(msg.method) ?? []) fn(msg.params ?? {});
      } catch {}
    });
    ws.on('error', () => {}); // 'close' follows and fails what is pending
    this.closed = new Promise((resolve) =>
      ws.on('close', () => {
        this.gone = true;
        const err = new AsyncmonError('UNAVAILABLE', `the inspector connection to ${what} closed before it answered`);
        for (const p of [...this.pending.values()]) p.reject(err);
        this.pending.clear();
        resolve();
      }),
    );
  }

  /** Connects to `url`, or rejects within `timeoutMs`. */
  static open(url: string, what: string, timeoutMs: number): Promise<Cdp> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { handshakeTimeout: Math.max(1, timeoutMs), perMessageDeflate: false, followRedirects: false, maxPayload: 16 << 20 });
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new AsyncmonError('UNAVAILABLE', `the inspector of ${what} did not take the connection in time`));
      }, timeoutMs);
      ws.once('open', () => {
        clearTimeout(timer);
        resolve(new Cdp(ws, what));
      });
      ws.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  send(method: string, params: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
    if (this.gone) return Promise.reject(new AsyncmonError('UNAVAILABLE', `the inspector connection to ${this.what} is closed`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new AsyncmonError('UNAVAILABLE', `${this.what} did not answer ${method} in time`));
      }, Math.max(1, timeoutMs));
      this.pending.set(id, {
        resolve: (msg) => {
          clearTimeout(timer);
          this.pending.delete(id);
          if (msg.error) reject(new AsyncmonError('UNAVAILABLE', `${method} failed in ${this.what}: ${msg.error.message}`));
          else resolve(msg.result);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      this.ws.send(JSON.stringify({ id, method, params }), (err) => err && this.ws.terminate());
    });
  }

  /** Listens to an event of the session (`HeapProfiler.addHeapSnapshotChunk`); returns the function that stops. */
  on(event: string, listener: Listener): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Evaluates an expression in the target (awaiting a promise result) and returns its value. */
  async evaluate(expression: string, timeoutMs: number, awaitPromise = true): Promise<unknown> {
    const res = (await this.send('Runtime.evaluate', { expression, includeCommandLineAPI: true, awaitPromise, returnByValue: true }, timeoutMs)) as {
      result?: { value?: unknown };
      exceptionDetails?: { exception?: { description?: string }; text?: string };
    };
    if (res.exceptionDetails) {
      throw new AsyncmonError('UNAVAILABLE', res.exceptionDetails.exception?.description?.split('\n')[0] ?? res.exceptionDetails.text ?? 'evaluation failed');
    }
    return res.result?.value;
  }

  close(): void {
    this.ws.terminate();
  }
}
