/**
 * The streaming heap-snapshot parser (src/heap-snapshot.ts) and its graph (src/heap-graph.ts):
 * on hand-built snapshots split at every character, on malformed input, and on real snapshots of
 * Node 20, 22 and 24 compared with `JSON.parse` of the same text.
 */
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { AsyncmonError } from '../src/errors.js';
import { HeapSnapshotParser, parseHeapSnapshot } from '../src/heap-snapshot.js';
import type { HeapGraph } from '../src/heap-graph.js';
import { SnapshotBuilder } from './helpers/heap-builder.js';
import { nodeBinaries, snapshotOf } from './helpers/heap-child.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Parsed {
  snapshot: { meta: { node_fields: string[]; edge_fields: string[] }; node_count: number; edge_count: number };
  nodes: number[];
  edges: number[];
  strings: string[];
  locations: number[];
}

function feed(text: string, size: number): HeapGraph {
  const p = new HeapSnapshotParser();
  for (let i = 0; i < text.length; i += size) p.push(text.slice(i, i + size));
  return p.end();
}

/** Asserts the graph holds exactly what JSON.parse reads from the same text. */
function expectSame(g: HeapGraph, text: string): void {
  const j = JSON.parse(text) as Parsed;
  const nf = j.snapshot.meta.node_fields;
  const ef = j.snapshot.meta.edge_fields;
  expect(g.nodeCount).toBe(j.snapshot.node_count);
  expect(g.edgeCount).toBe(j.snapshot.edge_count);
  // Internal arrays, compared whole (fast), then through the API on every node and edge.
  const inner = g as unknown as { nodes: Uint32Array; edges: Uint32Array; strings: string[] };
  expect(inner.nodes.length).toBe(j.snapshot.node_count * nf.length);
  expect(inner.edges.length).toBe(j.snapshot.edge_count * ef.length);
  expect(Buffer.from(inner.nodes.buffer).equals(Buffer.from(Uint32Array.from(j.nodes).buffer))).toBe(true);
  expect(Buffer.from(inner.edges.buffer).equals(Buffer.from(Uint32Array.from(j.edges).buffer))).toBe(true);
  expect(inner.strings).toEqual(j.strings);
  const [ti, ni, ii, si] = ['type', 'name', 'id', 'self_size'].map((f) => nf.indexOf(f));
  const types = (j.snapshot.meta as unknown as { node_types: string[][] }).node_types[0];
  for (let k = 0; k < g.nodeCount; k += Math.max(1, Math.floor(g.nodeCount / 2000))) {
    const o = k * nf.length;
    expect([g.nodeType(k), g.nodeName(k), g.nodeId(k), g.selfSize(k)]).toEqual([types[j.nodes[o + ti]], j.strings[j.nodes[o + ni]], j.nodes[o + ii], j.nodes[o + si]]);
  }
}

function tricky(flavour: 'node20' | 'node24'): string {
  const b = new SnapshotBuilder(flavour);
  const root = b.node('synthetic', '');
  const names = ['', 'a"b', 'back\\slash', 'é and 😀', '\ud800 lone', 'line\nbreak\ttab\r\f\b', 'slash/', '\u0001\u001f', '\u2028\u2029', 'x'.repeat(300)];
  for (const n of names) b.edge(root, 'property', n, b.node('object', n, { selfSize: 4294967295 }));
  const c = b.node('closure', 'f');
  b.edge(root, 'element', 0, c).location(c, 7, 12, 3);
  // JSON.stringify escapes only what it must; V8 also writes \uXXXX and \/ escapes, so add some.
  return b.text().replace('"slash/"', '"slash\\/"').replace('"é and 😀"', '"\\u00e9 and \\ud83d\\ude00"').replace('"a\\"b"', '"\\u0061\\"b"');
}

