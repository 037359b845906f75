// Worker room, its own short-lived thread: one `awaits` answer's parse and analysis, in a heap
// sized for the snapshot and freed whole when the thread ends. It holds no inspector session:
// the agent's worker takes the snapshot and streams it here (awaits-runner.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { takeAwaits } from '../../src/awaits.js';
import type { TaskRow } from '../../src/awaits.js';
import { AsyncmonError } from '../../src/errors.js';
import type { SuspendedAt } from '../../src/heap-capture.js';

/** What the agent's worker hands this thread. */
export interface AwaitsJob {
  limit: number;
  heapUsedBytes: number | null;
  maxHeapBytes: number;
  tasks: TaskRow[];
}

/** From the agent's worker: the snapshot's text, its end, then the lines it looked up. */
export type AwaitsFeed = { chunk: string } | { end: true } | { captured: { pauseMs: number; at: Array<[number, SuspendedAt]> } };

/** To the agent's worker: the frames to look up, then the answer (once). */
export type AwaitsReply = { pick: number[] } | { ok: unknown } | { error: { code: string; message: string } };

const job = workerData as AwaitsJob;
const port = parentPort!;
const reply = (m: AwaitsReply) => port.postMessage(m);

takeAwaits(
  (onChunk, pick) =>
    new Promise((resolve, reject) => {
      port.on('message', (m: AwaitsFeed) => {
        try {
          if ('chunk' in m) onChunk(m.chunk);
          else if ('end' in m) reply({ pick: pick() as number[] });
          else resolve({ pauseMs: m.captured.pauseMs, at: new Map(m.captured.at) });
        } catch (err) {
          reject(err);
        }
      });
    }),
  { limit: job.limit, heapUsedBytes: job.heapUsedBytes, maxHeapBytes: job.maxHeapBytes, tasks: async () => job.tasks },
).then(
  // Answered: nothing listens any more, so the thread ends (the reply is delivered first).
  (ok) => {
    reply({ ok });
    port.removeAllListeners('message');
    port.unref();
  },
  (err: unknown) => {
    reply({ error: { code: err instanceof AsyncmonError ? err.code : 'INTERNAL', message: err instanceof Error ? err.message : String(err) } });
    port.removeAllListeners('message');
    port.unref();
  },
);
