// The TUI's reducer without blessed: protocol updates merge into the state, keys (as intents)
// move, filter, sort and switch tabs, and the things that need I/O come back as effects for the
// app loop. Malformed updates must never throw: an agent of another version, or a broken one,
// must not take the view down.
import { describe, expect, it } from 'vitest';
import type { BlockedEpisode, HandleInfo, HistoryEntry, PromiseGroup, TaskInfo, WhereInfo } from '../src/model.js';
import type { Intent } from '../cli/tui/keys.js';
import { rowsFor, selectedId } from '../cli/tui/rows.js';
import { TABS } from '../cli/tui/model.js';
import { applyChanges, initialState, reduce } from '../cli/tui/state.js';
import type { State } from '../cli/tui/model.js';
import type { Action, Effect } from '../cli/tui/state.js';
import { detailLines, footerLine, headerLines, tableLines } from '../cli/tui/view.js';

function task(id: number, name: string, extra: Partial<TaskInfo> = {}): TaskInfo {
  return { id, name, kind: 'task', state: 'running', ageMs: 1000 * id, parentId: null, site: null, children: 0, ...extra };
}

function history(id: number, name: string, outcome: HistoryEntry['outcome'] = 'finished'): HistoryEntry {
  return { id, name, kind: 'task', parentId: null, outcome, durationMs: 5, endedAt: 1_700_000_000_000 };
}

function handle(asyncId: number, kind: HandleInfo['kind'] = 'timeout'): HandleInfo {
  return { id: `r${asyncId}`, asyncId, kind, type: 'Timeout', refed: true, callback: { fn: 'tick', file: '/srv/app.js', line: 3, column: 1 }, detail: 'after 1000ms' };
}

function loop(p99: number) {
  return { delayMs: { p50: 1, p90: 2, p99, max: p99, mean: 1 }, utilization: 0.25, heapUsedBytes: 1, rssBytes: 1, activeResources: {} };
}

/** A live, controlling connection with `tasks` in the task list. */
function live(tasks: TaskInfo[] = [], extra: Record<string, unknown> = {}): State {
  let s = reduce(initialState('1234'), { type: 'connected', pid: 1234, node: 'v22.0.0', access: 'control' }).state;
  s = update(s, { tasks: { total: tasks.length, items: tasks }, ...extra });
  return s;
}

function update(s: State, changes: Record<string, unknown>): State {
  return reduce(s, { type: 'update', changes, dropped: 0, now: 1 }).state;
}

/** Applies intents in order and returns the final state with every effect on the way. */
function press(s: State, ...intents: Intent[]): { state: State; effects: Effect[] } {
  const effects: Effect[] = [];
  for (const intent of intents) {
    const r = reduce(s, { type: 'intent', intent });
    s = r.state;
    effects.push(...r.effects);
  }
  return { state: s, effects };
}

const names = (s: State) => rowsFor(s).map((r) => r.cells[3]);
const selected = (s: State) => s.views[s.tab].selected;
const FIVE = [task(1, 'alpha'), task(2, 'Beta'), task(3, 'gamma'), task(4, 'delta'), task(5, 'ALPHABET')];

