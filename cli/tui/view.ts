import { formatCallback, formatChain, formatDuration, formatFrame, formatSite } from '../../src/format.js';
import { blockedTaskText, stacksText } from '../../src/render.js';
import { truncate, truncateStart } from '../../src/table.js';
import { displayWidth, padEndColumns, padStartColumns, sliceColumns } from '../../src/width.js';
import { footerText, helpLines } from './keys.js';
import { COLUMNS, rowsFor } from './rows.js';
import type { Row } from './rows.js';
import { TABS, TAB_TITLES } from './model.js';
import type { State } from './model.js';

/**
 * Turns state into the text of each part of the screen, as blessed tag strings. Pure: the
 * app only puts these strings into boxes, so all of it is tested without a terminal.
 */

export interface Style {
  color: boolean;
}

/** Escapes text for blessed's tag parser. */
export function esc(text: string): string {
  return text.replace(/[{}]/g, (c) => (c === '{' ? '{open}' : '{close}'));
}

function paint(style: Style, color: string, text: string): string {
  return style.color ? `{${color}-fg}${text}{/${color}-fg}` : text;
}

const SPARK = '▁▂▃▄▅▆▇█';

/** A sparkline of the values, scaled to their maximum. */
export function sparkline(values: number[], width: number): string {
  if (width <= 0) return '';
  const v = values.slice(-width);
  const max = Math.max(...v, 1);
  return v.map((x) => SPARK[Math.min(SPARK.length - 1, Math.floor((x / max) * (SPARK.length - 1)))]).join('');
}

/** Silence after which a live connection says so: three missed updates at the default interval. */
const SILENT_MS = 3000;

function connLabel(s: State, style: Style): string {
  // A lost connection outranks the last word from the agent (a stale BLOCKED, say).
  if (s.conn.status === 'live' && s.health?.status === 'blocked') return paint(style, 'red', `BLOCKED ${formatDuration(s.health.blockedMs)}`);
  if (s.conn.status === 'live' && s.health?.status === 'paused') return paint(style, 'yellow', `IN DEBUGGER ${formatDuration(s.health.blockedMs)}`);
  switch (s.conn.status) {
    case 'live':
      if (s.paused) return paint(style, 'yellow', 'paused');
      // Connected, but nothing has come for a while (the process is stopped, say).
      return s.silentMs >= SILENT_MS ? paint(style, 'yellow', `no answer for ${formatDuration(Math.floor(s.silentMs / 1000) * 1000)}`) : paint(style, 'green', 'live');
    case 'connecting':
      return paint(style, 'yellow', 'connecting…');
    case 'reconnecting':
      return paint(style, 'yellow', `reconnecting (attempt ${s.conn.attempt})`);
    case 'file':
      return paint(style, 'cyan', 'dump (read-only)');
  }
}

