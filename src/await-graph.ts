import type { HeapGraph } from './heap-graph.js';
import { HeapNames } from './heap-holders.js';
import type { Holder } from './heap-holders.js';

/**
 * The forest of suspended async functions, read from a heap snapshot (DESIGN.md, "Where work is
 * parked", point 2). Pure: a HeapGraph in, plain JSON-serialisable data out; the capture (and the
 * suspended line, which only the inspector knows) lives in agent/ and cli/.
 *
 * What V8 shows (verified on Node 20, 22, 24): a suspended async function is an object (named
 * `Generator`; an async generator is named after its function) with internal edges `function`,
 * `context`, `receiver`, `parameters_and_registers`, and a hidden edge to its outer `Promise` (an
 * async generator: to its queue, a `system / AsyncGeneratorRequest` holding the `next()`
 * promise). A pending promise's `reactions_or_result` is a `system / PromiseReaction`, newest
 * first, each with a hidden edge to the next one; its children are told apart by type and name,
 * never by index (indices shift with the reaction's fields). A handler closure's `code` is a
 * builtin: `AsyncFunctionAwaitResolveClosure` (async generators: `AsyncGenerator…Closure`) has a
 * context whose `extension` is the awaiting function; the element closures of `Promise.all`,
 * `allSettled` and `any` have a context holding the combinator's `PromiseCapability`;
 * `PromiseCapabilityDefaultResolve/Reject` (what `new Promise` hands its executor, and what
 * `race` and `return promise` chain with) have a context holding the promise they settle.
 */

/** One suspended async function. */
export interface AwaitFrame {
  /** The heap id of its `Generator`: the inspector's `getObjectByHeapObjectId` takes it, for the suspended line. */
  nodeId: number;
  fn: string;
  /** Where the function starts (zero-based, like the inspector's locations), when the snapshot says. */
  start: { url: string | null; scriptId: number; line: number; column: number } | null;
  asyncGenerator: boolean;
}

/** What a chain's innermost function waits for. */
export type WaitTarget =
  /** Another chain (its id): several functions await one shared promise (fan-in), or a cycle. */
  | { kind: 'chain'; nodeId: number }
  /** A combinator's result, with its pending inputs; inputs that are chains are listed by id. */
  | { kind: 'combinator'; name: CombinatorName; pending: number; total: number | null; chains: number[] }
  /** A plain promise whose resolve functions are held: by what (short retainer paths). */
  | { kind: 'promise'; heldBy: string[] }
  /** A promise nothing can resolve: no resolve function is alive (the lost continuation). */
  | { kind: 'nothing' };

export type CombinatorName = 'all' | 'allSettled' | 'any' | 'race';

/** An object a chain's frames hold that tells whose work it is. */
export interface AttributionHint {
  /** `task`: the mark of a `task()` (TASK_MARK), on its signal or where its result is awaited. */
  kind: 'request' | 'response' | 'abort-signal' | 'task';
  nodeId: number;
  /** The frame (Generator heap id) that holds it. */
  frame: number;
  /** `GET /users/42` for a request, when the snapshot holds its method and url; the task's id (`17`) for a task. */
  detail?: string;
}

/**
 * The class name of the mark `task()` leaves for heap snapshots (agent/host/task.ts): an object
 * with the task's id as a string property `id` (a snapshot shows strings, never numbers), held
 * by the task's AbortSignal and by the scope of the handlers `task()` puts on fn's promise.
 */
export const TASK_MARK = 'AsyncmonTask';

/** One root of the forest and its line of awaits, outermost first, innermost last. */
export interface AwaitChain {
  /** The outermost frame's node id. */
  id: number;
  frames: AwaitFrame[];
  /** The heap id of the promise the innermost frame awaits. */
  awaits: number;
  waitsFor: WaitTarget;
  /** Chains waiting on this one's outer promise (fan-in, combinators). */
  awaitedBy: number[];
  hints: AttributionHint[];
}

/** Frames that wait on each other: each awaits what only the next one can resolve. */
export interface AwaitCycle {
  frames: Array<{ nodeId: number; fn: string }>;
}

/** A response still attached to its socket that no suspended function or callback holds. */
export interface LostResponse {
  nodeId: number;
  requestNodeId: number | null;
  detail?: string;
}

