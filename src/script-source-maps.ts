// Source maps of scripts another thread or process runs, known only through its inspector:
// for the frames the sentinel reads, and the suspended lines `awaits` looks up (agent or CLI).
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Parsed maps kept at once (a blocked stack touches a handful of scripts). */
const MAX_PARSED = 64;
/** A map file bigger than this is not read (a bundle's map can be tens of MB). */
const MAX_MAP_BYTES = 32 * 1024 * 1024;

interface Script {
  url: string;
  mapUrl: string;
}

/**
 * `module.findSourceMap` only knows the maps of its own thread, and under tsx the transformed
 * code (with its inline map) exists only in the main thread's memory. What the agent's worker
 * (or the CLI, talking to a process's inspector) does have is the inspector: `Debugger.scriptParsed` gives each script's `sourceMapURL`, an inline
 * `data:` URL (tsx, esbuild, `--inlineSourceMap`) or a file next to the script (`tsc`). The map
 * is parsed with `new module.SourceMap(payload)` when a frame of that script is first shown,
 * and kept (bounded). Only the user's scripts are remembered: maps of `node_modules` would copy
 * megabytes here for frames that are shown by package name anyway.
 */
export class ScriptSourceMaps {
  private readonly scripts = new Map<string, Script>();
  private readonly parsed = new Map<string, SourceMap | null>();

  /** Remembers a script's map URL, from `Debugger.scriptParsed`. */
  add(scriptId: string, url: string, mapUrl: string | undefined): void {
    if (!mapUrl || !url || url.includes('/node_modules/') || url.startsWith('node:')) return;
    // `Debugger.enable` replays every script each time: a map already parsed is kept.
    const known = this.scripts.get(scriptId);
    if (known && known.url === url && known.mapUrl === mapUrl) return;
    this.scripts.set(scriptId, { url, mapUrl });
    this.parsed.delete(scriptId);
  }

  /** The original position of a 1-based `line:column` in script `scriptId`, or null. */
  map(scriptId: string, line: number, column: number): { file: string; line: number; column: number } | null {
    const script = this.scripts.get(scriptId);
    if (!script) return null;
    const sourceMap = this.load(scriptId, script);
    if (!sourceMap) return null;
    try {
      const entry = sourceMap.findEntry(line - 1, column - 1) as Partial<{ originalSource: string; originalLine: number; originalColumn: number }>;
      if (typeof entry.originalSource !== 'string' || typeof entry.originalLine !== 'number') return null;
      return { file: resolveSource(entry.originalSource, script), line: entry.originalLine + 1, column: (entry.originalColumn ?? 0) + 1 };
    } catch {
      return null;
    }
  }

  private load(scriptId: string, script: Script): SourceMap | null {
    const known = this.parsed.get(scriptId);
    if (known !== undefined) return known;
    let found: SourceMap | null = null;
    try {
      const payload = readPayload(script);
      if (payload) found = new SourceMap(payload);
    } catch {}
    if (this.parsed.size >= MAX_PARSED) this.parsed.delete(this.parsed.keys().next().value as string);
    this.parsed.set(scriptId, found);
    return found;
  }
}

/** The map's JSON: decoded from a `data:` URL, or read from the file it names. */
function readPayload(script: Script): ConstructorParameters<typeof SourceMap>[0] | null {
  const { mapUrl } = script;
  if (mapUrl.startsWith('data:')) {
    const comma = mapUrl.indexOf(',');
    if (comma < 0) return null;
    const head = mapUrl.slice(5, comma);
    const body = mapUrl.slice(comma + 1);
    const text = head.endsWith(';base64') ? Buffer.from(body, 'base64').toString('utf8') : decodeURIComponent(body);
    return JSON.parse(text) as ConstructorParameters<typeof SourceMap>[0];
  }
  const file = fileURLToPath(new URL(mapUrl, scriptBase(script.url)));
  const text = readFileSync(file, 'utf8');
  if (text.length > MAX_MAP_BYTES) return null;
  return JSON.parse(text) as ConstructorParameters<typeof SourceMap>[0];
}

/** A script's URL as a base for relative URLs (CommonJS scripts are named by path). */
function scriptBase(url: string): URL {
  return url.startsWith('file://') ? new URL(url) : pathToFileURL(url);
}

/** A map's source as a path: relative sources are relative to the map (or the script). */
function resolveSource(source: string, script: Script): string {
  try {
    const base = script.mapUrl.startsWith('data:') ? scriptBase(script.url) : new URL(script.mapUrl, scriptBase(script.url));
    const url = new URL(source, base);
    return url.protocol === 'file:' ? fileURLToPath(url) : source;
  } catch {
    return source;
  }
}
