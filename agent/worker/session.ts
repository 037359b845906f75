// Worker room (the agent's own thread): one client connection: auth, limits and both dialects.
import type { Socket } from 'node:net';
import { COMMANDS, accessAllows, checkArgs, findCommand, parseTextCommand, usage } from '../../src/commands.js';
import type { Access, Args, CommandSpec } from '../../src/commands.js';
import { AsyncmonError } from '../../src/errors.js';
import { LineDecoder } from '../../src/line-decoder.js';
import { PROTOCOL_VERSION, RequestError, errorResponse, okResponse, parseRequest } from '../../src/protocol.js';
import { isNonce, newNonce } from '../../src/auth-proof.js';
import type { HelpEntry } from '../../src/model.js';
import { cleanText } from '../../src/clean-text.js';
import { renderResult } from '../../src/render.js';
import type { Limits } from '../messages.js';

/** What a session needs from the worker around it. */
export interface SessionHost {
  limits: Limits;
  pid: number;
  node: string;
  /** Checks a token in constant time; returns the access it grants, or null. */
  authenticate(token: string): Access | null;
  /** Checks a client's proof for this challenge and nonce (see src/auth-proof.ts). */
  authenticateProof(proof: string, challenge: string, nonce: string): Access | null;
  /** The agent's own proof for a client's nonce and the session's challenge. */
  agentProof(nonce: string, challenge: string): string;
  /** How long to hold back the answer to a failed authentication (grows with recent failures). */
  failureDelayMs(): number;
  /** The session has proved it has the token: why it cannot have a session now, or null. */
  loggedIn(session: Session): string | null;
  /**
   * Runs a command (locally or on the main thread). A streamed answer sends its parts through
   * `emit` before the result; `emit` resolves when the client has taken them (false: it is gone).
   */
  run(spec: CommandSpec, args: Args, session: Session, emit: Emit): Promise<unknown>;
  consoleOpen(session: Session): void;
  consoleLine(session: Session, line: string): void;
  consoleClose(session: Session): void;
  closed(session: Session): void;
}

/**
 * Sends one part of a streamed answer, an items event whose items are the given JSON array text;
 * resolves true once the client may take more, false when it is gone.
 */
export type Emit = (itemsJson: string) => Promise<boolean>;

const PROMPT = 'asyncmon> ';
const HTTP_RE = /^(GET|POST|PUT|HEAD|DELETE|OPTIONS|PATCH|CONNECT|TRACE) \S+ HTTP\/\d|^(GET|POST|PUT|HEAD|DELETE|OPTIONS|PATCH) \/|^host:/i;
const BANNER_DELAY_MS = 150;
let nextSessionId = 1;

/** The help table's data, from the command table. */
export function helpEntries(dialect: 'text' | 'json', name?: string): HelpEntry[] {
  const specs = name ? [findCommand(name, dialect)] : COMMANDS.filter((c) => !c.dialects || c.dialects.includes(dialect));
  return specs.map((c) => ({ name: c.name, aliases: [...c.aliases], usage: usage(c), summary: c.summary, access: c.access }));
}

/**
 * One client connection. The first line picks the dialect: `{` starts JSON lines, anything
 * else the text REPL (banner, `auth <token>`, `asyncmon> ` prompt). Requests are answered in
 * order; a client with too many queued requests is paused, one that stops reading is dropped.
 */
export class Session {
  readonly id = nextSessionId++;
  readonly peer: string;
  dialect: 'text' | 'json' | null = null;
  access: Access | null = null;
  inConsole = false;
  closedFlag = false;
  private readonly decoder: LineDecoder;
  private readonly queue: string[] = [];
  private busy = false;
  private lastCommand = '';
  private bannerSent = false;
  private readonly bannerTimer: NodeJS.Timeout;
  private authTimer: NodeJS.Timeout;
  /** When the connection came (performance.now()), for the login deadline. */
  readonly connectedAt = performance.now();
  private lineTimer: NodeJS.Timeout | null = null;
  /** Cleared by `watch stop` and on close. */
  watchTimer: NodeJS.Timeout | null = null;
  /** A failed login is waiting out its delay; the login deadline then closes after its answer. */
  private failing = false;
  private closeAfterFailure = false;
  /** The challenge this session was given and the client's nonce; one proof may answer it. */
  private login: { nonce: string; challenge: string } | null = null;