describe('updates merge into the state', () => {
  it('takes tasks, promise groups, handles, history and blocked episodes from an update', () => {
    const group: PromiseGroup = { site: { fn: 'enqueue', file: '/srv/q.js', line: 9, column: 3 }, count: 7, oldestMs: 1200 };
    const episode: BlockedEpisode = { startedAt: 1_700_000_000_000, durationMs: 3100, ongoing: false, stack: [] };
    const s = live(FIVE, {
      pid: 1234,
      uptimeMs: 9000,
      tracker: { level: 'promises', stacks: 'on', disabledReason: null },
      promiseGroups: { total: 1, items: [group] },
      promises: { total: 7, items: [] },
      handles: { total: 2, items: [handle(10), handle(11, 'interval')] },
      history: { total: 1, items: [history(9, 'old', 'cancelled')] },
      blocked: [episode],
    });
    expect(s.tasks.map((t) => t.name)).toEqual(['alpha', 'Beta', 'gamma', 'delta', 'ALPHABET']);
    expect(s.taskTotal).toBe(5);
    expect(s.promiseGroups).toEqual([group]);
    expect(s.promiseTotal).toBe(7);
    expect(s.handles.map((h) => h.id)).toEqual(['r10', 'r11']);
    expect(s.history.map((h) => h.outcome)).toEqual(['cancelled']);
    expect(s.blocked).toEqual([episode]);
    expect(s.level).toBe('promises');
    expect(s.stacks).toBe('on');
    expect(s.uptimeMs).toBe(9000);
  });

  it('keeps what an update leaves out (updates carry only what changed)', () => {
    let s = live(FIVE, { handles: { total: 1, items: [handle(10)] } });
    s = update(s, { uptimeMs: 5000 });
    expect(s.tasks).toHaveLength(5);
    expect(s.handles).toHaveLength(1);
    s = update(s, { tasks: { total: 1, items: [task(7, 'only')] } });
    expect(s.tasks.map((t) => t.name)).toEqual(['only']);
    expect(s.handles).toHaveLength(1);
  });

  it('uses the page total for the count, not just the items sent', () => {
    const s = live([], { tasks: { total: 900, items: FIVE } });
    expect(s.taskTotal).toBe(900);
    expect(headerLines(s, 100, { color: false }).join('\n')).toContain('tasks 900');
  });

  it('adds one sparkline point per loop update, keeping the last 60', () => {
    let s = live();
    for (let i = 1; i <= 75; i++) s = update(s, { loop: loop(i) });
    expect(s.spark).toHaveLength(60);
    expect(s.spark[0]).toBe(16);
    expect(s.spark[59]).toBe(75);
    expect(s.loop?.delayMs.p99).toBe(75);
  });

  it('shows BLOCKED with the blocking frame in the header when health says blocked', () => {
    let s = live(FIVE);
    s = update(s, { health: { status: 'blocked', blockedMs: 3200, stack: [{ fn: 'spin', file: '/srv/busy.js', line: 12, column: 5 }] } });
    expect(s.health?.status).toBe('blocked');
    const header = headerLines(s, 120, { color: false }).join('\n');
    expect(header).toContain('BLOCKED 3.2s');
    expect(header).toContain('spin (/srv/busy.js:12:5)');
    s = update(s, { health: { status: 'ok', blockedMs: 0, stack: [] } });
    expect(headerLines(s, 120, { color: false }).join('\n')).not.toContain('BLOCKED');
  });

  it('records dropped updates and says so in the header', () => {
    const s = reduce(live(), { type: 'update', changes: {}, dropped: 3, now: 2 }).state;
    expect(s.dropped).toBe(3);
    expect(headerLines(s, 120, { color: false })[1]).toContain('dropped 3');
  });

  it('ignores updates while paused, and takes them again after resuming', () => {
    let r = press(live(FIVE), { type: 'toggle-pause' });
    expect(r.state.paused).toBe(true);
    expect(r.effects).toEqual([{ type: 'watch', action: 'pause' }]);
    const paused = update(r.state, { tasks: { total: 1, items: [task(9, 'new')] }, uptimeMs: 1 });
    expect(paused.tasks).toHaveLength(5);
    expect(headerLines(paused, 120, { color: false })[0]).toContain('paused');
    r = press(paused, { type: 'toggle-pause' });
    expect(r.effects).toEqual([{ type: 'watch', action: 'resume' }]);
    expect(update(r.state, { tasks: { total: 1, items: [task(9, 'new')] } }).tasks.map((t) => t.name)).toEqual(['new']);
  });

  it('keeps the selection inside the rows when an update shrinks the list', () => {
    let s = press(live(FIVE), { type: 'bottom' }).state;
    expect(selected(s)).toBe(4);
    s = update(s, { tasks: { total: 2, items: FIVE.slice(0, 2) } });
    expect(selected(s)).toBe(1);
    s = update(s, { tasks: { total: 0, items: [] } });
    expect(selected(s)).toBe(0);
    expect(selectedId(s)).toBeNull();
  });
});

