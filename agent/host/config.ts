// Host room (the app's main thread): the settings the preload reads from the environment.
import { ENV } from '../../src/defaults.js';
import { parseLevel, parseStacks } from '../../src/levels.js';
import type { Level, StacksMode } from '../../src/model.js';

/** What the environment asks of the agent at start. */
export interface EnvConfig {
  enabled: boolean;
  level?: Level;
  stacks?: StacksMode;
}

/** Reads `ASYNCMON`, `ASYNCMON_TRACK` and `ASYNCMON_STACKS`; throws a one-line error on bad values. */
export function readEnv(env: NodeJS.ProcessEnv = process.env): EnvConfig {
  const out: EnvConfig = { enabled: env[ENV.enabled] !== '0' && env[ENV.enabled] !== 'false' };
  const level = env[ENV.track];
  if (level) out.level = parseLevel(level);
  const stacks = env[ENV.stacks];
  if (stacks) out.stacks = parseStacks(stacks);
  return out;
}
