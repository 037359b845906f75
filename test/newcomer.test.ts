/**
 * Issue 15, as a newcomer meets the CLI: honest exit codes (`health` while the loop is blocked,
 * an address given without a token, `top` on a wrong token, on a target it never reached, and
 * without a terminal), `help` that cuts its descriptions at the end, and addresses printed as
 * `-t` takes them. Real processes; `top` runs in tmux, which gives it a terminal.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, Cleanups, cliIn, json, ok, runCli, show, waitForHealth } from './helpers/cli.js';
import { ROOT } from './helpers/child.js';
import { HAVE_TMUX, TmuxPane, shellQuote } from './helpers/tmux.js';
import { closedPort, openText } from './helpers/wire.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());


/** Runs `asyncmon top …args` in a tmux pane and resolves with its exit code. */
async function topExit(args: string[], runtime: string): Promise<{ code: number; screen: string }> {
  const pane = new TmuxPane('asyncmon-newcomer');
  cleanups.add(() => pane.kill());
  pane.start(`${[process.execPath, CLI, 'top', ...args].map(shellQuote).join(' ')}; echo TOP-EXIT $?; sleep 30`, { cwd: ROOT, env: { XDG_RUNTIME_DIR: runtime, NODE_OPTIONS: '' } });
  const screen = await pane.waitFor(/TOP-EXIT \d+/, 30_000, 'top to exit');
  return { code: Number(/TOP-EXIT (\d+)/.exec(screen)![1]), screen };
}

describe('exit codes a script can trust', () => {
  it('health exits 1 while the loop is blocked, like check', async () => {
    const dir = cleanups.runtimeDir();
    const app = await cleanups.fixture('cli-block.cjs', { runtimeDir: dir, env: { CLI_BLOCK_MS: '6000' } });
    await app.child.waitFor(/^BLOCKING /m, 15_000);
    await waitForHealth(app, (h) => h.status === 'blocked', 'the loop blocked', 6000);
    const r = await cliIn(dir)('health');
    expect(r.code, show(r)).toBe(1);
    expect(r.stdout).toMatch(/^✗ event loop blocked/);
  });

  it('-t host:port without a token tries the address first: unreachable is exit 3, not "no token"', async () => {
    const port = await closedPort();
    const r = await runCli(['check', '-t', `127.0.0.1:${port}`], { env: { XDG_RUNTIME_DIR: cleanups.runtimeDir() } });
    expect(r.code, show(r)).toBe(3);
    expect(r.stderr).toContain(`cannot connect to 127.0.0.1:${port}`);
  });

  it('-t host:port of a live agent without a token says so, exit 2', async () => {
    const dir = cleanups.runtimeDir();
    const app = await cleanups.fixture('cli-app.cjs', { runtimeDir: dir });
    const r = await runCli(['ps', '-t', `127.0.0.1:${app.port}`], { env: { XDG_RUNTIME_DIR: cleanups.runtimeDir() } });
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toContain(`no token for 127.0.0.1:${app.port}`);
  });

  it('top without a terminal says it needs one, exit 2, and writes no escape codes', async () => {
    const r = await runCli(['top', '-t', '127.0.0.1:1', '--token', 'x'.repeat(12)], { env: { XDG_RUNTIME_DIR: cleanups.runtimeDir() } });
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toContain('asyncmon top needs a terminal');
    expect(r.stdout).toBe('');
  });

  (HAVE_TMUX ? it : it.skip)('top with a wrong token exits 1; against a target it never reached, 3', async () => {
    const dir = cleanups.runtimeDir();
    const app = await cleanups.fixture('cli-app.cjs', { runtimeDir: dir });
    const wrong = await topExit(['-t', `127.0.0.1:${app.port}`, '--token-file', '/dev/null'], dir);
    expect(wrong.code, wrong.screen).toBe(2); // an empty token file is a usage error
    const file = `${dir}/wrong-token`;
    writeFileSync(file, 'wrong-token-0123456789\n', { mode: 0o600 });
    const forbidden = await topExit(['-t', `127.0.0.1:${app.port}`, '--token-file', file], dir);
    expect(forbidden.code, forbidden.screen).toBe(1);
    const port = await closedPort();
    const unreachable = await topExit(['-t', `127.0.0.1:${port}`, '--token-file', file], dir);
    expect(unreachable.code, unreachable.screen).toBe(3);
  });
  if (!HAVE_TMUX) console.log('skipped the top exit-code and console prompt tests: tmux is not installed');

  (HAVE_TMUX ? it : it.skip)('asyncmon console keeps its prompt when ↑ recalls a line', async () => {
    const dir = cleanups.runtimeDir();
    await cleanups.fixture('cli-app.cjs', { runtimeDir: dir });
    const pane = new TmuxPane('asyncmon-console');
    cleanups.add(() => pane.kill());
    pane.start(`${[process.execPath, CLI, 'console'].map(shellQuote).join(' ')}; sleep 30`, { cwd: ROOT, env: { XDG_RUNTIME_DIR: dir, NODE_OPTIONS: '' } });
    await pane.waitFor(/^asyncmon>\s*$/m, 15_000, 'the prompt');
    pane.type('health');
    pane.keys('Enter');
    await pane.waitFor((s) => /✓ ok[\s\S]*\n\s*asyncmon>\s*$/.test(s.trimEnd()), 15_000, 'the answer and a new prompt');
    pane.keys('Up');
    // The last line of the screen is the one being edited: the prompt, then the recalled line.
    const lastLine = (s: string) => s.trimEnd().split('\n').pop() ?? '';
    const screen = await pane.waitFor((s) => lastLine(s).endsWith('health'), 15_000, 'the recalled line');
    expect(lastLine(screen)).toBe('asyncmon> health');
    pane.keys('C-c');
  });
});