export interface AwaitGraph {
  chains: AwaitChain[];
  cycles: AwaitCycle[];
  lostResponses: LostResponse[];
  /** Counts, for a headline and for knowing what was left out. */
  stats: { frames: number; pendingPromises: number; chains: number };
}

type Handler = 'await' | 'agen-await' | 'all' | 'allSettled' | 'any' | 'resolver' | 'other';

/** What settles a pending promise p, as found from p's reactions (inverted below). */
interface Combinator {
  name: CombinatorName;
  inputs: Set<number>;
  /** The `values` array of all/allSettled, to tell how many inputs there were. */
  values: number;
  capability: number;
}

const REACTION = 'system / PromiseReaction';
const CAPABILITY = 'system / PromiseCapability';

/** The builtin a handler closure runs, by name (Node 20 says `builtin handle`, 22/24 `builtin code`). */
function classify(codeName: string): Handler {
  if (/\bAsyncFunctionAwait(?:Resolve|Reject)Closure\b/.test(codeName)) return 'await';
  if (/\bAsyncGenerator\w*(?:Resolve|Reject)Closure\b/.test(codeName)) return 'agen-await';
  if (/\bPromiseAllResolveElementClosure\b/.test(codeName)) return 'all';
  if (/\bPromiseAllSettled(?:Resolve|Reject)ElementClosure\b/.test(codeName)) return 'allSettled';
  if (/\bPromiseAnyRejectElementClosure\b/.test(codeName)) return 'any';
  if (/\bPromiseCapabilityDefault(?:Resolve|Reject)\b/.test(codeName)) return 'resolver';
  return 'other';
}

/** Builds the await forest of a heap snapshot. */
export function awaitGraph(g: HeapGraph): AwaitGraph {
  return new Analysis(g).run();
}

class Analysis {
  private readonly names: HeapNames;
  private readonly handlerKind = new Map<number, Handler>();
  /** Frame ordinal → the promise it awaits. */
  private readonly awaiting = new Map<number, number>();
  /** Outer (or pending next()) promise → its frame. */
  private readonly outerOf = new Map<number, number>();
  /** Frame → its outer promise (not for async generators). */
  private readonly outerPromise = new Map<number, number>();
  private readonly frames = new Set<number>();
  /** Promise → promises it follows (then-derived, or resolved by their settling). */
  private readonly follows = new Map<number, number[]>();
  private readonly combinatorOf = new Map<number, Combinator>();
  private pending = 0;
  private readonly held = new Map<number, Holder[]>();

  constructor(private readonly g: HeapGraph) {
    this.names = new HeapNames(g);
  }

  run(): AwaitGraph {
    this.findFrames();
    this.readReactions();
    const target = new Map<number, Target>();
    for (const f of this.awaiting.keys()) target.set(f, this.resolve(this.awaiting.get(f)!, new Set()));
    const chains = this.buildChains(target);
    const cycles = this.findCycles(target, chains);
    const lostResponses = this.lostResponses();
    return { chains, cycles, lostResponses, stats: { frames: this.awaiting.size, pendingPromises: this.pending, chains: chains.length } };
  }

  private isFrame = (k: number): boolean => this.frames.has(k);

  /** Suspended functions: objects with a generator's internal edges and an outer promise or queue. */
  private findFrames(): void {
    const g = this.g;
    for (let k = 0; k < g.nodeCount; k++) {
      if (g.nodeType(k) !== 'object') continue;
      if (g.child(k, 'internal', 'parameters_and_registers') < 0 || g.child(k, 'internal', 'function') < 0) continue;
      const [first, end] = g.edgeRange(k);
      for (let x = first; x < end; x++) {
        if (g.edgeType(x) !== 'hidden') continue;
        const to = g.edgeTarget(x);
        const name = g.nodeName(to);
        if (name === 'Promise' && g.nodeType(to) === 'object') {
          this.frames.add(k);
          this.outerOf.set(to, k);
          this.outerPromise.set(k, to);
        } else if (name === 'system / AsyncGeneratorRequest') {
          this.frames.add(k);
          const p = this.childNamed(to, 'hidden', 'Promise');
          if (p >= 0) this.outerOf.set(p, k);
        }
      }
    }
  }

