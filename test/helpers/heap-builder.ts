/**
 * Builds the text of a V8 heap snapshot by hand, with the real meta of Node 20 (with
 * `trace_node_id`) or Node 24 (without it), so the parser and the await-graph analysis can be
 * tested on small graphs whose every node is known.
 */

const NODE_TYPES = ['hidden', 'array', 'string', 'object', 'code', 'closure', 'regexp', 'number', 'native', 'synthetic', 'concatenated string', 'sliced string', 'symbol', 'bigint', 'object shape'];
const EDGE_TYPES = ['context', 'element', 'property', 'internal', 'hidden', 'shortcut', 'weak'];
export type NodeType = 'hidden' | 'array' | 'string' | 'object' | 'code' | 'closure' | 'native' | 'synthetic';
export type EdgeType = 'context' | 'element' | 'property' | 'internal' | 'hidden' | 'shortcut' | 'weak';

interface BuiltNode {
  type: NodeType;
  name: string;
  id: number;
  selfSize: number;
  edges: Array<{ type: EdgeType; name: string | number; to: number }>;
}

export type Flavour = 'node20' | 'node24';

export class SnapshotBuilder {
  private readonly nodes: BuiltNode[] = [];
  private nextId = 1;
  /** Closures' function starts, for the `locations` section. */
  private readonly locations: Array<[node: number, scriptId: number, line: number, column: number]> = [];

  constructor(readonly flavour: Flavour = 'node20') {}

  /** Adds a node; returns its ordinal. Ids are odd and increasing, as V8's are. */
  node(type: NodeType, name: string, opts: { selfSize?: number; id?: number } = {}): number {
    const id = opts.id ?? this.nextId;
    this.nextId = Math.max(this.nextId, id) + 2;
    this.nodes.push({ type, name, id, selfSize: opts.selfSize ?? 16, edges: [] });
    return this.nodes.length - 1;
  }

  edge(from: number, type: EdgeType, name: string | number, to: number): this {
    this.nodes[from].edges.push({ type, name, to });
    return this;
  }

  location(node: number, scriptId: number, line: number, column: number): this {
    this.locations.push([node, scriptId, line, column]);
    return this;
  }

  id(node: number): number {
    return this.nodes[node].id;
  }

  /** The snapshot as V8 writes it (one node and one edge per line). */
  text(): string {
    const nodeFields = this.flavour === 'node20' ? ['type', 'name', 'id', 'self_size', 'edge_count', 'trace_node_id', 'detachedness'] : ['type', 'name', 'id', 'self_size', 'edge_count', 'detachedness'];
    const strings: string[] = [];
    const index = new Map<string, number>();
    const str = (s: string) => {
      let i = index.get(s);
      if (i === undefined) {
        i = strings.length;
        strings.push(s);
        index.set(s, i);
      }
      return i;
    };
    str('<dummy>');
    const nodeRows: number[][] = [];
    const edgeRows: number[][] = [];
    for (const n of this.nodes) {
      const row = [NODE_TYPES.indexOf(n.type), str(n.name), n.id, n.selfSize, n.edges.length];
      if (this.flavour === 'node20') row.push(0);
      row.push(0);
      nodeRows.push(row);
      for (const e of n.edges) {
        const byIndex = e.type === 'element' || e.type === 'hidden';
        edgeRows.push([EDGE_TYPES.indexOf(e.type), byIndex ? (e.name as number) : str(String(e.name)), e.to * nodeFields.length]);
      }
    }
    const meta = {
      node_fields: nodeFields,
      node_types: [NODE_TYPES, 'string', 'number', 'number', 'number', 'number', 'number'].slice(0, nodeFields.length),
      edge_fields: ['type', 'name_or_index', 'to_node'],
      edge_types: [EDGE_TYPES, 'string_or_number', 'node'],
      trace_function_info_fields: ['function_id', 'name', 'script_name', 'script_id', 'line', 'column'],
      trace_node_fields: ['id', 'function_info_index', 'count', 'size', 'children'],
      sample_fields: ['timestamp_us', 'last_assigned_id'],
      location_fields: ['object_index', 'script_id', 'line', 'column'],
    };
    const rows = (r: number[][]) => r.map((x) => x.join(',')).join('\n,');
    return (
      `{"snapshot":{"meta":${JSON.stringify(meta)},"node_count":${this.nodes.length},"edge_count":${edgeRows.length},"trace_function_count":0},\n` +
      `"nodes":[${rows(nodeRows)}],\n"edges":[${rows(edgeRows)}],\n"trace_function_infos":[],\n"trace_tree":[],\n"samples":[],\n` +
      `"locations":[${rows(this.locations.map(([n, s, l, c]) => [n * nodeFields.length, s, l, c]))}],\n` +
      `"strings":[${strings.map((s) => JSON.stringify(s)).join(',\n')}]}`
    );
  }
}
