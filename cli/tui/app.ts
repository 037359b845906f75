import { readFileSync } from 'node:fs';
import blessed from 'blessed';
import { AsyncmonError } from '../../src/errors.js';
import type { WhereInfo } from '../../src/model.js';
import type { UpdateEvent } from '../../src/protocol.js';
import { AgentClient, describe } from '../client.js';
import { EXIT } from '../exit-codes.js';
import { expectedPeer, fail } from '../run.js';
import type { TargetOptions } from '../run.js';
import { fromRecord, resolveTarget, tokenOf } from '../target.js';
import type { Target } from '../target.js';
import { cleanText } from '../../src/clean-text.js';
import { scanDiscovery } from '../../src/discovery.js';
import { intentFor, pickerKeyFor } from './keys.js';
import { selectedId } from './rows.js';
import { applyChanges, initialState, reduce } from './state.js';
import type { PickerEntry, State } from './model.js';
import type { Action, Effect } from './state.js';
import { awaitsLines, detailLines, footerLine, headerLines, helpText, pickerLines, tabBar, tableLines } from './view.js';

interface TopOptions extends TargetOptions {
  file?: string;
  interval?: string;
}

const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 5000;

/** Reads a dump written by `asyncmon dump` into a read-only state. */
export function stateFromDump(path: string): State {
  const doc = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  if (doc.format !== 'asyncmon-dump' || typeof doc.snapshot !== 'object' || doc.snapshot === null) {
    throw new AsyncmonError('BAD_ARGUMENT', `${path} is not an asyncmon dump (asyncmon dump --out FILE writes one)`);
  }
  const stats = doc.stats as { blocked?: unknown } | undefined;
  const health = doc.health as Record<string, unknown> | undefined;
  return applyChanges(initialState(path, 'file'), { ...(doc.snapshot as Record<string, unknown>), health, blocked: stats?.blocked });
}

/** Connection attempts to a target that never answered before top gives up (exit 3). */
const FIRST_TRIES = 3;

/**
 * `asyncmon top`: the app loop. It owns the connection (reconnecting with backoff), turns keys
 * into actions for the reducer, performs the effects the reducer asks for, and renders.
 */
