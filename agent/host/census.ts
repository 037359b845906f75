// Host room (the app's main thread): the keep-alive census of timers, immediates, sockets,
// servers and child processes.
import type * as InspectorModule from 'node:inspector';
import type { Session as SessionType } from 'node:inspector';
import { fileURLToPath } from 'node:url';
import type { HandleInfo, HandleKind, Site } from '../../src/model.js';
import { withLibrary } from '../../src/frames.js';
import { isOwn, runOwn } from './own-scope.js';
import { sourceMaps } from './source-maps.js';

/** A live object found by the census, with what cancel needs to stop it. */
export interface LiveHandle {
  info: HandleInfo;
  object: object;
}

type Post = (method: string, params?: Record<string, unknown>) => Record<string, unknown>;

const PROBE = Symbol.for('asyncmon.census.probe');
const GROUP = 'asyncmon-census';

interface TimerLike {
  _idleTimeout?: number;
  _onTimeout?: unknown;
  _repeat?: unknown;
  _destroyed?: boolean;
  _onImmediate?: unknown;
  hasRef?: () => boolean;
}

interface TimerList {
  _idleNext?: TimerLike | TimerList;
}

/** Node's own timer and immediate queues (module state of `lib/timers.js`). */
interface TimerQueues {
  timerListMap: Record<string, TimerList>;
  immediateQueue: { head?: TimerLike | null };
}

/** A lazily opened inspector session to our own thread; it answers synchronously. */
/** `node:inspector`, loaded on first use: a Node built without it must still run the agent. */
function inspectorSession(): SessionType {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Session } = require('node:inspector') as typeof InspectorModule;
  return new Session();
}

class OwnSession {
  private session: SessionType | null = null;

  post: Post = (method, params) => {
    if (!this.session) {
      this.session = inspectorSession();
      this.session.connect();
    }
    let result: Record<string, unknown> = {};
    let error: Error | null = null;
    this.session.post(method, params, (err: Error | null, res?: object) => {
      error = err;
      result = (res ?? {}) as Record<string, unknown>;
    });
    if (error) throw error;
    return result;
  };

  /** The inspector handle of a live JS value. */
  objectId(value: unknown): string | undefined {
    const g = globalThis as Record<symbol, unknown>;
    g[PROBE] = value;
    try {
      const ref = this.post('Runtime.evaluate', { expression: `globalThis[Symbol.for('asyncmon.census.probe')]`, objectGroup: GROUP });
      return (ref.result as { objectId?: string } | undefined)?.objectId;
    } finally {
      delete g[PROBE];
    }
  }

  /** The live JS value behind an inspector handle. */
  value(objectId: string): unknown {
    const g = globalThis as Record<symbol, unknown>;
    this.post('Runtime.callFunctionOn', {
      objectId,
      functionDeclaration: `function () { globalThis[Symbol.for('asyncmon.census.probe')] = this; }`,
    });
    const out = g[PROBE];
    delete g[PROBE];
    return out;
  }

  close(): void {
    if (!this.session) return;
    try {
      this.post('Runtime.releaseObjectGroup', { objectGroup: GROUP });
    } catch {}
    this.session.disconnect();
    this.session = null;
  }
}

/**
 * What keeps the process alive: timers, intervals and immediates, and sockets, servers and
 * child processes (`process._getActiveHandles()`), each with the source location of the
 * callback it will run. No async hook is needed. Node lists no timers publicly, so an
 * inspector session to our own thread (opened only for the call; it answers synchronously)
 * finds Node's timer queues once, through the `[[Scopes]]` of `clearTimeout`, and reads
 * callback locations from `[[FunctionLocation]]`. If the queues cannot be found (a future
 * Node), it falls back to `Runtime.queryObjects`, which walks the heap and is much slower.
 */
export class Census {
  private readonly scriptUrls = new Map<string, string>();
  private readonly sites = new WeakMap<object, Site | null>();
  private queues: TimerQueues | null | undefined;
  private asyncIdSymbol: symbol | null = null;

