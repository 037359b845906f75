/**
 * The messages between the agent's two threads, the only thing the two rooms share: host/
 * (the app's main thread) and worker/ (the agent's worker) never import each other. Types
 * only, so nothing of either thread's code is loaded into the other.
 */
import type { Args } from '../src/commands.js';
import type { ErrorCode } from '../src/errors.js';
import type { LoopStats, TaskInfo, TrackerStatus } from '../src/model.js';

/** The worker asks the main thread to run a command. */
export interface CallMessage {
  type: 'call';
  id: number;
  cmd: string;
  args: Args;
  /** Who asks (for cancel's history entry). */
  by: string;
}

/** Console traffic for one session (worker → main). */
export interface ConsoleMessage {
  type: 'console';
  session: number;
  op: 'open' | 'line' | 'close';
  text?: string;
}

/** The worker has written a chunk of a streamed answer; `stop` when the client is gone. */
export interface AckMessage {
  type: 'ack';
  id: number;
  stop: boolean;
}

export type ToMain = CallMessage | ConsoleMessage | AckMessage;

export interface ReplyMessage {
  type: 'reply';
  id: number;
  ok: boolean;
  result?: unknown;
  error?: { code: ErrorCode; message: string };
}

/**
 * One slice of a streamed answer (main → worker), as JSON array text: a string crosses threads
 * as one copy, an array of objects as a structured clone of each. Each is acked by the worker.
 */
export interface ChunkMessage {
  type: 'chunk';
  id: number;
  json: string;
}

/** What the worker caches to answer `health` while the loop is blocked (sent once a second). */
export interface StatusMessage {
  type: 'status';
  loop: LoopStats;
  tracker: TrackerStatus;
  tasks: number;
  pendingPromises: number | null;
  oldestTasks: TaskInfo[];
}

export interface ConsoleOutMessage {
  type: 'console-out';
  session: number;
  text: string;
}

export interface ConsoleExitMessage {
  type: 'console-exit';
  session: number;
}

/** The worker is to stop listening and close its sessions. */
export interface ShutdownMessage {
  type: 'shutdown';
}

export type ToWorker = ReplyMessage | ChunkMessage | StatusMessage | ConsoleOutMessage | ConsoleExitMessage | ShutdownMessage;

/** What the worker tells the main thread about its listener. */
export type WorkerReport =
  | { type: 'listening'; host: string; port: number | null; socket: string | null; fellBack: boolean }
  | { type: 'failed'; message: string };

/** Settings the worker starts with. */
export interface WorkerConfig {
  host: string;
  port: number;
  portExplicit: boolean;
  socket: string | null;
  token: string;
  readOnly: boolean;
  pid: number;
  node: string;
  staleMs: number;
  /** The period of the clock the worker writes for the main thread (agent/host/coarse-clock.ts). */
  clockMs: number;
  /** `awaits` takes no snapshot of a heap over this (`ASYNCMON_AWAITS_MAX_HEAP_MB`). */
  awaitsMaxHeapBytes: number;
  limits: Limits;
}

/** Every limit a session enforces; see `src/defaults.ts` for the values. */
export interface Limits {
  maxConnections: number;
  maxUnauthenticated: number;
  maxLineBytes: number;
  /** A line that has started must end within this (a client sending a byte at a time is dropped). */
  lineTimeoutMs: number;
  authTimeoutMs: number;
  jsonAuthTimeoutMs: number;
  idleTimeoutMs: number;
  maxOutputBytes: number;
  callTimeoutMs: number;
  maxQueuedRequests: number;
  workBudgetMs: number;
  workWindowMs: number;
  workBurstMs: number;
  maxWaiting: number;
  maxWaitMs: number;
  maxStreams: number;
  answerCacheMs: number;
}
