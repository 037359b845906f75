/**
 * The preload: `node --require asyncmon/register app.js` or `node --import asyncmon/register
 * app.mjs`. Starts the agent with the levels from the environment. If it cannot run it says so
 * in one line on stderr and leaves the host alone; `ASYNCMON=0` turns it off.
 */
import { writeSync } from 'node:fs';
import { getAgent } from './agent.js';
import { readEnv } from './config.js';

function register(): void {
  try {
    const env = readEnv();
    if (!env.enabled) return;
    const agent = getAgent();
    if (env.level !== undefined || env.stacks !== undefined) agent.track(env.level ?? agent.level, env.stacks);
  } catch (err) {
    try {
      writeSync(2, `asyncmon: not started: ${err instanceof Error ? err.message : String(err)}\n`);
    } catch {}
  }
}

register();
