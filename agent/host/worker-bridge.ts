/**
 * Host room (the app's main thread): its side of the bridge to the agent's worker. The
 * worker's side is `MainBridge` in agent/worker/main-bridge.ts; the two meet only through the
 * messages of agent/messages.ts.
 */
import { period } from './clock-scale.js';
import type * as InspectorModule from 'node:inspector';
import { performance } from 'node:perf_hooks';
import type { Worker } from 'node:worker_threads';
import { DEFAULTS } from '../../src/defaults.js';
import { errorResponse } from '../../src/protocol.js';
import type { AckMessage, CallMessage, ConsoleMessage, ToMain, ToWorker, WorkerReport } from '../messages.js';
import type { Agent } from './agent.js';
import { attachClock, detachClock } from './coarse-clock.js';
import { ConsoleBridge } from './console-bridge.js';
import { execute, streamOf } from './executor.js';
import { FRESH_MS } from './loop-monitor.js';
import { markOwn, runOwn } from './own-scope.js';
import { listTasks } from './queries.js';
import { exposeRunningTask } from './running-task.js';

/** Chunks of a streamed answer the main thread may have sent and the worker not yet written. */
const STREAM_WINDOW = 2;
const SLOT = DEFAULTS.shared;

/** The inspector's URL when a port is open (`--inspect`, SIGUSR1, `inspector.open()`). */
function inspectorOpen(): boolean {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('node:inspector') as typeof InspectorModule).url() !== undefined;
  } catch {
    return false;
  }
}

/** What the bridge tells its owner about the worker's life. */
export interface WorkerEvents {
  /** The worker's listener is up (or could not start). */
  report(r: WorkerReport): void;
  /** The worker failed (`err`) or exited (`null`) while the bridge was open. */
  stopped(err: Error | null): void;
}

/**
 * The main thread's end of the agent's worker: answers the worker's calls with the executor
 * (streamed answers with at most STREAM_WINDOW slices unacked), runs console sessions, ticks
 * the heartbeat the sentinel watches, and pushes the status `health` answers from while the
 * loop is blocked. Every timer is unref'd and the worker too: the bridge keeps nothing alive.
 */
export class WorkerBridge {
  /** Streamed calls, told when the worker has written one of their chunks (or must stop). */
  private readonly acks = new Map<number, (stop: boolean) => void>();
  private readonly consoles: ConsoleBridge;
  private heartbeat: NodeJS.Timeout | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private open = false;

  constructor(
    private readonly worker: Worker,
    private readonly agent: Agent,
    private readonly beats: Int32Array,
    /** The time the worker writes for the main thread's per-request clock (coarse-clock.ts). */
    private readonly clock: Float64Array,
    private readonly events: WorkerEvents,
  ) {
    this.consoles = new ConsoleBridge(
      (session, text) => this.send({ type: 'console-out', session, text }),
      (session) => this.send({ type: 'console-exit', session }),
    );
    this.onMessage = this.onMessage.bind(this);
    this.onError = this.onError.bind(this);
    this.onExit = this.onExit.bind(this);
  }

  /** Listens to the worker and starts the heartbeat and status timers. */
  start(): this {
    if (this.open) return this;
    this.open = true;
    Atomics.store(this.beats, SLOT.inspectorOpen, inspectorOpen() ? 1 : 0);
    // For the sentinel to name the running task when the loop blocks.
    exposeRunningTask(this.agent.context);
    this.agent.blocked.attach(this.beats);
    attachClock(this.clock);
    this.heartbeat = markOwn(setInterval(() => Atomics.add(this.beats, SLOT.heartbeat, 1), period(DEFAULTS.heartbeatMs)));
    this.heartbeat.unref();
    this.statusTimer = markOwn(setInterval(() => this.pushStatus(), period(1000)));
    this.statusTimer.unref();
    this.worker.on('message', this.onMessage);
    this.worker.on('error', this.onError);
    this.worker.on('exit', this.onExit);
    // After the listeners: attaching a 'message' listener refs the worker's port again.
    this.worker.unref();
    return this;
  }

