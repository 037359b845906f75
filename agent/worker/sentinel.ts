// Worker room (the agent's own thread): the blocked-loop sentinel, watching the main thread's
// heartbeat.
import type * as InspectorModule from 'node:inspector';
import type { Session } from 'node:inspector';
import { fileURLToPath } from 'node:url';
import type { BlockedEpisode, Frame, StackResult } from '../../src/model.js';
import { formatDuration } from '../../src/format.js';

const PAUSE_TIMEOUT_MS = 500;

interface CallFrame {
  functionName: string;
  url: string;
  location: { scriptId: string; lineNumber: number; columnNumber: number };
}

/**
 * Runs in the agent's worker and watches the main thread's heartbeat (a counter in a
 * SharedArrayBuffer that an unref'd timer on the main thread bumps). When the counter stops
 * moving for `staleMs`, the loop is blocked: the sentinel records an episode and can read the
 * main thread's stack through `inspector.Session.connectToMainThread()` (Debugger pause →
 * call frames → resume; the inspector interrupts running JavaScript, and no port is opened).
 */
export class Sentinel {
  private lastCount = -1;
  private lastBeatAt = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private current: BlockedEpisode | null = null;
  private readonly episodes: BlockedEpisode[] = [];
  private session: Session | null = null;
  private capturing: Promise<Frame[]> | null = null;
  /** Script id → URL, from `Debugger.scriptParsed` (call frames of CommonJS code carry no URL). */
  private readonly urls = new Map<string, string>();

  constructor(
    private readonly beats: Int32Array,
    private readonly staleMs: number,
    private readonly keep: number,
    /** Called when a block is first detected (to fail calls waiting on the main thread). */
    private readonly onBlock: () => void = () => {},
  ) {}

  start(): this {
    this.timer = setInterval(() => this.poll(), Math.max(10, Math.floor(this.staleMs / 6)));
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    try {
      this.session?.disconnect();
    } catch {}
    this.session = null;
  }

  /** How long the loop has been blocked right now (0 when its heartbeat is fresh). */
  blockedMs(): number {
    this.poll();
    const age = Date.now() - this.lastBeatAt;
    return age >= this.staleMs ? age : 0;
  }

  private poll(): void {
    const count = Atomics.load(this.beats, 0);
    const now = Date.now();
    if (count !== this.lastCount) {
      this.lastCount = count;
      this.lastBeatAt = now;
      if (this.current) {
        this.current.ongoing = false;
        this.current = null;
      }
      return;
    }
    const age = now - this.lastBeatAt;
    if (age >= this.staleMs) {
      if (!this.current) {
        this.current = { startedAt: this.lastBeatAt, durationMs: age, ongoing: true, stack: [] };
        this.episodes.unshift(this.current);
        if (this.episodes.length > this.keep) this.episodes.pop();
        const episode = this.current;
        try {
          this.onBlock();
        } catch {}
        void this.capture().then((frames) => {
          if (episode.stack.length === 0) episode.stack = frames;
        });
      }
      this.current.durationMs = age;
    }
  }

  /** Blocked episodes, newest first. */
  history(): BlockedEpisode[] {
    this.poll();
    return this.episodes.map((e) => ({ ...e, stack: e.stack.slice() }));
  }

  /** The main thread's stack if its loop is blocked. */
  async stack(): Promise<StackResult> {
    const blockedMs = this.blockedMs();
    if (blockedMs === 0) {
      return { blocked: false, blockedMs: 0, frames: [], message: 'the event loop is not blocked: the main thread is idle or between callbacks' };
    }
    let frames = await this.capture();
    if (this.current && this.current.stack.length === 0) this.current.stack = frames;
    // A capture still finishing (or refused meanwhile) leaves the episode's stack as the answer.
    if (frames.length === 0) frames = this.currentStack();
    const message =
      frames.length > 0
        ? `event loop blocked ${formatDuration(this.blockedMs() || blockedMs)}`
        : `event loop blocked ${formatDuration(blockedMs)} outside JavaScript (native code or a synchronous system call)`;
    return { blocked: true, blockedMs: this.blockedMs() || blockedMs, frames, message };
  }

  /** The frames of the current blocking stack, as recorded for the ongoing episode. */
  currentStack(): Frame[] {
    return this.current?.stack.slice() ?? [];
  }

  /** Pauses the main thread for a moment to read its call frames; one capture at a time. */
  capture(): Promise<Frame[]> {
    if (!this.capturing) {
      this.capturing = this.pauseAndRead().finally(() => {
        this.capturing = null;
      });
    }
    return this.capturing;
  }

  /** Opens the session to the main thread once; a pause nobody waits for is resumed at once. */
  private connect(): Session | null {
    if (this.session) return this.session;
    try {
      // Loaded on first use: a Node built without the inspector still runs the rest.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const inspector = require('node:inspector') as typeof InspectorModule;
      const session = new inspector.Session();
      (session as Session & { connectToMainThread(): void }).connectToMainThread();
      session.on('Debugger.scriptParsed', (msg: { params: { scriptId: string; url: string } }) => {
        if (msg.params.url) this.urls.set(msg.params.scriptId, msg.params.url);
      });
      session.on('Debugger.paused', (msg: { params: { callFrames: CallFrame[] } }) => {
        const waiter = this.onPaused;
        if (waiter) waiter(msg.params.callFrames);
        else session.post('Debugger.resume', () => {});
      });
      this.session = session;
      return session;
    } catch {
      return null;
    }
  }

  private onPaused: ((frames: CallFrame[]) => void) | null = null;
  /** Messages of an earlier capture the main thread has not processed yet (blocked in native code). */
  private outstanding = false;

  /**
   * Enable → pause → read the frames → resume → disable. The answer never waits for the main
   * thread beyond the timeout: when it is stuck outside JavaScript, nothing is processed until
   * it returns, so we answer "no frames" and send no more requests until the last ones are done.
   */
  private pauseAndRead(): Promise<Frame[]> {
    const session = this.connect();
    if (!session || this.outstanding) return Promise.resolve([]);
    this.outstanding = true;
    return new Promise<Frame[]>((resolve) => {
      let done = false;
      const finish = (frames: Frame[]) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.onPaused = null;
        resolve(frames);
        session.post('Debugger.resume', () => session.post('Debugger.disable', () => (this.outstanding = false)));
      };
      this.onPaused = (callFrames) => finish(toFrames(callFrames, this.urls));
      const timer = setTimeout(() => finish([]), PAUSE_TIMEOUT_MS);
      timer.unref();
      session.post('Debugger.enable', (err) => {
        if (err) return finish([]);
        session.post('Debugger.pause', (err2) => {
          if (err2) finish([]);
        });
      });
    });
  }
}

function toFrames(callFrames: CallFrame[], urls: Map<string, string>): Frame[] {
  const out: Frame[] = [];
  for (const cf of callFrames) {
    let file = cf.url || urls.get(cf.location.scriptId) || '';
    if (!file || file.startsWith('node:')) continue;
    if (file.startsWith('file://')) {
      try {
        file = fileURLToPath(file);
      } catch {}
    }
    out.push({ fn: cf.functionName, file, line: cf.location.lineNumber + 1, column: cf.location.columnNumber + 1 });
    if (out.length >= 20) break;
  }
  return out;
}