export async function top(opts: TopOptions): Promise<void> {
  let state: State;
  let target: Target | null = null;
  if (!process.stdout.isTTY || !process.stdin.isTTY) {
    // Escape codes into a pipe help nobody: say what to use instead.
    fail(new AsyncmonError('BAD_ARGUMENT', 'asyncmon top needs a terminal; in a pipe or a script use asyncmon ps, where or dump --json'));
    return;
  }
  try {
    if (opts.file) state = stateFromDump(opts.file);
    else {
      target = resolveTarget(opts.target, tokenOf(opts));
      state = initialState(target.record ? `${target.record.pid}` : describe(target.address));
    }
  } catch (err) {
    fail(err);
    return;
  }
  const interval = Number(opts.interval ?? 1000);
  const style = { color: !process.env.NO_COLOR };
  const screen = blessed.screen({ smartCSR: true, title: 'asyncmon top', fullUnicode: true, warnings: false, autoPadding: false });
  const header = blessed.box({ parent: screen, top: 0, left: 0, width: '100%', height: 3, tags: true, wrap: false });
  const tabs = blessed.box({ parent: screen, top: 3, left: 0, width: '100%', height: 1, tags: true });
  const table = blessed.box({ parent: screen, top: 4, left: 0, width: '100%', bottom: 1, tags: true, wrap: false });
  const detail = blessed.box({ parent: screen, top: 4, right: 0, width: '45%', bottom: 1, tags: true, border: { type: 'line' }, hidden: true, label: ' details ' });
  const footer = blessed.box({ parent: screen, bottom: 0, left: 0, width: '100%', height: 1, tags: true, wrap: false });
  const awaitsBox = blessed.box({ parent: screen, top: 4, left: 0, width: '100%', bottom: 1, tags: true, wrap: false, border: { type: 'line' }, hidden: true, label: ' await graph, from a heap snapshot (Esc back) ' });
  const help = blessed.box({ parent: screen, top: 0, left: 'center', width: 70, height: '100%', tags: true, border: { type: 'line' }, hidden: true, label: ' keys ' });
  const picker = blessed.box({ parent: screen, top: 'center', left: 'center', width: '90%', height: '60%', tags: true, border: { type: 'line' }, hidden: true, label: ' processes ', wrap: false });

  let client: AgentClient | null = null;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  let quitting = false;
  let reconnectTimer: NodeJS.Timeout | null = null;
  /** Set when top ends on an error, whose exit code `fail` chose. */
  let failed = false;
  /** Whether the target ever answered: one never reached is not retried for ever. */
  let reached = false;
  let swallowEnterUntil = 0;
  /** Bumped when top switches process: what the old connection still says is ignored. */
  let generation = 0;
  /** Whether the user picked the target in the picker (then failures never end top). */
  let picked = false;

  const render = () => {
    try {
      draw();
    } catch (err) {
      // A view bug must not take the terminal down with it.
      footer.setContent(`internal error: ${err instanceof Error ? err.message : String(err)}`);
      screen.render();
    }
  };
  const draw = () => {
    const width = Math.max(20, Number(screen.width) || 80);
    const height = Math.max(8, Number(screen.height) || 24);
    header.setContent(headerLines(state, width, style).join('\n'));
    tabs.setContent(tabBar(state));
    const detailOpen = state.detail.open;
    detail.hidden = !detailOpen;
    const tableWidth = detailOpen ? Math.max(20, width - Math.floor(width * 0.45)) : width;
    table.width = tableWidth;
    table.setContent(tableLines(state, tableWidth, height - 5).join('\n'));
    if (detailOpen) detail.setContent(detailLines(state, selectedId(state), Math.floor(width * 0.45) - 2).join('\n'));
    footer.setContent(footerLine(state, width));
    awaitsBox.hidden = state.mode !== 'awaits';
    if (!awaitsBox.hidden) awaitsBox.setContent(awaitsLines(state, width - 2, height - 7).join('\n'));
    help.hidden = state.mode !== 'help';
    if (!help.hidden) help.setContent(helpText());
    picker.hidden = state.mode !== 'picker';
    if (!picker.hidden) picker.setContent(pickerLines(state, Math.max(10, Math.floor(width * 0.9) - 2)).join('\n'));
    screen.render();
  };

  const dispatch = (action: Action) => {
    let result;
    try {
      result = reduce(state, action);
    } catch (err) {
      state = { ...state, flash: `internal error: ${err instanceof Error ? err.message : String(err)}` };
      render();
      return;
    }
    state = result.state;
    render();
    for (const effect of result.effects) void perform(effect);
  };

  const perform = async (effect: Effect) => {
    if (effect.type === 'quit') return quit();
    if (effect.type === 'discover') return dispatch({ type: 'processes', agents: discovered() });
    if (effect.type === 'switch') return switchTo(effect.pid);
    if (!client) {
      dispatch({ type: 'flash', message: 'not connected' });
      return;
    }
    try {
      switch (effect.type) {
        case 'fetch-where':
          dispatch({ type: 'where', where: (await client.call('where', { id: effect.id })) as WhereInfo, error: null });
          break;
        case 'fetch-awaits':
          dispatch({ type: 'awaits', result: await client.call('awaits', {}, 30_000), error: null });
          break;
        case 'cancel': {
          const r = (await client.call('cancel', { id: effect.id, reason: 'cancelled from asyncmon top' })) as { message: string };
          dispatch({ type: 'flash', message: `✓ ${r.message}` });
          break;
        }
        case 'track': {
          const r = (await client.call('track', { level: effect.level, ...(effect.stacks ? { stacks: effect.stacks } : {}) })) as { level: string; stacks: string | number };
          dispatch({ type: 'flash', message: `✓ level ${r.level}, stacks ${r.stacks}` });
          break;
        }
        case 'watch':
          await client.call('watch', { action: effect.action });
          break;
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (effect.type === 'fetch-where') dispatch({ type: 'where', where: null, error: message });
      else if (effect.type === 'fetch-awaits') dispatch({ type: 'awaits', result: null, error: message });
      else dispatch({ type: 'flash', message: `✗ ${message}` });
    }
  };

  // The header says when the agent has gone quiet, so it needs the clock even without updates.
  const ticker = setInterval(() => dispatch({ type: 'tick', now: Date.now() }), 1000);
  ticker.unref();
  const quit = () => {
    if (quitting) return;
    quitting = true;
    clearInterval(ticker);
    if (reconnectTimer) clearTimeout(reconnectTimer);
    client?.close();
    screen.destroy();
    done();
  };

  /** The agents this user can reach right now, for the picker. */
  const discovered = (): PickerEntry[] =>
    scanDiscovery()
      .records.sort((a, b) => a.pid - b.pid)
      .map((r) => ({ pid: r.pid, address: describe(fromRecord(r).address), command: cleanText(r.argv.join(' ')), node: r.node, startedAt: r.startedAt }));

  /**
   * Watches another discovered process: the current connection is dropped (its late events
   * are ignored), and the new one is tried for ever with backoff, like a lost connection: a
   * process picked by hand that does not answer is shown as such, not a reason to exit.
   */
  const switchTo = (pid: number) => {
    const record = scanDiscovery().records.find((r) => r.pid === pid);
    if (!record) return dispatch({ type: 'flash', message: `process ${pid} is gone` });
    generation++;
    if (reconnectTimer) clearTimeout(reconnectTimer);
    reconnectTimer = null;
    const old = client;
    client = null;
    old?.close();
    target = fromRecord(record);
    picked = true;
    dispatch({ type: 'switched', target: String(pid) });
    void connectLoop(0);
  };

  const connectLoop = async (attempt: number) => {
    if (quitting || !target) return;
    const gen = generation;
    try {
      const c = await AgentClient.connect(target.address, { token: target.token, timeoutMs: 5000, expect: expectedPeer(target) });
      if (quitting || gen !== generation) return c.close();
      client = c;
      reached = true;
      dispatch({ type: 'connected', pid: c.pid ?? 0, node: c.node ?? '', access: c.access ?? 'read' });
      c.onUpdate((e: UpdateEvent) => gen === generation && dispatch({ type: 'update', changes: e.changes ?? {}, dropped: Number(e.dropped) || 0, now: Number(e.now) || Date.now(), receivedAt: Date.now() }));
      c.onClose((err) => {
        if (gen !== generation) return;
        client = null;
        if (quitting) return;
        dispatch({ type: 'disconnected', message: err?.message ?? 'connection closed', attempt: 1 });
        reconnectTimer = setTimeout(() => void connectLoop(1), BACKOFF_START_MS);
      });
      await c.call('watch', { interval, action: 'start' });
      if (state.paused) await c.call('watch', { action: 'pause' });
    } catch (err) {
      if (quitting || gen !== generation) return;
      // A wrong token, or a target never reached after a few tries: say so and exit (1, 3).
      if (!picked && ((err instanceof AsyncmonError && (err.code === 'FORBIDDEN' || err.code === 'BAD_ARGUMENT')) || (!reached && attempt >= FIRST_TRIES - 1))) {
        quit();
        failed = true;
        fail(err);
        return;
      }
      dispatch({ type: 'disconnected', message: err instanceof Error ? err.message : String(err), attempt: attempt + 1 });
      const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** Math.min(attempt, 16));
      reconnectTimer = setTimeout(() => void connectLoop(attempt + 1), delay);
    }
  };

  screen.on('keypress', (ch: string | undefined, key: { full?: string; name?: string } | undefined) => {
    const name = key?.full ?? key?.name ?? '';
    // One Enter comes as two key events ('return' and 'enter'): the one that closed the filter
    // must not also open the first row's details.
    if ((name === 'enter' || name === 'return') && Date.now() < swallowEnterUntil) return;
    if (state.mode === 'filter') {
      if (name === 'enter' || name === 'return') {
        swallowEnterUntil = Date.now() + 50;
        dispatch({ type: 'filter-input', text: state.filterInput, done: true });
      }
      else if (name === 'escape') dispatch({ type: 'filter-input', text: '', done: true });
      else if (name === 'backspace') dispatch({ type: 'filter-input', text: state.filterInput.slice(0, -1), done: false });
      else if (ch && ch.length === 1 && ch >= ' ') dispatch({ type: 'filter-input', text: state.filterInput + ch, done: false });
      return;
    }
    if (state.mode === 'confirm') {
      dispatch({ type: 'confirm', yes: ch === 'y' || ch === 'Y' });
      return;
    }
    if (state.mode === 'picker') {
      const k = pickerKeyFor(name, ch);
      if (k === 'quit') return quit();
      if (k === 'choose') swallowEnterUntil = Date.now() + 50;
      if (k) dispatch({ type: 'picker-key', key: k });
      return;
    }
    if (name === 'C-c') return quit();
    const intent = intentFor(name === 'return' ? 'enter' : name, ch);
    if (intent) dispatch({ type: 'intent', intent, pageSize: Math.max(1, (Number(screen.height) || 24) - 6) });
    else if (state.mode === 'help') dispatch({ type: 'intent', intent: { type: 'back' } });
  });
  screen.on('resize', render);
  render();
  if (target) void connectLoop(0);
  await finished;
  if (!failed) process.exitCode = EXIT.ok;
}
