// Host room (the app's main thread): creation stacks, captured unformatted and turned into
// frames when shown.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULTS } from '../../src/defaults.js';
import type { Frame, Site } from '../../src/model.js';

/** A stack captured but not formatted: cheap to take, turned into frames only when shown. */
export interface RawStack {
  stack?: unknown;
}

interface CallSiteLike {
  getFileName(): string | null | undefined;
  getLineNumber(): number | null;
  getColumnNumber(): number | null;
  getFunctionName(): string | null;
  getMethodName(): string | null;
  getTypeName(): string | null;
  isAsync?(): boolean;
  isConstructor(): boolean;
}

/** The agent's folder (dist/agent or agent/): this file sits in its host/ room. */
export const AGENT_DIR = resolve(__dirname, '..');
// Frames of the agent itself: the agent's folder (both rooms and the entry points) and its
// sibling src folder, of every copy of the package loaded in the process (kept on a global,
// shared between copies).
const OWN_DIRS: string[] = ((globalThis as Record<symbol, string[] | undefined>)[Symbol.for('asyncmon.ownDirs.v1')] ??= []);
for (const dir of [AGENT_DIR + '/', resolve(AGENT_DIR, '..', 'src') + '/']) if (!OWN_DIRS.includes(dir)) OWN_DIRS.push(dir);
const FRAMES_KEPT = DEFAULTS.stackFrames;
// Under async_hooks and promise hooks 4–5 Node-internal frames sit below the hook; we skip
// them by file name, so capture a few more than we keep.
const CAPTURE_LIMIT = FRAMES_KEPT + 8;

function keepFrames(_err: unknown, sites: CallSiteLike[]): CallSiteLike[] {
  return sites;
}

/**
 * Captures the current stack without formatting it (about 2.5 µs). `Error.stackTraceLimit` is
 * global, so it is saved and restored around the capture. The hook's own frames and Node's are
 * dropped later by file name, when the stack is formatted.
 */
export function captureStack(): RawStack {
  const holder: RawStack = {};
  const saved = Error.stackTraceLimit;
  Error.stackTraceLimit = CAPTURE_LIMIT;
  Error.captureStackTrace(holder);
  Error.stackTraceLimit = saved;
  return holder;
}

const framesCache = new WeakMap<RawStack, Frame[]>();

/** The frames of a captured stack with Node internals and the agent's own frames removed. */
export function stackFrames(raw: RawStack | null | undefined): Frame[] {
  if (!raw) return [];
  const cached = framesCache.get(raw);
  if (cached) return cached;
  let sites: unknown;
  const saved = Error.prepareStackTrace;
  try {
    // V8 formats `.stack` lazily on first access, so the override decides what we get back.
    Error.prepareStackTrace = keepFrames as typeof Error.prepareStackTrace;
    sites = raw.stack;
  } catch {
    sites = undefined;
  } finally {
    Error.prepareStackTrace = saved;
  }
  const frames: Frame[] = [];
  if (Array.isArray(sites)) {
    for (const site of sites as CallSiteLike[]) {
      const frame = toFrame(site);
      if (frame && !isInternalFile(frame.file)) frames.push(frame);
      if (frames.length >= FRAMES_KEPT) break;
    }
  }
  framesCache.set(raw, frames);
  return frames;
}

/** The first frame outside Node internals and asyncmon: where the thing was made. */
export function stackSite(raw: RawStack | null | undefined): Site | null {
  const frames = stackFrames(raw);
  return frames.length > 0 ? frames[0] : null;
}

function toFrame(site: CallSiteLike): Frame | null {
  try {
    let file = site.getFileName() ?? '';
    if (!file) return null;
    if (file.startsWith('file://')) file = fileURLToPath(file);
    let fn = site.getFunctionName() ?? '';
    if (!fn) {
      const method = site.getMethodName();
      if (method) fn = `${site.getTypeName() ?? '<anonymous>'}.${method}`;
    } else if (site.isConstructor()) fn = `new ${fn}`;
    if (fn && site.isAsync?.()) fn = `async ${fn}`;
    return { fn, file, line: site.getLineNumber() ?? 0, column: site.getColumnNumber() ?? 0 };
  } catch {
    return null;
  }
}

/** Node's own code and the agent's files are never a "site". */
export function isInternalFile(file: string): boolean {
  if (file.startsWith('node:') || file.startsWith('internal/') || !file.includes('/')) return true;
  for (const dir of OWN_DIRS) if (file.startsWith(dir)) return true;
  return false;
}
