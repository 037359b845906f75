import type { AwaitsResult, Level, LoopStats, StacksMode, WhereInfo } from '../../src/model.js';
import { renderResult } from '../../src/render.js';
import type { Intent } from './keys.js';
import { TABS } from './model.js';
import type { ConnStatus, PickerEntry, State, Tab, TabView } from './model.js';
import { COLUMNS, rowsFor, selectedId } from './rows.js';
import * as clean from './sanitize.js';

/**
 * The TUI's state and the pure reducer over protocol updates and intents. No blessed, no
 * I/O: the app loop performs what `effects` asks for.
 */

export type Action =
  | { type: 'connected'; pid: number; node: string; access: string }
  | { type: 'disconnected'; message: string; attempt: number }
  | { type: 'update'; changes: Record<string, unknown>; dropped: number; now: number; receivedAt?: number }
  /** A second passed (the app's own clock): how long the agent has been silent. */
  | { type: 'tick'; now: number }
  | { type: 'intent'; intent: Intent; pageSize?: number }
  | { type: 'filter-input'; text: string; done: boolean }
  | { type: 'confirm'; yes: boolean }
  | { type: 'where'; where: WhereInfo | null; error: string | null }
  | { type: 'awaits'; result: unknown; error: string | null }
  | { type: 'flash'; message: string }
  /** The agents discovered for the picker (the app scanned for them). */
  | { type: 'processes'; agents: PickerEntry[] }
  /** A key while the picker is open. */
  | { type: 'picker-key'; key: 'up' | 'down' | 'top' | 'bottom' | 'choose' | 'close' }
  /** top now watches another process: its data starts afresh, the tabs and views stay. */
  | { type: 'switched'; target: string };

/** What the app loop must do after an action (I/O lives there, not here). */
export type Effect =
  | { type: 'fetch-where'; id: string }
  | { type: 'fetch-awaits' }
  | { type: 'cancel'; id: string }
  | { type: 'track'; level: Level; stacks?: string }
  | { type: 'watch'; action: 'pause' | 'resume' }
  | { type: 'discover' }
  | { type: 'switch'; pid: number }
  | { type: 'quit' };

const SPARK_POINTS = 60;