/** Two header lines, plus a third when the loop is blocked or something needs saying. */
export function headerLines(s: State, width: number, style: Style): string[] {
  const stacks = s.stacks === null ? '-' : stacksText(s.stacks);
  // The target is often the pid itself: say it once.
  const who = s.pid !== null && s.target === String(s.pid) ? `pid ${s.pid}` : `${esc(s.target)}  pid ${s.pid ?? '-'}`;
  const line1 = `asyncmon  ${who}  ${s.node ?? ''}  up ${formatDuration(s.uptimeMs)}  level ${s.level ?? '-'}  stacks ${stacks}`;
  const d = s.loop?.delayMs;
  const elu = s.loop ? `${(s.loop.utilization * 100).toFixed(0)}%` : '-';
  const counts = `tasks ${s.taskTotal}  promises ${s.promiseTotal}  handles ${s.handles.length}${s.dropped ? `  dropped ${s.dropped}` : ''}`;
  const left = `loop p99 ${d ? `${d.p99}ms` : '-'} `;
  const right = `  elu ${elu}  ${counts}`;
  const sparkWidth = Math.max(0, Math.min(30, width - displayWidth(left) - displayWidth(right) - 2));
  const label = connLabel(s, style);
  const labelWidth = displayWidth(label.replace(/\{[^}]*\}/g, ''));
  const lines = [truncate(line1, Math.max(0, width - labelWidth - 2)) + '  ' + label, truncate(left + sparkline(s.spark, sparkWidth) + right, width)];
  if (s.conn.status === 'live' && s.health?.status === 'blocked') {
    const top = formatChain(s.health.stack, 2) || 'outside JavaScript';
    lines.push(paint(style, 'red', esc(truncate(`event loop BLOCKED ${formatDuration(s.health.blockedMs)} in ${top}${blockedTaskText(s.health.task)}`, width))));
  } else if (s.conn.status === 'live' && s.health?.status === 'paused') {
    const top = formatChain(s.health.stack, 2);
    lines.push(paint(style, 'yellow', esc(truncate(`paused in a debugger ${formatDuration(s.health.blockedMs)}${top ? ` at ${top}` : ''}`, width))));
  } else if (s.conn.status === 'reconnecting') {
    lines.push(paint(style, 'yellow', esc(truncate(`connection lost: ${s.conn.message}; retrying`, width))));
  } else if (s.flash) {
    lines.push(esc(truncate(s.flash, width)));
  } else lines.push('');
  return lines;
}

export function tabBar(s: State): string {
  const tabs = TABS.map((t, i) => {
    const label = ` ${i + 1} ${TAB_TITLES[t]} `;
    return t === s.tab ? `{inverse}${label}{/inverse}` : label;
  }).join(' ');
  // A filter hides rows: say so, with what it keeps.
  const filter = s.views[s.tab].filter;
  return filter ? `${tabs}   filter: ${esc(filter)}` : tabs;
}

/** Widest a fixed column may get, so one long name never pushes the flexible column away. */
const MAX_FIXED = 36;

function layoutColumns(tab: State['tab'], rows: Row[], width: number, headers: string[]): number[] {
  const cols = COLUMNS[tab];
  const natural = cols.map((c, i) => Math.min(c.flex ? Infinity : MAX_FIXED, Math.max(displayWidth(headers[i]), ...rows.map((r) => displayWidth(r.cells[i] ?? '')))));
  const flex = cols.findIndex((c) => c.flex);
  const fixed = natural.reduce((a, w, i) => a + (i === flex ? 0 : w), 0) + cols.length - 1;
  if (flex >= 0) natural[flex] = Math.max(6, width - fixed);
  return natural;
}

function line(cells: string[], widths: number[], right: boolean[], width: number, keepEnd: boolean[] = []): string {
  const text = cells
    .map((c, i) => {
      const t = keepEnd[i] ? truncateStart(c, widths[i]) : truncate(c, widths[i]);
      return right[i] ? padStartColumns(t, widths[i]) : padEndColumns(t, widths[i]);
    })
    .join(' ');
  return padEndColumns(truncate(text, width), width);
}

/** The table of the current tab: a header and the visible window of rows around the selection. */
export function tableLines(s: State, width: number, height: number): string[] {
  const rows = rowsFor(s);
  const view = s.views[s.tab];
  const right = COLUMNS[s.tab].map((c) => c.right === true);
  // Sites are cut from the left: the file name and line are what matter.
  const keepEnd = COLUMNS[s.tab].map((c) => c.flex === true);
  // The arrow sits on the sort column; the natural order reversed puts it on the first one.
  const sortMark = view.sortColumn >= 0 ? (view.sortDesc ? '▼' : '▲') : view.sortDesc ? '▼' : '';
  const marked = view.sortColumn >= 0 ? view.sortColumn : 0;
  const headers = COLUMNS[s.tab].map((c, i) => (i === marked && sortMark ? c.header + sortMark : c.header));
  const widths = layoutColumns(s.tab, rows, width, headers);
  const out = [`{bold}${esc(line(headers, widths, right, width))}{/bold}`];
  const visible = Math.max(1, height - 1);
  const start = Math.max(0, Math.min(view.selected - Math.floor(visible / 2), rows.length - visible));
  for (let i = start; i < Math.min(rows.length, start + visible); i++) {
    const text = esc(line(rows[i].cells, widths, right, width, keepEnd));
    out.push(i === view.selected ? `{inverse}${text}{/inverse}` : text);
  }
  if (rows.length === 0) out.push(esc(truncate(emptyText(s), width)));
  return out;
}

