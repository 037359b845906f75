/**
 * Worker room (the agent's own thread), its entry point: the host's main thread starts this
 * file as a worker. The TCP (or Unix socket) listener, sessions, auth, limits and the
 * blocked-loop sentinel. It answers `health` and `stack` by itself, so they work while the
 * host's loop is blocked; everything else is forwarded to the main thread's executor.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import type { Access, Args, CommandSpec } from '../../src/commands.js';
import { agentProof, clientProof, sameProof } from '../../src/auth-proof.js';
import { monotonicMs } from '../../src/clock.js';
import { DEFAULTS } from '../../src/defaults.js';
import { AsyncmonError } from '../../src/errors.js';
import { refuseBigHeap, whereFromHeap } from '../../src/awaits.js';
import { formatChain, formatDuration } from '../../src/format.js';
import { blockedTaskText } from '../../src/render.js';
import type { AwaitsResult, HealthResult, Page, StatsResult, TaskInfo, TaskPage, WhereInfo } from '../../src/model.js';
import type { StatusMessage, WorkerConfig, WorkerReport } from '../messages.js';
import { AnswerCache } from './answer-cache.js';
import { deepTasks } from './deep.js';
import { HeapAnswers, sliceAwaits } from './heap-answers.js';
import { runAwaits } from './awaits-runner.js';
import { MainThreadCapture } from './heap-capture.js';
import { MainBridge } from './main-bridge.js';
import { Sentinel } from './sentinel.js';
import { Session } from './session.js';
import type { Emit } from './session.js';
import { Watcher } from './watcher.js';

/**
 * How long the pool of connections logging in may run over before it is trimmed (a client's
 * first line is read by then, so it is not taken for a silent one), and by how much at most.
 */
const TRIM_DELAY_MS = 50;
const POOL_OVERRUN = 16;

/**
 * Whether `path` is a Unix socket that nothing listens on any more: connecting is refused.
 * A file that is not a socket, or a socket that accepts, is not stale.
 */
function staleSocket(path: string): Promise<boolean> {
  try {
    if (!lstatSync(path).isSocket()) return Promise.resolve(false);
  } catch {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    const probe = connect(path);
    const done = (stale: boolean) => {
      clearTimeout(timer);
      probe.destroy();
      resolve(stale);
    };
    const timer = setTimeout(() => done(false), 1000);
    timer.unref();
    probe.on('connect', () => done(false));
    probe.on('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED'));
  });
}

interface WorkerInit {
  config: WorkerConfig;
  beats: SharedArrayBuffer;
  /** Where this thread writes the time for the main thread's per-request clock. */
  clock: SharedArrayBuffer;
}

function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