describe('what a newcomer reads', () => {
  it('-t <pid> says what is true: no such process, or not Node, instead of suggesting attach', async () => {
    const env = { XDG_RUNTIME_DIR: cleanups.runtimeDir() };
    const none = await runCli(['ps', '-t', '999999'], { env });
    expect(none.code, show(none)).toBe(2);
    expect(none.stderr).toContain('no process 999999');
    expect(none.stderr).not.toContain('attach');
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    cleanups.add(() => sleeper.kill('SIGKILL'));
    const notNode = await runCli(['ps', '-t', String(sleeper.pid)], { env });
    expect(notNode.code, show(notNode)).toBe(2);
    expect(notNode.stderr).toMatch(/no agent in process \d+ \(its executable is \S*sleep, not node or nodejs\)/);
  });

  it('a duration without a unit is refused, and an out-of-range value says the range', async () => {
    const env = { XDG_RUNTIME_DIR: cleanups.runtimeDir() };
    const age = await runCli(['check', '--max-task-age', '30'], { env });
    expect(age.code, show(age)).toBe(2);
    expect(age.stderr).toContain('bad --max-task-age "30": give a unit, e.g. 30s or 30ms');
    const elu = await runCli(['check', '--max-elu', '1.5'], { env });
    expect(elu.code, show(elu)).toBe(2);
    expect(elu.stderr).toContain('bad --max-elu "1.5": a fraction from 0 to 1');
  });

  it('help cuts long descriptions at the end, on a word', async () => {
    const dir = cleanups.runtimeDir();
    const app = await cleanups.fixture('cli-app.cjs', { runtimeDir: dir });
    const c = await openText(app.port!, app.token!);
    cleanups.add(() => c.close());
    const help = await c.command('help');
    const ps = help.split('\n').find((l) => l.startsWith('ps '))!;
    expect(ps).toMatch(/ list live tasks/);
    expect(ps).not.toMatch(/…\w/); // never cut from the left
    for (const line of help.split('\n')) if (line.endsWith('…')) expect(line).toMatch(/[a-z)] ?…$|\w…$/);
  });

  it('console in a CommonJS app has require (from the app) and the usual dot-commands', async () => {
    const dir = cleanups.runtimeDir();
    const app = await cleanups.fixture('cli-app.cjs', { runtimeDir: dir });
    const c = await openText(app.port!, app.token!);
    cleanups.add(() => c.close());
    c.send('console');
    await c.untilPrompt('> ');
    expect(await c.command("require('node:path').basename('/a/b.js')", 15_000, '> ')).toBe("'b.js'");
    expect(await c.command(".help", 15_000, '> ')).toMatch(/^\.break .*\n.*\n\.exit .*\n\.help /);
    c.send('const half = {');
    await c.untilPrompt('... ');
    expect(await c.command('.break', 15_000, '> ')).toBe('');
    expect(await c.command('1 + 1', 15_000, '> ')).toBe('2');
    c.send('.exit');
    await c.untilPrompt('asyncmon> ');
  });

  it('ls prints IPv6 addresses as -t takes them ([::1]:port), and -t accepts what it printed', async () => {
    const dir = cleanups.runtimeDir();
    const app = await cleanups.fixture('cli-app.cjs', { runtimeDir: dir, env: { ASYNCMON_HOST: '::1' } });
    const cli = cliIn(dir);
    const ls = ok(await cli('ls'));
    const address = /\[::1\]:\d+/.exec(ls.stdout)?.[0];
    expect(address, show(ls)).toBeDefined();
    expect(json(ok(await cli('health', '-t', address!, '--token-file', tokenFile(dir, app.token!), '--json'))).status).toBe('ok');
  });
});

function tokenFile(dir: string, token: string): string {
  const file = `${dir}/token`;
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return file;
}