function emptyText(s: State): string {
  if (s.views[s.tab].filter) return `no rows match "${s.views[s.tab].filter}" (Esc clears the filter)`;
  switch (s.tab) {
    case 'tasks':
      return 'no live tasks';
    case 'promises':
      return s.level === 'promises' ? 'no pending promises' : 'promises are not tracked: press L until the level is promises';
    case 'resources':
      return 'nothing keeps the process alive';
    case 'history':
      return 'no finished tasks yet';
    case 'blocked':
      return 'the event loop has not been blocked';
  }
}

/** The detail pane for the selected row. */
export function detailLines(s: State, id: string | null, width: number): string[] {
  if (!id) return ['nothing selected'];
  const out: string[] = [];
  // Long lines wrap (a file:line at the end must stay readable), continuing indented.
  const push = (text: string) => {
    let rest = String(text ?? '');
    let first = true;
    while (rest.length > 0 || first) {
      const room = Math.max(1, first ? width : width - 2);
      // In columns; a wide character that does not fit starts the next line.
      let piece = sliceColumns(rest, room);
      if (piece.length === 0 && rest.length > 0) piece = [...rest][0];
      out.push(esc((first ? '' : '  ') + piece));
      rest = rest.slice(piece.length);
      first = false;
    }
  };
  if (s.tab === 'tasks') {
    const t = s.tasks.find((x) => String(x.id) === id);
    if (!t) return ['the task has ended'];
    push(`task ${t.id} ${t.name}`);
    push(`${t.kind}, ${t.state}, ${formatDuration(t.ageMs)} old${t.detail ? `, ${t.detail}` : ''}`);
    if (t.site) push(`created at ${formatSite(t.site)}`);
    if (t.traceId) push(t.spanId ? `trace ${t.traceId} span ${t.spanId}` : `trace ${t.traceId} (traceparent header)`);
    const kids = s.tasks.filter((x) => x.parentId === t.id);
    if (kids.length > 0) push(`children: ${kids.map((k) => `${k.id} ${k.name}`).join(', ')}`);
    const w = s.detail.where && s.detail.where.id === t.id ? s.detail.where : null;
    if (s.detail.error) push(`where: ${s.detail.error}`);
    else if (!w) push('where: …');
    else {
      if (w.parents.length > 0) push(`parents: ${w.parents.map((p) => `${p.id} ${p.name}`).join(' < ')}`);
      if (w.waitsOn) {
        push(`waits on ${w.waitsOn.promiseId} at ${formatSite(w.waitsOn.site)}`);
        for (const f of w.waitsOn.stack) push(formatFrame(f));
      }
      if (w.waitsNote) push(`(${w.waitsNote})`);
      if (w.stack.length > 1) {
        push('creation stack:');
        for (const f of w.stack) push(formatFrame(f));
      }
    }
    const past = s.history.filter((h) => h.parentId === t.id).slice(0, 5);
    if (past.length > 0) push(`recent children: ${past.map((h) => `${h.id} ${h.outcome}`).join(', ')}`);
    return out;
  }
  if (s.tab === 'resources') {
    const h = s.handles.find((x) => x.id === id);
    if (h) {
      push(`${h.kind} ${h.id} (${h.type})${h.refed ? '' : ', unref\'d'}`);
      if (h.detail) push(h.detail);
      push(`callback: ${formatCallback(h)}`);
      if (h.callback?.lib) push(`  at ${formatSite(h.callback)}`);
      return out;
    }
    const r = s.resources.find((x) => x.id === id);
    if (r) {
      push(`${r.type} ${r.id}, ${formatDuration(r.ageMs)} old, trigger ${r.triggerId}${r.taskId ? `, task ${r.taskId}` : ''}`);
      push(`created at ${formatSite(r.site)}`);
    }
    return out;
  }
  if (s.tab === 'blocked') {
    const b = s.blocked[Number(id.slice(1))];
    if (!b) return out;
    push(`blocked ${formatDuration(b.durationMs)} at ${new Date(b.startedAt).toISOString()}`);
    for (const f of b.stack) push(formatFrame(f));
    return out;
  }
  const rows = rowsFor(s);
  const row = rows.find((r) => r.id === id);
  if (row) for (const c of row.cells) push(c);
  return out;
}

