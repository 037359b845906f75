// Worker room (the agent's own thread): the blocked-loop sentinel, watching the main thread's
// heartbeat.
import type * as InspectorModule from 'node:inspector';
import type { Session } from 'node:inspector';
import { fileURLToPath } from 'node:url';
import { DEFAULTS } from '../../src/defaults.js';
import type { BlockedEpisode, BlockedTask, Frame, StackResult } from '../../src/model.js';
import { formatDuration } from '../../src/format.js';
import { isUserFrame, withLibrary } from '../../src/frames.js';
import { ScriptSourceMaps } from '../../src/script-source-maps.js';
import { blockedTaskText } from '../../src/render.js';

const PAUSE_TIMEOUT_MS = 500;
/** Frames of a blocked stack kept (and the first user frame, if it lies deeper). */
const FRAMES_KEPT = 20;

/**
 * Evaluated on the main thread while our pause holds it: calls the function the host room put
 * on the global object (agent/host/running-task.ts). `this` is the global object and cannot be
 * rebound; the property is a non-configurable data property, so no app code can run; and
 * whatever happens, the answer is null rather than an exception.
 */
const RUNNING_TASK = `(function () { try { var f = this[${JSON.stringify(DEFAULTS.blockedTaskKey)}]; return typeof f === 'function' ? f() : null; } catch (e) { return null; } }).call(this)`;

/** What one pause read: the frames, and the task they run in. */
interface Capture {
  frames: Frame[];
  task: BlockedTask | null;
}

const NOTHING: Capture = { frames: [], task: null };

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
 *
 * `Debugger.enable` is sent once per episode (it replays a `scriptParsed` for every script the
 * main thread has, which is the expensive part with thousands of modules) and disabled when
 * the loop runs again; a capture is reused for `cacheMs`. While our pause holds the thread, a
 * `Runtime.evaluate` asks the host room which task is running (the request whose handler
 * blocked), so the episode can name it.
 *
 * A developer's debugger: every session with the Debugger enabled is told of every pause, and
 * one that enables while the isolate is already paused is told at once (Node 20, 22 and 24).
 * So a `Debugger.paused` we did not ask for, while an inspector port is open, is someone
 * else's: the sentinel then never pauses or resumes, reports "paused in a debugger" with where
 * it stopped, until `Debugger.resumed`. With no port open, nobody else can have paused: it is a
 * `debugger;` statement that stopped only because our session is enabled, and is resumed.
 */
export class Sentinel {
  private lastCount = -1;
  private lastBeatAt = Date.now();
  /** Pauses of the agent's own being waited out (see `holding`). */
  private held = 0;
  private timer: NodeJS.Timeout | null = null;
  private current: BlockedEpisode | null = null;
  private readonly episodes: BlockedEpisode[] = [];
  private session: Session | null = null;
  private capturing: Promise<Capture> | null = null;
  /** Script id → URL, from `Debugger.scriptParsed` (call frames of CommonJS code carry no URL). */
  private readonly urls = new Map<string, string>();
  /** The source maps of the main thread's scripts, so frames read at the original `.ts` lines. */
  private readonly maps = new ScriptSourceMaps();
  /** The Debugger domain is enabled on our session (from the first capture of an episode). */
  private enabled = false;
  /** We have asked for a pause and not yet seen it. */
  private ownPause = false;
  /** Where another debugger session has the main thread paused, while it does. */
  private foreign: Frame[] | null = null;
  /** The last capture, reused for `cacheMs`. */
  private last: { at: number; capture: Capture } | null = null;

  constructor(
    private readonly beats: Int32Array,
    private readonly staleMs: number,
    private readonly keep: number,
    /** Called when a block is first detected (to fail calls waiting on the main thread). */
    private readonly onBlock: () => void = () => {},
    /** Whether the host has an inspector port open (so a debugger may be attached). */
    private readonly debuggerOpen: () => boolean = () => false,
    private readonly cacheMs = 500,
  ) {}

  /**
   * Polls the heartbeat six times per `staleMs`. `tick` shares the timer (the worker's clock for
   * the main thread): one wake-up serves both, at the shorter of the two periods.
   */
  start(tick?: { everyMs: number; run: () => void }): this {
    const every = Math.max(10, Math.min(Math.floor(this.staleMs / 6), tick?.everyMs ?? Infinity));
    const run = tick?.run;
    this.timer = setInterval(() => {
      run?.();
      this.poll();
    }, every);
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
    if (this.held > 0) return 0;
    const age = Date.now() - this.lastBeatAt;
    return age >= this.staleMs ? age : 0;
  }

  /**
   * Runs `work`, which pauses the main thread on purpose (a heap snapshot being written): that
   * pause is not a blocked loop, so no episode is recorded and nothing is refused meanwhile,
   * and the heartbeat's age starts afresh after it.
   */
  async holding<T>(work: () => Promise<T>): Promise<T> {
    this.held++;
    try {
      return await work();
    } finally {
      this.held--;
      this.lastBeatAt = Date.now();
    }
  }

  /** Whether the main thread is stopped by another debugger session (not blocked by its own code). */
  pausedInDebugger(): boolean {
    return this.foreign !== null && this.blockedMs() > 0;
  }

