/**
 * Worker room (the agent's own thread): its side of the bridge to the host's main thread. The
 * main thread's side is `WorkerBridge` in agent/host/worker-bridge.ts; the two meet only
 * through the messages of agent/messages.ts.
 */
import type { MessagePort } from 'node:worker_threads';
import type { Args } from '../../src/commands.js';
import { AsyncmonError } from '../../src/errors.js';
import { formatDuration } from '../../src/format.js';
import type { ConsoleMessage, StatusMessage, ToMain, ToWorker, WorkerReport } from '../messages.js';
import { WorkBudget } from './work-budget.js';
import type { BudgetLimits } from './work-budget.js';

/** What the bridge passes on to the worker around it. */
export interface MainEvents {
  /** The main thread's latest status (about once a second). */
  status(msg: StatusMessage): void;
  /** Output of console session `session`. */
  consoleOut(session: number, text: string): void;
  /** Console session `session` has ended on the main thread (`.exit`). */
  consoleExit(session: number): void;
  /** The main thread asks the worker to stop listening. */
  shutdown(): void;
  /** Why a call given its turn must not go to the main thread now (its loop is blocked), or null. */
  refuse(): Error | null;
}

/** The bridge's limits: its call timeout, the main-thread budget and the streams at once. */
export interface BridgeLimits extends BudgetLimits {
  callTimeoutMs: number;
  maxStreams: number;
}

/** How a call is let through: `budget` calls wait for a turn of the shared budget (read-only commands). */
export interface CallOptions {
  budget?: boolean;
}

/**
 * The worker's end of the bridge to the host's main thread: calls sent to the main thread's
 * executor and answered by `reply` messages or timed out (streamed calls chunk by chunk, each
 * acked), console traffic, and the status the main thread pushes. All clients meet here, so
 * here is the budget for main-thread work (`WorkBudget`): read-only calls, and every slice of a
 * streamed listing, wait for a turn; at most `maxStreams` listings stream at once.
 */
export class MainBridge {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    {
      resolve: (v: unknown) => void;
      reject: (e: Error) => void;
      timer: NodeJS.Timeout | null;
      cmd: string;
      /** Chunks of a streamed call handed to the client and not yet taken by it. */
      writing: number;
      /** Ends the budget turn the main thread is using for this call, if it took one. */
      release: (() => void) | null;
      budget: boolean;
    }
  >();
  private readonly budget: WorkBudget;
  /** The shared work counter's last value (µs, wrapping) and the total so far, unwrapped (ms). */
  private lastMicros: number;
  private workMs = 0;
  /** Where the chunks of streamed calls go; resolves false when their client is gone. */
  private readonly streams = new Map<number, (json: string) => Promise<boolean>>();
  /** Streamed calls started and not finished, those still waiting for their first turn too. */
  private streaming = 0;
  private readonly timeoutMs: number;
  constructor(
    private readonly port: MessagePort,
    private readonly limits: BridgeLimits,
    /** Microseconds of main-thread work done for the agent so far (a wrapping Int32). */
    private readonly workMicros: () => number,
    private readonly events: MainEvents,
  ) {
    this.onMessage = this.onMessage.bind(this);
    this.timeoutMs = limits.callTimeoutMs;
    this.lastMicros = workMicros();
    this.budget = new WorkBudget(() => this.spentMs(), limits);
  }

  /** Main-thread milliseconds spent for the agent since the bridge started. */
  private spentMs(): number {
    const now = this.workMicros();
    this.workMs += ((now - this.lastMicros) | 0) / 1000;
    this.lastMicros = now;
    return this.workMs;
  }

  /** Listens to the main thread. */
  start(): this {
    this.port.on('message', this.onMessage);
    return this;
  }

  /** Stops listening and closes the port: the main thread hears nothing more. */
  close(): void {
    this.budget.refuseAll(new AsyncmonError('UNAVAILABLE', 'the agent is closing'));
    this.port.off('message', this.onMessage);
    this.port.close();
  }

  /** Runs `cmd` on the main thread; with `budget`, once the shared budget gives it a turn. */
  async call(cmd: string, args: Args, by: string, opts: CallOptions = {}, onChunk?: (json: string) => Promise<boolean>): Promise<unknown> {
    const release = opts.budget ? await this.budget.turn(cmd) : null;
    const refused = this.events.refuse();
    if (refused) {
      release?.();
      throw refused;
    }
    const id = this.nextId++;
    if (onChunk) this.streams.set(id, onChunk);
    try {
      return await new Promise((resolve, reject) => {
        this.pending.set(id, { resolve, reject, timer: this.deadline(id, cmd), cmd, writing: 0, release, budget: opts.budget === true });
        this.send({ type: 'call', id, cmd, args, by });
      });
    } finally {
      this.streams.delete(id);
    }
  }