describe('malformed updates', () => {
  /** Every part of the screen, on every tab, for a state: none of it may throw. */
  function renderAll(s: State): void {
    for (const tab of TABS) {
      const t = { ...s, tab, detail: { ...s.detail, open: true } };
      headerLines(t, 80, { color: true });
      tableLines(t, 80, 20);
      detailLines(t, selectedId(t), 40);
      footerLine(t, 80);
    }
  }

  /** Applies `changes` on every tab (the reducer looks at the current tab's rows). */
  function applyOnEveryTab(base: State, changes: Record<string, unknown>): State[] {
    return TABS.map((tab) => reduce({ ...base, tab }, { type: 'update', changes, dropped: 0, now: 1 }).state);
  }

  const HARMLESS: Array<[string, Record<string, unknown>]> = [
    ['nulls for every field', { pid: null, node: null, uptimeMs: null, tracker: null, loop: null, health: null, tasks: null, promiseGroups: null, promises: null, resources: null, handles: null, history: null, blocked: null }],
    ['wrong scalar types', { pid: '12', node: 5, uptimeMs: 'soon', tracker: { level: 5, stacks: {} }, health: { status: 'weird' }, tasks: 'many', history: 7, handles: true }],
    ['arrays where objects belong', { tracker: [], loop: [], health: [], promises: [], tasks: { items: {} } }],
    ['objects where arrays belong', { tasks: { total: 1, items: { 0: task(1, 'x') } }, blocked: { durationMs: 1 } }],
    ['list items missing their key fields', { tasks: { total: 2, items: [{ name: 'no id' }, { id: 'x', name: 'string id' }, null, 5, []] }, history: [{ id: 1 }], handles: [{ id: 3, kind: 'timeout' }], promiseGroups: [{ site: null }] }],
    ['huge numbers', { pid: 1e308, uptimeMs: 1e308, loop: loop(1e308), tasks: { total: 1e308, items: [task(1e15, 'huge', { ageMs: 1e308 })] } }],
    ['a loop with holes', { loop: { delayMs: {} } }],
    ['a loop with wrong types inside', { loop: { delayMs: { p99: 'slow' }, utilization: {} } }],
    ['handles and resources missing optional parts', { handles: [{ id: 'r1', kind: 'timeout' }], resources: [{ id: 'r9', type: 'Timeout' }] }],
  ];

  for (const [what, changes] of HARMLESS) {
    it(`never throws on ${what}, before or during rendering`, () => {
      const base = live(FIVE, { loop: loop(4), handles: [handle(10)] });
      for (const s of applyOnEveryTab(base, changes)) renderAll(s);
    });
  }

  it('applies the valid fields of an update and ignores the bad ones', () => {
    const base = live(FIVE, { loop: loop(4), uptimeMs: 100 });
    const s = update(base, { pid: 'nope', uptimeMs: 2500, loop: 'fast', tasks: { total: 3, items: [task(1, 'kept'), { id: 'x', name: 'dropped' }, null, task(2, 'also kept')] }, handles: 'none' });
    expect(s.pid).toBe(1234);
    expect(s.uptimeMs).toBe(2500);
    expect(s.loop?.delayMs.p99).toBe(4);
    expect(s.tasks.map((t) => t.name)).toEqual(['kept', 'also kept']);
    expect(s.taskTotal).toBe(3);
    expect(s.handles).toEqual([]);
  });

  it('treats a non-object update as no change', () => {
    const base = live(FIVE);
    for (const changes of [[], 'text', 42, true]) {
      const s = reduce(base, { type: 'update', changes: changes as unknown as Record<string, unknown>, dropped: 0, now: 1 }).state;
      expect(s.tasks).toEqual(base.tasks);
    }
  });

  // Bug: list items are checked only for their key fields (tasks: id and name; handles: id and
  // kind; blocked: durationMs). The rest is trusted as is, and rowsFor/formatSite/the view
  // dereference it: `site: {}` makes formatSite call shortenPath(undefined) (src/format.ts,
  // `file.startsWith`), from the reducer itself (applyChanges → clampSelection → rowsFor →
  // taskRow). In the app a throw from reduce is turned into an "internal error" flash and the
  // whole update, good fields included, is lost.
  const REDUCER_THROWS: Array<[string, Record<string, unknown>]> = [
    ['a task whose site is an empty object', { tasks: { total: 1, items: [task(1, 'a', { site: {} as never })] } }],
    ['a task whose site is a string', { tasks: { total: 1, items: [task(1, 'a', { site: 'here' as never })] } }],
    ['a handle whose callback is an empty object', { handles: [{ ...handle(1), callback: {} }] }],
    ['a promise group whose site is an empty object', { promiseGroups: [{ count: 2, oldestMs: 1, site: {} }] }],
    ['a blocked episode without startedAt or stack', { blocked: [{ durationMs: 5 }] }],
    ['a blocked episode with a huge startedAt', { blocked: [{ durationMs: 5, startedAt: 1e308, ongoing: false, stack: [] }] }],
  ];
  for (const [what, changes] of REDUCER_THROWS) {
    it(`the reducer throws on ${what}, losing the valid fields of the update`, () => {
      const base = live(FIVE);
      for (const s of applyOnEveryTab(base, { ...changes, uptimeMs: 777 })) expect(s.uptimeMs).toBe(777);
    });
  }

  // Bug: the same unchecked items throw later, in the view. app.ts renders outside its
  // try/catch (dispatch → render), so these crash `asyncmon top` from the update handler.
  const VIEW_THROWS: Array<[string, Record<string, unknown>]> = [
    ['a task without kind (tableLines: truncate(undefined) in view.ts line())', { tasks: { total: 1, items: [{ id: 1, name: 'a' }] } }],
    ['a history entry without name (tableLines)', { history: [{ id: 1, outcome: 'cancelled' }] }],
    ['a blocked health stack with junk frames (headerLines: formatSite(5))', { health: { status: 'blocked', blockedMs: 5, stack: [null, 5, {}] } }],
  ];
  for (const [what, changes] of VIEW_THROWS) {
    it(`rendering throws after ${what}`, () => {
      for (const s of applyOnEveryTab(live(FIVE), changes)) renderAll(s);
    });
  }
});

