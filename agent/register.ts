/**
 * The preload: `node --require asyncmon/register app.js` or `node --import asyncmon/register
 * app.mjs`. Starts the agent and its server with the settings from the environment. If it
 * cannot run it says so in one line on stderr and leaves the host alone; `ASYNCMON=0` turns
 * it off. In worker threads (which inherit preloads) it does nothing: one agent per process.
 */
import { isMainThread } from 'node:worker_threads';
import { getAgent } from './host/agent.js';
import { readEnv } from './host/config.js';
// Publishes to the app's MeterProvider once it registers one (ASYNCMON_OTEL=0: never).
import './host/metrics.js';
import { startInBackground, warn } from './host/monitor.js';
import { runOwn } from './host/own-scope.js';

function register(): void {
  try {
    // Worker threads inherit the preload; one agent per process, on its main thread.
    if (!isMainThread) return;
    const env = readEnv();
    if (!env.enabled) return;
    const agent = getAgent();
    if (env.level !== undefined || env.stacks !== undefined) agent.track(env.level ?? agent.level, env.stacks);
    runOwn(() =>
      startInBackground().then(
        () => undefined,
        (err: unknown) => warn(`not started: ${err instanceof Error ? err.message : String(err)}; the program runs on without it`),
      ),
    );
  } catch (err) {
    warn(`not started: ${err instanceof Error ? err.message : String(err)}`);
  }
}

register();
