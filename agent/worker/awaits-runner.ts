// Worker room (the agent's own thread): one `awaits` answer, its snapshot taken here and its
// parse and analysis in a short-lived thread.
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { refuseBigHeap } from '../../src/awaits.js';
import { AsyncmonError } from '../../src/errors.js';
import type { ErrorCode } from '../../src/errors.js';
import { formatBytes } from '../../src/format.js';
import type { AwaitsResult } from '../../src/model.js';
import type { AwaitsFeed, AwaitsJob, AwaitsReply } from './awaits-worker.js';
import type { MainThreadCapture } from './heap-capture.js';

const MB = 1024 * 1024;

/**
 * The old generation the analysis thread may use for a heap of `heapUsedBytes`: the snapshot's
 * strings live there (its nodes and edges are typed arrays, outside it), and they are at most
 * the heap's own strings, so twice the heap with a floor for small heaps and a ceiling.
 */
export function analysisHeapMb(heapUsedBytes: number | null): number {
  const used = heapUsedBytes ?? 64 * MB;
  return Math.min(8192, Math.max(128, Math.ceil((2 * used) / MB) + 64));
}

/**
 * Answers `awaits`: the snapshot is taken here, through the agent's own inspector session to
 * the main thread (`capture`), and its text streamed to a thread started for this answer, which
 * parses it, builds the graph, says which frames to look up (looked up here), and assembles the
 * answer. That thread's heap is sized for the snapshot (a 500 MB heap works, where the agent's
 * worker has a small fixed heap), all of it is freed when it ends, and it never holds an
 * inspector session (a thread that ends with one connected to the main thread can abort the
 * process). It is unref'd: it never keeps the host alive.
 */
export function runAwaits(capture: MainThreadCapture, job: AwaitsJob): Promise<AwaitsResult> {
  refuseBigHeap(job.heapUsedBytes, job.maxHeapBytes);
  const limitMb = analysisHeapMb(job.heapUsedBytes);
  let worker: Worker;
  try {
    worker = new Worker(join(__dirname, 'awaits-worker.js'), {
      workerData: job,
      resourceLimits: { maxOldGenerationSizeMb: limitMb, maxYoungGenerationSizeMb: 16 },
      stdout: false,
      stderr: false,
      env: {},
    });
  } catch (err) {
    return Promise.reject(new AsyncmonError('INTERNAL', `the analysis thread did not start: ${err instanceof Error ? err.message : String(err)}`));
  }
  worker.unref();
  const feed = (m: AwaitsFeed) => worker.postMessage(m);
  return new Promise<AwaitsResult>((resolve, reject) => {
    let done = false;
    // Resolved with the frames to look up once the thread has read the whole snapshot.
    let picked: { resolve: (ids: number[]) => void; reject: (err: Error) => void } | null = null;
    const fail = (err: Error) => {
      picked?.reject(err);
      picked = null;
      if (done) return;
      done = true;
      reject(err);
      // It has no inspector session: stopping it is safe.
      void worker.terminate().catch(() => {});
    };
    worker.on('message', (m: AwaitsReply) => {
      if ('pick' in m) {
        picked?.resolve(m.pick);
        picked = null;
      } else if ('ok' in m) {
        done = true;
        resolve(m.ok as AwaitsResult);
      } else fail(new AsyncmonError(m.error.code as ErrorCode, m.error.message));
    });
    worker.on('error', (err: Error & { code?: string }) =>
      fail(
        err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? new AsyncmonError('UNAVAILABLE', `the heap snapshot did not fit in the ${limitMb} MB its analysis may use (the host's heap is ${job.heapUsedBytes === null ? 'of unknown size' : formatBytes(job.heapUsedBytes)})`)
          : new AsyncmonError('INTERNAL', `the analysis thread failed: ${err.message}`),
      ),
    );
    worker.on('exit', (code) => fail(new AsyncmonError('INTERNAL', `the analysis thread ended (exit code ${code}) without an answer`)));
    capture
      .take(
        (chunk) => feed({ chunk }),
        () =>
          new Promise<number[]>((res, rej) => {
            // The thread failed before the snapshot ended: look nothing up, and let the
            // capture finish (it is the one snapshot at a time).
            if (done) return rej(new AsyncmonError('INTERNAL', 'the analysis thread has stopped'));
            picked = { resolve: res, reject: rej };
            feed({ end: true });
          }),
      )
      .then(
        (captured) => feed({ captured: { pauseMs: captured.pauseMs, at: [...captured.at] } }),
        (err: unknown) => fail(err instanceof Error ? err : new AsyncmonError('INTERNAL', String(err))),
      );
  });
}