  /** Every pending promise's reactions, inverted into "who waits for what". */
  private readReactions(): void {
    const g = this.g;
    for (let p = 0; p < g.nodeCount; p++) {
      if (g.nodeName(p) !== 'Promise' || g.nodeType(p) !== 'object') continue;
      let r = g.child(p, 'internal', 'reactions_or_result');
      if (r < 0 || g.nodeName(r) !== REACTION) continue;
      this.pending++;
      const seen = new Set<number>();
      while (r >= 0 && !seen.has(r)) {
        seen.add(r);
        let next = -1;
        let derived = -1;
        const handlers: number[] = [];
        const [first, end] = g.edgeRange(r);
        for (let x = first; x < end; x++) {
          if (g.edgeType(x) === 'weak') continue;
          const to = g.edgeTarget(x);
          const name = g.nodeName(to);
          if (name === REACTION) next = to;
          else if (g.nodeType(to) === 'closure') handlers.push(to);
          else if (name === 'Promise') derived = to;
          else if (name === CAPABILITY) derived = this.childNamed(to, 'hidden', 'Promise');
        }
        let consumed = false;
        for (const h of handlers) consumed = this.handler(p, h, derived) || consumed;
        if (!consumed && derived >= 0) this.follow(derived, p);
        r = next;
      }
    }
  }

  /** Records what handler h on promise p means; true when it says who waits on p. */
  private handler(p: number, h: number, derived: number): boolean {
    const g = this.g;
    const kind = this.kindOf(h);
    const ctx = g.child(h, 'internal', 'context');
    if (ctx < 0) return false;
    switch (kind) {
      case 'await':
      case 'agen-await': {
        const f = g.child(ctx, 'internal', 'extension');
        if (f < 0) return false;
        this.frames.add(f);
        this.awaiting.set(f, p);
        return true;
      }
      case 'all':
      case 'allSettled':
      case 'any': {
        const cap = this.childNamed(ctx, 'hidden', CAPABILITY);
        const result = cap >= 0 ? this.childNamed(cap, 'hidden', 'Promise') : -1;
        if (result < 0) return false;
        let c = this.combinatorOf.get(result);
        if (!c) {
          c = { name: kind, inputs: new Set(), values: this.childOfType(ctx, 'hidden', 'array'), capability: cap };
          this.combinatorOf.set(result, c);
        }
        c.inputs.add(p);
        return true;
      }
      case 'resolver': {
        const settles = this.childNamed(ctx, 'hidden', 'Promise');
        if (settles < 0) return false;
        // With a derived promise, someone called p.then(resolve, reject): Promise.race (or one
        // made by hand). Without, V8 adopted p for a promise resolved with it (`return p`).
        if (derived >= 0) this.raceInput(settles, p);
        else this.follow(settles, p);
        return true;
      }
      default:
        return false;
    }
  }

  private raceInput(result: number, p: number): void {
    let c = this.combinatorOf.get(result);
    if (!c) {
      c = { name: 'race', inputs: new Set(), values: -1, capability: -1 };
      this.combinatorOf.set(result, c);
    }
    c.inputs.add(p);
  }

  private follow(p: number, source: number): void {
    const list = this.follows.get(p);
    if (!list) this.follows.set(p, [source]);
    else if (!list.includes(source)) list.push(source);
  }

  private kindOf(closure: number): Handler {
    const code = this.g.child(closure, 'internal', 'code');
    if (code < 0) return 'other';
    let kind = this.handlerKind.get(code);
    if (!kind) {
      kind = classify(this.g.nodeName(code));
      this.handlerKind.set(code, kind);
    }
    return kind;
  }

  /** What a wait on promise p comes down to, through `.then`s and `return promise`s. */
  private resolve(p: number, seen: Set<number>): Target {
    for (;;) {
      if (seen.has(p)) return { kind: 'promise', promise: p };
      seen.add(p);
      const f = this.outerOf.get(p);
      if (f !== undefined && this.awaiting.has(f)) return { kind: 'frame', frame: f };
      const c = this.combinatorOf.get(p);
      if (c) return { kind: 'combinator', promise: p, name: c.name, inputs: [...c.inputs], total: this.total(c) };
      const from = this.follows.get(p);
      if (!from) return { kind: 'promise', promise: p };
      // Settled by whichever of several settles first: a race (or a hand-made one).
      if (from.length > 1) return { kind: 'combinator', promise: p, name: 'race', inputs: from, total: from.length };
      p = from[0];
    }
  }

