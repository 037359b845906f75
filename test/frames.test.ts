// The pure frame functions of src/frames.ts and the formatters built on them: whose code a
// frame is, which frame is the site, and the one-line headline of a stack. No agent, no I/O.
import { describe, expect, it } from 'vitest';
import { formatCallback, formatChain, formatSite } from '../src/format.js';
import { collapseLibraries, libraryOf, siteOf } from '../src/frames.js';
import type { Frame } from '../src/model.js';

const APP = '/srv/app/app.js';
const BCRYPT = '/srv/app/node_modules/bcryptjs/index.js';
const f = (fn: string, file: string, line: number, column = 3): Frame => ({ fn, file, line, column });

describe('libraryOf', () => {
  it('names the innermost package under node_modules, scoped ones too', () => {
    expect(libraryOf(BCRYPT)).toBe('bcryptjs');
    expect(libraryOf('/a/node_modules/@scope/pkg/lib/x.js')).toBe('@scope/pkg');
    expect(libraryOf('/a/node_modules/express/node_modules/body-parser/index.js')).toBe('body-parser');
    expect(libraryOf('C:\\app\\node_modules\\pg\\lib\\client.js')).toBe('pg');
    expect(libraryOf(APP)).toBeNull();
    expect(libraryOf('/srv/my_node_modules_notes/x.js')).toBeNull();
  });
});

describe('siteOf', () => {
  const stack = [f('_crypt', BCRYPT, 900), f('_hash', BCRYPT, 700), f('hashSync', BCRYPT, 153), f('signup', APP, 14, 9), f('handle', APP, 30)];

  it('is the first user frame, with the library call it was in', () => {
    expect(siteOf(stack)).toEqual({ fn: 'signup', file: APP, line: 14, column: 9, via: { fn: 'hashSync', lib: 'bcryptjs' } });
    expect(formatSite(siteOf(stack))).toBe('hashSync (bcryptjs) < signup (/srv/app/app.js:14:9)');
  });

  it('is the first frame, as before, when that is the user’s', () => {
    expect(siteOf(stack.slice(3))).toEqual({ fn: 'signup', file: APP, line: 14, column: 9 });
  });

  it('falls back to the library frame when the stack has no user frame, and is null for none', () => {
    expect(siteOf(stack.slice(0, 3))).toMatchObject({ fn: 'hashSync', file: BCRYPT, lib: 'bcryptjs' });
    expect(siteOf([])).toBeNull();
  });

  it('collapses each run of one library to its outermost frame', () => {
    expect(collapseLibraries(stack).map((x) => x.fn)).toEqual(['hashSync', 'signup', 'handle']);
  });
});

describe('formatChain (the blocked-loop headline)', () => {
  it('goes from what runs to the user frame that led to it', () => {
    const stack = [f('_crypt', BCRYPT, 900), f('hashSync', BCRYPT, 153), f('signup', APP, 14, 9), f('handle', APP, 30)];
    expect(formatChain(stack, 1)).toBe('hashSync (bcryptjs) < signup (/srv/app/app.js:14:9)');
    expect(formatChain(stack, 3)).toBe('hashSync (bcryptjs) < signup (/srv/app/app.js:14:9) < handle (/srv/app/app.js:30:3)');
  });

  it('reaches the user frame past max when libraries sit between', () => {
    const stack = [f('a', BCRYPT, 1), f('b', '/x/node_modules/pg/i.js', 2), f('c', '/x/node_modules/express/r.js', 3), f('main', APP, 5)];
    expect(formatChain(stack, 2)).toBe('a (bcryptjs) < main (/srv/app/app.js:5:3)');
  });

  it('keeps the user’s own stack as before', () => {
    expect(formatChain([f('spin', APP, 26), f('handle', APP, 27)], 3)).toBe('spin (/srv/app/app.js:26:3) < handle (/srv/app/app.js:27:3)');
    expect(formatChain([], 3)).toBe('');
  });
});

describe('formatCallback', () => {
  const cron = { fn: 'heartBeat', file: '/x/node_modules/node-cron/dist/_shared.cjs', line: 312, column: 27, lib: 'node-cron' };

  it('names where the user set the library up, or what would', () => {
    expect(formatCallback({ callback: cron, createdAt: { fn: 'startJobs', file: APP, line: 25, column: 15, via: { fn: 'schedule', lib: 'node-cron' } } })).toBe('heartBeat (node-cron) < startJobs (/srv/app/app.js:25:15)');
    expect(formatCallback({ callback: cron, createdAt: null, createdNote: 'track resources on to name the line that set it up' })).toBe('heartBeat (node-cron) < ? (track resources on to name the line that set it up)');
  });

  it('is the plain site for the user’s own callbacks', () => {
    expect(formatCallback({ callback: f('tick', APP, 3) })).toBe('tick (/srv/app/app.js:3:3)');
  });
});