  private poll(): void {
    const count = Atomics.load(this.beats, 0);
    const now = Date.now();
    if (count !== this.lastCount) {
      this.lastCount = count;
      this.lastBeatAt = now;
      if (this.current) {
        this.current.ongoing = false;
        this.publish(this.current.durationMs);
        this.current = null;
        this.last = null;
      }
      this.release();
      return;
    }
    const age = now - this.lastBeatAt;
    if (age >= this.staleMs && this.held === 0) {
      if (!this.current) {
        this.current = { startedAt: this.lastBeatAt, durationMs: age, ongoing: true, stack: [] };
        this.episodes.unshift(this.current);
        if (this.episodes.length > this.keep) this.episodes.pop();
        const episode = this.current;
        try {
          this.onBlock();
        } catch {}
        void this.read().then((c) => {
          if (episode.stack.length === 0) episode.stack = c.frames;
          if (!episode.task && c.task) episode.task = c.task;
          if (this.foreign) episode.inDebugger = true;
        });
      }
      this.current.durationMs = age;
      if (this.foreign) this.current.inDebugger = true;
    }
  }

  /**
   * Writes an ended episode's duration into the shared ring, then counts it: the main thread
   * reads them for its OpenTelemetry metrics. Only this thread writes these slots.
   */
  private publish(durationMs: number): void {
    const slot = DEFAULTS.shared;
    if (this.beats.length < slot.slots) return;
    const n = Atomics.load(this.beats, slot.episodesEnded);
    Atomics.store(this.beats, slot.episodeRing + (n % slot.episodeRingSize), Math.min(Math.round(durationMs), 0x7fffffff));
    Atomics.store(this.beats, slot.episodesEnded, (n + 1) | 0);
  }

  /** The loop runs again: the Debugger domain is turned off until the next episode. */
  private release(): void {
    if (!this.enabled || this.outstanding || this.foreign || !this.session) return;
    this.enabled = false;
    this.session.post('Debugger.disable', () => {});
  }

  /** Blocked episodes, newest first. */
  history(): BlockedEpisode[] {
    this.poll();
    return this.episodes.map((e) => ({ ...e, stack: e.stack.slice() }));
  }

  /** The main thread's stack if its loop is blocked (or where a debugger has it paused). */
  async stack(): Promise<StackResult> {
    const blockedMs = this.blockedMs();
    if (blockedMs === 0) {
      return { blocked: false, blockedMs: 0, frames: [], message: 'the event loop is not blocked: the main thread is idle or between callbacks' };
    }
    const c = await this.read();
    let frames = c.frames;
    if (this.current && this.current.stack.length === 0) this.current.stack = frames;
    if (this.current && !this.current.task && c.task) this.current.task = c.task;
    // A capture still finishing (or refused meanwhile) leaves the episode's stack as the answer.
    if (frames.length === 0) frames = this.currentStack();
    const task = this.foreign ? null : (this.currentTask() ?? c.task);
    const ms = this.blockedMs() || blockedMs;
    if (this.foreign) {
      return {
        blocked: true,
        pausedInDebugger: true,
        blockedMs: ms,
        frames,
        message: `paused in a debugger for ${formatDuration(ms)} (another inspector session stopped the main thread; the agent leaves it alone)`,
      };
    }
    const message =
      frames.length > 0
        ? `event loop blocked ${formatDuration(ms)}${blockedTaskText(task)}`
        : `event loop blocked ${formatDuration(blockedMs)} outside JavaScript (native code or a synchronous system call)`;
    return { blocked: true, blockedMs: ms, frames, ...(task ? { task } : {}), message };
  }

  /** The frames of the current blocking stack, as recorded for the ongoing episode. */
  currentStack(): Frame[] {
    return this.foreign?.slice() ?? this.current?.stack.slice() ?? [];
  }

  /** The task the ongoing episode's code runs in, when known (never for a debugger's pause). */
  currentTask(): BlockedTask | null {
    return this.foreign ? null : (this.current?.task ?? null);
  }

  /**
   * Reads the main thread's call frames: where a debugger has it paused, the last capture if
   * it is recent, or a new one (pausing it for a moment); one capture at a time.
   */
  capture(): Promise<Frame[]> {
    return this.read().then((c) => c.frames);
  }

  /** `capture`, with the task the frames run in. */
  private read(): Promise<Capture> {
    if (this.foreign) return Promise.resolve({ frames: this.foreign.slice(), task: null });
    if (this.last && Date.now() - this.last.at < this.cacheMs) return Promise.resolve(copy(this.last.capture));
    if (!this.capturing) {
      this.capturing = this.pauseAndRead()
        .then((capture) => {
          this.last = { at: Date.now(), capture };
          return capture;
        })
        .finally(() => {
          this.capturing = null;
        });
    }
    return this.capturing.then(copy);
  }

