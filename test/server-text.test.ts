/**
 * The agent's text dialect, the one a person uses with `nc 127.0.0.1 <port>`: a banner, `auth
 * <token>`, the `asyncmon> ` prompt, every command of the table rendered as text no wider than
 * 80 columns, `✗ …` for every mistake without losing the session, an empty line that repeats the
 * last command, and `console`, a JavaScript REPL in the host's main thread.
 *
 * One fixture app (test/fixtures/server-app.cjs) runs with the agent preloaded on an ephemeral
 * port; every test opens its own connection to it over a real socket.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REGISTER } from './helpers/child.js';
import { PROMPT, WAIT_MS, WireClient, columns, markedLine, openText, startApp } from './helpers/wire.js';
import type { App } from './helpers/wire.js';

const SCRIPT = 'server-app.cjs';
const SITE_FILE = `test/fixtures/${SCRIPT}`;
let app: App;

beforeAll(async () => {
  if (!existsSync(REGISTER)) throw new Error(`${REGISTER} is missing: run \`npm run build\` first`);
  app = await startApp(SCRIPT);
});

afterAll(() => app?.stop());

/** The id `ps` shows for the live task called `name`. */
function idOf(psText: string, name: string): number {
  const line = psText.split('\n').find((l) => new RegExp(`^\\s*\\d+\\s+\\S+\\s+\\S+\\s+${name}(\\s|$)`).test(l));
  if (!line) throw new Error(`no task ${name} in:\n${psText}`);
  return Number(line.trim().split(/\s+/)[0]);
}

/** Every line of `text` fits in 80 columns. */
function expectNarrow(text: string): void {
  for (const line of text.split('\n')) expect(columns(line), `${columns(line)} columns: ${line}`).toBeLessThanOrEqual(80);
}

describe('connecting and authenticating', () => {
  it('greets with a banner: pid, node version and how to authenticate', async () => {
    const c = await WireClient.connect(app.port);
    try {
      const banner = await c.untilPrompt();
      expect(banner).toContain(`pid ${app.pid}`);
      expect(banner).toContain(`node ${process.version}`);
      expect(banner).toMatch(/auth <token>/);
    } finally {
      c.close();
    }
  });

  it('before auth, only help, auth and quit work; everything else asks to authenticate', async () => {
    const c = await WireClient.connect(app.port);
    try {
      await c.untilPrompt();
      const help = await c.command('help');
      expect(help).toMatch(/^COMMAND\s+ALIAS\s+WHAT IT DOES/);
      expect(help).toMatch(/^ps \[filter\] \[limit\] \[older\] \[options\]\s+p\s/m);
      expect(await c.command('help cancel')).toContain('cancel <id> [--force] [reason]');
      for (const cmd of ['ps', 'p', 'where 3', 'tree', 'cancel 3', 'handles', 'promises', 'stack', 'stats', 'history', 'track promises', 'health', 'console']) {
        expect(await c.command(cmd), cmd).toBe('✗ authenticate first: auth <token>');
      }
      // Still unauthenticated, still answering.
      expect(await c.command('ps')).toBe('✗ authenticate first: auth <token>');
      c.send('quit');
      expect(await c.readLine()).toBe('bye');
      await c.waitClosed();
    } finally {
      c.close();
    }
  });

  it('a wrong token fails; the right one authenticates and gives the prompt', async () => {
    const c = await WireClient.connect(app.port);
    try {
      await c.untilPrompt();
      expect(await c.command('auth not-the-token-at-all')).toBe('✗ authentication failed');
      expect(await c.command('ps')).toBe('✗ authenticate first: auth <token>');
      c.send(`auth ${app.token}`);
      expect(await c.expect(/✓ authenticated\n/)).toBe('✓ authenticated\n');
      // The prompt comes right after, and nothing else.
      expect(await c.untilPrompt()).toBe('');
      expect(c.unread()).toBe('');
      expect(await c.command('health')).toMatch(/^✓ ok {2}pid \d+/);
    } finally {
      c.close();
    }
  });

  it('quit says bye and closes', async () => {
    const c = await openText(app.port, app.token);
    c.send('quit');
    expect(await c.readLine()).toBe('bye');
    await c.waitClosed();
  });
});

