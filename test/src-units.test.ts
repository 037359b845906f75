// The pure functions of src/: parsing what people type (levels, stacks modes, durations) and
// formatting what they read (durations, sites). No agent, no I/O.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { join } from 'node:path';
import { formatDuration, formatSite, formatTook, parseDuration } from '../src/format.js';
import { parseLevel, parseStacks } from '../src/levels.js';
import { thrown } from './helpers/in-process.js';

describe('parseLevel', () => {
  it('accepts the three levels, ignoring case and surrounding blanks', () => {
    expect(parseLevel('tasks')).toBe('tasks');
    expect(parseLevel('resources')).toBe('resources');
    expect(parseLevel('promises')).toBe('promises');
    expect(parseLevel('  Promises ')).toBe('promises');
    expect(parseLevel('RESOURCES')).toBe('resources');
  });

  it('rejects anything else with BAD_ARGUMENT naming the input and the valid levels', () => {
    for (const bad of ['', 'all', 'task', 'promises,tasks', '0']) {
      const err = thrown(() => parseLevel(bad));
      expect(err.code).toBe('BAD_ARGUMENT');
      expect(err.message).toContain(`"${bad}"`);
      expect(err.message).toContain('tasks, resources, promises');
    }
  });
});

describe('parseStacks', () => {
  it('reads off and on in their spellings', () => {
    for (const off of ['off', 'OFF', ' off ', '0', 'false']) expect(parseStacks(off)).toBe('off');
    for (const on of ['on', 'On', '1', 'true']) expect(parseStacks(on)).toBe('on');
    expect(parseStacks(0)).toBe('off');
    expect(parseStacks(1)).toBe('on');
  });

  it('reads a whole number N >= 2 as one capture in N, from text or a number', () => {
    expect(parseStacks('10')).toBe(10);
    expect(parseStacks(' 7 ')).toBe(7);
    expect(parseStacks(100)).toBe(100);
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 1_000_000 }), (n) => parseStacks(String(n)) === n && parseStacks(n) === n),
    );
  });

  it('rejects negative, fractional and unknown modes with BAD_ARGUMENT', () => {
    for (const bad of ['', 'sometimes', '-1', '1.5', '1e3', 'on!']) {
      const err = thrown(() => parseStacks(bad));
      expect(err.code).toBe('BAD_ARGUMENT');
      expect(err.message).toContain(`"${bad}"`);
    }
    for (const bad of [-1, 2.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(thrown(() => parseStacks(bad)).code).toBe('BAD_ARGUMENT');
    }
  });
});

describe('parseDuration', () => {
  it('reads ms, s, m and h, and a bare number as milliseconds', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('250')).toBe(250);
    expect(parseDuration(' 1.5s ')).toBe(1500);
    expect(parseDuration('10 s')).toBe(10_000);
    expect(parseDuration('0')).toBe(0);
  });

  it('agrees with the unit arithmetic for any whole amount', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), (n) => {
        expect(parseDuration(String(n))).toBe(n);
        expect(parseDuration(`${n}ms`)).toBe(n);
        expect(parseDuration(`${n}s`)).toBe(n * 1000);
        expect(parseDuration(`${n}m`)).toBe(n * 60_000);
      }),
    );
  });

  it('rejects what it cannot read with BAD_ARGUMENT quoting the input', () => {
    for (const bad of ['', 'abc', '5d', '-1s', '1e3', 's', '1 2s', '1.s']) {
      const err = thrown(() => parseDuration(bad));
      expect(err.code).toBe('BAD_ARGUMENT');
      expect(err.message).toContain(`"${bad}"`);
    }
  });
});

