/**
 * The await forest (src/await-graph.ts) on hand-built snapshot graphs shaped as V8 writes them,
 * in Node 20's and Node 24's naming: chains, fan-in, Promise.all, async generators, several
 * reactions on one promise (hidden-edge indices shift), a cycle, held resolvers, and a lost
 * continuation.
 */
import { describe, expect, it } from 'vitest';
import { TASK_MARK, awaitGraph } from '../src/await-graph.js';
import { parseHeapSnapshot } from '../src/heap-snapshot.js';
import { SnapshotBuilder } from './helpers/heap-builder.js';
import type { Flavour } from './helpers/heap-builder.js';

/** V8's structures, made small: each helper adds the nodes and edges one real object has. */
class V8Heap {
  readonly b: SnapshotBuilder;
  readonly native: number;
  readonly module: number;
  readonly root: number;
  private readonly script: number;

  constructor(readonly flavour: Flavour) {
    this.b = new SnapshotBuilder(flavour);
    this.root = this.b.node('synthetic', '(GC roots)');
    this.native = this.b.node('hidden', 'system / NativeContext');
    this.module = this.context(this.native);
    this.script = this.b.node('code', '/app/app.js');
    this.b.edge(this.closure('', 'InterpreterEntryTrampoline', this.module), 'internal', 'context', this.module);
  }

  context(previous: number): number {
    const c = this.b.node('object', 'system / Context');
    this.b.edge(c, 'internal', 'previous', previous);
    return c;
  }

  builtin(name: string): number {
    return this.b.node('code', this.flavour === 'node20' ? `(${name} builtin handle)` : `(${name} builtin code)`);
  }

  closure(name: string, builtin: string, context: number): number {
    const c = this.b.node('closure', name);
    const shared = this.b.node('code', name || '(shared function info)');
    this.b.edge(shared, 'internal', this.flavour === 'node20' ? 'script_or_debug_info' : 'script', this.script);
    this.b.edge(c, 'internal', 'shared', shared).edge(c, 'internal', 'context', context).edge(c, 'internal', 'code', this.builtin(builtin));
    return c;
  }

  /** A module variable `name` holding `value`. */
  moduleVar(name: string, value: number): void {
    this.b.edge(this.module, 'context', name, value);
  }

  /** A suspended async function (or async generator with a pending next()). */
  frame(fn: string, opts: { line?: number; asyncGenerator?: boolean; holds?: number[] } = {}): { gen: number; outer: number; regs: number } {
    const closure = this.closure(fn, 'InterpreterEntryTrampoline', this.module);
    this.b.location(closure, 3, opts.line ?? 0, 0);
    const gen = this.b.node('object', opts.asyncGenerator ? fn : 'Generator');
    const regs = this.b.node('array', '');
    const outer = this.b.node('object', 'Promise');
    this.b.edge(gen, 'internal', 'function', closure).edge(gen, 'internal', 'context', this.module).edge(gen, 'internal', 'receiver', this.root).edge(gen, 'internal', 'parameters_and_registers', regs);
    this.b.edge(regs, 'internal', 0, gen);
    (opts.holds ?? []).forEach((h, i) => this.b.edge(regs, 'internal', i + 1, h));
    if (opts.asyncGenerator) {
      const request = this.b.node('hidden', 'system / AsyncGeneratorRequest');
      this.b.edge(gen, 'hidden', 2, request).edge(request, 'hidden', 2, outer);
    } else this.b.edge(gen, 'hidden', 2, outer);
    return { gen, outer, regs };
  }

  promise(): number {
    return this.b.node('object', 'Promise');
  }

