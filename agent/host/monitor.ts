import { randomBytes } from 'node:crypto';
import { existsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { DEFAULTS, ENV } from '../../src/defaults.js';
import { writeDiscovery, removeDiscovery } from '../../src/discovery.js';
import { AsyncmonError } from '../../src/errors.js';
import { parseLevel, parseStacks } from '../../src/levels.js';
import type { Level, StacksMode } from '../../src/model.js';
import { getAgent } from './agent.js';
import type { Agent } from './agent.js';
import { ConsoleBridge } from './console-bridge.js';
import { execute, streamOf } from './executor.js';
import { errorResponse } from '../../src/protocol.js';
import type { ToMain, ToWorker, WorkerConfig, WorkerReport } from '../messages.js';
import { listTasks } from './queries.js';
import { claimNewHandles, markOwn, runOwn } from './own-scope.js';

/** Options of `startMonitor`; each has an environment variable (see the README). */
export interface MonitorOptions {
  /** Interface to bind (default 127.0.0.1; anything else prints a warning). */
  host?: string;
  /** TCP port (default 20101; when busy and not given explicitly, an ephemeral port). */
  port?: number;
  /** Listen on this Unix socket instead of TCP. */
  socket?: string;
  /** The token clients must present (default: random, 256 bits). */
  token?: string;
  /** Cap every client at read access. */
  readOnly?: boolean;
  level?: Level | string;
  stacks?: StacksMode | string;
  /** Heartbeat age after which the loop counts as blocked (default 300 ms). */
  staleMs?: number;
  /** Write the discovery file (default true). */
  discovery?: boolean;
}

/** A running monitor. */
export interface MonitorHandle {
  address: { host: string; port: number | null; socket: string | null };
  token: string;
  discoveryFile: string | null;
  /** Stops the server and worker and removes the discovery file; safe to call twice. */
  close(): Promise<void>;
}

/** Chunks of a streamed answer the main thread may have sent and the worker not yet written. */
const STREAM_WINDOW = 2;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);
const GLOBAL_KEY = Symbol.for('asyncmon.monitor.v1');

/** The worker thread's entry, in the sibling room: built JavaScript, never imported. */
function workerPath(): string {
  const built = join(__dirname, '..', 'worker', 'worker.js');
  // Under a TypeScript test runner this file is agent/host/monitor.ts: use the build's worker.
  return existsSync(built) ? built : join(__dirname, '..', '..', 'dist', 'agent', 'worker', 'worker.js');
}

