import { formatCallback, formatChain, formatDuration, formatSite, formatTook } from '../../src/format.js';
import type { TaskInfo } from '../../src/model.js';
import { blockedTaskText } from '../../src/render.js';
import type { State, Tab } from './model.js';

/** A row of a tab's table: its id (for details and cancel), cells, and sort keys. */
export interface Row {
  id: string;
  cells: string[];
  keys: Array<string | number>;
  /** Text the filter matches besides the cells (a task's trace id, pasted from a tracing backend). */
  also?: string;
}

export interface ColumnDef {
  header: string;
  right?: boolean;
  flex?: boolean;
}

export const COLUMNS: Record<Tab, ColumnDef[]> = {
  tasks: [{ header: 'ID', right: true }, { header: 'KIND' }, { header: 'AGE', right: true }, { header: 'NAME' }, { header: 'WAITS ON / CREATED AT', flex: true }],
  promises: [{ header: 'COUNT', right: true }, { header: 'OLDEST', right: true }, { header: 'CREATED AT', flex: true }],
  resources: [{ header: 'ID', right: true }, { header: 'KIND' }, { header: 'DETAIL' }, { header: 'CALLBACK / SITE', flex: true }],
  history: [{ header: 'ID', right: true }, { header: 'KIND' }, { header: 'OUTCOME' }, { header: 'TOOK', right: true }, { header: 'NAME' }, { header: 'DETAIL', flex: true }],
  blocked: [{ header: 'WHEN' }, { header: 'FOR', right: true }, { header: 'IN', flex: true }],
};

function taskRow(t: TaskInfo, depth = 0): Row {
  const where = (t.waitsOn ? formatSite(t.waitsOn) : t.site ? formatSite(t.site) : (t.detail ?? '-')) + (t.phase ? ` · ${t.phase}` : '');
  const name = `${'  '.repeat(depth)}${depth > 0 ? '└ ' : ''}${t.name}${t.state === 'cancelling' ? ' (cancelling)' : ''}`;
  const row: Row = { id: String(t.id), cells: [String(t.id), t.kind, formatDuration(t.ageMs), name, where], keys: [t.id, t.kind, t.ageMs, t.name, where] };
  if (t.traceId) row.also = t.traceId;
  return row;
}

/** Tasks in tree order: each parent followed by its children, indented. */
function treeRows(tasks: TaskInfo[]): Row[] {
  const ids = new Set(tasks.map((t) => t.id));
  const kids = new Map<number | null, TaskInfo[]>();
  for (const t of tasks) {
    const parent = t.parentId !== null && ids.has(t.parentId) ? t.parentId : null;
    kids.set(parent, [...(kids.get(parent) ?? []), t]);
  }
  const out: Row[] = [];
  const walk = (t: TaskInfo, depth: number) => {
    out.push(taskRow(t, depth));
    if (depth < 32) for (const c of kids.get(t.id) ?? []) walk(c, depth + 1);
  };
  for (const root of kids.get(null) ?? []) walk(root, 0);
  return out;
}

function baseRows(s: State, tab: Tab): Row[] {
  switch (tab) {
    case 'tasks':
      return s.tree ? treeRows(s.tasks) : s.tasks.map((t) => taskRow(t));
    case 'promises':
      return s.promiseGroups.map((g, i) => {
        // Only a live view whose stacks are off can be told to turn them on (a dump cannot).
        const site = g.site ? formatSite(g.site) : g.note && !/track promises on$/.test(g.note) ? `(${g.note})` : s.conn.status !== 'file' && (s.stacks ?? 'off') === 'off' ? '(no stack: press K for stacks)' : '(no stack)';
        return { id: `g${i}`, cells: [String(g.count), formatDuration(g.oldestMs), site], keys: [g.count, g.oldestMs, site] };
      });
    case 'resources': {
      const handles = s.handles.map((h) => {
        const site = formatCallback(h);
        const kind = h.kind + (h.refed ? '' : ' (unref)');
        return { id: h.id, cells: [h.id, kind, h.detail || '-', site], keys: [h.asyncId, kind, h.detail, site] };
      });
      const known = new Set(s.handles.map((h) => h.id));
      const resources = s.resources
        .filter((r) => !known.has(r.id))
        .map((r) => {
          const site = formatSite(r.site);
          return { id: r.id, cells: [r.id, r.type, `${formatDuration(r.ageMs)}${r.taskId ? ` task ${r.taskId}` : ''}`, site], keys: [r.asyncId, r.type, r.ageMs, site] };
        });
      return [...handles, ...resources];
    }
    case 'history':
      return s.history.map((h) => {
        const detail = h.outcome === 'cancelled' ? `by ${h.cancelledBy ?? '?'}${h.reason ? `: ${h.reason}` : ''}` : (h.error ?? '');
        return { id: `h${h.id}`, cells: [String(h.id), h.kind, h.outcome, formatTook(h), h.name, detail], keys: [h.id, h.kind, h.outcome, h.durationMs, h.name, detail] };
      });
    case 'blocked':
      return s.blocked.map((b, i) => {
        const top = (formatChain(b.stack, 1) || '(outside JavaScript)') + blockedTaskText(b.task);
        const when = new Date(b.startedAt).toISOString().slice(11, 19);
        return { id: `b${i}`, cells: [when, formatDuration(b.durationMs) + (b.ongoing ? '+' : ''), top], keys: [b.startedAt, b.durationMs, top] };
      });
  }
}

/** A tab's rows after the filter and the sort of its view. */
export function rowsFor(s: State, tab: Tab = s.tab): Row[] {
  const view = s.views[tab];
  let rows = baseRows(s, tab);
  const filter = view.filter.toLowerCase();
  if (filter) rows = rows.filter((r) => r.cells.some((c) => c.toLowerCase().includes(filter)) || (r.also !== undefined && r.also.toLowerCase().includes(filter)));
  if (view.sortColumn >= 0 && !(tab === 'tasks' && s.tree)) {
    const col = view.sortColumn;
    rows = [...rows].sort((a, b) => {
      const x = a.keys[col];
      const y = b.keys[col];
      const cmp = typeof x === 'number' && typeof y === 'number' ? x - y : String(x ?? '').localeCompare(String(y ?? ''));
      return view.sortDesc ? -cmp : cmp;
    });
  } else if (view.sortDesc) rows = [...rows].reverse();
  return rows;
}

/** The id of the selected row, if any. */
export function selectedId(s: State): string | null {
  const rows = rowsFor(s);
  return rows[s.views[s.tab].selected]?.id ?? null;
}
