/**
 * Display width: how many terminal columns a string takes. Tables and the TUI lay text out in
 * columns, and `String.length` counts UTF-16 code units: a CJK character or an emoji takes two
 * columns and one or two units, a combining accent none and one. Widths follow Unicode's East
 * Asian Width (Wide and Fullwidth are 2) and emoji presentation, per grapheme cluster, the way
 * terminals (xterm, VTE, iTerm2, Windows Terminal) draw them.
 */

/** Text that is only printable ASCII: one column per unit, the common case, measured at once. */
const ASCII = /^[\x20-\x7e]*$/;
/** Code points that take no column of their own: marks, joiners, variation selectors, controls. */
const ZERO = /^(?:\p{Mn}|\p{Me}|\p{Cf}|\p{Cc})$/u;
/** Emoji drawn as pictures by default (two columns), and those made so by U+FE0F. */
const EMOJI = /^\p{Emoji_Presentation}$/u;
const PICTOGRAPHIC = /^\p{Extended_Pictographic}$/u;
const REGIONAL = /^\p{Regional_Indicator}$/u;

/** East Asian Wide and Fullwidth ranges (Unicode 15), other than emoji, which EMOJI covers. */
const WIDE: readonly (readonly [number, number])[] = [
  [0x1100, 0x115f],
  [0x2329, 0x232a],
  [0x2e80, 0x303e],
  [0x3041, 0x33ff],
  [0x3400, 0x4dbf],
  [0x4e00, 0x9fff],
  [0xa000, 0xa4cf],
  [0xa960, 0xa97f],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe10, 0xfe19],
  [0xfe30, 0xfe6f],
  [0xff00, 0xff60],
  [0xffe0, 0xffe6],
  [0x16fe0, 0x16fe4],
  [0x17000, 0x18cff],
  [0x1b000, 0x1b2ff],
  [0x1f200, 0x1f202],
  [0x1f210, 0x1f23b],
  [0x1f240, 0x1f248],
  [0x1f250, 0x1f251],
  [0x20000, 0x2fffd],
  [0x30000, 0x3fffd],
];

function isWide(cp: number): boolean {
  if (cp < 0x1100) return false;
  let lo = 0;
  let hi = WIDE.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [a, b] = WIDE[mid];
    if (cp < a) hi = mid - 1;
    else if (cp > b) lo = mid + 1;
    else return true;
  }
  return false;
}

/** Columns of one code point on its own. */
function codePointWidth(ch: string): number {
  const cp = ch.codePointAt(0)!;
  if (cp >= 0x20 && cp < 0x7f) return 1;
  // Hangul medial vowels and variation selectors join the character before them.
  if ((cp >= 0x1160 && cp <= 0x11ff) || (cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xe0100 && cp <= 0xe01ef) || ZERO.test(ch)) return 0;
  if (isWide(cp) || EMOJI.test(ch)) return 2;
  return 1;
}

let segmenter: Intl.Segmenter | null | undefined;

/** The grapheme clusters of `text` (what a terminal draws as one glyph). */
function graphemes(text: string): Iterable<string> {
  if (segmenter === undefined) segmenter = typeof Intl.Segmenter === 'function' ? new Intl.Segmenter(undefined, { granularity: 'grapheme' }) : null;
  if (!segmenter) return text;
  const seg = segmenter;
  return {
    *[Symbol.iterator]() {
      for (const s of seg.segment(text)) yield s.segment;
    },
  };
}

/** Columns of one grapheme cluster: an emoji sequence or a flag is one picture, two columns. */
function clusterWidth(cluster: string): number {
  if (cluster.length === 1) return codePointWidth(cluster);
  const points = [...cluster];
  const first = points[0];
  if (points.length === 1) return codePointWidth(first);
  if (REGIONAL.test(first)) return 2;
  if (PICTOGRAPHIC.test(first) && (cluster.includes('\ufe0f') || cluster.includes('\u200d') || EMOJI.test(first))) return 2;
  // A base and its marks: the base's width (a wide base stays wide).
  let w = 0;
  for (const p of points) w = Math.max(w, codePointWidth(p));
  return w;
}

/** How many terminal columns `text` takes. */
export function displayWidth(text: string): number {
  if (ASCII.test(text)) return text.length;
  let w = 0;
  for (const g of graphemes(text)) w += clusterWidth(g);
  return w;
}

/** The longest start of `text` that fits in `columns` columns (never half a wide character). */
export function sliceColumns(text: string, columns: number): string {
  if (columns <= 0) return '';
  if (ASCII.test(text)) return text.slice(0, columns);
  let w = 0;
  let out = '';
  for (const g of graphemes(text)) {
    const gw = clusterWidth(g);
    if (w + gw > columns) break;
    w += gw;
    out += g;
  }
  return out;
}

/** The longest end of `text` that fits in `columns` columns. */
export function sliceColumnsEnd(text: string, columns: number): string {
  if (columns <= 0) return '';
  if (ASCII.test(text)) return text.slice(Math.max(0, text.length - columns));
  const parts = [...graphemes(text)];
  let w = 0;
  let i = parts.length;
  while (i > 0) {
    const gw = clusterWidth(parts[i - 1]);
    if (w + gw > columns) break;
    w += gw;
    i--;
  }
  return parts.slice(i).join('');
}

/** `text` padded with spaces on the right to `columns` columns (as `padEnd`, in columns). */
export function padEndColumns(text: string, columns: number): string {
  const w = displayWidth(text);
  return w >= columns ? text : text + ' '.repeat(columns - w);
}

/** `text` padded with spaces on the left to `columns` columns (as `padStart`, in columns). */
export function padStartColumns(text: string, columns: number): string {
  const w = displayWidth(text);
  return w >= columns ? text : ' '.repeat(columns - w) + text;
}