describe('formatDuration', () => {
  it('prints short ages: ms below a second, tenths of seconds below a minute, then m+s and h+m', () => {
    expect(formatDuration(0)).toBe('0ms');
    expect(formatDuration(850)).toBe('850ms');
    expect(formatDuration(12.4)).toBe('12ms');
    expect(formatDuration(1000)).toBe('1.0s');
    expect(formatDuration(2300)).toBe('2.3s');
    expect(formatDuration(60_000)).toBe('1m00s');
    expect(formatDuration(245_000)).toBe('4m05s');
    expect(formatDuration(3_599_999)).toBe('59m59s');
    expect(formatDuration(3_600_000)).toBe('1h00m');
    expect(formatDuration(3 * 3_600_000 + 12 * 60_000 + 59_000)).toBe('3h12m');
    expect(formatDuration(100 * 3_600_000)).toBe('100h00m');
  });

  it('history: an incoming request under one tick of its 50 ms clock is "<50ms"; tasks and calls to the ms', () => {
    expect(formatTook({ kind: 'http-server', durationMs: 0 })).toBe('<50ms');
    expect(formatTook({ kind: 'http-server', durationMs: 49.9 })).toBe('<50ms');
    expect(formatTook({ kind: 'http-server', durationMs: 50.2 })).toBe('50ms');
    expect(formatTook({ kind: 'http-server', durationMs: 1250 })).toBe('1.3s');
    expect(formatTook({ kind: 'http-client', durationMs: 8 })).toBe('8ms');
    expect(formatTook({ kind: 'task', durationMs: 0 })).toBe('0ms');
  });

  it('prints a dash for what is not an age', () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) expect(formatDuration(bad)).toBe('-');
  });

  it('round-trips through parseDuration within the precision it prints', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999 }), (ms) => parseDuration(formatDuration(ms)) === ms),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1000, max: 59_000 }), (ms) => Math.abs(parseDuration(formatDuration(ms)) - ms) <= 50),
    );
  });
});

describe('formatSite', () => {
  const cwd = process.cwd();

  it('prints a dash when there is no site', () => {
    expect(formatSite(null)).toBe('-');
    expect(formatSite(undefined)).toBe('-');
  });

  it('prints file:line:column, with the function name in front when there is one', () => {
    expect(formatSite({ fn: '', file: '/opt/app/server.js', line: 12, column: 7 })).toBe('/opt/app/server.js:12:7');
    expect(formatSite({ fn: 'handle', file: '/opt/app/server.js', line: 12, column: 7 })).toBe('handle (/opt/app/server.js:12:7)');
  });

  it('shortens paths under the working directory, and only those', () => {
    expect(formatSite({ fn: '', file: join(cwd, 'lib', 'a.js'), line: 1, column: 2 })).toBe('lib/a.js:1:2');
    // A sibling folder whose name merely starts with the working directory's name stays whole.
    expect(formatSite({ fn: '', file: `${cwd}-other/a.js`, line: 1, column: 2 })).toBe(`${cwd}-other/a.js:1:2`);
  });

  it('turns file:// URLs into paths', () => {
    expect(formatSite({ fn: 'f', file: 'file:///tmp/my%20app/a.mjs', line: 3, column: 4 })).toBe('f (/tmp/my app/a.mjs:3:4)');
    expect(formatSite({ fn: '', file: `file://${cwd}/b.mjs`, line: 5, column: 6 })).toBe('b.mjs:5:6');
  });
});

describe('truncateStart on sites', () => {
  it('cuts the path inside the parentheses and keeps the function and the line', async () => {
    const { truncateStart } = await import('../src/table.js');
    expect(truncateStart('runJob (demo/some/long/path/app.js:26:33)', 28)).toBe('runJob (…/path/app.js:26:33)');
    expect(truncateStart('runJob (demo/app.js:26:33)', 40)).toBe('runJob (demo/app.js:26:33)');
    expect(truncateStart('/very/long/path/without/function/file.js:1:2', 20)).toBe('…unction/file.js:1:2');
  });
});

describe('takeAwaits: the heap limit', () => {
  it('refuses a heap over the limit with BAD_ARGUMENT, before any snapshot is taken', async () => {
    const { takeAwaits } = await import('../src/awaits.js');
    const { DEFAULTS } = await import('../src/defaults.js');
    let taken = false;
    const take = async () => {
      taken = true;
      return { pauseMs: 0, at: new Map() };
    };
    const over = DEFAULTS.awaitsCliMaxHeapBytes + 1;
    const err = await takeAwaits(take, { limit: 10, heapUsedBytes: over, maxHeapBytes: DEFAULTS.awaitsCliMaxHeapBytes, tasks: async () => [] }).then(
      () => null,
      (e: { code: string; message: string }) => e,
    );
    expect(err?.code).toBe('BAD_ARGUMENT');
    expect(err?.message).toMatch(/^the host's heap is 512(\.0)? MB, over the 512(\.0)? MB awaits takes a snapshot of; ASYNCMON_AWAITS_MAX_HEAP_MB in the host's environment raises it$/);
    expect(taken).toBe(false);
  });
});
