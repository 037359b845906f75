import { AsyncmonError } from './errors.js';

/** What a client may do; each level includes the ones before it. */
export type Access = 'read' | 'control' | 'eval';
export const ACCESS_LEVELS: readonly Access[] = ['read', 'control', 'eval'];

/** Whether a client holding `have` may run a command that needs `need`. */
export function accessAllows(have: Access, need: Access | 'none'): boolean {
  return need === 'none' || ACCESS_LEVELS.indexOf(have) >= ACCESS_LEVELS.indexOf(need);
}

export interface ArgSpec {
  name: string;
  summary: string;
  required?: boolean;
  /** `flag`: a switch, `--name` in the text dialect and the CLI, `true` in JSON. */
  type: 'string' | 'int' | 'flag';
  /** Takes the rest of the line (text dialect). */
  rest?: boolean;
  /**
   * Given by name only, never by position: `--name <value>` in the text dialect and the CLI,
   * the key in JSON. For a filter that would be ambiguous among the positional ones.
   */
  named?: boolean;
  /** Sent by asyncmon's own tools (`check`), not typed by people: accepted, left out of the usage. */
  internal?: boolean;
}

/** One command, described once; the REPL, the JSON dispatcher, the CLI and the docs read it. */
export interface CommandSpec {
  name: string;
  aliases: readonly string[];
  summary: string;
  args: readonly ArgSpec[];
  access: Access | 'none';
  /** Which thread answers: the worker alone, or the host's main thread (needs a live loop). */
  runs: 'worker' | 'main';
  /** Dialects that offer it (default both). */
  dialects?: ReadonlyArray<'text' | 'json'>;
  /** A one-shot CLI subcommand is generated for it (default true). */
  cli?: boolean;
}

const id: ArgSpec = { name: 'id', summary: 'task id (17), resource (r42) or promise (p9)', required: true, type: 'string' };
const limit: ArgSpec = { name: 'limit', summary: 'how many rows at most', type: 'int' };

