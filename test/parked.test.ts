/**
 * The pure analysis behind `where` (src/parked.ts), on hand-made promise graphs shaped as V8's
 * promise hooks report them: an async function's outer promise has no parent; an `await x`
 * or `x.then()` has parent x.
 */
import { describe, expect, it } from 'vitest';
import { libraryOf } from '../src/frames.js';
import { parkedAwait } from '../src/parked.js';
import type { PendingPromise } from '../src/parked.js';

const frame = (fn: string, file: string, line: number) => ({ fn, file, line, column: 1 });
const USER = '/app/src/handler.js';
const LIB = '/app/node_modules/router/lib/layer.js';

/** A pending promise made in function `fn` of `file` (its key is the function's start). */
function p(id: number, parentId: number, fn: string | null, file = USER, line = id): PendingPromise {
  return { id, parentId, fnKey: fn ? `${file}:${fn}` : null, frames: fn ? [frame(fn, file, line)] : null };
}

function run(own: PendingPromise[], others: PendingPromise[] = []) {
  const all = new Map([...own, ...others].map((x) => [x.id, x]));
  return parkedAwait(own, (id) => all.get(id));
}

describe('parkedAwait', () => {
  it('follows a framework’s .then on the handler down to the await inside the handler, and deeper', () => {
    const gate = p(1, 0, null);
    const handleOuter = p(2, 0, 'handle');
    const innerOuter = p(3, 0, 'inner');
    const innerAwait = p(4, 1, 'inner'); // await gate
    const handleAwait = p(5, 3, 'handle'); // await inner()
    const frameworkThen = p(6, 2, 'layer', LIB); // handle().then(noop, next)
    const r = run([handleOuter, innerOuter, innerAwait, handleAwait, frameworkThen], [gate])!;
    expect(r.chain.map((x) => x.id)).toEqual([6, 5, 4]);
    expect(r.at.id).toBe(4);
    expect(r.via).toEqual([]);
  });

  it('names the deepest await in the user’s code, and shows library awaits below it as via', () => {
    const socket = p(1, 0, null);
    const libOuter = p(2, 0, 'request', '/app/node_modules/axios/lib/core/Axios.js');
    const libAwait = p(3, 1, 'request', '/app/node_modules/axios/lib/core/Axios.js');
    const userAwait = p(4, 2, 'handle');
    const r = run([libOuter, libAwait, userAwait], [socket])!;
    expect(r.at.id).toBe(4);
    expect(r.via.map((x) => x.id)).toEqual([3]);
    expect(r.libraryOnly).toBe(false);
  });

  it('says library-only when no await of the chain is the user’s', () => {
    const r = run([p(2, 1, 'once', '/app/node_modules/ee/index.js')], [p(1, 0, null)])!;
    expect(r.libraryOnly).toBe(true);
    expect(r.at.id).toBe(2);
  });

  it('without stacks, keeps the newest reaction and cannot follow outer promises', () => {
    const r = run([p(2, 0, null), p(3, 1, null), p(4, 2, null)], [p(1, 0, null)])!;
    expect(r.at.id).toBe(4);
    expect(r.libraryOnly).toBe(false);
  });

  it('is null when the task has no pending await or then', () => {
    expect(run([p(1, 0, 'handle')])).toBeNull();
  });

  it('stops on a cycle instead of looping', () => {
    // Two functions each "suspended" at an await on the other's outer promise.
    const r = run([p(1, 0, 'a'), p(2, 0, 'b'), p(3, 2, 'a'), p(4, 1, 'b')])!;
    expect(r.chain.length).toBeLessThanOrEqual(3);
  });

  it('libraryOf names scoped and nested packages, and null for the user’s code', () => {
    expect(libraryOf('/app/node_modules/@fastify/busboy/lib/main.js')).toBe('@fastify/busboy');
    expect(libraryOf('/app/node_modules/a/node_modules/bcryptjs/dist/bcrypt.js')).toBe('bcryptjs');
    expect(libraryOf('/app/src/handler.js')).toBeNull();
  });
});
