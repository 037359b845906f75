// Host room (the app's main thread): `console` sessions evaluated in the app's global scope.
import { createRequire } from 'node:module';
import { join, resolve as resolvePath } from 'node:path';
import { inspect } from 'node:util';
import { Script } from 'node:vm';
import { collectPromises, guardRejections } from './rejection-guard.js';

/** One console session: the lines of an unfinished statement, and the last value. */
interface ConsoleState {
  buffer: string[];
  busy: boolean;
  queue: string[];
  /** .exit came: finish what was typed before it, then end. */
  closing: boolean;
}

const PROMPT = '> ';
/** node:repl's dot-commands the console knows, and what each answers. */
const DOT_COMMANDS: Record<string, string> = {
  help: '.break    leave a multi-line statement unfinished\n.clear    the same\n.exit     back to the asyncmon prompt\n.help     this list\n',
  break: '',
  clear: '',
};
const MORE = '... ';
/** SyntaxErrors that mean "the statement goes on", as node:repl treats them. */
const UNFINISHED = /Unexpected end of input|Unterminated template|missing \) after argument list|Unterminated string constant/;

function compiles(code: string): boolean {
  try {
    new Script(code, { filename: 'asyncmon-console' });
    return true;
  } catch (err) {
    if (err instanceof SyntaxError && UNFINISHED.test(err.message)) return false;
    return true; // another SyntaxError: run it and report it
  }
}

/**
 * `console` sessions: JavaScript evaluated in the host's main thread and global scope, with
 * what one expects of node:repl — top-level `await`, `_` (the last value, when the host has no
 * `_` of its own), multi-line statements, `.exit`. Not node:repl itself: it loads `domain`,
 * which slows every async operation of the host for good, and rewrites host globals.
 */
export class ConsoleBridge {
  private readonly sessions = new Map<number, ConsoleState>();
  private last: unknown = undefined;
  private underscore = false;

  constructor(
    private readonly send: (session: number, text: string) => void,
    private readonly exited: (session: number) => void,
  ) {}

  open(session: number): void {
    if (this.sessions.has(session)) return;
    this.sessions.set(session, { buffer: [], busy: false, queue: [], closing: false });
    this.defineUnderscore();
    this.defineRequire();
    this.send(session, PROMPT);
  }

  line(session: number, text: string): void {
    const s = this.sessions.get(session);
    if (!s) return;
    s.queue.push(text);
    if (!s.busy) void this.drain(session, s);
  }

  private async drain(session: number, s: ConsoleState): Promise<void> {
    s.busy = true;
    try {
      while (s.queue.length > 0) {
        const text = s.queue.shift()!;
        if (s.buffer.length === 0 && text.trim() === '') {
          this.send(session, PROMPT);
          continue;
        }
        const dot = /^\s*\.(\w+)\s*$/.exec(text);
        if (dot && Object.prototype.hasOwnProperty.call(DOT_COMMANDS, dot[1])) {
          // node:repl's dot-commands (`.exit` is the session's own): they never reach JavaScript.
          if (dot[1] === 'break' || dot[1] === 'clear') s.buffer = [];
          this.send(session, DOT_COMMANDS[dot[1]] + PROMPT);
          continue;
        }
        s.buffer.push(text);
        const code = s.buffer.join('\n');
        if (!compiles(code)) {
          this.send(session, MORE);
          continue;
        }
        s.buffer = [];
        this.send(session, (await this.evaluate(code, session)) + '\n' + PROMPT);
      }
    } catch {
    } finally {
      s.busy = false;
      if (s.closing) this.finish(session);
    }
  }