  /** Takes the census; `limit` bounds how many objects are inspected. */
  take(limit: number): LiveHandle[] {
    return runOwn(() => {
      const session = new OwnSession();
      try {
        return this.collect(session, limit);
      } finally {
        session.close();
      }
    });
  }

  private collect(session: OwnSession, limit: number): LiveHandle[] {
    const out: LiveHandle[] = [];
    const roles = nodeTimerRoles();
    for (const obj of this.timers(session)) {
      if (out.length >= limit) break;
      const t = obj as TimerLike;
      const immediate = typeof t._onImmediate === 'function';
      if (t._destroyed || isOwn(obj)) continue;
      if (!immediate && (t._idleTimeout === undefined || t._idleTimeout < 0)) continue;
      const callback = immediate ? t._onImmediate : t._onTimeout;
      const repeat = !immediate && t._repeat !== null && t._repeat !== undefined;
      const asyncId = this.asyncIdOf(obj);
      out.push({
        object: obj,
        info: {
          id: `r${asyncId}`,
          asyncId,
          kind: immediate ? 'immediate' : repeat ? 'interval' : 'timeout',
          type: immediate ? 'Immediate' : 'Timeout',
          refed: typeof t.hasRef === 'function' ? t.hasRef() : true,
          callback: typeof callback === 'function' ? this.locate(session, callback) : null,
          detail: immediate ? '' : `${repeat ? 'every' : 'after'} ${t._idleTimeout}ms${roles.has(obj) ? ` · ${roles.get(obj)}` : ''}`,
          role: roles.get(obj) ?? null,
        },
      });
    }
    for (const handle of activeHandles()) {
      if (out.length >= limit) break;
      if (isOwn(handle)) continue;
      out.push({ object: handle, info: describeHandle(handle) });
    }
    return out;
  }

  /** Every scheduled timer and immediate, from Node's queues (or the heap as a fallback). */
  private timers(session: OwnSession): object[] {
    if (this.queues === undefined) this.queues = findQueues(session);
    if (this.asyncIdSymbol === null) {
      const probe = setTimeout(() => {}, 0);
      clearTimeout(probe);
      this.asyncIdSymbol = Object.getOwnPropertySymbols(probe).find((s) => s.description === 'asyncId') ?? null;
    }
    const q = this.queues;
    if (!q) return [...queryInstances(session, 'timeout'), ...queryInstances(session, 'immediate')];
    const out: object[] = [];
    for (const list of Object.values(q.timerListMap)) {
      for (let t = list._idleNext; t && t !== list; t = (t as TimerLike & TimerList)._idleNext) out.push(t);
    }
    for (let im = q.immediateQueue.head; im; im = (im as TimerLike & TimerList)._idleNext as TimerLike | null) out.push(im);
    return out;
  }

  private asyncIdOf(obj: object): number {
    const sym = this.asyncIdSymbol;
    const id = sym ? (obj as Record<symbol, unknown>)[sym] : undefined;
    return typeof id === 'number' ? id : -1;
  }

  /** The source location of a function, from the inspector's `[[FunctionLocation]]`, cached. */
  private locate(session: OwnSession, fn: object): Site | null {
    if (this.sites.has(fn)) return this.sites.get(fn) ?? null;
    const site = this.locateUncached(session, fn);
    this.sites.set(fn, site);
    return site;
  }

  private locateUncached(session: OwnSession, fn: object): Site | null {
    const objectId = session.objectId(fn);
    if (!objectId) return null;
    const props = session.post('Runtime.getProperties', { objectId, ownProperties: true });
    const internal = (props.internalProperties ?? []) as Array<{ name: string; value?: { value?: unknown } }>;
    const loc = internal.find((p) => p.name === '[[FunctionLocation]]')?.value?.value as
      | { scriptId: string; lineNumber: number; columnNumber: number }
      | undefined;
    if (!loc) return null;
    let url = this.scriptUrls.get(loc.scriptId);
    if (url === undefined) {
      this.loadScripts();
      url = this.scriptUrls.get(loc.scriptId) ?? '';
      // Unknown even now (an eval'd script): remember that, or every callback of it would
      // replay every script again.
      if (!this.scriptUrls.has(loc.scriptId)) this.scriptUrls.set(loc.scriptId, '');
    }
    const name = url;
    if (url.startsWith('file://')) url = fileURLToPath(url);
    const at = { file: url || `<script ${loc.scriptId}>`, line: loc.lineNumber + 1, column: loc.columnNumber + 1 };
    // At the original source when the process has source maps (a `.ts` line under tsx).
    const pos = name && !name.startsWith('node:') ? sourceMaps.map(name, at) : at;
    return withLibrary({ fn: typeof fn === 'function' ? fn.name : '', file: pos.file, line: pos.line, column: pos.column });
  }

