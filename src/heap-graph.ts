import { AsyncmonError } from './errors.js';

/** The `snapshot.meta` of a V8 heap snapshot: what each number of `nodes` and `edges` means. */
export interface HeapMeta {
  node_fields: string[];
  /** One entry per node field: an array of names for an enum field (`type`), else a kind. */
  node_types: (string[] | string)[];
  edge_fields: string[];
  edge_types: (string[] | string)[];
  location_fields?: string[];
}

/**
 * A parsed heap snapshot as a graph over typed arrays. Nodes are addressed by their ordinal
 * (0 … nodeCount-1), edges by their ordinal in the snapshot's edge order (a node's outgoing
 * edges are contiguous). Field positions and type names come from the snapshot's own meta, looked
 * up by name, so a V8 that adds or reorders fields (Node 24 dropped `trace_node_id`) still reads.
 * Retainers (the reverse index) and the id index are built only when first asked for.
 */
export class HeapGraph {
  readonly nodeCount: number;
  readonly edgeCount: number;
  /** Node type names, by type index (`hidden`, `array`, `string`, `object`, `closure`, …). */
  readonly nodeTypes: readonly string[];
  readonly edgeTypes: readonly string[];
  private readonly nf: number;
  private readonly ef: number;
  private readonly nType: number;
  private readonly nName: number;
  private readonly nId: number;
  private readonly nSize: number;
  private readonly eType: number;
  private readonly eName: number;
  private readonly eTo: number;
  /** Outgoing edges of node k are firstEdge[k] … firstEdge[k+1]-1. */
  private readonly firstEdge: Uint32Array;
  /** Edge types whose name_or_index is an index, not a string (`element`, `hidden`). */
  private readonly indexEdge: boolean[];
  private retainerFirst: Uint32Array | null = null;
  private retainerEdge: Uint32Array | null = null;
  private retainerFrom: Uint32Array | null = null;
  private byId: Uint32Array | null = null;
  private locationByNode: Map<number, number> | null = null;

  constructor(
    readonly meta: HeapMeta,
    private readonly nodes: Uint32Array,
    private readonly edges: Uint32Array,
    private readonly strings: readonly string[],
    private readonly locations: Uint32Array = new Uint32Array(0),
  ) {
    const field = (fields: string[], name: string) => {
      const i = fields.indexOf(name);
      if (i < 0) throw bad(`meta has no "${name}" field (fields: ${fields.join(', ')})`);
      return i;
    };
    this.nf = meta.node_fields.length;
    this.ef = meta.edge_fields.length;
    this.nType = field(meta.node_fields, 'type');
    this.nName = field(meta.node_fields, 'name');
    this.nId = field(meta.node_fields, 'id');
    this.nSize = field(meta.node_fields, 'self_size');
    const nEdges = field(meta.node_fields, 'edge_count');
    this.eType = field(meta.edge_fields, 'type');
    this.eName = field(meta.edge_fields, 'name_or_index');
    this.eTo = field(meta.edge_fields, 'to_node');
    const enumOf = (types: (string[] | string)[], i: number, what: string) => {
      const t = types[i];
      if (!Array.isArray(t)) throw bad(`meta's ${what} types are not a list of names`);
      return t;
    };
    this.nodeTypes = enumOf(meta.node_types, this.nType, 'node');
    this.edgeTypes = enumOf(meta.edge_types, this.eType, 'edge');
    this.indexEdge = this.edgeTypes.map((t) => t === 'element' || t === 'hidden');
    if (nodes.length % this.nf !== 0) throw bad('nodes is not a whole number of nodes');
    if (edges.length % this.ef !== 0) throw bad('edges is not a whole number of edges');
    this.nodeCount = nodes.length / this.nf;
    this.edgeCount = edges.length / this.ef;

    // Index the edges, and check every number that indexes something, so later reads cannot
    // run off an array on a malformed snapshot.
    this.firstEdge = new Uint32Array(this.nodeCount + 1);
    let e = 0;
    for (let k = 0; k < this.nodeCount; k++) {
      this.firstEdge[k] = e;
      const o = k * this.nf;
      e += nodes[o + nEdges];
      if (nodes[o + this.nType] >= this.nodeTypes.length) throw bad(`node ${k} has an unknown type ${nodes[o + this.nType]}`);
      if (nodes[o + this.nName] >= strings.length) throw bad(`node ${k} names string ${nodes[o + this.nName]}, past the ${strings.length} strings`);
    }
    if (e !== this.edgeCount) throw bad(`the nodes' edge counts add up to ${e}, but there are ${this.edgeCount} edges`);
    this.firstEdge[this.nodeCount] = e;
    for (let x = 0; x < this.edgeCount; x++) {
      const o = x * this.ef;
      const t = edges[o + this.eType];
      if (t >= this.edgeTypes.length) throw bad(`edge ${x} has an unknown type ${t}`);
      if (!this.indexEdge[t] && edges[o + this.eName] >= strings.length) throw bad(`edge ${x} names string ${edges[o + this.eName]}, past the ${strings.length} strings`);
      const to = edges[o + this.eTo];
      if (to % this.nf !== 0 || to / this.nf >= this.nodeCount) throw bad(`edge ${x} points at ${to}, not a node`);
    }
  }

  /** Bytes held by the typed arrays (the graph without its strings). */
  get arrayBytes(): number {
    let n = this.nodes.byteLength + this.edges.byteLength + this.firstEdge.byteLength + this.locations.byteLength;
    for (const a of [this.retainerFirst, this.retainerEdge, this.retainerFrom, this.byId]) n += a?.byteLength ?? 0;
    return n;
  }

