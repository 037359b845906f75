// Peer for the benchmark: OpenTelemetry's AsyncLocalStorageContextManager (the default one
// in the Node SDK), registered as its README says. See otel-async-hooks.cjs.
'use strict';
const { context } = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