  /** Script id → URL; `Debugger.enable` replays `scriptParsed` for every script, synchronously. */
  private loadScripts(): void {
    const session = inspectorSession();
    session.connect();
    session.on('Debugger.scriptParsed', (msg: { params: { scriptId: string; url: string } }) => {
      this.scriptUrls.set(msg.params.scriptId, msg.params.url);
    });
    try {
      session.post('Debugger.enable');
      session.post('Debugger.disable');
    } finally {
      session.disconnect();
    }
  }
}

/** Node's `timerListMap` and `immediateQueue`, through the closure scope of `clearTimeout`. */
function findQueues(session: OwnSession): TimerQueues | null {
  try {
    const fnId = session.objectId(clearTimeout);
    if (!fnId) return null;
    const props = session.post('Runtime.getProperties', { objectId: fnId, ownProperties: true });
    const internal = (props.internalProperties ?? []) as Array<{ name: string; value?: { objectId?: string } }>;
    const scopesId = internal.find((p) => p.name === '[[Scopes]]')?.value?.objectId;
    if (!scopesId) return null;
    const scopes = session.post('Runtime.getProperties', { objectId: scopesId, ownProperties: true });
    for (const scope of (scopes.result ?? []) as Array<{ value?: { objectId?: string } }>) {
      if (!scope.value?.objectId) continue;
      const vars = session.post('Runtime.getProperties', { objectId: scope.value.objectId, ownProperties: true });
      const byName = new Map(((vars.result ?? []) as Array<{ name: string; value?: { objectId?: string } }>).map((v) => [v.name, v.value?.objectId]));
      const mapId = byName.get('timerListMap');
      const queueId = byName.get('immediateQueue');
      if (mapId && queueId) {
        const timerListMap = session.value(mapId) as TimerQueues['timerListMap'];
        const immediateQueue = session.value(queueId) as TimerQueues['immediateQueue'];
        if (timerListMap && typeof timerListMap === 'object' && immediateQueue && typeof immediateQueue === 'object') {
          return { timerListMap, immediateQueue };
        }
      }
    }
  } catch {}
  return null;
}

/** All instances (live or not yet collected) of Timeout or Immediate, by walking the heap. */
function queryInstances(session: OwnSession, kind: 'timeout' | 'immediate'): object[] {
  const sample = kind === 'timeout' ? setTimeout(() => {}, 0) : setImmediate(() => {});
  if (kind === 'timeout') clearTimeout(sample as NodeJS.Timeout);
  else clearImmediate(sample as NodeJS.Immediate);
  try {
    const protoId = session.objectId(Object.getPrototypeOf(sample));
    if (!protoId) return [];
    const found = session.post('Runtime.queryObjects', { prototypeObjectId: protoId, objectGroup: GROUP });
    const arrayId = (found.objects as { objectId?: string } | undefined)?.objectId;
    const list = arrayId ? session.value(arrayId) : null;
    return Array.isArray(list) ? (list as object[]).filter((o) => o !== sample) : [];
  } catch {
    return [];
  }
}

/**
 * Sockets, servers and child processes by async id, without the inspector (no timers): cheap
 * enough to name what an ended task still holds.
 */
export function liveHandlesById(): Map<number, HandleInfo> {
  const out = new Map<number, HandleInfo>();
  for (const handle of activeHandles()) {
    if (isOwn(handle)) continue;
    const info = describeHandle(handle);
    if (info.asyncId >= 0) out.set(info.asyncId, info);
  }
  return out;
}

