import { AsyncmonError } from './errors.js';

/**
 * Trace ids as tracing backends show them (W3C trace context: 32 lowercase hex digits, span
 * ids 16), for `ps --trace` and for incoming requests that carry a `traceparent` header.
 */

/** The shortest prefix `ps --trace` takes: shorter ones would match traces by chance. */
export const TRACE_PREFIX_MIN = 8;

/** A `--trace` value checked and normalised (lowercase), or a one-line BAD_ARGUMENT. */
export function traceFilter(text: string): string {
  const t = text.trim().toLowerCase();
  if (!/^[0-9a-f]+$/.test(t) || t.length < TRACE_PREFIX_MIN || t.length > 32) {
    throw new AsyncmonError('BAD_ARGUMENT', `bad trace "${text.slice(0, 40)}": the trace id your tracing backend shows (32 hex digits), or its first ${TRACE_PREFIX_MIN} or more`);
  }
  return t;
}

/** Whether a task's trace id is the one `filter` (from `traceFilter`) names. */
export function traceMatches(traceId: string | undefined, filter: string): boolean {
  return traceId !== undefined && traceId.toLowerCase().startsWith(filter);
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})/;

/**
 * The trace id and the caller's span id in a W3C `traceparent` header
 * (`00-<trace>-<parent span>-<flags>`), or null: version ff and all-zero ids are invalid.
 */
export function parseTraceparent(header: unknown): { traceId: string; parentSpanId: string } | null {
  if (typeof header !== 'string' || header.length > 512) return null;
  const m = TRACEPARENT.exec(header.trim().toLowerCase());
  if (!m || m[1] === 'ff' || /^0+$/.test(m[2]) || /^0+$/.test(m[3])) return null;
  // Version 00 has exactly four fields; later versions may append more after a dash.
  if (m[1] === '00' && header.trim().length !== 55) return null;
  return { traceId: m[2], parentSpanId: m[3] };
}

/**
 * The trace id of a `traceparent` header among raw headers (name, value, name, value…), or
 * null. Read from `rawHeaders`, which the parser has built already: `headers` would build an
 * object per request. Names are compared by length first, so most cost one number check.
 */
export function traceparentOf(raw: unknown): string | null {
  if (!Array.isArray(raw)) return null;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as unknown;
    if (typeof name === 'string' && name.length === 11 && name.toLowerCase() === 'traceparent') return parseTraceparent(raw[i + 1])?.traceId ?? null;
  }
  return null;
}