  /** How many inputs an all/allSettled had: the length of its values array, or null. */
  private total(c: Combinator): number | null {
    // A race that is still pending has every input pending.
    if (c.name === 'race') return c.inputs.size;
    if (c.values < 0 || c.capability < 0) return null;
    // A PromiseCapability is four tagged fields (map, promise, resolve, reject): its size tells
    // the tagged size (8, or 4 with pointer compression); a FixedArray has two before its slots.
    const tagged = this.g.selfSize(c.capability) / 4;
    if (!(tagged > 0)) return null;
    const n = Math.round(this.g.selfSize(c.values) / tagged) - 2;
    return Math.max(n, c.inputs.size);
  }

  private buildChains(target: Map<number, Target>): AwaitChain[] {
    const g = this.g;
    const indegree = new Map<number, number>();
    const inputOf = new Set<number>();
    const awaitedBy = new Map<number, number[]>();
    for (const t of target.values()) {
      if (t.kind === 'frame') indegree.set(t.frame, (indegree.get(t.frame) ?? 0) + 1);
      if (t.kind === 'combinator') for (const q of t.inputs) {
        const r = this.resolve(q, new Set());
        if (r.kind === 'frame') inputOf.add(r.frame);
      }
    }
    const starts = [...target.keys()].filter((f) => (indegree.get(f) ?? 0) !== 1 || inputOf.has(f));
    const chainOf = new Map<number, number>();
    const chains: AwaitChain[] = [];
    const build = (start: number) => {
      const line = [start];
      chainOf.set(start, start);
      let cur = start;
      for (;;) {
        const t = target.get(cur)!;
        if (t.kind !== 'frame' || indegree.get(t.frame) !== 1 || inputOf.has(t.frame) || chainOf.has(t.frame)) break;
        cur = t.frame;
        line.push(cur);
        chainOf.set(cur, start);
      }
      chains.push({ id: g.nodeId(start), frames: line.map((f) => this.frame(f)), awaits: g.nodeId(this.awaiting.get(cur)!), waitsFor: { kind: 'nothing' }, awaitedBy: [], hints: this.hints(line) });
      return cur;
    };
    const innermost = new Map<number, number>();
    const byId = (a: number, b: number) => g.nodeId(a) - g.nodeId(b);
    for (const s of starts.sort(byId)) innermost.set(s, build(s));
    // What is left waits in a ring with no way in (A awaits B awaits A): start at the oldest.
    for (const f of [...target.keys()].sort(byId)) if (!chainOf.has(f)) innermost.set(f, build(f));
    const chainIdOf = (f: number) => g.nodeId(chainOf.get(f)!);
    for (const chain of chains) {
      const start = g.nodeById(chain.id);
      const t = target.get(innermost.get(start)!)!;
      chain.waitsFor = this.waitFor(t, chainIdOf);
      const into = chain.waitsFor.kind === 'chain' ? [chain.waitsFor.nodeId] : chain.waitsFor.kind === 'combinator' ? chain.waitsFor.chains : [];
      for (const id of into) {
        const list = awaitedBy.get(id) ?? [];
        if (!list.includes(chain.id)) list.push(chain.id);
        awaitedBy.set(id, list);
      }
    }
    for (const chain of chains) chain.awaitedBy = (awaitedBy.get(chain.id) ?? []).sort((a, b) => a - b);
    return chains;
  }

  private waitFor(t: Target, chainIdOf: (f: number) => number): WaitTarget {
    if (t.kind === 'frame') return { kind: 'chain', nodeId: chainIdOf(t.frame) };
    if (t.kind === 'combinator') {
      const chains: number[] = [];
      for (const q of t.inputs) {
        const r = this.resolve(q, new Set());
        if (r.kind === 'frame') chains.push(chainIdOf(r.frame));
      }
      return { kind: 'combinator', name: t.name, pending: t.inputs.length, total: t.total, chains: [...new Set(chains)].sort((a, b) => a - b) };
    }
    const held = this.resolvers(t.promise).flatMap((r) => this.holdersOf(r));
    const heldBy = [...new Set(held.map((h) => h.label))];
    if (heldBy.length > 0) return { kind: 'promise', heldBy: heldBy.slice(0, 3) };
    return { kind: 'nothing' };
  }

