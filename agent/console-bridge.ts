import { PassThrough } from 'node:stream';
import type * as ReplModuleNs from 'node:repl';
import type { REPLServer } from 'node:repl';

type ReplModule = typeof ReplModuleNs;

/**
 * `console` sessions: a real `node:repl` per client, evaluated in the host's main thread and
 * global context (top-level await, `_`, multi-line input, `.exit`), wired to the client's
 * socket in the worker through messages. Lines in, output chunks out.
 */
export class ConsoleBridge {
  private readonly sessions = new Map<number, { repl: REPLServer; input: PassThrough }>();

  constructor(
    private readonly send: (session: number, text: string) => void,
    private readonly exited: (session: number) => void,
  ) {}

  open(session: number): void {
    if (this.sessions.has(session)) return;
    const input = new PassThrough();
    const output = new PassThrough();
    output.on('data', (chunk: Buffer) => this.send(session, chunk.toString('utf8')));
    // Loaded on first use: node:repl creates process.stderr and more as it loads.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { start } = require('node:repl') as ReplModule;
    const repl = start({ prompt: '> ', input, output, terminal: false, useGlobal: true, preview: false, ignoreUndefined: false });
    repl.on('exit', () => {
      this.sessions.delete(session);
      this.exited(session);
    });
    this.sessions.set(session, { repl, input });
  }

  line(session: number, text: string): void {
    this.sessions.get(session)?.input.write(text + '\n');
  }

  /** Closes a session's REPL once the output of what it was given has been sent, then says so. */
  close(session: number): void {
    const s = this.sessions.get(session);
    if (!s) {
      this.exited(session);
      return;
    }
    this.sessions.delete(session);
    s.repl.removeAllListeners('exit');
    setImmediate(() => {
      s.repl.close();
      this.exited(session);
    });
  }

  closeAll(): void {
    for (const id of [...this.sessions.keys()]) this.close(id);
  }
}
