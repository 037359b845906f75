// Worker room, its own short-lived thread: one `awaits` answer (heap snapshot, parse, graph,
// lines), in a worker whose heap is sized for the snapshot and freed whole when it ends.
import { parentPort, workerData } from 'node:worker_threads';
import { takeAwaits } from '../../src/awaits.js';
import type { TaskRow } from '../../src/awaits.js';
import { AsyncmonError } from '../../src/errors.js';
import { MainThreadCapture } from './heap-capture.js';

/** What the agent's worker hands this thread (awaits-runner.ts). */
export interface AwaitsJob {
  limit: number;
  heapUsedBytes: number | null;
  maxHeapBytes: number;
  tasks: TaskRow[];
}

/** What this thread answers with, once. */
export type AwaitsReply = { ok: unknown } | { error: { code: string; message: string } };

const job = workerData as AwaitsJob;
const capture = new MainThreadCapture();
// The inspector's replies hold nothing open here: this thread lives until it has answered (the
// agent's worker unref'd it, so it never holds the host).
const alive = setInterval(() => {}, 1 << 30);
// Asked to stop (the answer took too long): the session goes first, then this thread ends by
// itself; it is never terminated with a session connected to the main thread.
parentPort?.on('message', (m: unknown) => {
  if (m !== 'stop') return;
  capture.stop();
  clearInterval(alive);
});
// Listening must not keep this thread: once it has answered it ends, and its heap with it.
parentPort?.unref();
takeAwaits((onChunk, pick) => capture.take(onChunk, pick), { limit: job.limit, heapUsedBytes: job.heapUsedBytes, maxHeapBytes: job.maxHeapBytes, tasks: async () => job.tasks }).then(
  (ok) => {
    parentPort?.postMessage({ ok } satisfies AwaitsReply);
    clearInterval(alive);
  },
  (err: unknown) => {
    const e = err instanceof AsyncmonError ? err : null;
    parentPort?.postMessage({ error: { code: e?.code ?? 'INTERNAL', message: err instanceof Error ? err.message : String(err) } } satisfies AwaitsReply);
    clearInterval(alive);
  },
);
