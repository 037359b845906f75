// Host room (the app's main thread): positions in generated code turned into the original
// source's, through the source maps Node keeps for this thread.
import { findSourceMap } from 'node:module';
import type { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

/** A position in a script, 1-based, as call sites and frames give it. */
export interface Position {
  file: string;
  line: number;
  column: number;
}

/** Distinct scripts remembered (a process has a few thousand at most; bounded all the same). */
const MAX_SCRIPTS = 20_000;

/**
 * Maps positions through `module.findSourceMap`, which has a map for a script when the process
 * runs with source maps (`--enable-source-maps`, tsx, ts-node, or
 * `process.setSourceMapsEnabled(true)`). V8 and Node rewrite `Error.stack` text then, but not the
 * positions of call sites, which is what the agent reads; so it maps them itself. The map of
 * each script is looked up once (`null` remembered too); a lookup happens only when a frame is
 * shown. Source-map APIs count from zero, frames from one. Main thread only: the cache of maps
 * is per thread (the worker maps with what the inspector tells it, see worker/source-maps.ts).
 */
export class SourceMaps {
  private readonly maps = new Map<string, SourceMap | null>();

  /** The original position of `pos` (`name` is the script as V8 names it: a path or a URL). */
  map(name: string, pos: Position): Position {
    const sourceMap = this.lookup(name);
    if (!sourceMap) return pos;
    try {
      const entry = sourceMap.findEntry(pos.line - 1, pos.column - 1) as Partial<{ originalSource: string; originalLine: number; originalColumn: number }>;
      if (typeof entry.originalSource !== 'string' || typeof entry.originalLine !== 'number') return pos;
      return { file: toPath(entry.originalSource), line: entry.originalLine + 1, column: (entry.originalColumn ?? 0) + 1 };
    } catch {
      return pos;
    }
  }

  private lookup(name: string): SourceMap | null {
    const known = this.maps.get(name);
    if (known !== undefined) return known;
    let found: SourceMap | null = null;
    try {
      found = findSourceMap(name) ?? null;
    } catch {}
    if (this.maps.size >= MAX_SCRIPTS) this.maps.clear();
    this.maps.set(name, found);
    return found;
  }
}

function toPath(source: string): string {
  if (!source.startsWith('file://')) return source;
  try {
    return fileURLToPath(source);
  } catch {
    return source;
  }
}

/** The main thread's maps, shared by stacks and the census. */
export const sourceMaps = new SourceMaps();