describe('moving the selection', () => {
  it('moves by one and clamps to the row range', () => {
    let s = live(FIVE);
    s = press(s, { type: 'move', by: -1 }).state;
    expect(selected(s)).toBe(0);
    s = press(s, { type: 'move', by: 1 }, { type: 'move', by: 1 }).state;
    expect(selected(s)).toBe(2);
    s = press(s, ...Array.from({ length: 10 }, () => ({ type: 'move', by: 1 }) as Intent)).state;
    expect(selected(s)).toBe(4);
    expect(selectedId(s)).toBe('5');
  });

  it('pages by the page size and jumps to the top and the bottom', () => {
    const many = Array.from({ length: 40 }, (_, i) => task(i + 1, `t${i + 1}`));
    let s = live(many);
    s = reduce(s, { type: 'intent', intent: { type: 'page', by: 1 }, pageSize: 15 }).state;
    expect(selected(s)).toBe(15);
    s = reduce(s, { type: 'intent', intent: { type: 'page', by: 1 } }).state;
    expect(selected(s)).toBe(25);
    s = reduce(s, { type: 'intent', intent: { type: 'page', by: 1 }, pageSize: 100 }).state;
    expect(selected(s)).toBe(39);
    s = reduce(s, { type: 'intent', intent: { type: 'page', by: -1 }, pageSize: 7 }).state;
    expect(selected(s)).toBe(32);
    s = press(s, { type: 'top' }).state;
    expect(selected(s)).toBe(0);
    s = press(s, { type: 'bottom' }).state;
    expect(selected(s)).toBe(39);
  });

  it('stays at 0 on an empty tab', () => {
    const s = press(live(), { type: 'move', by: 1 }, { type: 'bottom' }, { type: 'page', by: 1 }, { type: 'move', by: -3 }).state;
    expect(selected(s)).toBe(0);
  });

  it('keeps a selection per tab', () => {
    let s = live(FIVE, { handles: [handle(1), handle(2), handle(3)] });
    s = press(s, { type: 'bottom' }, { type: 'tab', index: 2 }, { type: 'move', by: 1 }).state;
    expect(s.tab).toBe('resources');
    expect(selected(s)).toBe(1);
    s = press(s, { type: 'tab', index: 0 }).state;
    expect(selected(s)).toBe(4);
  });
});

describe('tabs', () => {
  it('next-tab walks all five tabs and wraps; prev-tab wraps backwards', () => {
    let s = live(FIVE);
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) {
      seen.push(s.tab);
      s = press(s, { type: 'next-tab' }).state;
    }
    expect(seen).toEqual(['tasks', 'promises', 'resources', 'history', 'blocked', 'tasks']);
    s = press(live(FIVE), { type: 'prev-tab' }).state;
    expect(s.tab).toBe('blocked');
    s = press(s, { type: 'prev-tab' }).state;
    expect(s.tab).toBe('history');
  });

  it('closes the detail pane when the tab changes', () => {
    for (const intent of [{ type: 'next-tab' }, { type: 'prev-tab' }, { type: 'tab', index: 3 }] as Intent[]) {
      let s = press(live(FIVE), { type: 'open-detail' }).state;
      expect(s.detail.open).toBe(true);
      s = press(s, intent).state;
      expect(s.detail.open).toBe(false);
    }
  });

  it('jumps to a tab by number and ignores numbers past the last tab', () => {
    let s = press(live(FIVE), { type: 'tab', index: 3 }).state;
    expect(s.tab).toBe('history');
    s = press(s, { type: 'tab', index: 9 }).state;
    expect(s.tab).toBe('history');
  });
});

describe('filter', () => {
  function filtered(s: State, text: string): State {
    s = press(s, { type: 'start-filter' }).state;
    expect(s.mode).toBe('filter');
    let typed = '';
    for (const ch of text) {
      typed += ch;
      s = reduce(s, { type: 'filter-input', text: typed, done: false }).state;
    }
    return reduce(s, { type: 'filter-input', text: typed, done: true }).state;
  }

  it('narrows the rows while typing, ignoring case, and keeps the filter on Enter', () => {
    let s = press(live(FIVE), { type: 'start-filter' }).state;
    s = reduce(s, { type: 'filter-input', text: 'alp', done: false }).state;
    expect(names(s)).toEqual(['alpha', 'ALPHABET']);
    s = filtered(live(FIVE), 'ALPHA');
    expect(s.mode).toBe('normal');
    expect(names(s)).toEqual(['alpha', 'ALPHABET']);
    expect(filtered(live(FIVE), 'beta').views.tasks.filter).toBe('beta');
    expect(names(filtered(live(FIVE), 'beta'))).toEqual(['Beta']);
  });

  it('matches any cell, not only the name', () => {
    const s = filtered(live([task(1, 'a'), task(2, 'b', { kind: 'http-client', detail: 'http://db.local' })]), 'DB.LOCAL');
    expect(names(s)).toEqual(['b']);
  });

  it('Esc (back) clears a kept filter; Esc while typing clears it too', () => {
    let s = filtered(live(FIVE), 'gamma');
    expect(names(s)).toEqual(['gamma']);
    s = press(s, { type: 'back' }).state;
    expect(s.views.tasks.filter).toBe('');
    expect(names(s)).toHaveLength(5);
    // The app turns Esc in filter mode into an empty, finished input.
    s = press(s, { type: 'start-filter' }).state;
    s = reduce(s, { type: 'filter-input', text: 'gam', done: false }).state;
    s = reduce(s, { type: 'filter-input', text: '', done: true }).state;
    expect(s.mode).toBe('normal');
    expect(names(s)).toHaveLength(5);
  });

  it('selects the first match and clamps the selection to the matches', () => {
    let s = press(live(FIVE), { type: 'bottom' }).state;
    s = filtered(s, 'a');
    expect(selected(s)).toBe(0);
    s = filtered(live(FIVE), 'nothing like it');
    expect(rowsFor(s)).toEqual([]);
    expect(selectedId(s)).toBeNull();
  });
});

