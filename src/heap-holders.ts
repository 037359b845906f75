import type { HeapGraph } from './heap-graph.js';

/**
 * Names for heap objects the way a user knows them: who holds a function (a short retainer path
 * from something named: a module variable, a property of a named object, a timer's or socket's
 * callback, a suspended async function), which script a closure comes from, and which contexts
 * are a module's top level. Pure reads of a HeapGraph, bounded, shared by the await-graph
 * analysis.
 */

/** What a retainer walk stopped at: a label the user can read, and the frame if one holds it. */
export interface Holder {
  label: string;
  /** Ordinal of the suspended function (Generator) that holds it, or -1. */
  frame: number;
}

/** Objects Node uses for I/O and timers: a callback held by one is held by the event loop. */
const HANDLES = new Set(['Timeout', 'Immediate', 'Socket', 'TLSSocket', 'Server', 'TCP', 'Pipe', 'ChildProcess', 'FSReqCallback', 'Worker', 'MessagePort', 'Interface', 'ReadStream', 'WriteStream', 'EventEmitter', 'AbortSignal']);
const PLAIN = new Set(['Object', 'Array', '']);
const CONTEXT = 'system / Context';
const MAX_DEPTH = 12;
const MAX_VISITED = 4000;

/** Graph reads the analysis needs about closures, contexts and frames. */
export class HeapNames {
  private scripts = new Map<number, string | null>();
  private closures = new Map<number, number>();

  constructor(private readonly g: HeapGraph) {}

  /** The script (URL or path) closure k was compiled from, or null. */
  scriptOf(k: number): string | null {
    const shared = this.g.child(k, 'internal', 'shared');
    if (shared < 0) return null;
    let s = this.scripts.get(shared);
    if (s !== undefined) return s;
    // Node 20 calls the edge `script_or_debug_info`, Node 22 and 24 `script`.
    let script = this.g.child(shared, 'internal', 'script');
    if (script < 0) script = this.g.child(shared, 'internal', 'script_or_debug_info');
    s = script >= 0 ? this.g.nodeName(script) || null : null;
    this.scripts.set(shared, s);
    return s;
  }

  isContext(k: number): boolean {
    return this.g.nodeName(k) === CONTEXT;
  }

  /** A module's (or script's) top-level context: the one whose `previous` is the native context. */
  isModuleContext(k: number): boolean {
    const prev = this.g.child(k, 'internal', 'previous');
    return prev < 0 || this.g.nodeName(prev) === 'system / NativeContext';
  }

  /** A closure whose context is k (to name a context by its function or script), or -1. */
  closureOf(context: number): number {
    let c = this.closures.get(context);
    if (c !== undefined) return c;
    c = -1;
    for (const [x, from] of this.g.retainers(context)) {
      if (this.g.edgeType(x) === 'internal' && this.g.edgeName(x) === 'context' && this.g.nodeType(from) === 'closure') {
        c = from;
        break;
      }
    }
    this.closures.set(context, c);
    return c;
  }

  /** If k is the register file of a suspended function, that function (Generator) — else -1. */
  frameOfRegisters(k: number): number {
    if (this.g.nodeType(k) !== 'array') return -1;
    for (const [x, from] of this.g.retainers(k)) if (this.g.edgeName(x) === 'parameters_and_registers') return from;
    return -1;
  }

  /**
   * The suspended function whose own scope is context k, or -1. A function with no scope of its
   * own runs in the one it was defined in (its closure's context): that scope is shared with
   * every function defined there, so it is not the frame's (under tsx a module's top level sits
   * one wrapper below the native context, and every top-level async function runs in it).
   */
  frameOfContext(k: number, isFrame: (k: number) => boolean): number {
    const g = this.g;
    for (const [x, from] of g.retainers(k)) {
      if (g.edgeName(x) !== 'context' || g.edgeType(x) !== 'internal' || !isFrame(from)) continue;
      const fn = g.child(from, 'internal', 'function');
      if (fn >= 0 && g.child(fn, 'internal', 'context') === k) continue;
      return from;
    }
    return -1;
  }

