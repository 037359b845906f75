/** What a key asks for; the reducer or the app loop carries it out. */
export type Intent =
  | { type: 'move'; by: number }
  | { type: 'page'; by: number }
  | { type: 'top' }
  | { type: 'bottom' }
  | { type: 'open-detail' }
  | { type: 'back' }
  | { type: 'start-filter' }
  | { type: 'sort-next' }
  | { type: 'sort-order' }
  | { type: 'ask-cancel' }
  | { type: 'toggle-tree' }
  | { type: 'open-awaits' }
  | { type: 'toggle-pause' }
  | { type: 'cycle-level' }
  | { type: 'cycle-stacks' }
  | { type: 'help' }
  | { type: 'pick-process' }
  | { type: 'quit' }
  | { type: 'next-tab' }
  | { type: 'prev-tab' }
  | { type: 'tab'; index: number };

/** A key binding: the footer and the help screen are generated from these. */
export interface Binding {
  keys: string[];
  /** How the key is shown. */
  label: string;
  /** Its line in the help; empty when another binding's line covers it. */
  help: string;
  intent: Intent;
  /** The footer's word for it; only bindings with one are in the footer. */
  footer?: string;
}

export const BINDINGS: readonly Binding[] = [
  { keys: ['up', 'k'], label: '↑/k', help: 'previous row', intent: { type: 'move', by: -1 } },
  { keys: ['down', 'j'], label: '↓/j', help: 'next row', intent: { type: 'move', by: 1 } },
  { keys: ['pageup'], label: 'PgUp', help: 'page up', intent: { type: 'page', by: -1 } },
  { keys: ['pagedown'], label: 'PgDn', help: 'page down', intent: { type: 'page', by: 1 } },
  { keys: ['g', 'home'], label: 'g', help: 'first row', intent: { type: 'top' } },
  { keys: ['S-g', 'end'], label: 'G', help: 'last row', intent: { type: 'bottom' } },
  { keys: ['tab', 'right', 'l'], label: 'Tab/→', help: 'next tab', intent: { type: 'next-tab' }, footer: 'tab' },
  { keys: ['S-tab', 'left', 'h'], label: 'S-Tab/←', help: 'previous tab', intent: { type: 'prev-tab' } },
  // One help line for the five tabs: the help must fit a 30-line terminal.
  { keys: ['1'], label: '1…5', help: 'tabs: Tasks, Promises, Resources, History, Blocked', intent: { type: 'tab', index: 0 } },
  { keys: ['2'], label: '2', help: '', intent: { type: 'tab', index: 1 } },
  { keys: ['3'], label: '3', help: '', intent: { type: 'tab', index: 2 } },
  { keys: ['4'], label: '4', help: '', intent: { type: 'tab', index: 3 } },
  { keys: ['5'], label: '5', help: '', intent: { type: 'tab', index: 4 } },
  { keys: ['enter'], label: 'Enter', help: 'details of the selected row', intent: { type: 'open-detail' }, footer: 'details' },
  { keys: ['escape'], label: 'Esc', help: 'back (close details, filter, help)', intent: { type: 'back' } },
  { keys: ['/'], label: '/', help: 'filter rows by text', intent: { type: 'start-filter' }, footer: 'filter' },
  { keys: ['s'], label: 's', help: 'sort by the next column', intent: { type: 'sort-next' }, footer: 'sort' },
  { keys: ['S-s'], label: 'S', help: 'reverse the sort order', intent: { type: 'sort-order' } },
  { keys: ['c'], label: 'c', help: 'cancel the selected task or handle (asks first)', intent: { type: 'ask-cancel' }, footer: 'cancel' },
  { keys: ['t'], label: 't', help: 'tasks as a tree', intent: { type: 'toggle-tree' }, footer: 'tree' },
  { keys: ['a'], label: 'a', help: 'await graph from a heap snapshot (pauses the host)', intent: { type: 'open-awaits' }, footer: 'awaits' },
  { keys: ['space'], label: 'Space', help: 'pause / resume updates', intent: { type: 'toggle-pause' }, footer: 'pause' },
  { keys: ['S-l'], label: 'L', help: 'next tracking level (tasks → resources → promises)', intent: { type: 'cycle-level' }, footer: 'level' },
  { keys: ['S-k'], label: 'K', help: 'next stacks mode (off → tasks → 1/64 → on)', intent: { type: 'cycle-stacks' } },
  { keys: ['p'], label: 'p', help: 'pick another process (the agents asyncmon ls lists)', intent: { type: 'pick-process' }, footer: 'process' },
  { keys: ['?'], label: '?', help: 'this help', intent: { type: 'help' }, footer: 'help' },
  { keys: ['q', 'C-c'], label: 'q', help: 'quit', intent: { type: 'quit' }, footer: 'quit' },
];

/**
 * The intent for a key as blessed names it (`full` like 'S-g', or the character). Returns
 * null for keys that mean nothing here.
 */
export function intentFor(name: string, ch?: string): Intent | null {
  for (const b of BINDINGS) {
    if (b.keys.includes(name) || (ch !== undefined && ch.length === 1 && b.keys.includes(ch))) return b.intent;
  }
  return null;
}

/** The footer line: the bindings marked for it. */
export function footerText(width = Infinity): string {
  // Help and quit first; what does not fit is left out whole (never cut in the middle of a
  // key): `? help` lists everything.
  const first = (b: Binding) => (b.intent.type === 'help' || b.intent.type === 'quit' ? 0 : 1);
  const items = BINDINGS.filter((b) => b.footer)
    .sort((a, b) => first(a) - first(b))
    .map((b) => `${b.label} ${b.footer}`);
  let line = '';
  for (const item of items) {
    const next = line ? `${line}  ${item}` : item;
    if (next.length > width) break;
    line = next;
  }
  return line;
}

/** The help screen's lines. */
export function helpLines(): string[] {
  return BINDINGS.filter((b) => b.help !== '').map((b) => `${b.label.padEnd(9)} ${b.help}`);
}

/** What a key does while the process picker is open (null: nothing). */
export function pickerKeyFor(name: string, ch?: string): 'up' | 'down' | 'top' | 'bottom' | 'choose' | 'close' | 'quit' | null {
  if (name === 'up' || ch === 'k') return 'up';
  if (name === 'down' || ch === 'j') return 'down';
  if (name === 'home' || ch === 'g') return 'top';
  if (name === 'end' || ch === 'G') return 'bottom';
  if (name === 'enter' || name === 'return') return 'choose';
  if (name === 'escape' || ch === 'p') return 'close';
  if (name === 'C-c' || ch === 'q') return 'quit';
  return null;
}