describe('sort', () => {
  it('sort-next cycles through the columns and back to none; sort-order reverses', () => {
    let s = live(FIVE);
    const columns: number[] = [];
    for (let i = 0; i < 6; i++) {
      s = press(s, { type: 'sort-next' }).state;
      columns.push(s.views.tasks.sortColumn);
    }
    expect(columns).toEqual([0, 1, 2, 3, 4, -1]);

    s = press(live(FIVE), { type: 'sort-next' }, { type: 'sort-next' }, { type: 'sort-next' }, { type: 'sort-next' }).state;
    expect(s.views.tasks.sortColumn).toBe(3);
    expect(names(s)).toEqual(['alpha', 'ALPHABET', 'Beta', 'delta', 'gamma']);
    s = press(s, { type: 'sort-order' }).state;
    expect(s.views.tasks.sortDesc).toBe(true);
    expect(names(s)).toEqual(['gamma', 'delta', 'Beta', 'ALPHABET', 'alpha']);
  });

  it('sorts numbers as numbers', () => {
    const s = press(live([task(10, 'ten'), task(9, 'nine'), task(100, 'hundred')]), { type: 'sort-next' }).state;
    expect(names(s)).toEqual(['nine', 'ten', 'hundred']);
  });

  it('keeps a sort per tab', () => {
    const s = press(live(FIVE), { type: 'sort-next' }, { type: 'next-tab' }).state;
    expect(s.views.tasks.sortColumn).toBe(0);
    expect(s.views.promises.sortColumn).toBe(-1);
  });
});

describe('cancel', () => {
  it('asks first, with a label naming the selected task', () => {
    const r = press(live(FIVE), { type: 'move', by: 1 }, { type: 'ask-cancel' });
    expect(r.effects).toEqual([]);
    expect(r.state.mode).toBe('confirm');
    expect(r.state.confirm).toEqual({ id: '2', label: 'task 2 Beta' });
    expect(footerLine(r.state, 100)).toContain('cancel task 2 Beta? y / n');
  });

  it('yes cancels the task by id; no does nothing', () => {
    const asked = press(live(FIVE), { type: 'move', by: 2 }, { type: 'ask-cancel' }).state;
    const yes = reduce(asked, { type: 'confirm', yes: true });
    expect(yes.effects).toEqual([{ type: 'cancel', id: '3' }]);
    expect(yes.state.mode).toBe('normal');
    expect(yes.state.confirm).toBeNull();
    const no = reduce(asked, { type: 'confirm', yes: false });
    expect(no.effects).toEqual([]);
    expect(no.state.mode).toBe('normal');
    expect(no.state.confirm).toBeNull();
  });

  it('cancels a handle from the resources tab', () => {
    const s = press(live(FIVE, { handles: [handle(10), handle(11, 'interval')] }), { type: 'tab', index: 2 }, { type: 'move', by: 1 }, { type: 'ask-cancel' }).state;
    expect(s.confirm?.id).toBe('r11');
    expect(s.confirm?.label).toContain('interval r11');
    expect(reduce(s, { type: 'confirm', yes: true }).effects).toEqual([{ type: 'cancel', id: 'r11' }]);
  });

  it('with read access only: a flash, no confirm, no effect', () => {
    let s = reduce(initialState('1234'), { type: 'connected', pid: 1234, node: 'v22.0.0', access: 'read' }).state;
    s = update(s, { tasks: { total: 5, items: FIVE } });
    const r = press(s, { type: 'ask-cancel' });
    expect(r.state.mode).toBe('normal');
    expect(r.state.confirm).toBeNull();
    expect(r.effects).toEqual([]);
    expect(r.state.flash).toMatch(/read-only/);
  });

  it('on a dump: a flash, no confirm, no effect', () => {
    const s = applyChanges(initialState('dump.json', 'file'), { tasks: { total: 5, items: FIVE } });
    const r = press(s, { type: 'ask-cancel' });
    expect(r.state.mode).toBe('normal');
    expect(r.state.confirm).toBeNull();
    expect(r.effects).toEqual([]);
    expect(r.state.flash).toBe('a dump is read-only');
    expect(headerLines(r.state, 100, { color: false })[2]).toBe('a dump is read-only');
  });

  it('with nothing cancellable selected: a flash, no confirm', () => {
    for (const s of [live([]), press(live(FIVE), { type: 'tab', index: 3 }).state]) {
      const r = press(s, { type: 'ask-cancel' });
      expect(r.state.mode).toBe('normal');
      expect(r.state.flash).toMatch(/select a task/);
    }
  });
});

