#!/usr/bin/env node
/**
 * The `asyncmon` command: a thin shell over the client library. Subcommands that talk to an
 * agent are generated from the command table in `src/`; the heavier ones (check, dump, attach,
 * console) are loaded only when used, so a one-shot check starts fast.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { COMMANDS } from '../src/commands.js';
import type { CommandSpec } from '../src/commands.js';
import { EXIT } from './exit-codes.js';
import type { TargetOptions } from './run.js';

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** -t, --token-file, --token, --json and --timeout, on every command that talks to an agent. */
function targetOptions(cmd: Command, timeoutDefault = '5000'): Command {
  return cmd
    .option('-t, --target <target>', 'pid, host:port or Unix socket path (default: the only agent found)')
    .option('--token-file <file>', 'read the token from this file (default: the discovery file, or ASYNCMON_TOKEN)')
    .option('--token <token>', 'the token itself (visible to other local users in the process list: prefer --token-file)')
    .option('--json', 'print the data as JSON')
    .addOption(new Option('--timeout <ms>', 'give up after this many milliseconds').default(timeoutDefault));
}

function argSyntax(spec: CommandSpec): string {
  return positional(spec).map((a) => (a.required ? `<${a.name}${a.rest ? '...' : ''}>` : `[${a.name}${a.rest ? '...' : ''}]`)).join(' ');
}

/** The arguments a command takes in order; switches (`flag`) and named ones are options instead. */
function positional(spec: CommandSpec): CommandSpec['args'] {
  return spec.args.filter((a) => a.type !== 'flag' && !a.named);
}

/**
 * `awaits` and `where` also reach a Node process that runs no agent, by pid: its agent answers
 * when it has one, else the CLI reads the await graph through the process's inspector.
 */
const HEAP_BY_PID: Record<string, string> = {
  awaits: "a process by pid: its agent if it has one, else a heap snapshot through its inspector (SIGUSR1; no agent loaded, the inspector closed again)",
  where: 'a process by pid, agent or not: <id> is then a task id (with an agent) or a text to find among the chains: a request (GET /users), a function, or file:line',
};
/**
 * `--timeout` of the commands whose answer may wait for a heap snapshot (`awaits`, `where`, and
 * `ps --deep` unless given): V8 takes seconds to write one of a big heap (5 s for a 41 MB
 * heap, 34 s for 158 MB of small objects, measured here), and 5 s gave up on an answer that
 * was on its way.
 */
const HEAP_TIMEOUT_MS = '30000';
const HEAP_COMMANDS = new Set(['awaits', 'where']);
/** One-shot commands that also run against every discovered agent (`ps --all`). */
const ALL_COMMANDS = new Set(['ps']);

const program = new Command('asyncmon')
  .description('A live async debugging monitor for Node.js: what a running process waits on, and why it will not exit.')
  .version(version(), '-V, --version')
  .showHelpAfterError('(asyncmon --help lists the commands)')
  .configureOutput({ outputError: (text, write) => write(text) })
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : EXIT.usage);
  });

program
  .command('ls')
  .description('list the agents this user can reach (pid, address, uptime, argv)')
  .option('--json', 'print the data as JSON')
  .action(async (opts: { json?: boolean }) => (await import('./ls.js')).ls(opts));

