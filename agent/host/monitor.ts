// Host room (the app's main thread): `startMonitor`: starts the worker and writes the
// discovery file.
import { randomBytes } from 'node:crypto';
import { existsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { DEFAULTS, ENV } from '../../src/defaults.js';
import { processStartTicks, removeDiscovery, writeDiscovery } from '../../src/discovery.js';
import { AsyncmonError } from '../../src/errors.js';
import { parseLevel, parseStacks } from '../../src/levels.js';
import type { Level, StacksMode } from '../../src/model.js';
import { getAgent } from './agent.js';
import type { Agent } from './agent.js';
import type { WorkerConfig, WorkerReport } from '../messages.js';
import { claimNewHandles, markOwn, runOwn } from './own-scope.js';
import { WorkerBridge } from './worker-bridge.js';
import { period } from './clock-scale.js';

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
  // A node:cluster worker inherits its primary's environment: the port or socket set there is
  // the primary's (it took it first), so a worker takes an ephemeral port or `<socket>.<pid>`
  // instead of failing; its discovery file has the real address. (Node deletes the
  // NODE_UNIQUE_ID mark before preloads run: `cluster.isWorker` is what is left.)
  const envSocket = env[ENV.socket];
  const inherited = (opts.port === undefined && Boolean(envPort)) || (opts.socket === undefined && Boolean(envSocket));
  const clusterWorker = inherited && isClusterWorker();
  if (clusterWorker && opts.port === undefined && envPort) {
    port = 0;
    portExplicit = false;
  }
  const socket = opts.socket ?? (envSocket ? (clusterWorker ? `${envSocket}.${process.pid}` : envSocket) : null);
  const host = opts.host ?? env[ENV.host] ?? DEFAULTS.host;
  const token = opts.token ?? env[ENV.token] ?? randomBytes(32).toString('hex');
  if (token.length < 8) throw new AsyncmonError('BAD_ARGUMENT', 'the token must be at least 8 characters');
  // ASYNCMON_READONLY caps everyone, whatever the code asks for.
  const readOnly = env[ENV.readonly] === '1' || env[ENV.readonly] === 'true' || opts.readOnly === true;
  const staleMs = opts.staleMs ?? DEFAULTS.staleMs;
  if (!Number.isFinite(staleMs) || staleMs < 100) throw new AsyncmonError('BAD_ARGUMENT', `staleMs must be at least 100 (the heartbeat ticks every ${DEFAULTS.heartbeatMs} ms)`);
  const maxHeapMb = env[ENV.awaitsMaxHeapMb];
  let awaitsMaxHeapBytes: number = DEFAULTS.awaitsMaxHeapBytes;
  if (maxHeapMb !== undefined && maxHeapMb !== '') {
    if (!/^\s*\d+\s*$/.test(maxHeapMb) || Number(maxHeapMb) < 1) throw new AsyncmonError('BAD_ARGUMENT', `bad ${ENV.awaitsMaxHeapMb} "${maxHeapMb.slice(0, 40)}": a whole number of megabytes from 1`);
    awaitsMaxHeapBytes = Number(maxHeapMb) * 1024 * 1024;
  }
  return {
    host,
    port,
    portExplicit,
    socket,
    token,
    readOnly,
    pid: process.pid,
    node: process.version,
    staleMs,
    clockMs: period(DEFAULTS.clockMs),
    awaitsMaxHeapBytes,
    limits: { ...DEFAULTS.limits },
  };
}

function isClusterWorker(): boolean {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('node:cluster') as { isWorker?: boolean }).isWorker === true;
  } catch {
    return false;
  }
}