describe('details', () => {
  const where: WhereInfo = {
    id: 2,
    name: 'Beta',
    kind: 'task',
    state: 'running',
    ageMs: 2000,
    site: null,
    waitsOn: { promiseId: 'p7', site: { fn: '', file: '/srv/beta.js', line: 41, column: 9 }, stack: [] },
    waitsNote: null,
    stack: [],
    parents: [],
  };

  it('opening details on a task asks the app to fetch where it waits', () => {
    const r = press(live(FIVE), { type: 'move', by: 1 }, { type: 'open-detail' });
    expect(r.state.detail.open).toBe(true);
    expect(r.effects).toEqual([{ type: 'fetch-where', id: '2' }]);
    const s = reduce(r.state, { type: 'where', where, error: null }).state;
    expect(detailLines(s, selectedId(s), 60)).toContain('waits on p7 at /srv/beta.js:41:9');
  });

  it('shows why where failed', () => {
    let s = press(live(FIVE), { type: 'open-detail' }).state;
    s = reduce(s, { type: 'where', where: null, error: 'no task 1' }).state;
    expect(detailLines(s, selectedId(s), 60)).toContain('where: no task 1');
  });

  it('opens on other tabs without fetching, and not at all on an empty tab', () => {
    const s = live(FIVE, { history: [history(9, 'old')] });
    const r = press(s, { type: 'tab', index: 3 }, { type: 'open-detail' });
    expect(r.state.detail.open).toBe(true);
    expect(r.effects).toEqual([]);
    const empty = press(live([]), { type: 'open-detail' });
    expect(empty.state.detail.open).toBe(false);
    expect(empty.effects).toEqual([]);
  });

  it('Esc closes the details first, then clears the filter', () => {
    let s = press(live(FIVE), { type: 'start-filter' }).state;
    s = reduce(s, { type: 'filter-input', text: 'a', done: true }).state;
    s = press(s, { type: 'open-detail' }).state;
    s = press(s, { type: 'back' }).state;
    expect(s.detail.open).toBe(false);
    expect(s.views.tasks.filter).toBe('a');
    s = press(s, { type: 'back' }).state;
    expect(s.views.tasks.filter).toBe('');
  });

  // Bug: `move` leaves the detail pane open and keeps `detail.where` (state.ts reduceIntent,
  // case 'move' → select → withView: detail untouched), and detailLines prints `s.detail.where`
  // under whichever task is selected now (view.ts detailLines never compares where.id with the
  // id). Open details on task 2, press j: the pane says "task 3 gamma" and then "waits on p7 at
  // /srv/beta.js:41:9", which is where task 2 waits. No new fetch-where is asked for either.
  it('after moving to another row the open pane does not show the previous task\'s where', () => {
    let s = press(live(FIVE), { type: 'move', by: 1 }, { type: 'open-detail' }).state;
    s = reduce(s, { type: 'where', where, error: null }).state;
    const r = press(s, { type: 'move', by: 1 });
    expect(selectedId(r.state)).toBe('3');
    const lines = detailLines(r.state, selectedId(r.state), 60);
    expect(lines[0]).toBe('task 3 gamma');
    expect(lines.join('\n')).not.toContain('/srv/beta.js:41:9');
  });
});

describe('tracking level and stacks', () => {
  it('cycle-level asks for tasks → resources → promises → tasks', () => {
    const next = (level: string | null) => {
      const s = level ? update(live(), { tracker: { level, stacks: 'off', disabledReason: null } }) : live();
      return press(s, { type: 'cycle-level' }).effects;
    };
    expect(next('tasks')).toEqual([{ type: 'track', level: 'resources' }]);
    expect(next('resources')).toEqual([{ type: 'track', level: 'promises' }]);
    expect(next('promises')).toEqual([{ type: 'track', level: 'tasks' }]);
    expect(next(null)).toEqual([{ type: 'track', level: 'resources' }]);
  });

  it('cycle-stacks asks for off → tasks → 64 → on → off at the current level', () => {
    const next = (stacks: string | number) => press(update(live(), { tracker: { level: 'promises', stacks, disabledReason: null } }), { type: 'cycle-stacks' }).effects;
    expect(next('off')).toEqual([{ type: 'track', level: 'promises', stacks: 'tasks' }]);
    expect(next('tasks')).toEqual([{ type: 'track', level: 'promises', stacks: '64' }]);
    expect(next(64)).toEqual([{ type: 'track', level: 'promises', stacks: 'on' }]);
    expect(next('on')).toEqual([{ type: 'track', level: 'promises', stacks: 'off' }]);
  });

  it('read access and dumps get a flash instead of an effect', () => {
    const read = reduce(initialState('1'), { type: 'connected', pid: 1, node: 'v22', access: 'read' }).state;
    const dump = initialState('f.json', 'file');
    for (const s of [read, dump]) {
      for (const intent of [{ type: 'cycle-level' }, { type: 'cycle-stacks' }] as Intent[]) {
        const r = press(s, intent);
        expect(r.effects).toEqual([]);
        expect(r.state.flash).toMatch(/read-only/);
      }
    }
  });
});

