import { displayWidth, padEndColumns, padStartColumns, sliceColumns, sliceColumnsEnd } from './width.js';

/** A column of a text table: a header, how to read a cell, and how it may be sized. */
export interface Column<T> {
  header: string;
  cell: (row: T) => string;
  /** Right-align (numbers, ages). */
  right?: boolean;
  /** This column takes whatever width is left over (at most one per table); it is cut from the left. */
  flex?: boolean;
  /** Prose, not a path: a flex column cut at its end, on a word. */
  prose?: boolean;
}

// Widths here are terminal columns (src/width.ts), not string lengths: a CJK name or an emoji
// takes two columns per character.

/** Cuts `text` to `width` columns, marking the cut with an ellipsis. */
export function truncate(text: string, width: number): string {
  if (width <= 0) return '';
  const clean = String(text ?? '').replace(/[\r\n\t]+/g, ' ');
  return displayWidth(clean) <= width ? clean : width === 1 ? '…' : sliceColumns(clean, width - 1) + '…';
}

/** Cuts prose to `width` columns at the end of a word (`cancel a task, timer…`). */
export function truncateWords(text: string, width: number): string {
  const clean = String(text ?? '').replace(/[\r\n\t]+/g, ' ');
  if (displayWidth(clean) <= width) return clean;
  const room = sliceColumns(clean, Math.max(0, width - 1));
  const space = room.lastIndexOf(' ');
  return (space > width / 2 ? room.slice(0, space).replace(/[,;:]$/, '') : room) + '…';
}

/**
 * Cuts `text` to `width` characters from the left (`…/dir/file.js:12:3`): ends matter in paths.
 * A site (`runJob (demo/app.js:26:33)`, maybe after a label) keeps its function: the path
 * inside the parentheses is what gets cut, `runJob (…/app.js:26:33)`.
 */
export function truncateStart(text: string, width: number): string {
  if (width <= 0) return '';
  const clean = String(text ?? '').replace(/[\r\n\t]+/g, ' ');
  if (displayWidth(clean) <= width) return clean;
  const site = /^(.*?\S) \(([^()]*:\d+(?::\d+)?)\)$/.exec(clean);
  const fnWidth = site ? displayWidth(site[1]) : 0;
  if (site && fnWidth <= width / 2) {
    const room = width - fnWidth - 3; // " (" and ")"
    if (room >= 8) return `${site[1]} (…${sliceColumnsEnd(site[2], room - 1)})`;
  }
  return width === 1 ? '…' : '…' + sliceColumnsEnd(clean, width - 1);
}

/**
 * Renders rows as a table no wider than `width` columns (default 80): cells are truncated, never
 * wrapped. Fixed columns get their natural width; the flex column gets the rest.
 */
export function renderTable<T>(columns: Column<T>[], rows: T[], width = 80): string {
  const cells = rows.map((r) => columns.map((c) => c.cell(r).replace(/[\r\n\t]+/g, ' ')));
  const natural = columns.map((c, i) => Math.max(displayWidth(c.header), ...cells.map((row) => displayWidth(row[i]))));
  const gaps = columns.length - 1;
  const flexIndex = columns.findIndex((c) => c.flex);
  const widths = natural.slice();
  const fixedTotal = widths.reduce((a, w, i) => a + (i === flexIndex ? 0 : w), 0) + gaps;
  if (flexIndex >= 0) widths[flexIndex] = Math.max(4, Math.min(natural[flexIndex], width - fixedTotal));
  // Still too wide: shrink the widest columns until it fits.
  let total = widths.reduce((a, w) => a + w, 0) + gaps;
  while (total > width) {
    const widest = widths.indexOf(Math.max(...widths));
    if (widths[widest] <= 4) break;
    widths[widest]--;
    total--;
  }
  const line = (values: string[]) =>
    values
      .map((v, i) => {
        const text = columns[i].flex ? (columns[i].prose ? truncateWords(v, widths[i]) : truncateStart(v, widths[i])) : truncate(v, widths[i]);
        if (i === values.length - 1 && !columns[i].right) return text;
        return columns[i].right ? padStartColumns(text, widths[i]) : padEndColumns(text, widths[i]);
      })
      .join(' ');
  const fit = (values: string[]) => sliceColumns(line(values), width).trimEnd();
  return [fit(columns.map((c) => c.header)), ...cells.map(fit)].join('\n');
}