function activeHandles(): object[] {
  const get = (process as unknown as { _getActiveHandles?: () => object[] })._getActiveHandles;
  try {
    return typeof get === 'function' ? get.call(process) : [];
  } catch {
    return [];
  }
}

interface HandleLike {
  _handle?: { getAsyncId?: () => number } | null;
  hasRef?: () => boolean;
  remoteAddress?: string;
  remotePort?: number;
  localPort?: number;
  address?: () => unknown;
  pid?: number;
  spawnfile?: string;
  spawnargs?: unknown;
  fd?: number;
  listening?: boolean;
}

function describeHandle(handle: object): HandleInfo {
  const h = handle as HandleLike;
  const name = handle.constructor?.name ?? 'Object';
  const asyncId = safe(() => h._handle?.getAsyncId?.(), -1) ?? -1;
  const refed = safe(() => (typeof h.hasRef === 'function' ? h.hasRef() : true), true);
  let kind: HandleKind = 'other';
  let detail = '';
  if (typeof h.listening === 'boolean' && typeof h.address === 'function') {
    kind = 'server';
    const addr = safe(() => h.address?.(), null) as { address?: string; port?: number } | string | null;
    detail = typeof addr === 'string' ? addr : addr ? `listening ${addr.address}:${addr.port}` : 'not listening';
  } else if (typeof h.pid === 'number' && h.spawnfile !== undefined) {
    kind = 'child-process';
    detail = `pid ${h.pid} ${safe(() => commandLine(h.spawnargs), null) ?? h.spawnfile}`;
  } else if ('remoteAddress' in h || 'bytesWritten' in h) {
    kind = 'socket';
    // Read the fd from the handle: touching process.stdin would create it, and make a piped
    // fd 0 non-blocking for the host and whoever shares the pipe.
    const fd = (h._handle as { fd?: unknown } | null | undefined)?.fd;
    if (fd === 0 || fd === 1 || fd === 2) detail = `stdio fd ${fd}`;
    else detail = h.remoteAddress ? `${h.remoteAddress}:${h.remotePort} (local :${h.localPort})` : 'not connected';
  }
  return { id: `r${asyncId}`, asyncId, kind, type: name, refed, callback: null, detail };
}

/** Longer command lines are cut: the table has a screen to share. */
const COMMAND_MAX = 200;

/**
 * A child's command and arguments as a shell would read them back (`sh -c 'sleep 100'`), from
 * its `spawnargs` (argv0 first); null when there are none.
 */
function commandLine(args: unknown): string | null {
  if (!Array.isArray(args) || args.length === 0) return null;
  const text = args.map((a) => quoted(String(a))).join(' ');
  return text.length > COMMAND_MAX ? `${text.slice(0, COMMAND_MAX - 1)}…` : text;
}

function quoted(arg: string): string {
  if (/^[\w@%+=:,./-]+$/.test(arg)) return arg;
  return arg.includes("'") ? JSON.stringify(arg) : `'${arg}'`;
}

/** The symbol Node's HTTP server keeps its connection-checking interval under (lib/_http_server.js). */
const CHECKING_INTERVAL = 'http.server.connectionsCheckingInterval';

/**
 * Timers Node set for itself, with what they do: each HTTP server's interval that closes
 * connections past headersTimeout / requestTimeout (clearing it leaves slow clients connected
 * for good).
 */
function nodeTimerRoles(): Map<object, string> {
  const roles = new Map<object, string>();
  for (const handle of activeHandles()) {
    safe(() => {
      for (const sym of Object.getOwnPropertySymbols(handle)) {
        if (sym.description !== CHECKING_INTERVAL) continue;
        const timer = (handle as Record<symbol, unknown>)[sym];
        if (typeof timer !== 'object' || timer === null) continue;
        const addr = (handle as HandleLike).address?.() as { address?: string; port?: number } | string | null;
        const where = typeof addr === 'string' ? addr : addr ? `${addr.address}:${addr.port}` : '';
        roles.set(timer, `the HTTP server ${where ? `on ${where} ` : ''}enforces headersTimeout and requestTimeout with it`);
      }
    }, undefined);
  }
  return roles;
}

function safe<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}