describe('HeapSnapshotParser on hand-built snapshots', () => {
  for (const flavour of ['node20', 'node24'] as const) {
    it(`${flavour}: equals JSON.parse for a split at every character, and for chunks of 1, 7 and 4096`, () => {
      const text = tricky(flavour);
      expectSame(parseHeapSnapshot(text), text);
      for (const size of [1, 7, 4096]) expectSame(feed(text, size), text);
      for (let cut = 1; cut < text.length; cut++) {
        const g = new HeapSnapshotParser().push(text.slice(0, cut)).push(text.slice(cut)).end();
        expect(g.nodeCount).toBe(12);
        expect(g.nodeName(5)).toBe('\ud800 lone');
        expect(g.nodeName(4)).toBe('é and 😀');
      }
    });
  }

  it('exposes nodes, edges, retainers, ids and function starts', () => {
    const b = new SnapshotBuilder('node24');
    const root = b.node('synthetic', '(GC roots)');
    const obj = b.node('object', 'Pool', { selfSize: 40 });
    const arr = b.node('object', 'Array');
    const fn = b.node('closure', 'resolve');
    b.edge(root, 'element', 1, obj).edge(obj, 'property', '_queue', arr).edge(arr, 'element', 3, fn).edge(obj, 'internal', 'fn', fn);
    b.location(fn, 42, 9, 2);
    const g = parseHeapSnapshot(b.text());
    expect(g.nodeCount).toBe(4);
    expect([g.nodeType(obj), g.nodeName(obj), g.nodeId(obj), g.selfSize(obj)]).toEqual(['object', 'Pool', b.id(obj), 40]);
    expect(g.outgoing(obj)).toEqual([
      { type: 'property', name: '_queue', to: arr },
      { type: 'internal', name: 'fn', to: fn },
    ]);
    expect(g.outgoing(arr)).toEqual([{ type: 'element', name: 3, to: fn }]);
    expect(g.child(obj, 'property', '_queue')).toBe(arr);
    expect(g.child(obj, 'property', 'nope')).toBe(-1);
    expect(g.retainers(fn).map(([x, from]) => [g.edgeName(x), from])).toEqual([
      ['fn', obj],
      [3, arr],
    ]);
    expect(g.retainerCount(root)).toBe(0);
    expect(g.nodeById(b.id(fn))).toBe(fn);
    expect(g.nodeById(2)).toBe(-1);
    expect(g.location(fn)).toEqual({ scriptId: 42, line: 9, column: 2 });
    expect(g.location(obj)).toBeNull();
  });
});