  /** Runs code in the global scope; `await` works by wrapping it in an async function. */
  private async evaluate(code: string, session: number): Promise<string> {
    // A promise the code made and left rejected (or that rejects later) is reported to this
    // session, never left to end the host as an unhandled rejection.
    // A rejection the evaluation itself reports (`await` threw it) is not reported twice: the
    // report waits a turn of the loop and skips what was shown meanwhile.
    const shown = new Set<unknown>();
    const report = (reason: unknown) => {
      setImmediate(() => {
        if (shown.has(reason) || !this.sessions.has(session)) return;
        shown.add(reason);
        this.send(session, `Uncaught (in promise) ${describeError(reason)}\n${PROMPT}`);
      });
    };
    const run = (source: string): unknown => {
      const { result, promises } = collectPromises(() => new Script(source, { filename: 'asyncmon-console' }).runInThisContext());
      for (const p of promises) if (p !== result) guardRejections(p, report);
      return result;
    };
    try {
      let value: unknown;
      if (/\bawait\b/.test(code)) {
        try {
          value = run(code);
        } catch (err) {
          if (!(err instanceof SyntaxError)) throw err;
          value = await this.runAsync(code, run);
        }
      } else {
        value = run(code);
      }
      guardRejections(value, report);
      this.last = value;
      return inspect(value, { depth: 2, breakLength: 100, maxArrayLength: 50, maxStringLength: 2000 });
    } catch (err) {
      shown.add(err);
      return `Uncaught ${describeError(err)}`;
    }
  }

  private async runAsync(code: string, run: (source: string) => unknown): Promise<unknown> {
    // `const x = await f()` must leave x behind, as in node:repl: a single top-level
    // declaration becomes a global assignment inside the async wrapper.
    const decl = /^\s*(?:var|let|const)\s+([A-Za-z_$][\w$]*)\s*=(?!=)/.exec(code);
    if (decl) code = `globalThis.${decl[1]} =` + code.slice(decl[0].length);
    try {
      return await run(`(async () => (${code}\n))()`);
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
      return await run(`(async () => {${code}\n})()`);
    }
  }

  /**
   * `_` as the last value, unless the host already uses the name. When the host assigns `_`
   * itself while a console is open, its value wins: the accessor turns into a plain property
   * holding it, and the console stops showing the last value there.
   */
  private defineUnderscore(): void {
    if (this.underscore || Object.prototype.hasOwnProperty.call(globalThis, '_')) return;
    try {
      Object.defineProperty(globalThis, '_', {
        configurable: true,
        enumerable: false,
        get: this.underscoreGet,
        set: (v: unknown) => {
          this.underscore = false;
          Object.defineProperty(globalThis, '_', { value: v, writable: true, configurable: true, enumerable: true });
        },
      });
      this.underscore = true;
    } catch {}
  }

  private readonly underscoreGet = () => this.last;

  /**
   * `require` in the console's global scope, as node:repl has it, when the host has none there
   * (a CommonJS app's `require` is per module): the host's main module's, so `require('./db')`
   * resolves from the app. Removed when the last console closes.
   */
  private defineRequire(): void {
    if (this.requireDefined || Object.prototype.hasOwnProperty.call(globalThis, 'require')) return;
    try {
      const main = process.argv[1] ? resolvePath(process.argv[1]) : join(process.cwd(), 'repl');
      Object.defineProperty(globalThis, 'require', { value: createRequire(main), configurable: true, writable: true, enumerable: false });
      this.requireDefined = true;
    } catch {}
  }

  private requireDefined = false;

  /** Ends a session once the input sent before it has run (its output goes first), then says so. */
  close(session: number): void {
    const s = this.sessions.get(session);
    if (!s) return void setImmediate(() => this.exited(session));
    s.closing = true;
    if (!s.busy) setImmediate(() => this.finish(session));
  }

  private finish(session: number): void {
    if (!this.sessions.delete(session)) return;
    if (this.sessions.size === 0 && this.underscore) {
      try {
        // Only our own accessor: a `_` the host set meanwhile stays.
        if (Object.getOwnPropertyDescriptor(globalThis, '_')?.get === this.underscoreGet) delete (globalThis as Record<string, unknown>)._;
      } catch {}
      this.underscore = false;
    }
    if (this.sessions.size === 0 && this.requireDefined) {
      try {
        delete (globalThis as Record<string, unknown>).require;
      } catch {}
      this.requireDefined = false;
    }
    this.exited(session);
  }

  /** Drops every session at once (the monitor is closing). */
  closeAll(): void {
    for (const s of this.sessions.values()) s.queue.length = 0;
    for (const id of [...this.sessions.keys()]) this.finish(id);
  }
}

function describeError(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : safeInspect(err);
}

function safeInspect(value: unknown): string {
  try {
    return inspect(value, { depth: 1 });
  } catch {
    return 'a value that cannot be shown';
  }
}