describe('every command of the table', () => {
  let c: WireClient;
  beforeAll(async () => {
    c = await openText(app.port, app.token);
  });
  afterAll(() => c?.close());

  it('help lists every text command; help <cmd> explains one', async () => {
    const help = await c.command('help');
    for (const name of ['help', 'auth', 'ps', 'where', 'tree', 'cancel', 'handles', 'promises', 'stack', 'stats', 'history', 'track', 'health', 'console', 'quit']) {
      expect(help, name).toMatch(new RegExp(`^${name}\\b`, 'm'));
    }
    // JSON-only commands are not offered here.
    expect(help).not.toMatch(/^(hello|snapshot|watch|eval)\b/m);
    expectNarrow(help);
    const one = await c.command('help cancel');
    expect(one).toBe(['cancel <id> [--force] [reason]', '  cancel a task, timer, socket, server or child process', '  aliases: ca', '  access: control'].join('\n'));
    expect(await c.command('help p')).toMatch(/^ps \[filter\] \[limit\] \[older\] \[--trace <trace>\] \[--deep\]/);
  });

  it('ps (and p) list the live tasks, at most 80 columns wide even with a very long name', async () => {
    const ps = await c.command('ps');
    expect(ps.split('\n')[0]).toMatch(/^\s*ID\s+KIND\s+AGE\s+NAME/);
    for (const name of ['outer-job', 'inner-job-1', 'inner-job-2', 'cancel-me-text']) expect(ps).toMatch(new RegExp(`\\b${name}\\b`));
    // The long name is there, cut with an ellipsis.
    expect(ps).toMatch(/long-task-name-abcdefghij\S*…/);
    expectNarrow(ps);
    // The alias lists the same tasks (ages move on, so compare the ids).
    const ids = (table: string) => table.split('\n').slice(1).map((l) => l.trim().split(/\s+/)[0]);
    const p = await c.command('p');
    expect(p.split('\n')[0]).toMatch(/^\s*ID\s+KIND\s+AGE\s+NAME/);
    expect(ids(p)).toEqual(ids(ps));
    expect(await c.command('ps inner')).not.toMatch(/outer-job|cancel-me/);
  });

  it('where <id> shows a task, its state and where it was created', async () => {
    const id = idOf(await c.command('ps'), 'outer-job');
    const where = await c.command(`where ${id}`);
    expect(where).toMatch(new RegExp(`^task ${id} outer-job \\(task, running, [\\d.]+m?s\\)`));
    expect(where).toContain(`created at main (${SITE_FILE}:${markedLine(SCRIPT, 'outer')}:`);
    const inner = idOf(await c.command('ps'), 'inner-job-1');
    expect(await c.command(`where ${inner}`)).toContain(`parents: ${id} outer-job`);
  });

  it('tree shows how tasks nest; tree <id> only that subtree', async () => {
    const tree = await c.command('tree');
    expect(tree).toMatch(/^\d+ outer-job \(task, /m);
    expect(tree).toMatch(/^├─ \d+ inner-job-1 \(task, /m);
    expect(tree).toMatch(/^└─ \d+ inner-job-2 \(task, /m);
    expect(tree).toMatch(/^\d+ cancel-me-text \(task, /m);
    expectNarrow(tree);
    const id = idOf(await c.command('ps'), 'outer-job');
    const sub = await c.command(`tree ${id}`);
    expect(sub.split('\n')).toHaveLength(3);
    expect(sub).toMatch(new RegExp(`^${id} outer-job`));
    expect(sub).not.toContain('cancel-me');
  });

  it('cancel <id> aborts a task; the code awaiting it sees an AbortError', async () => {
    const id = idOf(await c.command('ps'), 'cancel-me-text');
    const out = await c.command(`cancel ${id} because the test said so`);
    expect(out).toMatch(new RegExp(`^✓ task ${id} \\(cancel-me-text\\) cancelled`));
    await app.child.waitFor(/^SETTLED cancel-me-text (.*)$/m);
    expect(app.child.stdout()).toMatch(/^SETTLED cancel-me-text AbortError: because the test said so$/m);
    expect(await c.command('ps')).not.toContain('cancel-me-text');
    // Gone now: a second cancel says so.
    expect(await c.command(`cancel ${id}`)).toMatch(new RegExp(`^✗ task ${id} \\(cancel-me-text\\) already cancelled`));
  });

  it('handles shows the fixture interval with its callback file:line', async () => {
    const handles = await c.command('handles');
    expect(handles.split('\n')[0]).toMatch(/^\s*ID\s+KIND\s+DETAIL\s+CALLBACK/);
    expect(handles).toMatch(new RegExp(`^\\s*r\\d+ interval every 100ms fixtureTick \\(${SITE_FILE.replace(/\./g, '\\.')}:${markedLine(SCRIPT, 'tick')}:\\d+\\)$`, 'm'));
    expectNarrow(handles);
  });

  it('history lists finished, failed and cancelled tasks within 80 columns', async () => {
    const history = await c.command('history');
    expect(history.split('\n')[0]).toMatch(/^\s*ID\s+KIND\s+OUTCOME\s+TOOK\s+NAME/);
    expect(history).toMatch(/^\s*\d+ \S+\s+finished\s+\S+ long-task-name-abcdefghij\S*…/m);
    expect(history).toMatch(/^\s*\d+ \S+\s+failed\s+\S+ failing-long-task-name-\S*…/m);
    expect(history).toMatch(/^\s*\d+ \S+\s+cancelled\s+\S+ cancel-me-text /m);
    expectNarrow(history);
  });

  it('stack says the loop is not blocked; stats and health report the loop', async () => {
    expect(await c.command('stack')).toBe('the event loop is not blocked: the main thread is idle or between callbacks');
    const stats = await c.command('stats');
    expect(stats).toMatch(new RegExp(`^pid ${app.pid} {2}node ${process.version.replace(/\./g, '\\.')} {2}up `));
    expect(stats).toMatch(/^loop delay {2}p50 [\d.]+ms/m);
    expect(stats).toMatch(/^tracked {5}tasks \d+/m);
    expect(stats).toMatch(/^blocked {5}never$/m);
    expect(await c.command('health')).toMatch(new RegExp(`^✓ ok {2}pid ${app.pid} {2}up `));
  });

  it('an empty line repeats the last command', async () => {
    expect(await c.command('stack')).toMatch(/not blocked/);
    expect(await c.command('')).toMatch(/^the event loop is not blocked/);
    expect(await c.command('')).toMatch(/^the event loop is not blocked/);
    const health = await c.command('health');
    expect(health).toMatch(/^✓ ok/);
    expect(await c.command('')).toMatch(/^✓ ok {2}pid/);
  });

  it('an empty line before any command only gives the prompt again', async () => {
    const fresh = await openText(app.port, app.token);
    try {
      expect(await fresh.command('')).toBe('');
    } finally {
      fresh.close();
    }
  });

  it('track promises on, then promises groups pending promises by creation site', async () => {
    expect(await c.command('promises')).toBe('promises are not tracked at level tasks: track promises (add "on" for creation sites)');
    expect(await c.command('track promises on')).toBe('✓ level promises, stacks on');
    const tick = `fixtureTick (${SITE_FILE}:${markedLine(SCRIPT, 'pending')}:`;
    let out = '';
    // The fixture makes a pending promise every 100 ms; the first ones after the switch show up.
    const deadline = Date.now() + WAIT_MS;
    while (!out.includes(tick) && Date.now() < deadline) out = await c.command('promises');
    expect(out).toMatch(/^\d+ pending promises/);
    expect(out).toContain(tick);
    expectNarrow(out);
    expect(await c.command('track tasks')).toBe('✓ level tasks, stacks on');
    expect(await c.command('promises')).toMatch(/^promises are not tracked at level tasks/);
  });
});

describe('mistakes print ✗ and the session goes on', () => {
  it('unknown commands and bad arguments', async () => {
    const c = await openText(app.port, app.token);
    try {
      expect(await c.command('frobnicate')).toBe('✗ unknown command "frobnicate": type help for the list');
      expect(await c.command('where')).toBe('✗ missing id: usage: where <id>');
      expect(await c.command('where abc')).toBe('✗ "abc" is not a task id (a number, as ps shows)');
      expect(await c.command('where 999999')).toBe('✗ no task 999999');
      expect(await c.command('cancel')).toBe('✗ missing id: usage: cancel <id> [--force] [reason]');
      expect(await c.command('cancel zz')).toMatch(/^✗ "zz" is not an id/);
      expect(await c.command('ps a 1 2 extra')).toBe('✗ too many arguments: usage: ps [filter] [limit] [older] [--trace <trace>] [--deep]');
      expect(await c.command('handles -1')).toBe('✗ limit must be a whole number, not "-1"');
      expect(await c.command('track nope')).toMatch(/^✗ unknown level "nope"/);
      expect(await c.command('help nosuch')).toMatch(/^✗ unknown command "nosuch"/);
      // JSON-only commands are unknown in text.
      expect(await c.command('snapshot')).toMatch(/^✗ unknown command "snapshot"/);
      expect(await c.command('health')).toMatch(/^✓ ok/);
      expect(c.isClosed).toBe(false);
    } finally {
      c.close();
    }
  });
});

describe('console: JavaScript in the host', () => {
  it('evaluates, awaits at top level, reads globals, survives a throw, and .exit returns', async () => {
    const c = await openText(app.port, app.token);
    try {
      c.send('console');
      expect(await c.untilPrompt('> ')).toMatch(/^JavaScript in the host process .*\.exit to return$/);
      expect(await c.command('1+1', WAIT_MS, '> ')).toBe('2');
      expect(await c.command('await new Promise(r => setTimeout(() => r(42), 10))', WAIT_MS, '> ')).toBe('42');
      expect(await c.command('fixtureGlobal.name', WAIT_MS, '> ')).toBe("'server-app'");
      expect(await c.command('process.pid', WAIT_MS, '> ')).toBe(String(app.pid));
      expect(await c.command("throw new Error('boom')", WAIT_MS, '> ')).toMatch(/^Uncaught Error: boom/);
      expect(await c.command('2+2', WAIT_MS, '> ')).toBe('4');
      // A line the agent would treat as a command is JavaScript here.
      expect(await c.command('typeof ps', WAIT_MS, '> ')).toBe("'undefined'");
      c.send('.exit');
      await c.untilPrompt(PROMPT);
      expect(await c.command('health')).toMatch(/^✓ ok/);
      // And again: a second console in the same session.
      c.send('console');
      await c.untilPrompt('> ');
      expect(await c.command('6*7', WAIT_MS, '> ')).toBe('42');
      c.send('.exit');
      await c.untilPrompt(PROMPT);
    } finally {
      c.close();
    }
  });

  it('lines sent right behind .exit (piped in, as from a script) run as commands, none is lost', async () => {
    const c = await openText(app.port, app.token);
    try {
      // One write, CRLF line ends as telnet sends them: into the console, out, and on.
      c.sendRaw('console\r\n1+1\r\n.exit\r\nhealth\r\nstack\r\n');
      await c.untilPrompt('> ');
      expect(await c.untilPrompt('> ')).toBe('2');
      await c.untilPrompt(PROMPT);
      expect(await c.untilPrompt(PROMPT, 3000)).toMatch(/^✓ ok {2}pid/);
      expect(await c.untilPrompt(PROMPT, 3000)).toMatch(/^the event loop is not blocked/);
    } finally {
      c.close();
    }
  });
});