describe('tree', () => {
  it('toggles tree order: each parent followed by its children, indented', () => {
    const tasks = [task(1, 'root-a'), task(2, 'root-b'), task(3, 'child-of-a', { parentId: 1 }), task(4, 'grandchild', { parentId: 3 }), task(5, 'child-of-b', { parentId: 2 }), task(6, 'orphan', { parentId: 99 })];
    let s = live(tasks);
    expect(names(s)).toEqual(['root-a', 'root-b', 'child-of-a', 'grandchild', 'child-of-b', 'orphan']);
    s = press(s, { type: 'toggle-tree' }).state;
    expect(s.tree).toBe(true);
    expect(names(s).map((n) => n.trim())).toEqual(['root-a', '└ child-of-a', '└ grandchild', 'root-b', '└ child-of-b', 'orphan']);
    expect(names(s)[2]).toBe('    └ grandchild');
    s = press(s, { type: 'toggle-tree' }).state;
    expect(names(s)[1]).toBe('root-b');
  });

  it('says so when no task nests, so t does not seem to do nothing', () => {
    const flat = press(live([task(1, 'a'), task(2, 'b')]), { type: 'toggle-tree' }).state;
    expect(flat.tree).toBe(true);
    expect(flat.flash).toBe('tree view: no task runs inside another, so the tree is the same as the list');
    const nested = press(live([task(1, 'a'), task(2, 'b', { parentId: 1 })]), { type: 'toggle-tree' }).state;
    expect(nested.flash).toBeNull();
  });

  it('survives a parent cycle', () => {
    const s = press(live([task(1, 'a', { parentId: 2 }), task(2, 'b', { parentId: 1 }), task(3, 'c')]), { type: 'toggle-tree' }).state;
    expect(() => tableLines(s, 80, 20)).not.toThrow();
  });
});

describe('quick presses and status messages', () => {
  it('two fast K presses go two steps (the new mode is shown before the agent confirms)', () => {
    let s = live([task(1, 'a')]);
    const first = press(s, { type: 'cycle-stacks' });
    s = first.state;
    const second = press(s, { type: 'cycle-stacks' });
    expect([first.effects[0], second.effects[0]]).toEqual([
      { type: 'track', level: 'tasks', stacks: 'tasks' },
      { type: 'track', level: 'tasks', stacks: '64' },
    ]);
    expect(second.state.stacks).toBe(64);
  });

  it('a status message goes away after 5 s of ticks', () => {
    let s: State = { ...live([task(1, 'a')]), flash: 'cancelled task 1' };
    s = reduce(s, { type: 'tick', now: 1_000 }).state;
    expect(s.flash).toBe('cancelled task 1');
    s = reduce(s, { type: 'tick', now: 5_999 }).state;
    expect(s.flash).toBe('cancelled task 1');
    s = reduce(s, { type: 'tick', now: 6_000 }).state;
    expect(s.flash).toBeNull();
  });
});

describe('connection, help and quit', () => {
  it('says live on connect, reconnecting with the attempt after a loss', () => {
    let s = initialState('1234');
    expect(s.conn.status).toBe('connecting');
    s = reduce(s, { type: 'connected', pid: 1234, node: 'v22.1.0', access: 'control' }).state;
    expect(s.conn.status).toBe('live');
    expect(s.readOnly).toBe(false);
    s = reduce(s, { type: 'disconnected', message: 'the agent closed the connection', attempt: 2 }).state;
    expect(s.conn).toEqual({ status: 'reconnecting', message: 'the agent closed the connection', attempt: 2 });
    const header = headerLines(s, 120, { color: false }).join('\n');
    expect(header).toContain('reconnecting (attempt 2)');
    expect(header).toContain('connection lost: the agent closed the connection');
  });

  // Bug: connLabel and headerLines check `health.status === 'blocked'` before the connection
  // (view.ts connLabel's first line, and the `if` order in headerLines), and 'disconnected'
  // keeps the last health. A process that dies (or is killed by its supervisor) while its loop
  // is blocked leaves the header saying "BLOCKED 3.0s" for good, never "reconnecting".
  it('a lost connection says reconnecting even when the last update said blocked', () => {
    let s = update(live(FIVE), { health: { status: 'blocked', blockedMs: 3000, stack: [] } });
    s = reduce(s, { type: 'disconnected', message: 'the agent closed the connection', attempt: 1 }).state;
    expect(headerLines(s, 120, { color: false }).join('\n')).toContain('reconnecting');
  });

  it('help mode: any intent closes it without acting, quit still quits', () => {
    let s = press(live(FIVE), { type: 'help' }).state;
    expect(s.mode).toBe('help');
    const r = press(s, { type: 'move', by: 1 });
    expect(r.state.mode).toBe('normal');
    expect(selected(r.state)).toBe(0);
    s = press(r.state, { type: 'help' }).state;
    expect(press(s, { type: 'quit' }).effects).toEqual([{ type: 'quit' }]);
  });

  it('quit asks the app to quit', () => {
    expect(press(live(FIVE), { type: 'quit' }).effects).toEqual([{ type: 'quit' }]);
    expect(press(initialState('f.json', 'file'), { type: 'quit' }).effects).toEqual([{ type: 'quit' }]);
  });

  it('a flash shows in the header and Esc clears it', () => {
    let s = reduce(live(FIVE), { type: 'flash', message: '✓ task 2 (Beta) cancelled' } as Action).state;
    expect(headerLines(s, 100, { color: false })[2]).toBe('✓ task 2 (Beta) cancelled');
    s = press(s, { type: 'back' }).state;
    expect(s.flash).toBeNull();
  });
});

