// Heap snapshots and suspended lines through an inspector, whoever holds the session: the
// agent's worker (`inspector.Session.connectToMainThread()`) or the CLI (the target's inspector
// WebSocket). Only the protocol lives here; opening and closing the session is the caller's.
import { fileURLToPath } from 'node:url';
import { AsyncmonError } from './errors.js';
import { ScriptSourceMaps } from './script-source-maps.js';

/**
 * One inspector session, as both holders can offer it: a call that resolves with its result,
 * and events by method name (`on` returns the function that stops listening).
 */
export interface InspectorChannel {
  post<T = unknown>(method: string, params?: Record<string, unknown>): Promise<T>;
  on(event: string, listener: (params: Record<string, unknown>) => void): () => void;
}

/** Where a suspended async function is suspended (1-based, as every site). */
export interface SuspendedAt {
  file: string;
  line: number;
  column: number;
}

/** What `take` resolves with: the target's pause while V8 wrote the snapshot, and the lines looked up. */
export interface Captured {
  pauseMs: number;
  at: Map<number, SuspendedAt>;
}

/** How long the suspended lines may take to look up, per answer. */
const LOCATE_BUDGET_MS = 1500;
/** Looked up whatever the budget says: the innermost frames of the first chains. */
const ALWAYS_LOCATED = 8;

/**
 * Takes heap snapshots of the process (or thread) at the other end of a channel, handing the
 * text on as it streams, and looks up where the chosen suspended functions are suspended
 * (`[[GeneratorLocation]]`), through source maps when the scripts have them. Keeps the script
 * ids it learnt between answers (a script's id never changes in one process), so one instance
 * serves one target. One snapshot at a time.
 */
export class HeapCapture {
  private busy = false;
  private readonly scripts = new Map<string, string>();
  private readonly maps = new ScriptSourceMaps();

  /** Whether a snapshot is being taken now. */
  get running(): boolean {
    return this.busy;
  }