  /**
   * A call answered in chunks, each handed to `onChunk` before the next is asked for. The
   * deadline runs only while the main thread has the turn, not while a client reads. Each
   * slice takes a turn of the budget; at most `maxStreams` stream at once, others get BUSY.
   */
  stream(cmd: string, args: Args, by: string, onChunk: (json: string) => Promise<boolean>): Promise<unknown> {
    if (this.streaming >= this.limits.maxStreams) {
      return Promise.reject(new AsyncmonError('BUSY', `the agent is busy: ${this.streaming} listings are streaming (at most ${this.limits.maxStreams} at once); try again shortly`));
    }
    this.streaming++;
    return this.call(cmd, args, by, { budget: true }, onChunk).finally(() => this.streaming--);
  }

  /** Ends the budget turn call `p` holds, if any. */
  private endTurn(p: { release: (() => void) | null }): void {
    const release = p.release;
    p.release = null;
    release?.();
  }

  /** A chunk of streamed call `id`: pass it on, then let the main thread go on (or stop). */
  private chunk(id: number, json: string): void {
    const p = this.pending.get(id);
    const onChunk = this.streams.get(id);
    if (!p || !onChunk) {
      this.send({ type: 'ack', id, stop: true });
      return;
    }
    // While the client takes a chunk the main thread is not the one late: no deadline, and
    // the main thread's turn is over until the next slice gets one.
    if (p.timer) clearTimeout(p.timer);
    p.timer = null;
    this.endTurn(p);
    p.writing++;
    void onChunk(json)
      .then(async (more) => {
        p.writing--;
        if (this.pending.get(id) !== p) return this.send({ type: 'ack', id, stop: true });
        if (!more) {
          this.pending.delete(id);
          p.reject(new AsyncmonError('UNAVAILABLE', 'the client went away'));
          return this.send({ type: 'ack', id, stop: true });
        }
        // The next slice is main-thread work like any call: it waits for the budget (but, being
        // part of an answer already under way, never gets BUSY).
        const release = p.budget ? await this.budget.turn(p.cmd, false) : null;
        if (this.pending.get(id) !== p) {
          release?.();
          return this.send({ type: 'ack', id, stop: true });
        }
        this.endTurn(p);
        p.release = release;
        if (p.writing === 0 && !p.timer) p.timer = this.deadline(id, p.cmd);
        this.send({ type: 'ack', id, stop: false });
      })
      .catch(() => this.send({ type: 'ack', id, stop: true }));
  }

  private deadline(id: number, cmd: string): NodeJS.Timeout {
    return setTimeout(() => {
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      this.endTurn(p);
      p.reject(new AsyncmonError('BLOCKED', `the main thread did not answer ${cmd} within ${formatDuration(this.timeoutMs)}`));
    }, this.timeoutMs);
  }

  /** Tells the main thread how the listener started. */
  report(r: WorkerReport): void {
    this.port.postMessage(r);
  }

  /** Console traffic of session `session` for the main thread's console bridge. */
  console(session: number, op: ConsoleMessage['op'], text?: string): void {
    this.send(text === undefined ? { type: 'console', session, op } : { type: 'console', session, op, text });
  }

  private send(msg: ToMain): void {
    this.port.postMessage(msg);
  }

  /** Called for every message the main thread posts. */
  private onMessage(msg: ToWorker): void {
    switch (msg.type) {
      case 'reply':
        this.settle(msg.id, msg.ok, msg.result, msg.error);
        return;
      case 'chunk':
        this.chunk(msg.id, msg.json);
        return;
      case 'status':
        this.events.status(msg);
        return;
      case 'console-out':
        this.events.consoleOut(msg.session, msg.text);
        return;
      case 'console-exit':
        this.events.consoleExit(msg.session);
        return;
      case 'shutdown':
        this.events.shutdown();
        return;
    }
  }

  /** Fails every call still waiting (the main thread is blocked; late replies are ignored). */
  rejectAll(err: AsyncmonError): void {
    for (const p of this.pending.values()) {
      if (p.timer) clearTimeout(p.timer);
      this.endTurn(p);
      p.reject(err);
    }
    this.pending.clear();
    this.budget.refuseAll(err);
  }

  private settle(id: number, ok: boolean, result: unknown, error?: { code: string; message: string }): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (p.timer) clearTimeout(p.timer);
    this.endTurn(p);
    if (ok) p.resolve(result);
    else p.reject(new AsyncmonError((error?.code ?? 'INTERNAL') as AsyncmonError['code'], error?.message ?? 'failed'));
  }
}
