import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';

/** Whether tmux can be run here; the end-to-end TUI tests skip without it. */
export const HAVE_TMUX = spawnSync('tmux', ['-V'], { encoding: 'utf8' }).status === 0;

let counter = 0;

/** Quotes one word for the shell tmux runs the pane's command with. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export interface PaneOptions {
  width?: number;
  height?: number;
  cwd?: string;
  env?: Record<string, string>;
}

/**
 * A terminal for one end-to-end test: a detached tmux session on a tmux server of its own
 * (`tmux -L <unique socket>`, no config file), so a test never sees or touches anyone else's
 * sessions. The test types with `keys`, reads the screen with `screen` (plain text, as
 * `capture-pane -p` gives it) and waits for text with `waitFor`; `kill` ends the server and
 * everything in it.
 */
export class TmuxPane {
  readonly socket: string;
  readonly session = 'top';
  private started = false;
  private socketPath: string | null = null;

  constructor(label = 'asyncmon') {
    this.socket = `${label}-${process.pid}-${Date.now().toString(36)}-${++counter}`;
  }

  private tmux(...args: string[]): string {
    const r = spawnSync('tmux', ['-L', this.socket, '-f', '/dev/null', ...args], { encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0) throw new Error(`tmux ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr || r.error?.message}`);
    return r.stdout;
  }

  /** Starts `argv` (run through the shell as one quoted command line) in a new detached session. */
  start(command: string, opts: PaneOptions = {}): this {
    const env = Object.entries(opts.env ?? {}).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    this.tmux('new-session', '-d', '-x', String(opts.width ?? 100), '-y', String(opts.height ?? 30), '-s', this.session, ...(opts.cwd ? ['-c', opts.cwd] : []), ...env, command);
    this.started = true;
    this.socketPath = this.tmux('display-message', '-p', '-t', this.session, '#{socket_path}').trim() || null;
    return this;
  }

  /** Sends keys as tmux names them ('Enter', 'Escape', 'C-c', 'PageDown') or literal text. */
  keys(...keys: string[]): void {
    this.tmux('send-keys', '-t', this.session, ...keys);
  }

  /** Sends text literally (no key-name lookup), for '?', '/' and the like. */
  type(text: string): void {
    this.tmux('send-keys', '-t', this.session, '-l', text);
  }

  /** The visible screen as text, one line per row (trailing blanks trimmed by tmux). */
  screen(): string {
    return this.tmux('capture-pane', '-p', '-t', this.session);
  }

  /** The screen with attributes as escape sequences (e.g. ESC[7m for inverse). */
  screenWithAttributes(): string {
    return this.tmux('capture-pane', '-p', '-e', '-t', this.session);
  }

  resize(width: number, height: number): void {
    this.tmux('resize-window', '-t', this.session, '-x', String(width), '-y', String(height));
  }

  /** Polls the screen until `match` finds what it wants, and returns the screen it found it on. */
  async waitFor(match: RegExp | string | ((screen: string) => boolean), timeoutMs = 15_000, what?: string): Promise<string> {
    const test = typeof match === 'function' ? match : typeof match === 'string' ? (s: string) => s.includes(match) : (s: string) => match.test(s);
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      try {
        last = this.screen();
      } catch (err) {
        last = `(no screen: ${err instanceof Error ? err.message : String(err)})`;
      }
      if (test(last)) return last;
      if (Date.now() > deadline) {
        const label = what ?? (typeof match === 'function' ? 'a condition' : String(match));
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${label} on the screen:\n${last}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Waits until the screen no longer matches. */
  waitForGone(match: RegExp | string, timeoutMs = 15_000): Promise<string> {
    const test = typeof match === 'string' ? (s: string) => s.includes(match) : (s: string) => match.test(s);
    return this.waitFor((s) => !test(s), timeoutMs, `${String(match)} to go away`);
  }

  /** Ends the tmux server of this pane, and with it every process in the pane; removes its socket. */
  kill(): void {
    if (!this.started) return;
    this.started = false;
    spawnSync('tmux', ['-L', this.socket, 'kill-server'], { timeout: 10_000 });
    if (this.socketPath) rmSync(this.socketPath, { force: true });
  }
}