  /** Opens the session to the main thread once. */
  private connect(): Session | null {
    if (this.session) return this.session;
    try {
      // Loaded on first use: a Node built without the inspector still runs the rest.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const inspector = require('node:inspector') as typeof InspectorModule;
      const session = new inspector.Session();
      (session as Session & { connectToMainThread(): void }).connectToMainThread();
      session.on('Debugger.scriptParsed', (msg: { params: { scriptId: string; url: string; sourceMapURL?: string } }) => {
        if (!msg.params.url) return;
        this.urls.set(msg.params.scriptId, msg.params.url);
        this.maps.add(msg.params.scriptId, msg.params.url, msg.params.sourceMapURL);
      });
      session.on('Debugger.paused', (msg: { params: { callFrames: CallFrame[] } }) => this.paused(session, msg.params.callFrames));
      session.on('Debugger.resumed', () => {
        this.foreign = null;
      });
      this.session = session;
      return session;
    } catch {
      return null;
    }
  }

  /** Every pause of the main thread while our Debugger domain is enabled: ours, or someone else's. */
  private paused(session: Session, callFrames: CallFrame[]): void {
    if (this.ownPause) {
      this.ownPause = false;
      const waiter = this.onPaused;
      this.onPaused = null;
      // Which task runs: answered before the resume that follows it on the same session.
      if (waiter) {
        session.post('Runtime.evaluate', { expression: RUNNING_TASK, returnByValue: true, silent: true }, (err, res) =>
          waiter(callFrames, err ? null : blockedTask((res as { result?: { value?: unknown } } | undefined)?.result?.value)),
        );
      }
      // Also a pause that came after its capture gave up (the thread was in native code).
      session.post('Debugger.resume', () => (this.outstanding = false));
      return;
    }
    if (this.debuggerOpen()) {
      this.foreign = toFrames(callFrames, this.urls, this.maps);
      if (this.current) this.current.inDebugger = true;
      return;
    }
    session.post('Debugger.resume', () => {});
  }

  private onPaused: ((frames: CallFrame[], task: BlockedTask | null) => void) | null = null;
  /** Messages of an earlier capture the main thread has not processed yet (blocked in native code). */
  private outstanding = false;

  /**
   * (Enable →) pause → read the frames → resume. The answer never waits for the main thread
   * beyond the timeout: when it is stuck outside JavaScript, nothing is processed until it
   * returns, so we answer "no frames" and send no more requests until the last ones are done.
   * When enabling tells us a debugger has the thread paused, we neither pause nor resume.
   */
  private pauseAndRead(): Promise<Capture> {
    const session = this.connect();
    if (!session || this.outstanding) return Promise.resolve(NOTHING);
    this.outstanding = true;
    return new Promise<Capture>((resolve) => {
      let done = false;
      const finish = (frames: Frame[], task: BlockedTask | null = null) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.onPaused = null;
        resolve({ frames, task });
      };
      const timer = setTimeout(() => finish([]), PAUSE_TIMEOUT_MS);
      timer.unref();
      const pause = () => {
        if (done || this.foreign) {
          this.outstanding = false;
          return finish(this.foreign?.slice() ?? []);
        }
        this.onPaused = (callFrames, task) => finish(toFrames(callFrames, this.urls, this.maps), task);
        this.ownPause = true;
        session.post('Debugger.pause', (err) => {
          if (!err) return;
          this.ownPause = false;
          this.outstanding = false;
          finish([]);
        });
      };
      if (this.enabled) return pause();
      session.post('Debugger.enable', (err) => {
        if (err) {
          this.outstanding = false;
          return finish([]);
        }
        this.enabled = true;
        pause();
      });
    });
  }
}

function copy(c: Capture): Capture {
  return { frames: c.frames.slice(), task: c.task };
}

/** The host room's answer, checked: it crossed from the app's thread. */
function blockedTask(v: unknown): BlockedTask | null {
  if (typeof v !== 'object' || v === null) return null;
  const t = v as Record<string, unknown>;
  if (typeof t.id !== 'number' || typeof t.name !== 'string') return null;
  const kind = t.kind === 'http-server' || t.kind === 'http-client' || t.kind === 'task' ? t.kind : 'task';
  return { id: t.id, name: t.name, kind };
}

/** Call frames (zero-based positions) as frames: 1-based, at the original source, with their package. */
function toFrames(callFrames: CallFrame[], urls: Map<string, string>, maps: ScriptSourceMaps): Frame[] {
  const out: Frame[] = [];
  let user = false;
  for (const cf of callFrames) {
    // Past the frames kept, only the first user frame is still wanted (below a library's).
    if (out.length >= FRAMES_KEPT && user) break;
    let file = cf.url || urls.get(cf.location.scriptId) || '';
    if (!file || file.startsWith('node:')) continue;
    if (file.startsWith('file://')) {
      try {
        file = fileURLToPath(file);
      } catch {}
    }
    const line = cf.location.lineNumber + 1;
    const column = cf.location.columnNumber + 1;
    const mapped = maps.map(cf.location.scriptId, line, column);
    const frame = withLibrary({ fn: cf.functionName, file: mapped?.file ?? file, line: mapped?.line ?? line, column: mapped?.column ?? column });
    const mine = isUserFrame(frame);
    if (out.length < FRAMES_KEPT || (mine && !user)) out.push(frame);
    user ||= mine;
  }
  return out;
}