describe('the await view (a)', () => {
  const intent = (s: State, i: Intent, pageSize = 5) => reduce(s, { type: 'intent', intent: i, pageSize });
  const graph = {
    takenAt: 1,
    pauseMs: 120,
    snapshotBytes: 2_000_000,
    analysisMs: 5,
    total: 1,
    chains: [{ id: 9, task: { id: 3, name: 'sync-users' }, request: null, frames: [{ fn: 'sync', site: { fn: 'sync', file: '/srv/app.js', line: 7, column: 5 }, asyncGenerator: false }], waitsFor: { kind: 'nothing' }, awaitedBy: [] }],
    cycles: [],
    lost: [{ request: 'GET /never', task: null }],
  };

  it('asks for one snapshot when opened, and again only when asked: never on a tick or an update', () => {
    const opened = intent(live([task(1, 'a')]), { type: 'open-awaits' });
    expect(opened.state.mode).toBe('awaits');
    expect(opened.state.awaits.loading).toBe(true);
    expect(opened.effects).toEqual([{ type: 'fetch-awaits' }]);
    // Pressed again while it is being taken: no second request.
    expect(intent(opened.state, { type: 'open-awaits' }).effects).toEqual([]);
    let s = reduce(opened.state, { type: 'awaits', result: graph, error: null }).state;
    for (let i = 0; i < 5; i++) {
      const tick = reduce(s, { type: 'tick', now: 10_000 * i });
      const up = reduce(tick.state, { type: 'update', changes: { tasks: { total: 1, items: [task(1, 'a')] } }, dropped: 0, now: i });
      expect([...tick.effects, ...up.effects]).toEqual([]);
      s = up.state;
    }
    expect(s.awaits.lines.join('\n')).toContain('#1  sync-users (task 3)');
    expect(s.awaits.lines.join('\n')).toContain('GET /never can never be answered');
    expect(footerLine(s, 200)).toMatch(/^host paused 120ms {2}↑\/↓ PgUp\/PgDn scroll/);
    // Another snapshot only with `a` again.
    expect(intent(s, { type: 'open-awaits' }).effects).toEqual([{ type: 'fetch-awaits' }]);
  });

  it('scrolls within the lines, Esc goes back, a dump has no heap, errors are shown', () => {
    let s = reduce(intent(live(), { type: 'open-awaits' }).state, { type: 'awaits', result: graph, error: null }).state;
    const n = s.awaits.lines.length;
    s = intent(s, { type: 'bottom' }).state;
    expect(s.awaits.scroll).toBe(n - 1);
    s = intent(s, { type: 'move', by: 100 }).state;
    expect(s.awaits.scroll).toBe(n - 1);
    s = intent(s, { type: 'page', by: -1 }, 2).state;
    expect(s.awaits.scroll).toBe(n - 3);
    s = intent(s, { type: 'top' }).state;
    expect(s.awaits.scroll).toBe(0);
    // Keys that mean something in the table do nothing here.
    expect(intent(s, { type: 'ask-cancel' }).state).toBe(s);
    expect(intent(s, { type: 'back' }).state.mode).toBe('normal');
    const file = intent(initialState('dump.json', 'file'), { type: 'open-awaits' });
    expect(file.effects).toEqual([]);
    expect(file.state.flash).toMatch(/a dump has no heap/);
    const failed = reduce(intent(live(), { type: 'open-awaits' }).state, { type: 'awaits', result: null, error: 'the agent is busy' }).state;
    expect(failed.awaits).toMatchObject({ loading: false, error: 'the agent is busy' });
  });
});
