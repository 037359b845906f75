// What a Node process's own options say about its inspector, read from the words of its
// command line and of its NODE_OPTIONS. Pure: the reading from /proc lives in proc-info.ts.

/** The inspector options `attach` cares about, and where each came from. */
export interface NodeFlags {
  /** Where the inspector listens when SIGUSR1 opens it (Node's default 127.0.0.1:9229). */
  inspectHost: string;
  inspectPort: number;
  /** The option that set the port, e.g. `--inspect-port=9339 (in NODE_OPTIONS)`; null for the default. */
  portFrom: string | null;
  /** Where `--disable-sigusr1` was given ('the command line' or 'NODE_OPTIONS'), or null. */
  sigusr1Disabled: string | null;
}

/** Node's options that take their value as the next word when written without `=`. */
const TAKES_VALUE = new Set([
  '-r', '--require', '--import', '--loader', '--experimental-loader', '-e', '--eval', '-p', '--print',
  '--inspect-port', '--debug-port', '--title', '-C', '--conditions', '--input-type', '--env-file',
  '--redirect-warnings', '--diagnostic-dir', '--report-dir', '--cpu-prof-dir', '--heap-prof-dir',
]);
const INSPECT_WITH_ADDRESS = new Set(['--inspect', '--inspect-brk', '--inspect-wait', '--inspect-port', '--debug-port']);

/** Splits NODE_OPTIONS the way Node does: on spaces, with double quotes and backslash escapes. */
export function splitNodeOptions(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && quoted && i + 1 < text.length) {
      word += text[++i];
    } else if (c === '"') {
      quoted = !quoted;
      inWord = true;
    } else if (c === ' ' && !quoted) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** Node's own options from a command line (without argv[0]): up to the script or `--`. */
export function nodeOptionsOf(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--' || !a.startsWith('-') || a === '-') break;
    out.push(a);
    if (!a.includes('=') && TAKES_VALUE.has(a) && i + 1 < args.length) out.push(args[++i]!);
  }
  return out;
}

/**
 * The inspector's address and whether SIGUSR1 is disabled. Command-line options win over
 * NODE_OPTIONS (as in Node), so NODE_OPTIONS is read first and a later option overrides.
 */
export function readNodeFlags(cmdlineOptions: readonly string[], nodeOptions: readonly string[]): NodeFlags {
  const flags: NodeFlags = { inspectHost: '127.0.0.1', inspectPort: 9229, portFrom: null, sigusr1Disabled: null };
  const sources: Array<[readonly string[], string]> = [
    [nodeOptions, 'NODE_OPTIONS'],
    [cmdlineOptions, 'the command line'],
  ];
  for (const [words, where] of sources) {
    for (let i = 0; i < words.length; i++) {
      const w = words[i]!;
      const eq = w.indexOf('=');
      const name = eq < 0 ? w : w.slice(0, eq);
      if (name === '--disable-sigusr1') flags.sigusr1Disabled = where;
      if (!INSPECT_WITH_ADDRESS.has(name)) continue;
      let value: string | undefined;
      if (eq >= 0) value = w.slice(eq + 1);
      else if (name === '--inspect-port' || name === '--debug-port') value = words[++i];
      if (value === undefined || value === '') continue;
      const colon = value.lastIndexOf(':');
      const host = colon >= 0 ? value.slice(0, colon).replace(/^\[|\]$/g, '') : null;
      const port = Number(colon >= 0 ? value.slice(colon + 1) : value);
      if (!Number.isInteger(port) || port < 0 || port > 65535) continue;
      flags.inspectPort = port;
      if (host !== null && host !== '') flags.inspectHost = host;
      flags.portFrom = `${name}=${value} (${where === 'NODE_OPTIONS' ? 'in NODE_OPTIONS' : 'on its command line'})`;
    }
  }
  return flags;
}