  /**
   * Gives promise p its reactions, newest first as V8 keeps them: each reaction's hidden edges
   * are numbered over its fields (next, reject, fulfill, promise), skipping the absent ones.
   */
  reactions(p: number, list: Array<{ handlers: number[]; derived?: number }>): void {
    const nodes = list.map(() => this.b.node('hidden', 'system / PromiseReaction'));
    this.b.edge(p, 'internal', 'reactions_or_result', nodes[0]);
    list.forEach((r, i) => {
      let slot = 0;
      if (i + 1 < nodes.length) this.b.edge(nodes[i], 'hidden', slot++, nodes[i + 1]);
      for (const h of r.handlers) this.b.edge(nodes[i], 'hidden', slot++, h);
      if (r.derived !== undefined) this.b.edge(nodes[i], 'hidden', slot++, r.derived);
    });
  }

  /** The two closures of an `await` by frame gen (async generators: their own builtins). */
  awaitBy(gen: number, asyncGenerator = false): { handlers: number[] } {
    const ctx = this.b.node('object', 'system / Context');
    this.b.edge(ctx, 'internal', 'previous', this.native).edge(ctx, 'internal', 'extension', gen);
    const kind = asyncGenerator ? 'AsyncGeneratorAwait' : 'AsyncFunctionAwait';
    return { handlers: [this.closure('', `${kind}RejectClosure`, ctx), this.closure('', `${kind}ResolveClosure`, ctx)] };
  }

  /** `new Promise((resolve) => …)`'s resolve function for p. */
  resolver(p: number): number {
    const ctx = this.b.node('object', 'system / Context');
    this.b.edge(ctx, 'hidden', 1, p);
    return this.closure('', 'PromiseCapabilityDefaultResolve', ctx);
  }

  /** Promise.all over `inputs` (all of them still pending) with `total` elements. */
  all(result: number, inputs: number[], total: number): void {
    const cap = this.b.node('hidden', 'system / PromiseCapability', { selfSize: 32 });
    this.b.edge(cap, 'hidden', 0, result);
    const ctx = this.b.node('object', 'system / Context');
    const values = this.b.node('array', '', { selfSize: 16 + 8 * total });
    this.b.edge(ctx, 'hidden', 1, cap).edge(ctx, 'hidden', 2, values);
    const reject = this.closure('', 'PromiseCapabilityDefaultReject', ctx);
    for (const q of inputs) this.reactions(q, [{ handlers: [reject, this.closure('', 'PromiseAllResolveElementClosure', ctx)], derived: this.promise() }]);
  }

  graph() {
    return awaitGraph(parseHeapSnapshot(this.b.text()));
  }
}

const fns = (c: { frames: Array<{ fn: string }> }) => c.frames.map((f) => f.fn).join(' > ');