export function initialState(target: string, status: ConnStatus = 'connecting'): State {
  const view = (): TabView => ({ selected: 0, sortColumn: -1, sortDesc: false, filter: '' });
  return {
    conn: { status, message: '', attempt: 0 },
    paused: false,
    readOnly: status === 'file',
    target,
    pid: null,
    node: null,
    uptimeMs: 0,
    level: null,
    stacks: null,
    loop: null,
    spark: [],
    health: null,
    tasks: [],
    taskTotal: 0,
    promiseGroups: [],
    promiseTotal: 0,
    resources: [],
    handles: [],
    history: [],
    blocked: [],
    dropped: 0,
    lastUpdate: 0,
    heardAt: 0,
    silentMs: 0,
    flashAt: 0,
    tab: 'tasks',
    views: { tasks: view(), promises: view(), resources: view(), history: view(), blocked: view() },
    mode: 'normal',
    filterInput: '',
    tree: false,
    detail: { open: false, where: null, error: null },
    confirm: null,
    flash: null,
    awaits: { loading: false, lines: [], error: null, scroll: 0, pauseMs: null },
    picker: null,
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function total(v: unknown): number | null {
  return isRecord(v) && typeof v.total === 'number' ? v.total : null;
}

/**
 * Merges one `watch` update (or a dump's snapshot) into the state. Anything malformed is
 * ignored field by field: a bad update never crashes the view.
 */
export function applyChanges(s: State, c: Record<string, unknown>): State {
  const next = { ...s };
  if (typeof c.pid === 'number') next.pid = c.pid;
  if (typeof c.node === 'string') next.node = c.node;
  if (typeof c.uptimeMs === 'number') next.uptimeMs = c.uptimeMs;
  if (isRecord(c.tracker)) {
    if (typeof c.tracker.level === 'string') next.level = c.tracker.level as Level;
    if (typeof c.tracker.stacks === 'string' || typeof c.tracker.stacks === 'number') next.stacks = c.tracker.stacks as StacksMode;
  }
  if (isRecord(c.loop) && isRecord(c.loop.delayMs)) {
    next.loop = c.loop as unknown as LoopStats;
    const p99 = Number((c.loop.delayMs as Record<string, unknown>).p99);
    if (Number.isFinite(p99)) next.spark = [...s.spark, p99].slice(-SPARK_POINTS);
  }
  if (isRecord(c.health) && (c.health.status === 'ok' || c.health.status === 'blocked' || c.health.status === 'paused')) {
    const blockedMs = Number(c.health.blockedMs);
    next.health = { status: c.health.status, blockedMs: Number.isFinite(blockedMs) ? blockedMs : 0, stack: clean.frames(c.health.stack), task: clean.blockedTask(c.health.task) };
  }
  const tasks = clean.list(c.tasks, clean.task);
  if (tasks) {
    next.tasks = tasks;
    next.taskTotal = total(c.tasks) ?? tasks.length;
  }
  const groups = clean.list(c.promiseGroups, clean.group);
  if (groups) next.promiseGroups = groups;
  if (isRecord(c.promises) && typeof c.promises.total === 'number') next.promiseTotal = c.promises.total;
  const resources = clean.list(c.resources, clean.resource);
  if (resources) next.resources = resources;
  const handles = clean.list(c.handles, clean.handle);
  if (handles) next.handles = handles;
  const history = clean.list(c.history, clean.historyEntry);
  if (history) next.history = history;
  const blocked = clean.list(c.blocked, clean.episode);
  if (blocked) next.blocked = blocked;
  return clampSelection(next);
}

function clampSelection(s: State): State {
  const n = rowCount(s, s.tab);
  const view = s.views[s.tab];
  const selected = Math.max(0, Math.min(view.selected, n - 1));
  if (selected === view.selected) return s;
  return { ...s, views: { ...s.views, [s.tab]: { ...view, selected } } };
}

function rowCount(s: State, tab: Tab): number {
  return rowsFor(s, tab).length;
}

function withView(s: State, patch: Partial<TabView>): State {
  return { ...s, views: { ...s.views, [s.tab]: { ...s.views[s.tab], ...patch } } };
}

const LEVEL_CYCLE: Level[] = ['tasks', 'resources', 'promises'];
const STACKS_CYCLE = ['off', 'tasks', '64', 'on'];
/** How long a status message stays in the header. */
const FLASH_MS = 5000;

/** The reducer: returns the next state and the effects the app loop should perform. */
export function reduce(s: State, action: Action): { state: State; effects: Effect[] } {
  switch (action.type) {
    case 'connected':
      return { state: { ...s, conn: { status: 'live', message: '', attempt: 0 }, pid: action.pid, node: action.node, readOnly: action.access === 'read' }, effects: [] };
    case 'disconnected':
      return { state: { ...s, conn: { status: 'reconnecting', message: action.message, attempt: action.attempt } }, effects: [] };
    case 'update':
      if (s.paused) return { state: { ...s, heardAt: action.receivedAt ?? s.heardAt, silentMs: 0 }, effects: [] };
      return { state: { ...applyChanges(s, action.changes), dropped: action.dropped, lastUpdate: action.now, heardAt: action.receivedAt ?? s.heardAt, silentMs: 0 }, effects: [] };
    case 'tick': {
      const silentMs = s.conn.status === 'live' && s.heardAt > 0 ? Math.max(0, action.now - s.heardAt) : 0;
      // A status message is shown for FLASH_MS from the first tick that sees it.
      let { flash, flashAt } = s;
      if (!flash) flashAt = 0;
      else if (flashAt === 0) flashAt = action.now;
      else if (action.now - flashAt >= FLASH_MS) [flash, flashAt] = [null, 0];
      if (silentMs === s.silentMs && flash === s.flash && flashAt === s.flashAt) return { state: s, effects: [] };
      return { state: { ...s, silentMs, flash, flashAt }, effects: [] };
    }
    case 'where':
      return { state: { ...s, detail: { open: s.detail.open, where: action.where, error: action.error } }, effects: [] };
    case 'awaits': {
      if (action.error !== null || !isRecord(action.result)) {
        return { state: { ...s, awaits: { ...s.awaits, loading: false, error: action.error ?? 'the agent sent no await graph' } }, effects: [] };
      }
      // The same text as `asyncmon awaits` (cleaned of control characters there), one line each.
      const lines = renderResult('awaits', action.result, 1000).split('\n');
      const pause = Number((action.result as Partial<AwaitsResult>).pauseMs);
      return { state: { ...s, awaits: { loading: false, lines, error: null, scroll: 0, pauseMs: Number.isFinite(pause) ? pause : null } }, effects: [] };
    }
    case 'flash':
      return { state: { ...s, flash: action.message }, effects: [] };
    case 'filter-input':
      if (action.done) return { state: clampSelection(withView({ ...s, mode: 'normal', filterInput: '' }, { filter: action.text, selected: 0 })), effects: [] };
      return { state: withView({ ...s, filterInput: action.text }, { filter: action.text, selected: 0 }), effects: [] };
    case 'confirm': {
      const c = s.confirm;
      const state = { ...s, mode: 'normal' as const, confirm: null };
      return { state, effects: action.yes && c ? [{ type: 'cancel', id: c.id }] : [] };
    }
    case 'intent':
      return reduceIntent(s, action.intent, action.pageSize ?? 10);
    case 'processes':
    case 'picker-key':
    case 'switched':
      return reducePicker(s, action);
  }
}

/** The process picker: opened with the agents found, moved through, chosen or closed. */
function reducePicker(s: State, action: Extract<Action, { type: 'processes' | 'picker-key' | 'switched' }>): { state: State; effects: Effect[] } {
  if (action.type === 'switched') {
    // A fresh state for the new process, keeping what the user set up: tab, views, tree, pause.
    const fresh = initialState(action.target);
    const views = Object.fromEntries(Object.entries(s.views).map(([k, v]) => [k, { ...v, selected: 0 }])) as State['views'];
    return { state: { ...fresh, tab: s.tab, views, tree: s.tree, paused: s.paused, flash: `switched to ${action.target}` }, effects: [] };
  }
  if (action.type === 'processes') {
    if (action.agents.length === 0) return { state: { ...s, flash: 'no agents found for this user (asyncmon ls lists them)' }, effects: [] };
    const current = action.agents.findIndex((a) => a.pid === s.pid);
    return { state: { ...s, mode: 'picker', picker: { agents: action.agents, selected: Math.max(0, current) } }, effects: [] };
  }
  const p = s.picker;
  if (!p || s.mode !== 'picker') return { state: s, effects: [] };
  const n = p.agents.length;
  const at = (i: number) => ({ state: { ...s, picker: { ...p, selected: Math.max(0, Math.min(n - 1, i)) } }, effects: [] as Effect[] });
  switch (action.key) {
    case 'up':
      return at(p.selected - 1);
    case 'down':
      return at(p.selected + 1);
    case 'top':
      return at(0);
    case 'bottom':
      return at(n - 1);
    case 'close':
      return { state: { ...s, mode: 'normal', picker: null }, effects: [] };
    case 'choose': {
      const chosen = p.agents[p.selected];
      const closed = { ...s, mode: 'normal' as const, picker: null };
      if (!chosen || chosen.pid === s.pid) return { state: closed, effects: [] };
      return { state: closed, effects: [{ type: 'switch', pid: chosen.pid }] };
    }
  }
}

function reduceIntent(s: State, intent: Intent, pageSize: number): { state: State; effects: Effect[] } {
  const none = (state: State) => ({ state, effects: [] as Effect[] });
  const view = s.views[s.tab];
  const n = rowCount(s, s.tab);
  // Moving with the detail pane open shows the new row's details (and fetches where it waits).
  const select = (i: number) => {
    const moved = withView(s, { selected: Math.max(0, Math.min(n - 1, i)) });
    const id = selectedId(moved);
    if (!s.detail.open || id === selectedId(s)) return none(moved);
    const state = { ...moved, detail: { open: true, where: null, error: null } };
    return { state, effects: s.tab === 'tasks' && id && s.conn.status !== 'file' ? [{ type: 'fetch-where', id } as Effect] : [] };
  };
  if (s.mode === 'help') return intent.type === 'quit' ? { state: s, effects: [{ type: 'quit' }] } : none({ ...s, mode: 'normal' });
  if (s.mode === 'awaits') return reduceAwaits(s, intent, pageSize);
  switch (intent.type) {
    case 'move':
      return select(view.selected + intent.by);
    case 'page':
      return select(view.selected + intent.by * Math.max(1, pageSize));
    case 'top':
      return select(0);
    case 'bottom':
      return select(n - 1);
    case 'next-tab':
    case 'prev-tab': {
      const i = TABS.indexOf(s.tab);
      const tab = TABS[(i + (intent.type === 'next-tab' ? 1 : TABS.length - 1)) % TABS.length];
      return none(clampSelection({ ...s, tab, detail: { open: false, where: null, error: null } }));
    }
    case 'tab':
      return none(clampSelection({ ...s, tab: TABS[intent.index] ?? s.tab, detail: { open: false, where: null, error: null } }));
    case 'open-detail': {
      const id = selectedId(s);
      if (!id) return none(s);
      const state = { ...s, detail: { open: true, where: null, error: null } };
      return { state, effects: s.tab === 'tasks' && s.conn.status !== 'file' ? [{ type: 'fetch-where', id }] : [] };
    }
    case 'back':
      if (s.detail.open) return none({ ...s, detail: { open: false, where: null, error: null } });
      if (view.filter) return none(withView(s, { filter: '' }));
      return none({ ...s, flash: null });
    case 'start-filter':
      return none({ ...s, mode: 'filter', filterInput: view.filter });
    case 'sort-next':
      return none(withView(s, { sortColumn: view.sortColumn + 1 >= columnCount(s.tab) ? -1 : view.sortColumn + 1 }));
    case 'sort-order':
      return none(withView(s, { sortDesc: !view.sortDesc }));
    case 'ask-cancel': {
      if (s.conn.status === 'file') return none({ ...s, flash: 'a dump is read-only' });
      if (s.readOnly) return none({ ...s, flash: 'read-only: cancel needs control access' });
      const id = selectedId(s);
      if (!id || (s.tab !== 'tasks' && s.tab !== 'resources')) return none({ ...s, flash: 'select a task or a handle to cancel' });
      return none({ ...s, mode: 'confirm', confirm: { id, label: describeSelected(s, id) } });
    }
    case 'toggle-tree': {
      // Without nesting the tree looks just like the list: say so, or `t` seems to do nothing.
      const nests = s.tasks.some((t) => t.parentId !== null || t.children > 0);
      return none({ ...s, tree: !s.tree, flash: !s.tree && !nests ? 'tree view: no task runs inside another, so the tree is the same as the list' : s.flash });
    }
    case 'toggle-pause': {
      const paused = !s.paused;
      return { state: { ...s, paused }, effects: s.conn.status === 'file' ? [] : [{ type: 'watch', action: paused ? 'pause' : 'resume' }] };
    }
    case 'cycle-level':
    case 'cycle-stacks': {
      if (s.conn.status === 'file' || s.readOnly) return none({ ...s, flash: s.readOnly ? 'read-only: track needs control access' : 'a dump is read-only' });
      const level = s.level ?? 'tasks';
      // The new mode is shown at once, so a second press goes one step further, not the same one.
      if (intent.type === 'cycle-level') {
        const next = LEVEL_CYCLE[(LEVEL_CYCLE.indexOf(level) + 1) % LEVEL_CYCLE.length];
        return { state: { ...s, level: next }, effects: [{ type: 'track', level: next }] };
      }
      const current = String(s.stacks ?? 'off');
      const i = STACKS_CYCLE.indexOf(current);
      const stacks = STACKS_CYCLE[(i + 1) % STACKS_CYCLE.length];
      return { state: { ...s, stacks: /^\d+$/.test(stacks) ? Number(stacks) : (stacks as StacksMode) }, effects: [{ type: 'track', level, stacks }] };
    }
    case 'open-awaits':
      if (s.conn.status === 'file') return none({ ...s, flash: 'a dump has no heap: the await graph needs a live process' });
      return openAwaits(s);
    case 'help':
      return none({ ...s, mode: 'help' });
    case 'pick-process':
      if (s.conn.status === 'file') return none({ ...s, flash: 'a dump is one process: top without --file picks among the live ones' });
      return { state: s, effects: [{ type: 'discover' }] };
    case 'quit':
      return { state: s, effects: [{ type: 'quit' }] };
  }
}

/** Opens the await view and asks for a snapshot (each `a` asks once: never on a timer). */
function openAwaits(s: State): { state: State; effects: Effect[] } {
  if (s.awaits.loading) return { state: { ...s, mode: 'awaits' }, effects: [] };
  return { state: { ...s, mode: 'awaits', awaits: { ...s.awaits, loading: true, error: null } }, effects: [{ type: 'fetch-awaits' }] };
}

/** Keys in the await view: scroll, `a` for another snapshot, Esc back, q quits. */
function reduceAwaits(s: State, intent: Intent, pageSize: number): { state: State; effects: Effect[] } {
  const last = Math.max(0, s.awaits.lines.length - 1);
  const scroll = (to: number) => ({ state: { ...s, awaits: { ...s.awaits, scroll: Math.max(0, Math.min(last, to)) } }, effects: [] as Effect[] });
  switch (intent.type) {
    case 'move':
      return scroll(s.awaits.scroll + intent.by);
    case 'page':
      return scroll(s.awaits.scroll + intent.by * Math.max(1, pageSize));
    case 'top':
      return scroll(0);
    case 'bottom':
      return scroll(last);
    case 'open-awaits':
      return openAwaits(s);
    case 'quit':
      return { state: s, effects: [{ type: 'quit' }] };
    case 'back':
      return { state: { ...s, mode: 'normal' }, effects: [] };
    default:
      return { state: s, effects: [] };
  }
}

function describeSelected(s: State, id: string): string {
  if (s.tab === 'tasks') {
    const t = s.tasks.find((x) => String(x.id) === id);
    return t ? `task ${t.id} ${t.name}` : `task ${id}`;
  }
  const h = s.handles.find((x) => x.id === id);
  return h ? `${h.kind} ${h.id}${h.detail ? ` (${h.detail})` : ''}` : id;
}

function columnCount(tab: Tab): number {
  return COLUMNS[tab].length;
}
