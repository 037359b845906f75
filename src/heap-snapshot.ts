import { AsyncmonError } from './errors.js';
import { HeapGraph } from './heap-graph.js';
import type { HeapMeta } from './heap-graph.js';

/**
 * A streaming parser of a V8 heap snapshot, fed the text as the inspector sends it
 * (`HeapProfiler.addHeapSnapshotChunk`: chunks cut anywhere, even inside a number, a string or an
 * escape). One `JSON.parse` of a 25 MB snapshot would hold the text, a JS array of millions of
 * boxed numbers and the strings at once; here only the small `snapshot` header is parsed as JSON,
 * `nodes` and `edges` go straight into `Uint32Array`s sized from its counts, `strings` are decoded
 * as they stream, and the sections we never read (`trace_function_infos`, `trace_tree`,
 * `samples`, anything unknown) are skipped without being kept. `locations` (four numbers per
 * closure: where its function starts) is small and kept.
 *
 * The parser is a character-level state machine, so a chunk boundary is never a special case.
 * Malformed input is an `AsyncmonError('BAD_ARGUMENT')` naming the offset.
 */
export class HeapSnapshotParser {
  private state: State = State.Start;
  private key = '';
  private offset = 0;
  /** Characters fed so far (what the text weighs, for memory measurements). */
  get textLength(): number {
    return this.offset;
  }

  // The `snapshot` header, captured raw then parsed once it closes.
  private raw: string[] = [];
  private rawLength = 0;
  // A skipped or captured value: nesting depth and string state.
  private depth = 0;
  private inString = false;
  private escaped = false;
  private primitive = false;

  // Numeric arrays.
  private meta: HeapMeta | null = null;
  private nodeCount = 0;
  private edgeCount = 0;
  private nodes: Uint32Array | null = null;
  private edges: Uint32Array | null = null;
  private locations = new Uint32Array(64);
  private locationsLength = 0;
  private numTarget: 'nodes' | 'edges' | 'locations' = 'nodes';
  private numPos = 0;
  private num = 0;
  private inNum = false;
  private seen = new Set<string>();

  // Strings.
  private strings: string[] = [];
  private parts: string[] = [];
  private unicode = -1;
  private unicodeValue = 0;
  private expectValue = true;

