import type { Frame, Site } from './model.js';

/**
 * Whose code a frame is: the user's own, or a library's (a file under `node_modules`). Node's
 * internals and asyncmon's own frames never get this far: the agent drops them when it reads a
 * stack. One place decides, so every site (tasks, promises, resources, handles, blocked loops,
 * check lines) names the same line.
 */

const NODE_MODULES = '/node_modules/';

/**
 * The package a file belongs to when it sits under `node_modules` (the innermost one, so a
 * nested dependency is named, not its parent), scoped names included: `bcryptjs`,
 * `@scope/pkg`. `null` for the user's own files.
 */
export function libraryOf(file: string): string | null {
  if (typeof file !== 'string' || !file.includes('node_modules')) return null;
  const normal = file.replace(/\\/g, '/');
  const at = normal.lastIndexOf(NODE_MODULES);
  if (at < 0) return normal.startsWith('node_modules/') ? firstPackage(normal.slice('node_modules/'.length)) : null;
  return firstPackage(normal.slice(at + NODE_MODULES.length));
}

function firstPackage(rest: string): string | null {
  const parts = rest.split('/');
  const name = parts[0]?.startsWith('@') && parts[1] ? `${parts[0]}/${parts[1]}` : parts[0];
  return name ? name : null;
}

/** The frame with its package name set when it is a library's (what the agent sends). */
export function withLibrary<T extends Frame>(frame: T): T {
  const lib = libraryOf(frame.file);
  if (lib) frame.lib = lib;
  return frame;
}

/** Whether a frame is the user's own code (not under `node_modules`). */
export function isUserFrame(frame: Frame): boolean {
  return libraryOf(frame.file) === null;
}

/**
 * Runs of frames of one library, collapsed to the outermost frame of each run: the function
 * of the library that the code below it called (`hashSync`, not bcrypt's inner `_crypt`).
 */
export function collapseLibraries(frames: Frame[]): Frame[] {
  const out: Frame[] = [];
  let runLib: string | null = null;
  for (const frame of frames) {
    const lib = libraryOf(frame.file);
    if (lib !== null && lib === runLib) out[out.length - 1] = frame;
    else out.push(frame);
    runLib = lib;
  }
  return out;
}

/**
 * The site of a stack (frames innermost first): its first user frame, with the library call it
 * was in when that is what ran above it (`via`); else the first library frame; else null.
 */
export function siteOf(frames: Frame[]): Site | null {
  const entries = collapseLibraries(frames);
  const at = entries.findIndex(isUserFrame);
  if (at < 0) return entries.length > 0 ? plain(entries[0]) : null;
  const site: Site = plain(entries[at]);
  const above = at > 0 ? entries[at - 1] : null;
  const lib = above ? libraryOf(above.file) : null;
  if (above && lib) site.via = { fn: above.fn, lib };
  return site;
}

function plain(frame: Frame): Site {
  const site: Site = { fn: frame.fn, file: frame.file, line: frame.line, column: frame.column };
  const lib = libraryOf(frame.file);
  if (lib) site.lib = lib;
  return site;
}

/** A library frame in a chain: `hashSync (bcryptjs)`; the file and line are in the full stack. */
export function libraryLabel(fn: string, lib: string): string {
  return `${fn || '<anonymous>'} (${lib})`;
}

/**
 * A stack (innermost first) as one headline: what runs, then the user's frame that led to it,
 * `hashSync (bcryptjs) < signup (app.js:14:9)`. Runs of one library count once. Shows at least
 * `max` entries when there are as many, and always reaches the first user frame.
 */
export function chainOf(frames: Frame[], max: number, format: (site: Site) => string): string {
  const entries = collapseLibraries(frames);
  if (entries.length === 0) return '';
  const user = entries.findIndex(isUserFrame);
  let shown = entries.slice(0, Math.max(1, max));
  if (user >= shown.length) shown = [entries[0], entries[user]];
  return shown
    .map((f) => {
      const lib = libraryOf(f.file);
      return lib ? libraryLabel(f.fn, lib) : format(f);
    })
    .join(' < ');
}
