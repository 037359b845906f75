// Host room (the app's main thread): HTTP requests as tasks, through diagnostics_channel.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse, ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import type { TaskKind } from '../../src/model.js';
import type { FaultGuard } from './fault-guard.js';
import { activeSpanIds } from './otel.js';
import { OWN } from './own-scope.js';
import { requestName } from './task-registry.js';
import type { CancelEffect, TaskRecord, TaskRegistry } from './task-registry.js';

export { requestName };

/** Hooks the HTTP layer calls back into: which task is current, and entering one. */
export interface HttpTaskContext {
  registry: TaskRegistry;
  guard: FaultGuard;
  currentTaskId(): number;
  /** Makes `rec` the current task for the rest of this callback and what it leads to. */
  enter(rec: TaskRecord): void;
}

interface UndiciRequest {
  method?: string;
  origin?: string;
  path?: string;
  abort?: ((err: Error) => void) | null;
}

const TASK = Symbol('asyncmon.task');
type Tagged = { [TASK]?: TaskRecord };

/** On a server's socket: its requests' tasks not yet finished (one, or several when pipelined). */
const LIVE = Symbol('asyncmon.serverTasks');
type Connection = Socket & { [LIVE]?: TaskRecord | TaskRecord[] | null };

/**
 * Incoming HTTP requests and outgoing `http.request` / `fetch` (undici) calls as tasks, through
 * `diagnostics_channel`: no async hook and, before Node 24, no AsyncLocalStorage per request at
 * the default level.
 *
 * An incoming request costs as little as can be: a record (named only when read) on its
 * connection, ended by `http.server.response.finish` (Node ≥ 16.18, so every supported version).
 * No listener per request: one `close` listener per connection ends what the connection still
 * carries when it closes (an aborted request, a response never finished). Outgoing requests are
 * tagged with their record and end on their `close`.
 */
export class HttpTasks {
  private readonly subscriptions: Array<[string, (msg: unknown) => void]>;
  private on = false;

  constructor(private readonly ctx: HttpTaskContext) {
    const { registry, guard } = ctx;
    this.onConnectionClose = function (this: Connection): void {
      try {
        const live = this[LIVE];
        if (!live) return;
        this[LIVE] = null;
        if (Array.isArray(live)) for (const rec of live) endOnClose(registry, rec);
        else endOnClose(registry, live);
      } catch (err) {
        guard.record(err);
      }
    };
    this.onClientClose = function (this: ClientRequest): void {
      try {
        const rec = (this as Tagged)[TASK];
        if (!rec) return;
        const complete = (this as unknown as { res?: IncomingMessage | null }).res?.complete === true;
        registry.end(rec, complete ? 'finished' : 'failed', complete ? undefined : 'closed without a complete response');
      } catch (err) {
        guard.record(err);
      }
    };
    // diagnostics_channel re-throws a subscriber's error on the next tick, which would crash
    // the host: every subscriber is guarded, whatever anyone publishes on these names.
    const guarded = (fn: (m: Record<string, unknown>) => void) => (m: unknown) => {
      try {
        if (typeof m === 'object' && m !== null) fn(m as Record<string, unknown>);
      } catch (err) {
        guard.record(err);
      }
    };
    this.subscriptions = [
      // Every request: no wrapper, each catches for itself.
      ['http.server.request.start', (m) => this.serverStart(m as ServerStart)],
      ['http.server.response.finish', (m) => this.serverFinish(m as ServerStart)],
      ['http.client.request.start', guarded((m) => this.clientStart(m as unknown as { request: ClientRequest }))],
      ['undici:request:create', guarded((m) => this.undiciCreate(m as unknown as { request: UndiciRequest }))],
      ['undici:client:sendHeaders', guarded((m) => this.undiciSocket(m as unknown as { request: UndiciRequest; socket: Socket }))],
      // The phase of a fetch: one property write per event, on outgoing requests only.
      ['undici:request:bodySent', guarded((m) => ((m.request as Phased)[PHASE] = SENT))],
      ['undici:request:headers', guarded((m) => this.undiciHeaders(m.request as Phased, m.response as UndiciResponse))],
      ['undici:request:trailers', guarded((m) => this.undiciEnd(m.request as UndiciRequest))],
      ['undici:request:error', guarded((m) => this.undiciEnd(m.request as UndiciRequest, m.error))],
    ];
  }

  enable(): this {
    if (this.on) return this;
    for (const [name, fn] of this.subscriptions) subscribe(name, fn);
    this.on = true;
    return this;
  }

  disable(): this {
    if (!this.on) return this;
    for (const [name, fn] of this.subscriptions) unsubscribe(name, fn);
    this.on = false;
    return this;
  }