  private holdersOf(resolver: number): Holder[] {
    let h = this.held.get(resolver);
    if (!h) {
      h = this.names.holders(resolver, this.isFrame);
      this.held.set(resolver, h);
    }
    return h;
  }

  /** The live resolve/reject functions of promise p (each has a context holding p). */
  resolvers(p: number): number[] {
    const g = this.g;
    const out: number[] = [];
    for (const [, ctx] of g.retainers(p)) {
      if (g.nodeName(ctx) === CAPABILITY) {
        for (const x of g.outgoing(ctx)) if (g.nodeType(x.to) === 'closure') out.push(x.to);
        continue;
      }
      if (!this.names.isContext(ctx)) continue;
      for (const [x, c] of g.retainers(ctx)) {
        if (g.nodeType(c) === 'closure' && g.edgeName(x) === 'context' && this.kindOf(c) === 'resolver') out.push(c);
      }
    }
    return [...new Set(out)];
  }

  private frame(f: number): AwaitFrame {
    const g = this.g;
    const fn = g.child(f, 'internal', 'function');
    const loc = fn >= 0 ? g.location(fn) : null;
    return {
      nodeId: g.nodeId(f),
      fn: (fn >= 0 && g.nodeName(fn)) || '(anonymous)',
      start: loc ? { url: this.names.scriptOf(fn), ...loc } : null,
      asyncGenerator: g.nodeName(f) !== 'Generator' || this.childNamed(f, 'hidden', 'system / AsyncGeneratorRequest') >= 0,
    };
  }

  /** Requests, responses and abort signals the frames hold (registers, scope, one property deep). */
  private hints(line: number[]): AttributionHint[] {
    const out: AttributionHint[] = [];
    const seen = new Set<number>();
    // First the task whose `task()` waits for the outermost function's promise: its handlers'
    // scope holds the mark. That is surely whose work the chain is; a signal a frame holds may
    // be an outer task's, passed down.
    const outer = line.length > 0 ? this.outerPromise.get(line[0]) : undefined;
    const scopeMark = outer !== undefined ? this.markAwaiting(outer) : -1;
    const scopeTask = scopeMark >= 0 ? this.taskHint(scopeMark, line[0]) : null;
    if (scopeTask) {
      seen.add(scopeMark);
      out.push(scopeTask);
    }
    for (const f of line) {
      for (const k of this.heldByFrame(f)) {
        const kind = HINTS[this.g.nodeName(k)];
        if (!kind || seen.has(k)) continue;
        seen.add(k);
        const hint: AttributionHint = { kind, nodeId: this.g.nodeId(k), frame: this.g.nodeId(f) };
        const detail = kind === 'request' ? this.requestLine(k) : undefined;
        if (detail) hint.detail = detail;
        out.push(hint);
        if (kind === 'abort-signal') {
          // Under a symbol key: whatever the edge, never a weak one.
          const mark = this.g.outgoing(k).find((x) => x.type !== 'weak' && this.g.nodeName(x.to) === TASK_MARK)?.to ?? -1;
          const task = mark >= 0 ? this.taskHint(mark, f) : null;
          if (task && !seen.has(mark)) {
            seen.add(mark);
            out.push(task);
          }
        }
      }
    }
    return out;
  }

  /** A `task` hint for a TASK_MARK object, when its `id` is there to read. */
  private taskHint(mark: number, frame: number): AttributionHint | null {
    const id = this.g.child(mark, 'property', 'id');
    if (id < 0 || this.g.nodeType(id) !== 'string') return null;
    return { kind: 'task', nodeId: this.g.nodeId(mark), frame: this.g.nodeId(frame), detail: this.g.nodeName(id) };
  }

  /** The TASK_MARK in the scope (a few contexts up) of a handler of promise p's reactions, or -1. */
  private markAwaiting(p: number): number {
    const g = this.g;
    let r = g.child(p, 'internal', 'reactions_or_result');
    const seen = new Set<number>();
    while (r >= 0 && g.nodeName(r) === REACTION && !seen.has(r)) {
      seen.add(r);
      let next = -1;
      for (const x of g.outgoing(r)) {
        if (x.type === 'weak') continue;
        if (g.nodeName(x.to) === REACTION) next = x.to;
        else if (g.nodeType(x.to) === 'closure') {
          let ctx = g.child(x.to, 'internal', 'context');
          for (let depth = 0; ctx >= 0 && depth < 4 && this.names.isContext(ctx) && !this.names.isModuleContext(ctx); depth++) {
            for (const v of g.outgoing(ctx)) if (v.type === 'context' && g.nodeName(v.to) === TASK_MARK) return v.to;
            ctx = g.child(ctx, 'internal', 'previous');
          }
        }
      }
      r = next;
    }
    return -1;
  }