describe('HeapSnapshotParser on malformed input', () => {
  const good = tricky('node20');
  const cases: Array<[string, string, RegExp]> = [
    ['empty', '', /ended early/],
    ['truncated inside the strings', good.slice(0, good.length - 30), /ended early/],
    ['not an object', '[1,2]', /expected the snapshot to start with \{/],
    ['a negative number', good.replace('"nodes":[9,', '"nodes":[-9,'), /unexpected "-" in "nodes"/],
    ['a fraction', good.replace('"nodes":[9,', '"nodes":[9.5,'), /unexpected "\." in "nodes"/],
    ['too many nodes', good.replace('"nodes":[9,', '"nodes":[9,9,'), /more numbers than the header's counts/],
    ['too few edges', good.replace(/"edges":\[\d+,/, '"edges":['), /"edges" holds \d+ numbers, the header's counts say/],
    ['a bad escape', good.replace('back\\\\slash', 'back\\qslash'), /bad escape \\q/],
    ['a bad \\u escape', good.replace('\\u00e9', '\\u00g9'), /bad \\u escape/],
    ['nodes before the header', '{"nodes":[1],"snapshot":{}}', /"nodes" comes before the "snapshot" header/],
    ['a header without meta', '{"snapshot":{"node_count":1}}', /no meta with node_fields/],
    ['a header that is not JSON', '{"snapshot":{"meta":[}]},', /not JSON|unbalanced/],
    ['text after the end', `${good} x`, /text after the end/],
    ['a meta without edge_count', good.replace('"edge_count","trace_node_id"', '"edges_n","trace_node_id"'), /meta has no "edge_count" field/],
    ['an edge to no node', good.replace(/"edges":\[(\d+),(\d+),(\d+)/, '"edges":[$1,$2,1'), /points at 1, not a node/],
    ['a section twice', good.replace('"samples":[]', '"trace_tree":[]'), /section "trace_tree" appears twice/],
  ];
  for (const [what, text, message] of cases) {
    it(`rejects ${what} with a clear BAD_ARGUMENT`, () => {
      let err: unknown;
      try {
        feed(text, 5);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AsyncmonError);
      expect((err as AsyncmonError).code).toBe('BAD_ARGUMENT');
      expect((err as Error).message).toMatch(/^heap snapshot: /);
      expect((err as Error).message).toMatch(message);
    });
  }
});

/** Strings a real heap will hold, that exercise every escape V8 writes. */
const TRICKY_HEAP = `
globalThis.tricky = ['quote " and backslash \\\\ and slash /', 'emoji 😀 and é', 'lone \\ud800 surrogate', 'ctl \\u0001\\u001f\\n\\t', '\\u2028\\u2029'];
`;

describe.each(nodeBinaries())('HeapSnapshotParser on a real snapshot ($name)', ({ path }) => {
  const file = snapshotOf(TRICKY_HEAP, path);
  const text = readFileSync(file, 'utf8');

  it('equals JSON.parse of the same text, fed in chunks of 1, 7 and 4096 characters', () => {
    for (const size of [1, 7, 4096]) expectSame(feed(text, size), text);
    const g = feed(text, 4096);
    const names = new Set<string>();
    for (let k = 0; k < g.nodeCount; k++) if (g.nodeType(k) === 'string') names.add(g.nodeName(k));
    // V8's serializer writes a code point past U+FFFF as four hex digits (U+1F600 becomes
    // \uF600) and a lone surrogate as "???": the parser reads what the text says, as JSON.parse.
    expect(names).toContain('emoji \uf600 and é');
    expect(names).toContain('quote " and backslash \\ and slash /');
    expect(names).toContain('ctl \u0001\u001f\n\t');
  });

  it('streams from a file with bounded memory: the typed arrays are sized by the counts', async () => {
    const size = statSync(file).size;
    gc();
    const before = process.memoryUsage();
    const t0 = performance.now();
    const p = new HeapSnapshotParser();
    for await (const chunk of createReadStream(file, { encoding: 'utf8', highWaterMark: 64 * 1024 })) p.push(chunk as string);
    const g = p.end();
    const ms = performance.now() - t0;
    gc();
    const after = process.memoryUsage();
    const meta = JSON.parse(text.slice(0, text.indexOf('"nodes"')).replace(/,\s*$/, '}')) as Parsed;
    const expected = 4 * (meta.snapshot.node_count * meta.snapshot.meta.node_fields.length + meta.snapshot.edge_count * meta.snapshot.meta.edge_fields.length + meta.snapshot.node_count + 1);
    expect(g.arrayBytes - (g as unknown as { locations: Uint32Array }).locations.byteLength).toBe(expected);
    expect(g.arrayBytes).toBeLessThan(size);
    const grown = after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers;
    // What the graph keeps, counted (strings at two bytes a character, plus a header each):
    // deterministic, unlike the process's heap growth, which is printed below.
    const strings = (g as unknown as { strings: string[] }).strings;
    const kept = g.arrayBytes + strings.reduce((n, s) => n + 2 * s.length + 16, 0);
    expect(kept).toBeLessThan(2 * size);
    console.log(`heap snapshot ${(size / 1e6).toFixed(1)} MB (${g.nodeCount} nodes, ${g.edgeCount} edges): parsed in ${ms.toFixed(0)} ms; typed arrays ${(g.arrayBytes / 1e6).toFixed(1)} MB; graph keeps ${(kept / 1e6).toFixed(1)} MB counted (${(kept / size).toFixed(2)}× the text); heap + array buffers grew ${(grown / 1e6).toFixed(1)} MB (${(grown / size).toFixed(2)}×)`);
  });
});
