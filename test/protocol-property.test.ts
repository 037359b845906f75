/**
 * Properties of the wire's parsing layer, in-process with fast-check: the line decoder never
 * buffers more than its limit and does not care how input is chunked; parseRequest and
 * checkArgs throw nothing but RequestError / AsyncmonError for any input; parseTextCommand
 * throws nothing but AsyncmonError.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COMMANDS, checkArgs, findCommand, parseTextCommand } from '../src/commands.js';
import { AsyncmonError } from '../src/errors.js';
import { LineDecoder } from '../src/line-decoder.js';
import { RequestError, parseRequest } from '../src/protocol.js';

/** Bytes biased towards line endings, so lines are short and endings meet chunk edges. */
const byteArb = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 255 }) }, { weight: 1, arbitrary: fc.constantFrom(0x0a, 0x0d) });
const bytesArb = (max: number) => fc.array(byteArb, { maxLength: max }).map((a) => Buffer.from(a));

/** Splits `buf` at the given cut points. */
function chunk(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    out.push(buf.subarray(from, p));
    from = p;
  }
  out.push(buf.subarray(from));
  return out;
}

/** Reference splitter: LF, CRLF or lone CR end a line; returns complete lines and the rest. */
function reference(buf: Buffer): { lines: string[]; longest: number } {
  const lines: string[] = [];
  let start = 0;
  let longest = 0;
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] === 0x0a || buf[i] === 0x0d) {
      lines.push(buf.subarray(start, i).toString('utf8'));
      longest = Math.max(longest, i - start);
      if (buf[i] === 0x0d && buf[i + 1] === 0x0a) i++;
      start = i + 1;
    }
  }
  longest = Math.max(longest, buf.length - start);
  return { lines, longest };
}

describe('LineDecoder', () => {
  it('never buffers more than maxLine bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.array(bytesArb(200), { maxLength: 20 }), (maxLine, chunks) => {
        const d = new LineDecoder(maxLine);
        for (const c of chunks) {
          d.push(c);
          expect(d.buffered).toBeLessThanOrEqual(maxLine);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('any chunking gives the same lines as feeding the input whole (no overflow)', () => {
    fc.assert(
      fc.property(bytesArb(300), fc.array(fc.nat(), { maxLength: 30 }), (input, cuts) => {
        const ref = reference(input);
        const maxLine = Math.max(1, ref.longest);
        const whole = new LineDecoder(maxLine).push(input);
        const d = new LineDecoder(maxLine);
        const pieces = chunk(input, cuts).flatMap((c) => d.push(c));
        expect(whole).toEqual(ref.lines);
        expect(pieces).toEqual(ref.lines);
        expect(d.overflowed).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it('one byte at a time gives the same lines as the whole input', () => {
    fc.assert(
      fc.property(bytesArb(200), (input) => {
        const maxLine = Math.max(1, reference(input).longest);
        const d = new LineDecoder(maxLine);
        const lines: string[] = [];
        for (let i = 0; i < input.length; i++) lines.push(...d.push(input.subarray(i, i + 1)));
        expect(lines).toEqual(new LineDecoder(maxLine).push(input));
      }),
      { numRuns: 500 },
    );
  });

  it('a line longer than maxLine overflows, however it is chunked', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 50 }), fc.array(fc.nat(), { maxLength: 10 }), (maxLine, extra, cuts) => {
        const input = Buffer.alloc(maxLine + extra, 'a');
        const d = new LineDecoder(maxLine);
        const lines = chunk(input, cuts).flatMap((c) => d.push(c));
        expect(lines).toEqual([]);
        expect(d.overflowed).toBe(true);
        expect(d.buffered).toBe(0);
      }),
    );
  });
});

/** Only RequestError or AsyncmonError may come out of `fn`. */
function onlyOurErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (err instanceof RequestError) {
      expect(err.cause).toBeInstanceOf(AsyncmonError);
      return;
    }
    if (err instanceof AsyncmonError) return;
    throw new Error(`unexpected ${String(err)}`, { cause: err });
  }
}

const specs = COMMANDS;
const specArb = fc.constantFrom(...specs);
const argNameArb = fc.oneof(fc.constantFrom(...new Set(specs.flatMap((s) => s.args.map((a) => a.name)))), fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'), fc.string());

describe('parseRequest and checkArgs', () => {
  it('any string: parseRequest throws only RequestError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.json()), (line) => onlyOurErrors(() => parseRequest(line))),
      { numRuns: 2000 },
    );
  });

  it('any JSON value as a request, then the dispatcher steps: only RequestError / AsyncmonError', () => {
    const reqArb = fc.oneof(
      fc.jsonValue(),
      fc.record(
        {
          id: fc.oneof(fc.integer(), fc.string(), fc.jsonValue()),
          cmd: fc.oneof(fc.constantFrom(...specs.map((s) => s.name), ...specs.flatMap((s) => s.aliases)), fc.string(), fc.jsonValue()),
          args: fc.oneof(fc.jsonValue(), fc.dictionary(argNameArb, fc.jsonValue())),
        },
        { requiredKeys: [] },
      ),
    );
    fc.assert(
      fc.property(reqArb, (value) =>
        onlyOurErrors(() => {
          const req = parseRequest(JSON.stringify(value) ?? 'undefined');
          const spec = findCommand(req.cmd, 'json');
          checkArgs(spec, req.args);
        }),
      ),
      { numRuns: 2000 },
    );
  });

  it('checkArgs: any value for any command throws only AsyncmonError, and what it returns is well typed', () => {
    const rawArb = fc.oneof(fc.anything(), fc.dictionary(argNameArb, fc.anything()), fc.jsonValue());
    fc.assert(
      fc.property(specArb, rawArb, (spec, raw) =>
        onlyOurErrors(() => {
          const args = checkArgs(spec, raw);
          expect(Object.getPrototypeOf(args)).toBe(null);
          for (const [k, v] of Object.entries(args)) {
            const arg = spec.args.find((a) => a.name === k);
            expect(arg).toBeDefined();
            if (arg!.type === 'int') expect(Number.isSafeInteger(v) && (v as number) >= 0).toBe(true);
            else expect(typeof v).toBe('string');
          }
        }),
      ),
      { numRuns: 2000 },
    );
  });

  it('__proto__ and constructor keys are refused by every command', () => {
    for (const spec of specs) {
      for (const line of ['{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}']) {
        expect(() => checkArgs(spec, JSON.parse(line)), `${spec.name} ${line}`).toThrow(AsyncmonError);
      }
    }
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe('parseTextCommand', () => {
  it('any line throws only AsyncmonError', () => {
    const wordArb = fc.oneof(fc.constantFrom(...specs.map((s) => s.name), ...specs.flatMap((s) => s.aliases)), fc.string(), fc.constantFrom('"', '\\', '"a b"', '""', '\\"', '-1', '1.5', '99999999999999999999'));
    const lineArb = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.array(wordArb, { maxLength: 6 }).map((w) => w.join(' ')));
    fc.assert(
      fc.property(lineArb, (line) =>
        onlyOurErrors(() => {
          const { spec, args } = parseTextCommand(line);
          expect(spec).toBeDefined();
          expect(typeof args).toBe('object');
        }),
      ),
      { numRuns: 3000 },
    );
  });
});