  /** What frame f holds: its registers, the variables of its scopes below module level, and one property deeper. */
  private heldByFrame(f: number): number[] {
    const g = this.g;
    const direct: number[] = [];
    const regs = g.child(f, 'internal', 'parameters_and_registers');
    if (regs >= 0) for (const x of g.outgoing(regs)) direct.push(x.to);
    direct.push(g.child(f, 'internal', 'receiver'));
    let ctx = g.child(f, 'internal', 'context');
    for (let depth = 0; ctx >= 0 && depth < 16 && this.names.isContext(ctx) && !this.names.isModuleContext(ctx); depth++) {
      for (const x of g.outgoing(ctx)) if (x.type === 'context') direct.push(x.to);
      ctx = g.child(ctx, 'internal', 'previous');
    }
    const out = new Set<number>();
    for (const k of direct) {
      if (k < 0) continue;
      out.add(k);
      if (g.nodeType(k) !== 'object' || HINTS[g.nodeName(k)]) continue;
      for (const x of g.outgoing(k)) if (x.type === 'property') out.add(x.to);
    }
    return [...out];
  }

  private requestLine(req: number): string | undefined {
    const method = this.g.child(req, 'property', 'method');
    const url = this.g.child(req, 'property', 'url');
    if (url < 0 || this.g.nodeType(url) !== 'string') return undefined;
    return `${method >= 0 && this.g.nodeType(method) === 'string' ? this.g.nodeName(method) : '?'} ${this.g.nodeName(url)}`;
  }

  /**
   * Cycles among frames: F → G when F's wait comes down to G (an await, a combinator input), or
   * when F awaits a promise whose resolve function G holds. A plain DFS with white/grey/black
   * marks; a grey target closes a cycle.
   */
  private findCycles(target: Map<number, Target>, chains: AwaitChain[]): AwaitCycle[] {
    const g = this.g;
    void chains;
    const edges = new Map<number, number[]>();
    for (const [f, t] of target) {
      const to: number[] = [];
      if (t.kind === 'frame') to.push(t.frame);
      else if (t.kind === 'combinator') for (const q of t.inputs) {
        const r = this.resolve(q, new Set());
        if (r.kind === 'frame') to.push(r.frame);
      } else for (const r of this.resolvers(t.promise)) for (const h of this.holdersOf(r)) if (h.frame >= 0) to.push(h.frame);
      edges.set(f, [...new Set(to)].sort((a, b) => g.nodeId(a) - g.nodeId(b)));
    }
    const mark = new Map<number, 'grey' | 'black'>();
    const path: number[] = [];
    const found = new Map<string, AwaitCycle>();
    const visit = (f: number) => {
      mark.set(f, 'grey');
      path.push(f);
      for (const to of edges.get(f) ?? []) {
        if (mark.get(to) === 'grey') {
          const ring = path.slice(path.indexOf(to));
          const key = ring.map((k) => g.nodeId(k)).sort((a, b) => a - b).join(',');
          if (!found.has(key)) found.set(key, { frames: ring.map((k) => ({ nodeId: g.nodeId(k), fn: this.frame(k).fn })) });
        } else if (!mark.has(to) && edges.has(to)) visit(to);
      }
      path.pop();
      mark.set(f, 'black');
    };
    for (const f of [...edges.keys()].sort((a, b) => g.nodeId(a) - g.nodeId(b))) if (!mark.has(f)) visit(f);
    return [...found.values()];
  }

