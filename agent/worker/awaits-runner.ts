// Worker room (the agent's own thread): runs one `awaits` answer in a short-lived thread.
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { AsyncmonError } from '../../src/errors.js';
import type { ErrorCode } from '../../src/errors.js';
import { formatBytes } from '../../src/format.js';
import type { AwaitsResult } from '../../src/model.js';
import type { AwaitsJob, AwaitsReply } from './awaits-worker.js';

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

/** How long one answer may take before its thread is stopped. */
const ANSWER_TIMEOUT_MS = 5 * 60_000;

/**
 * Takes a heap snapshot of the host's main thread and answers `awaits` from it in a thread of
 * its own, started for this answer and gone after it: the snapshot's strings and graph get a
 * heap sized for them (a 500 MB heap works, where the agent's worker has a small fixed heap),
 * and all of it is freed when the thread ends. The thread is unref'd: it never keeps the host
 * alive.
 */
export function runAwaits(job: AwaitsJob): Promise<AwaitsResult> {
  return new Promise<AwaitsResult>((resolve, reject) => {
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
      reject(new AsyncmonError('INTERNAL', `the analysis thread did not start: ${err instanceof Error ? err.message : String(err)}`));
      return;
    }
    worker.unref();
    let done = false;
    const finish = (fn: () => void, stop = false) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      fn();
      // Never terminated: terminating a thread whose inspector session is still connected to
      // the main thread can abort the whole process (seen: SIGABRT). It ends by itself once it
      // has answered and disconnected, or once asked to stop.
      if (stop) worker.postMessage('stop');
    };
    const timer = setTimeout(() => finish(() => reject(new AsyncmonError('UNAVAILABLE', `the heap snapshot was not answered within ${ANSWER_TIMEOUT_MS / 1000} s`)), true), ANSWER_TIMEOUT_MS);
    timer.unref();
    worker.on('message', (m: AwaitsReply) =>
      finish(() => ('ok' in m ? resolve(m.ok as AwaitsResult) : reject(new AsyncmonError(m.error.code as ErrorCode, m.error.message)))),
    );
    worker.on('error', (err: Error & { code?: string }) =>
      finish(() =>
        reject(
          err.code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? new AsyncmonError('UNAVAILABLE', `the heap snapshot did not fit in the ${limitMb} MB its analysis may use (the host's heap is ${job.heapUsedBytes === null ? 'of unknown size' : formatBytes(job.heapUsedBytes)})`)
            : new AsyncmonError('INTERNAL', `the analysis thread failed: ${err.message}`),
        ),
      ),
    );
    worker.on('exit', (code) => finish(() => reject(new AsyncmonError('INTERNAL', `the analysis thread ended (exit code ${code}) without an answer`))));
  });
}