/** This package's version, from its package.json. */
export function version(): string {
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
 *
 * The promise keeps the process alive until it settles, so `await startMonitor()` at the top
 * of an ES module (or in an `async main`) goes on to the code after it even when nothing else
 * is running yet; once it has settled the agent keeps nothing alive.
 */
export function startMonitor(opts: MonitorOptions = {}): Promise<MonitorHandle> {
  return keepAliveUntil(startInBackground(opts));
}

/** A ref'd handle of the agent's own, held until `p` settles. */
function keepAliveUntil<T>(p: Promise<T>): Promise<T> {
  const hold = runOwn(() => markOwn(setInterval(() => {}, 1 << 30)));
  const release = () => clearInterval(hold);
  p.then(release, release);
  return p;
}

/**
 * `startMonitor` without holding the process open while it starts: for the preload, which
 * must not make a short script wait for the agent's worker.
 */
export function startInBackground(opts: MonitorOptions = {}): Promise<MonitorHandle> {
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
  const beats = new SharedArrayBuffer(4 * DEFAULTS.shared.slots);
  const clock = new SharedArrayBuffer(8);
  // The worker's message port becomes an active handle once we listen on it: claim it as ours.
  return claimNewHandles(() => connect(agent, opts, config, beats, clock));
}

function connect(agent: Agent, opts: MonitorOptions, config: WorkerConfig, beats: SharedArrayBuffer, clock: SharedArrayBuffer): Promise<MonitorHandle> {
  const tokenGiven = opts.token !== undefined || process.env[ENV.token] !== undefined;
  const worker = markOwn(
    new Worker(workerPath(), {
      workerData: { config, beats, clock },
      // The agent uses a few MB; `awaits` parses heap snapshots in a thread of its own, sized
      // for the snapshot (agent/worker/awaits-runner.ts), and keeps only the answer here.
      resourceLimits: { maxOldGenerationSizeMb: 128, maxYoungGenerationSizeMb: 16 },
      stdout: false,
      stderr: false,
      env: {},
    }),
  );

  return new Promise<MonitorHandle>((resolve, reject) => {
    let settled = false;
    let discoveryFile: string | null = null;
    let closed = false;
    const onExit = () => {
      if (discoveryFile) removeDiscovery(discoveryFile);
    };
    const cleanup = () => {
      bridge.stop();
      process.removeListener('exit', onExit);
      onExit();
      (globalThis as Record<symbol, unknown>)[GLOBAL_KEY] = undefined;
    };
    const fail = (message: string) => {
      closed = true;
      cleanup();
      void bridge.terminate();
      reject(new AsyncmonError('UNAVAILABLE', message));
    };
    const listening = (msg: Extract<WorkerReport, { type: 'listening' }>) => {
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
            startTicks: processStartTicks(process.pid),
          });
          process.on('exit', onExit);
        } catch (err) {
          const why = err instanceof Error ? err.message : String(err);
          // A random token nobody can read: the agent would be unreachable. Stay off.
          if (!tokenGiven) return fail(`no discovery file (${why}), and without ${ENV.token} nobody could connect`);
          warn(`no discovery file (${why}); connect to ${msg.socket ?? `${msg.host}:${msg.port}`} with ${ENV.token}`);
        }
      }
      bridge.pushStatus();
      resolve({
        address: { host: msg.host, port: msg.port, socket: msg.socket },
        token: config.token,
        discoveryFile,
        close: () =>
          runOwn(() => {
            if (closed) return Promise.resolve();
            closed = true;
            cleanup();
            return bridge.terminate();
          }),
      });
    };
    const bridge = new WorkerBridge(worker, agent, new Int32Array(beats), new Float64Array(clock), {
      report(msg) {
        if (settled) return;
        settled = true;
        if (msg.type === 'listening') listening(msg);
        else fail(msg.message);
      },
      stopped(err) {
        if (closed) return;
        closed = true;
        if (!settled) {
          settled = true;
          reject(new AsyncmonError('UNAVAILABLE', err ? `agent worker failed: ${err.message}` : 'agent worker exited before listening'));
        } else if (err) warn(`agent worker stopped: ${err.message}`);
        cleanup();
      },
    }).start();
  });
}

/** One line on stderr, written synchronously. */
export function warn(message: string): void {
  try {
    writeSync(2, `asyncmon: ${message}\n`);
  } catch {}
}