  /**
   * Responses still attached to a live socket (`socket._httpMessage`, cleared when the response
   * finishes) that nothing able to answer them holds: no suspended function's registers or scope,
   * no closure's scope (a pending reaction's handler, a timer's callback), directly or through
   * one plain object, and the same for their request.
   */
  private lostResponses(): LostResponse[] {
    const g = this.g;
    const out: LostResponse[] = [];
    for (let k = 0; k < g.nodeCount; k++) {
      if (g.nodeName(k) !== 'ServerResponse' || g.nodeType(k) !== 'object') continue;
      const live = g.retainers(k).some(([x]) => g.edgeName(x) === '_httpMessage');
      if (!live) continue;
      const req = g.child(k, 'property', 'req');
      const carried = new Set(req >= 0 ? [k, req] : [k]);
      // The request's own emitters: theirs are the only events that can come too late to answer.
      const own = new Set(carried);
      for (const c of carried) {
        const socket = g.child(c, 'property', 'socket');
        if (socket >= 0) own.add(socket);
      }
      const walk: Walk = { carried, own, scopes: new Map() };
      if (this.continued(k, walk) || (req >= 0 && this.continued(req, walk))) continue;
      const lost: LostResponse = { nodeId: g.nodeId(k), requestNodeId: req >= 0 ? g.nodeId(req) : null };
      const detail = req >= 0 ? this.requestLine(req) : undefined;
      if (detail) lost.detail = detail;
      out.push(lost);
    }
    return out;
  }

  /**
   * Whether something that can still run holds `k`: a suspended function (its registers or
   * scope), a module's scope, a pending timer (its arguments, an async-local store on it), or a
   * closure's scope or bound function that something besides the request itself can call (see
   * `escapes`); directly or through up to CONTINUE_DEPTH objects (a framework's reply object, a
   * plain holder, a Map or Set), never through the connection that only carries it (the socket,
   * its parser, the server's list of connections).
   */
  private continued(k: number, walk: Walk, depth = 0, seen = new Set<number>()): boolean {
    const g = this.g;
    seen.add(k);
    for (const [x, from] of g.retainers(k)) {
      const type = g.edgeType(x);
      if (type === 'weak' || seen.has(from)) continue;
      if (type === 'context' && this.names.isContext(from) && (this.names.isModuleContext(from) || this.escapes(from, walk))) return true;
      if (this.frames.has(from)) return true;
      const f = this.names.frameOfRegisters(from);
      if (f >= 0 && this.frames.has(f)) return true;
      if (depth >= CONTINUE_DEPTH || CARRIERS.has(g.nodeName(from)) || g.edgeName(x) === '_httpMessage') continue;
      if (LIVE_HOLDERS.has(g.nodeName(from))) return true;
      // `res.end.bind(res)` handed to a timer or an emitter: callable, like a closure's scope.
      // Only the response's own (deeper, the connection's bound callbacks hold its parts).
      if (g.nodeType(from) === 'closure' && depth === 0 && (type === 'shortcut' || g.edgeName(x) === 'bound_this')) {
        if (this.escapes(from, walk)) return true;
        continue;
      }
      // A Map's value or a Set's member sits in the collection's table.
      if (g.nodeType(from) === 'array' && type === 'internal') {
        for (const [y, coll] of g.retainers(from)) {
          if (g.edgeName(y) === 'table' && g.nodeType(coll) === 'object' && !seen.has(coll) && this.continued(coll, walk, depth + 1, seen)) return true;
        }
        continue;
      }
      if ((type === 'property' || type === 'element') && g.nodeType(from) === 'object' && this.continued(from, walk, depth + 1, seen)) return true;
    }
    return false;
  }

  /**
   * Whether a closure scope (or a bound function) can be run by anything but the request and
   * response it carries. Express 5's router keeps its `next` on the request (`req.next`), and
   * the scopes of `next` and the closures it made hold the response: a loop through the request
   * alone, which the connection never calls, so a handler lost under Express looked alive.
   * Walks up the scope's retainers through closures, scopes and plain holders, within
   * ESCAPE_BUDGET of them; a way back into the request or response ends there. A listener is
   * judged where its emitter's listener table is met, by its event: a way out, unless the
   * emitter is the request's own (it, its response, their socket) and the event comes too late
   * to answer (TOO_LATE). Anything else is a way out too, and so is running out of budget: a
   * suspended function, a module's scope, a timer, a root or any other kind of object.
   * Remembered per scope for the response being judged.
   */
  private escapes(scope: number, walk: Walk): boolean {
    const known = walk.scopes.get(scope);
    if (known !== undefined) return known;
    const answer = this.escapesOnce(scope, walk);
    walk.scopes.set(scope, answer);
    return answer;
  }