  nodeType(k: number): string {
    return this.nodeTypes[this.nodes[k * this.nf + this.nType]];
  }
  nodeName(k: number): string {
    return this.strings[this.nodes[k * this.nf + this.nName]];
  }
  /** The heap object id: stable across snapshots, and what the inspector's `objectId` takes. */
  nodeId(k: number): number {
    return this.nodes[k * this.nf + this.nId];
  }
  selfSize(k: number): number {
    return this.nodes[k * this.nf + this.nSize];
  }

  /** The ordinals of node k's outgoing edges are `[first, end)`. */
  edgeRange(k: number): [first: number, end: number] {
    return [this.firstEdge[k], this.firstEdge[k + 1]];
  }
  edgeType(x: number): string {
    return this.edgeTypes[this.edges[x * this.ef + this.eType]];
  }
  /** The property or variable name of edge x, or its index for `element` and `hidden` edges. */
  edgeName(x: number): string | number {
    const o = x * this.ef;
    const v = this.edges[o + this.eName];
    return this.indexEdge[this.edges[o + this.eType]] ? v : this.strings[v];
  }
  /** The node (ordinal) edge x points at. */
  edgeTarget(x: number): number {
    return this.edges[x * this.ef + this.eTo] / this.nf;
  }

  /** Node k's outgoing edges, as plain objects (convenient, not for hot loops). */
  outgoing(k: number): HeapEdge[] {
    const out: HeapEdge[] = [];
    for (let x = this.firstEdge[k]; x < this.firstEdge[k + 1]; x++) out.push({ type: this.edgeType(x), name: this.edgeName(x), to: this.edgeTarget(x) });
    return out;
  }

  /** The target of node k's first edge of `type` named `name`, or -1. */
  child(k: number, type: string, name: string | number): number {
    for (let x = this.firstEdge[k]; x < this.firstEdge[k + 1]; x++) {
      if (this.edgeName(x) === name && this.edgeType(x) === type) return this.edgeTarget(x);
    }
    return -1;
  }

  /** The edges pointing at node k, as `[edge ordinal, from node]` pairs (builds the index once). */
  retainers(k: number): Array<[edge: number, from: number]> {
    this.buildRetainers();
    const out: Array<[number, number]> = [];
    for (let i = this.retainerFirst![k]; i < this.retainerFirst![k + 1]; i++) out.push([this.retainerEdge![i], this.retainerFrom![i]]);
    return out;
  }

  /** How many edges point at node k. */
  retainerCount(k: number): number {
    this.buildRetainers();
    return this.retainerFirst![k + 1] - this.retainerFirst![k];
  }

  /** The ordinal of the node with heap id `id`, or -1. */
  nodeById(id: number): number {
    if (!this.byId) {
      const order = new Uint32Array(this.nodeCount);
      for (let k = 0; k < this.nodeCount; k++) order[k] = k;
      this.byId = order.sort((a, b) => this.nodeId(a) - this.nodeId(b));
    }
    let lo = 0;
    let hi = this.nodeCount - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = this.nodeId(this.byId[mid]);
      if (v === id) return this.byId[mid];
      if (v < id) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /**
   * Where the function of closure k starts, from the snapshot's `locations` (zero-based line and
   * column, and V8's script id), or null when the snapshot has none for it.
   */
  location(k: number): { scriptId: number; line: number; column: number } | null {
    const fields = this.meta.location_fields ?? ['object_index', 'script_id', 'line', 'column'];
    const lf = fields.length;
    const [oi, si, li, ci] = ['object_index', 'script_id', 'line', 'column'].map((f) => fields.indexOf(f));
    if (oi < 0 || si < 0 || li < 0 || ci < 0 || this.locations.length < lf) return null;
    if (!this.locationByNode) {
      this.locationByNode = new Map();
      for (let i = 0; i + lf <= this.locations.length; i += lf) this.locationByNode.set(this.locations[i + oi] / this.nf, i);
    }
    const i = this.locationByNode.get(k);
    if (i === undefined) return null;
    return { scriptId: this.locations[i + si], line: this.locations[i + li], column: this.locations[i + ci] };
  }

  private buildRetainers(): void {
    if (this.retainerFirst) return;
    const first = new Uint32Array(this.nodeCount + 1);
    for (let x = 0; x < this.edgeCount; x++) first[this.edgeTarget(x) + 1]++;
    for (let k = 0; k < this.nodeCount; k++) first[k + 1] += first[k];
    const fill = first.slice(0, this.nodeCount);
    const edge = new Uint32Array(this.edgeCount);
    const from = new Uint32Array(this.edgeCount);
    for (let k = 0; k < this.nodeCount; k++) {
      for (let x = this.firstEdge[k]; x < this.firstEdge[k + 1]; x++) {
        const slot = fill[this.edgeTarget(x)]++;
        edge[slot] = x;
        from[slot] = k;
      }
    }
    this.retainerFirst = first;
    this.retainerEdge = edge;
    this.retainerFrom = from;
  }
}

/** One outgoing edge of a node. */
export interface HeapEdge {
  type: string;
  name: string | number;
  to: number;
}

function bad(message: string): AsyncmonError {
  return new AsyncmonError('BAD_ARGUMENT', `heap snapshot: ${message}`);
}