  /**
   * Takes a snapshot over `channel`, handing its text to `onChunk` as it streams, and then asks
   * where each of the Generator nodes `pick` chooses (from what `onChunk` built) is suspended.
   * Leaves HeapProfiler and Debugger disabled again, whatever happened.
   */
  async take(given: InspectorChannel, onChunk: (chunk: string) => void, pick: () => number[] | Promise<number[]>): Promise<Captured> {
    if (this.busy) throw new AsyncmonError('BUSY', 'a heap snapshot is already being taken; try again when it is done');
    this.busy = true;
    // Every call is answered before this returns, cleanups included: the session may be closed
    // (or its thread end) right after, and a reply still on its way to a thread that has ended
    // can abort the whole process.
    const pending = new Set<Promise<unknown>>();
    const channel: InspectorChannel = {
      on: (event, listener) => given.on(event, listener),
      post: <T>(method: string, params?: Record<string, unknown>) => {
        const p = given.post<T>(method, params);
        const settled: Promise<unknown> = p.then(
          (): unknown => pending.delete(settled),
          (): unknown => pending.delete(settled),
        );
        pending.add(settled);
        return p;
      },
    };
    // A chunk the parser refuses fails the answer, not the listener's emitter.
    let chunkError: unknown = null;
    // The target's clock when it has written the snapshot, asked for once its first chunk is
    // here (see below).
    let ended: Promise<number | null> | null = null;
    const off = channel.on('HeapProfiler.addHeapSnapshotChunk', (p) => {
      ended ??= channel
        .post<{ result?: { value?: unknown } }>('Runtime.evaluate', { expression: 'Date.now()', returnByValue: true, silent: true })
        .then((r) => (typeof r.result?.value === 'number' ? r.result.value : null), () => null);
      if (chunkError !== null) return;
      try {
        onChunk(String(p.chunk));
      } catch (err) {
        chunkError = err;
      }
    });
    try {
      await channel.post('HeapProfiler.enable');
      const started = performance.now();
      // Wall clocks (milliseconds), the same in every thread and process of the machine;
      // `performance.timeOrigin` is not (a worker's differs from its main thread's on Node 22).
      const startedAt = Date.now();
      // The target's main thread writes the snapshot in one go: this is its pause. It ends
      // before its reply reaches us (the chunks before the reply are parsed here first), so the
      // target says when: a call sent once the first chunk is here (the snapshot is being
      // written: Node 22 and later start it only at the next task, so a call sent with it
      // would run first) runs as soon as the snapshot is done.
      await channel.post('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
      const waitedMs = performance.now() - started;
      const endedAt = ended === null ? null : await (ended as Promise<number | null>);
      // Never more than we waited (a clock step between the two readings).
      const pauseMs = endedAt === null ? waitedMs : Math.min(waitedMs, Math.max(0, endedAt - startedAt));
      off();
      if (chunkError !== null) throw chunkError;
      const at = await this.locate(channel, await pick());
      return { pauseMs, at };
    } finally {
      off();
      channel.post('HeapProfiler.disable').catch(() => {});
      while (pending.size > 0) await Promise.all([...pending]);
      this.busy = false;
    }
  }

  /** `[[GeneratorLocation]]` of each node, through the inspector (only for what is shown). */
  private async locate(channel: InspectorChannel, nodeIds: number[]): Promise<Map<number, SuspendedAt>> {
    const out = new Map<number, SuspendedAt>();
    if (nodeIds.length === 0) return out;
    await this.learnScripts(channel);
    const group = 'asyncmon-awaits';
    const started = performance.now();
    let tried = 0;
    try {
      for (const nodeId of nodeIds) {
        // Each lookup finds the object by walking the heap: past the budget the rest keep
        // their function's start, but the first few (the innermost frames of the first chains:
        // where they are parked) are always looked up, however slow the host is.
        if (tried >= ALWAYS_LOCATED && performance.now() - started > LOCATE_BUDGET_MS) break;
        tried++;
        try {
          const { result } = await channel.post<{ result: { objectId?: string } }>('HeapProfiler.getObjectByHeapObjectId', { objectId: String(nodeId), objectGroup: group });
          if (!result.objectId) continue;
          const props = await channel.post<{ internalProperties?: Array<{ name: string; value?: { value?: unknown } }> }>('Runtime.getProperties', { objectId: result.objectId, ownProperties: true });
          const loc = props.internalProperties?.find((p) => p.name === '[[GeneratorLocation]]')?.value?.value as { scriptId?: string; lineNumber?: number; columnNumber?: number } | undefined;
          if (!loc || loc.scriptId === undefined) continue;
          const url = this.scripts.get(loc.scriptId);
          if (!url) continue;
          const line = (loc.lineNumber ?? 0) + 1;
          const column = (loc.columnNumber ?? 0) + 1;
          // At the original source when the script has a map (tsx, --enable-source-maps, tsc).
          const mapped = this.maps.map(loc.scriptId, line, column);
          out.set(nodeId, mapped ?? { file: url.startsWith('file://') ? fileURLToPath(url) : url, line, column });
        } catch {
          // Collected since the snapshot, or not an object any more: no line for it.
        }
      }
    } finally {
      channel.post('Runtime.releaseObjectGroup', { objectGroup: group }).catch(() => {});
    }
    return out;
  }

  /**
   * Script ids to URLs and source map URLs, from the scriptParsed events `Debugger.enable`
   * replays for every script (each answer adds the scripts loaded since).
   */
  private async learnScripts(channel: InspectorChannel): Promise<void> {
    const off = channel.on('Debugger.scriptParsed', (p) => {
      const scriptId = String(p.scriptId);
      const url = typeof p.url === 'string' ? p.url : '';
      if (!url) return;
      this.scripts.set(scriptId, url);
      this.maps.add(scriptId, url, typeof p.sourceMapURL === 'string' ? p.sourceMapURL : undefined);
    });
    try {
      await channel.post('Debugger.enable');
    } finally {
      off();
      channel.post('Debugger.disable').catch(() => {});
    }
  }
}
