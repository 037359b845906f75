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

/** Cuts `text` to `width` characters, marking the cut with an ellipsis. */
export function truncate(text: string, width: number): string {
  if (width <= 0) return '';
  const clean = String(text ?? '').replace(/[\r\n\t]+/g, ' ');
  return clean.length <= width ? clean : width === 1 ? '…' : clean.slice(0, width - 1) + '…';
}

/** Cuts prose to `width` characters at the end of a word (`cancel a task, timer…`). */
export function truncateWords(text: string, width: number): string {
  const clean = String(text ?? '').replace(/[\r\n\t]+/g, ' ');
  if (clean.length <= width) return clean;
  const room = clean.slice(0, Math.max(0, width - 1));
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
  if (clean.length <= width) return clean;
  const site = /^(.*?\S) \(([^()]*:\d+(?::\d+)?)\)$/.exec(clean);
  if (site && site[1].length <= width / 2) {
    const room = width - site[1].length - 3; // " (" and ")"
    if (room >= 8) return `${site[1]} (…${site[2].slice(site[2].length - room + 1)})`;
  }
  return width === 1 ? '…' : '…' + clean.slice(clean.length - width + 1);
}

/**
 * Renders rows as a table no wider than `width` (default 80): cells are truncated, never
 * wrapped. Fixed columns get their natural width; the flex column gets the rest.
 */
export function renderTable<T>(columns: Column<T>[], rows: T[], width = 80): string {
  const cells = rows.map((r) => columns.map((c) => c.cell(r).replace(/[\r\n\t]+/g, ' ')));
  const natural = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i].length)));
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
        return columns[i].right ? text.padStart(widths[i]) : text.padEnd(widths[i]);
      })
      .join(' ')
      .slice(0, width)
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n');
}
