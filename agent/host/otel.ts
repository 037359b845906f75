// Host room (the app's main thread): the active OpenTelemetry span, when the app has one.
import type * as OtelModule from '@opentelemetry/api';

/**
 * The active OpenTelemetry span's ids, when the app uses OpenTelemetry. `@opentelemetry/api`
 * keeps its registry on a global symbol, so our copy sees the app's context manager; we only
 * load it once the app has registered something there.
 */
const OTEL_GLOBAL = Symbol.for('opentelemetry.js.api.1');

type OtelApi = typeof OtelModule;
let api: OtelApi | null | undefined;

export function activeSpanIds(): { traceId?: string; spanId?: string } {
  try {
    if (!(globalThis as Record<symbol, unknown>)[OTEL_GLOBAL]) return {};
    if (api === undefined) {
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        api = require('@opentelemetry/api') as OtelApi;
      } catch {
        api = null;
      }
    }
    const ctx = api?.trace.getSpan(api.context.active())?.spanContext();
    if (!ctx || !api?.isSpanContextValid(ctx)) return {};
    return { traceId: ctx.traceId, spanId: ctx.spanId };
  } catch {
    return {};
  }
}