for (const spec of COMMANDS) {
  if (spec.cli === false || spec.name === 'console') continue;
  const cmd = program.command(`${spec.name} ${argSyntax(spec)}`.trim()).description(spec.summary);
  if (spec.aliases.length > 0) cmd.aliases([...spec.aliases]);
  for (const flag of spec.args.filter((a) => a.type === 'flag')) cmd.option(`--${flag.name}`, flag.summary);
  const byPid = HEAP_BY_PID[spec.name];
  if (byPid) cmd.option('--pid <pid>', byPid).option('--refuse-shared', 'with --pid and no agent: refuse (instead of warning) when other users have processes here');
  for (const named of spec.args.filter((a) => a.named)) cmd.option(`--${named.name} <${named.name}>`, named.summary);
  if (ALL_COMMANDS.has(spec.name)) cmd.option('--all', 'every agent this user can discover (asyncmon ls), in parallel: one block per process, the worst exit code');
  if (HEAP_COMMANDS.has(spec.name)) cmd.addHelpText('after', `\n--timeout defaults to ${HEAP_TIMEOUT_MS}: the answer may wait for a heap snapshot, seconds on a big heap.`);
  else if (spec.args.some((a) => a.name === 'deep')) cmd.addHelpText('after', `\nWith --deep, --timeout defaults to ${HEAP_TIMEOUT_MS}: a heap snapshot takes seconds on a big heap.`);
  targetOptions(cmd, HEAP_COMMANDS.has(spec.name) ? HEAP_TIMEOUT_MS : '5000').action(async (...params: unknown[]) => {
    const args: Record<string, unknown> = {};
    const ordered = positional(spec);
    const opts = params[ordered.length] as TargetOptions & Record<string, unknown>;
    if (opts.deep === true && (params[ordered.length + 1] as Command).getOptionValueSource('timeout') === 'default') opts.timeout = HEAP_TIMEOUT_MS;
    if (byPid && typeof opts.pid === 'string') {
      const heap = await import('./heap-awaits.js');
      const pidOpts = { ...opts, pid: opts.pid, refuseShared: opts.refuseShared === true };
      return spec.name === 'where' ? heap.whereByPid(String(params[0]), pidOpts) : heap.awaitsByPid(params[0] as string | undefined, pidOpts);
    }
    ordered.forEach((a, i) => {
      const value = params[i];
      if (value === undefined) return;
      args[a.name] = Array.isArray(value) ? value.join(' ') : value;
    });
    for (const flag of spec.args.filter((a) => a.type === 'flag')) if (opts[flag.name] === true) args[flag.name] = true;
    for (const named of spec.args.filter((a) => a.named)) if (typeof opts[named.name] === 'string') args[named.name] = opts[named.name];
    if (opts.all === true) await (await import('./all.js')).oneShotAll(spec.name, args, opts);
    else await (await import('./run.js')).runOneShot(spec.name, args, opts);
  });
}

targetOptions(program.command('console').alias('c').description('an interactive session with the agent (text REPL, line editing, history)')).action(
  async (opts: TargetOptions) => (await import('./console.js')).consoleSession(opts),
);

targetOptions(program.command('check'), '2000')
  .description('health check for scripts and probes: exit 0 pass, 1 a check failed, 2 usage, 3 unreachable')
  .option('--all', 'check every agent this user can discover (asyncmon ls), in parallel: one block per process, the worst exit code')
  .option('--max-lag <ms>', 'event-loop delay p99 above this fails (ms, or with a unit: 200ms, 1s)')
  .option('--max-blocked <ms>', 'the loop blocked right now for longer than this fails (ms, or with a unit)', '1000')
  .option('--max-task-age <duration>', 'a live task older than this fails; with its unit: 500ms, 30s, 2m')
  .option('--max-pending <n>', 'more tracked pending promises than this fails')
  .option('--max-elu <0..1>', 'event-loop utilization above this fails')
  .option('--deep', 'with --max-task-age: say where the old tasks are parked, from a heap snapshot (pauses the host)')
  .option('--lost', 'a live request that nothing left in the process can ever answer fails (a heap snapshot: pauses the host)')
  .option('--cycles', 'async functions that can only be resolved by each other (a deadlock) fail (the same snapshot)')
  .addHelpText('after', '\nWith --deep, --lost or --cycles, --timeout defaults to 15000: a snapshot takes seconds on a big heap.')
  .action(async (opts, cmd: Command) => (await import('./check.js')).check({ ...opts, timeoutIsDefault: cmd.getOptionValueSource('timeout') === 'default' }));

targetOptions(program.command('dump'), '30000')
  .description('write a full snapshot as versioned JSON (for bug reports and top --file)')
  .option('-o, --out <file>', 'write to this file instead of stdout')
  .option('--limit <n>', 'entries per list', '10000')
  .action(async (opts) => (await import('./dump.js')).dump(opts));

targetOptions(program.command('top'))
  .description('the terminal UI: tasks, promises, handles, history and blocked episodes, live')
  .option('--file <dump>', 'open a saved dump (asyncmon dump --out FILE) read-only')
  .option('--interval <ms>', 'milliseconds between updates', '1000')
  .action(async (opts) => (await import('./tui/app.js')).top(opts));

program
  .command('attach <pid>')
  .description('load the agent into a running process that loaded nothing (through its inspector)')
  .option('--level <level>', 'tracking level: tasks, resources, promises')
  .option('--stacks <mode>', 'stacks: off, tasks, on, or N')
  .option('--port <port>', 'port for the agent (default 20101, or an ephemeral one if busy)')
  .option('--read-only', 'cap clients at read access')
  .option('--refuse-shared', 'refuse (instead of warning) when other users have processes on this machine: they could race into the inspector while it is open')
  .option('--json', 'print the result as JSON')
  .option('--timeout <ms>', 'give up after this many milliseconds', '10000')
  .action(async (pid: string, opts) => (await import('./attach.js')).attach(pid, opts));

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`asyncmon: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = EXIT.usage;
});
