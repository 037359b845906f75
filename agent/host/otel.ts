// Host room (the app's main thread): the active OpenTelemetry span, when the app has one.
import type * as OtelModule from '@opentelemetry/api';

/**
 * The active OpenTelemetry span's ids, when the app uses OpenTelemetry. `@opentelemetry/api`
 * keeps its registry on a global symbol, so our copy sees the app's context manager; we only
 * load it once the app has registered something there.
 */
export const OTEL_GLOBAL = Symbol.for('opentelemetry.js.api.1');

type OtelApi = typeof OtelModule;
let api: OtelApi | null | undefined;

/** What asyncmon uses of a span: whether it still records, and adding an event. */
export interface SpanLike {
  isRecording(): boolean;
  addEvent(name: string, attributes?: Record<string, string | number | boolean>): unknown;
}

/** The app's registered OpenTelemetry globals (`trace`, `context`, `metrics`…), or undefined. */
export function otelGlobal(): Record<string, unknown> | undefined {
  return (globalThis as Record<symbol, Record<string, unknown> | undefined>)[OTEL_GLOBAL];
}

function loadApi(): OtelApi | null {
  if (api === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      api = require('@opentelemetry/api') as OtelApi;
    } catch {
      api = null;
    }
  }
  return api;
}

export function activeSpanIds(): { traceId?: string; spanId?: string } {
  try {
    if (!otelGlobal()) return {};
    const a = loadApi();
    const ctx = a?.trace.getSpan(a.context.active())?.spanContext();
    if (!ctx || !a?.isSpanContextValid(ctx)) return {};
    return { traceId: ctx.traceId, spanId: ctx.spanId };
  } catch {
    return {};
  }
}

/** The active span with its ids (for span events), or only the ids when there is none. */
export function activeSpan(): { traceId?: string; spanId?: string; span?: SpanLike } {
  try {
    if (!otelGlobal()) return {};
    const a = loadApi();
    const span = a?.trace.getSpan(a.context.active());
    const ctx = span?.spanContext();
    if (!span || !ctx || !a?.isSpanContextValid(ctx)) return {};
    return { traceId: ctx.traceId, spanId: ctx.spanId, span };
  } catch {
    return {};
  }
}

/** Adds an event to `span` if it still records; never throws (the span is the app's). */
export function spanEvent(span: SpanLike | null | undefined, name: string, attributes: Record<string, string | number | boolean>): boolean {
  try {
    if (!span || !span.isRecording()) return false;
    span.addEvent(name, attributes);
    return true;
  } catch {
    return false;
  }
}