/** Every command of the agent. */
export const COMMANDS: readonly CommandSpec[] = [
  { name: 'help', aliases: ['h', '?'], summary: 'list commands, or explain one', args: [{ name: 'command', summary: 'a command name', type: 'string' }], access: 'none', runs: 'worker', cli: false },
  { name: 'auth', aliases: [], summary: 'authenticate with the token (or proof:<hex> after challenge)', args: [{ name: 'token', summary: 'the token from the discovery file or ASYNCMON_TOKEN', required: true, type: 'string' }], access: 'none', runs: 'worker', dialects: ['text'], cli: false },
  { name: 'challenge', aliases: [], summary: 'start a challenge-response login: your nonce; answer with auth proof:<hex>', args: [{ name: 'nonce', summary: '16 to 64 hex digits', required: true, type: 'string' }], access: 'none', runs: 'worker', dialects: ['text'], cli: false },
  { name: 'hello', aliases: [], summary: 'open a JSON session: protocol version, then token, or nonce and then proof', args: [{ name: 'protocol', summary: 'protocol version (1)', type: 'int' }, { name: 'token', summary: 'the token', type: 'string' }, { name: 'nonce', summary: "the client's nonce: the answer carries the agent's challenge", type: 'string' }, { name: 'proof', summary: 'HMAC of the challenge and nonce with the token', type: 'string' }], access: 'none', runs: 'worker', dialects: ['json'], cli: false },
  { name: 'ps', aliases: ['p'], summary: 'list live tasks (optionally only those whose name or kind contains a text, older than some milliseconds, or of one OpenTelemetry trace)', args: [{ name: 'filter', summary: 'text to match in name or kind', type: 'string' }, limit, { name: 'older', summary: 'only tasks older than this many milliseconds', type: 'int' }, { name: 'trace', summary: 'only the tasks of this OpenTelemetry trace (its id, or the first 8 or more of its hex digits)', type: 'string', named: true }, { name: 'deep', summary: 'fill WAITS ON from a heap snapshot where the hooks recorded none (pauses the host while V8 writes it)', type: 'flag' }, { name: 'stuck', summary: 'the tasks found are stuck (what check --max-task-age says): each span hears of it once, when span events are on', type: 'flag', internal: true }], access: 'read', runs: 'main' },
  { name: 'where', aliases: ['w'], summary: 'show where a task waits: the await it is parked on, and its parents', args: [{ ...id, summary: 'task id' }], access: 'read', runs: 'main' },
  { name: 'tree', aliases: ['t'], summary: 'show how tasks nest', args: [{ ...id, required: false, summary: 'task id (default: all)' }], access: 'read', runs: 'main' },
  { name: 'cancel', aliases: ['ca'], summary: 'cancel a task, timer, socket, server or child process', args: [id, { name: 'force', summary: "also clear a timer Node itself relies on (an HTTP server's check of headersTimeout)", type: 'flag' }, { name: 'reason', summary: 'why (recorded in history)', type: 'string', rest: true }], access: 'control', runs: 'main' },
  { name: 'handles', aliases: ['hd'], summary: 'what keeps the process alive, with the callback each will run', args: [limit], access: 'read', runs: 'main' },
  { name: 'promises', aliases: ['pr'], summary: 'pending promises grouped by creation site, and the newest ones', args: [limit], access: 'read', runs: 'main' },
  { name: 'awaits', aliases: ['aw'], summary: 'where every async function is suspended, from a heap snapshot (pauses the host while V8 writes it)', args: [limit], access: 'read', runs: 'worker' },
  { name: 'stack', aliases: ['st'], summary: "the main thread's stack right now (when the loop is blocked)", args: [], access: 'read', runs: 'worker' },
  { name: 'stats', aliases: ['s'], summary: 'event-loop delay and utilization, memory, counters, blocked episodes', args: [], access: 'read', runs: 'main' },
  { name: 'history', aliases: ['hi'], summary: 'finished, failed and cancelled tasks, newest first', args: [limit], access: 'read', runs: 'main' },
  { name: 'track', aliases: ['tr'], summary: 'set the tracking level (tasks, resources, promises) and stacks (off, tasks, on, N)', args: [{ name: 'level', summary: 'tasks | resources | promises', required: true, type: 'string' }, { name: 'stacks', summary: 'off | tasks | on | N (1 in N)', type: 'string' }], access: 'control', runs: 'main' },
  { name: 'health', aliases: ['he'], summary: 'is the loop alive? answers even while it is blocked', args: [], access: 'read', runs: 'worker' },
  { name: 'promises-all', aliases: [], summary: 'every pending promise, streamed in slices (items events, then the total)', args: [], access: 'read', runs: 'main', dialects: ['json'], cli: false },
  { name: 'snapshot', aliases: [], summary: 'a bounded snapshot of everything, as data', args: [limit], access: 'read', runs: 'main', dialects: ['json'], cli: false },
  { name: 'watch', aliases: [], summary: 'stream updates: interval in ms, or pause / resume / stop', args: [{ name: 'interval', summary: 'milliseconds between updates (default 1000)', type: 'int' }, { name: 'action', summary: 'start | pause | resume | stop', type: 'string' }], access: 'read', runs: 'worker', dialects: ['json'], cli: false },
  { name: 'console', aliases: ['c'], summary: "a JavaScript REPL in the host's main thread (.exit to return)", args: [], access: 'eval', runs: 'main', dialects: ['text'] },
  { name: 'eval', aliases: [], summary: "evaluate JavaScript in the host's main thread", args: [{ name: 'code', summary: 'the code', required: true, type: 'string', rest: true }], access: 'eval', runs: 'main', dialects: ['json'], cli: false },
  { name: 'quit', aliases: ['q', 'exit'], summary: 'close this session', args: [], access: 'none', runs: 'worker', cli: false },
];

const BY_NAME = new Map<string, CommandSpec>();
for (const spec of COMMANDS) {
  BY_NAME.set(spec.name, spec);
  for (const alias of spec.aliases) BY_NAME.set(alias, spec);
}

/** The command a name or alias stands for, offered in `dialect`. */
export function findCommand(name: string, dialect: 'text' | 'json'): CommandSpec {
  const spec = BY_NAME.get(name.toLowerCase());
  if (!spec || (spec.dialects && !spec.dialects.includes(dialect))) {
    throw new AsyncmonError('UNKNOWN_COMMAND', `unknown command "${name}": type help for the list`);
  }
  return spec;
}

