// End to end: what `asyncmon --help` and `--version` print. The help text is kept as a file
// snapshot (test/__snapshots__/cli-help.txt), so a change to it shows up in review; update it
// with `npx vitest run test/cli-help.test.ts -u` when the change is meant.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { COMMANDS } from '../src/commands.js';
import { ROOT } from './helpers/child.js';
import { runCli, show } from './helpers/cli.js';

describe('asyncmon --help', () => {
  it('prints the usage, every command and exits 0 (snapshot)', async () => {
    const r = await runCli(['--help']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stderr).toBe('');
    await expect(r.stdout).toMatchFileSnapshot('./__snapshots__/cli-help.txt');
  });

  it('lists every one-shot command of the command table, with its aliases', async () => {
    const { stdout } = await runCli(['--help']);
    for (const spec of COMMANDS) {
      if (spec.cli === false) continue;
      const names = [spec.name, ...spec.aliases].join('|');
      expect(stdout, spec.name).toMatch(new RegExp(`^  ${names.replace(/[|?]/g, (c) => `\\${c}`)} `, 'm'));
    }
    for (const extra of ['ls', 'check', 'dump', 'attach']) expect(stdout).toMatch(new RegExp(`^  ${extra} `, 'm'));
  });

  it('awaits and where say how --pid chooses: the agent if the process has one, else its inspector', async () => {
    const awaits = await runCli(['awaits', '--help']);
    expect(awaits.code, show(awaits)).toBe(0);
    expect(awaits.stdout.replace(/\s+/g, ' ')).toContain('--pid <pid> a process by pid: its agent if it has one, else a heap snapshot through its inspector (SIGUSR1; no agent loaded, the inspector closed again)');
    const where = await runCli(['where', '--help']);
    expect(where.stdout.replace(/\s+/g, ' ')).toContain('--pid <pid> a process by pid, agent or not: <id> is then a task id (with an agent) or a text to find among the chains');
  });

  it('--timeout defaults to 30 s where the answer may wait for a heap snapshot (awaits, where, ps --deep), 5 s elsewhere', async () => {
    const [awaits, where, ps, stats] = await Promise.all([runCli(['awaits', '--help']), runCli(['where', '--help']), runCli(['ps', '--help']), runCli(['stats', '--help'])]);
    const timeoutDefault = (text: string) => /--timeout <ms>\s+give up after this many milliseconds\s+\(default:\s+"(\d+)"\)/.exec(text)?.[1];
    expect(timeoutDefault(awaits.stdout), show(awaits)).toBe('30000');
    expect(awaits.stdout).toContain('--timeout defaults to 30000: the answer may wait for a heap snapshot');
    expect(timeoutDefault(where.stdout), show(where)).toBe('30000');
    expect(timeoutDefault(ps.stdout), show(ps)).toBe('5000');
    expect(ps.stdout).toContain('With --deep, --timeout defaults to 30000');
    expect(timeoutDefault(stats.stdout), show(stats)).toBe('5000');
  });

  it('is the same as `asyncmon help`', async () => {
    const [a, b] = await Promise.all([runCli(['--help']), runCli(['help'])]);
    expect(b.code, show(b)).toBe(0);
    expect(b.stdout).toBe(a.stdout);
  });
});

describe('asyncmon --version', () => {
  it('prints the version of package.json', async () => {
    const { version } = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await runCli([flag]);
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout).toBe(`${version}\n`);
    }
  });
});

describe('usage errors exit 2', () => {
  it('an unknown command, a missing argument, an unknown option', async () => {
    for (const args of [['bogus'], ['where'], ['ps', '--bogus']]) {
      const r = await runCli(args);
      expect(r.code, `asyncmon ${args.join(' ')}\n${show(r)}`).toBe(2);
      expect(r.stderr).toContain('asyncmon --help lists the commands');
    }
  });
});