  private begin(kind: TaskKind, name: string, detail: string | undefined, target: object): TaskRecord | null {
    // An incoming request comes from outside: never the child of whatever the connection's
    // context still carries (the previous request on a keep-alive connection, whose callback
    // context lasts until it ends, would look like its parent).
    const parentId = kind === 'http-server' ? null : this.ctx.currentTaskId() || null;
    const rec = this.ctx.registry.start({ kind, name, detail, parentId });
    if (!rec) return null;
    (target as Tagged)[TASK] = rec;
    // An outgoing request starts in its caller's context: the active span is the request's.
    if (kind !== 'http-server') {
      const ids = activeSpanIds();
      if (ids.traceId) Object.assign(rec, ids);
    }
    return rec;
  }

  /** One listener for every connection and one for every outgoing request: no closure per request. */
  private readonly onConnectionClose: (this: Connection) => void;
  private readonly onClientClose: (this: ClientRequest) => void;

  private serverStart(m: ServerStart): void {
    try {
      this.ctx.guard.check();
      if (typeof m !== 'object' || m === null) return;
      const { request, socket } = m;
      // The mark read here, not through isOwn(): that one is called with every kind of object,
      // and its lookup of a mark a socket lacks then walks the socket's prototype chain every
      // time; here it only ever sees sockets, and the engine caches the answer.
      if ((socket as unknown as { [OWN]?: boolean })[OWN] === true) return;
      // From outside: no parent (see `begin`). The trace the caller propagated (the app's own
      // server span does not exist yet here) is read from the raw headers when first asked for.
      const rec = this.ctx.registry.start({ kind: 'http-server', method: request.method, path: request.url, rawHeaders: request.rawHeaders, parentId: null });
      if (!rec) return;
      rec.stop = stopServerRequest;
      // The socket, not the response: a record that held the response would keep it reachable
      // from the agent, and the await graph could not tell a request nothing can answer.
      rec.target = socket;
      const conn = socket as Connection;
      const live = conn[LIVE];
      if (live === undefined) {
        // The connection's first request.
        socket.on('close', this.onConnectionClose);
        conn[LIVE] = rec;
      } else if (!live) conn[LIVE] = rec;
      else if (Array.isArray(live)) live.push(rec);
      else conn[LIVE] = [live, rec];
      this.ctx.enter(rec);
    } catch (err) {
      this.ctx.guard.record(err);
    }
  }

  /**
   * A response was sent in full: its task is finished. Responses on a connection finish in the
   * order of their requests (pipelined ones wait their turn), so it is the connection's oldest.
   */
  private serverFinish(m: ServerStart): void {
    try {
      if (typeof m !== 'object' || m === null) return;
      const { response, socket } = m;
      const conn = socket as Connection;
      const live = conn[LIVE];
      if (!live) return;
      let rec: TaskRecord | undefined;
      if (!Array.isArray(live)) {
        rec = live;
        conn[LIVE] = null;
      } else {
        rec = live.shift();
        if (live.length === 0) conn[LIVE] = null;
        if (!rec) return;
      }
      rec.status = response.statusCode;
      this.ctx.registry.end(rec, 'finished');
    } catch (err) {
      this.ctx.guard.record(err);
    }
  }

  private clientStart({ request }: { request: ClientRequest }): void {
    try {
      this.ctx.guard.check();
      const hostHeader = request.getHeader('host');
      const host = typeof hostHeader === 'string' ? hostHeader : (request.host ?? '');
      const rec = this.begin('http-client', requestName(request.method, request.path), `${request.protocol ?? 'http:'}//${host}`, request);
      if (!rec) return;
      // What a kept-alive socket had read before this request: its phase counts from here.
      (request as Phased)[BASE] = request.socket?.bytesRead ?? 0;
      rec.stop = stopClientRequest;
      rec.target = request;
      request.on('close', this.onClientClose);
    } catch (err) {
      this.ctx.guard.record(err);
    }
  }

  private undiciCreate({ request }: { request: UndiciRequest }): void {
    try {
      this.ctx.guard.check();
      const rec = this.begin('http-client', requestName(request.method, request.path), request.origin, request);
      if (!rec) return;
      rec.stop = stopFetch;
      rec.target = request;
    } catch (err) {
      this.ctx.guard.record(err);
    }
  }

  private undiciSocket({ request, socket }: { request: UndiciRequest; socket: Socket }): void {
    (request as { [SOCKET]?: Socket })[SOCKET] = socket;
    (request as Phased)[BASE] = socket?.bytesRead ?? 0;
  }

