// For the OpenTelemetry peers (BENCH_OTEL=1): run a unit of work inside context.with() with a
// fresh context value, as OpenTelemetry's HTTP instrumentation does around every request
// handler. Without BENCH_OTEL the work runs as is, so the other settings measure the same app.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const KEY = Symbol.for('asyncmon.bench.request');

/** `(fn, value) => fn()` run inside an OpenTelemetry context carrying `value`, or plainly. */
export const withContext = (() => {
  if (!process.env.BENCH_OTEL) return (fn) => fn();
  const { context, createContextKey } = require('@opentelemetry/api');
  const key = createContextKey(KEY.description);
  return (fn, value) => context.with(context.active().setValue(key, value), fn);
})();
