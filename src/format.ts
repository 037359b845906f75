import { DEFAULTS } from './defaults.js';
import { AsyncmonError } from './errors.js';
import { chainOf, libraryLabel } from './frames.js';
import type { Frame, HandleInfo, Site } from './model.js';

/**
 * `file:line:column` with the function name in front when there is one, and the library call
 * it was in before it: `hashSync (bcryptjs) < signup (app.js:14:9)`.
 */
export function formatSite(site: Site | Frame | null | undefined): string {
  if (!site || typeof site.file !== 'string') return '-';
  const where = `${shortenPath(site.file)}:${site.line}:${site.column}`;
  const own = site.fn ? `${site.fn} (${where})` : where;
  const via = (site as Site).via;
  return via && typeof via.lib === 'string' ? `${libraryLabel(String(via.fn ?? ''), via.lib)} < ${own}` : own;
}

/**
 * The callback of a timer or immediate; when it is a library's (a `node-cron` heartbeat), the
 * user's line that set the library up, or what would name it:
 * `heartBeat (node-cron) < main (app.js:5:3)`.
 */
export function formatCallback(h: Pick<HandleInfo, 'callback' | 'createdAt' | 'createdNote'>): string {
  const cb = h.callback;
  if (!cb || typeof cb.lib !== 'string') return formatSite(cb);
  const label = libraryLabel(cb.fn, cb.lib);
  if (h.createdAt) {
    const made: Site = { ...h.createdAt };
    if (made.via?.lib === cb.lib) delete made.via;
    return `${label} < ${formatSite(made)}`;
  }
  return h.createdNote ? `${label} < ? (${h.createdNote})` : formatSite(cb);
}

/**
 * A stack as one headline for blocked loops (`health`, `check`, `stats`, the TUI): what runs,
 * up to the user's frame that led to it, `hashSync (bcryptjs) < signup (app.js:14:9)`.
 */
export function formatChain(frames: Frame[] | null | undefined, max = 3): string {
  return Array.isArray(frames) ? chainOf(frames, max, formatSite) : '';
}

/** A frame as Node prints it in a stack trace. */
export function formatFrame(frame: Frame): string {
  if (!frame || typeof frame.file !== 'string') return '    at ?';
  const where = `${frame.file}:${frame.line}:${frame.column}`;
  return frame.fn ? `    at ${frame.fn} (${where})` : `    at ${where}`;
}

/** Paths relative to the working directory read better in an 80-column table. */
export function shortenPath(file: string, cwd = typeof process === 'undefined' ? '' : process.cwd()): string {
  let out = file.startsWith('file://') ? decodeURIComponent(file.slice(7)) : file;
  if (cwd && out.startsWith(cwd + '/')) out = out.slice(cwd.length + 1);
  return out;
}

/** `850ms`, `2.3s`, `4m05s`, `3h12m`: short ages for tables. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 999.5) return `${Math.round(ms)}ms`;
  if (ms < 59_950) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.max(60, Math.floor(ms / 1000));
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * How long an ended task took, as history shows it. Incoming requests are timed by the clock
 * the agent's worker ticks every 50 ms (agent/host/coarse-clock.ts): under a tick it says
 * `<50ms`, not a number it cannot know.
 */
export function formatTook(e: { kind: string; durationMs: number }): string {
  return e.kind === 'http-server' && e.durationMs < DEFAULTS.clockMs ? `<${DEFAULTS.clockMs}ms` : formatDuration(e.durationMs);
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses `500ms`, `30s`, `2m`, `1h` or a bare number of milliseconds. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) throw new AsyncmonError('BAD_ARGUMENT', `bad duration "${text}": use e.g. 500ms, 30s, 2m`);
  return Number(m[1]) * UNITS[m[2] ?? 'ms'];
}

/** `12.3 MB` style sizes. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