export type Args = Record<string, string | number | boolean | undefined>;

/** Splits a text line into words; double quotes group words. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) words.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]);
  return words;
}

/** Parses a text-dialect line into a command and named arguments. */
export function parseTextCommand(line: string): { spec: CommandSpec; args: Args } {
  const trimmed = line.trim();
  const space = trimmed.search(/\s/);
  const name = space < 0 ? trimmed : trimmed.slice(0, space);
  const spec = findCommand(name, 'text');
  const rest = space < 0 ? '' : trimmed.slice(space + 1).trim();
  const args: Args = {};
  const flags = spec.args.filter((a) => a.type === 'flag');
  const named = spec.args.filter((a) => a.named);
  const all = splitWords(rest);
  const words: string[] = [];
  for (let i = 0; i < all.length; i++) {
    const w = all[i];
    const flag = flags.find((f) => w === `--${f.name}`);
    if (flag) {
      args[flag.name] = true;
      continue;
    }
    const option = named.find((o) => w === `--${o.name}` || w.startsWith(`--${o.name}=`));
    if (option) {
      const value = w.includes('=') ? w.slice(w.indexOf('=') + 1) : all[++i];
      if (value === undefined) throw new AsyncmonError('BAD_ARGUMENT', `--${option.name} needs a value: usage: ${usage(spec)}`);
      args[option.name] = value;
      continue;
    }
    words.push(w);
  }
  const positional = spec.args.filter((a) => a.type !== 'flag' && !a.named);
  for (let i = 0; i < positional.length; i++) {
    const arg = positional[i];
    if (arg.rest) {
      const restWords = words.slice(i);
      if (restWords.length > 0) args[arg.name] = restWords.join(' ');
      words.length = Math.min(words.length, i);
      break;
    }
    if (i < words.length) args[arg.name] = words[i];
  }
  if (words.length > positional.length) {
    throw new AsyncmonError('BAD_ARGUMENT', `too many arguments: usage: ${usage(spec)}`);
  }
  return { spec, args: checkArgs(spec, args) };
}

/** Validates and converts arguments against the spec (both dialects). Unknown keys are refused. */
export function checkArgs(spec: CommandSpec, raw: unknown): Args {
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new AsyncmonError('BAD_ARGUMENT', `"args" must be an object`);
  const out: Args = Object.create(null) as Args;
  const given = raw as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!spec.args.some((a) => a.name === key)) {
      throw new AsyncmonError('BAD_ARGUMENT', `${spec.name} takes no argument "${key}": usage: ${usage(spec)}`);
    }
  }
  for (const arg of spec.args) {
    const value = Object.prototype.hasOwnProperty.call(given, arg.name) ? given[arg.name] : undefined;
    if (value === undefined || value === null || value === '') {
      if (arg.required) throw new AsyncmonError('BAD_ARGUMENT', `missing ${arg.name}: usage: ${usage(spec)}`);
      continue;
    }
    if (arg.type === 'flag') {
      if (value !== true && value !== false) throw new AsyncmonError('BAD_ARGUMENT', `${arg.name} is a switch: true or false`);
      if (value) out[arg.name] = true;
    } else if (arg.type === 'int') {
      const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
      if (!Number.isSafeInteger(n) || n < 0) throw new AsyncmonError('BAD_ARGUMENT', `${arg.name} must be a whole number, not ${JSON.stringify(value)}`);
      out[arg.name] = n;
    } else {
      if (typeof value !== 'string' && typeof value !== 'number') throw new AsyncmonError('BAD_ARGUMENT', `${arg.name} must be a string`);
      out[arg.name] = String(value);
    }
  }
  return out;
}

/** `cancel <id> [--force] [reason]`, `ps [filter] [limit] [older] [--trace <trace>]` */
export function usage(spec: CommandSpec): string {
  return [spec.name, ...spec.args.filter((a) => !a.internal).map((a) => (a.type === 'flag' ? `[--${a.name}]` : a.named ? `[--${a.name} <${a.name}>]` : a.required ? `<${a.name}>` : `[${a.name}]`))].join(' ');
}
