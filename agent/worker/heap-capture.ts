// Worker room (the agent's own thread): heap snapshots of the main thread, for the await graph.
import type * as InspectorModule from 'node:inspector';
import type { Session } from 'node:inspector';
import { fileURLToPath } from 'node:url';
import { AsyncmonError } from '../../src/errors.js';
import { WorkerSourceMaps } from './source-maps.js';

/** Where a suspended async function is suspended (1-based, as every site). */
export interface SuspendedAt {
  file: string;
  line: number;
  column: number;
}

/** How long the suspended lines may take to look up, per answer. */
const LOCATE_BUDGET_MS = 1500;

/** One inspector call as a promise; errors become AsyncmonErrors. */
function post<T>(session: Session, method: string, params: object = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    (session.post as (m: string, p: object, cb: (err: Error | null, res: T) => void) => void)(method, params, (err, res) => {
      if (err) reject(new AsyncmonError('INTERNAL', `${method}: ${err.message}`));
      else resolve(res);
    });
  });
}

/**
 * Heap snapshots of the host's main thread, taken from the agent's worker through
 * `inspector.Session.connectToMainThread()`: no port is opened, and the snapshot's chunks
 * arrive here, on the worker's thread, so parsing them never runs on the host's. Writing the
 * snapshot pauses the main thread (that pause is the whole cost, and is measured); nothing is
 * done until asked. One at a time.
 */
export class HeapCapture {
  private busy = false;
  private scripts: Map<string, string> | null = null;
  private readonly maps = new WorkerSourceMaps();

  /** Whether a snapshot is being taken now. */
  get running(): boolean {
    return this.busy;
  }

  /**
   * Takes a snapshot, handing its text to `onChunk` as it streams, and then asks the inspector
   * where each of the Generator nodes `pick` chooses (from what `onChunk` built) is suspended.
   * Resolves with how long the main thread was paused and those locations.
   */
  async take(onChunk: (chunk: string) => void, pick: () => number[]): Promise<{ pauseMs: number; at: Map<number, SuspendedAt> }> {
    if (this.busy) throw new AsyncmonError('BUSY', 'a heap snapshot is already being taken; try again when it is done');
    this.busy = true;
    const session = open();
    try {
      const onChunkEvent = (m: { params: { chunk: string } }) => onChunk(m.params.chunk);
      session.on('HeapProfiler.addHeapSnapshotChunk', onChunkEvent);
      await post(session, 'HeapProfiler.enable');
      const started = performance.now();
      // The main thread writes the snapshot in one go: this is the host's pause.
      await post(session, 'HeapProfiler.takeHeapSnapshot', { reportProgress: false });
      const pauseMs = performance.now() - started;
      session.off('HeapProfiler.addHeapSnapshotChunk', onChunkEvent);
      const at = await this.locate(session, pick());
      return { pauseMs, at };
    } finally {
      this.busy = false;
      try {
        session.post('HeapProfiler.disable', () => {});
        session.disconnect();
      } catch {}
    }
  }

  /** `[[GeneratorLocation]]` of each node, through the inspector (only for what is shown). */
  private async locate(session: Session, nodeIds: number[]): Promise<Map<number, SuspendedAt>> {
    const out = new Map<number, SuspendedAt>();
    if (nodeIds.length === 0) return out;
    const scripts = await this.scriptUrls(session);
    const group = 'asyncmon-awaits';
    const started = performance.now();
    try {
      for (const nodeId of nodeIds) {
        // Each lookup walks the heap: past the budget the rest keep their function's start.
        if (performance.now() - started > LOCATE_BUDGET_MS) break;
        try {
          const { result } = await post<{ result: { objectId?: string } }>(session, 'HeapProfiler.getObjectByHeapObjectId', { objectId: String(nodeId), objectGroup: group });
          if (!result.objectId) continue;
          const props = await post<{ internalProperties?: Array<{ name: string; value?: { value?: unknown } }> }>(session, 'Runtime.getProperties', { objectId: result.objectId, ownProperties: true });
          const loc = props.internalProperties?.find((p) => p.name === '[[GeneratorLocation]]')?.value?.value as { scriptId?: string; lineNumber?: number; columnNumber?: number } | undefined;
          if (!loc || loc.scriptId === undefined) continue;
          const url = scripts.get(loc.scriptId);
          if (!url) continue;
          const line = (loc.lineNumber ?? 0) + 1;
          const column = (loc.columnNumber ?? 0) + 1;
          // At the original source when the script has a map (tsx, --enable-source-maps).
          const mapped = this.maps.map(loc.scriptId, line, column);
          out.set(nodeId, mapped ?? { file: url.startsWith('file://') ? fileURLToPath(url) : url, line, column });
        } catch {
          // Collected since the snapshot, or not an object any more: no line for it.
        }
      }
    } finally {
      session.post('Runtime.releaseObjectGroup', { objectGroup: group }, () => {});
    }
    return out;
  }

  /**
   * Script ids to URLs, from the scriptParsed events `Debugger.enable` replays for every script
   * (kept between answers; each answer adds the scripts loaded since).
   */
  private async scriptUrls(session: Session): Promise<Map<string, string>> {
    const scripts = (this.scripts ??= new Map());
    const onParsed = (m: { params: { scriptId: string; url: string; sourceMapURL?: string } }) => {
      if (!m.params.url) return;
      scripts.set(m.params.scriptId, m.params.url);
      this.maps.add(m.params.scriptId, m.params.url, m.params.sourceMapURL);
    };
    session.on('Debugger.scriptParsed', onParsed);
    try {
      await post(session, 'Debugger.enable');
    } finally {
      session.off('Debugger.scriptParsed', onParsed);
      session.post('Debugger.disable', () => {});
    }
    return scripts;
  }
}

function open(): Session {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const inspector = require('node:inspector') as typeof InspectorModule;
  const session = new inspector.Session();
  (session as Session & { connectToMainThread(): void }).connectToMainThread();
  return session;
}