function resolveConfig(opts: MonitorOptions, env: NodeJS.ProcessEnv): WorkerConfig {
  const envPort = env[ENV.port];
  let port: number = DEFAULTS.port;
  let portExplicit = false;
  if (opts.port !== undefined) {
    port = opts.port;
    portExplicit = true;
  } else if (envPort) {
    port = Number(envPort);
    portExplicit = true;
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new AsyncmonError('BAD_ARGUMENT', `bad port "${opts.port ?? envPort}"`);
  const host = opts.host ?? env[ENV.host] ?? DEFAULTS.host;
  const token = opts.token ?? env[ENV.token] ?? randomBytes(32).toString('hex');
  if (token.length < 8) throw new AsyncmonError('BAD_ARGUMENT', 'the token must be at least 8 characters');
  // ASYNCMON_READONLY caps everyone, whatever the code asks for.
  const readOnly = env[ENV.readonly] === '1' || env[ENV.readonly] === 'true' || opts.readOnly === true;
  const staleMs = opts.staleMs ?? DEFAULTS.staleMs;
  if (!Number.isFinite(staleMs) || staleMs < 100) throw new AsyncmonError('BAD_ARGUMENT', `staleMs must be at least 100 (the heartbeat ticks every ${DEFAULTS.heartbeatMs} ms)`);
  return {
    host,
    port,
    portExplicit,
    socket: opts.socket ?? env[ENV.socket] ?? null,
    token,
    readOnly,
    pid: process.pid,
    node: process.version,
    staleMs,
    limits: { ...DEFAULTS.limits },
  };
}

function version(): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(join(__dirname, '..', '..', '..', 'package.json')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * Starts the agent's server in an unref'd worker thread: the text REPL and JSON lines on one
 * port (loopback, token), and a discovery file so the CLI finds it. Calling it again returns
 * the running monitor. Rejects (and leaves the host alone) when it cannot listen.
 */
export function startMonitor(opts: MonitorOptions = {}): Promise<MonitorHandle> {
  const g = globalThis as Record<symbol, Promise<MonitorHandle> | undefined>;
  const running = g[GLOBAL_KEY];
  if (running) return running;
  return runOwn(() => {
    let started: Promise<MonitorHandle>;
    try {
      started = launch(opts);
    } catch (err) {
      // e.g. new Worker refused by the permission model: reject, never throw at the caller.
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    Object.defineProperty(globalThis, GLOBAL_KEY, { value: started, configurable: true, writable: true, enumerable: false });
    started.catch(() => {
      if (g[GLOBAL_KEY] === started) g[GLOBAL_KEY] = undefined;
    });
    return started;
  });
}

function launch(opts: MonitorOptions): Promise<MonitorHandle> {
  let config: WorkerConfig;
  const agent = getAgent();
  try {
    config = resolveConfig(opts, process.env);
    const level = opts.level ?? process.env[ENV.track];
    const stacks = opts.stacks ?? process.env[ENV.stacks];
    if (level !== undefined || stacks !== undefined) {
      agent.track(level !== undefined ? parseLevel(String(level)) : agent.level, stacks !== undefined ? parseStacks(stacks) : undefined);
    }
  } catch (err) {
    return Promise.reject(err);
  }
  if (!config.socket && !LOOPBACK.has(config.host)) {
    warn(`listening on ${config.host}, not loopback: anyone who can reach it and has the token can inspect this process`);
  }
  const beats = new SharedArrayBuffer(4);
  // The worker's message port becomes an active handle once we listen on it: claim it as ours.
  return claimNewHandles(() => connect(agent, opts, config, beats));
}

function connect(agent: Agent, opts: MonitorOptions, config: WorkerConfig, beats: SharedArrayBuffer): Promise<MonitorHandle> {
  const tokenGiven = opts.token !== undefined || process.env[ENV.token] !== undefined;
  const counter = new Int32Array(beats);
  const worker = markOwn(
    new Worker(workerPath(), {
      workerData: { config, beats },
      resourceLimits: { maxOldGenerationSizeMb: 96, maxYoungGenerationSizeMb: 16 },
      stdout: false,
      stderr: false,
      env: {},
    }),
  );

  return new Promise<MonitorHandle>((resolve, reject) => {
    let settled = false;
    let discoveryFile: string | null = null;
    let closed = false;
    const heartbeat = markOwn(setInterval(() => Atomics.add(counter, 0, 1), DEFAULTS.heartbeatMs));
    heartbeat.unref();
    const consoles = new ConsoleBridge(
      (session, text) => post({ type: 'console-out', session, text }),
      (session) => post({ type: 'console-exit', session }),
    );
    const statusTimer = markOwn(setInterval(() => pushStatus(agent), 1000));
    statusTimer.unref();

    function post(msg: ToWorker): void {
      try {
        worker.postMessage(msg);
      } catch {}
    }
    /** Streamed calls, told when the worker has written one of their chunks (or stop). */
    const acks = new Map<number, (stop: boolean) => void>();
    /**
     * Sends a streamed answer chunk by chunk, at most STREAM_WINDOW of them not yet written by
     * the worker: the next slice is built while the worker writes the last one, and a client
     * that does not read stops the listing after two slices.
     */
    async function runStream(id: number, chunks: AsyncGenerator<unknown[], unknown>): Promise<void> {
      let unacked = 0;
      let stopped = false;
      let wake: (() => void) | null = null;
      acks.set(id, (stop) => {
        unacked--;
        if (stop) stopped = true;
        wake?.();
      });
      try {
        for (;;) {
          while (unacked >= STREAM_WINDOW && !stopped) await new Promise<void>((resolve) => (wake = resolve));
          wake = null;
          if (stopped) {
            await chunks.return(undefined);
            return;
          }
          const step = await chunks.next();
          if (step.done) return post({ type: 'reply', id, ok: true, result: step.value });
          unacked++;
          post({ type: 'chunk', id, json: JSON.stringify(step.value) });
        }
      } catch (err) {
        post({ type: 'reply', id, ok: false, error: errorResponse(null, err).error });
      } finally {
        acks.delete(id);
      }
    }
    function pushStatus(a: Agent): void {
      try {
        const oldest = listTasks(a, 5).items;
        post({ type: 'status', loop: a.loop.stats(), tracker: a.status(), tasks: a.registry.size, pendingPromises: a.promises.enabled ? a.promises.size : null, oldestTasks: oldest });
      } catch {}
    }
    const onExit = () => {
      if (discoveryFile) removeDiscovery(discoveryFile);
    };
    const cleanup = () => {
      for (const stop of acks.values()) stop(true);
      clearInterval(heartbeat);
      clearInterval(statusTimer);
      consoles.closeAll();
      process.removeListener('exit', onExit);
      onExit();
      (globalThis as Record<symbol, unknown>)[GLOBAL_KEY] = undefined;
    };

    worker.on('message', (msg: ToMain | WorkerReport) => {
      switch (msg.type) {
        case 'listening': {
          if (settled) return;
          settled = true;
          if (opts.discovery !== false) {
            try {
              discoveryFile = writeDiscovery({
                pid: process.pid,
                host: msg.host,
                port: msg.port,
                socket: msg.socket,
                token: config.token,
                node: process.version,
                cwd: process.cwd(),
                argv: process.argv.slice(1),
                startedAt: Date.now(),
                version: version(),
              });
              process.on('exit', onExit);
            } catch (err) {
              const why = err instanceof Error ? err.message : String(err);
              if (!tokenGiven) {
                // A random token nobody can read: the agent would be unreachable. Stay off.
                closed = true;
                cleanup();
                void worker.terminate();
                reject(new AsyncmonError('UNAVAILABLE', `no discovery file (${why}), and without ${ENV.token} nobody could connect`));
                return;
              }
              warn(`no discovery file (${why}); connect to ${msg.socket ?? `${msg.host}:${msg.port}`} with ${ENV.token}`);
            }
          }
          pushStatus(agent);
          const handle: MonitorHandle = {
            address: { host: msg.host, port: msg.port, socket: msg.socket },
            token: config.token,
            discoveryFile,
            close: () =>
              runOwn(() => {
                if (closed) return Promise.resolve();
                closed = true;
                cleanup();
                return worker.terminate().then(
                  () => undefined,
                  () => undefined,
                );
              }),
          };
          resolve(handle);
          return;
        }
        case 'failed':
          if (!settled) {
            settled = true;
            closed = true;
            cleanup();
            void worker.terminate();
            reject(new AsyncmonError('UNAVAILABLE', msg.message));
          }
          return;
        case 'ack':
          acks.get(msg.id)?.(msg.stop);
          return;
        case 'call': {
          const chunks = runOwn(() => streamOf(agent, msg.cmd, msg.args));
          if (chunks) {
            runOwn(() => runStream(msg.id, chunks)).catch(() => {});
            return;
          }
          runOwn(() =>
            Promise.resolve()
              .then(() => execute(agent, msg.cmd, msg.args, msg.by))
              .then(
                (result) => post({ type: 'reply', id: msg.id, ok: true, result }),
                (err: unknown) => post({ type: 'reply', id: msg.id, ok: false, error: errorResponse(null, err).error }),
              )
              // Whatever happens above (an error that cannot even be turned into text), never
              // an unhandled rejection in the host.
              .catch(() => post({ type: 'reply', id: msg.id, ok: false, error: { code: 'INTERNAL', message: 'the command failed' } })),
          );
          return;
        }
        case 'console':
          try {
            if (msg.op === 'open') consoles.open(msg.session);
            else if (msg.op === 'line') consoles.line(msg.session, msg.text ?? '');
            else consoles.close(msg.session);
          } catch {}
          return;
      }
    });
    worker.on('error', (err) => {
      if (closed) return;
      if (!settled) {
        settled = true;
        reject(new AsyncmonError('UNAVAILABLE', `agent worker failed: ${err.message}`));
      } else warn(`agent worker stopped: ${err.message}`);
      closed = true;
      cleanup();
    });
    worker.on('exit', () => {
      if (!settled) {
        settled = true;
        reject(new AsyncmonError('UNAVAILABLE', 'agent worker exited before listening'));
      }
      if (!closed) {
        closed = true;
        cleanup();
      }
    });
    // After the listeners: attaching a 'message' listener refs the worker's port again.
    worker.unref();
  });
}

/** One line on stderr, written synchronously. */
export function warn(message: string): void {
  try {
    writeSync(2, `asyncmon: ${message}\n`);
  } catch {}
}