  /** Feeds the next piece of the text. */
  push(chunk: string): this {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      switch (this.state) {
        case State.Start:
          i = this.skipSpace(chunk, i);
          if (i < n) {
            this.expectChar(chunk, i, 0x7b /* { */, 'the snapshot to start with {');
            this.state = State.Key;
            i++;
          }
          break;
        case State.Key: {
          i = this.skipSpace(chunk, i);
          if (i >= n) break;
          const c = chunk.charCodeAt(i);
          if (c === 0x7d /* } */ && this.key === '' && this.seen.size === 0) {
            this.state = State.Done;
            i++;
          } else {
            this.expectChar(chunk, i, 0x22 /* " */, 'a key');
            this.parts = [];
            this.state = State.KeyString;
            i++;
          }
          break;
        }
        case State.KeyString:
          i = this.readString(chunk, i);
          if (this.state === State.KeyString && this.unicode === -2) {
            this.unicode = -1;
            this.key = this.takeString();
            if (this.seen.has(this.key)) this.fail(`section "${this.key}" appears twice`);
            this.seen.add(this.key);
            this.state = State.Colon;
          }
          break;
        case State.Colon:
          i = this.skipSpace(chunk, i);
          if (i < n) {
            this.expectChar(chunk, i, 0x3a /* : */, `":" after "${this.key}"`);
            i++;
            this.state = State.Value;
          }
          break;
        case State.Value:
          i = this.skipSpace(chunk, i);
          if (i < n) i = this.startValue(chunk, i);
          break;
        case State.Raw:
        case State.Skip:
          i = this.scanValue(chunk, i);
          break;
        case State.Numbers:
          i = this.readNumbers(chunk, i);
          break;
        case State.Strings:
          i = this.readStrings(chunk, i);
          break;
        case State.AfterValue: {
          i = this.skipSpace(chunk, i);
          if (i >= n) break;
          const c = chunk.charCodeAt(i);
          if (c === 0x2c /* , */) this.state = State.Key;
          else if (c === 0x7d /* } */) this.state = State.Done;
          else this.fail(`expected "," or "}" after section "${this.key}"`, i);
          i++;
          break;
        }
        case State.Done:
          i = this.skipSpace(chunk, i);
          if (i < n) this.fail('text after the end of the snapshot', i);
          break;
      }
    }
    this.offset += n;
    return this;
  }

  /** Ends the text and returns the graph; throws if the text stopped early or is inconsistent. */
  end(): HeapGraph {
    if (this.state !== State.Done) this.fail('the snapshot ended early');
    const meta = this.meta;
    if (!meta || !this.nodes || !this.edges) this.fail('no "snapshot" header, "nodes" or "edges" section');
    if (!this.seen.has('nodes')) this.fail('no "nodes" section');
    if (!this.seen.has('edges')) this.fail('no "edges" section');
    if (!this.seen.has('strings')) this.fail('no "strings" section');
    const strings = this.strings;
    this.strings = [];
    return new HeapGraph(meta, this.nodes, this.edges, strings, this.locations.subarray(0, this.locationsLength));
  }

  private startValue(chunk: string, i: number): number {
    const c = chunk.charCodeAt(i);
    const key = this.key;
    if (key === 'snapshot') {
      this.beginScan(c);
      this.state = State.Raw;
      return i;
    }
    if (key === 'nodes' || key === 'edges' || key === 'locations') {
      if (c !== 0x5b /* [ */) this.fail(`"${key}" is not an array`, i);
      if (key !== 'locations') this.allocate(key);
      this.numTarget = key;
      this.numPos = 0;
      this.inNum = false;
      this.expectValue = true;
      this.state = State.Numbers;
      return i + 1;
    }
    if (key === 'strings') {
      if (c !== 0x5b) this.fail('"strings" is not an array', i);
      this.expectValue = true;
      this.state = State.Strings;
      return i + 1;
    }
    this.beginScan(c);
    this.state = State.Skip;
    return i;
  }

  private beginScan(c: number): void {
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    this.primitive = c !== 0x7b && c !== 0x5b && c !== 0x22;
  }

  /** Scans one JSON value (keeping it for the header), without interpreting it. */
  private scanValue(chunk: string, start: number): number {
    const n = chunk.length;
    let i = start;
    let done = false;
    for (; i < n; i++) {
      const c = chunk.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c /* \ */) this.escaped = true;
        else if (c === 0x22) {
          this.inString = false;
          if (this.depth === 0) {
            i++;
            done = true;
            break;
          }
        }
      } else if (this.primitive) {
        if (c === 0x2c || c === 0x7d || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
          done = true;
          break;
        }
      } else if (c === 0x22) this.inString = true;
      else if (c === 0x7b || c === 0x5b) this.depth++;
      else if (c === 0x7d || c === 0x5d) {
        this.depth--;
        if (this.depth < 0) this.fail('unbalanced brackets', i);
        if (this.depth === 0) {
          i++;
          done = true;
          break;
        }
      }
    }
    if (this.state === State.Raw) {
      this.raw.push(chunk.slice(start, i));
      this.rawLength += i - start;
      if (this.rawLength > MAX_HEADER) this.fail(`the "snapshot" header is over ${MAX_HEADER} characters`);
    }
    if (done) {
      if (this.state === State.Raw) this.parseHeader();
      this.state = State.AfterValue;
    }
    return i;
  }

  private parseHeader(): void {
    const text = this.raw.join('');
    this.raw = [];
    let header: unknown;
    try {
      header = JSON.parse(text);
    } catch (err) {
      this.fail(`the "snapshot" header is not JSON (${(err as Error).message})`);
    }
    const h = header as { meta?: Partial<HeapMeta>; node_count?: unknown; edge_count?: unknown };
    const m = h?.meta;
    const names = (x: unknown): x is string[] => Array.isArray(x) && x.length > 0 && x.every((s) => typeof s === 'string');
    if (!m || !names(m.node_fields) || !names(m.edge_fields) || !Array.isArray(m.node_types) || !Array.isArray(m.edge_types)) {
      this.fail('the "snapshot" header has no meta with node_fields, node_types, edge_fields and edge_types');
    }
    const count = (x: unknown, what: string): number => {
      if (typeof x !== 'number' || !Number.isInteger(x) || x < 0) this.fail(`the "snapshot" header has no ${what}`);
      return x;
    };
    this.nodeCount = count(h.node_count, 'node_count');
    this.edgeCount = count(h.edge_count, 'edge_count');
    this.meta = m as HeapMeta;
  }

  private allocate(key: 'nodes' | 'edges'): void {
    if (!this.meta) this.fail(`"${key}" comes before the "snapshot" header`);
    const size = key === 'nodes' ? this.nodeCount * this.meta.node_fields.length : this.edgeCount * this.meta.edge_fields.length;
    if (size > MAX_ARRAY) this.fail(`"${key}" would hold ${size} numbers, over ${MAX_ARRAY}`);
    this[key] = new Uint32Array(size);
  }

  /** Reads the numbers of `nodes`, `edges` or `locations` into their typed array. */
  private readNumbers(chunk: string, start: number): number {
    const n = chunk.length;
    let num = this.num;
    let inNum = this.inNum;
    let i = start;
    for (; i < n; i++) {
      const c = chunk.charCodeAt(i);
      if (c >= 0x30 && c <= 0x39) {
        if (!this.expectValue && !inNum) this.fail(`missing "," in "${this.numTarget}"`, i);
        num = num * 10 + (c - 0x30);
        if (num > 0xffffffff) this.fail(`a number in "${this.numTarget}" is over 2^32`, i);
        inNum = true;
        this.expectValue = false;
        continue;
      }
      if (inNum) {
        this.store(num, i);
        num = 0;
        inNum = false;
      }
      if (c === 0x2c) {
        if (this.expectValue) this.fail(`empty element in "${this.numTarget}"`, i);
        this.expectValue = true;
      } else if (c === 0x5d /* ] */) {
        if (this.expectValue && this.numPos > 0) this.fail(`trailing "," in "${this.numTarget}"`, i);
        this.finishNumbers(i);
        this.num = 0;
        this.inNum = false;
        return i + 1;
      } else if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) {
        this.fail(`unexpected ${JSON.stringify(chunk[i])} in "${this.numTarget}" (only unsigned integers are expected)`, i);
      }
    }
    this.num = num;
    this.inNum = inNum;
    return i;
  }

  private store(value: number, i: number): void {
    if (this.numTarget === 'locations') {
      if (this.locationsLength === this.locations.length) {
        const grown = new Uint32Array(this.locations.length * 2);
        grown.set(this.locations);
        this.locations = grown;
      }
      this.locations[this.locationsLength++] = value;
      return;
    }
    const arr = this[this.numTarget]!;
    if (this.numPos >= arr.length) this.fail(`"${this.numTarget}" holds more numbers than the header's counts say (${arr.length})`, i);
    arr[this.numPos++] = value;
  }

  private finishNumbers(i: number): void {
    this.state = State.AfterValue;
    if (this.numTarget === 'locations') return;
    const arr = this[this.numTarget]!;
    if (this.numPos !== arr.length) this.fail(`"${this.numTarget}" holds ${this.numPos} numbers, the header's counts say ${arr.length}`, i);
  }

  /** Reads the `strings` array, one decoded string at a time. */
  private readStrings(chunk: string, start: number): number {
    const n = chunk.length;
    let i = start;
    while (i < n) {
      if (this.inString) {
        i = this.readString(chunk, i);
        if (this.unicode === -2) {
          this.unicode = -1;
          this.inString = false;
          this.strings.push(this.takeString());
          this.expectValue = false;
        }
        continue;
      }
      const c = chunk.charCodeAt(i);
      if (c === 0x22) {
        if (!this.expectValue) this.fail('missing "," in "strings"', i);
        this.inString = true;
        this.parts = [];
      } else if (c === 0x2c) {
        if (this.expectValue) this.fail('empty element in "strings"', i);
        this.expectValue = true;
      } else if (c === 0x5d) {
        if (this.expectValue && this.strings.length > 0) this.fail('trailing "," in "strings"', i);
        this.state = State.AfterValue;
        return i + 1;
      } else if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) {
        this.fail(`unexpected ${JSON.stringify(chunk[i])} in "strings" (only strings are expected)`, i);
      }
      i++;
    }
    return i;
  }

  /**
   * Reads the body of a JSON string (after its opening quote) into `parts`; sets `unicode` to
   * -2 when the closing quote is read. Escapes may be cut by a chunk boundary anywhere: the
   * escape state (`escaped`, and `unicode` = hex digits read of a \uXXXX) carries over.
   * A surrogate pair arrives as two \u escapes, each one UTF-16 unit, so appending the units in
   * order rebuilds the pair exactly as JSON.parse does (lone surrogates included).
   */
  private readString(chunk: string, start: number): number {
    const n = chunk.length;
    let i = start;
    let run = i;
    while (i < n) {
      if (this.unicode >= 0) {
        const d = hexDigit(chunk.charCodeAt(i));
        if (d < 0) this.fail('bad \\u escape', i);
        this.unicodeValue = this.unicodeValue * 16 + d;
        i++;
        if (++this.unicode === 4) {
          this.parts.push(String.fromCharCode(this.unicodeValue));
          this.unicode = -1;
        }
        run = i;
        continue;
      }
      if (this.escaped) {
        const c = chunk.charCodeAt(i);
        this.escaped = false;
        i++;
        run = i;
        if (c === 0x75 /* u */) {
          this.unicode = 0;
          this.unicodeValue = 0;
          continue;
        }
        const s = ESCAPES[c];
        if (s === undefined) this.fail(`bad escape \\${String.fromCharCode(c)}`, i - 1);
        this.parts.push(s);
        continue;
      }
      const c = chunk.charCodeAt(i);
      if (c === 0x22 || c === 0x5c) {
        if (i > run) this.parts.push(chunk.slice(run, i));
        i++;
        if (c === 0x22) {
          this.unicode = -2;
          return i;
        }
        this.escaped = true;
        run = i;
        continue;
      }
      if (c < 0x20) this.fail('a control character inside a string', i);
      i++;
    }
    if (i > run) this.parts.push(chunk.slice(run, i));
    return i;
  }

  private takeString(): string {
    const s = this.parts.length === 1 ? this.parts[0] : this.parts.join('');
    this.parts = [];
    return s;
  }

  private skipSpace(chunk: string, i: number): number {
    const n = chunk.length;
    while (i < n) {
      const c = chunk.charCodeAt(i);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      i++;
    }
    return i;
  }

  private expectChar(chunk: string, i: number, code: number, what: string): void {
    if (chunk.charCodeAt(i) !== code) this.fail(`expected ${what}, found ${JSON.stringify(chunk[i])}`, i);
  }

  private fail(message: string, i?: number): never {
    const at = i === undefined ? this.offset : this.offset + i;
    throw new AsyncmonError('BAD_ARGUMENT', `heap snapshot: ${message} (at character ${at})`);
  }
}

/** Parses a whole snapshot text in one go (through the streaming parser): for tests and small inputs. */
export function parseHeapSnapshot(text: string): HeapGraph {
  return new HeapSnapshotParser().push(text).end();
}

const enum State {
  Start,
  Key,
  KeyString,
  Colon,
  Value,
  Raw,
  Skip,
  Numbers,
  Strings,
  AfterValue,
  Done,
}

/** The header is a few hundred bytes; anything near this is not a V8 snapshot. */
const MAX_HEADER = 1 << 20;
/** Typed arrays this long (4 GB) are more than V8 can hold. */
const MAX_ARRAY = 2 ** 30;

const ESCAPES: Record<number, string> = { 0x22: '"', 0x5c: '\\', 0x2f: '/', 0x62: '\b', 0x66: '\f', 0x6e: '\n', 0x72: '\r', 0x74: '\t' };

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}