/** The await view's lines: a title, then the visible window of `asyncmon awaits`' text. */
export function awaitsLines(s: State, width: number, height: number): string[] {
  const a = s.awaits;
  const inner = Math.max(1, width);
  if (a.loading && a.lines.length === 0) return [esc(truncate('taking a heap snapshot of the host (it pauses while V8 writes it)…', inner))];
  const out: string[] = [];
  if (a.error) out.push(esc(truncate(`✗ ${a.error}`, inner)));
  if (a.loading) out.push(esc(truncate('taking another heap snapshot…', inner)));
  const room = Math.max(1, height - out.length);
  const start = Math.max(0, Math.min(a.scroll, a.lines.length - room));
  for (const line of a.lines.slice(start, start + room)) {
    // User frames (›) stand out from a library's.
    const text = esc(truncate(line, inner));
    out.push(/^ {2}› /.test(line) ? `{bold}${text}{/bold}` : text);
  }
  return out;
}

export function footerLine(s: State, width: number): string {
  if (s.mode === 'awaits') {
    const pause = s.awaits.pauseMs !== null ? `host paused ${formatDuration(s.awaits.pauseMs)}  ` : '';
    return esc(truncate(`${pause}↑/↓ PgUp/PgDn scroll  a take another snapshot  Esc back  q quit`, width));
  }
  if (s.mode === 'filter') return esc(truncate(`filter: ${s.filterInput}▏  (Enter to keep, Esc to clear)`, width));
  if (s.mode === 'confirm' && s.confirm) return esc(truncate(`cancel ${s.confirm.label}? y / n`, width));
  return esc(footerText(width));
}

export function helpText(): string {
  return [...helpLines().map(esc), '{bold}any key closes this help{/bold}'].join('\n');
}

/**
 * The process picker's lines: every agent discovered, the one top watches marked `*`, the
 * selected one highlighted, and how to use it.
 */
export function pickerLines(s: State, width: number): string[] {
  const p = s.picker;
  if (!p) return [];
  const now = Date.now();
  const head = `  ${'PID'.padStart(7)}  ${'ADDRESS'.padEnd(21)} ${'UP'.padStart(6)}  COMMAND`;
  const out = [`{bold}${esc(truncate(head, width))}{/bold}`];
  p.agents.forEach((a, i) => {
    const mark = a.pid === s.pid ? '*' : ' ';
    const text = truncate(`${mark} ${String(a.pid).padStart(7)}  ${truncate(a.address, 21).padEnd(21)} ${formatDuration(Math.max(0, now - a.startedAt)).padStart(6)}  ${a.command}`, width).padEnd(width);
    out.push(i === p.selected ? `{inverse}${esc(text)}{/inverse}` : esc(text));
  });
  out.push('', esc(truncate('Enter watch it  Esc/p close  (* the one watched now)', width)));
  return out;
}