  constructor(
    readonly socket: Socket,
    private readonly host: SessionHost,
  ) {
    this.peer = socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : `local socket #${this.id}`;
    this.decoder = new LineDecoder(host.limits.maxLineBytes);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
    socket.setTimeout(host.limits.idleTimeoutMs, () => this.end('✗ idle timeout: closing'));
    // A person with nc sees a banner; a JSON client speaks first and never gets one.
    this.bannerTimer = setTimeout(() => {
      if (this.dialect === null) this.sendBanner();
    }, BANNER_DELAY_MS);
    this.authTimer = this.loginDeadline(host.limits.authTimeoutMs);
  }

  /** Closes the connection unless it has logged in `ms` after it came. */
  private loginDeadline(ms: number): NodeJS.Timeout {
    return setTimeout(
      () => {
        // A failed login being answered (after its delay) gets its answer first, then the close.
        if (this.failing) this.closeAfterFailure = true;
        else if (this.access === null) this.end(this.dialect === 'json' ? JSON.stringify(errorResponse(null, new AsyncmonError('FORBIDDEN', 'authentication timeout'))) : '✗ authentication timeout: closing');
      },
      Math.max(0, ms - (performance.now() - this.connectedAt)),
    );
  }

  /** Closes a connection that has not logged in, to make room for a newer one. */
  evict(): void {
    this.end(this.dialect === 'json' ? JSON.stringify(errorResponse(null, new AsyncmonError('UNAVAILABLE', `too many connections waiting to log in (limit ${this.host.limits.maxUnauthenticated}): closing the oldest`))) : `✗ too many connections waiting to log in (limit ${this.host.limits.maxUnauthenticated}): closing the oldest`);
  }
  private sendBanner(): void {
    if (this.bannerSent) return;
    this.bannerSent = true;
    this.write(
      `asyncmon: pid ${this.host.pid}, node ${this.host.node}\n` +
        `authenticate with: auth <token>   (the token is in the discovery file or ASYNCMON_TOKEN)\n` +
        `type help for commands\n${PROMPT}`,
    );
  }

  /** Writes to the client, dropping it if it has stopped reading. */
  write(text: string): void {
    if (this.closedFlag) return;
    if (this.socket.writableLength > this.host.limits.maxOutputBytes) {
      this.socket.destroy();
      this.close();
      return;
    }
    this.socket.write(text);
  }

