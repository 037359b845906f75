import { readFileSync } from 'node:fs';
import { afterEach, expect } from 'vitest';
import { track } from '../../agent/index.js';
import { AsyncmonError } from '../../src/errors.js';
import { waitUntil } from './child.js';

/** Helpers shared by the in-process tests of the agent core. */

/** Waits until `fn` finds something (polling, with a timeout) and returns what it found. */
export async function found<T>(fn: () => T | undefined | null | false, what: string): Promise<T> {
  return (await waitUntil(fn, 5000, what)) as T;
}

/** A promise and the function that resolves it: a gate a test opens when it is ready. */
export function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((r) => (open = r));
  return { promise, open };
}

/** Runs `fn`, expecting it to throw an `AsyncmonError`, and returns that error. */
export function thrown(fn: () => unknown): AsyncmonError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AsyncmonError);
    return err as AsyncmonError;
  }
  throw new Error('expected a throw');
}

/** The marked line of `file` (ending with `@mark:<name>`), 1-based, and its text. */
export function marked(file: string, name: string): { line: number; text: string } {
  const lines = readFileSync(file, 'utf8').split('\n');
  const i = lines.findIndex((l) => l.trimEnd().endsWith(`@mark:${name}`));
  if (i < 0) throw new Error(`no @mark:${name} in ${file}`);
  return { line: i + 1, text: lines[i] };
}

/** The 1-based line of `file` that ends with the marker comment `@mark:<name>`. */
export function markLine(file: string, name: string): number {
  return marked(file, name).line;
}

/**
 * Clean-ups a test registers (close a server, clear a timer), run after each test, then the
 * tracker back to its default level so tests never see each other's hooks.
 */
export function cleanupsAfterEach(): Array<() => void> {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const fn of cleanups.splice(0)) {
      try {
        fn();
      } catch {}
    }
    track('tasks', 'off');
  });
  return cleanups;
}
