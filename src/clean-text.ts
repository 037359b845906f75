/**
 * Text that came from a host or an agent (task names, argv, cancel reasons, error messages, an
 * impostor's replies) is printed to a terminal only without control characters: an escape
 * sequence in a task name must not repaint, retitle or hide anything on the user's screen.
 */

// C0 controls, DEL and C1 controls (which some terminals take as escape sequences too).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
// eslint-disable-next-line no-control-regex
const CONTROL_BUT_LINES = /[\u0000-\u0008\u000b-\u000c\u000e-\u001f\u007f-\u009f]/g;

function escape(c: string): string {
  if (c === '\n') return '\\n';
  if (c === '\r') return '\\r';
  if (c === '\t') return '\\t';
  return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
}

/**
 * `text` with every control character shown as an escape (`\x1b`, `\n`): one line, safe in a
 * table cell. With `lines`, newlines, carriage returns and tabs are kept.
 */
export function cleanText(text: string, lines = false): string {
  return text.replace(lines ? CONTROL_BUT_LINES : CONTROL, escape);
}

/** A copy of `value` with every string in it cleaned (a few levels deep; other values as they are). */
export function cleanValue<T>(value: T, depth = 0): T {
  if (typeof value === 'string') return cleanText(value) as T;
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => cleanValue(v, depth + 1)) as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = cleanValue(v, depth + 1);
  return out as T;
}
