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
}

/**
 * The worker's end of the bridge to the host's main thread: calls sent to the main thread's
 * executor and answered by `reply` messages or timed out (streamed calls chunk by chunk, each
 * acked), console traffic, and the status the main thread pushes.
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
    }
  >();
  /** Where the chunks of streamed calls go; resolves false when their client is gone. */
  private readonly streams = new Map<number, (json: string) => Promise<boolean>>();
  constructor(
    private readonly port: MessagePort,
    private readonly timeoutMs: number,
    private readonly events: MainEvents,
  ) {
    this.onMessage = this.onMessage.bind(this);
  }

  /** Listens to the main thread. */
  start(): this {
    this.port.on('message', this.onMessage);
    return this;
  }

  /** Stops listening and closes the port: the main thread hears nothing more. */
  close(): void {
    this.port.off('message', this.onMessage);
    this.port.close();
  }

  call(cmd: string, args: Args, by: string): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, timer: this.deadline(id, cmd), cmd, writing: 0 });
      this.send({ type: 'call', id, cmd, args, by });
    });
  }

  /**
   * A call answered in chunks, each handed to `onChunk` before the next is asked for. The
   * deadline runs only while the main thread has the turn, not while a client reads.
   */
  stream(cmd: string, args: Args, by: string, onChunk: (json: string) => Promise<boolean>): Promise<unknown> {
    const id = this.nextId;
    this.streams.set(id, onChunk);
    return this.call(cmd, args, by).finally(() => this.streams.delete(id));
  }

  /** A chunk of streamed call `id`: pass it on, then let the main thread go on (or stop). */
  private chunk(id: number, json: string): void {
    const p = this.pending.get(id);
    const onChunk = this.streams.get(id);
    if (!p || !onChunk) {
      this.send({ type: 'ack', id, stop: true });
      return;
    }
    // While the client takes a chunk the main thread is not the one late: no deadline.
    if (p.timer) clearTimeout(p.timer);
    p.timer = null;
    p.writing++;
    void onChunk(json).then(
      (more) => {
        p.writing--;
        if (this.pending.get(id) !== p) return this.send({ type: 'ack', id, stop: true });
        if (!more) {
          this.pending.delete(id);
          p.reject(new AsyncmonError('UNAVAILABLE', 'the client went away'));
          return this.send({ type: 'ack', id, stop: true });
        }
        if (p.writing === 0) p.timer = this.deadline(id, p.cmd);
        this.send({ type: 'ack', id, stop: false });
      },
      () => this.send({ type: 'ack', id, stop: true }),
    );
  }

  private deadline(id: number, cmd: string): NodeJS.Timeout {
    return setTimeout(() => {
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
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
  rejectAll(err: Error): void {
    for (const p of this.pending.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }

  private settle(id: number, ok: boolean, result: unknown, error?: { code: string; message: string }): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (p.timer) clearTimeout(p.timer);
    if (ok) p.resolve(result);
    else p.reject(new AsyncmonError((error?.code ?? 'INTERNAL') as AsyncmonError['code'], error?.message ?? 'failed'));
  }
}