describe.each(['node20', 'node24'] as const)('awaitGraph on hand-built heaps (%s naming)', (flavour) => {
  it('follows a three-deep chain to a promise with no resolver, with each frame’s start', () => {
    const h = new V8Heap(flavour);
    const outer = h.frame('handle', { line: 10 });
    const mid = h.frame('load', { line: 20 });
    const inner = h.frame('query', { line: 30 });
    const gate = h.promise();
    h.moduleVar('gate', gate);
    h.reactions(gate, [h.awaitBy(inner.gen)]);
    h.reactions(inner.outer, [h.awaitBy(mid.gen)]);
    h.reactions(mid.outer, [h.awaitBy(outer.gen)]);
    const a = h.graph();
    expect(a.chains).toEqual([
      {
        id: h.b.id(outer.gen),
        frames: [outer, mid, inner].map((f, i) => ({ nodeId: h.b.id(f.gen), fn: ['handle', 'load', 'query'][i], start: { url: '/app/app.js', scriptId: 3, line: 10 * (i + 1), column: 0 }, asyncGenerator: false })),
        awaits: h.b.id(gate),
        waitsFor: { kind: 'nothing' },
        awaitedBy: [],
        hints: [],
      },
    ]);
    expect(a.cycles).toEqual([]);
    expect(a.stats).toEqual({ frames: 3, pendingPromises: 3, chains: 1 });
  });

  it('reads several reactions on one promise by type and name, whatever their indices', () => {
    const h = new V8Heap(flavour);
    const a = h.frame('a');
    const b = h.frame('b');
    const gate = h.promise();
    h.moduleVar('gate', gate);
    const userThen = h.closure('onDone', 'InterpreterEntryTrampoline', h.module);
    // Newest first: b's await, a user .then with its derived promise, then a's await.
    h.reactions(gate, [h.awaitBy(b.gen), { handlers: [userThen], derived: h.promise() }, h.awaitBy(a.gen)]);
    const held = h.b.node('object', 'Array');
    h.moduleVar('waiters', held);
    h.b.edge(held, 'element', 0, h.resolver(gate));
    const g = h.graph();
    expect(g.chains.map((c) => [fns(c), c.waitsFor])).toEqual([
      ['a', { kind: 'promise', heldBy: ['app.js: waiters[0]'] }],
      ['b', { kind: 'promise', heldBy: ['app.js: waiters[0]'] }],
    ]);
  });

  it('shows fan-in through a .then, Promise.all with pending and total, and a pool on a named object', () => {
    const h = new V8Heap(flavour);
    const shared = h.frame('fetchConfig');
    const x = h.frame('x');
    const y = h.frame('y');
    const viaThen = h.promise();
    h.reactions(shared.outer, [h.awaitBy(x.gen), { handlers: [h.closure('parse', 'InterpreterEntryTrampoline', h.module)], derived: viaThen }]);
    h.reactions(viaThen, [h.awaitBy(y.gen)]);
    const timer = h.b.node('object', 'Timeout');
    const sleeping = h.promise();
    h.b.edge(timer, 'property', '_onTimeout', h.resolver(sleeping));
    h.reactions(sleeping, [h.awaitBy(shared.gen)]);

    const gather = h.frame('gather');
    const parts = [h.frame('part'), h.frame('part')];
    const result = h.promise();
    h.all(result, parts.map((p) => p.outer), 3);
    h.reactions(result, [h.awaitBy(gather.gen)]);
    const pool = h.b.node('object', 'Pool');
    const queue = h.b.node('object', 'Array');
    h.moduleVar('pool', pool);
    h.b.edge(pool, 'property', '_pendingQueue', queue);
    parts.forEach((p, i) => {
      const wait = h.promise();
      h.b.edge(queue, 'element', i + 2, h.resolver(wait));
      h.reactions(wait, [h.awaitBy(p.gen)]);
    });
    const g = h.graph();
    const byName = Object.fromEntries(g.chains.map((c) => [`${fns(c)}#${c.id}`, c]));
    const id = (f: { gen: number }) => h.b.id(f.gen);
    expect(byName[`fetchConfig#${id(shared)}`]).toMatchObject({ waitsFor: { kind: 'promise', heldBy: ['Timeout#_onTimeout'] }, awaitedBy: [id(x), id(y)] });
    expect(byName[`x#${id(x)}`].waitsFor).toEqual({ kind: 'chain', nodeId: id(shared) });
    expect(byName[`y#${id(y)}`].waitsFor).toEqual({ kind: 'chain', nodeId: id(shared) });
    expect(byName[`gather#${id(gather)}`].waitsFor).toEqual({ kind: 'combinator', name: 'all', pending: 2, total: 3, chains: parts.map(id) });
    expect(parts.map((p) => byName[`part#${id(p)}`].waitsFor)).toEqual([
      { kind: 'promise', heldBy: ['app.js: pool → Pool#_pendingQueue[2]'] },
      { kind: 'promise', heldBy: ['app.js: pool → Pool#_pendingQueue[3]'] },
    ]);
    expect(parts.map((p) => byName[`part#${id(p)}`].awaitedBy)).toEqual([[id(gather)], [id(gather)]]);
  });

  it('follows for await into an async generator', () => {
    const h = new V8Heap(flavour);
    const consume = h.frame('consume');
    const ticks = h.frame('ticks', { asyncGenerator: true });
    const gate = h.promise();
    h.moduleVar('gate', gate);
    h.reactions(gate, [h.awaitBy(ticks.gen, true)]);
    h.reactions(ticks.outer, [h.awaitBy(consume.gen)]);
    const [c] = h.graph().chains;
    expect(c.frames.map((f) => [f.fn, f.asyncGenerator])).toEqual([
      ['consume', false],
      ['ticks', true],
    ]);
  });

  it('reports a cycle: each awaits what only the other’s suspended frame can resolve', () => {
    const h = new V8Heap(flavour);
    const pa = h.promise();
    const pb = h.promise();
    const a = h.frame('deadlockA', { holds: [h.resolver(pa), pb] });
    const b = h.frame('deadlockB', { holds: [h.resolver(pb), pa] });
    h.reactions(pb, [h.awaitBy(a.gen)]);
    h.reactions(pa, [h.awaitBy(b.gen)]);
    const g = h.graph();
    expect(g.chains.map((c) => [fns(c), c.waitsFor])).toEqual([
      ['deadlockA', { kind: 'promise', heldBy: ['suspended deadlockB()'] }],
      ['deadlockB', { kind: 'promise', heldBy: ['suspended deadlockA()'] }],
    ]);
    expect(g.cycles).toEqual([{ frames: [{ nodeId: h.b.id(a.gen), fn: 'deadlockA' }, { nodeId: h.b.id(b.gen), fn: 'deadlockB' }] }]);
  });

  it('reports a ring of awaits with no way in as one chain and a cycle', () => {
    const h = new V8Heap(flavour);
    const a = h.frame('ringA');
    const b = h.frame('ringB');
    h.reactions(b.outer, [h.awaitBy(a.gen)]);
    h.reactions(a.outer, [h.awaitBy(b.gen)]);
    const g = h.graph();
    expect(g.chains.map((c) => [fns(c), c.waitsFor])).toEqual([['ringA > ringB', { kind: 'chain', nodeId: h.b.id(a.gen) }]]);
    expect(g.cycles.map((c) => c.frames.map((f) => f.fn))).toEqual([['ringA', 'ringB']]);
  });

  it('ties chains to the requests they hold, and finds a response nothing can answer', () => {
    const h = new V8Heap(flavour);
    const request = (url: string) => {
      const req = h.b.node('object', 'IncomingMessage');
      const res = h.b.node('object', 'ServerResponse');
      const socket = h.b.node('object', 'Socket');
      h.b.edge(req, 'property', 'method', h.b.node('string', 'GET')).edge(req, 'property', 'url', h.b.node('string', url));
      h.b.edge(res, 'property', 'req', req).edge(res, 'property', 'socket', socket).edge(socket, 'property', '_httpMessage', res);
      h.b.edge(h.root, 'element', 1, socket);
      return { req, res };
    };
    const served = request('/users/42');
    const lost = request('/lost');
    const finishedReq = h.b.node('object', 'IncomingMessage'); // no socket: finished, not lost
    void finishedReq;
    const handler = h.frame('handler', { holds: [served.req, served.res] });
    const gate = h.promise();
    h.moduleVar('gate', gate);
    h.reactions(gate, [h.awaitBy(handler.gen)]);
    const g = h.graph();
    expect(g.chains[0].hints).toEqual([
      { kind: 'request', nodeId: h.b.id(served.req), frame: h.b.id(handler.gen), detail: 'GET /users/42' },
      { kind: 'response', nodeId: h.b.id(served.res), frame: h.b.id(handler.gen) },
    ]);
    expect(g.lostResponses).toEqual([{ nodeId: h.b.id(lost.res), requestNodeId: h.b.id(lost.req), detail: 'GET /lost' }]);
  });
  it('names task() chains by their mark: on the signal a frame holds, or in the scope of what awaits the outermost frame', () => {
    const h = new V8Heap(flavour);
    const mark = (id: string | null) => {
      const m = h.b.node('object', TASK_MARK);
      if (id !== null) h.b.edge(m, 'property', 'id', h.b.node('string', id));
      h.b.edge(m, 'property', 'ended', h.b.node('hidden', 'system / Oddball'));
      return m;
    };
    // sync-users holds its signal, which holds its mark under a symbol.
    const signal = h.b.node('object', 'AbortSignal');
    const m17 = mark('17');
    h.b.edge(signal, 'property', '<symbol asyncmon.task>', m17);
    const withSignal = h.frame('syncUsers', { holds: [signal] });
    // quiet-job never looks at its signal: task()'s .then on its promise closes over the mark.
    const quiet = h.frame('quietJob');
    const inner = h.frame('step');
    h.reactions(inner.outer, [h.awaitBy(quiet.gen)]);
    const taskScope = h.context(h.module);
    const m23 = mark('23');
    h.b.edge(taskScope, 'context', 'mark', m23);
    h.reactions(quiet.outer, [{ handlers: [h.closure('', 'InterpreterEntryTrampoline', taskScope), h.closure('', 'InterpreterEntryTrampoline', taskScope)], derived: h.promise() }]);
    // A mark without its id, and one in a module's scope (shared by everything there), name nothing.
    const broken = h.b.node('object', 'AbortSignal');
    h.b.edge(broken, 'property', '<symbol asyncmon.task>', mark(null));
    const unnamed = h.frame('unnamed', { holds: [broken] });
    const moduleLevel = h.frame('moduleLevel');
    h.moduleVar('mark', mark('99'));
    h.reactions(moduleLevel.outer, [{ handlers: [h.closure('', 'InterpreterEntryTrampoline', h.module)], derived: h.promise() }]);
    for (const f of [withSignal, inner, unnamed, moduleLevel]) {
      const gate = h.promise();
      h.moduleVar(`gate${f.gen}`, gate);
      h.reactions(gate, [h.awaitBy(f.gen)]);
    }
    const g = h.graph();
    const hintsOf = (name: string) => g.chains.find((c) => fns(c) === name)!.hints;
    expect(hintsOf('syncUsers')).toEqual([
      { kind: 'abort-signal', nodeId: h.b.id(signal), frame: h.b.id(withSignal.gen) },
      { kind: 'task', nodeId: h.b.id(m17), frame: h.b.id(withSignal.gen), detail: '17' },
    ]);
    expect(hintsOf('quietJob > step')).toEqual([{ kind: 'task', nodeId: h.b.id(m23), frame: h.b.id(quiet.gen), detail: '23' }]);
    expect(hintsOf('unnamed').map((x) => x.kind)).toEqual(['abort-signal']);
    expect(hintsOf('moduleLevel')).toEqual([]);
  });

  it('prefers the task that awaits the chain over an outer task’s signal its frames were handed', () => {
    const h = new V8Heap(flavour);
    const mark = (id: string) => {
      const m = h.b.node('object', TASK_MARK);
      h.b.edge(m, 'property', 'id', h.b.node('string', id));
      return m;
    };
    const parentSignal = h.b.node('object', 'AbortSignal');
    h.b.edge(parentSignal, 'property', '<symbol asyncmon.task>', mark('1'));
    const child = h.frame('child', { holds: [parentSignal] });
    const scope = h.context(h.module);
    h.b.edge(scope, 'context', 'mark', mark('2'));
    h.reactions(child.outer, [{ handlers: [h.closure('', 'InterpreterEntryTrampoline', scope)], derived: h.promise() }]);
    const gate = h.promise();
    h.moduleVar('gate', gate);
    h.reactions(gate, [h.awaitBy(child.gen)]);
    const [c] = h.graph().chains;
    expect(c.hints.filter((x) => x.kind === 'task').map((x) => x.detail)).toEqual(['2', '1']);
  });
});