function main(): void {
  const port = parentPort;
  if (!port) return;
  const { config, beats, clock } = workerData as WorkerInit;
  const expected = tokenDigest(config.token);
  const grant: Access = config.readOnly ? 'read' : 'eval';
  const sessions = new Map<number, Session>();
  /** Sessions that have not logged in yet, oldest first. */
  const loggingIn = new Set<Session>();
  /** Who makes room when too many are logging in: the oldest silent one, else text, else JSON. */
  const oldestLoggingIn = (): Session | undefined => {
    let text: Session | undefined;
    let json: Session | undefined;
    for (const s of loggingIn) {
      if (s.dialect === null) return s;
      if (s.dialect === 'text') text ??= s;
      else json ??= s;
    }
    return text ?? json;
  };
  /** The main thread's last status, what `health` answers from while the loop is blocked. */
  let status: StatusMessage | null = null;
  const shared = new Int32Array(beats);
  const slot = DEFAULTS.shared;
  // The main thread times each incoming request by this instead of reading a clock
  // (agent/host/coarse-clock.ts). Monotonic, common to every thread; ticks while the main loop is blocked.
  const now = new Float64Array(clock);
  const tick = () => {
    now[0] = monotonicMs();
  };
  tick();
  const bridge = new MainBridge(port, config.limits, () => Atomics.load(shared, slot.workMicros), {
    status: (msg) => (status = msg),
    consoleOut: (session, text) => sessions.get(session)?.write(text),
    consoleExit: (session) => sessions.get(session)?.consoleExited(),
    shutdown: () => shutdown(),
    refuse: () => {
      const blockedMs = sentinel.blockedMs();
      return blockedMs > 0 ? blockedError(blockedMs) : null;
    },
  }).start();
  // Calls already waiting on the main thread fail as soon as a block is seen, not at their timeout.
  const sentinel = new Sentinel(
    shared,
    config.staleMs,
    50,
    () => bridge.rejectAll(blockedError(sentinel.blockedMs())),
    () => Atomics.load(shared, slot.inspectorOpen) === 1,
    DEFAULTS.captureCacheMs,
  ).start({ everyMs: config.clockMs, run: tick });
  const answers = new AnswerCache(config.limits.answerCacheMs);

  const blockedError = (ms: number) => {
    const top = formatChain(sentinel.currentStack(), 1);
    if (sentinel.pausedInDebugger()) {
      return new AsyncmonError('BLOCKED', `the main thread is paused in a debugger (${formatDuration(ms)}${top ? ` at ${top}` : ''}); health and stack still answer`);
    }
    return new AsyncmonError('BLOCKED', `event loop blocked ${formatDuration(ms)}${top ? ` in ${top}` : ''}${blockedTaskText(sentinel.currentTask())}; health and stack still answer`);
  };

  const health = (): HealthResult => {
    const blockedMs = sentinel.blockedMs();
    const task = blockedMs > 0 ? sentinel.currentTask() : null;
    const h: HealthResult = {
      status: blockedMs === 0 ? 'ok' : sentinel.pausedInDebugger() ? 'paused' : 'blocked',
      pid: config.pid,
      node: config.node,
      uptimeMs: Math.round(process.uptime() * 1000),
      blockedMs,
      stack: blockedMs > 0 ? sentinel.currentStack() : [],
      loop: status?.loop ?? null,
      tracker: status?.tracker ?? null,
      tasks: status?.tasks ?? null,
      pendingPromises: status?.pendingPromises ?? null,
      oldestTasks: status?.oldestTasks ?? [],
    };
    if (task) h.task = task;
    return h;
  };

  /**
   * A command for the main thread. Read-only ones share the main-thread budget; `control` and
   * `eval` (a person acting) go straight, though what they cost is counted too.
   */
  const callMain = (cmd: string, args: Args, by: string, access: CommandSpec['access'] = 'read') => {
    const blockedMs = sentinel.blockedMs();
    if (blockedMs > 0) return Promise.reject(blockedError(blockedMs));
    return bridge.call(cmd, args, by, { budget: access === 'read' || access === 'none' });
  };
  /** Answers that identical requests share for `answerCacheMs` (their `takenAt` or age can be that old). */
  const CACHED = new Set(['snapshot', 'stats', 'handles']);
  const cachedMain = (cmd: string, args: Args, by: string) => answers.get(`${cmd} ${JSON.stringify(args)}`, () => callMain(cmd, args, by));

  const run = async (spec: CommandSpec, args: Args, session: Session, emit: Emit): Promise<unknown> => {
    switch (spec.name) {
      case 'health': {
        const h = health();
        if (h.status !== 'ok' && h.stack.length === 0) {
          const stack = await sentinel.capture();
          // What the capture found out (a debugger has it paused, say) is the answer.
          const after = health();
          if (after.stack.length === 0) after.stack = stack;
          const task = sentinel.currentTask();
          if (task && !after.task) after.task = task;
          return after;
        }
        return h;
      }
      case 'stack':
        return sentinel.stack();
      case 'awaits': {
        const blockedMs = sentinel.blockedMs();
        if (blockedMs > 0) throw blockedError(blockedMs);
        return awaits(typeof args.limit === 'number' ? Math.min(args.limit, DEFAULTS.maxListLimit) : DEFAULTS.awaitsChains);
      }
      case 'where': {
        const w = (await callMain('where', args, session.peer, spec.access)) as WhereInfo;
        // Hooks did not record where it waits (the default level, tracking turned on after it
        // began, library promises only): the heap knows, at the cost of a snapshot's pause.
        if (w.waitsOn?.site || (w.state !== 'running' && w.state !== 'cancelling') || sentinel.blockedMs() > 0) return w;
        try {
          const a = await awaits(DEFAULTS.maxListLimit);
          const chain = a.chains.find((c) => c.task?.id === w.id);
          return chain ? whereFromHeap(w, chain, a.pauseMs) : w;
        } catch {
          return w;
        }
      }
      case 'ps': {
        if (!args.deep) return callMain('ps', args, session.peer, spec.access);
        const { deep: _deep, ...rest } = args;
        const page = (await callMain('ps', rest, session.peer, spec.access)) as TaskPage;
        // Only when the hooks left a task without its wait, and the loop runs (a snapshot
        // would wait behind the block).
        if (!page.items.some((t) => !t.waitsOn)) return page;
        try {
          const blockedMs = sentinel.blockedMs();
          if (blockedMs > 0) throw blockedError(blockedMs);
          return deepTasks(page, await awaits(DEFAULTS.maxListLimit));
        } catch (err) {
          return { ...page, heap: { error: err instanceof Error ? err.message : String(err) } };
        }
      }
      case 'watch':
        return watcher.command(session, args);
      case 'console': {
        const blockedMs = sentinel.blockedMs();
        if (blockedMs > 0) throw blockedError(blockedMs);
        return null;
      }
      case 'stats': {
        // The cached answer is shared: copy it before adding what only the worker knows.
        const s = (await cachedMain('stats', args, session.peer)) as StatsResult;
        return { ...s, blocked: sentinel.history() };
      }
      case 'promises-all': {
        const blockedMs = sentinel.blockedMs();
        if (blockedMs > 0) throw blockedError(blockedMs);
        return bridge.stream(spec.name, args, session.peer, emit);
      }
      default:
        if (CACHED.has(spec.name)) return cachedMain(spec.name, args, session.peer);
        if (spec.access === 'control' || spec.access === 'eval') {
          // A track, a cancel or an eval changes what the shared answers say: none outlives it.
          answers.clear();
          try {
            return await callMain(spec.name, args, session.peer, spec.access);
          } finally {
            answers.clear();
          }
        }
        return callMain(spec.name, args, session.peer, spec.access);
    }
  };

  // One heap snapshot at a time, and one answers every `awaits`, `where` and `ps --deep` for a
  // while: the longer the pause, the longer (heap-answers.ts).
  const capture = new MainThreadCapture();
  const heap = new HeapAnswers(async () => {
    const heapUsedBytes = status?.loop?.heapUsedBytes ?? null;
    refuseBigHeap(heapUsedBytes, config.awaitsMaxHeapBytes);
    // The live tasks first: right after the pause the main thread has a backlog to clear.
    const tasks = ((await callMain('ps', { limit: DEFAULTS.maxListLimit }, 'heap snapshot', 'read').catch(() => ({ items: [] }))) as Page<TaskInfo>).items.map((t) => ({ id: t.id, name: t.name, kind: t.kind }));
    return sentinel.holding(() => runAwaits(capture, { limit: DEFAULTS.maxListLimit, heapUsedBytes, maxHeapBytes: config.awaitsMaxHeapBytes, tasks }));
  },
    { reuseMs: DEFAULTS.awaitsReuseMs, share: config.limits.workBudgetMs / config.limits.workWindowMs },
  );
  const awaits = (limit: number): Promise<AwaitsResult> => heap.get().then((r) => sliceAwaits(r, limit));

  const watcher = new Watcher(config.limits.maxOutputBytes, (args) => cachedMain('snapshot', args, 'watch'), health, () => sentinel.history());

  // Failed authentications in the last minute, across connections: each one waits longer.
  let failures: number[] = [];
  const failureDelayMs = () => {
    const now = Date.now();
    failures = failures.filter((t) => now - t < 60_000);
    failures.push(now);
    if (failures.length > 1000) failures.splice(0, failures.length - 1000);
    return Math.min(2000, 50 * 2 ** Math.min(failures.length, 6));
  };

  const host = {
    limits: config.limits,
    failureDelayMs,
    pid: config.pid,
    node: config.node,
    authenticate(token: string): Access | null {
      const ok = timingSafeEqual(tokenDigest(token), expected);
      return ok ? grant : null;
    },
    authenticateProof(proof: string, challenge: string, nonce: string): Access | null {
      return sameProof(proof, clientProof(config.token, challenge, nonce)) ? grant : null;
    },
    agentProof: (nonce: string, challenge: string) => agentProof(config.token, nonce, challenge),
    run,
    consoleOpen: (s: Session) => bridge.console(s.id, 'open'),
    consoleLine: (s: Session, line: string) => {
      answers.clear();
      if (sentinel.blockedMs() > 0) {
        s.write(`✗ ${blockedError(sentinel.blockedMs()).message}\n> `);
        return;
      }
      bridge.console(s.id, 'line', line);
    },
    consoleClose: (s: Session) => bridge.console(s.id, 'close'),
    loggedIn: (s: Session) => {
      if (!loggingIn.has(s)) return null;
      if (sessions.size - loggingIn.size >= config.limits.maxConnections) return `too many sessions (limit ${config.limits.maxConnections}): try again later`;
      loggingIn.delete(s);
      return null;
    },
    closed: (s: Session) => {
      sessions.delete(s.id);
      loggingIn.delete(s);
      watcher.forget(s);
    },
  };

  // Two pools: logged-in sessions (at most maxConnections) and connections still logging in
  // (maxUnauthenticated). Someone without the token can only fill the second, and a new
  // connection always gets in there: the pool is trimmed a moment later (a client's first line
  // has been read by then), silent connections first, oldest first.
  let trimTimer: NodeJS.Timeout | null = null;
  const trim = (to: number) => {
    while (loggingIn.size > to) oldestLoggingIn()?.evict();
  };
  const server: Server = createServer({ pauseOnConnect: false }, (socket: Socket) => {
    socket.on('error', () => {});
    if (sessions.size - loggingIn.size >= config.limits.maxConnections) {
      socket.end(`✗ too many connections (limit ${config.limits.maxConnections} sessions): try again later\n`);
      socket.destroySoon?.();
      return;
    }
    // A hard cap keeps the pool bounded while it waits to be trimmed.
    trim(config.limits.maxUnauthenticated * POOL_OVERRUN - 1);
    const session = new Session(socket, host);
    sessions.set(session.id, session);
    loggingIn.add(session);
    if (loggingIn.size > config.limits.maxUnauthenticated && !trimTimer) {
      trimTimer = setTimeout(() => {
        trimTimer = null;
        trim(config.limits.maxUnauthenticated);
      }, TRIM_DELAY_MS);
      trimTimer.unref();
    }
  });
  server.maxConnections = config.limits.maxConnections + config.limits.maxUnauthenticated * POOL_OVERRUN + 16;

  const report = (r: WorkerReport) => bridge.report(r);
  let fellBack = false;
  let replacedStale = false;
  let listening = false;
  server.on('error', (err: NodeJS.ErrnoException) => {
    // Once listening, an error is a failed accept (too many open files, say): that one
    // connection is lost, the server goes on accepting.
    if (listening) return;
    if (err.code === 'EADDRINUSE' && !config.portExplicit && !config.socket && !fellBack) {
      fellBack = true;
      server.listen(0, config.host);
      return;
    }
    const socketPath = config.socket;
    if (err.code === 'EADDRINUSE' && socketPath && !replacedStale) {
      // A socket file left by a host that was killed: nothing answers on it. Replace it, but
      // never a live socket (something accepts) nor a file that is not a socket.
      replacedStale = true;
      void staleSocket(socketPath).then((stale) => {
        if (!stale) return failListen(err);
        try {
          unlinkSync(socketPath);
        } catch {}
        server.listen(socketPath);
      });
      return;
    }
    failListen(err);
  });
  const failListen = (err: NodeJS.ErrnoException) => {
    const where = config.socket ?? `${config.host}:${config.port}`;
    report({ type: 'failed', message: err.code === 'EADDRINUSE' ? `${where} is already in use` : `cannot listen on ${where}: ${err.message}` });
    shutdown();
  };
  server.on('listening', () => {
    if (config.socket) {
      // Private whatever the umask (a worker cannot set it): only this user may connect.
      try {
        chmodSync(config.socket, 0o600);
      } catch (err) {
        report({ type: 'failed', message: `cannot make ${config.socket} private: ${(err as Error).message}` });
        shutdown();
        return;
      }
    }
    listening = true;
    const addr = server.address();
    if (typeof addr === 'string' || addr === null) report({ type: 'listening', host: config.host, port: null, socket: config.socket, fellBack });
    else report({ type: 'listening', host: addr.address, port: addr.port, socket: null, fellBack });
  });
  if (config.socket) server.listen(config.socket);
  else server.listen(config.port, config.host);

  function shutdown(): void {
    if (trimTimer) clearTimeout(trimTimer);
    sentinel.stop();
    for (const s of sessions.values()) s.close();
    server.close();
    bridge.close();
  }
}

main();
