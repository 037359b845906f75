// Peer for the benchmark: OpenTelemetry's AsyncHooksContextManager, registered as its README
// says (a global context manager, enabled at start-up). Loaded with --require before the app.
// BENCH_OTEL tells the measured programs to run their work inside context.with(), as
// OpenTelemetry's HTTP instrumentation does for every request.
'use strict';
const { context } = require('@opentelemetry/api');
const { AsyncHooksContextManager } = require('@opentelemetry/context-async-hooks');

context.setGlobalContextManager(new AsyncHooksContextManager().enable());
