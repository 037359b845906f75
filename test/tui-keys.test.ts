// Key bindings are data: every key resolves to its intent through intentFor, by the name blessed
// gives it ('S-g', 'enter', 'pagedown') or by the character typed ('?', '/'), and the footer
// and the help screen are generated from the same table.
import { describe, expect, it } from 'vitest';
import { BINDINGS, footerText, helpLines, intentFor } from '../cli/tui/keys.js';

describe('intentFor', () => {
  it('resolves every key of every binding to that binding\'s intent', () => {
    for (const b of BINDINGS) {
      for (const key of b.keys) expect(intentFor(key), `key ${key}`).toEqual(b.intent);
    }
  });

  it('resolves keys by the names blessed gives them', () => {
    expect(intentFor('S-g', 'G')).toEqual({ type: 'bottom' });
    expect(intentFor('enter', '\r')).toEqual({ type: 'open-detail' });
    expect(intentFor('escape')).toEqual({ type: 'back' });
    expect(intentFor('pagedown')).toEqual({ type: 'page', by: 1 });
    expect(intentFor('pageup')).toEqual({ type: 'page', by: -1 });
    expect(intentFor('home')).toEqual({ type: 'top' });
    expect(intentFor('end')).toEqual({ type: 'bottom' });
    expect(intentFor('up')).toEqual({ type: 'move', by: -1 });
    expect(intentFor('down')).toEqual({ type: 'move', by: 1 });
    expect(intentFor('tab', '\t')).toEqual({ type: 'next-tab' });
    expect(intentFor('S-tab')).toEqual({ type: 'prev-tab' });
    expect(intentFor('space', ' ')).toEqual({ type: 'toggle-pause' });
    expect(intentFor('S-s', 'S')).toEqual({ type: 'sort-order' });
    expect(intentFor('S-l', 'L')).toEqual({ type: 'cycle-level' });
    expect(intentFor('S-k', 'K')).toEqual({ type: 'cycle-stacks' });
    expect(intentFor('C-c', '\x03')).toEqual({ type: 'quit' });
  });

  it('resolves keys by the character when blessed has no name for them', () => {
    expect(intentFor('', '?')).toEqual({ type: 'help' });
    expect(intentFor('', '/')).toEqual({ type: 'start-filter' });
    expect(intentFor('c', 'c')).toEqual({ type: 'ask-cancel' });
    expect(intentFor('undefined', 'c')).toEqual({ type: 'ask-cancel' });
    expect(intentFor('', 'q')).toEqual({ type: 'quit' });
    expect(intentFor('', 'j')).toEqual({ type: 'move', by: 1 });
    expect(intentFor('', 'k')).toEqual({ type: 'move', by: -1 });
    for (let i = 1; i <= 5; i++) expect(intentFor(String(i), String(i))).toEqual({ type: 'tab', index: i - 1 });
  });

  it('tells lower and upper case apart (k moves, K cycles stacks; s sorts, S reverses)', () => {
    expect(intentFor('k', 'k')).toEqual({ type: 'move', by: -1 });
    expect(intentFor('S-k', 'K')).toEqual({ type: 'cycle-stacks' });
    expect(intentFor('s', 's')).toEqual({ type: 'sort-next' });
    expect(intentFor('S-s', 'S')).toEqual({ type: 'sort-order' });
    expect(intentFor('l', 'l')).toEqual({ type: 'next-tab' });
    expect(intentFor('S-l', 'L')).toEqual({ type: 'cycle-level' });
  });

  it('returns null for keys that mean nothing here', () => {
    expect(intentFor('x', 'x')).toBeNull();
    expect(intentFor('f1')).toBeNull();
    expect(intentFor('C-x', '\x18')).toBeNull();
    expect(intentFor('y', 'y')).toBeNull();
    expect(intentFor('6', '6')).toBeNull();
    expect(intentFor('')).toBeNull();
    expect(intentFor('', '')).toBeNull();
    // A multi-character "ch" (a paste) is not a key.
    expect(intentFor('', 'qq')).toBeNull();
  });

  it('binds each key at most once', () => {
    const all = BINDINGS.flatMap((b) => b.keys);
    expect(new Set(all).size).toBe(all.length);
  });
});

describe('footer and help are generated from the bindings', () => {
  it('the footer lists exactly the bindings marked for it, with their labels', () => {
    const footer = footerText();
    expect(footer).toContain('q quit');
    expect(footer).toContain('? help');
    expect(footer).toContain('Enter details');
    expect(footer).toContain('c cancel');
    expect(footer).toContain('/ filter');
    for (const b of BINDINGS) {
      if (b.footer) expect(footer).toContain(`${b.label} ${b.footer}`);
    }
    expect(footer.split('  ')).toHaveLength(BINDINGS.filter((b) => b.footer).length);
  });

  it('the help screen has one line per binding (the five tabs share one), with its label and help text', () => {
    const lines = helpLines();
    const shown = BINDINGS.filter((b) => b.help !== '');
    expect(lines).toHaveLength(shown.length);
    shown.forEach((b, i) => {
      expect(lines[i].startsWith(b.label)).toBe(true);
      expect(lines[i]).toContain(b.help);
    });
    expect(lines.join('\n')).toContain('quit');
    expect(lines.join('\n')).toContain('1…5       tabs: Tasks, Promises, Resources, History, Blocked');
    // It fits a 30-line terminal inside the help box's border, with its closing line.
    expect(lines.length + 1).toBeLessThanOrEqual(28);
  });

  it('every binding has keys, a label and help text', () => {
    for (const b of BINDINGS) {
      expect(b.keys.length).toBeGreaterThan(0);
      expect(b.label.trim()).not.toBe('');
      // Tabs 2 to 5 are on the line of tab 1.
      if (!['2', '3', '4', '5'].includes(b.label)) expect(b.help.trim()).not.toBe('');
    }
  });
});

describe('the footer at a width', () => {
  it('keeps whole keys that fit, help and quit first, and never cuts one in the middle', () => {
    const full = footerText();
    const at80 = footerText(80);
    expect(at80.length).toBeLessThanOrEqual(80);
    expect(at80.startsWith('? help  q quit')).toBe(true);
    expect(full.startsWith(at80)).toBe(true);
    // What follows the cut starts a new key: the cut falls between two of them.
    expect(full.slice(at80.length).startsWith('  ')).toBe(true);
  });
});