  /**
   * Who holds node `start`: a breadth-first walk up its retainers to the nearest thing with a
   * name, as a label such as `pool.js: pool → Pool#_pendingQueue[3]` or `Timeout._onTimeout`.
   * Stops at a suspended function (`isFrame`), a module-level variable, a property of a handle
   * (timer, socket…), or a GC root; bounded in depth and nodes visited.
   */
  holders(start: number, isFrame: (k: number) => boolean, limit = 3): Holder[] {
    const g = this.g;
    const via = new Map<number, number>(); // node → the edge it holds the previous node by
    const parent = new Map<number, number>();
    const strong: Holder[] = [];
    const weak: Holder[] = [];
    let level = [start];
    via.set(start, -1);
    // Level by level, so the shortest paths come first; a GC root or a native holder names the
    // holder only when nothing the user wrote does.
    for (let depth = 0; depth < MAX_DEPTH && level.length > 0 && strong.length === 0; depth++) {
      const next: number[] = [];
      for (const k of level) {
        for (const [x, from] of g.retainers(k)) {
          if (via.has(from) || via.size > MAX_VISITED) continue;
          if (g.edgeType(x) === 'weak') continue;
          via.set(from, x);
          parent.set(from, k);
          const anchor = this.anchor(from, x, isFrame);
          if (anchor) {
            (anchor.weak ? weak : strong).push({ label: this.label(from, anchor.prefix, anchor.named, parent, via), frame: anchor.frame });
            continue;
          }
          // Not worth walking through: code, maps, and V8's own bookkeeping.
          const ft = g.nodeType(from);
          if (ft === 'code' || ft === 'object shape') continue;
          next.push(from);
        }
      }
      level = next;
    }
    return (strong.length > 0 ? strong : weak).slice(0, limit);
  }

  /** If `from` (reached via edge x) names what it holds, the start of the label. */
  private anchor(from: number, x: number, isFrame: (k: number) => boolean): { prefix: string; frame: number; weak: boolean; named: boolean } | null {
    const g = this.g;
    if (isFrame(from)) return { prefix: `suspended ${this.frameName(from)}()`, frame: from, weak: false, named: false };
    const regs = this.frameOfRegisters(from);
    if (regs >= 0 && isFrame(regs)) return { prefix: `suspended ${this.frameName(regs)}()`, frame: regs, weak: false, named: false };
    if (this.isContext(from) && g.edgeType(x) === 'context') {
      const f = this.isModuleContext(from) ? -1 : this.frameOfContext(from, isFrame);
      if (f >= 0) return { prefix: `suspended ${this.frameName(f)}(): ${String(g.edgeName(x))}`, frame: f, weak: false, named: true };
      // A module's top level, or a scope no suspended function owns: named by its script.
      const c = this.closureOf(from);
      const script = c >= 0 ? this.scriptOf(c) : null;
      if (script || this.isModuleContext(from)) return { prefix: `${script ? baseName(script) : '(module)'}: ${String(g.edgeName(x))}`, frame: -1, weak: false, named: true };
    }
    const type = g.nodeType(from);
    const name = g.nodeName(from);
    if ((type === 'object' || type === 'native') && HANDLES.has(name)) return { prefix: name, frame: -1, weak: false, named: false };
    if (type === 'synthetic' || type === 'native' || name.startsWith('Node / ')) return { prefix: name, frame: -1, weak: true, named: false };
    return null;
  }

  private frameName(k: number): string {
    const fn = this.g.child(k, 'internal', 'function');
    return (fn >= 0 && this.g.nodeName(fn)) || '(anonymous)';
  }

  /** The label from `anchor` down to the start of the walk. */
  private label(anchor: number, prefix: string, named: boolean, parent: Map<number, number>, via: Map<number, number>): string {
    const g = this.g;
    let text = prefix;
    let k = anchor;
    // A variable's name is already in the prefix.
    let skip = named;
    while (parent.has(k)) {
      const x = via.get(k)!;
      const type = g.edgeType(x);
      const name = g.edgeName(x);
      const owner = g.nodeName(k);
      if (skip) skip = false;
      else if (type === 'element') text += `[${name}]`;
      else if (type === 'property') text += k === anchor ? `#${String(name)}` : PLAIN.has(owner) ? `.${String(name)}` : ` → ${owner}#${String(name)}`;
      else if (type === 'context') {
        const c = this.closureOf(k);
        text += ` → ${c >= 0 && g.nodeName(c) ? g.nodeName(c) : '(closure)'}: ${String(name)}`;
      } else if (type === 'shortcut' && String(name).startsWith('bound_argument')) text += ` (${String(name).replace('_', ' ')})`;
      else if (type === 'internal' && name === 'bound_this') text += ' (bound this)';
      k = parent.get(k)!;
    }
    return text;
  }
}

export function baseName(path: string): string {
  const i = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return i >= 0 ? path.slice(i + 1) : path;
}
