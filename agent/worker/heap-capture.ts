// Worker room (the agent's own thread): heap snapshots of the main thread, for the await graph.
import type * as InspectorModule from 'node:inspector';
import type { Session } from 'node:inspector';
import { AsyncmonError } from '../../src/errors.js';
import { HeapCapture } from '../../src/heap-capture.js';
import type { Captured, InspectorChannel } from '../../src/heap-capture.js';

/**
 * Heap snapshots of the host's main thread, taken from the agent's worker through
 * `inspector.Session.connectToMainThread()`: no port is opened, and the snapshot's chunks
 * arrive here, on the worker's thread, so parsing them never runs on the host's. Writing the
 * snapshot pauses the main thread (that pause is the whole cost, and is measured); nothing is
 * done until asked. The protocol itself is src/heap-capture.ts's, shared with the CLI's
 * no-agent path; this only opens and closes the session.
 */
export class MainThreadCapture {
  private readonly capture = new HeapCapture();

  /** Whether a snapshot is being taken now. */
  get running(): boolean {
    return this.capture.running;
  }

  /** See HeapCapture.take: one session per snapshot, disconnected afterwards. */
  async take(onChunk: (chunk: string) => void, pick: () => number[] | Promise<number[]>): Promise<Captured> {
    if (this.capture.running) throw new AsyncmonError('BUSY', 'a heap snapshot is already being taken; try again when it is done');
    const session = open();
    try {
      return await this.capture.take(sessionChannel(session), onChunk, pick);
    } finally {
      try {
        session.disconnect();
      } catch {}
    }
  }
}

/** An in-process session as a channel; errors become AsyncmonErrors. */
function sessionChannel(session: Session): InspectorChannel {
  return {
    post: <T>(method: string, params: Record<string, unknown> = {}) =>
      new Promise<T>((resolve, reject) => {
        try {
          (session.post as (m: string, p: object, cb: (err: Error | null, res: T) => void) => void)(method, params, (err, res) => {
            if (err) reject(new AsyncmonError('INTERNAL', `${method}: ${err.message}`));
            else resolve(res);
          });
        } catch (err) {
          // Posting to a disconnected session throws at once.
          reject(new AsyncmonError('INTERNAL', `${method}: ${err instanceof Error ? err.message : String(err)}`));
        }
      }),
    on: (event, listener) => {
      const fn = (m: { params: Record<string, unknown> }) => listener(m.params);
      session.on(event, fn);
      return () => session.off(event, fn);
    },
  };
}

function open(): Session {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const inspector = require('node:inspector') as typeof InspectorModule;
  const session = new inspector.Session();
  (session as Session & { connectToMainThread(): void }).connectToMainThread();
  return session;
}
