import { AsyncmonError } from './errors.js';
import type { Frame, Site } from './model.js';

/** `file:line:column` with the function name in front when there is one. */
export function formatSite(site: Site | Frame | null | undefined): string {
  if (!site || typeof site.file !== 'string') return '-';
  const where = `${shortenPath(site.file)}:${site.line}:${site.column}`;
  return site.fn ? `${site.fn} (${where})` : where;
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
