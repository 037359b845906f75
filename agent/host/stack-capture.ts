// Host room (the app's main thread): creation stacks, captured unformatted and turned into
// frames when shown.
import { writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULTS } from '../../src/defaults.js';
import { isUserFrame, siteOf, withLibrary } from '../../src/frames.js';
import type { Frame, Site } from '../../src/model.js';
import { sourceMaps } from './source-maps.js';

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
// them by file name, so capture more than we keep. Library code (a driver, a framework) can
// put a dozen frames above the user's line: the capture reaches that deep, bounded, so the
// user's frame is kept even when it lies beyond FRAMES_KEPT.
const CAPTURE_LIMIT = DEFAULTS.stackCaptureFrames;

function keepFrames(_err: unknown, sites: CallSiteLike[]): CallSiteLike[] {
  return sites;
}

const FROZEN_MESSAGE = "Error.stackTraceLimit cannot be set in this process (node --frozen-intrinsics): creation stacks keep V8's default depth";

/**
 * Set once it turns out that this process does not let the agent set `Error.stackTraceLimit`
 * or `Error.prepareStackTrace` (`node --frozen-intrinsics` freezes `Error`, after the preload
 * has run, so it is found on first use). Stacks are then captured at V8's default depth and
 * read from their text: fewer frames, said once, never a fault.
 */
let frozen = false;

function frozenNow(): void {
  if (frozen) return;
  frozen = true;
  try {
    writeSync(2, `asyncmon: ${FROZEN_MESSAGE}\n`);
  } catch {}
}

/** Whether `Error` turned out frozen (see `frozenNow`). */
export function errorIsFrozen(): boolean {
  return frozen;
}

/** `    at fn (file:line:col)` or `    at file:line:col`, as V8 writes a frame. */
const FRAME_LINE = /^\s*at (?:(async )?(.*?) \()?(.+?):(\d+):(\d+)\)?$/;

/** The frames of a stack's text, for when its call sites cannot be had (FROZEN_ERROR). */
function framesFromText(text: unknown): Frame[] {
  if (typeof text !== 'string') return [];
  const out: Frame[] = [];
  for (const line of text.split('\n')) {
    const m = FRAME_LINE.exec(line);
    if (!m) continue;
    let file = m[3];
    if (file.startsWith('file://')) {
      try {
        file = fileURLToPath(file);
      } catch {}
    }
    out.push({ fn: m[2] ? `${m[1] ?? ''}${m[2]}` : '', file, line: Number(m[4]), column: Number(m[5]) });
  }
  return out;
}

/**
 * Captures the current stack without formatting it (about 2.5 µs). `Error.stackTraceLimit` is
 * global, so it is saved and restored around the capture. The hook's own frames and Node's are
 * dropped later by file name, when the stack is formatted.
 */
export function captureStack(): RawStack {
  const holder: RawStack = {};
  if (frozen) {
    Error.captureStackTrace(holder);
    return holder;
  }
  const saved = Error.stackTraceLimit;
  try {
    Error.stackTraceLimit = CAPTURE_LIMIT;
  } catch {
    frozenNow();
  }
  Error.captureStackTrace(holder);
  if (!frozen) Error.stackTraceLimit = saved;
  return holder;
}

const framesCache = new WeakMap<RawStack, Frame[]>();

/**
 * The frames of a captured stack with Node internals and the agent's own frames removed, at
 * the original source when the process has source maps.
 */
export function stackFrames(raw: RawStack | null | undefined): Frame[] {
  if (!raw) return [];
  const cached = framesCache.get(raw);
  if (cached) return cached;
  if (frozen) {
    const frames = framesFromText(raw.stack)
      .filter((f) => !isInternalFile(f.file))
      .slice(0, FRAMES_KEPT)
      .map(withLibrary);
    framesCache.set(raw, frames);
    return frames;
  }
  let sites: unknown;
  const saved = Error.prepareStackTrace;
  try {
    Error.prepareStackTrace = keepFrames as typeof Error.prepareStackTrace;
  } catch {
    frozenNow();
    return stackFrames(raw);
  }
  try {
    // V8 formats `.stack` lazily on first access, so the override decides what we get back.
    sites = raw.stack;
  } catch {
    sites = undefined;
  } finally {
    Error.prepareStackTrace = saved;
  }
  const frames: Frame[] = [];
  let user = false;
  if (Array.isArray(sites)) {
    for (const site of sites as CallSiteLike[]) {
      // Past the frames kept, only the first user frame is still wanted.
      if (frames.length >= FRAMES_KEPT && user) break;
      const frame = toFrame(site);
      if (!frame) continue;
      const mine = isUserFrame(frame);
      if (frames.length < FRAMES_KEPT || (mine && !user)) frames.push(frame);
      user ||= mine;
    }
  }
  framesCache.set(raw, frames);
  return frames;
}

/**
 * Where the thing was made: the first frame in the user's own code (outside Node internals,
 * asyncmon and `node_modules`), with the library call it was in; else the first library frame.
 */
export function stackSite(raw: RawStack | null | undefined): Site | null {
  return siteOf(stackFrames(raw));
}

function toFrame(site: CallSiteLike): Frame | null {
  try {
    const name = site.getFileName() ?? '';
    if (!name) return null;
    const at = { file: name.startsWith('file://') ? fileURLToPath(name) : name, line: site.getLineNumber() ?? 0, column: site.getColumnNumber() ?? 0 };
    // Node's and the agent's own frames are dropped (before a source map is asked for).
    if (isInternalFile(at.file)) return null;
    const pos = sourceMaps.map(name, at);
    let fn = site.getFunctionName() ?? '';
    if (!fn) {
      const method = site.getMethodName();
      if (method) fn = `${site.getTypeName() ?? '<anonymous>'}.${method}`;
    } else if (site.isConstructor()) fn = `new ${fn}`;
    if (fn && site.isAsync?.()) fn = `async ${fn}`;
    return withLibrary({ fn, file: pos.file, line: pos.line, column: pos.column });
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

/**
 * The function that made a stack, as `file:line:column` of that function's start (V8's
 * enclosing position of the first frame outside Node and asyncmon), or null: two awaits in one
 * async function share it, and so does the function's own outer promise. Read from the call
 * sites `stackFrames` has already had V8 make (the `stack` property keeps them).
 */
export function functionKey(raw: RawStack | null | undefined): string | null {
  if (!raw) return null;
  stackFrames(raw);
  const sites = raw.stack;
  if (!Array.isArray(sites)) return null;
  for (const site of sites as Array<CallSiteLike & { getEnclosingLineNumber?(): number | null; getEnclosingColumnNumber?(): number | null }>) {
    try {
      let file = site.getFileName() ?? '';
      if (file.startsWith('file://')) file = fileURLToPath(file);
      if (!file || isInternalFile(file)) continue;
      const line = site.getEnclosingLineNumber?.();
      const column = site.getEnclosingColumnNumber?.();
      return line ? `${file}:${line}:${column ?? 0}` : null;
    } catch {
      return null;
    }
  }
  return null;
}