  private escapesOnce(scope: number, { carried, own }: Walk): boolean {
    const g = this.g;
    const seen = new Set<number>([scope]);
    const todo = [scope];
    while (todo.length > 0) {
      for (const [x, from] of g.retainers(todo.pop()!)) {
        // Listener tables are never in `seen`: each listener in one is judged by its own event.
        if (g.edgeType(x) === 'weak' || seen.has(from) || carried.has(from)) continue;
        const emitters = this.emittersOf(from);
        if (emitters.length > 0) {
          // A listener table (`_events`). The same listener is also reached through the
          // table's property array: judged once, by its named edge (the event).
          if (g.edgeType(x) !== 'property') continue;
          const event = String(g.edgeName(x));
          for (const em of emitters) if (!(own.has(em) && TOO_LATE[g.nodeName(em)]?.has(event))) return true;
          continue;
        }
        if (this.frames.has(from) || this.names.frameOfRegisters(from) >= 0) return true;
        const type = g.nodeType(from);
        if (this.names.isContext(from)) {
          if (this.names.isModuleContext(from)) return true;
        } else if (CARRIERS.has(g.nodeName(from)) || !(type === 'closure' || type === 'object' || type === 'array' || type === 'hidden')) return true;
        seen.add(from);
        if (seen.size > ESCAPE_BUDGET) return true;
        todo.push(from);
      }
    }
    return false;
  }

  /** The emitters whose listener table (`_events`) `k` is, usually none. */
  private emittersOf(k: number): number[] {
    const g = this.g;
    let out: number[] | null = null;
    for (const [x, from] of g.retainers(k)) if (g.edgeName(x) === '_events') (out ??= []).push(from);
    return out ?? NONE;
  }

  private childNamed(k: number, type: string, name: string): number {
    const g = this.g;
    const [first, end] = g.edgeRange(k);
    for (let x = first; x < end; x++) if (g.edgeType(x) === type && g.nodeName(g.edgeTarget(x)) === name) return g.edgeTarget(x);
    return -1;
  }

  private childOfType(k: number, edgeType: string, nodeType: string): number {
    const g = this.g;
    const [first, end] = g.edgeRange(k);
    for (let x = first; x < end; x++) if (g.edgeType(x) === edgeType && g.nodeType(g.edgeTarget(x)) === nodeType) return g.edgeTarget(x);
    return -1;
  }
}

type Target =
  | { kind: 'frame'; frame: number }
  | { kind: 'combinator'; promise: number; name: CombinatorName; inputs: number[]; total: number | null }
  | { kind: 'promise'; promise: number };

/** How many objects deep `continued` looks for something that can still answer a response. */
const CONTINUE_DEPTH = 3;
/** Objects that run what they hold when their time comes: a pending timer or immediate. */
const LIVE_HOLDERS = new Set(['Timeout', 'Immediate']);
const NONE: number[] = [];

/** What `continued` and `escapes` know of the response being judged. */
interface Walk {
  /** The response and its request. */
  carried: ReadonlySet<number>;
  /** Those and their socket: the emitters whose late events cannot answer. */
  own: ReadonlySet<number>;
  /** Scopes (and bound functions) already judged by `escapes`. */
  scopes: Map<number, boolean>;
}
/** How many closures, scopes and holders `escapes` looks through before it takes a scope for callable. */
const ESCAPE_BUDGET = 256;
/**
 * Events of a request's own emitters after which its response can no longer be answered: their
 * listeners (a logger's `on-finished`, a cleanup on `close`) never continue it. A request's
 * `end` and `close` (its body read: it closes then too) and a response's `timeout` can.
 */
const TOO_LATE: Record<string, ReadonlySet<string>> = {
  // `end`: a response never emits it, but on-finished (under morgan and Express's own
  // finalhandler) listens to it with `finish`.
  ServerResponse: new Set(['close', 'finish', 'prefinish', 'error', 'end']),
  IncomingMessage: new Set(['aborted', 'error']),
  Socket: new Set(['close', 'error']),
  TLSSocket: new Set(['close', 'error']),
};
/** Objects that carry a response without being able to answer it: the connection's parts. */
const CARRIERS = new Set(['Socket', 'TLSSocket', 'HTTPParser', 'ConnectionsList', 'Server', 'IncomingMessage', 'system / Context']);

const HINTS: Record<string, AttributionHint['kind']> = { IncomingMessage: 'request', ServerResponse: 'response', AbortSignal: 'abort-signal' };