  /**
   * Stops the timers, ends console sessions and streamed calls; the worker's later messages
   * are ignored. Safe to call twice. `terminate()` ends the worker itself.
   */
  stop(): this {
    if (!this.open) return this;
    this.open = false;
    for (const stop of this.acks.values()) stop(true);
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.statusTimer) clearInterval(this.statusTimer);
    this.heartbeat = this.statusTimer = null;
    exposeRunningTask(null);
    this.agent.blocked.detach();
    detachClock();
    this.consoles.closeAll();
    return this;
  }

  /** Ends the worker thread; resolves when it has gone, never rejects. */
  terminate(): Promise<void> {
    return this.worker.terminate().then(
      () => undefined,
      () => undefined,
    );
  }

  /**
   * Sends what `health` answers from while the loop is blocked (also once a second), and tells
   * the sentinel whether a debugger could be attached (an inspector port is open).
   */
  pushStatus(): void {
    Atomics.store(this.beats, SLOT.inspectorOpen, inspectorOpen() ? 1 : 0);
    try {
      const a = this.agent;
      const oldestTasks = listTasks(a, 5).items;
      this.send({ type: 'status', loop: a.loop.stats(FRESH_MS), tracker: a.status(), tasks: a.registry.size, pendingPromises: a.promises.enabled ? a.promises.size : null, oldestTasks });
    } catch {}
  }

  private send(msg: ToWorker): void {
    try {
      this.worker.postMessage(msg);
    } catch {}
  }

  /** Called by the worker's thread for every message it posts. */
  private onMessage(msg: ToMain | WorkerReport): void {
    if (!this.open) return;
    switch (msg.type) {
      case 'listening':
      case 'failed':
        this.events.report(msg);
        return;
      case 'ack':
        this.ack(msg);
        return;
      case 'call':
        this.call(msg);
        return;
      case 'console':
        this.console(msg);
        return;
    }
  }

  private onError(err: Error): void {
    if (!this.open) return;
    this.stop();
    this.events.stopped(err);
  }

  private onExit(): void {
    if (!this.open) return;
    this.stop();
    this.events.stopped(null);
  }

  private ack(msg: AckMessage): void {
    this.acks.get(msg.id)?.(msg.stop);
  }

  /**
   * Adds the main-thread time since `since` (performance clock) to the shared work counter, which
   * the worker's budget reads (cumulative: a cost that lands just after its answer is counted
   * at the budget's next look).
   */
  private spent(since: number): void {
    this.addWork(performance.now() - since);
  }

  /** Adds `ms` of main-thread work to the shared counter. */
  private addWork(ms: number): void {
    Atomics.add(this.beats, SLOT.workMicros, Math.round(ms * 1000) | 0);
  }

  /** Sends `msg` and counts the time since `since`, the clone for the message included. */
  private sendTimed(msg: ToWorker, since: number): void {
    this.send(msg);
    this.spent(since);
  }

  /** Runs a command for the worker and replies, streamed when the command streams. */
  private call(msg: CallMessage): void {
    const chunks = runOwn(() => streamOf(this.agent, msg.cmd, msg.args, (ms) => this.addWork(ms)));
    if (chunks) {
      runOwn(() => this.runStream(msg.id, chunks)).catch(() => {});
      return;
    }
    let sync = 0;
    runOwn(() =>
      Promise.resolve()
        .then(() => {
          const started = performance.now();
          try {
            return execute(this.agent, msg.cmd, msg.args, msg.by);
          } finally {
            sync = performance.now() - started;
          }
        })
        .then(
          // The synchronous work (and the reply's clone) is what the budget counts; an eval's
          // awaits are the app's time, not the agent's.
          (result) => {
            // What `health` (and so `check`) answers from changes with the level: not a second late.
            if (msg.cmd === 'track') this.pushStatus();
            this.sendTimed({ type: 'reply', id: msg.id, ok: true, result }, performance.now() - sync);
          },
          (err: unknown) => this.sendTimed({ type: 'reply', id: msg.id, ok: false, error: errorResponse(null, err).error }, performance.now() - sync),
        )
        // Whatever happens above (an error that cannot even be turned into text), never
        // an unhandled rejection in the host.
        .catch(() => this.send({ type: 'reply', id: msg.id, ok: false, error: { code: 'INTERNAL', message: 'the command failed' } })),
    );
  }

  /**
   * Sends a streamed answer chunk by chunk, at most STREAM_WINDOW of them not yet written by
   * the worker: the next slice is built while the worker writes the last one, and a client
   * that does not read stops the listing after two slices.
   */
  private async runStream(id: number, chunks: AsyncGenerator<unknown[], unknown>): Promise<void> {
    let unacked = 0;
    let stopped = false;
    let wake: (() => void) | null = null;
    this.acks.set(id, (stop) => {
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
        // The slice's own building is counted by the stream (not the turns it waits for).
        const step = await chunks.next();
        const t0 = performance.now();
        if (step.done) return this.sendTimed({ type: 'reply', id, ok: true, result: step.value }, t0);
        unacked++;
        this.sendTimed({ type: 'chunk', id, json: JSON.stringify(step.value) }, t0);
      }
    } catch (err) {
      this.send({ type: 'reply', id, ok: false, error: errorResponse(null, err).error });
    } finally {
      this.acks.delete(id);
    }
  }

  private console(msg: ConsoleMessage): void {
    try {
      if (msg.op === 'open') this.consoles.open(msg.session);
      else if (msg.op === 'line') this.consoles.line(msg.session, msg.text ?? '');
      else this.consoles.close(msg.session);
    } catch {}
  }
}