  private undiciHeaders(request: Phased, response: UndiciResponse | undefined): void {
    request[PHASE] = HEADERS;
    // The header block's size, to count only the body's bytes (`rawHeaders`: names and values).
    const raw = response?.headers;
    let size = 'HTTP/1.1 200 '.length + String(response?.statusText ?? '').length + 2 + 2;
    if (Array.isArray(raw)) for (let i = 0; i + 1 < raw.length; i += 2) size += String(raw[i]).length + 2 + String(raw[i + 1]).length + 2;
    request[HEADER_BYTES] = size;
  }

  private undiciEnd(request: UndiciRequest, error?: unknown): void {
    try {
      const rec = (request as Tagged)[TASK];
      if (rec) this.ctx.registry.end(rec, error === undefined ? 'finished' : 'failed', error);
    } catch (err) {
      this.ctx.guard.record(err);
    }
  }
}

const SOCKET = Symbol('asyncmon.socket');
/** Bytes the request's socket had read when the request got it. */
const BASE = Symbol('asyncmon.bytesBase');
/** How far a fetch has got (from undici's channels): body sent, response headers received. */
const PHASE = Symbol('asyncmon.phase');
/** The size of a fetch's response header block. */
const HEADER_BYTES = Symbol('asyncmon.headerBytes');
const SENT = 1;
const HEADERS = 2;

type Phased = {
  [BASE]?: number;
  [PHASE]?: number;
  [HEADER_BYTES]?: number;
  [SOCKET]?: Socket;
};

interface UndiciResponse {
  statusCode?: number;
  statusText?: string;
  headers?: unknown[];
}

/** The size of an `http` response's header block, from its status line and raw headers. */
function headerBytes(res: IncomingMessage): number {
  let size = `HTTP/${res.httpVersion} ${res.statusCode} ${res.statusMessage ?? ''}\r\n`.length + 2;
  const raw = res.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) size += raw[i].length + 2 + raw[i + 1].length + 2;
  return size;
}

function bytes(n: number): string {
  return n === 1 ? '1 byte' : `${n} bytes`;
}

/**
 * Where an outgoing request is, read when it is listed (nothing is done per request for it but
 * noting its socket's byte count): connecting, sending the request, request sent and waiting
 * for the response headers, or receiving the body (bytes so far, the body's own when the
 * header block's size can be told). `target` is the task's `ClientRequest` or undici request.
 */
export function clientPhase(target: unknown): string | null {
  try {
    return phaseOf(target);
  } catch {
    return null;
  }
}

function phaseOf(target: unknown): string | null {
  if (typeof target !== 'object' || target === null) return null;
  const t = target as Phased & Partial<ClientRequest> & { res?: IncomingMessage | null };
  if (typeof t.getHeader === 'function') {
    const socket = t.socket;
    if (!socket || socket.connecting) return 'connecting';
    const res = t.res;
    if (!res) return t.writableFinished ? 'request sent, waiting for response headers' : 'sending the request';
    if (res.complete) return 'response received';
    const n = Math.max(0, socket.bytesRead - (t[BASE] ?? 0) - headerBytes(res));
    return `receiving body (${bytes(n)} so far)`;
  }
  const socket = t[SOCKET];
  if (!socket || socket.connecting) return 'connecting';
  const phase = t[PHASE] ?? 0;
  if (phase < SENT) return 'sending the request';
  if (phase < HEADERS) return 'request sent, waiting for response headers';
  const n = Math.max(0, socket.bytesRead - (t[BASE] ?? 0) - (t[HEADER_BYTES] ?? 0));
  return `receiving body (${bytes(n)} so far)`;
}

interface ServerStart {
  request: IncomingMessage;
  response: ServerResponse;
  socket: Socket;
}

/** A request's connection closed before its response finished: its task failed. */
function endOnClose(registry: TaskRegistry, rec: TaskRecord): void {
  registry.end(rec, 'failed', 'connection closed before the response was finished');
}

function stopServerRequest(socket: unknown): CancelEffect {
  (socket as Socket).destroy();
  return { action: 'destroyed', message: "the request's socket destroyed" };
}

function stopClientRequest(request: unknown): CancelEffect {
  (request as ClientRequest).destroy(new Error('cancelled by asyncmon'));
  return { action: 'destroyed', message: 'the outgoing request destroyed' };
}

function stopFetch(target: unknown): CancelEffect {
  const request = target as UndiciRequest & { [SOCKET]?: Socket };
  if (typeof request.abort === 'function') {
    request.abort(new DOMException('cancelled by asyncmon', 'AbortError') as unknown as Error);
    return { action: 'aborted', message: 'the fetch aborted' };
  }
  const socket = request[SOCKET];
  if (!socket) return { action: 'none', message: 'the fetch is not connected yet' };
  socket.destroy();
  return { action: 'destroyed', message: "the fetch's socket destroyed" };
}
