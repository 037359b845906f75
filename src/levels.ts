import { AsyncmonError } from './errors.js';
import type { Level, StacksMode } from './model.js';

/** Tracking levels: `tasks`, and `resources` or `promises` on top of it (not both). */
export const LEVELS: readonly Level[] = ['tasks', 'resources', 'promises'];

/** Parses a tracking level as typed by a person or read from the environment. */
export function parseLevel(text: string): Level {
  const value = text.trim().toLowerCase();
  if ((LEVELS as readonly string[]).includes(value)) return value as Level;
  throw new AsyncmonError('BAD_ARGUMENT', `unknown level "${text}": use one of ${LEVELS.join(', ')}`);
}

/**
 * Parses a stacks mode: `off`, `tasks` (only what runs inside a task), `on`, or a whole number
 * N ≥ 1 meaning one capture in N.
 */
export function parseStacks(text: string | number): StacksMode {
  if (typeof text === 'number') return checkSampling(text, String(text));
  const value = text.trim().toLowerCase();
  if (value === 'off' || value === '0' || value === 'false') return 'off';
  if (value === 'on' || value === '1' || value === 'true') return 'on';
  if (value === 'tasks') return 'tasks';
  if (/^\d+$/.test(value)) return checkSampling(Number(value), text);
  throw new AsyncmonError('BAD_ARGUMENT', `unknown stacks mode "${text}": use off, tasks, on, or a number N (1 in N)`);
}

function checkSampling(n: number, text: string): StacksMode {
  if (!Number.isInteger(n) || n < 0) {
    throw new AsyncmonError('BAD_ARGUMENT', `unknown stacks mode "${text}": use off, tasks, on, or a number N (1 in N)`);
  }
  if (n === 0) return 'off';
  if (n === 1) return 'on';
  return n;
}