  /** Sends a last line and closes. */
  end(line: string): void {
    if (this.closedFlag) return;
    this.socket.end(line + '\n');
    this.close();
  }

  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    clearTimeout(this.bannerTimer);
    clearTimeout(this.authTimer);
    if (this.lineTimer) clearTimeout(this.lineTimer);
    if (this.watchTimer) clearInterval(this.watchTimer);
    this.watchTimer = null;
    if (this.inConsole) this.host.consoleClose(this);
    this.inConsole = false;
    this.queue.length = 0;
    if (!this.socket.destroyed) this.socket.destroySoon?.();
    this.host.closed(this);
  }

  private onData(chunk: Buffer): void {
    if (this.closedFlag) return;
    const lines = this.decoder.push(chunk);
    if (this.decoder.overflowed) {
      this.end(this.dialect === 'json' ? JSON.stringify(errorResponse(null, new AsyncmonError('BAD_ARGUMENT', `line longer than ${this.host.limits.maxLineBytes} bytes: closing`))) : `✗ line longer than ${this.host.limits.maxLineBytes} bytes: closing`);
      return;
    }
    for (const line of lines) {
      if (this.dialect === null) {
        if (HTTP_RE.test(line)) {
          this.end('asyncmon: this port speaks text or JSON lines, not HTTP; use nc or the asyncmon CLI');
          return;
        }
        if (line.trim() === '') continue;
        this.dialect = line.trimStart().startsWith('{') ? 'json' : 'text';
        if (this.dialect === 'json' && this.access === null) {
          // A program logs in within two round trips: it gets the short deadline.
          clearTimeout(this.authTimer);
          this.authTimer = this.loginDeadline(this.host.limits.jsonAuthTimeoutMs);
        }
        if (this.dialect === 'text' && !this.bannerSent) {
          this.bannerSent = true; // the answer comes with a prompt; skip the banner's prompt
          this.write(`asyncmon: pid ${this.host.pid}, node ${this.host.node}\n`);
        }
      }
      this.queue.push(line);
    }
    if (this.queue.length >= this.host.limits.maxQueuedRequests) this.socket.pause();
    this.watchLineDeadline();
    void this.drain();
  }

  /**
   * A deadline per line, not only an idle timeout: a line dribbled a byte at a time is cut off.
   * It does not run while the agent has paused the socket (too many requests queued): the rest
   * of the line is then unread because of the agent, not late, and the clock starts again on
   * resume.
   */
  private watchLineDeadline(): void {
    if (this.decoder.buffered === 0 || this.socket.isPaused()) {
      if (this.lineTimer) clearTimeout(this.lineTimer);
      this.lineTimer = null;
      return;
    }
    if (this.lineTimer) return;
    this.lineTimer = setTimeout(() => {
      const text = `line not finished within ${this.host.limits.lineTimeoutMs} ms: closing`;
      this.end(this.dialect === 'json' ? JSON.stringify(errorResponse(null, new AsyncmonError('BAD_ARGUMENT', text))) : `✗ ${text}`);
    }, this.host.limits.lineTimeoutMs);
  }

  private async drain(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.length > 0 && !this.closedFlag) {
        const line = this.queue.shift()!;
        if (this.dialect === 'json') await this.handleJson(line);
        else await this.handleText(line);
        if (this.queue.length < this.host.limits.maxQueuedRequests / 2 && this.socket.isPaused()) {
          this.socket.resume();
          this.watchLineDeadline();
        }
      }
    } finally {
      this.busy = false;
    }
  }

  private async handleJson(line: string): Promise<void> {
    if (line.trim() === '') return;
    let id: number | string | null = null;
    try {
      const req = parseRequest(line);
      id = req.id;
      const spec = findCommand(req.cmd, 'json');
      const args = checkArgs(spec, req.args);
      const result = await this.execute(spec, args, (itemsJson) => this.emit(req.id, itemsJson));
      this.write(JSON.stringify(okResponse(id, result)) + '\n');
      if (spec.name === 'quit') this.end('');
    } catch (err) {
      const cause = err instanceof RequestError ? err.cause : err;
      this.write(JSON.stringify(errorResponse(err instanceof RequestError ? err.id : id, cause)) + '\n');
    }
  }

  private async handleText(raw: string): Promise<void> {
    if (this.inConsole) {
      if (raw.trim() === '.exit') {
        // Wait until the REPL is closed and its output flushed, so that lines sent right
        // behind .exit run as commands, after the console's last output.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 2000);
          this.consoleClosed = () => {
            clearTimeout(timer);
            resolve();
          };
          this.host.consoleClose(this);
        });
        this.consoleClosed = null;
        this.inConsole = false;
        this.write(PROMPT);
        return;
      }
      this.host.consoleLine(this, raw);
      return;
    }
    let line = raw.trim();
    if (line === '') {
      if (!this.lastCommand) {
        this.write(PROMPT);
        return;
      }
      line = this.lastCommand;
    }
    try {
      const { spec, args } = parseTextCommand(line);
      if (spec.name !== 'auth' && spec.name !== 'challenge') this.lastCommand = line;
      const result = await this.execute(spec, args);
      if (spec.name === 'quit') {
        this.end('bye');
        return;
      }
      if (spec.name === 'console') {
        this.write('JavaScript in the host process (main thread, global scope); .exit to return\n');
        this.inConsole = true;
        this.host.consoleOpen(this);
        return;
      }
      if (spec.name === 'auth') {
        const proof = (result as { proof?: string }).proof;
        this.write(proof ? `✓ authenticated; agent proof ${proof}\n` : '✓ authenticated\n');
      } else if (spec.name === 'challenge') this.write(`challenge ${(result as { challenge: string }).challenge}\n`);
      else this.write(renderResult(spec.name, result) + '\n');
    } catch (err) {
      this.write(`✗ ${cleanText(err instanceof Error ? err.message : String(err), true)}\n`);
    }
    if (!this.closedFlag && !this.inConsole) this.write(PROMPT);
  }

  /** Called when the console's REPL has closed: back to the asyncmon prompt. */
  consoleExited(): void {
    if (this.consoleClosed) return this.consoleClosed();
    if (!this.inConsole) return;
    this.inConsole = false;
    this.write(PROMPT);
  }

  private consoleClosed: (() => void) | null = null;

  /** Auth and access checks, then the command itself. */
  /**
   * Writes `{"id":…,"event":"items","items":[…]}` and resolves once the socket's buffer is below
   * a quarter of the output limit again, so a streamed answer goes at the client's pace and
   * never trips it.
   */
  private emit(id: number | string | null, itemsJson: string): Promise<boolean> {
    if (this.closedFlag) return Promise.resolve(false);
    this.write(`{"id":${JSON.stringify(id)},"event":"items","items":${itemsJson}}\n`);
    if (this.closedFlag) return Promise.resolve(false);
    if (this.socket.writableLength <= this.host.limits.maxOutputBytes / 4) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve(!this.closedFlag);
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /** Gives this session a fresh challenge for the client's nonce (replacing an earlier one). */
  private startLogin(nonce: unknown): { challenge: string } {
    if (!isNonce(nonce)) throw new AsyncmonError('BAD_ARGUMENT', 'a nonce is 16 to 64 lowercase hex digits');
    this.login = { nonce, challenge: newNonce() };
    return { challenge: this.login.challenge };
  }

  private async execute(spec: CommandSpec, args: Args, emit: Emit = () => Promise.resolve(false)): Promise<unknown> {
    switch (spec.name) {
      case 'challenge':
        return this.startLogin(args.nonce);
      case 'auth':
      case 'hello': {
        if (spec.name === 'hello' && args.protocol !== undefined && args.protocol !== PROTOCOL_VERSION) {
          throw new AsyncmonError('BAD_ARGUMENT', `protocol ${args.protocol} is not supported; this agent speaks ${PROTOCOL_VERSION}`);
        }
        const hello = { protocol: PROTOCOL_VERSION, pid: this.host.pid, node: this.host.node };
        if (spec.name === 'hello' && args.nonce !== undefined && args.proof === undefined && args.token === undefined) return { ...hello, ...this.startLogin(args.nonce) };
        const token = typeof args.token === 'string' ? args.token : '';
        const proof = spec.name === 'hello' ? args.proof : token.startsWith('proof:') ? token.slice(6) : undefined;
        const login = this.login;
        this.login = null; // one answer per challenge
        let access: Access | null;
        if (proof !== undefined) {
          if (!login) throw new AsyncmonError('BAD_ARGUMENT', spec.name === 'hello' ? 'a proof answers a challenge: send hello with a nonce first' : 'a proof answers a challenge: send challenge <nonce> first');
          access = typeof proof === 'string' ? this.host.authenticateProof(proof, login.challenge, login.nonce) : null;
        } else access = this.host.authenticate(token);
        if (access === null) {
          // A growing delay makes guessing slow; the answer says nothing about the token.
          this.failing = true;
          await new Promise((r) => setTimeout(r, this.host.failureDelayMs()));
          this.failing = false;
          if (this.closeAfterFailure) setImmediate(() => this.end(this.dialect === 'json' ? JSON.stringify(errorResponse(null, new AsyncmonError('FORBIDDEN', 'authentication timeout'))) : '✗ authentication timeout: closing'));
          throw new AsyncmonError('FORBIDDEN', 'authentication failed');
        }
        const refused = this.host.loggedIn(this);
        if (refused) {
          setImmediate(() => this.end(''));
          throw new AsyncmonError('UNAVAILABLE', refused);
        }
        this.access = access;
        clearTimeout(this.authTimer);
        return { ...hello, access, ...(proof !== undefined && login ? { proof: this.host.agentProof(login.nonce, login.challenge) } : {}) };
      }
      case 'help':
        return helpEntries(this.dialect === 'json' ? 'json' : 'text', typeof args.command === 'string' ? args.command : undefined);
      case 'quit':
        return null;
    }
    if (this.access === null) {
      throw new AsyncmonError('FORBIDDEN', this.dialect === 'json' ? 'authenticate first: {"id":1,"cmd":"hello","args":{"protocol":1,"token":"…"}}' : 'authenticate first: auth <token>');
    }
    if (!accessAllows(this.access, spec.access)) {
      throw new AsyncmonError('FORBIDDEN', `${spec.name} needs ${spec.access} access; this session has ${this.access}`);
    }
    return this.host.run(spec, args, this, emit);
  }
}
