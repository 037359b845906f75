// The instruction bench's stretch of the agent's periods (agent/host/clock-scale.ts): a global
// set before the agent loads, bounded, and 1 in every other process.
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { expect, test } from 'vitest';
import { DIST } from './helpers/child.js';

const MODULE = resolve(DIST, 'agent', 'host', 'clock-scale.js');

/** `period(10)` in a fresh process where the global was set to `value` (not set when undefined). */
function periodOf10(value?: string): number {
  const set = value === undefined ? '' : `globalThis[Symbol.for('asyncmon.bench.clockScale')] = ${value};`;
  const out = execFileSync(process.execPath, ['-e', `${set} console.log(require(${JSON.stringify(MODULE)}).period(10))`], { encoding: 'utf8', timeout: 10_000 });
  return Number(out.trim());
}

test('periods are the defaults unless the bench stretches them', () => {
  expect(periodOf10()).toBe(10);
  expect(periodOf10('50')).toBe(500);
});

test('a stretch that is not a number from 1 to 1000 is ignored', () => {
  for (const bad of ['0.5', '5000', '"50"', 'NaN', '-3', '{}']) expect(periodOf10(bad)).toBe(10);
});
